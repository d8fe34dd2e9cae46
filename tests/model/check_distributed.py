#!/usr/bin/python3
"""Data-parallel training on loopback (c10d, Gloo): 2 ranks with --batch-size 8 train like
1 process with --batch-size 16 (same seed, no dropout): the same final weights within 1e-5
and the same dev metrics, for fine-tuning and for MLM pre-training; a checkpoint made by
2 ranks resumes on 1; a rank killed mid-epoch ends the run at once, the last checkpoint
loads and --resume finishes it; bad --nproc / WORLD_SIZE / RANK values are usage errors.

    check_distributed.py --kbert build/apps/kbert --data data/kbert
"""
import argparse
import json
import os
import random
import signal
import subprocess
import tempfile
import time

import numpy as np

FAILED = []


def check(cond, what):
    if not cond:
        FAILED.append(what)
        print("FAIL:", what)


def run(cmd, ok=True, env=None):
    r = subprocess.run(cmd, capture_output=True, timeout=900, env=env)
    if ok and r.returncode != 0:
        raise SystemExit(f"command failed ({r.returncode}): {' '.join(cmd)}\n{r.stderr.decode()[-3000:]}")
    return r


def safetensors(path):
    """{name: float32 array} of a safetensors file (F32 tensors, as kbert writes them)."""
    with open(path, "rb") as f:
        n = int.from_bytes(f.read(8), "little")
        header = json.loads(f.read(n))
        data = f.read()
    out = {}
    for name, t in header.items():
        if name == "__metadata__":
            continue
        a, b = t["data_offsets"]
        out[name] = np.frombuffer(data[a:b], dtype=np.float32).reshape(t["shape"])
    return out


def same_weights(what, d1, d2, rel=1e-5):
    w1, w2 = safetensors(os.path.join(d1, "model.safetensors")), safetensors(os.path.join(d2, "model.safetensors"))
    check(w1.keys() == w2.keys(), f"{what}: the same tensors")
    # relative to each tensor's scale (a tensor that stays near zero, such as a bias the
    # softmax ignores, is compared at the scale of 1e-3)
    worst = max(float(np.max(np.abs(w1[k] - w2[k]))) / max(float(np.max(np.abs(w2[k]))), 1e-3) for k in w1)
    print(f"  {what}: worst relative difference {worst:.1e}")
    check(worst <= rel, f"{what}: weights differ by {worst:.1e} (relative) > {rel:.0e}")


def write_tsv(path, rows):
    with open(path, "w", encoding="utf-8") as f:
        f.write("label\ttext_a\n")
        for label, text in rows:
            f.write(f"{label}\t{text}\n")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--kbert", required=True)
    ap.add_argument("--data", required=True)
    a = ap.parse_args()
    k = a.kbert
    vocab = os.path.join(a.data, "google_vocab.txt")
    rng = random.Random(5)
    good, bad = "好干净满意舒服方便热情", "差脏失望吵贵冷慢"
    def text(label):
        chars = good if label == "pos" else bad
        return "".join(rng.choice(chars + "房间服务价格") for _ in range(rng.randint(3, 14)))
    with tempfile.TemporaryDirectory() as d:
        rows = [(lab, text(lab)) for lab in ["pos", "neg"] * 36]
        train, dev = os.path.join(d, "train.tsv"), os.path.join(d, "dev.tsv")
        write_tsv(train, rows[:56])
        write_tsv(dev, rows[56:])
        cfg = os.path.join(d, "cfg.json")
        with open(cfg, "w") as f:
            json.dump({"emb_size": 16, "feedforward_size": 32, "hidden_size": 16, "heads_num": 2, "layers_num": 1,
                       "dropout": 0.0, "max_seq_length": 64}, f)
        common = ["train", "--train", train, "--dev", dev, "--config", cfg, "--vocab", vocab, "--epochs", "3",
                  "--learning-rate", "1e-3", "--seed", "3", "--max-length", "32", "--threads", "1", "--quiet"]
        one = json.loads(run([k] + common + ["--out", os.path.join(d, "one"), "--batch-size", "16"]).stdout)
        two = json.loads(run([k] + common + ["--out", os.path.join(d, "two"), "--batch-size", "8", "--nproc", "2"]).stdout)
        check(one["steps"] == two["steps"] == 12, f"steps {one['steps']} and {two['steps']}")
        check(one["dev"] == two["dev"], "the same dev metrics")
        check(abs(one["final_loss"] - two["final_loss"]) <= 1e-5 * abs(one["final_loss"]), "the same final loss")
        same_weights("fine-tuning, 2 ranks x 8 vs 1 x 16", os.path.join(d, "two"), os.path.join(d, "one"))
        check(not os.path.exists(os.path.join(d, "two.checkpoint")), "a finished run leaves no checkpoint")

        # Pre-training (the same loop): an uneven last batch (58 texts: 3 x 16 + 10).
        corpus = os.path.join(d, "corpus.txt")
        with open(corpus, "w", encoding="utf-8") as f:
            f.write("\n".join(t for _, t in rows[:58]) + "\n")
        pre = ["pretrain", "--corpus", corpus, "--config", cfg, "--vocab", vocab, "--epochs", "2", "--seed", "4",
               "--learning-rate", "1e-3", "--max-length", "32", "--threads", "1", "--quiet"]
        run([k] + pre + ["--out", os.path.join(d, "p1"), "--batch-size", "16"])
        run([k] + pre + ["--out", os.path.join(d, "p2"), "--batch-size", "8", "--nproc", "2"])
        same_weights("MLM pre-training, 2 ranks x 8 vs 1 x 16", os.path.join(d, "p2"), os.path.join(d, "p1"))

        # A checkpoint of 2 ranks resumes on 1 process (the same global batch) and ends where 1 x 16 ends.
        run([k] + common + ["--out", os.path.join(d, "mix"), "--batch-size", "8", "--nproc", "2",
                            "--stop-after-steps", "5"], ok=False)
        check(os.path.exists(os.path.join(d, "mix.checkpoint", "state.json")), "2 ranks left a checkpoint")
        run([k] + common + ["--out", os.path.join(d, "mix"), "--batch-size", "16", "--resume"])
        same_weights("2 ranks stopped, resumed on 1", os.path.join(d, "mix"), os.path.join(d, "one"))

        # A rank killed mid-epoch: the run ends at once, the last checkpoint loads, --resume finishes.
        big = [(lab, text(lab)) for lab in ["pos", "neg"] * 600]
        write_tsv(os.path.join(d, "big.tsv"), big)
        kill = [k, "train", "--train", os.path.join(d, "big.tsv"), "--config", cfg, "--vocab", vocab, "--epochs", "6",
                "--learning-rate", "1e-3", "--max-length", "32", "--threads", "1", "--quiet", "--batch-size", "4",
                "--nproc", "2", "--out", os.path.join(d, "killed")]
        env = dict(os.environ, KBERT_DIST_TIMEOUT="30")
        p = subprocess.Popen(kill, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
        state = os.path.join(d, "killed.checkpoint", "state.json")
        t0 = time.monotonic()
        while not os.path.exists(state) and time.monotonic() - t0 < 300 and p.poll() is None:
            time.sleep(0.005)
        ranks = []
        for pid in os.listdir("/proc"):
            if pid.isdigit():
                try:
                    with open(f"/proc/{pid}/stat") as f:
                        if int(f.read().rsplit(")", 1)[1].split()[1]) == p.pid:
                            with open(f"/proc/{pid}/environ", "rb") as e:
                                env_vars = dict(x.split(b"=", 1) for x in e.read().split(b"\0") if b"=" in x)
                            ranks.append((int(env_vars.get(b"RANK", b"-1")), int(pid)))
                except (OSError, ValueError, IndexError):
                    pass
        check(sorted(r for r, _ in ranks) == [0, 1], f"the launcher runs ranks 0 and 1 (found {sorted(ranks)})")
        if len(ranks) == 2:
            os.kill(dict(ranks)[1], signal.SIGKILL)
            t1 = time.monotonic()
            _, err = p.communicate(timeout=120)
            ended = time.monotonic() - t1
            print(f"  a killed rank ended the run in {ended:.2f} s (exit {p.returncode})")
            check(p.returncode != 0 and ended < 30, f"the run ends, non-zero, within the timeout ({ended:.1f} s)")
            check(b"rank 1 of 2" in err, "the launcher names the rank that died")
            ck = json.load(open(state))
            check(ck["epoch"] >= 1, "the checkpoint of a completed epoch is there")
            r = run([k, "predict", "--model", os.path.join(d, "killed.checkpoint")], ok=False)
            check(r.returncode == 0, "the checkpoint loads as a model")
            res = json.loads(run(kill + ["--resume"], env=env).stdout)
            check(res["epochs"] == 6 and not res["interrupted"], "--resume finishes the run")
        else:
            p.kill()
            p.communicate()

        # Bad settings are usage errors.
        for bad_env, what in [({"WORLD_SIZE": "2", "RANK": "2"}, "RANK"), ({"WORLD_SIZE": "x"}, "WORLD_SIZE"),
                              ({"WORLD_SIZE": "2", "MASTER_PORT": "70000"}, "MASTER_PORT")]:
            r = run([k] + common + ["--out", os.path.join(d, "bad")], ok=False, env=dict(os.environ, **bad_env))
            check(r.returncode == 2 and what.encode() in r.stderr, f"a bad {what} is a usage error naming it")
        for bad in ["0", "x", "1000"]:
            r = run([k] + common + ["--out", os.path.join(d, "bad"), "--nproc", bad], ok=False)
            check(r.returncode == 2 and b"--nproc" in r.stderr, f"--nproc {bad} is a usage error")
    if FAILED:
        raise SystemExit(f"{len(FAILED)} distributed check(s) failed")
    print("distributed: all checks passed")


if __name__ == "__main__":
    main()
