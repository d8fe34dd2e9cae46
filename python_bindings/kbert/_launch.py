"""kbert.train(..., nproc=N): N local ranks of one data-parallel run, as `kbert train --nproc N`.

Each rank is a fresh interpreter running only kbert's entry point (`python -m kbert._rank`):
nothing of the caller's script or notebook is imported or run again, so a script needs no
`if __name__ == "__main__":` guard. torchrun's variables (RANK, WORLD_SIZE, MASTER_ADDR,
MASTER_PORT) are set in its environment; its task goes in on stdin as JSON, and its progress
(rank 0) and result come back as JSON lines on its stdout, so the notebook cell shows rank 0's
progress; its result is returned. A rank that fails ends the others.
"""
import json
import os
import queue
import socket
import subprocess
import sys
import threading


def _free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _reader(rank, proc, messages):
    for line in proc.stdout:
        try:
            messages.put((rank, json.loads(line)))
        except ValueError:
            continue
    messages.put((rank, ["exit"]))


def train_ranks(nproc, train, out, kwargs):
    progress = kwargs.get("progress", True)
    sink = None
    if callable(progress) and not isinstance(progress, bool):
        sink = progress
    elif progress:
        from ._progress import ProgressBar
        sink = ProgressBar()
    child_kwargs = {k: v for k, v in kwargs.items() if k != "progress"}
    try:
        json.dumps(child_kwargs)
    except TypeError as e:
        raise ValueError(f"kbert.train(nproc={nproc}): the arguments must be plain values (strings, numbers, lists): {e}")
    port = _free_port()
    threads = max(1, (os.cpu_count() or 1) // nproc)
    package_root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    messages = queue.Queue()
    procs = []
    for r in range(nproc):
        env = dict(os.environ)
        env.update({"RANK": str(r), "WORLD_SIZE": str(nproc), "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(port)})
        env.setdefault("KBERT_NUM_THREADS", str(threads))
        env["PYTHONPATH"] = package_root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
        p = subprocess.Popen([sys.executable, "-m", "kbert._rank"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             env=env, text=True)
        p.stdin.write(json.dumps({"train": train, "out": out, "kwargs": child_kwargs,
                                  "report_progress": r == 0 and sink is not None}))
        p.stdin.close()
        procs.append(p)
        threading.Thread(target=_reader, args=(r, p, messages), daemon=True).start()
    result, error, done, exited = None, None, 0, 0
    try:
        while exited < nproc and error is None:
            rank, msg = messages.get()
            if msg[0] == "progress":
                if sink:
                    sink(msg[1])
            elif msg[0] == "result":
                done += 1
                if rank == 0:
                    result = msg[1]
            elif msg[0] == "error":
                error = f"rank {rank} of {nproc}: {msg[1]}"
            else:  # the rank's stdout closed
                exited += 1
                code = procs[rank].wait()
                if code != 0 and error is None:
                    error = f"rank {rank} of {nproc} ended with status {code}"
    finally:
        if error is not None or done < nproc:
            for p in procs:
                if p.poll() is None:
                    p.kill()
        for p in procs:
            p.wait()
    if error is None and done < nproc:
        error = f"{nproc - done} rank(s) ended without a result"
    if error is not None:
        raise RuntimeError(f"kbert.train(nproc={nproc}): {error}; the other ranks were stopped "
                           "(the last complete checkpoint stays; resume=True continues)")
    return result
