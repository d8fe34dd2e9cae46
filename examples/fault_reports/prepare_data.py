#!/usr/bin/python3
"""Converts the PHMSA gas-distribution incident reports into kbert's TSV format.

The raw file (../shared/data/phmsa/incident_gas_distribution_jan2010_present.txt)
is latin-1, CRLF, 466 tab-separated columns, with fields in double quotes where
they contain commas. We keep the incident year, the cause and the narrative, and
split by year as a deployment meets the data: 2004-2016 train, 2017-2019 val,
2020 dev, 2021-2023 test. Labels are short names of PHMSA's 8 causes. The 2004-2009 reports
(incident_gas_distribution_mar2004_dec2009.csv, the earlier form: CSV, upper case,
<P> tags) name the same causes otherwise; OLD_CAUSES maps them (--no-2004 leaves
them out, as the job did before).

Outputs (TSV with header "label<TAB>text_a", UTF-8, narratives lower-cased and
whitespace-normalised): data/fault_reports/phmsa_{train,val,dev,test}.tsv, and the
pre-training corpus of the NRC licensee event reports (title + abstract, one a
line) when --nrc-out is given.

Usage (run from the repository, with Debian's interpreter):
  /usr/bin/python3 examples/fault_reports/prepare_data.py [--shared ../shared/data]
  /usr/bin/python3 examples/fault_reports/prepare_data.py --validation-split /tmp/val   # 2004-2016 / 2017-2019
"""
import argparse
import collections
import csv
import os
import re
import sys

CAUSES = {
    "EXCAVATION DAMAGE": "excavation_damage",
    "OTHER OUTSIDE FORCE DAMAGE": "other_outside_force",
    "OTHER INCIDENT CAUSE": "other_cause",
    "INCORRECT OPERATION": "incorrect_operation",
    "NATURAL FORCE DAMAGE": "natural_force",
    "PIPE, WELD, OR JOINT FAILURE": "pipe_weld_joint",
    "EQUIPMENT FAILURE": "equipment_failure",
    "CORROSION FAILURE": "corrosion",
}
# The 2004-2009 forms name the same 8 causes otherwise (PHMSA renamed them in 2010).
OLD_CAUSES = {
    "OTHER OUTSIDE FORCE DAMAGE": "other_outside_force",
    "EXCAVATION DAMAGE": "excavation_damage",
    "OTHER": "other_cause",
    "NATURAL FORCES": "natural_force",
    "MATERIAL AND/OR WELD FAILURES": "pipe_weld_joint",
    "INCORRECT OPERATION": "incorrect_operation",
    "EQUIPMENT": "equipment_failure",
    "CORROSION": "corrosion",
}
# The validation protocol (examples/fault_reports/protocol.py): choices are made by training on
# 2004-2016 and scoring on 2017-2020 (val + dev, about 460 reports); the chosen configuration is
# then trained on 2004-2020 and scored once on 2021-2023.
SPLITS = (("train", 2004, 2016), ("val", 2017, 2019), ("dev", 2020, 2020), ("test", 2021, 2023))
# --validation-split DIR: a second, larger held-out set inside the training years, for
# choices that dev (106 reports) cannot resolve: train on 2004-2016, validate on 2017-2019.
VALIDATION_SPLITS = (("train", 2004, 2016), ("val", 2017, 2019))


def unquote(field):
    field = field.strip()
    if len(field) >= 2 and field[0] == '"' and field[-1] == '"':
        field = field[1:-1].replace('""', '"')
    return field


def clean(text):
    # One line per report: tabs and newlines would break the TSV; collapse runs of spaces.
    # The older forms carry HTML paragraph tags.
    text = re.sub(r"</?[pP]>", " ", text)
    return " ".join(text.replace("\t", " ").split()).lower()


def write_atomic(path, lines):
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8", newline="\n") as f:
        f.writelines(lines)
    os.replace(tmp, path)


def read_phmsa(path):
    raw = open(path, "rb").read().decode("latin-1")
    lines = raw.split("\r\n")
    header = lines[0].split("\t")
    col = {name: i for i, name in enumerate(header)}
    for need in ("IYEAR", "CAUSE", "NARRATIVE"):
        if need not in col:
            sys.exit(f"{path}: line 1: no column {need}")
    rows = []
    for number, line in enumerate(lines[1:], start=2):
        if not line:
            continue
        fields = line.split("\t")
        if len(fields) != len(header):
            sys.exit(f"{path}: line {number}: {len(fields)} fields, the header has {len(header)}")
        cause = unquote(fields[col["CAUSE"]])
        if cause not in CAUSES:
            sys.exit(f"{path}: line {number}: unknown CAUSE {cause!r}")
        year = int(unquote(fields[col["IYEAR"]]))
        text = clean(unquote(fields[col["NARRATIVE"]]))
        if text:
            rows.append((year, CAUSES[cause], text))
    return rows


def read_phmsa_2004(path):
    """The 2004-2009 reports (CSV, latin-1): year, cause mapped to today's 8, narrative."""
    rows = []
    with open(path, encoding="latin-1", newline="") as f:
        reader = csv.DictReader(f)
        for need in ("IYEAR", "CAUSE_TEXT", "NARRATIVE"):
            if need not in reader.fieldnames:
                sys.exit(f"{path}: line 1: no column {need}")
        for row in reader:
            text = clean(row["NARRATIVE"] or "")
            if not text:
                continue
            cause = row["CAUSE_TEXT"].strip()
            if cause not in OLD_CAUSES:
                sys.exit(f"{path}: line {reader.line_num}: unknown CAUSE_TEXT {cause!r}")
            rows.append((int(row["IYEAR"]), OLD_CAUSES[cause], text))
    return rows


def read_nrc(path):
    """The NRC licensee event reports: title + ". " + abstract, one per row (raw text)."""
    with open(path, encoding="utf-8") as f:
        header = f.readline().rstrip("\n").split("\t")
        col = {name: i for i, name in enumerate(header)}
        for number, line in enumerate(f, start=2):
            fields = line.rstrip("\n").split("\t")
            if len(fields) != len(header):
                sys.exit(f"{path}: line {number}: {len(fields)} fields, the header has {len(header)}")
            yield fields[col["title"]] + ". " + fields[col["abstract"]]


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    repo = os.path.normpath(os.path.join(here, "..", ".."))
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--shared", default=os.path.join(repo, "..", "shared", "data"))
    ap.add_argument("--out", default=os.path.join(repo, "data", "fault_reports"))
    ap.add_argument("--nrc-out", help="also write the NRC pre-training corpus here (not shipped)")
    ap.add_argument("--no-2004", action="store_true", help="train on 2010-2019 only (the earlier job's data)")
    ap.add_argument("--validation-split", metavar="DIR",
                    help="write DIR/phmsa_train.tsv (2004-2016) and DIR/phmsa_val.tsv (2017-2019) instead")
    args = ap.parse_args()
    splits = SPLITS
    if args.validation_split:
        args.out, splits = args.validation_split, VALIDATION_SPLITS
    os.makedirs(args.out, exist_ok=True)

    rows = read_phmsa(os.path.join(args.shared, "phmsa", "incident_gas_distribution_jan2010_present.txt"))
    if not args.no_2004:
        rows = read_phmsa_2004(os.path.join(args.shared, "phmsa", "incident_gas_distribution_mar2004_dec2009.csv")) + rows
    for name, first, last in splits:
        part = [r for r in rows if first <= r[0] <= last]
        write_atomic(os.path.join(args.out, f"phmsa_{name}.tsv"),
                     ["label\ttext_a\n"] + [f"{label}\t{text}\n" for _, label, text in part])
        counts = collections.Counter(label for _, label, _ in part)
        print(f"phmsa_{name}.tsv: {len(part)} reports {first}-{last}: " +
              ", ".join(f"{k} {v}" for k, v in counts.most_common()))

    if args.nrc_out and not args.validation_split:
        path = os.path.join(args.shared, "nrc_ler", "lers_1991_2019.tsv")
        out = [text + "\n" for text in map(clean, read_nrc(path)) if len(text) > 40]
        write_atomic(args.nrc_out, out)
        print(f"{args.nrc_out}: {len(out)} NRC reports")


if __name__ == "__main__":
    main()
