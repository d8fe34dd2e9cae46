#!/usr/bin/python3
"""Error paths and output contract of the `kbert` tool: bad files, bad lines, bad
options, invalid UTF-8, empty and very long texts, and the bench commands.

    check_cli.py --kbert build/apps/kbert --data data/kbert
"""
import argparse
import json
import os
import re
import subprocess
import tempfile

FAILED = []


def check(cond, what):
    if not cond:
        FAILED.append(what)
        print("FAIL:", what)


def run(cmd, stdin=b""):
    return subprocess.run(cmd, input=stdin, capture_output=True, timeout=300)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--kbert", required=True)
    ap.add_argument("--data", required=True)
    a = ap.parse_args()
    k = a.kbert
    hownet = os.path.join(a.data, "HowNet.spo")
    with tempfile.TemporaryDirectory() as d:
        # Missing KG file: exit 1, the path in the message.
        r = run([k, "tree", "--kg", "/nonexistent/x.spo", "--tokenizer", "char"], b"a\n")
        check(r.returncode == 1 and b"/nonexistent/x.spo" in r.stderr, "missing KG file")

        # A bad line in strict mode names file and line; --lenient skips and reports it.
        bad = os.path.join(d, "bad.spo")
        with open(bad, "w", encoding="utf-8") as f:
            f.write("苹果\t是\t水果\n坏行\n北京\t首都\t中国\n")
        r = run([k, "tree", "--kg", bad], "我吃苹果\n".encode())
        check(r.returncode == 1 and f"{bad}:2:".encode() in r.stderr, "strict mode names file:line")
        check(r.stdout == b"", "strict mode prints no partial output")
        r = run([k, "tree", "--kg", bad, "--lenient"], "我吃苹果\n".encode())
        check(r.returncode == 0 and b"skipped 1 bad line" in r.stderr, "lenient mode reports skipped lines")
        check(json.loads(r.stdout)["injected"][0]["object"] == "水果", "lenient mode still loads good lines")

        # Usage errors exit 2.
        for args in (["tree", "--bogus"], ["tree", "--max-length", "abc"], ["tree", "--max-length", "-3"],
                     ["tree", "--max-length", "0"], ["tree", "--tokenizer", "wordpiece"], ["tree", "--truncation", "x"],
                     ["frobnicate"], ["bench"], ["bench", "nothing"], ["tree", "--predicate", "yes"]):
            r = run([k] + args)
            check(r.returncode == 2 and r.stderr, f"usage error for {args}")

        # Invalid UTF-8, empty lines and a very long line: one output line per input line.
        long_text = ("不高兴" * 200000).encode()
        stdin = "我不高兴\n".encode() + b"\xff\xfe bad\n" + b"\n" + long_text + b"\n" + "末行\r\n".encode()
        r = run([k, "tree", "--kg", hownet, "--max-length", "64"], stdin)
        rows = [json.loads(x) for x in r.stdout.decode().split("\n") if x]
        check(r.returncode == 1 and len(rows) == 5, "one output line per input line, exit 1 on a bad line")
        check("error" in rows[1] and rows[1]["line"] == 2 and "invalid UTF-8" in rows[1]["error"], "invalid UTF-8 reported")
        check(b"stdin:2:" in r.stderr, "invalid UTF-8 names the line on stderr")
        check(rows[2]["tokens"] == [] and rows[2]["visible"] == [], "empty text gives an empty tree")
        check(len(rows[3]["tokens"]) == 64 and len(rows[3]["visible"]) == 64, "a long line is truncated")
        check(rows[4]["text"] == "末行" and rows[4]["tokens"] == ["末", "行"], "CRLF input")

        # Output contract of `kbert tree`.
        r = run([k, "tree", "--kg", hownet, "--tokenizer", "char", "--vocab", os.path.join(a.data, "google_vocab.txt"),
                 "--predicate", "--add-special", "--max-entities", "1"], "我不高兴\t你好\n".encode())
        t = json.loads(r.stdout)
        check(set(t) == {"text", "tokens", "ids", "positions", "segments", "visible", "injected"}, "tree JSON keys")
        check(t["tokens"][0] == "[CLS]" and t["tokens"].count("[SEP]") == 2, "pair with --add-special")
        check(len(t["ids"]) == len(t["tokens"]) and t["ids"][0] == 101, "ids from --vocab")
        check(all(v == sorted(v) for v in t["visible"]), "visible rows sorted")
        inj = t["injected"][0]
        check(set(inj) == {"entity", "relation", "object", "span", "hop", "parent"} and inj["entity"] == "不高兴"
              and inj["hop"] == 1 and inj["parent"] == -1, "injected triple")
        s, e = inj["span"]
        check(t["segments"][s:e] == [1] * (e - s) and "".join(t["tokens"][s:e]) == inj["relation"] + inj["object"],
              "injected span covers the branch")

        # Bench commands end with the promised JSON line.
        r = run([k, "bench", "tree", "--kg", hownet, "--predicate", "--max-length", "256"], "我不高兴\n你好\n".encode())
        last = json.loads(r.stdout.decode().strip().split("\n")[-1])
        check(r.returncode == 0 and set(last) == {"texts", "seconds", "per_text_us"} and last["texts"] == 2, "bench tree")
        r = run([k, "bench", "kg", "--triples", "20000", "--dir", d])
        last = json.loads(r.stdout.decode().strip().split("\n")[-1])
        check(r.returncode == 0 and last["triples"] == 20000 and last["load_seconds"] > 0 and last["peak_rss_mib"] > 0,
              "bench kg")
        check(last["compiled_load_seconds"] > 0 and last["compiled_peak_rss_mib"] > 0 and
              last["compiled_bytes"] > 0, "bench kg measures the compiled path too")

        # kg compile: a compiled KG gives the same trees; damaged, it is refused naming the file.
        kbkg = os.path.join(d, "hownet.kbkg")
        r = run([k, "kg", "compile", "--kg", hownet, "--out", kbkg])
        check(r.returncode == 0 and json.loads(r.stdout)["triples"] == 52576, "kg compile")
        texts = "我不高兴\n这家酒店服务很好\n".encode()
        want = run([k, "tree", "--kg", hownet, "--predicate"], texts).stdout
        check(run([k, "tree", "--kg", kbkg, "--predicate"], texts).stdout == want, "a compiled KG gives the same trees")
        with open(kbkg, "rb") as f:
            head = f.read(4096)
        with open(kbkg, "wb") as f:
            f.write(head)
        r = run([k, "tree", "--kg", kbkg], texts)
        check(r.returncode != 0 and kbkg.encode() in r.stderr and b"not a valid compiled KG" in r.stderr,
              "a truncated compiled KG is refused naming the file")
        r = run([k, "kg", "compile", "--kg", hownet, "--out", os.path.join(d, "no", "such", "dir.kbkg")])
        check(r.returncode != 0 and b"dir.kbkg" in r.stderr, "kg compile names an unwritable output")
        check(not [f for f in os.listdir(d) if f.startswith("kbert-bench-kg")], "bench kg removes its file")
        r = run([k, "bench", "index", "--vectors", "3000", "--dim", "16", "--queries", "7", "--repeat", "1", "--dir", d])
        last = json.loads(r.stdout.decode().strip().split("\n")[-1])
        check(r.returncode == 0 and last["vectors"] == 3000 and last["queries"] == 7 and last["search_seconds"] > 0,
              "bench index")
        check(not [f for f in os.listdir(d) if f.startswith("kbert-bench-index")], "bench index removes its file")

        # Vocabulary building: WordPiece from a corpus tokenizes the corpus without [UNK].
        corpus = os.path.join(d, "corpus.txt")
        with open(corpus, "w", encoding="utf-8") as f:
            for i in range(200):
                f.write(f"The pump seal leaked near valve {i % 7}; the motor stopped. 泵的密封泄漏\n")
        vocab = os.path.join(d, "vocab.txt")
        r = run([k, "vocab", "--corpus", corpus, "--size", "120", "--out", vocab])
        tokens = open(vocab, encoding="utf-8").read().split("\n")[:-1]
        check(r.returncode == 0 and 30 < len(tokens) <= 120 and tokens[:5] == ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"],
              f"wordpiece vocab built ({len(tokens)} tokens)")
        check("##e" in tokens and "pump" in tokens, "characters, ## pieces and frequent words in the vocab")
        r = run([k, "tree", "--tokenizer", "wordpiece", "--vocab", vocab], b"The pump seal leaked near valve 3.\n")
        toks = json.loads(r.stdout)["tokens"]
        check("[UNK]" not in toks and "pump" in toks, f"the vocab covers its corpus: {toks}")
        spm = os.path.join(d, "spm")
        r = run([k, "vocab", "--corpus", corpus, "--size", "60", "--kind", "sentencepiece", "--out", spm])
        check(r.returncode == 0 and os.path.exists(spm + ".model"), "sentencepiece model trained")
        r = run([k, "tree", "--tokenizer", "sentencepiece", "--spm-model", spm + ".model"], b"the pump seal\n")
        check(r.returncode == 0 and json.loads(r.stdout)["tokens"], "the sentencepiece model tokenizes")
        r = run([k, "vocab", "--corpus", os.path.join(d, "nope.txt"), "--out", vocab])
        check(r.returncode == 1 and b"nope.txt" in r.stderr, "missing corpus reported")

    check_usage_lists_options(k)
    check_option_errors(k, a.data)
    with tempfile.TemporaryDirectory() as d:
        check_progress(k, a.data, d)

    if FAILED:
        raise SystemExit(f"{len(FAILED)} CLI check(s) failed")
    print("cli: all checks passed")


COMMANDS = ["tree", "kg score", "bench tree", "bench kg", "bench index", "import-uer", "import-hf", "predict", "embed",
            "bench encoder", "train", "pretrain", "vocab", "eval", "index", "search", "explain", "env"]


def on_terminal(cmd, stdin=b"", env_extra=None):
    """Runs cmd with stderr on a pseudo-terminal (as a user at a shell would); returns (exit
    status, what the terminal showed)."""
    import pty
    master, slave = pty.openpty()
    env = dict(os.environ, KBERT_PROGRESS_AFTER="0", **(env_extra or {}))
    p = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=slave, env=env)
    os.close(slave)
    p.communicate(stdin, timeout=600)
    shown = b""
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:
            break
        if not chunk:
            break
        shown += chunk
    os.close(master)
    return p.returncode, shown.decode("utf-8", "replace")


def check_progress(k, data, d):
    """A progress line on a terminal, none with --quiet or when stderr is not a terminal."""
    spo = os.path.join(data, "HowNet.spo")
    rc, shown = on_terminal([k, "kg", "compile", "--kg", spo, "--out", os.path.join(d, "p1.kbkg")])
    check(rc == 0 and "kbert kg compile: 3/3 steps" in shown and "\r" in shown, f"kg compile draws its progress: {shown!r}")
    rc, shown = on_terminal([k, "kg", "compile", "--kg", spo, "--out", os.path.join(d, "p2.kbkg"), "--quiet"])
    check(rc == 0 and "steps" not in shown, "--quiet: no progress line")
    r = subprocess.run([k, "kg", "compile", "--kg", spo, "--out", os.path.join(d, "p3.kbkg")], capture_output=True,
                       env=dict(os.environ, KBERT_PROGRESS_AFTER="0"))
    check(r.returncode == 0 and b"steps" not in r.stderr, "stderr not a terminal: no progress line")


def check_usage_lists_options(k):
    """Every command's --help lists every option it accepts, with the option table's default;
    `kbert help --json` (the table) gives each command exactly the options it accepts; the
    usage of every command is generated from one table, so that they cannot drift apart."""
    r = run([k, "help", "--json"])
    table = json.loads(r.stdout)
    check(r.returncode == 0 and table, "kbert help --json prints the option table")
    r = run([k, "--version"])
    check(r.returncode == 0 and r.stdout.decode().startswith("kbert ") and r.stdout.decode().split()[1][0].isdigit(),
          "kbert --version")
    overview = run([k, "--help"]).stdout.decode()
    for command in COMMANDS:
        check(f"  {command} " in overview, f"kbert --help lists {command}")
        r = run([k] + command.split() + ["--no-such-option"])
        err = r.stderr.decode()
        known = err.split("(this command knows: ", 1)[1].split(";", 1)[0].split() if "this command knows" in err else []
        check(r.returncode == 2 and known and f"kbert {command} --help" in err,
              f"{command}: an unknown option is a usage error listing the known ones and pointing at --help")
        in_table = sorted("--" + o["name"] for o in table if command in o["commands"])
        check(sorted(known) == in_table, f"{command}: the parser and the table agree ({sorted(set(known) ^ set(in_table))})")
        h = run([k] + command.split() + ["--help"])
        text = h.stdout.decode()
        check(h.returncode == 0 and text.startswith(f"usage: kbert {command}"), f"kbert {command} --help")
        missing = [o for o in known if f"  {o} " not in text and not text.count(f"  {o}\n")]
        check(not missing, f"the help of {command} misses {missing}")
        for o in table:
            if command in o["commands"] and o["default"]:
                line = re.split(rf"\n  --{re.escape(o['name'])}[ \n]", text, maxsplit=1)[1].split("\n  --", 1)[0]
                check(f"(default {o['default']})" in " ".join(line.split()),
                      f"{command} --help shows --{o['name']}'s default {o['default']}")


def check_option_errors(k, data):
    """A bad option value is a usage error (exit 2) in every command, naming the option."""
    with tempfile.TemporaryDirectory() as d:
        train = os.path.join(d, "t.tsv")
        with open(train, "w") as f:
            f.write("label\ttext_a\na\tx\n")
        for args, option in (
                (["tree", "--truncation", "sideways"], "--truncation"),
                (["import-hf", "--from", d, "--out", os.path.join(d, "o"), "--truncation", "sideways"], "--truncation"),
                (["train", "--train", train, "--config", "c.json", "--vocab", "v", "--out", os.path.join(d, "o"),
                  "--truncation", "sideways"], "--truncation"),
                (["train", "--train", train, "--config", "c.json", "--vocab", "v", "--out", os.path.join(d, "o"),
                  "--pooling", "sideways"], "--pooling"),
                (["import-uer", "--checkpoint", "x", "--config", "c", "--vocab", "v", "--out", os.path.join(d, "o"),
                  "--pooling", "sideways"], "--pooling"),
                (["kg", "score", "--kg", os.path.join(data, "HowNet.spo"), "--train", train, "--out", os.path.join(d, "s.spo"),
                  "--min-score", "lots"], "--min-score"),
                (["kg", "rank"], "kg")):
            r = run([k] + args)
            check(r.returncode == 2 and option.encode() in r.stderr, f"{args[0]} {option}: exit {r.returncode}, {r.stderr[:200]}")


if __name__ == "__main__":
    main()
