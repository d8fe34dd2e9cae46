#!/usr/bin/python3
"""Baselines for the fault-report classifier, on the same split as kbert.

  majority   always the most frequent training cause
  tfidf_lr   TF-IDF of words and word pairs (document frequency >= 2, sublinear tf,
             L2-normalised rows) + multinomial logistic regression with L2 penalty,
             trained by full-batch gradient descent with Nesterov momentum. The
             penalty and class weighting (none / balanced) are chosen on dev
             macro-F1, as kbert chooses its best epoch on dev.

Own implementation on numpy (Debian's python3-numpy); prints one JSON object:
{"majority": report, "tfidf_lr": report}, where a report has accuracy,
macro_f1, per-class precision/recall/F1 and the seconds it took, computed on
the test file.

Usage: /usr/bin/python3 examples/fault_reports/baselines.py TRAIN DEV TEST
"""
import collections
import json
import re
import sys
import time

import numpy as np


def read_tsv(path):
    labels, texts = [], []
    with open(path, encoding="utf-8") as f:
        header = f.readline().rstrip("\n").split("\t")
        if "label" not in header or "text_a" not in header:
            sys.exit(f"{path}: line 1: need columns label and text_a, got {header}")
        li, ti = header.index("label"), header.index("text_a")
        for number, line in enumerate(f, start=2):
            fields = line.rstrip("\n").split("\t")
            if len(fields) != len(header):
                sys.exit(f"{path}: line {number}: {len(fields)} fields, the header has {len(header)}")
            labels.append(fields[li])
            texts.append(fields[ti])
    return labels, texts


def report(gold, pred, classes):
    """Accuracy, macro-F1 and per-class P/R/F1 (the definitions of kbert eval)."""
    out = {"examples": len(gold), "accuracy": float(np.mean([g == p for g, p in zip(gold, pred)]))}
    per = []
    for c in classes:
        tp = sum(g == c and p == c for g, p in zip(gold, pred))
        fp = sum(g != c and p == c for g, p in zip(gold, pred))
        fn = sum(g == c and p != c for g, p in zip(gold, pred))
        precision = tp / (tp + fp) if tp + fp else 0.0
        recall = tp / (tp + fn) if tp + fn else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        per.append({"label": c, "precision": precision, "recall": recall, "f1": f1,
                    "support": sum(g == c for g in gold)})
    out["macro_f1"] = float(np.mean([c["f1"] for c in per]))
    out["classes"] = per
    return out


def features(texts):
    docs = []
    for t in texts:
        words = re.findall(r"[a-z0-9]+", t.lower())
        docs.append(words + [a + " " + b for a, b in zip(words, words[1:])])
    return docs


class TfIdf:
    def fit(self, docs, min_df=2):
        df = collections.Counter(f for d in docs for f in set(d))
        names = sorted(f for f, c in df.items() if c >= min_df)
        self.index = {f: i for i, f in enumerate(names)}
        n = len(docs)
        self.idf = np.array([np.log((1 + n) / (1 + df[f])) + 1 for f in names], dtype=np.float32)
        return self

    def transform(self, docs):
        rows, cols, vals = [], [], []
        for r, d in enumerate(docs):
            for f, c in collections.Counter(d).items():
                j = self.index.get(f)
                if j is not None:
                    rows.append(r)
                    cols.append(j)
                    vals.append((1 + np.log(c)) * self.idf[j])
        return Sparse(len(docs), len(self.index), rows, cols, vals)


class Sparse:
    """Rows of L2-normalised TF-IDF in coordinate form: 1-2% of the entries are non-zero."""

    def __init__(self, n, d, rows, cols, vals):
        self.shape = (n, d)
        self.rows = np.array(rows, dtype=np.int64)
        self.cols = np.array(cols, dtype=np.int64)
        vals = np.array(vals, dtype=np.float64)
        norms = np.sqrt(np.bincount(self.rows, weights=vals * vals, minlength=n))
        self.vals = vals / np.maximum(norms[self.rows], 1e-12)

    def __matmul__(self, w):          # X @ W, W dense (d, k)
        out = np.empty((self.shape[0], w.shape[1]))
        for k in range(w.shape[1]):
            out[:, k] = np.bincount(self.rows, weights=self.vals * w[self.cols, k], minlength=self.shape[0])
        return out

    def rmatmul_t(self, g):           # X^T @ G, G dense (n, k)
        out = np.empty((self.shape[1], g.shape[1]))
        for k in range(g.shape[1]):
            out[:, k] = np.bincount(self.cols, weights=self.vals * g[self.rows, k], minlength=self.shape[1])
        return out


def train_lr(x, y, n_classes, l2, weights, steps=300, lr=2.0):
    """Multinomial logistic regression, mean weighted cross-entropy + l2/2 |W|^2."""
    d = x.shape[1]
    w = np.zeros((d, n_classes))
    b = np.zeros(n_classes)
    vw, vb = np.zeros_like(w), np.zeros_like(b)
    onehot = np.eye(n_classes)[y]
    sw = weights[y][:, None] / weights[y].sum()
    for _ in range(steps):
        # Nesterov: the gradient at the look-ahead point.
        lw, lb = w + 0.9 * vw, b + 0.9 * vb
        z = x @ lw + lb
        z -= z.max(axis=1, keepdims=True)
        p = np.exp(z)
        p /= p.sum(axis=1, keepdims=True)
        g = (p - onehot) * sw
        gw = x.rmatmul_t(g) + l2 * lw
        gb = g.sum(axis=0)
        vw = 0.9 * vw - lr * gw
        vb = 0.9 * vb - lr * gb
        w += vw
        b += vb
    return w, b


def main():
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    (ytr, ttr), (ydev, tdev), (yte, tte) = (read_tsv(p) for p in sys.argv[1:4])
    classes = sorted(set(ytr))
    out = {}

    t0 = time.perf_counter()
    majority = collections.Counter(ytr).most_common(1)[0][0]
    out["majority"] = report(yte, [majority] * len(yte), classes)
    out["majority"]["seconds"] = time.perf_counter() - t0
    out["majority"]["label"] = majority

    t0 = time.perf_counter()
    docs_tr = features(ttr)
    vec = TfIdf().fit(docs_tr)
    xtr, xdev, xte = vec.transform(docs_tr), vec.transform(features(tdev)), vec.transform(features(tte))
    cid = {c: i for i, c in enumerate(classes)}
    y = np.array([cid[c] for c in ytr])
    counts = np.bincount(y, minlength=len(classes)).astype(np.float64)
    best = None
    for balanced in (False, True):
        weights = (counts.sum() / (len(classes) * counts)) if balanced else np.ones(len(classes))
        for l2 in (1e-1, 3e-2, 1e-2, 3e-3, 1e-3, 3e-4, 1e-4):
            w, b = train_lr(xtr, y, len(classes), l2, weights)
            dev = report(ydev, [classes[i] for i in (xdev @ w + b).argmax(1)], classes)
            if best is None or dev["macro_f1"] > best[0]:
                best = (dev["macro_f1"], l2, balanced, w, b)
    _, l2, balanced, w, b = best
    out["tfidf_lr"] = report(yte, [classes[i] for i in (xte @ w + b).argmax(1)], classes)
    out["tfidf_lr"].update(seconds=time.perf_counter() - t0, features=len(vec.index), l2=l2,
                           balanced=balanced, dev_macro_f1=best[0])
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
