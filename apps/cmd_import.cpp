// kbert import-uer and import-hf: checkpoints of the original K-BERT (UER) and Hugging Face
// BERT directories into model directories (the library's import_uer / import_hf).
#include <iostream>

#include "cli_common.hpp"
#include "commands.hpp"
#include "kbert/model/model.hpp"
#include "model_cli.hpp"

namespace kbert::cli {

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

}  // namespace kbert::cli
