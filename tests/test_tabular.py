"""The CSV importer: tabular telemetry -> telemetry.v1 day zips that the pipeline reads like any fleet."""

from __future__ import annotations

import datetime as dt
import gzip
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml

from telemetry.cli import main
from telemetry.config import TelemetryConfig, load_config
from telemetry.contract import day_bounds_ms
from telemetry.errors import DataContractError
from telemetry.extract import extract_day_zip
from telemetry.pipeline import halo_days, plan_partitions, run_features
from telemetry.store import RawObject, Store
from telemetry.tabular import EventTable, ImportReport, TabularSpec, field_name, import_csv, registry_config


def _hourly(path: Path, units: int = 2, days: int = 3) -> pd.DataFrame:
    """Hourly rows of `units` machines, like the Azure PdM telemetry (gzipped CSV)."""
    rng = np.random.default_rng(0)
    times = pd.date_range("2015-01-01 06:00", periods=24 * days, freq="h")
    frame = pd.concat(
        [
            pd.DataFrame({"datetime": times.strftime("%Y-%m-%d %H:%M:%S"), "machineID": u,
                          "volt": rng.normal(170, 5, len(times)),
                          "Rotate Speed": rng.normal(450, 20, len(times))})
            for u in range(1, units + 1)
        ]
    )  # fmt: skip
    with gzip.open(path, "wt") as fh:
        frame.to_csv(fh, index=False)
    return frame


def _config(spec: TabularSpec, report: ImportReport, tmp_path: Path) -> TelemetryConfig:
    path = tmp_path / "imported.yaml"
    path.write_text(yaml.safe_dump(registry_config(spec, report)))
    return load_config(path, env={})


def _documents(store: Store, config: TelemetryConfig) -> tuple[int, int, dict[str, int]]:
    docs = quarantined = 0
    rows: dict[str, int] = {}
    for obj in store.list_day_zips():
        result = extract_day_zip(store.read(obj), day=obj.day, version=obj.version, config=config)
        assert not result.report.unknown_signals and not result.report.unknown_fields
        docs += result.report.documents
        quarantined += result.report.quarantined
        for name, table in result.tables.items():
            rows[name] = rows.get(name, 0) + table.num_rows
    return docs, quarantined, rows


def test_field_names() -> None:
    assert field_name("Volume Flow RateRMS") == "volume_flow_raterms"
    assert field_name("  temp (C) ") == "temp_c"
    assert field_name("1st") == "c_1st"


def test_import_hourly_machines_with_event_tables(tmp_path: Path) -> None:
    frame = _hourly(tmp_path / "telemetry.csv.gz")
    pd.DataFrame(
        {
            "datetime": ["2015-01-02 06:00:00", "2014-06-01 06:00:00"],
            "machineID": [1, 1],
            "failure": ["comp2", "comp1"],
        }
    ).to_csv(tmp_path / "failures.csv", index=False)
    pd.DataFrame({"datetime": ["2015-01-02 07:00:00"], "machineID": [2], "errorID": ["error1"]}).to_csv(
        tmp_path / "errors.csv", index=False
    )
    spec = TabularSpec(
        fleet="pdm", signal="sensors", time_column="datetime", unit_column="machineID",
        unit_prefix="machine-",
        events=(EventTable(str(tmp_path / "failures.csv"), "failure", "failure"),
                EventTable(str(tmp_path / "errors.csv"), "error", "errorID")),
        envelope_s=5.0,
    )  # fmt: skip
    raw = Store(str(tmp_path / "raw"))
    report = import_csv([str(tmp_path / "telemetry.csv.gz")], raw, spec)
    assert report.units == 2 and report.rows == len(frame)
    assert report.events == {"failure": 1, "error": 1}
    assert report.events_outside == 1  # the 2014 failure has no telemetry around it
    assert report.fields == {"volt": "volt", "Rotate Speed": "rotate_speed"}
    assert report.step_ms == 3_600_000
    assert report.first_day == dt.date(2015, 1, 1) and report.last_day == dt.date(2015, 1, 4)
    # every row is one envelope (hourly rows, 5 s envelopes); all of them extract cleanly
    docs, quarantined, rows = _documents(raw, _config(spec, report, tmp_path))
    assert docs == report.envelopes == len(frame) and quarantined == 0
    assert rows == {"sensors": len(frame), "events": 2}
    assert sorted({o.day.robot_id for o in raw.list_day_zips()}) == ["machine-1", "machine-2"]


def test_label_onsets_with_delay_and_one_unit_per_file(tmp_path: Path) -> None:
    times = pd.date_range("2020-03-09 10:00:00", periods=600, freq="s").strftime("%Y-%m-%d %H:%M:%S")
    label = np.zeros(600)
    label[100:200] = 1
    label[400:450] = 1
    (tmp_path / "valve1").mkdir()
    pd.DataFrame({"datetime": times, "Current": np.arange(600.0), "anomaly": label}).to_csv(
        tmp_path / "valve1" / "0.csv", sep=";", index=False
    )
    pd.DataFrame({"datetime": times, "Current": np.ones(600)}).to_csv(
        tmp_path / "free.csv", sep=";", index=False
    )
    spec = TabularSpec(
        fleet="skab", signal="pump", time_column="datetime", unit_from_path=True, label_column="anomaly",
        label_delay_s=30, sep=";",
    )  # fmt: skip
    raw = Store(str(tmp_path / "raw"))
    report = import_csv([str(tmp_path / "valve1" / "0.csv"), str(tmp_path / "free.csv")], raw, spec)
    assert report.units == 2 and report.events == {"failure": 2}
    assert report.unlabelled_files == [str(tmp_path / "free.csv")]
    assert report.fields == {"Current": "current"}  # the label column is not a signal field
    (obj,) = [o for o in raw.list_day_zips() if o.day.robot_id == "valve1-0"]
    tables = extract_day_zip(
        raw.read(obj), day=obj.day, version=obj.version, config=_config(spec, report, tmp_path)
    ).tables
    assert tables["pump"].num_rows == 600
    start = pd.Timestamp("2020-03-09 10:00:00", tz="UTC").value // 1_000_000
    assert tables["events"].column("ts").to_pylist() == [start + 130_000, start + 430_000]  # onset + 30 s
    assert set(tables["events"].column("code").to_pylist()) == {"ANOMALY"}


def test_bad_input_is_a_clear_error(tmp_path: Path) -> None:
    pd.DataFrame({"t": ["2020-01-01 00:00:00", "yesterday"], "u": [1, 1], "x": [1.0, 2.0]}).to_csv(
        tmp_path / "bad.csv", index=False
    )
    spec = TabularSpec(fleet="f", signal="s", time_column="t", unit_column="u")
    with pytest.raises(DataContractError, match=r"bad.csv: row 3 has an unreadable time 'yesterday'"):
        import_csv([str(tmp_path / "bad.csv")], Store(str(tmp_path / "raw")), spec)
    with pytest.raises(DataContractError, match="no column 'time'"):
        import_csv([str(tmp_path / "bad.csv")], Store(str(tmp_path / "raw")), TabularSpec(
            fleet="f", signal="s", time_column="time", unit_column="u"))  # fmt: skip
    with pytest.raises(ValueError, match="exactly one"):
        TabularSpec(fleet="f", signal="s", time_column="t")


def test_long_windows_read_more_neighbour_days() -> None:
    assert halo_days(load_config(env={}, overrides=[])) == (1, 1)
    hourly = load_config(
        env={},
        overrides=["features.windows_s=[10800,86400]", "labels.horizon_s=86400", "labels.grid_step_s=10800"],
    )
    assert halo_days(hourly) == (2, 2)
    objects = [RawObject.from_key(f"fleet=f/date=2015-01-0{d}/m.zip", "v", 1) for d in range(1, 8)]
    plan = plan_partitions(objects, dt.date(2015, 1, 4), dt.date(2015, 1, 4), *halo_days(hourly))
    ((_day, inputs),) = plan.items()
    assert [o.day.date.day for o in inputs] == [2, 3, 4, 5, 6]


def test_cli_import_then_features(tmp_path: Path, capsys: Any) -> None:
    """The imported fleet runs through the pipeline with the written config; 24 h windows on hourly rows
    give the same features whatever the partitioning (the halo spans two days back)."""
    _hourly(tmp_path / "t.csv.gz", units=1, days=4)
    pd.DataFrame({"datetime": ["2015-01-03 18:00:00"], "machineID": [1], "failure": ["comp1"]}).to_csv(
        tmp_path / "f.csv", index=False
    )
    raw, cfg = str(tmp_path / "raw"), tmp_path / "pdm.yaml"
    code = main(["import-csv", str(tmp_path / "t.csv.gz"), "--time-column", "datetime", "--unit-column",
                 "machineID", "--unit-prefix", "m", "--events", f"failure={tmp_path / 'f.csv'}:failure",
                 "--out", raw, "--fleet", "pdm", "--write-config", str(cfg)])  # fmt: skip
    assert code == 0
    assert "1 units" in capsys.readouterr().out
    doc = yaml.safe_load(cfg.read_text())
    doc["labels"] = {"horizon_s": 86400, "grid_step_s": 10800, "cooldown_s": 0, "min_coverage": 0.0}
    doc["features"]["windows_s"] = [10800, 86400]
    cfg.write_text(yaml.safe_dump(doc))
    config = load_config(cfg, env={})
    assert config.align.step_ms == 3_600_000 and config.signal("sensors").numeric == ("volt", "rotate_speed")
    whole, per_day = Store(str(tmp_path / "a")), Store(str(tmp_path / "b"))
    first, last = dt.date(2015, 1, 1), dt.date(2015, 1, 5)
    run_features(Store(raw), whole, config, fleet="pdm", start=first, end=last)
    for d in range(5):
        day = first + dt.timedelta(days=d)
        run_features(Store(raw), per_day, config, fleet="pdm", start=day, end=day)
    a = pd.concat([pd.read_parquet(p) for p in sorted(Path(whole.url).rglob("features/**/*.parquet"))])
    b = pd.concat([pd.read_parquet(p) for p in sorted(Path(per_day.url).rglob("features/**/*.parquet"))])
    pd.testing.assert_frame_equal(a.reset_index(drop=True), b.reset_index(drop=True))
    assert int(a["label"].sum()) == 1
    lo, hi = day_bounds_ms(dt.date(2015, 1, 3))
    pos = a[a["label"] == 1]
    assert pos["cutoff"].tolist() == [lo + 18 * 3_600_000] and lo <= pos["cutoff"].iloc[0] < hi
    assert pos["sensors.volt__count__w86400s"].iloc[0] == 24
