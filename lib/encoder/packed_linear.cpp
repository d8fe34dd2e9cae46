#include "encoder/packed_linear.hpp"

#include <ATen/Parallel.h>
#include <c10/util/BFloat16.h>

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

// The instruction set oneDNN dispatches these products to on this CPU. (oneDNN 2.6's
// impl_info_str() of a brgemm matmul points into a destroyed temporary: not read.) For int8,
// AVX512-BF16 adds nothing: VNNI is what runs there.
std::string isa_of(PackedType type) {
  switch (dnnl::get_effective_cpu_isa()) {
    case dnnl::cpu_isa::avx512_core_amx: return "avx512_core_amx";
    case dnnl::cpu_isa::avx512_core_bf16: return type == PackedType::kInt8 ? "avx512_core_vnni" : "avx512_core_bf16";
    case dnnl::cpu_isa::avx512_core_vnni: return type == PackedType::kInt8 ? "avx512_core_vnni" : "avx512_core (emulated)";
    case dnnl::cpu_isa::avx512_core: return type == PackedType::kInt8 ? "avx512_core" : "avx512_core (emulated)";
    case dnnl::cpu_isa::avx2_vnni: return "avx2_vnni";  // int8 only: no bfloat16 products below AVX-512
    case dnnl::cpu_isa::avx2: return "avx2";
    default: return "baseline";
  }
}

// Whether oneDNN's int8 products run on VNNI (vpdpbusd: exact int32 sums). Without it they run
// on vpmaddubsw, whose int16 pair sums saturate: oneDNN shifts signed inputs to u8 (0..255),
// and 255 * 127 * 2 overflows 32,767 ("Nuances of int8 Computations" in oneDNN's guide).
// There the weights keep 7 bits (|q| <= 63: 255 * 63 * 2 = 32,130 fits).
bool int8_products_exact() {
  switch (dnnl::get_effective_cpu_isa()) {
    case dnnl::cpu_isa::avx2_vnni:
    case dnnl::cpu_isa::avx512_core_vnni:
    case dnnl::cpu_isa::avx512_core_bf16:
    case dnnl::cpu_isa::avx512_core_amx: return true;
    default: return false;
  }
}
}  // namespace

float quantize_row(const float* x, std::int64_t n, std::int8_t* q, int levels) {
  if (levels < 1 || levels > 127) throw std::invalid_argument("quantize_row: levels must be in 1..127");
  const float m = absmax(x, n);
  const float s = m > 0.f ? m / static_cast<float>(levels) : 1.f;
  quantize(x, n, 1.f / s, q);
  return s;
}

int int8_weight_levels() {
  static const int levels = int8_products_exact() ? 127 : 63;
  return levels;
}

bool bf16_products_available() {
  static const bool available = [] {
    try {  // oneDNN 2.6 has bfloat16 matmuls on AVX-512 and up only (emulated without AVX512-BF16)
      dnnl::engine engine(dnnl::engine::kind::cpu, 0);
      dnnl::memory::desc a({4, 32}, dt::bf16, tag::ab), b({32, 32}, dt::bf16, tag::any), c({4, 32}, dt::f32, tag::ab);
      dnnl::matmul::primitive_desc pd(dnnl::matmul::desc(a, b, c), engine);
      return true;
    } catch (const dnnl::error&) {
      return false;
    }
  }();
  return available;
}

void require_bf16_products() {
  if (bf16_products_available()) return;
  throw std::runtime_error(
      "--precision bf16: this CPU has no AVX-512, and below it neither oneDNN (2.6) nor LibTorch multiply bfloat16 "
      "at a usable speed (LibTorch's fallback measured 82x slower than fp32 on an AVX2 AMD EPYC); use --precision "
      "fp32 (what auto picks here) or, for inference, int8");
}

struct PackedLinear::Impl {
  std::int64_t K = 0, N = 0;
  PackedType type = PackedType::kInt8;
  Epilogue epilogue = Epilogue::kNone;
  bool float_out = true;
  dnnl::engine engine{dnnl::engine::kind::cpu, 0};
  dnnl::stream stream{engine};
  std::vector<float> w_scale, bias;  // int8: per-channel scales; both: the float32 bias
  // The weights as converted, [N, K]: the source of the first packed layout (then freed).
  std::vector<std::int8_t> w_s8;
  std::vector<c10::BFloat16> w_bf16;
  struct Product {
    dnnl::matmul prim;
    dnnl::memory weights;  // packed in the layout this product wants
  };
  std::unordered_map<std::int64_t, Product> products;  // by row count
  std::vector<std::int8_t> xq;                           // int8: x quantised
  std::vector<float> xs;                                 // int8: its row scales
  std::string kernel;

  dt weight_type() const { return type == PackedType::kInt8 ? dt::s8 : dt::bf16; }

  dnnl::matmul::primitive_desc describe(std::int64_t M) const {
    const dt w = weight_type();
    dnnl::memory::desc src({M, K}, w, tag::ab), wany({K, N}, w, tag::any);
    dnnl::memory::desc dst({M, N}, float_out ? dt::f32 : dt::bf16, tag::ab);
    if (type == PackedType::kInt8) return {dnnl::matmul::desc(src, wany, dst), engine};
    dnnl::post_ops po;
    if (epilogue == Epilogue::kGelu) po.append_eltwise(1.f, dnnl::algorithm::eltwise_gelu_erf, 0.f, 0.f);
    if (epilogue == Epilogue::kAccumulate) po.append_sum(1.f);
    dnnl::primitive_attr attr;
    attr.set_post_ops(po);
    dnnl::memory::desc b({1, N}, dt::f32, tag::ab);
    return {dnnl::matmul::desc(src, wany, b, dst), attr, engine};
  }

  Product& product(std::int64_t M) {
    auto it = products.find(M);
    if (it != products.end()) return it->second;
    auto pd = describe(M);
    Product p{dnnl::matmul(pd), {}};
    // Weights already packed in the wanted layout (for another row count) are shared.
    for (auto& [m, other] : products)
      if (other.weights.get_desc() == pd.weights_desc()) p.weights = other.weights;
    if (!p.weights) {
      p.weights = dnnl::memory(pd.weights_desc(), engine);
      if (products.empty()) {  // from the converted [N, K] weights, freed afterwards
        void* data = type == PackedType::kInt8 ? static_cast<void*>(w_s8.data()) : static_cast<void*>(w_bf16.data());
        dnnl::memory plain({{K, N}, weight_type(), tag::ba}, engine, data);
        dnnl::reorder(plain, p.weights).execute(stream, plain, p.weights);
        std::vector<std::int8_t>().swap(w_s8);
        std::vector<c10::BFloat16>().swap(w_bf16);
      } else {  // another layout: from one already packed
        dnnl::memory& from = products.begin()->second.weights;
        dnnl::reorder(from, p.weights).execute(stream, from, p.weights);
      }
      stream.wait();
    }
    // Batches of many lengths: the cache stays bounded (the packed weights are kept).
    if (products.size() >= 64) {
      Product keep = products.begin()->second;
      products.clear();
      products.emplace(-1, std::move(keep));  // row count -1: never asked for; holds the weights
    }
    return products.emplace(M, std::move(p)).first->second;
  }
};

PackedLinear::PackedLinear(const float* weight, const float* bias, std::int64_t out, std::int64_t in, PackedType type,
                           Epilogue epilogue, bool float_out)
    : impl_(std::make_unique<Impl>()) {
  if (out <= 0 || in <= 0) throw std::invalid_argument("PackedLinear: empty weight");
  if (type == PackedType::kInt8 && (epilogue != Epilogue::kNone || !float_out))
    throw std::invalid_argument("PackedLinear: int8 products are stored as float32, without an epilogue");
  if (epilogue == Epilogue::kAccumulate && !float_out)
    throw std::invalid_argument("PackedLinear: the residual it accumulates into is float32");
  if (type == PackedType::kBFloat16) require_bf16_products();
  Impl& im = *impl_;
  im.K = in;
  im.N = out;
  im.type = type;
  im.epilogue = epilogue;
  im.float_out = float_out;
  im.kernel = isa_of(type);
  im.bias.assign(static_cast<std::size_t>(out), 0.f);
  if (bias) std::copy(bias, bias + out, im.bias.begin());
  const std::size_t n = static_cast<std::size_t>(out * in);
  if (type == PackedType::kInt8) {
    im.w_scale.resize(static_cast<std::size_t>(out));
    im.w_s8.resize(n);
    const int levels = int8_weight_levels();
    for (std::int64_t r = 0; r < out; ++r)
      im.w_scale[r] = quantize_row(weight + r * in, in, im.w_s8.data() + r * in, levels);
  } else {
    im.w_bf16.assign(weight, weight + n);  // rounded to nearest even
  }
}

PackedLinear::~PackedLinear() = default;
std::int64_t PackedLinear::in() const { return impl_->K; }
std::int64_t PackedLinear::out() const { return impl_->N; }
PackedType PackedLinear::type() const { return impl_->type; }
const std::string& PackedLinear::kernel() const { return impl_->kernel; }

void PackedLinear::forward(const void* x, std::int64_t rows, void* y) {
  Impl& im = *impl_;
  if (rows <= 0) return;
  const std::int64_t K = im.K, N = im.N;
  Impl::Product& p = im.product(rows);
  if (im.type == PackedType::kBFloat16) {
    dnnl::memory src({{rows, K}, dt::bf16, tag::ab}, im.engine, const_cast<void*>(x));
    dnnl::memory bias({{1, N}, dt::f32, tag::ab}, im.engine, im.bias.data());
    dnnl::memory dst({{rows, N}, im.float_out ? dt::f32 : dt::bf16, tag::ab}, im.engine, y);
    p.prim.execute(im.stream, {{DNNL_ARG_SRC, src}, {DNNL_ARG_WEIGHTS, p.weights}, {DNNL_ARG_BIAS, bias},
                               {DNNL_ARG_DST, dst}});
    im.stream.wait();
    return;
  }
  const float* xf = static_cast<const float*>(x);
  float* yf = static_cast<float*>(y);
  im.xq.resize(static_cast<std::size_t>(rows * K));
  im.xs.resize(static_cast<std::size_t>(rows));
  at::parallel_for(0, rows, 16, [&](std::int64_t r0, std::int64_t r1) {
    for (std::int64_t r = r0; r < r1; ++r) im.xs[r] = quantize_row(xf + r * K, K, im.xq.data() + r * K);
  });
  dnnl::memory src({{rows, K}, dt::s8, tag::ab}, im.engine, im.xq.data());
  dnnl::memory dst({{rows, N}, dt::f32, tag::ab}, im.engine, yf);
  p.prim.execute(im.stream, {{DNNL_ARG_SRC, src}, {DNNL_ARG_WEIGHTS, p.weights}, {DNNL_ARG_DST, dst}});
  im.stream.wait();
  at::parallel_for(0, rows, 16, [&](std::int64_t r0, std::int64_t r1) {
    for (std::int64_t r = r0; r < r1; ++r) rescale(yf + r * N, N, im.xs[r], im.w_scale.data(), im.bias.data());
  });
}

}  // namespace kbert::nn
