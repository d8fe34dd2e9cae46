#!/usr/bin/env bash
# The main job. Until the fault-report example lands, a demo of the knowledge
# layer: sentence trees of real reviews with the bundled HowNet knowledge graph,
# then the tree-building benchmark on 1,200 reviews.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
KBERT=build/apps/kbert
KG=data/kbert/HowNet.spo

echo "== kbert tree: K-BERT sentence trees (char mode, HowNet, predicate mode) =="
printf '这家酒店服务很好，我不高兴的是房间太小\n患者眼睛发红，咽喉部充血三天\n' |
  "$KBERT" tree --kg "$KG" --kg data/kbert/Medical.spo --tokenizer char --predicate \
    --max-length 64 --add-special |
  /usr/bin/python3 -c '
import json, sys
for line in sys.stdin:
    t = json.loads(line)
    print("text     ", t["text"])
    print("tokens   ", " ".join(t["tokens"]))
    print("positions", t["positions"])
    print("segments ", "".join(str(s) for s in t["segments"]))
    for x in t["injected"]:
        print("injected ", x["entity"], "->", x["relation"], x["object"], "at tokens", x["span"])
    print("visible matrix (row token may attend to column token):")
    n = len(t["tokens"])
    for i, row in enumerate(t["visible"]):
        cells = set(row)
        print("  %-5s %s" % (t["tokens"][i], "".join("#" if j in cells else "." for j in range(n))))
    print()
'

echo "== kbert bench tree: 1,200 ChnSentiCorp reviews, HowNet, max_length 256 =="
tail -n +2 data/kbert/chnsenticorp_test.tsv | cut -f2 |
  "$KBERT" bench tree --kg "$KG" --tokenizer char --predicate --max-length 256 --add-special
