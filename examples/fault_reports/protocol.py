#!/usr/bin/python3
"""The main job's validation protocol: does the knowledge help, by more than noise?

Choices are made on a validation set large enough to resolve about 2 macro-F1 points, and
the test set is used once, for the configuration chosen:

  1. train on 2004-2016 (phmsa_train.tsv), score on 2017-2020 (phmsa_val.tsv + phmsa_dev.tsv,
     457 reports), every configuration once per seed (the best epoch on validation is kept,
     as kbert train does with --dev);
  2. every knowledge configuration against no KG as a paired difference of macro-F1, with a
     bootstrap 95% interval over reports and seeds (each replicate draws the seeds and the
     reports with replacement; both arms see the same draw);
  3. the configuration with the highest mean validation macro-F1 is chosen, with its number
     of epochs (the epoch of the highest mean validation macro-F1 over the seeds); it and no
     KG are then trained on 2004-2020 for that many epochs and scored once on 2021-2023.

Baselines on the same splits: TF-IDF + logistic regression (C and class weighting chosen on
validation), and the same given the facts the cause ontology holds for each report (each
fact's relation and object appended to the report's text): does the encoder use the
knowledge better than a bag of words does?

Usage (Debian's interpreter; fault_reports.py --protocol runs this):
  /usr/bin/python3 examples/fault_reports/protocol.py [--seeds 7,8,9] [--configs no_kg,causes,...]
      [--out build/fault_reports_protocol] [--jobs 2] [--epochs 10] [--quick]
Finished runs are kept: a second call resumes where the first stopped.
"""
import argparse
import collections
import concurrent.futures
import json
import os
import subprocess
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.normpath(os.path.join(HERE, "..", ".."))
DATA = os.path.join(REPO, "data", "fault_reports")
sys.path.insert(0, HERE)
from baselines import read_tsv, report  # noqa: E402

# truncation: "kbert" keeps the first 256 tokens of the tree (the original: branches push the
# report's last words out); "trunk_first" keeps every word of the report that fits and drops
# whole branches instead. The gated rows use trunk_first, so that a closed gate is exactly the
# model without facts (with "kbert" the facts would still cost a long report its last words).
# lexical: the side channel beside the encoder (--lexical-buckets, fitted first as TF-IDF +
# logistic regression, then fixed: epoch 0 is the fit alone), of the report's words ("words")
# or of its words and the objects of the facts the KG holds for it ("facts",
# --lexical-knowledge). base: the same model without knowledge, which a row is compared to.
# encoder: None (the shipped encoder), or the shipped encoder after continued MLM on the
# training narratives ("text") or on them and the cause ontology's facts written as
# sentences ("facts": knowledge in pre-training rather than in the tree).
Config = collections.namedtuple("Config", "label kg gate truncation lexical base encoder", defaults=(None,))
CONFIGS = {
    "no_kg": Config("kbert, no KG", None, False, "kbert", None, None),
    "causes": Config("K-BERT: cause ontology", "causes.tsv", False, "kbert", None, "no_kg"),
    "causes_trunk": Config("K-BERT: cause ontology, trunk first", "causes.tsv", False, "trunk_first", None, "no_kg"),
    "causes_gate": Config("K-BERT: cause ontology + knowledge gate (trunk first)", "causes.tsv", True, "trunk_first",
                          None, "no_kg"),
    "energy": Config("K-BERT: energy KG", "energy.spo", False, "kbert", None, "no_kg"),
    "energy_gate": Config("K-BERT: energy KG + knowledge gate (trunk first)", "energy.spo", True, "trunk_first", None,
                          "no_kg"),
    "lex_words": Config("kbert + lexical side channel, no KG", None, False, "kbert", "words", None),
    "mlm_text": Config("kbert, no KG, encoder after continued MLM on the training narratives", None, False, "kbert",
                       None, "no_kg", "text"),
    "mlm_facts": Config("kbert, no KG, encoder after continued MLM on the narratives + the ontology's facts as "
                        "sentences", None, False, "kbert", None, "mlm_text", "facts"),
    "lex_causes": Config("K-BERT + lexical side channel, cause ontology (tree and side channel)", "causes.tsv", False,
                         "kbert", "facts", "lex_words"),
}
LEXICAL_BUCKETS = 262144
MLM_EPOCHS = 2  # continued pre-training of the shipped encoder (encoder "text" / "facts")
BOOTSTRAP = 2000


def log(msg):
    print(msg, flush=True)


def write_atomic(path, text):
    with open(path + ".tmp", "w", encoding="utf-8") as f:
        f.write(text)
    os.replace(path + ".tmp", path)


def concat(out, sources, n=0):
    """One TSV of the rows of `sources` (the first n of each with n > 0)."""
    rows = []
    for s in sources:
        with open(os.path.join(DATA, s), encoding="utf-8") as f:
            f.readline()
            part = f.readlines()
        rows += part[:n] if n else part
    write_atomic(out, "label\ttext_a\n" + "".join(rows))
    return len(rows)


def macro_f1(gold, pred, classes):
    return report(gold, pred, classes)["macro_f1"]


def paired_bootstrap(gold, a_runs, b_runs, classes, rng):
    """Mean over seeds of macro-F1(b) - macro-F1(a), and its bootstrap 95% interval over
    reports and seeds. a_runs / b_runs: one prediction list per seed (same seeds, same order)."""
    gold = np.array(gold)
    cls = {c: i for i, c in enumerate(classes)}
    g = np.array([cls[x] for x in gold])
    a = np.array([[cls.get(x, -1) for x in r] for r in a_runs])
    b = np.array([[cls.get(x, -1) for x in r] for r in b_runs])
    k = len(classes)

    def f1(gi, pi):
        # macro-F1 over the classes, from counts (vectorised; matches baselines.report)
        tp = np.bincount(gi[gi == pi], minlength=k).astype(float)
        npred = np.bincount(pi[pi >= 0], minlength=k).astype(float)
        ngold = np.bincount(gi, minlength=k).astype(float)
        p = np.divide(tp, npred, out=np.zeros(k), where=npred > 0)
        r = np.divide(tp, ngold, out=np.zeros(k), where=ngold > 0)
        f = np.divide(2 * p * r, p + r, out=np.zeros(k), where=p + r > 0)
        return f.mean()

    point = np.mean([f1(g, b[s]) - f1(g, a[s]) for s in range(len(a))])
    n, seeds = len(g), len(a)
    diffs = []
    for _ in range(BOOTSTRAP):
        idx = rng.integers(0, n, n)
        ss = rng.integers(0, seeds, seeds)
        diffs.append(np.mean([f1(g[idx], b[s][idx]) - f1(g[idx], a[s][idx]) for s in ss]))
    lo, hi = np.percentile(diffs, [2.5, 97.5])
    return float(point), float(lo), float(hi), float(np.mean(np.array(diffs) <= 0))


def tfidf_lr(train, valid, test, facts=None):
    """TF-IDF + LR as baselines.py, C and class weighting chosen on `valid`; with `facts`
    (text -> appended words) the facts' words are appended to every text first. Returns
    (validation predictions, test predictions of the model refitted on train + valid, choice)."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    def texts(rows):
        return [t + (" " + facts[t] if facts and facts.get(t) else "") for t in rows]

    (ytr, ttr), (yva, tva), (_, tte) = train, valid, test
    classes = sorted(set(ytr))

    def fit(y, t, c, w):
        vec = TfidfVectorizer(token_pattern=r"[a-z0-9]+", ngram_range=(1, 2), min_df=2, sublinear_tf=True)
        return vec, LogisticRegression(C=c, class_weight=w, max_iter=5000).fit(vec.fit_transform(texts(t)), y)

    best = None
    for w in (None, "balanced"):
        for c in (0.01, 0.03, 0.1, 0.3, 1, 3, 10, 30, 100):
            vec, model = fit(ytr, ttr, c, w)
            pred = list(model.predict(vec.transform(texts(tva))))
            f = macro_f1(yva, pred, classes)
            if best is None or f > best[0]:
                best = (f, c, w, pred)
    _, c, w, val_pred = best
    vec, model = fit(ytr + yva, ttr + tva, c, w)
    return val_pred, list(model.predict(vec.transform(texts(tte)))), {"C": c, "balanced": w == "balanced"}


def kg_facts(kbert, kg, vocab, texts, out):
    """text -> the relation and object words of every fact the KG holds for it (kbert tree,
    K-BERT's matching; no length limit)."""
    path = os.path.join(out, os.path.basename(kg) + ".facts.json")
    if os.path.exists(path):
        return json.load(open(path, encoding="utf-8"))
    proc = subprocess.run([kbert, "tree", "--kg", kg, "--tokenizer", "wordpiece", "--vocab", vocab, "--predicate",
                           "--max-length", "8192"], input="".join(t + "\n" for t in texts),
                          capture_output=True, text=True)
    if proc.returncode != 0:
        sys.exit(f"protocol: kbert tree failed: {proc.stderr.strip()}")
    facts = {}
    for t, line in zip(texts, proc.stdout.splitlines()):
        facts[t] = " ".join(f"{x['relation']} {x['object']}" for x in json.loads(line)["injected"])
    write_atomic(path, json.dumps(facts))
    return facts


def fact_sentences(path):
    """The cause ontology's facts as sentences: "backhoe is a circumstance of excavation damage."."""
    out = []
    with open(path, encoding="utf-8") as f:
        f.readline()
        for line in f:
            cols = line.rstrip("\n").split("\t")
            if len(cols) >= 3 and all(cols[:3]):
                out.append(f"{cols[0]} {cols[1]} {cols[2]}.")
    return out


def continued_encoder(kbert, model, kind, train_file, out_dir, epochs, max_length, threads):
    """The shipped encoder after MLM on `train_file`'s narratives (kind "text") or on them and
    the cause ontology's facts as sentences (kind "facts"); built once, kept in out_dir."""
    if os.path.exists(os.path.join(out_dir, "kbert.json")):
        return out_dir
    texts = read_tsv(train_file)[1]
    if kind == "facts":
        texts = texts + fact_sentences(os.path.join(DATA, "causes.tsv"))
    corpus = out_dir + ".corpus.txt"
    write_atomic(corpus, "".join(" ".join(t.split()) + "\n" for t in texts))
    log(f"[encoder] continued MLM ({kind}): {len(texts)} lines, {epochs} epoch(s)")
    run([kbert, "pretrain", "--model", model, "--corpus", corpus, "--out", out_dir, "--epochs", str(epochs),
         "--max-length", str(max_length), "--seed", "7", "--threads", str(threads), "--quiet"], out_dir + ".json")
    return out_dir


def run(cmd, out_json, stdin_text=None):
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, input=stdin_text, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd[:2])} failed ({proc.returncode}): {proc.stderr.strip()[-2000:]}")
    write_atomic(out_json, proc.stdout)
    return time.perf_counter() - t0


def predict(kbert, model_dir, texts, threads):
    proc = subprocess.run([kbert, "predict", "--model", model_dir, "--json", "--threads", str(threads)],
                          input="".join(t + "\n" for t in texts), capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"kbert predict failed: {proc.stderr.strip()[-2000:]}")
    return [json.loads(line)["label"] for line in proc.stdout.splitlines()]


def train_command(kbert, model, name, seed, train_file, dev_file, test_file, epochs, out_dir, max_length=256,
                  learning_rate=3e-4, threads=1, lexical_c=None):
    """The `kbert train` command of configuration `name` (CONFIGS): the job's recipe (batch 16,
    balanced class weights, predicate mode, macro-F1 on dev); without dev data a lexical row
    takes the side channel's C (`lexical_c`) the validation runs chose."""
    c = CONFIGS[name]
    cmd = [kbert, "train", "--train", train_file, "--model", model,
           "--kg", os.path.join(DATA, c.kg) if c.kg else "none", "--predicate",
           "--max-length", str(max_length), "--batch-size", "16", "--epochs", str(epochs),
           "--learning-rate", str(learning_rate), "--metric", "macro_f1", "--seed", str(seed),
           "--class-weights", "balanced", "--threads", str(threads), "--quiet", "--out", out_dir]
    cmd += ["--dev", dev_file] if dev_file else []
    cmd += ["--test", test_file] if test_file else []
    cmd += ["--knowledge-gate"] if c.gate else []
    cmd += ["--truncation", c.truncation] if c.kg and c.truncation != "kbert" else []
    if c.lexical:
        cmd += ["--lexical-buckets", str(LEXICAL_BUCKETS), "--lexical-fit", "first", "--lexical-learning-rate", "0"]
        cmd += ["--patience", "2"] if dev_file else ["--lexical-c", str(lexical_c)]
        cmd += ["--lexical-knowledge"] if c.lexical == "facts" else []
    return cmd


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=os.path.join(REPO, "build", "fault_reports_protocol"))
    ap.add_argument("--kbert", default=os.path.join(REPO, "build", "apps", "kbert"))
    ap.add_argument("--model", default=os.path.join(DATA, "pretrained"))
    ap.add_argument("--seeds", default="7,8,9")
    ap.add_argument("--configs", default="no_kg,causes,causes_gate,lex_words,lex_causes", help="of " + ",".join(CONFIGS))
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--learning-rate", type=float, default=3e-4)
    ap.add_argument("--jobs", type=int, default=min(2, os.cpu_count() or 1))
    ap.add_argument("--no-final", action="store_true", help="stop after the validation stage")
    ap.add_argument("--quick", action="store_true", help="a smoke run: few reports, 1 epoch, short texts")
    args = ap.parse_args()
    seeds = [int(x) for x in args.seeds.split(",") if x]
    configs = [c for c in args.configs.split(",") if c]
    for c in configs:
        if c not in CONFIGS:
            sys.exit(f"protocol: unknown configuration {c!r} (known: {', '.join(CONFIGS)})")
    grown = True
    while grown:  # every knowledge row is compared with its base (and that with its own)
        grown = False
        for c in list(configs):
            if CONFIGS[c].base and CONFIGS[c].base not in configs:
                configs.insert(0, CONFIGS[c].base)
                grown = True
    if not seeds:
        sys.exit("protocol: --seeds needs at least one seed")
    for path in (args.kbert, args.model):
        if not os.path.exists(path):
            sys.exit(f"protocol: {path} does not exist (run scripts/setup.sh first)")
    out = args.out + ("_quick" if args.quick else "")
    os.makedirs(out, exist_ok=True)
    n = 60 if args.quick else 0
    epochs = 1 if args.quick else args.epochs
    max_length = 96 if args.quick else 256
    threads = max(1, (os.cpu_count() or 2) // args.jobs)

    files = {"train": os.path.join(out, "train.tsv"), "valid": os.path.join(out, "validation.tsv"),
             "full": os.path.join(out, "train_full.tsv"), "test": os.path.join(out, "test.tsv")}
    counts = {"train": concat(files["train"], ["phmsa_train.tsv"], 4 * n),
              "valid": concat(files["valid"], ["phmsa_val.tsv", "phmsa_dev.tsv"], n),
              "full": concat(files["full"], ["phmsa_train.tsv", "phmsa_val.tsv", "phmsa_dev.tsv"], 4 * n),
              "test": concat(files["test"], ["phmsa_test.tsv"], n)}
    log(f"[data] train 2004-2016: {counts['train']}, validation 2017-2020: {counts['valid']}, "
        f"final training 2004-2020: {counts['full']}, test 2021-2023: {counts['test']}")
    train, valid, test = read_tsv(files["train"]), read_tsv(files["valid"]), read_tsv(files["test"])
    classes = sorted(set(train[0]))

    def encoder(name, stage):
        """The encoder a configuration starts from: the shipped one, or its continued MLM on the
        stage's training narratives (validation: 2004-2016; final: 2004-2020)."""
        kind = CONFIGS[name].encoder
        if not kind:
            return args.model
        train_file = files["train"] if stage == "validation" else files["full"]
        return continued_encoder(args.kbert, args.model, kind, train_file, os.path.join(out, f"encoder_{kind}_{stage}"),
                                 1 if args.quick else MLM_EPOCHS, max_length, 2)

    def train_cmd(name, seed, train_file, dev_file, test_file, n_epochs, out_dir, lexical_c=None):
        stage = "validation" if dev_file else "final"
        return train_command(args.kbert, encoder(name, stage), name, seed, train_file, dev_file, test_file, n_epochs,
                             out_dir, max_length, args.learning_rate, threads, lexical_c)

    # 1. Validation stage.
    def validate(item):
        name, seed = item
        d = os.path.join(out, f"val_{name}_seed{seed}")
        res = d + ".json"
        if not os.path.exists(res):
            log(f"[validation] {CONFIGS[name].label}, seed {seed}: training on 2004-2016")
            seconds = run(train_cmd(name, seed, files["train"], files["valid"], None, epochs, d), d + ".train.json")
            preds = predict(args.kbert, d, valid[1], threads)
            # validation macro-F1 by epoch (0: the fitted side channel alone, lexical rows only)
            curve = {}
            for line in open(os.path.join(d, "train_log.jsonl")):
                e = json.loads(line)
                if "dev" in e:
                    curve[int(e["epoch"])] = e["dev"]["macro_f1"]
            lexical_c = json.load(open(d + ".train.json")).get("lexical_c")
            write_atomic(res, json.dumps({"predictions": preds, "curve": curve, "seconds": seconds,
                                          "lexical_c": lexical_c}))
        r = json.load(open(res))
        r["curve"] = {int(e): f for e, f in r["curve"].items()}  # JSON keys are strings
        log(f"[validation] {CONFIGS[name].label}, seed {seed}: macro-F1 {macro_f1(valid[0], r['predictions'], classes):.4f}"
            f" (best epoch {max(r['curve'], key=r['curve'].get)}, {r['seconds']:.0f} s)")
        return r

    for c in configs:  # the continued-MLM encoders first, one at a time (each uses both cores)
        encoder(c, "validation")
    items = [(c, s) for c in configs for s in seeds]
    with concurrent.futures.ThreadPoolExecutor(max_workers=args.jobs) as pool:
        val = dict(zip(items, pool.map(validate, items)))

    rng = np.random.default_rng(12345)
    rows = collections.OrderedDict()
    t0 = time.perf_counter()
    base_val, base_test, base_choice = tfidf_lr(train, valid, test)
    rows["tfidf"] = {"label": "TF-IDF + logistic regression", "val": [macro_f1(valid[0], base_val, classes)],
                     "test": [macro_f1(test[0], base_test, classes)], "val_pred": [base_val], "test_pred": [base_test]}
    facts = kg_facts(args.kbert, os.path.join(DATA, "causes.tsv"), os.path.join(args.model, "vocab.txt"),
                     train[1] + valid[1] + test[1], out)
    fv, ft, fchoice = tfidf_lr(train, valid, test, facts)
    rows["tfidf_facts"] = {"label": "TF-IDF + LR, each report's cause-ontology facts appended",
                           "val": [macro_f1(valid[0], fv, classes)], "test": [macro_f1(test[0], ft, classes)],
                           "val_pred": [fv], "test_pred": [ft]}
    log(f"[baselines] TF-IDF + LR validation {rows['tfidf']['val'][0]:.4f} ({base_choice}); with the facts "
        f"{rows['tfidf_facts']['val'][0]:.4f} ({fchoice}); {time.perf_counter() - t0:.0f} s")
    for c in configs:
        epochs_seen = sorted({e for s in seeds for e in val[(c, s)]["curve"]})
        rows[c] = {"label": CONFIGS[c].label, "val_pred": [val[(c, s)]["predictions"] for s in seeds],
                   # mean over the seeds that reached the epoch (early stopping ends some sooner)
                   "curve": {e: float(np.mean([val[(c, s)]["curve"][e] for s in seeds if e in val[(c, s)]["curve"]]))
                             for e in epochs_seen},
                   "lexical_c": [val[(c, s)].get("lexical_c") for s in seeds],
                   "seconds": float(np.mean([val[(c, s)]["seconds"] for s in seeds]))}
        rows[c]["val"] = [macro_f1(valid[0], p, classes) for p in rows[c]["val_pred"]]

    # 2. Paired comparisons on validation.
    effects = {}
    effects["tfidf_facts"] = paired_bootstrap(valid[0], rows["tfidf"]["val_pred"], rows["tfidf_facts"]["val_pred"],
                                              classes, rng)
    for c in configs:
        if CONFIGS[c].base:
            effects[c] = paired_bootstrap(valid[0], rows[CONFIGS[c].base]["val_pred"], rows[c]["val_pred"], classes, rng)

    # 3. The choice (validation only), then the final fit on 2004-2020 and the one test score.
    chosen = max(configs, key=lambda c: np.mean(rows[c]["val"]))
    log(f"[choice] highest mean validation macro-F1: {CONFIGS[chosen].label} ({np.mean(rows[chosen]['val']):.4f})")
    finals = [] if args.no_final else sorted({chosen} | ({CONFIGS[chosen].base} if CONFIGS[chosen].base else set()),
                                             key=configs.index)
    final_epochs = {c: max(rows[c]["curve"], key=rows[c]["curve"].get) for c in finals}
    # The side channel's C for the final fit: the one the validation runs chose (the most common).
    final_c = {c: collections.Counter(rows[c]["lexical_c"]).most_common(1)[0][0] for c in finals if CONFIGS[c].lexical}

    def final(item):
        name, seed = item
        d = os.path.join(out, f"final_{name}_seed{seed}")
        res = d + ".json"
        if not os.path.exists(res):
            log(f"[final] {CONFIGS[name].label}, seed {seed}: training on 2004-2020 for {final_epochs[name]} epoch(s)")
            seconds = run(train_cmd(name, seed, files["full"], None, files["test"], final_epochs[name], d,
                                    final_c.get(name)), d + ".train.json")
            write_atomic(res, json.dumps({"predictions": predict(args.kbert, d, test[1], threads),
                                          "seconds": seconds, "epochs": final_epochs[name]}))
        return json.load(open(res))

    for c in finals:
        encoder(c, "final")
    items = [(c, s) for c in finals for s in seeds]
    with concurrent.futures.ThreadPoolExecutor(max_workers=args.jobs) as pool:
        fin = dict(zip(items, pool.map(final, items)))
    for c in finals:
        rows[c]["test_pred"] = [fin[(c, s)]["predictions"] for s in seeds]
        rows[c]["test"] = [macro_f1(test[0], p, classes) for p in rows[c]["test_pred"]]
        rows[c]["epochs"] = final_epochs[c]
    test_effect = None
    if CONFIGS[chosen].base and chosen in finals:
        test_effect = paired_bootstrap(test[0], rows[CONFIGS[chosen].base]["test_pred"], rows[chosen]["test_pred"],
                                       classes, rng)

    # 4. The table.
    def cell(xs):
        if not xs:
            return "-"
        return f"{np.mean(xs):.3f}" if len(xs) == 1 else f"{np.mean(xs):.3f} ± {np.std(xs, ddof=1):.3f}"

    def eff(e):
        return "-" if e is None else f"{100 * e[0]:+.1f} [{100 * e[1]:+.1f}, {100 * e[2]:+.1f}]"

    lines = ["| method | validation macro-F1 (2017-2020) | knowledge effect on validation, points [95% CI] | "
             "test macro-F1 (2021-2023) | epochs |", "|---|---|---|---|---|"]
    for key, r in rows.items():
        e = effects.get(key)
        against = "against TF-IDF + LR" if key == "tfidf_facts" else (
            f"against {CONFIGS[key].base}" if key in CONFIGS and CONFIGS[key].base else "")
        lines.append(f"| {r['label']} | {cell(r['val'])} | {eff(e) + ' ' + against if e else 'reference'} | "
                     f"{cell(r.get('test', []))} | {r.get('epochs', '-')} |")
    lines.append("")
    lines.append(f"kbert rows: mean ± standard deviation over seeds {', '.join(map(str, seeds))}; validation = "
                 f"{counts['valid']} reports of 2017-2020 (models trained on 2004-2016, best epoch on validation; epoch 0 is a lexical "
                 f"row's fitted side channel alone); the effect is the paired difference in macro-F1 against the same "
                 f"model without knowledge (named), "
                 f"bootstrap 95% interval over reports and seeds ({BOOTSTRAP} replicates). Chosen on validation: "
                 f"{CONFIGS[chosen].label}.")
    if test_effect:
        lines.append(f"Test (models trained on 2004-2020 for the epochs chosen on validation, {counts['test']} reports): "
                     f"{CONFIGS[chosen].label} against {CONFIGS[CONFIGS[chosen].base].label} {eff(test_effect)} points.")
    table = "\n".join(lines)
    log("\n" + table + "\n")
    write_atomic(os.path.join(out, "results.md"), table + "\n")
    summary = {k: {kk: vv for kk, vv in r.items() if not kk.endswith("_pred")} for k, r in rows.items()}
    write_atomic(os.path.join(out, "results.json"),
                 json.dumps({"rows": summary, "effects": effects, "test_effect": test_effect, "chosen": chosen,
                             "seeds": seeds}, indent=1))


if __name__ == "__main__":
    main()
