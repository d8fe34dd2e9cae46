// kbert-model's dispatcher, the options every command that runs a model shares, and import-uer,
// import-hf, predict, embed, eval and bench encoder (train / pretrain: cmd_train.cpp; explain,
// index, search: cmd_retrieval.cpp; report: cmd_report.cpp).
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <iomanip>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>

#include "cli_common.hpp"
#include "commands.hpp"
#include "model_cli.hpp"
#include "kbert/common/atomic_file.hpp"
#include "kbert/common/cpu.hpp"
#include "kbert/common/error.hpp"
#include "kbert/common/progress.hpp"
#include "kbert/index/retrieval.hpp"
#include "kbert/model/model.hpp"
#include "kbert/train/data.hpp"
#include "kbert/train/trainer.hpp"

#include <fstream>
#include <map>
#include <optional>

namespace kbert::cli {

Shard shard_option(const Args& args) {
  Shard s;
  if (!args.has("shard")) return s;
  const std::string v = args.value("shard");
  const std::size_t slash = v.find('/');
  auto number = [&](const std::string& text) {
    if (text.empty() || text.size() > 9 || text.find_first_not_of("0123456789") != std::string::npos)
      throw UsageError("--shard must be I/N with 0 <= I < N (e.g. 0/4), got '" + v + "'");
    return static_cast<std::size_t>(std::stoul(text));
  };
  if (slash == std::string::npos) number("");
  s.index = number(v.substr(0, slash));
  s.count = number(v.substr(slash + 1));
  if (s.count == 0 || s.index >= s.count) throw UsageError("--shard must be I/N with 0 <= I < N (e.g. 0/4), got '" + v + "'");
  return s;
}

// One text a line. With `pairs` (--pairs), every line is a pair: text_a TAB text_b (a line
// without a TAB is an error naming it). Without it a TAB is part of the text: what one line
// is never depends on the other lines.
Texts read_texts(bool pairs, Shard shard) {
  Texts t;
  std::string line;
  std::size_t n = 0;
  while (std::getline(std::cin, line)) {
    ++n;
    if ((n - 1) % shard.count != shard.index) continue;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (pairs) {
      const std::size_t tab = line.find('\t');
      if (tab == std::string::npos)
        throw ParseError("<stdin>", n, "--pairs: no TAB between the two texts of this line");
      t.b.push_back(line.substr(tab + 1));
      line.resize(tab);
    }
    t.a.push_back(line);
    t.line.push_back(n);
  }
  return t;
}

Precision precision_option(const Args& args) {
  try {
    return parse_precision(args.value("precision"));
  } catch (const std::invalid_argument& e) {
    throw UsageError(std::string("--precision: ") + e.what());
  }
}

// Bad option values are usage errors (exit 2) in every command.
Pooling pooling_option(const Args& args) {
  try {
    return parse_pooling(args.value("pooling"));
  } catch (const std::invalid_argument& e) {
    throw UsageError(std::string("--pooling: ") + e.what());
  }
}

RunOptions run_options(const Args& args) {
  RunOptions r;
  r.batch_size = args.size_value("batch-size", r.batch_size);
  r.threads = args.threads(r.threads);
  if (args.has("kg")) r.kg = args.value("kg");
  if (args.takes("max-length") && args.has("max-length")) r.max_length = args.size_value("max-length", TreeOptions().max_length);
  r.precision = precision_option(args);
  r.max_tokens = args.size_value("max-tokens", r.max_tokens);
  if (!args.flag("quiet")) {  // a progress line on a terminal (kbert/common/progress.hpp)
    const bool trees = args.command() == "explain" || args.command() == "report";
    auto line = std::make_shared<ProgressLine>("kbert " + args.command(), trees ? "trees" : "texts", true);
    r.on_progress = [line](std::size_t done, std::size_t total) { line->update(done, total); };
  }
  return r;
}

namespace {


int import_uer_cmd(int argc, char** argv) {
  Args args(argc, argv, 2);
  ImportUerOptions o;
  o.checkpoint = args.value("checkpoint");
  o.config = args.value("config");
  o.vocab = args.value("vocab");
  o.out = args.value("out");
  if (o.checkpoint.empty() || o.config.empty() || o.vocab.empty() || o.out.empty())
    throw UsageError("import-uer needs --checkpoint, --config, --vocab and --out");
  o.tokenizer = args.value("tokenizer", o.tokenizer);
  o.pooling = pooling_option(args);
  o.predicate = args.flag("predicate");
  o.max_entities = args.size_value("max-entities", o.max_entities);
  o.max_length = args.size_value("max-length", o.max_length);
  o.labels_file = args.value("labels-file");
  o.kg_files = args.kg_files();
  import_uer(o);
  std::cerr << "kbert import-uer: wrote " << o.out << "\n";
  return 0;
}

int import_hf_cmd(int argc, char** argv) {
  Args args(argc, argv, 2);
  ImportHfOptions o;
  o.from = args.value("from");
  o.out = args.value("out");
  if (o.from.empty() || o.out.empty()) throw UsageError("import-hf needs --from and --out");
  o.labels_file = args.value("labels-file");
  o.tree.max_entities = args.size_value("max-entities", o.tree.max_entities);
  o.tree.max_length = args.size_value("max-length", o.tree.max_length);
  o.tree.predicate = args.flag("predicate");
  if (args.has("truncation")) o.tree.truncation = truncation_option(args);
  o.tree.hops = args.size_value("hops", o.tree.hops);
  o.tree.max_facts = args.size_value("max-facts", o.tree.max_facts);
  o.kg_files = args.kg_files();
  import_hf(o);
  std::cerr << "kbert import-hf: wrote " << o.out << "\n";
  return 0;
}

nlohmann::json entities_json(const TagResult& r) {
  nlohmann::json a = nlohmann::json::array();
  for (const auto& e : r.entities)
    a.push_back({{"type", e.type}, {"start", e.start}, {"end", e.end}, {"text", e.text}, {"score", e.score}});
  return a;
}

// kbert predict with a tagger: the entities of each stdin line.
int tag_texts(const Model& m, bool json, Shard shard) {
  const Texts t = read_texts(/*pairs=*/false, shard);
  const std::vector<std::string>& texts = t.a;
  const std::vector<TagResult> results = m.tag(texts);
  for (std::size_t i = 0; i < results.size(); ++i) {
    const TagResult& r = results[i];
    if (json) {
      nlohmann::json j = {{"text", texts[i]},        {"entities", entities_json(r)}, {"tokens", r.tokens},
                          {"tags", r.tags},          {"starts", r.starts},           {"injected", injected_json(r.injected)}};
      if (shard.count > 1) j["line"] = t.line[i];
      std::cout << j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
    } else {
      std::cout << texts[i] << "\n";
      for (const auto& e : r.entities) {
        std::ostringstream score;
        score << std::fixed << std::setprecision(3) << e.score;
        std::cout << "  " << std::left << std::setw(16) << e.type << std::setw(12)
                  << (std::to_string(e.start) + "-" + std::to_string(e.end)) << std::setw(8) << score.str() << e.text << "\n";
      }
    }
  }
  return 0;
}

int predict_cmd(int argc, char** argv) {
  Args args(argc, argv, 2);
  if (!args.has("model")) throw UsageError("predict needs --model DIR");
  const Shard shard = shard_option(args);
  Model m = Model::load(args.value("model"), run_options(args));
  const bool json = args.flag("json");
  if (m.is_tagger()) {
    if (args.flag("pairs")) throw UsageError("--pairs is for classifiers; a tagger tags one text a line");
    return tag_texts(m, json, shard);
  }
  Texts t = read_texts(args.flag("pairs"), shard);
  std::vector<Prediction> preds = m.predict(t.a, t.b);
  if (!json) std::cout << std::left << std::setw(16) << "label" << std::setw(10) << "prob" << "knowledge | text\n";
  for (std::size_t i = 0; i < preds.size(); ++i) {
    const Prediction& p = preds[i];
    if (json) {
      nlohmann::json j = {{"label", p.label_name}, {"logits", p.logits}, {"probs", p.probs}, {"injected", injected_json(p.injected)}};
      if (shard.count > 1) j["line"] = t.line[i];
      std::cout << j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
    } else {
      std::ostringstream prob;
      prob << std::fixed << std::setprecision(3) << p.probs[static_cast<std::size_t>(p.label)];
      std::cout << std::left << std::setw(16) << p.label_name << std::setw(10) << prob.str() << p.injected.size()
                << " facts | " << t.a[i] << (t.b.empty() || t.b[i].empty() ? "" : " || " + t.b[i]) << "\n";
    }
  }
  return 0;
}

void write_npy(const std::string& path, const Matrix& m) {
  write_file_atomically(path, [&](std::ostream& out) {
    std::string header = "{'descr': '<f4', 'fortran_order': False, 'shape': (" + std::to_string(m.rows) + ", " +
                         std::to_string(m.cols) + "), }";
    while ((10 + header.size() + 1) % 64) header.push_back(' ');
    header.push_back('\n');
    out.write("\x93NUMPY\x01\x00", 8);
    const auto len = static_cast<std::uint16_t>(header.size());
    out.put(static_cast<char>(len & 0xFF));
    out.put(static_cast<char>(len >> 8));
    out << header;
    out.write(reinterpret_cast<const char*>(m.data.data()), static_cast<std::streamsize>(m.data.size() * sizeof(float)));
  });
}

int embed_cmd(int argc, char** argv) {
  Args args(argc, argv, 2);
  if (!args.has("model")) throw UsageError("embed needs --model DIR");
  const Shard shard = shard_option(args);
  EmbedPooling pooling;
  try {
    pooling = parse_embed_pooling(args.value("pooling"));
  } catch (const std::invalid_argument& e) {
    throw UsageError(e.what());
  }
  const std::string format = args.value("format");
  if (format != "jsonl" && format != "npy") throw UsageError("--format must be jsonl or npy");
  if (format == "npy" && !args.has("out")) throw UsageError("--format npy needs --out FILE");
  Model m = Model::load(args.value("model"), run_options(args));
  Texts t = read_texts(args.flag("pairs"), shard);
  Matrix e = m.embed(t.a, pooling, args.flag("normalize"), t.b);
  if (format == "npy") {
    write_npy(args.value("out"), e);
    return 0;
  }
  auto emit = [&](std::ostream& out) {
    if (pooling == EmbedPooling::kTokens) {
      std::vector<nlohmann::json> rows(t.a.size(), nlohmann::json::array());
      for (std::size_t r = 0; r < e.rows; ++r)
        rows[e.row_text[r]].push_back(std::vector<float>(e.data.begin() + r * e.cols, e.data.begin() + (r + 1) * e.cols));
      for (std::size_t i = 0; i < t.a.size(); ++i) {
        nlohmann::json j = {{"text", t.a[i]}, {"tokens", rows[i]}};
        if (shard.count > 1) j["line"] = t.line[i];
        out << j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
      }
      return;
    }
    for (std::size_t r = 0; r < e.rows; ++r) {
      nlohmann::json j = {{"text", t.a[r]}, {"embedding", std::vector<float>(e.data.begin() + r * e.cols, e.data.begin() + (r + 1) * e.cols)}};
      if (shard.count > 1) j["line"] = t.line[r];
      out << j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
    }
  };
  if (args.has("out")) {
    write_file_atomically(args.value("out"), emit);
  } else {
    emit(std::cout);
  }
  return 0;
}

int eval_cmd(int argc, char** argv) {
  Args args(argc, argv, 2);
  if (!args.has("model") || !args.has("data")) throw UsageError("eval needs --model DIR and --data FILE");
  const Model m = Model::load(args.value("model"), run_options(args));
  if (args.has("format") && !m.is_tagger()) throw UsageError("--format is for tagger (NER) models");
  const EvalReport r = evaluate_file(m, args.value("data"), parse_tagged_format(args.value("format")));
  std::cout << r.table;
  const std::string out = args.value("out");
  write_file_atomically(out, [&](std::ostream& os) { os << r.json << "\n"; });
  std::cerr << "kbert eval: metrics written to " << out << "\n";
  return 0;
}

}  // namespace

int bench_encoder(int argc, char** argv);

int cmd_model(int argc, char** argv) {
  static const std::map<std::string, int (*)(int, char**)> handlers = {
      {"bench", bench_encoder}, {"import-uer", import_uer_cmd}, {"import-hf", import_hf_cmd},
      {"predict", predict_cmd}, {"embed", embed_cmd},           {"train", train_cmd},
      {"eval", eval_cmd},       {"pretrain", pretrain_cmd}, {"index", index_cmd}, {"explain", explain_cmd},
      {"search", search_cmd},   {"report", cmd_report},       {"kg", kg_suggest_cmd}};
  for (std::size_t i = 0; i < kCommandCount; ++i)  // the command list (kCommands) and the handlers agree
    if (kCommands[i].model && !handlers.count(kCommands[i].name))
      throw std::logic_error(std::string("no handler for the model command ") + kCommands[i].name);
  const CommandInfo* c = find_command(argc, argv);
  if (!c || !c->model) throw UsageError("unknown command '" + std::string(argv[1]) + "'");
  return handlers.at(c->name)(argc, argv);
}

int bench_encoder(int argc, char** argv) {
  Args args(argc, argv, 3);
  if (!args.has("model")) throw UsageError("bench encoder needs --model DIR");
  Model m = Model::load(args.value("model"), run_options(args));
  Texts t = read_texts(false);
  // The peak is the best of a GEMM timed before and after the run: on a shared machine
  // one measurement alone can land in a slow moment.
  double peak = measure_gemm_gflops();
  EncoderBench b = m.bench(t.a);
  peak = std::max(peak, measure_gemm_gflops());
  // What the figures ran on: the CPU, and the instruction set of the matrix products (ATen's
  // capability as kbert set it before LibTorch loaded, or bfloat16's path).
  const cpu::Info& c = cpu::info();
  const char* aten = std::getenv("ATEN_CPU_CAPABILITY");
  const std::string isa = m.run_options().precision == Precision::kBFloat16 ? std::string("bf16 via ") + cpu::bf16_path(c)
                          : aten                                            ? std::string(aten)
                                                                            : std::string(cpu::best_isa(c));
  nlohmann::json info = {{"cpu", c.model},
                         {"isa", isa},
                         {"precision", precision_name(precision_option(args))},
                         {"tokens", b.tokens},
                         {"padded_tokens", b.padded_tokens},
                         {"threads", b.threads},
                         {"parameters_mib", static_cast<double>(m.parameter_bytes()) / (1 << 20)},
                         {"forward_seconds", b.forward_seconds},
                         {"forward_gflops_per_s", b.forward_seconds > 0 ? b.flops / b.forward_seconds / 1e9 : 0.0},
                         {"gemm_peak_gflops_per_s", peak}};
  std::cout << info.dump() << "\n";
  nlohmann::json j = {{"texts", b.texts},
                      {"seconds", b.seconds},
                      {"tokens_per_s", b.seconds > 0 ? static_cast<double>(b.tokens) / b.seconds : 0.0},
                      {"gflops_per_s", b.seconds > 0 ? b.flops / b.seconds / 1e9 : 0.0},
                      {"gemm_peak_gflops_per_s", peak},
                      {"cpu", c.model}};
  std::cout << j.dump() << std::endl;
  return 0;
}

}  // namespace kbert::cli
