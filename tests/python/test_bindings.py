"""The Python module against the C++ tool: same trees, same predictions; dtypes and
shapes; errors as Python exceptions; predict from several threads at once.
Run by CTest with PYTHONPATH=<build>/python, KBERT_CLI=<build>/apps/kbert, KBERT_DATA=data/kbert."""
import json
import os
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


def test_predictions_equal_the_cli_and_threads(model_dir):
    m = kbert.Model.load(model_dir)
    out = subprocess.run([CLI, "predict", "--model", model_dir, "--json"], input="\n".join(TEXTS) + "\n",
                         capture_output=True, text=True, check=True).stdout
    want = [json.loads(x) for x in out.split("\n") if x]
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
