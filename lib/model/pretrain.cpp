#include "model/train_loop.hpp"

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
    std::vector<SentenceTree> trees;
    for (std::size_t k : examples) trees.push_back(im.builder->build(corpus[k]));
    std::vector<std::vector<std::int64_t>> labels(trees.size());
    std::size_t chosen_total = 0;
    for (std::size_t t = 0; t < trees.size(); ++t) {
      // Each text's masks come from the batch seed and the text's index: a resumed run, or
      // ranks sharing the batch, draw the same ones.
      std::mt19937_64 rng(seed ^ (0x9E3779B97F4A7C15ull * (examples[t] + 1)));
      std::uniform_real_distribution<double> u(0.0, 1.0);
      std::uniform_int_distribution<std::int32_t> random_token(0, vocab_size - 1);
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
    torch::Tensor hidden = im.net->bert->forward(batch.ids, batch.positions, batch.segments, batch.mask);
    if (chosen_total == 0) return TaskLoss{hidden.sum() * 0.0, 0.0};  // nothing masked (very short texts): no gradient
    // The vocabulary projection only for the chosen positions (about 15% of them).
    torch::Tensor flat_y = y.view({-1});
    torch::Tensor chosen = flat_y.ne(-100).nonzero().squeeze(1);
    torch::Tensor picked = hidden.reshape({-1, im.config.hidden_size}).index_select(0, chosen);
    torch::Tensor logits = head->forward(picked, im.net->bert->embeddings->word_embeddings).to(torch::kFloat);
    return TaskLoss{torch::nn::functional::cross_entropy(logits, flat_y.index_select(0, chosen)),
                    static_cast<double>(chosen_total)};
  };
  Fnv corpus_hash;
  for (const auto& text : corpus) corpus_hash.add(text);
  task.fingerprint = {{"task", "mlm"}, {"corpus", corpus_hash.hex() + "/" + std::to_string(corpus.size())},
                      {"mask_probability", o.mask_probability}, {"whole_word", o.whole_word}};

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

}  // namespace kbert
