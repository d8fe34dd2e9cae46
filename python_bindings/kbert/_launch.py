"""kbert.train(..., nproc=N): N local ranks of one data-parallel run, as `kbert train --nproc N`.

Each rank is a fresh Python process (multiprocessing's "spawn": LibTorch's thread pools do
not survive fork) with torchrun's variables (RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT) set
before it trains. Rank 0's progress comes back to this process through a queue, so the
notebook cell shows it; its result is returned. A rank that fails ends the others.
"""
import multiprocessing
import os
import socket


def _free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _rank_main(rank, world, port, threads, train, out, kwargs, queue):
    os.environ.update({"RANK": str(rank), "WORLD_SIZE": str(world), "MASTER_ADDR": "127.0.0.1",
                       "MASTER_PORT": str(port)})
    os.environ.setdefault("KBERT_NUM_THREADS", str(threads))
    try:
        from kbert import _kbert
        if rank == 0 and kwargs.get("progress", True) is not False:
            kwargs["progress"] = lambda p: queue.put(("progress", p))
        else:
            kwargs["progress"] = False
        result = _kbert.train(train, out, **kwargs)
        queue.put(("result", rank, result))
    except BaseException as e:  # noqa: BLE001 -- reported to the parent, which raises it
        queue.put(("error", rank, f"{type(e).__name__}: {e}"))


def train_ranks(nproc, train, out, kwargs):
    progress = kwargs.get("progress", True)
    sink = None
    if callable(progress) and not isinstance(progress, bool):
        sink = progress
    elif progress:
        from ._progress import ProgressBar
        sink = ProgressBar()
    ctx = multiprocessing.get_context("spawn")
    queue = ctx.Queue()
    port = _free_port()
    threads = max(1, (os.cpu_count() or 1) // nproc)
    child_kwargs = {k: v for k, v in kwargs.items() if k != "progress"}
    child_kwargs["progress"] = bool(progress)
    procs = [ctx.Process(target=_rank_main, args=(r, nproc, port, threads, train, out, dict(child_kwargs), queue),
                         daemon=True) for r in range(nproc)]
    for p in procs:
        p.start()
    result, error, done = None, None, 0
    try:
        while done < nproc and error is None:
            try:
                msg = queue.get(timeout=0.5)
            except Exception:  # queue.Empty: see whether a rank died without a word
                dead = [r for r, p in enumerate(procs) if p.exitcode not in (None, 0)]
                if dead:
                    error = f"rank {dead[0]} of {nproc} ended with status {procs[dead[0]].exitcode}"
                continue
            if msg[0] == "progress":
                if sink:
                    sink(msg[1])
            elif msg[0] == "result":
                done += 1
                if msg[1] == 0:
                    result = msg[2]
            else:
                error = f"rank {msg[1]} of {nproc}: {msg[2]}"
    finally:
        if error is not None or done < nproc:
            for p in procs:
                if p.is_alive():
                    p.kill()
        for p in procs:
            p.join()
    if error is not None:
        raise RuntimeError(f"kbert.train(nproc={nproc}): {error}; the other ranks were stopped "
                           "(the last complete checkpoint stays; resume=True continues)")
    return result
