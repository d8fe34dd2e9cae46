// kbert env: the CPU, the instruction set kbert's kernels use, threads and version: what
// every benchmark figure names.
#include <cstdlib>
#include <iostream>
#include <nlohmann/json.hpp>

#include "cli_common.hpp"
#include "commands.hpp"
#include "kbert/common/cpu.hpp"
#include "kbert/common/env.hpp"
#include "kbert/common/options.hpp"

namespace kbert::cli {

namespace {

// A hint where the user's OPENBLAS_CORETYPE leaves AVX-512 unused on a CPU that has it.
std::string narrower_blas(const cpu::Info& c) {
  const char* set = std::getenv("OPENBLAS_CORETYPE");
  const std::string ours = cpu::openblas_coretype(c);
  if (!set || !cpu::avx512_blas(ours) || cpu::avx512_blas(set)) return "";
  return "\n                     (narrower than this CPU's " + ours + " kernels: float32 runs slower; unset "
         "OPENBLAS_CORETYPE to let kbert choose)";
}

}  // namespace

int cmd_env(int argc, char** argv) {
  Args args(argc, argv, 2);
  const cpu::Info& c = cpu::info();
  auto chosen = [](const char* variable, const char* ours) -> std::string {
    const char* set = std::getenv(variable);
    return set ? std::string(set) + " (set by the user)" : *ours ? std::string(ours) : std::string("the library's own");
  };
  nlohmann::json j = {
      {"version", std::string(options::version())},
      {"cpu", c.model},
      {"logical_cores", c.logical_cores},
      {"isa", {{"avx2", c.avx2 && c.fma}, {"avx512", c.avx512}, {"avx512_vnni", c.avx512_vnni},
               {"avx512_bf16", c.avx512_bf16}, {"amx_bf16", c.amx_bf16}, {"amx_int8", c.amx_int8}}},
      {"best_isa", cpu::best_isa(c)},
      {"bf16", cpu::bf16_path(c)},
      {"int8", cpu::int8_path(c)},
      {"auto_precision", {{"inference", cpu::auto_precision(c, false)}, {"training", cpu::auto_precision(c, true)}}},
      {"openblas_coretype", chosen("OPENBLAS_CORETYPE", cpu::openblas_coretype(c))},
      {"aten_cpu_capability", chosen("ATEN_CPU_CAPABILITY", cpu::aten_capability(c))},
      {"threads", env::num_threads()},
  };
  // What kbert-model, the Python module and the benchmarks run with (a user's setting wins).
  nlohmann::json kernels = nlohmann::json::object();
  for (const auto& [name, value] : cpu::kernel_environment(c)) {
    const char* set = std::getenv(name.c_str());
    kernels[name] = set ? set : value;
  }
  j["kernel_environment"] = kernels;
  if (args.flag("json")) {
    std::cout << j.dump() << "\n";
    return 0;
  }
  std::cout << "kbert " << options::version() << "\n"
            << "cpu:                 " << c.model << " (" << c.logical_cores << " logical cores)\n"
            << "instruction sets:   ";
  for (const auto& [name, has] : j["isa"].items())
    if (has.get<bool>()) std::cout << " " << name;
  std::cout << "\nwidest matrix ISA:   " << j["best_isa"].get<std::string>() << "\n"
            << "bfloat16 products:   " << j["bf16"].get<std::string>()
            << (c.amx_bf16      ? " (AMX tiles)"
                : c.avx512_bf16 ? " (native dot products)"
                : c.avx512      ? " (emulated by oneDNN: slower than float32)"
                                : " (below AVX-512: --precision bf16 is refused)")
            << "\nint8 products:       " << j["int8"].get<std::string>()
            << (c.amx_int8 || c.avx512_vnni ? "" : " (no VNNI: weights keep 7 bits, so that int16 pair sums cannot saturate)")
            << "\n--precision auto:    " << cpu::auto_precision(c, false) << " for inference, "
            << cpu::auto_precision(c, true) << " for training"
            << (std::getenv("KBERT_PRECISION") ? std::string(" (KBERT_PRECISION=") + std::getenv("KBERT_PRECISION") + " set: it wins)" : "")
            << "\nOpenBLAS kernels:    " << j["openblas_coretype"].get<std::string>() << narrower_blas(c)
            << "\nATen kernels:        " << j["aten_cpu_capability"].get<std::string>()
            << "\nthreads:             " << env::num_threads() << " (--threads, else KBERT_NUM_THREADS, else every core)\n";
  return 0;
}

}  // namespace kbert::cli
