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
#include "model/model_impl.hpp"
#include "encoder/tensor_io.hpp"


namespace kbert {

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

// ELECTRA's extra modules: the generator's layers (over the encoder's embeddings) with its
// MLM head, and the discriminator's head (dense + GELU + one logit per token).
struct ElectraModulesImpl : torch::nn::Module {
  ElectraModulesImpl(const BertConfig& c, std::size_t generator_layers) {
    for (std::size_t i = 0; i < generator_layers; ++i)
      generator.push_back(register_module("generator" + std::to_string(i), nn::Layer(c)));
    generator_head = register_module("generator_head", MlmHead(c));
    detect_dense = register_module("detect_dense", nn::Linear(c.hidden_size, c.hidden_size));
    detect_out = register_module("detect_out", nn::Linear(c.hidden_size, 1));
  }
  std::vector<nn::Layer> generator;
  MlmHead generator_head{nullptr};
  nn::Linear detect_dense{nullptr}, detect_out{nullptr};
};
TORCH_MODULE(ElectraModules);

// Chooses the tokens of a tree to mask (trunk tokens that are not special tags; WordPiece
// joins a word's ## pieces) and replaces them in `tree.ids`: with [MASK] only (`bert_mix`
// false), or BERT's 80% [MASK], 10% a random token, 10% unchanged. Returns each position's
// original id where chosen, -100 elsewhere.
std::vector<std::int64_t> mask_tree(SentenceTree& tree, std::mt19937_64& rng, const PretrainOptions& o, bool wordpiece,
                                    std::int32_t mask_id, std::int32_t vocab_size, bool bert_mix) {
  std::uniform_real_distribution<double> u(0.0, 1.0);
  std::uniform_int_distribution<std::int32_t> random_token(0, vocab_size - 1);
  std::vector<std::int64_t> labels(tree.size(), -100);
  std::vector<std::vector<std::size_t>> units;
  for (std::size_t i = 0; i < tree.size(); ++i) {
    if (tree.segments[i] != 0) continue;
    const std::string_view tok = tree.tokens[i];
    if (tok.size() > 2 && tok.front() == '[' && tok.back() == ']') continue;
    if (wordpiece && o.whole_word && tok.rfind("##", 0) == 0 && !units.empty() && units.back().back() + 1 == i) {
      units.back().push_back(i);
    } else {
      units.push_back({i});
    }
  }
  for (const auto& unit : units) {
    if (u(rng) >= o.mask_probability) continue;
    const double r = bert_mix ? u(rng) : 0.0;
    for (std::size_t i : unit) {
      labels[i] = tree.ids[i];
      if (r < 0.8) {
        tree.ids[i] = mask_id;
      } else if (r < 0.9) {
        tree.ids[i] = random_token(rng);
      }
    }
  }
  return labels;
}

void check_pretrain_options(const PretrainOptions& o) {
  KBERT_CHECK(o.objective == "mlm" || o.objective == "electra", "the pre-training objective must be mlm or electra, got '",
              o.objective, "'");
  const bool electra = o.objective == "electra";
  KBERT_CHECK(std::isfinite(o.mask_probability) && o.mask_probability > 0 && o.mask_probability < 1,
              "mask probability must be in (0, 1), got ", o.mask_probability);
  KBERT_CHECK(!electra || (o.generator_layers >= 1 && o.generator_layers <= 64),
              "generator layers must be in [1, 64], got ", o.generator_layers);
  KBERT_CHECK(!electra || (std::isfinite(o.discriminator_weight) && o.discriminator_weight > 0),
              "the discriminator weight must be positive, got ", o.discriminator_weight);
}

// A batch's trees, masked, with their random streams and labels.
struct Masked {
  std::vector<SentenceTree> trees;
  std::vector<std::mt19937_64> rngs;
  Batch batch;
  torch::Tensor labels;  // [B, L]: original ids where chosen, -100 elsewhere
  std::size_t chosen = 0;
};

// Pre-training's losses over a corpus: MLM, or ELECTRA (a small generator fills the masks,
// the encoder detects the replaced tokens). The heads are trained beside the encoder and
// kept in the checkpoint, not in the model.
class Pretraining {
 public:
  Pretraining(Model::Impl& im, const std::vector<std::string>& corpus, const PretrainOptions& o)
      : im_(im), corpus_(corpus), o_(o), electra_(o.objective == "electra") {
    const Vocab* vocab = im.tokenizer->vocab();
    mask_id_ = vocab->find("[MASK]");
    KBERT_CHECK(mask_id_ >= 0, "the vocabulary has no [MASK] token");
    wordpiece_ = im.tokenizer->kind() == "wordpiece";
    vocab_size_ = static_cast<std::int32_t>(vocab->size());
    H_ = im.config.hidden_size;
    if (electra_) {
      modules_ = ElectraModules(im.config, o.generator_layers);
    } else {
      head_ = MlmHead(im.config);
    }
  }

  std::shared_ptr<torch::nn::Module> aux() const {
    return electra_ ? std::static_pointer_cast<torch::nn::Module>(modules_.ptr())
                    : std::static_pointer_cast<torch::nn::Module>(head_.ptr());
  }

  TaskLoss loss(const std::vector<std::size_t>& examples, std::uint64_t seed) {
    return electra_ ? electra_loss(examples, seed) : mlm_loss(examples, seed);
  }

 private:
  const torch::Tensor& word_embeddings() const { return im_.net->bert->embeddings->word_embeddings; }

  // Each text's masks come from the batch seed and the text's index (so a resumed run, or
  // ranks sharing the batch, draw the same ones), and so do ELECTRA's samples (the generator
  // continues the text's random stream).
  Masked masked_batch(const std::vector<std::size_t>& examples, std::uint64_t seed) const {
    Masked m;
    std::vector<std::vector<std::int64_t>> labels;
    for (std::size_t k : examples) {
      m.trees.push_back(im_.builder->build(corpus_[k]));
      m.rngs.emplace_back(seed ^ (0x9E3779B97F4A7C15ull * (k + 1)));
      labels.push_back(mask_tree(m.trees.back(), m.rngs.back(), o_, wordpiece_, mask_id_, vocab_size_, !electra_));
      for (auto y : labels.back()) m.chosen += y != -100;
    }
    std::vector<std::size_t> idx(m.trees.size());
    std::iota(idx.begin(), idx.end(), 0);
    m.batch = im_.make_batch(m.trees, idx, 0, idx.size());
    m.labels = torch::full({static_cast<std::int64_t>(m.trees.size()), m.batch.L}, -100, torch::kLong);
    auto* py = m.labels.data_ptr<std::int64_t>();
    for (std::size_t t = 0; t < labels.size(); ++t)
      std::copy(labels[t].begin(), labels[t].end(), py + static_cast<std::int64_t>(t) * m.batch.L);
    return m;
  }

  TaskLoss mlm_loss(const std::vector<std::size_t>& examples, std::uint64_t seed) {
    Masked m = masked_batch(examples, seed);
    const Batch& batch = m.batch;
    torch::Tensor hidden = im_.net->bert->forward(batch.ids, batch.positions, batch.segments, batch.mask, &batch.gate);
    if (m.chosen == 0) return TaskLoss{hidden.sum() * 0.0, 0.0};  // nothing masked (very short texts): no gradient
    // The vocabulary projection only for the chosen positions (about 15% of them).
    torch::Tensor flat_y = m.labels.view({-1});
    torch::Tensor chosen = flat_y.ne(-100).nonzero().squeeze(1);
    torch::Tensor picked = hidden.reshape({-1, H_}).index_select(0, chosen);
    torch::Tensor logits = head_->forward(picked, word_embeddings()).to(torch::kFloat);
    return TaskLoss{torch::nn::functional::cross_entropy(logits, flat_y.index_select(0, chosen)),
                    static_cast<double>(m.chosen)};
  }

  // A token sampled from the generator's distribution replaces each chosen one; each text
  // draws from its own stream, in position order.
  void sample_replacements(Masked& m, const torch::Tensor& logits, const torch::Tensor& chosen,
                           torch::Tensor& corrupted) const {
    const std::int64_t L = m.batch.L;
    torch::Tensor probs = torch::softmax(logits.detach(), 1).contiguous();
    const auto* pp = probs.data_ptr<float>();
    const auto* pc = chosen.data_ptr<std::int64_t>();
    auto* pid = corrupted.view({-1}).data_ptr<std::int64_t>();
    std::uniform_real_distribution<double> u(0.0, 1.0);
    for (std::int64_t r = 0; r < chosen.size(0); ++r) {
      std::mt19937_64& rng = m.rngs[static_cast<std::size_t>(pc[r] / L)];
      const float* row = pp + r * vocab_size_;
      double x = u(rng), acc = 0;
      std::int32_t pick = vocab_size_ - 1;
      for (std::int32_t v = 0; v < vocab_size_; ++v) {
        acc += row[v];
        if (x < acc) {
          pick = v;
          break;
        }
      }
      pid[pc[r]] = pick;
    }
  }

  TaskLoss electra_loss(const std::vector<std::size_t>& examples, std::uint64_t seed) {
    Masked m = masked_batch(examples, seed);
    const Batch& batch = m.batch;
    const std::int64_t L = batch.L;
    // The tokens of the trees (not the padding): every one is a detection target.
    const torch::Tensor lengths = torch::tensor(batch.lengths, torch::kLong);
    const torch::Tensor real = torch::arange(L).unsqueeze(0).lt(lengths.unsqueeze(1)).to(torch::kFloat);
    const auto tokens = static_cast<double>(lengths.sum().item<std::int64_t>());
    torch::Tensor flat_y = m.labels.view({-1});
    torch::Tensor gen_loss_sum = torch::zeros({}, torch::kFloat);
    torch::Tensor corrupted = batch.ids.clone();
    if (m.chosen > 0) {
      // The generator: its layers over the shared embeddings of the masked input.
      torch::Tensor g = im_.net->bert->embeddings(batch.ids, batch.positions, batch.segments);
      for (auto& layer : modules_->generator) g = layer(g, batch.mask);
      torch::Tensor chosen = flat_y.ne(-100).nonzero().squeeze(1);
      torch::Tensor logits =
          modules_->generator_head->forward(g.reshape({-1, H_}).index_select(0, chosen), word_embeddings()).to(torch::kFloat);
      torch::Tensor targets = flat_y.index_select(0, chosen);
      gen_loss_sum = torch::nn::functional::cross_entropy(
          logits, targets, torch::nn::functional::CrossEntropyFuncOptions().reduction(torch::kSum));
      sample_replacements(m, logits, chosen, corrupted);
    }
    // The discriminator (the encoder being trained): original or replaced, every token.
    torch::Tensor replaced = m.labels.ne(-100).logical_and(corrupted.ne(m.labels)).to(torch::kFloat);
    torch::Tensor hidden = im_.net->bert->forward(corrupted, batch.positions, batch.segments, batch.mask, &batch.gate);
    torch::Tensor d = modules_->detect_out(at::gelu(modules_->detect_dense(hidden))).squeeze(-1).to(torch::kFloat);
    torch::Tensor detect_sum = (torch::nn::functional::binary_cross_entropy_with_logits(
                                    d, replaced, torch::nn::functional::BinaryCrossEntropyWithLogitsFuncOptions().reduction(torch::kNone)) *
                                real)
                                   .sum();
    torch::Tensor loss = (gen_loss_sum / o_.mask_probability + detect_sum * o_.discriminator_weight) / tokens;
    return TaskLoss{loss, tokens};
  }

  Model::Impl& im_;
  const std::vector<std::string>& corpus_;
  const PretrainOptions& o_;
  const bool electra_;
  std::int32_t mask_id_ = -1, vocab_size_ = 0;
  bool wordpiece_ = false;
  std::int64_t H_ = 0;
  MlmHead head_{nullptr};
  ElectraModules modules_{nullptr};
};

}  // namespace

PretrainResult pretrain_encoder(Model& model, const std::vector<std::string>& corpus, const PretrainOptions& o,
                                const std::string& out_dir) {
  Model::Impl& im = TrainAccess::impl(model);
  KBERT_CHECK(!corpus.empty(), "the pre-training corpus is empty");
  check_pretrain_options(o);
  KBERT_CHECK(im.spec.head == HeadKind::kNone, "pre-training trains an encoder: the model must have no head");
  const bool electra = o.objective == "electra";
  Pretraining pretraining(im, corpus, o);

  TrainTask task;
  task.size = corpus.size();
  task.length = [&](std::size_t i) { return corpus[i].size(); };
  task.aux = pretraining.aux();
  task.loss = [&](const std::vector<std::size_t>& examples, std::uint64_t seed) { return pretraining.loss(examples, seed); };
  Fnv corpus_hash;
  for (const auto& text : corpus) corpus_hash.add(text);
  task.fingerprint = {{"task", electra ? "electra" : "mlm"},
                      {"corpus", corpus_hash.hex() + "/" + std::to_string(corpus.size())},
                      {"mask_probability", o.mask_probability},
                      {"whole_word", o.whole_word}};
  if (electra) {
    task.fingerprint["generator_layers"] = o.generator_layers;
    task.fingerprint["discriminator_weight"] = o.discriminator_weight;
  }

  const TrainResult r = run_training(model, task, false, false, o, out_dir);
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

std::vector<std::string> read_corpus(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw FileError(path, "cannot open corpus");
  std::vector<std::string> corpus;
  std::string line;
  while (std::getline(in, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.find_first_not_of(" \t") != std::string::npos) corpus.push_back(line);
  }
  if (in.bad()) throw FileError(path, "read error");
  return corpus;
}

PretrainResult run_pretrain_job(const PretrainJob& job) {
  KBERT_CHECK(!job.out.empty(), "pre-training needs an output directory");
  KBERT_CHECK(job.model_dir.empty() != job.config.empty(),
              job.model_dir.empty() ? "pre-training needs a model directory or a config and a vocabulary"
                                    : "a model directory and a config both given; neither wins: start from one");
  KBERT_CHECK(job.config.empty() || !job.vocab.empty(), "a new encoder (config) needs a vocabulary");
  const std::vector<std::string> corpus = read_corpus(job.corpus);
  set_random_seed(job.options.seed);
  RunOptions run;
  run.threads = job.threads;
  run.precision = Precision::kFloat32;  // loaded to be trained: the loop applies its own precision
  Model model;
  if (!job.model_dir.empty()) {
    KBERT_CHECK(job.kg_files.size() <= 1, "a model directory's KG is replaced by one file, got ", job.kg_files.size(),
                " (compile several into one: kbert kg compile)");
    if (job.kg_none) run.kg = "none";
    else if (!job.kg_files.empty()) run.kg = job.kg_files.front();
    model = Model::load(job.model_dir, run);
    if (model.spec().head != HeadKind::kNone) model.reset_head(HeadKind::kNone, Pooling::kFirst, {});
  } else {
    ModelSpec spec;
    spec.tokenizer.kind = job.tokenizer;
    spec.tree = job.tree;
    spec.tree.add_special = true;
    if (!job.kg_none) spec.kg_files = job.kg_files;
    spec.segments = spec.tokenizer.kind == "char" ? SegmentConvention::kUer : SegmentConvention::kHuggingFace;
    model = Model::create(job.config, spec, job.vocab, run);
  }
  return pretrain_encoder(model, corpus, job.options, job.out);
}

std::string to_json(const PretrainResult& r) {
  const nlohmann::json j = {{"epochs", r.epochs_run}, {"steps", r.steps}, {"first_loss", r.first_loss},
                            {"final_loss", r.final_loss}, {"seconds", r.seconds}, {"texts_per_s", r.texts_per_second},
                            {"interrupted", r.interrupted}};
  return j.dump();
}

}  // namespace kbert
