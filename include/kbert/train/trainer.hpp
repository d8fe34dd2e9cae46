// Fine-tuning a knowledge-aware classifier, and evaluating one.
//
//   kbert::Model m = kbert::Model::load("models/base");              // or Model::create(...)
//   kbert::TrainOptions o;  o.epochs = 3;
//   auto result = kbert::train_classifier(m, train, &dev, &test, o, "models/senti");
//
// AdamW with the BertAdam schedule (linear warm-up over `warmup` of the steps, then
// linear decay to 0; weight decay except biases and LayerNorm), gradient clipping,
// gradient accumulation, seeded shuffling and dropout (same seed, same machine: same
// result), early stopping on a dev metric, the best model written atomically as a model
// directory, and resumption after an interruption from `<out>.checkpoint/`.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>

#include "kbert/model/model.hpp"
#include "kbert/train/data.hpp"
#include "kbert/train/metrics.hpp"
#include "kbert/train/ner.hpp"

namespace kbert {

/// Where a training run is: reported after every batch, after every epoch (with the dev
/// metric when there is a dev set), and with a message on notes (resume, stop, early stop).
struct TrainProgress {
  enum class Kind { kBatch, kEpoch, kNote };
  Kind kind = Kind::kBatch;
  std::size_t epoch = 0, epochs = 0;       ///< the current epoch (1-based), of
  std::size_t batch = 0, batches = 0;      ///< batches done in this epoch, of
  std::size_t step = 0;                    ///< optimizer steps so far
  double loss = 0;                         ///< mean training loss of this epoch so far
  double examples_per_second = 0;          ///< this epoch's rate
  double eta_seconds = 0;                  ///< until the end of this epoch
  bool has_dev = false;                    ///< kEpoch: a dev metric was computed
  double dev_metric = 0;                   ///< kEpoch with has_dev
  std::string metric;                      ///< its name
  bool best = false;                       ///< kEpoch: the best epoch so far (kept in the output)
  std::string message;                     ///< kNote: what happened
};

struct TrainOptions {
  std::size_t epochs = 5;            ///< passes over the training set
  std::size_t batch_size = 32;       ///< examples per forward pass
  std::size_t accumulation = 1;      ///< batches per optimizer step
  double learning_rate = 2e-5;       ///< peak learning rate
  double warmup = 0.1;               ///< fraction of steps with a rising learning rate
  double weight_decay = 0.01;        ///< AdamW decay; biases and LayerNorm never decay
  double max_grad_norm = 1.0;        ///< gradient clipping; 0 turns it off
  std::uint64_t seed = 7;            ///< shuffling and dropout
  bool shuffle = true;               ///< reshuffle the training set every epoch
  bool group_by_length = true;       ///< batches of similar lengths (less padding), in shuffled order; off: plain shuffle
  std::string metric;                ///< dev metric for early stopping and the best model: accuracy | macro_f1
                                     ///< (classifiers); f1 (entity-level) | accuracy (token-level) (taggers);
                                     ///< empty: accuracy for classifiers, f1 for taggers
  std::string class_weights = "none";  ///< none | balanced: the loss weighs class c by N / (classes * count_c)
  std::size_t patience = 0;          ///< epochs without dev improvement before stopping; 0: never stop early
  bool resume = false;               ///< continue from <out>.checkpoint when it exists
  std::size_t stop_after_steps = 0;  ///< stop (as if interrupted) after this many optimizer steps; 0: off
  std::size_t checkpoint_every = 0;  ///< also write <out>.checkpoint every this many optimizer steps; 0: at epoch ends only
  bool progress = true;              ///< a progress bar on a terminal, periodic lines otherwise
  Precision precision = Precision::kAuto;  ///< auto: bf16 with AMX, else fp32 (resolve_precision); bf16: matmuls in bfloat16 (forward and backward), the rest float32; int8 is refused
  double lexical_learning_rate = 1e-2;  ///< peak learning rate of the lexical side channel's weights (same schedule;
                                        ///< 0 keeps them as they start)
  /// How the lexical side channel is trained. "joint": from zero, with the encoder. "first":
  /// fitted alone before fine-tuning, as TF-IDF + logistic regression is (IDF of the training
  /// texts, slots in fewer than 2 of them ignored; L2 penalty 1 / (2 C N); class weights as
  /// the run's), its bias put in the head's output bias and the head's output weights zeroed,
  /// so that fine-tuning starts from that model, which is evaluated on dev as epoch 0.
  std::string lexical_fit = "joint";
  /// lexical_fit "first": C of the L2 penalty; 0 chooses it on dev (the run's metric) from
  /// 0.03, 0.1, 0.3, 1, 3 (1 without dev data).
  double lexical_c = 0;
  /// Peak learning rate of the knowledge gate (ModelSpec::knowledge_gate; same schedule). Its
  /// own: the gate starts closed and must open within the run (docs/DESIGN.md).
  double gate_learning_rate = 3e-3;
  /// Receives the progress instead of stderr when set (and `progress` is on): notebooks and
  /// services show it where their user looks. Called on the training thread.
  std::function<void(const TrainProgress&)> on_progress;
};

struct TrainResult {
  std::size_t epochs_run = 0, steps = 0, best_epoch = 0;
  double seconds = 0, examples_per_second = 0;
  double loop_seconds = 0;           ///< the training batches alone (no evaluation, no saving)
  double allreduce_seconds = 0;      ///< of those, summing gradients across ranks (data-parallel runs)
  std::size_t ranks = 1;             ///< the processes that trained (WORLD_SIZE)
  double final_loss = 0, first_loss = 0;
  std::optional<ClassificationReport> best_dev, test;          ///< classifiers
  std::optional<EntityReport> best_dev_entities, test_entities;  ///< taggers
  bool interrupted = false;          ///< stopped by stop_after_steps
  double lexical_c = 0;              ///< lexical_fit "first": the C the side channel was fitted with (0: no such fit)
};

/// Fine-tunes `model` (which needs a head whose labels cover the data) and writes the best
/// model (by the dev metric, or the last without dev data) to `out_dir`, atomically.
/// Per-epoch metrics go to `<out_dir>/train_log.jsonl`.
TrainResult train_classifier(Model& model, const Dataset& train, const Dataset* dev, const Dataset* test,
                             const TrainOptions& options, const std::string& out_dir);

/// Fine-tunes a tagger (HeadKind::kTagger) for token classification, K-BERT's NER way
/// (docs/KBERT_SPEC.md section 6): each token's first piece learns its tag, every injected token
/// the label "[ENT]" (which must be one of the model's labels), [CLS], [SEP] and
/// continuation pieces are left out of the loss; softmax, no CRF. Dev and test are scored
/// entity by entity (EntityReport). Otherwise as train_classifier.
TrainResult train_tagger(Model& model, const TaggedDataset& train, const TaggedDataset* dev, const TaggedDataset* test,
                         const TrainOptions& options, const std::string& out_dir);

/// The labels a tagger trained on `data` needs: O, the data's tags, then "[ENT]".
std::vector<std::string> tagger_labels(const TaggedDataset& data);

/// Tags every sentence and scores the entities against the gold tags.
EntityReport evaluate_tagger(const Model& model, const TaggedDataset& data);

/// The result as the JSON `kbert train` prints: epochs, steps, best_epoch, seconds,
/// loop_seconds, examples_per_s, first_loss, final_loss, interrupted, dev and test reports.
std::string to_json(const TrainResult& result);

/// Where fine-tuning starts, as `kbert train` and Python's kbert.train take it: a model
/// directory (its encoder; a new head when the labels differ) or a configuration file
/// and a vocabulary (a new model). Tree options left unset keep the directory's.
struct ClassifierSetup {
  std::string model_dir;                     ///< start from this model directory, or
  std::string config, vocab;                 ///< a new model: UER or HF config JSON + vocabulary
  std::string tokenizer = "char";            ///< new models: char | wordpiece | sentencepiece
  std::vector<std::string> kg_files;         ///< knowledge; with model_dir, replaces the directory's
  bool kg_none = false;                      ///< no knowledge at all
  std::optional<std::size_t> max_length, max_entities, hops, max_facts;
  std::optional<bool> predicate;
  std::optional<Truncation> truncation;
  HeadKind head = HeadKind::kKbert;
  Pooling pooling = Pooling::kFirst;
  bool use_visible_matrix = true, use_soft_positions = true;
  std::size_t batch_size = 32;
  unsigned threads = 0;
  std::uint64_t seed = 7;                    ///< the new head (or model) starts the same every time
  std::size_t lexical_buckets = 0;           ///< a lexical side channel in the head (hashed n-grams); 0: none
  bool lexical_knowledge = false;            ///< the side channel counts the KG's facts' objects too (ModelSpec)
  bool knowledge_gate = false;               ///< a learned gate per injected fact, starting closed (ModelSpec)
};

/// The model train_classifier (or train_tagger, with HeadKind::kTagger) should start from,
/// for these label names.
Model prepare_classifier(const ClassifierSetup& setup, const std::vector<std::string>& labels);

/// One fine-tuning run as `kbert train` and kbert.train describe it: data files, the model
/// to start from, the options. The front ends only fill it in; every default lives in
/// these structs (setup.batch_size and setup.seed are taken from options).
struct TrainJob {
  std::string task = "classify";              ///< classify | ner (a tagger; setup.head is ignored)
  std::string train, dev, test;               ///< data files; dev and test may be empty
  TaggedFormat format = TaggedFormat::kAuto;  ///< ner data: auto | bio-tsv | conll
  std::string out;                            ///< the model directory to write
  ClassifierSetup setup;                      ///< where training starts
  TrainOptions options;
};

/// Loads the job's data (dev and test labels are checked before training starts), prepares
/// the model, trains (train_classifier or train_tagger) and returns the result.
TrainResult run_train_job(const TrainJob& job);

/// Pre-training of an encoder (kbert pretrain) on the fine-tuning loop (AdamW and the
/// BertAdam schedule, accumulation, clipping, bf16, checkpoints every epoch and `resume`
/// that ends as an uninterrupted run; the encoder is written to `out_dir` after every
/// epoch). Two objectives:
/// - "mlm" (BERT's masked language model): 15% of the trunk tokens of each tree are chosen
///   (whole words for WordPiece: a word and its ## pieces together), 80% of those become
///   [MASK], 10% a random token, 10% stay; the MLM head (dense, GELU, LayerNorm, decoder
///   tied to the word embedding) predicts them.
/// - "electra" (replaced-token detection, Clark et al. 2020): the chosen tokens all become
///   [MASK]; a small generator (`generator_layers` transformer layers of the encoder's width
///   over the encoder's own embeddings, with an MLM head tied to them) predicts them, and
///   a token sampled from its prediction replaces each; the encoder (the discriminator)
///   then tells for every token of the tree whether it is the original. The loss is the
///   generator's MLM loss plus `discriminator_weight` times the detection loss, both over
///   the batch's tokens (so ranks sharing a batch weigh exactly): (sum of generator
///   cross-entropies / mask_probability + weight x sum of detection losses) / tokens.
/// Injected knowledge is never masked or replaced. The heads and the generator are created
/// fresh, kept in the checkpoint and not in the output: it is an encoder model directory.
/// The options of the one training loop with pre-training's defaults (3 epochs, learning
/// rate 1e-4, a checkpoint every 200 steps), plus the objective's. The classifier-only fields
/// (metric, class weights, patience, shuffle, lexical learning rate) are not used.
struct PretrainOptions : TrainOptions {
  PretrainOptions() {
    epochs = 3;
    learning_rate = 1e-4;
    checkpoint_every = 200;
  }
  std::string objective = "mlm";    ///< "mlm" or "electra"
  double mask_probability = 0.15;   ///< share of trunk tokens (or words) chosen
  bool whole_word = true;           ///< WordPiece: mask whole words; no effect in char mode
  std::size_t generator_layers = 1;     ///< electra: the generator's transformer layers
  double discriminator_weight = 50.0;   ///< electra: weight of the detection loss (ELECTRA's lambda)
};

struct PretrainResult {
  std::size_t epochs_run = 0, steps = 0;
  double first_loss = 0, final_loss = 0, seconds = 0, texts_per_second = 0;
  bool interrupted = false;         ///< stopped by stop_after_steps; --resume continues
};

PretrainResult pretrain_encoder(Model& model, const std::vector<std::string>& corpus, const PretrainOptions& options,
                                const std::string& out_dir);

/// One pre-training run as `kbert pretrain` and kbert.pretrain describe it: a corpus, the
/// encoder to start from, the options. The front ends only fill it in.
struct PretrainJob {
  std::string corpus;                 ///< one text a line; blank lines are skipped
  std::string out;                    ///< the encoder model directory to write
  std::string model_dir;              ///< continue this model's encoder (a head is dropped), or
  std::string config, vocab;          ///< a new encoder: UER or HF config JSON + vocabulary
  std::string tokenizer = "char";     ///< new encoders: char | wordpiece | sentencepiece
  std::vector<std::string> kg_files;  ///< knowledge; with model_dir, one file replaces the directory's
  bool kg_none = false;               ///< no knowledge at all
  TreeOptions tree;                   ///< new encoders' tree options (max_length, max_entities, predicate)
  unsigned threads = 0;               ///< LibTorch threads; 0: KBERT_NUM_THREADS or all cores
  PretrainOptions options;
};

/// The texts of a corpus file, one a line (a trailing CR dropped, blank lines skipped).
/// FileError naming the file when it cannot be read.
std::vector<std::string> read_corpus(const std::string& path);
/// Seeds, loads or creates the encoder, pre-trains it on the job's corpus, writes job.out.
PretrainResult run_pretrain_job(const PretrainJob& job);
/// The result as the JSON `kbert pretrain` prints: epochs, steps, first_loss, final_loss,
/// seconds, texts_per_s, interrupted.
std::string to_json(const PretrainResult& result);

/// Asks the training running in this process (train_classifier, train_tagger, pretrain_encoder)
/// to stop after its current optimizer step, writing a checkpoint that `resume` continues
/// exactly; the call returns a result with `interrupted` set. A request made before
/// training starts stops it at its first step. Async-signal-safe: a SIGTERM or SIGINT
/// handler may call it (`kbert train` and `kbert pretrain` do).
void request_training_stop() noexcept;
/// Whether a stop was requested and not yet honoured.
bool training_stop_requested() noexcept;

/// Predicts every example and compares with its label.
ClassificationReport evaluate(const Model& model, const Dataset& data);

/// What `kbert eval` and kbert.evaluate report: the metrics as a table and as JSON.
struct EvalReport {
  std::string table, json;
};
/// Evaluates a model on a labelled data file: a classifier on TSV / CSV / JSONL
/// (ClassificationReport), a tagger on BIO TSV or CoNLL in `format` (EntityReport).
/// std::invalid_argument for a format other than auto with a classifier.
EvalReport evaluate_file(const Model& model, const std::string& data, TaggedFormat format = TaggedFormat::kAuto);

}  // namespace kbert
