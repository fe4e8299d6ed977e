#!/bin/sh
# Entry point of the telemetry image: `telemetry "$@"`, except that a first argument `dask` runs the Dask
# CLI (`dask scheduler`, `dask worker`). Pod specs made by dask-kubernetes (the chart's DaskCluster,
# `telemetry cluster-spec`, KubeCluster) put the Dask command in `args`, which Kubernetes hands to the
# image's entry point; without this, workers would run `telemetry dask worker ...`.
set -eu
if [ "${1:-}" = "dask" ]; then
    exec "$@"
fi
exec telemetry "$@"
