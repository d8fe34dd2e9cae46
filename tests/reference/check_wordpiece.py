#!/usr/bin/python3
"""WordPiece parity: `kbert tree --tokenizer wordpiece` (no KG) against the Python
reference of HF BertTokenizer on random strings drawn from the corners of Unicode
that tokenizers get wrong (accents composed and not, Greek sigma, dotted I,
Hangul, CJK, controls, odd spaces, punctuation, emoji).

    check_wordpiece.py --kbert build/apps/kbert [--cases N]
"""
import argparse
import json
import os
import random
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bert_reference import BertReference  # noqa: E402

ALPHABET = (list("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")
            + list(" .,;:!?'\"()[]{}-_/\\@#$%^&*+=<>|~`")
            + ["\u00e9", "e\u0301", "\u00c9", "E\u0301", "\u00f1", "n\u0303", "\u00fc", "\u00df", "\u0130", "\u0131",
               "\u03a3", "\u03c3", "\u03c2", "\u039f\u0394\u039f\u03a3", "\u1e9e", "\ufb01", "\u212b", "\u00c5",
               "a\u0301\u0323", "a\u0323\u0301", "\u0958", "\ud55c", "\u1112\u1161\u11ab", "\u4e2d", "\u56fd",
               "\u3002", "\uff0c", "\u3000", "\u00a0", "\u2028", "\u2029", "\u0085", "\u200b", "\ufeff", "\x01",
               "\x1c", "\t", "\r", "\ufffd", "\u20ac", "\u00bf", "\U0001f600", "\U00020000", "\u0663", "\u05d0\u05b8",
               "[CLS]", "[SEP]", "[MASK]", "[UNK", "\u01c5", "\u1f88", "\u0345", "\u2126", "\u00b5"])

WORDS = ["un", "##want", "##ed", "runn", "##ing", "hello", "world", "low", "##est", "a", "b", "c", "e", "n", "i",
         "##a", "##b", "##c", "##e", "##s", "##n", "##i", "\u03c3", "\u03c2", "\u03bf", "\u00e9", "\u00df", "##\u00df",
         "\u4e2d", "\u56fd", "\ud55c", "\u1112", "##\u1161", "##\u11ab", "[", "]", ".", ",", "!", "?", "ss", "fi",
         "\u00e5", "a\u0301", "##\u0301", "i\u0307", "##\u0307", "\u0131", "\u00c9", "E", "A", "\u00b5", "\u03bc"]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--kbert", required=True)
    ap.add_argument("--cases", type=int, default=3000)
    a = ap.parse_args()
    rng = random.Random(5)
    texts = ["".join(rng.choice(ALPHABET) for _ in range(rng.randint(0, 25))) for _ in range(a.cases)]
    texts = [t.replace("\n", " ") for t in texts]
    # Every character the alphabet can turn into (lower-cased, decomposed, composed) is
    # in the vocabulary, alone and as a continuation, so that [UNK] rarely hides what
    # basic tokenization produced; a few are left out so [UNK] paths run too.
    import unicodedata
    chars = set()
    for s in ALPHABET:
        for form in (s, s.lower(), unicodedata.normalize("NFD", s), unicodedata.normalize("NFC", s),
                     unicodedata.normalize("NFD", s.lower())):
            chars.update(form)
    chars = sorted(c for c in chars if c not in "qQ\u00c5\u2126" and not c.isspace())
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + WORDS + chars + ["##" + c for c in chars]
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "vocab.txt")
        with open(path, "w", encoding="utf-8") as f:
            f.write("\n".join(vocab) + "\n")
        total = 0
        for lower in (True, False):
            ref = BertReference(vocab, lower=lower)
            cmd = [a.kbert, "tree", "--tokenizer", "wordpiece", "--vocab", path, "--max-length", "8192"]
            if not lower:
                cmd.append("--no-lower-case")
            data = "\n".join(texts) + "\n"
            out = subprocess.run(cmd, input=data.encode("utf-8"), capture_output=True, check=True).stdout.decode("utf-8")
            rows = [json.loads(line) for line in out.split("\n") if line]
            # A lone \r inside a text ends it early for line readers; kbert reads \n lines only.
            assert len(rows) == len(texts), (len(rows), len(texts))
            for text, row in zip(texts, rows):
                want = ref.tokenize(text.rstrip("\r"))
                assert row["tokens"] == want, f"lower={lower} {text!r}: kbert {row['tokens']} reference {want}"
                total += 1
    print(f"wordpiece parity: {total} texts equal to the reference")


if __name__ == "__main__":
    main()
