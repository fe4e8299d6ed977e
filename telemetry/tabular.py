"""Import tabular telemetry (CSV) as ``telemetry.v1`` day zips, so real datasets run through the pipeline.

Input: one or more CSV files (optionally gzipped) with a time column, an optional unit column (the robot
or machine; or one unit per file with ``unit_from_path``), chosen numeric signal columns, an optional 0/1
label column, and optional event tables (time, unit, code) each imported as one event ``kind``
(``failure`` for the failures to predict, or e.g. ``warning``, ``maintenance``).

Time semantics: times are parsed with pandas; naive times are taken as **UTC** (say so with ``--tz`` for
local times). Each row becomes one sample of signal ``signal`` with ``ts`` = its time in epoch ms. A label
column marks anomalous rows: the first row of every run of label 1 (the onset) becomes one failure event
at the onset time plus ``label_delay_s`` (default 0). An onset that nothing announces cannot be predicted
from the window before it; a delay ``D > 0`` turns the task into *detecting an anomaly within D seconds of
its onset*: the positive's lookback window then holds the first ``D`` seconds of the anomaly.
Rows of a unit are packed into envelopes by ``envelope_s`` buckets of time (``ts // envelope``,
like an agent uploading every few seconds) with ``sent_at`` = the latest sample or event time they carry;
events travel in the first envelope whose ``sent_at`` is at or after them. Events outside the unit's
telemetry span ``[first row, last row]`` have no samples to be joined with and are left out (counted in
``ImportReport.events_outside``). A day zip holds the envelopes whose ``sent_at`` falls on its UTC day.

Column names become field names in lower case with every run of other characters than ``[a-z0-9]``
replaced by ``_`` (``Volume Flow RateRMS`` -> ``volume_flow_raterms``). Rows with an unparseable time are
an error naming the file and row; null values in signal columns stay null.
"""

from __future__ import annotations

import datetime as dt
import gzip
import re
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pandas as pd

from telemetry.config import DEFAULT_SIGNALS
from telemetry.contract import ROBOT_ID_RE, SCHEMA_ID, day_of_ms, day_zip_key, member_name
from telemetry.errors import DataContractError
from telemetry.simulate import build_day_zip
from telemetry.store import Store

__all__ = ["EventTable", "ImportReport", "TabularSpec", "field_name", "import_csv", "registry_config"]


def field_name(column: str) -> str:
    """The field name of a CSV column (see the module docstring)."""
    name = re.sub(r"[^a-z0-9]+", "_", column.strip().lower()).strip("_")
    if not name or not name[0].isalpha():
        name = f"c_{name}"
    return name


@dataclass(frozen=True, slots=True)
class EventTable:
    """A table of events of one ``kind``: time and unit columns (named as in the telemetry), a code column."""

    path: str
    kind: str
    code_column: str


@dataclass(frozen=True, slots=True, kw_only=True)
class TabularSpec:
    """How to read the CSV files (see the module docstring)."""

    fleet: str
    signal: str
    time_column: str
    unit_column: str | None = None
    unit_from_path: bool = False
    unit_prefix: str = ""
    columns: tuple[str, ...] = ()
    """Signal columns (default: every numeric column but the time, unit and label columns)."""
    label_column: str | None = None
    label_code: str = "ANOMALY"
    label_delay_s: float = 0.0
    events: tuple[EventTable, ...] = ()
    sep: str = ","
    tz: str = "UTC"
    envelope_s: float = 5.0

    def __post_init__(self) -> None:
        if (self.unit_column is None) == (not self.unit_from_path):
            raise ValueError("give exactly one of a unit column (--unit-column) or --unit-from-path")
        if not re.match(r"^[a-z][a-z0-9_]*$", self.signal):
            raise ValueError(f"signal name {self.signal!r} must match [a-z][a-z0-9_]*")
        if self.signal == "events":
            raise ValueError("signal name 'events' is reserved for the event tables")
        if self.events and self.unit_column is None:
            raise ValueError("event tables need --unit-column (their rows name the unit they belong to)")
        if self.label_delay_s < 0:
            raise ValueError(f"label_delay_s must be >= 0 (got {self.label_delay_s})")
        if self.envelope_s <= 0:
            raise ValueError(f"envelope_s must be > 0 (got {self.envelope_s})")


@dataclass(slots=True)
class ImportReport:
    """What an import wrote."""

    units: int = 0
    rows: int = 0
    events: dict[str, int] = field(default_factory=dict)
    envelopes: int = 0
    zips: int = 0
    fields: dict[str, str] = field(default_factory=dict)
    """CSV column -> field name."""
    step_ms: int = 0
    """Median time between consecutive rows of a unit."""
    first_day: dt.date | None = None
    last_day: dt.date | None = None
    event_codes: dict[str, list[str]] = field(default_factory=dict)
    events_outside: int = 0
    unlabelled_files: list[str] = field(default_factory=list)
    """Files without the label column (imported with no failures)."""


def _read_csv(path: str, sep: str) -> pd.DataFrame:
    opener: Any = gzip.open if path.endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8") as fh:
        return pd.read_csv(fh, sep=sep)


def _epoch_ms(values: pd.Series[Any], tz: str, where: str) -> np.ndarray[Any, np.dtype[np.int64]]:
    parsed = pd.to_datetime(values, errors="coerce", format="mixed")
    bad = parsed.isna()
    if bad.any():
        row = int(np.flatnonzero(bad.to_numpy())[0])
        raise DataContractError(f"{where}: row {row + 2} has an unreadable time {values.iloc[row]!r}")
    if parsed.dt.tz is None:
        parsed = parsed.dt.tz_localize(tz)
    utc = parsed.dt.tz_convert("UTC").dt.tz_localize(None)
    return utc.to_numpy(dtype="datetime64[ms]").astype(np.int64)


def _unit_id(spec: TabularSpec, raw: object) -> str:
    text = f"{spec.unit_prefix}{raw}"
    if not ROBOT_ID_RE.match(text):
        raise DataContractError(
            f"unit {text!r} is not a valid robot id ({ROBOT_ID_RE.pattern}); use --unit-prefix to make one"
        )
    return text


def _path_unit(path: str) -> str:
    p = Path(path)
    stem = p.name.split(".")[0]
    return f"{p.parent.name}-{stem}" if p.parent.name else stem


def import_csv(paths: Sequence[str], out: Store, spec: TabularSpec) -> ImportReport:
    """Convert CSV files to day zips under `out` (``fleet=<fleet>/date=<d>/<unit>.zip``).

    Raises:
        DataContractError: unreadable times, bad unit ids, missing columns.
        ValueError: an inconsistent `spec`.
    """
    report = ImportReport()
    samples: dict[str, list[pd.DataFrame]] = defaultdict(list)
    label_events: dict[str, list[tuple[int, str, str]]] = defaultdict(list)
    columns: list[str] | None = list(spec.columns) or None
    for path in paths:
        frame = _read_csv(path, spec.sep)
        for col in [spec.time_column, *([spec.unit_column] if spec.unit_column else []), *(columns or [])]:
            if col not in frame.columns:
                raise DataContractError(
                    f"{path}: no column {col!r} (columns: {', '.join(map(str, frame.columns))})"
                )
        if columns is None:
            skip = {spec.time_column, spec.unit_column, spec.label_column}
            columns = [c for c in frame.columns if c not in skip and pd.api.types.is_numeric_dtype(frame[c])]
            columns = [c for c in columns if field_name(c) != "changepoint" or spec.label_column is None]
        ts = _epoch_ms(frame[spec.time_column], spec.tz, path)
        units = (
            frame[spec.unit_column].map(lambda u: _unit_id(spec, u)).to_numpy(dtype=object)
            if spec.unit_column
            else np.full(len(frame), _unit_id(spec, _path_unit(path)), dtype=object)
        )
        data = pd.DataFrame({"ts": ts, "unit": units})
        for col in columns:
            data[field_name(col)] = pd.to_numeric(frame[col], errors="coerce").astype(np.float64)
        if spec.label_column is not None and spec.label_column not in frame.columns:
            report.unlabelled_files.append(path)  # e.g. a normal-operation recording: no failures
        elif spec.label_column is not None:
            label = pd.to_numeric(frame[spec.label_column], errors="coerce").fillna(0).to_numpy() > 0
            data["_label"] = label
        for unit, part in data.groupby("unit", sort=True):
            part = part.sort_values("ts", kind="stable").drop_duplicates("ts", keep="first")
            if "_label" in part:
                lab = part["_label"].to_numpy()
                onset = lab & ~np.r_[False, lab[:-1]]
                delay = round(spec.label_delay_s * 1000)
                for t in part["ts"].to_numpy()[onset]:
                    label_events[str(unit)].append((int(t) + delay, "failure", spec.label_code))
                part = part.drop(columns="_label")
            samples[str(unit)].append(part.drop(columns="unit"))
    report.fields = {c: field_name(c) for c in columns or []}
    merged_by_unit = {
        unit: pd.concat(parts).sort_values("ts", kind="stable").drop_duplicates("ts", keep="first")
        for unit, parts in sorted(samples.items())
    }
    spans = {unit: (int(m["ts"].iloc[0]), int(m["ts"].iloc[-1])) for unit, m in merged_by_unit.items()}

    events: dict[str, list[tuple[int, str, str]]] = defaultdict(
        list, {u: list(v) for u, v in label_events.items()}
    )
    for table in spec.events:
        frame = _read_csv(table.path, spec.sep)
        unit_col = spec.unit_column
        for col in [spec.time_column, table.code_column, *([unit_col] if unit_col else [])]:
            if col not in frame.columns:
                raise DataContractError(f"{table.path}: no column {col!r}")
        ts = _epoch_ms(frame[spec.time_column], spec.tz, table.path)
        event_units = [_unit_id(spec, u) for u in frame[str(unit_col)]]
        codes_of = [str(c) for c in frame[table.code_column]]
        for when, unit_id, code_text in zip(ts.tolist(), event_units, codes_of, strict=True):
            if unit_id in spans:  # events of units without telemetry have nothing to join: left out
                events[unit_id].append((int(when), table.kind, code_text))
    for unit, unit_events in events.items():
        first, last = spans[unit]
        for when, kind, code in unit_events:
            if not first <= when <= last:
                continue
            report.events[kind] = report.events.get(kind, 0) + 1
            codes = report.event_codes.setdefault(kind, [])
            if code not in codes:
                codes.append(code)

    steps: list[np.ndarray[Any, np.dtype[np.int64]]] = []
    zips: dict[tuple[dt.date, str], list[tuple[str, bytes]]] = defaultdict(list)
    for unit, merged in merged_by_unit.items():
        report.units += 1
        report.rows += len(merged)
        ts = merged["ts"].to_numpy(dtype=np.int64)
        steps.append(np.diff(ts))
        fields = [c for c in merged.columns if c != "ts"]
        values = {c: merged[c].to_numpy() for c in fields}
        unit_events = sorted(e for e in events.get(unit, []) if spans[unit][0] <= e[0] <= spans[unit][1])
        report.events_outside += len(events.get(unit, [])) - len(unit_events)
        ev_i = 0
        bucket = ts // max(1, int(spec.envelope_s * 1000))
        starts = np.flatnonzero(np.r_[True, bucket[1:] != bucket[:-1]])
        for seq, (lo, hi) in enumerate(zip(starts, np.r_[starts[1:], len(ts)], strict=True)):
            sent_at = int(ts[hi - 1])
            carried = []
            while ev_i < len(unit_events) and unit_events[ev_i][0] <= sent_at:
                carried.append(unit_events[ev_i])
                ev_i += 1
            if carried:
                sent_at = max(sent_at, carried[-1][0])
            rows = [
                {
                    "ts": int(ts[k]),
                    **{c: (None if np.isnan(values[c][k]) else float(values[c][k])) for c in fields},
                }
                for k in range(lo, hi)
            ]
            signals: dict[str, Any] = {spec.signal: rows}
            if carried:
                signals["events"] = [{"ts": t, "kind": kind, "code": code} for t, kind, code in carried]
            envelope = {
                "schema": SCHEMA_ID,
                "fleet": spec.fleet,
                "robot_id": unit,
                "seq": seq,
                "sent_at": sent_at,
                "agent_version": "import-csv",
                "signals": signals,
            }
            member = member_name(unit, sent_at, seq)
            zips[(day_of_ms(sent_at), unit)].append((member, gzip.compress(orjson.dumps(envelope), mtime=0)))
            report.envelopes += 1
    for (day, unit), members in sorted(zips.items()):
        out.write_bytes(day_zip_key(spec.fleet, day, unit), build_day_zip(members))
        report.zips += 1
        report.first_day = min(report.first_day or day, day)
        report.last_day = max(report.last_day or day, day)
    all_steps = np.concatenate(steps) if steps else np.empty(0, dtype=np.int64)
    report.step_ms = int(np.median(all_steps[all_steps > 0])) if (all_steps > 0).any() else 1000
    return report


def registry_config(spec: TabularSpec, report: ImportReport) -> dict[str, Any]:
    """A configuration (YAML-ready) for the imported data: its signal, the events signal, the clock at the
    data's median step, and the event kinds and codes as event features. Labels and windows are left to the
    user (``--set`` or an edit)."""
    events = next(s for s in DEFAULT_SIGNALS if s.role == "events")
    step = max(report.step_ms, 1)
    rate = 1000.0 / step
    kinds = [k for k in report.event_codes if k != "failure"]
    codes = sorted({c for k in kinds for c in report.event_codes[k]})
    return {
        "fleet": spec.fleet,
        "signals": {
            spec.signal: {
                "numeric": list(report.fields.values()),
                "categorical": [],
                "rate_hz": float(f"{rate:.6g}"),
                "tolerance_ms": step // 2,
                "direction": "nearest",
                "role": "sampled",
            },
            "events": {
                "numeric": list(events.numeric),
                "categorical": list(events.categorical),
                "rate_hz": None,
                "tolerance_ms": 0,
                "direction": "backward",
                "role": "events",
            },
        },
        "align": {"clock": "grid", "step_ms": step},
        "features": {"levels": {}, "event_kinds": kinds, "event_codes": codes},
    }


def config_yaml(config: Mapping[str, Any]) -> str:
    """`config` as YAML text."""
    import yaml

    return str(yaml.safe_dump(dict(config), sort_keys=False))
