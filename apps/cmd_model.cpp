// kbert-model's dispatcher and the options every command that runs a model shares. One command
// a file: cmd_import (import-uer, import-hf), cmd_predict, cmd_embed, cmd_eval, cmd_bench_encoder,
// cmd_train, cmd_pretrain, cmd_explain, cmd_index (index, search), cmd_report, cmd_suggest.
#include <iostream>
#include <map>
#include <memory>
#include <string>

#include "cli_common.hpp"
#include "commands.hpp"
#include "kbert/common/error.hpp"
#include "kbert/common/progress.hpp"
#include "kbert/model/model.hpp"
#include "model_cli.hpp"

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

}  // namespace kbert::cli
