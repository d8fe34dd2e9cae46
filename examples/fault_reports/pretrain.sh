#!/usr/bin/env bash
# How data/fault_reports/pretrained was made (not part of the main job: it reads
# ../shared/data, which the project does not ship). Re-run it to rebuild the shipped
# encoder; every stage resumes where a stopped run left off:
#   examples/fault_reports/pretrain.sh [SHARED_DATA_DIR]
# Stage 1 (the first shipped encoder; 59 minutes on 2 cores beside another job):
#   corpus: 18,695 NRC licensee event reports (title + abstract) and the 1,091 PHMSA
#   training narratives of 2010-2019 (the split of the time, prepare_data.py --no-2004;
#   dev and test reports are never used); an uncased WordPiece vocabulary of 6,000 entries
#   learned from it; MLM (whole-word masking, 15%) of a small BERT from scratch: 4 layers,
#   hidden 160, 4 heads, feed-forward 640 (UER's 512 positions), two epochs, batch 32,
#   learning rate 1e-3, max_length 256, batches in corpus order (--no-length-grouping:
#   trained before length grouping existed). MLM loss 8.74 -> 5.61.
# Stage 2 (continued pre-training on the domain corpus, same vocabulary):
#   build_corpus.py: PHMSA narratives 1984-2019 outside the dev/test years, NRC reports,
#   FAA and MaintNet maintenance text, deduplicated (30,956 texts, 4.6M words); four
#   epochs from stage 1, batch 32, learning rate 1e-3 (10% warm-up, linear decay),
#   max_length 256, seed 7, a checkpoint every 200 steps (--resume continues).
# Stage 3: the weights stored as F16 to halve the shipped size.
set -euo pipefail
cd "$(dirname "$0")/../.."
SHARED=${1:-../shared/data}
KBERT=${KBERT:-build/apps/kbert}
WORK=${WORK:-build/fault_reports_pretrain}
OUT=data/fault_reports/pretrained
mkdir -p "$WORK"

# Stage 1.
if [ ! -f "$WORK/stage1/model.safetensors" ]; then
  /usr/bin/python3 examples/fault_reports/prepare_data.py --shared "$SHARED" --out "$WORK/split_2010" --no-2004 \
    --nrc-out "$WORK/nrc.txt"
  cat "$WORK/nrc.txt" <(tail -n +2 "$WORK/split_2010/phmsa_train.tsv" | cut -f2) > "$WORK/corpus1.txt"
  /usr/bin/python3 -c "
import random, sys
lines = open(sys.argv[1], encoding='utf-8').readlines()
random.Random(7).shuffle(lines)
open(sys.argv[2], 'w', encoding='utf-8').writelines(lines)" "$WORK/corpus1.txt" "$WORK/corpus1_shuffled.txt"
  "$KBERT" vocab --corpus "$WORK/corpus1.txt" --out "$WORK/vocab.txt" --size 6000 --min-frequency 3
  cat > "$WORK/config.json" <<'JSON'
{"emb_size": 160, "feedforward_size": 640, "hidden_size": 160, "heads_num": 4, "layers_num": 4, "dropout": 0.1, "max_seq_length": 256}
JSON
  "$KBERT" pretrain --corpus "$WORK/corpus1_shuffled.txt" --config "$WORK/config.json" --vocab "$WORK/vocab.txt" \
    --tokenizer wordpiece --out "$WORK/stage1" --epochs 2 --batch-size 32 --learning-rate 1e-3 \
    --max-length 256 --seed 7 --no-length-grouping --resume | tee "$WORK/stage1.json"
fi

# Stage 2.
/usr/bin/python3 examples/fault_reports/build_corpus.py --shared "$SHARED" --out "$WORK/corpus2.txt"
"$KBERT" pretrain --corpus "$WORK/corpus2.txt" --model "$WORK/stage1" --out "$WORK/stage2" --epochs 4 \
  --batch-size 32 --learning-rate 1e-3 --max-length 256 --seed 7 --checkpoint-every 200 --resume | tee "$WORK/stage2.json"

# Stage 3.
rm -rf "$OUT.tmp" && mkdir -p "$OUT.tmp"
cp "$WORK/stage2/config.json" "$WORK/stage2/vocab.txt" "$WORK/stage2/kbert.json" "$OUT.tmp/"
/usr/bin/python3 examples/fault_reports/to_float16.py "$WORK/stage2/model.safetensors" "$OUT.tmp/model.safetensors"
cat "$WORK/stage1.json" "$WORK/stage2.json" > "$OUT.tmp/pretrain.jsonl"  # one JSON line per stage
rm -rf "$OUT" && mv "$OUT.tmp" "$OUT"
echo "wrote $OUT"
