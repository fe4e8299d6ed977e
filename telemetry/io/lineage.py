"""Lineage: which raw object versions, configuration and code produced each output partition.

Every feature partition ``features/fleet=<f>/date=<d>/<robot>.parquet`` has a lineage record
``_lineage/fleet=<f>/date=<d>/<robot>.json`` naming the raw inputs it read as ``(key, version, size)``
(its own day zip and the neighbouring days that feed its halos; the units table as ``units/<file name>``
when one is configured, see :class:`telemetry.run.pipeline.UnitsSource`), the hash of the configuration
sections
that change results, and the package version. The record is written **after** the Parquet file, so a
partition counts as committed only when its record matches; a run recomputes a partition exactly when
the lineage it would produce differs from the committed one (new raw version, changed configuration, new
code version) or its output is missing.

Every run also writes ``_runs/<run_id>.json``: the inputs it listed, the configuration hash and what it
did. ``--as-of <run_id>`` re-runs on exactly those versions.

One run at a time writes an output root: a run holds the **lease** ``_lock/lease.json`` (:class:`RunLease`),
taken and renewed by compare-and-swap (:meth:`~telemetry.io.store.Store.write_if`; conditional PUTs on S3).
A second run fails at once with :class:`~telemetry.errors.LockedError` naming the holder. A lease not
renewed for ``ttl_s`` (its run died) may be taken over; a run whose lease was taken over stops with
:class:`~telemetry.errors.LeaseLostError`. See docs/reliability.md for what this does and does not guarantee.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
import logging
import os
import socket
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from telemetry._version import __version__
from telemetry.config import TelemetryConfig, config_hash
from telemetry.contract.layout import LEASE_KEY, RUNS_PREFIX, DayKey, lineage_key, run_manifest_key
from telemetry.errors import LeaseLostError, LockedError, NothingToDoError, StoreError
from telemetry.io.store import RawObject, Store

__all__ = [
    "RESULT_SECTIONS",
    "PartitionLineage",
    "RunLease",
    "RunManifest",
    "features_config_hash",
    "load_run",
    "read_lineage",
    "result_config_hash",
]

RESULT_SECTIONS = ("signals", "extract", "align", "labels", "features", "history", "units")
"""Configuration sections that change outputs (store, cluster and credentials do not)."""


def result_config_hash(config: TelemetryConfig) -> str:
    """Hash of the configuration sections that change results."""
    return config_hash(config, *RESULT_SECTIONS)


FEATURE_SECTIONS = ("signals", "extract", "align", "features", "history", "units")
"""Configuration sections that define the feature columns and their values (labels do not)."""


def features_config_hash(config: TelemetryConfig) -> str:
    """Hash of the sections that define features: a model applies only to features with the same hash."""
    return config_hash(config, *FEATURE_SECTIONS)


@dataclass(frozen=True, slots=True)
class PartitionLineage:
    """What one feature partition was computed from."""

    fleet: str
    date: str
    robot_id: str
    inputs: tuple[tuple[str, str, int], ...]
    """``(key, version, size)`` of every raw object read, sorted by key."""
    config_hash: str
    package_version: str
    run_id: str = ""
    computed_at: str = ""
    features_hash: str = ""
    """:func:`features_config_hash` of the configuration (empty in records of older versions)."""

    @classmethod
    def of(
        cls, day: DayKey, inputs: Iterable[RawObject], config: TelemetryConfig, run_id: str = ""
    ) -> PartitionLineage:
        """The lineage a partition computed now from ``inputs`` would have."""
        return cls(
            day.fleet,
            day.date.isoformat(),
            day.robot_id,
            tuple(sorted((o.key, o.version, o.size) for o in inputs)),
            result_config_hash(config),
            __version__,
            run_id,
            dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            features_config_hash(config),
        )

    @property
    def fingerprint(self) -> str:
        """Identity of the result: inputs, configuration and code (not when or by which run)."""
        text = json.dumps([self.inputs, self.config_hash, self.package_version], separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()[:20]

    def to_json(self) -> bytes:
        """The record as JSON (inputs as objects)."""
        data = asdict(self)
        data["inputs"] = [{"key": k, "version": v, "size": s} for k, v, s in self.inputs]
        data["fingerprint"] = self.fingerprint
        return json.dumps(data, indent=1, sort_keys=True).encode()

    @classmethod
    def from_json(cls, raw: bytes) -> PartitionLineage:
        """Parse a record written by :meth:`to_json`."""
        data = json.loads(raw)
        inputs = tuple((i["key"], i["version"], int(i["size"])) for i in data["inputs"])
        return cls(
            data["fleet"],
            data["date"],
            data["robot_id"],
            inputs,
            data["config_hash"],
            data["package_version"],
            data.get("run_id", ""),
            data.get("computed_at", ""),
            data.get("features_hash", ""),
        )


def read_lineage(out: Store, day: DayKey) -> PartitionLineage | None:
    """The committed lineage of a robot-day, or None when there is none."""
    key = lineage_key(day)
    if not out.exists(key):
        return None
    return PartitionLineage.from_json(out.read_bytes(key))


@dataclass(slots=True)
class RunManifest:
    """One run: its inputs, configuration and outcome."""

    run_id: str
    fleet: str | None
    start: str
    end: str
    config_hash: str
    package_version: str
    inputs: list[dict[str, Any]] = field(default_factory=list)
    computed: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    summary: dict[str, Any] = field(default_factory=dict)
    started_at: str = ""
    finished_at: str = ""

    @staticmethod
    def new_run_id() -> str:
        """A sortable, unique run id: UTC time plus random suffix."""
        now = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
        return f"{now}-{hashlib.sha256(str(dt.datetime.now().timestamp()).encode()).hexdigest()[:6]}"

    def key(self) -> str:
        """Where the manifest is stored."""
        return run_manifest_key(self.run_id)

    def pinned_inputs(self) -> list[RawObject]:
        """The raw objects the run used, as pinned versions."""
        return [RawObject.from_key(i["key"], i["version"], int(i["size"])) for i in self.inputs]

    def to_json(self) -> bytes:
        """The manifest as JSON."""
        return json.dumps(asdict(self), indent=1, sort_keys=True).encode()


def load_run(out: Store, run_id: str) -> RunManifest:
    """A past run's manifest (for ``--as-of``)."""
    key = run_manifest_key(run_id)
    if not out.exists(key):
        known: Sequence[str] = [
            k.rsplit("/", 1)[-1].removesuffix(".json") for k in out.list_keys(RUNS_PREFIX)
        ]
        raise NothingToDoError(
            f"no run {run_id!r} under {out.url}/_runs/ (known runs: {', '.join(known[-5:]) or 'none'})"
        )
    data = json.loads(out.read_bytes(key))
    return RunManifest(**data)


# ------------------------------------------------------------------------------------------ run lease

"""Key of the run lease under an output root."""

logger = logging.getLogger(__name__)


def _iso(epoch_s: float) -> str:
    return dt.datetime.fromtimestamp(epoch_s, dt.UTC).isoformat(timespec="seconds")


class RunLease:
    """Exclusive, expiring right of one run to write an output root.

    The lease object ``_lock/lease.json`` names the run, host, pid and an expiry time (the holder's clock,
    epoch seconds). :meth:`acquire` creates it only if absent, or replaces it only if it is released or
    expired, and only if it did not change since it was read (compare-and-swap): of two runs that try at
    once, exactly one wins. A background thread renews the expiry every ``ttl_s / 3`` seconds with the same
    compare-and-swap; if the lease was taken over meanwhile, :attr:`lost` says why, and :meth:`check`
    raises :class:`~telemetry.errors.LeaseLostError`. :meth:`release` marks it released (again by
    compare-and-swap: a lease taken over is left alone). Use as a context manager.

    Clocks of different hosts are trusted to within a small fraction of ``ttl_s``.
    """

    def __init__(self, out: Store, run_id: str, command: str, ttl_s: float) -> None:
        self.out = out
        self.run_id = run_id
        self.command = command
        self.ttl_s = ttl_s
        self.lost: str | None = None
        self._token: str | None = None
        self._acquired_at = time.time()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def _record(self, state: str, now: float) -> bytes:
        data = {
            "run_id": self.run_id,
            "command": self.command,
            "host": socket.gethostname(),
            "pid": os.getpid(),
            "state": state,
            "acquired_at": _iso(self._acquired_at),
            "renewed_at": _iso(now),
            "expires_at": _iso(now + self.ttl_s),
            "expires_at_epoch_s": now + self.ttl_s,
        }
        return json.dumps(data, indent=1, sort_keys=True).encode()

    @classmethod
    def acquire(cls, out: Store, run_id: str, *, command: str = "", ttl_s: float = 120.0) -> RunLease:
        """Take the lease of `out` for `run_id` and start renewing it.

        Raises:
            LockedError: another run holds a lease that has not expired, or won a simultaneous attempt.
        """
        if ttl_s <= 0:
            raise ValueError(f"'ttl_s' must be > 0 seconds (got {ttl_s!r})")
        lease = cls(out, run_id, command, ttl_s)
        current = out.read_with_token(LEASE_KEY)
        now = time.time()
        if current is None:
            lease._token = out.write_if(LEASE_KEY, lease._record("held", now), None)
        else:
            data, token = current
            holder = _parse_lease(data)
            if holder.get("state") == "held" and float(holder.get("expires_at_epoch_s", 0)) > now:
                raise LockedError(_locked_message(out, holder))
            lease._token = out.write_if(LEASE_KEY, lease._record("held", now), token)
            if lease._token is not None and holder.get("state") == "held":
                logger.warning("took over the expired lease of run %s on %s", holder.get("run_id"), out.url)
        if lease._token is None:  # another run won the compare-and-swap
            again = out.read_with_token(LEASE_KEY)
            raise LockedError(_locked_message(out, _parse_lease(again[0]) if again else {}))
        lease._thread = threading.Thread(target=lease._heartbeat, name=f"lease-{run_id}", daemon=True)
        lease._thread.start()
        return lease

    def renew(self) -> bool:
        """Push the expiry forward; False (and :attr:`lost` set) when the lease was taken over."""
        with self._lock:
            if self.lost is not None or self._token is None:
                return False
            token = self.out.write_if(LEASE_KEY, self._record("held", time.time()), self._token)
            if token is None:
                current = self.out.read_with_token(LEASE_KEY)
                holder = _parse_lease(current[0]) if current else {}
                self.lost = (
                    f"the lease on {self.out.url} was taken over by run {holder.get('run_id', '?')} "
                    f"after this run ({self.run_id}) did not renew it for {self.ttl_s:g} s"
                )
                return False
            self._token = token
            return True

    def _heartbeat(self) -> None:
        while not self._stop.wait(self.ttl_s / 3):
            try:
                if not self.renew():
                    return
            except StoreError as exc:  # transient: the next beat tries again before the lease expires
                logger.warning("could not renew the lease on %s: %s", self.out.url, exc)

    def check(self) -> None:
        """Raise :class:`~telemetry.errors.LeaseLostError` when the lease was lost."""
        if self.lost is not None:
            raise LeaseLostError(f"{self.lost}; this run stopped, re-run to finish its work")

    def release(self) -> None:
        """Stop renewing and mark the lease released (a no-op when it was lost)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        with self._lock:
            if self.lost is None and self._token is not None:
                with contextlib.suppress(StoreError):
                    self.out.write_if(LEASE_KEY, self._record("released", time.time()), self._token)
                self._token = None

    def __enter__(self) -> RunLease:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def _parse_lease(data: bytes) -> dict[str, Any]:
    try:
        parsed = json.loads(data)
    except ValueError:
        return {}
    return parsed if isinstance(parsed, dict) else {}


def _locked_message(out: Store, holder: dict[str, Any]) -> str:
    h = {k: holder.get(k, "?") for k in ("run_id", "host", "pid", "acquired_at", "expires_at")}
    return (
        f"output root {out.url} is in use by run {h['run_id']} "
        f"({holder.get('command') or 'telemetry'}, host {h['host']}, pid {h['pid']}) "
        f"since {h['acquired_at']}; its lease expires at {h['expires_at']} unless "
        f"renewed. Wait for that run to finish, or use another --out. If that run is dead, re-run after the "
        f"expiry (or delete {out.url}/{LEASE_KEY})"
    )
