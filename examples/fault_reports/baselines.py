#!/usr/bin/python3
"""Baselines for the fault-report classifier, on the same split as kbert.

  majority   always the most frequent training cause
  tfidf_lr   TF-IDF of words and word pairs (document frequency >= 2, sublinear tf,
             L2-normalised rows) + multinomial logistic regression with L2 penalty
             (scikit-learn: TfidfVectorizer, LogisticRegression with lbfgs). The
             inverse penalty C and the class weighting (none / balanced) are chosen
             on dev macro-F1, as kbert chooses its best epoch on dev.

scikit-learn from Debian's python3-sklearn; prints one JSON object:
{"majority": report, "tfidf_lr": report}, where a report has accuracy,
macro_f1, per-class precision/recall/F1 and the seconds it took, computed on
the test file.

Usage: /usr/bin/python3 examples/fault_reports/baselines.py TRAIN DEV TEST
"""
import collections
import json
import sys
import time

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression


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
    vec = TfidfVectorizer(token_pattern=r"[a-z0-9]+", ngram_range=(1, 2), min_df=2, sublinear_tf=True)
    xtr = vec.fit_transform(ttr)
    xdev, xte = vec.transform(tdev), vec.transform(tte)
    best = None
    for class_weight in (None, "balanced"):
        for c in (0.01, 0.03, 0.1, 0.3, 1, 3, 10, 30, 100):
            model = LogisticRegression(C=c, class_weight=class_weight, max_iter=5000).fit(xtr, ytr)
            dev = report(ydev, list(model.predict(xdev)), classes)
            if best is None or dev["macro_f1"] > best[0]:
                best = (dev["macro_f1"], c, class_weight, model)
    dev_f1, c, class_weight, model = best
    out["tfidf_lr"] = report(yte, list(model.predict(xte)), classes)
    out["tfidf_lr"].update(seconds=time.perf_counter() - t0, features=len(vec.vocabulary_), C=c,
                           balanced=class_weight == "balanced", dev_macro_f1=dev_f1)
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
