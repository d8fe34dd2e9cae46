// What a loaded model answers: predict, explain, embed, bench (tag: tagging.cpp).
#include <cstdlib>
#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <stdexcept>
#include <string>
#include <vector>

#include "kbert/common/error.hpp"
#include "kbert/model/model.hpp"
#include "model/model_impl.hpp"
#include "model/run_batches.hpp"

namespace kbert {

namespace {

// One row of logits: refuses NaN or infinity, naming the text (1-based).
void check_finite(const float* logits, std::int64_t classes, std::size_t text) {
  for (std::int64_t c = 0; c < classes; ++c)
    if (!std::isfinite(logits[c]))
      throw std::runtime_error("text " + std::to_string(text + 1) + ": the model's output is not a number (NaN or " +
                               "infinite logits): its weights or the input are broken");
}

// The predicted label of a row of logits: the first largest.
std::int64_t argmax(const std::vector<float>& logits) {
  return std::max_element(logits.begin(), logits.end()) - logits.begin();
}

}  // namespace

std::string Model::label_name(std::int64_t id) const {
  const auto& labels = impl_->spec.labels;
  return id >= 0 && static_cast<std::size_t>(id) < labels.size() ? labels[static_cast<std::size_t>(id)]
                                                                   : std::to_string(id);
}

std::vector<Prediction> Model::predict(const std::vector<std::string>& texts, const std::vector<std::string>& texts_b) const {
  const Impl& im = *impl_;
  KBERT_CHECK(im.net->head, "this model has no classification head (kbert.json head is none)");
  KBERT_CHECK(im.spec.head != HeadKind::kTagger, "this is a token-classification (NER) model: use tag()");
  std::vector<Prediction> out(texts.size());
  im.run_batches(texts, texts_b, [&](const Batch&, const torch::Tensor&, const torch::Tensor& logits,
                                     const std::vector<std::size_t>& idx, std::vector<SentenceTree>& trees,
                                     const std::vector<std::size_t>& order, std::size_t k, std::size_t) {
    torch::Tensor probs = at::softmax(logits, -1).contiguous();
    torch::Tensor lg = logits.contiguous();
    const auto C = lg.size(1);
    for (std::size_t r = 0; r < idx.size(); ++r) {
      Prediction& p = out[idx[r]];
      const float* l = lg.data_ptr<float>() + r * C;
      const float* pr = probs.data_ptr<float>() + r * C;
      check_finite(l, C, idx[r]);
      p.logits.assign(l, l + C);
      p.probs.assign(pr, pr + C);
      p.label = argmax(p.logits);
      p.label_name = label_name(p.label);
      p.injected = std::move(trees[order[k + r]].injected);
    }
  });
  return out;
}

std::vector<Explanation> Model::explain(const std::vector<std::string>& texts) const {
  const Impl& im = *impl_;
  KBERT_CHECK(im.net->head, "this model has no classification head (kbert.json head is none)");
  KBERT_CHECK(im.spec.head != HeadKind::kTagger, "explain is for classifiers; this is a token-classification (NER) model");
  std::vector<Explanation> out(texts.size());
  // A few texts at a time: each brings one tree per injected fact.
  const std::size_t group = 64;
  for (std::size_t g0 = 0; g0 < texts.size(); g0 += group) {
    const std::size_t g1 = std::min(texts.size(), g0 + group);
    std::vector<SentenceTree> base(g1 - g0);
    std::vector<std::pair<std::size_t, std::int64_t>> items;  // (text, injected fact or -1 for the whole tree)
    for (std::size_t i = g0; i < g1; ++i) {
      try {
        base[i - g0] = im.builder->build(texts[i]);
      } catch (const std::invalid_argument& e) {
        throw std::invalid_argument("text " + std::to_string(i + 1) + ": " + e.what());
      }
      for (std::int64_t j = -1; j < static_cast<std::int64_t>(base[i - g0].injected.size()); ++j) items.push_back({i, j});
    }
    std::vector<std::vector<float>> probs(items.size()), logit_rows(items.size());
    im.run_tree_batches(
        items.size(),
        [&](std::size_t k) {
          const SentenceTree& t = base[items[k].first - g0];
          return items[k].second < 0 ? t : remove_branch(t, static_cast<std::size_t>(items[k].second));
        },
        [&](std::size_t k) { return items[k].first; }, texts, {},
        [&](const Batch&, const torch::Tensor&, const torch::Tensor& logits, const std::vector<std::size_t>& idx,
            std::vector<SentenceTree>&, const std::vector<std::size_t>&, std::size_t, std::size_t) {
          torch::Tensor p = at::softmax(logits, -1).contiguous(), l = logits.contiguous();
          const auto C = p.size(1);
          for (std::size_t r = 0; r < idx.size(); ++r) {
            const float* row = p.data_ptr<float>() + r * C;
            const float* lrow = l.data_ptr<float>() + r * C;
            check_finite(lrow, C, items[idx[r]].first);
            probs[idx[r]].assign(row, row + C);
            logit_rows[idx[r]].assign(lrow, lrow + C);
          }
        },
        // A fact's removal removes it from the lexical side channel too, where the model counts
        // its words there (lexical_knowledge): the change is then the fact's whole effect.
        [&](std::size_t k) -> const InjectedTriple* {
          if (items[k].second < 0 || !im.spec.lexical_knowledge) return nullptr;
          return &base[items[k].first - g0].injected[static_cast<std::size_t>(items[k].second)];
        });
    std::size_t k = 0;
    for (std::size_t i = g0; i < g1; ++i) {
      Explanation& e = out[i];
      const std::vector<float>& p = probs[k];
      e.prediction.logits = logit_rows[k++];
      e.prediction.probs = p;
      e.prediction.label = argmax(e.prediction.logits);  // as predict() decides
      e.prediction.label_name = label_name(e.prediction.label);
      e.prediction.injected = base[i - g0].injected;
      const float with = p[static_cast<std::size_t>(e.prediction.label)];
      const std::vector<float> gates = im.gate_values(base[i - g0]);
      for (std::size_t f = 0; f < base[i - g0].injected.size(); ++f) {
        const InjectedTriple& fact = base[i - g0].injected[f];
        const std::vector<float>& q = probs[k++];
        FactAttribution a;
        a.fact = fact;
        if (!gates.empty()) a.gate = gates[f];
        a.prob_without = q[static_cast<std::size_t>(e.prediction.label)];
        a.change = a.prob_without - with;
        a.label_without = argmax(logit_rows[k - 1]);
        e.facts.push_back(std::move(a));
      }
    }
  }
  return out;
}

Matrix Model::embed(const std::vector<std::string>& texts, EmbedPooling pooling, bool normalize,
                    const std::vector<std::string>& texts_b) const {
  const Impl& im = *impl_;
  const auto H = im.config.hidden_size;
  Matrix m;
  m.cols = static_cast<std::size_t>(H);
  std::vector<std::vector<float>> rows(texts.size());
  std::vector<std::vector<std::vector<float>>> token_rows(pooling == EmbedPooling::kTokens ? texts.size() : 0);
  im.run_batches(texts, texts_b, [&](const Batch& b, const torch::Tensor& hidden, const torch::Tensor&,
                                     const std::vector<std::size_t>& idx, std::vector<SentenceTree>&,
                                     const std::vector<std::size_t>&, std::size_t, std::size_t) {
    torch::Tensor h = hidden.contiguous();
    for (std::size_t r = 0; r < idx.size(); ++r) {
      const std::int64_t n = b.lengths[r];
      torch::Tensor x = h[static_cast<std::int64_t>(r)].narrow(0, 0, std::max<std::int64_t>(n, 1));
      if (n == 0) x = torch::zeros({1, H});
      if (pooling == EmbedPooling::kTokens) {
        torch::Tensor t = normalize ? x / x.norm(2, {-1}, /*keepdim=*/true).clamp_min(1e-12) : x;
        t = t.contiguous();
        for (std::int64_t i = 0; i < n; ++i) {
          const float* p = t.data_ptr<float>() + i * H;
          token_rows[idx[r]].emplace_back(p, p + H);
        }
        continue;
      }
      torch::Tensor v = pooling == EmbedPooling::kCls ? x[0] : pooling == EmbedPooling::kMean ? x.mean(0) : std::get<0>(x.max(0));
      if (normalize) v = v / v.norm().clamp_min(1e-12);
      v = v.contiguous();
      rows[idx[r]].assign(v.data_ptr<float>(), v.data_ptr<float>() + H);
    }
  });
  if (pooling == EmbedPooling::kTokens) {
    for (std::size_t t = 0; t < token_rows.size(); ++t)
      for (auto& row : token_rows[t]) {
        m.data.insert(m.data.end(), row.begin(), row.end());
        m.row_text.push_back(t);
      }
    m.rows = m.row_text.size();
  } else {
    m.rows = rows.size();
    for (auto& row : rows) m.data.insert(m.data.end(), row.begin(), row.end());
  }
  return m;
}

EncoderBench Model::bench(const std::vector<std::string>& texts) const {
  const Impl& im = *impl_;
  EncoderBench r;
  r.texts = texts.size();
  r.threads = at::get_num_threads();
  const double H = static_cast<double>(im.config.hidden_size), I = static_cast<double>(im.config.intermediate_size);
  const double layers = static_cast<double>(im.config.num_layers);
  im.forward_seconds = 0;
  auto t0 = std::chrono::steady_clock::now();
  im.run_batches(texts, {}, [&](const Batch& b, const torch::Tensor&, const torch::Tensor&, const std::vector<std::size_t>& idx,
                                std::vector<SentenceTree>&, const std::vector<std::size_t>&, std::size_t, std::size_t) {
    const double L = static_cast<double>(b.L), B = static_cast<double>(idx.size());
    // Per layer and sequence: QKV 6LH^2, scores and context 4L^2H, output 2LH^2, FFN 4LHI.
    r.flops += B * layers * (8.0 * L * H * H + 4.0 * L * L * H + 4.0 * L * H * I);
    r.padded_tokens += static_cast<std::size_t>(B * L);
    for (auto n : b.lengths) r.tokens += static_cast<std::size_t>(n);
  });
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  r.forward_seconds = im.forward_seconds;
  r.precision = im.run.precision;
  const cpu::Info& c = cpu::info();
  const char* aten = std::getenv("ATEN_CPU_CAPABILITY");
  const std::string packed = im.net->bert->layers.empty() ? std::string() : im.net->bert->layers[0]->packed_kernel();
  switch (r.precision) {
    case Precision::kBFloat16: r.kernels = "bf16 via oneDNN " + packed; break;
    case Precision::kInt8: r.kernels = "int8 via oneDNN " + packed; break;
    default: {
      // OpenBLAS's own name for its kernels (a user's OPENBLAS_CORETYPE may choose narrower
      // ones than the CPU runs); the CPU's widest ISA where no OpenBLAS is loaded.
      const std::string blas = cpu::blas_kernels();
      r.kernels = blas.empty() ? std::string("fp32 via BLAS ") + (aten ? aten : cpu::best_isa(c))
                               : "fp32 via OpenBLAS " + blas;
    }
  }
  return r;
}

}  // namespace kbert
