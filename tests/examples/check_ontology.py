#!/usr/bin/env python3
"""The ontology-learning example's honest splits are honest (issue 33), and the example runs
end to end.

  check_ontology.py --kbert build/apps/kbert --out DIR

For every taxonomy in data/ontology/: the split is deterministic; no test child occurs in a
training or dev pair (as text_a or text_b) or in the KG, and no dev child in training or the
KG; no test pair's edge is in the KG; every positive is a true ancestor pair and every
negative is not; every text_a is as often right as wrong, so a model of text_a alone scores
accuracy 0.5 exactly (checked with the example's own names-only baseline: macro-F1 at most
0.40). Then `ontology_learning.py --quick` prints its table with every row.
"""
import argparse
import os
import re
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
EXAMPLE = os.path.join(REPO, "examples", "ontology_learning")
sys.path.insert(0, EXAMPLE)
from splits import ancestors_of, honest_split, load_taxonomy, with_definition  # noqa: E402
from taxonomy_baselines import macro_f1, text_a_lr  # noqa: E402

TAXONOMIES = ["cgmes", "iso14224", "phmsa", "geonames", "schemaorg"]


def check_split(tax):
    edges, definitions = load_taxonomy(os.path.join(REPO, "data", "ontology", f"{tax}.tsv"))
    s = honest_split(edges)
    assert s == honest_split(edges), f"{tax}: the split is not deterministic"
    anc = ancestors_of(edges)
    test, dev = s["children"]["test"], s["children"]["dev"]
    for name, unseen in (("train", test | dev), ("dev", test)):
        for _, a, b in s[name]:
            assert a not in unseen and b not in unseen, f"{tax}: {name} pair ({a}, {b}) holds an unseen child"
    for c, p in s["kg"]:
        assert c not in test | dev and p not in test | dev, f"{tax}: KG edge ({c}, {p}) holds a test or dev child"
    kg = set(s["kg"])
    counts = {}
    for label, a, b in s["test"]:
        assert (b, a) not in kg, f"{tax}: test edge ({b} subclass of {a}) is in the KG"
        assert b in test, f"{tax}: test pair ({a}, {b}) is not about a test child"
        assert (a in anc[b]) == (label == 1), f"{tax}: pair ({a}, {b}) labelled {label}"
        counts.setdefault(a, [0, 0])[label] += 1
    assert all(n == y for n, y in counts.values()), f"{tax}: a text_a is not as often right as wrong"
    assert len(s["test"]) >= 20, f"{tax}: {len(s['test'])} test pairs"
    as_b = lambda rows: [(l, a, with_definition(b, definitions)) for l, a, b in rows]  # noqa: E731
    pred, _ = text_a_lr(as_b(s["train"]), as_b(s["dev"]), as_b(s["test"]))
    gold = [r[0] for r in s["test"]]
    accuracy = sum(int(p == g) for p, g in zip(pred, gold)) / len(gold)
    f1 = macro_f1(gold, pred)
    assert abs(accuracy - 0.5) < 1e-9 and f1 <= 0.40, f"{tax}: text_a alone scores accuracy {accuracy}, macro-F1 {f1}"
    print(f"{tax}: {len(s['train'])} / {len(s['dev'])} / {len(s['test'])} pairs, {len(s['kg'])} KG edges; "
          f"text_a alone: accuracy {accuracy:.3f}, macro-F1 {f1:.3f}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--kbert", required=True)
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    for tax in TAXONOMIES:
        check_split(tax)
    out = subprocess.run([sys.executable, os.path.join(EXAMPLE, "ontology_learning.py"), "--quick", "--taxonomies",
                          "iso14224,geonames", "--configs", "no_kg,kg", "--kbert", a.kbert, "--out", a.out],
                         capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit(f"ontology_learning.py --quick failed:\n{out.stderr[-3000:]}")
    rows = [l for l in out.stdout.splitlines() if re.match(r"\| (iso14224|geonames) \| (honest|own) \| \d+ \| 0\.\d{3} ", l)]
    assert len(rows) == 3, out.stdout
    print("ontology_learning.py --quick: " + str(len(rows)) + " table rows")
    check_suggest(a.kbert, os.path.join(a.out, "iso14224", "honest"))


def check_suggest(kbert, d):
    """kbert kg suggest on the quick run's model: best first, at most --top per term, at least
    --min-score, no fact the KG holds, evidence from the KG, a file that loads as a KG."""
    edges, definitions = load_taxonomy(os.path.join(REPO, "data", "ontology", "iso14224.tsv"))
    names = sorted({c for c, _ in edges} | {p for _, p in edges})
    terms = os.path.join(d, "terms.tsv")
    with open(terms, "w", encoding="utf-8") as f:
        f.write("# ISO 14224 failure mechanisms\n\n")
        f.write("".join(f"{n}\t{definitions[n]}\n" if n in definitions else f"{n}\n" for n in names))
    out = os.path.join(d, "suggested.tsv")
    r = subprocess.run([kbert, "kg", "suggest", "--model", os.path.join(d, "kg_s7"), "--terms", terms, "--out", out,
                        "--top", "2", "--min-score", "0.2", "--quiet"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    lines = open(out, encoding="utf-8").read().splitlines()
    assert lines[0] == "subject\tpredicate\tobject\tscore\tevidence", lines[0]
    rows = [l.split("\t") for l in lines[1:]]
    kg_edges = [tuple(l.split("\t")[::2]) for l in open(os.path.join(d, "kg.spo"), encoding="utf-8").read().splitlines()]
    implied = ancestors_of(kg_edges)  # a fact the KG implies through a chain is not new either
    known = {(c, p) for c in implied for p in implied[c]}
    per = {}
    for subject, predicate, obj, score, evidence in rows:
        assert predicate == "subclass of" and subject != obj and float(score) >= 0.2, (subject, obj, score)
        assert (subject, obj) not in known, f"a fact the KG implies suggested: {subject} subclass of {obj}"
        per.setdefault(subject, []).append(float(score))
    assert per and all(len(v) <= 2 and v == sorted(v, reverse=True) for v in per.values()), per
    assert any(r[4] for r in rows), "no suggestion shows its evidence"
    loaded = subprocess.run([kbert, "tree", "--kg", out], input=rows[0][0] + "\n", capture_output=True, text=True)
    assert loaded.returncode == 0 and '"injected"' in loaded.stdout, loaded.stderr
    bad = subprocess.run([kbert, "kg", "suggest", "--model", os.path.join(d, "kg_s7"), "--terms", terms, "--out",
                          os.path.join(d, "x.tsv"), "--label", "yes"], capture_output=True, text=True)
    assert bad.returncode == 1 and "no label 'yes'" in bad.stderr, bad.stderr
    print(f"kg suggest: {len(rows)} suggestions for {len(per)} terms, best first, none known")


if __name__ == "__main__":
    main()
