// kbert kg score: ranks a KG's facts by how much they tell a task's labels apart.
// kbert kg compile: writes a KG as one memory-mapped binary file (.kbkg).
#include <chrono>
#include <iostream>
#include <nlohmann/json.hpp>

#include "cli_common.hpp"
#include "commands.hpp"
#include "kbert/common/progress.hpp"
#include "kbert/train/data.hpp"
#include "kbert/train/fact_scores.hpp"

namespace kbert::cli {

namespace {

int kg_score(int argc, char** argv) {
  Args args(argc, argv, 3);
  if (args.kg_files().empty() || !args.has("train") || !args.has("out"))
    throw UsageError("kg score needs --kg FILE, --train FILE and --out FILE.spo");
  const double min_score = args.double_value("min-score");
  std::vector<std::string> inputs = args.kg_files();
  inputs.push_back(args.value("train"));
  refuse_output_over_inputs(args.value("out"), inputs);
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

int kg_compile(int argc, char** argv) {
  Args args(argc, argv, 3);
  if (args.kg_files().empty() || !args.has("out")) throw UsageError("kg compile needs --kg FILE (one or more) and --out FILE.kbkg");
  const auto t0 = std::chrono::steady_clock::now();
  KnowledgeGraph kg;
  // Steps: each file loaded, the compiled file written, then opened to check it.
  const std::size_t steps = args.kg_files().size() + 2;
  ProgressLine progress("kbert kg compile", "steps", !args.flag("quiet"));
  const std::size_t bad = load_kg_files(args, kg, &progress, steps);
  const double load_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const std::string out = args.value("out");
  refuse_output_over_inputs(out, args.kg_files());
  refuse_symlink_output(out);
  kg.save_compiled(out);
  progress.update(steps - 1, steps);
  const double total_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  KnowledgeGraph check;
  check.load(out);  // what every --kg will do with it: refuses a bad write at once
  progress.update(steps, steps);
  nlohmann::json j = {{"triples", check.num_triples()},       {"vertices", check.num_vertices()},
                      {"relations", check.num_relations()},   {"surface_forms", check.num_surface_forms()},
                      {"duplicates", check.duplicate_triples()}, {"bad_lines", bad},
                      {"bytes", check.memory_bytes()},        {"load_seconds", load_s},
                      {"compile_seconds", total_s},           {"out", out}};
  std::cout << j.dump() << std::endl;
  return 0;
}

}  // namespace

int cmd_kg(int argc, char** argv) {
  const std::string sub = argc > 2 ? argv[2] : "";
  if (sub == "score") return kg_score(argc, argv);
  if (sub == "compile") return kg_compile(argc, argv);
  throw UsageError(sub.empty() ? "kg needs a subcommand: score or compile"
                               : "unknown kg subcommand '" + sub + "' (known: score, compile)");
}

}  // namespace kbert::cli
