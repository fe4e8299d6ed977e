"""The run lease (telemetry/io/lease.py): acquired, renewed and released; exclusive while held; taken over
when expired (and its holder learns it); exclusive under a race, locally and on S3."""

from __future__ import annotations

import json
import logging
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from telemetry.config import S3Config
from telemetry.contract.layout import LEASE_KEY
from telemetry.errors import LeaseLostError, LockedError
from telemetry.io.lease import RunLease
from telemetry.io.store import Store


def lease_record(out: Store) -> dict[str, Any]:
    current = out.read_with_token(LEASE_KEY)
    assert current is not None
    record: dict[str, Any] = json.loads(current[0])
    return record


def test_a_lease_is_acquired_renewed_and_released(tmp_path: Path) -> None:
    out = Store(str(tmp_path / "out"))
    lease = RunLease.acquire(out, "run-a", command="features", ttl_s=600)
    try:
        held = lease_record(out)
        assert (held["run_id"], held["command"], held["state"]) == ("run-a", "features", "held")
        assert lease.renew() is True and lease.lost is None
        renewed = lease_record(out)
        assert renewed["state"] == "held"
        assert renewed["expires_at_epoch_s"] >= held["expires_at_epoch_s"]
        lease.check()  # not lost: no error
    finally:
        lease.release()
    assert lease_record(out)["state"] == "released"
    assert lease.renew() is False  # released: nothing to renew
    with RunLease.acquire(out, "run-b", ttl_s=600):  # a released lease is free
        assert lease_record(out)["run_id"] == "run-b"
    assert lease_record(out)["state"] == "released"  # the context manager released it


def test_a_second_run_is_refused_while_the_lease_is_held(tmp_path: Path) -> None:
    out = Store(str(tmp_path / "out"))
    with RunLease.acquire(out, "run-a", command="features", ttl_s=600):
        with pytest.raises(LockedError, match=r"is in use by run run-a \(features, host .*, pid \d+\)"):
            RunLease.acquire(out, "run-b")
        assert lease_record(out)["run_id"] == "run-a"


def test_an_expired_lease_is_taken_over_and_its_holder_learns_it(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    out = Store(str(tmp_path / "out"))
    dead = RunLease.acquire(out, "run-a", ttl_s=600)
    dead._stop.set()  # a driver that stopped renewing (paused, partitioned)
    dead._thread.join()  # type: ignore[union-attr]
    current = out.read_with_token(LEASE_KEY)
    assert current is not None
    expired = {**json.loads(current[0]), "expires_at_epoch_s": time.time() - 1}  # its run died long ago
    assert out.write_if(LEASE_KEY, json.dumps(expired).encode(), current[1]) is not None
    with caplog.at_level(logging.WARNING, logger="telemetry.io.lineage"):
        taker = RunLease.acquire(out, "run-b", ttl_s=600)
    try:
        assert "took over the expired lease of run run-a" in caplog.text
        assert lease_record(out)["run_id"] == "run-b"
        assert dead.renew() is False and dead.lost is not None and "run-b" in dead.lost
        with pytest.raises(LeaseLostError, match="taken over by run run-b"):
            dead.check()
        dead.release()  # must not release run-b's lease
        assert lease_record(out)["state"] == "held"
    finally:
        taker.release()


def test_a_lease_needs_a_positive_ttl(tmp_path: Path) -> None:
    out = Store(str(tmp_path / "out"))
    with pytest.raises(ValueError, match="'ttl_s' must be > 0 seconds"):
        RunLease.acquire(out, "run-a", ttl_s=0)
    assert out.read_with_token(LEASE_KEY) is None


def race(out: Store, n: int = 8) -> tuple[list[RunLease], list[str]]:
    barrier = threading.Barrier(n)
    won: list[RunLease] = []
    lost: list[str] = []

    def attempt(i: int) -> None:
        barrier.wait()
        try:
            won.append(RunLease.acquire(out, f"run-{i}", command="race"))
        except LockedError as exc:
            lost.append(str(exc))

    threads = [threading.Thread(target=attempt, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return won, lost


def check_race(out: Store) -> None:
    for _ in range(3):
        won, lost = race(out)
        assert len(won) == 1 and len(lost) == 7, lost
        assert all(f"is in use by run {won[0].run_id}" in msg for msg in lost), lost
        won[0].release()
    # a holder that died: its lease expires and is taken over; the old holder learns it lost
    first = RunLease.acquire(out, "run-a", ttl_s=0.3)
    first._stop.set()  # simulate a driver that stopped renewing (paused, partitioned)
    first._thread.join()  # type: ignore[union-attr]
    with pytest.raises(LockedError, match="in use by run run-a"):
        RunLease.acquire(out, "run-b")
    time.sleep(0.4)
    second = RunLease.acquire(out, "run-b")
    assert first.renew() is False and first.lost is not None and "run-b" in first.lost
    first.release()  # must not release run-b's lease
    with pytest.raises(LockedError, match="in use by run run-b"):
        RunLease.acquire(out, "run-c")
    second.release()


def test_the_run_lease_is_exclusive_under_a_race_locally(tmp_path: Path) -> None:
    check_race(Store(str(tmp_path / "out")))


@pytest.mark.s3
def test_the_run_lease_is_exclusive_under_a_race_on_s3(s3_bucket_url: str, s3_config: S3Config) -> None:
    check_race(Store(s3_bucket_url.rsplit("/", 1)[0] + "/out", s3_config))
