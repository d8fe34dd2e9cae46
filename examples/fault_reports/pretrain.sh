#!/usr/bin/env bash
# How data/fault_reports/pretrained was made (not part of the main job: it reads
# ../shared/data, which the project does not ship; it took 59 minutes on 2 cores
# shared with another job). Re-run it to rebuild the shipped encoder:
#   examples/fault_reports/pretrain.sh [SHARED_DATA_DIR]
# 1. corpus: 18,695 NRC licensee event reports (title + abstract) and the 1,091
#    PHMSA training narratives (2010-2019; dev and test reports are not used). The
#    training split now also holds the 2004-2009 reports: to rebuild the shipped
#    encoder exactly, make the split first with prepare_data.py --no-2004;
# 2. an uncased WordPiece vocabulary of 6,000 entries learned from that corpus;
# 3. MLM pre-training (whole-word masking, 15%) of a small BERT: 4 layers,
#    hidden 160, 4 heads, feed-forward 640 (UER's 512 positions); two epochs,
#    batch 32, max_length 256, batches in corpus order (--no-length-grouping: the
#    shipped encoder was trained before length grouping existed);
# 4. the weights stored as F16 to halve the shipped size (2.2M parameters,
#    4.5 MB: a repository file stays under 5 MB).
set -euo pipefail
cd "$(dirname "$0")/../.."
SHARED=${1:-../shared/data}
KBERT=${KBERT:-build/apps/kbert}
WORK=${WORK:-build/fault_reports_pretrain}
OUT=data/fault_reports/pretrained
mkdir -p "$WORK"

/usr/bin/python3 examples/fault_reports/prepare_data.py --shared "$SHARED" --nrc-out "$WORK/nrc.txt"
cat "$WORK/nrc.txt" <(tail -n +2 data/fault_reports/phmsa_train.tsv | cut -f2) > "$WORK/corpus.txt"
/usr/bin/python3 -c "
import random, sys
lines = open(sys.argv[1], encoding='utf-8').readlines()
random.Random(7).shuffle(lines)
open(sys.argv[2], 'w', encoding='utf-8').writelines(lines)" "$WORK/corpus.txt" "$WORK/corpus_shuffled.txt"
"$KBERT" vocab --corpus "$WORK/corpus.txt" --out "$WORK/vocab.txt" --size 6000 --min-frequency 3
cat > "$WORK/config.json" <<'JSON'
{"emb_size": 160, "feedforward_size": 640, "hidden_size": 160, "heads_num": 4, "layers_num": 4, "dropout": 0.1, "max_seq_length": 256}
JSON
"$KBERT" pretrain --corpus "$WORK/corpus_shuffled.txt" --config "$WORK/config.json" --vocab "$WORK/vocab.txt" \
  --tokenizer wordpiece --out "$WORK/pretrained" --epochs 2 --batch-size 32 --learning-rate 1e-3 \
  --max-length 256 --seed 7 --no-length-grouping | tee "$WORK/pretrain.json"
rm -rf "$OUT.tmp" && mkdir -p "$OUT.tmp"
cp "$WORK/pretrained/config.json" "$WORK/pretrained/vocab.txt" "$WORK/pretrained/kbert.json" "$OUT.tmp/"
/usr/bin/python3 examples/fault_reports/to_float16.py "$WORK/pretrained/model.safetensors" "$OUT.tmp/model.safetensors"
cp "$WORK/pretrain.json" "$OUT.tmp/pretrain.json"
rm -rf "$OUT" && mv "$OUT.tmp" "$OUT"
echo "wrote $OUT"
