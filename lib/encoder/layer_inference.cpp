// A layer's forward pass for inference (no autograd, no allocation after the first batch),
// in float32, bfloat16 or int8 (Precision). What each precision runs in:
//
//             Linear layers            attention products   residual, LayerNorm, softmax
//   fp32      float32 (OpenBLAS)       float32              float32
//   bf16      bfloat16 (oneDNN)        bfloat16 (oneDNN)    float32 (softmax: float32 inside
//                                                           ATen's bfloat16 kernel)
//   int8      int8 x int8 -> int32     float32              float32
//             (oneDNN, Int8Linear)
//
// bf16's weights are converted once (prepare), not per call as autocast would.
#include <ATen/Parallel.h>
#include <torch/torch.h>

#include <cmath>

#include "encoder/bert.hpp"
#include "encoder/int8_linear.hpp"

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
  const Linear* lins[4] = {&qkv, &attention_output, &intermediate, &output};
  for (int i = 0; i < 4; ++i) {
    const Linear& l = *lins[i];
    if (p == Precision::kBFloat16) {
      low_[i].weight = l->weight.detach().to(at::kBFloat16).contiguous();
      low_[i].bias = l->bias.detach().to(at::kBFloat16);
    } else if (p == Precision::kInt8) {
      const torch::Tensor w = l->weight.detach().contiguous(), b = l->bias.detach().contiguous();
      low_[i].int8 = std::make_shared<Int8Linear>(w.data_ptr<float>(), b.data_ptr<float>(), w.size(0), w.size(1));
    }
  }
}

std::string LayerImpl::int8_kernel() const { return low_[0].int8 ? low_[0].int8->kernel() : std::string(); }

void LayerImpl::project(Which w, const torch::Tensor& in, torch::Tensor& out, Precision p) {
  const Linear* lins[4] = {&qkv, &attention_output, &intermediate, &output};
  const Linear& l = *lins[w];
  switch (p) {
    case Precision::kBFloat16:
      at::addmm_out(out, low_[w].bias, in, low_[w].weight.t());
      return;
    case Precision::kInt8:
      TORCH_CHECK(in.is_contiguous() && out.is_contiguous(), "int8 Linear: contiguous rows expected");
      low_[w].int8->forward(in.data_ptr<float>(), in.size(0), out.data_ptr<float>());
      return;
    default:
      at::addmm_out(out, l->bias, in, l->weight.t());
  }
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
  const at::ScalarType low = bf16 ? at::kBFloat16 : at::kFloat;  // the products' inputs and outputs
  // The residual stream x stays float32; under bf16 the products read a bfloat16 copy.
  const torch::Tensor& x_in = bf16 ? shaped(ws.low_in, {N, H}, low).copy_(x) : x;
  torch::Tensor& qkv_out = shaped(ws.qkv, {N, 3 * H}, low);
  project(kQkv, x_in, qkv_out, p);
  // The 1/sqrt(d) scale goes on Q (N x H) rather than on the scores (B x h x L x L).
  qkv_out.narrow(1, 0, H).mul_(1.0 / std::sqrt(static_cast<double>(head_dim_)));
  attention_inference(qkv_out, mask, B, L, ws, low);
  torch::Tensor& attn = shaped(ws.attn, {N, H});
  if (bf16) {
    torch::Tensor& a = shaped(ws.low_out, {N, H}, low);
    project(kAttentionOutput, ws.ctx2, a, p);
    at::add_out(attn, x, a);
  } else {
    project(kAttentionOutput, ws.ctx2, attn, p);
    attn.add_(x);
  }
  attention_norm->forward_inplace(attn, ws);
  // The feed-forward block by blocks of rows: the [rows, I] intermediate stays in cache
  // between its GEMM, the GELU and the second GEMM, and never exists for all N rows.
  const std::int64_t I = intermediate->weight.size(0);
  const std::int64_t rows = std::min<std::int64_t>(N, 512);
  torch::Tensor& inter = shaped(ws.inter, {rows, I}, low);
  const torch::Tensor& h_in = bf16 ? shaped(ws.low_in, {N, H}, low).copy_(attn) : attn;
  torch::Tensor& f = bf16 ? shaped(ws.low_out, {N, H}, low) : shaped(out, {N, H});
  for (std::int64_t r0 = 0; r0 < N; r0 += rows) {
    const std::int64_t n = std::min(rows, N - r0);
    at::Tensor in_block = inter.narrow(0, 0, n);
    project(kIntermediate, h_in.narrow(0, r0, n), in_block, p);
    at::gelu_(in_block);
    at::Tensor out_block = f.narrow(0, r0, n);
    project(kOutput, in_block, out_block, p);
  }
  if (bf16) {
    at::add_out(shaped(out, {N, H}), attn, f);
  } else {
    out.add_(attn);
  }
  output_norm->forward_inplace(out, ws);
}

}  // namespace kbert::nn
