#!/usr/bin/env bash
# The K-BERT classification workflow on ChnSentiCorp with HowNet, three ways:
# the same small BERT, first pre-trained (MLM) on the training texts, then fine-tuned
#   1. without knowledge (--kg none),
#   2. with HowNet but without the visible matrix (--no-visible-matrix),
#   3. K-BERT: HowNet with soft positions and the visible matrix.
# Prints dev/test accuracy and the time each took, as a Markdown table.
#   examples/chnsenticorp/run.sh [--smoke]   (smoke: tiny model, 300 texts, 1 epoch)
set -euo pipefail
cd "$(dirname "$0")/../.."
KBERT=${KBERT:-build/apps/kbert}
DATA=data/kbert
OUT=${OUT:-build/chnsenticorp}
mkdir -p "$OUT"
if [ "${1:-}" = "--smoke" ]; then
  N=300; HIDDEN=32; LAYERS=2; HEADS=4; FF=64; PRE_EPOCHS=1; EPOCHS=1; LEN=64; LR=1e-3
else
  # Sized to finish in about 20 minutes on 2 cores; raise for better accuracy.
  N=0; HIDDEN=${HIDDEN:-128}; LAYERS=${LAYERS:-2}; HEADS=${HEADS:-2}; FF=${FF:-512}
  PRE_EPOCHS=${PRE_EPOCHS:-1}; EPOCHS=${EPOCHS:-2}; LEN=${LEN:-256}; LR=${LR:-5e-4}
fi
take() { if [ "$N" -gt 0 ]; then head -n $((N + 1)) "$1"; else cat "$1"; fi; }
take $DATA/chnsenticorp_train.tsv > "$OUT/train.tsv"
take $DATA/chnsenticorp_dev.tsv > "$OUT/dev.tsv"
take $DATA/chnsenticorp_test.tsv > "$OUT/test.tsv"
tail -n +2 "$OUT/train.tsv" | cut -f2 > "$OUT/corpus.txt"
cat > "$OUT/config.json" <<JSON
{"emb_size": $HIDDEN, "feedforward_size": $FF, "hidden_size": $HIDDEN, "heads_num": $HEADS, "layers_num": $LAYERS, "dropout": 0.1}
JSON

now() { date +%s; }
t0=$(now)
"$KBERT" pretrain --corpus "$OUT/corpus.txt" --config "$OUT/config.json" --vocab $DATA/google_vocab.txt \
  --out "$OUT/pretrained" --epochs $PRE_EPOCHS --batch-size 32 --learning-rate 1e-3 --max-length 128 --seed 7 \
  --quiet > "$OUT/pretrain.json"
pre_s=$(( $(now) - t0 ))

# Each variant starts from the pre-trained encoder: copy its weights in through --model.
run_from_pretrained() {
  local name=$1; shift
  local t=$(now)
  "$KBERT" train --train "$OUT/train.tsv" --dev "$OUT/dev.tsv" --test "$OUT/test.tsv" --model "$OUT/pretrained" \
    --max-length $LEN --batch-size 32 --epochs $EPOCHS --learning-rate $LR --seed 7 --out "$OUT/$name" "$@" \
    --quiet > "$OUT/$name.json"
  echo $(( $(now) - t )) > "$OUT/$name.seconds"
}
run_from_pretrained no_kg --kg none
run_from_pretrained kg_no_vm --kg $DATA/HowNet.spo --no-visible-matrix
run_from_pretrained kbert --kg $DATA/HowNet.spo

/usr/bin/python3 - "$OUT" "$pre_s" <<'PY'
import json, sys
out, pre = sys.argv[1], float(sys.argv[2])
p = json.load(open(out + '/pretrain.json'))
print(f"pre-training (MLM on the training texts): {pre:.0f} s, loss {p['first_loss']:.3f} -> {p['final_loss']:.3f}")
print("| variant | dev accuracy | test accuracy | test macro-F1 | fine-tuning time |")
print("|---|---|---|---|---|")
for name, label in (("no_kg", "no KG"), ("kg_no_vm", "HowNet, no visible matrix"), ("kbert", "K-BERT (HowNet, visible matrix)")):
    r = json.load(open(f"{out}/{name}.json"))
    s = float(open(f"{out}/{name}.seconds").read())
    print(f"| {label} | {r['dev']['accuracy']:.4f} | {r['test']['accuracy']:.4f} | {r['test']['macro_f1']:.4f} | {s:.0f} s |")
PY
