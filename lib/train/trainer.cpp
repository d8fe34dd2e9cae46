#include "kbert/train/trainer.hpp"
#include "train/train_loop.hpp"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <nlohmann/json.hpp>
#include <numeric>
#include <random>

#include "kbert/common/atomic_file.hpp"
#include "kbert/common/error.hpp"
#include "kbert/common/output_dir.hpp"
#include "encoder/allocator.hpp"
#include "encoder/checkpoint.hpp"
#include "encoder/head.hpp"
#include "train/lexical_fit.hpp"
#include "model/model_impl.hpp"
#include "encoder/tensor_io.hpp"


namespace kbert {

namespace {

std::string data_hash(const Dataset* d) {
  if (!d) return "none";
  Fnv f;
  for (const auto& e : d->examples) {
    f.add(e.label);
    f.add(e.text_a);
    f.add(e.text_b);
  }
  return f.hex() + "/" + std::to_string(d->examples.size());
}
std::string data_hash(const TaggedDataset* d) {
  if (!d) return "none";
  Fnv f;
  for (const auto& s : d->sentences) {
    for (const auto& t : s.tokens) f.add(t);
    for (const auto& t : s.tags) f.add(t);
    f.add("\n");
  }
  return f.hex() + "/" + std::to_string(d->sentences.size());
}

// The id of an example's label; ParseError naming the file and line when the model lacks it.
std::int64_t checked_label(const LabelSet& labels, const Example& e, const std::string& path) {
  try {
    return labels.id(e.label);
  } catch (const std::out_of_range& err) {
    throw ParseError(path, e.line, err.what());
  }
}

// The head's outputs (float32, for the loss) for training examples: their trees, one batch,
// the encoder and the head (with the lexical side channel's features when it has one).
torch::Tensor head_outputs(Model::Impl& im, const Dataset& train, const LexicalTexts& texts,
                           const std::vector<std::size_t>& examples) {
  std::vector<SentenceTree> trees;
  for (std::size_t k : examples) {
    const Example& e = train.examples[k];
    trees.push_back(e.text_b.empty() ? im.builder->build(e.text_a) : im.builder->build(e.text_a, e.text_b));
  }
  std::vector<std::size_t> idx(trees.size());
  std::iota(idx.begin(), idx.end(), 0);
  Batch batch = im.make_batch(trees, idx, 0, idx.size());
  torch::Tensor hidden = im.net->bert->forward(batch.ids, batch.positions, batch.segments, batch.mask, &batch.gate);
  torch::Tensor logits;
  if (im.spec.lexical_buckets) {
    const auto lex = im.lexical_batch(texts.a, texts.b, examples);
    logits = im.net->head->forward(hidden, &lex);
  } else {
    logits = im.net->head->forward(hidden);
  }
  return logits.to(torch::kFloat);
}

// A head with its own loss and evaluation (HeadType::loss, HeadType::evaluate): the loop
// runs on its terms; no label ids, class weights or side-channel fit.
TrainResult train_own_loss(Model& model, const HeadType& type, const Dataset& train, const Dataset* dev,
                           const Dataset* test, TrainOptions o, const std::string& out_dir) {
  Model::Impl& im = TrainAccess::impl(model);
  KBERT_CHECK(type.loss && type.evaluate, "head ", type.name, " has a loss but no evaluation (or the other way round)");
  KBERT_CHECK(o.class_weights == "none", "class weights are for classifiers, not head ", type.name);
  KBERT_CHECK(o.lexical_fit == "joint", "lexical fit 'first' is for classifiers, not head ", type.name);
  KBERT_CHECK(!train.examples.empty(), "the training set ", train.path, " is empty");
  if (o.metric.empty()) o.metric = type.name;
  const LexicalTexts texts = im.spec.lexical_buckets ? lexical_texts(train) : LexicalTexts{};
  TrainTask task;
  task.size = train.examples.size();
  task.length = [&](std::size_t i) { return train.examples[i].text_a.size() + train.examples[i].text_b.size(); };
  task.loss = [&](const std::vector<std::size_t>& examples, std::uint64_t) {
    std::vector<const Example*> batch;
    for (std::size_t k : examples) batch.push_back(&train.examples[k]);
    return type.loss(head_outputs(im, train, texts, examples), batch, train.path);
  };
  task.evaluate = [&](const Model& m, bool on_test) {
    const auto [metric, json] = type.evaluate(m, on_test ? *test : *dev);
    Evaluation ev;
    ev.metric = metric;
    ev.json = json;
    return ev;
  };
  task.fingerprint.update({{"task", type.name}, {"train", data_hash(&train)}, {"dev", data_hash(dev)},
                          {"test", data_hash(test)}});
  return run_training(model, task, dev != nullptr, test != nullptr, o, out_dir);
}

}  // namespace

ClassificationReport evaluate(const Model& model, const Dataset& data) {
  const auto& labels = model.spec().labels;
  LabelSet set(labels);
  std::vector<std::string> a, b;
  std::vector<std::int64_t> gold;
  for (const auto& e : data.examples) {
    a.push_back(e.text_a);
    b.push_back(e.text_b);
    gold.push_back(checked_label(set, e, data.path));
  }
  if (!data.has_pairs) b.clear();
  std::vector<Prediction> preds = model.predict(a, b);
  std::vector<std::int64_t> predicted;
  for (const auto& p : preds) predicted.push_back(p.label);
  return ClassificationReport::compute(gold, predicted, labels);
}

std::vector<std::string> tagger_labels(const TaggedDataset& data) {
  std::vector<std::string> labels = data.tag_names();
  labels.push_back(kEntityLabel);
  return labels;
}

EntityReport evaluate_tagger(const Model& model, const TaggedDataset& data) {
  std::vector<std::vector<std::string>> tokens, gold;
  for (const auto& s : data.sentences) {
    tokens.push_back(s.tokens);
    gold.push_back(s.tags);
  }
  if (model.spec().tokenizer.kind != "char" && !data.word_level)
    throw std::invalid_argument(data.path + " holds characters (BIO TSV) but the model's tokenizer is " +
                                model.spec().tokenizer.kind + ": tag it with a char model");
  return EntityReport::compute(gold, model.tag_tokens(tokens));
}

TrainResult train_tagger(Model& model, const TaggedDataset& train, const TaggedDataset* dev, const TaggedDataset* test,
                         const TrainOptions& options, const std::string& out_dir) {
  TrainOptions o = options;
  if (o.metric.empty()) o.metric = "f1";  // a tagger's usual metric: entity-level F1
  Model::Impl& im = TrainAccess::impl(model);
  KBERT_CHECK(im.spec.head == HeadKind::kTagger, "train_tagger needs a token-classification head (HeadKind::kTagger)");
  KBERT_CHECK(o.metric == "f1" || o.metric == "accuracy", "a tagger's metric must be f1 or accuracy, got ", o.metric);
  KBERT_CHECK(o.class_weights == "none", "class weights are for classifiers; a tagger takes none, got ", o.class_weights);
  KBERT_CHECK(!train.sentences.empty(), "the training set ", train.path, " is empty");
  const LabelSet labels(im.spec.labels);
  KBERT_CHECK(std::find(labels.names().begin(), labels.names().end(), kEntityLabel) != labels.names().end(),
              "the tagger's labels have no ", kEntityLabel, " (the label of injected tokens)");
  const std::int64_t ent = labels.id(kEntityLabel);
  const std::size_t n = train.sentences.size();
  std::vector<std::vector<std::int64_t>> tag_ids(n);
  std::vector<std::string> texts(n);
  // The tree and its labels of sentence i (trees are built batch by batch, as for classifiers:
  // keeping every tree's visible matrix would cost n x length^2 bytes).
  auto tree_and_labels = [&](std::size_t i, SentenceTree& tree) {
    tree = im.builder->build(texts[i]);
    try {
      return tree_labels(align_tree(tree, train.sentences[i], *im.tokenizer), tree, tag_ids[i], ent, -100);
    } catch (const std::invalid_argument& e) {
      throw ParseError(train.path, 0, "sentence " + std::to_string(i + 1) + ": " + e.what());
    }
  };
  for (std::size_t i = 0; i < n; ++i) {  // every tag known, every tree lined up: errors before training starts
    try {
      for (const auto& tag : train.sentences[i].tags) tag_ids[i].push_back(labels.id(tag));
    } catch (const std::out_of_range& e) {
      throw ParseError(train.path, 0, "sentence " + std::to_string(i + 1) + ": " + e.what());
    }
    texts[i] = train.text(i);
    SentenceTree tree;
    tree_and_labels(i, tree);
  }
  TrainTask task;
  task.size = n;
  task.length = [&](std::size_t i) { return texts[i].size(); };
  task.loss = [&](const std::vector<std::size_t>& examples, std::uint64_t) {
    std::vector<SentenceTree> trees(examples.size());
    std::vector<std::vector<std::int64_t>> labels(examples.size());
    for (std::size_t r = 0; r < examples.size(); ++r) labels[r] = tree_and_labels(examples[r], trees[r]);
    std::vector<std::size_t> idx(trees.size());
    std::iota(idx.begin(), idx.end(), 0);
    Batch batch = im.make_batch(trees, idx, 0, idx.size());
    const auto B = static_cast<std::int64_t>(examples.size());
    torch::Tensor y = torch::full({B, batch.L}, -100, torch::kLong);
    auto* py = y.data_ptr<std::int64_t>();
    bool any = false;
    for (std::int64_t r = 0; r < B; ++r) {
      const auto& l = labels[static_cast<std::size_t>(r)];
      std::copy(l.begin(), l.end(), py + r * batch.L);
      any = any || std::any_of(l.begin(), l.end(), [](std::int64_t x) { return x != -100; });
    }
    torch::Tensor hidden = im.net->bert->forward(batch.ids, batch.positions, batch.segments, batch.mask, &batch.gate);
    torch::Tensor logits = im.net->head->forward(hidden).to(torch::kFloat);  // [B, L, labels]; the loss in float32
    if (!any) return TaskLoss{logits.sum() * 0.0, 0.0};  // nothing labelled (tokens without pieces): no gradient
    // Mean over the labelled positions (K-BERT's numerator / denominator).
    return TaskLoss{torch::nn::functional::cross_entropy(logits.reshape({B * batch.L, -1}), y.view({-1})),
                    static_cast<double>(y.ne(-100).sum().item<std::int64_t>())};
  };
  task.evaluate = [&](const Model& m, bool on_test) {
    EntityReport r = evaluate_tagger(m, on_test ? *test : *dev);
    Evaluation ev;
    ev.metric = o.metric == "accuracy" ? r.token_accuracy : r.f1;
    ev.json = r.to_json();
    ev.entities = std::move(r);
    return ev;
  };
  task.fingerprint = {{"task", "ner"}, {"train", data_hash(&train)}, {"dev", data_hash(dev)}, {"test", data_hash(test)}};
  return run_training(model, task, dev != nullptr, test != nullptr, o, out_dir);
}

TrainResult train_classifier(Model& model, const Dataset& train, const Dataset* dev, const Dataset* test,
                             const TrainOptions& options, const std::string& out_dir) {
  Model::Impl& im = TrainAccess::impl(model);
  KBERT_CHECK(im.net->head, "training needs a classification head");
  if (im.net->head_type->loss) return train_own_loss(model, *im.net->head_type, train, dev, test, options, out_dir);
  TrainOptions o = options;
  if (o.metric.empty()) o.metric = "accuracy";
  KBERT_CHECK(o.metric == "accuracy" || o.metric == "macro_f1", "metric must be accuracy or macro_f1, got ", o.metric);
  KBERT_CHECK(im.spec.head != HeadKind::kTagger, "this is a token-classification model: use train_tagger");
  KBERT_CHECK(!train.examples.empty(), "the training set ", train.path, " is empty");
  LabelSet labels(im.spec.labels);
  std::vector<std::int64_t> targets;
  for (const Example& e : train.examples) targets.push_back(checked_label(labels, e, train.path));
  // Dev and test labels too, before the first epoch rather than after the last.
  std::vector<std::int64_t> dev_targets;
  if (dev)
    for (const Example& e : dev->examples) dev_targets.push_back(checked_label(labels, e, dev->path));
  if (test)
    for (const Example& e : test->examples) checked_label(labels, e, test->path);

  KBERT_CHECK(o.class_weights == "none" || o.class_weights == "balanced",
              "class weights must be none or balanced, got ", o.class_weights);
  // Balanced: class c weighs N / (C * count_c), so every class counts as much in the loss.
  torch::Tensor class_weight;
  if (o.class_weights == "balanced") {
    std::vector<float> counts(labels.size(), 0.f), w(labels.size(), 0.f);
    for (auto t : targets) counts[static_cast<std::size_t>(t)] += 1.f;
    for (std::size_t c = 0; c < w.size(); ++c)
      if (counts[c] > 0)
        w[c] = static_cast<float>(targets.size()) / (static_cast<float>(labels.size()) * counts[c]);
    class_weight = torch::tensor(w);
  }
  auto loss_options = torch::nn::functional::CrossEntropyFuncOptions();
  if (class_weight.defined()) loss_options.weight(class_weight);

  KBERT_CHECK(std::isfinite(o.lexical_learning_rate) && o.lexical_learning_rate >= 0 && o.lexical_learning_rate <= 1,
              "the lexical learning rate must be in [0, 1], got ", o.lexical_learning_rate);
  KBERT_CHECK(std::isfinite(o.gate_learning_rate) && o.gate_learning_rate >= 0 && o.gate_learning_rate <= 1,
              "the gate learning rate must be in [0, 1], got ", o.gate_learning_rate);
  KBERT_CHECK(o.lexical_fit == "joint" || o.lexical_fit == "first", "lexical fit must be joint or first, got '",
              o.lexical_fit, "'");
  TrainTask task;
  double lexical_c = 0;
  const LexicalTexts texts = im.spec.lexical_buckets ? lexical_texts(train) : LexicalTexts{};  // for the side channel
  if (o.lexical_fit == "first") {
    KBERT_CHECK(im.spec.lexical_buckets, "lexical fit 'first' needs a lexical side channel (lexical buckets > 0)");
    const LexicalFit fit = fit_lexical_first(im, texts, targets, dev, dev_targets, class_weight, o);
    task.notes = fit.notes;
    task.evaluate_first = true;  // the fitted side channel alone may beat every epoch
    task.fingerprint["lexical_fit"] = o.lexical_fit;
    task.fingerprint["lexical_c"] = fit.c;
    lexical_c = fit.c;
  }

  task.size = train.examples.size();
  task.length = [&](std::size_t i) { return train.examples[i].text_a.size() + train.examples[i].text_b.size(); };
  task.loss = [&](const std::vector<std::size_t>& examples, std::uint64_t) {
    std::vector<std::int64_t> y;
    for (std::size_t k : examples) y.push_back(targets[k]);
    const torch::Tensor logits = head_outputs(im, train, texts, examples);
    // A weighted mean (class weights): its units are the summed weights of the batch's labels.
    double units = static_cast<double>(y.size());
    if (class_weight.defined()) {
      units = 0;
      for (std::int64_t c : y) units += class_weight[c].item<double>();
    }
    return TaskLoss{torch::nn::functional::cross_entropy(logits, torch::tensor(y, torch::kLong), loss_options), units};
  };
  task.evaluate = [&](const Model& m, bool on_test) {
    const Dataset& data = on_test ? *test : *dev;
    ClassificationReport r = evaluate(m, data);
    Evaluation ev;
    ev.metric = r.metric(o.metric);
    ev.json = r.to_json();
    ev.classification = std::move(r);
    return ev;
  };
  task.fingerprint.update({{"task", "classify"}, {"train", data_hash(&train)}, {"dev", data_hash(dev)},
                          {"test", data_hash(test)}, {"class_weights", o.class_weights}});
  TrainResult result = run_training(model, task, dev != nullptr, test != nullptr, o, out_dir);
  result.lexical_c = lexical_c;
  return result;
}


std::string to_json(const TrainResult& r) {
  nlohmann::json j = {{"epochs", r.epochs_run},       {"steps", r.steps},
                      {"best_epoch", r.best_epoch},   {"seconds", r.seconds},
                      {"loop_seconds", r.loop_seconds}, {"examples_per_s", r.examples_per_second},
                      {"ranks", r.ranks},             {"allreduce_seconds", r.allreduce_seconds},
                      {"first_loss", r.first_loss},   {"final_loss", r.final_loss},
                      {"interrupted", r.interrupted}};
  if (r.lexical_c > 0) j["lexical_c"] = r.lexical_c;
  if (r.best_dev) j["dev"] = nlohmann::json::parse(r.best_dev->to_json());
  if (r.test) j["test"] = nlohmann::json::parse(r.test->to_json());
  if (r.best_dev_entities) j["dev"] = nlohmann::json::parse(r.best_dev_entities->to_json());
  if (r.test_entities) j["test"] = nlohmann::json::parse(r.test_entities->to_json());
  return j.dump();
}

Model prepare_classifier(const ClassifierSetup& s, const std::vector<std::string>& labels) {
  if (s.model_dir.empty() == s.config.empty())
    throw std::invalid_argument("training starts from a model directory or from a config and a vocabulary, not both");
  if (labels.empty()) throw std::invalid_argument("training needs at least one label");
  RunOptions run;
  run.batch_size = s.batch_size;
  run.threads = s.threads;
  // Loaded to be trained: the training loop applies its own precision, so no inference
  // precision is settled here (auto's one-batch check against fp32 was wasted work, and its
  // log line misled a run told --precision fp32).
  run.precision = Precision::kFloat32;
  if (s.kg_none) run.kg = "none";
  set_random_seed(s.seed);
  Model model;
  if (!s.model_dir.empty()) {
    if (!s.kg_none && !s.kg_files.empty()) {
      if (s.kg_files.size() > 1)
        throw std::invalid_argument("starting from a model directory takes one KG file; merge them first");
      run.kg = s.kg_files.front();
    }
    model = Model::load(s.model_dir, run);
    TreeOptions tree = model.spec().tree;
    if (s.max_length) tree.max_length = *s.max_length;
    if (s.max_entities) tree.max_entities = *s.max_entities;
    if (s.hops) tree.hops = *s.hops;
    if (s.max_facts) tree.max_facts = *s.max_facts;
    if (s.predicate) tree.predicate = *s.predicate;
    if (s.truncation) tree.truncation = *s.truncation;
    model.set_tree_options(tree);
    const bool tagger_now = model.spec().head == HeadKind::kTagger, tagger_wanted = s.head == HeadKind::kTagger;
    // A head with its own loss is kept only for the same kind (a classifier's head is kept
    // when the labels agree, whichever classifier head it is: an imported HF one goes on).
    const bool own_loss = model.spec().head != HeadKind::kNone &&
                          (head_type(model.spec().head).loss || head_type(s.head).loss);
    if (model.spec().labels != labels || model.spec().head == HeadKind::kNone || tagger_now != tagger_wanted ||
        (own_loss && model.spec().head != s.head) ||
        model.spec().lexical_buckets != s.lexical_buckets || model.spec().lexical_knowledge != s.lexical_knowledge)
      model.reset_head(s.head, s.pooling, labels, s.lexical_buckets, s.lexical_knowledge);
    model.set_ablation(s.use_visible_matrix, s.use_soft_positions);
    model.set_knowledge_gate(s.knowledge_gate);
    return model;
  }
  if (s.vocab.empty()) throw std::invalid_argument("a new model needs a vocabulary (vocab) beside its config");
  ModelSpec spec;
  spec.tokenizer.kind = s.tokenizer;
  const TreeOptions tree;  // unset options: the tree's defaults
  spec.tree.max_length = s.max_length.value_or(tree.max_length);
  spec.tree.max_entities = s.max_entities.value_or(tree.max_entities);
  spec.tree.hops = s.hops.value_or(tree.hops);
  spec.tree.max_facts = s.max_facts.value_or(tree.max_facts);
  spec.tree.predicate = s.predicate.value_or(tree.predicate);
  if (s.truncation) spec.tree.truncation = *s.truncation;
  spec.tree.add_special = true;
  spec.kg_files = s.kg_none ? std::vector<std::string>{} : s.kg_files;
  spec.head = s.head;
  spec.pooling = s.pooling;
  spec.labels = labels;
  spec.pad_to_max_length = head_type(s.head).pooled && s.pooling != Pooling::kFirst;
  spec.segments = s.tokenizer == "char" ? SegmentConvention::kUer : SegmentConvention::kHuggingFace;
  spec.use_visible_matrix = s.use_visible_matrix;
  spec.use_soft_positions = s.use_soft_positions;
  spec.lexical_buckets = s.lexical_buckets;
  spec.lexical_knowledge = s.lexical_knowledge;
  KBERT_CHECK(!s.knowledge_gate || s.use_visible_matrix,
              "the knowledge gate needs the visible matrix (it gates what a mention sees of its branches)");
  spec.knowledge_gate = s.knowledge_gate;
  return Model::create(s.config, spec, s.vocab, run);
}

TrainResult run_train_job(const TrainJob& job) {
  if (job.task != "classify" && job.task != "ner")
    throw std::invalid_argument("task must be classify or ner, got \"" + job.task + "\"");
  KBERT_CHECK(!job.train.empty(), "a training job needs a training file");
  KBERT_CHECK(!job.out.empty(), "a training job needs an output directory");
  ClassifierSetup setup = job.setup;
  setup.batch_size = job.options.batch_size;
  setup.seed = job.options.seed;
  if (job.task == "ner") {
    KBERT_CHECK(setup.lexical_buckets == 0, "lexical buckets are for classifiers, not taggers");
    setup.head = HeadKind::kTagger;
    const TaggedDataset train = TaggedDataset::load(job.train, job.format);
    std::optional<TaggedDataset> dev, test;
    if (!job.dev.empty()) dev = TaggedDataset::load(job.dev, job.format);
    if (!job.test.empty()) test = TaggedDataset::load(job.test, job.format);
    Model model = prepare_classifier(setup, tagger_labels(train));
    return train_tagger(model, train, dev ? &*dev : nullptr, test ? &*test : nullptr, job.options, job.out);
  }
  KBERT_CHECK(setup.head != HeadKind::kTagger, "a classifier job needs a classifier head (kbert or hf)");
  const Dataset train = Dataset::load(job.train);
  std::optional<Dataset> dev, test;
  if (!job.dev.empty()) dev = Dataset::load(job.dev);
  if (!job.test.empty()) test = Dataset::load(job.test);
  Model model = prepare_classifier(setup, LabelSet::from(train).names());
  return train_classifier(model, train, dev ? &*dev : nullptr, test ? &*test : nullptr, job.options, job.out);
}

EvalReport evaluate_file(const Model& model, const std::string& data, TaggedFormat format) {
  EvalReport out;
  if (model.is_tagger()) {
    const EntityReport r = evaluate_tagger(model, TaggedDataset::load(data, format));
    out.table = r.to_table();
    out.json = r.to_json();
  } else {
    KBERT_CHECK(format == TaggedFormat::kAuto, "a data format (bio-tsv, conll) is for tagger (NER) models");
    const ClassificationReport r = evaluate(model, Dataset::load(data));
    out.table = r.to_table();
    out.json = r.to_json();
  }
  return out;
}

}  // namespace kbert
