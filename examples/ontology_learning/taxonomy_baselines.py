"""The baselines of the ontology-learning table (scikit-learn; Debian's /usr/bin/python3).

- ngram_lr: TF-IDF of character 2-4-grams of text_a and of text_b (two vectorizers, side by
  side), logistic regression, C chosen on dev from 0.1-10 (LLMs4OL's caution measured this one).
- text_a_lr: the same on text_a alone: at chance on the honest split by construction; the
  measure of how much of LLMs4OL's own split is memory of parents' names.
- closure: known taxonomy plus the type's head words: B is under A when a known type T (a
  training child or a known parent) ends B's name ("ground disconnector" ends with
  "disconnector") and A is T or a known ancestor of T; no match, not under A. Transitive
  closure of the training edges alone would say nothing about a type it has never seen.
"""
import numpy as np
from scipy.sparse import hstack
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import f1_score

from splits import ancestors_of


def macro_f1(gold, pred):
    return f1_score(gold, pred, average="macro", labels=[0, 1], zero_division=0)


def _fit_pairs(train, dev, test, columns):
    def texts(rows, i):
        return [r[i] for r in rows]

    vecs = [TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 4), sublinear_tf=True, lowercase=True).fit(texts(train, i))
            for i in columns]

    def X(rows):
        return hstack([v.transform(texts(rows, i)) for v, i in zip(vecs, columns)]).tocsr()

    y_train = np.array([r[0] for r in train])
    best = None
    for C in (0.1, 0.3, 1.0, 3.0, 10.0):
        m = LogisticRegression(C=C, max_iter=2000).fit(X(train), y_train)
        score = macro_f1([r[0] for r in dev], m.predict(X(dev))) if dev else 0.0
        if best is None or score > best[0]:
            best = (score, C, m)
    return best[2].predict(X(test)), best[1]


def ngram_lr(train, dev, test):
    """Predictions on test and the C chosen on dev."""
    return _fit_pairs(train, dev, test, (1, 2))


def text_a_lr(train, dev, test):
    return _fit_pairs(train, dev, test, (1,))


def closure(kg_edges, test, names_of_b):
    """Predictions of the head-word closure on test pairs; names_of_b maps text_b to the type's name."""
    anc = ancestors_of(kg_edges)
    known = sorted(anc, key=len, reverse=True)  # longest names first: the most specific match
    out = []
    for _, a, b in test:
        name = names_of_b(b).lower()
        under = False
        for t in known:
            tl = t.lower()
            if name == tl or name.endswith(" " + tl):
                under = a == t or a in anc[t]
                break
        out.append(1 if under else 0)
    return out
