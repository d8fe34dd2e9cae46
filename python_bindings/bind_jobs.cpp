// Jobs: kbert.train, kbert.import_uer, kbert.import_hf, kbert.score_facts.
#include <optional>

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include "kbert/common/error.hpp"
#include "kbert/kg/knowledge_graph.hpp"
#include "kbert/model/model.hpp"
#include "kbert/tokenizer/tokenizer.hpp"
#include "kbert/train/data.hpp"
#include "kbert/train/fact_scores.hpp"
#include "kbert/train/trainer.hpp"
#include "kbert/tree/sentence_tree.hpp"

namespace py = pybind11;
using namespace kbert;
#include "convert.hpp"

namespace kbert::python {

void bind_jobs(py::module_& m) {
  m.def(
      "train",
      [](const std::string& train, const std::string& out, const std::optional<std::string>& dev,
         const std::optional<std::string>& test, const std::optional<std::string>& model,
         const std::optional<std::string>& config, const std::optional<std::string>& vocab, const std::string& tokenizer,
         const std::optional<std::vector<std::string>>& kg, std::size_t epochs, std::size_t batch_size,
         std::size_t accumulation, double learning_rate, double warmup, double weight_decay, double max_grad_norm,
         std::uint64_t seed, const std::optional<std::string>& metric, const std::string& class_weights, std::size_t patience,
         bool resume, const std::string& pooling,
         const std::string& head, std::optional<std::size_t> max_length, std::optional<std::size_t> max_entities,
         std::optional<bool> predicate, const std::optional<std::string>& truncation, bool visible_matrix,
         bool soft_positions, bool shuffle, bool length_grouping, unsigned threads, bool progress,
         const std::string& task, const std::string& format, const std::string& precision,
         std::size_t lexical_buckets, double lexical_learning_rate) {
        if (task != "classify" && task != "ner") throw std::invalid_argument("task must be \"classify\" or \"ner\", not \"" + task + "\"");
        const bool ner = task == "ner";
        const TaggedFormat tagged_format = parse_tagged_format(format);
        ClassifierSetup setup;
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
        setup.predicate = predicate;
        if (truncation) setup.truncation = parse_truncation(*truncation);
        setup.pooling = parse_pooling(pooling);
        if (head != "kbert" && head != "hf") throw std::invalid_argument("head must be \"kbert\" or \"hf\", not \"" + head + "\"");
        setup.head = ner ? HeadKind::kTagger : head == "hf" ? HeadKind::kHf : HeadKind::kKbert;
        setup.use_visible_matrix = visible_matrix;
        setup.use_soft_positions = soft_positions;
        setup.batch_size = batch_size;
        setup.threads = threads;
        setup.seed = seed;
        if (ner && lexical_buckets) throw std::invalid_argument("lexical_buckets is for classifiers, not task=\"ner\"");
        setup.lexical_buckets = lexical_buckets;
        TrainOptions o;
        o.epochs = epochs;
        o.batch_size = batch_size;
        o.accumulation = accumulation;
        o.learning_rate = learning_rate;
        o.warmup = warmup;
        o.weight_decay = weight_decay;
        o.max_grad_norm = max_grad_norm;
        o.seed = seed;
        o.metric = metric.value_or("");  // empty: the task's usual metric (TrainOptions)
        o.class_weights = class_weights;
        o.patience = patience;
        o.resume = resume;
        o.shuffle = shuffle;
        o.group_by_length = length_grouping;
        o.progress = progress;
        o.precision = parse_precision(precision);
        o.lexical_learning_rate = lexical_learning_rate;
        std::string result;
        {
          py::gil_scoped_release release;
          if (ner) {
            TaggedDataset train_set = TaggedDataset::load(train, tagged_format);
            std::optional<TaggedDataset> dev_set, test_set;
            if (dev) dev_set = TaggedDataset::load(*dev, tagged_format);
            if (test) test_set = TaggedDataset::load(*test, tagged_format);
            Model start = prepare_classifier(setup, tagger_labels(train_set));
            result = to_json(train_tagger(start, train_set, dev_set ? &*dev_set : nullptr,
                                          test_set ? &*test_set : nullptr, o, out));
          } else {
            Dataset train_set = Dataset::load(train);
            std::optional<Dataset> dev_set, test_set;
            if (dev) dev_set = Dataset::load(*dev);
            if (test) test_set = Dataset::load(*test);
            Model start = prepare_classifier(setup, LabelSet::from(train_set).names());
            result = to_json(train_classifier(start, train_set, dev_set ? &*dev_set : nullptr,
                                              test_set ? &*test_set : nullptr, o, out));
          }
        }
        return py::module_::import("json").attr("loads")(result);
      },
      py::arg("train"), py::arg("out"), py::kw_only(), py::arg("dev") = py::none(), py::arg("test") = py::none(),
      py::arg("model") = py::none(), py::arg("config") = py::none(), py::arg("vocab") = py::none(),
      py::arg("tokenizer") = "char", py::arg("kg") = py::none(), py::arg("epochs") = 5, py::arg("batch_size") = 32,
      py::arg("accumulation") = 1, py::arg("learning_rate") = 2e-5, py::arg("warmup") = 0.1,
      py::arg("weight_decay") = 0.01, py::arg("max_grad_norm") = 1.0, py::arg("seed") = 7,
      py::arg("metric") = py::none(), py::arg("class_weights") = "none", py::arg("patience") = 0, py::arg("resume") = false, py::arg("pooling") = "first",
      py::arg("head") = "kbert", py::arg("max_length") = py::none(), py::arg("max_entities") = py::none(),
      py::arg("predicate") = py::none(), py::arg("truncation") = py::none(), py::arg("visible_matrix") = true,
      py::arg("soft_positions") = true, py::arg("shuffle") = true, py::arg("length_grouping") = true,
      py::arg("threads") = 0, py::arg("progress") = true, py::arg("task") = "classify", py::arg("format") = "auto",
      py::arg("precision") = "fp32", py::arg("lexical_buckets") = 0, py::arg("lexical_learning_rate") = 1e-2,
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
    head ("kbert" | "hf"), max_length, max_entities, predicate, truncation: as the CLI's options.
    visible_matrix, soft_positions: False for the ablations. progress: progress lines on stderr.
    task: "classify" or "ner" (K-BERT's NER: BIO TSV or CoNLL files, injected tokens labelled
    [ENT]). format: "auto" | "bio-tsv" | "conll" (task="ner"). precision: "fp32" | "bf16"
    (matrix products in bfloat16, forward and backward; the rest float32).
    lexical_buckets: a lexical side channel in the classifier head (hashed word and word-pair
    counts, a linear model added to the logits; 0: none), lexical_learning_rate its learning rate.
Returns:
    dict: epochs, steps, best_epoch, seconds, examples_per_s, first_loss, final_loss, and the
    dev and test reports (accuracy, macro_f1, classes with precision/recall/f1, confusion;
    for a tagger entity-level precision, recall, f1, token_accuracy and per-type scores).
Example:
    r = kbert.train("train.tsv", "models/faults", dev="dev.tsv", test="test.tsv",
                    model="pretrained", kg=["energy.spo"], predicate=True, epochs=3,
                    learning_rate=3e-4, metric="macro_f1")
    r["test"]["macro_f1"])");

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
      py::arg("tokenizer") = "char", py::arg("pooling") = "first", py::arg("predicate") = false,
      py::arg("max_entities") = 2, py::arg("max_length") = 256, py::arg("labels_file") = "",
      py::arg("kg") = std::vector<std::string>{},
      R"(Converts a classifier saved by the original K-BERT (UER) into a model directory, as `kbert import-uer`.

Arguments:
    checkpoint: the .bin state dict; config: UER's config JSON; vocab: its vocabulary; out: the directory.
    tokenizer, pooling ("first" | "mean" | "max" | "last"), predicate, max_entities, max_length: as trained.
    labels_file: one label name per line (default "0", "1", ...). kg: KG files copied into the directory.
Example:
    kbert.import_uer("kbert_cls.bin", "google_config.json", "google_vocab.txt", "models/senti",
                     kg=["HowNet.spo"], predicate=True))");

  m.def(
      "score_facts",
      [](const KnowledgeGraph& kg, const std::string& train, std::shared_ptr<Tokenizer> tokenizer,
         const std::optional<std::string>& out, double min_score, unsigned threads) {
        std::vector<FactScore> scores;
        {
          py::gil_scoped_release release;
          const Dataset data = Dataset::load(train);
          scores = score_facts(kg, tokenizer, data, threads);
          if (out) write_scored_spo(scores, *out, min_score);
        }
        py::list rows;
        for (const FactScore& f : scores) {
          py::dict d;
          d["subject"] = f.subject;
          d["relation"] = f.relation;
          d["object"] = f.object;
          d["score"] = f.score;
          d["subject_score"] = f.subject_score;
          d["branch_score"] = f.branch_score;
          d["texts"] = f.texts;
          d["branch_texts"] = f.branch_texts;
          rows.append(d);
        }
        return rows;
      },
      py::arg("kg"), py::arg("train"), py::arg("tokenizer"), py::kw_only(), py::arg("out") = py::none(),
      py::arg("min_score") = 0.0, py::arg("threads") = 0,
      R"(Scores every fact of `kg` on labelled training texts, as `kbert kg score`: the G statistic
of the labels of the texts that mention its subject and of the texts its branch (relation,
object) falls on, against all training labels; the smaller of the two (0: no evidence; under
independence chi-square with labels - 1 degrees of freedom).

Arguments:
    kg: the KnowledgeGraph. train: a labelled data file (TSV, CSV, JSONL). tokenizer: the model's.
    out: also write a .spo file with the score as a 4th column (facts below min_score left out);
    loaded, it injects each entity's best facts first.
Returns:
    list of dict: subject, relation, object, score, subject_score, branch_score, texts, branch_texts,
    in the KG's load order.
Example:
    rows = kbert.score_facts(kg, "train.tsv", kbert.Tokenizer("wordpiece", vocab="vocab.txt"),
                             out="energy_scored.spo", min_score=14.07))");

  m.def(
      "import_hf",
      [](const std::string& from, const std::string& out, const std::string& labels_file,
         const std::vector<std::string>& kg, std::size_t max_entities, std::size_t max_length, bool predicate) {
        ImportHfOptions o;
        o.from = from;
        o.out = out;
        o.labels_file = labels_file;
        o.kg_files = kg;
        o.tree.max_entities = max_entities;
        o.tree.max_length = max_length;
        o.tree.predicate = predicate;
        py::gil_scoped_release release;
        import_hf(o);
      },
      py::arg("from_dir"), py::arg("out"), py::kw_only(), py::arg("labels_file") = "",
      py::arg("kg") = std::vector<std::string>{}, py::arg("max_entities") = 2, py::arg("max_length") = 256,
      py::arg("predicate") = false,
      R"(Converts a Hugging Face BERT directory (config.json, vocab.txt, model.safetensors or
pytorch_model.bin) into a model directory, as `kbert import-hf`.

Example:
    kbert.import_hf("bert-base-uncased", "models/base", kg=["energy.spo"], predicate=True))");

}

}  // namespace kbert::python
