"""Analyst entry points that do I/O: stores, raw signals, committed outputs and the feature store.

Everything here is re-exported by :mod:`telemetry` (see ``telemetry.__all__``). Functions accept a store URL
(a local directory or ``s3://bucket/prefix``) or an open :class:`~telemetry.io.store.Store`, take times as
``datetime``/``date``/ISO strings/epoch milliseconds (naive times are UTC), and return pandas objects
(or a Dask DataFrame with ``read_features(..., lazy=True)``).

The examples assume ``raw`` and ``out``: a small simulated fleet and its computed features, made as in
``docs/api.md`` (``tests/test_api.py`` runs every example on exactly such a fleet)::

    from telemetry import FleetSpec, Store, load_config, run_features, simulate_fleet

    raw, out = Store("/tmp/fleet/raw"), Store("/tmp/fleet/out")
    spec = FleetSpec(robots=3, days=3, hours=1, seed=1, failure_rate=96, start=date(2026, 11, 2))
    simulate_fleet(spec, raw.write_bytes)
    run_features(raw, out, load_config(), fleet="acme-dc3", start=spec.start, end=date(2026, 11, 4))
"""

from __future__ import annotations

import datetime as dt
import io
import json
import os
from collections.abc import Collection, Sequence
from typing import TYPE_CHECKING, Any, Literal, overload

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from telemetry.config import TelemetryConfig, load_config
from telemetry.contract.envelope import day_of_ms
from telemetry.contract.layout import EXTRACT_PREFIX, FEATURES_PREFIX, QUARANTINE_PREFIX, day_zip_key
from telemetry.errors import NothingToDoError
from telemetry.io.registry import list_feature_partitions, read_feature_set
from telemetry.io.store import Store
from telemetry.run.pipeline import extract_object
from telemetry.stages.extract import (
    QUARANTINE_SCHEMA,
    rows_in_range,
    signal_table_schema,
    sorted_unique,
)

if TYPE_CHECKING:
    import dask.dataframe as dd

    from telemetry.stages.train import FeatureSet

__all__ = [
    "list_robot_days",
    "list_versions",
    "open_store",
    "read_extraction_reports",
    "read_features",
    "read_quarantine",
    "read_signals",
    "to_epoch_ms",
]

StoreLike = str | os.PathLike[str] | Store
"""A store URL (local path, ``file://``, ``s3://bucket/prefix``...) or an open Store."""
Instant = dt.datetime | dt.date | str | int
"""A point in time: an aware or naive (= UTC) datetime, a date (its 00:00 UTC), an ISO string, epoch ms."""
DateLike = dt.date | str
"""A UTC day: a date or ``YYYY-MM-DD``."""


def open_store(store: StoreLike, config: TelemetryConfig | None = None) -> Store:
    """The Store at ``store`` (returned as is when it already is one).

    Args:
        store: a URL or path, or a Store.
        config: its ``store.s3`` settings are used for ``s3://`` URLs (default: the standard AWS chain).

    >>> open_store(out).url == out.url
    True
    >>> open_store(out) is out
    True
    """
    if isinstance(store, Store):
        return store
    if not isinstance(store, (str, os.PathLike)):
        raise TypeError(f"'store' must be a URL, a path or a Store (got {type(store).__name__})")
    return Store(os.fspath(store), config.store.s3 if config is not None else None)


def to_epoch_ms(when: Instant) -> int:
    """``when`` as epoch milliseconds UTC (naive datetimes and ISO strings without offset are UTC).

    >>> to_epoch_ms("2026-11-02T00:00:01")
    1793577601000
    >>> to_epoch_ms(dt.date(2026, 11, 2)) == to_epoch_ms("2026-11-02") == 1793577600000
    True
    """
    if isinstance(when, bool):
        raise TypeError(f"expected a datetime, date, ISO string or epoch ms (got {when!r})")
    if isinstance(when, int):
        return when
    if isinstance(when, str):
        try:
            when = dt.datetime.fromisoformat(when)
        except ValueError:
            raise ValueError(
                f"expected an ISO date or time like 2026-11-02 or 2026-11-02T08:30 (got {when!r})"
            ) from None
    if isinstance(when, dt.datetime):
        aware = when if when.tzinfo is not None else when.replace(tzinfo=dt.UTC)
        return round(aware.timestamp() * 1000)
    if isinstance(when, dt.date):
        return to_epoch_ms(dt.datetime(when.year, when.month, when.day))
    raise TypeError(f"expected a datetime, date, ISO string or epoch ms (got {type(when).__name__})")


def _date(value: DateLike | None, name: str) -> dt.date | None:
    if value is None or (isinstance(value, dt.date) and not isinstance(value, dt.datetime)):
        return value
    if isinstance(value, str):
        try:
            return dt.date.fromisoformat(value)
        except ValueError:
            pass
    raise ValueError(f"'{name}' must be a date or 'YYYY-MM-DD' (got {value!r})")


def list_robot_days(
    store: StoreLike,
    fleet: str | None = None,
    start: DateLike | None = None,
    end: DateLike | None = None,
    robots: Collection[str] | None = None,
) -> pd.DataFrame:
    """The latest version of every day zip in a raw store: one row per robot-day.

    Args:
        store: the raw store (URL or Store).
        fleet: only this fleet (default: every fleet).
        start: first UTC day, inclusive (default: unbounded).
        end: last UTC day, inclusive (default: unbounded).
        robots: only these robot ids.

    Returns:
        Columns ``fleet``, ``date`` (datetime.date), ``robot_id``, ``key``, ``version`` (S3 VersionId or
        ``sha256:<hex>`` of the content) and ``size`` (bytes), sorted by fleet, date and robot.

    >>> days = list_robot_days(raw, "acme-dc3", start="2026-11-02", end="2026-11-03", robots=["amr-0002"])
    >>> days[["date", "robot_id"]].astype(str).values.tolist()
    [['2026-11-02', 'amr-0002'], ['2026-11-03', 'amr-0002']]
    >>> bool(days["version"].str.startswith("sha256:").all())  # a content hash: no S3 versions here
    True
    """
    objects = open_store(store).list_day_zips(
        fleet, _date(start, "start"), _date(end, "end"), set(robots) if robots is not None else None
    )
    return pd.DataFrame(
        {
            "fleet": [o.day.fleet for o in objects],
            "date": [o.day.date for o in objects],
            "robot_id": [o.day.robot_id for o in objects],
            "key": [o.key for o in objects],
            "version": [o.version for o in objects],
            "size": pd.Series([o.size for o in objects], dtype="int64"),
        }
    )


def list_versions(store: StoreLike, fleet: str, date: DateLike, robot: str) -> pd.DataFrame:
    """Every readable version of one robot-day's zip, oldest first.

    A versioned S3 bucket keeps the versions a late upload replaced; other stores hold one version (the
    content hash). A run pins the versions it reads (see docs/pipeline.md).

    Returns:
        Columns ``key``, ``version``, ``size`` and ``latest`` (True for the version runs read by default).

    >>> list_versions(raw, "acme-dc3", "2026-11-02", "amr-0001")[["key", "latest"]].values.tolist()
    [['fleet=acme-dc3/date=2026-11-02/amr-0001.zip', True]]
    """
    day = _date(date, "date")
    if day is None:
        raise ValueError("'date' must be a date or 'YYYY-MM-DD' (got None)")
    key = day_zip_key(fleet, day, robot)
    objects = open_store(store).list_versions(key)
    return pd.DataFrame(
        {
            "key": [o.key for o in objects],
            "version": [o.version for o in objects],
            "size": pd.Series([o.size for o in objects], dtype="int64"),
            "latest": [i == len(objects) - 1 for i in range(len(objects))],
        }
    )


def read_signals(
    store: StoreLike,
    fleet: str,
    robot: str,
    start: Instant,
    end: Instant,
    *,
    config: TelemetryConfig | None = None,
    signals: Sequence[str] | None = None,
) -> dict[str, pd.DataFrame]:
    """One robot's raw samples with ``start <= ts < end``, per signal, straight from the day zips.

    The day zips that can hold such samples (envelopes are filed by the UTC day of ``sent_at``; samples may
    lie ``extract.ts_slack_s`` outside it) are read at their latest version and extracted in memory exactly
    as the pipeline does (bad members are quarantined, not fatal). Samples of several zips are merged and
    exact duplicates dropped, as ``telemetry features`` does before aligning.

    Args:
        store: the raw store.
        fleet: the fleet.
        robot: the robot id.
        start: first instant, INCLUSIVE.
        end: end instant, EXCLUSIVE.
        config: the signal registry and extraction limits (default: ``load_config()``).
        signals: only these signals (default: every signal of the registry).

    Returns:
        Per signal name, a DataFrame with ``robot_id``, ``ts`` (int64 epoch ms UTC), the signal's fields
        (registry order) and ``time`` (the same instant as a UTC ``Timestamp``, for plots), sorted by ``ts``.
        The result can be passed to :func:`~telemetry.stages.align.align` and
        :func:`~telemetry.stages.labels.make_examples` as ``tables``.

    Raises:
        NothingToDoError: no day zip of that robot covers the span.

    >>> tables = read_signals(raw, "acme-dc3", "amr-0001", "2026-11-02T00:10", "2026-11-02T00:11")
    >>> sorted(tables)
    ['battery', 'events', 'localization', 'mission', 'motor', 'odometry']
    >>> list(tables["battery"].columns)
    ['robot_id', 'ts', 'voltage', 'current', 'soc', 'time']
    >>> 55 <= len(tables["battery"]) <= 65  # ~1 Hz for 60 s
    True
    >>> str(tables["battery"]["time"].min())[:16]
    '2026-11-02 00:10'
    """
    config = load_config() if config is None else config
    lo, hi = to_epoch_ms(start), to_epoch_ms(end)
    if hi <= lo:
        raise ValueError(f"'end' must be after 'start' (got start={start!r}, end={end!r})")
    wanted = [s for s in config.signals if signals is None or s.name in signals]
    if signals is not None and len(wanted) != len(set(signals)):
        unknown = sorted(set(signals) - {s.name for s in config.signals})
        raise ValueError(f"unknown signals {unknown}; the registry has {[s.name for s in config.signals]}")
    slack = round(config.extract.ts_slack_s * 1000)
    raw = open_store(store, config)
    objects = raw.list_day_zips(fleet, day_of_ms(lo - slack), day_of_ms(hi - 1 + slack), {robot})
    if not objects:
        raise NothingToDoError(
            f"no day zip of robot {robot!r} in fleet {fleet!r} under {raw.url} covers "
            f"{dt.datetime.fromtimestamp(lo / 1000, dt.UTC):%Y-%m-%d %H:%M:%S}.."
            f"{dt.datetime.fromtimestamp(hi / 1000, dt.UTC):%Y-%m-%d %H:%M:%S} UTC; "
            "check the fleet, robot and times (list_robot_days shows what exists)"
        )
    parts: dict[str, list[pa.Table]] = {spec.name: [] for spec in wanted}
    for obj in objects:
        extraction = extract_object(raw, obj, config)
        for spec in wanted:
            table = extraction.tables.get(spec.name)
            if table is not None and table.num_rows:
                parts[spec.name].append(rows_in_range(table, lo, hi).cast(signal_table_schema(spec)))
    frames: dict[str, pd.DataFrame] = {}
    for spec in wanted:
        schema = signal_table_schema(spec)
        merged = sorted_unique(
            pa.concat_tables(parts[spec.name]) if parts[spec.name] else schema.empty_table()
        )
        frame = merged[0].to_pandas()
        frame["time"] = pd.to_datetime(frame["ts"].astype("int64"), unit="ms", utc=True)
        frames[spec.name] = frame.reset_index(drop=True)
    return frames


def read_extraction_reports(
    out: StoreLike, fleet: str | None = None, start: DateLike | None = None, end: DateLike | None = None
) -> pd.DataFrame:
    """The committed extraction report of every robot-day in an output store (one row each).

    Written by ``telemetry features``/``run_features`` and ``telemetry extract`` under ``_extract/``.

    Args:
        out: the output store.
        fleet: only this fleet; start, end: first and last UTC day, inclusive (default: every day).

    Returns:
        Columns ``fleet``, ``date``, ``robot_id``, ``key`` and ``version`` (the raw zip extracted),
        ``documents`` = ``extracted`` + ``quarantined``, ``json_bytes``, then ``samples.<signal>`` (rows
        after duplicate removal), ``duplicates.<signal>`` and ``quarantined.<reason>`` (0 when absent).

    >>> reports = read_extraction_reports(out, "acme-dc3", start="2026-11-02", end="2026-11-02")
    >>> len(reports), bool((reports["documents"] == reports["extracted"] + reports["quarantined"]).all())
    (3, True)
    >>> bool(reports["samples.localization"].gt(0).all())
    True
    """
    store = open_store(out)
    rows = []
    for day, key in store.list_partitions(
        EXTRACT_PREFIX, ".json", fleet, _date(start, "start"), _date(end, "end")
    ):
        doc = json.loads(store.read_bytes(key))
        report = doc["report"]
        row: dict[str, Any] = {
            "fleet": day.fleet,
            "date": day.date,
            "robot_id": day.robot_id,
            "key": doc["raw"]["key"],
            "version": doc["raw"]["version"],
        }
        for name in ("documents", "extracted", "quarantined", "json_bytes"):
            row[name] = int(report[name])
        row.update({f"samples.{k}": v for k, v in report.get("samples", {}).items()})
        row.update({f"duplicates.{k}": v for k, v in report.get("duplicates_removed", {}).items()})
        row.update({f"quarantined.{k}": v for k, v in report.get("quarantined_by_reason", {}).items()})
        rows.append(row)
    columns = ["fleet", "date", "robot_id", "key", "version", "documents", "extracted", "quarantined"]
    frame = pd.DataFrame(rows, columns=None if rows else [*columns, "json_bytes"])
    counts = [c for c in frame.columns if "." in c]
    frame[counts] = frame[counts].fillna(0).astype("int64")
    return frame


def read_quarantine(
    out: StoreLike, fleet: str | None = None, start: DateLike | None = None, end: DateLike | None = None
) -> pd.DataFrame:
    """Every quarantine record (a document that was not extracted, and why) in an output store.

    Returns:
        Columns ``fleet``, ``date``, ``robot_id``, ``key``, ``version``, ``member`` (the zip member),
        ``reason`` (e.g. ``invalid_json``, ``wrong_types``; see docs/raw-format.md) and ``detail``; empty with
        those columns when nothing was quarantined.

    >>> q = read_quarantine(out, "acme-dc3")
    >>> list(q.columns)
    ['fleet', 'date', 'robot_id', 'key', 'version', 'member', 'reason', 'detail']
    >>> len(q) == int(read_extraction_reports(out, "acme-dc3")["quarantined"].sum())  # one per document
    True
    """
    store = open_store(out)
    tables = [
        pq.read_table(io.BytesIO(store.read_bytes(key)))
        for _, key in store.list_partitions(
            QUARANTINE_PREFIX, ".parquet", fleet, _date(start, "start"), _date(end, "end")
        )
    ]
    if not tables:
        table = QUARANTINE_SCHEMA.empty_table()
    else:
        table = pa.concat_tables([t.cast(QUARANTINE_SCHEMA) for t in tables])
    frame: pd.DataFrame = table.to_pandas()
    return frame


def _only_fleet(store: Store) -> str:
    fleets = sorted({day.fleet for day, _ in store.list_partitions(FEATURES_PREFIX, ".parquet")})
    if len(fleets) != 1:
        raise NothingToDoError(
            f"pass fleet=...: {store.url}/features/ holds "
            + (f"the fleets {fleets}" if fleets else "no feature partitions (run run_features first)")
        )
    return fleets[0]


def _read_partition(store: Store, key: str) -> pd.DataFrame:
    frame: pd.DataFrame = pq.read_table(io.BytesIO(store.read_bytes(key))).to_pandas()
    return frame


@overload
def read_features(
    out: StoreLike,
    fleet: str | None = ...,
    start: DateLike | None = ...,
    end: DateLike | None = ...,
    robots: Sequence[str] | None = ...,
    *,
    lazy: Literal[False] = ...,
) -> FeatureSet: ...


@overload
def read_features(
    out: StoreLike,
    fleet: str | None = ...,
    start: DateLike | None = ...,
    end: DateLike | None = ...,
    robots: Sequence[str] | None = ...,
    *,
    lazy: Literal[True],
) -> dd.DataFrame: ...


def read_features(
    out: StoreLike,
    fleet: str | None = None,
    start: DateLike | None = None,
    end: DateLike | None = None,
    robots: Sequence[str] | None = None,
    *,
    lazy: bool = False,
) -> FeatureSet | dd.DataFrame:
    """The feature store of an output root: every feature partition of a fleet and date range.

    Args:
        out: the output store (``<out>/features/fleet=<f>/date=<d>/<robot>.parquet``).
        fleet: the fleet (default: the only fleet there is).
        start: first UTC day, inclusive; end: last UTC day, inclusive (default: every day).
        robots: only these robots.
        lazy: False (default): read everything now into a
            :class:`~telemetry.stages.train.FeatureSet` (``.frame`` is the pandas DataFrame, ``.partitions``
            the key, sha256 and lineage of every partition; what :func:`~telemetry.run.train.train_models`
            and :func:`~telemetry.stages.score.score_features` take).
            True: a Dask DataFrame with one partition per robot-day, read when computed (on the cluster
            of the current ``distributed.Client``, if any).

    Every row is one example cutoff: ``robot_id``, ``cutoff`` (epoch ms), ``label``, ``failure_code``,
    ``time_to_failure_s``, ``weight``, then the feature columns (``<signal>.<field>__<stat>__w<W>s``).

    Raises:
        NothingToDoError: no partition matches.

    >>> features = read_features(out, start="2026-11-02", end="2026-11-02")
    >>> len(features.partitions), features.frame.columns[:3].tolist()
    (3, ['robot_id', 'cutoff', 'label'])
    >>> lazy = read_features(out, lazy=True)
    >>> lazy.npartitions  # 3 robots x 3 days
    9
    >>> int(lazy["label"].sum().compute()) == int(read_features(out).frame["label"].sum())
    True
    """
    store = open_store(out)
    fleet = _only_fleet(store) if fleet is None else fleet
    first, last = _date(start, "start"), _date(end, "end")
    if not lazy:
        return read_feature_set(store, fleet, first, last, robots)
    import dask.dataframe as dd  # edge: Dask only for lazy reads

    keys = [key for _, key in list_feature_partitions(store, fleet, first, last, robots)]
    if not keys:
        raise NothingToDoError(
            f"no feature partitions under {store.url}/features/fleet={fleet}/ for "
            f"{first or '...'}..{last or '...'}; run `telemetry features` first"
        )
    schema = pq.read_schema(io.BytesIO(store.read_bytes(keys[0])))
    meta = schema.empty_table().to_pandas()
    lazy_frame: dd.DataFrame = dd.from_map(  # type: ignore[no-untyped-call]
        _read_partition, [store] * len(keys), keys, meta=meta, enforce_metadata=False
    )
    return lazy_frame
