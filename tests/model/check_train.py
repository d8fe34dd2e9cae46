#!/usr/bin/python3
"""Fine-tuning through `kbert train` / `kbert eval` on a small separable toy set:
the loss falls and dev accuracy is far above chance; the same seed gives the same
model byte for byte; an interrupted run (--stop-after-steps, SIGTERM, or killed after a
--checkpoint-every checkpoint) resumed from its checkpoint ends exactly where a straight
run does; bad rows are errors naming file and row; the ablation switches run.

    check_train.py --kbert build/apps/kbert --data data/kbert
"""
import argparse
import json
import os
import random
import shutil
import signal
import struct
import subprocess
import tempfile
import time

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


def wait_for(cond, timeout=120):
    t0 = time.monotonic()
    while not cond():
        if time.monotonic() - t0 > timeout:
            raise SystemExit(f"timed out after {timeout} s")
        time.sleep(0.002)


def make_toy(d):
    rng = random.Random(1)
    pos = ["服务很好", "非常满意", "干净舒适", "推荐入住", "环境优美"]
    neg = ["服务很差", "非常失望", "又脏又吵", "不会再来", "设施陈旧"]
    filler = ["酒店", "房间", "前台", "早餐", "位置", "价格", "这次", "我们"]
    for name, n in (("train", 300), ("dev", 100)):
        with open(os.path.join(d, f"{name}.tsv"), "w") as f:
            f.write("label\ttext_a\n")
            for _ in range(n):
                y = rng.randint(0, 1)
                words = [rng.choice(filler) for _ in range(rng.randint(1, 4))] + [rng.choice(pos if y else neg)]
                f.write(f"{y}\t{''.join(words)}\n")
    with open(os.path.join(d, "config.json"), "w") as f:
        json.dump({"emb_size": 32, "feedforward_size": 64, "hidden_size": 32, "heads_num": 4, "layers_num": 2,
                   "dropout": 0.1}, f)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--kbert", required=True)
    ap.add_argument("--data", required=True)
    a = ap.parse_args()
    k = a.kbert
    cpu_env = json.loads(run([k, "env", "--json"]).stdout)  # what this CPU offers, read once
    # Below AVX-512 the CPU has no bfloat16 products and kbert refuses --precision bf16.
    bf16_ok = cpu_env["bf16"] != "none"
    with tempfile.TemporaryDirectory() as d:
        make_toy(d)
        base = [k, "train", "--train", f"{d}/train.tsv", "--dev", f"{d}/dev.tsv", "--config", f"{d}/config.json",
                "--vocab", os.path.join(a.data, "google_vocab.txt"), "--kg", os.path.join(a.data, "HowNet.spo"),
                "--predicate", "--max-length", "48", "--batch-size", "16", "--learning-rate", "3e-3",
                "--seed", "5", "--threads", "2", "--quiet"]

        def train(out, *extra, epochs=6):
            r = run(base + ["--out", out, "--epochs", str(epochs)] + list(extra))
            return json.loads(r.stdout.decode().strip().split("\n")[-1])

        r1 = train(f"{d}/m1")
        check(r1["final_loss"] < r1["first_loss"] / 5, f"loss falls: {r1['first_loss']:.3f} -> {r1['final_loss']:.4f}")
        check(r1["dev"]["accuracy"] >= 0.9, f"dev accuracy {r1['dev']['accuracy']} well above chance")
        check(os.path.exists(f"{d}/m1/model.safetensors") and os.path.exists(f"{d}/m1/kbert.json"), "best model saved")
        log = [json.loads(x) for x in open(f"{d}/m1/train_log.jsonl")]
        check(len(log) == 6 and all("dev" in e and "train_loss" in e for e in log), "a JSON log line per epoch")
        check(not os.path.exists(f"{d}/m1.checkpoint"), "a finished run leaves no checkpoint")

        # Same seed, same machine: the same model, byte for byte.
        r2 = train(f"{d}/m2")
        same = open(f"{d}/m1/model.safetensors", "rb").read() == open(f"{d}/m2/model.safetensors", "rb").read()
        check(same and r1["final_loss"] == r2["final_loss"], "training is deterministic under a seed")

        # Interrupted after 40 optimizer steps, resumed: the same end as the straight run.
        ri = train(f"{d}/m3", "--stop-after-steps", "40")
        check(ri["interrupted"] and os.path.exists(f"{d}/m3.checkpoint/state.json"), "interruption leaves a checkpoint")
        rr = train(f"{d}/m3", "--resume")
        same = open(f"{d}/m1/model.safetensors", "rb").read() == open(f"{d}/m3/model.safetensors", "rb").read()
        check(same and rr["dev"] == r1["dev"] and rr["final_loss"] == r1["final_loss"],
              "resumed training ends with the same model and metrics")

        # bf16 inference of the trained model: the same labels, logits close to float32's.
        texts = [line.split("\t", 1)[1].rstrip("\n") for line in list(open(f"{d}/dev.tsv"))[1:]]
        f32 = [json.loads(x) for x in run([k, "predict", "--model", f"{d}/m1", "--json"], stdin="\n".join(texts) + "\n").stdout.splitlines()]
        if bf16_ok:
            b16 = [json.loads(x) for x in run([k, "predict", "--model", f"{d}/m1", "--json", "--precision", "bf16"],
                                              stdin="\n".join(texts) + "\n").stdout.splitlines()]
            diff = max(abs(p - q) for x, y in zip(f32, b16) for p, q in zip(x["logits"], y["logits"]))
            same = sum(x["label"] == y["label"] for x, y in zip(f32, b16))
            check(same == len(texts) and diff < 0.1, f"bf16 predictions: {same}/{len(texts)} labels as fp32, max logit diff {diff:.4f}")
        else:  # below AVX-512: refused with a message that says what to use instead
            rb = run([k, "predict", "--model", f"{d}/m1", "--json", "--precision", "bf16"], stdin="x\n", ok=False)
            check(rb.returncode != 0 and b"--precision bf16" in rb.stderr and b"fp32" in rb.stderr and not rb.stdout,
                  f"bf16 inference refused on this CPU: {rb.stderr.decode()[-300:]}")
        # int8 inference (dynamic quantisation of the Linear layers): the same labels, logits close.
        i8 = [json.loads(x) for x in run([k, "predict", "--model", f"{d}/m1", "--json", "--precision", "int8"],
                                         stdin="\n".join(texts) + "\n").stdout.splitlines()]
        diff = max(abs(p - q) for x, y in zip(f32, i8) for p, q in zip(x["logits"], y["logits"]))
        same = sum(x["label"] == y["label"] for x, y in zip(f32, i8))
        check(same == len(texts) and 0 < diff < 0.1, f"int8 predictions: {same}/{len(texts)} labels as fp32, max logit diff {diff:.4f}")
        # bench encoder names the float32 kernels OpenBLAS itself runs, so a user's OPENBLAS_CORETYPE
        # shows in the figure (Debian's LibTorch multiplies through OpenBLAS).
        for core in ("Haswell", "SkylakeX") if "avx512" in cpu_env["best_isa"] else ("Haswell",):
            rb = subprocess.run([k, "bench", "encoder", "--model", f"{d}/m1", "--kg", "none", "--precision", "fp32"],
                                input=("\n".join(texts[:4]) + "\n").encode(), capture_output=True, timeout=300,
                                env={**os.environ, "OPENBLAS_CORETYPE": core})
            isa = json.loads(rb.stdout.decode().splitlines()[0])["isa"] if rb.returncode == 0 else rb.stderr.decode()[-300:]
            check(isa == f"fp32 via OpenBLAS {core}", f"bench encoder names OpenBLAS's kernels ({core}): {isa}")
        # auto without the suites' KBERT_PRECISION=fp32: bf16 (with its one-batch check logged) where
        # the CPU multiplies bfloat16 natively, else fp32; the same labels either way.
        env = {k2: v for k2, v in os.environ.items() if k2 != "KBERT_PRECISION"}
        ra = subprocess.run([k, "predict", "--model", f"{d}/m1", "--json"], input=("\n".join(texts) + "\n").encode(),
                            capture_output=True, env=env, timeout=300)
        native = cpu_env["auto_precision"]["inference"] == "bf16"
        logged = b"precision auto: bf16" in ra.stderr and b"one-batch check against fp32" in ra.stderr
        auto = [json.loads(x) for x in ra.stdout.decode().splitlines()]
        check(ra.returncode == 0 and logged == native and [x["label"] for x in auto] == [x["label"] for x in f32],
              f"auto: bf16 with its check logged exactly where bf16 is native ({native}): {ra.stderr.decode()[-300:]}")
        # Training from a model directory settles no inference precision on load (the loop has its
        # own): no auto check, no log line, even without the suites' override.
        rc = subprocess.run([k, "train", "--train", f"{d}/train.tsv", "--model", f"{d}/m1", "--out", f"{d}/cont",
                             "--epochs", "1", "--batch-size", "16", "--threads", "2", "--quiet", "--precision", "fp32"],
                            capture_output=True, env=env, timeout=300)
        check(rc.returncode == 0 and b"precision auto" not in rc.stderr,
              f"training from a model directory runs no inference-precision check: {rc.stderr.decode()[-300:]}")
        bad = run(base + ["--out", f"{d}/i8", "--precision", "int8"], ok=False)
        check(bad.returncode != 0 and b"int8 is for inference" in bad.stderr and not os.path.exists(f"{d}/i8"),
              "training in int8 is refused, nothing written")
        # Token-budget batching: the same predictions whatever the budget.
        tb = [json.loads(x) for x in run([k, "predict", "--model", f"{d}/m1", "--json", "--max-tokens", "40"],
                                         stdin="\n".join(texts) + "\n").stdout.splitlines()]
        check(all(x["label"] == y["label"] and max(abs(p - q) for p, q in zip(x["logits"], y["logits"])) < 1e-4
                  for x, y in zip(f32, tb)), "--max-tokens changes batches, not predictions")
        # A lexical side channel: trains, is saved and used by predict.
        rl = train(f"{d}/lex", "--lexical-buckets", "4096", epochs=2)
        spec = json.load(open(f"{d}/lex/kbert.json"))
        lex = [json.loads(x) for x in run([k, "predict", "--model", f"{d}/lex", "--json"], stdin="\n".join(texts) + "\n").stdout.splitlines()]
        gold = [line.split("\t", 1)[0] for line in list(open(f"{d}/dev.tsv"))[1:]]
        acc = sum(x["label"] == g for x, g in zip(lex, gold)) / len(gold)
        check(spec["lexical_buckets"] == 4096 and abs(acc - rl["dev"]["accuracy"]) < 1e-9 and acc >= 0.9,
              f"lexical side channel: dev accuracy {acc:.3f}, saved and used by predict")
        # --lexical-fit first: the side channel is fitted alone (IDF, L2, C chosen on dev), evaluated
        # as epoch 0, kept fixed here (learning rate 0), saved with its IDF and used by predict.
        lexf = ["--lexical-buckets", "4096", "--lexical-fit", "first", "--lexical-learning-rate", "0"]
        rf = run(base + ["--out", f"{d}/lexf", "--epochs", "2"] + lexf)
        rfj = json.loads(rf.stdout.decode().strip().split("\n")[-1])
        log = [json.loads(x) for x in open(f"{d}/lexf/train_log.jsonl")]
        check([e["epoch"] for e in log] == [0, 1, 2] and "dev" in log[0] and log[0]["dev"]["accuracy"] >= 0.9,
              f"lexical fit first: epoch 0 (the side channel alone) on dev: {log[0].get('dev', {}).get('accuracy')}")
        check(rfj["dev"]["accuracy"] == max(e["dev"]["accuracy"] for e in log), "the best epoch, 0 included, is kept")
        check(rfj.get("lexical_c") in (0.03, 0.1, 0.3, 1, 3), f"the C chosen on dev is reported: {rfj.get('lexical_c')}")
        header = open(f"{d}/lexf/model.safetensors", "rb").read()
        check(b'"lexical.idf"' in header[:int.from_bytes(header[:8], "little") + 8], "the IDF weights are saved")
        lexp = [json.loads(x) for x in run([k, "predict", "--model", f"{d}/lexf", "--json"],
                                           stdin="\n".join(texts) + "\n").stdout.splitlines()]
        acc = sum(x["label"] == g for x, g in zip(lexp, gold)) / len(gold)
        check(abs(acc - rfj["dev"]["accuracy"]) < 1e-9, f"predict reproduces the fitted model's dev accuracy ({acc})")
        # A model written before lexical.idf existed (the same file without it) still loads (its
        # IDF weights are then all 1: the joint side channel's features, as before).
        shutil.copytree(f"{d}/lexf", f"{d}/lexold")
        raw = open(f"{d}/lexf/model.safetensors", "rb").read()
        n = int.from_bytes(raw[:8], "little")
        head = json.loads(raw[8:8 + n])
        meta, data, out, pos = head.pop("__metadata__", None), raw[8 + n:], {}, 0
        chunks = []
        for name, t in sorted(head.items(), key=lambda kv: kv[1]["data_offsets"][0]):
            if name == "lexical.idf":
                continue
            b = data[t["data_offsets"][0]:t["data_offsets"][1]]
            out[name] = dict(t, data_offsets=[pos, pos + len(b)])
            chunks.append(b)
            pos += len(b)
        if meta is not None:
            out["__metadata__"] = meta
        h = json.dumps(out).encode()
        h += b" " * (-len(h) % 8)
        with open(f"{d}/lexold/model.safetensors", "wb") as f:
            f.write(struct.pack("<Q", len(h)) + h + b"".join(chunks))
        old = run([k, "predict", "--model", f"{d}/lexold", "--json"], stdin="\n".join(texts) + "\n", ok=False)
        check(old.returncode == 0, "a lexical model without lexical.idf loads: " + old.stderr.decode()[-300:])
        # Interrupted and resumed (the fit is made again, then the checkpoint's weights win): the same model.
        train(f"{d}/lexf2", *lexf[:4], epochs=2)
        train(f"{d}/lexf3", *lexf[:4], "--stop-after-steps", "5", epochs=2)
        train(f"{d}/lexf3", *lexf[:4], "--resume", epochs=2)
        same = open(f"{d}/lexf2/model.safetensors", "rb").read() == open(f"{d}/lexf3/model.safetensors", "rb").read()
        check(same, "lexical fit first: a resumed run ends with the straight run's model")
        bad = run(base + ["--out", f"{d}/bad", "--lexical-fit", "first"], ok=False)
        check(bad.returncode != 0 and b"--lexical-buckets" in bad.stderr, "--lexical-fit without a side channel: an error")
        # --epochs 0 without dev data: the fitted side channel alone (C given), written as the model;
        # its predictions are the fit's (the same C's fit evaluated as epoch 0 with dev data).
        c = str(rfj["lexical_c"])
        nodev = [x for x in base if x != f"{d}/dev.tsv" and x != "--dev"]
        r0 = json.loads(run(nodev + ["--out", f"{d}/lex0", "--epochs", "0", "--lexical-c", c] + lexf).stdout.decode()
                        .strip().split("\n")[-1])
        p0 = [json.loads(x)["label"] for x in run([k, "predict", "--model", f"{d}/lex0", "--json"],
                                                    stdin="\n".join(texts) + "\n").stdout.splitlines()]
        acc0 = sum(x == g for x, g in zip(p0, gold)) / len(gold)
        check(r0["epochs"] == 0 and r0["steps"] == 0 and abs(acc0 - log[0]["dev"]["accuracy"]) < 1e-9,
              f"--epochs 0 with the side channel fitted first: the fit alone (dev accuracy {acc0})")
        bad = run(nodev + ["--out", f"{d}/bad0", "--epochs", "0"], ok=False)
        check(bad.returncode == 1 and b"epochs must be positive" in bad.stderr and not os.path.exists(f"{d}/bad0"),
              "--epochs 0 without a fitted side channel is refused")
        # --lexical-knowledge: the side channel counts the objects of the facts the KG holds for the
        # text too: saved in kbert.json, used by predict (the dev accuracy again), a different model
        # from words alone; without a KG it is words alone, weight for weight.
        know = ["--lexical-buckets", "4096", "--lexical-fit", "first", "--lexical-learning-rate", "0", "--lexical-c", "1"]
        with open(f"{d}/toy.spo", "w") as f:  # HowNet has none of the toy's words
            f.write("酒店\t是\t住所\n早餐\t是\t食物\n前台\t属于\t酒店\n服务很差\t是\t差评\n非常满意\t是\t好评\n")
        kg_at = base.index("--kg") + 1
        toy_kg = base[:kg_at] + [f"{d}/toy.spo"] + base[kg_at + 1:]
        out_k = run(toy_kg + ["--out", f"{d}/lexk", "--epochs", "1", "--lexical-knowledge"] + know)
        rk = json.loads(out_k.stdout.decode().strip().split("\n")[-1])
        run(toy_kg + ["--out", f"{d}/lexw", "--epochs", "1"] + know)
        check(json.load(open(f"{d}/lexk/kbert.json")).get("lexical_knowledge") is True, "lexical_knowledge in kbert.json")

        def predict(model):
            out = run([k, "predict", "--model", model, "--json"], stdin="\n".join(texts) + "\n").stdout.splitlines()
            return [json.loads(x) for x in out]
        pk, pw = predict(f"{d}/lexk"), predict(f"{d}/lexw")
        acc = sum(x["label"] == g for x, g in zip(pk, gold)) / len(gold)
        check(abs(acc - rk["dev"]["accuracy"]) < 1e-9, f"predict reproduces the knowledge model's dev accuracy ({acc})")
        check(any(x["logits"] != y["logits"] for x, y in zip(pk, pw)), "the KG's facts change the side channel")
        # explain attributes the side channel too: a fact's probability without it is what predict
        # gives with the fact left out of the KG (out of the tree and of the side channel), 1e-5.
        toy_facts = open(f"{d}/toy.spo", encoding="utf-8").read().splitlines()
        with_facts = [t for t, x in zip(texts, pk) if x.get("injected")][:6]
        ex = [json.loads(x) for x in run([k, "explain", "--model", f"{d}/lexk", "--json"],
                                         stdin="".join(t + "\n" for t in with_facts)).stdout.splitlines()]
        compared = 0
        for t, e in zip(with_facts, ex):
            label = next(j for j, p in enumerate(e["probs"]) if p == e["prob"])
            triples = [(f["entity"], f["relation"], f["object"]) for f in e["facts"]]
            for fact in e["facts"]:
                # (a fact injected at two mentions has two branches: explain removes one, the
                # KG without the fact neither; only facts met once compare)
                if triples.count((fact["entity"], fact["relation"], fact["object"])) > 1:
                    continue
                line = f"{fact['entity']}\t{fact['relation']}\t{fact['object']}"
                with open(f"{d}/toy_cut.spo", "w", encoding="utf-8") as f:
                    f.write("".join(x + "\n" for x in toy_facts if x != line))
                again = json.loads(run([k, "predict", "--model", f"{d}/lexk", "--kg", f"{d}/toy_cut.spo", "--json"],
                                       stdin=t + "\n").stdout)
                compared += abs(again["probs"][label] - fact["prob_without"]) < 1e-5
                check(abs(again["probs"][label] - fact["prob_without"]) < 1e-5,
                      f"explain with the side channel: {line} {fact['prob_without']} vs {again['probs'][label]}")
        check(compared > 0, f"explain compared {compared} facts of a lexical-knowledge model")
        no_kg = base[:kg_at] + ["none"] + base[kg_at + 1:]
        run(no_kg + ["--out", f"{d}/lexk0", "--epochs", "1", "--lexical-knowledge"] + know)
        run(no_kg + ["--out", f"{d}/lexw0", "--epochs", "1"] + know)
        same = open(f"{d}/lexk0/model.safetensors", "rb").read() == open(f"{d}/lexw0/model.safetensors", "rb").read()
        check(same, "--lexical-knowledge without a KG: the words-only model")
        bad = run(base + ["--out", f"{d}/bad", "--lexical-knowledge"], ok=False)
        check(bad.returncode != 0 and b"--lexical-buckets" in bad.stderr, "--lexical-knowledge without a side channel: an error")
        # bf16 fine-tuning learns too.
        if bf16_ok:
            rb = train(f"{d}/b16", "--precision", "bf16", epochs=3)
            check(rb["final_loss"] < rb["first_loss"] and rb["dev"]["accuracy"] >= 0.8,
                  f"bf16 fine-tuning: loss {rb['first_loss']:.3f} -> {rb['final_loss']:.3f}, dev {rb['dev']['accuracy']}")
        else:
            rb = run(base + ["--out", f"{d}/b16", "--epochs", "1", "--precision", "bf16"], ok=False)
            check(rb.returncode != 0 and b"--precision bf16" in rb.stderr and not os.path.exists(f"{d}/b16"),
                  f"bf16 fine-tuning refused on this CPU, nothing written: {rb.stderr.decode()[-300:]}")

        # kbert eval agrees with the dev metrics and writes JSON.
        r = run([k, "eval", "--model", f"{d}/m1", "--data", f"{d}/dev.tsv", "--out", f"{d}/metrics.json"])
        m = json.load(open(f"{d}/metrics.json"))
        check(abs(m["accuracy"] - r1["dev"]["accuracy"]) < 1e-12 and "macro f1" not in r.stdout.decode()
              and "accuracy" in r.stdout.decode(), "eval prints a table and writes the same metrics")
        check(len(m["confusion"]) == 2 and sum(map(sum, m["confusion"])) == 100, "confusion matrix")

        # Ablations run.
        for extra in (["--no-visible-matrix"], ["--no-soft-position"]):
            rx = train(f"{d}/abl", *extra, epochs=1)
            check(rx["epochs"] == 1, f"ablation {extra[0]} runs")
            spec = json.load(open(f"{d}/abl/kbert.json"))
            check(spec["use_visible_matrix"] == ("--no-visible-matrix" not in extra), f"{extra[0]} recorded in kbert.json")
        # Class weights: on skewed data the balanced loss differs from the plain one (same seed,
        # same batches), and a bad value is an error naming it.
        rows = list(open(f"{d}/train.tsv"))
        with open(f"{d}/skewed.tsv", "w") as f:
            f.write(rows[0])
            f.writelines(r for i, r in enumerate(rows[1:]) if r.startswith("1") or i % 4 == 0)
        skewed = [k, "train", "--train", f"{d}/skewed.tsv"] + base[4:] + ["--epochs", "1"]
        plain = json.loads(run(skewed + ["--out", f"{d}/sk0"]).stdout.decode().strip().split("\n")[-1])
        weighted = json.loads(run(skewed + ["--out", f"{d}/sk1", "--class-weights", "balanced"]).stdout.decode()
                              .strip().split("\n")[-1])
        check(abs(plain["first_loss"] - weighted["first_loss"]) > 1e-4,
              f"balanced class weights change the loss: {plain['first_loss']} vs {weighted['first_loss']}")
        r = run(skewed + ["--out", f"{d}/sk2", "--class-weights", "inverse"], ok=False)
        check(r.returncode == 2 and b"inverse" in r.stderr and b"--class-weights" in r.stderr,
              "a bad --class-weights value is a usage error naming it")
        rn = run(base[:base.index("--kg")] + ["--kg", "none"] + base[base.index("--kg") + 2:] + ["--out", f"{d}/nokg", "--epochs", "1"])
        check(json.load(open(f"{d}/nokg/kbert.json"))["kg"] == [], "--kg none trains without knowledge")

        # Pre-training: the MLM loss falls; the result is an encoder that fine-tuning starts from.
        with open(f"{d}/corpus.txt", "w") as f:
            for line in list(open(f"{d}/train.tsv"))[1:] * 3:
                f.write(line.split("\t", 1)[1])
        rp = json.loads(run([k, "pretrain", "--corpus", f"{d}/corpus.txt", "--config", f"{d}/config.json", "--vocab",
                             os.path.join(a.data, "google_vocab.txt"), "--kg", os.path.join(a.data, "HowNet.spo"),
                             "--out", f"{d}/pre", "--epochs", "3", "--batch-size", "32", "--learning-rate", "2e-3",
                             "--max-length", "48", "--seed", "3", "--threads", "2", "--quiet"]).stdout.decode().strip().split("\n")[-1])
        check(rp["final_loss"] < rp["first_loss"] / 1.5, f"MLM loss falls: {rp['first_loss']:.2f} -> {rp['final_loss']:.2f}")
        check(json.load(open(f"{d}/pre/kbert.json"))["head"] == "none", "pre-training writes an encoder")
        # Pre-training runs on the fine-tuning loop: stopped after 10 steps and resumed, it ends
        # with the same encoder, byte for byte; bf16 runs too.
        pre = [k, "pretrain", "--corpus", f"{d}/corpus.txt", "--config", f"{d}/config.json", "--vocab",
               os.path.join(a.data, "google_vocab.txt"), "--epochs", "2", "--batch-size", "32", "--learning-rate", "2e-3",
               "--max-length", "48", "--seed", "3", "--threads", "2", "--quiet"]
        run(pre + ["--out", f"{d}/pa"])
        ri = json.loads(run(pre + ["--out", f"{d}/pb", "--stop-after-steps", "10"]).stdout.decode().strip().split("\n")[-1])
        run(pre + ["--out", f"{d}/pb", "--resume"])
        check(ri["interrupted"] and open(f"{d}/pa/model.safetensors", "rb").read() == open(f"{d}/pb/model.safetensors", "rb").read(),
              "pre-training stopped and resumed ends as the straight run")
        reference = open(f"{d}/pa/model.safetensors", "rb").read()
        # SIGTERM: a checkpoint after the current step, exit 128 + 15; --resume ends as the straight run.
        p = subprocess.Popen(pre + ["--out", f"{d}/pd"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        wait_for(lambda: os.path.exists(f"{d}/pd.lock") or p.poll() is not None)
        p.send_signal(signal.SIGTERM)
        out, err = p.communicate(timeout=300)
        rs = json.loads(out.decode().strip().split("\n")[-1]) if out.strip() else {}
        check(p.returncode == 128 + signal.SIGTERM and rs.get("interrupted") and
              os.path.exists(f"{d}/pd.checkpoint/state.json"), f"SIGTERM stops with a checkpoint (exit {p.returncode})")
        run(pre + ["--out", f"{d}/pd", "--resume"])
        check(open(f"{d}/pd/model.safetensors", "rb").read() == reference, "stopped by SIGTERM and resumed: the same encoder")
        # Killed outright after a periodic checkpoint (--checkpoint-every): resumed, the same encoder.
        p = subprocess.Popen(pre + ["--out", f"{d}/pe", "--checkpoint-every", "5"], stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
        wait_for(lambda: os.path.exists(f"{d}/pe.checkpoint/state.json") or p.poll() is not None)
        p.kill()
        p.wait()
        step = json.load(open(f"{d}/pe.checkpoint/state.json"))["step"] if os.path.exists(f"{d}/pe.checkpoint/state.json") else 0
        check(p.returncode == -signal.SIGKILL and step == 5, f"a checkpoint every 5 steps (killed at step {step})")
        run(pre + ["--out", f"{d}/pe", "--resume"])
        check(open(f"{d}/pe/model.safetensors", "rb").read() == reference, "killed after a periodic checkpoint and resumed: the same encoder")
        if bf16_ok:
            rb = json.loads(run(pre + ["--out", f"{d}/pc", "--precision", "bf16"]).stdout.decode().strip().split("\n")[-1])
            check(rb["final_loss"] < rb["first_loss"], f"bf16 pre-training: loss {rb['first_loss']:.2f} -> {rb['final_loss']:.2f}")
        else:
            rb = run(pre + ["--out", f"{d}/pc", "--precision", "bf16"], ok=False)
            check(rb.returncode != 0 and b"--precision bf16" in rb.stderr, "bf16 pre-training refused on this CPU")
        # ELECTRA: the combined loss falls; the output is an encoder (the generator and the
        # heads stay in the checkpoint); stopped and resumed, it ends as the straight run.
        el = pre + ["--objective", "electra", "--generator-layers", "1"]
        re_ = json.loads(run(el + ["--out", f"{d}/ea"]).stdout.decode().strip().split("\n")[-1])
        check(re_["final_loss"] < re_["first_loss"] / 1.5,
              f"ELECTRA loss falls: {re_['first_loss']:.2f} -> {re_['final_loss']:.2f}")
        check(json.load(open(f"{d}/ea/kbert.json"))["head"] == "none", "ELECTRA pre-training writes an encoder")
        check(open(f"{d}/ea/model.safetensors", "rb").read() != reference, "ELECTRA trains another encoder than MLM")
        ri = json.loads(run(el + ["--out", f"{d}/eb", "--stop-after-steps", "7"]).stdout.decode().strip().split("\n")[-1])
        with open(f"{d}/eb.checkpoint/aux.safetensors", "rb") as f:
            header = json.loads(f.read(int.from_bytes(f.read(8), "little")))
        check(any(n.startswith("generator0.") for n in header) and "detect_out.weight" in header,
              f"the generator and the detection head are in the checkpoint: {sorted(header)[:4]}")
        run(el + ["--out", f"{d}/eb", "--resume"])
        check(ri["interrupted"] and open(f"{d}/ea/model.safetensors", "rb").read() == open(f"{d}/eb/model.safetensors", "rb").read(),
              "ELECTRA stopped and resumed ends as the straight run")
        run(pre + ["--out", f"{d}/pf", "--stop-after-steps", "3"])
        r = run(el + ["--out", f"{d}/pf", "--resume"], ok=False)
        check(r.returncode == 1 and b"electra" in r.stderr, f"ELECTRA does not resume an MLM run's checkpoint: {r.stderr[-300:]}")
        r = run(pre + ["--out", f"{d}/ec", "--objective", "rtd"], ok=False)
        check(r.returncode == 2 and b"rtd" in r.stderr, "a bad --objective is a usage error naming it")
        r = run(pre + ["--out", f"{d}/ec", "--generator-layers", "2"], ok=False)
        check(r.returncode == 2 and b"electra" in r.stderr, "--generator-layers without --objective electra is refused")
        rf = json.loads(run([k, "train", "--train", f"{d}/train.tsv", "--dev", f"{d}/dev.tsv", "--model", f"{d}/pre",
                             "--out", f"{d}/ft", "--epochs", "1", "--batch-size", "16", "--quiet", "--threads", "2"])
                        .stdout.decode().strip().split("\n")[-1])
        check(rf["epochs"] == 1 and json.load(open(f"{d}/ft/kbert.json"))["head"] == "kbert", "fine-tuning starts from it")
        # Tree options given with --model apply to the fine-tuned model (they were once ignored).
        run([k, "train", "--train", f"{d}/train.tsv", "--model", f"{d}/pre", "--out", f"{d}/ft2", "--epochs", "1",
             "--batch-size", "16", "--quiet", "--threads", "2", "--predicate", "--max-entities", "1",
             "--max-length", "40", "--truncation", "trunk-first"])
        tree = json.load(open(f"{d}/ft2/kbert.json"))["tree"]
        check(tree["predicate"] is True and tree["max_entities"] == 1 and tree["max_length"] == 40 and
              tree["truncation"] == "trunk_first", f"--model with tree options: {tree}")
        r = run([k, "train", "--train", f"{d}/train.tsv", "--model", f"{d}/pre", "--out", f"{d}/ft3",
                 "--kg", os.path.join(a.data, "HowNet.spo"), "--kg", os.path.join(a.data, "Medical.spo")], ok=False)
        check(r.returncode == 1 and b"one KG file" in r.stderr, "--model with two --kg files is refused, not half used")

        # A bad row names the file and the row.
        with open(f"{d}/bad.tsv", "w") as f:
            f.write("label\ttext_a\n1\tgood\n\tno label\n")
        r = run(base[:1] + ["train", "--train", f"{d}/bad.tsv"] + base[4:] + ["--out", f"{d}/bad"], ok=False)
        check(r.returncode == 1 and f"{d}/bad.tsv:3".encode() in r.stderr, "bad row reported with file and row")
        r = run([k, "eval", "--model", f"{d}/m1", "--data", f"{d}/missing.tsv"], ok=False)
        check(r.returncode == 1 and b"missing.tsv" in r.stderr, "missing data file reported")
    if FAILED:
        raise SystemExit(f"{len(FAILED)} training check(s) failed")
    print("train: all checks passed")


if __name__ == "__main__":
    main()
