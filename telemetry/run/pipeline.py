"""Wiring of the stages to stores and to a Dask cluster.

This module is an edge: it reads pinned raw objects from a :class:`~telemetry.io.store.Store`, calls the pure
stage functions and commits outputs atomically. Two kinds of task run per robot and UTC day:

``extract-<robot>-<date>``
    one day zip (a pinned ``(key, version)``) -> ``signals/<signal>/fleet=<f>/date=<d>/<robot>.parquet``,
    ``quarantine/...`` and ``_extract/...json`` (written last: the report names the version extracted).
    Skipped when the report already names the same version.
``features-<robot>-<date>``
    the extracted tables of the day and of its neighbours, cut to the halo
    ``[day start - before, day end + after)`` -> align -> labels -> features ->
    ``features/fleet=<f>/date=<d>/<robot>.parquet`` then ``_lineage/...json``. Skipped when the committed
    lineage equals the lineage it would have.

``before`` = longest window + max(longest join tolerance, cooldown + U); ``after`` = max(label horizon + U,
lead + grid step), ``U = labels.unobserved_failure_s`` (an orphan recovery's failure lies in ``[r - U, r]``).
Envelopes are filed by the UTC day of ``sent_at`` and samples may lie ``extract.ts_slack_s`` outside it,
so a robot-day reads the zips of its day and of as many neighbouring days as its halos plus the slack
reach (:func:`halo_days`; one each side by default): results are the same whatever the partitioning.
The history features (``history.*``) also need the events of ``[day start - Hmax, day start)``, ``Hmax`` the
longest ``history.horizons_s``: a robot-day reads the events table alone of the days further back
(:func:`history_days`), and those days' zips are pinned in its lineage like its neighbours'.

With ``units.url`` set, every features task also reads the units table (static unit attributes,
:mod:`telemetry.stages.units`; parsed once per process and content version). The run pins the table's
content (``sha256:<hex>``, read once by the driver, checked by every task) and each partition's lineage lists
it next to the day zips (as ``units/<file name>``), so a changed table recomputes every partition. Robots of
the run that the table lacks get null ``unit.*`` features and are listed in the run manifest
(``summary.units_missing``) and logged.

Data moves between tasks through the output store (Parquet), not through the scheduler, so a task holds at
most one robot-day plus halos in memory, and the store works the same on a laptop and on Kubernetes.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import hashlib
import io
import json
import logging
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from telemetry._version import __version__
from telemetry.config import SignalSpec, TelemetryConfig
from telemetry.contract.envelope import DAY_MS, day_bounds_ms
from telemetry.contract.layout import (
    DayKey,
    extract_report_key,
    features_key,
    lineage_key,
    quarantine_key,
    signal_key,
)
from telemetry.errors import NothingToDoError, TelemetryError, VersionNotFoundError
from telemetry.io.lease import RunLease
from telemetry.io.lineage import PartitionLineage, RunManifest, read_lineage
from telemetry.io.store import RawObject, Store
from telemetry.run.executor import InProcessExecutor, Task, executor_for, release_freed_memory, with_retries
from telemetry.stages.align import align
from telemetry.stages.extract import (
    Extraction,
    ExtractReport,
    extract_day_zip,
    rows_in_range,
    signal_table_schema,
    sorted_unique,
)
from telemetry.stages.features import build_features, feature_table_schema
from telemetry.stages.history import history_features
from telemetry.stages.labels import ExampleSet, make_examples
from telemetry.stages.units import unit_features, unit_row, units_table

__all__ = [
    "ExtractSummary",
    "FeaturesSummary",
    "PartitionReport",
    "UnitsSource",
    "compute_partition",
    "extract_object",
    "extract_robot_day",
    "halo_days",
    "halo_ms",
    "history_days",
    "parquet_bytes",
    "plan_partitions",
    "read_units",
    "robot_features",
    "run_extract",
    "run_features",
    "units_source",
]

logger = logging.getLogger(__name__)

LEASE_TTL_S = 120.0
"""Expiry of the output root's run lease (renewed every third of it); see :class:`RunLease`."""


def parquet_bytes(table: pa.Table) -> bytes:
    """A table as Parquet bytes (zstd), ready for one atomic put."""
    sink = io.BytesIO()
    pq.write_table(table, sink, compression="zstd")
    return sink.getvalue()


# ------------------------------------------------------------------------------------------ extract


def extracted_version(out: Store, day: DayKey) -> str | None:
    """The raw version whose extraction is committed for a robot-day, if any."""
    key = extract_report_key(day)
    if not out.exists(key):
        return None
    return str(json.loads(out.read_bytes(key))["raw"]["version"])


def extract_object(raw: Store, obj: RawObject, config: TelemetryConfig) -> Extraction:
    """The extraction of one pinned day zip of `raw` (read at its pinned version; nothing written)."""
    data = raw.read(obj)
    return extract_day_zip(
        data, day=obj.day, version=obj.version, signals=config.signals, extract=config.extract, key=obj.key
    )


def extract_robot_day(raw: Store, out: Store, obj: RawObject, config: TelemetryConfig) -> ExtractReport:
    """Extract one pinned day zip and commit its tables, quarantine records and report (report last)."""
    extraction = extract_object(raw, obj, config)
    for signal, table in extraction.tables.items():
        out.write_bytes(signal_key(signal, obj.day), parquet_bytes(table))
    if extraction.quarantine:
        out.write_bytes(quarantine_key(obj.day), parquet_bytes(extraction.quarantine_table()))
    elif out.exists(quarantine_key(obj.day)):
        out.delete(quarantine_key(obj.day))  # a newer version without bad members
    report = {
        "raw": {"key": obj.key, "version": obj.version, "size": obj.size},
        "package_version": __version__,
        "report": extraction.report.to_dict(),
    }
    out.write_bytes(extract_report_key(obj.day), json.dumps(report, indent=1, sort_keys=True).encode())
    return extraction.report


def _extract_if_needed(raw: Store, out: Store, obj: RawObject, config: TelemetryConfig) -> dict[str, Any]:
    """Task body: extract unless the committed extraction is of this very version."""
    if extracted_version(out, obj.day) == obj.version:
        report = json.loads(out.read_bytes(extract_report_key(obj.day)))["report"]
        return {"key": obj.key, "computed": False, "report": report}
    report = extract_robot_day(raw, out, obj, config).to_dict()
    return {"key": obj.key, "computed": True, "report": report}


@dataclass(slots=True)
class ExtractSummary:
    """What `run_extract` did: the day zips it read, the merged report of those extracted, and the day zips
    whose extraction failed (``str(day)`` -> ``"<ExceptionType>: <message>"``)."""

    objects: list[RawObject]
    report: ExtractReport
    failed: dict[str, str] = field(default_factory=dict)


def run_extract(
    raw: Store,
    out: Store,
    config: TelemetryConfig,
    *,
    fleet: str | None,
    start: dt.date,
    end: dt.date,
    robots: Iterable[str] | None = None,
    progress: Callable[[RawObject, ExtractReport], None] | None = None,
) -> ExtractSummary:
    """Extract every day zip of a fleet and inclusive date range in this process, one robot-day after
    another, holding the output root's run lease. A day zip that fails is reported in ``failed`` (the
    executor's failure policy, :mod:`telemetry.run.executor`) and the others go on.

    Raises:
        NothingToDoError: no day zip matches.
        LockedError: another run is writing `out`.
    """
    command = f"extract {fleet or '*'} {start}..{end}"
    with RunLease.acquire(out, RunManifest.new_run_id(), command=command, ttl_s=LEASE_TTL_S) as lease:
        wanted = set(robots) if robots is not None else None
        objects = with_retries(raw.list_day_zips, fleet, start, end, wanted)
        if not objects:
            raise NothingToDoError(
                f"no day zips under {raw.url} for fleet={fleet or '*'} dates {start}..{end}"
                f"{' robots ' + ','.join(sorted(wanted)) if wanted else ''}; "
                "check --raw, --fleet and the dates"
            )
        executor = InProcessExecutor()
        by_task = {
            executor.submit(
                extract_robot_day, raw, out, obj, config, key=f"extract-{obj.day}", label=str(obj.day)
            ): obj
            for obj in objects
        }
        total, failed = ExtractReport(), {}
        for outcome in executor.outcomes():
            lease.check()
            if outcome.error is not None:
                failed[outcome.task.label] = outcome.error
                continue
            total = total.merge(outcome.result)
            if progress is not None:
                progress(by_task[outcome.task], outcome.result)
        return ExtractSummary(objects, total, failed)


# ------------------------------------------------------------------------------------------ features


def halo_ms(config: TelemetryConfig) -> tuple[int, int]:
    """``(before, after)``: how far outside a span samples must be read (epoch ms).

    ``before`` covers the features' ticks (the longest window or the baseline, ``features.lookback_ms``)
    with their join tolerance, and the labels' exclusions (the longest window, cooldown and ``U``)."""
    tolerance = max((s.tolerance_ms for s in config.sampled_signals), default=0)
    labels = config.labels
    unobserved = round(labels.unobserved_failure_s * 1000)  # an orphan recovery's failure: [r - U, r]
    before = max(
        config.features.lookback_ms + tolerance,
        config.features.longest_window_ms + round(labels.cooldown_s * 1000) + unobserved,
    )
    # a positive's cutoff is the grid instant at or before t_f - lead: t_f < c + lead + grid step
    after = max(
        round(labels.horizon_s * 1000) + unobserved, round((labels.lead_s + labels.grid_step_s) * 1000)
    )
    return before, after


def halo_days(config: TelemetryConfig) -> tuple[int, int]:
    """``(back, forward)``: how many neighbouring day zips a robot-day reads on each side.

    A zip of day ``D`` holds samples with ``ts`` in ``[D - slack, D + 1 day + slack)``
    (``extract.ts_slack_s``), so the samples of ``[start - before, end + after)`` (:func:`halo_ms`) are all
    in the zips of days ``d - back .. d + forward``. One day each side for the default configuration;
    more for windows or horizons of a day or longer (e.g. hourly data with 24 h windows).
    """
    before, after = halo_ms(config)
    slack = round(config.extract.ts_slack_s * 1000)
    return max(1, -(-(before + slack) // DAY_MS)), max(1, -(-(after + slack) // DAY_MS))


def history_days(config: TelemetryConfig) -> int:
    """How many days before a robot-day hold events its history features need (0 when they are off).

    The features of the cutoffs of ``[start, end)`` use the events of ``[start - Hmax, end)``, ``Hmax`` the
    longest ``history.horizons_s``; with ``extract.ts_slack_s`` they are all in the zips of days
    ``d - ceil((Hmax + slack) / 1 day) .. d`` (8 days back for the default 7-day horizon and 1 h slack). Of
    the days beyond :func:`halo_days`' ``back``, only the events table is read.
    """
    if config.events_signal is None or not config.history.enabled:
        return 0
    slack = round(config.extract.ts_slack_s * 1000)
    return -(-(config.history.longest_horizon_ms + slack) // DAY_MS)


# ------------------------------------------------------------------------------------------ units


@dataclass(frozen=True, slots=True)
class UnitsSource:
    """The units table a run reads (``units.url``), pinned by content: ``version`` is ``sha256:<hex>`` of its
    bytes on every kind of store (the table is small, and identical bytes are the same input wherever they
    live); ``size`` in bytes."""

    url: str
    version: str
    size: int

    @property
    def name(self) -> str:
        """The file name: the last part of the URL."""
        return self.url.strip().rstrip("/").rpartition("/")[2]

    @property
    def lineage_input(self) -> tuple[str, str, int]:
        """``(key, version, size)`` in a partition's lineage. The key is ``units/<file name>``, not the URL,
        so the same content read from another place (a local copy, another spelling of the path) is the
        same input and recomputes nothing."""
        return (f"units/{self.name}", self.version, self.size)


def _units_bytes(url: str, config: TelemetryConfig) -> bytes:
    """The current bytes of the file at `url` (any store URL or local path)."""
    parent, sep, name = url.strip().rstrip("/").rpartition("/")
    return Store(parent or ("/" if sep else "."), config.store.s3).read_bytes(name)


_UNITS_CACHE: dict[tuple[UnitsSource, Any], pd.DataFrame] = {}
"""Parsed units tables of this process by ``(source, units section)``: a worker reads a table once per
content version, not once per robot-day."""


def _parsed_units(source: UnitsSource, config: TelemetryConfig, data: bytes) -> pd.DataFrame:
    table = units_table(data, source.name, config.units)
    if len(_UNITS_CACHE) >= 4:  # a long-lived worker keeps the few latest versions only
        _UNITS_CACHE.clear()
    _UNITS_CACHE[(source, config.units)] = table
    return table


def units_source(config: TelemetryConfig) -> UnitsSource | None:
    """The units table of ``units.url`` as it is now, pinned (None when ``units.url`` is null). The table is
    parsed too (and kept for :func:`read_units`), so an unusable table fails here, before any task runs.

    Raises:
        StoreError: the file cannot be read. DataContractError: it is not a usable units table.
    """
    url = config.units.url
    if url is None:
        return None
    data = with_retries(_units_bytes, url, config)
    source = UnitsSource(url, "sha256:" + hashlib.sha256(data).hexdigest(), len(data))
    _parsed_units(source, config, data)
    return source


def read_units(source: UnitsSource, config: TelemetryConfig) -> pd.DataFrame:
    """The parsed table of pinned `source` (:func:`~telemetry.stages.units.units_table`), read at most once
    per process and version.

    Raises:
        VersionNotFoundError: the file at ``source.url`` no longer has the pinned content (it changed after
            the run pinned it: re-run to use the new table).
    """
    cached = _UNITS_CACHE.get((source, config.units))
    if cached is not None:
        return cached
    data = with_retries(_units_bytes, source.url, config)
    found = "sha256:" + hashlib.sha256(data).hexdigest()
    if found != source.version:
        raise VersionNotFoundError(
            f"the units table {source.url} changed after the run pinned it (pinned {source.version}, now "
            f"{found}); re-run to use the new table"
        )
    return _parsed_units(source, config, data)


# ------------------------------------------------------------------------------------------ features


@dataclass(slots=True)
class RobotFeatures:
    """Features of one robot over one span, with the accounting behind them."""

    table: pa.Table
    examples: ExampleSet
    match_rates: dict[str, float]
    seconds: dict[str, float]


def robot_features(
    tables: Mapping[str, pa.Table | pd.DataFrame],
    config: TelemetryConfig,
    *,
    robot_id: str,
    start: int,
    end: int,
    units: pd.DataFrame | None = None,
) -> RobotFeatures:
    """align -> labels -> features for the examples with cutoff in ``[start, end)`` (epoch ms).

    ``tables`` must hold the robot's samples over ``[start - before, end + after)`` (see :func:`halo_ms`),
    and its events over ``[start - max(before, Hmax), end + after)`` when the history features are on
    (``Hmax`` the longest ``history.horizons_s``); samples outside do not change the result. The work is
    done in UTC-day chunks (the same chunks a per-day partition computes), so results are bit-identical for
    any partitioning into whole days. The history columns follow the window features
    (:func:`~telemetry.stages.features.feature_table_schema`).

    ``units``: the units table (:func:`read_units`), required when ``units.url`` is set; the robot's row
    fills the ``unit.*`` columns of every example (nulls when the table has no row for it).
    """
    if config.units.url is not None and units is None:
        raise TelemetryError(
            "units.url is set, so the features have unit.* columns: pass the table as `units` "
            "(telemetry.run.pipeline.read_units), or set units.url to null"
        )
    attributes = unit_row(units, robot_id, config.units) if units is not None else None
    seconds = {"align": 0.0, "labels": 0.0, "features": 0.0}
    pieces: list[pa.Table] = []
    example_sets: list[ExampleSet] = []
    rates: list[dict[str, float]] = []
    events = tables.get(config.events_signal.name) if config.events_signal is not None else None
    schema = feature_table_schema(
        signals=config.signals,
        features=config.features,
        labels=config.labels,
        history=config.history,
        units=config.units,
    )
    chunk_start = start
    while chunk_start < end:
        chunk_end = min(end, (chunk_start // DAY_MS + 1) * DAY_MS)
        clock = time.perf_counter()
        aligned = align(
            tables,
            signals=config.signals,
            align=config.align,
            robot_id=robot_id,
            start=chunk_start - config.features.lookback_ms,  # the windows and the baseline
            end=chunk_end,
        )
        seconds["align"] += time.perf_counter() - clock
        clock = time.perf_counter()
        examples = make_examples(
            tables,
            signals=config.signals,
            labels=config.labels,
            features=config.features,
            robot_id=robot_id,
            start=chunk_start,
            end=chunk_end,
        )
        seconds["labels"] += time.perf_counter() - clock
        clock = time.perf_counter()
        frame = build_features(
            aligned, events, examples.examples, signals=config.signals, features=config.features
        )
        history = history_features(
            events,
            examples.examples["cutoff"].to_numpy(dtype="int64"),
            signals=config.signals,
            features=config.features,
            labels=config.labels,
            history=config.history,
        )
        if history:
            frame = pd.concat([frame, pd.DataFrame(history, index=frame.index)], axis=1)
        unit = unit_features(attributes, len(frame), config.units)
        if unit:
            frame = pd.concat([frame, pd.DataFrame(unit, index=frame.index)], axis=1)
        pieces.append(pa.Table.from_pandas(frame, schema=schema, preserve_index=False))
        seconds["features"] += time.perf_counter() - clock
        example_sets.append(examples)
        rates.append(aligned.match_rates())
        chunk_start = chunk_end
    table = pa.concat_tables(pieces) if pieces else schema.empty_table()
    merged = _merge_example_sets(example_sets)
    match_rates = {k: sum(r[k] for r in rates) / len(rates) for k in rates[0]} if rates else {}
    return RobotFeatures(table, merged, match_rates, seconds)


def _merge_example_sets(sets: Sequence[ExampleSet]) -> ExampleSet:
    if len(sets) == 1:
        return sets[0]
    excluded: Counter[str] = Counter()
    for item in sets:
        excluded.update(item.excluded)
    frames = [item.examples for item in sets]
    return ExampleSet(
        pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(),
        sum(item.candidates for item in sets),
        dict(excluded),
        sum(item.subsampled for item in sets),
    )


def _read_tables(
    out: Store,
    inputs: Sequence[RawObject],
    config: TelemetryConfig,
    lo: int,
    hi: int,
    *,
    events_from: tuple[Sequence[RawObject], int] | None = None,
) -> dict[str, pa.Table]:
    """The extracted samples of ``inputs`` with ``lo <= ts < hi``, merged and deduplicated per signal.

    The tables leave out the ``robot_id`` column: every input is the one robot's (the features take its id
    from the partition), and reading and checking a constant string column per sample cost about as much
    as the rest of the read-back. A file whose ``ts`` all lie in ``[lo, hi)`` (the day's own, usually) is
    taken whole; the filter runs only on the files that reach outside (the neighbours' halos).
    ``events_from = (inputs, lo)``: the events signal is read from those inputs, over ``[lo, hi)``, instead
    (the history features' longer reach).
    """
    tables: dict[str, pa.Table] = {}
    events = config.events_signal
    for spec in config.signals:
        if events_from is not None and events is not None and spec.name == events.name:
            tables[spec.name] = _read_signal(out, events_from[0], spec, events_from[1], hi)
        else:
            tables[spec.name] = _read_signal(out, inputs, spec, lo, hi)
    return tables


def _read_signal(out: Store, inputs: Sequence[RawObject], spec: SignalSpec, lo: int, hi: int) -> pa.Table:
    """One signal's extracted samples of ``inputs`` with ``lo <= ts < hi``, merged and deduplicated."""
    schema = signal_table_schema(spec).remove(0)  # without robot_id
    parts = []
    for obj in inputs:
        key = signal_key(spec.name, obj.day)
        table = pq.read_table(io.BytesIO(out.read_bytes(key)), columns=schema.names)
        parts.append(rows_in_range(table.cast(schema), lo, hi))
    merged = pa.concat_tables(parts) if parts else schema.empty_table()
    unique: pa.Table = sorted_unique(merged)[0]
    return unique


@dataclass(slots=True)
class PartitionReport:
    """What one features task did."""

    day: str
    computed: bool
    examples: int = 0
    positives: int = 0
    candidates: int = 0
    excluded: dict[str, int] = field(default_factory=dict)
    subsampled: int = 0
    match_rates: dict[str, float] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)


def compute_partition(
    raw_inputs: Sequence[RawObject],
    out: Store,
    day: DayKey,
    config: TelemetryConfig,
    run_id: str,
    force: bool = False,
    units: UnitsSource | None = None,
) -> PartitionReport:
    """Task body: the features of one robot-day, unless its committed lineage is already current.

    ``raw_inputs`` are the pinned day zips of the day and its existing neighbours (:func:`plan_partitions`);
    their extraction must be committed (the extract tasks run first). Of the days further back than
    :func:`halo_days`' ``back`` (there for the history features, :func:`history_days`), only the events are
    read. ``units``: the run's pinned units table (None: :func:`units_source` now, when ``units.url`` is
    set); it is an input of the lineage like the day zips.
    """
    if units is None:
        units = units_source(config)
    lineage = PartitionLineage.of(day, raw_inputs, config, run_id)
    if units is not None:
        lineage = dataclasses.replace(lineage, inputs=tuple(sorted((*lineage.inputs, units.lineage_input))))
    committed = read_lineage(out, day)
    if (
        not force
        and committed is not None
        and committed.fingerprint == lineage.fingerprint
        and out.exists(features_key(day))
    ):
        return PartitionReport(str(day), computed=False)
    for obj in raw_inputs:
        got = extracted_version(out, obj.day)
        if got != obj.version:
            raise TelemetryError(
                f"extraction of {obj.key} is at version {got}, expected {obj.version}; re-run"
            )
    start, end = day_bounds_ms(day.date)
    before, after = halo_ms(config)
    back, _ = halo_days(config)
    near = [obj for obj in raw_inputs if (day.date - obj.day.date).days <= back]
    history_reach = max(before, config.history.longest_horizon_ms) if history_days(config) else None
    tables = _read_tables(
        out,
        near,
        config,
        start - before,
        end + after,
        events_from=None if history_reach is None else (raw_inputs, start - history_reach),
    )
    release_freed_memory()  # the read's decode buffers, before the features allocate theirs
    unit_table = read_units(units, config) if units is not None else None
    result = robot_features(tables, config, robot_id=day.robot_id, start=start, end=end, units=unit_table)
    out.write_bytes(features_key(day), parquet_bytes(result.table))
    out.write_bytes(lineage_key(day), lineage.to_json())  # last: marks the partition committed
    ex = result.examples
    labels = ex.examples["label"].to_numpy()
    report = PartitionReport(
        str(day),
        True,
        len(ex.examples),
        int(labels.sum()),
        ex.candidates,
        dict(ex.excluded),
        ex.subsampled,
        result.match_rates,
        result.seconds,
    )
    return report


def plan_partitions(
    objects: Sequence[RawObject],
    start: dt.date,
    end: dt.date,
    back: int = 1,
    forward: int = 1,
    history: int = 0,
) -> dict[DayKey, list[RawObject]]:
    """Per robot-day in ``[start, end]`` with a day zip: the zips it reads (its own and those of the
    ``max(back, history)`` days before and `forward` days after it that exist, see :func:`halo_days` and
    :func:`history_days`); they may lie outside ``[start, end]``."""
    by_day = {obj.day: obj for obj in objects}
    plan: dict[DayKey, list[RawObject]] = {}
    for day in sorted(by_day):
        if start <= day.date <= end:
            offsets = range(-max(back, history), forward + 1)
            near = [DayKey(day.fleet, day.date + dt.timedelta(days=d), day.robot_id) for d in offsets]
            plan[day] = [by_day[k] for k in near if k in by_day]
    return plan


@dataclass(slots=True)
class FeaturesSummary:
    """What `run_features` did."""

    manifest: RunManifest
    extract: ExtractReport
    partitions: list[PartitionReport]
    failed: dict[str, str]
    seconds: float

    @property
    def computed(self) -> list[str]:
        """Robot-days whose features were (re)computed."""
        return [p.day for p in self.partitions if p.computed]

    @property
    def skipped(self) -> list[str]:
        """Robot-days whose committed features were already current."""
        return [p.day for p in self.partitions if not p.computed]

    def excluded(self) -> dict[str, int]:
        """Excluded candidate cutoffs per reason, over the computed partitions."""
        total: Counter[str] = Counter()
        for p in self.partitions:
            total.update(p.excluded)
        return dict(total)


def run_features(
    raw: Store,
    out: Store,
    config: TelemetryConfig,
    *,
    fleet: str | None,
    start: dt.date,
    end: dt.date,
    robots: Iterable[str] | None = None,
    client: Any = None,
    as_of: RunManifest | None = None,
    progress: Callable[[int, int], None] | None = None,
    lease_ttl_s: float = LEASE_TTL_S,
) -> FeaturesSummary:
    """Features for every robot-day of a fleet in ``[start, end]`` (inclusive), incrementally, holding the
    run lease of `out` (one run per output root).

    Args:
        raw: the raw store; out: the output store.
        config: the effective configuration.
        fleet, start, end, robots: what to compute.
        client: a ``distributed.Client``; None runs every task in this process, one after another. Both
            follow one failure policy (:mod:`telemetry.run.executor`): a task that fails is reported in
            ``failed`` and the others go on.
        as_of: a past run whose exact input versions are used instead of listing the store.
        progress: called with ``(tasks done, tasks total)`` as tasks finish.
        lease_ttl_s: expiry of the run lease (renewed every third of it).

    Raises:
        NothingToDoError: no day zip matches.
        LockedError: another run is writing `out` (its lease has not expired).
        LeaseLostError: this run stopped renewing its lease long enough for another run to take it over.
    """
    run_id = RunManifest.new_run_id()
    command = f"features {fleet or '*'} {start}..{end}"
    with RunLease.acquire(out, run_id, command=command, ttl_s=lease_ttl_s) as lease:
        clock = time.perf_counter()
        back, forward = halo_days(config)
        history = history_days(config)
        lo, hi = start - dt.timedelta(days=max(back, history)), end + dt.timedelta(days=forward)
        wanted = set(robots) if robots is not None else None
        if as_of is not None:
            objects = [
                o
                for o in as_of.pinned_inputs()
                if lo <= o.day.date <= hi and (wanted is None or o.day.robot_id in wanted)
            ]
            objects = [o for o in objects if fleet is None or o.day.fleet == fleet]
        else:
            objects = with_retries(raw.list_day_zips, fleet, lo, hi, wanted)
        plan = plan_partitions(objects, start, end, back, forward, history)
        if not plan:
            raise NothingToDoError(
                f"no day zips under {raw.url} for fleet={fleet or '*'} dates {start}..{end}; "
                "check --raw, --fleet and the dates"
            )
        needed = sorted({obj for inputs in plan.values() for obj in inputs}, key=lambda o: o.key)
        units = _pinned_units(config, as_of)
        units_missing = _units_missing(units, config, {day.robot_id for day in plan})
        compute = functools.partial(compute_partition, units=units)
        manifest = RunManifest(
            run_id,
            fleet,
            start.isoformat(),
            end.isoformat(),
            PartitionLineage.of(next(iter(plan)), [], config).config_hash,
            __version__,
            [{"key": o.key, "version": o.version, "size": o.size} for o in needed],
            started_at=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        )
        extract_results: list[dict[str, Any]] = []
        partitions: list[PartitionReport] = []
        failed: dict[str, str] = {}
        total = len(needed) + len(plan)
        done = 0

        def tick() -> None:
            nonlocal done
            done += 1
            lease.check()
            if progress is not None:
                progress(done, total)

        executor = executor_for(client)
        extract_tasks: dict[DayKey, Task] = {}
        feature_tasks: dict[Task, DayKey] = {}
        # groups are spans on the Dask dashboard (Fine Performance Metrics, span views):
        # ("telemetry-run-<run_id>", "extract") and ("telemetry-run-<run_id>", "features")
        with executor.group(f"telemetry-run-{run_id}"):
            with executor.group("extract"):
                for obj in needed:
                    extract_tasks[obj.day] = executor.submit(
                        _extract_if_needed, raw, out, obj, config,
                        key=f"extract-{obj.day.robot_id}-{obj.day.date}-{run_id}",
                    )  # fmt: skip
            with executor.group("features"):
                for day, inputs in plan.items():
                    task = executor.submit(
                        compute, inputs, out, day, config, run_id,
                        key=f"features-{day.robot_id}-{day.date}-{run_id}",
                        label=str(day),
                        after=[extract_tasks[o.day] for o in inputs],
                    )  # fmt: skip
                    feature_tasks[task] = day
        for outcome in executor.outcomes():
            if outcome.error is not None:
                failed[outcome.task.label] = outcome.error
            elif outcome.task in feature_tasks:
                partitions.append(outcome.result)
            else:
                extract_results.append(outcome.result)
            tick()
        extract_total = ExtractReport()
        for item in extract_results:
            extract_total = extract_total.merge(_report_from_dict(item["report"]))
        summary = FeaturesSummary(
            manifest, extract_total, sorted(partitions, key=lambda p: p.day), failed, 0.0
        )
        summary.seconds = time.perf_counter() - clock
        manifest.computed, manifest.skipped, manifest.failed = summary.computed, summary.skipped, failed
        manifest.finished_at = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
        manifest.summary = {
            "partitions": len(plan),
            "computed": len(summary.computed),
            "skipped": len(summary.skipped),
            "failed": len(failed),
            "documents": extract_total.documents,
            "quarantined": extract_total.quarantined,
            "examples": sum(p.examples for p in partitions),
            "positives": sum(p.positives for p in partitions),
            "excluded": summary.excluded(),
            "seconds": round(summary.seconds, 3),
        }
        if units is not None:
            manifest.summary["units"] = {"url": units.url, "version": units.version, "size": units.size}
            manifest.summary["units_missing"] = units_missing
        with_retries(out.write_bytes, manifest.key(), manifest.to_json())
        return summary


def _pinned_units(config: TelemetryConfig, as_of: RunManifest | None) -> UnitsSource | None:
    """The run's units table (:func:`units_source`); with ``as_of``, it must be the content that run read.

    Raises:
        VersionNotFoundError: the table differs from the one the ``as_of`` run read.
    """
    units = units_source(config)
    pinned = (as_of.summary.get("units") or {}).get("version") if as_of is not None else None
    if units is not None and pinned is not None and pinned != units.version:
        raise VersionNotFoundError(
            f"run {as_of.run_id if as_of else ''} read the units table at {pinned}; {units.url} is now "
            f"{units.version}: restore that table to re-run on the same inputs, or run without --as-of"
        )
    return units


def _units_missing(units: UnitsSource | None, config: TelemetryConfig, robots: set[str]) -> list[str]:
    """The robots of `robots` that the units table has no row for (their ``unit.*`` features are null),
    sorted; logged as a warning."""
    if units is None:
        return []
    missing = sorted(robots - set(read_units(units, config).index))
    if missing:
        logger.warning(
            "%d robot(s) of this run are not in the units table %s; their unit.* features are null: %s",
            len(missing),
            units.url,
            ", ".join(missing[:10]) + (" ..." if len(missing) > 10 else ""),
        )
    return missing


def _report_from_dict(data: Mapping[str, Any]) -> ExtractReport:
    report = ExtractReport()
    for name, value in data.items():
        setattr(report, name, value)
    return report
