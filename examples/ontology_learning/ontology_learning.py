#!/usr/bin/env python3
"""Type taxonomy discovery ("is A a superclass of B?") with a knowledge-injected encoder, on
three energy taxonomies and LLMs4OL's GeoNames and schema.org, on honest splits (splits.py)
and on LLMs4OL's own split. Prints one table; writes results.json and the split files.

    /usr/bin/python3 examples/ontology_learning/ontology_learning.py            # the table
    /usr/bin/python3 examples/ontology_learning/ontology_learning.py --quick    # a smoke run

Rows per taxonomy and split: TF-IDF char-n-gram + LR, text_a alone (the honest split's
check: at chance), the head-word closure of the known taxonomy, and kbert fine-tuned from
the project's English encoder (data/fault_reports/pretrained) on pair classification
(text_a = A, text_b = B with its definition): without a KG, with the training split's
edges as the KG (`B  subclass of  A`, never a test edge), with --hops 2 (known ancestors
as a path) and with the knowledge gate. Seeds 7, 8, 9; test macro-F1 mean +- std; the KG's
effect with a paired bootstrap interval over test pairs and seeds (as the main job).
"""
import argparse
import csv
import json
import os
import subprocess
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(REPO, "examples", "fault_reports"))
from taxonomy_baselines import closure, macro_f1, ngram_lr, text_a_lr  # noqa: E402
from splits import RELATION, honest_split, load_taxonomy, with_definition  # noqa: E402
from protocol import paired_bootstrap  # noqa: E402

TAXONOMIES = ["cgmes", "iso14224", "phmsa", "geonames", "schemaorg"]
OWN = {"geonames", "schemaorg"}  # LLMs4OL's own split exists
CONFIGS = {  # the KG file is the split's kg.spo; {kg} stands for it
    "no_kg": ["--kg", "none"],
    "kg": ["--kg", "{kg}"],
    "kg_hops2": ["--kg", "{kg}", "--hops", "2"],
    "kg_gate": ["--kg", "{kg}", "--knowledge-gate"],
}
PAPER = {"geonames": "GPT-3.5 67.8; Flan-T5-XL tuned 59.4; BERT-Large 54.5",
         "schemaorg": "Flan-T5-XL tuned 91.7; GPT-3.5 74.4; GPT-4 74.2; BERT-Large 44.1"}


def write_atomic(path, text):
    with open(path + ".tmp", "w", encoding="utf-8") as f:
        f.write(text)
    os.replace(path + ".tmp", path)


def write_pairs(path, rows):
    write_atomic(path, "label\ttext_a\ttext_b\n" + "".join(f"{l}\t{a}\t{b}\n" for l, a, b in rows))


def read_pairs(path):
    with open(path, encoding="utf-8", newline="") as f:
        return [(int(r["label"]), r["text_a"], r["text_b"]) for r in csv.DictReader(f, delimiter="\t")]


def prepare(tax, out, quick):
    """The split files of one taxonomy: {split name: (train, dev, test, kg file or None, names of B)}."""
    edges, definitions = load_taxonomy(os.path.join(REPO, "data", "ontology", f"{tax}.tsv"))
    s = honest_split(edges)
    d = os.path.join(out, tax, "honest")
    os.makedirs(d, exist_ok=True)
    parts = {}
    for name in ("train", "dev", "test"):
        rows = [(l, a, with_definition(b, definitions)) for l, a, b in s[name]]
        if quick:
            rows = rows[:40]
        write_pairs(os.path.join(d, f"{name}.tsv"), rows)
        parts[name] = rows
    kg = os.path.join(d, "kg.spo")
    write_atomic(kg, "".join(f"{c}\t{RELATION}\t{p}\n" for c, p in s["kg"]))
    names = {with_definition(b, definitions): b for _, _, b in s["train"] + s["dev"] + s["test"]}
    splits = {"honest": (d, parts, kg, s["kg"], names)}
    if tax in OWN:
        d = os.path.join(out, tax, "own")
        os.makedirs(d, exist_ok=True)
        train = read_pairs(os.path.join(REPO, "data", "ontology", f"llms4ol_{tax}_train.tsv"))
        test = read_pairs(os.path.join(REPO, "data", "ontology", f"llms4ol_{tax}_test.tsv"))
        if quick:
            train, test = train[:40], test[:40]
        # LLMs4OL has no dev split: the last fifth of its training pairs chooses epochs and C.
        cut = len(train) * 4 // 5
        parts = {"train": train[:cut], "dev": train[cut:], "test": test}
        for name, rows in parts.items():
            write_pairs(os.path.join(d, f"{name}.tsv"), rows)
        kg_edges = sorted({(b.strip(), a.strip()) for l, a, b in parts["train"] if l == 1 and a.strip() and b.strip()})
        kg = os.path.join(d, "kg.spo")
        write_atomic(kg, "".join(f"{c}\t{RELATION}\t{p}\n" for c, p in kg_edges))
        splits["own"] = (d, parts, kg, kg_edges, {b: b for _, _, b in train + test})
    return splits


def run(cmd, stdin=None):
    p = subprocess.run(cmd, input=stdin, capture_output=True, text=True)
    if p.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd[:2])} failed ({p.returncode}): {p.stderr.strip()[-1500:]}")
    return p.stdout


def kbert_run(a, d, config, seed, quick):
    """Trains one model; returns (test predictions as 0/1, seconds)."""
    model = os.path.join(d, f"{config}_s{seed}")
    t0 = time.time()
    cmd = [a.kbert, "train", "--model", a.encoder, "--train", os.path.join(d, "train.tsv"),
           "--dev", os.path.join(d, "dev.tsv"), "--out", model,
           "--predicate", "--max-length", "160", "--metric", "macro_f1", "--batch-size", "16",
           "--epochs", "1" if quick else str(a.epochs), "--learning-rate", "3e-4", "--seed", str(seed),
           "--threads", str(a.threads), "--quiet"] + [x.replace("{kg}", os.path.join(d, "kg.spo")) for x in CONFIGS[config]]
    run(cmd)
    seconds = time.time() - t0
    test = read_pairs(os.path.join(d, "test.tsv"))
    text = "".join(f"{x}\t{y}\n" for _, x, y in test)
    out = run([a.kbert, "predict", "--model", model, "--pairs", "--json", "--threads", str(a.threads)], text)
    preds = [int(json.loads(x)["label"]) for x in out.splitlines() if x.strip()]
    if len(preds) != len(test):
        raise RuntimeError(f"{len(preds)} predictions for {len(test)} pairs")
    return preds, seconds


def suggest_energy(a, quick):
    """One model on every known edge of the three energy taxonomies (their pairs as in the
    honest splits, train, dev and test together; the KG all their edges), then `kbert kg
    suggest` of every name under the names that are some type's parent: the facts it believes
    that the KG does not hold, for a person to review. Returns the suggestions file."""
    d = os.path.join(a.out, "energy_suggest")
    os.makedirs(d, exist_ok=True)
    pairs, kg, terms = [], set(), {}
    for tax in ("cgmes", "iso14224", "phmsa"):
        edges, definitions = load_taxonomy(os.path.join(REPO, "data", "ontology", f"{tax}.tsv"))
        s = honest_split(edges)
        pairs += [(l, x, with_definition(y, definitions)) for part in ("train", "dev", "test") for l, x, y in s[part]]
        kg |= set(edges)
        for c, p in edges:
            terms.setdefault(c, definitions.get(c, ""))
            terms.setdefault(p, definitions.get(p, ""))
    if quick:
        pairs = pairs[:40]
    write_pairs(os.path.join(d, "train.tsv"), pairs)
    write_atomic(os.path.join(d, "kg.spo"), "".join(f"{c}\t{RELATION}\t{p}\n" for c, p in sorted(kg)))
    write_atomic(os.path.join(d, "terms.tsv"), "".join(f"{n}\t{t}\n" if t else f"{n}\n" for n, t in sorted(terms.items())))
    # Candidate superclasses: the types that are some type's parent (every name would be 4x the pairs).
    write_atomic(os.path.join(d, "parents.tsv"), "".join(f"{p}\n" for p in sorted({p for _, p in kg})))
    model = os.path.join(d, "model")
    run([a.kbert, "train", "--model", a.encoder, "--train", os.path.join(d, "train.tsv"), "--out", model, "--kg",
         os.path.join(d, "kg.spo"), "--predicate", "--max-length", "160", "--batch-size", "16", "--epochs",
         "1" if quick else str(a.epochs), "--learning-rate", "3e-4", "--seed", "7", "--threads", str(a.threads), "--quiet"])
    out = os.path.join(d, "suggested.tsv")
    run([a.kbert, "kg", "suggest", "--model", model, "--terms", os.path.join(d, "terms.tsv"), "--parents",
         os.path.join(d, "parents.tsv"), "--top", "1",
         "--min-score", "0.5", "--out", out, "--threads", str(a.threads), "--quiet"])
    return out


def predictions(run_record):
    """A run's test predictions (0/1) from results.json."""
    return [int(c) for c in run_record["pred"]]


def summary(gold, runs):
    f = [macro_f1(gold, r) for r in runs]
    return float(np.mean(f)), float(np.std(f))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--taxonomies", default=",".join(TAXONOMIES))
    ap.add_argument("--configs", default=",".join(CONFIGS))
    ap.add_argument("--seeds", default="7,8,9")
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--kbert", default=os.path.join(REPO, "build", "apps", "kbert"))
    ap.add_argument("--encoder", default=os.path.join(REPO, "data", "fault_reports", "pretrained"))
    ap.add_argument("--out", default=os.path.join(REPO, "build", "ontology_learning"))
    ap.add_argument("--results", default=os.path.join(HERE, "results.json"))
    ap.add_argument("--quick", action="store_true", help="40 pairs per part, one epoch, one seed: a smoke run")
    ap.add_argument("--suggest", action="store_true", help="also train on every energy edge and run kbert kg suggest")
    a = ap.parse_args()
    seeds = [7] if a.quick else [int(s) for s in a.seeds.split(",")]
    configs = [c for c in a.configs.split(",") if c]  # --configs "": the baselines alone
    results = json.load(open(a.results)) if os.path.exists(a.results) and not a.quick else {}
    rng = np.random.default_rng(0)
    kbert_cols = "".join(f" kbert {c} |" for c in configs) + (" KG vs no KG [95% CI] |" if configs else "")
    lines = ["| taxonomy | split | test pairs | n-gram LR | text_a alone | closure |" + kbert_cols,
             "|---|---|---|---|---|---|" + "---|" * (len(configs) + (1 if configs else 0))]
    for tax in a.taxonomies.split(","):
        for split, (d, parts, kg, kg_edges, names) in prepare(tax, a.out, a.quick).items():
            gold = [r[0] for r in parts["test"]]
            key = f"{tax}/{split}"
            r = results.setdefault(key, {"test_pairs": len(gold)})
            pred, C = ngram_lr(parts["train"], parts["dev"], parts["test"])
            r["ngram_lr"] = macro_f1(gold, pred)
            r["text_a_lr"] = macro_f1(gold, text_a_lr(parts["train"], parts["dev"], parts["test"])[0])
            r["closure"] = macro_f1(gold, closure(kg_edges, parts["test"], lambda b: names.get(b, b)))
            runs = r.setdefault("kbert", {})
            for c in configs:
                for seed in seeds:
                    if str(seed) in runs.get(c, {}):
                        continue
                    preds, seconds = kbert_run(a, d, c, seed, a.quick)
                    # The test predictions as one string of 0s and 1s: results.json stays small.
                    runs.setdefault(c, {})[str(seed)] = {"pred": "".join(map(str, preds)), "seconds": round(seconds, 1),
                                                         "macro_f1": macro_f1(gold, preds)}
                    print(f"{key} {c} seed {seed}: macro-F1 {macro_f1(gold, preds):.3f} ({seconds:.0f} s)", flush=True)
                    if not a.quick:
                        write_atomic(a.results, json.dumps(results, indent=1))
            cells = []
            for c in configs:
                m, s = summary(gold, [predictions(runs[c][str(x)]) for x in seeds])
                cells.append(f"{m:.3f} ± {s:.3f}")
            effect = ""
            if "no_kg" in configs and "kg" in configs:
                lab = lambda rs: [["yes" if p else "no" for p in x] for x in rs]  # noqa: E731
                g = ["yes" if x else "no" for x in gold]
                pt, lo, hi = paired_bootstrap(g, lab([predictions(runs["no_kg"][str(x)]) for x in seeds]),
                                              lab([predictions(runs["kg"][str(x)]) for x in seeds]), ["no", "yes"], rng)[:3]
                effect = f"{100 * pt:+.1f} [{100 * lo:+.1f}, {100 * hi:+.1f}]"
            lines.append(f"| {tax} | {split} | {len(gold)} | {r['ngram_lr']:.3f} | {r['text_a_lr']:.3f} | "
                         f"{r['closure']:.3f} |" + "".join(f" {c} |" for c in cells) + (f" {effect} |" if configs else ""))
    print("\n".join(lines))
    print("\nLLMs4OL paper, test F1 on its own split: " + "; ".join(f"{k}: {v}" for k, v in PAPER.items()))
    if a.suggest:
        path = suggest_energy(a, a.quick)
        with open(path, encoding="utf-8") as f:
            rows = [line.rstrip("\n").split("\t") for line in f][1:]
        rows.sort(key=lambda r: -float(r[3]))
        print(f"\n{len(rows)} suggestions in {path}; the best 15:\n")
        print("| term | suggested superclass | probability | evidence injected | verdict |\n|---|---|---|---|---|")
        for subject, _, obj, score, evidence in rows[:15]:
            shown = evidence.replace(" | ", "; ")
            print(f"| {subject} | {obj} | {float(score):.3f} | {shown[:160]} | |")
    if not a.quick:
        write_atomic(a.results, json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
