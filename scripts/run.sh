#!/usr/bin/env bash
# The main job: the energy fault-report classifier (examples/fault_reports).
# Sets up (Debian packages, build, Python module), then trains on PHMSA
# gas-distribution incident reports of 2004-2020 the configuration the validation
# protocol chose (examples/fault_reports/fault_reports.py, CHOSEN) and kbert without
# knowledge, scores them on 2021-2023 beside the majority class and TF-IDF + logistic
# regression, prints the table with the knowledge's effect and its bootstrap interval,
# measures similar-report retrieval and explains a few test reports.
#   bash scripts/run.sh                  the default run, 6 minutes on 2 cores (results in build/fault_reports/)
#   bash scripts/run.sh --seeds 7,8,9    every kbert row as mean +- std over three seeds
#   bash scripts/run.sh --protocol       the validation protocol (2004-2016 / 2017-2020, 3 seeds,
#                                        then the chosen configuration on test; about 2 hours)
#   bash scripts/run.sh --quick          a smoke version, about 3 minutes
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
exec examples/fault_reports/run.sh "$@"
