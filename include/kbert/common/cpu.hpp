// What the CPU can do, read once from /proc/cpuinfo, and the kernels kbert chooses from it.
// Every benchmark names the CPU and the instruction set its kernels used (kbert env,
// kbert bench encoder).
#pragma once

#include <string>
#include <utility>
#include <vector>

namespace kbert::cpu {

struct Info {
  std::string model;               ///< "AMD EPYC 9R14 96-Core Processor" ("unknown" when unreadable)
  unsigned logical_cores = 0;      ///< online hardware threads
  bool avx2 = false, fma = false;
  bool avx512 = false;             ///< AVX-512 F, BW, DQ, VL and CD (Skylake-X and later)
  bool avx512_vnni = false;        ///< int8 dot products
  bool avx512_bf16 = false;        ///< bfloat16 dot products (Cooper Lake, Zen 4, Sapphire Rapids)
  bool amx_bf16 = false, amx_int8 = false;  ///< AMX tiles (Sapphire Rapids and later)
};

/// This machine's CPU (read once; /proc/cpuinfo).
const Info& info();
/// `info` of a /proc/cpuinfo text (tests give their own).
Info parse_cpuinfo(const std::string& text);

/// The best instruction set of `c` for matrix products: "amx_bf16", "avx512_bf16",
/// "avx512", "avx2" or "baseline".
const char* best_isa(const Info& c);
/// How bfloat16 products run on `c`: "amx" (tiles), "avx512_bf16" (native dot products),
/// "emulated" (by oneDNN on AVX-512; slower than float32) or "none" (below AVX-512 neither
/// oneDNN nor LibTorch multiply bfloat16 at a usable speed: --precision bf16 is refused).
const char* bf16_path(const Info& c);
/// How int8 products run on `c`: "amx", "avx512_vnni", "avx2" or "baseline" (without VNNI,
/// the weights keep 7 bits: kbert::nn::int8_weight_levels).
const char* int8_path(const Info& c);
/// What `--precision auto` runs on `c` (unless KBERT_PRECISION says otherwise): "bf16" or
/// "fp32", for inference or for training (kbert::resolve_precision).
const char* auto_precision(const Info& c, bool training);
/// The OpenBLAS core type and the ATen CPU capability kbert sets for `c` (before LibTorch
/// loads, unless the user set OPENBLAS_CORETYPE / ATEN_CPU_CAPABILITY); "" where the
/// libraries' own choice is kept.
const char* openblas_coretype(const Info& c);
const char* aten_capability(const Info& c);
/// The kernels of the OpenBLAS loaded in this process, as OpenBLAS names them
/// (`openblas_get_corename`: "Haswell", "SkylakeX", ...); "" where no OpenBLAS is loaded.
/// What a float32 figure ran on: a user's OPENBLAS_CORETYPE may choose narrower kernels than
/// the CPU runs (AMD EPYC Zen 5 with Haswell's: BERT-base forward 1.66x slower than SkylakeX's).
std::string blas_kernels();
/// Whether OpenBLAS kernels `coretype` use AVX-512 ("SkylakeX", "Cooperlake", "SapphireRapids").
bool avx512_blas(const std::string& coretype);

/// What kbert sets in the environment before OpenBLAS and LibTorch load, as (name, value):
/// OPENBLAS_CORETYPE and ATEN_CPU_CAPABILITY where it chooses for `c`. The one place this is
/// decided: the `kbert` tool, the Python module and the benchmarks all take it from here.
/// OpenMP's wait policy is left to the user: OMP_WAIT_POLICY=ACTIVE, set here until issue 35's
/// second stop, measured no faster (whole processes, Zen 4) and kept a core spinning for
/// the life of a Python process after its first parallel operation.
std::vector<std::pair<std::string, std::string>> kernel_environment(const Info& c);
/// Sets kernel_environment(info()) in this process's environment; a variable already set
/// (the user's own choice) is left as it is. Must run before LibTorch loads.
void choose_kernels();

}  // namespace kbert::cpu
