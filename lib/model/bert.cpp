#include "model/bert.hpp"

#include <torch/torch.h>

#include <cmath>

namespace kbert::nn {

LayerNormImpl::LayerNormImpl(std::int64_t hidden, LayerNormKind kind, double eps)
    : hidden_(hidden), kind_(kind), eps_(eps) {
  weight = register_parameter("weight", torch::ones({hidden}));
  bias = register_parameter("bias", torch::zeros({hidden}));
}

torch::Tensor LayerNormImpl::forward(const torch::Tensor& x) {
  if (kind_ == LayerNormKind::kHuggingFace) return at::layer_norm(x, {hidden_}, weight, bias, eps_);
  // UER: gamma * (x - mean) / (std + eps) + beta, std unbiased, eps added to std.
  torch::Tensor mean = x.mean(-1, /*keepdim=*/true);
  torch::Tensor centered = x - mean;
  torch::Tensor std = centered.pow(2).sum(-1, true).div_(static_cast<double>(hidden_ - 1)).sqrt_();
  return centered.div_(std.add_(eps_)).mul_(weight).add_(bias);
}

LinearImpl::LinearImpl(std::int64_t in, std::int64_t out) {
  weight = register_parameter("weight", torch::empty({out, in}).normal_(0, 0.02));
  bias = register_parameter("bias", torch::zeros({out}));
}

torch::Tensor LinearImpl::forward(const torch::Tensor& x) { return at::linear(x, weight, bias); }

EmbeddingsImpl::EmbeddingsImpl(const BertConfig& c) : dropout_(c.dropout) {
  word_embeddings = register_parameter("word_embeddings", torch::empty({c.vocab_size, c.hidden_size}).normal_(0, 0.02));
  position_embeddings = register_parameter("position_embeddings", torch::empty({c.max_position, c.hidden_size}).normal_(0, 0.02));
  token_type_embeddings =
      register_parameter("token_type_embeddings", torch::empty({c.type_vocab_size, c.hidden_size}).normal_(0, 0.02));
  layer_norm = register_module("LayerNorm", LayerNorm(c.hidden_size, c.layer_norm, c.layer_norm_eps));
}

torch::Tensor EmbeddingsImpl::forward(const torch::Tensor& ids, const torch::Tensor& positions,
                                      const torch::Tensor& segments) {
  torch::Tensor x = at::embedding(word_embeddings, ids);
  x.add_(at::embedding(position_embeddings, positions)).add_(at::embedding(token_type_embeddings, segments));
  x = layer_norm(x);
  return torch::dropout(x, dropout_, is_training());
}

LayerImpl::LayerImpl(const BertConfig& c)
    : heads_(c.num_heads), head_dim_(c.hidden_size / c.num_heads), dropout_(c.dropout), attention_dropout_(c.attention_dropout) {
  const auto h = c.hidden_size;
  qkv = register_module("qkv", Linear(h, 3 * h));
  attention_output = register_module("attention_output", Linear(h, h));
  attention_norm = register_module("attention_norm", LayerNorm(h, c.layer_norm, c.layer_norm_eps));
  intermediate = register_module("intermediate", Linear(h, c.intermediate_size));
  output = register_module("output", Linear(c.intermediate_size, h));
  output_norm = register_module("output_norm", LayerNorm(h, c.layer_norm, c.layer_norm_eps));
}

torch::Tensor LayerImpl::forward(const torch::Tensor& x, const torch::Tensor& mask) {
  const auto B = x.size(0), L = x.size(1), H = x.size(2);
  // One GEMM for Q, K and V; heads split by views.
  torch::Tensor qkv_out = qkv(x).view({B, L, 3, heads_, head_dim_}).permute({2, 0, 3, 1, 4});
  torch::Tensor q = qkv_out[0], k = qkv_out[1], v = qkv_out[2];  // [B, h, L, d]
  const double scale = 1.0 / std::sqrt(static_cast<double>(head_dim_));
  torch::Tensor scores = at::matmul(q, k.transpose(-1, -2));      // [B, h, L, L]
  scores.mul_(scale).add_(mask);
  torch::Tensor probs = at::softmax(scores, -1);
  probs = torch::dropout(probs, attention_dropout_, is_training());
  torch::Tensor ctx = at::matmul(probs, v).permute({0, 2, 1, 3}).reshape({B, L, H});
  torch::Tensor a = torch::dropout(attention_output(ctx), dropout_, is_training());
  torch::Tensor h1 = attention_norm(a.add_(x));
  torch::Tensor f = output(at::gelu(intermediate(h1)));
  f = torch::dropout(f, dropout_, is_training());
  return output_norm(f.add_(h1));
}

BertImpl::BertImpl(const BertConfig& c) {
  embeddings = register_module("embeddings", Embeddings(c));
  for (std::int64_t i = 0; i < c.num_layers; ++i) layers.push_back(register_module("layer" + std::to_string(i), Layer(c)));
}

torch::Tensor BertImpl::forward(const torch::Tensor& ids, const torch::Tensor& positions, const torch::Tensor& segments,
                                const torch::Tensor& mask) {
  torch::Tensor x = embeddings(ids, positions, segments);
  for (auto& layer : layers) x = layer(x, mask);
  return x;
}

HeadImpl::HeadImpl(HeadKind k, Pooling p, std::int64_t hidden, std::int64_t labels, double dropout)
    : kind(k), pooling(p), dropout_(dropout) {
  dense = register_module("dense", Linear(hidden, hidden));
  out = register_module("out", Linear(hidden, labels));
}

torch::Tensor HeadImpl::forward(const torch::Tensor& hidden) {
  torch::Tensor pooled;
  if (kind == HeadKind::kHf) {
    pooled = hidden.select(1, 0);
  } else {
    switch (pooling) {
      case Pooling::kMean: pooled = hidden.mean(1); break;
      case Pooling::kMax: pooled = std::get<0>(hidden.max(1)); break;
      case Pooling::kLast: pooled = hidden.select(1, hidden.size(1) - 1); break;
      case Pooling::kFirst: pooled = hidden.select(1, 0); break;
    }
  }
  torch::Tensor h = at::tanh(dense(pooled));
  if (kind == HeadKind::kHf) h = torch::dropout(h, dropout_, is_training());  // K-BERT's head has none
  return out(h);
}

}  // namespace kbert::nn

namespace kbert::nn {

NetworkImpl::NetworkImpl(const BertConfig& c, HeadKind head_kind, Pooling pooling, std::int64_t labels) {
  bert = register_module("bert", Bert(c));
  if (head_kind != HeadKind::kNone) head = register_module("head", Head(head_kind, pooling, c.hidden_size, labels, c.dropout));
}

}  // namespace kbert::nn
