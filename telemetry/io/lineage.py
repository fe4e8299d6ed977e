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
One run at a time writes an output root: see :mod:`telemetry.io.lease`.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from telemetry._version import __version__
from telemetry.config import TelemetryConfig, config_hash
from telemetry.contract.layout import RUNS_PREFIX, DayKey, lineage_key, run_manifest_key
from telemetry.errors import NothingToDoError
from telemetry.io.store import RawObject, Store

__all__ = [
    "RESULT_SECTIONS",
    "PartitionLineage",
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
