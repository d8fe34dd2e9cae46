#!/usr/bin/python3
"""The knowledge gate (kbert train --knowledge-gate), end to end through the CLI:

  - a closed gate (its starting value; --gate-learning-rate 0 keeps it there) gives the
    logits of the same weights without any fact (--kg none) within 1e-5, on texts whose
    facts it gates;
  - gradients reach the gate: trained with a learning rate, its weights leave zero;
  - kbert.json records the gate (and a model without one keeps K-BERT's file: no key);
  - kbert explain --json gives every fact its gate (0 or more); the table shows it;
  - --gate-learning-rate without --knowledge-gate, and the gate without the visible matrix,
    are usage errors.

    check_gate.py --kbert build/apps/kbert --data data/kbert
"""
import argparse
import json
import os
import random
import struct
import subprocess
import tempfile

FAILED = []


def check(cond, what):
    if not cond:
        FAILED.append(what)
        print("FAIL:", what)


def run(cmd, ok=True, stdin=None):
    r = subprocess.run(cmd, capture_output=True, timeout=900, input=stdin.encode() if stdin is not None else None)
    if ok and r.returncode != 0:
        raise SystemExit(f"command failed ({r.returncode}): {' '.join(cmd)}\n{r.stderr.decode()[-2000:]}")
    return r


def make_toy(d):
    """A toy sentiment set whose filler words are KG entities, a KG, a small UER config."""
    rng = random.Random(3)
    pos = ["服务很好", "非常满意", "干净舒适"]
    neg = ["服务很差", "非常失望", "又脏又吵"]
    filler = ["酒店", "房间", "前台", "早餐", "位置"]
    for name, n in (("train", 120), ("dev", 40)):
        with open(os.path.join(d, f"{name}.tsv"), "w") as f:
            f.write("label\ttext_a\n")
            for _ in range(n):
                y = rng.randint(0, 1)
                words = [rng.choice(filler) for _ in range(rng.randint(1, 3))] + [rng.choice(pos if y else neg)]
                f.write(f"{y}\t{''.join(words)}\n")
    with open(os.path.join(d, "kg.spo"), "w") as f:
        f.write("酒店\t是\t住所\n房间\t是\t空间\n早餐\t是\t食物\n前台\t是\t柜台\n满意\t是\t喜悦\n失望\t是\t悲伤\n")
    with open(os.path.join(d, "config.json"), "w") as f:
        json.dump({"emb_size": 32, "feedforward_size": 64, "hidden_size": 32, "heads_num": 4, "layers_num": 2,
                   "dropout": 0.1}, f)


def safetensors(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        base = 8 + n
        out = {}
        for name, v in header.items():
            if name == "__metadata__" or v["dtype"] != "F32":
                continue
            f.seek(base + v["data_offsets"][0])
            raw = f.read(v["data_offsets"][1] - v["data_offsets"][0])
            out[name] = struct.unpack(f"<{len(raw) // 4}f", raw)
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--kbert", required=True)
    ap.add_argument("--data", required=True)
    args = ap.parse_args()
    k = args.kbert
    with tempfile.TemporaryDirectory() as d:
        make_toy(d)
        base = [k, "train", "--train", f"{d}/train.tsv", "--dev", f"{d}/dev.tsv", "--config", f"{d}/config.json",
                "--vocab", f"{args.data}/google_vocab.txt", "--kg", f"{d}/kg.spo", "--predicate", "--max-length", "48",
                "--batch-size", "16", "--learning-rate", "3e-3", "--threads", "2", "--quiet"]
        texts = "".join(line.split("\t")[1] for line in open(f"{d}/dev.tsv", encoding="utf-8").readlines()[1:])

        # A closed gate: the logits of the same weights without facts.
        r = json.loads(run(base + ["--epochs", "6", "--knowledge-gate", "--gate-learning-rate", "0",
                                   "--out", f"{d}/closed"]).stdout)
        check(r["dev"]["accuracy"] >= 0.8, f"the toy model learns its task (dev accuracy {r['dev']['accuracy']:.3f})")
        spec = json.load(open(f"{d}/closed/kbert.json"))
        check(spec.get("knowledge_gate") is True, "kbert.json records the knowledge gate")
        with_kg = [json.loads(x) for x in run([k, "predict", "--model", f"{d}/closed", "--json"], stdin=texts).stdout.splitlines()]
        no_kg = [json.loads(x) for x in run([k, "predict", "--model", f"{d}/closed", "--kg", "none", "--json"],
                                            stdin=texts).stdout.splitlines()]
        gated = [i for i, p in enumerate(with_kg) if p["injected"]]
        check(len(gated) >= 20, f"most dev texts have facts to gate ({len(gated)} of {len(with_kg)})")
        worst = max(abs(a - b) for i in gated for a, b in zip(with_kg[i]["logits"], no_kg[i]["logits"]))
        check(worst <= 1e-5, f"closed gate = no facts: max |logit difference| {worst:.2e} <= 1e-5")
        w = safetensors(f"{d}/closed/model.safetensors")
        check(set(w.get("bert.knowledge_gate.weight", [1.0])) == {0.0} and w.get("bert.knowledge_gate.bias") == (0.0,),
              "a gate trained at learning rate 0 stays at its start (0)")

        # The same model without the gate is K-BERT: the facts change its logits, and its
        # kbert.json has no gate key.
        run(base + ["--epochs", "6", "--out", f"{d}/plain"])
        check("knowledge_gate" not in json.load(open(f"{d}/plain/kbert.json")), "no gate: kbert.json as before")
        check("bert.knowledge_gate.weight" not in safetensors(f"{d}/plain/model.safetensors"), "no gate: no gate weights")
        plain_kg = [json.loads(x) for x in run([k, "predict", "--model", f"{d}/plain", "--json"], stdin=texts).stdout.splitlines()]
        plain_none = [json.loads(x) for x in run([k, "predict", "--model", f"{d}/plain", "--kg", "none", "--json"],
                                                 stdin=texts).stdout.splitlines()]
        moved = max(abs(a - b) for i in gated for a, b in zip(plain_kg[i]["logits"], plain_none[i]["logits"]))
        check(moved > 1e-4, f"without the gate the facts change the logits ({moved:.2e})")

        # Gradients reach the gate.
        run(base + ["--epochs", "3", "--knowledge-gate", "--gate-learning-rate", "0.05", "--out", f"{d}/open"])
        w = safetensors(f"{d}/open/model.safetensors")
        check(any(x != 0.0 for x in w["bert.knowledge_gate.weight"]) and w["bert.knowledge_gate.bias"][0] != 0.0,
              "a gate trained with a learning rate leaves 0 (gradients reach it)")
        ex = [json.loads(x) for x in run([k, "explain", "--model", f"{d}/open", "--json"], stdin=texts).stdout.splitlines()]
        gates = [f["gate"] for e in ex for f in e["facts"]]
        check(gates and all(isinstance(g, float) and g >= 0 for g in gates), "explain --json: every fact has a gate >= 0")
        table = run([k, "explain", "--model", f"{d}/open"], stdin=texts.splitlines()[gated[0]] + "\n").stdout.decode()
        check("(gate " in table, "explain's table shows each fact's gate")
        ex_plain = json.loads(run([k, "explain", "--model", f"{d}/plain", "--json"],
                                  stdin=texts.splitlines()[gated[0]] + "\n").stdout.splitlines()[0])
        check(all("gate" not in f for f in ex_plain["facts"]), "explain without a gate: no gate field")

        # Usage errors.
        r = run(base + ["--epochs", "1", "--gate-learning-rate", "0.1", "--out", f"{d}/bad"], ok=False)
        check(r.returncode == 2 and b"--knowledge-gate" in r.stderr, "--gate-learning-rate needs --knowledge-gate")
        r = run(base + ["--epochs", "1", "--knowledge-gate", "--no-visible-matrix", "--out", f"{d}/bad"], ok=False)
        check(r.returncode == 2 and b"visible matrix" in r.stderr, "the gate needs the visible matrix")
        check(not os.path.exists(f"{d}/bad"), "a refused run writes nothing")
    if FAILED:
        raise SystemExit(f"{len(FAILED)} check(s) failed")
    print("knowledge gate: all checks passed")


if __name__ == "__main__":
    main()
