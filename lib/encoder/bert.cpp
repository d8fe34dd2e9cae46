#include "encoder/bert.hpp"

#include <ATen/autocast_mode.h>
#include <torch/torch.h>

#include <cmath>

#include "encoder/packed_linear.hpp"

namespace kbert::nn {

namespace {
thread_local bool skip_init = false;
torch::Tensor normal(at::IntArrayRef sizes) {
  torch::Tensor t = torch::empty(sizes);
  return skip_init ? t : t.normal_(0, 0.02);
}
}  // namespace

namespace {
// bfloat16 autocast on this thread while alive, when `on`.
struct BFloat16Autocast {
  explicit BFloat16Autocast(bool o) : on(o) {
    if (!on) return;
    at::autocast::set_cpu_enabled(true);
    at::autocast::set_autocast_cpu_dtype(at::kBFloat16);
    at::autocast::increment_nesting();
  }
  ~BFloat16Autocast() {
    if (!on) return;
    if (at::autocast::decrement_nesting() == 0) at::autocast::clear_cache();
    at::autocast::set_cpu_enabled(false);
  }
  BFloat16Autocast(const BFloat16Autocast&) = delete;
  BFloat16Autocast& operator=(const BFloat16Autocast&) = delete;
  bool on;
};
}  // namespace

SkipInit::SkipInit() : previous_(skip_init) { skip_init = true; }
SkipInit::~SkipInit() { skip_init = previous_; }

LayerNormImpl::LayerNormImpl(std::int64_t hidden, LayerNormKind kind, double eps)
    : hidden_(hidden), kind_(kind), eps_(eps) {
  weight = register_parameter("weight", torch::ones({hidden}));
  bias = register_parameter("bias", torch::zeros({hidden}));
}

torch::Tensor LayerNormImpl::forward(const torch::Tensor& x0) {
  // Statistics in float32 whatever the input (bfloat16 under autocast).
  const torch::Tensor x = x0.scalar_type() == at::kFloat ? x0 : x0.to(at::kFloat);
  if (kind_ == LayerNormKind::kHuggingFace) return at::layer_norm(x, {hidden_}, weight, bias, eps_);
  // UER: gamma * (x - mean) / (std + eps) + beta, std unbiased, eps added to std.
  // Out of place: autograd needs `centered` as it was.
  torch::Tensor mean = x.mean(-1, /*keepdim=*/true);
  torch::Tensor centered = x - mean;
  torch::Tensor std = (centered.pow(2).sum(-1, true) / static_cast<double>(hidden_ - 1)).sqrt();
  return centered / (std + eps_) * weight + bias;
}

void LayerNormImpl::forward_inplace(torch::Tensor& x, Workspace& ws) {
  if (kind_ == LayerNormKind::kHuggingFace) {
    x.copy_(at::layer_norm(x, {hidden_}, weight, bias, eps_));
    return;
  }
  // UER's (x - mean) / (unbiased std + eps) from the fused LayerNorm kernel:
  // y = (x - mean) * rstd with rstd = 1 / sqrt(biased var + tiny), s = 1 / rstd, and
  // UER's value is y * s / (s * sqrt(H / (H - 1)) + eps). Three passes instead of six.
  auto [y, mean, rstd] = at::native_layer_norm(x, {hidden_}, {}, {}, 1e-30);
  const double c = std::sqrt(static_cast<double>(hidden_) / static_cast<double>(hidden_ - 1));
  torch::Tensor s = rstd.reciprocal();
  torch::Tensor f = s / (s * c + eps_);
  x.copy_(y.mul_(f)).mul_(weight).add_(bias);
}

LinearImpl::LinearImpl(std::int64_t in, std::int64_t out) {
  weight = register_parameter("weight", normal({out, in}));
  bias = register_parameter("bias", torch::zeros({out}));
}

torch::Tensor LinearImpl::forward(const torch::Tensor& x) { return at::linear(x, weight, bias); }

EmbeddingsImpl::EmbeddingsImpl(const BertConfig& c) : dropout_(c.dropout) {
  word_embeddings = register_parameter("word_embeddings", normal({c.vocab_size, c.hidden_size}));
  position_embeddings = register_parameter("position_embeddings", normal({c.max_position, c.hidden_size}));
  token_type_embeddings =
      register_parameter("token_type_embeddings", normal({c.type_vocab_size, c.hidden_size}));
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

KnowledgeGateImpl::KnowledgeGateImpl(std::int64_t hidden) {
  weight = register_parameter("weight", torch::zeros({hidden}));
  bias = register_parameter("bias", torch::zeros({1}));
}

torch::Tensor KnowledgeGateImpl::forward(const torch::Tensor& word_embeddings, const GateInput& in) {
  // Mean embedding of each fact's branch tokens (mode 1 = mean).
  torch::Tensor e = std::get<0>(at::embedding_bag(word_embeddings, in.ids, in.offsets, false, 1));
  torch::Tensor z = at::matmul(e.to(at::kFloat), weight) + bias;  // [F]
  // relu forward, identity backward (straight through): a closed gate keeps its gradient.
  return z + (at::relu(z) - z).detach();
}

torch::Tensor KnowledgeGateImpl::attention_weights(const torch::Tensor& gates, const GateInput& in, std::int64_t B,
                                                   std::int64_t L) {
  torch::Tensor w = torch::ones({B, L, L}, gates.options());
  w.index_put_({in.entries[0], in.entries[1], in.entries[2]}, gates.index_select(0, in.entries[3]));
  return w.unsqueeze(1);
}

torch::Tensor LayerImpl::forward(const torch::Tensor& x, const torch::Tensor& mask, const torch::Tensor& gate) {
  const auto B = x.size(0), L = x.size(1), H = x.size(2);
  // One GEMM for Q, K and V; heads split by views.
  torch::Tensor qkv_out = qkv(x).view({B, L, 3, heads_, head_dim_}).permute({2, 0, 3, 1, 4});
  torch::Tensor q = qkv_out[0], k = qkv_out[1], v = qkv_out[2];  // [B, h, L, d]
  const double scale = 1.0 / std::sqrt(static_cast<double>(head_dim_));
  // Under bfloat16 autocast the products run in bfloat16; the mask, the softmax and the
  // residual stream stay in float32.
  const bool low = at::autocast::is_cpu_enabled();
  torch::Tensor scores = at::matmul(q, k.transpose(-1, -2));      // [B, h, L, L]
  if (low) scores = scores.to(at::kFloat);
  scores.mul_(scale).add_(mask);
  torch::Tensor probs = at::softmax(scores, -1);
  if (gate.defined()) {  // the knowledge gate: the gated pairs' share scaled, the row renormalised
    probs = probs * gate;
    probs = probs / probs.sum(-1, /*keepdim=*/true);
  }
  probs = torch::dropout(probs, attention_dropout_, is_training());
  torch::Tensor ctx = at::matmul(probs, v).permute({0, 2, 1, 3}).reshape({B, L, H});
  torch::Tensor a = torch::dropout(attention_output(ctx), dropout_, is_training());
  torch::Tensor h1 = attention_norm(low ? x + a : a.add_(x));
  torch::Tensor f = output(at::gelu(intermediate(h1)));
  f = torch::dropout(f, dropout_, is_training());
  return output_norm(low ? h1 + f : f.add_(h1));
}

BertImpl::BertImpl(const BertConfig& c) {
  embeddings = register_module("embeddings", Embeddings(c));
  for (std::int64_t i = 0; i < c.num_layers; ++i) layers.push_back(register_module("layer" + std::to_string(i), Layer(c)));
}

void BertImpl::set_knowledge_gate(bool on) {
  if (on == static_cast<bool>(gate)) return;
  if (on) {
    gate = register_module("gate", KnowledgeGate(embeddings->word_embeddings.size(1)));
  } else {
    unregister_module("gate");
    gate = nullptr;
  }
}

torch::Tensor BertImpl::forward(const torch::Tensor& ids, const torch::Tensor& positions, const torch::Tensor& segments,
                                const torch::Tensor& mask, const GateInput* gate_input) {
  torch::Tensor x = embeddings(ids, positions, segments);
  torch::Tensor weights;  // the knowledge gate's attention multipliers, when it has facts to gate
  if (gate && gate_input && !gate_input->empty()) {
    torch::Tensor g = gate(embeddings->word_embeddings, *gate_input);
    weights = gate->attention_weights(g, *gate_input, x.size(0), x.size(1));
  }
  const bool autograd = is_training() || at::GradMode::is_enabled();
  if (weights.defined() || autograd || at::autocast::is_cpu_enabled()) {
    // The knowledge gate's reweighted attention has no workspace path: in bf16 inference it
    // runs under autocast here (int8: float32).
    BFloat16Autocast cast(!autograd && precision_ == Precision::kBFloat16 && !at::autocast::is_cpu_enabled());
    for (auto& layer : layers) x = layer(x, mask, weights);
    if (cast.on) x = x.to(at::kFloat);
    return x;
  }
  // Inference: two hidden buffers in turn, every other buffer reused.
  if (prepared_ != precision_) {
    for (auto& layer : layers) layer->prepare(precision_);
    prepared_ = precision_;
  }
  const auto B = x.size(0), L = x.size(1), H = x.size(2);
  torch::Tensor cur = x.view({B * L, H});
  torch::Tensor m = mask;
  if (precision_ == Precision::kBFloat16) {  // the scores are bfloat16: so is the mask added to them
    if (!ws_.mask.defined() || ws_.mask.scalar_type() != at::kBFloat16) ws_.mask = torch::empty({0}, at::kBFloat16);
    ws_.mask.resize_(mask.sizes()).copy_(mask);
    m = ws_.mask;
  }
  torch::Tensor* bufs[2] = {&ws_.out0, &ws_.out1};
  for (std::size_t i = 0; i < layers.size(); ++i) {
    torch::Tensor& out = *bufs[i % 2];
    layers[i]->forward_inference(cur, m, B, L, ws_, out, precision_);
    cur = out;
  }
  return cur.view({B, L, H}).clone();
}

void BertImpl::set_precision(Precision p) {
  if (p == Precision::kAuto) throw std::invalid_argument("set_precision: resolve kAuto first (resolve_precision)");
  if (p == Precision::kBFloat16) require_bf16_products();
  precision_ = p;
}

void BertImpl::train(bool on) {
  if (on && prepared_ != Precision::kFloat32) {
    for (auto& layer : layers) layer->release();
    prepared_ = Precision::kFloat32;
  }
  torch::nn::Module::train(on);
}

}  // namespace kbert::nn
