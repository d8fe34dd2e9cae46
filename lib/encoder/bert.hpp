// The BERT encoder and heads as LibTorch modules (private to kbert::model).
//
// Post-LN transformer: h1 = LN1(dropout(MHA(h)) + h); h2 = LN2(dropout(W2 gelu(W1 h1)) + h1),
// exact erf GELU, attention scores QK^T / sqrt(d) + mask with the visible matrix as an
// additive mask over heads (0 visible, -10000 not). Both LayerNorm flavours.
// Parameter names are kbert's own (fused QKV); encoder/checkpoint.cpp maps HF and UER names.
// The heads and the whole network (encoder + head): encoder/head.hpp.
#pragma once

#include <array>
#include <memory>
#include <string>
#include <vector>

#include <torch/nn/module.h>
#include <torch/nn/pimpl.h>

#include "kbert/model/config.hpp"
#include "kbert/model/model.hpp"

namespace kbert::nn {

/// While alive on this thread, new modules leave their parameters uninitialised (their
/// values are about to be loaded from a checkpoint; drawing 100M random numbers is waste).
class SkipInit {
 public:
  SkipInit();
  ~SkipInit();

 private:
  bool previous_;
};

/// Buffers reused from layer to layer and batch to batch in inference, so that the
/// forward pass does not allocate (and page-fault) hundreds of MB per layer.
/// Their element type follows the precision (bfloat16 buffers for the products' inputs and
/// outputs under kBFloat16; the residual stream and LayerNorm stay float32).
struct Workspace {
  torch::Tensor qkv, scores, ctx, ctx2, attn, inter, out0, out1, low_in, low_out, mask;
};

class PackedLinear;

class LayerNormImpl : public torch::nn::Module {
 public:
  LayerNormImpl(std::int64_t hidden, LayerNormKind kind, double eps);
  torch::Tensor forward(const torch::Tensor& x);
  /// Normalises x [N, H] in place (inference).
  void forward_inplace(torch::Tensor& x, Workspace& ws);

  torch::Tensor weight, bias;

 private:
  std::int64_t hidden_;
  LayerNormKind kind_;
  double eps_;
};
TORCH_MODULE(LayerNorm);

class LinearImpl : public torch::nn::Module {
 public:
  LinearImpl(std::int64_t in, std::int64_t out);
  torch::Tensor forward(const torch::Tensor& x);
  torch::Tensor weight, bias;
};
TORCH_MODULE(Linear);

class EmbeddingsImpl : public torch::nn::Module {
 public:
  explicit EmbeddingsImpl(const BertConfig& c);
  torch::Tensor forward(const torch::Tensor& ids, const torch::Tensor& positions, const torch::Tensor& segments);

  torch::Tensor word_embeddings, position_embeddings, token_type_embeddings;
  LayerNorm layer_norm{nullptr};

 private:
  double dropout_;
};
TORCH_MODULE(Embeddings);

/// The facts of a batch as the knowledge gate reads them (Batch::gate; empty without a gate).
struct GateInput {
  torch::Tensor ids, offsets;  ///< embedding_bag form: the vocabulary ids of each fact's branch tokens
  torch::Tensor entries;       ///< [4, E] int64: batch row, mention token (query), branch token (key), fact
  std::vector<std::int64_t> row, fact;  ///< per gated fact: its batch row and its index in the tree's `injected`
  bool empty() const { return !entries.defined() || entries.size(1) == 0; }
};

/// The knowledge gate (ModelSpec::knowledge_gate; off by default, K-BERT exactly). One scalar
/// per injected fact, g = relu(w . e + b), e the mean word embedding of the fact's branch
/// tokens (its relation and object), multiplies what the mention's tokens take from that
/// branch in every layer's attention: p_ij -> p_ij g / (sum over the row of p_ik g_ik), g = 1
/// for every other pair. w and b start at 0, so every gate starts closed and the model
/// computes exactly what it computes without the facts (the trunk never reads a branch); the
/// ReLU passes its gradient straight through (g' = 1), so a closed gate still learns whether
/// opening it would lower the loss, and opens only then.
class KnowledgeGateImpl : public torch::nn::Module {
 public:
  explicit KnowledgeGateImpl(std::int64_t hidden);
  /// The gates [F] of the facts of `in`.
  torch::Tensor forward(const torch::Tensor& word_embeddings, const GateInput& in);
  /// The attention multipliers [B, 1, L, L] (1 but at the gated pairs) for a batch of B x L.
  torch::Tensor attention_weights(const torch::Tensor& gates, const GateInput& in, std::int64_t B, std::int64_t L);
  torch::Tensor weight, bias;
};
TORCH_MODULE(KnowledgeGate);

class LayerImpl : public torch::nn::Module {
 public:
  explicit LayerImpl(const BertConfig& c);
  /// x: [B, L, H]; mask: [B, 1, L, L] additive; gate: [B, 1, L, L] multipliers of the
  /// attention probabilities (the knowledge gate), undefined for none.
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& mask, const torch::Tensor& gate = {});
  /// The same without autograd or allocations, in precision `p` (fp32, bf16 or int8; the
  /// weights of bf16 / int8 made by prepare(p) first): x [B*L, H] float32 in, the result in `out`.
  void forward_inference(const torch::Tensor& x, const torch::Tensor& mask, std::int64_t B, std::int64_t L,
                         Workspace& ws, torch::Tensor& out, Precision p = Precision::kFloat32);
  /// Converts and packs the weights for `p` from the float32 ones, once (none for fp32):
  /// bfloat16 or int8 (PackedLinear), the 1/sqrt(d) of the attention scores folded into Q's.
  void prepare(Precision p);
  /// Drops them (the float32 weights are about to change: training).
  void release() { packed_ = {}; }
  /// The instruction set of the packed products ("" for fp32).
  std::string packed_kernel() const;

  Linear qkv{nullptr}, attention_output{nullptr}, intermediate{nullptr}, output{nullptr};
  LayerNorm attention_norm{nullptr}, output_norm{nullptr};

 private:
  enum Which { kQkv, kAttentionOutput, kIntermediate, kOutput };
  // out = in W^T + b for Linear `w`: float32 (OpenBLAS) without packed weights, else the
  // packed product with its epilogue (bf16: GELU / residual add fused).
  void project(Which w, const torch::Tensor& in, torch::Tensor& out);
  // Scaled-dot-product attention of every sequence from the fused QKV rows into ws.ctx2.
  void attention_inference(const torch::Tensor& qkv_out, const torch::Tensor& mask, std::int64_t B, std::int64_t L,
                           Workspace& ws, at::ScalarType type);
  std::array<std::shared_ptr<PackedLinear>, 4> packed_;  // by Which; empty for fp32
  std::int64_t heads_, head_dim_;
  double dropout_, attention_dropout_;
};
TORCH_MODULE(Layer);

/// Embeddings + layers (+ the HF pooler when the head needs it).
class BertImpl : public torch::nn::Module {
 public:
  explicit BertImpl(const BertConfig& c);
  /// Hidden states [B, L, H] of the last layer. `gate`: the batch's facts, read when the
  /// network has a knowledge gate.
  torch::Tensor forward(const torch::Tensor& ids, const torch::Tensor& positions, const torch::Tensor& segments,
                        const torch::Tensor& mask, const GateInput* gate = nullptr);
  /// Adds (on) or removes (off) the knowledge gate, starting closed.
  void set_knowledge_gate(bool on);
  /// The precision of inference (no autograd): kFloat32, kBFloat16 or kInt8 (kAuto is resolved
  /// by the caller). Low-precision weights are made at the first forward that needs them and
  /// dropped when the network goes into training mode.
  void set_precision(Precision p);
  Precision precision() const { return precision_; }
  void train(bool on = true) override;

  Embeddings embeddings{nullptr};
  std::vector<Layer> layers;
  KnowledgeGate gate{nullptr};  ///< null without a knowledge gate

 private:
  Workspace ws_;
  Precision precision_ = Precision::kFloat32;
  Precision prepared_ = Precision::kFloat32;  ///< the low-precision weights the layers hold
};
TORCH_MODULE(Bert);

}  // namespace kbert::nn
