#include "kbert/train/trainer.hpp"

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
#include "model/allocator.hpp"
#include "model/checkpoint.hpp"
#include "model/model_impl.hpp"
#include "model/tensor_io.hpp"

namespace kbert {

struct TrainAccess {
  static Model::Impl& impl(Model& m) { return *m.impl_; }
  static const Model::Impl& impl(const Model& m) { return *m.impl_; }
};

namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

double bert_adam_factor(double progress, double warmup) {
  // BertAdam's warmup_linear (UER / K-BERT): x / warmup during warm-up, then 1 - x.
  if (warmup > 0 && progress < warmup) return progress / warmup;
  return std::max(0.0, 1.0 - progress);
}

double metric_of(const ClassificationReport& r, const std::string& metric) {
  return metric == "macro_f1" ? r.macro_f1 : r.accuracy;
}

std::string clock_text(double seconds) {
  const auto s = static_cast<long>(seconds);
  std::ostringstream os;
  os << s / 60 << ":" << std::setw(2) << std::setfill('0') << s % 60;
  return os.str();
}


// What a task brings to the shared fine-tuning loop.
struct Evaluation {
  double metric = 0;    // the dev metric (higher is better)
  std::string json;     // the report, for train_log.jsonl
  std::optional<ClassificationReport> classification;
  std::optional<EntityReport> entities;
};
struct TrainTask {
  std::size_t size = 0;                                          // training examples
  std::function<std::size_t(std::size_t)> length;                // an example's length, for length grouping
  std::function<torch::Tensor(const std::vector<std::size_t>&, std::uint64_t)> loss;  // examples, dropout seed
  std::function<Evaluation(const Model&, bool test)> evaluate;  // on dev (false) or test (true)
  nlohmann::json fingerprint = nlohmann::json::object();         // what a checkpoint must match to be resumed
  std::shared_ptr<torch::nn::Module> aux;                        // trained too, kept in the checkpoint only (MLM head)
};

// FNV-1a over strings, each followed by a separator byte: a fingerprint of a dataset.
struct Fnv {
  std::uint64_t h = 1469598103934665603ull;
  void add(const std::string& s) {
    for (unsigned char c : s) h = (h ^ c) * 1099511628211ull;
    h = (h ^ 0x1f) * 1099511628211ull;
  }
  std::string hex() const {
    std::ostringstream os;
    os << std::hex << std::setw(16) << std::setfill('0') << h;
    return os.str();
  }
};
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

// Reorders a shuffled `order` so that each batch holds examples of similar length: sorted
// by length within windows of 64 batches, then whole batches shuffled. Batches carry
// little padding and still come in random order.
void group_by_length(std::vector<std::size_t>& order, std::size_t batch_size,
                     const std::function<std::size_t(std::size_t)>& length, std::mt19937_64& rng) {
  const std::size_t n = order.size(), batches = (n + batch_size - 1) / batch_size;
  const std::size_t window = batch_size * 64;
  for (std::size_t w = 0; w < n; w += window) {
    auto first = order.begin() + static_cast<std::ptrdiff_t>(w);
    auto last = order.begin() + static_cast<std::ptrdiff_t>(std::min(n, w + window));
    std::stable_sort(first, last, [&](std::size_t x, std::size_t y) { return length(x) < length(y); });
  }
  std::vector<std::size_t> batch_order(batches);
  std::iota(batch_order.begin(), batch_order.end(), 0);
  std::shuffle(batch_order.begin(), batch_order.end(), rng);
  std::vector<std::size_t> grouped;
  grouped.reserve(n);
  for (std::size_t bi : batch_order)
    for (std::size_t k = bi * batch_size; k < std::min(n, (bi + 1) * batch_size); ++k) grouped.push_back(order[k]);
  order.swap(grouped);
}

void store(TrainResult& result, Evaluation ev, bool test) {
  if (ev.classification) (test ? result.test : result.best_dev) = std::move(ev.classification);
  if (ev.entities) (test ? result.test_entities : result.best_dev_entities) = std::move(ev.entities);
}

std::atomic<bool> g_stop_requested{false};
static_assert(std::atomic<bool>::is_always_lock_free, "request_training_stop must be async-signal-safe");

TrainResult run_training(Model& model, const TrainTask& task, bool has_dev, bool has_test, const TrainOptions& o,
                         const std::string& out_dir);

// The id of an example's label; ParseError naming the file and line when the model lacks it.
std::int64_t checked_label(const LabelSet& labels, const Example& e, const std::string& path) {
  try {
    return labels.id(e.label);
  } catch (const std::out_of_range& err) {
    throw ParseError(path, e.line, err.what());
  }
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
  task.loss = [&](const std::vector<std::size_t>& examples, std::uint64_t seed) {
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
    torch::manual_seed(seed);
    torch::Tensor hidden = im.net->bert->forward(batch.ids, batch.positions, batch.segments, batch.mask);
    torch::Tensor logits = im.net->head->forward(hidden).to(torch::kFloat);  // [B, L, labels]; the loss in float32
    if (!any) return logits.sum() * 0.0;  // nothing labelled (tokens without pieces): no gradient
    // Mean over the labelled positions (K-BERT's numerator / denominator).
    return torch::nn::functional::cross_entropy(logits.reshape({B * batch.L, -1}), y.view({-1}));
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
  TrainOptions o = options;
  if (o.metric.empty()) o.metric = "accuracy";
  Model::Impl& im = TrainAccess::impl(model);
  KBERT_CHECK(im.net->head, "training needs a classification head");
  KBERT_CHECK(o.metric == "accuracy" || o.metric == "macro_f1", "metric must be accuracy or macro_f1, got ", o.metric);
  KBERT_CHECK(im.spec.head != HeadKind::kTagger, "this is a token-classification model: use train_tagger");
  KBERT_CHECK(!train.examples.empty(), "the training set ", train.path, " is empty");
  LabelSet labels(im.spec.labels);
  std::vector<std::int64_t> targets;
  for (const Example& e : train.examples) targets.push_back(checked_label(labels, e, train.path));
  // Dev and test labels too, before the first epoch rather than after the last.
  for (const Dataset* d : {dev, test})
    if (d)
      for (const Example& e : d->examples) checked_label(labels, e, d->path);

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

  std::vector<std::string> texts_a, texts_b;  // for the lexical side channel
  if (im.spec.lexical_buckets) {
    for (const Example& e : train.examples) {
      texts_a.push_back(e.text_a);
      texts_b.push_back(e.text_b);
    }
    if (!train.has_pairs) texts_b.clear();
  }
  TrainTask task;
  task.size = train.examples.size();
  task.length = [&](std::size_t i) { return train.examples[i].text_a.size() + train.examples[i].text_b.size(); };
  task.loss = [&](const std::vector<std::size_t>& examples, std::uint64_t seed) {
    std::vector<SentenceTree> trees;
    std::vector<std::int64_t> y;
    for (std::size_t k : examples) {
      const Example& e = train.examples[k];
      trees.push_back(e.text_b.empty() ? im.builder->build(e.text_a) : im.builder->build(e.text_a, e.text_b));
      y.push_back(targets[k]);
    }
    std::vector<std::size_t> idx(trees.size());
    std::iota(idx.begin(), idx.end(), 0);
    Batch batch = im.make_batch(trees, idx, 0, idx.size());
    // Dropout draws from a generator seeded per batch: resuming replays the same masks.
    torch::manual_seed(seed);
    torch::Tensor hidden = im.net->bert->forward(batch.ids, batch.positions, batch.segments, batch.mask);
    torch::Tensor logits;
    if (im.spec.lexical_buckets) {
      const auto lex = im.lexical_batch(texts_a, texts_b, examples);
      logits = im.net->head->forward(hidden, &lex);
    } else {
      logits = im.net->head->forward(hidden);
    }
    logits = logits.to(torch::kFloat);  // the loss in float32
    return torch::nn::functional::cross_entropy(logits, torch::tensor(y, torch::kLong), loss_options);
  };
  task.evaluate = [&](const Model& m, bool on_test) {
    const Dataset& data = on_test ? *test : *dev;
    ClassificationReport r = evaluate(m, data);
    Evaluation ev;
    ev.metric = metric_of(r, o.metric);
    ev.json = r.to_json();
    ev.classification = std::move(r);
    return ev;
  };
  task.fingerprint = {{"task", "classify"}, {"train", data_hash(&train)}, {"dev", data_hash(dev)}, {"test", data_hash(test)},
                      {"class_weights", o.class_weights}};
  return run_training(model, task, dev != nullptr, test != nullptr, o, out_dir);
}

namespace {

// A module's parameters by name, and back: the auxiliary head of a checkpoint.
TensorList module_tensors(torch::nn::Module& m) {
  TensorList out;
  for (auto& p : m.named_parameters(true)) out.emplace_back(p.key(), p.value().detach());
  return out;
}
void load_module(torch::nn::Module& m, const TensorList& tensors, const std::string& path) {
  torch::NoGradGuard no_grad;
  auto params = m.named_parameters(true);
  std::size_t found = 0;
  for (const auto& [name, t] : tensors) {
    torch::Tensor* p = params.find(name);
    if (!p || !p->sizes().equals(t.sizes())) throw ParseError(path, 0, "tensor '" + name + "' does not fit the head");
    p->copy_(t);
    ++found;
  }
  if (found != params.size()) throw ParseError(path, 0, "the head's tensors are incomplete");
}

// Options out of range are refused before anything is loaded or written.
void check_options(double learning_rate, double warmup, double weight_decay, double max_grad_norm) {
  KBERT_CHECK(std::isfinite(learning_rate) && learning_rate > 0 && learning_rate <= 1,
              "learning rate must be in (0, 1], got ", learning_rate);
  KBERT_CHECK(std::isfinite(warmup) && warmup >= 0 && warmup <= 1, "warmup is a fraction of the steps, in [0, 1]; got ",
              warmup);
  KBERT_CHECK(std::isfinite(weight_decay) && weight_decay >= 0 && weight_decay <= 1, "weight decay must be in [0, 1], got ",
              weight_decay);
  KBERT_CHECK(std::isfinite(max_grad_norm) && max_grad_norm >= 0, "max_grad_norm must be 0 (off) or positive, got ",
              max_grad_norm);
}

// The settings that decide the course of a run: a checkpoint resumes only under the same ones.
nlohmann::json run_fingerprint(const Model::Impl& im, const TrainOptions& o) {
  const TreeOptions& t = im.builder->options();
  return {{"epochs", o.epochs},
          {"batch_size", o.batch_size},
          {"accumulation", o.accumulation},
          {"learning_rate", o.learning_rate},
          {"warmup", o.warmup},
          {"weight_decay", o.weight_decay},
          {"max_grad_norm", o.max_grad_norm},
          {"seed", o.seed},
          {"shuffle", o.shuffle},
          {"group_by_length", o.group_by_length},
          {"metric", o.metric},
          {"precision", precision_name(o.precision)},
          {"labels", im.spec.labels},
          {"head", static_cast<int>(im.spec.head)},
          {"pooling", static_cast<int>(im.spec.pooling)},
          {"max_length", t.max_length},
          {"max_entities", t.max_entities},
          {"predicate", t.predicate},
          {"truncation", t.truncation == Truncation::kKbert ? "kbert" : "trunk_first"},
          {"kg", im.kg_sources},
          {"use_visible_matrix", im.spec.use_visible_matrix},
          {"use_soft_positions", im.spec.use_soft_positions},
          {"lexical_buckets", im.spec.lexical_buckets},
          {"lexical_learning_rate", o.lexical_learning_rate},
          {"layers", im.config.num_layers},
          {"hidden", im.config.hidden_size},
          {"vocab", im.config.vocab_size}};
}

// A checkpoint's state, refused (naming each difference) when it was made under other settings.
nlohmann::json read_state(const std::string& path, const nlohmann::json& fingerprint) {
  std::ifstream in(path);
  if (!in) throw FileError(path, "cannot open");
  nlohmann::json st = nlohmann::json::parse(in, nullptr, false);
  if (st.is_discarded() || !st.is_object()) throw ParseError(path, 1, "not a JSON object: a damaged checkpoint");
  for (const char* key : {"epoch", "batch", "step", "best", "best_epoch", "bad_epochs"})
    if (!st.contains(key) || !st[key].is_number()) throw ParseError(path, 1, std::string("damaged checkpoint: no '") + key + "'");
  if (!st.contains("fingerprint") || !st["fingerprint"].is_object())
    throw ParseError(path, 1, "this checkpoint records no settings (made by an older kbert): it cannot be checked, so it is "
                              "not resumed; remove it or train without --resume");
  std::string diff;
  const nlohmann::json& had = st["fingerprint"];
  for (auto it = fingerprint.begin(); it != fingerprint.end(); ++it) {
    const nlohmann::json before = had.contains(it.key()) ? had[it.key()] : nlohmann::json("(not recorded)");
    if (before != it.value()) {
      std::string a = before.dump(), b = it.value().dump();
      if (a.size() > 60) a = a.substr(0, 57) + "...";
      if (b.size() > 60) b = b.substr(0, 57) + "...";
      diff += (diff.empty() ? "" : "; ") + it.key() + " was " + a + ", now " + b;
    }
  }
  if (!diff.empty())
    throw std::invalid_argument("--resume: the checkpoint " + path + " was made with other data or settings (" + diff +
                                "); resume with the same ones, or train without --resume");
  return st;
}

TrainResult run_training(Model& model, const TrainTask& task, bool has_dev, bool has_test, const TrainOptions& o,
                         const std::string& out_dir) {
  Model::Impl& im = TrainAccess::impl(model);
  KBERT_CHECK(o.batch_size > 0 && o.accumulation > 0 && o.epochs > 0, "epochs, batch size and accumulation must be positive");
  check_options(o.learning_rate, o.warmup, o.weight_decay, o.max_grad_norm);
  warn_if_bf16_slow(o.precision);
  // Dev and test evaluation during training run in the training's precision.
  struct RestorePrecision {
    RunOptions& run;
    Precision was;
    ~RestorePrecision() { run.precision = was; }
  } restore{im.run, im.run.precision};
  im.run.precision = o.precision;

  // AdamW; no weight decay on biases and LayerNorm parameters.
  std::vector<torch::Tensor> decay, no_decay, lexical, all;
  auto sort_param = [&](const std::string& n, const torch::Tensor& p) {
    all.push_back(p);
    if (n == "head.lexical") {  // the lexical side channel: a linear model with a learning rate of its own
      lexical.push_back(p);
      return;
    }
    const bool nd = n.find("norm") != std::string::npos || n.find("LayerNorm") != std::string::npos ||
                    (n.size() >= 5 && n.compare(n.size() - 5, 5, ".bias") == 0) || n == "bias";
    (nd ? no_decay : decay).push_back(p);
  };
  for (auto& p : im.net->named_parameters(true)) sort_param(p.key(), p.value());
  if (task.aux)
    for (auto& p : task.aux->named_parameters(true)) sort_param(p.key(), p.value());
  using torch::optim::AdamWOptions;
  std::vector<torch::optim::OptimizerParamGroup> groups;
  groups.emplace_back(decay, std::make_unique<AdamWOptions>(AdamWOptions(o.learning_rate).weight_decay(o.weight_decay).eps(1e-6)));
  groups.emplace_back(no_decay, std::make_unique<AdamWOptions>(AdamWOptions(o.learning_rate).weight_decay(0.0).eps(1e-6)));
  std::vector<double> base_lr = {o.learning_rate, o.learning_rate};
  if (!lexical.empty()) {
    groups.emplace_back(lexical, std::make_unique<AdamWOptions>(
                                     AdamWOptions(o.lexical_learning_rate).weight_decay(o.weight_decay).eps(1e-6)));
    base_lr.push_back(o.lexical_learning_rate);
  }
  torch::optim::AdamW opt(std::move(groups), AdamWOptions(o.learning_rate));

  CachingAllocatorScope cache;
  const std::size_t n = task.size;
  const std::size_t batches = (n + o.batch_size - 1) / o.batch_size;
  const std::size_t steps_per_epoch = (batches + o.accumulation - 1) / o.accumulation;
  const std::size_t total_steps = steps_per_epoch * o.epochs;

  // The output and its checkpoint: refused unless new or kbert's, locked against a second writer.
  const OutputDir out(out_dir);
  const OutputDir ckpt_dir(out.path() + ".checkpoint", /*lock=*/false);
  if (o.progress)
    for (const auto* notes : {&out.notes(), &ckpt_dir.notes()})
      for (const auto& note : *notes) std::cerr << "kbert train: " << note << "\n";
  const std::string ckpt = ckpt_dir.path();
  nlohmann::json fingerprint = task.fingerprint;
  fingerprint.update(run_fingerprint(im, o));
  if (!has_dev) fingerprint.erase("metric");  // without dev data the metric decides nothing
  std::size_t start_epoch = 0, start_batch = 0, step = 0, bad_epochs = 0, best_epoch = 0;
  double best = -1;
  TrainResult result;
  nlohmann::json log_entries = nlohmann::json::array();
  if (o.resume && fs::exists(ckpt + "/state.json")) {
    const nlohmann::json st = read_state(ckpt + "/state.json", fingerprint);
    start_epoch = st.at("epoch");
    start_batch = st.at("batch");
    step = st.at("step");
    best = st.at("best");
    best_epoch = st.at("best_epoch");
    bad_epochs = st.at("bad_epochs");
    result.first_loss = st.value("first_loss", 0.0);
    log_entries = st.value("log", nlohmann::json::array());
    load_weights(im.net, read_safetensors(ckpt + "/model.safetensors"), ckpt + "/model.safetensors");
    if (task.aux) load_module(*task.aux, read_safetensors(ckpt + "/aux.safetensors"), ckpt + "/aux.safetensors");
    torch::load(opt, ckpt + "/optimizer.pt");
    if (o.progress) std::cerr << "kbert train: resuming at epoch " << start_epoch + 1 << ", batch " << start_batch << "\n";
  } else if (o.resume && o.progress) {
    std::cerr << "kbert train: no checkpoint at " << ckpt << ": starting from the beginning\n";
  }
  auto save_checkpoint = [&](std::size_t epoch, std::size_t batch) {
    ckpt_dir.replace([&](const std::string& dir) {
      im.write_files(dir);
      if (task.aux) write_safetensors(dir + "/aux.safetensors", module_tensors(*task.aux));
      torch::save(opt, dir + "/optimizer.pt");
      nlohmann::json st = {{"epoch", epoch}, {"batch", batch}, {"step", step}, {"best", best}, {"best_epoch", best_epoch},
                           {"bad_epochs", bad_epochs}, {"first_loss", result.first_loss}, {"log", log_entries},
                           {"fingerprint", fingerprint}};
      write_file_atomically(dir + "/state.json", [&](std::ostream& os) { os << st.dump(2) << "\n"; });
    });
  };
  auto write_log = [&](const std::string& dir) {
    write_file_atomically(dir + "/train_log.jsonl", [&](std::ostream& os) {
      for (const auto& e : log_entries) os << e.dump() << "\n";
    });
  };

  const bool tty = o.progress && ::isatty(2);
  const auto t0 = Clock::now();
  std::size_t seen = 0;
  double loss_sum = 0;
  std::size_t loss_count = 0;
  for (std::size_t epoch = start_epoch; epoch < o.epochs; ++epoch) {
    std::vector<std::size_t> order(n);
    std::iota(order.begin(), order.end(), 0);
    if (o.shuffle) {
      std::mt19937_64 rng(o.seed * 1000003ull + epoch);
      std::shuffle(order.begin(), order.end(), rng);
      if (o.group_by_length) group_by_length(order, o.batch_size, task.length, rng);
    }
    im.net->train();
    const auto e0 = Clock::now();
    double epoch_loss = 0;
    std::size_t epoch_batches = 0;
    for (std::size_t b = (epoch == start_epoch ? start_batch : 0); b < batches; ++b) {
      const std::size_t lo = b * o.batch_size, hi = std::min(n, lo + o.batch_size);
      std::vector<std::size_t> examples(order.begin() + static_cast<std::ptrdiff_t>(lo),
                                        order.begin() + static_cast<std::ptrdiff_t>(hi));
      torch::Tensor loss;
      {
        AutocastScope autocast(o.precision);  // the backward pass follows the forward's dtypes
        loss = task.loss(examples, o.seed * 7919ull + epoch * 1000003ull + b);
      }
      (loss / static_cast<double>(o.accumulation)).backward();
      const double l = loss.item<double>();
      if (!std::isfinite(l)) throw std::runtime_error("training diverged: loss is " + std::to_string(l) + " at epoch " +
                                                      std::to_string(epoch + 1) + ", batch " + std::to_string(b + 1));
      if (result.first_loss == 0) result.first_loss = l;
      epoch_loss += l;
      ++epoch_batches;
      loss_sum += l;
      ++loss_count;
      seen += hi - lo;
      if ((b + 1) % o.accumulation == 0 || b + 1 == batches) {
        if (o.max_grad_norm > 0) torch::nn::utils::clip_grad_norm_(all, o.max_grad_norm);
        const double factor = bert_adam_factor(static_cast<double>(step) / static_cast<double>(total_steps), o.warmup);
        for (std::size_t g = 0; g < opt.param_groups().size(); ++g)
          static_cast<AdamWOptions&>(opt.param_groups()[g].options()).lr(base_lr[g] * factor);
        opt.step();
        opt.zero_grad();
        ++step;
        const bool stop = (o.stop_after_steps && step == o.stop_after_steps) || g_stop_requested.exchange(false);
        if (stop || (o.checkpoint_every && step % o.checkpoint_every == 0 && b + 1 < batches))
          save_checkpoint(epoch, b + 1);
        if (stop) {
          if (o.progress) std::cerr << (tty ? "\n" : "") << "kbert train: stopped after step " << step
                                    << "; the checkpoint " << ckpt << " resumes it\n";
          result.interrupted = true;
          result.steps = step;
          result.final_loss = epoch_loss / static_cast<double>(epoch_batches);
          result.loop_seconds += std::chrono::duration<double>(Clock::now() - e0).count();
          result.seconds = std::chrono::duration<double>(Clock::now() - t0).count();
          result.examples_per_second = static_cast<double>(seen) / std::max(result.loop_seconds, 1e-9);
          return result;
        }
      }
      if (o.progress) {
        const double el = std::chrono::duration<double>(Clock::now() - e0).count();
        const double rate = static_cast<double>((b + 1 - (epoch == start_epoch ? start_batch : 0)) * o.batch_size) / std::max(el, 1e-9);
        const double eta = static_cast<double>((batches - b - 1) * o.batch_size) / std::max(rate, 1e-9);
        if (tty) {
          const int width = 24;
          const int done = static_cast<int>(width * (b + 1) / batches);
          std::cerr << "\repoch " << epoch + 1 << "/" << o.epochs << " [" << std::string(done, '#')
                    << std::string(width - done, '.') << "] " << b + 1 << "/" << batches << " loss " << std::fixed
                    << std::setprecision(4) << epoch_loss / static_cast<double>(epoch_batches) << " " << std::setprecision(1)
                    << rate << " ex/s ETA " << clock_text(eta) << "   " << std::flush;
        } else if ((b + 1) % std::max<std::size_t>(1, batches / 10) == 0 || b + 1 == batches) {
          std::cerr << "epoch " << epoch + 1 << "/" << o.epochs << " batch " << b + 1 << "/" << batches << " loss "
                    << std::fixed << std::setprecision(4) << epoch_loss / static_cast<double>(epoch_batches) << " "
                    << std::setprecision(1) << rate << " ex/s ETA " << clock_text(eta) << "\n";
        }
      }
    }
    if (tty) std::cerr << "\n";
    result.loop_seconds += std::chrono::duration<double>(Clock::now() - e0).count();
    im.net->eval();
    result.final_loss = epoch_batches ? epoch_loss / static_cast<double>(epoch_batches) : result.final_loss;
    nlohmann::json log = {{"epoch", epoch + 1}, {"train_loss", result.final_loss}, {"steps", step},
                          {"seconds", std::chrono::duration<double>(Clock::now() - t0).count()}};
    bool improved = true;
    if (has_dev) {
      Evaluation r = task.evaluate(model, false);
      const double m = r.metric;
      log["dev"] = nlohmann::json::parse(r.json);
      improved = m > best;
      if (improved) {
        best = m;
        best_epoch = epoch + 1;
        store(result, std::move(r), false);
        bad_epochs = 0;
      } else {
        ++bad_epochs;
      }
      if (o.progress)
        std::cerr << "epoch " << epoch + 1 << ": dev " << o.metric << " " << std::fixed << std::setprecision(4) << m
                  << (improved ? " (best)" : "") << "\n";
    } else {
      best_epoch = epoch + 1;
    }
    log_entries.push_back(log);
    if (improved || !out.exists()) {
      out.replace([&](const std::string& dir) {
        im.write_files(dir);
        write_log(dir);
      });
    } else {
      write_log(out.path());
    }
    result.epochs_run = epoch + 1;
    save_checkpoint(epoch + 1, 0);
    if (o.patience && bad_epochs >= o.patience) {
      if (o.progress) std::cerr << "kbert train: no dev improvement for " << bad_epochs << " epochs, stopping\n";
      break;
    }
  }
  result.steps = step;
  result.best_epoch = best_epoch;
  result.seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  result.examples_per_second = result.loop_seconds > 0 ? static_cast<double>(seen) / result.loop_seconds : 0;
  const bool have_dev_report = result.best_dev || result.best_dev_entities;
  if ((has_test || (has_dev && !have_dev_report)) && fs::exists(out.path() + "/kbert.json")) {
    Model best_model = Model::load(out.path(), im.run);
    // After a resume the best epoch may predate it: its dev report comes from the saved model.
    if (has_dev && !have_dev_report) store(result, task.evaluate(best_model, false), false);
    if (has_test) store(result, task.evaluate(best_model, true), true);
  }
  ckpt_dir.remove();  // finished: nothing to resume
  return result;
}


}  // namespace
namespace {

// The MLM head of BERT: dense + GELU + LayerNorm, then the word embedding transposed.
struct MlmHeadImpl : torch::nn::Module {
  MlmHeadImpl(const BertConfig& c) {
    transform = register_module("transform", nn::Linear(c.hidden_size, c.hidden_size));
    norm = register_module("norm", nn::LayerNorm(c.hidden_size, c.layer_norm, c.layer_norm_eps));
    bias = register_parameter("bias", torch::zeros({c.vocab_size}));
  }
  torch::Tensor forward(const torch::Tensor& h, const torch::Tensor& word_embeddings) {
    return at::linear(norm(at::gelu(transform(h)).to(torch::kFloat)), word_embeddings, bias);
  }
  nn::Linear transform{nullptr};
  nn::LayerNorm norm{nullptr};
  torch::Tensor bias;
};
TORCH_MODULE(MlmHead);

}  // namespace

PretrainResult pretrain_mlm(Model& model, const std::vector<std::string>& corpus, const PretrainOptions& o,
                            const std::string& out_dir) {
  Model::Impl& im = TrainAccess::impl(model);
  KBERT_CHECK(!corpus.empty(), "the pre-training corpus is empty");
  KBERT_CHECK(std::isfinite(o.mask_probability) && o.mask_probability > 0 && o.mask_probability < 1,
              "mask probability must be in (0, 1), got ", o.mask_probability);
  KBERT_CHECK(im.spec.head == HeadKind::kNone, "pre-training trains an encoder: the model must have no head");
  const Vocab* vocab = im.tokenizer->vocab();
  const std::int32_t mask_id = vocab->find("[MASK]");
  KBERT_CHECK(mask_id >= 0, "the vocabulary has no [MASK] token");
  const bool wordpiece = im.tokenizer->kind() == "wordpiece";
  const auto vocab_size = static_cast<std::int32_t>(vocab->size());
  MlmHead head(im.config);  // trained beside the encoder, kept in the checkpoint, not in the model

  TrainTask task;
  task.size = corpus.size();
  task.length = [&](std::size_t i) { return corpus[i].size(); };
  task.aux = head.ptr();
  task.loss = [&](const std::vector<std::size_t>& examples, std::uint64_t seed) {
    // Masks drawn from the batch's own seed: a resumed run draws the same ones.
    std::mt19937_64 rng(seed);
    std::uniform_real_distribution<double> u(0.0, 1.0);
    std::uniform_int_distribution<std::int32_t> random_token(0, vocab_size - 1);
    std::vector<SentenceTree> trees;
    for (std::size_t k : examples) trees.push_back(im.builder->build(corpus[k]));
    std::vector<std::vector<std::int64_t>> labels(trees.size());
    std::size_t chosen_total = 0;
    for (std::size_t t = 0; t < trees.size(); ++t) {
      SentenceTree& tr = trees[t];
      labels[t].assign(tr.size(), -100);
      // Candidate units: trunk tokens that are not special tags; WordPiece joins ## pieces.
      std::vector<std::vector<std::size_t>> units;
      for (std::size_t i = 0; i < tr.size(); ++i) {
        if (tr.segments[i] != 0) continue;
        const std::string& tok = tr.tokens[i];
        if (tok.size() > 2 && tok.front() == '[' && tok.back() == ']') continue;
        if (wordpiece && o.whole_word && tok.rfind("##", 0) == 0 && !units.empty() && units.back().back() + 1 == i) {
          units.back().push_back(i);
        } else {
          units.push_back({i});
        }
      }
      for (const auto& unit : units) {
        if (u(rng) >= o.mask_probability) continue;
        const double r = u(rng);
        for (std::size_t i : unit) {
          labels[t][i] = tr.ids[i];
          ++chosen_total;
          if (r < 0.8) {
            tr.ids[i] = mask_id;
          } else if (r < 0.9) {
            tr.ids[i] = random_token(rng);
          }
        }
      }
    }
    std::vector<std::size_t> idx(trees.size());
    std::iota(idx.begin(), idx.end(), 0);
    Batch batch = im.make_batch(trees, idx, 0, idx.size());
    torch::Tensor y = torch::full({static_cast<std::int64_t>(trees.size()), batch.L}, -100, torch::kLong);
    auto* py = y.data_ptr<std::int64_t>();
    for (std::size_t t = 0; t < trees.size(); ++t)
      std::copy(labels[t].begin(), labels[t].end(), py + static_cast<std::int64_t>(t) * batch.L);
    torch::manual_seed(seed);
    torch::Tensor hidden = im.net->bert->forward(batch.ids, batch.positions, batch.segments, batch.mask);
    if (chosen_total == 0) return hidden.sum() * 0.0;  // nothing masked (very short texts): no gradient
    // The vocabulary projection only for the chosen positions (about 15% of them).
    torch::Tensor flat_y = y.view({-1});
    torch::Tensor chosen = flat_y.ne(-100).nonzero().squeeze(1);
    torch::Tensor picked = hidden.reshape({-1, im.config.hidden_size}).index_select(0, chosen);
    torch::Tensor logits = head->forward(picked, im.net->bert->embeddings->word_embeddings).to(torch::kFloat);
    return torch::nn::functional::cross_entropy(logits, flat_y.index_select(0, chosen));
  };
  Fnv corpus_hash;
  for (const auto& text : corpus) corpus_hash.add(text);
  task.fingerprint = {{"task", "mlm"}, {"corpus", corpus_hash.hex() + "/" + std::to_string(corpus.size())},
                      {"mask_probability", o.mask_probability}, {"whole_word", o.whole_word}};

  TrainOptions t;
  t.epochs = o.epochs;
  t.batch_size = o.batch_size;
  t.accumulation = o.accumulation;
  t.learning_rate = o.learning_rate;
  t.warmup = o.warmup;
  t.weight_decay = o.weight_decay;
  t.max_grad_norm = o.max_grad_norm;
  t.seed = o.seed;
  t.group_by_length = o.group_by_length;
  t.resume = o.resume;
  t.stop_after_steps = o.stop_after_steps;
  t.checkpoint_every = o.checkpoint_every;
  t.progress = o.progress;
  t.precision = o.precision;
  const TrainResult r = run_training(model, task, false, false, t, out_dir);
  PretrainResult result;
  result.epochs_run = r.epochs_run;
  result.steps = r.steps;
  result.first_loss = r.first_loss;
  result.final_loss = r.final_loss;
  result.seconds = r.seconds;
  result.texts_per_second = r.examples_per_second;
  result.interrupted = r.interrupted;
  return result;
}

}  // namespace kbert

namespace kbert {

void request_training_stop() noexcept { g_stop_requested.store(true); }
bool training_stop_requested() noexcept { return g_stop_requested.load(); }

std::string to_json(const TrainResult& r) {
  nlohmann::json j = {{"epochs", r.epochs_run},       {"steps", r.steps},
                      {"best_epoch", r.best_epoch},   {"seconds", r.seconds},
                      {"loop_seconds", r.loop_seconds}, {"examples_per_s", r.examples_per_second},
                      {"first_loss", r.first_loss},   {"final_loss", r.final_loss},
                      {"interrupted", r.interrupted}};
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
    if (s.predicate) tree.predicate = *s.predicate;
    if (s.truncation) tree.truncation = *s.truncation;
    model.set_tree_options(tree);
    const bool tagger_now = model.spec().head == HeadKind::kTagger, tagger_wanted = s.head == HeadKind::kTagger;
    if (model.spec().labels != labels || model.spec().head == HeadKind::kNone || tagger_now != tagger_wanted ||
        model.spec().lexical_buckets != s.lexical_buckets)
      model.reset_head(s.head, s.pooling, labels, s.lexical_buckets);
    model.set_ablation(s.use_visible_matrix, s.use_soft_positions);
    return model;
  }
  if (s.vocab.empty()) throw std::invalid_argument("a new model needs a vocabulary (vocab) beside its config");
  ModelSpec spec;
  spec.tokenizer.kind = s.tokenizer;
  spec.tree.max_length = s.max_length.value_or(256);
  spec.tree.max_entities = s.max_entities.value_or(2);
  spec.tree.predicate = s.predicate.value_or(false);
  if (s.truncation) spec.tree.truncation = *s.truncation;
  spec.tree.add_special = true;
  spec.kg_files = s.kg_none ? std::vector<std::string>{} : s.kg_files;
  spec.head = s.head;
  spec.pooling = s.pooling;
  spec.labels = labels;
  spec.pad_to_max_length = s.head == HeadKind::kKbert && s.pooling != Pooling::kFirst;
  spec.segments = s.tokenizer == "char" ? SegmentConvention::kUer : SegmentConvention::kHuggingFace;
  spec.use_visible_matrix = s.use_visible_matrix;
  spec.use_soft_positions = s.use_soft_positions;
  spec.lexical_buckets = s.lexical_buckets;
  return Model::create(s.config, spec, s.vocab, run);
}

}  // namespace kbert
