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
from ._cpu import choose_cpu_kernels as _choose_cpu_kernels

_choose_cpu_kernels()  # before LibTorch loads with the native module

from ._kbert import (  # noqa: E402
    KnowledgeGraph, Model, SentenceTreeBuilder, Tokenizer, TreeOptions, import_hf, import_uer, score_facts, train)

__all__ = ["KnowledgeGraph", "Model", "SentenceTreeBuilder", "Tokenizer", "TreeOptions", "import_hf", "import_uer",
           "score_facts", "train"]
