#!/usr/bin/python3
"""End-to-end inference speed: `kbert bench encoder` against the original K-BERT's
inference path, on the same texts, machine, threads and (random) BERT-base weights.

The original's path, as run_kbert_cls.py evaluates: "[CLS]" + text, trees by
brain.KnowledgeGraph.add_knowledge_with_vm (from --kbert-repo, pkuseg stubbed with
precomputed words; without the repo, tests/reference/kbert_reference.py, the same
semantics), every tree padded to seq_length, batches of batch_size, and the UER
encoder + BertClassifier forward in PyTorch under no_grad (tests/reference/torch_models.py:
the same operations as UER's layers -- separate Q/K/V linears, matmul, softmax, erf GELU,
UER LayerNorm). Both sides use --threads threads.

Also: the forward alone on full batches (batch x seq_length tokens, no KG) against the
GEMM peak that `kbert bench encoder` measures in the same process.

    /usr/bin/python3 examples/benchmarks/encoder_vs_original.py --kbert build/apps/kbert [--kbert-repo K-BERT]
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import types


def choose_cpu_kernels(kbert_cli):
    """The kernels `kbert` runs with (kbert env --json: kernel_environment, decided in one place,
    kbert/common/cpu.hpp), so both sides of a comparison run the same BLAS and ATen kernels.
    Before torch loads; a variable already set wins."""
    import json
    env = json.loads(subprocess.run([kbert_cli, "env", "--json"], check=True, capture_output=True,
                                    text=True).stdout)["kernel_environment"]
    for name, value in env.items():
        os.environ.setdefault(name, value)


choose_cpu_kernels(sys.argv[sys.argv.index("--kbert") + 1] if "--kbert" in sys.argv[:-1] else "kbert")
import torch  # noqa: E402  (after OPENBLAS_CORETYPE is set)

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "tests", "reference"))
import kbert_reference as kref  # noqa: E402
import torch_models as tm  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--kbert", required=True)
    ap.add_argument("--kbert-repo", help="checkout of the original K-BERT, for its tree code")
    ap.add_argument("--texts", type=int, default=64)
    ap.add_argument("--max-chars", type=int, default=40, help="a short review has at most this many characters")
    ap.add_argument("--seq-length", type=int, default=256)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--layers", type=int, default=12)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    data = os.path.join(ROOT, "data", "kbert")
    kg_path, vocab_path = os.path.join(data, "HowNet.spo"), os.path.join(data, "google_vocab.txt")
    with open(os.path.join(data, "chnsenticorp_test.tsv"), encoding="utf-8") as f:
        next(f)
        texts = [l.rstrip("\n").split("\t")[1] for l in f]
    texts = [t for t in texts if len(t) <= a.max_chars][: a.texts]
    vocab = {}
    with open(vocab_path, encoding="utf-8") as f:
        for i, line in enumerate(f):
            p = line.strip().split()
            vocab[p[0] if p else f"???{i}"] = i

    torch.manual_seed(0)
    clf = tm.KbertClassifier(tm.Bert(len(vocab), 768, a.layers, 12, 3072, "uer"), 2, "first").eval()
    with tempfile.TemporaryDirectory() as d:
        ckpt, cfg, model = os.path.join(d, "kbert.bin"), os.path.join(d, "config.json"), os.path.join(d, "model")
        torch.save(clf.state(), ckpt)
        with open(cfg, "w") as f:
            json.dump({"emb_size": 768, "feedforward_size": 3072, "hidden_size": 768, "heads_num": 12,
                       "layers_num": a.layers, "dropout": 0.1}, f)
        subprocess.run([a.kbert, "import-uer", "--checkpoint", ckpt, "--config", cfg, "--vocab", vocab_path,
                        "--tokenizer", "char", "--pooling", "first", "--predicate", "--max-length", str(a.seq_length),
                        "--kg", kg_path, "--out", model], check=True, capture_output=True)
        os.remove(ckpt)

        # --- the original's path ---
        table = kref.SpoTable([kg_path], predicate=True)
        if a.kbert_repo:
            segmented = {"[CLS]" + t: kref.segment(table, "[CLS]" + t) for t in texts}
            sys.modules["pkuseg"] = types.SimpleNamespace(pkuseg=lambda **kw: types.SimpleNamespace(cut=lambda s: segmented[s]))
            sys.path.insert(0, a.kbert_repo)
            from brain import KnowledgeGraph
            kg = KnowledgeGraph(spo_files=[kg_path], predicate=True)
            make_tree = lambda s: kg.add_knowledge_with_vm([s], add_pad=True, max_length=a.seq_length)
            tree_source = "brain/knowgraph.py of the original"
        else:
            make_tree = lambda s: [[x] for x in kref.tree(table, s, 2, a.seq_length)]
            tree_source = "tests/reference/kbert_reference.py"

        def original():
            rows = []
            for t in texts:
                toks, pos, vm, _ = make_tree("[CLS]" + t)
                toks, pos, vm = toks[0], pos[0], vm[0]
                rows.append(([vocab.get(x, 100) for x in toks], pos, [1 if x != "[PAD]" else 0 for x in toks], vm.astype("bool")))
            with torch.no_grad():
                for b in range(0, len(rows), a.batch_size):
                    chunk = rows[b:b + a.batch_size]
                    ids = torch.LongTensor([r[0] for r in chunk])
                    pos = torch.LongTensor([r[1] for r in chunk])
                    seg = torch.LongTensor([r[2] for r in chunk])
                    vms = torch.LongTensor([r[3] for r in chunk])
                    clf(ids, pos, seg, vms)

        orig_times = []
        for _ in range(a.repeats):
            t0 = time.perf_counter()
            original()
            orig_times.append(time.perf_counter() - t0)

        # --- kbert ---
        def bench(stdin, extra):
            # fp32, as the original's PyTorch forward: the same kernels on both sides (auto would
            # pick bf16 on a CPU with AVX512-BF16 or AMX).
            out = subprocess.run([a.kbert, "bench", "encoder", "--model", model, "--batch-size", str(a.batch_size),
                                  "--threads", str(a.threads), "--precision", "fp32"] + extra, input=stdin.encode(),
                                 capture_output=True, check=True)
            return [json.loads(x) for x in out.stdout.decode().strip().split("\n")]

        runs = [bench("\n".join(texts) + "\n", []) for _ in range(a.repeats)]
        ours = statistics.median(r[-1]["seconds"] for r in runs)
        # Full batches: batch_size texts long enough to fill seq_length, no KG.
        long_text = "这家酒店的服务很好房间也很干净" * 40
        full = [bench("\n".join([long_text] * a.batch_size) + "\n", ["--kg", "none"]) for _ in range(a.repeats)]
        ratios = sorted(r[0]["forward_gflops_per_s"] / r[0]["gemm_peak_gflops_per_s"] for r in full)
        med_full = sorted(full, key=lambda r: r[0]["forward_gflops_per_s"] / r[0]["gemm_peak_gflops_per_s"])[len(full) // 2]

    o = statistics.median(orig_times)
    print(f"{len(texts)} ChnSentiCorp reviews of <= {a.max_chars} characters, HowNet, predicate mode, "
          f"seq_length {a.seq_length}, batch {a.batch_size}, {a.threads} threads, BERT-base sizes ({a.layers} layers), "
          f"medians of {a.repeats}")
    print(f"original path (trees: {tree_source}; padded batches; PyTorch {torch.__version__} forward): {o:8.2f} s")
    print(f"kbert bench encoder (trees + batching + forward):  {ours:8.2f} s   "
          f"({runs[0][0]['tokens']} tokens computed as {runs[0][0]['padded_tokens']} with padding, "
          f"vs {len(texts) * a.seq_length} padded by the original)")
    print(f"speed-up end to end: {o / ours:.1f}x   (OpenBLAS core {os.environ.get('OPENBLAS_CORETYPE', 'auto')}, ATen {os.environ.get('ATEN_CPU_CAPABILITY', 'auto')}, both sides)")
    f = med_full[0]
    print(f"full batches ({a.batch_size} x {a.seq_length}, no KG), median run: forward {f['forward_gflops_per_s']:.1f} GFLOP/s "
          f"(end to end {med_full[-1]['gflops_per_s']:.1f}), GEMM peak {f['gemm_peak_gflops_per_s']:.1f} GFLOP/s in the same "
          f"process: forward at {100 * f['forward_gflops_per_s'] / f['gemm_peak_gflops_per_s']:.0f}% of peak "
          f"(runs: {', '.join(f'{100 * x:.0f}%' for x in ratios)})")


if __name__ == "__main__":
    main()
