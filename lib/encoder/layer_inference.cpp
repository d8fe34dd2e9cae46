// A layer's forward pass for inference (no autograd, no allocation after the first batch),
// in float32, bfloat16 or int8 (Precision). What each precision runs in:
//
//             Linear layers               attention products   residual, LayerNorm, softmax
//   fp32      float32 (OpenBLAS)          float32              float32
//   bf16      bfloat16 (oneDNN, packed;   bfloat16             float32 (softmax: float32
//             bias, GELU, residual add                         statistics inside ATen's
//             fused as post-ops)                               bfloat16 kernel)
//   int8      int8 x int8 -> int32        float32              float32
//             (oneDNN, packed; per-token
//             dynamic activations)
//
// bf16 and int8 weights are converted and packed once (prepare), not per call as autocast
// would; the 1/sqrt(d) scale of the scores is folded into Q's weights there.
#include <ATen/Parallel.h>
#include <torch/torch.h>

#include <cmath>

#include "encoder/bert.hpp"
#include "encoder/packed_linear.hpp"

namespace kbert::nn {

namespace {
// Resizes a reusable buffer of element type `type` (its storage only grows).
torch::Tensor& shaped(torch::Tensor& t, at::IntArrayRef sizes, at::ScalarType type = at::kFloat) {
  if (!t.defined() || t.scalar_type() != type) t = torch::empty({0}, type);
  t.resize_(sizes);
  return t;
}
}  // namespace

void LayerImpl::prepare(Precision p) {
  release();
  if (p == Precision::kFloat32) return;
  const PackedType type = p == Precision::kBFloat16 ? PackedType::kBFloat16 : PackedType::kInt8;
  const bool bf16 = type == PackedType::kBFloat16;
  const std::int64_t H = heads_ * head_dim_;
  auto pack = [&](Which w, const Linear& l, Epilogue e, bool float_out, bool scale_q = false) {
    torch::Tensor weight = l->weight.detach().to(torch::kFloat).contiguous(), bias = l->bias.detach().to(torch::kFloat);
    if (scale_q) {  // Q's rows: the scores' 1/sqrt(d), once
      const double s = 1.0 / std::sqrt(static_cast<double>(head_dim_));
      weight = weight.clone(), bias = bias.clone();
      weight.narrow(0, 0, H).mul_(s);
      bias.narrow(0, 0, H).mul_(s);
    }
    bias = bias.contiguous();
    packed_[w] = std::make_shared<PackedLinear>(weight.data_ptr<float>(), bias.data_ptr<float>(), weight.size(0),
                                                weight.size(1), type, e, float_out);
  };
  pack(kQkv, qkv, Epilogue::kNone, !bf16, /*scale_q=*/true);
  pack(kAttentionOutput, attention_output, bf16 ? Epilogue::kAccumulate : Epilogue::kNone, true);
  pack(kIntermediate, intermediate, bf16 ? Epilogue::kGelu : Epilogue::kNone, !bf16);
  pack(kOutput, output, bf16 ? Epilogue::kAccumulate : Epilogue::kNone, true);
}

std::string LayerImpl::packed_kernel() const { return packed_[0] ? packed_[0]->kernel() : std::string(); }

void LayerImpl::project(Which w, const torch::Tensor& in, torch::Tensor& out) {
  if (!packed_[w]) {
    const Linear* lins[4] = {&qkv, &attention_output, &intermediate, &output};
    const Linear& l = *lins[w];
    at::addmm_out(out, l->bias, in, l->weight.t());
    return;
  }
  TORCH_CHECK(in.is_contiguous() && out.is_contiguous(), "packed Linear: contiguous rows expected");
  packed_[w]->forward(in.data_ptr(), in.size(0), out.data_ptr());
}

void LayerImpl::attention_inference(const torch::Tensor& qkv_out, const torch::Tensor& mask, std::int64_t B,
                                    std::int64_t L, Workspace& ws, at::ScalarType type) {
  const std::int64_t H = heads_ * head_dim_;
  // Per sequence, Q, K and V are strided [h, L, d] views of qkv_out: no copies.
  auto heads = qkv_out.view({B, L, 3, heads_, head_dim_}).permute({0, 2, 3, 1, 4});  // [B, 3, h, L, d]
  // Scores are needed one sequence at a time (below): one [h, L, L] buffer per thread.
  const std::int64_t threads = at::get_num_threads();
  torch::Tensor& scores = shaped(ws.scores, {threads, heads_, L, L}, type);
  torch::Tensor& ctx = shaped(ws.ctx, {B, heads_, L, head_dim_}, type);
  // Many small GEMMs: split the sequences between the threads, single-threaded GEMMs
  // each (OpenBLAS runs single-threaded inside a parallel region). One sequence at a
  // time from its scores to its context, so that its [h, L, L] scores (3 MiB for
  // BERT-base at L = 256) stay in cache between the product, the mask, the softmax and
  // the second product instead of making four passes over all B sequences' scores.
  // mask: [B or 1, 1, L, L], additive.
  // parallel_for does not carry thread-local state to its OpenMP workers: set the
  // caller's inference and grad modes in each.
  const bool inference = c10::InferenceMode::is_enabled(), grad = at::GradMode::is_enabled();
  at::parallel_for(0, B, 1, [&](std::int64_t b0, std::int64_t b1) {
    c10::InferenceMode inference_guard(inference);
    at::AutoGradMode grad_guard(grad);
    for (std::int64_t b = b0; b < b1; ++b) {
      const std::int64_t t = at::get_thread_num();
      TORCH_CHECK(t >= 0 && t < threads, "attention: thread ", t, " of ", threads);
      at::Tensor s = scores[t];
      at::bmm_out(s, heads[b][0], heads[b][1].transpose(1, 2));
      s.add_(mask.size(0) == 1 ? mask[0] : mask[b]);
      at::softmax_out(s, s, -1);  // row by row: in place is safe (bfloat16: float32 statistics inside)
      at::Tensor c = ctx[b];
      at::bmm_out(c, s, heads[b][2]);
    }
  });
  torch::Tensor& ctx2 = shaped(ws.ctx2, {B * L, H}, type);
  ctx2.view({B, L, heads_, head_dim_}).copy_(ctx.permute({0, 2, 1, 3}));
}

void LayerImpl::forward_inference(const torch::Tensor& x, const torch::Tensor& mask, std::int64_t B, std::int64_t L,
                                  Workspace& ws, torch::Tensor& out, Precision p) {
  const std::int64_t H = heads_ * head_dim_, N = B * L;
  const bool bf16 = p == Precision::kBFloat16;
  TORCH_CHECK((p == Precision::kFloat32) == !packed_[0], "forward_inference: weights not prepared for ", precision_name(p));
  const at::ScalarType low = bf16 ? at::kBFloat16 : at::kFloat;  // the products' inputs and outputs
  // The residual stream x stays float32; under bf16 the products read a bfloat16 copy.
  const torch::Tensor& x_in = bf16 ? shaped(ws.low_in, {N, H}, low).copy_(x) : x;
  torch::Tensor& qkv_out = shaped(ws.qkv, {N, 3 * H}, low);
  project(kQkv, x_in, qkv_out);
  // The 1/sqrt(d) scale goes on Q (N x H) rather than on the scores (B x h x L x L); packed
  // weights have it already.
  if (!packed_[kQkv]) qkv_out.narrow(1, 0, H).mul_(1.0 / std::sqrt(static_cast<double>(head_dim_)));
  attention_inference(qkv_out, mask, B, L, ws, low);
  torch::Tensor& attn = shaped(ws.attn, {N, H});
  if (bf16) {
    attn.copy_(x);  // the product adds itself to the residual (post-op)
    project(kAttentionOutput, ws.ctx2, attn);
  } else {
    project(kAttentionOutput, ws.ctx2, attn);
    attn.add_(x);
  }
  attention_norm->forward_inplace(attn, ws);
  // The feed-forward block by blocks of rows: the [rows, I] intermediate stays in cache
  // between its GEMM, the GELU and the second GEMM, and never exists for all N rows.
  const std::int64_t I = intermediate->weight.size(0);
  const std::int64_t rows = std::min<std::int64_t>(N, 512);
  torch::Tensor& inter = shaped(ws.inter, {rows, I}, low);
  const torch::Tensor& h_in = bf16 ? shaped(ws.low_in, {N, H}, low).copy_(attn) : attn;
  shaped(out, {N, H});
  if (bf16) out.copy_(attn);
  for (std::int64_t r0 = 0; r0 < N; r0 += rows) {
    const std::int64_t n = std::min(rows, N - r0);
    at::Tensor in_block = inter.narrow(0, 0, n);
    project(kIntermediate, h_in.narrow(0, r0, n), in_block);
    if (!bf16) at::gelu_(in_block);  // bf16: fused
    at::Tensor out_block = out.narrow(0, r0, n);
    project(kOutput, in_block, out_block);
  }
  if (!bf16) out.add_(attn);  // bf16: fused
  output_norm->forward_inplace(out, ws);
}

}  // namespace kbert::nn
