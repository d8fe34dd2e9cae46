#include "kbert/common/cpu.hpp"

#include <dlfcn.h>

#include <cstdlib>
#include <cctype>
#include <fstream>
#include <sstream>
#include <thread>

namespace kbert::cpu {

Info parse_cpuinfo(const std::string& text) {
  Info c;
  c.model = "unknown";
  std::istringstream in(text);
  std::string line, flags;
  unsigned processors = 0;
  while (std::getline(in, line)) {
    const std::size_t colon = line.find(':');
    if (colon == std::string::npos) continue;
    std::string key = line.substr(0, colon);
    while (!key.empty() && (key.back() == ' ' || key.back() == '\t')) key.pop_back();
    std::string value = line.substr(colon + 1);
    if (!value.empty() && value.front() == ' ') value.erase(0, 1);
    if (key == "processor") ++processors;
    if (key == "model name" && c.model == "unknown") c.model = value;
    if (key == "flags" && flags.empty()) flags = " " + value + " ";
  }
  auto has = [&](const char* f) { return flags.find(std::string(" ") + f + " ") != std::string::npos; };
  c.avx2 = has("avx2");
  c.fma = has("fma");
  c.avx512 = has("avx512f") && has("avx512bw") && has("avx512dq") && has("avx512vl") && has("avx512cd");
  c.avx512_vnni = has("avx512_vnni");
  c.avx512_bf16 = has("avx512_bf16");
  c.amx_bf16 = has("amx_bf16") && has("amx_tile");
  c.amx_int8 = has("amx_int8") && has("amx_tile");
  c.logical_cores = processors;
  return c;
}

const Info& info() {
  static const Info c = [] {
    std::ifstream in("/proc/cpuinfo");
    std::stringstream text;
    text << in.rdbuf();
    Info i = parse_cpuinfo(text.str());
    const unsigned hw = std::thread::hardware_concurrency();
    if (hw) i.logical_cores = hw;
    return i;
  }();
  return c;
}

const char* best_isa(const Info& c) {
  if (c.amx_bf16) return "amx_bf16";
  if (c.avx512_bf16) return "avx512_bf16";
  if (c.avx512) return "avx512";
  if (c.avx2 && c.fma) return "avx2";
  return "baseline";
}

const char* bf16_path(const Info& c) {
  if (c.amx_bf16) return "amx";
  if (c.avx512_bf16) return "avx512_bf16";
  if (c.avx512) return "emulated";  // by oneDNN, on AVX-512
  return "none";                    // below AVX-512: --precision bf16 is refused
}

const char* int8_path(const Info& c) {
  if (c.amx_int8) return "amx";
  if (c.avx512_vnni) return "avx512_vnni";
  if (c.avx2) return "avx2";
  return "baseline";
}

const char* auto_precision(const Info& c, bool training) {
  // Inference converts the weights once: bfloat16 pays wherever the CPU multiplies it natively
  // (AVX512-BF16 alone: BERT-base 1.9x float32 on AMD EPYC Zen 4, 1.66x on Zen 5;
  // docs/PERFORMANCE.md). Training casts at every step (autocast) and gains less there (1.3-1.7x),
  // so it stays float32 without AMX: a fine-tuned model's results then do not depend on the CPU
  // (docs/DESIGN.md, "Precision").
  if (training) return c.amx_bf16 ? "bf16" : "fp32";
  return c.amx_bf16 || c.avx512_bf16 ? "bf16" : "fp32";
}

// OpenBLAS picks its kernels from the CPU model and LibTorch its vectorised kernels from
// cpuinfo; on virtual machines that report a generic CPU both fell back to their slowest
// kernels (OpenBLAS "Prescott", ATen "default"), 3-6x slower than the AVX2 / AVX-512 code
// the CPU runs. kbert chooses from the flags instead.
const char* openblas_coretype(const Info& c) {
  if (c.avx512) return "SkylakeX";
  if (c.avx2 && c.fma) return "Haswell";
  return "";
}

std::string blas_kernels() {
  // Looked up, not linked: the core library does not link a BLAS, and the process may hold
  // another one (or none).
  using CoreName = char* (*)();
  const auto name = reinterpret_cast<CoreName>(::dlsym(RTLD_DEFAULT, "openblas_get_corename"));
  const char* core = name ? name() : nullptr;
  return core ? std::string(core) : std::string();
}

bool avx512_blas(const std::string& coretype) {
  std::string t;
  for (char ch : coretype) t += static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  return t == "skylakex" || t == "cooperlake" || t == "sapphirerapids";
}

const char* aten_capability(const Info& c) {
  if (c.avx512) return "avx512";
  if (c.avx2 && c.fma) return "avx2";
  return "";
}

std::vector<std::pair<std::string, std::string>> kernel_environment(const Info& c) {
  std::vector<std::pair<std::string, std::string>> out;
  if (*openblas_coretype(c)) out.emplace_back("OPENBLAS_CORETYPE", openblas_coretype(c));
  if (*aten_capability(c)) out.emplace_back("ATEN_CPU_CAPABILITY", aten_capability(c));
  return out;
}

void choose_kernels() {
  for (const auto& [name, value] : kernel_environment(info())) ::setenv(name.c_str(), value.c_str(), /*overwrite=*/0);
}

}  // namespace kbert::cpu
