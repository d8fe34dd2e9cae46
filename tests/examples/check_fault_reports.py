#!/usr/bin/python3
"""Runs the fault-report main job in --quick mode and checks what it promises:
the table has the two baselines, kbert without knowledge and the configuration the
protocol chose, with figures, the knowledge's effect with its interval and the retrieval
line; the chosen model is saved; the explanations name triples of its KG and words that
are in the report, the attributions name facts of the KG (with their gates when the model
has a knowledge gate), and the similar reports shown are training reports with their causes.

Usage: /usr/bin/python3 tests/examples/check_fault_reports.py --kbert KBERT --out DIR"""
import argparse
import json
import os
import re
import subprocess
import sys

REPO = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
sys.path.insert(0, os.path.join(REPO, "examples", "fault_reports"))
import fault_reports  # noqa: E402
import protocol  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--kbert", required=True)
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    proc = subprocess.run(["/usr/bin/python3", os.path.join(REPO, "examples", "fault_reports", "fault_reports.py"),
                           "--quick", "--kbert", args.kbert, "--out", args.out], capture_output=True, text=True)
    sys.stdout.write(proc.stdout)
    if proc.returncode != 0:
        sys.exit(f"fault_reports.py --quick failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    out = args.out + "_quick"
    table = open(os.path.join(out, "results.md"), encoding="utf-8").read()
    chosen = protocol.CONFIGS[fault_reports.CHOSEN]
    base = protocol.CONFIGS[chosen.base]
    for method in ("majority class", "TF-IDF + logistic regression", base.label, chosen.label):
        if not re.search(r"^\| " + re.escape(method) + r" \| [01]\.\d{3} \| [01]\.\d{3} \|", table, re.M):
            sys.exit(f"results.md: no row with figures for {method!r}:\n{table}")
    if not re.search(r"^" + re.escape(chosen.label) + " against " + re.escape(base.label) +
                     r" on test: [+-]\d+\.\d macro-F1 points "
                     r"\(bootstrap 95% interval [+-]\d+\.\d to [+-]\d+\.\d\)\.$", table, re.M):
        sys.exit(f"results.md: no knowledge effect with its interval:\n{table}")
    spec = json.load(open(os.path.join(out, "best_model", "kbert.json"), encoding="utf-8"))
    if bool(spec.get("knowledge_gate")) != chosen.gate:
        sys.exit(f"{out}/best_model/kbert.json: knowledge_gate {spec.get('knowledge_gate')}, expected {chosen.gate}")
    for f in ("config.json", "kbert.json", "model.safetensors", "vocab.txt"):
        if not os.path.exists(os.path.join(out, "best_model", f)):
            sys.exit(f"{out}/best_model: no {f}")

    triples = set()
    kg = os.path.join(REPO, "data", "fault_reports", chosen.kg)
    with open(kg, encoding="utf-8") as f:
        if kg.endswith(".tsv"):
            f.readline()  # the header
        for line in f:
            s, p, o = line.rstrip("\n").split("\t")[:3]
            triples.add((s, f"{p} {o}"))
    if not re.search(r"^Similar-report retrieval, precision@5 .*: TF-IDF cosine [01]\.\d{3}, kbert index \(.*\) "
                     r"[01]\.\d{3}\.$", table, re.M):
        sys.exit(f"results.md: no retrieval line with figures:\n{table}")
    with open(os.path.join(out, "train.tsv"), encoding="utf-8") as f:
        train = [line.rstrip("\n").split("\t") for line in f][1:]
    explained = similar = attributed = 0
    report = None
    section = None
    for line in proc.stdout.splitlines():
        if line.startswith("report:"):
            report = line[len("report:"):].strip()
            section = None
        if not line.startswith("  "):
            section = ("hits" if line.startswith("most similar training reports") else
                       "moved" if line.startswith("facts that moved") else
                       "knowledge" if line.startswith("knowledge the model saw") else None)
            continue
        if section == "moved":
            m = re.match(r"  ([+-][01]\.\d{4})  (.+?) -> (.+?)(   \(gate \d+\.\d{3}\))?(   \(without it: \S+\))?$", line)
            if not m or (m.group(2), m.group(3)) not in triples:
                sys.exit(f"an attribution line that names no triple of {chosen.kg}: {line!r}")
            if bool(m.group(4)) != chosen.gate:
                sys.exit(f"an attribution line {'without' if chosen.gate else 'with'} a gate: {line!r}")
            attributed += 1
            continue
        if section == "hits":
            m = re.match(r"  (-?[01]\.\d{3}) (\S+)\s+(.*?)( \.\.\.)?$", line)
            if not m or not -1 <= float(m.group(1)) <= 1:
                sys.exit(f"a similar-report line without a cosine: {line!r}")
            if not any(label == m.group(2) and text.startswith(m.group(3)) for label, text in train):
                sys.exit(f"a similar report that is not a training report with that cause: {line!r}")
            similar += 1
            continue
        m = re.match(r"  (.+?)\s+-> (.+)$", line)
        if m and report is not None and section == "knowledge":
            word, facts = m.group(1).strip(), m.group(2).split("; ")
            for fact in facts:
                if (word, fact) not in triples:
                    sys.exit(f"explanation names a triple not in {chosen.kg}: {word} -> {fact}")
            if word not in report:
                sys.exit(f"explanation attaches knowledge to {word!r}, which is not in the report")
            explained += 1
    if explained < 2:
        sys.exit(f"expected explanations with injected triples, found {explained}")
    if attributed < 2:
        sys.exit(f"expected per-fact attributions in the explanations, found {attributed}")
    if similar < 3:
        sys.exit(f"expected the similar training reports of the explained reports, found {similar}")
    # The HTML report of every test report (its page is checked in a browser by tests/report).
    page = open(os.path.join(out, "report.html"), encoding="utf-8").read()
    data = json.loads(re.search(r'<script type="application/json" id="report-data">(.*?)</script>', page, re.S).group(1))
    n_test = sum(1 for _ in open(os.path.join(out, "test.tsv"), encoding="utf-8")) - 1
    if len(data["items"]) != n_test or data["baseline"] is None:
        sys.exit(f"report.html: {len(data['items'])} reports for {n_test} test reports, baseline {data['baseline'] is not None}")
    print(f"check_fault_reports: table complete, best model saved, {explained} explained words checked against the KG, "
          f"{similar} similar training reports and {attributed} attributions checked")


if __name__ == "__main__":
    main()
