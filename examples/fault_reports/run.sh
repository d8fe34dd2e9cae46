#!/usr/bin/env bash
# The fault-report classifier (see fault_reports.py): the baselines, the configuration
# the validation protocol chose and kbert without knowledge, the table, retrieval and
# explanations of a few test reports; --protocol runs the protocol itself.
#   examples/fault_reports/run.sh [--quick | --protocol] [options]
set -euo pipefail
cd "$(dirname "$0")/../.."
exec /usr/bin/python3 examples/fault_reports/fault_reports.py "$@"
