#!/usr/bin/env python3
"""Similar-report retrieval on the fault reports: precision@k of "same cause".

For every dev (or test) report, the k most similar training reports; precision@k is the
share of them whose cause is the report's own, averaged over the reports. Two retrievers:
TF-IDF cosine (the baseline's vectorizer, fitted on the training reports) and `kbert index`
/ `kbert search` with a model (its KG included), with [CLS] or mean pooling. The pooling is
chosen on dev; test is reported for every row, and never chooses.

    /usr/bin/python3 examples/fault_reports/retrieval.py --kbert build/apps/kbert \\
        --model build/fault_reports/kbert --train T.tsv --dev D.tsv --test E.tsv --out DIR
prints JSON: {"k", "tfidf": {"dev", "test"}, "kbert": {"cls": {...}, "mean": {...}}, "chosen", ...}.
Run with Debian's /usr/bin/python3 (scikit-learn).
"""
import argparse
import json
import os
import subprocess
import sys
import time

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from baselines import read_tsv  # noqa: E402


def precision_at_k(hit_labels, gold):
    """Mean over queries of the share of hits with the query's label."""
    return float(np.mean([sum(h == g for h in hits) / len(hits) for hits, g in zip(hit_labels, gold)]))


def tfidf_hits(train_texts, train_labels, texts, k):
    vec = TfidfVectorizer(token_pattern=r"[a-z0-9]+", ngram_range=(1, 2), min_df=2, sublinear_tf=True)
    x = vec.fit_transform(train_texts)  # rows are L2-normalised: dot products are cosines
    s = (vec.transform(texts) @ x.T).toarray()
    order = np.argsort(-s, axis=1, kind="stable")[:, :k]
    return [[train_labels[j] for j in row] for row in order]


def kbert_search(kbert, index, model, texts, k, threads, with_texts=False):
    """The k hits of each text: {"id", "score", "label"} (and "text", the indexed one, with with_texts)."""
    cmd = [kbert, "search", "--index", index, "--model", model, "--k", str(k), "--threads", str(threads)]
    proc = subprocess.run(cmd + ([] if with_texts else ["--no-texts"]), input="".join(t + "\n" for t in texts),
                          capture_output=True, text=True)
    if proc.returncode != 0:
        sys.exit(f"retrieval: kbert search failed: {proc.stderr.strip()}")
    return [json.loads(line)["hits"] for line in proc.stdout.splitlines()]


def build_index(kbert, model, train_file, index, pooling, threads):
    t0 = time.perf_counter()
    proc = subprocess.run([kbert, "index", "--model", model, "--corpus", train_file, "--out", index,
                           "--pooling", pooling, "--threads", str(threads)], capture_output=True, text=True)
    if proc.returncode != 0:
        sys.exit(f"retrieval: kbert index failed: {proc.stderr.strip()}")
    return time.perf_counter() - t0


def evaluate(kbert, model, files, out, k=5, threads=1, poolings=("cls", "mean")):
    """With files["dev"] None there is nothing to choose on: only the first pooling is run."""
    held_out = ("dev", "test") if files.get("dev") else ("test",)
    if not files.get("dev"):
        poolings = poolings[:1]
    parts = {p: read_tsv(files[p]) for p in ("train",) + held_out}
    train_labels, train_texts = parts["train"]
    r = {"k": k, "model": model, "tfidf": {}, "kbert": {}}
    for p in held_out:
        labels, texts = parts[p]
        r["tfidf"][p] = precision_at_k(tfidf_hits(train_texts, train_labels, texts, k), labels)
    for pooling in poolings:
        index = os.path.join(out, f"train_{pooling}.kbix")
        row = {"index_seconds": build_index(kbert, model, files["train"], index, pooling, threads)}
        for p in held_out:
            labels, texts = parts[p]
            row[p] = precision_at_k([[h["label"] for h in hits] for hits in kbert_search(kbert, index, model, texts, k, threads)],
                                    labels)
        r["kbert"][pooling] = row
    r["chosen"] = max(poolings, key=lambda q: r["kbert"][q].get("dev", 0))  # on dev
    r["index"] = os.path.join(out, f"train_{r['chosen']}.kbix")
    return r


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--kbert", required=True)
    ap.add_argument("--model", required=True)
    ap.add_argument("--train", required=True)
    ap.add_argument("--dev", required=True)
    ap.add_argument("--test", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--k", type=int, default=5)
    ap.add_argument("--threads", type=int, default=1)
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    r = evaluate(a.kbert, a.model, {"train": a.train, "dev": a.dev, "test": a.test}, a.out, a.k, a.threads)
    print(json.dumps(r, indent=1))


if __name__ == "__main__":
    main()
