#!/usr/bin/env bash
# The main job: the energy fault-report classifier (examples/fault_reports).
# Sets up (Debian packages, build, Python module), then trains and evaluates on
# PHMSA gas-distribution incident reports: the majority-class and TF-IDF +
# logistic-regression baselines, kbert without knowledge, with the energy KG but
# no visible matrix, and K-BERT; prints the table and explains a few test
# reports with the knowledge the model saw. About 20 minutes on 2 cores.
#   bash scripts/run.sh            the full run (results in build/fault_reports/)
#   bash scripts/run.sh --quick    a smoke version, about 2 minutes
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
exec examples/fault_reports/run.sh "$@"
