#!/usr/bin/env python3
"""Copies the five taxonomies of the ontology-learning example into data/ontology/, small:
one TSV per taxonomy with a header `child  parent  definition` (one row per direct is-a
edge; the definition is the child's, where the source has one), and LLMs4OL's own Task B
split as given (`label  text_a  text_b`).

    /usr/bin/python3 examples/ontology_learning/prepare_taxonomies.py --shared ../shared/data

Sources (licences in data/README.md):
  cgmes      IEC CIM / CGMES 3.0 equipment vocabulary (Turtle): owl:Class, rdfs:subClassOf,
             rdfs:comment; names split from CamelCase ("ACLineSegment" -> "AC line segment").
  iso14224   ISO 14224 failure mechanisms with their superclasses and descriptions.
  phmsa      PHMSA's incident-form cause taxonomy: cause -> cause detail -> subtype value
             (a subtype value under the detail it is reported with in most of its reports,
             and at least twice; the
             location subtypes (incident area, public or private land) are not causes and
             are left out).
  geonames, schemaorg  LLMs4OL Task B: the taxonomy is the union of its positive pairs
             (ancestor, type), train and test; the own split is kept beside it.
Runs in a second and writes the same bytes every time.
"""
import argparse
import collections
import csv
import json
import os
import re

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "..", "..", "data", "ontology")


def words(camel):
    """CamelCase to words: ACLineSegment -> AC line segment, PowerTransformerEnd -> power transformer end."""
    parts = re.findall(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+|\d+", camel)
    return " ".join(p if p.isupper() and len(p) > 1 else p.lower() for p in parts)


def clean(text):
    return " ".join(text.replace("\t", " ").split())


def write(name, rows, header=("child", "parent", "definition")):
    path = os.path.join(OUT, name)
    with open(path + ".tmp", "w", encoding="utf-8", newline="") as f:
        f.write("\t".join(header) + "\n")
        for r in rows:
            f.write("\t".join(clean(x) for x in r) + "\n")
    os.replace(path + ".tmp", path)
    print(f"{name}: {len(rows)} rows")


def cgmes(shared):
    path = os.path.join(shared, "cgmes", "61970-600-2_Equipment-AP-Voc-RDFS2020_v3-0-0.ttl")
    text = open(path, encoding="utf-8").read()
    rows = []
    for block in re.split(r"\n\s*\n", text):
        m = re.match(r"\s*cim:(\w+) a owl:Class", block)
        if not m:
            continue
        parents = re.findall(r"rdfs:subClassOf cim:(\w+)", block)
        comment = re.search(r'rdfs:comment\s+(?:"""(.*?)"""|"(.*?)")@en', block, re.S)
        definition = (comment.group(1) or comment.group(2)) if comment else ""
        for p in parents:
            rows.append((words(m.group(1)), words(p), definition))
    return sorted(set(rows))


def iso14224(shared):
    path = os.path.join(shared, "iso14224", "iso14224_class_failuremechanism.csv")
    rows = []
    for r in csv.DictReader(open(path, encoding="utf-8")):
        child, parent = r["class"].split(":")[1], r["superclass"].split(":")[1]
        if parent == "Malfunction":  # the failure-mode root outside this table
            continue
        definition = re.sub(r"\s*14224\([\d.]+\)", "", r["description"])
        rows.append((words(child).replace(" failure mechanism", " failure").replace("failure failure", "failure"),
                     words(parent).replace(" failure mechanism", " failure").replace("failure failure", "failure"),
                     definition))
    return sorted(set(rows))


LOCATION_SUBTYPES = {"INCIDENT_AREA_SUBTYPE", "PUBLIC_SUBTYPE", "PRIVATE_SUBTYPE"}


def phmsa(shared):
    path = os.path.join(shared, "phmsa", "incident_gas_distribution_jan2010_present.txt")
    f = open(path, encoding="latin-1", newline="")
    reader = csv.DictReader(f, delimiter="\t")
    subtypes = [c for c in reader.fieldnames if c.endswith("SUBTYPE") and c not in LOCATION_SUBTYPES]
    details, values = set(), collections.Counter()
    for row in reader:
        cause, detail = row["CAUSE"].strip().lower(), row["CAUSE_DETAILS"].strip().lower()
        if not cause or not detail:
            continue
        if detail != cause:
            details.add((detail, cause))
        for s in subtypes:
            v = row[s].strip().lower()
            if v and v not in (detail, cause, "other", "unknown") and (detail != "unknown" or s == "UNKNOWN_SUBTYPE"):
                values[(v, detail if detail != cause else cause)] += 1
    # A subtype value goes under the detail it is reported with at least twice and in most of its reports.
    total = collections.Counter()
    for (v, d), n in values.items():
        total[v] += n
    rows = [(d, c, "") for d, c in details] + [(v, d, "") for (v, d), n in values.items() if n >= 2 and 2 * n > total[v]]
    return sorted(set(rows))


def llms4ol(shared, name):
    base = os.path.join(shared, "llms4ol", name)
    edges, split = set(), {}
    for part in ("train", "test"):
        items = json.load(open(os.path.join(base, f"hierarchy_{part}.json"), encoding="utf-8"))
        split[part] = [("1" if x["label"] == "correct" else "0", x["text_a"], x["text_b"]) for x in items]
        for x in items:
            a, b = clean(x["text_a"]), clean(x["text_b"])
            if x["label"] == "correct" and a and b:
                edges.add((b, a, ""))
    return sorted(edges), split


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--shared", default=os.path.join(HERE, "..", "..", "..", "shared", "data"))
    a = ap.parse_args()
    os.makedirs(OUT, exist_ok=True)
    write("cgmes.tsv", cgmes(a.shared))
    write("iso14224.tsv", iso14224(a.shared))
    write("phmsa.tsv", phmsa(a.shared))
    for name, short in (("Geonames", "geonames"), ("SchemaOrg", "schemaorg")):
        edges, split = llms4ol(a.shared, name)
        write(f"{short}.tsv", edges)
        for part, rows in split.items():
            write(f"llms4ol_{short}_{part}.tsv", rows, header=("label", "text_a", "text_b"))


if __name__ == "__main__":
    main()
