// A Linear layer for inference with its weights converted and packed once, in bfloat16 or
// int8, multiplied by oneDNN (the libdnnl that LibTorch itself loads) in the best kernels of
// the CPU it runs on: AMX, AVX512-BF16 / AVX512-VNNI or AVX2, chosen by oneDNN at run time
// (bfloat16 emulated on AVX-512 without AVX512-BF16; not offered below AVX-512).
//
// - bfloat16: y = epilogue(x W^T + b), x bfloat16; the bias, GELU and residual add are fused
//   into the product (oneDNN post-ops); y float32 or bfloat16.
// - int8, dynamic quantisation: the weights are quantised once per output channel
//   (symmetric: scale_n = max|W_n.| / 127, or / 63 where the CPU lacks VNNI:
//   int8_weight_levels), each call quantises x per row (per token: scale_m = max|x_m.| / 127);
//   int8 products accumulate in int32 and y = acc * scale_m * scale_n + b comes back in
//   float32 (a row's result never depends on the other rows).
// Internal to kbert::model; no oneDNN type in this header.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

namespace kbert::nn {

enum class PackedType { kBFloat16, kInt8 };
/// What happens to x W^T + b before it is stored (bfloat16 only; int8 stores it as it is).
enum class Epilogue {
  kNone,
  kGelu,        ///< y = gelu(x W^T + b), exact (erf)
  kAccumulate,  ///< y += x W^T + b: y holds the residual on entry (float32)
};

class PackedLinear {
 public:
  /// weight: [out, in] row-major float32; bias: [out] (nullptr: none). `float_out`: y is
  /// float32, else bfloat16 (bfloat16 only). Throws std::invalid_argument on a combination
  /// the type does not have.
  PackedLinear(const float* weight, const float* bias, std::int64_t out, std::int64_t in, PackedType type,
               Epilogue epilogue = Epilogue::kNone, bool float_out = true);
  ~PackedLinear();
  PackedLinear(const PackedLinear&) = delete;
  PackedLinear& operator=(const PackedLinear&) = delete;

  /// y [rows, out] from x [rows, in], both row-major and contiguous: x bfloat16 (kBFloat16)
  /// or float32 (kInt8). Not thread-safe (scratch buffers); the product uses every OpenMP thread.
  void forward(const void* x, std::int64_t rows, void* y);

  std::int64_t in() const;
  std::int64_t out() const;
  PackedType type() const;
  /// The instruction set oneDNN runs the products with on this CPU (e.g. "avx512_core_vnni").
  const std::string& kernel() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

/// Symmetric int8 quantisation of one row: q = round(x / s), s = max|x| / levels (1 for a zero
/// row); returns s. Exposed for tests.
float quantize_row(const float* x, std::int64_t n, std::int8_t* q, int levels = 127);

/// The levels an int8 weight keeps on this CPU: 127, or 63 where oneDNN's int8 products have
/// no VNNI and their int16 pair sums would saturate (AVX2, AVX-512 without VNNI).
int int8_weight_levels();

/// Whether oneDNN makes bfloat16 products on this CPU (oneDNN 2.6: AVX-512 and up; emulated
/// without AVX512-BF16).
bool bf16_products_available();
/// Throws std::runtime_error, naming the options that work, where bf16_products_available()
/// is false: there LibTorch's own bfloat16 products (autocast) ran 82x slower than float32
/// (BERT-base, AVX2 AMD EPYC), so bf16 is refused for inference and training alike.
void require_bf16_products();

}  // namespace kbert::nn
