// kbert eval: a model scored on labelled data (the library's evaluate_file).
#include <cstdio>
#include <iostream>

#include "cli_common.hpp"
#include "commands.hpp"
#include "kbert/common/atomic_file.hpp"
#include "kbert/model/model.hpp"
#include "kbert/train/trainer.hpp"
#include "model_cli.hpp"

namespace kbert::cli {

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

}  // namespace kbert::cli
