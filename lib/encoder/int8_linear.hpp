// A Linear layer in int8 for inference (Precision::kInt8): dynamic quantisation.
//
// The weights are quantised once, per output channel (symmetric: scale_n = max|W_n.| / 127);
// each call quantises its input per row (per token: scale_m = max|x_m.| / 127). oneDNN
// multiplies the int8 matrices with int32 accumulation in the best kernels of the CPU it runs
// on (AMX-INT8, AVX512-VNNI, AVX2, chosen by oneDNN at run time; the same libdnnl that
// LibTorch loads), and y = acc * scale_m * scale_n + b comes back in float32. Internal to
// kbert::model; no oneDNN type in this header.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

namespace kbert::nn {

class Int8Linear {
 public:
  /// weight: [out, in] row-major float32; bias: [out] (nullptr: none).
  Int8Linear(const float* weight, const float* bias, std::int64_t out, std::int64_t in);
  ~Int8Linear();
  Int8Linear(const Int8Linear&) = delete;
  Int8Linear& operator=(const Int8Linear&) = delete;

  /// y [rows, out] = x [rows, in] W^T + b, both row-major and contiguous. Not thread-safe
  /// (one scratch buffer); the matrix product itself uses every OpenMP thread.
  void forward(const float* x, std::int64_t rows, float* y);

  std::int64_t in() const;
  std::int64_t out() const;
  /// The instruction set oneDNN runs the products with (e.g. "avx512_core_vnni").
  const std::string& kernel() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

/// Symmetric int8 quantisation of one row: q = round(x / s), s = max|x| / 127 (1 for a zero
/// row); returns s. Exposed for tests.
float quantize_row(const float* x, std::int64_t n, std::int8_t* q);

}  // namespace kbert::nn
