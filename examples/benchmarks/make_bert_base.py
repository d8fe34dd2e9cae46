#!/usr/bin/python3
"""A BERT-base-sized kbert model with random weights (12 layers, hidden 768, 12 heads, the
Chinese character vocabulary, HowNet as its KG) and the texts the precision benchmark runs
on (64 texts of 254 characters from ChnSentiCorp's training reviews), for `kbert bench
encoder` on any machine (docs/PERFORMANCE.md, "Precision"):

    /usr/bin/python3 examples/benchmarks/make_bert_base.py --kbert build/apps/kbert --out /tmp/bb
    for p in fp32 bf16 int8; do
        build/apps/kbert bench encoder --model /tmp/bb --kg none --precision $p < /tmp/bb.texts.txt
    done
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "tests", "reference"))
import torch  # noqa: E402
import torch_models as tm  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--kbert", required=True)
    ap.add_argument("--out", required=True, help="the model directory to write (texts: OUT.texts.txt)")
    ap.add_argument("--texts", type=int, default=64)
    ap.add_argument("--chars", type=int, default=254)
    a = ap.parse_args()
    data = os.path.join(ROOT, "data", "kbert")
    vocab = os.path.join(data, "google_vocab.txt")
    with open(vocab, encoding="utf-8") as f:
        n = sum(1 for _ in f)
    torch.manual_seed(0)
    clf = tm.KbertClassifier(tm.Bert(n, 768, 12, 12, 3072, "uer"), 2, "first").eval()
    with tempfile.TemporaryDirectory() as d:
        ckpt, cfg = os.path.join(d, "kbert.bin"), os.path.join(d, "config.json")
        torch.save(clf.state(), ckpt)
        with open(cfg, "w") as f:
            json.dump({"emb_size": 768, "feedforward_size": 3072, "hidden_size": 768, "heads_num": 12,
                       "layers_num": 12, "dropout": 0.1}, f)
        subprocess.run([a.kbert, "import-uer", "--checkpoint", ckpt, "--config", cfg, "--vocab", vocab,
                        "--tokenizer", "char", "--pooling", "first", "--predicate", "--max-length", "256",
                        "--kg", os.path.join(data, "HowNet.spo"), "--out", a.out], check=True)
    with open(os.path.join(data, "chnsenticorp_train.tsv"), encoding="utf-8") as f:
        next(f)
        text = "".join(line.rstrip("\n").split("\t")[1] for line in f)
    with open(a.out.rstrip("/") + ".texts.txt", "w", encoding="utf-8") as f:
        f.write("\n".join(text[i * a.chars:(i + 1) * a.chars] for i in range(a.texts)) + "\n")


if __name__ == "__main__":
    main()
