#!/usr/bin/python3
"""The knowledge gate's promise beyond the main job: with the gate on, is K-BERT ever below
the same encoder without knowledge? Measured on the two K-BERT tasks the project runs
besides the fault reports, each with its own recipe (examples/chnsenticorp/run.sh,
examples/medical_ner/medical_ner.py):

  chnsenticorp  sentiment (accuracy), HowNet, a 2 x 128 BERT MLM-pre-trained on the
                training reviews, fine-tuned 2 epochs (predicate mode)
  medical_ner   tagging (entity F1, conlleval), the Medical KG, a 4 x 256 char BERT
                MLM-pre-trained on the training sentences, fine-tuned 5 epochs (predicate off)

One encoder is pre-trained per task (seed 7); each variant is fine-tuned from it once per seed
and its best epoch on dev is scored on test:
  no_kg       --kg none
  kbert       K-BERT (the task's KG, visible matrix, soft positions)
  kbert_gate  the same with --knowledge-gate (and --truncation trunk_first, as the main job's
              gated rows: a closed gate is then exactly the model without facts)
Every variant is compared with no_kg as a paired difference of the test metric, with a
bootstrap 95% interval over test texts and seeds (each replicate draws both; both arms see
the same draw). Nothing is chosen on test: every recipe is the task's own, fixed beforehand.

Usage (Debian's interpreter):
  /usr/bin/python3 examples/knowledge_gate/gate_tasks.py [--tasks chnsenticorp,medical_ner]
      [--seeds 7,8,9] [--variants no_kg,kbert,kbert_gate] [--jobs 2] [--out build/knowledge_gate] [--quick]
Finished runs are kept: a second call resumes where the first stopped.
"""
import argparse
import concurrent.futures
import json
import os
import subprocess
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.normpath(os.path.join(HERE, "..", ".."))
DATA = os.path.join(REPO, "data", "kbert")
BOOTSTRAP = 2000
sys.path.insert(0, os.path.join(REPO, "examples", "fault_reports"))
from protocol import log, write_atomic  # noqa: E402
VARIANTS = {
    "no_kg": ("no KG", ["--kg", "none"]),
    "kbert": ("K-BERT", []),
    "kbert_gate": ("K-BERT + knowledge gate", ["--knowledge-gate", "--truncation", "trunk_first"]),
}
# The tasks' recipes, as in their own scripts (full size; --quick shrinks them to a smoke run).
TASKS = {
    "chnsenticorp": dict(
        metric="accuracy", kg="HowNet.spo", files="chnsenticorp_{}.tsv", tokenizer=None,
        config={"emb_size": 128, "feedforward_size": 512, "hidden_size": 128, "heads_num": 2, "layers_num": 2},
        pretrain=["--epochs", "1", "--max-length", "128"],
        train=["--epochs", "2", "--learning-rate", "5e-4", "--max-length", "256", "--predicate"]),
    "medical_ner": dict(
        metric="f1", kg="Medical.spo", files="medical_ner_{}.tsv", tokenizer="char",
        config={"emb_size": 256, "feedforward_size": 1024, "hidden_size": 256, "heads_num": 4, "layers_num": 4},
        pretrain=["--epochs", "8", "--max-length", "256"],
        train=["--task", "ner", "--epochs", "5", "--learning-rate", "3e-4", "--max-length", "256",
               "--max-entities", "2"]),
}


def take(src, dst, n):
    with open(src, encoding="utf-8") as f:
        lines = f.readlines()
    write_atomic(dst, "".join(lines if n == 0 else lines[: n + 1]))


def read_rows(path):
    """(header, rows): each row a dict of the TSV's columns."""
    with open(path, encoding="utf-8") as f:
        header = f.readline().rstrip("\n").split("\t")
        return [dict(zip(header, line.rstrip("\n").split("\t"))) for line in f if line.strip()]


def run(cmd, stdin_text=None):
    proc = subprocess.run(cmd, input=stdin_text, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd[:2])} failed ({proc.returncode}): {proc.stderr.strip()[-2000:]}")
    return proc.stdout


def bio_entities(tags):
    """conlleval's chunks of a BIO tag list: a set of (type, start, end)."""
    out, cur = set(), None
    for i, t in enumerate(list(tags) + ["O"]):
        kind, _, typ = t.partition("-")
        if cur and (kind in ("O", "B") or typ != cur[0] or t == "[ENT]"):
            out.add((cur[0], cur[1], i))
            cur = None
        if kind == "B" or (kind == "I" and cur is None and typ):
            cur = (typ, i)
    return out


def unit_stats(task, gold_rows, pred_lines):
    """Per test text, the counts its metric sums: accuracy (correct, 1); entity F1 (true
    positives, predicted, gold)."""
    preds = [json.loads(x) for x in pred_lines.splitlines() if x.strip()]
    if len(preds) != len(gold_rows):
        raise RuntimeError(f"{len(preds)} predictions for {len(gold_rows)} texts")
    if task == "chnsenticorp":
        return np.array([[float(p["label"] == g["label"]), 1.0] for p, g in zip(preds, gold_rows)])
    stats = []
    for p, g in zip(preds, gold_rows):
        gold = bio_entities(g["label"].split(" "))
        pred = {(e["type"], e["start"], e["end"]) for e in p["entities"]}
        stats.append([len(gold & pred), len(pred), len(gold)])
    return np.array(stats, dtype=float)


def metric(task, s):
    """The task's metric from summed unit counts (the last axis)."""
    if task == "chnsenticorp":
        return s[..., 0] / s[..., 1]
    tp, npred, ngold = s[..., 0], s[..., 1], s[..., 2]
    p = np.divide(tp, npred, out=np.zeros_like(tp), where=npred > 0)
    r = np.divide(tp, ngold, out=np.zeros_like(tp), where=ngold > 0)
    return np.divide(2 * p * r, p + r, out=np.zeros_like(tp), where=p + r > 0)


def paired_bootstrap(task, a, b, rng):
    """a, b: [seeds, texts, counts]. The mean over seeds of metric(b) - metric(a), its
    bootstrap 95% interval over texts and seeds, and the share of replicates <= 0."""
    point = float(np.mean(metric(task, b.sum(1)) - metric(task, a.sum(1))))
    seeds, n = a.shape[0], a.shape[1]
    diffs = np.empty(BOOTSTRAP)
    for k in range(BOOTSTRAP):
        idx = rng.integers(0, n, n)
        ss = rng.integers(0, seeds, seeds)
        diffs[k] = np.mean(metric(task, b[ss][:, idx].sum(1)) - metric(task, a[ss][:, idx].sum(1)))
    lo, hi = np.percentile(diffs, [2.5, 97.5])
    return point, float(lo), float(hi), float(np.mean(diffs <= 0))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tasks", default="chnsenticorp,medical_ner")
    ap.add_argument("--seeds", default="7,8,9")
    ap.add_argument("--variants", default="no_kg,kbert,kbert_gate")
    ap.add_argument("--jobs", type=int, default=2, help="runs at once (each with 2 / jobs threads)")
    ap.add_argument("--out", default=os.path.join(REPO, "build", "knowledge_gate"))
    ap.add_argument("--kbert", default=os.path.join(REPO, "build", "apps", "kbert"))
    ap.add_argument("--quick", action="store_true", help="a smoke run: 300 texts, a tiny model, 1 or 8 epochs")
    a = ap.parse_args()
    tasks, seeds, variants = a.tasks.split(","), [int(s) for s in a.seeds.split(",")], a.variants.split(",")
    for t in tasks:
        if t not in TASKS:
            sys.exit(f"gate_tasks: unknown task {t!r} (expected {', '.join(TASKS)})")
    for v in variants:
        if v not in VARIANTS:
            sys.exit(f"gate_tasks: unknown variant {v!r} (expected {', '.join(VARIANTS)})")
    if "no_kg" not in variants:
        sys.exit("gate_tasks: the variants must include no_kg (every row is compared with it)")
    threads = max(1, 2 // a.jobs)
    vocab = os.path.join(DATA, "google_vocab.txt")

    def prepare(task):
        spec, out = TASKS[task], os.path.join(a.out, task)
        os.makedirs(out, exist_ok=True)
        n = 300 if a.quick else 0
        for split in ("train", "dev", "test"):
            take(os.path.join(DATA, spec["files"].format(split)), os.path.join(out, f"{split}.tsv"), n // (1 if split == "train" else 3))
        cfg = dict(spec["config"], dropout=0.1, max_seq_length=256)
        pre_args = list(spec["pretrain"])
        if a.quick:
            cfg.update(emb_size=32, feedforward_size=64, hidden_size=32, heads_num=4, layers_num=2)
            pre_args[1] = "1"
        write_atomic(os.path.join(out, "config.json"), json.dumps(cfg))
        texts = [r["text_a"] for r in read_rows(os.path.join(out, "train.tsv"))]
        if task == "medical_ner":  # space-separated characters: the sentences themselves
            texts = [t.replace(" ", "") for t in texts]
        write_atomic(os.path.join(out, "corpus.txt"), "".join(t + "\n" for t in texts))
        encoder = os.path.join(out, "pretrained")
        if not os.path.exists(os.path.join(encoder, "kbert.json")):
            log(f"[{task}] pre-training the encoder (MLM, seed 7)")
            t0 = time.perf_counter()
            cmd = [a.kbert, "pretrain", "--corpus", os.path.join(out, "corpus.txt"), "--config",
                   os.path.join(out, "config.json"), "--vocab", vocab, "--out", encoder, "--batch-size", "32",
                   "--learning-rate", "1e-3", "--seed", "7", "--threads", "2", "--quiet"] + pre_args
            cmd += ["--tokenizer", spec["tokenizer"]] if spec["tokenizer"] else []
            write_atomic(os.path.join(out, "pretrain.json"), run(cmd))
            log(f"[{task}] pre-trained in {time.perf_counter() - t0:.0f} s")
        return out

    def finetune(item):
        task, v, seed = item
        spec, out = TASKS[task], os.path.join(a.out, task)
        d, res = os.path.join(out, f"{v}_seed{seed}"), os.path.join(out, f"{v}_seed{seed}.json")
        if os.path.exists(res):
            return
        train_args = list(spec["train"])
        if a.quick:
            train_args[train_args.index("--epochs") + 1] = "8" if task == "medical_ner" else "1"
            train_args[train_args.index("--learning-rate") + 1] = "5e-3" if task == "medical_ner" else "3e-3"
        cmd = [a.kbert, "train", "--model", os.path.join(out, "pretrained"), "--train", os.path.join(out, "train.tsv"),
               "--dev", os.path.join(out, "dev.tsv"), "--test", os.path.join(out, "test.tsv"), "--out", d,
               "--batch-size", "32", "--seed", str(seed), "--threads", str(threads), "--quiet"] + train_args
        cmd += VARIANTS[v][1] + ([] if "--kg" in VARIANTS[v][1] else ["--kg", os.path.join(DATA, spec["kg"])])
        t0 = time.perf_counter()
        r = json.loads(run(cmd).strip().splitlines()[-1])
        secs = time.perf_counter() - t0
        rows = read_rows(os.path.join(out, "test.tsv"))
        texts = "".join(row["text_a"].replace(" ", "") + "\n" for row in rows) if task == "medical_ner" else \
            "".join(row["text_a"] + "\n" for row in rows)
        preds = run([a.kbert, "predict", "--model", d, "--json", "--threads", str(threads)], texts)
        stats = unit_stats(task, rows, preds)
        mine = float(metric(task, stats.sum(0)))
        theirs = r["test"][spec["metric"]]
        if abs(mine - theirs) > 1e-6:  # predict and train's own test scoring must agree
            raise RuntimeError(f"{task} {v} seed {seed}: predictions give {spec['metric']} {mine:.6f}, "
                               f"kbert train reported {theirs:.6f}")
        write_atomic(res, json.dumps({"dev": r["dev"][spec["metric"]], "test": theirs, "best_epoch": r["best_epoch"],
                                      "seconds": secs, "stats": stats.tolist()}))
        log(f"[{task}] {VARIANTS[v][0]}, seed {seed}: test {spec['metric']} {theirs:.4f} (dev "
            f"{r['dev'][spec['metric']]:.4f}, best epoch {r['best_epoch']}), {secs:.0f} s")

    for t in tasks:  # pre-training uses both cores: one task after the other
        prepare(t)
    # The comparison the gate is for (no KG, gated) first, ungated K-BERT after, a task at a time.
    items = sorted(((t, v, s) for t in tasks for s in seeds for v in variants),
                   key=lambda x: (tasks.index(x[0]), x[1] == "kbert", x[2], variants.index(x[1])))
    with concurrent.futures.ThreadPoolExecutor(max_workers=a.jobs) as ex:
        list(ex.map(finetune, items))

    rng = np.random.default_rng(2024)
    summary, lines = {}, []
    for task in tasks:
        spec, out = TASKS[task], os.path.join(a.out, task)
        res = {v: [json.load(open(os.path.join(out, f"{v}_seed{s}.json"))) for s in seeds] for v in variants}
        stats = {v: np.array([r["stats"] for r in res[v]]) for v in variants}
        summary[task] = {}
        lines += [f"\n{task} (test {spec['metric']}; seeds {a.seeds}; mean ± std over seeds; effect: paired "
                  f"difference with no KG, bootstrap 95% interval over texts and seeds)\n",
                  "| variant | dev | test | effect on test (points) | share of replicates <= 0 |", "|---|---|---|---|---|"]
        for v in variants:
            dev, test = [r["dev"] for r in res[v]], [r["test"] for r in res[v]]
            row = {"dev": dev, "test": test, "seconds": [r["seconds"] for r in res[v]]}
            eff = "-"
            share = "-"
            if v != "no_kg":
                p, lo, hi, le0 = paired_bootstrap(task, stats["no_kg"], stats[v], rng)
                row["effect"] = {"point": p, "low": lo, "high": hi, "share_le_0": le0}
                eff, share = f"{100 * p:+.1f} [{100 * lo:+.1f}, {100 * hi:+.1f}]", f"{le0:.3f}"
            summary[task][v] = row
            lines.append(f"| {VARIANTS[v][0]} | {np.mean(dev):.4f} ± {np.std(dev):.4f} | "
                         f"{np.mean(test):.4f} ± {np.std(test):.4f} | {eff} | {share} |")
    write_atomic(os.path.join(a.out, "results.json"), json.dumps(summary, indent=1))
    table = "\n".join(lines) + "\n"
    write_atomic(os.path.join(a.out, "table.md"), table)
    log(table)


if __name__ == "__main__":
    main()
