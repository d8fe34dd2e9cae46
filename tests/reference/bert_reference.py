#!/usr/bin/python3
"""A plain-Python statement of Hugging Face's BertTokenizer (basic tokenization +
WordPiece), written from its documented algorithm on top of Python's own
unicodedata and str methods; the oracle of kbert's WordPiece parity test.

What PreTrainedTokenizer.tokenize adds around BasicTokenizer is included: special
tokens are split out first and kept whole, and with do_lower_case the rest is
lower-cased one character at a time before basic tokenization.
"""
import unicodedata

SPECIALS = ["[UNK]", "[SEP]", "[PAD]", "[CLS]", "[MASK]"]


def _is_whitespace(c):
    return c in " \t\n\r" or unicodedata.category(c) == "Zs"


def _is_control(c):
    if c in "\t\n\r":
        return False
    return unicodedata.category(c).startswith("C")


def _is_punctuation(c):
    cp = ord(c)
    if 33 <= cp <= 47 or 58 <= cp <= 64 or 91 <= cp <= 96 or 123 <= cp <= 126:
        return True
    return unicodedata.category(c).startswith("P")


def _is_cjk(cp):
    return (0x4E00 <= cp <= 0x9FFF or 0x3400 <= cp <= 0x4DBF or 0x20000 <= cp <= 0x2A6DF or 0x2A700 <= cp <= 0x2B73F
            or 0x2B740 <= cp <= 0x2B81F or 0x2B820 <= cp <= 0x2CEAF or 0xF900 <= cp <= 0xFAFF or 0x2F800 <= cp <= 0x2FA1F)


def _strip_accents(t):
    return "".join(c for c in unicodedata.normalize("NFD", t) if unicodedata.category(c) != "Mn")


class BertReference:
    def __init__(self, vocab, lower=True, strip_accents=None, chinese=True):
        self.vocab = {t: i for i, t in enumerate(vocab)}
        self.lower, self.strip, self.chinese = lower, strip_accents, chinese

    def _basic(self, text):
        out = []
        for c in text:
            if ord(c) == 0 or ord(c) == 0xFFFD or _is_control(c):
                continue
            if _is_whitespace(c):
                out.append(" ")
            elif self.chinese and _is_cjk(ord(c)):
                out.append(" " + c + " ")
            else:
                out.append(c)
        text = unicodedata.normalize("NFC", "".join(out))
        split = []
        for tok in text.strip().split():
            if tok not in SPECIALS:
                if self.lower:
                    tok = tok.lower()
                    if self.strip is not False:
                        tok = _strip_accents(tok)
                elif self.strip:
                    tok = _strip_accents(tok)
            if tok in SPECIALS:
                split.append(tok)
                continue
            cur = []
            for c in tok:
                if _is_punctuation(c):
                    split.append("".join(cur))
                    split.append(c)
                    cur = []
                else:
                    cur.append(c)
            split.append("".join(cur))
        return " ".join(split).split()

    def _wordpiece(self, word):
        if word in SPECIALS:
            return [word]
        if len(word) > 100:
            return ["[UNK]"]
        out, start = [], 0
        while start < len(word):
            end, cur = len(word), None
            while start < end:
                piece = ("##" if start else "") + word[start:end]
                if piece in self.vocab:
                    cur = piece
                    break
                end -= 1
            if cur is None:
                return ["[UNK]"]
            out.append(cur)
            start = end
        return out

    def tokenize(self, text):
        # Split out special tokens (leftmost, longest), keep them whole.
        chunks, i, start = [], 0, 0
        while i < len(text):
            hit = max((s for s in SPECIALS if text.startswith(s, i)), key=len, default=None)
            if hit:
                chunks.append((text[start:i], False))
                chunks.append((hit, True))
                i += len(hit)
                start = i
            else:
                i += 1
        chunks.append((text[start:], False))
        out = []
        for chunk, special in chunks:
            if special:
                out.append(chunk)
                continue
            if self.lower:
                chunk = "".join(c.lower() for c in chunk)
            for w in self._basic(chunk):
                out += self._wordpiece(w)
        return out
