"""One rank of kbert.train(..., nproc=N): `python -m kbert._rank`, started by _launch.py.

A fresh interpreter that imports kbert and nothing of the caller's script (multiprocessing's
"spawn" would run the caller's top-level code again in every rank). It reads its task as one
JSON object on stdin ({"train", "out", "kwargs", "report_progress"}; torchrun's variables are
in its environment), trains, and writes JSON lines to stdout: ["progress", dict] (rank 0, when
asked), then ["result", dict] or ["error", message].
"""
import json
import sys


def main():
    out = sys.stdout
    sys.stdout = sys.stderr  # anything else printed goes to stderr, never into the protocol

    def send(*msg):
        out.write(json.dumps(list(msg)) + "\n")
        out.flush()

    try:
        task = json.loads(sys.stdin.read())
        from kbert import _kbert
        kwargs = dict(task["kwargs"])
        kwargs["progress"] = (lambda p: send("progress", p)) if task["report_progress"] else False
        send("result", _kbert.train(task["train"], task["out"], **kwargs))
    except BaseException as e:  # noqa: BLE001 -- reported to the launcher, which raises it
        send("error", f"{type(e).__name__}: {e}")
        sys.exit(1)


if __name__ == "__main__":
    main()
