"""kbert: knowledge-aware BERT (K-BERT) for C++ and Python.

    import kbert
    kg = kbert.KnowledgeGraph(); kg.load("HowNet.spo")
    tree = kbert.SentenceTreeBuilder(kg, options=kbert.TreeOptions(predicate=True)).build("我不高兴")
    model = kbert.Model.load("models/senti"); model.predict(["这家酒店服务很好"])
    ix = kbert.Index.build(model, texts, labels=labels); ix.search(model, ["..."], k=5)
    kbert.train("train.tsv", "models/new", dev="dev.tsv", model="pretrained", kg=["energy.spo"])
    kbert.evaluate(kbert.Model.load("models/new"), "test.tsv")
    kbert.build_vocab("corpus.txt", "vocab.txt"); kbert.pretrain("corpus.txt", "models/enc", config=..., vocab=...)
    kg.save_compiled("energy.kbkg")  # kbert kg compile

Errors: missing files raise FileNotFoundError, bad files and values ValueError (the
message names the file and line, or the value), other failures RuntimeError; wrong
argument types TypeError. Long calls release the GIL.
"""
from ._cpu import choose_cpu_kernels as _choose_cpu_kernels

_choose_cpu_kernels()  # before LibTorch loads with the native module

from ._kbert import (  # noqa: E402
    Index, KnowledgeGraph, Model, SentenceTreeBuilder, Tokenizer, TreeOptions, build_vocab, evaluate, import_hf,
    import_uer, pretrain, report, score_facts, suggest_facts)
from ._kbert import train as _train  # noqa: E402


def train(train, out, *, nproc=1, **kwargs):
    """Fine-tunes a classifier or a tagger, as `kbert train` (see help(kbert._kbert.train)
    for every argument). nproc=N > 1 trains data-parallel on N local ranks (each a share of
    every global batch of N x batch_size, as `kbert train --nproc N`); rank 0's progress
    shows here and its result is returned."""
    if not isinstance(nproc, int) or isinstance(nproc, bool) or not 1 <= nproc <= 256:
        raise ValueError(f"nproc must be a number of ranks from 1 to 256, got {nproc!r}")
    if nproc == 1:
        return _train(train, out, **kwargs)
    from ._launch import train_ranks
    return train_ranks(nproc, train, out, kwargs)

__all__ = ["Index", "KnowledgeGraph", "Model", "SentenceTreeBuilder", "Tokenizer", "TreeOptions", "build_vocab", "evaluate",
           "import_hf", "import_uer", "pretrain", "report", "score_facts", "suggest_facts", "train"]
