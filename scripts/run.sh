#!/usr/bin/env bash
# The main job: the energy fault-report classifier (examples/fault_reports).
# Sets up (Debian packages, build, Python module), then trains and evaluates on
# PHMSA gas-distribution incident reports (2004-2019 train, 2020 dev, 2021-2023
# test): the majority-class and TF-IDF + logistic-regression baselines, kbert
# without knowledge and K-BERT, each also with a lexical side channel; prints the
# table, measures similar-report retrieval and explains a few test reports with the
# knowledge the model saw. With 10 epochs (the default), one seed: two fine-tunings at
# a time (no KG, K-BERT), then the two lexical ones: 23 minutes on 2 cores (measured, quiet).
#   bash scripts/run.sh                  the full run (results in build/fault_reports/)
#   bash scripts/run.sh --seeds 7,8,9    every kbert row as mean +- std over three seeds
#   bash scripts/run.sh --quick          a smoke version, about 3 minutes
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
exec examples/fault_reports/run.sh "$@"
