#!/usr/bin/python3
"""The C++ example program (examples/cpp_classify) as a user builds it: kbert installed
into a prefix, the example configured with find_package(kbert) and linked to kbert::model,
then run on fault reports with a small model trained here. Checks that every report gets a
label of the model and that the knowledge printed beside it is in the KG and in the report.

Usage: /usr/bin/python3 tests/examples/check_cpp_example.py --build BUILD_DIR --work DIR"""
import argparse
import json
import os
import shutil
import subprocess
import sys

REPO = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
DATA = os.path.join(REPO, "data", "fault_reports")


def run(cmd, **kw):
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=1200, **kw)
    if r.returncode != 0:
        sys.exit(f"failed ({r.returncode}): {' '.join(cmd)}\n{r.stdout[-2000:]}\n{r.stderr[-3000:]}")
    return r


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", required=True, help="the kbert build tree")
    ap.add_argument("--work", required=True)
    ap.add_argument("--generator", default="Ninja")
    a = ap.parse_args()
    shutil.rmtree(a.work, ignore_errors=True)
    os.makedirs(a.work)
    prefix = os.path.join(a.work, "prefix")
    run(["cmake", "--install", a.build, "--prefix", prefix])
    run(["cmake", "-S", os.path.join(REPO, "examples", "cpp_classify"), "-B", os.path.join(a.work, "build"),
         "-G", a.generator, f"-DCMAKE_PREFIX_PATH={prefix}", "-DCMAKE_BUILD_TYPE=Release"])
    run(["cmake", "--build", os.path.join(a.work, "build")])
    program = os.path.join(a.work, "build", "classify_reports")

    # A small model: the shipped encoder fine-tuned for one epoch on 200 reports, with the energy KG.
    train = os.path.join(a.work, "train.tsv")
    with open(os.path.join(DATA, "phmsa_train.tsv"), encoding="utf-8") as f:
        lines = f.readlines()
    with open(train, "w", encoding="utf-8") as f:
        f.writelines(lines[:201])
    kbert = os.path.join(prefix, "bin", "kbert")
    model = os.path.join(a.work, "model")
    run([kbert, "train", "--train", train, "--model", os.path.join(DATA, "pretrained"), "--kg",
         os.path.join(DATA, "energy.spo"), "--predicate", "--max-length", "96", "--epochs", "1", "--batch-size", "16",
         "--learning-rate", "3e-4", "--quiet", "--out", model])
    labels = set(json.load(open(os.path.join(model, "kbert.json")))["labels"])

    reports = [line.rstrip("\n").split("\t", 1)[1] for line in open(os.path.join(DATA, "phmsa_dev.tsv"), encoding="utf-8").readlines()[1:13]]
    out = run([program, model], input="\n".join(reports) + "\n").stdout.splitlines()
    triples = set()
    for line in open(os.path.join(DATA, "energy.spo"), encoding="utf-8"):
        s, p, o = line.rstrip("\n").split("\t")
        triples.add((s, f"{p} {o}"))
    blocks, facts_checked, current = 0, 0, None
    for line in out:
        if not line.startswith("    "):
            label, prob = line.split(" ", 2)[:2]
            if label not in labels or not 0 <= float(prob) <= 1:
                sys.exit(f"bad prediction line: {line}")
            current = reports[blocks]
            blocks += 1
        else:
            word, facts = line.strip().split(" -> ", 1)
            if word not in current:
                sys.exit(f"knowledge hung on {word!r}, which is not in the report: {current[:200]}")
            for fact in facts.split("; "):
                if (word, fact) not in triples:
                    sys.exit(f"a fact not in energy.spo: {word} -> {fact}")
                facts_checked += 1
    if blocks != len(reports) or facts_checked == 0:
        sys.exit(f"expected {len(reports)} predictions with knowledge, got {blocks} and {facts_checked} facts:\n" + "\n".join(out))
    r = subprocess.run([program, os.path.join(a.work, "nowhere")], input="x\n", capture_output=True, text=True)
    if r.returncode != 1 or "nowhere" not in r.stderr:
        sys.exit(f"a missing model directory should be named in an error: {r.returncode} {r.stderr}")
    print(f"cpp example: {blocks} reports classified, {facts_checked} facts checked against the KG and the reports")


if __name__ == "__main__":
    main()
