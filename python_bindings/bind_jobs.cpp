// Jobs: kbert.train, kbert.pretrain, kbert.evaluate, kbert.build_vocab, kbert.import_uer,
// kbert.import_hf: each fills in the library's job struct (facts and reports: bind_facts.cpp).
#include <optional>

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include "kbert/common/error.hpp"
#include "kbert/common/options.hpp"
#include "kbert/index/vector_index.hpp"
#include "kbert/kg/knowledge_graph.hpp"
#include "kbert/model/model.hpp"
#include "kbert/model/suggest.hpp"
#include "kbert/report/collect.hpp"
#include "kbert/tokenizer/tokenizer.hpp"
#include "kbert/tokenizer/vocab_builder.hpp"
#include "kbert/train/data.hpp"
#include "kbert/train/fact_scores.hpp"
#include "kbert/train/trainer.hpp"
#include "kbert/tree/sentence_tree.hpp"

namespace py = pybind11;
using namespace kbert;
#include "convert.hpp"

namespace kbert::python {

namespace {

py::dict progress_to_python(const TrainProgress& p) {
  py::dict d;
  d["kind"] = p.kind == TrainProgress::Kind::kBatch   ? "batch"
              : p.kind == TrainProgress::Kind::kEpoch ? "epoch"
                                                      : "note";
  d["epoch"] = p.epoch;
  d["epochs"] = p.epochs;
  d["batch"] = p.batch;
  d["batches"] = p.batches;
  d["step"] = p.step;
  d["loss"] = p.loss;
  d["examples_per_second"] = p.examples_per_second;
  d["eta_seconds"] = p.eta_seconds;
  d["metric"] = p.metric;
  d["dev_metric"] = p.has_dev ? py::object(py::float_(p.dev_metric)) : py::object(py::none());
  d["best"] = p.best;
  d["message"] = p.message;
  return d;
}

// The training loop's options kbert.train and kbert.pretrain both take (the CLI's read_loop_options).
void set_loop_options(TrainOptions& o, std::size_t epochs, std::size_t batch_size, std::size_t accumulation,
                      double learning_rate, double warmup, double weight_decay, double max_grad_norm, std::uint64_t seed) {
  o.epochs = epochs;
  o.batch_size = batch_size;
  o.accumulation = accumulation;
  o.learning_rate = learning_rate;
  o.warmup = warmup;
  o.weight_decay = weight_decay;
  o.max_grad_norm = max_grad_norm;
  o.seed = seed;
}

// progress: True (a bar in the notebook cell or on the terminal), False, or a callable of dicts.
void set_progress(TrainOptions& o, const py::object& progress) {
  const bool flag = py::isinstance<py::bool_>(progress);
  o.progress = !progress.is_none() && (!flag || progress.cast<bool>());
  if (o.progress) {
    py::object sink = flag ? py::module_::import("kbert._progress").attr("ProgressBar")() : progress;
    if (!PyCallable_Check(sink.ptr())) throw py::type_error("progress must be True, False or a callable");
    // Held so that copies made while the GIL is released touch no Python reference count.
    std::shared_ptr<py::object> held(new py::object(std::move(sink)), [](py::object* p) {
      py::gil_scoped_acquire gil;
      delete p;
    });
    o.on_progress = [held](const TrainProgress& p) {
      py::gil_scoped_acquire gil;
      if (PyErr_CheckSignals() != 0) {  // Ctrl-C, or the notebook's stop button: stop after this step
        PyErr_Clear();
        request_training_stop();
      }
      (*held)(progress_to_python(p));
    };
  }
}

py::object train_job(const std::string& train, const std::string& out, const std::optional<std::string>& dev,
                     const std::optional<std::string>& test, const std::optional<std::string>& model,
                     const std::optional<std::string>& config, const std::optional<std::string>& vocab,
                     const std::string& tokenizer, const std::optional<std::vector<std::string>>& kg,
                     std::size_t epochs, std::size_t batch_size, std::size_t accumulation, double learning_rate,
                     double warmup, double weight_decay, double max_grad_norm, std::uint64_t seed,
                     const std::optional<std::string>& metric, const std::string& class_weights, std::size_t patience,
                     bool resume, const std::string& pooling, const std::string& head,
                     std::optional<std::size_t> max_length, std::optional<std::size_t> max_entities,
                     std::optional<bool> predicate, const std::optional<std::string>& truncation, bool visible_matrix,
                     bool soft_positions, bool shuffle, bool length_grouping, unsigned threads,
                     const py::object& progress, const std::string& task, const std::string& format,
                     const std::string& precision, std::size_t lexical_buckets, double lexical_learning_rate,
                     std::optional<std::size_t> hops, std::optional<std::size_t> max_facts,
                     const std::string& lexical_fit, double lexical_c, bool lexical_knowledge, bool knowledge_gate,
                     double gate_learning_rate) {
  TrainJob job;
  job.task = task;
  job.format = parse_tagged_format(format);
  job.train = train;
  job.dev = dev.value_or("");
  job.test = test.value_or("");
  job.out = out;
  ClassifierSetup& setup = job.setup;
  setup.model_dir = model.value_or("");
  setup.config = config.value_or("");
  setup.vocab = vocab.value_or("");
  setup.tokenizer = tokenizer;
  if (kg) {  // as the CLI: "none" entries are no files; only "none" means no knowledge
    for (const auto& f : *kg)
      if (f != "none") setup.kg_files.push_back(f);
    setup.kg_none = setup.kg_files.empty();
  }
  setup.max_length = max_length;
  setup.max_entities = max_entities;
  setup.hops = hops;
  setup.max_facts = max_facts;
  setup.predicate = predicate;
  if (truncation) setup.truncation = parse_truncation(*truncation);
  setup.pooling = parse_pooling(pooling);
  if (head != "kbert" && head != "hf")
    throw std::invalid_argument("head must be \"kbert\" or \"hf\", not \"" + head + "\"");
  setup.head = head == "hf" ? HeadKind::kHf : HeadKind::kKbert;
  setup.use_visible_matrix = visible_matrix;
  setup.use_soft_positions = soft_positions;
  setup.threads = threads;
  setup.lexical_buckets = lexical_buckets;
  setup.lexical_knowledge = lexical_knowledge;
  if (lexical_knowledge && !lexical_buckets)
    throw std::invalid_argument("lexical_knowledge needs a lexical side channel (lexical_buckets > 0)");
  setup.knowledge_gate = knowledge_gate;
  if (knowledge_gate && !visible_matrix)
    throw std::invalid_argument("knowledge_gate needs the visible matrix (visible_matrix=True)");
  TrainOptions& o = job.options;
  o.gate_learning_rate = gate_learning_rate;
  set_loop_options(o, epochs, batch_size, accumulation, learning_rate, warmup, weight_decay, max_grad_norm, seed);
  o.metric = metric.value_or("");  // empty: the task's usual metric
  o.class_weights = class_weights;
  o.patience = patience;
  o.resume = resume;
  o.shuffle = shuffle;
  o.group_by_length = length_grouping;
  set_progress(o, progress);
  o.precision = parse_precision(precision);
  o.lexical_learning_rate = lexical_learning_rate;
  o.lexical_fit = lexical_fit;
  o.lexical_c = lexical_c;
  std::string result;
  {
    py::gil_scoped_release release;
    result = to_json(run_train_job(job));
  }
  return py::module_::import("json").attr("loads")(result);
}

void bind_train(py::module_& m) {
  const TrainJob kJob;
  const TrainOptions& kTrain = kJob.options;
  const ClassifierSetup& kSetup = kJob.setup;
  m.def("train", &train_job,
        // Defaults are the C++ structs' own (tests/python/test_bindings.py checks the stubs against them).
        py::arg("train"), py::arg("out"), py::kw_only(), py::arg("dev") = py::none(), py::arg("test") = py::none(),
        py::arg("model") = py::none(), py::arg("config") = py::none(), py::arg("vocab") = py::none(),
        py::arg("tokenizer") = kSetup.tokenizer, py::arg("kg") = py::none(), py::arg("epochs") = kTrain.epochs,
        py::arg("batch_size") = kTrain.batch_size, py::arg("accumulation") = kTrain.accumulation,
        py::arg("learning_rate") = kTrain.learning_rate, py::arg("warmup") = kTrain.warmup,
        py::arg("weight_decay") = kTrain.weight_decay, py::arg("max_grad_norm") = kTrain.max_grad_norm,
        py::arg("seed") = kTrain.seed, py::arg("metric") = py::none(), py::arg("class_weights") = kTrain.class_weights,
        py::arg("patience") = kTrain.patience, py::arg("resume") = kTrain.resume,
        py::arg("pooling") = options::default_text("train", "pooling"),
        py::arg("head") = options::default_text("train", "head"), py::arg("max_length") = py::none(),
        py::arg("max_entities") = py::none(), py::arg("predicate") = py::none(), py::arg("truncation") = py::none(),
        py::arg("visible_matrix") = kSetup.use_visible_matrix, py::arg("soft_positions") = kSetup.use_soft_positions,
        py::arg("shuffle") = kTrain.shuffle, py::arg("length_grouping") = kTrain.group_by_length,
        py::arg("threads") = kSetup.threads, py::arg("progress") = py::bool_(kTrain.progress),
        py::arg("task") = kJob.task, py::arg("format") = options::default_text("train", "format"),
        py::arg("precision") = options::default_text("train", "precision"),
        py::arg("lexical_buckets") = kSetup.lexical_buckets,
        py::arg("lexical_learning_rate") = kTrain.lexical_learning_rate, py::arg("hops") = py::none(),
        py::arg("max_facts") = py::none(), py::arg("lexical_fit") = kTrain.lexical_fit,
        py::arg("lexical_c") = kTrain.lexical_c, py::arg("lexical_knowledge") = kSetup.lexical_knowledge,
        py::arg("knowledge_gate") = kSetup.knowledge_gate, py::arg("gate_learning_rate") = kTrain.gate_learning_rate,
        R"(Fine-tunes a classifier (or a tagger, task="ner"), as `kbert train` does; the best model
(dev metric) goes to `out`.

Arguments:
    train, dev, test: data files (TSV with a header naming label and text_a [text_b], CSV, JSONL).
    out: the model directory to write (replaced atomically); <out>.checkpoint holds the resumable state.
    model: start from this model directory (a new head when the labels differ), or
    config + vocab (+ tokenizer "char" | "wordpiece" | "sentencepiece"): a new model.
    kg: KG files to inject, or ["none"] for no knowledge (default: the model directory's).
    epochs, batch_size, accumulation, learning_rate, warmup, weight_decay, max_grad_norm, seed,
    metric ("accuracy" | "macro_f1"; taggers "f1" | "accuracy"; default accuracy, taggers f1), class_weights ("none" | "balanced": each class weighs
    N / (classes * its count) in the loss), patience, resume, pooling ("first" | "mean" | "max" | "last"),
    head ("kbert" | "hf"), max_length, max_entities, predicate, truncation, hops, max_facts:
    as the CLI's options (hops 2: multi-hop knowledge paths; see TreeOptions).
    visible_matrix, soft_positions: False for the ablations.
    progress: True shows a bar per epoch in the notebook cell (or on the terminal) and each
    epoch's dev metric; False nothing; a callable receives a dict per batch, epoch and note
    (kind, epoch, epochs, batch, batches, step, loss, examples_per_second, eta_seconds,
    metric, dev_metric, best, message). Interrupting the kernel stops training after the
    current step with a checkpoint (the result has "interrupted": true; resume=True continues).
    task: "classify" or "ner" (K-BERT's NER: BIO TSV or CoNLL files, injected tokens labelled
    [ENT]). format: "auto" | "bio-tsv" | "conll" (task="ner"). precision: "auto" | "fp32" | "bf16"
    (matrix products in bfloat16, forward and backward; the rest float32).
    lexical_buckets: a lexical side channel in the classifier head (hashed word and word-pair
    counts, a linear model added to the logits; 0: none), lexical_learning_rate its learning rate
    (0: fixed). lexical_fit: "joint" (trained with the encoder from zero) or "first" (fitted
    alone first as TF-IDF + logistic regression, C = lexical_c or chosen on dev when 0; the run
    starts from that model and evaluates it on dev as epoch 0). lexical_knowledge: the side
    channel also counts the words of the objects of the facts the KG injects for the whole text.
    knowledge_gate: a learned gate per injected fact on what its mention takes from its branch,
    starting closed (the model starts as the same model without facts), with its own learning
    rate gate_learning_rate; kept in kbert.json, shown by Model.explain.
Returns:
    dict: epochs, steps, best_epoch, seconds, examples_per_s, first_loss, final_loss, lexical_c
    (the side channel's C, with lexical_fit="first"), and the
    dev and test reports (accuracy, macro_f1, classes with precision/recall/f1, confusion;
    for a tagger entity-level precision, recall, f1, token_accuracy and per-type scores).
Example:
    r = kbert.train("train.tsv", "models/faults", dev="dev.tsv", test="test.tsv",
                    model="pretrained", kg=["energy.spo"], predicate=True, epochs=3,
                    learning_rate=3e-4, metric="macro_f1")
    r["test"]["macro_f1"])");
}

void bind_import_uer(py::module_& m) {
  const ImportUerOptions kUer;
  m.def(
      "import_uer",
      [](const std::string& checkpoint, const std::string& config, const std::string& vocab, const std::string& out,
         const std::string& tokenizer, const std::string& pooling, bool predicate, std::size_t max_entities,
         std::size_t max_length, const std::string& labels_file, const std::vector<std::string>& kg) {
        ImportUerOptions o;
        o.checkpoint = checkpoint;
        o.config = config;
        o.vocab = vocab;
        o.out = out;
        o.tokenizer = tokenizer;
        o.pooling = parse_pooling(pooling);
        o.predicate = predicate;
        o.max_entities = max_entities;
        o.max_length = max_length;
        o.labels_file = labels_file;
        o.kg_files = kg;
        py::gil_scoped_release release;
        import_uer(o);
      },
      py::arg("checkpoint"), py::arg("config"), py::arg("vocab"), py::arg("out"), py::kw_only(),
      py::arg("tokenizer") = kUer.tokenizer, py::arg("pooling") = options::default_text("train", "pooling"),
      py::arg("predicate") = kUer.predicate, py::arg("max_entities") = kUer.max_entities,
      py::arg("max_length") = kUer.max_length, py::arg("labels_file") = "", py::arg("kg") = std::vector<std::string>{},
      R"(Converts a classifier saved by the original K-BERT (UER) into a model directory, as `kbert import-uer`.

Arguments:
    checkpoint: the .bin state dict; config: UER's config JSON; vocab: its vocabulary; out: the directory.
    tokenizer, pooling ("first" | "mean" | "max" | "last"), predicate, max_entities, max_length: as trained.
    labels_file: one label name per line (default "0", "1", ...). kg: KG files copied into the directory.
Example:
    kbert.import_uer("kbert_cls.bin", "google_config.json", "google_vocab.txt", "models/senti",
                     kg=["HowNet.spo"], predicate=True))");
}

void bind_import_hf(py::module_& m) {
  const TreeOptions kTree;
  m.def(
      "import_hf",
      [](const std::string& from, const std::string& out, const std::string& labels_file,
         const std::vector<std::string>& kg, std::size_t max_entities, std::size_t max_length, bool predicate,
         std::size_t hops, std::size_t max_facts, const std::string& truncation) {
        ImportHfOptions o;
        o.from = from;
        o.out = out;
        o.labels_file = labels_file;
        o.kg_files = kg;
        o.tree.max_entities = max_entities;
        o.tree.max_length = max_length;
        o.tree.predicate = predicate;
        o.tree.hops = hops;
        o.tree.max_facts = max_facts;
        o.tree.truncation = parse_truncation(truncation);
        py::gil_scoped_release release;
        import_hf(o);
      },
      py::arg("from_dir"), py::arg("out"), py::kw_only(), py::arg("labels_file") = "",
      py::arg("kg") = std::vector<std::string>{}, py::arg("max_entities") = kTree.max_entities,
      py::arg("max_length") = kTree.max_length, py::arg("predicate") = kTree.predicate, py::arg("hops") = kTree.hops,
      py::arg("max_facts") = kTree.max_facts, py::arg("truncation") = std::string(truncation_name(kTree.truncation)),
      R"(Converts a Hugging Face BERT directory (config.json, vocab.txt, model.safetensors or
pytorch_model.bin) into a model directory, as `kbert import-hf`.

Example:
    kbert.import_hf("bert-base-uncased", "models/base", kg=["energy.spo"], predicate=True))");
}

void bind_pretrain(py::module_& m) {
  const PretrainJob kJob;
  const PretrainOptions& kOpt = kJob.options;
  m.def(
      "pretrain",
      [](const std::string& corpus, const std::string& out, const std::optional<std::string>& model,
         const std::optional<std::string>& config, const std::optional<std::string>& vocab, const std::string& tokenizer,
         const std::optional<std::vector<std::string>>& kg, std::size_t max_length, std::size_t max_entities, bool predicate,
         std::size_t epochs, std::size_t batch_size, std::size_t accumulation, double learning_rate, double warmup,
         double weight_decay, double max_grad_norm, std::uint64_t seed, bool resume, std::size_t stop_after_steps,
         std::size_t checkpoint_every, bool length_grouping, const std::string& objective, double mask_probability,
         bool whole_word, std::size_t generator_layers, double discriminator_weight, const std::string& precision,
         unsigned threads, const py::object& progress) {
        PretrainJob job;
        job.corpus = corpus;
        job.out = out;
        job.model_dir = model.value_or("");
        job.config = config.value_or("");
        job.vocab = vocab.value_or("");
        job.tokenizer = tokenizer;
        if (kg) {  // as the CLI: "none" entries are no files; only "none" means no knowledge
          for (const auto& f : *kg)
            if (f != "none") job.kg_files.push_back(f);
          job.kg_none = job.kg_files.empty();
        }
        job.tree.max_length = max_length;
        job.tree.max_entities = max_entities;
        job.tree.predicate = predicate;
        job.threads = threads;
        PretrainOptions& o = job.options;
        set_loop_options(o, epochs, batch_size, accumulation, learning_rate, warmup, weight_decay, max_grad_norm, seed);
        o.resume = resume;
        o.stop_after_steps = stop_after_steps;
        o.checkpoint_every = checkpoint_every;
        o.group_by_length = length_grouping;
        o.objective = objective;
        o.mask_probability = mask_probability;
        o.whole_word = whole_word;
        o.generator_layers = generator_layers;
        o.discriminator_weight = discriminator_weight;
        o.precision = parse_precision(precision);
        set_progress(o, progress);
        std::string result;
        {
          py::gil_scoped_release release;
          result = to_json(run_pretrain_job(job));
        }
        return py::module_::import("json").attr("loads")(result);
      },
      py::arg("corpus"), py::arg("out"), py::kw_only(), py::arg("model") = py::none(), py::arg("config") = py::none(),
      py::arg("vocab") = py::none(), py::arg("tokenizer") = kJob.tokenizer, py::arg("kg") = py::none(),
      py::arg("max_length") = kJob.tree.max_length, py::arg("max_entities") = kJob.tree.max_entities,
      py::arg("predicate") = kJob.tree.predicate, py::arg("epochs") = kOpt.epochs, py::arg("batch_size") = kOpt.batch_size,
      py::arg("accumulation") = kOpt.accumulation, py::arg("learning_rate") = kOpt.learning_rate,
      py::arg("warmup") = kOpt.warmup, py::arg("weight_decay") = kOpt.weight_decay,
      py::arg("max_grad_norm") = kOpt.max_grad_norm, py::arg("seed") = kOpt.seed, py::arg("resume") = kOpt.resume,
      py::arg("stop_after_steps") = kOpt.stop_after_steps, py::arg("checkpoint_every") = kOpt.checkpoint_every,
      py::arg("length_grouping") = kOpt.group_by_length, py::arg("objective") = kOpt.objective,
      py::arg("mask_probability") = kOpt.mask_probability, py::arg("whole_word") = kOpt.whole_word,
      py::arg("generator_layers") = kOpt.generator_layers, py::arg("discriminator_weight") = kOpt.discriminator_weight,
      py::arg("precision") = options::default_text("pretrain", "precision"), py::arg("threads") = kJob.threads,
      py::arg("progress") = py::bool_(kOpt.progress),
      R"(Pre-trains an encoder on a corpus (one text a line), as `kbert pretrain` does, and writes
the encoder model directory `out` after every epoch (<out>.checkpoint resumes a stopped run).

Arguments:
    corpus: the text file. model: continue this model's encoder (its head is dropped), or
    config + vocab (+ tokenizer "char" | "wordpiece" | "sentencepiece"): a new encoder.
    kg: KG files (["none"]: no knowledge; with model, one file replaces the directory's).
    max_length, max_entities, predicate: a new encoder's tree options.
    epochs, batch_size, accumulation, learning_rate, warmup, weight_decay, max_grad_norm, seed,
    resume, stop_after_steps, checkpoint_every, length_grouping, precision, threads, progress:
    as kbert.train. objective: "mlm" or "electra"; mask_probability, whole_word (WordPiece:
    mask whole words), generator_layers and discriminator_weight (electra).
Returns:
    dict: epochs, steps, first_loss, final_loss, seconds, texts_per_s, interrupted.
Example:
    kbert.pretrain("corpus.txt", "models/encoder", config="bert_small.json", vocab="vocab.txt",
                   tokenizer="wordpiece", epochs=3))");
}

void bind_evaluate(py::module_& m) {
  m.def(
      "evaluate",
      [](const Model& model, const std::string& data, const std::string& format) {
        EvalReport r;
        {
          py::gil_scoped_release release;
          r = evaluate_file(model, data, parse_tagged_format(format));
        }
        return py::module_::import("json").attr("loads")(r.json);
      },
      py::arg("model"), py::arg("data"), py::kw_only(), py::arg("format") = options::default_text("eval", "format"),
      R"(Scores a model on labelled data, as `kbert eval`: a classifier on TSV / CSV / JSONL (accuracy,
macro_f1, per-class precision/recall/f1, confusion), a tagger on BIO TSV or CoNLL (format
"auto" | "bio-tsv" | "conll"; entity-level precision, recall, f1, token_accuracy).

Example:
    metrics = kbert.evaluate(kbert.Model.load("models/faults"), "test.tsv"); metrics["macro_f1"])");
}

void bind_build_vocab(py::module_& m) {
  const VocabJob kJob;
  m.def(
      "build_vocab",
      [](const std::string& corpus, const std::string& out, const std::string& kind, std::size_t size,
         std::size_t min_frequency, bool lower_case) {
        VocabJob job;
        job.corpus = corpus;
        job.out = out;
        job.kind = kind;
        job.size = size;
        job.min_frequency = min_frequency;
        job.lower_case = lower_case;
        py::gil_scoped_release release;
        return build_vocab(job).files;
      },
      py::arg("corpus"), py::arg("out"), py::kw_only(), py::arg("kind") = kJob.kind, py::arg("size") = kJob.size,
      py::arg("min_frequency") = kJob.min_frequency, py::arg("lower_case") = kJob.lower_case,
      R"(Learns a vocabulary from a corpus (one text a line), as `kbert vocab`: a WordPiece vocab.txt
(kind "wordpiece"; lower_case: BERT uncased normalisation) or a sentencepiece model (kind
"sentencepiece": <out>.model and <out>.vocab). Returns the files written.

Example:
    kbert.build_vocab("corpus.txt", "vocab.txt", size=8000))");
}

}  // namespace

void bind_jobs(py::module_& m) {
  bind_train(m);
  bind_import_uer(m);
  bind_import_hf(m);
  bind_pretrain(m);
  bind_evaluate(m);
  bind_build_vocab(m);
}

}  // namespace kbert::python
