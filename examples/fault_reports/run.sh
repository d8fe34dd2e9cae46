#!/usr/bin/env bash
# The fault-report classifier (see fault_reports.py): baselines, four kbert
# variants, the table, and explanations of a few test reports.
#   examples/fault_reports/run.sh [--quick] [fault_reports.py options]
set -euo pipefail
cd "$(dirname "$0")/../.."
exec /usr/bin/python3 examples/fault_reports/fault_reports.py "$@"
