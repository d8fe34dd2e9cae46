"""Honest splits of a taxonomy for type taxonomy discovery ("is A a superclass of B?").

LLMs4OL's own Task B split can be decided from `text_a` alone (a few generic parents): a
names-only model scores above every language model of the paper. The split here is by
*type* and *paired by parent*:

- the types that have a parent are shuffled (seeded) and cut into test (25%), dev (15%)
  and train children; a test child never occurs in training pairs, in dev pairs or in the
  KG, as a child or as a parent; a dev child never occurs in training or in the KG;
- every positive pair (A, B), A an ancestor of B, gets a negative (A, B') with the same A
  and a B' of the same part that A is not an ancestor of, chosen among those whose own
  ancestors share the most with A's (siblings and cousins first: hard negatives). So each
  `text_a` is as often right as wrong, and a model of `text_a` alone is at chance exactly;
  a parent that is an ancestor of every child of the part has no negative and is left out;
- the KG is the training part's direct edges, `child  subclass of  parent`.

Deterministic: the same file and seed give the same pairs.
"""
import collections
import csv
import random

RELATION = "subclass of"


def load_taxonomy(path):
    """(edges [(child, parent)], definitions {type: text}) of a data/ontology/*.tsv file."""
    edges, definitions = [], {}
    with open(path, encoding="utf-8", newline="") as f:
        for row in csv.DictReader(f, delimiter="\t"):
            child, parent = row["child"].strip(), row["parent"].strip()
            if not child or not parent or child == parent:
                continue
            edges.append((child, parent))
            if row.get("definition") and child not in definitions:
                definitions[child] = row["definition"].strip()
    return sorted(set(edges)), definitions


def ancestors_of(edges):
    """{type: set of its ancestors} (cycles are cut)."""
    parents = collections.defaultdict(set)
    for c, p in edges:
        parents[c].add(p)
    memo = {}

    def visit(t, path):
        if t in memo:
            return memo[t]
        out = set()
        for p in parents.get(t, ()):
            if p in path:
                continue
            out.add(p)
            out |= visit(p, path | {p})
        memo[t] = out
        return out

    types = {c for c, _ in edges} | {p for _, p in edges}
    return {t: visit(t, {t}) for t in sorted(types)}


def _pairs(children, anc, excluded, rng):
    """Positive (A, B) for every ancestor A of each child B (A not excluded), each with its
    negative (A, B'): the same A, B' a child of the same part that A is not an ancestor of."""
    children = sorted(children)
    out = []
    used = collections.Counter()
    for b in children:
        for a in sorted(anc[b]):
            if a in excluded:
                continue
            candidates = [c for c in children if c != b and c != a and a not in anc[c] and c not in anc.get(a, set())]
            if not candidates:
                continue
            ancestry = anc.get(a, set()) | {a}
            best = max(len(anc[c] & ancestry) for c in candidates)
            hardest = [c for c in candidates if len(anc[c] & ancestry) == best]
            least = min(used[(a, c)] for c in hardest)
            pick = rng.choice([c for c in hardest if used[(a, c)] == least])
            used[(a, pick)] += 1
            out.append((1, a, b))
            out.append((0, a, pick))
    return out


def honest_split(edges, seed=13, test_share=0.25, dev_share=0.15):
    """{"train", "dev", "test": [(label, text_a, text_b)], "kg": [(child, parent)],
    "children": {part: set of children}}."""
    anc = ancestors_of(edges)
    children = sorted({c for c, _ in edges})
    rng = random.Random(seed)
    order = children[:]
    rng.shuffle(order)
    n_test = max(1, round(len(order) * test_share))
    n_dev = max(1, round(len(order) * dev_share))
    parts = {"test": set(order[:n_test]), "dev": set(order[n_test:n_test + n_dev]),
             "train": set(order[n_test + n_dev:])}
    unseen = {"train": parts["test"] | parts["dev"], "dev": parts["test"], "test": set()}
    split = {name: _pairs(parts[name], anc, unseen[name], random.Random(f"{seed}/{name}")) for name in parts}
    split["kg"] = sorted((c, p) for c, p in edges if c in parts["train"] and p not in unseen["train"])
    split["children"] = parts
    return split


def with_definition(name, definitions, limit=400):
    """A type's name with its definition, as text_b: "breaker: a mechanical switching device ..."."""
    d = definitions.get(name, "")
    if not d:
        return name
    if len(d) > limit:
        d = d[:limit].rsplit(" ", 1)[0]
    return f"{name}: {d}"
