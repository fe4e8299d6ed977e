"""The fleet pipeline: partition invariance, lineage, incremental recompute, as-of runs."""

from __future__ import annotations

import datetime as dt
import io
import json
import zipfile
from pathlib import Path

import dask.dataframe as dd
import pandas as pd
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest

from telemetry.config import TelemetryConfig, load_config
from telemetry.contract.envelope import day_bounds_ms
from telemetry.contract.layout import DayKey
from telemetry.io.lineage import read_lineage
from telemetry.io.store import Store
from telemetry.run.pipeline import halo_days, halo_ms, history_days, robot_features, run_features
from telemetry.sim.faults import FaultRates
from telemetry.sim.fleet import FleetSpec, simulate_fleet
from telemetry.stages.features import feature_table_schema

START = dt.date(2026, 11, 2)


def features_of(out: Store, day: DayKey) -> pd.DataFrame:
    key = f"features/fleet={day.fleet}/date={day.date}/{day.robot_id}.parquet"
    return pq.read_table(io.BytesIO(out.read_bytes(key))).to_pandas()


def late_upload(raw: Store, day: DayKey, extra_seconds: int = 10) -> None:
    """Append one more envelope to a day zip: a new version of the object."""
    [obj] = raw.list_day_zips(day.fleet, day.date, day.date, {day.robot_id})
    data = raw.read(obj)
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        members = [(i.filename, zf.read(i)) for i in zf.infolist()]
    start, _ = day_bounds_ms(day.date)
    sent = start + 23 * 3_600_000 + extra_seconds * 1000
    doc = {
        "schema": "telemetry.v1",
        "fleet": day.fleet,
        "robot_id": day.robot_id,
        "seq": 999_999,
        "sent_at": sent,
        "signals": {"battery": [{"ts": sent - 500, "voltage": 47.0, "current": 3.0, "soc": 50.0}]},
    }
    import gzip

    members.append(
        (f"{day.robot_id}/{sent}-999999.json.gz", gzip.compress(json.dumps(doc).encode(), mtime=0))
    )
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, payload in members:
            zf.writestr(name, payload)
    raw.write_bytes(obj.key, buf.getvalue())


@pytest.fixture(scope="module")
def small_fleet(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, FleetSpec]:
    root = tmp_path_factory.mktemp("fleet")
    spec = FleetSpec(robots=2, days=3, hours=2, seed=11, failure_rate=60, faults=FaultRates(late_upload=0.0))
    simulate_fleet(spec, Store(str(root / "raw")).write_bytes)
    return root, spec


def test_run_writes_features_lineage_and_manifest(
    tmp_path: Path, small_fleet: tuple[Path, FleetSpec]
) -> None:
    root, spec = small_fleet
    raw, out = Store(str(root / "raw")), Store(str(tmp_path / "out"))
    config = load_config(env={})
    summary = run_features(raw, out, config, fleet=spec.fleet, start=START, end=START + dt.timedelta(days=2))
    assert len(summary.computed) == 6
    assert not summary.failed
    day = DayKey(spec.fleet, START + dt.timedelta(days=1), "amr-0001")
    lineage = read_lineage(out, day)
    assert lineage is not None
    assert [k for k, _, _ in lineage.inputs] == [
        f"fleet={spec.fleet}/date={START + dt.timedelta(days=d)}/amr-0001.zip" for d in (0, 1, 2)
    ]
    table = pq.read_table(
        io.BytesIO(out.read_bytes(f"features/fleet={spec.fleet}/date={day.date}/amr-0001.parquet"))
    )
    assert table.schema == feature_table_schema(
        signals=config.signals,
        features=config.features,
        labels=config.labels,
        history=config.history,
        units=config.units,
    )
    manifest = json.loads(out.read_bytes(summary.manifest.key()))
    assert manifest["summary"]["computed"] == 6
    assert manifest["summary"]["documents"] == summary.extract.documents > 0
    assert {i["key"] for i in manifest["inputs"]} == {o.key for o in raw.list_day_zips(spec.fleet)}
    # readable as one hive-partitioned dataset by pandas, pyarrow.dataset and dask.dataframe
    frame = pd.read_parquet(str(tmp_path / "out/features"))
    assert len(frame) == manifest["summary"]["examples"]
    assert set(frame["date"].astype(str)) == {str(START + dt.timedelta(days=d)) for d in range(3)}
    dataset = ds.dataset(str(tmp_path / "out/features"), format="parquet", partitioning="hive")
    assert dataset.count_rows() == len(frame)
    assert dataset.schema.field("motor.temp_left__slope__w42s").type == pa.float64()
    lazy = dd.read_parquet(str(tmp_path / "out/features"))
    assert int(lazy["label"].sum().compute()) == int(frame["label"].sum())


def test_late_upload_recomputes_the_day_and_its_neighbours_only(
    tmp_path: Path, small_fleet: tuple[Path, FleetSpec]
) -> None:
    root, spec = small_fleet
    raw = Store(str(tmp_path / "raw"))
    for obj in Store(str(root / "raw")).list_day_zips(spec.fleet):
        raw.write_bytes(obj.key, Store(str(root / "raw")).read(obj))
    out = Store(str(tmp_path / "out"))
    config = load_config(env={})
    end = START + dt.timedelta(days=2)
    run_features(raw, out, config, fleet=spec.fleet, start=START, end=end)
    before = {
        d: features_of(out, DayKey(spec.fleet, START + dt.timedelta(days=d), "amr-0002")) for d in range(3)
    }

    late_day = DayKey(spec.fleet, START + dt.timedelta(days=1), "amr-0001")
    late_upload(raw, late_day)
    again = run_features(raw, out, config, fleet=spec.fleet, start=START, end=end)
    assert set(again.computed) == {f"{spec.fleet}/{START + dt.timedelta(days=d)}/amr-0001" for d in (0, 1, 2)}
    assert len(again.skipped) == 3
    [new] = raw.list_day_zips(spec.fleet, late_day.date, late_day.date, {"amr-0001"})
    lineage = read_lineage(out, late_day)
    assert lineage is not None
    assert (new.key, new.version, new.size) in lineage.inputs
    for d in range(3):  # the other robot's outputs are untouched
        pd.testing.assert_frame_equal(
            features_of(out, DayKey(spec.fleet, START + dt.timedelta(days=d), "amr-0002")), before[d]
        )

    changed = load_config(env={}, overrides=["labels.horizon_s=120"])
    third = run_features(raw, out, changed, fleet=spec.fleet, start=START, end=end)
    assert len(third.computed) == 6  # a result-changing config change recomputes everything
    cosmetic = load_config(env={}, overrides=["labels.horizon_s=120", "cluster.memory_limit=1GiB"])
    assert run_features(raw, out, cosmetic, fleet=spec.fleet, start=START, end=end).computed == []


@pytest.mark.slow
def test_features_are_identical_whatever_the_partitioning(tmp_path: Path) -> None:
    """One robot over two full days: per-day partitions with halos == one span over both days (with the
    baseline z features: the first hour of the second day looks back into the first)."""
    spec = FleetSpec(robots=1, days=2, seed=4, failure_rate=12)
    raw, out = Store(str(tmp_path / "raw")), Store(str(tmp_path / "out"))
    simulate_fleet(spec, raw.write_bytes)
    config: TelemetryConfig = load_config(
        env={}, overrides=["features.windows_s=[10, 42, 300]", "features.baseline_s=3600"]
    )
    run_features(raw, out, config, fleet=spec.fleet, start=START, end=START + dt.timedelta(days=1))
    per_day = pd.concat(
        [features_of(out, DayKey(spec.fleet, START + dt.timedelta(days=d), "amr-0001")) for d in (0, 1)],
        ignore_index=True,
    )
    merged = {  # every sample of both days, as one span (what a single partition would read)
        spec_.name: pa.concat_tables(
            [
                pq.read_table(
                    str(tmp_path / f"out/signals/{spec_.name}/fleet={spec.fleet}/date={day}/amr-0001.parquet")
                )
                for day in (START, START + dt.timedelta(days=1))
            ]
        )
        for spec_ in config.signals
    }
    start, _ = day_bounds_ms(START)
    _, end = day_bounds_ms(START + dt.timedelta(days=1))
    whole = robot_features(merged, config, robot_id="amr-0001", start=start, end=end).table.to_pandas()
    assert len(whole) > 20_000
    assert whole["label"].sum() > 0
    pd.testing.assert_frame_equal(per_day, whole)
    before, after = halo_ms(config)
    assert before == 3_600_000 + 3_600_000  # the 1 h baseline (> longest window) + mission's 1 h tolerance
    no_baseline = load_config(env={}, overrides=["features.windows_s=[10, 42, 300]"])
    assert halo_ms(no_baseline)[0] == 300_000 + 3_600_000  # longest window + the mission signal's tolerance
    assert halo_days(config) == halo_days(no_baseline) == (1, 1)
    assert after == 300_000 + 600_000  # horizon + labels.unobserved_failure_s


# ------------------------------------------------------------------------------ history beyond the halo

HISTORY = ["history.horizons_s=[3600, 172800]"]
"""A 2-day longest horizon: a robot-day reads the events of the 3 days before it (2 days + the 1 h slack),
two more than its halo's single day back."""


@pytest.fixture(scope="module")
def history_fleet(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, FleetSpec]:
    root = tmp_path_factory.mktemp("history-fleet")
    spec = FleetSpec(robots=1, days=5, hours=2, seed=3, failure_rate=60, faults=FaultRates(late_upload=0.0))
    simulate_fleet(spec, Store(str(root / "raw")).write_bytes)
    return root, spec


def add_event(raw: Store, day: DayKey, ts: int, kind: str, code: str) -> None:
    """A new version of a day zip: one more envelope, sent 1 s after ``ts``, carrying one event."""
    [obj] = raw.list_day_zips(day.fleet, day.date, day.date, {day.robot_id})
    with zipfile.ZipFile(io.BytesIO(raw.read(obj))) as zf:
        members = [(i.filename, zf.read(i)) for i in zf.infolist()]
    doc = {
        "schema": "telemetry.v1",
        "fleet": day.fleet,
        "robot_id": day.robot_id,
        "seq": 999_998,
        "sent_at": ts + 1000,
        "signals": {"events": [{"ts": ts, "kind": kind, "code": code, "severity": 1}]},
    }
    import gzip

    members.append(
        (f"{day.robot_id}/{ts + 1000}-999998.json.gz", gzip.compress(json.dumps(doc).encode(), mtime=0))
    )
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, payload in members:
            zf.writestr(name, payload)
    raw.write_bytes(obj.key, buf.getvalue())


def test_history_features_are_identical_whatever_the_partitioning(
    tmp_path: Path, history_fleet: tuple[Path, FleetSpec]
) -> None:
    """One run over five days, one run per day (the latest first: each run extracts the earlier days its
    history reads, before its own start date) and one ``robot_features`` call over the whole span give the
    same tables, bit for bit; the history columns see days back, beyond the day and its halo."""
    root, spec = history_fleet
    raw = Store(str(root / "raw"))
    config = load_config(env={}, overrides=HISTORY)
    assert (halo_days(config), history_days(config)) == ((1, 1), 3)
    days = [DayKey(spec.fleet, START + dt.timedelta(days=d), "amr-0001") for d in range(spec.days)]
    together, apart = Store(str(tmp_path / "together")), Store(str(tmp_path / "apart"))
    run_features(raw, together, config, fleet=spec.fleet, start=days[0].date, end=days[-1].date)
    for day in reversed(days):
        run_features(raw, apart, config, fleet=spec.fleet, start=day.date, end=day.date)
    lineage = read_lineage(apart, days[4])
    assert lineage is not None
    assert [k for k, _, _ in lineage.inputs] == [d.key for d in days[1:5]]  # 3 days back, none after
    for day in days:
        pd.testing.assert_frame_equal(features_of(apart, day), features_of(together, day), check_exact=True)

    merged = {  # every sample of every day, as one span (what a single partition would read)
        s.name: pa.concat_tables(
            [
                pq.read_table(
                    str(
                        tmp_path
                        / f"together/signals/{s.name}/fleet={spec.fleet}/date={d.date}/amr-0001.parquet"
                    )
                )
                for d in days
            ]
        )
        for s in config.signals
    }
    start, _ = day_bounds_ms(days[0].date)
    _, end = day_bounds_ms(days[-1].date)
    whole = robot_features(merged, config, robot_id="amr-0001", start=start, end=end).table.to_pandas()
    per_day = pd.concat([features_of(together, day) for day in days], ignore_index=True)
    pd.testing.assert_frame_equal(per_day, whole, check_exact=True)
    history = [c for c in whole.columns if c.startswith("history.")]
    assert len(history) == 4 + 7 + 4 * 2
    assert (whole["history.kind__since_last:failure"] > 86_400).any()  # the last failure: a day or more ago
    later = whole[whole["cutoff"] >= day_bounds_ms(days[1].date)[0]]  # earlier days' failures count
    assert (
        later["history.kind__count:failure__h172800s"] > later["history.kind__count:failure__h3600s"]
    ).all()


def test_a_new_version_of_an_earlier_day_recomputes_the_later_days_its_events_reach(
    tmp_path: Path, history_fleet: tuple[Path, FleetSpec]
) -> None:
    root, spec = history_fleet
    raw = Store(str(tmp_path / "raw"))
    for obj in Store(str(root / "raw")).list_day_zips(spec.fleet):
        raw.write_bytes(obj.key, Store(str(root / "raw")).read(obj))
    out = Store(str(tmp_path / "out"))
    config = load_config(env={}, overrides=HISTORY)
    days = [DayKey(spec.fleet, START + dt.timedelta(days=d), "amr-0001") for d in range(spec.days)]
    run_features(raw, out, config, fleet=spec.fleet, start=days[0].date, end=days[-1].date)
    before = {day: features_of(out, day) for day in days}

    day_start, _ = day_bounds_ms(days[1].date)
    add_event(raw, days[1], day_start + 1_800_000, "maintenance", "UNLISTED")  # day 1, 00:30
    again = run_features(raw, out, config, fleet=spec.fleet, start=days[0].date, end=days[-1].date)
    # day 1, day 0 (its label halo reads the next day) and the 3 days whose history reads day 1
    assert set(again.computed) == {str(day) for day in days}
    [new] = raw.list_day_zips(spec.fleet, days[1].date, days[1].date, {"amr-0001"})
    for day in days[1:5]:
        lineage = read_lineage(out, day)
        assert lineage is not None and (new.key, new.version, new.size) in lineage.inputs, day

    # two days later, the cutoffs before 00:30 count the maintenance within their 2-day horizon; nothing
    # else of that day changes (a window or label never reaches two days back)
    after = features_of(out, days[3])
    changed = {c for c in after.columns if not after[c].equals(before[days[3]][c])}
    assert changed == {"history.kind__since_last:maintenance", "history.kind__count:maintenance__h172800s"}
    event_time = day_start + 1_800_000
    sees = after["cutoff"] <= event_time + 172_800_000
    assert sees.any() and not sees.all()
    assert after.loc[sees, "history.kind__count:maintenance__h172800s"].eq(1).all()
    assert after.loc[~sees, "history.kind__count:maintenance__h172800s"].eq(0).all()
    expected = (after.loc[sees, "cutoff"] - event_time) / 1000
    assert after.loc[sees, "history.kind__since_last:maintenance"].tolist() == expected.tolist()
    # three days later the event is older than the longest horizon: recomputed (its lineage read day 1),
    # identical
    pd.testing.assert_frame_equal(features_of(out, days[4]), before[days[4]], check_exact=True)
