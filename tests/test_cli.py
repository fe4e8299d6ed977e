"""The `telemetry` command end to end: simulate -> extract on a local store and on the moto S3 server;
outputs equal the simulator's ground truth; counts add up; errors are one clear line."""

from __future__ import annotations

import datetime as dt
import io
import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest

from telemetry import __version__
from telemetry.cli import main
from telemetry.config import S3Config, load_config
from telemetry.errors import ConfigError
from telemetry.io.store import Store
from telemetry.sim.faults import FaultRates
from telemetry.sim.fleet import (
    FleetSpec,
    GroundTruth,
    robot_ids,
    simulate_fleet,
    simulate_robot_days,
)
from telemetry.stages.extract import extract_day_zip

START = dt.date(2026, 11, 2)


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def normalised(df: pd.DataFrame) -> pd.DataFrame:
    df = df.astype(object).where(df.notna(), None)
    return df.sort_values(list(df.columns[1:]), kind="stable").reset_index(drop=True)


def assert_outputs_match_ground_truth(out: Store, spec: FleetSpec) -> None:
    for robot in robot_ids(spec):
        for day in simulate_robot_days(spec, robot):
            part = f"fleet={spec.fleet}/date={day.day.date.isoformat()}/{robot}"
            report = json.loads(out.read_bytes(f"_extract/{part}.json"))["report"]
            assert report["documents"] == report["extracted"] + report["quarantined"] == day.faults["members"]
            corrupt = day.faults["truncated_gzip"] + day.faults["invalid_json"] + day.faults["wrong_types"]
            assert report["quarantined"] == corrupt
            for signal, expected in day.expected.items():
                got = pq.read_table(
                    io.BytesIO(out.read_bytes(f"signals/{signal}/{part}.parquet"))
                ).to_pandas()
                pd.testing.assert_frame_equal(normalised(got), normalised(expected), check_dtype=False)


def test_simulate_then_extract_locally_equals_ground_truth(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    raw, out = tmp_path / "raw", tmp_path / "out"
    code, text, _ = run(
        capsys, "simulate", "--out", str(raw), "--robots", "2", "--days", "2", "--hours", "1", "--seed", "3"
    )
    assert code == 0
    assert "2 robots x 2 days" in text
    truth = GroundTruth.from_json((raw / "fleet=acme-dc3/_truth/ground_truth.json").read_bytes())
    assert len(truth.robot_days) == 4

    code, text, _ = run(
        capsys, "extract", "--raw", str(raw), "--out", str(out), "--date", "2026-11-02", "--end", "2026-11-03"
    )
    assert code == 0, text
    docs = int(text.split("documents in")[1].split()[0])
    extracted = int(text.split("extracted")[1].split()[0])
    quarantined = int(text.split("quarantined")[1].split()[0])
    assert docs == extracted + quarantined == sum(rd["members"] for rd in truth.robot_days)
    spec = FleetSpec(robots=2, days=2, hours=1, seed=3, start=START)
    assert_outputs_match_ground_truth(Store(str(out)), spec)
    assert sorted(p.name for p in (out / "quarantine/fleet=acme-dc3/date=2026-11-02").glob("*.parquet")) in (
        [],
        ["amr-0001.parquet"],
        ["amr-0002.parquet"],
        ["amr-0001.parquet", "amr-0002.parquet"],
    )


@pytest.mark.s3
def test_simulate_to_versioned_s3_and_extract_pins_latest_version(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], s3_bucket_url: str, s3_config: S3Config
) -> None:
    assert s3_config.endpoint_url is not None
    opts = ["--set", f"store.s3.endpoint_url={s3_config.endpoint_url}", "--set", "store.s3.region=us-east-1"]
    code, text, _ = run(capsys, "simulate", "--out", s3_bucket_url, "--robots", "1", "--hours", "0.5", *opts)
    assert code == 0, text
    raw = Store(s3_bucket_url, s3_config)
    [obj] = raw.list_day_zips("acme-dc3", START, START)
    # a late upload (simulator default: 10% of robot-days) or not, the versions listed are all readable
    versions = raw.list_versions(obj.key)
    assert versions[-1] == obj
    code, text, _ = run(
        capsys, "extract", "--raw", s3_bucket_url, "--out", str(tmp_path / "out"), "--date", str(START), *opts
    )
    assert code == 0, text
    recorded = json.loads(
        (tmp_path / "out/_extract/fleet=acme-dc3/date=2026-11-02/amr-0001.json").read_text()
    )
    assert recorded["raw"] == {"key": obj.key, "version": obj.version, "size": obj.size}
    assert_outputs_match_ground_truth(
        Store(str(tmp_path / "out")), FleetSpec(robots=1, hours=0.5, start=START)
    )


@pytest.mark.s3
def test_late_upload_makes_a_second_version_and_old_one_stays_readable(
    s3_bucket_url: str, s3_config: S3Config
) -> None:
    spec = FleetSpec(robots=1, hours=0.5, faults=FaultRates(late_upload=1.0), start=START)
    raw = Store(s3_bucket_url, s3_config)
    truth = simulate_fleet(spec, raw.write_bytes)
    [obj] = raw.list_day_zips(spec.fleet, START, START)
    first, latest = raw.list_versions(obj.key)
    assert latest == obj
    assert truth.robot_days[0]["late_upload"]
    config = load_config(env={})
    old = extract_day_zip(
        raw.read(first), day=first.day, version=first.version, signals=config.signals, extract=config.extract
    )
    new = extract_day_zip(
        raw.read(latest),
        day=latest.day,
        version=latest.version,
        signals=config.signals,
        extract=config.extract,
    )
    assert old.report.documents < new.report.documents
    assert sum(old.report.samples.values()) < sum(new.report.samples.values())


def test_config_show_masks_secrets(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TELEMETRY__STORE__S3__SECRET", "s3cr3t-value")
    code, text, _ = run(capsys, "config", "show", "--set", "store.s3.key=AKIA-EXAMPLE")
    assert code == 0
    assert "s3cr3t-value" not in text
    assert "AKIA-EXAMPLE" not in text
    assert "secret: '***'" in text


def test_bad_config_is_one_clear_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("extract:\n  max_members: lots\n")
    code, _, err = run(capsys, "config", "show", "--config", str(path))
    assert code == 2
    assert err.strip() == (
        f"telemetry: error: extract.max_members: expected an integer, got 'lots' (str) from file {path}"
    )


def test_extract_with_nothing_to_read_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(
        capsys, "extract", "--raw", str(tmp_path), "--out", str(tmp_path / "o"), "--date", "2026-11-02"
    )
    assert code == 2
    assert "no day zips under" in err
    assert "check --raw, --fleet and the dates" in err


def test_console_script_runs(tmp_path: Path) -> None:
    out = subprocess.run(
        [str(Path(sys.executable).with_name("telemetry")), "--version"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert out.stdout.startswith("telemetry ")


HEAVY_LIBRARIES = (
    *("lightgbm", "sklearn", "scipy", "dask", "distributed", "pyarrow", "pandas", "numpy"),
    *("fsspec", "s3fs", "matplotlib", "isal", "orjson", "yaml"),
)
COMMAND_MODULES = tuple(f"telemetry.{p}" for p in ("stages", "io", "run", "sim", "importers", "contract"))
HEAVY = (*HEAVY_LIBRARIES, *COMMAND_MODULES, "telemetry.config")


@pytest.mark.parametrize(
    "argv",
    [["--version"], ["--help"], ["train", "--help"], ["import-csv", "--help"], ["models", "list", "--help"]],
)
def test_help_and_version_import_no_heavy_module(argv: list[str]) -> None:
    """``python -m telemetry --help`` and ``--version`` build the parser and print without importing the
    libraries or the project modules the commands use (each command imports what it runs): they answer
    at once (measured times: docs/development.md)."""
    code = (
        "import json, runpy, sys\n"
        f"sys.argv, status = ['telemetry', *{argv!r}], None\n"
        "try:\n"
        "    runpy.run_module('telemetry', run_name='__main__', alter_sys=True)\n"
        "except SystemExit as exc:\n"
        "    status = exc.code\n"
        "print(json.dumps({'status': status, 'modules': sorted(sys.modules)}))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    *printed, last = result.stdout.splitlines()
    outcome = json.loads(last)
    assert outcome["status"] in (0, None), result.stdout + result.stderr
    assert "telemetry.cli" in outcome["modules"]  # the parser was built
    loaded = [m for m in outcome["modules"] if m in HEAVY or m.startswith(tuple(f"{h}." for h in HEAVY))]
    assert loaded == [], loaded
    assert printed[0].startswith("telemetry " if argv == ["--version"] else "usage: telemetry")


def test_python_m_telemetry_is_the_command_line() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "telemetry", "--version"], capture_output=True, text=True, check=True
    )
    assert result.stdout == f"telemetry {__version__}\n"
    result = subprocess.run([sys.executable, "-m", "telemetry", "lineage"], capture_output=True, text=True)
    assert result.returncode == 2
    assert "the following arguments are required: --out, --date, --robot" in result.stderr


def test_run_with_a_config_file_computes_the_configured_days(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    raw, out = tmp_path / "raw", tmp_path / "out"
    simulate_fleet(
        FleetSpec(robots=1, days=2, hours=1, seed=2, faults=FaultRates.none()), Store(str(raw)).write_bytes
    )
    config = tmp_path / "telemetry.yaml"
    config.write_text(
        f"store:\n  raw_url: {raw}\n  out_url: {out}\nrun:\n  start: '2026-11-02'\n  end: '2026-11-03'\n"
    )
    config.chmod(0o644)
    code, text, _ = run(capsys, "run", "--config", str(config), "--workers", "1")
    assert code == 0, text
    assert "partitions        2  computed 2" in text
    assert "dashboard         http://127.0.0.1:" in text
    assert sorted(p.name for p in (out / "features/fleet=acme-dc3").iterdir()) == [
        "date=2026-11-02",
        "date=2026-11-03",
    ]
    code, text, _ = run(capsys, "lineage", "--out", str(out), "--date", "2026-11-02", "--robot", "amr-0001")
    assert code == 0
    assert "input             fleet=acme-dc3/date=2026-11-02/amr-0001.zip  version sha256:" in text
    assert "input             fleet=acme-dc3/date=2026-11-03/amr-0001.zip" in text


def test_run_dates_resolve_relative_to_today() -> None:
    today = dt.date(2026, 11, 22)
    assert load_config(env={}).run.dates(today) == (dt.date(2026, 11, 21), dt.date(2026, 11, 21))
    config = load_config(env={}, overrides=["run.start='2026-11-01'", "run.end=today"])
    assert config.run.dates(today) == (dt.date(2026, 11, 1), today)
    with pytest.raises(ConfigError, match=r"run\.start must be YYYY-MM-DD"):
        load_config(env={}, overrides=["run.start=last-week"])


def test_features_writes_a_dask_performance_report(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    raw, out, report = tmp_path / "raw", tmp_path / "out", tmp_path / "report.html"
    simulate_fleet(
        FleetSpec(robots=1, days=1, hours=1, seed=3, faults=FaultRates.none()), Store(str(raw)).write_bytes
    )
    code, text, _ = run(
        capsys,
        "features",
        "--raw",
        str(raw),
        "--out",
        str(out),
        "--start",
        "2026-11-02",
        "--workers",
        "1",
        "--report",
        str(report),
    )
    assert code == 0, text
    assert f"performance report {report}" in text
    assert "<html" in report.read_text()[:2000].lower()


def test_cli_reference_is_current() -> None:
    """docs/cli.md is generated from the parser: regenerate it when a command changes."""
    from telemetry.cli import cli_reference_markdown

    doc = Path(__file__).resolve().parents[1] / "docs" / "cli.md"
    assert doc.read_text(encoding="utf-8") == cli_reference_markdown(), (
        'docs/cli.md is stale: python -c "from telemetry.cli import cli_reference_markdown as r; '
        "print(r(), end='')\" > docs/cli.md"
    )
    for command in ("train", "score", "import-csv", "features", "demo"):
        assert f"## `telemetry {command}`" in doc.read_text(encoding="utf-8")
