#!/usr/bin/python3
"""The domain corpus for pre-training the fault-report encoder (not shipped: it is
built from ../shared/data, which the project does not read at run time).

One text a line, lower-cased and whitespace-normalised as prepare_data.py does,
exact duplicates removed, shuffled with a fixed seed. Sources:
  PHMSA gas-distribution narratives 1984-2019: the 2,554 of mid-1984 to Feb 2004
      (incident_gas_distribution_mid1984_feb2004.csv) and the training split
      (data/fault_reports/phmsa_train.tsv and phmsa_val.tsv, 2004-2019). The dev (2020) and test
      (2021-2023) years are never read.
  NRC licensee event reports 1991-2019: title + abstract.
  FAA maintenance-related accident/incident narratives (column c119).
  MaintNet aircraft maintenance log entries: PROBLEM + ACTION.
Texts shorter than --min-chars characters are dropped. Prints one JSON object with
the counts per source.

Usage (from the repository, Debian's interpreter):
  /usr/bin/python3 examples/fault_reports/build_corpus.py --out CORPUS.txt [--shared ../shared/data]
"""
import argparse
import csv
import json
import os
import random
import re
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.normpath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, HERE)
from prepare_data import clean, read_nrc  # noqa: E402  (the same normalisation and reader as the labelled data)


def phmsa_1984(path):
    with open(path, encoding="latin-1", newline="") as f:
        reader = csv.DictReader(f)
        if "NARRATIVE" not in reader.fieldnames:
            sys.exit(f"{path}: line 1: no column NARRATIVE")
        for row in reader:
            # Old forms carry editing marks ("*/!  CAUS CHANGED TO ...") after the narrative.
            yield re.sub(r"\*/!.*$", "", row["NARRATIVE"] or "")


def phmsa_train(paths):
    for path in paths:
        with open(path, encoding="utf-8") as f:
            header = f.readline().rstrip("\n").split("\t")
            if header[:2] != ["label", "text_a"]:
                sys.exit(f"{path}: line 1: expected label<TAB>text_a")
            for line in f:
                yield line.rstrip("\n").split("\t", 1)[1]


def faa(path):
    with open(path, encoding="latin-1", newline="") as f:
        reader = csv.DictReader(f)
        if "c119" not in reader.fieldnames:
            sys.exit(f"{path}: line 1: no column c119 (the narrative)")
        for row in reader:
            yield row["c119"] or ""


def maintnet(path):
    with open(path, encoding="utf-8-sig", newline="") as f:
        reader = csv.DictReader(f)
        for need in ("PROBLEM", "ACTION"):
            if need not in reader.fieldnames:
                sys.exit(f"{path}: line 1: no column {need}")
        for row in reader:
            yield (row["PROBLEM"] or "").strip() + " " + (row["ACTION"] or "").strip()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--shared", default=os.path.join(REPO, "..", "shared", "data"))
    ap.add_argument("--train", nargs="+", default=[os.path.join(REPO, "data", "fault_reports", f)
                                                   for f in ("phmsa_train.tsv", "phmsa_val.tsv")],
                    help="the training narratives (default: 2004-2016 and 2017-2019, as the shipped encoder saw)")
    ap.add_argument("--out", required=True)
    ap.add_argument("--min-chars", type=int, default=20)
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args()
    sources = [
        ("phmsa_1984_2004", phmsa_1984(os.path.join(args.shared, "phmsa", "incident_gas_distribution_mid1984_feb2004.csv"))),
        ("phmsa_train_2004_2019", phmsa_train(args.train)),
        ("nrc_ler_1991_2019", read_nrc(os.path.join(args.shared, "nrc_ler", "lers_1991_2019.tsv"))),
        ("faa_maintenance", faa(os.path.join(args.shared, "maintenance", "faa_maintenance_text.csv"))),
        ("maintnet_aircraft", maintnet(os.path.join(args.shared, "maintenance", "maintnet_aircraft.csv"))),
    ]
    seen, texts, counts = set(), [], {}
    for name, rows in sources:
        kept = dupes = short = 0
        for raw in rows:
            text = clean(raw)
            if len(text) < args.min_chars:
                short += 1
            elif text in seen:
                dupes += 1
            else:
                seen.add(text)
                texts.append(text)
                kept += 1
        counts[name] = {"texts": kept, "duplicates": dupes, "short": short}
    random.Random(args.seed).shuffle(texts)
    tmp = args.out + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        f.writelines(t + "\n" for t in texts)
    os.replace(tmp, args.out)
    words = sum(len(t.split()) for t in texts)
    print(json.dumps({"out": args.out, "texts": len(texts), "words": words, "sources": counts}, indent=1))


if __name__ == "__main__":
    main()
