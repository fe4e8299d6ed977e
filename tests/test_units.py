"""Static unit attributes: the units section of the configuration, the units table stage (parsing and the
join by robot id), the importer's ``--units``, the pipeline (features, missing robots, lineage) and how
training reads the columns."""

from __future__ import annotations

import dataclasses
import datetime as dt
import gzip
import io
import logging
import math
import shutil
from pathlib import Path
from typing import Any

import distributed
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from telemetry.cli import main
from telemetry.config import TelemetryConfig, config_hash, load_config
from telemetry.contract.layout import DayKey
from telemetry.errors import ConfigError, DataContractError, TelemetryError, VersionNotFoundError
from telemetry.importers.csv import TabularSpec, import_units, registry_config
from telemetry.io.lineage import features_config_hash, load_run, read_lineage, result_config_hash
from telemetry.io.store import Store
from telemetry.run.pipeline import UnitsSource, read_units, robot_features, run_features, units_source
from telemetry.stages.features import feature_table_schema
from telemetry.stages.train import feature_columns, feature_matrix
from telemetry.stages.units import (
    parse_unit_name,
    unit_feature_names,
    unit_features,
    unit_row,
    units_table,
)

UNITS = ["units.numeric=[age]", "units.categorical=[model]"]


def _units_config(url: str, *extra: str) -> TelemetryConfig:
    return load_config(env={}, overrides=[f"units.url={url}", *UNITS, *extra])


# ------------------------------------------------------------------------------------------ config


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["units.url=t.csv"], "units.numeric and units.categorical are empty"),
        (["units.numeric=[age]"], "units.url is null"),
        (["units.url=t.xlsx", "units.numeric=[age]"], r"ending in \.parquet, \.csv, \.csv\.gz"),
        (["units.url=t.csv", "units.numeric=[Age]"], "column names must match"),
        (["units.url=t.csv", "units.numeric=[a__b]"], "without '__'"),
        (["units.url=t.csv", "units.numeric=[age]", "units.categorical=[age]"], "listed twice"),
        (["units.url=t.csv", "units.numeric=[robot_id]"], "id column 'robot_id' cannot also be"),
        (["signals.unit.numeric=[x]"], "'unit' is reserved"),
    ],
)
def test_units_section_is_validated(overrides: list[str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_config(env={}, overrides=overrides)


def test_the_hashes_cover_the_columns_but_not_where_the_table_lives() -> None:
    here, there = _units_config("/a/units.parquet"), _units_config("s3://b/units.parquet")
    assert config_hash(here) == config_hash(there)
    assert features_config_hash(here) == features_config_hash(there)
    fewer = load_config(env={}, overrides=["units.url=/a/units.parquet", "units.numeric=[age]"])
    assert features_config_hash(fewer) != features_config_hash(here)
    assert result_config_hash(here) != result_config_hash(load_config(env={}))
    other_id = _units_config("/a/units.parquet", "units.id_column=machine")
    assert result_config_hash(other_id) != result_config_hash(here)


# ------------------------------------------------------------------------------------------ stage


def schema_of(config: TelemetryConfig) -> pa.Schema:
    """The feature table schema of ``config``."""
    return feature_table_schema(
        signals=config.signals,
        features=config.features,
        labels=config.labels,
        history=config.history,
        units=config.units,
    )


def test_names_schema_and_parse() -> None:
    config = _units_config("u.csv", "units.numeric=[age,hours]", "units.categorical=[model,site]")
    assert unit_feature_names(config.units) == ["unit.age", "unit.hours", "unit.model", "unit.site"]
    schema = schema_of(config)
    assert schema.names[-4:] == unit_feature_names(config.units)
    assert [schema.field(n).type for n in schema.names[-4:]] == [pa.float64()] * 2 + [pa.string()] * 2
    assert [parse_unit_name(n) for n in unit_feature_names(config.units)] == ["age", "hours", "model", "site"]
    for bad in ("unit.Model", "unit.a__b", "units.age", "unit.", "history.age"):
        with pytest.raises(ValueError, match="not a unit attribute name"):
            parse_unit_name(bad)
    assert unit_feature_names(load_config(env={}).units) == []
    assert not any(n.startswith("unit.") for n in schema_of(load_config(env={})).names)


CSV = b'robot_id,model,age,site\n"amr-1","m3", 18 ,"dc 3"\namr-2,m4,,\n7,m3,2.5,x\n'


@pytest.mark.parametrize("name", ["u.csv", "u.csv.gz", "u.parquet"])
def test_units_table_reads_csv_gzip_and_parquet(name: str) -> None:
    config = _units_config(name, "units.categorical=[model,site]")
    data = CSV
    if name.endswith(".gz"):
        data = gzip.compress(CSV)
    elif name.endswith(".parquet"):
        sink = io.BytesIO()
        frame = pd.DataFrame({"robot_id": ["amr-1", "amr-2", 7], "model": ["m3", "m4", "m3"],
                              "age": [18, None, 2.5], "site": ["dc 3", None, "x"]})  # fmt: skip
        pq.write_table(pa.Table.from_pandas(frame.astype({"robot_id": str})), sink)
        data = sink.getvalue()
    table = units_table(data, name, config.units)
    assert list(table.index) == ["amr-1", "amr-2", "7"]
    assert unit_row(table, "amr-1", config.units) == {"age": 18.0, "model": "m3", "site": "dc 3"}
    assert unit_row(table, "amr-2", config.units) == {"age": None, "model": "m4", "site": None}
    assert unit_row(table, "7", config.units) == {"age": 2.5, "model": "m3", "site": "x"}
    assert unit_row(table, "amr-9", config.units) is None


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"robot_id,model\namr-1,m3\n", r"no column\(s\) \['age'\]"),
        (b"id,model,age\namr-1,m3,1\n", r"no column\(s\) \['robot_id'\]"),
        (b"robot_id,model,age\namr-1,m3,1\namr-1,m4,2\n", r"robot ids \['amr-1'\] appear more than once"),
        (b"robot_id,model,age\namr-1,m3,old\n", "'age' is listed in units.numeric but row 1 holds 'old'"),
        (b"robot_id,model,age\n,m3,1\n", "row 1 has no 'robot_id'"),
    ],
)
def test_unusable_tables_are_errors_that_say_why(data: bytes, message: str) -> None:
    with pytest.raises(DataContractError, match=message):
        units_table(data, "u.csv", _units_config("u.csv").units)


def test_unit_features_repeat_the_row_or_give_nulls() -> None:
    config = _units_config("u.csv")
    got = unit_features({"age": 4.0, "model": "m1"}, 3, config.units)
    assert got["unit.age"].tolist() == [4.0] * 3 and got["unit.model"].tolist() == ["m1"] * 3
    missing = unit_features(None, 2, config.units)
    assert np.isnan(missing["unit.age"]).all() and missing["unit.model"].tolist() == [None, None]
    assert unit_features(None, 2, load_config(env={}).units) == {}


_WORDS = st.text("abcxyz019-_", min_size=1, max_size=6).filter(
    lambda s: s.lower() not in {"na", "nan", "null", "none", "n/a", "-nan", "1.#ind"}
)


@settings(max_examples=40, deadline=None)
@given(
    rows=st.dictionaries(
        st.from_regex(r"amr-[0-9]{1,3}", fullmatch=True),
        st.tuples(
            st.none() | st.floats(allow_nan=False, allow_infinity=False, width=64),
            st.none() | _WORDS,
        ),
        max_size=8,
    ),
    parquet=st.booleans(),
)
def test_every_robot_gets_its_own_row_in_both_formats(
    rows: dict[str, tuple[float | None, str | None]], parquet: bool
) -> None:
    """Brute-force reference: the dictionary the table was written from."""
    config = _units_config("u.parquet" if parquet else "u.csv")
    frame = pd.DataFrame(
        {"robot_id": list(rows), "age": [a for a, _ in rows.values()], "model": [m for _, m in rows.values()]}
    ).astype({"robot_id": str, "age": "float64", "model": object})
    sink = io.BytesIO()
    if parquet:
        pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), sink)
    else:
        frame.to_csv(sink, index=False)
    table = units_table(sink.getvalue(), "u.parquet" if parquet else "u.csv", config.units)
    for robot, (age, model) in rows.items():
        assert unit_row(table, robot, config.units) == {"age": age, "model": model}
    assert unit_row(table, "amr-x", config.units) is None


# ------------------------------------------------------------------------------------------ importer


def _machines(path: Path) -> None:
    path.write_text(
        'machineID,model,age,Site Name,active\n1,"model3",18," dc-3 ",yes\n'
        '2,"model4",7,,no\n3,model3,,dc-1,yes\n'
    )


def test_import_units_round_trip(tmp_path: Path) -> None:
    _machines(tmp_path / "machines.csv")
    spec = TabularSpec(fleet="pdm", signal="sensors", time_column="datetime", unit_column="machineID",
                       unit_prefix="machine-")  # fmt: skip
    raw = Store(str(tmp_path / "raw"))
    report = import_units(str(tmp_path / "machines.csv"), raw, spec, "machineID")
    assert report.url == f"{raw.url}/units/pdm.parquet"
    assert report.units == 3
    assert report.numeric == ["age", "active"] and report.categorical == ["model", "site_name"]
    assert report.fields == {"model": "model", "age": "age", "Site Name": "site_name", "active": "active"}
    stored = pq.read_table(io.BytesIO(raw.read_bytes("units/pdm.parquet")))
    assert stored.schema == pa.schema(
        [("robot_id", pa.string()), ("model", pa.string()), ("age", pa.float64()),
         ("site_name", pa.string()), ("active", pa.float64())]
    )  # fmt: skip
    assert stored.column("robot_id").to_pylist() == ["machine-1", "machine-2", "machine-3"]
    assert stored.column("site_name").to_pylist() == ["dc-3", None, "dc-1"]
    assert stored.column("age").to_pylist() == [18.0, 7.0, None]
    assert stored.column("active").to_pylist() == [1.0, 0.0, 1.0]
    assert raw.list_day_zips() == []  # the table is no day zip

    from telemetry.importers.csv import ImportReport

    section = registry_config(spec, ImportReport(step_ms=3_600_000), report)["units"]
    assert section == {"url": report.url, "id_column": "robot_id", "numeric": ["age", "active"],
                       "categorical": ["model", "site_name"]}  # fmt: skip
    config = load_config(
        env={}, overrides=[f"units.{k}={yaml.safe_dump(v).strip()}" for k, v in section.items()]
    )
    table = read_units(units_source(config) or pytest.fail("no source"), config)
    assert unit_row(table, "machine-2", config.units) == {
        "age": 7.0, "active": 0.0, "model": "model4", "site_name": None,
    }  # fmt: skip


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("machineID,model\n1,a\n1,b\n", r"units \['machine-1'\] have more than one row"),
        ("machine,model\n1,a\n", "no id column 'machineID'"),
        ("machineID\n1\n", "no column besides the id column"),
        ("machineID,robot_id\n1,a\n", "field name 'robot_id', as another column"),
    ],
)
def test_import_units_refuses_ambiguous_tables(tmp_path: Path, text: str, message: str) -> None:
    (tmp_path / "m.csv").write_text(text)
    spec = TabularSpec(
        fleet="pdm", signal="s", time_column="t", unit_column="machineID", unit_prefix="machine-"
    )
    with pytest.raises(DataContractError, match=message):
        import_units(str(tmp_path / "m.csv"), Store(str(tmp_path / "raw")), spec, "machineID")


def _hourly(path: Path, units: int, days: int) -> None:
    rng = np.random.default_rng(3)
    times = pd.date_range("2015-01-01 00:00", periods=24 * days, freq="h")
    pd.concat(
        [
            pd.DataFrame({"datetime": times.strftime("%Y-%m-%d %H:%M:%S"), "machineID": u,
                          "volt": rng.normal(170, 5, len(times))})
            for u in range(1, units + 1)
        ]
    ).to_csv(path, index=False)  # fmt: skip


def _imported(tmp_path: Path, capsys: Any, units_csv: str) -> tuple[Store, TelemetryConfig]:
    """Two hourly machines over two days, imported with a units table; labels and windows for hourly rows."""
    _hourly(tmp_path / "t.csv", units=2, days=2)
    (tmp_path / "machines.csv").write_text(units_csv)
    raw, cfg = tmp_path / "raw", tmp_path / "pdm.yaml"
    code = main(["import-csv", str(tmp_path / "t.csv"), "--time-column", "datetime", "--unit-column",
                 "machineID", "--unit-prefix", "machine-", "--fleet", "pdm", "--out", str(raw),
                 "--units", str(tmp_path / "machines.csv"), "--write-config", str(cfg)])  # fmt: skip
    assert code == 0
    out = capsys.readouterr().out
    assert f"units             {units_csv.count(chr(10)) - 1} units -> {raw}/units/pdm.parquet" in out
    doc = yaml.safe_load(cfg.read_text())
    assert doc["units"] == {"url": f"{raw}/units/pdm.parquet", "id_column": "robot_id", "numeric": ["age"],
                            "categorical": ["model"]}  # fmt: skip
    doc["labels"] = {"horizon_s": 10800, "grid_step_s": 10800, "cooldown_s": 0, "min_coverage": 0.0}
    doc["features"]["windows_s"] = [10800]
    cfg.write_text(yaml.safe_dump(doc))
    return Store(str(raw)), load_config(cfg, env={})


def test_cli_flag_errors(tmp_path: Path) -> None:
    _hourly(tmp_path / "t.csv", units=1, days=1)
    base = ["import-csv", str(tmp_path / "t.csv"), "--time-column", "datetime", "--out", str(tmp_path / "r")]
    assert main([*base, "--unit-column", "machineID", "--units-id-column", "machineID"]) == 2
    assert main([*base, "--unit-from-path", "--units", str(tmp_path / "m.csv")]) == 2
    assert not (tmp_path / "r").exists()


# ------------------------------------------------------------------------------------------ pipeline

DAY1, DAY2 = dt.date(2015, 1, 1), dt.date(2015, 1, 2)


def test_features_carry_the_attributes_and_missing_robots_get_counted_nulls(
    tmp_path: Path, capsys: Any, caplog: pytest.LogCaptureFixture
) -> None:
    raw, config = _imported(tmp_path, capsys, "machineID,model,age\n1,model3,18\n3,model4,2\n")
    out = Store(str(tmp_path / "out"))
    with caplog.at_level(logging.WARNING, logger="telemetry.run.pipeline"):
        summary = run_features(raw, out, config, fleet="pdm", start=DAY1, end=DAY2)
    assert not summary.failed and len(summary.computed) == 4
    assert summary.manifest.summary["units_missing"] == ["machine-2"]
    units = summary.manifest.summary["units"]
    assert units["url"] == config.units.url and units["version"].startswith("sha256:")
    assert "1 robot(s) of this run are not in the units table" in caplog.text and "machine-2" in caplog.text
    for day in (DAY1, DAY2):
        one = pq.read_table(io.BytesIO(out.read_bytes(f"features/fleet=pdm/date={day}/machine-1.parquet")))
        two = pq.read_table(io.BytesIO(out.read_bytes(f"features/fleet=pdm/date={day}/machine-2.parquet")))
        assert one.schema == schema_of(config) == two.schema
        assert one.num_rows >= 7 and two.num_rows >= 7  # a cutoff every 3 h (day 1's first: no history)
        assert one.column("unit.age").to_pylist() == [18.0] * one.num_rows
        assert one.column("unit.model").to_pylist() == ["model3"] * one.num_rows
        assert two.column("unit.age").to_pylist() == [None] * two.num_rows
        assert two.column("unit.model").to_pylist() == [None] * two.num_rows

    # training: unit.model is a categorical input (levels from the training rows), unit.age a numeric one
    frame = pd.concat(
        pq.read_table(
            io.BytesIO(out.read_bytes(f"features/fleet=pdm/date={DAY1}/machine-{m}.parquet"))
        ).to_pandas()
        for m in (1, 2)
    )
    columns = {c.name: c for c in feature_columns(schema_of(config), frame)}
    assert columns["unit.model"].kind == "categorical" and columns["unit.model"].levels == ("model3",)
    assert columns["unit.age"].kind == "numeric"
    matrix = feature_matrix(frame, [columns["unit.model"], columns["unit.age"]])
    robot_one = (frame["robot_id"] == "machine-1").to_numpy()
    assert matrix[robot_one].tolist() == [[0.0, 18.0]] * int(robot_one.sum())
    assert np.isnan(matrix[~robot_one]).all()


def test_a_changed_units_table_recomputes_and_a_moved_copy_does_not(tmp_path: Path, capsys: Any) -> None:
    raw, config = _imported(tmp_path, capsys, "machineID,model,age\n1,model3,18\n2,model4,7\n")
    out = Store(str(tmp_path / "out"))
    first = run_features(raw, out, config, fleet="pdm", start=DAY1, end=DAY2)
    assert len(first.computed) == 4 and first.manifest.summary["units_missing"] == []
    day = DayKey("pdm", DAY1, "machine-2")
    before = read_lineage(out, day)
    assert before is not None
    [entry] = [i for i in before.inputs if i[0] == "units/pdm.parquet"]
    assert run_features(raw, out, config, fleet="pdm", start=DAY1, end=DAY2).computed == []

    # the same bytes elsewhere (another URL): the same input, nothing recomputed
    moved = tmp_path / "elsewhere" / "pdm.parquet"
    moved.parent.mkdir()
    shutil.copyfile(str(config.units.url), moved)
    there = dataclasses.replace(config, units=dataclasses.replace(config.units, url=str(moved)))
    assert run_features(raw, out, there, fleet="pdm", start=DAY1, end=DAY2).computed == []

    # a new age for machine-2: every partition recomputes (the table is an input of each), with the new value
    (tmp_path / "machines.csv").write_text("machineID,model,age\n1,model3,18\n2,model4,8\n")
    spec = TabularSpec(fleet="pdm", signal="sensors", time_column="datetime", unit_column="machineID",
                       unit_prefix="machine-")  # fmt: skip
    import_units(str(tmp_path / "machines.csv"), raw, spec, "machineID")
    second = run_features(raw, out, config, fleet="pdm", start=DAY1, end=DAY2)
    assert len(second.computed) == 4
    after = read_lineage(out, day)
    assert after is not None and after.fingerprint != before.fingerprint
    [new_entry] = [i for i in after.inputs if i[0] == "units/pdm.parquet"]
    assert new_entry[1] != entry[1]
    table = pq.read_table(io.BytesIO(out.read_bytes(f"features/fleet=pdm/date={DAY1}/machine-2.parquet")))
    assert set(table.column("unit.age").to_pylist()) == {8.0}

    # --as-of the first run: its units table is gone, and the run says so instead of mixing versions
    with pytest.raises(VersionNotFoundError, match="read the units table at sha256:"):
        run_features(
            raw, out, config, fleet="pdm", start=DAY1, end=DAY2, as_of=load_run(out, first.manifest.run_id)
        )


def test_a_table_changed_after_pinning_is_refused_and_robot_features_needs_the_table(tmp_path: Path) -> None:
    path = tmp_path / "u.csv"
    path.write_text("robot_id,model,age\namr-0001,m,1\n")
    config = _units_config(str(path))
    source = units_source(config)
    assert source is not None and source.lineage_input == ("units/u.csv", source.version, path.stat().st_size)
    stale = UnitsSource(source.url, "sha256:" + "0" * 64, source.size)
    with pytest.raises(VersionNotFoundError, match="changed after the run pinned it"):
        read_units(stale, config)
    with pytest.raises(TelemetryError, match="pass the table as `units`"):
        robot_features({}, config, robot_id="amr-0001", start=0, end=1)
    assert math.isclose(float(read_units(source, config).loc["amr-0001", "age"]), 1.0)


def test_workers_read_the_pinned_table_and_match_the_in_process_run(
    tmp_path: Path, capsys: Any, dask_cluster_address: Any
) -> None:
    raw, config = _imported(tmp_path, capsys, "machineID,model,age\n1,model3,18\n2,model4,7\n")
    here, there = Store(str(tmp_path / "here")), Store(str(tmp_path / "there"))
    run_features(raw, here, config, fleet="pdm", start=DAY1, end=DAY2)
    with distributed.Client(dask_cluster_address.address) as client:
        summary = run_features(raw, there, config, fleet="pdm", start=DAY1, end=DAY2, client=client)
    assert not summary.failed and len(summary.computed) == 4
    for machine in (1, 2):
        key = f"features/fleet=pdm/date={DAY2}/machine-{machine}.parquet"
        got = pq.read_table(io.BytesIO(there.read_bytes(key)))
        assert got.equals(pq.read_table(io.BytesIO(here.read_bytes(key))))
        assert set(got.column("unit.model").to_pylist()) == {f"model{machine + 2}"}
