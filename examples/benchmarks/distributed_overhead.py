#!/usr/bin/python3
"""Data-parallel overhead on one machine: `kbert train` as 1 process x 2 threads (batch 16)
against 2 ranks x 1 thread (--nproc 2, batch 8 each: the same global batch), BERT-base
sizes (random weights, 12 x 768, the Chinese vocabulary), ChnSentiCorp texts, HowNet,
max length 128 (--max-length), alternating runs, medians. On a 2-core machine this shows what data
parallelism costs, not how it scales. Also the time of the gradient all-reduce per step
(one bucket of BERT-base's gradients, ~102M floats, over loopback Gloo).

    /usr/bin/python3 examples/benchmarks/distributed_overhead.py --kbert build/apps/kbert [--runs 3 --steps 6]
"""
import argparse
import json
import os
import statistics
import subprocess
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DATA = os.path.join(ROOT, "data", "kbert")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--kbert", required=True)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--steps", type=int, default=6)
    ap.add_argument("--max-length", type=int, default=128)
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as d:
        cfg = os.path.join(d, "base.json")
        with open(cfg, "w") as f:
            json.dump({"emb_size": 768, "feedforward_size": 3072, "hidden_size": 768, "heads_num": 12,
                       "layers_num": 12, "dropout": 0.1, "max_seq_length": 512}, f)
        with open(os.path.join(DATA, "chnsenticorp_train.tsv"), encoding="utf-8") as f:
            rows = f.read().splitlines()[: 1 + 16 * (a.steps + 2)]
        train = os.path.join(d, "train.tsv")
        with open(train, "w", encoding="utf-8") as f:
            f.write("\n".join(rows) + "\n")
        base = [a.kbert, "train", "--train", train, "--config", cfg, "--vocab", os.path.join(DATA, "google_vocab.txt"),
                "--kg", os.path.join(DATA, "HowNet.spo"), "--predicate", "--max-length", str(a.max_length), "--epochs", "1",
                "--stop-after-steps", str(a.steps), "--quiet", "--seed", "7", "--precision", "fp32"]
        setups = {"1 process x 2 threads, batch 16": ["--batch-size", "16", "--threads", "2"],
                  "2 ranks x 1 thread, batch 8 each": ["--batch-size", "8", "--threads", "1", "--nproc", "2"]}
        results = {k: [] for k in setups}
        for run in range(a.runs):
            for name, extra in setups.items():
                out = os.path.join(d, f"out{run}{len(results[name])}{extra[1]}")
                r = subprocess.run(base + extra + ["--out", out], capture_output=True, text=True)
                if r.returncode != 130 and r.returncode != 0 and not r.stdout:
                    raise SystemExit(f"{name} failed ({r.returncode}):\n{r.stderr[-2000:]}")
                j = json.loads(r.stdout.strip().splitlines()[-1])
                results[name].append(j)
                print(f"run {run + 1} {name}: {j['examples_per_s']:.2f} examples/s, "
                      f"all-reduce {j['allreduce_seconds'] / max(j['steps'], 1) * 1000:.0f} ms/step", flush=True)
        print("\n| setup | examples/s (median of %d) | all-reduce per step |" % a.runs)
        print("|---|---|---|")
        med = {}
        for name, js in results.items():
            med[name] = statistics.median(j["examples_per_s"] for j in js)
            ar = statistics.median(j["allreduce_seconds"] / max(j["steps"], 1) for j in js)
            print(f"| {name} | {med[name]:.2f} | {ar * 1000:.0f} ms |" if ar > 0 else f"| {name} | {med[name]:.2f} | - |")
        names = list(results)
        print(f"\n2 ranks / 1 process: {med[names[1]] / med[names[0]]:.2f}x")


if __name__ == "__main__":
    main()
