"""Lineage (telemetry/io/lineage.py): partition lineage and run manifests survive a JSON round trip, the
fingerprint depends on inputs, configuration and code only, and ``load_run`` names the known runs when asked
for another."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import re
from pathlib import Path

import pytest

from telemetry import __version__
from telemetry.config import TelemetryConfig, load_config
from telemetry.contract.layout import DayKey, day_zip_key, lineage_key, run_manifest_key
from telemetry.errors import NothingToDoError
from telemetry.io.lineage import (
    PartitionLineage,
    RunManifest,
    features_config_hash,
    load_run,
    read_lineage,
    result_config_hash,
)
from telemetry.io.store import RawObject, Store

DAY = DayKey("acme-dc3", dt.date(2026, 11, 2), "amr-0001")


@pytest.fixture(scope="module")
def config() -> TelemetryConfig:
    return load_config(env={})


def raw(date: dt.date, version: str, size: int = 100) -> RawObject:
    return RawObject.from_key(day_zip_key(DAY.fleet, date, DAY.robot_id), version, size)


HALO = [raw(dt.date(2026, 11, 3), "sha256:c"), raw(dt.date(2026, 11, 2), "sha256:b"), raw(DAY.date, "v1")]


# ------------------------------------------------------------------------------------- lineage records


def test_partition_lineage_round_trips_through_json(config: TelemetryConfig) -> None:
    lineage = PartitionLineage.of(DAY, HALO[:2], config, run_id="run-1")
    assert lineage.inputs == tuple(sorted((o.key, o.version, o.size) for o in HALO[:2]))  # sorted by key
    assert (lineage.fleet, lineage.date, lineage.robot_id) == ("acme-dc3", "2026-11-02", "amr-0001")
    assert lineage.config_hash == result_config_hash(config)
    assert lineage.features_hash == features_config_hash(config)
    assert lineage.package_version == __version__
    record = json.loads(lineage.to_json())
    assert record["inputs"][0] == {"key": lineage.inputs[0][0], "version": "sha256:b", "size": 100}
    assert record["fingerprint"] == lineage.fingerprint
    assert PartitionLineage.from_json(lineage.to_json()) == lineage


def test_an_older_record_without_run_fields_still_reads(config: TelemetryConfig) -> None:
    record = json.loads(PartitionLineage.of(DAY, HALO, config).to_json())
    for key in ("run_id", "computed_at", "features_hash"):
        del record[key]
    lineage = PartitionLineage.from_json(json.dumps(record).encode())
    assert (lineage.run_id, lineage.computed_at, lineage.features_hash) == ("", "", "")
    assert lineage.fingerprint == record["fingerprint"]


def test_the_fingerprint_is_inputs_config_and_code_not_when_or_which_run(config: TelemetryConfig) -> None:
    first = PartitionLineage.of(DAY, HALO, config, run_id="run-1")
    again = dataclasses.replace(first, run_id="run-2", computed_at="2030-01-01T00:00:00+00:00")
    assert again.fingerprint == first.fingerprint
    late_upload = PartitionLineage.of(DAY, [*HALO[:2], raw(DAY.date, "v2")], config)
    other_config = PartitionLineage.of(DAY, HALO, load_config(env={}, overrides=["align.step_ms=500"]))
    other_code = dataclasses.replace(first, package_version=first.package_version + ".post1")
    fingerprints = {x.fingerprint for x in (first, late_upload, other_config, other_code)}
    assert len(fingerprints) == 4


def test_read_lineage_is_none_until_a_record_is_committed(tmp_path: Path, config: TelemetryConfig) -> None:
    out = Store(str(tmp_path / "out"))
    assert read_lineage(out, DAY) is None
    lineage = PartitionLineage.of(DAY, HALO, config, run_id="run-1")
    out.write_bytes(lineage_key(DAY), lineage.to_json())
    assert read_lineage(out, DAY) == lineage
    assert read_lineage(out, dataclasses.replace(DAY, robot_id="amr-0002")) is None


# ------------------------------------------------------------------------------------------ run manifests


def manifest(run_id: str) -> RunManifest:
    return RunManifest(
        run_id=run_id, fleet="acme-dc3", start="2026-11-02", end="2026-11-03", config_hash="c0ffee",
        package_version=__version__,
        inputs=[{"key": o.key, "version": o.version, "size": o.size} for o in HALO],
        computed=[str(DAY)], skipped=["acme-dc3/2026-11-03/amr-0001"], failed={"x": "ValueError: boom"},
        summary={"partitions": 2}, started_at="2026-11-22T00:00:00+00:00",
        finished_at="2026-11-22T00:01:00+00:00",
    )  # fmt: skip


def test_run_manifest_round_trips_through_the_store(tmp_path: Path) -> None:
    out = Store(str(tmp_path / "out"))
    run = manifest("20261122T000000Z-abc123")
    assert run.key() == run_manifest_key(run.run_id)
    out.write_bytes(run.key(), run.to_json())
    loaded = load_run(out, run.run_id)
    assert loaded == run
    assert loaded.pinned_inputs() == HALO  # the exact versions, for --as-of


def test_load_run_names_the_known_runs_when_asked_for_another(tmp_path: Path) -> None:
    out = Store(str(tmp_path / "out"))
    with pytest.raises(NothingToDoError, match=r"no run 'nope' .*known runs: none"):
        load_run(out, "nope")
    for run_id in ("20261122T000000Z-aaaaaa", "20261123T000000Z-bbbbbb"):
        out.write_bytes(run_manifest_key(run_id), manifest(run_id).to_json())
    with pytest.raises(
        NothingToDoError, match=r"known runs: 20261122T000000Z-aaaaaa, 20261123T000000Z-bbbbbb\)"
    ):
        load_run(out, "20261124T000000Z-cccccc")


def test_new_run_ids_are_utc_times_with_a_suffix() -> None:
    run_id = RunManifest.new_run_id()
    assert re.fullmatch(r"\d{8}T\d{6}Z-[0-9a-f]{6}", run_id), run_id
