#!/usr/bin/env bash
# The medical NER benchmark (see medical_ner.py): pre-train a small char-level BERT on
# the training sentences, fine-tune it as a tagger without knowledge, with the Medical
# KG but no visible matrix, and as K-BERT; entity-level scores on test, as a table.
#   examples/medical_ner/run.sh [--quick] [medical_ner.py options]
set -euo pipefail
cd "$(dirname "$0")/../.."
exec /usr/bin/python3 examples/medical_ner/medical_ner.py "$@"
