#!/usr/bin/python3
"""Encoder parity and robustness, against the plain PyTorch references in
tests/reference/torch_models.py, through the `kbert` tool:

- K-BERT / UER classifiers saved with torch.save(state_dict) (an OrderedDict), imported
  with `kbert import-uer`: logits of `kbert predict` vs the reference run the original's
  way (trees of the Python K-BERT reference, padded to max_length), every pooling,
  single texts and pairs;
- Hugging Face BERT directories (safetensors F32/F16/BF16 and pytorch_model.bin with
  bert. prefixes and old gamma/beta names), imported with `kbert import-hf`: hidden
  states of `kbert embed --pooling tokens`, and classifier logits;
- a token's output does not change when a token it cannot see changes (1 layer);
- padding a batch changes nothing;
- bad checkpoints fail with messages naming the file and the tensor.

    check_model.py --kbert build/apps/kbert --data data/kbert
"""
import argparse
import collections
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "reference"))
import kbert_reference as kref  # noqa: E402
import torch_models as tm  # noqa: E402

FAILED = []
WORST = collections.defaultdict(float)


def check(cond, what):
    if not cond:
        FAILED.append(what)
        print("FAIL:", what)


def run(cmd, stdin=None, ok=True):
    r = subprocess.run(cmd, input=stdin.encode() if stdin is not None else None, capture_output=True, timeout=600)
    if ok and r.returncode != 0:
        raise SystemExit(f"command failed ({r.returncode}): {' '.join(cmd)}\n{r.stderr.decode()}")
    return r


def jsonl(out):
    return [json.loads(x) for x in out.decode().split("\n") if x]


def close(name, got, want, tol):
    diff = float(np.max(np.abs(np.asarray(got, dtype=np.float64) - np.asarray(want, dtype=np.float64))))
    WORST[name] = max(WORST[name], diff)
    check(diff <= tol, f"{name}: max |diff| {diff:.2e} > {tol:.0e}")


def uer_vocab(path):
    """UER's reading: first field of each line."""
    v = {}
    with open(path, encoding="utf-8") as f:
        for i, line in enumerate(f):
            parts = line.strip().split()
            v[parts[0] if parts else f"???{i}"] = i
    return v


def uer_parity(k, data, d, reviews):
    vocab_path = os.path.join(data, "google_vocab.txt")
    kg_path = os.path.join(data, "HowNet.spo")
    vocab = uer_vocab(vocab_path)
    table = kref.SpoTable([kg_path], predicate=True)
    L = 64
    cfg = os.path.join(d, "uer_config.json")
    with open(cfg, "w") as f:
        json.dump({"emb_size": 32, "feedforward_size": 64, "hidden_size": 32, "heads_num": 4, "layers_num": 2, "dropout": 0.1}, f)
    pairs = [(reviews[i], reviews[i + 1]) for i in range(0, 8, 2)]
    for pooling in ("first", "mean", "max", "last"):
        torch.manual_seed(1)
        clf = tm.KbertClassifier(tm.Bert(len(vocab), 32, 2, 4, 64, "uer"), 3, pooling).eval()
        ckpt = os.path.join(d, f"uer_{pooling}.bin")
        torch.save(clf.state(), ckpt)
        out = os.path.join(d, f"m_uer_{pooling}")
        run([k, "import-uer", "--checkpoint", ckpt, "--config", cfg, "--vocab", vocab_path, "--tokenizer", "char",
             "--pooling", pooling, "--predicate", "--max-length", str(L), "--kg", kg_path, "--out", out])
        for texts, is_pair in ((reviews, False), (pairs, True)):
            lines = ["\t".join(t) for t in texts] if is_pair else texts
            got = jsonl(run([k, "predict", "--model", out, "--json", "--batch-size", "5"] + (["--pairs"] if is_pair else []),
                            "\n".join(lines) + "\n").stdout)
            rows = []
            for t in texts:
                s = "[CLS]" + t[0] + "[SEP]" + t[1] + "[SEP]" if is_pair else "[CLS]" + t
                toks, pos, vm, _ = kref.tree(table, s, 2, L)
                rows.append({"tokens": toks, "ids": [vocab.get(x, vocab["[UNK]"]) for x in toks], "positions": pos,
                             "segments": [0] * L, "visible": [list(np.nonzero(r)[0]) for r in vm]})
            ids, pos, seg, vis = tm.tree_tensors(rows, L, uer_segments=True, pairs=is_pair)
            # K-BERT's segment tags: [PAD] -> 0 (tree_tensors reads the padded token list).
            with torch.no_grad():
                want = clf(ids, pos, seg, vis).numpy()
            close(f"uer logits ({pooling}, {'pairs' if is_pair else 'single'})", [g["logits"] for g in got], want, 1e-4)
            check(all(len(g["probs"]) == 3 and abs(sum(g["probs"]) - 1) < 1e-5 for g in got), "probs sum to 1")
    return os.path.join(d, "m_uer_first")


def english_vocab():
    words = ["the", "power", "transform", "##er", "##s", "tripped", "after", "a", "gas", "leak", "near", "main", "valve",
             "pump", "seal", "motor", "stopped", "breaker", "failed", "circuit", "and", "was", "replaced", ",", ".", "!"]
    letters = list("abcdefghijklmnopqrstuvwxyz0123456789")
    return ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + words + letters + ["##" + c for c in letters]


def write_hf_dir(path, bert, vocab, fmt, prefix="", classifier=None, old_names=False):
    os.makedirs(path, exist_ok=True)
    h = bert.word.weight.shape[1]
    cfg = {"vocab_size": bert.word.weight.shape[0], "hidden_size": h, "num_hidden_layers": bert.nl,
           "num_attention_heads": bert.heads, "intermediate_size": bert.f1[0].weight.shape[0],
           "max_position_embeddings": bert.pos.weight.shape[0], "type_vocab_size": 2, "hidden_act": "gelu",
           "layer_norm_eps": 1e-12, "model_type": "bert"}
    with open(os.path.join(path, "config.json"), "w") as f:
        json.dump(cfg, f)
    with open(os.path.join(path, "vocab.txt"), "w") as f:
        f.write("\n".join(vocab) + "\n")
    state = bert.state(prefix)
    state[prefix + "embeddings.position_ids"] = torch.arange(bert.pos.weight.shape[0]).unsqueeze(0)
    if classifier is not None:
        pooler, cls = classifier
        state[prefix + "pooler.dense.weight"], state[prefix + "pooler.dense.bias"] = pooler.weight.detach(), pooler.bias.detach()
        state["classifier.weight"], state["classifier.bias"] = cls.weight.detach(), cls.bias.detach()
    if old_names:
        state = collections.OrderedDict((n.replace("LayerNorm.weight", "LayerNorm.gamma").replace("LayerNorm.bias", "LayerNorm.beta"), t)
                                        for n, t in state.items())
    if fmt == "bin":
        torch.save(state, os.path.join(path, "pytorch_model.bin"))
    else:
        floats = collections.OrderedDict((n, t) for n, t in state.items() if t.is_floating_point())
        tm.save_safetensors(os.path.join(path, "model.safetensors"), floats, fmt)
    return path


def hf_parity(k, d):
    vocab = english_vocab()
    texts = ["The power transformer tripped after a gas leak.", "pump seal leaked, motor stopped",
             "circuit breaker failed and was replaced", "a", "valve"]
    vpath = os.path.join(d, "en_vocab.txt")
    with open(vpath, "w") as f:
        f.write("\n".join(vocab) + "\n")
    trees = jsonl(run([k, "tree", "--tokenizer", "wordpiece", "--vocab", vpath, "--add-special"], "\n".join(texts) + "\n").stdout)
    for fmt, prefix, old in (("F32", "", False), ("bin", "bert.", True), ("F16", "bert.", False), ("BF16", "", False)):
        torch.manual_seed(2)
        bert = tm.Bert(len(vocab), 32, 2, 4, 64, "hf", positions=40).eval()
        if fmt in ("F16", "BF16"):
            tm.rounded(bert, fmt)
        src = write_hf_dir(os.path.join(d, f"hf_{fmt}"), bert, vocab, fmt, prefix, old_names=old)
        out = os.path.join(d, f"m_hf_{fmt}")
        run([k, "import-hf", "--from", src, "--out", out])
        got = jsonl(run([k, "embed", "--model", out, "--pooling", "tokens"], "\n".join(texts) + "\n").stdout)
        for t, g in zip(trees, got):
            ids, pos, seg, vis = tm.tree_tensors([t])
            with torch.no_grad():
                want = bert(ids, pos, seg, vis)[0].numpy()
            close(f"hf hidden states ({fmt})", g["tokens"], want, 1e-5)
    # A HF classifier (pooler + classifier), from pytorch_model.bin.
    torch.manual_seed(3)
    bert = tm.Bert(len(vocab), 32, 2, 4, 64, "hf", positions=40).eval()
    pooler, cls = torch.nn.Linear(32, 32), torch.nn.Linear(32, 4)
    src = write_hf_dir(os.path.join(d, "hf_cls"), bert, vocab, "bin", "bert.", classifier=(pooler, cls))
    out = os.path.join(d, "m_hf_cls")
    labels = os.path.join(d, "labels.txt")
    with open(labels, "w") as f:
        f.write("corrosion\nexcavation\nequipment\nother\n")
    run([k, "import-hf", "--from", src, "--labels-file", labels, "--out", out])
    got = jsonl(run([k, "predict", "--model", out, "--json"], "\n".join(texts) + "\n").stdout)
    for t, g in zip(trees, got):
        ids, pos, seg, vis = tm.tree_tensors([t])
        with torch.no_grad():
            h = bert(ids, pos, seg, vis)
            want = cls(torch.tanh(pooler(h[:, 0])))[0].numpy()
        close("hf classifier logits", g["logits"], want, 1e-5)
        check(g["label"] in ("corrosion", "excavation", "equipment", "other"), "label names from --labels-file")
    return src


def visibility_and_padding(k, data, d):
    vocab_path = os.path.join(data, "google_vocab.txt")
    cfg = os.path.join(d, "uer1.json")
    with open(cfg, "w") as f:
        json.dump({"emb_size": 32, "feedforward_size": 64, "hidden_size": 32, "heads_num": 4, "layers_num": 1, "dropout": 0.1}, f)
    kg1, kg2 = os.path.join(d, "kg1.spo"), os.path.join(d, "kg2.spo")
    with open(kg1, "w") as f:
        f.write("苹果\t是\t水果\n北京\t首都\t中国\n")
    with open(kg2, "w") as f:
        f.write("苹果\t是\t水果\n北京\t首都\t天津\n")
    torch.manual_seed(4)
    clf = tm.KbertClassifier(tm.Bert(21128, 32, 1, 4, 64, "uer"), 2, "first")
    ckpt = os.path.join(d, "uer1.bin")
    torch.save(clf.state(), ckpt)
    out = os.path.join(d, "m_uer1")
    run([k, "import-uer", "--checkpoint", ckpt, "--config", cfg, "--vocab", vocab_path, "--tokenizer", "char",
         "--pooling", "first", "--predicate", "--kg", kg1, "--out", out])
    text = "我吃苹果北京\n"
    a = jsonl(run([k, "embed", "--model", out, "--pooling", "tokens", "--kg", kg1], text).stdout)[0]["tokens"]
    b = jsonl(run([k, "embed", "--model", out, "--pooling", "tokens", "--kg", kg2], text).stdout)[0]["tokens"]
    # [CLS] 我 吃 苹 果 是 水 果 北 京 首 都 中 国: branch 首都中国 -> 首都天津 changes tokens 12, 13 only.
    check(len(a) == 14 and len(b) == 14, "tree sizes")
    for i in range(8):  # trunk and the other entity's branch cannot see the changed tokens
        close("invisible change", a[i], b[i], 0.0)
    check(np.max(np.abs(np.array(a[8]) - np.array(b[8]))) > 1e-4, "the entity itself sees its branch (sanity)")
    # Padding: a short text alone, and batched with a long one.
    short, long_ = "我吃苹果", "这家酒店服务很好，房间干净，早餐丰富，交通也方便，下次还会再来住"
    one = jsonl(run([k, "predict", "--model", out, "--json", "--batch-size", "1"], short + "\n").stdout)[0]
    two = jsonl(run([k, "predict", "--model", out, "--json", "--batch-size", "2"], short + "\n" + long_ + "\n").stdout)[0]
    close("padding", one["logits"], two["logits"], 1e-6)
    check([x["object"] for x in one["injected"]] == ["水果"], "injected knowledge reported by predict")
    # Other output forms: the readable table, npy embeddings, L2-normalised sentence vectors.
    table = run([k, "predict", "--model", out], short + "\n" + long_ + "\n").stdout.decode().splitlines()
    check(len(table) == 3 and table[0].startswith("label") and short in table[1], "predict table")
    npy = os.path.join(d, "e.npy")
    run([k, "embed", "--model", out, "--pooling", "mean", "--normalize", "--format", "npy", "--out", npy], short + "\n" + long_ + "\n")
    e = np.load(npy)
    check(e.shape == (2, 32) and e.dtype == np.float32, f"npy embeddings shape {e.shape} {e.dtype}")
    check(np.allclose(np.linalg.norm(e, axis=1), 1.0, atol=1e-5), "normalised embeddings have unit norm")
    rows = jsonl(run([k, "embed", "--model", out, "--pooling", "cls"], short + "\n").stdout)
    check(len(rows) == 1 and len(rows[0]["embedding"]) == 32, "jsonl embeddings")
    toks = jsonl(run([k, "embed", "--model", out, "--pooling", "tokens"], short + "\n").stdout)[0]["tokens"]
    close("embed cls = token 0", rows[0]["embedding"], toks[0], 1e-6)
    r = run([k, "embed", "--model", out, "--format", "npy"], "x\n", ok=False)
    check(r.returncode == 2, "npy without --out is a usage error")
    # --shard I/N: three shards interleave back into the whole, rows I::N, each row naming its line.
    texts = "".join(f"{t}\n" for t in [short, long_, "我吃苹果北京", "", "北京", "房间干净", "苹果"])
    whole = jsonl(run([k, "predict", "--model", out, "--json"], texts).stdout)
    merged = [None] * len(whole)
    for i in range(3):
        part = jsonl(run([k, "predict", "--model", out, "--json", "--shard", f"{i}/3"], texts).stdout)
        check([p["line"] for p in part] == list(range(i + 1, len(whole) + 1, 3)), f"shard {i}/3 holds lines {i + 1}, {i + 4}, ...")
        merged[i::3] = part
    check([m["label"] for m in merged] == [w["label"] for w in whole], "shards merge to the labels of the whole")
    close("sharded logits", [m["logits"] for m in merged], [w["logits"] for w in whole], 1e-5)
    full = os.path.join(d, "all.npy")
    run([k, "embed", "--model", out, "--format", "npy", "--out", full], texts)
    parts = np.zeros_like(np.load(full))
    for i in range(2):
        shard_npy = os.path.join(d, f"shard{i}.npy")
        run([k, "embed", "--model", out, "--format", "npy", "--out", shard_npy, "--shard", f"{i}/2"], texts)
        parts[i::2] = np.load(shard_npy)
    close("sharded embeddings", parts, np.load(full), 1e-5)
    for bad in ["2/2", "1", "a/b", "0/0", "-1/2", "1/2/3"]:
        r = run([k, "predict", "--model", out, "--shard", bad], "x\n", ok=False)
        check(r.returncode == 2 and b"--shard" in r.stderr, f"--shard {bad} is a usage error")
    return out


def bad_checkpoints(k, d):
    def expect_fail(what, cmd, *needles):
        r = run(cmd, ok=False)
        err = r.stderr.decode()
        check(r.returncode == 1, f"{what}: exit status {r.returncode} (want 1)")
        for n in needles:
            check(n in err, f"{what}: message lacks {n!r}: {err.strip()[:300]}")

    def variant(name, mutate_header=None, cut=None, drop=None, reshape=None):
        path = os.path.join(d, name)
        shutil.copytree(src, path)
        st = os.path.join(path, "model.safetensors")
        if drop or reshape or mutate_header:
            with open(st, "rb") as f:
                raw = f.read()
            n = int.from_bytes(raw[:8], "little")
            header = json.loads(raw[8:8 + n])
            data = raw[8 + n:]
            if drop:
                del header[drop]
            if reshape:
                header[reshape]["shape"] = list(reversed(header[reshape]["shape"]))
            if mutate_header:
                mutate_header(header)
            h = json.dumps(header).encode()
            h += b" " * ((8 - (8 + len(h)) % 8) % 8)
            raw = len(h).to_bytes(8, "little") + h + data
            with open(st, "wb") as f:
                f.write(raw)
        if cut:
            with open(st, "rb") as f:
                raw = f.read()
            with open(st, "wb") as f:
                f.write(raw[:cut(len(raw))])
        return path, st

    torch.manual_seed(5)
    bert = tm.Bert(len(english_vocab()), 32, 2, 4, 64, "hf", positions=40)
    src = write_hf_dir(os.path.join(d, "hf_bad_src"), bert, english_vocab(), "F32")
    p, st = variant("bad_trunc", cut=lambda n: n - 100)
    expect_fail("truncated safetensors", [k, "import-hf", "--from", p, "--out", p + "_out"], st, "truncated")
    p, st = variant("bad_missing", drop="encoder.layer.1.output.dense.bias")
    expect_fail("missing tensor", [k, "import-hf", "--from", p, "--out", p + "_out"], st, "missing",
                "encoder.layer.1.output.dense.bias")
    p, st = variant("bad_shape", reshape="encoder.layer.0.intermediate.dense.weight")
    expect_fail("wrong shape", [k, "import-hf", "--from", p, "--out", p + "_out"], st, "encoder.layer.0.intermediate.dense.weight",
                "shape")
    p, st = variant("bad_dtype", mutate_header=lambda h: h["embeddings.LayerNorm.bias"].update(dtype="F8_E4M3"))
    expect_fail("unknown dtype", [k, "import-hf", "--from", p, "--out", p + "_out"], st, "embeddings.LayerNorm.bias", "F8_E4M3")
    p, st = variant("bad_extra", mutate_header=lambda h: h.update({"encoder.layer.9.output.dense.bias": h["embeddings.LayerNorm.bias"]}))
    # A second name over the same bytes: refused as overlapping data (before the name is even looked up).
    expect_fail("overlapping tensor", [k, "import-hf", "--from", p, "--out", p + "_out"], "overlap", "encoder.layer.9.output.dense.bias")
    p, st = variant("bad_vocab")
    with open(os.path.join(p, "vocab.txt"), "a") as f:
        f.write("extra1\nextra2\n")
    expect_fail("vocab size mismatch", [k, "import-hf", "--from", p, "--out", p + "_out"], "vocab.txt", "rows")
    # A truncated pytorch_model.bin.
    p = os.path.join(d, "bad_bin")
    os.makedirs(p)
    for f in ("config.json", "vocab.txt"):
        shutil.copy(os.path.join(src, f), p)
    torch.save(bert.state(), os.path.join(p, "pytorch_model.bin"))
    with open(os.path.join(p, "pytorch_model.bin"), "rb") as f:
        raw = f.read()
    with open(os.path.join(p, "pytorch_model.bin"), "wb") as f:
        f.write(raw[: len(raw) // 2])
    expect_fail("truncated bin", [k, "import-hf", "--from", p, "--out", p + "_out"], "pytorch_model.bin")
    check(not os.path.exists(p + "_out/model.safetensors"), "a failed import leaves no model behind")
    expect_fail("missing model dir", [k, "predict", "--model", os.path.join(d, "nope")], "kbert.json")


def retrieval(k, data, d, model):
    """kbert index / search: exact cosine top-k of the model's own normalised vectors (as
    `kbert embed --normalize` makes them), self-retrieval, the index fixing the KG, a
    different model refused, a damaged index file named."""
    texts = ["我吃苹果", "北京很大", "这家酒店服务很好", "房间干净", "苹果很甜", "北京首都", "早餐丰富", "交通也方便"]
    corpus = os.path.join(d, "corpus.tsv")
    with open(corpus, "w", encoding="utf-8") as f:
        f.write("id\tlabel\ttext\n")
        for i, t in enumerate(texts):
            f.write(f"r{i}\t{'fruit' if '苹果' in t else 'other'}\t{t}\n")
    ix = os.path.join(d, "c.kbix")
    run([k, "index", "--model", model, "--corpus", corpus, "--out", ix, "--pooling", "mean"])
    queries = ["苹果", "北京的酒店", "房间很干净"]
    vec = lambda xs, *o: np.array([r["embedding"] for r in jsonl(run(
        [k, "embed", "--model", model, "--pooling", "mean", "--normalize", *o], "".join(x + "\n" for x in xs)).stdout)])
    x, q = vec(texts), vec(queries)
    got = jsonl(run([k, "search", "--index", ix, "--model", model, "--k", "3"], "".join(t + "\n" for t in queries)).stdout)
    for i, row in enumerate(got):
        want = np.argsort(-(x @ q[i]), kind="stable")[:3]
        check([h["id"] for h in row["hits"]] == [f"r{j}" for j in want], f"search = numpy top-3 for {queries[i]}")
        close("search scores are cosines", [h["score"] for h in row["hits"]], (x @ q[i])[want], 1e-5)
        check(all(h["label"] == ("fruit" if "苹果" in h["text"] else "other") for h in row["hits"]), "hits carry label and text")
    alone = jsonl(run([k, "search", "--index", ix, "--model", model, "--k", "3"], queries[1] + "\n").stdout)[0]
    check([h["id"] for h in alone["hits"]] == [h["id"] for h in got[1]["hits"]], "a query's hits do not depend on the others")
    self_hit = jsonl(run([k, "search", "--index", ix, "--model", model, "--k", "1"], texts[5] + "\n").stdout)[0]["hits"][0]
    check(self_hit["id"] == "r5" and abs(self_hit["score"] - 1) < 1e-5, "an indexed text finds itself, score 1")
    # A .txt corpus (ids are line numbers) built without the KG: search embeds without it too.
    txt = os.path.join(d, "corpus.txt")
    with open(txt, "w", encoding="utf-8") as f:
        f.write("".join(t + "\n" for t in texts))
    ix2 = os.path.join(d, "nokg.kbix")
    run([k, "index", "--model", model, "--corpus", txt, "--out", ix2, "--kg", "none", "--pooling", "cls", "--no-texts"])
    hit = jsonl(run([k, "search", "--index", ix2, "--model", model, "--k", "8"], "北京首都\n").stdout)[0]["hits"]
    xc = np.array([r["embedding"] for r in jsonl(run([k, "embed", "--model", model, "--pooling", "cls", "--normalize",
                                                       "--kg", "none"], "".join(t + "\n" for t in texts)).stdout)])
    close("index --kg none: search embeds without the KG", [h["score"] for h in hit], np.sort(xc @ xc[5])[::-1], 1e-5)
    check(hit[0]["id"] == "6" and "text" not in hit[0] and "label" not in hit[0], "txt ids are line numbers; --no-texts")
    # Another model (same weights, other settings): refused, naming both.
    other = os.path.join(d, "m_other")
    shutil.copytree(model, other)
    spec = json.load(open(os.path.join(other, "kbert.json")))
    spec["pooling"] = "mean"
    json.dump(spec, open(os.path.join(other, "kbert.json"), "w"))
    r = run([k, "search", "--index", ix, "--model", other], "苹果\n", ok=False)
    check(r.returncode == 1 and b"fingerprint" in r.stderr and other.encode() in r.stderr, "another model is refused")
    r = run([k, "search", "--index", ix, "--model", model, "--kg", "none"], "苹果\n", ok=False)
    check(r.returncode == 1 and b"--kg" in r.stderr and ix.encode() in r.stderr,
          "search --kg other than the index's is refused, naming the index")
    r = run([k, "search", "--index", ix], "苹果\n", ok=False)
    check(r.returncode == 2 and b"--model" in r.stderr, "search needs --model: an index names no model to open")
    with open(ix, "rb") as f:
        blob = f.read()
    bad = os.path.join(d, "bad.kbix")
    with open(bad, "wb") as f:
        f.write(blob[:-3])
    r = run([k, "search", "--index", bad, "--model", model], "苹果\n", ok=False)
    check(r.returncode == 1 and bad.encode() in r.stderr and b"truncated" in r.stderr, "a damaged index names the file")
    r = run([k, "index", "--model", model, "--corpus", os.path.join(d, "nope.tsv"), "--out", bad], ok=False)
    check(r.returncode == 1 and b"nope.tsv" in r.stderr and os.path.getsize(bad) == len(blob) - 3,
          "a missing corpus is named; the output is untouched")


def attribution(k, data, d):
    """kbert explain: each fact's reported probability without it equals predicting again with
    that fact removed from the KG by hand (1e-5), and does not depend on the other texts."""
    # Two layers: with one, [CLS] only sees the trunk's inputs, and a branch cannot reach it.
    cfg = os.path.join(d, "uer2.json")
    with open(cfg, "w") as f:
        json.dump({"emb_size": 32, "feedforward_size": 64, "hidden_size": 32, "heads_num": 4, "layers_num": 2, "dropout": 0.1}, f)
    torch.manual_seed(5)
    ckpt = os.path.join(d, "uer2.bin")
    torch.save(tm.KbertClassifier(tm.Bert(21128, 32, 2, 4, 64, "uer"), 3, "first").state(), ckpt)
    model = os.path.join(d, "m_uer2")
    run([k, "import-uer", "--checkpoint", ckpt, "--config", cfg, "--vocab", os.path.join(data, "google_vocab.txt"),
         "--tokenizer", "char", "--pooling", "first", "--predicate", "--out", model])
    kg_all, kg_cut = os.path.join(d, "attr_all.spo"), os.path.join(d, "attr_cut.spo")
    facts = ["苹果\t是\t水果", "北京\t首都\t中国", "酒店\t是\t建筑"]
    with open(kg_all, "w") as f:
        f.write("".join(x + "\n" for x in facts))
    texts = ["我吃苹果北京", "这家酒店在北京", "房间干净"]
    ex = jsonl(run([k, "explain", "--model", model, "--kg", kg_all, "--json"], "".join(t + "\n" for t in texts)).stdout)
    check([len(e["facts"]) for e in ex] == [2, 2, 0], f"explain lists every injected fact ({[len(e['facts']) for e in ex]})")
    pred = jsonl(run([k, "predict", "--model", model, "--kg", kg_all, "--json"], "".join(t + "\n" for t in texts)).stdout)
    close("explain's prediction = predict's", [e["probs"] for e in ex], [p["probs"] for p in pred], 1e-6)
    for i, e in enumerate(ex):
        label = next(j for j, p in enumerate(e["probs"]) if abs(p - e["prob"]) == 0)
        for fact in e["facts"]:
            line = f"{fact['entity']}\t{fact['relation']}\t{fact['object']}"
            with open(kg_cut, "w") as f:
                f.write("".join(x + "\n" for x in facts if x != line))
            by_hand = jsonl(run([k, "predict", "--model", model, "--kg", kg_cut, "--json"], texts[i] + "\n").stdout)[0]
            close("attribution = prediction with the fact removed by hand", fact["prob_without"], by_hand["probs"][label], 1e-5)
            close("change = without - with", fact["change"], fact["prob_without"] - e["prob"], 1e-6)
    check(min(abs(f["change"]) for e in ex for f in e["facts"]) > 1e-5, "every fact moves the prediction (2 layers)")
    alone = jsonl(run([k, "explain", "--model", model, "--kg", kg_all, "--json", "--batch-size", "1"], texts[1] + "\n").stdout)[0]
    close("explain alone = explain among others", [f["prob_without"] for f in alone["facts"]],
          [f["prob_without"] for f in ex[1]["facts"]], 1e-6)
    table = run([k, "explain", "--model", model, "--kg", kg_all, "--top", "1"], texts[0] + "\n").stdout.decode()
    check(table.startswith("text 1: ") and len(table.strip().splitlines()) == 2 and " -> " in table, f"explain table: {table!r}")
    r = subprocess.run([k, "explain", "--model", model], input=b"\xff\n", capture_output=True, timeout=600)
    check(r.returncode == 1 and b"text 1" in r.stderr, "explain names a bad text")

    # Two hops: removing a hop-1 fact takes its sub-branch with it, as removing it from the KG
    # by hand does (its object then has no parent to hang from); a hop-2 fact goes alone.
    model2 = os.path.join(d, "m_uer2_hops2")
    shutil.copytree(model, model2)
    with open(os.path.join(model2, "kbert.json"), encoding="utf-8") as f:
        spec = json.load(f)
    spec["tree"]["hops"] = 2
    with open(os.path.join(model2, "kbert.json"), "w", encoding="utf-8") as f:
        json.dump(spec, f)
    facts2 = ["苹果\t是\t水果", "水果\t是\t食物", "北京\t首都\t中国", "中国\t位于\t亚洲"]
    with open(kg_all, "w") as f:
        f.write("".join(x + "\n" for x in facts2))
    text = "我吃苹果北京"
    e = jsonl(run([k, "explain", "--model", model2, "--kg", kg_all, "--json"], text + "\n").stdout)[0]
    check([(f["object"], f["hop"], f["parent"]) for f in e["facts"]] == [("水果", 1, -1), ("食物", 2, 0), ("中国", 1, -1),
                                                                         ("亚洲", 2, 2)], f"hops 2 facts: {e['facts']}")
    label = next(j for j, p in enumerate(e["probs"]) if abs(p - e["prob"]) == 0)
    for fact in e["facts"]:
        line = f"{fact['entity']}\t{fact['relation']}\t{fact['object']}"
        with open(kg_cut, "w") as f:
            f.write("".join(x + "\n" for x in facts2 if x != line))
        by_hand = jsonl(run([k, "predict", "--model", model2, "--kg", kg_cut, "--json"], text + "\n").stdout)[0]
        close("hops 2: attribution = prediction with the fact (and its sub-branch) removed by hand",
              fact["prob_without"], by_hand["probs"][label], 1e-5)


def progress(k, d, model, reviews):
    """predict on a terminal draws a progress line of the texts done (on stderr; stdout keeps
    only the predictions); with --quiet it does not."""
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "cli"))
    from check_cli import on_terminal
    stdin = "".join(t + "\n" for t in reviews).encode()
    rc, shown = on_terminal([k, "predict", "--model", model, "--batch-size", "4"], stdin)
    check(rc == 0 and f"kbert predict: {len(reviews)}/{len(reviews)} texts" in shown, f"predict's progress line: {shown[-200:]!r}")
    rc, shown = on_terminal([k, "predict", "--model", model, "--quiet"], stdin)
    check(rc == 0 and "texts" not in shown, "predict --quiet: no progress line")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--kbert", required=True)
    ap.add_argument("--data", required=True)
    a = ap.parse_args()
    torch.set_num_threads(1)
    with open(os.path.join(a.data, "chnsenticorp_test.tsv"), encoding="utf-8") as f:
        next(f)
        reviews = [line.rstrip("\n").split("\t")[1] for line in f][:40]
    random.Random(3).shuffle(reviews)
    reviews = reviews[:12]
    with tempfile.TemporaryDirectory() as d:
        uer_parity(a.kbert, a.data, d, reviews)
        hf_parity(a.kbert, d)
        model = visibility_and_padding(a.kbert, a.data, d)
        retrieval(a.kbert, a.data, d, model)
        attribution(a.kbert, a.data, d)
        progress(a.kbert, d, model, reviews)
        bad_checkpoints(a.kbert, d)
    for name, v in sorted(WORST.items()):
        print(f"  {name}: max |diff| {v:.2e}")
    if FAILED:
        raise SystemExit(f"{len(FAILED)} model check(s) failed")
    print("model: all checks passed")


if __name__ == "__main__":
    main()
