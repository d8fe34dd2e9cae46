#!/usr/bin/python3
"""kbert report: the HTML report of a classifier, checked as a file and in a real browser.

A small K-BERT classifier (HowNet), the same without knowledge as the baseline and an index of
the training texts are made here; the report of a few labelled reviews, one holding markup
(<script>, </script>, <!--, &), is then
  - written atomically (bad input: an error naming the file and line, no report left behind);
  - free of the data's markup as markup (it is JSON inside the page, shown as text);
  - rendered by headless Chromium: no script error, the confusion matrix has a cell per
    (gold, predicted) pair, per-class F1 bars and fact bars are drawn, the markup shows as
    text; and a screenshot is taken (--screenshot keeps it).

Usage: /usr/bin/python3 tests/report/check_report.py --kbert build/apps/kbert --data data/kbert
       [--chromium chromium] [--screenshot OUT.png]
"""
import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

FAILED = []


def check(ok, what):
    print(("ok   " if ok else "FAIL ") + what, flush=True)
    if not ok:
        FAILED.append(what)


def run(cmd, stdin=None, ok=True):
    r = subprocess.run(cmd, input=stdin, capture_output=True, text=True, timeout=900)
    if ok and r.returncode != 0:
        sys.exit(f"command failed ({r.returncode}): {' '.join(cmd)}\n{r.stderr[-3000:]}")
    return r


MARKUP = '<script>alert("x")</script> 酒店 & 服务 </script><!-- <b>不</b>'


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--kbert", required=True)
    ap.add_argument("--data", required=True)
    ap.add_argument("--chromium", default=shutil.which("chromium") or "chromium")
    ap.add_argument("--screenshot")
    a = ap.parse_args()
    k = a.kbert
    with tempfile.TemporaryDirectory() as d:
        rows = open(os.path.join(a.data, "chnsenticorp_train.tsv"), encoding="utf-8").read().splitlines()
        with open(f"{d}/train.tsv", "w", encoding="utf-8") as f:
            f.write("\n".join(rows[:81]) + "\n")
        dev = open(os.path.join(a.data, "chnsenticorp_dev.tsv"), encoding="utf-8").read().splitlines()
        with open(f"{d}/test.tsv", "w", encoding="utf-8") as f:
            f.write("\n".join(dev[:13]) + "\n0\t" + MARKUP + "\n")
        with open(f"{d}/cfg.json", "w") as f:
            json.dump({"emb_size": 32, "feedforward_size": 64, "hidden_size": 32, "heads_num": 4, "layers_num": 2,
                       "dropout": 0.1}, f)
        common = ["--train", f"{d}/train.tsv", "--config", f"{d}/cfg.json", "--vocab",
                  os.path.join(a.data, "google_vocab.txt"), "--epochs", "2", "--batch-size", "16",
                  "--learning-rate", "1e-3", "--max-length", "64", "--quiet"]
        hownet = os.path.join(a.data, "HowNet.spo")
        run([k, "train"] + common + ["--kg", hownet, "--out", f"{d}/m"])
        run([k, "train"] + common + ["--kg", "none", "--out", f"{d}/base"])
        run([k, "index", "--model", f"{d}/m", "--corpus", f"{d}/train.tsv", "--out", f"{d}/train.kbix"])

        out = f"{d}/report.html"
        r = run([k, "report", "--model", f"{d}/m", "--data", f"{d}/test.tsv", "--baseline", f"{d}/base", "--index",
                 f"{d}/train.kbix", "--title", "Reviews <b>& co</b>", "--out", out])
        check(os.path.exists(out) and not [x for x in os.listdir(d) if x.startswith("report.html.")],
              "the report is written, no temporary file left")
        html = open(out, encoding="utf-8").read()
        data_json = re.search(r'<script type="application/json" id="report-data">(.*?)</script>', html, re.S)
        check(data_json is not None, "the data sits in one JSON script element")
        payload = json.loads(data_json.group(1)) if data_json else {}
        check(len(payload.get("items", [])) == 13, "every text of --data is in the report")
        check(MARKUP in [i["text"] for i in payload.get("items", [])], "the markup text survives as data")
        check("<script>alert" not in html and "</script><!--" not in html and "<b>不" not in html,
              "no markup from the data appears as markup in the page")
        check("<title>Reviews &lt;b&gt;&amp; co&lt;/b&gt;</title>" in html, "the title is escaped")
        page = html.replace(data_json.group(1), "") if data_json else html  # the page without the data
        check(not re.search(r"(src|href)\s*=|@import|url\(|https?://(?!www\.w3\.org/2000/svg)", page),
              "no network reference: one self-contained file")
        items = payload.get("items", [])
        check(any(i["facts"] for i in items) and all(len(i["similar"]) == 3 for i in items),
              "facts and three similar texts per report")
        check(payload.get("baseline") is not None and all(i["baseline_predicted"] for i in items), "the baseline's metrics")

        # Bad input: a label the model does not know, an unreadable data file.
        with open(f"{d}/bad.tsv", "w", encoding="utf-8") as f:
            f.write("label\ttext_a\n1\t很好\n7\t很差\n")
        r = run([k, "report", "--model", f"{d}/m", "--data", f"{d}/bad.tsv", "--out", f"{d}/bad.html"], ok=False)
        check(r.returncode == 1 and f"{d}/bad.tsv:3" in r.stderr and "'7'" in r.stderr and not os.path.exists(f"{d}/bad.html"),
              f"an unknown label is an error naming file and line, and no report is written ({r.stderr.strip()[-200:]})")
        r = run([k, "report", "--model", f"{d}/m", "--data", f"{d}/none.tsv"], ok=False)
        check(r.returncode == 1 and "none.tsv" in r.stderr, "a missing data file is named")

        # In a real browser.
        browser = shutil.which(a.chromium) or (a.chromium if os.path.exists(a.chromium) else None)
        check(browser is not None, f"headless Chromium is installed ({a.chromium}; scripts/setup.sh installs it for tests)")
        if browser:
            base = [browser, "--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run", "--hide-scrollbars",
                    f"--user-data-dir={d}/chrome", "--enable-logging=stderr", "--v=0",
                    "--virtual-time-budget=5000"]
            r = subprocess.run(base + ["--dump-dom", "file://" + out], capture_output=True, text=True, timeout=180)
            dom = r.stdout
            status = re.search(r'<body[^>]*data-status="([^"]*)"', dom)
            error = re.findall(r'data-error="[^"]*"', dom)[:1]
            check(r.returncode == 0 and status is not None and status.group(1) == "ok",
                  f"the page's script ran without error (status {status.group(1) if status else None}; {error})")
            console_errors = [x for x in r.stderr.splitlines() if "CONSOLE" in x and ("Error" in x or "Uncaught" in x)]
            check(not console_errors, f"no console errors ({console_errors[:2]})")
            n = len(payload["metrics"]["classes"])
            cells = len(re.findall(r'<rect[^>]*class="cm-cell"', dom))
            check('id="confusion"' in dom and cells == n * n, f"the confusion matrix is drawn: {cells} cells for {n} labels")
            check(len(re.findall(r'class="f1-bar"', dom)) == n and len(re.findall(r'class="f1-bar-baseline"', dom)) == n,
                  "F1 bars for the model and the baseline")
            check(len(re.findall(r'<svg[^>]*class="fact-bar"', dom)) > 0, "fact attribution bars are drawn")
            check("&lt;script&gt;alert(\"x\")&lt;/script&gt;" in dom and "<script>alert" not in dom,
                  "the markup in a narrative shows as text")
            check(len(re.findall(r'<mark>', dom)) > 0, "entity mentions are marked in the narratives")
            shot = a.screenshot or f"{d}/report.png"
            r = subprocess.run(base + ["--window-size=1280,1600", f"--screenshot={shot}", "file://" + out],
                               capture_output=True, text=True, timeout=180)
            ok = r.returncode == 0 and os.path.exists(shot) and open(shot, "rb").read(8) == b"\x89PNG\r\n\x1a\n"
            check(ok and os.path.getsize(shot) > 20000, f"a screenshot is taken ({os.path.getsize(shot) if ok else 0} bytes)")
    if FAILED:
        sys.exit(f"{len(FAILED)} report check(s) failed")
    print("report: all checks passed")


if __name__ == "__main__":
    main()
