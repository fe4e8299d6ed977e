"""Import tabular telemetry (CSV) as ``telemetry.v1`` day zips, so real datasets run through the pipeline.

Input: one or more CSV files (optionally gzipped) with a time column, an optional unit column (the robot
or machine; or one unit per file with ``unit_from_path``), chosen numeric signal columns, an optional 0/1
label column, and optional event tables (time, unit, code) each imported as one event ``kind``
(``failure`` for the failures to predict, or e.g. ``warning``, ``maintenance``).

Time semantics: times are parsed with pandas after stripping surrounding whitespace and quotes (``"2020-03-09
10:14:33"`` with the quotes kept inside the field reads as that time); naive times are taken as **UTC** (say
so with ``--tz`` for local times). Each row becomes one sample of signal ``signal`` with ``ts`` = its time in
epoch ms. A label column marks anomalous rows: the first row of every run of label 1 (the onset) becomes
one failure event at the onset time plus ``label_delay_s`` (default 0). An onset that nothing announces
cannot be predicted from the window before it; a delay ``D > 0`` turns the task into *detecting an anomaly
within D seconds of its onset*: the positive's lookback window then holds the first ``D`` seconds of it.

Events (of the event tables and of the label column) of a unit with telemetry are kept when their time lies
in ``[first row - events_margin_s, last row + events_margin_s]`` (both ends included) of that unit; a
failure an hour after the last row still labels the cutoffs before it. Events of units without telemetry
and events beyond the margin are counted (``ImportReport.events_left_out``) and left out.

Rows of a unit are packed into envelopes by ``envelope_s`` buckets of time (``ts // envelope``,
like an agent uploading every few seconds) with ``sent_at`` = the latest sample time they carry. An event
travels in the first of these envelopes whose ``sent_at`` is at or after it and on the event's UTC day;
events that no such envelope carries (before the first row, after the last row, or in a gap of a day or
more) travel in envelopes of their own (signals ``events`` only, ``sent_at`` = the event time, one per
distinct time). ``seq`` numbers a unit's envelopes in ``sent_at`` order. A day zip holds the envelopes
whose ``sent_at`` falls on its UTC day.

Columns: column names become field names in lower case with every run of other characters than
``[a-z0-9]`` replaced by ``_`` (``Volume Flow RateRMS`` -> ``volume_flow_raterms``). Values are numbers or
boolean words (``true/false``, ``yes/no``, ``y/n``, ``t/f``, any case: 1/0); anything else is null, and
nulls stay null. Without explicit ``columns``, the signal columns are the numeric or boolean columns of the
first file except the time, unit and label columns, row counters (a column named like an index, e.g.
``index``, ``Num``, ``Unnamed: 0``, or an integer column rising by exactly 1 every row of the file) and, when
a label column is given, label-like columns (``anomaly``, ``changepoint``, ``label``, ``failure``,
``target``, ...). The columns left out (of every file, time and unit aside; a later file's column that the
first file lacks is ``not in the first file``) are recorded with the reason in ``ImportReport.left_out``.
Explicit ``columns`` are imported as given. Rows with an unreadable time are an error naming the file and row.

Units table (:func:`import_units`): a CSV with one row per unit of static attributes (model, age, firmware,
site, ...) is written to ``<raw>/units/<fleet>.parquet`` (:func:`units_key`), outside the day-zip layout (so
listings of day zips skip it). Ids get the same ``unit_prefix`` as the telemetry's units and are stored in
column ``robot_id``; the other columns get field names as above and are numeric (numbers or boolean words,
float64) or else categorical (strings; whitespace and surrounding quotes stripped, empty is null). Parquet
rather than a CSV copy: the column types are decided once, here, and stored with the data, so the pipeline
never guesses them again (an id ``007`` stays a string, a number column stays numbers). The features use the
columns that the configuration's ``units`` section lists (``registry_config`` writes it).
"""

from __future__ import annotations

import datetime as dt
import gzip
import io
import re
from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from telemetry.config import DEFAULT_SIGNALS
from telemetry.contract.envelope import ROBOT_ID_RE, SCHEMA_ID, day_of_ms, member_name
from telemetry.contract.layout import day_zip_key, units_key
from telemetry.contract.ziplib import build_day_zip, gzip_member
from telemetry.errors import DataContractError
from telemetry.io.store import Store

__all__ = [
    "EventTable",
    "ImportReport",
    "TabularSpec",
    "UnitsReport",
    "field_name",
    "import_csv",
    "import_units",
    "registry_config",
]


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
    """Signal columns (default: the numeric and boolean columns but time, unit, label, row counters and,
    with a label column, label-like columns)."""
    label_column: str | None = None
    label_code: str = "ANOMALY"
    label_delay_s: float = 0.0
    events: tuple[EventTable, ...] = ()
    events_margin_s: float = 86_400.0
    """Events are kept from this many seconds before a unit's first row to this many after its last row (both
    ends included). One day, because horizons and windows on daily-scale data (e.g. 24 h) reach about that
    far past the rows: a failure hours after the last row labels the cutoffs before it, a maintenance record
    hours before the first row falls in the first windows. Records further away (a year of failures against
    a 90-day extract) concern telemetry that is not there. 0 keeps the span only."""
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
        if not self.events_margin_s >= 0:
            raise ValueError(f"events_margin_s must be >= 0 seconds (got {self.events_margin_s})")
        if self.envelope_s <= 0:
            raise ValueError(f"envelope_s must be > 0 (got {self.envelope_s})")


@dataclass(slots=True)
class ImportReport:
    """What an import wrote."""

    units: int = 0
    rows: int = 0
    events: dict[str, int] = field(default_factory=dict)
    """Kept events per kind (inside the telemetry spans or within the margin)."""
    events_in_margin: dict[str, int] = field(default_factory=dict)
    """Of the kept events, those outside their unit's telemetry span (within the margin), per kind."""
    events_left_out: dict[str, int] = field(default_factory=dict)
    """Events not imported, per reason (``beyond the margin``, ``unit without telemetry``)."""
    envelopes: int = 0
    event_envelopes: int = 0
    """Of the envelopes, those that carry events only."""
    zips: int = 0
    fields: dict[str, str] = field(default_factory=dict)
    """CSV column -> field name."""
    left_out: dict[str, str] = field(default_factory=dict)
    """CSV column -> why it is not a signal field (columns chosen by default only)."""
    step_ms: int = 0
    """Median time between consecutive rows of a unit."""
    first_day: dt.date | None = None
    last_day: dt.date | None = None
    event_codes: dict[str, list[str]] = field(default_factory=dict)
    unlabelled_files: list[str] = field(default_factory=list)
    """Files without the label column (imported with no failures)."""


_QUOTES = "\"'"
_BOOLEAN_WORDS = {"true": 1.0, "false": 0.0, "yes": 1.0, "no": 0.0, "y": 1.0, "n": 0.0, "t": 1.0, "f": 0.0}
_INDEX_NAME_RE = re.compile(r"^(index|idx|num|no|row|rownum|row_num|row_number|row_id|unnamed_\d+)$")
_LABEL_LIKE = frozenset(
    {"anomaly", "anomalies", "changepoint", "label", "labels", "failure", "failures", "target", "outlier"}
)

Int64Array = np.ndarray[Any, np.dtype[np.int64]]
Event = tuple[int, str, str]
"""``(ts, kind, code)``."""


def _read_csv(path: str, sep: str) -> pd.DataFrame:
    opener: Any = gzip.open if path.endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8") as fh:
        return pd.read_csv(fh, sep=sep)


def _stripped_text(values: pd.Series[Any]) -> pd.Series[Any]:
    """The values as strings without surrounding whitespace and quotes (nulls stay null)."""
    return values.astype("string").str.strip().str.strip(_QUOTES).str.strip()


def _epoch_ms(values: pd.Series[Any], tz: str, where: str) -> Int64Array:
    """Epoch ms (UTC) of the times in `values`; naive times are in `tz`. Strings are parsed after stripping
    surrounding whitespace and quotes; row numbers in errors count the header as row 1."""
    text = values if pd.api.types.is_numeric_dtype(values) else _stripped_text(values)
    parsed = pd.to_datetime(text, errors="coerce", format="mixed")
    bad = parsed.isna()
    if bad.any():
        row = int(np.flatnonzero(bad.to_numpy())[0])
        raise DataContractError(
            f"{where}: row {row + 2} has an unreadable time {values.iloc[row]!r} "
            "(expected a date and time pandas can parse, e.g. 2020-03-09 10:14:33)"
        )
    if parsed.dt.tz is None:
        parsed = parsed.dt.tz_localize(tz)
    utc = parsed.dt.tz_convert("UTC").dt.tz_localize(None)
    return utc.to_numpy(dtype="datetime64[ms]").astype(np.int64)


def _is_boolean_text(values: pd.Series[Any]) -> bool:
    """Whether a non-numeric column holds only boolean words (at least one, nulls aside)."""
    words = _stripped_text(values).str.lower().dropna()
    return bool(len(words)) and bool(words.isin(list(_BOOLEAN_WORDS)).all())


def _numbers(values: pd.Series[Any]) -> pd.Series[Any]:
    """float64 values of a column: numbers as they are, booleans and boolean words as 1/0, else null."""
    if pd.api.types.is_numeric_dtype(values):  # bool included
        return values.astype(np.float64)
    text = _stripped_text(values).str.lower()
    words = text.map(_BOOLEAN_WORDS).to_numpy(dtype=np.float64, na_value=np.nan)
    numbers = pd.to_numeric(text, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
    return pd.Series(np.where(np.isnan(words), numbers, words), index=values.index, dtype=np.float64)


def _is_row_counter(values: pd.Series[Any]) -> bool:
    """An integer column (as read: no decimals, no nulls) rising by exactly 1 every row, at least three rows:
    a row number, not a signal."""
    if len(values) < 3 or not pd.api.types.is_integer_dtype(values):
        return False
    return bool((np.diff(values.to_numpy(dtype=np.int64)) == 1).all())


def _left_out_reason(column: str, values: pd.Series[Any], spec: TabularSpec) -> str | None:
    """Why a column of the first file is not a signal column by default, or None when it is one."""
    name = field_name(str(column))
    if column == spec.label_column:
        return "label column"
    if not (pd.api.types.is_numeric_dtype(values) or _is_boolean_text(values)):
        return "not numeric"
    if _INDEX_NAME_RE.match(name) or _is_row_counter(values):
        return "row counter"
    if spec.label_column is not None and name in _LABEL_LIKE:
        return "label-like"
    return None


def _default_columns(frame: pd.DataFrame, spec: TabularSpec) -> list[str]:
    """The signal columns of a file when none are given (see the module docstring)."""
    used = {spec.time_column, spec.unit_column}
    return [c for c in frame.columns if c not in used and _left_out_reason(c, frame[c], spec) is None]


def _left_out(frame: pd.DataFrame, columns: Sequence[str], spec: TabularSpec) -> dict[str, str]:
    """``{column: why}`` for the columns of a file that are not signal columns (time and unit aside); a column
    the default choice would take but the first file lacks is ``not in the first file``."""
    used = {spec.time_column, spec.unit_column, *columns}
    return {
        str(c): _left_out_reason(c, frame[c], spec) or "not in the first file"
        for c in frame.columns
        if c not in used
    }


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


def _table_events(spec: TabularSpec, table: EventTable) -> list[tuple[str, Event]]:
    """``(unit, (ts, kind, code))`` of every row of an event table."""
    frame = _read_csv(table.path, spec.sep)
    unit_col = str(spec.unit_column)
    for col in [spec.time_column, table.code_column, unit_col]:
        if col not in frame.columns:
            raise DataContractError(
                f"{table.path}: no column {col!r} (columns: {', '.join(map(str, frame.columns))})"
            )
    ts = _epoch_ms(frame[spec.time_column], spec.tz, table.path)
    units = [_unit_id(spec, u) for u in frame[unit_col]]
    codes = [str(c) for c in frame[table.code_column]]
    return [(u, (int(t), table.kind, c)) for t, u, c in zip(ts.tolist(), units, codes, strict=True)]


def _count(counts: dict[str, int], key: str) -> None:
    counts[key] = counts.get(key, 0) + 1


def _kept_events(
    candidates: Sequence[tuple[str, Event]],
    spans: Mapping[str, tuple[int, int]],
    margin_ms: int,
    report: ImportReport,
) -> dict[str, list[Event]]:
    """Per unit, its events in ``[first - margin, last + margin]`` sorted; the rest counted as left out."""
    kept: dict[str, list[Event]] = defaultdict(list)
    for unit, event in candidates:
        if unit not in spans:
            _count(report.events_left_out, "unit without telemetry")
            continue
        first, last = spans[unit]
        if not first - margin_ms <= event[0] <= last + margin_ms:
            _count(report.events_left_out, "beyond the margin")
            continue
        kept[unit].append(event)
        _count(report.events, event[1])
        if not first <= event[0] <= last:
            _count(report.events_in_margin, event[1])
        codes = report.event_codes.setdefault(event[1], [])
        if event[2] not in codes:
            codes.append(event[2])
    return {unit: sorted(events) for unit, events in kept.items()}


def _unit_envelopes(
    unit: str, merged: pd.DataFrame, events: Sequence[Event], spec: TabularSpec
) -> list[dict[str, Any]]:
    """The envelopes of one unit's rows (sorted by ``ts``, one row per ``ts``) and its sorted events, in
    ``sent_at`` order (see the module docstring)."""
    ts = merged["ts"].to_numpy(dtype=np.int64)
    fields = [c for c in merged.columns if c != "ts"]
    values = {c: merged[c].to_numpy(dtype=np.float64) for c in fields}
    bucket = ts // max(1, int(spec.envelope_s * 1000))
    starts = np.flatnonzero(np.r_[True, bucket[1:] != bucket[:-1]])
    ends = np.r_[starts[1:], len(ts)].astype(np.int64)
    sent = ts[ends - 1]  # ascending: the latest sample of each bucket
    carried: dict[int, list[Event]] = defaultdict(list)
    alone: dict[int, list[Event]] = defaultdict(list)
    for event in events:
        k = int(np.searchsorted(sent, event[0], side="left"))  # first envelope with sent_at >= ts
        if k < len(sent) and day_of_ms(int(sent[k])) == day_of_ms(event[0]):
            carried[k].append(event)
        else:
            alone[event[0]].append(event)
    docs: list[tuple[int, int, dict[str, Any]]] = []
    for k, (lo, hi) in enumerate(zip(starts.tolist(), ends.tolist(), strict=True)):
        rows = [
            {
                "ts": int(ts[i]),
                **{c: (None if np.isnan(values[c][i]) else float(values[c][i])) for c in fields},
            }
            for i in range(lo, hi)
        ]
        signals: dict[str, Any] = {spec.signal: rows}
        if k in carried:
            signals["events"] = _event_samples(carried[k])
        docs.append((int(sent[k]), 0, signals))
    docs.extend((when, 1, {"events": _event_samples(group)}) for when, group in alone.items())
    docs.sort(key=lambda d: (d[0], d[1]))
    return [
        {
            "schema": SCHEMA_ID,
            "fleet": spec.fleet,
            "robot_id": unit,
            "seq": seq,
            "sent_at": sent_at,
            "agent_version": "import-csv",
            "signals": signals,
        }
        for seq, (sent_at, _order, signals) in enumerate(docs)
    ]


def _event_samples(events: Sequence[Event]) -> list[dict[str, Any]]:
    return [{"ts": t, "kind": kind, "code": code} for t, kind, code in events]


def import_csv(paths: Sequence[str], out: Store, spec: TabularSpec) -> ImportReport:
    """Convert CSV files to day zips under `out` (``fleet=<fleet>/date=<d>/<unit>.zip``).

    Raises:
        DataContractError: unreadable times, bad unit ids, missing columns.
        ValueError: an inconsistent `spec`.
    """
    report = ImportReport()
    samples: dict[str, list[pd.DataFrame]] = defaultdict(list)
    candidates: list[tuple[str, Event]] = []
    columns: list[str] | None = list(spec.columns) or None
    for path in paths:
        frame = _read_csv(path, spec.sep)
        for col in [spec.time_column, *([spec.unit_column] if spec.unit_column else []), *(columns or [])]:
            if col not in frame.columns:
                raise DataContractError(
                    f"{path}: no column {col!r} (columns: {', '.join(map(str, frame.columns))})"
                )
        if columns is None:  # the first file chooses the signal columns
            columns = _default_columns(frame, spec)
        if not spec.columns:
            for column, reason in _left_out(frame, columns, spec).items():
                report.left_out.setdefault(column, reason)  # the first file's reason stays
        ts = _epoch_ms(frame[spec.time_column], spec.tz, path)
        units = (
            frame[spec.unit_column].map(lambda u: _unit_id(spec, u)).to_numpy(dtype=object)
            if spec.unit_column
            else np.full(len(frame), _unit_id(spec, _path_unit(path)), dtype=object)
        )
        data = pd.DataFrame({"ts": ts, "unit": units})
        for col in columns:
            data[field_name(col)] = _numbers(frame[col]).to_numpy()
        if spec.label_column is not None and spec.label_column not in frame.columns:
            report.unlabelled_files.append(path)  # e.g. a normal-operation recording: no failures
        elif spec.label_column is not None:
            data["_label"] = np.nan_to_num(_numbers(frame[spec.label_column]).to_numpy(), nan=0.0) > 0
        for unit, part in data.groupby("unit", sort=True):
            part = part.sort_values("ts", kind="stable").drop_duplicates("ts", keep="first")
            if "_label" in part:
                lab = part["_label"].to_numpy(dtype=bool)
                onset = lab & ~np.r_[False, lab[:-1]]
                delay = round(spec.label_delay_s * 1000)
                for t in part["ts"].to_numpy()[onset]:
                    candidates.append((str(unit), (int(t) + delay, "failure", spec.label_code)))
                part = part.drop(columns="_label")
            samples[str(unit)].append(part.drop(columns="unit"))
    report.fields = {c: field_name(c) for c in columns or []}
    merged_by_unit = {
        unit: pd.concat(parts).sort_values("ts", kind="stable").drop_duplicates("ts", keep="first")
        for unit, parts in sorted(samples.items())
    }
    spans = {unit: (int(m["ts"].iloc[0]), int(m["ts"].iloc[-1])) for unit, m in merged_by_unit.items()}
    for table in spec.events:
        candidates.extend(_table_events(spec, table))
    events = _kept_events(candidates, spans, round(spec.events_margin_s * 1000), report)

    steps: list[Int64Array] = []
    zips: dict[tuple[dt.date, str], list[tuple[str, bytes]]] = defaultdict(list)
    for unit, merged in merged_by_unit.items():
        report.units += 1
        report.rows += len(merged)
        steps.append(np.diff(merged["ts"].to_numpy(dtype=np.int64)))
        for envelope in _unit_envelopes(unit, merged, events.get(unit, []), spec):
            sent_at, seq = envelope["sent_at"], envelope["seq"]
            member = member_name(unit, sent_at, seq)
            zips[(day_of_ms(sent_at), unit)].append((member, gzip_member(orjson.dumps(envelope))))
            report.envelopes += 1
            report.event_envelopes += spec.signal not in envelope["signals"]
    for (day, unit), members in sorted(zips.items()):
        out.write_bytes(day_zip_key(spec.fleet, day, unit), build_day_zip(members))
        report.zips += 1
        report.first_day = min(report.first_day or day, day)
        report.last_day = max(report.last_day or day, day)
    all_steps = np.concatenate(steps) if steps else np.empty(0, dtype=np.int64)
    report.step_ms = int(np.median(all_steps[all_steps > 0])) if (all_steps > 0).any() else 1000
    return report


UNITS_ID_COLUMN = "robot_id"
"""The id column of an imported units table."""


@dataclass(slots=True)
class UnitsReport:
    """What a units table import wrote."""

    url: str
    """Where the table is (``<raw root>/units/<fleet>.parquet``): the ``units.url`` to configure."""
    units: int = 0
    fields: dict[str, str] = field(default_factory=dict)
    """CSV column -> column name (the id column aside)."""
    numeric: list[str] = field(default_factory=list)
    categorical: list[str] = field(default_factory=list)


def import_units(path: str, out: Store, spec: TabularSpec, id_column: str) -> UnitsReport:
    """Write the units table CSV `path` to ``units/<fleet>.parquet`` under `out` (see the module docstring).

    Raises:
        DataContractError: no column `id_column`, a null, repeated or invalid id, two columns with one field
            name.
    """
    frame = _read_csv(path, spec.sep)
    if id_column not in frame.columns:
        raise DataContractError(
            f"{path}: no id column {id_column!r} (columns: {', '.join(map(str, frame.columns))}); "
            "name it with --units-id-column"
        )
    if frame[id_column].isna().any():
        row = int(np.flatnonzero(frame[id_column].isna().to_numpy())[0])
        raise DataContractError(f"{path}: row {row + 2} has no {id_column!r}")
    ids = [_unit_id(spec, u) for u in frame[id_column]]
    repeated = sorted(u for u, n in Counter(ids).items() if n > 1)
    if repeated:
        raise DataContractError(f"{path}: units {repeated[:5]} have more than one row; a unit has one row")
    report = UnitsReport(f"{out.url.rstrip('/')}/{units_key(spec.fleet)}", units=len(ids))
    columns: dict[str, pa.Array] = {UNITS_ID_COLUMN: pa.array(ids, pa.string())}
    for column in frame.columns:
        if column == id_column:
            continue
        name = field_name(str(column))
        if name in columns:
            raise DataContractError(
                f"{path}: column {column!r} has field name {name!r}, as another column "
                f"({'the id' if name == UNITS_ID_COLUMN else 'a column'}); rename one"
            )
        values = frame[column]
        report.fields[str(column)] = name
        if pd.api.types.is_numeric_dtype(values) or _is_boolean_text(values):
            columns[name] = pa.array(_numbers(values).to_numpy(), pa.float64(), from_pandas=True)
            report.numeric.append(name)
        else:
            text = _stripped_text(values)
            columns[name] = pa.array([None if pd.isna(v) or v == "" else v for v in text], pa.string())
            report.categorical.append(name)
    if len(columns) == 1:
        raise DataContractError(f"{path}: no column besides the id column {id_column!r}; nothing to import")
    sink = io.BytesIO()
    pq.write_table(pa.table(columns), sink, compression="zstd")
    out.write_bytes(units_key(spec.fleet), sink.getvalue())
    return report


def registry_config(
    spec: TabularSpec, report: ImportReport, units: UnitsReport | None = None
) -> dict[str, Any]:
    """A configuration (YAML-ready) for the imported data: its signal, the events signal, the clock at the
    data's median step, the event kinds and codes as event features, and with `units` the ``units`` section
    of the imported units table (every column). Labels and windows are left to the user (``--set`` or an
    edit)."""
    events = next(s for s in DEFAULT_SIGNALS if s.role == "events")
    step = max(report.step_ms, 1)
    rate = 1000.0 / step
    kinds = [k for k in report.event_codes if k != "failure"]
    codes = sorted({c for k in kinds for c in report.event_codes[k]})
    config: dict[str, Any] = {
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
        # the data's own failure codes get since_last features (not the simulator's defaults)
        "history": {"failure_codes": sorted(report.event_codes.get("failure", []))},
    }
    if units is not None:
        config["units"] = {
            "url": units.url,
            "id_column": UNITS_ID_COLUMN,
            "numeric": list(units.numeric),
            "categorical": list(units.categorical),
        }
    return config


def config_yaml(config: Mapping[str, Any]) -> str:
    """`config` as YAML text."""
    import yaml

    return str(yaml.safe_dump(dict(config), sort_keys=False))
