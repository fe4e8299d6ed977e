"""The CSV importer: tabular telemetry -> telemetry.v1 day zips that the pipeline reads like any fleet."""

from __future__ import annotations

import datetime as dt
import gzip
import tempfile
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml
from hypothesis import example, given, settings
from hypothesis import strategies as st

from telemetry.cli import main
from telemetry.config import TelemetryConfig, load_config
from telemetry.contract.envelope import DAY_MS, day_bounds_ms
from telemetry.errors import DataContractError
from telemetry.importers.csv import (
    EventTable,
    ImportReport,
    TabularSpec,
    field_name,
    import_csv,
    registry_config,
)
from telemetry.io.store import RawObject, Store
from telemetry.run.pipeline import halo_days, plan_partitions, run_features
from telemetry.stages.extract import extract_day_zip


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
        result = extract_day_zip(
            store.read(obj), day=obj.day, version=obj.version, signals=config.signals, extract=config.extract
        )
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
    assert report.events_left_out == {"beyond the margin": 1}  # the 2014 failure: no telemetry near it
    assert report.events_in_margin == {}
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
    config = _config(spec, report, tmp_path)
    tables = extract_day_zip(
        raw.read(obj), day=obj.day, version=obj.version, signals=config.signals, extract=config.extract
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
    assert config.history.failure_codes == ("comp1",)  # the data's failure codes, not the simulator's
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
    assert "history.code__since_last:comp1" in a.columns


def _ms(text: str) -> int:
    return int(pd.Timestamp(text, tz="UTC").timestamp()) * 1000


def _extracted(raw: Store, config: TelemetryConfig) -> tuple[int, int, pd.DataFrame]:
    """``(documents, quarantined, events table)`` of every day zip in `raw`."""
    docs = quarantined = 0
    events: list[pd.DataFrame] = []
    for obj in raw.list_day_zips():
        result = extract_day_zip(
            raw.read(obj), day=obj.day, version=obj.version, signals=config.signals, extract=config.extract
        )
        docs += result.report.documents
        quarantined += result.report.quarantined
        events.append(result.tables["events"].to_pandas())
    return docs, quarantined, pd.concat(events, ignore_index=True)


@pytest.fixture(scope="module")
def gappy_rows(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[int]]:
    """One machine, rows every 20 min on 2015-01-01 and 2015-01-03 (no row on 2015-01-02): the CSV and the
    row times (epoch ms)."""
    times = pd.DatetimeIndex(
        pd.date_range("2015-01-01 02:00", "2015-01-01 22:00", freq="20min").append(
            pd.date_range("2015-01-03 01:00", "2015-01-03 21:00", freq="20min")
        )
    )
    path = tmp_path_factory.mktemp("gappy") / "t.csv"
    pd.DataFrame({"datetime": times.strftime("%Y-%m-%d %H:%M:%S"), "machineID": 1, "x": 1.0}).to_csv(
        path, index=False
    )
    return path, [_ms(str(t)) for t in times]


@settings(max_examples=40, deadline=None)
@example(offsets_min=[-121, -60, 0, 1210, 1320, 2820, 4020, 4021], margin_s=86_400)
@given(
    offsets_min=st.lists(st.integers(-3 * 1440, 6 * 1440), min_size=1, max_size=6),
    margin_s=st.sampled_from([0, 600, 3600, 86_400, 2 * 86_400]),
)
def test_events_within_the_margin_are_kept_and_filed_on_their_day(
    gappy_rows: tuple[Path, list[int]], offsets_min: list[int], margin_s: int
) -> None:
    """Against a brute-force reference: events in ``[first row - margin, last row + margin]`` are kept, each
    once, in envelopes the extractor accepts whatever day they fall on (before the rows, in the day-long gap,
    after the rows); the rest are counted as left out. An event of a unit without rows is left out too.
    An event rides with the first sample envelope at or after it on its UTC day, else alone (one envelope
    per distinct time); 10 min envelopes of 20 min rows hold one row each."""
    path, rows = gappy_rows
    first, last = rows[0], rows[-1]
    times = [first + m * 60_000 for m in offsets_min]
    with tempfile.TemporaryDirectory() as tmp:
        pd.DataFrame(
            {
                "datetime": [str(pd.Timestamp(t, unit="ms")) for t in [*times, first]],
                "machineID": [1] * len(times) + [7],
                "failure": [f"comp{i}" for i in range(len(times) + 1)],
            }
        ).to_csv(Path(tmp) / "f.csv", index=False)
        spec = TabularSpec(
            fleet="pdm", signal="sensors", time_column="datetime", unit_column="machineID",
            unit_prefix="m", events=(EventTable(str(Path(tmp) / "f.csv"), "failure", "failure"),),
            events_margin_s=margin_s, envelope_s=600,
        )  # fmt: skip
        raw = Store(str(Path(tmp) / "raw"))
        report = import_csv([str(path)], raw, spec)
        kept = sorted(t for t in times if first - margin_s * 1000 <= t <= last + margin_s * 1000)
        outside = [t for t in kept if not first <= t <= last]
        assert report.events == ({"failure": len(kept)} if kept else {})
        assert report.events_in_margin == ({"failure": len(outside)} if outside else {})
        assert report.events_left_out == {
            k: v
            for k, v in {"beyond the margin": len(times) - len(kept), "unit without telemetry": 1}.items()
            if v
        }
        docs, quarantined, events = _extracted(raw, _config(spec, report, Path(tmp)))
        assert quarantined == 0 and docs == report.envelopes
        assert sorted(events["ts"].tolist()) == kept
        carried = {t for t in kept if any(r >= t and r // DAY_MS == t // DAY_MS for r in rows)}
        assert report.event_envelopes == len(set(kept) - carried)
        assert report.envelopes == len(rows) + report.event_envelopes


def test_a_failure_after_the_last_row_labels_the_cutoffs_before_it(tmp_path: Path, capsys: Any) -> None:
    """Hourly rows end at 2015-01-03 23:00; the failure at 2015-01-04 00:00 travels in an envelope of its
    own (in a day zip of its own) and the grid cutoffs of the 24 h before it are positives. The failure of
    a machine without telemetry is counted and left out."""
    times = pd.date_range("2015-01-01 00:00", "2015-01-03 23:00", freq="h")
    rng = np.random.default_rng(1)
    pd.DataFrame(
        {
            "datetime": times.strftime("%Y-%m-%d %H:%M:%S"),
            "machineID": 1,
            "volt": rng.normal(170, 5, len(times)),
        }
    ).to_csv(tmp_path / "t.csv", index=False)
    pd.DataFrame(
        {
            "datetime": ["2015-01-04 00:00:00", "2015-01-02 00:00:00"],
            "machineID": [1, 9],
            "failure": ["c1", "c2"],
        }
    ).to_csv(tmp_path / "f.csv", index=False)
    raw, cfg = str(tmp_path / "raw"), tmp_path / "c.yaml"
    args = ["import-csv", str(tmp_path / "t.csv"), "--time-column", "datetime", "--unit-column",
            "machineID", "--unit-prefix", "m", "--events", f"failure={tmp_path / 'f.csv'}:failure",
            "--fleet", "pdm"]  # fmt: skip
    assert main([*args, "--out", str(tmp_path / "span"), "--events-margin-s", "0"]) == 0
    out = capsys.readouterr().out
    assert "events            none kept" in out
    assert "events left out   {'beyond the margin': 1, 'unit without telemetry': 1}" in out
    assert main([*args, "--out", raw, "--write-config", str(cfg)]) == 0
    out = capsys.readouterr().out
    assert (
        "events            {'failure': 1} kept (outside the telemetry span, within 86400 s: {'failure': 1})"
        in out
    )
    assert "events left out   {'unit without telemetry': 1}" in out
    assert "(1 with events only), 2015-01-01..2015-01-04" in out
    doc = yaml.safe_load(cfg.read_text())
    doc["labels"] = {
        "mode": "grid",
        "horizon_s": 86400,
        "grid_step_s": 10800,
        "cooldown_s": 0,
        "min_coverage": 0.0,
        "negative_fraction": 1.0,
    }
    doc["features"]["windows_s"] = [10800, 86400]
    cfg.write_text(yaml.safe_dump(doc))
    features = Store(str(tmp_path / "out"))
    run_features(
        Store(raw),
        features,
        load_config(cfg, env={}),
        fleet="pdm",
        start=dt.date(2015, 1, 1),
        end=dt.date(2015, 1, 4),
    )
    feats = pd.concat([pd.read_parquet(p) for p in sorted(Path(features.url).rglob("features/**/*.parquet"))])
    t_f, step = _ms("2015-01-04 00:00"), 10_800_000
    expected = list(range(t_f - 86_400_000, t_f, step))  # grid cutoffs c with the failure in (c, c + 24 h]
    assert sorted(feats.loc[feats["label"] == 1, "cutoff"].tolist()) == expected
    assert set(feats.loc[feats["label"] == 0, "cutoff"]).isdisjoint(expected)


def test_decorated_times_are_read_and_unreadable_ones_named(tmp_path: Path) -> None:
    """Literal quotes kept inside the field and surrounding whitespace are stripped before parsing."""
    (tmp_path / "q.csv").write_text(
        "t;u;x\n"
        '"""2020-03-09 10:14:33""";1;1.5\n'
        "'2020-03-09 10:14:34';1;2.5\n"
        "  2020-03-09T10:14:35  ;1;3.5\n"
        "\" '2020-03-09 10:14:36' \";1;4.5\n"
    )
    spec = TabularSpec(fleet="f", signal="s", time_column="t", unit_column="u", sep=";")
    raw = Store(str(tmp_path / "raw"))
    report = import_csv([str(tmp_path / "q.csv")], raw, spec)
    assert report.rows == 4
    ((obj,),) = [raw.list_day_zips()]
    config = _config(spec, report, tmp_path)
    table = extract_day_zip(
        raw.read(obj), day=obj.day, version=obj.version, signals=config.signals, extract=config.extract
    )
    start = _ms("2020-03-09 10:14:33")
    assert table.tables["s"].column("ts").to_pylist() == [start, start + 1000, start + 2000, start + 3000]
    assert table.tables["s"].column("x").to_pylist() == [1.5, 2.5, 3.5, 4.5]
    (tmp_path / "bad.csv").write_text('t;u;x\n"2020-03-09 10:14:33";1;1\n"2020-03-09 25:99:00";1;2\n')
    with pytest.raises(
        DataContractError, match=r"bad.csv: row 3 has an unreadable time '2020-03-09 25:99:00'"
    ):
        import_csv([str(tmp_path / "bad.csv")], raw, spec)


def test_boolean_words_are_one_and_zero(tmp_path: Path) -> None:
    """TRUE/FALSE, yes/no, y/n, t/f in any case: 1/0 in the label column and in signal columns (a boolean
    signal column is a 0/1 field); other words are null."""
    times = pd.date_range("2020-03-09 10:00:00", periods=8, freq="s").strftime("%Y-%m-%d %H:%M:%S")
    pd.DataFrame(
        {
            "datetime": times,
            "pump on": ["yes", "No", "Y", "n", " TRUE ", "false", "t", "F"],
            "valve": ["True", "False", "False", "True", None, "T", "f", "true"],
            "odd": ["yes", "maybe", "1", "0", "2.5", "no", "", "y"],
            "anomaly": ["FALSE", "FALSE", "TRUE", "TRUE", "FALSE", "true", "True", "false"],
        }
    ).to_csv(tmp_path / "0.csv", index=False)
    spec = TabularSpec(
        fleet="f", signal="s", time_column="datetime", unit_from_path=True, label_column="anomaly",
        columns=("pump on", "valve", "odd"),
    )  # fmt: skip
    raw = Store(str(tmp_path / "raw"))
    report = import_csv([str(tmp_path / "0.csv")], raw, spec)
    _, _, events = _extracted(raw, _config(spec, report, tmp_path))
    start = _ms("2020-03-09 10:00:00")
    assert events["ts"].tolist() == [start + 2000, start + 5000]  # two runs of TRUE: two onsets
    ((obj,),) = [raw.list_day_zips()]
    config = _config(spec, report, tmp_path)
    table = extract_day_zip(
        raw.read(obj),
        day=obj.day,
        version=obj.version,
        signals=config.signals,
        extract=config.extract,
    )
    signal = table.tables["s"].to_pandas()
    assert signal["pump_on"].tolist() == [1, 0, 1, 0, 1, 0, 1, 0]
    assert signal["valve"].fillna(-1).tolist() == [1, 0, 0, 1, -1, 1, 0, 1]
    assert signal["odd"].fillna(-1).tolist() == [1, -1, 1, 0, 2.5, 0, -1, 1]
    # by default the boolean columns are signal columns; a column of other words is not
    default = import_csv([str(tmp_path / "0.csv")], Store(str(tmp_path / "raw2")), replace(spec, columns=()))
    assert default.fields == {"pump on": "pump_on", "valve": "valve"}
    assert default.left_out == {"odd": "not numeric", "anomaly": "label column"}


def _with_extra_columns(path: Path, n: int = 6) -> None:
    times = pd.date_range("2020-03-09 10:00:00", periods=n, freq="s").strftime("%Y-%m-%d %H:%M:%S")
    pd.DataFrame(
        {
            "datetime": times,
            "Num": np.arange(5, 5 + n),  # a row counter by its values
            "index": np.arange(n)[::-1],  # by its name
            "Current": np.arange(n) * 2,  # integers, but not rising by 1: a signal
            "Cycle": np.arange(n).astype(np.float64),  # rising by 1.0 as floats: a measurement
            "anomaly": [0, 0, 1, 1, 0, 0][:n],
            "changepoint": [0, 0, 1, 0, 0, 0][:n],
            "Target": np.zeros(n, dtype=int),
        }
    ).to_csv(path, sep=";")  # the pandas index: a blank header read as "Unnamed: 0"


def test_row_counters_and_label_like_columns_are_left_out(tmp_path: Path, capsys: Any) -> None:
    _with_extra_columns(tmp_path / "0.csv")
    spec = TabularSpec(
        fleet="f", signal="s", time_column="datetime", unit_from_path=True, label_column="anomaly", sep=";"
    )
    report = import_csv([str(tmp_path / "0.csv")], Store(str(tmp_path / "a")), spec)
    assert report.fields == {"Current": "current", "Cycle": "cycle"}
    assert report.left_out == {
        "Unnamed: 0": "row counter", "Num": "row counter", "index": "row counter", "anomaly": "label column",
        "changepoint": "label-like", "Target": "label-like",
    }  # fmt: skip
    # without a label column, label-like names are signals (row counters are not)
    unlabelled = import_csv(
        [str(tmp_path / "0.csv")], Store(str(tmp_path / "b")), replace(spec, label_column=None)
    )
    assert list(unlabelled.fields) == ["Current", "Cycle", "anomaly", "changepoint", "Target"]
    assert unlabelled.left_out == {"Unnamed: 0": "row counter", "Num": "row counter", "index": "row counter"}
    # explicit columns win
    chosen = import_csv(
        [str(tmp_path / "0.csv")], Store(str(tmp_path / "c")), replace(spec, columns=("Num", "changepoint"))
    )
    assert chosen.fields == {"Num": "num", "changepoint": "changepoint"} and chosen.left_out == {}
    # the CLI's summary says what was left out and why
    code = main(["import-csv", str(tmp_path / "0.csv"), "--sep", ";", "--time-column", "datetime",
                 "--unit-from-path", "--label-column", "anomaly", "--out", str(tmp_path / "d")])  # fmt: skip
    assert code == 0
    out = capsys.readouterr().out
    assert "left out columns  {'Unnamed: 0': 'row counter', 'Num': 'row counter'" in out
    assert "'changepoint': 'label-like'" in out


def test_left_out_columns_of_later_files_are_recorded(tmp_path: Path) -> None:
    """The first file (a normal-operation recording, no label) chooses the signals; the label and label-like
    columns of the next, and a column the first lacks, are recorded as left out."""
    times = pd.date_range("2020-03-09 10:00:00", periods=4, freq="s").strftime("%Y-%m-%d %H:%M:%S")
    pd.DataFrame({"datetime": times, "x": [1.0, 2.0, 4.0, 3.0]}).to_csv(tmp_path / "a.csv", index=False)
    pd.DataFrame(
        {
            "datetime": times,
            "x": 1.0,
            "anomaly": [0, 1, 1, 0],
            "changepoint": [0, 1, 0, 0],
            "y": 2.0,
            "Num": 1,
        }
    ).to_csv(tmp_path / "b.csv", index=False)
    spec = TabularSpec(
        fleet="f", signal="s", time_column="datetime", unit_from_path=True, label_column="anomaly"
    )
    report = import_csv(
        [str(tmp_path / "a.csv"), str(tmp_path / "b.csv")], Store(str(tmp_path / "raw")), spec
    )
    assert report.fields == {"x": "x"} and report.events == {"failure": 1}
    assert report.left_out == {
        "anomaly": "label column", "changepoint": "label-like", "y": "not in the first file",
        "Num": "row counter",
    }  # fmt: skip
