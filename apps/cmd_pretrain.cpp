// kbert pretrain: pre-training an encoder (the library's run_pretrain_job).
#include <cstdio>
#include <iostream>

#include "cli_common.hpp"
#include "commands.hpp"
#include "kbert/train/trainer.hpp"
#include "model_cli.hpp"

namespace kbert::cli {

int pretrain_cmd(int argc, char** argv) {
  Args args(argc, argv, 2);
  if (!args.has("corpus") || !args.has("out")) throw UsageError("pretrain needs --corpus FILE and --out DIR");
  require_one_start(args);
  PretrainJob job;  // every default is the struct's own
  job.corpus = args.value("corpus");
  job.out = args.value("out");
  job.model_dir = args.value("model");
  job.config = args.value("config");
  job.vocab = args.value("vocab");
  if (!job.config.empty() && job.vocab.empty()) throw UsageError("--config needs --vocab");
  job.tokenizer = args.value("tokenizer", job.tokenizer);
  job.kg_files = args.kg_files();
  job.kg_none = args.has("kg") && job.kg_files.empty();
  job.tree.max_length = args.size_value("max-length", job.tree.max_length);
  job.tree.max_entities = args.size_value("max-entities", job.tree.max_entities);
  job.tree.predicate = args.flag("predicate");
  job.threads = args.threads(job.threads);
  PretrainOptions& o = job.options;
  read_loop_options(args, o);
  o.mask_probability = args.double_value("mask-probability", o.mask_probability);
  o.whole_word = !args.flag("no-whole-word");
  o.objective = args.value("objective", o.objective);
  if (o.objective != "mlm" && o.objective != "electra") throw UsageError("--objective must be mlm or electra, got " + o.objective);
  o.generator_layers = args.size_value("generator-layers", o.generator_layers);
  o.discriminator_weight = args.double_value("discriminator-weight", o.discriminator_weight);
  if (o.objective != "electra" && (args.has("generator-layers") || args.has("discriminator-weight")))
    throw UsageError("--generator-layers and --discriminator-weight are for --objective electra");
  std::cout << to_json(run_pretrain_job(job)) << std::endl;
  return 0;
}

}  // namespace kbert::cli
