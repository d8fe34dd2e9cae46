#!/usr/bin/python3
"""Reliability through the kbert CLI, one check per case of the reliability issue:
outputs never destroy what kbert did not write; a run killed at each step of replacing a
model leaves a complete model and resumes; one writer per output; --resume refuses other
data or settings; crafted checkpoints and model directories fail with a clear error (no
crash, no reads outside the directory); limits on absurd settings; one input line never
changes another's result; errors that name the file, line or value.

    check_reliability.py --kbert build/apps/kbert --data data/kbert
"""
import argparse
import io
import json
import os
import shutil
import signal
import struct
import subprocess
import tempfile
import time
import zipfile

FAILED = []


def check(cond, what):
    print(("ok:   " if cond else "FAIL: ") + what)
    if not cond:
        FAILED.append(what)


def run(cmd, stdin="", env=None, timeout=300):
    e = dict(os.environ)
    e.update(env or {})
    return subprocess.run(cmd, input=stdin.encode(), capture_output=True, timeout=timeout, env=e)


def err(r):
    return r.stderr.decode(errors="replace")


def clean_fail(r, *words):
    """Exit 1 or 2 with a message holding every word, and no C++ or LibTorch stack trace."""
    e = err(r)
    return r.returncode in (1, 2) and all(w in e for w in words) and "Exception raised from" not in e \
        and "frame #" not in e and "terminate called" not in e


def with_opt(cmd, opt, value):
    """cmd with option `opt` set to `value` (replaced when present, added otherwise)."""
    cmd = list(cmd)
    if opt in cmd:
        cmd[cmd.index(opt) + 1] = value
    else:
        cmd += [opt, value]
    return cmd


def make_toy(d):
    pos = ["服务很好", "非常满意", "干净舒适"]
    neg = ["服务很差", "非常失望", "又脏又吵"]
    with open(os.path.join(d, "train.tsv"), "w") as f:
        f.write("label\ttext_a\n")
        for i in range(48):
            y = i % 2
            f.write(f"{y}\t酒店{(pos if y else neg)[i % 3]}\n")
    shutil.copy(os.path.join(d, "train.tsv"), os.path.join(d, "dev.tsv"))
    with open(os.path.join(d, "config.json"), "w") as f:
        json.dump({"emb_size": 16, "feedforward_size": 32, "hidden_size": 16, "heads_num": 2, "layers_num": 1,
                   "dropout": 0.0}, f)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--kbert", required=True)
    ap.add_argument("--data", required=True)
    a = ap.parse_args()
    k = a.kbert
    vocab = os.path.join(a.data, "google_vocab.txt")
    hownet = os.path.join(a.data, "HowNet.spo")
    with tempfile.TemporaryDirectory() as d:
        make_toy(d)
        base = [k, "train", "--train", f"{d}/train.tsv", "--dev", f"{d}/dev.tsv", "--config", f"{d}/config.json",
                "--vocab", vocab, "--kg", hownet, "--max-length", "16", "--batch-size", "8", "--learning-rate", "1e-3",
                "--seed", "3", "--threads", "1", "--quiet"]

        def train(out, *extra, epochs=3, env=None):
            return run(base + ["--out", out, "--epochs", str(epochs)] + list(extra), env=env)

        # 1. Data loss: --out never destroys what kbert did not write.
        os.makedirs(f"{d}/mine")
        for name, text in (("notes.txt", "precious"), ("train.tsv", "label\ttext_a\n")):
            open(f"{d}/mine/{name}", "w").write(text)
        r = train(f"{d}/mine")
        check(clean_fail(r, f"{d}/mine", "not a kbert model directory") and
              sorted(os.listdir(f"{d}/mine")) == ["notes.txt", "train.tsv"] and
              open(f"{d}/mine/notes.txt").read() == "precious", "--out DIR holding a user's files is refused, files kept")
        open(f"{d}/afile", "w").write("data")
        r = train(f"{d}/afile")
        check(clean_fail(r, "afile", "not a directory") and open(f"{d}/afile").read() == "data",
              "--out naming a regular file is refused, the file kept")
        before = sorted(os.listdir("/"))
        r = train("/")
        check(clean_fail(r, "cannot be an output directory") and sorted(os.listdir("/")) == before,
              "--out / is refused and leaves nothing in /")
        r = train(f"{d}/m1")
        check(r.returncode == 0, "training into a new directory")
        r = train(f"{d}/m1")
        check(r.returncode == 0 and sorted(os.listdir(d)).count("m1") == 1 and
              not any(".kbert-" in n or n.endswith(".lock") for n in os.listdir(d)),
              "a kbert model directory is replaced, nothing left beside it")
        open(f"{d}/m1/notes.txt", "w").write("mine")
        r = train(f"{d}/m1")
        check(clean_fail(r, "notes.txt") and os.path.exists(f"{d}/m1/notes.txt"),
              "a model directory holding a user's file is refused")
        os.remove(f"{d}/m1/notes.txt")
        r = run([k, "pretrain", "--corpus", f"{d}/train.tsv", "--config", f"{d}/config.json", "--vocab", vocab,
                 "--out", f"{d}/mine", "--epochs", "1", "--quiet"])
        check(clean_fail(r, "not a kbert model directory") and os.path.exists(f"{d}/mine/notes.txt"),
              "kbert pretrain refuses a user's directory too")

        # 2. Kills at each step of a replacement: --out always holds a complete model, and
        #    --resume finishes exactly as a run that was never stopped.
        straight = open(f"{d}/m1/model.safetensors", "rb").read()
        # The output holds an earlier model; per epoch the model is replaced when dev improves
        # (epoch 1 always), then the checkpoint (new in epoch 1, swapped after): at least 4
        # "written" and 3 "swapped" steps in 3 epochs.
        for point in ("replace:written@1", "replace:swapped@1", "replace:written@2", "replace:written@4",
                      "replace:swapped@2", "replace:swapped@3"):
            out = f"{d}/kill"
            shutil.rmtree(out, ignore_errors=True)
            shutil.rmtree(out + ".checkpoint", ignore_errors=True)
            shutil.copytree(f"{d}/m1", out)
            r = train(out, env={"KBERT_FAULT_POINT": point})
            killed = r.returncode == -signal.SIGKILL
            complete = run([k, "predict", "--model", out], "酒店服务很好\n").returncode == 0
            rr = train(out, "--resume")
            left = [n for n in os.listdir(d) if n.startswith("kill.") and n != "kill.checkpoint"]
            same = rr.returncode == 0 and open(f"{out}/model.safetensors", "rb").read() == straight
            check(killed and complete and same and not left and not os.path.exists(out + ".checkpoint"),
                  f"killed at {point}: a complete model stays; --resume ends as the straight run; nothing left over")

        # 3. One writer per output.
        slow = base + ["--out", f"{d}/busy", "--epochs", "200"]
        p1 = subprocess.Popen(slow, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for _ in range(300):
            if os.path.exists(f"{d}/busy.lock"):
                break
            time.sleep(0.1)
        r = train(f"{d}/busy", epochs=1)
        p1.kill()
        p1.wait()
        check(clean_fail(r, "another kbert process", "busy"), "a second run on the same --out is refused")

        # 4. --resume refuses a checkpoint made with other data or settings.
        r = train(f"{d}/res", "--stop-after-steps", "2")
        check(r.returncode == 0 and os.path.exists(f"{d}/res.checkpoint/state.json"), "an interrupted run leaves a checkpoint")
        r = run(with_opt(base, "--learning-rate", "2e-3") + ["--out", f"{d}/res", "--epochs", "3", "--resume"])
        check(clean_fail(r, "learning_rate was 0.001, now 0.002"), "--resume with another learning rate is refused")
        r = run(with_opt(base, "--batch-size", "4") + ["--out", f"{d}/res", "--epochs", "3", "--resume"])
        check(clean_fail(r, "batch_size was 8, now 4"), "--resume with another batch size is refused")
        open(f"{d}/train2.tsv", "w").write(open(f"{d}/train.tsv").read() + "1\t酒店非常满意了\n")
        cmd = list(base)
        cmd[cmd.index(f"{d}/train.tsv")] = f"{d}/train2.tsv"
        r = run(cmd + ["--out", f"{d}/res", "--epochs", "3", "--resume"])
        check(clean_fail(r, "train was"), "--resume with other training data is refused")
        r = train(f"{d}/res", "--resume")
        check(r.returncode == 0, "--resume with the same settings finishes")

        # 4b. A tampered state.json: every value range-checked, the error names the file and the field.
        r = train(f"{d}/st", "--stop-after-steps", "2")
        state = f"{d}/st.checkpoint/state.json"
        good = json.load(open(state))
        for field, value, words in (("epoch", 10 ** 9, ["'epoch' is 1000000000, past this run's 3"]),
                                    ("batch", 10 ** 15, ["'batch' is 1000000000000000"]),
                                    ("step", -5, ["'step' must be a whole number"]),
                                    ("step", 5, ["'step' is 5, but epoch 0 and batch 2 mean step 2"]),
                                    ("best", "x", ["'best' must be a number"]),
                                    ("best_epoch", 2, ["'best_epoch' is 2, past this run's 0"]),
                                    ("log", 5, ["'log' must be a list"])):
            bad = dict(good)
            bad[field] = value
            json.dump(bad, open(state, "w"))
            r = train(f"{d}/st", "--resume")
            check(clean_fail(r, "state.json", *words), f"state.json with {field} = {value!r} is refused, naming the field")
        json.dump(good, open(state, "w"))

        # 4c. A tampered optimizer state: read by the bounded safetensors reader, checked
        # against each parameter; never LibTorch's loader.
        opt = f"{d}/st.checkpoint/optimizer.safetensors"
        orig = open(opt, "rb").read()
        n = struct.unpack("<Q", orig[:8])[0]
        header = json.loads(orig[8:8 + n])
        data = bytearray(orig[8 + n:])

        def write_opt(hdr, body):
            h = json.dumps(hdr).encode()
            h += b" " * ((8 - (8 + len(h)) % 8) % 8)
            open(opt, "wb").write(struct.pack("<Q", len(h)) + h + bytes(body))

        first = next(name for name in header if name.endswith(".exp_avg"))
        steps = [name for name in header if name.endswith(".step")]
        cases = []
        hdr = json.loads(json.dumps(header))
        hdr[first]["shape"] = [hdr[first]["shape"][0] * 2] + hdr[first]["shape"][1:]
        cases.append(("a moment with another shape", hdr, data, ["optimizer.safetensors"]))
        body = bytearray(data)
        b0 = header[first]["data_offsets"][0]
        body[b0:b0 + 4] = struct.pack("<f", float("nan"))
        cases.append(("a NaN moment", header, body, ["optimizer.safetensors", "NaN"]))
        body = bytearray(data)
        b0 = header[steps[0]]["data_offsets"][0]
        body[b0:b0 + 8] = struct.pack("<q", -5)
        cases.append(("a step of -5", header, body, ["optimizer.safetensors", "step"]))
        body[b0:b0 + 8] = struct.pack("<q", 10 ** 15)
        cases.append(("a step of 10^15", header, body, ["optimizer.safetensors", "step"]))
        hdr = json.loads(json.dumps(header))
        hdr["99.0.exp_avg"] = dict(header[first])
        cases.append(("state of a parameter the model lacks", hdr, data, ["optimizer.safetensors"]))
        for what, hdr, body, words in cases:
            write_opt(hdr, body)
            r = train(f"{d}/st", "--resume")
            check(clean_fail(r, *words), f"optimizer state with {what} is refused, naming the file")
        for what, blob in (("cut in half", orig[:len(orig) // 2]), ("random bytes", os.urandom(4096)),
                           ("a zip archive", b"PK\x03\x04" + os.urandom(200))):
            open(opt, "wb").write(blob)
            r = train(f"{d}/st", "--resume")
            check(clean_fail(r, "optimizer.safetensors"), f"optimizer state {what} is refused, naming the file")
        os.remove(opt)
        open(f"{d}/st.checkpoint/optimizer.pt", "wb").write(b"PK\x03\x04" + os.urandom(100))
        r = train(f"{d}/st", "--resume")
        check(clean_fail(r, "optimizer.pt", "older kbert"), "an older checkpoint's optimizer.pt is not read")
        os.remove(f"{d}/st.checkpoint/optimizer.pt")
        open(opt, "wb").write(orig)
        r = train(f"{d}/st", "--resume")
        check(r.returncode == 0, "the untouched state.json resumes")

        # 5. Crafted checkpoints: a clear error, never a crash.
        m = f"{d}/m1"
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w") as z:
            z.writestr("archive/data.pkl", b"\x80\x02}q\x00.")
        crafted = f"{d}/zipped"
        shutil.copytree(m, crafted)
        open(f"{crafted}/model.safetensors", "wb").write(buf.getvalue())
        r = run([k, "predict", "--model", crafted], "酒店\n")
        check(clean_fail(r, "model.safetensors", "zip archive"), "a zip named model.safetensors is refused, not sniffed")
        py = run(["/usr/bin/python3", "-c", f"import kbert\ntry:\n kbert.Model.load({crafted!r})\nexcept ValueError as e:\n print('VE', e)"],
                 env={"PYTHONPATH": os.environ.get("KBERT_PYTHONPATH", "")})
        check(py.returncode == 0 and b"VE" in py.stdout, "Python: kbert.Model.load raises ValueError on it")
        os.remove(f"{crafted}/model.safetensors")
        os.makedirs(f"{crafted}/model.safetensors")
        r = run([k, "predict", "--model", crafted], "酒店\n")
        check(clean_fail(r, "model.safetensors") and "18446744" not in err(r),
              "a directory named model.safetensors is refused with a clear error")
        hf = f"{d}/hf"
        os.makedirs(hf)
        json.dump({"vocab_size": 21128, "hidden_size": 16, "num_hidden_layers": 1, "num_attention_heads": 2,
                   "intermediate_size": 32}, open(f"{hf}/config.json", "w"))
        shutil.copy(vocab, f"{hf}/vocab.txt")
        # torch.save layout: archive/data.pkl calling _rebuild_tensor_v2 with None for its arguments.
        with zipfile.ZipFile(f"{hf}/pytorch_model.bin", "w") as z:
            z.writestr("archive/data.pkl", b"\x80\x02}(X\x01\x00\x00\x00wctorch._utils\n_rebuild_tensor_v2\nNRu.")
            z.writestr("archive/version", "3\n")
        r = run([k, "import-hf", "--from", hf, "--out", f"{d}/hf_out"])
        check(clean_fail(r, "pytorch_model.bin", "not a tuple") and not os.path.exists(f"{d}/hf_out"),
              "a pickle calling _rebuild_tensor_v2 with None: a clear error, nothing written")

        # 6. Model directories are untrusted: every path stays inside.
        os.makedirs(f"{d}/secret")
        open(f"{d}/secret/notes.txt", "w").write("secret\tis\tleaked\n")

        def with_spec(name, edit, setup=None):
            target = f"{d}/{name}"
            shutil.rmtree(target, ignore_errors=True)
            shutil.copytree(m, target)
            spec = json.load(open(f"{target}/kbert.json"))
            edit(spec)
            json.dump(spec, open(f"{target}/kbert.json", "w"))
            if setup:
                setup(target)
            return run([k, "predict", "--model", target, "--json"], "secret\n")

        r = with_spec("trav", lambda s: s.update(kg=["../secret/notes.txt"]))
        check(clean_fail(r, "kbert.json", "..") and b"leaked" not in r.stdout, "kg \"../secret/notes.txt\" is refused")
        r = with_spec("abs", lambda s: s.update(kg=["/etc/passwd"]))
        check(clean_fail(r, "absolute"), "kg \"/etc/passwd\" is refused")
        r = with_spec("absvocab", lambda s: s["tokenizer"].update(vocab="/etc/passwd"))
        check(clean_fail(r, "tokenizer.vocab", "absolute"), "tokenizer.vocab \"/etc/passwd\" is refused")
        r = with_spec("link", lambda s: s.update(kg=["kg/notes.txt"]),
                      lambda t: os.symlink(f"{d}/secret/notes.txt", f"{t}/kg/notes.txt"))
        check(clean_fail(r, "leads out") and b"leaked" not in r.stdout, "a symbolic link leading out is refused")
        r = with_spec("fifo", lambda s: s.update(kg=["kg/pipe"]), lambda t: os.mkfifo(f"{t}/kg/pipe"))
        check(clean_fail(r, "not a regular file"), "a FIFO is refused (not read)")
        r = with_spec("zero", lambda s: s.update(kg=["kg/zero"]), lambda t: os.symlink("/dev/zero", f"{t}/kg/zero"))
        check(clean_fail(r, "kg/zero"), "/dev/zero through a link is refused")

        # Every field validated.
        for name, edit, word in (
                ("ln", None, "kbert_layer_norm"),
                ("seg", lambda s: s.update(segments="bogus"), "segments"),
                ("ver", lambda s: s.update(version=99), "version"),
                ("dup", lambda s: s.update(labels=["0", "0"]), "twice"),
                ("ml", lambda s: s["tree"].update(max_length=-1), "tree.max_length"),
                ("head", lambda s: s.update(head="bogus"), "head"),
                ("pool", lambda s: s.update(pooling="median"), "pooling"),
                ("trunc", lambda s: s["tree"].update(truncation="bogus"), "tree.truncation")):
            if edit is None:
                def setup(t):
                    c = json.load(open(f"{t}/config.json"))
                    c["kbert_layer_norm"] = "bogus"
                    json.dump(c, open(f"{t}/config.json", "w"))
                r = with_spec(name, lambda s: None, setup)
            else:
                r = with_spec(name, edit)
            check(clean_fail(r, word), f"a bad value is refused naming {word}")
        for key, value, word in (("hidden_size", 32.5, "hidden_size"), ("num_hidden_layers", 1000000000, "num_layers"),
                                 ("vocab_size", 10 ** 12, "vocab_size")):
            def setup(t, key=key, value=value):
                c = json.load(open(f"{t}/config.json"))
                c[key] = value
                json.dump(c, open(f"{t}/config.json", "w"))
            r = with_spec("cfg_" + key, lambda s: None, setup)
            check(clean_fail(r, "config.json", word), f"config.json {key}: {value} is refused")

        def big_config(t):
            c = json.load(open(f"{t}/config.json"))
            c["num_hidden_layers"] = 200
            c["hidden_size"] = 4096
            c["num_attention_heads"] = 16
            json.dump(c, open(f"{t}/config.json", "w"))
        r = with_spec("cfg_big", lambda s: None, big_config)
        check(clean_fail(r, "does not belong to these weights"), "a config far larger than its weights is refused unallocated")

        # NaN weights: refused at load, naming the tensor.
        nan = f"{d}/nan"
        shutil.copytree(m, nan)
        raw = bytearray(open(f"{nan}/model.safetensors", "rb").read())
        hlen = int.from_bytes(raw[:8], "little")
        header = json.loads(raw[8:8 + hlen])
        name, info = next((n, v) for n, v in header.items() if n.endswith("output.dense.bias"))
        off = 8 + hlen + info["data_offsets"][0]
        raw[off:off + 4] = b"\x00\x00\xc0\x7f"  # float32 NaN
        open(f"{nan}/model.safetensors", "wb").write(bytes(raw))
        r = run([k, "predict", "--model", nan], "酒店服务很好\n")
        check(clean_fail(r, name, "NaN") and not r.stdout.strip(), "NaN weights: an error naming the tensor, no label")

        # 7. Limits.
        t0 = time.time()
        r = run([k, "tree", "--kg", hownet, "--tokenizer", "char", "--max-length", "100000"], "很" * 50000 + "\n")
        check(clean_fail(r, "--max-length", "8192") and r.returncode == 2 and time.time() - t0 < 60,
              "tree --max-length 100000 is refused at once")
        r = run([k, "predict", "--model", m, "--threads", "100000"], "x\n")
        check(clean_fail(r, "--threads", "256") and r.returncode == 2, "--threads 100000 is a usage error")
        r = run([k, "tree", "--kg", hownet, "--tokenizer", "char", "--max-entities", "1000000"], "x\n")
        check(clean_fail(r, "--max-entities", "4096") and r.returncode == 2, "--max-entities 1000000 is refused")
        with open(f"{d}/many.spo", "w") as f:
            for i in range(80000):
                f.write(f"设备\t关系\t对象{i}\n")
        t0 = time.time()
        r = run([k, "tree", "--kg", f"{d}/many.spo", "--tokenizer", "char", "--max-entities", "4096",
                 "--max-length", "8192"], "设备坏了\n" * 3)
        took = time.time() - t0
        check(r.returncode == 0 and took < 60, f"4096 facts of an entity with 80,000: {took:.1f} s for 3 texts")

        # 8. Every input line on its own.
        one = run([k, "predict", "--model", m, "--json"], "酒店服务\t很好\n")
        mixed = run([k, "predict", "--model", m, "--json"], "酒店服务\t很好\n酒店\t\t服务很差\n另一个\n")
        check(one.returncode == 0 and mixed.returncode == 0 and
              json.loads(one.stdout.splitlines()[0]) == json.loads(mixed.stdout.splitlines()[0]),
              "a text's prediction does not depend on the other lines (TABs are text without --pairs)")
        r = run([k, "predict", "--model", m, "--pairs"], "a\tb\nno tab here\n")
        check(clean_fail(r, "<stdin>:2", "TAB"), "--pairs: a line without a TAB is an error naming it")

        # 9. Errors that help.
        open(f"{d}/test_bad.tsv", "w").write("label\ttext_a\n0\t好\n\n7\t坏\n")
        t0 = time.time()
        r = run(base + ["--out", f"{d}/lab", "--epochs", "50", "--test", f"{d}/test_bad.tsv"])
        check(clean_fail(r, f"{d}/test_bad.tsv:4", "'7'") and time.time() - t0 < 60 and not os.path.exists(f"{d}/lab"),
              "an unknown label in --test is found before training, with its line")
        # (usage errors from the option table's ranges, naming the option and the value)
        for opt, value, word in (("--learning-rate", "-1", "--learning-rate"), ("--learning-rate", "nan", "'nan'"),
                                 ("--warmup", "2", "--warmup"), ("--warmup", "-1", "--warmup"),
                                 ("--weight-decay", "-0.5", "--weight-decay")):
            r = run(with_opt(base, opt, value) + ["--out", f"{d}/opt", "--epochs", "1"])
            check(clean_fail(r, word) and not os.path.exists(f"{d}/opt"), f"{opt} {value} is refused")
        open(f"{d}/extra.tsv", "w").write("label\ttext_a\n0\t好\n1\t坏\t多余\n")
        cmd = list(base)
        cmd[cmd.index(f"{d}/train.tsv")] = f"{d}/extra.tsv"
        r = run(cmd + ["--out", f"{d}/extra"])
        check(clean_fail(r, f"{d}/extra.tsv:3", "3"), "an extra TAB field in a data row is an error naming the row")
        open(f"{d}/bom.spo", "wb").write("\ufeff苹果\t是\t水果\n".encode())
        r = run([k, "tree", "--kg", f"{d}/bom.spo", "--tokenizer", "char"], "苹果\n")
        check(r.returncode == 0 and json.loads(r.stdout)["injected"][0]["entity"] == "苹果",
              "a BOM before the first subject is dropped")
        r = subprocess.run([k, "tree", "--kg", hownet, "--tokenizer", "char", "--add-special"], input=b"ab\xffcd\n",
                           capture_output=True)
        check(b"byte 2 of text" in r.stdout, "invalid UTF-8 offsets count from the text, not from [CLS]")

        # Edges: out-of-range settings are refused, an output never replaces an input.
        for value in ("1000000", "0", "abc"):
            r = run([k, "predict", "--model", f"{d}/m1"], "酒店\n", env={"KBERT_NUM_THREADS": value})
            check(clean_fail(r, "KBERT_NUM_THREADS", value), f"KBERT_NUM_THREADS={value} is refused, naming it")
        shutil.copy(f"{d}/bom.spo", f"{d}/same.spo")
        before = open(f"{d}/same.spo", "rb").read()
        os.symlink(f"{d}/same.spo", f"{d}/same_link.kbkg")
        for out in (f"{d}/same.spo", f"{d}/same_link.kbkg"):
            r = run([k, "kg", "compile", "--kg", f"{d}/same.spo", "--out", out])
            check(clean_fail(r, "is the input file") and open(f"{d}/same.spo", "rb").read() == before,
                  f"kg compile --out {os.path.basename(out)} (its own input) is refused; the input is unchanged")
        open(f"{d}/precious.txt", "w").write("precious")
        os.symlink(f"{d}/precious.txt", f"{d}/ix.kbix")
        r = run([k, "index", "--model", f"{d}/m1", "--corpus", f"{d}/train.tsv", "--out", f"{d}/ix.kbix"])
        check(clean_fail(r, "symbolic link") and open(f"{d}/precious.txt").read() == "precious",
              "index --out that is a symbolic link is refused; the file it names is unchanged")
        # The launcher's ranks die with it, even when it is killed with SIGKILL.
        launcher = subprocess.Popen(base + ["--out", f"{d}/ranks", "--epochs", "500", "--nproc", "2"],
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

        def ranks_of(pid):
            out = []
            for p in os.listdir("/proc"):
                if p.isdigit():
                    try:
                        if int(open(f"/proc/{p}/stat").read().rsplit(")", 1)[1].split()[1]) == pid:
                            out.append(int(p))
                    except (OSError, IndexError, ValueError):
                        pass
            return out

        t0 = time.time()
        while len(ranks_of(launcher.pid)) < 2 and time.time() - t0 < 60:
            time.sleep(0.1)
        ranks = ranks_of(launcher.pid)
        launcher.kill()
        launcher.wait()
        t0 = time.time()
        while any(os.path.exists(f"/proc/{p}") and open(f"/proc/{p}/stat").read().rsplit(")", 1)[1].split()[0] != "Z"
                  for p in ranks) and time.time() - t0 < 60:
            time.sleep(0.2)
        alive = [p for p in ranks if os.path.exists(f"/proc/{p}") and
                 open(f"/proc/{p}/stat").read().rsplit(")", 1)[1].split()[0] != "Z"]
        check(len(ranks) == 2 and not alive, f"SIGKILL to the --nproc launcher ends its ranks ({len(ranks)} started, "
                                             f"{len(alive)} still running)")
        r = run(base + ["--model", f"{d}/m1", "--out", f"{d}/both"])
        check(clean_fail(r, "--model and --config both given", "neither wins") and not os.path.exists(f"{d}/both"),
              "train with --model and --config says neither wins")

    if FAILED:
        raise SystemExit(f"{len(FAILED)} reliability check(s) failed")
    print("reliability: all checks passed")


if __name__ == "__main__":
    main()
