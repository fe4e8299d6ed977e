"""The pipeline on real processes: a `dask scheduler`, two `dask worker` processes and the moto S3 server."""

from __future__ import annotations

import datetime as dt
import io
from pathlib import Path
from typing import Any

import distributed
import pyarrow.parquet as pq
import pytest
from test_pipeline import late_upload

from telemetry.config import S3Config, load_config
from telemetry.contract.layout import DayKey, features_key
from telemetry.io.lineage import load_run, read_lineage
from telemetry.io.store import Store
from telemetry.run.pipeline import run_features
from telemetry.sim.faults import FaultRates
from telemetry.sim.fleet import FleetSpec, simulate_fleet

START = dt.date(2026, 11, 2)
END = START + dt.timedelta(days=2)

pytestmark = [pytest.mark.s3, pytest.mark.slow]


def feature_bytes(out: Store, day: DayKey) -> Any:
    return pq.read_table(io.BytesIO(out.read_bytes(features_key(day))))


def test_fleet_on_real_processes_with_late_upload_and_as_of(
    dask_cluster_address: Any, s3_bucket_url: str, s3_config: S3Config, tmp_path: Path
) -> None:
    spec = FleetSpec(robots=4, days=3, hours=1, seed=21, failure_rate=60, faults=FaultRates(late_upload=0.0))
    raw = Store(s3_bucket_url, s3_config)
    out = Store(s3_bucket_url.rsplit("/", 1)[0] + "/out", s3_config)
    simulate_fleet(spec, raw.write_bytes)
    config = load_config(env={})
    days = [
        DayKey(spec.fleet, START + dt.timedelta(days=d), f"amr-000{r}") for r in range(1, 5) for d in range(3)
    ]

    with distributed.Client(dask_cluster_address.address) as client:
        first = run_features(raw, out, config, fleet=spec.fleet, start=START, end=END, client=client)
    assert not first.failed
    assert len(first.computed) == 12

    # the same robot-days computed in this process, on a local store: identical tables
    local = Store(str(tmp_path / "local"))
    run_features(raw, local, config, fleet=spec.fleet, start=START, end=END, client=None)
    for day in days:
        assert feature_bytes(out, day).equals(feature_bytes(local, day)), day

    late = DayKey(spec.fleet, START + dt.timedelta(days=1), "amr-0002")
    late_upload(raw, late)
    first_version, new_version = raw.list_versions(late.key)
    with distributed.Client(dask_cluster_address.address) as client:
        second = run_features(raw, out, config, fleet=spec.fleet, start=START, end=END, client=client)
        assert set(second.computed) == {
            f"{spec.fleet}/{START + dt.timedelta(days=d)}/amr-0002" for d in range(3)
        }
        assert len(second.skipped) == 9
        lineage = read_lineage(out, late)
        assert lineage is not None
        assert (late.key, new_version.version, new_version.size) in lineage.inputs
        assert lineage.run_id == second.manifest.run_id

        # --as-of the first run: exactly the first versions again (S3 keeps them)
        third = run_features(
            raw,
            out,
            config,
            fleet=spec.fleet,
            start=START,
            end=END,
            client=client,
            as_of=load_run(out, first.manifest.run_id),
        )
    assert set(third.computed) == set(second.computed)
    restored = read_lineage(out, late)
    assert restored is not None
    assert (late.key, first_version.version, first_version.size) in restored.inputs
    assert feature_bytes(out, late).equals(feature_bytes(local, late))


def test_killing_a_worker_mid_run_still_gives_complete_correct_outputs(
    dask_cluster_address: Any, s3_bucket_url: str, s3_config: S3Config, tmp_path: Path
) -> None:
    # 9 robot-days: 9 extract and 9 features tasks, ~1 s each; the kill comes when 2 are done
    spec = FleetSpec(robots=3, days=3, hours=2, seed=8, failure_rate=30, faults=FaultRates(late_upload=0.0))
    raw = Store(s3_bucket_url, s3_config)
    out = Store(s3_bucket_url.rsplit("/", 1)[0] + "/out", s3_config)
    simulate_fleet(spec, raw.write_bytes)
    config = load_config(env={})
    killed: list[int] = []

    def kill_once(done: int, total: int) -> None:
        if done >= 2 and not killed:
            dask_cluster_address.kill_worker(0)
            killed.append(done)

    try:
        with distributed.Client(dask_cluster_address.address) as client:
            summary = run_features(
                raw, out, config, fleet=spec.fleet, start=START, end=END, client=client, progress=kill_once
            )
    finally:
        dask_cluster_address.ensure_workers()
    assert killed, "the worker was never killed"
    assert not summary.failed
    assert len(summary.computed) == 9
    local = Store(str(tmp_path / "local"))
    run_features(raw, local, config, fleet=spec.fleet, start=START, end=END, client=None)
    for r in range(1, 4):
        for d in range(3):
            day = DayKey(spec.fleet, START + dt.timedelta(days=d), f"amr-000{r}")
            assert feature_bytes(out, day).equals(feature_bytes(local, day)), day
