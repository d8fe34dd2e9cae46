// kbert import-uer | import-hf | predict | embed | bench encoder: the encoder commands.
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
namespace {

struct Texts {
  std::vector<std::string> a, b;
  std::vector<std::size_t> line;  // the 1-based input line of each text
};

// --shard I/N: this process takes the texts of lines I+1, I+1+N, I+1+2N, ... (every N-th
// text from offset I), so that N processes, on one machine or several, share an archive;
// their outputs interleave back (rows I::N of the whole).
struct Shard {
  std::size_t index = 0, count = 1;
};

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
Texts read_texts(bool pairs, Shard shard = {}) {
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
    return parse_precision(args.value("precision", "fp32"));
  } catch (const std::invalid_argument& e) {
    throw UsageError(std::string("--precision: ") + e.what());
  }
}

// Bad option values are usage errors (exit 2) in every command.
Pooling pooling_option(const Args& args) {
  try {
    return parse_pooling(args.value("pooling", "first"));
  } catch (const std::invalid_argument& e) {
    throw UsageError(std::string("--pooling: ") + e.what());
  }
}

}  // namespace

// Shared with cmd_report.cpp (declared in commands.hpp).
RunOptions run_options(const Args& args) {
  RunOptions r;
  r.batch_size = args.size_value("batch-size", r.batch_size);
  if (r.batch_size == 0) throw UsageError("--batch-size must be at least 1");
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
  hops_options(args, o.tree);
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
    pooling = parse_embed_pooling(args.value("pooling", "mean"));
  } catch (const std::invalid_argument& e) {
    throw UsageError(e.what());
  }
  const std::string format = args.value("format", "jsonl");
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

int explain_cmd(int argc, char** argv) {
  Args args(argc, argv, 2);
  if (!args.has("model")) throw UsageError("explain needs --model DIR");
  const std::size_t top = args.size_value("top", 10);
  const Model m = Model::load(args.value("model"), run_options(args));
  const Texts t = read_texts(false);
  const std::vector<Explanation> ex = m.explain(t.a);
  for (std::size_t i = 0; i < ex.size(); ++i) {
    const Explanation& e = ex[i];
    const float prob = e.prediction.probs[static_cast<std::size_t>(e.prediction.label)];
    if (args.flag("json")) {
      nlohmann::json facts = nlohmann::json::array();
      for (const FactAttribution& a : e.facts) {
        nlohmann::json f = fact_json(a.fact);
        f["prob_without"] = a.prob_without;
        f["change"] = a.change;
        f["label_without"] = m.label_name(a.label_without);
        if (m.spec().knowledge_gate) f["gate"] = a.gate;
        facts.push_back(std::move(f));
      }
      nlohmann::json j = {{"text", t.a[i]}, {"label", e.prediction.label_name}, {"prob", prob},
                          {"probs", e.prediction.probs}, {"facts", facts}};
      std::cout << j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
      continue;
    }
    // The readable form: the facts that moved the prediction most first.
    std::vector<const FactAttribution*> order;
    for (const FactAttribution& a : e.facts) order.push_back(&a);
    std::stable_sort(order.begin(), order.end(),
                     [](const FactAttribution* x, const FactAttribution* y) { return std::fabs(x->change) > std::fabs(y->change); });
    std::cout << "text " << (i + 1) << ": " << e.prediction.label_name << " (p = " << std::fixed << std::setprecision(3) << prob
              << "), " << e.facts.size() << " injected fact(s)\n";
    for (std::size_t r = 0; r < order.size() && r < top; ++r) {
      const FactAttribution& a = *order[r];
      std::cout << "  " << std::showpos << std::setprecision(4) << std::setw(7) << a.change << std::noshowpos
                << std::setprecision(3) << "  " << a.fact.entity << " -> " << a.fact.relation << " " << a.fact.object;
      if (a.fact.hop > 1) std::cout << "   (hop " << a.fact.hop << ")";
      if (m.spec().knowledge_gate) std::cout << "   (gate " << std::setprecision(3) << a.gate << ")";
      if (a.label_without != e.prediction.label) std::cout << "   (without it: " << m.label_name(a.label_without) << ")";
      std::cout << "\n";
    }
    std::cout.unsetf(std::ios::fixed);
  }
  return 0;
}

// A corpus to index: .txt, one text a line (ids are line numbers), or a dataset file (.tsv,
// .csv, .jsonl) whose label and id columns are optional.
struct Corpus {
  std::vector<std::string> texts, ids, labels;
};

Corpus read_corpus(const Args& args) {
  const std::string path = args.value("corpus");
  Corpus c;
  if (path.size() >= 4 && path.compare(path.size() - 4, 4, ".txt") == 0) {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw FileError(path, "cannot open corpus");
    std::string line;
    for (std::size_t n = 1; std::getline(in, line); ++n) {
      if (!line.empty() && line.back() == '\r') line.pop_back();
      if (line.empty()) continue;
      c.texts.push_back(line);
      c.ids.push_back(std::to_string(n));
    }
    return c;
  }
  DatasetOptions o;
  o.require_label = false;
  o.label_column = args.value("label-column", o.label_column);
  o.text_a_column = args.value("text-column", o.text_a_column);
  o.id_column = args.value("id-column", o.id_column);
  const Dataset d = Dataset::load(path, o);
  if (d.has_pairs) throw ParseError(path, 1, "an index holds single texts; this corpus has a text_b column");
  bool labels = false;
  for (const Example& e : d.examples) {
    c.texts.push_back(e.text_a);
    c.ids.push_back(e.id.empty() ? std::to_string(e.line) : e.id);
    c.labels.push_back(e.label);
    labels = labels || !e.label.empty();
  }
  if (!labels) c.labels.clear();
  return c;
}

int index_cmd(int argc, char** argv) {
  Args args(argc, argv, 2);
  if (!args.has("model") || !args.has("corpus") || !args.has("out"))
    throw UsageError("index needs --model DIR, --corpus FILE and --out INDEX");
  refuse_symlink_output(args.value("out"));
  IndexBuildOptions o;
  try {
    o.pooling = parse_embed_pooling(args.value("pooling", "mean"));
  } catch (const std::invalid_argument& e) {
    throw UsageError(std::string("--pooling: ") + e.what());
  }
  if (o.pooling == EmbedPooling::kTokens) throw UsageError("--pooling: an index holds one vector a text (cls, mean or max)");
  o.store_texts = !args.flag("no-texts");
  Corpus c = read_corpus(args);
  Model m = Model::load(args.value("model"), run_options(args));
  VectorIndex ix = build_index(m, c.texts, std::move(c.ids), std::move(c.labels), o);
  ix.save(args.value("out"));
  std::cerr << "kbert index: " << ix.size() << " vectors of " << ix.dim() << " written to " << args.value("out") << "\n";
  return 0;
}

int search_cmd(int argc, char** argv) {
  Args args(argc, argv, 2);
  if (!args.has("index") || !args.has("model"))
    throw UsageError("search needs --index INDEX and --model DIR (the model the index was built with: an index names "
                     "no path that kbert would open; the model's fingerprint is checked against the index's)");
  const std::size_t k = args.size_value("k", 5);
  if (k == 0) throw UsageError("--k must be at least 1");
  const std::string path = args.value("index");
  const VectorIndex ix = VectorIndex::open(path);
  // The index fixes how queries are embedded: the model's fingerprint, the KG and max_length.
  // It never names a file to open: a KG file it was built with comes from --kg, and must be
  // the same path (checked below).
  RunOptions r = run_options(args);
  const std::string& kg = ix.source().kg;
  if (kg == "none" && !args.has("kg")) r.kg = "none";
  if (!kg.empty() && kg != "none" && !args.has("kg"))
    throw UsageError("the index " + printable_path(path) + " was built with --kg " + printable_path(kg) +
                     ": pass the same --kg to search");
  if (ix.source().max_length != 0) r.max_length = ix.source().max_length;
  const Model m = Model::load(args.value("model"), r);
  try {
    check_index_model(ix, m);
  } catch (const std::invalid_argument& e) {
    throw std::invalid_argument(printable_path(path) + ": " + e.what());
  }
  const Texts t = read_texts(false);
  const auto hits = search_index(ix, m, t.a, k);
  const bool texts = ix.has_texts() && !args.flag("no-texts");
  for (std::size_t i = 0; i < t.a.size(); ++i) {
    nlohmann::json row = {{"text", t.a[i]}, {"hits", nlohmann::json::array()}};
    for (const SearchHit& h : hits[i]) {
      nlohmann::json j = {{"id", ix.id(h.row)}, {"score", h.score}};
      if (ix.has_labels()) j["label"] = ix.label(h.row);
      if (texts) j["text"] = ix.text(h.row);
      row["hits"].push_back(std::move(j));
    }
    std::cout << row.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
  }
  return 0;
}

// A fresh model from --config (UER or Hugging Face JSON) and --vocab.
Model create_from_config(const Args& args, const ModelSpec& spec, const RunOptions& run) {
  if (!args.has("vocab")) throw UsageError("--config needs --vocab");
  return Model::create(args.value("config"), spec, args.value("vocab"), run);
}

// The options of the training loop that train and pretrain share; the defaults are o's own.
void read_loop_options(const Args& args, TrainOptions& o) {
  o.epochs = args.size_value("epochs", o.epochs);
  o.batch_size = args.size_value("batch-size", o.batch_size);
  o.accumulation = args.size_value("accumulation", o.accumulation);
  o.learning_rate = args.double_value("learning-rate", o.learning_rate);
  o.warmup = args.double_value("warmup", o.warmup);
  o.weight_decay = args.double_value("weight-decay", o.weight_decay);
  o.max_grad_norm = args.double_value("max-grad-norm", o.max_grad_norm);
  o.seed = args.size_value("seed", o.seed);
  o.resume = args.flag("resume");
  o.group_by_length = !args.flag("no-length-grouping");
  o.stop_after_steps = args.size_value("stop-after-steps", o.stop_after_steps);
  o.checkpoint_every = args.size_value("checkpoint-every", o.checkpoint_every);
  o.progress = !args.flag("quiet");
  o.precision = precision_option(args);
}

int train_cmd(int argc, char** argv) {
  Args args(argc, argv, 2);
  if (!args.has("train") || !args.has("out")) throw UsageError("train needs --train FILE and --out DIR");
  if (args.has("model") && args.has("config"))
    throw UsageError("train: --model and --config both given; neither wins: start from a model directory (--model DIR) "
                     "or from a new model (--config F.json --vocab V), not both");
  if (!args.has("model") && !args.has("config")) throw UsageError("train needs --model DIR or --config F.json --vocab V");
  const std::string task = args.value("task", "classify");
  if (task != "classify" && task != "ner") throw UsageError("--task must be classify or ner, got " + task);
  const bool ner = task == "ner";
  if (!ner && args.has("format")) throw UsageError("--format is for --task ner (bio-tsv or conll)");
  if (ner && args.has("head")) throw UsageError("--task ner trains a tagger; --head is for classifiers");
  if (ner && args.has("class-weights")) throw UsageError("--class-weights is for classifiers");
  TrainJob job;  // every default below is the struct's own
  job.task = task;
  job.format = parse_tagged_format(args.value("format", "auto"));
  job.train = args.value("train");
  job.dev = args.value("dev", "");
  job.test = args.value("test", "");
  job.out = args.value("out");
  ClassifierSetup& setup = job.setup;
  setup.model_dir = args.value("model", "");
  setup.config = args.value("config", "");
  setup.vocab = args.value("vocab", "");
  if (!setup.config.empty() && setup.vocab.empty()) throw UsageError("--config needs --vocab");
  setup.tokenizer = args.value("tokenizer", setup.tokenizer);
  setup.kg_files = args.kg_files();
  setup.kg_none = args.has("kg") && setup.kg_files.empty();
  const TreeOptions tree_defaults;
  if (args.has("max-length")) setup.max_length = args.size_value("max-length", tree_defaults.max_length);
  if (args.has("max-entities")) setup.max_entities = args.size_value("max-entities", tree_defaults.max_entities);
  if (args.flag("predicate")) setup.predicate = true;
  if (args.has("truncation")) setup.truncation = truncation_option(args);
  if (args.has("hops") || args.has("max-facts")) {
    TreeOptions hops;
    hops_options(args, hops);
    if (args.has("hops")) setup.hops = hops.hops;
    if (args.has("max-facts")) setup.max_facts = hops.max_facts;
  }
  setup.pooling = pooling_option(args);
  const std::string head_name = args.value("head", "kbert");
  if (head_name != "kbert" && head_name != "hf") throw UsageError("--head must be kbert or hf");
  setup.head = ner ? HeadKind::kTagger : head_name == "hf" ? HeadKind::kHf : HeadKind::kKbert;
  setup.use_visible_matrix = !args.flag("no-visible-matrix");
  setup.use_soft_positions = !args.flag("no-soft-position");
  setup.threads = args.threads(setup.threads);
  setup.lexical_buckets = args.size_value("lexical-buckets", setup.lexical_buckets);
  if (ner && setup.lexical_buckets) throw UsageError("--lexical-buckets is for classifiers");
  TrainOptions& o = job.options;
  read_loop_options(args, o);
  o.metric = args.value("metric", o.metric);  // empty: the task's usual metric
  o.class_weights = args.value("class-weights", o.class_weights);
  o.patience = args.size_value("patience", o.patience);
  o.shuffle = !args.flag("no-shuffle");
  o.lexical_learning_rate = args.double_value("lexical-learning-rate", o.lexical_learning_rate);
  o.lexical_fit = args.value("lexical-fit", o.lexical_fit);
  if (o.lexical_fit != "joint" && o.lexical_fit != "first") throw UsageError("--lexical-fit must be joint or first");
  o.lexical_c = args.double_value("lexical-c", o.lexical_c);
  setup.lexical_knowledge = args.flag("lexical-knowledge");
  if ((args.has("lexical-fit") || args.has("lexical-c") || args.has("lexical-learning-rate") || setup.lexical_knowledge) &&
      !setup.lexical_buckets)
    throw UsageError("--lexical-fit, --lexical-c, --lexical-learning-rate and --lexical-knowledge need --lexical-buckets N");
  if (args.has("lexical-c") && o.lexical_fit != "first") throw UsageError("--lexical-c is for --lexical-fit first");
  setup.knowledge_gate = args.flag("knowledge-gate");
  o.gate_learning_rate = args.double_value("gate-learning-rate", o.gate_learning_rate);
  if (args.has("gate-learning-rate") && !setup.knowledge_gate) throw UsageError("--gate-learning-rate needs --knowledge-gate");
  if (setup.knowledge_gate && !setup.use_visible_matrix)
    throw UsageError("--knowledge-gate needs the visible matrix (it gates what a mention sees of its branches)");
  const TrainResult r = run_train_job(job);
  if (r.test) std::cerr << "test:\n" << r.test->to_table();
  if (r.test_entities) std::cerr << "test:\n" << r.test_entities->to_table();
  std::cout << to_json(r) << std::endl;
  return 0;
}

int pretrain_cmd(int argc, char** argv) {
  Args args(argc, argv, 2);
  if (!args.has("corpus") || !args.has("out")) throw UsageError("pretrain needs --corpus FILE and --out DIR");
  if (args.has("model") && args.has("config"))
    throw UsageError("pretrain: --model and --config both given; neither wins: start from a model directory (--model DIR) "
                     "or from a new model (--config F.json --vocab V), not both");
  if (!args.has("model") && !args.has("config")) throw UsageError("pretrain needs --model DIR or --config F.json --vocab V");
  std::vector<std::string> corpus;
  {
    std::ifstream in(args.value("corpus"));
    if (!in) throw FileError(args.value("corpus"), "cannot open corpus");
    std::string line;
    while (std::getline(in, line)) {
      if (!line.empty() && line.back() == '\r') line.pop_back();
      if (line.find_first_not_of(" \t") != std::string::npos) corpus.push_back(line);
    }
  }
  set_random_seed(args.size_value("seed", PretrainOptions().seed));
  RunOptions run;
  run.threads = args.threads(run.threads);
  const std::vector<std::string> kgs = args.kg_files();
  Model model;
  if (args.has("model")) {
    if (args.has("kg")) run.kg = kgs.empty() ? std::string("none") : kgs.front();
    model = Model::load(args.value("model"), run);
    if (model.spec().head != HeadKind::kNone) model.reset_head(HeadKind::kNone, Pooling::kFirst, {});
  } else {
    ModelSpec spec;
    spec.tokenizer.kind = args.value("tokenizer", spec.tokenizer.kind);
    spec.tree.max_length = args.size_value("max-length", spec.tree.max_length);
    spec.tree.max_entities = args.size_value("max-entities", spec.tree.max_entities);
    spec.tree.predicate = args.flag("predicate");
    spec.tree.add_special = true;
    spec.kg_files = kgs;
    spec.segments = spec.tokenizer.kind == "char" ? SegmentConvention::kUer : SegmentConvention::kHuggingFace;
    model = create_from_config(args, spec, run);
  }
  PretrainOptions o;  // every default is the struct's own
  read_loop_options(args, o);
  o.mask_probability = args.double_value("mask-probability", o.mask_probability);
  o.whole_word = !args.flag("no-whole-word");
  o.objective = args.value("objective", o.objective);
  if (o.objective != "mlm" && o.objective != "electra") throw UsageError("--objective must be mlm or electra, got " + o.objective);
  o.generator_layers = args.size_value("generator-layers", o.generator_layers);
  o.discriminator_weight = args.double_value("discriminator-weight", o.discriminator_weight);
  if (o.objective != "electra" && (args.has("generator-layers") || args.has("discriminator-weight")))
    throw UsageError("--generator-layers and --discriminator-weight are for --objective electra");
  PretrainResult r = pretrain_encoder(model, corpus, o, args.value("out"));
  nlohmann::json j = {{"epochs", r.epochs_run}, {"steps", r.steps}, {"first_loss", r.first_loss}, {"final_loss", r.final_loss},
                      {"seconds", r.seconds}, {"texts_per_s", r.texts_per_second}, {"interrupted", r.interrupted}};
  std::cout << j.dump() << std::endl;
  return 0;
}

int eval_cmd(int argc, char** argv) {
  Args args(argc, argv, 2);
  if (!args.has("model") || !args.has("data")) throw UsageError("eval needs --model DIR and --data FILE");
  Model m = Model::load(args.value("model"), run_options(args));
  std::string table, json;
  if (m.is_tagger()) {
    EntityReport r = evaluate_tagger(m, TaggedDataset::load(args.value("data"), parse_tagged_format(args.value("format", "auto"))));
    table = r.to_table();
    json = r.to_json();
  } else {
    if (args.has("format")) throw UsageError("--format is for tagger (NER) models");
    ClassificationReport r = evaluate(m, Dataset::load(args.value("data")));
    table = r.to_table();
    json = r.to_json();
  }
  std::cout << table;
  const std::string out = args.value("out", "metrics.json");
  write_file_atomically(out, [&](std::ostream& os) { os << json << "\n"; });
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
      {"search", search_cmd},   {"report", cmd_report}};
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
