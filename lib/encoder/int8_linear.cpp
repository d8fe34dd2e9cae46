#include "encoder/int8_linear.hpp"

#include <ATen/Parallel.h>

#include <algorithm>
#include <cmath>
#include <dnnl.hpp>
#include <stdexcept>
#include <unordered_map>
#include <vector>

namespace kbert::nn {

namespace {
using dt = dnnl::memory::data_type;
using tag = dnnl::memory::format_tag;

// Compiled for AVX-512 and AVX2 beside the baseline; the loader picks one for the CPU.
__attribute__((target_clones("avx512f", "avx2", "default"))) float absmax(const float* x, std::int64_t n) {
  float m = 0.f;
  for (std::int64_t i = 0; i < n; ++i) m = std::max(m, std::fabs(x[i]));
  return m;
}

__attribute__((target_clones("avx512f", "avx2", "default"))) void quantize(const float* x, std::int64_t n, float inv,
                                                                           std::int8_t* q) {
  for (std::int64_t i = 0; i < n; ++i) {
    const float v = std::nearbyint(x[i] * inv);
    q[i] = static_cast<std::int8_t>(std::min(127.f, std::max(-127.f, v)));
  }
}

// y = acc * (sx * sw_n) + b_n over one row.
__attribute__((target_clones("avx512f", "avx2", "default"))) void rescale(float* y, std::int64_t n, float sx,
                                                                          const float* sw, const float* b) {
  for (std::int64_t i = 0; i < n; ++i) y[i] = y[i] * (sx * sw[i]) + b[i];
}
// The instruction set oneDNN dispatches its int8 products to on this CPU. (oneDNN 2.6's
// impl_info_str() of a brgemm matmul points into a destroyed temporary: not read.) AVX512-BF16
// adds nothing to int8: VNNI is what runs there.
std::string int8_isa() {
  switch (dnnl::get_effective_cpu_isa()) {
    case dnnl::cpu_isa::avx512_core_amx: return "avx512_core_amx";
    case dnnl::cpu_isa::avx512_core_bf16:
    case dnnl::cpu_isa::avx512_core_vnni: return "avx512_core_vnni";
    case dnnl::cpu_isa::avx512_core: return "avx512_core";
    case dnnl::cpu_isa::avx2_vnni: return "avx2_vnni";
    case dnnl::cpu_isa::avx2: return "avx2";
    default: return "baseline";
  }
}
}  // namespace

float quantize_row(const float* x, std::int64_t n, std::int8_t* q) {
  const float m = absmax(x, n);
  const float s = m > 0.f ? m / 127.f : 1.f;
  quantize(x, n, 1.f / s, q);
  return s;
}

struct Int8Linear::Impl {
  std::int64_t K = 0, N = 0;
  dnnl::engine engine{dnnl::engine::kind::cpu, 0};
  dnnl::stream stream{engine};
  std::vector<float> w_scale, bias;
  std::vector<std::int8_t> w_plain;  // [N, K] as quantised: the source of every weights layout
  struct Product {
    dnnl::matmul prim;
    dnnl::memory weights;  // the weights in the layout this product wants
  };
  std::unordered_map<std::int64_t, Product> products;  // by row count
  std::vector<std::int8_t> xq;
  std::vector<float> xs;
  std::string kernel = int8_isa();

  Product& product(std::int64_t M) {
    auto it = products.find(M);
    if (it != products.end()) return it->second;
    if (products.size() >= 64) products.clear();  // batches of many lengths: keep the cache bounded
    dnnl::memory::desc src({M, K}, dt::s8, tag::ab), wany({K, N}, dt::s8, tag::any), dst({M, N}, dt::f32, tag::ab);
    dnnl::matmul::primitive_desc pd(dnnl::matmul::desc(src, wany, dst), engine);
    Product p{dnnl::matmul(pd), {}};
    // Weights already in the wanted layout for another row count are shared.
    for (auto& [m, other] : products)
      if (other.weights.get_desc() == pd.weights_desc()) p.weights = other.weights;
    if (!p.weights) {
      dnnl::memory plain({{K, N}, dt::s8, tag::ba}, engine, w_plain.data());
      p.weights = dnnl::memory(pd.weights_desc(), engine);
      dnnl::reorder(plain, p.weights).execute(stream, plain, p.weights);
      stream.wait();
    }
    return products.emplace(M, std::move(p)).first->second;
  }
};

Int8Linear::Int8Linear(const float* weight, const float* bias, std::int64_t out, std::int64_t in)
    : impl_(std::make_unique<Impl>()) {
  if (out <= 0 || in <= 0) throw std::invalid_argument("Int8Linear: empty weight");
  Impl& im = *impl_;
  im.K = in;
  im.N = out;
  im.w_scale.resize(static_cast<std::size_t>(out));
  im.bias.assign(static_cast<std::size_t>(out), 0.f);
  im.w_plain.resize(static_cast<std::size_t>(out * in));
  for (std::int64_t n = 0; n < out; ++n) im.w_scale[n] = quantize_row(weight + n * in, in, im.w_plain.data() + n * in);
  if (bias) std::copy(bias, bias + out, im.bias.begin());
}

Int8Linear::~Int8Linear() = default;
std::int64_t Int8Linear::in() const { return impl_->K; }
std::int64_t Int8Linear::out() const { return impl_->N; }
const std::string& Int8Linear::kernel() const { return impl_->kernel; }

void Int8Linear::forward(const float* x, std::int64_t rows, float* y) {
  Impl& im = *impl_;
  if (rows <= 0) return;
  const std::int64_t K = im.K, N = im.N;
  im.xq.resize(static_cast<std::size_t>(rows * K));
  im.xs.resize(static_cast<std::size_t>(rows));
  at::parallel_for(0, rows, 16, [&](std::int64_t r0, std::int64_t r1) {
    for (std::int64_t r = r0; r < r1; ++r) im.xs[r] = quantize_row(x + r * K, K, im.xq.data() + r * K);
  });
  Impl::Product& p = im.product(rows);
  dnnl::memory src({{rows, K}, dt::s8, tag::ab}, im.engine, im.xq.data());
  dnnl::memory dst({{rows, N}, dt::f32, tag::ab}, im.engine, y);
  p.prim.execute(im.stream, {{DNNL_ARG_SRC, src}, {DNNL_ARG_WEIGHTS, p.weights}, {DNNL_ARG_DST, dst}});
  im.stream.wait();
  at::parallel_for(0, rows, 16, [&](std::int64_t r0, std::int64_t r1) {
    for (std::int64_t r = r0; r < r1; ++r) rescale(y + r * N, N, im.xs[r], im.w_scale.data(), im.bias.data());
  });
}

}  // namespace kbert::nn
