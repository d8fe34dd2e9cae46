#!/usr/bin/python3
"""Medical NER the K-BERT way: the Medical KG vs no KG, on K-BERT's medical_ner data
(char-level BIO; BodyPart, Symptom, Examine, Disease, Cure).

1. A small char-level BERT is pre-trained (MLM, no knowledge) on the training
   sentences alone: no pre-trained Chinese BERT can be downloaded here.
2. The same encoder is fine-tuned as a tagger (kbert train --task ner) for each
   variant:
     no_kg     without knowledge (--kg none)
     kg_no_vm  the Medical KG injected, no visible matrix (--no-visible-matrix)
     kbert     K-BERT: Medical KG, soft positions, visible matrix
   (predicate off, injected tokens labelled [ENT], softmax, no CRF: docs/KBERT_SPEC.md section 6).
3. Each variant's best model on dev is scored on test entity by entity
   (conlleval: type and both boundaries must match); the table gives precision,
   recall, F1 overall and F1 per type, and how much knowledge the test sentences got.

Usage (Debian's interpreter):
  /usr/bin/python3 examples/medical_ner/medical_ner.py [--quick] [--out DIR]
      [--variants no_kg,kg_no_vm,kbert] [--epochs N] [--pretrain-epochs N]
--quick: a smoke run (300 training sentences, a tiny model, 8 short epochs; about 20 seconds).
"""
import argparse
import json
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.normpath(os.path.join(HERE, "..", ".."))
DATA = os.path.join(REPO, "data", "kbert")
VARIANTS = {  # name: (label, extra options)
    "no_kg": ("no KG", ["--kg", "none"]),
    "kg_no_vm": ("Medical KG, no visible matrix", ["--no-visible-matrix"]),
    "kbert": ("K-BERT: Medical KG + visible matrix", []),
}
TYPES = ["BodyPart", "Symptom", "Examine", "Disease", "Cure"]


def log(msg):
    print(msg, flush=True)


def take(src, dst, n):
    with open(src, encoding="utf-8") as f:
        lines = f.readlines()
    with open(dst, "w", encoding="utf-8") as f:
        f.writelines(lines if n == 0 else lines[: n + 1])
    return len(lines) - 1 if n == 0 else min(n, len(lines) - 1)


def sentences(path):
    with open(path, encoding="utf-8") as f:
        f.readline()
        return ["".join(line.split("\t")[0].split(" ")) for line in f if line.strip()]


def run(cmd, stdout_path=None, stdin=None):
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, input=stdin, stdout=subprocess.PIPE, stderr=None, text=True)
    if proc.returncode != 0:
        sys.exit(f"medical_ner: {' '.join(cmd[:2])} failed with exit status {proc.returncode}")
    if stdout_path:
        with open(stdout_path + ".tmp", "w", encoding="utf-8") as f:
            f.write(proc.stdout)
        os.replace(stdout_path + ".tmp", stdout_path)
    return proc.stdout, time.perf_counter() - t0


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--out", default=os.path.join(REPO, "build", "medical_ner"))
    ap.add_argument("--kbert", default=os.path.join(REPO, "build", "apps", "kbert"))
    ap.add_argument("--variants", default="no_kg,kg_no_vm,kbert")
    ap.add_argument("--epochs", type=int)
    ap.add_argument("--pretrain-epochs", type=int)
    ap.add_argument("--learning-rate", type=float)
    ap.add_argument("--seed", type=int, default=7, help="fine-tuning seed (the encoder is pre-trained with seed 7)")
    ap.add_argument("--pretrained", help="an encoder directory to fine-tune instead of pre-training one "
                    "(for example OUT/pretrained of an earlier run)")
    a = ap.parse_args()
    variants = a.variants.split(",")
    for v in variants:
        if v not in VARIANTS:
            sys.exit(f"medical_ner: unknown variant {v!r} (expected {', '.join(VARIANTS)})")
    out = a.out
    os.makedirs(out, exist_ok=True)
    if a.quick:
        n_train, n_eval = 300, 100
        cfg = {"emb_size": 32, "feedforward_size": 64, "hidden_size": 32, "heads_num": 4, "layers_num": 2}
        pre_epochs, epochs, lr, max_len = 1, 8, 5e-3, 64
    else:
        n_train, n_eval = 0, 0
        cfg = {"emb_size": 256, "feedforward_size": 1024, "hidden_size": 256, "heads_num": 4, "layers_num": 4}
        pre_epochs, epochs, lr, max_len = 8, 5, 3e-4, 256
    pre_epochs = a.pretrain_epochs or pre_epochs
    epochs = a.epochs or epochs
    lr = a.learning_rate or lr
    cfg.update({"dropout": 0.1, "max_seq_length": 256})
    with open(os.path.join(out, "config.json"), "w") as f:
        json.dump(cfg, f)
    counts = {}
    for split, n in (("train", n_train), ("dev", n_eval), ("test", n_eval)):
        counts[split] = take(os.path.join(DATA, f"medical_ner_{split}.tsv"), os.path.join(out, f"{split}.tsv"), n)
    with open(os.path.join(out, "corpus.txt"), "w", encoding="utf-8") as f:
        f.write("\n".join(sentences(os.path.join(out, "train.tsv"))) + "\n")
    kg = os.path.join(DATA, "Medical.spo")
    vocab = os.path.join(DATA, "google_vocab.txt")
    log(f"medical_ner: {counts['train']} training, {counts['dev']} dev, {counts['test']} test sentences")

    # How much knowledge the test sentences get (K-BERT's defaults: 2 entities, no predicate).
    trees, _ = run([a.kbert, "tree", "--kg", kg, "--tokenizer", "char", "--vocab", vocab, "--max-entities", "2",
                    "--max-length", str(max_len)], stdin="\n".join(sentences(os.path.join(out, "test.tsv"))) + "\n")
    injected = [len(json.loads(x)["injected"]) for x in trees.splitlines() if x.strip()]
    with_kg = sum(1 for x in injected if x)
    log(f"medical_ner: the Medical KG reaches {with_kg} of {len(injected)} test sentences, "
        f"{sum(injected) / max(1, len(injected)):.2f} triples a sentence")

    encoder = a.pretrained or os.path.join(out, "pretrained")
    if a.pretrained:
        pre, pre_s = {"reused": a.pretrained}, 0.0
        log(f"medical_ner: fine-tuning the encoder in {a.pretrained}")
    else:
        log(f"medical_ner: pre-training {cfg['layers_num']} layers, hidden {cfg['hidden_size']} on the training "
            f"sentences ({pre_epochs} epochs)")
        pre_json, pre_s = run([a.kbert, "pretrain", "--corpus", os.path.join(out, "corpus.txt"), "--config",
                               os.path.join(out, "config.json"), "--vocab", vocab, "--tokenizer", "char",
                               "--out", encoder, "--epochs", str(pre_epochs), "--batch-size", "32",
                               "--learning-rate", "1e-3", "--max-length", str(max_len), "--seed", "7", "--quiet"],
                              os.path.join(out, "pretrain.json"))
        pre = json.loads(pre_json.strip().splitlines()[-1])
        log(f"medical_ner: MLM loss {pre['first_loss']:.2f} -> {pre['final_loss']:.2f} in {pre_s:.0f} s")

    results = {"counts": counts, "config": cfg, "pretrain": dict(pre, seconds=pre_s), "epochs": epochs,
               "learning_rate": lr, "seed": a.seed, "test_sentences_with_knowledge": with_kg,
               "test_triples_per_sentence": sum(injected) / max(1, len(injected)), "variants": {}}
    for v in variants:
        label, extra = VARIANTS[v]
        log(f"medical_ner: fine-tuning '{label}' ({epochs} epochs)")
        cmd = [a.kbert, "train", "--task", "ner", "--model", encoder,
               "--train", os.path.join(out, "train.tsv"), "--dev", os.path.join(out, "dev.tsv"),
               "--test", os.path.join(out, "test.tsv"), "--out", os.path.join(out, v), "--epochs", str(epochs),
               "--batch-size", "32", "--learning-rate", str(lr), "--max-length", str(max_len), "--max-entities", "2",
               "--seed", str(a.seed), "--quiet"]
        if "--kg" not in extra:
            cmd += ["--kg", kg]
        r_json, secs = run(cmd + extra, os.path.join(out, f"{v}.json"))
        r = json.loads(r_json.strip().splitlines()[-1])
        results["variants"][v] = {"label": label, "dev": r["dev"], "test": r["test"], "seconds": secs,
                                  "best_epoch": r["best_epoch"]}
        log(f"medical_ner: {label}: test F1 {r['test']['f1']:.4f} (dev {r['dev']['f1']:.4f}), {secs:.0f} s")

    with open(os.path.join(out, "results.json.tmp"), "w") as f:
        json.dump(results, f, indent=1)
    os.replace(os.path.join(out, "results.json.tmp"), os.path.join(out, "results.json"))
    header = ("| variant | test P | test R | test F1 | " + " | ".join(f"F1 {t}" for t in TYPES) +
              " | dev F1 | fine-tuning |")
    lines = [header, "|" + "---|" * (header.count("|") - 1)]
    for v in variants:
        r = results["variants"][v]
        by_type = {t["type"]: t for t in r["test"]["types"]}
        cells = [f"{by_type[t]['f1']:.3f} ({by_type[t]['gold']})" if t in by_type else "-" for t in TYPES]
        lines.append(f"| {r['label']} | {r['test']['precision']:.3f} | {r['test']['recall']:.3f} | "
                     f"**{r['test']['f1']:.3f}** | " + " | ".join(cells) + f" | {r['dev']['f1']:.3f} | {r['seconds']:.0f} s |")
    table = "\n".join(lines) + "\n"
    with open(os.path.join(out, "table.md"), "w") as f:
        f.write(table)
    log("\n" + table)
    log(f"(per-type cells: F1 (gold entities in test); pre-training {pre_s:.0f} s; results in {out}/results.json)")


if __name__ == "__main__":
    main()
