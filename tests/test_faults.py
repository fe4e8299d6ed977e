"""Faults on real processes: an S3 server stopped and started mid-run (transient errors, retried), a key the
store refuses (that partition fails with a clear report, the others are committed, exit status 1), a run
interrupted by SIGINT and by SIGTERM (nothing half-written is ever visible; a re-run does only what is
missing), and a second run on the same output root while one runs (refused with a clear message).

A killed Dask worker mid-run is tests/test_pipeline_dask.py::test_killing_a_worker_mid_run_...
"""

from __future__ import annotations

import contextlib
import datetime as dt
import io
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import distributed
import pyarrow.parquet as pq
import pytest

from telemetry.cli import main
from telemetry.config import S3Config, Secret, load_config
from telemetry.contract.layout import LEASE_KEY, DayKey, features_key, lineage_key
from telemetry.io.lease import RunLease
from telemetry.io.store import Store
from telemetry.run.pipeline import run_features
from telemetry.sim.faults import FaultRates
from telemetry.sim.fleet import FleetSpec, simulate_fleet

START = dt.date(2026, 11, 2)
TELEMETRY = str(Path(sys.executable).with_name("telemetry"))
pytestmark = [pytest.mark.slow]


# ------------------------------------------------------------------------------------------ fault server


class FaultS3:
    """tests/faultserver.py in a subprocess: moto that can go away and come back with its state."""

    def __init__(self, tmp: Path) -> None:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = sock.getsockname()[1]
        self.rules = tmp / "rules.json"
        self.log = open(tmp / "faultserver.log", "wb")  # noqa: SIM115 - closed in close()
        env = {k: v for k, v in os.environ.items() if k not in ("PYTHONTRACEMALLOC", "PYTHONDEVMODE")}
        self.proc = subprocess.Popen(
            [
                sys.executable,
                str(Path(__file__).with_name("faultserver.py")),
                str(self.port),
                str(self.rules),
            ],
            stdout=self.log,
            stderr=subprocess.STDOUT,
            env=env,
        )
        self.wait(up=True)

    @property
    def endpoint_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def answers(self) -> bool:
        from conftest import http_answers

        return http_answers("127.0.0.1", self.port, timeout=2)

    def wait(self, *, up: bool, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while self.answers() != up:
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"fault server not {'up' if up else 'down'} on {self.endpoint_url}")
            time.sleep(0.05)

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGUSR1)
        self.wait(up=False)

    def start(self) -> None:
        self.proc.send_signal(signal.SIGUSR2)
        self.wait(up=True)

    def fail(self, fragment: str, status: int) -> None:
        self.rules.write_text(json.dumps({fragment: status}))

    def close(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=15)
        self.log.close()


@pytest.fixture
def fault_s3(tmp_path: Path) -> Iterator[FaultS3]:
    server = FaultS3(tmp_path)
    try:
        yield server
    finally:
        server.close()


def s3_config(server: FaultS3) -> S3Config:
    return S3Config(
        endpoint_url=server.endpoint_url,
        region="us-east-1",
        key=Secret("AKIAFAULTFAKEKEY0001"),
        secret=Secret("fault-fake-secret-5e1b"),
    )


def new_bucket(server: FaultS3) -> str:
    import boto3

    bucket = f"faults-{uuid.uuid4().hex[:12]}"
    client = boto3.client(
        "s3",
        endpoint_url=server.endpoint_url,
        region_name="us-east-1",
        aws_access_key_id="x",
        aws_secret_access_key="x",
    )
    client.create_bucket(Bucket=bucket)
    client.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    client.close()
    return bucket


def committed_days(out: Store, days: list[DayKey]) -> set[DayKey]:
    return {d for d in days if out.exists(lineage_key(d))}


# ------------------------------------------------------------------------------------------ S3 faults


def test_s3_server_stopped_and_restarted_mid_run_is_retried(
    fault_s3: FaultS3, dask_cluster_address: Any, tmp_path: Path
) -> None:
    config = s3_config(fault_s3)
    bucket = new_bucket(fault_s3)
    raw, out = Store(f"s3://{bucket}/raw", config), Store(f"s3://{bucket}/out", config)
    spec = FleetSpec(robots=3, days=2, hours=1, seed=5, failure_rate=30, faults=FaultRates(late_upload=0.0))
    simulate_fleet(spec, raw.write_bytes)
    cfg = load_config(env={})
    outage: list[float] = []

    def outage_once(done: int, total: int) -> None:
        if done == 2 and not outage:
            fault_s3.stop()
            outage.append(time.monotonic())
            threading.Timer(4.0, fault_s3.start).start()

    with distributed.Client(dask_cluster_address.address) as client:
        summary = run_features(
            raw, out, cfg, fleet=spec.fleet, start=START, end=START + dt.timedelta(days=1), client=client,
            progress=outage_once,
        )  # fmt: skip
    assert outage, "the server was never stopped"
    assert summary.failed == {}
    assert len(summary.computed) == 6
    # identical to the same run in this process against a local copy of the raw data
    local_raw, local_out = Store(str(tmp_path / "raw")), Store(str(tmp_path / "out"))
    for obj in raw.list_day_zips():
        local_raw.write_bytes(obj.key, raw.read(obj))
    run_features(local_raw, local_out, cfg, fleet=spec.fleet, start=START, end=START + dt.timedelta(days=1))
    for obj in raw.list_day_zips():
        got = pq.read_table(io.BytesIO(out.read_bytes(features_key(obj.day))))
        assert got.equals(pq.read_table(io.BytesIO(local_out.read_bytes(features_key(obj.day))))), obj.day


def test_a_key_the_store_refuses_fails_its_partition_only_exit_1(
    fault_s3: FaultS3, dask_cluster_address: Any, capsys: pytest.CaptureFixture[str], monkeypatch: Any
) -> None:
    config = s3_config(fault_s3)
    bucket = new_bucket(fault_s3)
    raw, out = Store(f"s3://{bucket}/raw", config), Store(f"s3://{bucket}/out", config)
    spec = FleetSpec(robots=3, days=1, hours=1, seed=6, failure_rate=30, faults=FaultRates(late_upload=0.0))
    simulate_fleet(spec, raw.write_bytes)
    bad = DayKey(spec.fleet, START, "amr-0002")
    fault_s3.fail(f"/raw/{bad.key}", 403)  # listing still works; every GET of this zip is refused
    monkeypatch.setenv("TELEMETRY__STORE__S3__KEY", "AKIAFAULTFAKEKEY0001")
    monkeypatch.setenv("TELEMETRY__STORE__S3__SECRET", "fault-fake-secret-5e1b")
    code = main(
        [
            "features", "--raw", raw.url, "--out", out.url, "--start", str(START),
            "--scheduler", dask_cluster_address.address,
            "--set", f"store.s3.endpoint_url={fault_s3.endpoint_url}", "--set", "store.s3.region=us-east-1",
        ]
    )  # fmt: skip
    text, err = capsys.readouterr()
    assert code == 1, err
    assert "partitions        3  computed 2  skipped 0  failed 2" in text, text  # its extract and features
    failed = [line for line in err.splitlines() if line.startswith("FAILED")]
    assert len(failed) == 2 and all("amr-0002" in line for line in failed), err
    assert all(f"cannot read {raw.url}/{bad.key}" in line and "PermissionError" in line for line in failed), (
        err
    )
    assert "fault-fake-secret-5e1b" not in text + err
    days = [DayKey(spec.fleet, START, f"amr-000{r}") for r in (1, 2, 3)]
    assert committed_days(out, days) == {days[0], days[2]}
    assert not out.exists(features_key(bad))
    manifest = json.loads(out.read_bytes(next(k for k in out.list_keys("_runs/"))))
    assert list(manifest["failed"]) != [] and manifest["summary"]["computed"] == 2
    assert json.loads(out.read_bytes(LEASE_KEY))["state"] == "released"


# ------------------------------------------------------------------------------------------ interrupts


class Watcher:
    """Lists a local output root over and over while runs go on; records anything half-written."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.problems: list[str] = []
        self.listings = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> Watcher:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.is_set():
            self.check()
            self.listings += 1
            time.sleep(0.02)

    def check(self) -> None:
        for path in self.root.rglob("*"):
            if not path.is_file() or path.name.startswith("."):  # hidden temp files: readers skip them
                continue
            rel = path.relative_to(self.root).as_posix()
            try:
                data = path.read_bytes()
            except FileNotFoundError:  # replaced meanwhile (rename over it)
                continue
            try:
                if path.suffix == ".parquet":
                    pq.read_table(io.BytesIO(data))
                elif path.suffix == ".json":
                    json.loads(data)
            except Exception as exc:
                self.problems.append(f"{rel}: {type(exc).__name__}: {exc}")
            if (
                rel.startswith("_lineage/")
                and not (self.root / "features" / rel[9:]).with_suffix(".parquet").exists()
            ):
                self.problems.append(f"{rel}: lineage committed without its features file")


def wait_idle(address: str) -> None:
    """Tasks of a killed client may still run on the shared workers: wait until the scheduler is empty and
    no worker thread still runs one. The scheduler forgets a killed client's tasks at once, but a task
    already running finishes in its thread (cancelled, not stopped) and may commit its partition later;
    counted as the next run's progress, that commit would make the test signal a run still starting up."""

    def running(dask_worker: Any) -> int:
        return len(dask_worker.state.all_running_tasks)

    with distributed.Client(address, set_as_default=False) as client:
        deadline = time.monotonic() + 120
        while (
            client.run_on_scheduler(lambda dask_scheduler: len(dask_scheduler.tasks)) > 0
            or sum(client.run(running).values()) > 0
        ):
            assert time.monotonic() < deadline, "the cluster did not go idle"
            time.sleep(0.2)


def test_sigint_and_sigterm_leave_nothing_half_written_and_reruns_do_only_the_rest(
    dask_cluster_address: Any, tmp_path: Path
) -> None:
    spec = FleetSpec(robots=3, days=3, hours=1, seed=9, failure_rate=30, faults=FaultRates(late_upload=0.0))
    raw_dir, out_dir = tmp_path / "raw", tmp_path / "out"
    simulate_fleet(spec, Store(str(raw_dir)).write_bytes)
    out = Store(str(out_dir))
    days = [
        DayKey(spec.fleet, START + dt.timedelta(days=d), f"amr-000{r}") for r in range(1, 4) for d in range(3)
    ]
    argv = [
        TELEMETRY, "features", "--raw", str(raw_dir), "--out", str(out_dir), "--start", str(START),
        "--end", str(START + dt.timedelta(days=2)), "--scheduler", dask_cluster_address.address,
    ]  # fmt: skip
    # another run holds the output root: refused at once with a clear message, nothing written
    with RunLease.acquire(out, "20261122T000000Z-other", command="features (another run)"):
        refused = subprocess.run(argv, capture_output=True, text=True, timeout=120)
    assert refused.returncode == 2, refused.stderr
    assert f"output root {out_dir} is in use by run 20261122T000000Z-other" in refused.stderr
    assert out.list_keys("") == [LEASE_KEY]
    committed: list[set[DayKey]] = []
    # The runs must start with SIGINT at its default, as a run in a terminal does. A shell starts background
    # commands with SIGINT ignored (POSIX), an ignored signal stays ignored across exec, and Python then
    # installs no KeyboardInterrupt handler: under a CI runner or `cmd &` the run would not see the SIGINT.
    inherited = signal.signal(signal.SIGINT, signal.default_int_handler)  # a Python handler: SIG_DFL on exec
    with contextlib.ExitStack() as restore, Watcher(out_dir) as watcher:
        restore.callback(signal.signal, signal.SIGINT, inherited)
        for sig in (signal.SIGINT, signal.SIGTERM):
            before = committed_days(out, days)
            proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            deadline = time.monotonic() + 120
            while len(committed_days(out, days)) <= len(before):  # interrupt once one more partition is in
                assert proc.poll() is None, proc.communicate()
                assert time.monotonic() < deadline
                time.sleep(0.05)
            assert proc.poll() is None, "the run finished before it could be interrupted"
            proc.send_signal(sig)
            stdout, err = proc.communicate(timeout=120)
            assert proc.returncode == 128 + sig, f"{stdout}\n{err}"
            assert f"interrupted by {sig.name}" in err
            wait_idle(dask_cluster_address.address)
            committed.append(committed_days(out, days))
            assert json.loads(out.read_bytes(LEASE_KEY))["state"] == "released"
        assert len(committed[-1]) < len(days), "the runs finished before they were interrupted"
        final = subprocess.run(argv, capture_output=True, text=True, timeout=300)
    assert final.returncode == 0, final.stderr
    missing = len(days) - len(committed[-1])
    assert f"computed {missing}  skipped {len(committed[-1])}  failed 0" in final.stdout
    assert committed_days(out, days) == set(days)
    assert watcher.listings > 20 and watcher.problems == []
    assert not list(out_dir.rglob(".*.telemetry-tmp")) or all(
        p.name.endswith(".cas.telemetry-tmp") for p in out_dir.rglob(".*.telemetry-tmp")
    )
