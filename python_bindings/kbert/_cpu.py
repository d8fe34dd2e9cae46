"""The CPU-kernel choice of the `kbert` tool (apps/kbert.cpp), for Python processes.

On machines that hide their CPU model, OpenBLAS and LibTorch fall back to their slowest
kernels; the CPU flags say which ones are safe. Must run before LibTorch loads. Plain
Python with no imports of its own, so scripts can load it by path without importing
the native module (examples/benchmarks/encoder_vs_original.py does).
"""
import os


def choose_cpu_kernels():
    """Sets OPENBLAS_CORETYPE and ATEN_CPU_CAPABILITY from /proc/cpuinfo unless already set."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("flags"):
                    flags = set(line.split())
                    if {"avx512f", "avx512bw", "avx512dq", "avx512vl", "avx512cd"} <= flags:
                        os.environ.setdefault("OPENBLAS_CORETYPE", "SkylakeX")
                        os.environ.setdefault("ATEN_CPU_CAPABILITY", "avx512")
                    elif {"avx2", "fma"} <= flags:
                        os.environ.setdefault("OPENBLAS_CORETYPE", "Haswell")
                        os.environ.setdefault("ATEN_CPU_CAPABILITY", "avx2")
                    return
    except OSError:
        pass
