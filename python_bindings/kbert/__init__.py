"""kbert: knowledge-aware BERT (K-BERT) for C++ and Python.

    import kbert
    kg = kbert.KnowledgeGraph(); kg.load("HowNet.spo")
    tree = kbert.SentenceTreeBuilder(kg, options=kbert.TreeOptions(predicate=True)).build("我不高兴")
    model = kbert.Model.load("models/senti"); model.predict(["这家酒店服务很好"])
    kbert.train("train.tsv", "models/new", dev="dev.tsv", model="pretrained", kg=["energy.spo"])

Errors: missing files raise FileNotFoundError, bad files and values ValueError (the
message names the file and line, or the value), other failures RuntimeError; wrong
argument types TypeError. Long calls release the GIL.
"""
import os as _os


def _choose_cpu_kernels():
    # As the `kbert` tool does (apps/kbert.cpp): on machines that hide their CPU model,
    # OpenBLAS and LibTorch fall back to their slowest kernels. Must run before LibTorch loads.
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("flags"):
                    flags = set(line.split())
                    if {"avx512f", "avx512bw", "avx512dq", "avx512vl", "avx512cd"} <= flags:
                        _os.environ.setdefault("OPENBLAS_CORETYPE", "SkylakeX")
                        _os.environ.setdefault("ATEN_CPU_CAPABILITY", "avx512")
                    elif {"avx2", "fma"} <= flags:
                        _os.environ.setdefault("OPENBLAS_CORETYPE", "Haswell")
                        _os.environ.setdefault("ATEN_CPU_CAPABILITY", "avx2")
                    return
    except OSError:
        pass


_choose_cpu_kernels()

from ._kbert import (  # noqa: E402
    KnowledgeGraph, Model, SentenceTreeBuilder, Tokenizer, TreeOptions, import_hf, import_uer, train)

__all__ = ["KnowledgeGraph", "Model", "SentenceTreeBuilder", "Tokenizer", "TreeOptions", "import_hf", "import_uer",
           "train"]
