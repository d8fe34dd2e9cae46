// kbert train: fine-tuning (the library's run_train_job does the work; this translates the
// options), and the options train and pretrain share.
#include <cstdio>
#include <iostream>

#include "cli_common.hpp"
#include "commands.hpp"
#include "kbert/train/trainer.hpp"
#include "model_cli.hpp"

namespace kbert::cli {

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

// train and pretrain start from a model directory or from a new model, never both.
void require_one_start(const Args& args) {
  const std::string& c = args.command();
  if (args.has("model") && args.has("config"))
    throw UsageError(c + ": --model and --config both given; neither wins: start from a model directory (--model DIR) "
                         "or from a new model (--config F.json --vocab V), not both");
  if (!args.has("model") && !args.has("config")) throw UsageError(c + " needs --model DIR or --config F.json --vocab V");
}

int train_cmd(int argc, char** argv) {
  Args args(argc, argv, 2);
  if (!args.has("train") || !args.has("out")) throw UsageError("train needs --train FILE and --out DIR");
  require_one_start(args);
  const std::string task = args.value("task");
  if (task != "classify" && task != "ner") throw UsageError("--task must be classify or ner, got " + task);
  const bool ner = task == "ner";
  if (!ner && args.has("format")) throw UsageError("--format is for --task ner (bio-tsv or conll)");
  if (ner && args.has("head")) throw UsageError("--task ner trains a tagger; --head is for classifiers");
  if (ner && args.has("class-weights")) throw UsageError("--class-weights is for classifiers");
  TrainJob job;  // every default below is the struct's own
  job.task = task;
  job.format = parse_tagged_format(args.value("format"));
  job.train = args.value("train");
  job.dev = args.value("dev");
  job.test = args.value("test");
  job.out = args.value("out");
  ClassifierSetup& setup = job.setup;
  setup.model_dir = args.value("model");
  setup.config = args.value("config");
  setup.vocab = args.value("vocab");
  if (!setup.config.empty() && setup.vocab.empty()) throw UsageError("--config needs --vocab");
  setup.tokenizer = args.value("tokenizer", setup.tokenizer);
  setup.kg_files = args.kg_files();
  setup.kg_none = args.has("kg") && setup.kg_files.empty();
  const TreeOptions tree_defaults;
  if (args.has("max-length")) setup.max_length = args.size_value("max-length", tree_defaults.max_length);
  if (args.has("max-entities")) setup.max_entities = args.size_value("max-entities", tree_defaults.max_entities);
  if (args.flag("predicate")) setup.predicate = true;
  if (args.has("truncation")) setup.truncation = truncation_option(args);
  if (args.has("hops")) setup.hops = args.size_value("hops");
  if (args.has("max-facts")) setup.max_facts = args.size_value("max-facts");
  setup.pooling = pooling_option(args);
  const std::string head_name = args.value("head");
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

}  // namespace kbert::cli
