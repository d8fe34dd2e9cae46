// kbert report: an HTML report of a classifier on labelled data (kbert/report/).
#include <filesystem>
#include <iostream>

#include "cli_common.hpp"
#include "commands.hpp"
#include "model_cli.hpp"
#include "kbert/common/cpu.hpp"
#include "kbert/common/options.hpp"
#include "kbert/index/vector_index.hpp"
#include "kbert/model/model.hpp"
#include "kbert/report/collect.hpp"
#include "kbert/train/data.hpp"

namespace kbert::cli {



int cmd_report(int argc, char** argv) {
  Args args(argc, argv, 2);
  if (!args.has("model") || !args.has("data")) throw UsageError("report needs --model DIR and --data FILE");
  const RunOptions run = run_options(args);
  const Model model = Model::load(args.value("model"), run);
  const Dataset data = Dataset::load(args.value("data"));
  report::CollectOptions o;
  Model baseline;
  if (args.has("baseline")) {
    RunOptions b = run;
    b.kg.reset();  // the baseline's own KG (none for a model without knowledge)
    baseline = Model::load(args.value("baseline"), b);
    o.baseline = &baseline;
  }
  std::optional<VectorIndex> index;
  if (args.has("index")) {
    index = VectorIndex::open(args.value("index"));
    o.index = &*index;
  }
  o.similar = args.size_value("similar");
  report::Data d = report::collect(model, data, o);
  d.title = args.value("title");
  // Short names in the tables and legends (the directories' own names); the paths are in the header.
  auto name_of = [](std::string path) {
    while (path.size() > 1 && path.back() == '/') path.pop_back();
    return std::filesystem::path(path).filename().string();
  };
  d.model_name = name_of(args.value("model"));
  if (args.has("baseline")) d.baseline_name = name_of(args.value("baseline"));
  if (d.baseline_name == d.model_name) d.baseline_name += " (baseline)";
  d.about = {{"model", args.value("model")},
             {"data", args.value("data") + " (" + std::to_string(data.size()) + " texts)"},
             {"kbert", std::string(options::version())},
             {"cpu", cpu::info().model}};
  if (args.has("baseline")) d.about.push_back({"baseline", args.value("baseline")});
  if (args.has("index")) d.about.push_back({"index", args.value("index")});
  report::write_html(args.value("out"), d);
  std::cerr << "kbert report: " << d.items.size() << " texts, macro-F1 " << d.metrics.macro_f1 << ", written to "
            << args.value("out") << "\n";
  return 0;
}

}  // namespace kbert::cli
