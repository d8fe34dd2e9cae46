#!/usr/bin/python3
"""A plain-Python statement of K-BERT's sentence tree, written from
docs/KBERT_SPEC.md (and the behaviour of the original brain/knowgraph.py), used
as the oracle of kbert's parity tests. Deliberately naive: dicts, lists and a
numpy visible matrix, no shared code with the C++ library.

    kg = SpoTable(["HowNet.spo"], predicate=True)
    tokens, pos, vm, seg = tree(kg, "[CLS]我不高兴", max_entities=2, max_length=64)
"""
import numpy as np

TAGS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "[ENT]", "[SUB]", "[PRE]", "[OBJ]"]


class SpoTable:
    """subject -> values, first-seen order, duplicates removed (spec section 1)."""

    def __init__(self, paths, predicate=False):
        self.values = {}
        for path in paths:
            with open(path, encoding="utf-8") as f:
                for line in f:
                    parts = line.strip().split("\t")
                    if len(parts) != 3:
                        continue
                    subj, pred, obj = parts
                    value = pred + obj if predicate else obj
                    seen = self.values.setdefault(subj, [])
                    if value not in seen:
                        seen.append(value)
        # Subjects with whitespace never match (spec section 2).
        self.matchable = {s for s in self.values if not any(c.isspace() for c in s)}
        self.longest = max((len(s) for s in self.matchable), default=0)


def segment(kg, text):
    """Spec section 2: skip whitespace; a tag; else the longest subject; else one character."""
    words, i = [], 0
    while i < len(text):
        if text[i].isspace():
            i += 1
            continue
        tag = next((t for t in TAGS if text.startswith(t, i)), None)
        if tag:
            words.append(tag)
            i += len(tag)
            continue
        best = 1
        for n in range(min(kg.longest, len(text) - i), 0, -1):
            if text[i:i + n] in kg.matchable:
                best = n
                break
        words.append(text[i:i + best])
        i += best
    return words


def tree(kg, text, max_entities=2, max_length=128):
    """Returns (tokens, positions, visible, segments), padded or cut to max_length."""
    words = segment(kg, text)
    tokens, pos, seg = [], [], []
    groups = []  # (trunk indices, [branch indices, ...]) per word
    trunk_all = []
    p = -1
    for w in words:
        trunk_tokens = [w] if w in TAGS else list(w)
        trunk_idx = []
        for t in trunk_tokens:
            p += 1
            trunk_idx.append(len(tokens))
            tokens.append(t)
            pos.append(p)
            seg.append(0)
        trunk_all += trunk_idx
        branches = []
        values = [] if w in TAGS else kg.values.get(w, [])[:max_entities]
        for v in values:
            idx = []
            for k, ch in enumerate(v):
                idx.append(len(tokens))
                tokens.append(ch)
                pos.append(p + 1 + k)
                seg.append(1)
            branches.append(idx)
        groups.append((trunk_idx, branches))
    n = len(tokens)
    vm = np.zeros((n, n), dtype=np.uint8)
    for trunk_idx, branches in groups:
        own = [i for b in branches for i in b]
        for i in trunk_idx:
            vm[i, trunk_all + own] = 1
        for b in branches:
            for i in b:
                vm[i, b + trunk_idx] = 1
    if n < max_length:
        pad = max_length - n
        tokens += ["[PAD]"] * pad
        seg += [0] * pad
        pos += [max_length - 1] * pad
        vm = np.pad(vm, ((0, pad), (0, pad)))
    else:
        tokens, seg, pos, vm = tokens[:max_length], seg[:max_length], pos[:max_length], vm[:max_length, :max_length]
    return tokens, pos, vm, seg
