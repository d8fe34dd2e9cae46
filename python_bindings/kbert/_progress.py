"""Training progress where a Python user looks: in the notebook cell, or on the terminal.

kbert.train(progress=True) reports through ProgressBar; progress=callable receives the same
dicts (kind "batch" | "epoch" | "note", epoch, epochs, batch, batches, step, loss,
examples_per_second, eta_seconds, metric, dev_metric (None without dev), best, message).
"""
import sys


def _in_notebook():
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    return shell is not None and "IPKernelApp" in getattr(shell, "config", {})


def _clock(seconds):
    s = int(seconds)
    return f"{s // 60}:{s % 60:02d}"


class ProgressBar:
    """One bar per epoch, redrawn in place (an HTML <progress> in a notebook, a \\r line on a
    terminal, a line per tenth of an epoch elsewhere), then the epoch's dev metric."""

    def __init__(self, out=None):
        self.out = out
        self.notebook = out is None and _in_notebook()
        self._handle = None
        self._mid_line = False

    def _stream(self):
        return self.out if self.out is not None else sys.stdout

    def _text(self, p):
        return (f"epoch {p['epoch']}/{p['epochs']}  {p['batch']}/{p['batches']}  loss {p['loss']:.4f}  "
                f"{p['examples_per_second']:.1f} ex/s  ETA {_clock(p['eta_seconds'])}")

    def __call__(self, p):
        kind = p["kind"]
        if kind == "note":
            self._end_line()
            print(f"kbert.train: {p['message']}", file=self._stream(), flush=True)
        elif kind == "batch":
            if self.notebook:
                from IPython.display import HTML, display
                html = HTML(f"<progress value='{p['batch']}' max='{p['batches']}' style='width:24em'></progress> "
                            f"<code>{self._text(p)}</code>")
                if self._handle is None:
                    self._handle = display(html, display_id=True)
                else:
                    self._handle.update(html)
            elif self._tty():
                print("\r" + self._text(p), end="", file=self._stream(), flush=True)
                self._mid_line = True
            else:
                tenth = max(1, p["batches"] // 10)
                if p["batch"] % tenth == 0 or p["batch"] == p["batches"]:
                    print(self._text(p), file=self._stream(), flush=True)
        elif kind == "epoch":
            self._end_line()
            self._handle = None
            line = f"epoch {p['epoch']}/{p['epochs']}: train loss {p['loss']:.4f}"
            if p["dev_metric"] is not None:
                line += f", dev {p['metric']} {p['dev_metric']:.4f}" + (" (best)" if p["best"] else "")
            print(line, file=self._stream(), flush=True)

    def _tty(self):
        stream = self._stream()
        return hasattr(stream, "isatty") and stream.isatty()

    def _end_line(self):
        if self._mid_line:
            print(file=self._stream(), flush=True)
        self._mid_line = False
