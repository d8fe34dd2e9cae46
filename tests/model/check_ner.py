#!/usr/bin/python3
"""Token classification (NER) through the CLI, K-BERT's way (docs/KBERT_SPEC.md section 6).

- A tagger saved by the original (run_kbert_ner.py's output_layer, torch.save) and
  imported with `kbert import-uer`: the tags of `kbert predict` on KG-dense sentences
  are those of the reference network over the reference sentence tree, character by
  character (labels line up with the trunk when knowledge is injected; branch tokens
  and truncated characters are never tagged).
- `kbert train --task ner` on a toy lexicon task with the Medical KG: the loss falls,
  dev entity F1 is high, `kbert eval` scores the saved model as training did, and the
  entities of `kbert predict` carry code-point offsets that slice the input.
- CoNLL data with a WordPiece model: words, punctuation and their offsets.
- Bad input: errors that name the file and line, usage errors for wrong options.

    check_ner.py --kbert build/apps/kbert --data data/kbert
"""
import argparse
import json
import os
import random
import sys
import tempfile

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "reference"))
import kbert_reference as kref  # noqa: E402
import torch_models as tm  # noqa: E402
from check_model import FAILED, check, english_vocab, jsonl, run, uer_vocab, write_hf_dir  # noqa: E402  (shared helpers)


def bio_chunks(tags):
    """conlleval's chunks, written out again for the check: (type, begin, end)."""
    out, cur = [], None
    for i, t in enumerate(tags):
        if t.startswith("B-") or (t.startswith("I-") and (cur is None or cur[0] != t[2:])):
            if cur:
                out.append((cur[0], cur[1], i))
            cur = (t[2:], i)
        elif not t.startswith("I-") and cur:
            out.append((cur[0], cur[1], i))
            cur = None
    if cur:
        out.append((cur[0], cur[1], len(tags)))
    return out


def medical_subjects(kg_path, n, seed):
    """KG subjects of 2 to 4 CJK characters (they get knowledge injected)."""
    subs = []
    with open(kg_path, encoding="utf-8") as f:
        for line in f:
            s = line.split("\t")[0]
            if 2 <= len(s) <= 4 and all("\u4e00" <= c <= "\u9fff" for c in s) and s not in subs:
                subs.append(s)
    random.Random(seed).shuffle(subs)
    return subs[:n]


def uer_tagger_parity(k, data, d):
    vocab_path = os.path.join(data, "google_vocab.txt")
    kg_path = os.path.join(data, "Medical.spo")
    vocab = uer_vocab(vocab_path)
    table = kref.SpoTable([kg_path], predicate=False)
    L = 48
    cfg = os.path.join(d, "uer_config.json")
    with open(cfg, "w") as f:
        json.dump({"emb_size": 32, "feedforward_size": 64, "hidden_size": 32, "heads_num": 4, "layers_num": 2, "dropout": 0.1}, f)
    labels = ["[PAD]", "[ENT]", "O", "B-Disease", "I-Disease", "B-Symptom", "I-Symptom"]
    with open(os.path.join(d, "labels.txt"), "w") as f:
        f.write("\n".join(labels) + "\n")
    torch.manual_seed(3)
    bert = tm.Bert(len(vocab), 32, 2, 4, 64, "uer").eval()
    out_layer = torch.nn.Linear(32, len(labels))
    with torch.no_grad():
        for p in out_layer.parameters():
            p.normal_(0, 0.5)
        out_layer.bias[1] += 3.0  # [ENT] and [PAD] often best: the tagger must never give them to a trunk token
        out_layer.bias[0] += 2.0
    state = bert.state()
    state["output_layer.weight"] = out_layer.weight.detach().clone()
    state["output_layer.bias"] = out_layer.bias.detach().clone()
    ckpt = os.path.join(d, "uer_tagger.bin")
    torch.save(state, ckpt)
    # Without a labels file the tagger's labels are unknown: a clear error.
    r = run([k, "import-uer", "--checkpoint", ckpt, "--config", cfg, "--vocab", vocab_path, "--out", f"{d}/bad"], ok=False)
    check(r.returncode == 1 and b"--labels-file" in r.stderr and b"output_layer" in r.stderr,
          f"import-uer of a tagger without labels names the problem: {r.stderr.decode()[-300:]}")
    out = os.path.join(d, "m_uer_tagger")
    run([k, "import-uer", "--checkpoint", ckpt, "--config", cfg, "--vocab", vocab_path, "--tokenizer", "char",
         "--max-length", str(L), "--kg", kg_path, "--labels-file", os.path.join(d, "labels.txt"), "--out", out])
    subjects = medical_subjects(kg_path, 40, 1)
    rng = random.Random(2)
    texts = []
    for i in range(12):
        words = []
        for _ in range(rng.randint(2, 5)):
            words.append(rng.choice(subjects) if rng.random() < 0.6 else rng.choice(["患者", "出现", "伴", "明显", "，", "3天"]))
        texts.append("".join(words))
    texts.append("".join(subjects[:20]))  # longer than the tree: the cut characters are O
    got = jsonl(run([k, "predict", "--model", out, "--json", "--batch-size", "4"], "\n".join(texts) + "\n").stdout)
    injected_total = 0
    for text, g in zip(texts, got):
        toks, pos, vm, seg = kref.tree(table, "[CLS]" + text, 2, L)
        rows = [{"tokens": toks, "ids": [vocab.get(x, vocab["[UNK]"]) for x in toks], "positions": pos,
                 "segments": [0] * L, "visible": [list(np.nonzero(r)[0]) for r in vm]}]
        ids, p, s, vis = tm.tree_tensors(rows, L, uer_segments=True)
        with torch.no_grad():
            logits = out_layer(bert(ids, p, s, vis))[0].numpy()
        want = []
        for i, t in enumerate(toks):
            if seg[i] == 0 and t not in ("[CLS]", "[PAD]"):
                want.append(labels[2 + int(np.argmax(logits[i, 2:]))])
        injected_total += sum(1 for x in seg if x == 1)
        want += ["O"] * (len(text) - len(want))
        check(g["tokens"] == list(text), f"one token a character: {g['tokens'][:5]}")
        check(g["tags"] == want, f"tags of {text!r}:\n  got  {g['tags']}\n  want {want}")
        check([(e["type"], e["start"], e["end"]) for e in g["entities"]] == bio_chunks(g["tags"]),
              f"entities are the chunks of the tags: {g['entities']}")
        check(all(text[e["start"]:e["end"]] == e["text"] for e in g["entities"]), "entity offsets slice the text")
    check(injected_total > 30, f"the parity sentences are KG-dense ({injected_total} branch tokens)")
    check(any(g["injected"] for g in got), "predict --json lists the injected triples")


def hf_tagger_parity(k, d):
    """A Hugging Face BertForTokenClassification directory: import-hf makes a tagger whose
    labels come from id2label; the tag of each word is its first piece's best tag."""
    vocab = english_vocab()
    labels = ["O", "B-EQ", "I-EQ", "B-EV", "I-EV"]
    torch.manual_seed(4)
    bert = tm.Bert(len(vocab), 32, 2, 4, 64, "hf", positions=40).eval()
    cls = torch.nn.Linear(32, len(labels))
    with torch.no_grad():
        for p in cls.parameters():
            p.normal_(0, 0.5)
    src = write_hf_dir(os.path.join(d, "hf_tagger"), bert, vocab, "F32", "bert.")
    state = bert.state("bert.")
    state["classifier.weight"], state["classifier.bias"] = cls.weight.detach(), cls.bias.detach()
    tm.save_safetensors(os.path.join(src, "model.safetensors"), state, "F32")
    cfg = json.load(open(os.path.join(src, "config.json")))
    cfg["architectures"] = ["BertForTokenClassification"]
    cfg["id2label"] = {str(i): x for i, x in enumerate(labels)}
    json.dump(cfg, open(os.path.join(src, "config.json"), "w"))
    out = os.path.join(d, "m_hf_tagger")
    run([k, "import-hf", "--from", src, "--out", out])
    spec = json.load(open(os.path.join(out, "kbert.json")))
    check(spec["head"] == "tagger" and spec["labels"] == labels, f"import-hf of a token classifier: {spec['head']} {spec['labels']}")
    texts = ["The power transformer tripped after a gas leak.", "pump seal leaked, motor stopped"]
    trees = jsonl(run([k, "tree", "--tokenizer", "wordpiece", "--vocab", os.path.join(src, "vocab.txt"), "--add-special"],
                      "\n".join(texts) + "\n").stdout)
    got = jsonl(run([k, "predict", "--model", out, "--json"], "\n".join(texts) + "\n").stdout)
    for t, g in zip(trees, got):
        ids, pos, seg, vis = tm.tree_tensors([t])
        with torch.no_grad():
            logits = cls(bert(ids, pos, seg, vis))[0].numpy()
        want = [labels[int(np.argmax(logits[i]))] for i, tok in enumerate(t["tokens"])
                if tok not in ("[CLS]", "[SEP]") and not tok.startswith("##")]
        check(g["tags"] == want, f"HF tagger tags:\n  got  {g['tags']}\n  want {want}")


def write_bio(path, rows):
    with open(path, "w", encoding="utf-8") as f:
        f.write("text_a\tlabel\n")
        for chars, tags in rows:
            f.write(" ".join(chars) + "\t" + " ".join(tags) + "\n")


def toy_rows(subjects, n, seed):
    """Sentences of filler words and lexicon entities: the first half of the lexicon is
    Disease, the second Symptom."""
    rng = random.Random(seed)
    half = len(subjects) // 2
    filler = ["患者", "今日", "出现", "伴有", "明显", "入院", "无", "，", "3天", "于"]
    rows = []
    for _ in range(n):
        chars, tags = [], []
        for _ in range(rng.randint(3, 7)):
            if rng.random() < 0.4:
                j = rng.randrange(len(subjects))
                typ = "Disease" if j < half else "Symptom"
                w = subjects[j]
                chars += list(w)
                tags += ["B-" + typ] + ["I-" + typ] * (len(w) - 1)
            else:
                w = rng.choice(filler)
                chars += list(w)
                tags += ["O"] * len(w)
        rows.append((chars, tags))
    return rows


def train_and_predict(k, data, d):
    kg_path = os.path.join(data, "Medical.spo")
    subjects = medical_subjects(kg_path, 16, 5)
    write_bio(f"{d}/train.tsv", toy_rows(subjects, 300, 1))
    write_bio(f"{d}/dev.tsv", toy_rows(subjects, 80, 2))
    with open(f"{d}/config.json", "w") as f:
        json.dump({"emb_size": 32, "feedforward_size": 64, "hidden_size": 32, "heads_num": 4, "layers_num": 2, "dropout": 0.1}, f)
    r = run([k, "train", "--task", "ner", "--train", f"{d}/train.tsv", "--dev", f"{d}/dev.tsv", "--test", f"{d}/dev.tsv",
             "--config", f"{d}/config.json", "--vocab", os.path.join(data, "google_vocab.txt"), "--kg", kg_path,
             "--out", f"{d}/ner", "--epochs", "8", "--batch-size", "16", "--learning-rate", "3e-3", "--max-length", "96",
             "--seed", "3", "--threads", "2", "--quiet"])
    res = json.loads(r.stdout.decode().strip().split("\n")[-1])
    check(res["final_loss"] < res["first_loss"] / 5, f"loss falls: {res['first_loss']:.3f} -> {res['final_loss']:.4f}")
    check(res["dev"]["f1"] >= 0.9, f"dev entity F1 {res['dev']['f1']:.3f} on a lexicon task")
    check({t["type"] for t in res["dev"]["types"]} == {"Disease", "Symptom"}, "per-type scores")
    spec = json.load(open(f"{d}/ner/kbert.json"))
    check(spec["head"] == "tagger" and spec["labels"][-1] == "[ENT]" and spec["labels"][0] == "O",
          f"the saved tagger's labels: {spec['labels']}")
    check(spec["tree"]["predicate"] is False, "NER trees leave the predicate out (K-BERT's NER)")

    # kbert eval scores the saved model as training did.
    r = run([k, "eval", "--model", f"{d}/ner", "--data", f"{d}/dev.tsv", "--out", f"{d}/metrics.json"])
    m = json.load(open(f"{d}/metrics.json"))
    check(abs(m["f1"] - res["test"]["f1"]) < 1e-12 and m["correct_entities"] == res["test"]["correct_entities"],
          f"eval F1 {m['f1']} equals the training run's test F1 {res['test']['f1']}")
    check(b"all (micro)" in r.stdout and b"Disease" in r.stdout, "eval prints the per-type table")

    # predict: entities with code-point offsets; spaces and Latin letters are skipped / tagged.
    texts = ["患者" + subjects[0] + "，伴有" + subjects[-1] + "。", "CT 检查 " + subjects[1] + " ok", ""]
    got = jsonl(run([k, "predict", "--model", f"{d}/ner", "--json"], "\n".join(texts) + "\n").stdout)
    check(len(got) == 3, "one line a text, the empty one included")
    for text, g in zip(texts, got):
        check(len(g["tokens"]) == len(g["tags"]) == len(g["starts"]), "a tag and a start per token")
        check(all(text[s] == t for s, t in zip(g["starts"], g["tokens"])), f"starts point at the tokens in {text!r}")
        check(all(text[e["start"]:e["end"]] == e["text"] for e in g["entities"]), f"offsets slice {text!r}")
        check(all(0 < e["score"] <= 1 for e in g["entities"]), "scores are probabilities")
    found = {(e["type"], e["text"]) for e in got[0]["entities"]}
    check(("Disease", subjects[0]) in found and ("Symptom", subjects[-1]) in found,
          f"the lexicon entities are found in a new sentence: {found}")
    check(" " not in got[1]["tokens"] and got[1]["tokens"][:2] == ["C", "T"], f"char mode skips spaces: {got[1]['tokens']}")
    check(got[2]["entities"] == [] and got[2]["tokens"] == [], "an empty text has no entities")
    r = run([k, "predict", "--model", f"{d}/ner"], texts[0] + "\n")
    check(subjects[0].encode() in r.stdout and b"Disease" in r.stdout, "the text output lists type and entity")
    return f"{d}/ner"


def conll_wordpiece(k, d):
    words = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "the", "pump", "valve", "failed", "at", "station", "north",
             "south", "leak", "near", "main", "trans", "##former", "tripped", ",", ".", "-", "2", "gas", "a"]
    with open(f"{d}/vocab.txt", "w") as f:
        f.write("\n".join(words) + "\n")
    rng = random.Random(4)
    with open(f"{d}/train.conll", "w") as f:
        f.write("-DOCSTART- O\n\n")
        for _ in range(60):
            eq = rng.choice(["pump", "valve", "transformer"])
            st = rng.choice(["north", "south"])
            sent = [("the", "O"), (eq, "B-EQ"), ("failed", "O"), ("at", "O"), (st, "B-LOC"), ("station", "I-LOC"), (".", "O")]
            f.write("\n".join(f"{w} X {t}" for w, t in sent) + "\n\n")
    with open(f"{d}/hf_config.json", "w") as f:
        json.dump({"vocab_size": len(words), "hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 4,
                   "intermediate_size": 64, "hidden_act": "gelu", "max_position_embeddings": 64,
                   "type_vocab_size": 2, "layer_norm_eps": 1e-12}, f)
    r = run([k, "train", "--task", "ner", "--train", f"{d}/train.conll", "--dev", f"{d}/train.conll",
             "--config", f"{d}/hf_config.json", "--vocab", f"{d}/vocab.txt", "--tokenizer", "wordpiece", "--kg", "none",
             "--out", f"{d}/wp", "--max-length", "64", "--epochs", "6", "--batch-size", "8", "--learning-rate", "5e-3", "--seed", "2",
             "--threads", "2", "--quiet"])
    res = json.loads(r.stdout.decode().strip().split("\n")[-1])
    check(res["dev"]["f1"] >= 0.9, f"CoNLL + WordPiece dev F1 {res['dev']['f1']:.3f}")
    text = "The transformer tripped near north station, valve-2 failed."
    g = jsonl(run([k, "predict", "--model", f"{d}/wp", "--json"], text + "\n").stdout)[0]
    want = ["The", "transformer", "tripped", "near", "north", "station", ",", "valve", "-", "2", "failed", "."]
    check(g["tokens"] == want, f"words and punctuation are the tagged units: {g['tokens']}")
    check(all(text[s:s + len(t)] == t for s, t in zip(g["starts"], g["tokens"])), "word starts are code-point offsets")
    check(all(text[e["start"]:e["end"]] == e["text"] for e in g["entities"]), "word entity offsets slice the text")
    check(("EQ", "transformer") in {(e["type"], e["text"]) for e in g["entities"]},
          f"a word of two pieces is one entity: {g['entities']}")


def bad_input(k, data, d, model):
    with open(f"{d}/bad.tsv", "w") as f:
        f.write("text_a\tlabel\n头 痛\tB-Symptom I-Symptom\n发 热 了\tB-Symptom I-Symptom\n")
    base = [k, "train", "--task", "ner", "--config", f"{d}/config.json", "--vocab", os.path.join(data, "google_vocab.txt"),
            "--out", f"{d}/never", "--quiet"]
    r = run(base + ["--train", f"{d}/bad.tsv"], ok=False)
    check(r.returncode == 1 and f"{d}/bad.tsv:3".encode() in r.stderr, f"token/tag count mismatch names file:line: {r.stderr.decode()}")
    with open(f"{d}/bad2.tsv", "w") as f:
        f.write("text_a\tlabel\n头 痛\tB-Symptom X-Symptom\n")
    r = run(base + ["--train", f"{d}/bad2.tsv"], ok=False)
    check(r.returncode == 1 and f"{d}/bad2.tsv:2".encode() in r.stderr and b"X-Symptom" in r.stderr,
          f"a bad tag is named with file:line: {r.stderr.decode()}")
    for extra, what in ((["--head", "hf"], "--head"), (["--class-weights", "balanced"], "--class-weights"),
                        (["--format", "xml"], "xml")):
        r = run(base + ["--train", f"{d}/train.tsv"] + extra, ok=False)
        check(r.returncode in (1, 2) and what.encode() in r.stderr, f"{extra} refused: {r.stderr.decode()[-200:]}")
    r = run(base[:2] + ["--task", "pos"] + base[4:] + ["--train", f"{d}/train.tsv"], ok=False)
    check(r.returncode == 2 and b"--task" in r.stderr, "an unknown task is a usage error")
    check(not os.path.exists(f"{d}/never"), "nothing written by a refused run")
    # Without --metric, the library's default for a tagger is entity F1 (it was token accuracy).
    run(base[:base.index("--out")] + ["--out", f"{d}/metric", "--train", f"{d}/train.tsv", "--dev", f"{d}/train.tsv",
                                      "--stop-after-steps", "1", "--max-length", "16"])
    state = json.load(open(f"{d}/metric.checkpoint/state.json"))
    check(state["fingerprint"]["metric"] == "f1", f"a tagger's default dev metric: {state['fingerprint']['metric']}")
    # The tagger's eval on classification data: the file and line are named.
    with open(f"{d}/cls.tsv", "w") as f:
        f.write("label\ttext_a\n1\t很好\n")
    r = run([k, "eval", "--model", model, "--data", f"{d}/cls.tsv", "--out", f"{d}/m.json"], ok=False)
    check(r.returncode == 1 and f"{d}/cls.tsv".encode() in r.stderr, f"eval of a tagger on other data: {r.stderr.decode()}")
    check(not os.path.exists(f"{d}/m.json"), "no metrics file from a failed eval")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--kbert", required=True)
    ap.add_argument("--data", required=True)
    a = ap.parse_args()
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as d:
        uer_tagger_parity(a.kbert, a.data, d)
        hf_tagger_parity(a.kbert, d)
        model = train_and_predict(a.kbert, a.data, d)
        conll_wordpiece(a.kbert, d)
        bad_input(a.kbert, a.data, d, model)
    if FAILED:
        print(f"{len(FAILED)} check(s) failed")
        sys.exit(1)
    print("ok: NER")


if __name__ == "__main__":
    main()
