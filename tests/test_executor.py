"""The executor seam (telemetry/run/executor.py): one interface and one failure policy, in this process and on
real Dask processes; transient store errors retried inside a task; freed memory returned after a task."""

from __future__ import annotations

import json
import operator
import os
import platform
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import distributed
import pytest

from telemetry.config import TelemetryConfig, load_config
from telemetry.errors import StoreError, TransientStoreError
from telemetry.io.store import RawObject, Store
from telemetry.run import pipeline
from telemetry.run.executor import (
    DaskExecutor,
    Executor,
    InProcessExecutor,
    Outcome,
    executor_for,
    with_retries,
)
from telemetry.sim.fleet import FleetSpec, simulate_fleet
from telemetry.stages.extract import ExtractReport


def run_graph(executor: Executor) -> dict[str, Outcome]:
    """Four tasks: two that succeed, one that fails, and one that waits for the failed one."""
    ok = executor.submit(operator.add, 2, 3, key="ok")
    bad = executor.submit(operator.truediv, 1, 0, key="bad", label="the bad one")
    executor.submit(operator.mul, 4, 5, key="after-ok", after=[ok])
    executor.submit(operator.add, 1, 1, key="after-bad", after=[bad])
    return {o.task.key: o for o in executor.outcomes()}


def check_policy(outcomes: dict[str, Outcome]) -> None:
    assert set(outcomes) == {"ok", "bad", "after-ok", "after-bad"}  # every task reported once
    assert outcomes["ok"].result == 5 and outcomes["ok"].error is None
    assert outcomes["after-ok"].result == 20
    assert outcomes["bad"].error == "ZeroDivisionError: division by zero"
    assert outcomes["bad"].task.label == "the bad one"
    # a task whose dependency failed fails with the dependency's error (and never runs)
    assert outcomes["after-bad"].error == outcomes["bad"].error and outcomes["after-bad"].result is None


def test_in_process_executor_reports_failures_and_goes_on() -> None:
    executor = executor_for(None)
    assert isinstance(executor, InProcessExecutor)
    check_policy(run_graph(executor))
    assert list(executor.outcomes()) == []  # outcomes are collected once


def test_in_process_executor_runs_tasks_in_submission_order() -> None:
    seen: list[int] = []
    executor = InProcessExecutor()
    for i in range(5):
        executor.submit(seen.append, i, key=f"t{i}")
    assert [o.result for o in executor.outcomes()] == [None] * 5 and seen == [0, 1, 2, 3, 4]


@pytest.mark.slow
def test_dask_executor_has_the_same_policy_on_real_processes(dask_cluster_address: Any) -> None:
    with distributed.Client(dask_cluster_address.address) as client:
        executor = executor_for(client)
        assert isinstance(executor, DaskExecutor)
        with executor.group("test-executor"):
            outcomes = run_graph(executor)
    check_policy(outcomes)


def flaky(failures: int) -> Callable[[], str]:
    """A callable that raises a transient store error `failures` times, then answers."""
    calls = {"n": 0}

    def call() -> str:
        calls["n"] += 1
        if calls["n"] <= failures:
            raise TransientStoreError("connection reset")
        return f"answered after {calls['n']} calls"

    return call


def test_transient_errors_are_retried_within_the_budget_and_others_are_not() -> None:
    assert with_retries(flaky(2)) == "answered after 3 calls"
    with pytest.raises(TransientStoreError):
        with_retries(flaky(100), retry_s=0.5)
    executor = InProcessExecutor()
    executor.submit(flaky(1), key="flaky")
    executor.submit(int, "not a number", key="contract")
    got = {o.task.key: o for o in executor.outcomes()}
    assert got["flaky"].result == "answered after 2 calls"
    assert got["contract"].error is not None and got["contract"].error.startswith("ValueError: ")


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="malloc_trim is glibc's")
def test_release_freed_memory_returns_a_fragmented_heap_to_the_system() -> None:
    """What a task does at its end: heap memory NumPy freed between live allocations (which glibc's free
    cannot return, only ``malloc_trim`` can) goes back to the operating system. A fresh process, with
    glibc's default thresholds as the workers have them."""
    code = """
import json, numpy as np, psutil
from telemetry.run.executor import release_freed_memory
rss = lambda: psutil.Process().memory_info().rss
big, keep = [], []
for _ in range(2000):
    big.append(np.ones(12_000))  # 96 KB: below glibc's initial mmap threshold, so on the heap
    # live between them, so the freed heap cannot shrink from its top: 1.6 KB, above NumPy's cache of small
    # blocks (which would serve them from elsewhere), so each comes from malloc, right after its neighbour
    keep.append(np.ones(200))
del big
before = rss()
release_freed_memory()
print(json.dumps([before, rss()]))
"""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_")}
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    before, after = json.loads(done.stdout)
    assert before - after > 150e6, (before, after)  # ~190 MB were freed


def test_run_extract_reports_a_failed_day_and_extracts_the_others(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``telemetry extract`` follows the policy too: a robot-day whose extraction raises is reported under its
    day (``<ExceptionType>: <message>``) and the other robot-days are extracted and counted."""
    spec = FleetSpec(robots=2, days=1, hours=1, seed=1)
    raw, out = Store(str(tmp_path / "raw")), Store(str(tmp_path / "out"))
    simulate_fleet(spec, raw.write_bytes)
    real = pipeline.extract_robot_day

    def refuse_second(raw_: Store, out_: Store, obj: RawObject, config: TelemetryConfig) -> ExtractReport:
        if obj.day.robot_id == "amr-0002":
            raise StoreError(f"cannot read {obj.key}")
        return real(raw_, out_, obj, config)

    monkeypatch.setattr(pipeline, "extract_robot_day", refuse_second)
    summary = pipeline.run_extract(
        raw, out, load_config(env={}), fleet=spec.fleet, start=spec.start, end=spec.start
    )
    (bad,) = [o for o in summary.objects if o.day.robot_id == "amr-0002"]
    assert summary.failed == {str(bad.day): f"StoreError: cannot read {bad.key}"}
    assert summary.report.documents > 0 and summary.report.documents == (
        summary.report.extracted + summary.report.quarantined
    )
    assert [d for d, _ in out.list_partitions("_extract/", ".json")] == [
        o.day for o in summary.objects if o.day.robot_id != "amr-0002"
    ]
