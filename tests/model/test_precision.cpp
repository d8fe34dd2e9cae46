// Precisions of inference (kbert::Precision): the int8 Linear against float32, the encoder's
// bf16 and int8 forward passes against its float32 one on a small random network, and what
// `auto` resolves to for a given feature report. CPU-independent: oneDNN runs int8 and
// bfloat16 on any x86-64 CPU (emulated where the instructions are missing), so these run
// everywhere; only the speed differs.
// LibTorch brings glog, whose CHECK would silently replace Catch's: prefixed macros only.
#define CATCH_CONFIG_PREFIX_ALL
#include <catch2/catch.hpp>

#include <torch/torch.h>

#include <cstdlib>
#include <string>
#include <vector>

#include "encoder/bert.hpp"
#include "encoder/packed_linear.hpp"
#include "kbert/common/cpu.hpp"
#include "kbert/model/model.hpp"

using namespace kbert;

namespace {

torch::Tensor int8_product(nn::PackedLinear& q, const torch::Tensor& x) {
  torch::Tensor y = torch::empty({x.size(0), q.out()});
  q.forward(x.data_ptr<float>(), x.size(0), y.data_ptr<float>());
  return y;
}

BertConfig small_config() {
  BertConfig c;
  c.vocab_size = 120;
  c.hidden_size = 64;
  c.num_layers = 2;
  c.num_heads = 4;
  c.intermediate_size = 128;
  c.max_position = 64;
  return c;
}

// Hidden states of a random batch (fixed seed) in precision p, as float32.
torch::Tensor encode(nn::Bert& bert, Precision p, std::int64_t B = 3, std::int64_t L = 17) {
  torch::manual_seed(5);
  const torch::Tensor ids = torch::randint(1, 120, {B, L}, torch::kLong);
  const torch::Tensor positions = torch::arange(L, torch::kLong).expand({B, L}).contiguous();
  const torch::Tensor segments = torch::zeros({B, L}, torch::kLong);
  torch::Tensor mask = torch::zeros({B, 1, L, L});
  mask.index_put_({1, 0, torch::indexing::Slice(), torch::indexing::Slice(10, L)}, -10000.0);  // a padded row
  c10::InferenceMode guard;
  bert->set_precision(p);
  return bert->forward(ids, positions, segments, mask).to(torch::kFloat);
}

struct ScopedEnv {
  ScopedEnv(const char* name, const char* value) : name_(name) {
    if (const char* v = std::getenv(name)) old_ = v, had_ = true;
    if (value) {
      setenv(name, value, 1);
    } else {
      unsetenv(name);
    }
  }
  ~ScopedEnv() {
    if (had_) {
      setenv(name_, old_.c_str(), 1);
    } else {
      unsetenv(name_);
    }
  }
  const char* name_;
  std::string old_;
  bool had_ = false;
};

}  // namespace

CATCH_TEST_CASE("quantize_row is symmetric int8 with the row's absolute maximum as 127") {
  const std::vector<float> x = {0.5f, -2.0f, 1.0f, 0.01f};
  std::vector<std::int8_t> q(4);
  const float s = nn::quantize_row(x.data(), 4, q.data());
  CATCH_CHECK(s == Approx(2.0f / 127));
  CATCH_CHECK(q == std::vector<std::int8_t>{32, -127, 64, 1});
  const std::vector<float> zero(5, 0.f);
  std::vector<std::int8_t> qz(5, 7);
  CATCH_CHECK(nn::quantize_row(zero.data(), 5, qz.data()) == 1.0f);
  CATCH_CHECK(qz == std::vector<std::int8_t>(5, 0));
  // 7-bit weights (CPUs without VNNI): the maximum is 63.
  const float s7 = nn::quantize_row(x.data(), 4, q.data(), 63);
  CATCH_CHECK(s7 == Approx(2.0f / 63));
  CATCH_CHECK(q == std::vector<std::int8_t>{16, -63, 31, 0});  // 1 / (2 / 63) is 31.4999 in float
  CATCH_CHECK_THROWS_AS(nn::quantize_row(x.data(), 4, q.data(), 128), std::invalid_argument);
  CATCH_CHECK((nn::int8_weight_levels() == 127 || nn::int8_weight_levels() == 63));
}

CATCH_TEST_CASE("An int8 PackedLinear agrees with float32 and a row's result does not depend on the other rows") {
  torch::manual_seed(1);
  const std::int64_t K = 96, N = 80;
  const torch::Tensor w = torch::randn({N, K}) * 0.1, b = torch::randn({N}), x = torch::randn({37, K});
  nn::PackedLinear q(w.data_ptr<float>(), b.data_ptr<float>(), N, K, nn::PackedType::kInt8);
  CATCH_CHECK(q.in() == K);
  CATCH_CHECK(q.out() == N);
  const torch::Tensor reference = at::linear(x, w, b), y = int8_product(q, x);
  const double err = (y - reference).abs().max().item<double>(), scale = reference.abs().max().item<double>();
  CATCH_INFO("max |int8 - fp32| " << err << " of outputs up to " << scale << ", kernel " << q.kernel()
                                   << ", weight levels " << nn::int8_weight_levels());
  CATCH_CHECK(err < 0.02 * scale);
  CATCH_CHECK(err > 0);  // it did quantise
  CATCH_CHECK_FALSE(q.kernel().empty());
  // Per-token scales: the same rows alone, or in another batch, give the same bits.
  const torch::Tensor some = x.narrow(0, 5, 3).contiguous();
  CATCH_CHECK(torch::equal(int8_product(q, some), y.narrow(0, 5, 3)));
  const torch::Tensor one = x.narrow(0, 36, 1).contiguous();
  CATCH_CHECK(torch::equal(int8_product(q, one), y.narrow(0, 36, 1)));
  CATCH_CHECK_THROWS_AS(nn::PackedLinear(w.data_ptr<float>(), nullptr, 0, K, nn::PackedType::kInt8), std::invalid_argument);
  CATCH_CHECK_THROWS_AS(nn::PackedLinear(w.data_ptr<float>(), nullptr, N, K, nn::PackedType::kInt8, nn::Epilogue::kGelu),
                        std::invalid_argument);
}

CATCH_TEST_CASE("A bfloat16 PackedLinear fuses bias, GELU and the residual add") {
  torch::manual_seed(2);
  const std::int64_t K = 64, N = 48;
  const torch::Tensor w = torch::randn({N, K}) * 0.1, b = torch::randn({N}), x = torch::randn({29, K});
  const torch::Tensor xb = x.to(torch::kBFloat16).contiguous();
  if (!nn::bf16_products_available()) {  // below AVX-512 the library refuses bf16
    CATCH_WARN("skipped: oneDNN has no bfloat16 products on this CPU; checking the refusal only");
    CATCH_CHECK_THROWS_AS(nn::PackedLinear(w.data_ptr<float>(), b.data_ptr<float>(), N, K, nn::PackedType::kBFloat16),
                          std::runtime_error);
    return;
  }
  // The reference: the same bfloat16-rounded operands in float32.
  const torch::Tensor ref = at::linear(xb.to(torch::kFloat), w.to(torch::kBFloat16).to(torch::kFloat), b);
  auto run = [&](nn::Epilogue e, bool float_out, torch::Tensor y) {
    nn::PackedLinear l(w.data_ptr<float>(), b.data_ptr<float>(), N, K, nn::PackedType::kBFloat16, e, float_out);
    l.forward(xb.data_ptr(), x.size(0), y.data_ptr());
    return y.to(torch::kFloat);
  };
  const torch::Tensor plain = run(nn::Epilogue::kNone, true, torch::empty({29, N}));
  CATCH_CHECK((plain - ref).abs().max().item<double>() < 1e-3);
  const torch::Tensor gelu = run(nn::Epilogue::kGelu, false, torch::empty({29, N}, torch::kBFloat16));
  CATCH_CHECK((gelu - at::gelu(ref)).abs().max().item<double>() < 0.05);  // stored in bfloat16
  const torch::Tensor residual = torch::randn({29, N});
  const torch::Tensor sum = run(nn::Epilogue::kAccumulate, true, residual.clone());
  CATCH_CHECK((sum - (residual + ref)).abs().max().item<double>() < 1e-3);
  CATCH_CHECK_THROWS_AS(
      nn::PackedLinear(w.data_ptr<float>(), nullptr, N, K, nn::PackedType::kBFloat16, nn::Epilogue::kAccumulate, false),
      std::invalid_argument);
}

CATCH_TEST_CASE("The encoder's bf16 and int8 inference agree with float32 within tolerance") {
  torch::manual_seed(10);
  nn::Bert bert(small_config());
  bert->eval();
  const torch::Tensor fp32 = encode(bert, Precision::kFloat32);
  const torch::Tensor int8 = encode(bert, Precision::kInt8);
  const double e_int8 = (int8 - fp32).abs().max().item<double>();
  CATCH_INFO("max |int8 - fp32| " << e_int8 << " (hidden states after LayerNorm)");
  CATCH_CHECK(e_int8 > 0);
  CATCH_CHECK(e_int8 < 0.15);
  CATCH_CHECK((int8 - fp32).abs().mean().item<double>() < 0.03);  // far smaller than the worst
  if (nn::bf16_products_available()) {
    const torch::Tensor bf16 = encode(bert, Precision::kBFloat16);
    const double e_bf16 = (bf16 - fp32).abs().max().item<double>();
    CATCH_INFO("max |bf16 - fp32| " << e_bf16);
    CATCH_CHECK(e_bf16 > 0);
    CATCH_CHECK(e_bf16 < 0.1);
    CATCH_CHECK((bf16 - fp32).abs().mean().item<double>() < 0.02);
  } else {  // below AVX-512 the library refuses bf16
    CATCH_WARN("bf16 skipped: no bfloat16 products on this CPU; checking the refusal only");
    CATCH_CHECK_THROWS_AS(bert->set_precision(Precision::kBFloat16), std::runtime_error);
  }
  // Back to float32: exactly the float32 result again.
  CATCH_CHECK(torch::equal(encode(bert, Precision::kFloat32), fp32));
  CATCH_CHECK_THROWS_AS(bert->set_precision(Precision::kAuto), std::invalid_argument);
}

CATCH_TEST_CASE("Low-precision weights are remade after training changes the float32 ones") {
  torch::manual_seed(11);
  nn::Bert bert(small_config());
  bert->eval();
  const torch::Tensor before = encode(bert, Precision::kInt8);
  bert->train();  // drops the int8 weights
  {
    torch::NoGradGuard no_grad;
    for (auto& layer : bert->layers) layer->intermediate->weight.mul_(2.0);
  }
  bert->eval();
  const torch::Tensor fp32 = encode(bert, Precision::kFloat32), after = encode(bert, Precision::kInt8);
  // The change moves the output far more than int8's error does: stale int8 weights would leave
  // `after` at `before`, a whole change away from the float32 result.
  const double moved = (after - before).abs().max().item<double>();
  const double error = (after - fp32).abs().max().item<double>();
  CATCH_CHECK(error < 0.05);
  CATCH_CHECK(moved > 10 * error);
}

CATCH_TEST_CASE("auto resolves by the CPU's feature report, and KBERT_PRECISION overrides it") {
  ScopedEnv unset("KBERT_PRECISION", nullptr);
  const std::string base = "processor\t: 0\nmodel name\t: Test CPU\nflags\t\t: fpu sse sse2 avx avx2 fma";
  const cpu::Info none = cpu::parse_cpuinfo(base + "\n");
  const cpu::Info zen4 = cpu::parse_cpuinfo(base + " avx512f avx512bw avx512dq avx512vl avx512cd avx512_vnni avx512_bf16\n");
  const cpu::Info spr = cpu::parse_cpuinfo(base + " avx512f avx512bw avx512dq avx512vl avx512cd avx512_vnni avx512_bf16 "
                                                  "amx_bf16 amx_tile amx_int8\n");
  CATCH_CHECK(resolve_precision(Precision::kAuto, none) == Precision::kFloat32);
  CATCH_CHECK(resolve_precision(Precision::kAuto, zen4) == Precision::kBFloat16);
  CATCH_CHECK(resolve_precision(Precision::kAuto, spr) == Precision::kBFloat16);
  CATCH_CHECK(resolve_precision(Precision::kAuto, none, true) == Precision::kFloat32);
  CATCH_CHECK(resolve_precision(Precision::kAuto, zen4, true) == Precision::kFloat32);
  CATCH_CHECK(resolve_precision(Precision::kAuto, spr, true) == Precision::kBFloat16);
  // A precision asked for is kept whatever the CPU.
  CATCH_CHECK(resolve_precision(Precision::kInt8, none) == Precision::kInt8);
  CATCH_CHECK(resolve_precision(Precision::kFloat32, spr) == Precision::kFloat32);
  {
    ScopedEnv forced("KBERT_PRECISION", "fp32");
    CATCH_CHECK(resolve_precision(Precision::kAuto, spr) == Precision::kFloat32);
    CATCH_CHECK(resolve_precision(Precision::kBFloat16, none) == Precision::kBFloat16);
  }
  {
    ScopedEnv bad("KBERT_PRECISION", "fp16");
    CATCH_CHECK_THROWS_WITH(resolve_precision(Precision::kAuto, none), Catch::Contains("fp16"));
  }
  CATCH_CHECK(parse_precision("int8") == Precision::kInt8);
  CATCH_CHECK(std::string(precision_name(Precision::kAuto)) == "auto");
  CATCH_CHECK_THROWS_WITH(parse_precision("half"), Catch::Contains("auto, fp32, bf16 or int8"));
}
