// kbert kg score: ranks a KG's facts by how much they tell a task's labels apart.
#include <iostream>
#include <nlohmann/json.hpp>

#include "cli_common.hpp"
#include "commands.hpp"
#include "kbert/train/data.hpp"
#include "kbert/train/fact_scores.hpp"

namespace kbert::cli {

namespace {

int kg_score(int argc, char** argv) {
  Args args(argc, argv, 3);
  args.known({"tokenizer", "vocab", "spm-model", "kg-format", "threads", "train", "out", "min-score"},
             {"lenient", "case-insensitive", "no-lower-case"}, {"kg"});
  if (args.kg_files().empty() || !args.has("train") || !args.has("out"))
    throw UsageError("kg score needs --kg FILE, --train FILE and --out FILE.spo");
  const double min_score = args.double_value("min-score", 0.0);
  auto setup = make_tree_setup(args);
  const Dataset train = Dataset::load(args.value("train"));
  const std::vector<FactScore> scores = score_facts(setup->kg, setup->tokenizer, train, args.threads(0));
  const std::size_t written = write_scored_spo(scores, args.value("out"), min_score);
  std::size_t seen = 0;
  for (const auto& s : scores) seen += s.texts > 0;
  nlohmann::json j = {{"triples", scores.size()}, {"in_training_texts", seen}, {"written", written},
                      {"min_score", min_score}, {"out", args.value("out")}};
  std::cout << j.dump() << std::endl;
  return 0;
}

}  // namespace

int cmd_kg(int argc, char** argv) {
  const std::string sub = argc > 2 ? argv[2] : "";
  if (sub == "score") return kg_score(argc, argv);
  throw UsageError(sub.empty() ? "kg needs a subcommand: score" : "unknown kg subcommand '" + sub + "' (known: score)");
}

}  // namespace kbert::cli
