#!/usr/bin/python3
"""Training throughput: `kbert train` against the original K-BERT's training loop, on
the same ChnSentiCorp training texts, HowNet, BERT-base sizes (random weights), the
original's defaults (seq_length 256, batch 32), same kernels and threads, one run.

The original's loop as run_kbert_cls.py runs it: trees built beforehand
(brain/knowgraph.py from --kbert-repo, pkuseg stubbed; else the Python reference),
every tree padded to 256, batches sliced from LongTensors, forward of the UER encoder
+ BertClassifier (tests/reference/torch_models.py: UER's operations), NLLLoss over
LogSoftmax, backward, optimizer step. The optimizer here is torch.optim.AdamW with
the BertAdam schedule (the original's BertAdam is a Python loop over parameters, slower:
this favours the original). Only the loop is timed, on both sides (kbert's includes
building its trees, batch by batch).

    /usr/bin/python3 examples/benchmarks/train_vs_original.py --kbert build/apps/kbert [--kbert-repo K-BERT] \
        [--precision fp32|bf16]
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import types

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import encoder_vs_original  # noqa: E402,F401  (sets kbert's kernels before torch loads)
import torch  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "tests", "reference"))
import kbert_reference as kref  # noqa: E402
import torch_models as tm  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--kbert", required=True)
    ap.add_argument("--kbert-repo")
    ap.add_argument("--texts", type=int, default=256)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--layers", type=int, default=12)
    ap.add_argument("--precision", default="fp32", choices=["fp32", "bf16", "auto"],
                    help="kbert's training precision (fp32: the same kernels as the original's float32 loop; "
                         "bf16: the mixed-precision path against it)")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    data = os.path.join(ROOT, "data", "kbert")
    kg_path, vocab_path = os.path.join(data, "HowNet.spo"), os.path.join(data, "google_vocab.txt")
    with open(os.path.join(data, "chnsenticorp_train.tsv"), encoding="utf-8") as f:
        header = next(f)
        rows = [l.rstrip("\n").split("\t") for l in f][: a.texts]
    vocab = {}
    with open(vocab_path, encoding="utf-8") as f:
        for i, line in enumerate(f):
            p = line.strip().split()
            vocab[p[0] if p else f"???{i}"] = i
    L, B = 256, 32
    torch.manual_seed(0)
    clf = tm.KbertClassifier(tm.Bert(len(vocab), 768, a.layers, 12, 3072, "uer"), 2, "first")
    with tempfile.TemporaryDirectory() as d:
        ckpt, cfg, model, train = (os.path.join(d, x) for x in ("kbert.bin", "config.json", "model", "train.tsv"))
        torch.save(clf.state(), ckpt)
        with open(cfg, "w") as f:
            json.dump({"emb_size": 768, "feedforward_size": 3072, "hidden_size": 768, "heads_num": 12,
                       "layers_num": a.layers, "dropout": 0.1}, f)
        with open(train, "w", encoding="utf-8") as f:
            f.write(header)
            for r in rows:
                f.write("\t".join(r) + "\n")
        subprocess.run([a.kbert, "import-uer", "--checkpoint", ckpt, "--config", cfg, "--vocab", vocab_path,
                        "--tokenizer", "char", "--pooling", "first", "--predicate", "--max-length", str(L),
                        "--kg", kg_path, "--out", model], check=True, stdout=subprocess.DEVNULL)
        os.remove(ckpt)
        r = subprocess.run([a.kbert, "train", "--train", train, "--model", model, "--out", os.path.join(d, "out"),
                            "--epochs", "1", "--batch-size", str(B), "--threads", str(a.threads), "--quiet",
                            "--precision", a.precision],  # fp32: as the original's loop, the same kernels
                           check=True, stdout=subprocess.PIPE)
        ours = json.loads(r.stdout.decode().strip().split("\n")[-1])

    # The original's loop.
    table = kref.SpoTable([kg_path], predicate=True)
    texts = ["[CLS]" + r[1] for r in rows]
    if a.kbert_repo:
        segmented = {t: kref.segment(table, t) for t in texts}
        sys.modules["pkuseg"] = types.SimpleNamespace(pkuseg=lambda **kw: types.SimpleNamespace(cut=lambda s: segmented[s]))
        sys.path.insert(0, a.kbert_repo)
        from brain import KnowledgeGraph
        kg = KnowledgeGraph(spo_files=[kg_path], predicate=True)
        make_tree = lambda s: kg.add_knowledge_with_vm([s], add_pad=True, max_length=L)
    else:
        make_tree = lambda s: [[x] for x in kref.tree(table, s, 2, L)]
    dataset = []
    for t, r in zip(texts, rows):
        toks, pos, vm, _ = make_tree(t)
        dataset.append(([vocab.get(x, 100) for x in toks[0]], int(r[0]), [1 if x != "[PAD]" else 0 for x in toks[0]],
                        pos[0], vm[0].astype("bool")))
    ids = torch.LongTensor([s[0] for s in dataset])
    labels = torch.LongTensor([s[1] for s in dataset])
    mask = torch.LongTensor([s[2] for s in dataset])
    pos = torch.LongTensor([s[3] for s in dataset])
    vms = [s[4] for s in dataset]
    opt = torch.optim.AdamW(clf.parameters(), lr=2e-5, eps=1e-6, weight_decay=0.01)
    loss_fn, log_softmax = torch.nn.NLLLoss(), torch.nn.LogSoftmax(dim=-1)
    clf.train()
    t0 = time.perf_counter()
    for i in range(0, len(dataset), B):
        vm = torch.LongTensor(vms[i:i + B])
        logits = clf(ids[i:i + B], pos[i:i + B], mask[i:i + B], vm)
        loss = loss_fn(log_softmax(logits), labels[i:i + B])
        opt.zero_grad()
        loss.backward()
        opt.step()
    original = time.perf_counter() - t0
    orig_rate = len(dataset) / original
    print(f"{len(dataset)} ChnSentiCorp training texts, HowNet, predicate mode, seq_length {L}, batch {B}, "
          f"{a.threads} threads, BERT-base sizes ({a.layers} layers), one epoch")
    print(f"original loop: {original:7.1f} s  {orig_rate:6.2f} examples/s")
    print(f"kbert train ({a.precision}): {ours['loop_seconds']:7.1f} s  {ours['examples_per_s']:6.2f} examples/s")
    print(f"speed-up: {ours['examples_per_s'] / orig_rate:.1f}x")


if __name__ == "__main__":
    main()
