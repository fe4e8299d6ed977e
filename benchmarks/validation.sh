#!/usr/bin/env bash
# Validation on public datasets (docs/validation.md): SKAB and the Azure PdM subset, through the project's
# own importer, pipeline and trainer. Usage: benchmarks/validation.sh [DATA_DIR] [WORK_DIR]
#   DATA_DIR: the folder holding skab/ and azure_pdm/ (default ../shared/data)
#   WORK_DIR: where raw zips, features and models go (default /tmp/telemetry-validation)
set -euo pipefail
DATA=${1:-../shared/data}
WORK=${2:-/tmp/telemetry-validation}
T=${TELEMETRY:-.venv/bin/telemetry}
mkdir -p "$WORK"

echo "== SKAB: detect an anomaly within 30 s of its onset (1 s rows, one unit per experiment file)"
SKAB=(--set labels.horizon_s=30 --set labels.cooldown_s=900 --set "features.windows_s=[10,30,60]")
$T import-csv "$DATA"/skab/*/*.csv --sep ';' --time-column datetime --unit-from-path \
  --label-column anomaly --label-delay-s 30 --fleet skab --out "$WORK/skab/raw" --write-config "$WORK/skab.yaml"
$T features --config "$WORK/skab.yaml" "${SKAB[@]}" --raw "$WORK/skab/raw" --out "$WORK/skab/out" \
  --start 2020-02-08 --end 2020-03-09
echo "-- split by day (train Feb 8, validate Mar 1, test Mar 9)"
$T train --config "$WORK/skab.yaml" "${SKAB[@]}" --features "$WORK/skab/out" --fleet skab
echo "-- split inside Mar 9 (train until 12:00, validate 12:00-14:00, test from 14:00)"
$T train --config "$WORK/skab.yaml" "${SKAB[@]}" --features "$WORK/skab/out" --fleet skab \
  --valid-start 2020-03-09T12:00 --test-start 2020-03-09T14:00

echo "== Azure PdM subset: hourly rows of 20 machines, failures/errors/maintenance tables"
A="$DATA/azure_pdm"
PDM=(--set labels.horizon_s=86400 --set labels.grid_step_s=10800 --set labels.cooldown_s=0
     --set "features.windows_s=[10800,86400]")
$T import-csv "$A"/PdM_telemetry_SUBSET_machines1-20_2015-01-01_to_2015-04-01.csv.gz --time-column datetime \
  --unit-column machineID --unit-prefix machine- --events failure="$A/PdM_failures.csv.gz:failure" \
  --events error="$A/PdM_errors.csv.gz:errorID" --events maintenance="$A/PdM_maint.csv.gz:comp" \
  --fleet azure-pdm --out "$WORK/azure/raw" --write-config "$WORK/azure.yaml"
echo "-- event mode: one positive per failure, 24 h horizon"
$T features --config "$WORK/azure.yaml" "${PDM[@]}" --raw "$WORK/azure/raw" --out "$WORK/azure/out" \
  --start 2015-01-01 --end 2015-04-01
$T train --config "$WORK/azure.yaml" "${PDM[@]}" --features "$WORK/azure/out" --fleet azure-pdm \
  --set train.alert_budget=0.1
echo "-- grid mode: every 3 h record labelled 'failure in the next 24 h' (the published baseline's labels)"
$T features --config "$WORK/azure.yaml" "${PDM[@]}" --set labels.mode=grid --raw "$WORK/azure/raw" \
  --out "$WORK/azure/out-grid" --start 2015-01-01 --end 2015-04-01
$T train --config "$WORK/azure.yaml" "${PDM[@]}" --set labels.mode=grid --features "$WORK/azure/out-grid" \
  --fleet azure-pdm --set train.alert_budget=1
