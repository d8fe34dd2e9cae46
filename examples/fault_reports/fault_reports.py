#!/usr/bin/python3
"""The fault-report classifier: PHMSA gas-distribution incident narratives -> cause.

Trains and evaluates, on reports split by year (2010-2019 train, 2020 dev,
2021-2023 test):
  majority, TF-IDF + logistic regression      (baselines.py)
  kbert without knowledge                     (kbert train --kg none)
  kbert with the energy KG, no visible matrix (--no-visible-matrix)
  K-BERT: energy KG, soft positions, visible matrix
each kbert variant fine-tuned from the same small English BERT that was
pre-trained on NRC licensee event reports and the PHMSA training narratives
(data/fault_reports/pretrained, made by pretrain.sh). Prints the table
(macro-F1, accuracy, per-class F1 on the test reports, time), keeps the best
variant on dev as BEST, then explains a few test reports: predicted cause, its
probability, and the triples injected with the words they attached to.

Usage (from anywhere; Debian's interpreter):
  /usr/bin/python3 examples/fault_reports/fault_reports.py [--quick] [--out DIR]
      [--kbert build/apps/kbert] [--epochs N] [--learning-rate X] [--explain N]
--quick: a smoke run on a few reports with one short epoch (about 2 minutes).
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.normpath(os.path.join(HERE, "..", ".."))
DATA = os.path.join(REPO, "data", "fault_reports")
VARIANTS = (  # name, label, (uses the KG, visible matrix)
    ("no_kg", "kbert, no KG", (False, True)),
    ("kg_no_vm", "kbert, energy KG, no visible matrix", (True, False)),
    ("kbert", "K-BERT: energy KG + visible matrix", (True, True)),
)
SHORT = {"excavation_damage": "excav.", "other_outside_force": "outside", "other_cause": "other",
         "incorrect_operation": "incorr. op.", "natural_force": "natural", "pipe_weld_joint": "pipe/weld",
         "equipment_failure": "equip.", "corrosion": "corros."}


def log(msg):
    print(msg, flush=True)


def take(src, dst, n):
    """The header and the first n rows of a TSV (all rows when n is 0)."""
    with open(src, encoding="utf-8") as f:
        lines = f.readlines()
    with open(dst, "w", encoding="utf-8") as f:
        f.writelines(lines if n == 0 else lines[: n + 1])
    return len(lines) - 1 if n == 0 else min(n, len(lines) - 1)


def read_rows(path):
    with open(path, encoding="utf-8") as f:
        f.readline()
        return [line.rstrip("\n").split("\t", 1) for line in f]


def run(cmd, stdout_path):
    """Runs cmd; its progress (stderr) goes to the terminal, its result (stdout) to a file."""
    t0 = time.perf_counter()
    with open(stdout_path + ".tmp", "w", encoding="utf-8") as out:
        proc = subprocess.run(cmd, stdout=out, stderr=None)
    if proc.returncode != 0:
        sys.exit(f"fault_reports: {' '.join(cmd[:2])} failed with exit status {proc.returncode}")
    os.replace(stdout_path + ".tmp", stdout_path)
    return time.perf_counter() - t0


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--out", default=os.path.join(REPO, "build", "fault_reports"))
    ap.add_argument("--kbert", default=os.path.join(REPO, "build", "apps", "kbert"))
    ap.add_argument("--model", default=os.path.join(DATA, "pretrained"), help="the pre-trained encoder")
    ap.add_argument("--kg", default=os.path.join(DATA, "energy.spo"))
    ap.add_argument("--epochs", type=int)
    ap.add_argument("--learning-rate", type=float, default=3e-4)
    ap.add_argument("--max-length", type=int)
    ap.add_argument("--class-weights", default="balanced", choices=("none", "balanced"),
                    help="kbert's loss weighting (balanced: chosen on dev macro-F1, as the baseline's)")
    ap.add_argument("--explain", type=int, default=4, help="test reports to explain")
    args = ap.parse_args()
    for path in (args.kbert, args.model, args.kg):
        if not os.path.exists(path):
            sys.exit(f"fault_reports: {path} does not exist (run scripts/setup.sh first)")
    quick = args.quick
    epochs = args.epochs or (1 if quick else 5)
    max_length = args.max_length or (96 if quick else 256)
    out = args.out + ("_quick" if quick else "")
    os.makedirs(out, exist_ok=True)

    # 1. Data: the year split as shipped; --quick takes the first reports of each part.
    n = {"train": 240, "dev": 60, "test": 80} if quick else {"train": 0, "dev": 0, "test": 0}
    files = {}
    for part in ("train", "dev", "test"):
        files[part] = os.path.join(out, f"{part}.tsv")
        count = take(os.path.join(DATA, f"phmsa_{part}.tsv"), files[part], n[part])
        log(f"[data] {part}: {count} reports ({ {'train': '2010-2019', 'dev': '2020', 'test': '2021-2023'}[part] })")

    # 2. Baselines.
    log("[baselines] majority class; TF-IDF + logistic regression (penalty chosen on dev)")
    seconds = run(["/usr/bin/python3", os.path.join(HERE, "baselines.py"), files["train"], files["dev"], files["test"]],
                  os.path.join(out, "baselines.json"))
    baselines = json.load(open(os.path.join(out, "baselines.json")))
    log(f"[baselines] {seconds:.0f} s")

    # 3. The three kbert variants, from the same pre-trained encoder, same seed and schedule.
    results = {}
    for name, label, (use_kg, visible_matrix) in VARIANTS:
        log(f"[train] {label}: {epochs} epoch(s), max_length {max_length}")
        cmd = [args.kbert, "train", "--train", files["train"], "--dev", files["dev"], "--test", files["test"],
               "--model", args.model, "--kg", args.kg if use_kg else "none", "--predicate",
               "--max-length", str(max_length), "--batch-size", "16", "--epochs", str(epochs),
               "--learning-rate", str(args.learning_rate), "--metric", "macro_f1", "--seed", "7",
               "--class-weights", args.class_weights,
               "--out", os.path.join(out, name)] + ([] if visible_matrix else ["--no-visible-matrix"])
        seconds = run(cmd, os.path.join(out, name + ".json"))
        results[name] = json.load(open(os.path.join(out, name + ".json")))
        results[name]["seconds"] = seconds
        log(f"[train] {label}: test macro-F1 {results[name]['test']['macro_f1']:.4f}, {seconds:.0f} s")

    # 4. The table.
    classes = [c["label"] for c in baselines["tfidf_lr"]["classes"]]
    rows = [("majority class", baselines["majority"], baselines["majority"]["seconds"]),
            ("TF-IDF + logistic regression", baselines["tfidf_lr"], baselines["tfidf_lr"]["seconds"])]
    rows += [(label, results[name]["test"], results[name]["seconds"]) for name, label, _ in VARIANTS]
    lines = ["| method | test macro-F1 | test accuracy | " + " | ".join(SHORT.get(c, c) for c in classes) + " | time |",
             "|---|---|---|" + "---|" * len(classes) + "---|"]
    for label, r, s in rows:
        f1 = {c["label"]: c["f1"] for c in r["classes"]}
        lines.append(f"| {label} | {r['macro_f1']:.3f} | {r['accuracy']:.3f} | " +
                     " | ".join(f"{f1.get(c, 0):.2f}" for c in classes) + f" | {s:.0f} s |")
    support = {c["label"]: c["support"] for c in baselines["tfidf_lr"]["classes"]}
    lines.append("")
    lines.append("Per-class columns are F1; test support: " + ", ".join(f"{SHORT.get(c, c)} {support[c]}" for c in classes) + ".")
    winner = max(rows, key=lambda r: r[1]["macro_f1"])
    lines.append(f"Highest test macro-F1: {winner[0]} ({winner[1]['macro_f1']:.3f}).")
    table = "\n".join(lines)
    log("\n" + table + "\n")
    with open(os.path.join(out, "results.md.tmp"), "w", encoding="utf-8") as f:
        f.write(table + "\n")
    os.replace(os.path.join(out, "results.md.tmp"), os.path.join(out, "results.md"))

    # 5. Keep the best kbert variant on dev (the test set does not choose).
    best = max(VARIANTS, key=lambda v: results[v[0]]["dev"]["macro_f1"])
    best_dir = os.path.join(out, "best_model")
    if os.path.exists(best_dir):
        shutil.rmtree(best_dir)
    shutil.copytree(os.path.join(out, best[0]), best_dir)
    log(f"[best] on dev macro-F1: {best[1]} ({results[best[0]]['dev']['macro_f1']:.4f}) -> {best_dir}")

    # 6. Explanations from the K-BERT model: cause, probability, injected knowledge.
    explain(args, out, os.path.join(out, "kbert"), files["test"])


def explain(args, out, model_dir, test_file):
    rows = read_rows(test_file)
    # Reports that mention equipment: the ones the KG has something to say about, shortest first
    # (so the explanation fits on a screen), from different causes when possible.
    texts = "".join(text + "\n" for _, text in rows)
    proc = subprocess.run([args.kbert, "predict", "--model", model_dir, "--json"], input=texts,
                          capture_output=True, text=True)
    if proc.returncode != 0:
        sys.exit(f"fault_reports: kbert predict failed: {proc.stderr.strip()}")
    preds = [json.loads(line) for line in proc.stdout.splitlines()]
    meta = json.load(open(os.path.join(model_dir, "kbert.json")))
    labels = meta.get("labels") or []
    chosen, seen_causes = [], set()
    for i in sorted(range(len(rows)), key=lambda i: len(rows[i][1])):
        domain = [x for x in preds[i]["injected"] if x["relation"] in ("has failure mode", "is a sign of", "is a")]
        if len(domain) >= 2 and rows[i][0] not in seen_causes:
            chosen.append(i)
            seen_causes.add(rows[i][0])
        if len(chosen) == args.explain:
            break
    log(f"[explain] {len(chosen)} test reports, K-BERT model {model_dir}")
    for i in chosen:
        gold, text = rows[i]
        p = preds[i]
        prob = max(p["probs"])
        log("-" * 100)
        log(f"report:    {text[:600]}{' ...' if len(text) > 600 else ''}")
        log(f"predicted: {p['label']} (p = {prob:.2f})    reported cause: {gold}"
            f"{'' if p['label'] == gold else '    <- differs: a reviewer should look'}")
        by_word = {}
        for x in p["injected"]:   # a word met twice gets the same triples twice: show them once
            facts = by_word.setdefault(x["entity"], [])
            if f"{x['relation']} {x['object']}" not in facts:
                facts.append(f"{x['relation']} {x['object']}")
        log("knowledge the model saw (word in the report -> injected triples):")
        for word, facts in by_word.items():
            log(f"  {word:<22} -> " + "; ".join(facts))
        if labels:
            top = sorted(zip(p["probs"], labels), reverse=True)[:3]
            log("top causes: " + ", ".join(f"{l} {q:.2f}" for q, l in top))


if __name__ == "__main__":
    main()
