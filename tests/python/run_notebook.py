#!/usr/bin/python3
"""Executes a notebook headless with nbclient (Debian's python3-nbclient) on the
python3 kernel (Debian's ipykernel: /usr/bin/python3) and fails on the first cell
that raises. The executed copy (with outputs) is written beside OUT when given.

Usage: /usr/bin/python3 tests/python/run_notebook.py NOTEBOOK.ipynb [OUT.ipynb] [--expect TEXT ...]
--expect: TEXT must appear in some cell's output (streams, or text/html and text/plain of
displays as last updated), e.g. the training progress a cell shows.
The kernel inherits this process's environment (PYTHONPATH, KBERT_* variables)."""
import os
import sys
import time

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError


def main():
    args, expect = [], []
    argv = sys.argv[1:]
    while argv:
        a = argv.pop(0)
        if a == "--expect" and argv:
            expect.append(argv.pop(0))
        else:
            args.append(a)
    if len(args) not in (1, 2):
        sys.exit(__doc__)
    sys.argv = [sys.argv[0]] + args
    path = sys.argv[1]
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(nb, timeout=900, kernel_name="python3",
                            resources={"metadata": {"path": os.path.dirname(os.path.abspath(path))}})
    t0 = time.time()
    try:
        client.execute()
    except CellExecutionError as e:
        sys.exit(f"{path}: a cell failed:\n{e}")
    finally:
        if len(sys.argv) == 3:
            tmp = sys.argv[2] + ".tmp"
            nbformat.write(nb, tmp)
            os.replace(tmp, sys.argv[2])
    shown = []
    for c in nb.cells:
        for o in c.get("outputs", []) if c.cell_type == "code" else []:
            shown.append(o.get("text", ""))
            for kind in ("text/html", "text/plain"):
                shown.append(str(o.get("data", {}).get(kind, "")))
    missing = [t for t in expect if not any(t in s for s in shown)]
    if missing:
        sys.exit(f"{path}: no cell shows {missing}")
    cells = sum(c.cell_type == "code" for c in nb.cells)
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []) if o.output_type == "error"]
    if errors:
        sys.exit(f"{path}: {len(errors)} cells ended in errors")
    print(f"{path}: {cells} code cells ran without errors in {time.time() - t0:.0f} s")


if __name__ == "__main__":
    main()
