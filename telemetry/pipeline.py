"""Wiring of stages to stores (and, for fleet runs, to a Dask cluster).

This module is an edge: it reads pinned raw objects from a :class:`~telemetry.store.Store`, calls the
pure stage functions, and commits outputs atomically. Output layout under the output root::

    signals/<signal>/fleet=<f>/date=<d>/<robot>.parquet    extracted samples (one table per signal)
    quarantine/fleet=<f>/date=<d>/<robot>.parquet          quarantine records (only when there are any)
    _extract/fleet=<f>/date=<d>/<robot>.json               extraction report + the raw (key, version) read

Each file is written with one atomic put; the report is written last, so its presence means the
robot-day's extraction is complete.
"""

from __future__ import annotations

import datetime as dt
import io
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.parquet as pq

from telemetry._version import __version__
from telemetry.config import TelemetryConfig
from telemetry.contract import DayKey
from telemetry.errors import NothingToDoError
from telemetry.extract import ExtractReport, extract_day_zip
from telemetry.store import RawObject, Store

__all__ = ["ExtractSummary", "extract_robot_day", "parquet_bytes", "run_extract"]


def parquet_bytes(table: pa.Table) -> bytes:
    """A table as Parquet bytes (zstd), ready for one atomic put."""
    sink = io.BytesIO()
    pq.write_table(table, sink, compression="zstd")
    return sink.getvalue()


def _partition(day: DayKey) -> str:
    return f"fleet={day.fleet}/date={day.date.isoformat()}/{day.robot_id}"


def extract_robot_day(raw: Store, out: Store, obj: RawObject, config: TelemetryConfig) -> ExtractReport:
    """Extract one pinned day zip and commit its tables, quarantine records and report."""
    extraction = extract_day_zip(raw.read(obj), day=obj.day, version=obj.version, config=config, key=obj.key)
    part = _partition(obj.day)
    for signal, table in extraction.tables.items():
        out.write_bytes(f"signals/{signal}/{part}.parquet", parquet_bytes(table))
    if extraction.quarantine:
        out.write_bytes(f"quarantine/{part}.parquet", parquet_bytes(extraction.quarantine_table()))
    report = {
        "raw": {"key": obj.key, "version": obj.version, "size": obj.size},
        "package_version": __version__,
        "report": extraction.report.to_dict(),
    }
    out.write_bytes(f"_extract/{part}.json", json.dumps(report, indent=1, sort_keys=True).encode())
    return extraction.report


@dataclass(slots=True)
class ExtractSummary:
    """What `run_extract` did."""

    objects: list[RawObject]
    report: ExtractReport


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
    """Extract every day zip of a fleet and inclusive date range (one robot-day after another)."""
    objects = raw.list_day_zips(fleet, start, end, set(robots) if robots is not None else None)
    if not objects:
        raise NothingToDoError(
            f"no day zips under {raw.url} for fleet={fleet or '*'} dates {start}..{end}"
            f"{' robots ' + ','.join(sorted(robots)) if robots else ''}; check --raw, --fleet and the dates"
        )
    total = ExtractReport()
    for obj in objects:
        report = extract_robot_day(raw, out, obj, config)
        total = total.merge(report)
        if progress is not None:
            progress(obj, report)
    return ExtractSummary(objects, total)
