// kbert._cpu: the CPU-kernel choice of kbert::cpu (kbert/common/cpu.hpp), for Python processes.
// A module of its own, on kbert::core alone, so that it runs before the main module loads
// LibTorch: `import kbert` calls choose_cpu_kernels() first.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include "kbert/common/cpu.hpp"

namespace py = pybind11;

PYBIND11_MODULE(_cpu, m) {
  m.doc() = "The CPU-kernel choice kbert makes before LibTorch loads (kbert/common/cpu.hpp).";
  m.def("choose_cpu_kernels", &kbert::cpu::choose_kernels,
        "Sets OPENBLAS_CORETYPE and ATEN_CPU_CAPABILITY as the kbert tool does, unless already set.");
  m.def(
      "kernel_environment", [] { return kbert::cpu::kernel_environment(kbert::cpu::info()); },
      "The (name, value) pairs choose_cpu_kernels sets on this CPU.");
}
