"""The Python module against the C++ tool: same trees, same predictions; dtypes and
shapes; errors as Python exceptions; predict from several threads at once.
Run by CTest with PYTHONPATH=<build>/python, KBERT_CLI=<build>/apps/kbert, KBERT_DATA=data/kbert."""
import json
import math
import os
import shutil
import subprocess
import sys
import threading

import numpy as np
import pytest

import kbert

CLI = os.environ["KBERT_CLI"]
DATA = os.environ["KBERT_DATA"]
HOWNET = os.path.join(DATA, "HowNet.spo")
TEXTS = ["我不高兴", "这家酒店服务很好，我不高兴的是房间太小", "", "房间干净，价格不贵"]


@pytest.fixture(scope="module")
def kg():
    g = kbert.KnowledgeGraph()
    g.load(HOWNET)
    return g


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    torch = pytest.importorskip("torch")
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(__file__)), "reference"))
    import torch_models as tm
    d = tmp_path_factory.mktemp("model")
    torch.manual_seed(0)
    clf = tm.KbertClassifier(tm.Bert(21128, 32, 1, 4, 64, "uer"), 3, "first")
    torch.save(clf.state(), d / "c.bin")
    (d / "c.json").write_text(json.dumps({"emb_size": 32, "feedforward_size": 64, "hidden_size": 32, "heads_num": 4,
                                          "layers_num": 1, "dropout": 0.1}))
    subprocess.run([CLI, "import-uer", "--checkpoint", str(d / "c.bin"), "--config", str(d / "c.json"), "--vocab",
                    os.path.join(DATA, "google_vocab.txt"), "--tokenizer", "char", "--pooling", "first", "--predicate",
                    "--max-length", "64", "--kg", HOWNET, "--out", str(d / "m")], check=True, capture_output=True)
    return str(d / "m")


def test_trees_equal_the_cli(kg):
    b = kbert.SentenceTreeBuilder(kg, options=kbert.TreeOptions(predicate=True, max_length=32, add_special=True))
    out = subprocess.run([CLI, "tree", "--kg", HOWNET, "--predicate", "--max-length", "32", "--add-special"],
                         input="\n".join(TEXTS) + "\n", capture_output=True, text=True, check=True).stdout
    for text, line in zip(TEXTS, out.split("\n")):
        want = json.loads(line)
        t = b.build(text)
        assert t.tokens == want["tokens"]
        assert t.positions.tolist() == want["positions"]
        assert t.segments.tolist() == want["segments"]
        assert [list(np.nonzero(r)[0]) for r in t.visible] == want["visible"]
        assert [(x.entity, x.relation, x.object, [x.start, x.end]) for x in t.injected] == \
               [(x["entity"], x["relation"], x["object"], x["span"]) for x in want["injected"]]
    batch = b.build_batch(TEXTS * 10, threads=2)
    assert [t.tokens for t in batch] == [b.build(x).tokens for x in TEXTS * 10]


def test_compiled_kg_equals_the_text_kg(kg, tmp_path):
    # The CLI's `kg compile` and the binding's save_compiled give one file; mapped, it answers as the text KG
    # and builds the same trees, in Python and in `kbert tree --kg FILE.kbkg`.
    by_cli = tmp_path / "hownet_cli.kbkg"
    info = json.loads(subprocess.run([CLI, "kg", "compile", "--kg", HOWNET, "--out", str(by_cli)],
                                     capture_output=True, text=True, check=True).stdout)
    assert info["triples"] == len(kg) == 52576
    kg.save_compiled(str(tmp_path / "hownet.kbkg"))
    assert (tmp_path / "hownet.kbkg").read_bytes() == by_cli.read_bytes()
    fast = kbert.KnowledgeGraph()
    fast.load(str(by_cli))
    assert fast.is_compiled and not kg.is_compiled
    assert fast.triples() == kg.triples()
    assert fast.lookup("不高兴") == kg.lookup("不高兴") == [("义原", "喜悦")]
    with pytest.raises(ValueError, match="read-only"):
        fast.add("a", "b", "c")
    options = kbert.TreeOptions(predicate=True, max_length=64)
    want = [kbert.SentenceTreeBuilder(kg, options=options).build(t) for t in TEXTS]
    got = [kbert.SentenceTreeBuilder(fast, options=options).build(t) for t in TEXTS]
    assert [(t.tokens, t.positions.tolist(), t.visible.tolist()) for t in got] == \
           [(t.tokens, t.positions.tolist(), t.visible.tolist()) for t in want]
    text = subprocess.run([CLI, "tree", "--kg", HOWNET, "--predicate"], input="\n".join(TEXTS) + "\n",
                          capture_output=True, text=True, check=True).stdout
    compiled = subprocess.run([CLI, "tree", "--kg", str(by_cli), "--predicate"], input="\n".join(TEXTS) + "\n",
                              capture_output=True, text=True, check=True).stdout
    assert compiled == text
    broken = tmp_path / "broken.kbkg"
    broken.write_bytes(by_cli.read_bytes()[:1000])
    with pytest.raises(ValueError, match="not a valid compiled KG"):
        kbert.KnowledgeGraph().load(str(broken))


def test_nul_in_a_path_is_refused_whole(tmp_path):
    # C's file functions would open the prefix before the NUL; the message shows the whole name.
    (tmp_path / "kg.spo").write_text("a\tb\tc\n", encoding="utf-8")
    for load in (lambda p: kbert.KnowledgeGraph().load(p), lambda p: kbert.Model.load(p)):
        with pytest.raises((ValueError, OSError)) as e:
            load(str(tmp_path / "kg.spo") + "\0.evil")
        assert "NUL" in str(e.value) and "kg.spo\\0.evil" in str(e.value)


def test_dtypes_and_shapes(kg):
    t = kbert.SentenceTreeBuilder(kg, options=kbert.TreeOptions(predicate=True)).build("我不高兴")
    n = len(t.tokens)
    assert t.visible.dtype == np.uint8 and t.visible.shape == (n, n)
    for a in (t.positions, t.uer_segments, t.hf_segments, t.hard_index):
        assert a.dtype == np.int32 and a.shape == (n,)
    assert t.segments.dtype == np.uint8
    assert kg.lookup("不高兴") == [("义原", "喜悦")]
    assert len(kg) == 52576


def test_errors_arrive_as_python_exceptions(kg, tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.spo"):
        kbert.KnowledgeGraph().load(str(tmp_path / "nope.spo"))
    bad = tmp_path / "bad.spo"
    bad.write_text("a\tb\tc\nbroken\n")
    with pytest.raises(ValueError, match="bad.spo:2"):
        kbert.KnowledgeGraph().load(str(bad))
    assert kbert.KnowledgeGraph().load(str(bad), strict=False)["bad_lines"] == 1
    with pytest.raises(ValueError, match="truncation"):
        kbert.TreeOptions(truncation="middle")
    with pytest.raises(TypeError):
        kbert.TreeOptions(max_length="long")
    with pytest.raises(ValueError, match="unknown tokenizer"):
        kbert.SentenceTreeBuilder(kg, tokenizer="bpe")
    with pytest.raises(FileNotFoundError):
        kbert.Model.load(str(tmp_path / "no-model"))


def cli_predictions(model_dir):
    out = subprocess.run([CLI, "predict", "--model", model_dir, "--json"], input="\n".join(TEXTS) + "\n",
                         capture_output=True, text=True, check=True).stdout
    return [json.loads(x) for x in out.split("\n") if x]


def test_predictions_equal_the_cli_and_threads(model_dir):
    m = kbert.Model.load(model_dir)
    want = cli_predictions(model_dir)
    probs = m.predict_proba(TEXTS)
    assert probs.dtype == np.float32 and probs.shape == (len(TEXTS), 3)
    assert np.allclose(probs, [w["probs"] for w in want], atol=1e-6)
    assert m.predict(TEXTS) == [w["label"] for w in want]
    e = m.embed(TEXTS, pooling="mean", normalize=True)
    assert e.shape == (len(TEXTS), 32) and np.allclose(np.linalg.norm(e, axis=1), 1, atol=1e-5)
    results = [None] * 4

    def work(i):
        results[i] = m.predict_proba(TEXTS * 5)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    for r in results:
        assert np.allclose(r, np.tile(probs, (5, 1)), atol=1e-6)


def test_tokenizers_equal_the_trees(kg, tmp_path):
    vocab = os.path.join(DATA, "google_vocab.txt")
    char = kbert.Tokenizer("char", vocab=vocab)
    assert char.kind == "char" and char.vocab_size == 21128
    assert char.tokenize("我不高兴") == ["我", "不", "高", "兴"]
    ids = char.encode("我不高兴")
    assert ids.dtype == np.int32 and ids.tolist() == [2769, 679, 7770, 1069]
    # A tree without knowledge is the tokenizer's output; a Tokenizer object builds the same trees.
    b = kbert.SentenceTreeBuilder(None, char)
    assert b.build("房间干净").tokens == char.tokenize("房间干净")
    assert kbert.SentenceTreeBuilder(kg, char).build(TEXTS[1]).tokens == \
        kbert.SentenceTreeBuilder(kg, "char", vocab=vocab).build(TEXTS[1]).tokens
    words = tmp_path / "vocab.txt"
    words.write_text("\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "gas", "main", "leak", "##ed", "the"]) + "\n")
    wp = kbert.Tokenizer("wordpiece", vocab=str(words))
    assert wp.tokenize("The gas main LEAKED, again") == ["the", "gas", "main", "leak", "##ed", "[UNK]", "[UNK]"]
    assert wp.encode("gas leaked").tolist() == [5, 7, 8]
    assert kbert.Tokenizer("wordpiece", vocab=str(words), lower_case=False).tokenize("The") == ["[UNK]"]


def test_tokenizer_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="missing.txt"):
        kbert.Tokenizer("wordpiece", vocab=str(tmp_path / "missing.txt"))
    with pytest.raises(ValueError, match="unknown tokenizer"):
        kbert.Tokenizer("bpe")
    with pytest.raises(ValueError, match="wordpiece"):
        kbert.Tokenizer("wordpiece")          # no vocabulary
    with pytest.raises(ValueError, match="no vocabulary"):
        kbert.Tokenizer("char").encode("我")
    with pytest.raises(TypeError):
        kbert.Tokenizer("char").tokenize(42)


def test_predict_details_and_tree_equal_the_cli(model_dir):
    m = kbert.Model.load(model_dir)
    want = cli_predictions(model_dir)
    got = m.predict_details(TEXTS)
    assert [p.label for p in got] == [w["label"] for w in want]
    for p, w in zip(got, want):
        assert p.probs.dtype == np.float32 and np.allclose(p.probs, w["probs"], atol=1e-6)
        assert p.probability == pytest.approx(max(w["probs"]), abs=1e-6)
        assert [(x.entity, x.relation, x.object, [x.start, x.end]) for x in p.injected] == \
               [(x["entity"], x["relation"], x["object"], x["span"]) for x in w["injected"]]
    tree = subprocess.run([CLI, "tree", "--kg", HOWNET, "--predicate", "--max-length", "64", "--add-special",
                           "--vocab", os.path.join(DATA, "google_vocab.txt")],
                          input=TEXTS[1] + "\n", capture_output=True, text=True, check=True).stdout
    t = m.tree(TEXTS[1])
    assert t.tokens == json.loads(tree)["tokens"] and t.ids.tolist() == json.loads(tree)["ids"]
    assert m.labels == ["0", "1", "2"] and m.hidden_size == 32 and "1 layers" in repr(m)


def write_tsv(path, rows):
    path.write_text("label\ttext_a\n" + "".join(f"{label}\t{text}\n" for label, text in rows))
    return str(path)


@pytest.fixture(scope="module")
def tiny_data(tmp_path_factory):
    d = tmp_path_factory.mktemp("data")
    rows = [("pos", "房间干净，服务很好"), ("neg", "我不高兴，房间太小"), ("pos", "价格不贵，很满意"),
            ("neg", "服务太差，很失望")] * 6
    cfg = d / "cfg.json"
    cfg.write_text(json.dumps({"emb_size": 16, "feedforward_size": 32, "hidden_size": 16, "heads_num": 2,
                               "layers_num": 1, "dropout": 0.1, "max_seq_length": 64}))
    return {"train": write_tsv(d / "train.tsv", rows), "dev": write_tsv(d / "dev.tsv", rows[:8]),
            "config": str(cfg), "dir": d}


def test_train_equals_the_cli(tiny_data, tmp_path):
    common = dict(dev=tiny_data["dev"], test=tiny_data["dev"], config=tiny_data["config"],
                  vocab=os.path.join(DATA, "google_vocab.txt"), kg=[HOWNET], predicate=True, epochs=2, batch_size=8,
                  learning_rate=1e-3, max_length=32, seed=3)
    r = kbert.train(tiny_data["train"], str(tmp_path / "py"), progress=False, **common)
    cli = [CLI, "train", "--train", tiny_data["train"], "--out", str(tmp_path / "cli"), "--dev", tiny_data["dev"],
           "--test", tiny_data["dev"], "--config", tiny_data["config"], "--vocab", common["vocab"], "--kg", HOWNET,
           "--predicate", "--epochs", "2", "--batch-size", "8", "--learning-rate", "1e-3", "--max-length", "32",
           "--seed", "3", "--quiet"]
    want = json.loads(subprocess.run(cli, capture_output=True, text=True, check=True).stdout)
    assert r["steps"] == want["steps"] == 6 and r["best_epoch"] == want["best_epoch"]
    assert r["test"]["accuracy"] == want["test"]["accuracy"]
    assert r["final_loss"] == pytest.approx(want["final_loss"], rel=1e-6)
    # Not byte-equal: the two processes' buffers differ in alignment, and with it the order of
    # a few vectorised sums (last-bit differences); the models agree to float precision.
    m = kbert.Model.load(str(tmp_path / "py"))
    texts = [text for _, text in [line.split("\t") for line in open(tiny_data["dev"]).read().split("\n")[1:] if line]]
    assert np.allclose(m.predict_proba(texts), kbert.Model.load(str(tmp_path / "cli")).predict_proba(texts), atol=1e-4)
    assert sorted(m.labels) == ["neg", "pos"] and len(m.predict(["房间干净"])) == 1
    # Continue from the trained directory with a new KG setting and more entities.
    r2 = kbert.train(tiny_data["train"], str(tmp_path / "again"), model=str(tmp_path / "py"), kg=["none"],
                     epochs=1, batch_size=8, max_entities=1, progress=False)
    assert r2["steps"] == 3 and "dev" not in r2
    assert json.loads((tmp_path / "again" / "kbert.json").read_text())["tree"]["max_entities"] == 1


def test_train_errors(tiny_data, tmp_path):
    vocab = os.path.join(DATA, "google_vocab.txt")
    with pytest.raises(FileNotFoundError, match="missing.tsv"):
        kbert.train(str(tmp_path / "missing.tsv"), str(tmp_path / "o"), config=tiny_data["config"], vocab=vocab)
    bad = tmp_path / "bad.tsv"
    bad.write_text("label\ttext_a\npos\tok\nonly-one-field\n")
    with pytest.raises(ValueError, match="bad.tsv:3"):
        kbert.train(str(bad), str(tmp_path / "o"), config=tiny_data["config"], vocab=vocab)
    with pytest.raises(ValueError, match="not both"):
        kbert.train(tiny_data["train"], str(tmp_path / "o"), config=tiny_data["config"], vocab=vocab,
                    model=str(tmp_path))
    with pytest.raises(ValueError, match="vocabulary"):
        kbert.train(tiny_data["train"], str(tmp_path / "o"), config=tiny_data["config"])
    with pytest.raises(ValueError, match="head"):
        kbert.train(tiny_data["train"], str(tmp_path / "o"), config=tiny_data["config"], vocab=vocab, head="crf")
    with pytest.raises(ValueError, match="pooling"):
        kbert.train(tiny_data["train"], str(tmp_path / "o"), config=tiny_data["config"], vocab=vocab, pooling="sum")
    with pytest.raises(ValueError, match="class weights"):
        kbert.train(tiny_data["train"], str(tmp_path / "o"), config=tiny_data["config"], vocab=vocab,
                    class_weights="inverse")
    with pytest.raises(TypeError):
        kbert.train(tiny_data["train"], str(tmp_path / "o"), epochs="many")
    assert not (tmp_path / "o").exists()   # nothing half-written


def test_model_errors(model_dir, tmp_path):
    m = kbert.Model.load(model_dir)
    with pytest.raises(ValueError, match="pooling"):
        m.embed(["我"], pooling="median")
    with pytest.raises(FileNotFoundError, match="no.spo"):
        kbert.Model.load(model_dir, kg=str(tmp_path / "no.spo"))
    broken = tmp_path / "broken"
    shutil.copytree(model_dir, broken)
    (broken / "model.safetensors").write_bytes(b"\x00" * 4)
    with pytest.raises(ValueError, match="model.safetensors"):
        kbert.Model.load(str(broken))
    with pytest.raises(TypeError):
        m.predict("not a list")  # a str is not a list of texts
    with pytest.raises(FileNotFoundError):
        kbert.import_hf(str(tmp_path / "no-hf"), str(tmp_path / "out"))
    with pytest.raises(FileNotFoundError, match="no.bin"):
        kbert.import_uer(str(tmp_path / "no.bin"), str(tmp_path / "c.json"), os.path.join(DATA, "google_vocab.txt"),
                         str(tmp_path / "out"))
    assert not (tmp_path / "out").exists()


def test_ner_train_tag_and_predict_equal_the_cli(tmp_path):
    """kbert.train(task="ner") as `kbert train --task ner`; Model.predict gives entity lists
    and Model.tag tokens and tags, equal to `kbert predict --json` on a tagger."""
    medical = os.path.join(DATA, "Medical.spo")
    rows = [("头 痛 3 天", "B-Symptom I-Symptom O O"), ("患 者 发 热 ， 咳 嗽", "O O B-Symptom I-Symptom O B-Symptom I-Symptom"),
            ("左 上 肢 疼 痛", "B-Body I-Body I-Body B-Symptom I-Symptom"), ("无 发 热", "O B-Symptom I-Symptom")] * 6
    train = tmp_path / "train.tsv"
    train.write_text("text_a\tlabel\n" + "".join(f"{a}\t{b}\n" for a, b in rows))
    cfg = tmp_path / "cfg.json"
    cfg.write_text(json.dumps({"emb_size": 16, "feedforward_size": 32, "hidden_size": 16, "heads_num": 2,
                               "layers_num": 1, "dropout": 0.1, "max_seq_length": 64}))
    vocab = os.path.join(DATA, "google_vocab.txt")
    r = kbert.train(str(train), str(tmp_path / "py"), task="ner", dev=str(train), config=str(cfg), vocab=vocab,
                    kg=[medical], epochs=2, batch_size=8, learning_rate=1e-3, max_length=32, seed=3, progress=False)
    cli = [CLI, "train", "--task", "ner", "--train", str(train), "--dev", str(train), "--out", str(tmp_path / "cli"),
           "--config", str(cfg), "--vocab", vocab, "--kg", medical, "--epochs", "2", "--batch-size", "8",
           "--learning-rate", "1e-3", "--max-length", "32", "--seed", "3", "--quiet"]
    want = json.loads(subprocess.run(cli, capture_output=True, text=True, check=True).stdout)
    assert r["steps"] == want["steps"] == 6
    assert r["dev"]["f1"] == want["dev"]["f1"] and {t["type"] for t in r["dev"]["types"]} == {"Symptom", "Body"}
    m = kbert.Model.load(str(tmp_path / "py"))
    assert m.is_tagger and m.labels[-1] == "[ENT]"
    texts = ["患者头痛3天，左上肢疼痛", "no entity", ""]
    ents = m.predict(texts)
    assert len(ents) == 3 and all(isinstance(e, list) for e in ents)
    tagged = m.tag(texts)
    out = subprocess.run([CLI, "predict", "--model", str(tmp_path / "py"), "--json"], input="\n".join(texts) + "\n",
                         capture_output=True, text=True, check=True).stdout
    for text, e, t, c in zip(texts, ents, tagged, [json.loads(x) for x in out.splitlines()]):
        assert t.tokens == c["tokens"] and t.tags == c["tags"] and t.starts == c["starts"]
        assert [(x.type, x.start, x.end, x.text) for x in e] == [(x["type"], x["start"], x["end"], x["text"])
                                                                   for x in c["entities"]]
        assert all(text[x.start:x.end] == x.text for x in e)
    with pytest.raises(ValueError, match="tag"):
        m.predict_proba(texts)
    with pytest.raises(ValueError, match="task"):
        kbert.train(str(train), str(tmp_path / "o"), task="pos", config=str(cfg), vocab=vocab)
    with pytest.raises(ValueError, match="xml"):
        kbert.train(str(train), str(tmp_path / "o"), task="ner", format="xml", config=str(cfg), vocab=vocab)
    assert not (tmp_path / "o").exists()


def test_train_lexical_precision_and_outputs(tiny_data, tmp_path):
    vocab = os.path.join(DATA, "google_vocab.txt")
    common = dict(dev=tiny_data["dev"], config=tiny_data["config"], vocab=vocab, epochs=2, batch_size=8,
                  learning_rate=1e-3, max_length=32, seed=3, progress=False)
    # A lexical side channel: kept in the model directory and used by predict.
    r = kbert.train(tiny_data["train"], str(tmp_path / "lex"), lexical_buckets=1024, lexical_learning_rate=5e-2,
                    kg=["none", HOWNET], **common)
    spec = json.loads((tmp_path / "lex" / "kbert.json").read_text())
    assert spec["lexical_buckets"] == 1024 and spec["kg"] == ["kg/HowNet.spo"]  # "none" is not a file
    m = kbert.Model.load(str(tmp_path / "lex"))
    assert r["dev"]["accuracy"] == pytest.approx(
        np.mean([p == g for p, g in zip(m.predict([t for _, t in [("pos", "房间干净，服务很好"), ("neg", "我不高兴，房间太小")] * 4]),
                                         ["pos", "neg"] * 4)]), abs=1e-9)
    # Fitted alone first (lexical_fit="first"), with C fixed: epoch 0 is that model, on dev too.
    f = kbert.train(tiny_data["train"], str(tmp_path / "lexf"), lexical_buckets=1024, lexical_fit="first",
                    lexical_c=1.0, kg=["none"], **common)
    log = [json.loads(x) for x in (tmp_path / "lexf" / "train_log.jsonl").read_text().splitlines()]
    assert [e["epoch"] for e in log] == [0, 1, 2] and f["dev"]["accuracy"] == max(e["dev"]["accuracy"] for e in log)
    assert f["lexical_c"] == 1.0
    # lexical_knowledge: the side channel counts the KG's facts too (kept in kbert.json); it needs a side channel.
    kg_file = tmp_path / "rooms.spo"
    kg_file.write_text("房间\t是\t住所\n服务\t是\t行为\n", encoding="utf-8")
    kbert.train(tiny_data["train"], str(tmp_path / "lexk"), lexical_buckets=1024, lexical_fit="first",
                lexical_c=1.0, lexical_knowledge=True, kg=[str(kg_file)], **common)
    assert json.loads((tmp_path / "lexk" / "kbert.json").read_text())["lexical_knowledge"] is True
    with pytest.raises(ValueError, match="lexical_knowledge needs a lexical side channel"):
        kbert.train(tiny_data["train"], str(tmp_path / "o"), lexical_knowledge=True, **common)
    with pytest.raises(ValueError, match="lexical fit"):
        kbert.train(tiny_data["train"], str(tmp_path / "o"), lexical_buckets=1024, lexical_fit="later", **common)
    with pytest.raises(ValueError, match="lexical side channel"):
        kbert.train(tiny_data["train"], str(tmp_path / "o"), lexical_fit="first", **common)
    assert not (tmp_path / "o").exists()
    # bf16 and int8 inference: the same labels as float32, probabilities close.
    texts = ["房间干净", "服务太差", "我不高兴，房间太小"]
    assert m.precision == "fp32"  # the suites run with KBERT_PRECISION=fp32
    flags = open("/proc/cpuinfo").read()
    avx512 = all(f" {f}" in flags for f in ("avx512f", "avx512bw", "avx512dq", "avx512vl"))
    if not avx512:  # no bfloat16 products below AVX-512: refused, naming what to use
        with pytest.raises(RuntimeError, match="precision bf16.*fp32"):
            kbert.Model.load(str(tmp_path / "lex"), precision="bf16")
    for p in ("bf16", "int8") if avx512 else ("int8",):
        low = kbert.Model.load(str(tmp_path / "lex"), precision=p)
        assert low.precision == p
        assert low.predict(texts) == m.predict(texts)
        assert np.abs(low.predict_proba(texts) - m.predict_proba(texts)).max() < 0.05
    with pytest.raises(ValueError, match="precision"):
        kbert.Model.load(str(tmp_path / "lex"), precision="fp8")
    # A directory kbert did not make is never written over.
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("precious")
    with pytest.raises(FileExistsError, match="not a kbert model directory"):
        kbert.train(tiny_data["train"], str(mine), **common)
    assert (mine / "notes.txt").read_text() == "precious"


def test_score_facts_equal_the_cli(tmp_path):
    kg = kbert.KnowledgeGraph()
    for s, r, o in (("苹果", "是", "水果"), ("苹果", "产地", "山东"), ("香蕉", "是", "水果"), ("葡萄", "颜色", "紫")):
        kg.add(s, r, o)
    train = tmp_path / "train.tsv"
    train.write_text("label\ttext_a\npos\t苹果好\npos\t苹果甜\nneg\t香蕉坏\nneg\t香蕉烂\n", encoding="utf-8")
    rows = kbert.score_facts(kg, str(train), kbert.Tokenizer("char"), out=str(tmp_path / "py.spo"), min_score=1.0)
    assert [r["object"] for r in rows] == ["水果", "山东", "水果", "紫"]
    assert rows[1]["score"] == pytest.approx(4 * math.log(2)) and rows[1]["texts"] == 2
    assert rows[0]["score"] == pytest.approx(0) and rows[0]["subject_score"] == pytest.approx(4 * math.log(2))
    # The CLI writes the same file; loaded, the scored fact comes first.
    spo = tmp_path / "kg.spo"
    spo.write_text("".join(f"{s}\t{r}\t{o}\n" for s, r, o in (("苹果", "是", "水果"), ("苹果", "产地", "山东"),
                                                            ("香蕉", "是", "水果"), ("葡萄", "颜色", "紫"))), encoding="utf-8")
    subprocess.run([CLI, "kg", "score", "--kg", str(spo), "--train", str(train), "--out", str(tmp_path / "cli.spo"),
                    "--min-score", "1"], check=True, capture_output=True)
    assert (tmp_path / "py.spo").read_text(encoding="utf-8") == (tmp_path / "cli.spo").read_text(encoding="utf-8")
    scored = kbert.KnowledgeGraph()
    scored.load(str(tmp_path / "cli.spo"))
    assert scored.has_scores and scored.lookup("苹果") == [("产地", "山东")]
    kg.add("苹果", "颜色", "红", score=5.0)
    assert kg.has_scores and kg.lookup("苹果")[0] == ("颜色", "红")


def _defaults_of_signature(sig):
    """{name: default} of a Python signature text (pybind11's first docstring line or a stub)."""
    import ast
    fn = ast.parse("def " + sig.strip().rstrip(":").rstrip(" .") + ": pass").body[0]
    args = fn.args
    out = {}
    positional = args.posonlyargs + args.args
    for a, d in zip(positional[len(positional) - len(args.defaults):], args.defaults):
        out[a.arg] = ast.literal_eval(d) if not (isinstance(d, ast.Constant) and d.value is Ellipsis) else ...
    for a, d in zip(args.kwonlyargs, args.kw_defaults):
        if d is not None:
            out[a.arg] = ast.literal_eval(d) if not (isinstance(d, ast.Constant) and d.value is Ellipsis) else ...
    return out


def test_stub_defaults_are_the_cpp_defaults():
    """The module's defaults come from the C++ option structs; the .pyi stubs must say the same."""
    import ast
    stub_path = os.path.join(os.path.dirname(kbert.__file__), "_kbert.pyi")
    stub = ast.parse(open(stub_path, encoding="utf-8").read())
    stubs = {n.name: n for n in stub.body if isinstance(n, ast.FunctionDef)}
    checked = 0
    for name in ("train", "import_uer", "import_hf", "score_facts", "report", "pretrain", "evaluate", "build_vocab",
                 "suggest_facts"):
        runtime = _defaults_of_signature(getattr(kbert._kbert, name).__doc__.splitlines()[0])
        node = stubs[name]
        text = ast.get_source_segment(open(stub_path, encoding="utf-8").read(), node)
        declared = _defaults_of_signature(text[len("def "):text.index(") ->") + 1])
        assert set(declared) == set(runtime), (name, set(declared) ^ set(runtime))
        for arg, value in runtime.items():
            if declared[arg] is ...:
                continue
            assert declared[arg] == value and type(declared[arg]) is type(value), (name, arg, declared[arg], value)
            checked += 1
    assert checked > 40
    # the C++ defaults themselves, as documented (TrainOptions, ClassifierSetup, TreeOptions)
    d = _defaults_of_signature(kbert._kbert.train.__doc__.splitlines()[0])
    assert (d["epochs"], d["batch_size"], d["learning_rate"], d["seed"], d["tokenizer"]) == (5, 32, 2e-5, 7, "char")


def test_train_progress_reaches_python(tiny_data, tmp_path, capsys):
    """progress=callable gets every batch and epoch; progress=True draws kbert's bar on
    sys.stdout (what a notebook cell shows); progress=False reports nothing."""
    import io
    from kbert._progress import ProgressBar
    common = dict(dev=tiny_data["dev"], config=tiny_data["config"], vocab=os.path.join(DATA, "google_vocab.txt"),
                  epochs=2, batch_size=8, learning_rate=1e-3, max_length=32)
    events = []
    r = kbert.train(tiny_data["train"], str(tmp_path / "cb"), progress=events.append, **common)
    batches = [e for e in events if e["kind"] == "batch"]
    epochs = [e for e in events if e["kind"] == "epoch"]
    assert [(e["epoch"], e["batch"]) for e in batches] == [(1, 1), (1, 2), (1, 3), (2, 1), (2, 2), (2, 3)]
    assert all(e["batches"] == 3 and e["epochs"] == 2 and e["loss"] > 0 for e in batches)
    assert [e["epoch"] for e in epochs] == [1, 2] and epochs[-1]["step"] == r["steps"] == 6
    assert all(e["metric"] == "accuracy" and 0 <= e["dev_metric"] <= 1 for e in epochs)
    assert epochs[0]["best"] and [e["best"] for e in epochs].count(True) >= 1
    # The default bar, on a stream that is not a terminal: a line per tenth of an epoch and the dev metric.
    out = io.StringIO()
    bar = ProgressBar(out)
    for e in events:
        bar(e)
    text = out.getvalue()
    assert "epoch 1/2  3/3  loss" in text and "epoch 2/2: train loss" in text and "dev accuracy" in text
    capsys.readouterr()
    kbert.train(tiny_data["train"], str(tmp_path / "loud"), **common)  # progress=True: the bar on sys.stdout
    assert "epoch 2/2: train loss" in capsys.readouterr().out
    kbert.train(tiny_data["train"], str(tmp_path / "q"), progress=False, **common)
    assert capsys.readouterr().out == ""
    with pytest.raises(TypeError, match="progress"):
        kbert.train(tiny_data["train"], str(tmp_path / "bad"), progress="loud", **common)
    # A callback that raises stops training with its exception, and the error reaches Python.
    def boom(e):
        raise KeyError("stop here")
    with pytest.raises(KeyError, match="stop here"):
        kbert.train(tiny_data["train"], str(tmp_path / "boom"), progress=boom, **common)


def test_cli_and_python_train_with_the_same_defaults(tiny_data, tmp_path):
    """Nothing but the data and the starting point given: the CLI and kbert.train must run the
    same training (epochs, batch size, learning rate, schedule, decay, clipping, seed, tree
    options), so their steps, losses and predictions agree."""
    vocab = os.path.join(DATA, "google_vocab.txt")
    r = kbert.train(tiny_data["train"], str(tmp_path / "py"), config=tiny_data["config"], vocab=vocab, progress=False)
    cli = [CLI, "train", "--train", tiny_data["train"], "--out", str(tmp_path / "cli"), "--config", tiny_data["config"],
           "--vocab", vocab, "--quiet"]
    want = json.loads(subprocess.run(cli, capture_output=True, text=True, check=True).stdout)
    assert r["epochs"] == want["epochs"] == 5 and r["steps"] == want["steps"]
    assert r["first_loss"] == pytest.approx(want["first_loss"], rel=1e-6)
    assert r["final_loss"] == pytest.approx(want["final_loss"], rel=1e-5)
    spec = [json.loads((tmp_path / d / "kbert.json").read_text()) for d in ("py", "cli")]
    assert spec[0] == spec[1]


def test_train_on_two_ranks(tiny_data, tmp_path):
    """kbert.train(nproc=2) trains like one process with the doubled batch (no dropout), and
    rank 0's progress reaches the caller."""
    cfg = tmp_path / "cfg.json"
    cfg.write_text(json.dumps({"emb_size": 16, "feedforward_size": 32, "hidden_size": 16, "heads_num": 2,
                               "layers_num": 1, "dropout": 0.0, "max_seq_length": 64}))
    common = dict(dev=tiny_data["dev"], config=str(cfg), vocab=os.path.join(DATA, "google_vocab.txt"), epochs=2,
                  learning_rate=1e-3, max_length=32, threads=1)
    one = kbert.train(tiny_data["train"], str(tmp_path / "one"), batch_size=8, progress=False, **common)
    events = []
    two = kbert.train(tiny_data["train"], str(tmp_path / "two"), batch_size=4, nproc=2, progress=events.append, **common)
    assert two["steps"] == one["steps"] == 6 and two["dev"] == one["dev"]
    assert two["final_loss"] == pytest.approx(one["final_loss"], rel=1e-5)
    assert [e["epoch"] for e in events if e["kind"] == "epoch"] == [1, 2]
    p1 = kbert.Model.load(str(tmp_path / "one")).predict_proba(["房间干净", "服务太差"])
    p2 = kbert.Model.load(str(tmp_path / "two")).predict_proba(["房间干净", "服务太差"])
    assert np.allclose(p1, p2, atol=1e-6)
    with pytest.raises(ValueError, match="nproc"):
        kbert.train(tiny_data["train"], str(tmp_path / "bad"), nproc=0, **common)


def test_train_on_two_ranks_runs_nothing_of_the_callers_script(tiny_data, tmp_path):
    """A script without a __main__ guard that trains on 2 ranks runs its own code once: the ranks
    are fresh interpreters running kbert's entry point, not re-imports of the script."""
    cfg = tmp_path / "cfg.json"
    cfg.write_text(json.dumps({"emb_size": 16, "feedforward_size": 32, "hidden_size": 16, "heads_num": 2,
                               "layers_num": 1, "dropout": 0.0, "max_seq_length": 64}))
    marker = tmp_path / "runs.txt"
    script = tmp_path / "train_script.py"
    script.write_text(f"""import json, kbert
open({str(marker)!r}, "a").write("ran\\n")
r = kbert.train({tiny_data["train"]!r}, {str(tmp_path / "out")!r}, config={str(cfg)!r},
                vocab={os.path.join(DATA, "google_vocab.txt")!r}, epochs=1, batch_size=4, max_length=32,
                threads=1, nproc=2, progress=False)
print(json.dumps({{"steps": r["steps"]}}))
""")
    env = dict(os.environ)
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, env=env, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    assert marker.read_text() == "ran\n"
    assert json.loads(done.stdout.strip().splitlines()[-1])["steps"] > 0


def test_index_search_equals_numpy_and_the_cli(model_dir, tmp_path):
    m = kbert.Model.load(model_dir)
    corpus = ["我不高兴", "房间干净，价格不贵", "这家酒店服务很好", "服务太差", "早餐丰富", "交通也方便", "房间太小"]
    labels = ["neg", "pos", "pos", "neg", "pos", "pos", "neg"]
    ix = kbert.Index.build(m, corpus, labels=labels)
    assert len(ix) == 7 and ix.dim == 32 and ix.ids == [str(i) for i in range(1, 8)] and ix.labels == labels
    x = m.embed(corpus, normalize=True)
    assert np.allclose(ix.vectors, x, atol=1e-6)
    with pytest.raises(ValueError):
        ix.vectors[0, 0] = 1.0  # a read-only view of the index
    queries = ["房间很干净", "我不高兴的是服务"]
    hits = ix.search(m, queries, k=3)
    q = m.embed(queries, normalize=True)
    for i, row in enumerate(hits):
        want = np.argsort(-(x @ q[i]), kind="stable")[:3]
        assert [h.row for h in row] == list(want)
        assert np.allclose([h.score for h in row], (x @ q[i])[want], atol=1e-5)
        assert [h.label for h in row] == [labels[j] for j in want] and row[0].text == corpus[want[0]]
    assert [[h.row for h in r] for r in ix.search_vectors(q, k=3)] == [[h.row for h in r] for r in hits]
    path = str(tmp_path / "c.kbix")
    ix.save(path)
    back = kbert.Index.open(path)
    assert back.model == model_dir and back.pooling == "mean"
    cli = subprocess.run([CLI, "search", "--index", path, "--model", model_dir, "--k", "3"], input="".join(t + "\n" for t in queries),
                         capture_output=True, text=True, check=True)
    assert [[h["id"] for h in json.loads(line)["hits"]] for line in cli.stdout.splitlines()] == \
        [[h.id for h in r] for r in hits]
    with pytest.raises(ValueError, match="--kg"):  # the same model loaded without its KG embeds otherwise
        back.search(kbert.Model.load(model_dir, kg="none"), queries)
    with pytest.raises(ValueError, match="pooling"):
        kbert.Index.build(m, corpus, pooling="tokens")
    with pytest.raises(ValueError, match="3 labels for 7"):
        kbert.Index.build(m, corpus, labels=labels[:3])
    (tmp_path / "bad.kbix").write_bytes(open(path, "rb").read()[:100])
    with pytest.raises(ValueError, match="bad.kbix"):
        kbert.Index.open(str(tmp_path / "bad.kbix"))


def test_explain_equals_the_cli(model_dir):
    m = kbert.Model.load(model_dir)
    texts = ["我不高兴", "这家酒店服务很好，我不高兴的是房间太小"]
    ex = m.explain(texts)
    cli = [json.loads(line) for line in subprocess.run([CLI, "explain", "--model", model_dir, "--json"],
                                                       input="".join(t + "\n" for t in texts), capture_output=True,
                                                       text=True, check=True).stdout.splitlines()]
    for e, c in zip(ex, cli):
        assert e.label == c["label"] and abs(e.probability - c["prob"]) < 1e-6
        assert [(f.entity, f.relation, f.object) for f in e.facts] == \
            [(f["entity"], f["relation"], f["object"]) for f in c["facts"]]
        assert np.allclose([f.change for f in e.facts], [f["change"] for f in c["facts"]], atol=1e-6)
        assert all(abs(f.change - (f.prob_without - e.probability)) < 1e-6 for f in e.facts)
    assert len(ex[1].facts) > 0
    assert [p.label for p in m.predict_details(texts)] == [e.label for e in ex]


def test_hops_trees_equal_the_cli(tmp_path):
    """Multi-hop trees: the same in Python and the CLI; hop and parent say where a fact hangs."""
    spo = tmp_path / "chain.spo"
    spo.write_text("breaker\tis a\tprotected switch\nprotected switch\tis a\tswitch\nswitch\tis a\tdevice\n"
                   "breaker\tpart of\tbay\n", encoding="utf-8")
    g = kbert.KnowledgeGraph()
    g.load(str(spo))
    texts = ["the breaker tripped", "a switch", "none here"]
    for hops in (1, 2, 3):
        b = kbert.SentenceTreeBuilder(g, options=kbert.TreeOptions(hops=hops, max_entities=2))
        out = subprocess.run([CLI, "tree", "--kg", str(spo), "--hops", str(hops)], input="\n".join(texts) + "\n",
                             capture_output=True, text=True, check=True).stdout.splitlines()
        for text, line in zip(texts, out):
            want, t = json.loads(line), b.build(text)
            assert t.tokens == want["tokens"] and t.positions.tolist() == want["positions"]
            assert [list(np.nonzero(r)[0]) for r in t.visible] == want["visible"]
            assert [(x.entity, x.object, x.hop, x.parent, [x.start, x.end]) for x in t.injected] == \
                   [(x["entity"], x["object"], x["hop"], x["parent"], x["span"]) for x in want["injected"]]
    t = kbert.SentenceTreeBuilder(g, options=kbert.TreeOptions(hops=3)).build("the breaker tripped")
    assert [(x.object, x.hop, x.parent) for x in t.injected] == \
           [("protected switch", 1, -1), ("switch", 2, 0), ("device", 3, 1), ("bay", 1, -1)]
    assert kbert.TreeOptions().hops == 1 and kbert.TreeOptions().max_facts == 0
    with pytest.raises(ValueError, match="hops"):
        kbert.SentenceTreeBuilder(g, options=kbert.TreeOptions(hops=0))


def test_python_defaults_are_the_option_table():
    """Every keyword default of the module that the option table also holds (its "python"
    column, for the command the function stands for) is the table's: `kbert train --help`
    and `help(kbert.train)` cannot disagree."""
    table = json.loads(subprocess.run([CLI, "help", "--json"], check=True, capture_output=True, text=True).stdout)
    functions = {"train": (kbert._kbert.train, "train"), "import_uer": (kbert._kbert.import_uer, "import-uer"),
                 "import_hf": (kbert._kbert.import_hf, "import-hf"), "score_facts": (kbert._kbert.score_facts, "kg score"),
                 "Model.load": (kbert.Model.load, "predict"), "TreeOptions": (kbert.TreeOptions.__init__, "tree"),
                 "Model.embed": (kbert.Model.embed, "embed"), "pretrain": (kbert._kbert.pretrain, "pretrain"),
                 "evaluate": (kbert._kbert.evaluate, "eval"), "build_vocab": (kbert._kbert.build_vocab, "vocab"),
                 "suggest_facts": (kbert._kbert.suggest_facts, "kg suggest")}
    checked = 0
    for name, (fn, command) in functions.items():
        sig = fn.__doc__.splitlines()[0]
        if name == "TreeOptions":  # __init__(self: TreeOptions, ...) -> None
            sig = sig.replace("self: kbert._kbert.TreeOptions, ", "")
        if name == "Model.embed":
            sig = sig.replace("self: kbert._kbert.Model, ", "")
        for arg, value in _defaults_of_signature(sig).items():
            rows = [r for r in table if r["python"] == arg and command in r["commands"]]
            if not rows or not rows[0]["default"] or value is None or value is ...:
                continue
            row = rows[0]
            want = {"count": int, "real": float}.get(row["kind"], str)(row["default"])
            assert value == want and type(value) is type(want), (name, arg, value, want)
            checked += 1
    assert checked >= 30, checked


def test_report_equals_the_cli(model_dir, tmp_path):
    """kbert.report (a loaded model, baseline and index) writes the report `kbert report` writes
    for the same directories: the same texts, predictions, facts, changes and neighbours."""
    import re
    data = tmp_path / "d.tsv"
    data.write_text("label\ttext_a\n0\t我不高兴\n1\t这家酒店服务很好\n2\t房间太小 <b>x</b>\n", encoding="utf-8")
    m = kbert.Model.load(model_dir)
    ix = kbert.Index.build(m, ["我不高兴", "房间干净", "服务太差"], labels=["0", "1", "0"])
    ix.save(str(tmp_path / "c.kbix"))
    metrics = kbert.report(m, str(data), str(tmp_path / "py.html"), baseline=m, index=ix, similar=2, title="T")
    assert metrics["examples"] == 3 and 0 <= metrics["macro_f1"] <= 1
    subprocess.run([CLI, "report", "--model", model_dir, "--data", str(data), "--baseline", model_dir, "--index",
                    str(tmp_path / "c.kbix"), "--similar", "2", "--title", "T", "--out", str(tmp_path / "cli.html")],
                   check=True, capture_output=True)

    def payload(path):
        page = open(path, encoding="utf-8").read()
        return json.loads(re.search(r'id="report-data">(.*?)</script>', page, re.S).group(1))
    py, cli = payload(tmp_path / "py.html"), payload(tmp_path / "cli.html")
    assert py["items"] == cli["items"] and py["metrics"] == cli["metrics"] and py["baseline"] == cli["baseline"]
    assert len(py["items"]) == 3 and all(len(i["similar"]) == 2 for i in py["items"])
    assert py["items"][2]["text"] == "房间太小 <b>x</b>" and "<b>x</b>" not in open(tmp_path / "py.html").read()
    with pytest.raises(ValueError, match="d2.tsv:2"):
        (tmp_path / "d2.tsv").write_text("label\ttext_a\nnine\t我不高兴\n", encoding="utf-8")
        kbert.report(m, str(tmp_path / "d2.tsv"), str(tmp_path / "x.html"))
    assert not (tmp_path / "x.html").exists()


def test_pretrain_evaluate_and_vocab_equal_the_cli(tiny_data, tmp_path):
    """kbert.pretrain, kbert.evaluate and kbert.build_vocab run the library recipes `kbert
    pretrain`, `kbert eval` and `kbert vocab` run: the same losses, metrics and files."""
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("房间干净，服务很好\n\n我不高兴，房间太小\r\n价格不贵，很满意\n服务太差，很失望\n" * 4, encoding="utf-8")
    vocab = os.path.join(DATA, "google_vocab.txt")
    r = kbert.pretrain(str(corpus), str(tmp_path / "py_enc"), config=tiny_data["config"], vocab=vocab, kg=[HOWNET],
                       epochs=1, batch_size=4, learning_rate=1e-3, max_length=32, seed=5, progress=False)
    cli = [CLI, "pretrain", "--corpus", str(corpus), "--out", str(tmp_path / "cli_enc"), "--config", tiny_data["config"],
           "--vocab", vocab, "--kg", HOWNET, "--epochs", "1", "--batch-size", "4", "--learning-rate", "1e-3",
           "--max-length", "32", "--seed", "5", "--quiet"]
    want = json.loads(subprocess.run(cli, capture_output=True, text=True, check=True).stdout)
    assert r["steps"] == want["steps"] == 4 and not r["interrupted"]  # 16 texts: the blank line is skipped
    assert r["first_loss"] == pytest.approx(want["first_loss"], rel=1e-5)
    assert r["final_loss"] == pytest.approx(want["final_loss"], rel=1e-5)
    assert kbert.Model.load(str(tmp_path / "py_enc")).labels == []  # an encoder: no head
    with pytest.raises(ValueError, match="objective"):
        kbert.pretrain(str(corpus), str(tmp_path / "x"), config=tiny_data["config"], vocab=vocab, objective="gpt")
    with pytest.raises(FileNotFoundError, match="nowhere.txt"):
        kbert.pretrain(str(tmp_path / "nowhere.txt"), str(tmp_path / "x"), config=tiny_data["config"], vocab=vocab)

    # evaluate: a classifier trained here, against `kbert eval`'s metrics.json
    kbert.train(tiny_data["train"], str(tmp_path / "clf"), model=str(tmp_path / "py_enc"), epochs=1, batch_size=8,
                learning_rate=1e-3, progress=False)
    m = kbert.Model.load(str(tmp_path / "clf"))
    got = kbert.evaluate(m, tiny_data["dev"])
    subprocess.run([CLI, "eval", "--model", str(tmp_path / "clf"), "--data", tiny_data["dev"], "--out",
                    str(tmp_path / "metrics.json")], capture_output=True, check=True)
    assert got == json.loads((tmp_path / "metrics.json").read_text()) and got["examples"] == 8
    with pytest.raises(ValueError, match="tagger"):
        kbert.evaluate(m, tiny_data["dev"], format="conll")

    # build_vocab: the same vocab.txt, byte for byte
    files = kbert.build_vocab(str(corpus), str(tmp_path / "py_vocab.txt"), size=40, min_frequency=1)
    subprocess.run([CLI, "vocab", "--corpus", str(corpus), "--out", str(tmp_path / "cli_vocab.txt"), "--size", "40",
                    "--min-frequency", "1"], capture_output=True, check=True)
    assert files == [str(tmp_path / "py_vocab.txt")]
    assert (tmp_path / "py_vocab.txt").read_bytes() == (tmp_path / "cli_vocab.txt").read_bytes()
    assert "[CLS]" in (tmp_path / "py_vocab.txt").read_text().split("\n")
    with pytest.raises(ValueError, match="at least 10"):
        kbert.build_vocab(str(corpus), str(tmp_path / "v.txt"), size=5)


def test_python_chooses_the_kernels_the_cli_chooses():
    """`import kbert` sets, before LibTorch loads, the kernel environment `kbert` sets (one
    decision, kbert::cpu::kernel_environment), and a variable the user set wins."""
    want = json.loads(subprocess.run([CLI, "env", "--json"], check=True, capture_output=True,
                                     text=True).stdout)["kernel_environment"]
    assert "OMP_WAIT_POLICY" not in want  # left to the user (an idle process must not spin)
    code = ("import ctypes, json, kbert; libc = ctypes.CDLL(None); libc.getenv.restype = ctypes.c_char_p; "
            "print(json.dumps({k: (libc.getenv(k.encode()) or b'').decode() for k in %r}))" % sorted(want))
    env = {k: v for k, v in os.environ.items() if k not in want}
    got = json.loads(subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True,
                                    env=env).stdout)
    if not any(k in os.environ for k in want):
        assert got == want and dict(kbert._cpu.kernel_environment()) == want
    name = next(iter(want), None)
    if name:
        env[name] = "user-choice"
        got = json.loads(subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True,
                                        env=env).stdout)
        assert got[name] == "user-choice"


def test_an_idle_python_process_does_not_spin():
    """After `import kbert` and a parallel operation, OpenMP's worker threads sleep while the
    process waits (a notebook between cells): OMP_WAIT_POLICY=ACTIVE, once set by kbert, kept
    a core busy for the life of the process."""
    code = ("import time, kbert, torch; torch.set_num_threads(2); x = torch.randn(512, 512)\n"
            "for _ in range(20): x @ x\n"
            "time.sleep(0.5); t = time.process_time(); time.sleep(1.5); print(time.process_time() - t)")
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT")}
    busy = float(subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True,
                                env=env).stdout)
    assert busy < 0.5, f"{busy:.2f} CPU seconds spent in a 1.5 s sleep"


def test_suggest_facts_equal_the_cli(tiny_data, tmp_path):
    """kbert.suggest_facts and `kbert kg suggest` run the same library function: the same facts,
    scores and evidence, best first, at most `top` per term."""
    rows = [("1", "水果", "苹果: 一种水果"), ("0", "城市", "苹果: 一种水果"), ("1", "城市", "北京: 中国的城市"),
            ("0", "水果", "北京: 中国的城市")] * 6
    train = tmp_path / "pairs.tsv"
    train.write_text("label\ttext_a\ttext_b\n" + "".join(f"{l}\t{a}\t{b}\n" for l, a, b in rows), encoding="utf-8")
    kbert.train(str(train), str(tmp_path / "m"), config=tiny_data["config"], vocab=os.path.join(DATA, "google_vocab.txt"),
                kg=[HOWNET], epochs=1, batch_size=8, learning_rate=1e-3, max_length=32, progress=False)
    m = kbert.Model.load(str(tmp_path / "m"))
    terms = [("苹果", "一种水果"), ("北京", "中国的城市"), ("香蕉", "")]
    got = kbert.suggest_facts(m, terms, parents=["水果", "城市", "苹果"], top=2, min_score=0.0, out=str(tmp_path / "py.tsv"))
    (tmp_path / "terms.tsv").write_text("".join(f"{n}\t{d}\n" if d else f"{n}\n" for n, d in terms), encoding="utf-8")
    (tmp_path / "parents.tsv").write_text("水果\n城市\n苹果\n", encoding="utf-8")
    subprocess.run([CLI, "kg", "suggest", "--model", str(tmp_path / "m"), "--terms", str(tmp_path / "terms.tsv"),
                    "--parents", str(tmp_path / "parents.tsv"), "--top", "2", "--min-score", "0", "--out",
                    str(tmp_path / "cli.tsv"), "--quiet"], check=True, capture_output=True)
    assert (tmp_path / "py.tsv").read_text() == (tmp_path / "cli.tsv").read_text()
    assert [g["subject"] for g in got] == ["苹果", "苹果", "北京", "北京", "香蕉", "香蕉"]
    assert all(g["object"] != g["subject"] for g in got)
    for i in range(0, len(got), 2):
        assert got[i]["score"] >= got[i + 1]["score"]
    with pytest.raises(ValueError, match="no label 'yes'"):
        kbert.suggest_facts(m, terms, label="yes")
