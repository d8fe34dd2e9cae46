#!/usr/bin/python3
"""Parity of `kbert tree` (char mode, truncation kbert) with the Python reference
of K-BERT's add_knowledge_with_vm, token for token and cell for cell.

    check_parity.py --kbert build/apps/kbert --data data/kbert [--texts N]
"""
import argparse
import json
import os
import random
import subprocess
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import kbert_reference as ref  # noqa: E402


def load_texts(data, n):
    reviews, ner = [], []
    with open(os.path.join(data, "chnsenticorp_test.tsv"), encoding="utf-8") as f:
        next(f)
        for line in f:
            parts = line.rstrip("\n").split("\t")
            if len(parts) >= 2:
                reviews.append(parts[1])
    with open(os.path.join(data, "medical_ner_dev.tsv"), encoding="utf-8") as f:
        next(f)
        for line in f:
            ner.append(line.split("\t")[0].replace(" ", ""))
    rng = random.Random(11)
    return rng.sample(reviews, n), rng.sample(ner, n)


# Texts that probe the segmentation rules: whitespace of every kind, tags inside
# the text, half tags, Latin and digits, astral code points, empty text.
TRICKY = [
    "", " ", "\u3000\x0b\x0c", "[CLS][SEP][PAD]", "[CLS", "a[MASK]b [ENT]", "不高兴不高兴", "不 高兴",
    "高高兴兴地发生故障", "发生故障\u00a0了", "𠀀𝔘不高兴😀", "ABC不高兴123", "[UNK]不高兴[SEP]不高兴",
    "\u2028不高兴\u0085x", "头痛头晕咳嗽发热", "患者既往有高血压病史", "\x1c不\x1f高兴",
]


def run_kbert(kbert, kg, texts, predicate, max_entities, max_length, add_special):
    cmd = [kbert, "tree", "--kg", kg, "--tokenizer", "char", "--max-entities", str(max_entities),
           "--max-length", str(max_length), "--truncation", "kbert"]
    if predicate:
        cmd.append("--predicate")
    if add_special:
        cmd.append("--add-special")
    out = subprocess.run(cmd, input="\n".join(texts) + "\n", capture_output=True, text=True, check=True).stdout
    # Split on "\n" only: texts may hold U+2028 and friends, which splitlines() would cut.
    return [json.loads(line) for line in out.split("\n") if line]


def compare(got, text, kg, max_entities, max_length):
    tokens, pos, vm, seg = ref.tree(kg, text, max_entities, max_length)
    m = len(got["tokens"])
    where = f"text {text[:30]!r}"
    assert got["tokens"] == tokens[:m], f"{where}: tokens differ"
    assert all(t == "[PAD]" for t in tokens[m:]), f"{where}: kbert dropped real tokens ({m} of {len(tokens)})"
    assert got["positions"] == pos[:m], f"{where}: positions differ"
    assert all(p == max_length - 1 for p in pos[m:]), f"{where}: pad positions"
    assert got["segments"] == seg[:m], f"{where}: segments differ"
    mine = np.zeros((m, m), dtype=np.uint8)
    for i, row in enumerate(got["visible"]):
        mine[i, row] = 1
    assert np.array_equal(mine, vm[:m, :m]), f"{where}: visible matrix differs"
    assert not vm[m:, :].any() and not vm[:, m:].any(), f"{where}: pad rows not zero"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--kbert", required=True)
    ap.add_argument("--data", required=True)
    ap.add_argument("--texts", type=int, default=60)
    a = ap.parse_args()
    reviews, ner = load_texts(a.data, a.texts)
    checked = 0
    injected = 0
    for kg_name, texts in (("HowNet.spo", reviews + ner[:10] + TRICKY), ("Medical.spo", ner + reviews[:10] + TRICKY)):
        kg_path = os.path.join(a.data, kg_name)
        for predicate in (True, False):
            kg = ref.SpoTable([kg_path], predicate=predicate)
            for max_entities in (1, 2, 3):
                for max_length in (48, 128, 256):
                    for add_special in (False, True):
                        got = run_kbert(a.kbert, kg_path, texts, predicate, max_entities, max_length, add_special)
                        assert len(got) == len(texts)
                        for g, t in zip(got, texts):
                            text = ("[CLS]" + t) if add_special else t
                            compare(g, text, kg, max_entities, max_length)
                            injected += len(g["injected"])
                            checked += 1
    # Pairs: "[CLS]" + a + "[SEP]" + b + "[SEP]", a TAB between a and b on the line.
    kg_path = os.path.join(a.data, "HowNet.spo")
    kg = ref.SpoTable([kg_path], predicate=True)
    pairs = [reviews[i] + "\t" + ner[i] for i in range(len(reviews))]
    for max_length in (48, 256):
        got = run_kbert(a.kbert, kg_path, pairs, True, 2, max_length, True)
        for g, p in zip(got, pairs):
            ta, tb = p.split("\t")
            compare(g, "[CLS]" + ta + "[SEP]" + tb + "[SEP]", kg, 2, max_length)
            checked += 1
    print(f"parity: {checked} trees equal to the reference ({injected} injected branches)")
    assert injected > 0, "no knowledge was injected: the check would prove nothing"


if __name__ == "__main__":
    main()
