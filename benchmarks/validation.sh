#!/usr/bin/env bash
# Validation on public datasets (docs/validation.md): a thin wrapper of benchmarks/validation.py, which runs
# SKAB and the Azure PdM subset through the product's importer, pipeline and trainer, the pandas baseline,
# and writes benchmarks/results/validation.json and the tables of docs/validation.md.
# Usage: benchmarks/validation.sh [DATA_DIR] [WORK_DIR] [options of python -m benchmarks.validation]
#   DATA_DIR: the folder holding skab/ and azure_pdm/ (default ../shared/data)
#   WORK_DIR: where raw zips, features and models go (default /tmp/telemetry-validation)
set -euo pipefail
REPO=$(cd "$(dirname "$0")/.." && pwd)
PYTHONPATH="$REPO${PYTHONPATH:+:$PYTHONPATH}" exec "$REPO/.venv/bin/python" -m benchmarks.validation \
  --data "${1:-$REPO/../shared/data}" --work "${2:-/tmp/telemetry-validation}" "${@:3}"
