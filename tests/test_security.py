"""Security: a configured credential appears in no output (stdout, stderr, logs, `config show`, lineage,
run manifests, extraction reports, the lease, error messages); no pickle/eval of data; world-writable
config files are refused by every command. (The run lease's exclusivity under a race: test_lineage.py.)"""

from __future__ import annotations

import ast
import datetime as dt
import logging
from pathlib import Path
from typing import Any

import pytest

from telemetry.cli import main
from telemetry.config import S3Config
from telemetry.contract.layout import LEASE_KEY
from telemetry.io.store import Store
from telemetry.sim.faults import FaultRates
from telemetry.sim.fleet import FleetSpec, simulate_fleet

START = dt.date(2026, 11, 2)
PACKAGE = Path(__file__).parents[1] / "telemetry"


@pytest.mark.s3
@pytest.mark.slow
def test_a_configured_secret_appears_in_no_output(
    s3_bucket_url: str,
    s3_config: S3Config,
    dask_cluster_address: Any,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert s3_config.key is not None and s3_config.secret is not None
    key_id, secret = s3_config.key.reveal(), s3_config.secret.reveal()
    monkeypatch.setenv("TELEMETRY__STORE__S3__KEY", key_id)
    monkeypatch.setenv("TELEMETRY__STORE__S3__SECRET", secret)
    raw = Store(s3_bucket_url, s3_config)
    out_url = s3_bucket_url.rsplit("/", 1)[0] + "/out"
    spec = FleetSpec(robots=2, days=1, hours=1, seed=3, failure_rate=30, faults=FaultRates(late_upload=0.0))
    simulate_fleet(spec, raw.write_bytes)
    endpoint = [
        "--set",
        f"store.s3.endpoint_url={s3_config.endpoint_url}",
        "--set",
        "store.s3.region=us-east-1",
    ]
    caplog.set_level(logging.INFO)  # botocore DEBUG logs print the access key id (not the secret)
    caplog.set_level(logging.DEBUG, logger="telemetry")
    outputs: list[str] = []
    for argv, code in [
        (["config", "show", *endpoint], 0),
        (["extract", "--raw", raw.url, "--out", out_url, "--date", str(START), "-v", *endpoint], 0),
        (
            [
                "features",
                "--raw",
                raw.url,
                "--out",
                out_url,
                "--start",
                str(START),
                "-v",
                "--scheduler",
                dask_cluster_address.address,
                *endpoint,
            ],
            0,
        ),
        (["lineage", "--out", out_url, "--date", str(START), "--robot", "amr-0001", *endpoint], 0),
        # errors: a bucket that does not exist, a dead endpoint
        (
            [
                "extract",
                "--raw",
                "s3://no-such-bucket-x/raw",
                "--out",
                out_url,
                "--date",
                str(START),
                *endpoint,
            ],
            2,
        ),
        (
            [
                "extract",
                "--raw",
                raw.url,
                "--out",
                out_url,
                "--date",
                str(START),
                "--set",
                "store.s3.endpoint_url=http://127.0.0.1:9",
                "--set",
                "store.s3.region=us-east-1",
            ],
            2,
        ),
    ]:
        assert main(argv) == code, argv
        stdout, stderr = capsys.readouterr()
        outputs += [stdout, stderr]
    assert "secret: '***'" in outputs[0]
    outputs += [record.getMessage() for record in caplog.records]
    outputs += [caplog.text]
    out = Store(out_url, s3_config)
    keys = out.list_keys("")
    assert (
        LEASE_KEY in keys
        and any(k.startswith("_lineage/") for k in keys)
        and any(k.startswith("_runs/") for k in keys)
    )
    for key in keys:  # every object written: Parquet, lineage, manifests, extraction reports, the lease
        outputs.append(out.read_bytes(key).decode("latin-1"))
    everything = "\n".join(outputs)
    assert len(everything) > 10_000
    assert secret not in everything
    assert key_id not in everything


def test_no_pickle_eval_or_unsafe_yaml_in_the_package() -> None:
    """Data and configuration are parsed by JSON/YAML-safe/Parquet/zip readers only."""
    banned_calls = {"eval", "exec", "compile", "__import__"}
    banned_attrs = {
        ("pickle", "load"), ("pickle", "loads"), ("marshal", "loads"), ("yaml", "load"),
        ("yaml", "unsafe_load"), ("yaml", "full_load"), ("dill", "loads"), ("joblib", "load"),
    }  # fmt: skip
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import | ast.ImportFrom):
                names = [a.name for a in node.names] + (
                    [node.module] if isinstance(node, ast.ImportFrom) else []
                )
                found += [
                    f"{path.name}: import {n}"
                    for n in names
                    if n in ("pickle", "marshal", "dill", "joblib", "shelve")
                ]
            if isinstance(node, ast.Call):
                fn = node.func
                if isinstance(fn, ast.Name) and fn.id in banned_calls:
                    found.append(f"{path.name}:{node.lineno}: {fn.id}()")
                if (
                    isinstance(fn, ast.Attribute)
                    and isinstance(fn.value, ast.Name)
                    and (fn.value.id, fn.attr) in banned_attrs
                ):
                    found.append(f"{path.name}:{node.lineno}: {fn.value.id}.{fn.attr}()")
                for kw in node.keywords:
                    if kw.arg == "allow_pickle" and not (
                        isinstance(kw.value, ast.Constant) and kw.value.value is False
                    ):
                        found.append(f"{path.name}:{node.lineno}: allow_pickle")
    assert found == []


@pytest.mark.parametrize(
    "command",
    [["config", "show"], ["features", "--raw", "r", "--out", "o", "--start", "2026-11-02"], ["run"]],
)
def test_every_command_refuses_a_world_writable_config(
    tmp_path: Path, command: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "telemetry.yaml"
    path.write_text("fleet: acme-dc3\n")
    path.chmod(0o666)
    assert main([*command, "--config", str(path)]) == 2
    assert "world-writable" in capsys.readouterr().err
