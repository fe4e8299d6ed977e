"""Extraction: the bytes of one day zip -> one columnar table per signal, plus quarantine records.

Every zip member is one document (one envelope). Each document ends either **extracted** (all its samples
of registry signals are in the output tables) or **quarantined** (a :class:`QuarantineRecord` names the
member and the reason); none is dropped silently: ``documents == extracted + quarantined``. A zip that
cannot be opened at all counts as one quarantined document (member ``""``, reason ``bad_zip``).

Output tables have the columns ``robot_id`` (string), ``ts`` (int64 epoch milliseconds UTC), then the
signal's numeric fields (float64) and categorical fields (string), in registry order. Rows are sorted by
``ts`` then by the field values, and exact duplicate rows (the same sample re-sent in two envelopes) are
removed. Rows with the same ``ts`` but different values are kept and counted as ``conflicting``.

Checks (each failure quarantines the whole document with that reason):

- zip (read by :mod:`telemetry.contract.ziplib`): member count limit, member name
  ``<robot_id>/<sent_at>-<seq>.json.gz`` matching the zip's robot; zip-level CRC of stored members; a
  compressed zip entry is read no further than the gzip limits below allow (``oversize`` / ``zip_bomb``),
  whatever size its header declares;
- gzip: inflated size <= ``extract.max_member_bytes`` and inflate ratio <= ``extract.max_compression_ratio``
  (zip bombs), complete stream (truncation), no trailing bytes, valid deflate data;
- JSON: valid UTF-8, one object, valid syntax, nesting a safe parser can take, field types as the
  registry declares (numbers for numeric fields, strings for categorical ones, integers for ``ts``,
  ``seq``, ``sent_at``), no NaN/Infinity;
- envelope: ``schema == "telemetry.v1"``, ``fleet`` and ``robot_id`` those of the zip, ``sent_at`` inside the
  zip's UTC day ``[00:00, 24:00)`` and equal to the member name's, every sample has a ``ts`` inside
  ``[day start - extract.ts_slack_s, day end + extract.ts_slack_s)``.

Unknown signals and unknown fields of known signals are not errors: they are left out of the tables and
counted (documents carrying them) in :class:`ExtractReport`.

Decoding is batched: valid gzip payloads are joined as NDJSON in chunks and parsed by ``pyarrow.json``
against a schema derived from the signal registry; a chunk that fails to parse is bisected down to the
single failing documents, which are quarantined with the parser's message.

Memory: members are inflated one at a time and parsed in chunks of at most 512 documents or 8 MiB of
JSON, so beyond the zip's own bytes and the output tables an extraction holds one chunk plus one member
(at most ``extract.max_member_bytes``) — tests/test_hostile.py measures it on a 256 MiB zip-level bomb.
"""

from __future__ import annotations

import io
import re
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pa_json

from telemetry.config import ExtractConfig, SignalSpec
from telemetry.contract.envelope import SCHEMA_ID, day_bounds_ms, parse_member_name
from telemetry.contract.layout import DayKey
from telemetry.contract.ziplib import BAD_ZIP_ERRORS, inflate_member, zip_index, zip_members

__all__ = [
    "QUARANTINE_REASONS",
    "QUARANTINE_SCHEMA",
    "ExtractReport",
    "Extraction",
    "QuarantineRecord",
    "extract_day_zip",
    "rows_in_range",
    "signal_table_schema",
    "sorted_unique",
]

QUARANTINE_REASONS = (
    "bad_zip",  # the object is not a readable zip
    "too_many_members",  # beyond extract.max_members
    "bad_member_name",  # not <robot_id>/<sent_at>-<seq>.json.gz, or another robot's name
    "bad_zip_member",  # zip-level corruption (CRC, local header)
    "oversize",  # inflated document larger than extract.max_member_bytes
    "zip_bomb",  # inflate ratio above extract.max_compression_ratio
    "truncated_gzip",  # gzip stream ends early
    "bad_gzip",  # not gzip, corrupt deflate data, or trailing bytes
    "invalid_json",  # not one JSON object
    "wrong_types",  # a value of the wrong JSON type, or a null sample
    "non_finite",  # NaN or Infinity in a numeric field
    "wrong_schema",  # schema is not telemetry.v1 (or missing envelope fields)
    "wrong_fleet",  # envelope fleet differs from the zip's
    "wrong_robot",  # envelope robot_id differs from the zip's
    "wrong_day",  # sent_at outside the zip's UTC day, or differs from the member name
    "missing_ts",  # a sample without ts
    "ts_out_of_range",  # a sample ts outside the day plus slack
)

QUARANTINE_SCHEMA = pa.schema(
    [
        ("fleet", pa.string()),
        ("date", pa.string()),
        ("robot_id", pa.string()),
        ("key", pa.string()),
        ("version", pa.string()),
        ("member", pa.string()),
        ("reason", pa.string()),
        ("detail", pa.string()),
    ]
)

_CHUNK_DOCS = 512  # documents per read_json call (~4 MB of JSON)
_CHUNK_BYTES = 8 * 2**20  # ... or fewer: a chunk is parsed once it holds this much JSON (bounds memory)


@dataclass(frozen=True, slots=True)
class QuarantineRecord:
    """One document that was not extracted, and why."""

    key: str
    version: str
    member: str
    reason: str
    detail: str


@dataclass(slots=True)
class ExtractReport:
    """Counts of one extraction. ``documents == extracted + quarantined`` always holds."""

    documents: int = 0
    extracted: int = 0
    quarantined: int = 0
    quarantined_by_reason: dict[str, int] = field(default_factory=dict)
    samples: dict[str, int] = field(default_factory=dict)
    duplicates_removed: dict[str, int] = field(default_factory=dict)
    conflicting: dict[str, int] = field(default_factory=dict)
    unknown_signals: dict[str, int] = field(default_factory=dict)
    unknown_fields: dict[str, int] = field(default_factory=dict)
    json_bytes: int = 0

    def merge(self, other: ExtractReport) -> ExtractReport:
        """The sum of two reports (e.g. over robot-days)."""
        out = ExtractReport()
        for name in ("documents", "extracted", "quarantined", "json_bytes"):
            setattr(out, name, getattr(self, name) + getattr(other, name))
        for name in ("quarantined_by_reason", "samples", "duplicates_removed", "conflicting"):
            setattr(out, name, dict(Counter(getattr(self, name)) + Counter(getattr(other, name))))
        for name in ("unknown_signals", "unknown_fields"):
            setattr(out, name, dict(Counter(getattr(self, name)) + Counter(getattr(other, name))))
        return out

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able dict."""
        return {name: getattr(self, name) for name in self.__slots__}


@dataclass(slots=True)
class Extraction:
    """Result of extracting one day zip."""

    day: DayKey
    key: str
    version: str
    tables: dict[str, pa.Table]
    quarantine: list[QuarantineRecord]
    report: ExtractReport

    def quarantine_table(self) -> pa.Table:
        """Quarantine records as a table with :data:`QUARANTINE_SCHEMA`."""
        cols: dict[str, list[str]] = {name: [] for name in QUARANTINE_SCHEMA.names}
        for rec in self.quarantine:
            cols["fleet"].append(self.day.fleet)
            cols["date"].append(self.day.date.isoformat())
            cols["robot_id"].append(self.day.robot_id)
            cols["key"].append(rec.key)
            cols["version"].append(rec.version)
            cols["member"].append(rec.member)
            cols["reason"].append(rec.reason)
            cols["detail"].append(rec.detail)
        return pa.table(cols, schema=QUARANTINE_SCHEMA)


def signal_table_schema(spec: SignalSpec) -> pa.Schema:
    """Schema of the extracted table of one signal."""
    fields = [pa.field("robot_id", pa.string()), pa.field("ts", pa.int64())]
    fields += [pa.field(name, pa.float64()) for name in spec.numeric]
    fields += [pa.field(name, pa.string()) for name in spec.categorical]
    return pa.schema(fields)


def _envelope_schema(signals: Sequence[SignalSpec]) -> pa.Schema:
    sample_structs = {
        spec.name: pa.list_(pa.struct(signal_table_schema(spec).remove(0)))  # without robot_id
        for spec in signals
    }
    return pa.schema(
        [
            ("schema", pa.string()),
            ("fleet", pa.string()),
            ("robot_id", pa.string()),
            ("seq", pa.int64()),
            ("sent_at", pa.int64()),
            ("agent_version", pa.string()),
            ("signals", pa.struct([pa.field(n, t) for n, t in sample_structs.items()])),
        ]
    )


# ------------------------------------------------------------------------------------------ JSON chunks

# pyarrow's JSON parser recurses per nesting level and overflows the C stack somewhere between 10,000 and
# 20,000 levels in a main thread (a segfault, not an exception; less in threads with smaller stacks).
# The count of opening brackets bounds the depth from above and is cheap; the rare document above
# 1,024 is checked by orjson first, which stops cleanly at 1,024 levels. A valid envelope nests 4
# levels and holds ~120 brackets.
_BRACKETS_CHECKED = 1024


_NOT_BRACKETS = bytes(range(256)).translate(None, b"{[")


def _utf8_problem(doc: bytes) -> str | None:
    """None when `doc` is valid UTF-8 (JSON text must be, RFC 8259 section 8.1), else where it is not.

    pyarrow's parser copies invalid bytes into string values unchecked; they would reach the Parquet
    output as broken strings, so they are caught here (a pure-ASCII document skips the decode).
    """
    if doc.isascii():
        return None
    try:
        doc.decode("utf-8")
    except UnicodeDecodeError as exc:
        return f"not valid UTF-8: {exc.reason} at byte {exc.start}"
    return None


def _nesting_problem(doc: bytes) -> str | None:
    """None when `doc` is safe to hand to pyarrow, else why it is not."""
    if len(doc) <= _BRACKETS_CHECKED or len(doc.translate(None, _NOT_BRACKETS)) <= _BRACKETS_CHECKED:
        return None
    try:
        orjson.loads(doc)
    except orjson.JSONDecodeError as exc:
        return f"not parseable within orjson's 1024-level nesting limit: {str(exc)[:120]}"
    return None


_ARROW_ERRORS = (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError)
_ERROR_ROW = re.compile(r" in row (\d+)$")


def _parse_ndjson(lines: Sequence[bytes], schema: pa.Schema) -> pa.Table:
    """Parse NDJSON lines in one call; unknown fields are inferred (and later counted)."""
    payload = b"\n".join([*lines, b""])  # one copy: each line ends with a newline
    table = pa_json.read_json(
        io.BytesIO(payload),
        read_options=pa_json.ReadOptions(use_threads=False, block_size=max(len(payload) + 1, 1 << 20)),
        parse_options=pa_json.ParseOptions(explicit_schema=schema, unexpected_field_behavior="infer"),
    )
    if table.num_rows != len(lines):  # the NDJSON framing must give one row per line
        raise pa.ArrowInvalid(f"expected {len(lines)} JSON objects, parsed {table.num_rows} rows")
    return table


def _parse_rows(lines: Sequence[bytes], schema: pa.Schema) -> Iterator[tuple[int, int, pa.Table | None, str]]:
    """Parse ``lines`` as NDJSON, isolating the lines that fail.

    Yields ``(first index, count, table or None, error)`` covering every line exactly once, in order. When
    a parse fails, the row pyarrow names is tried alone; if it fails alone it is split off (the rows before
    and after it are parsed on their own), otherwise the range is bisected. A single failing line is
    yielded with ``table=None`` and the parser's message.

    Measured on a full robot-day: one ``read_json`` call over ~4 MB parses ~85 MB/s on one core; 1 MB
    streaming blocks (``open_json``) only ~70 MB/s, so whole-chunk calls plus this recovery are faster
    overall even though a failing chunk is parsed about twice.
    """
    stack = [(0, len(lines))]
    while stack:
        start, count = stack.pop()
        try:
            table = _parse_ndjson(lines[start : start + count], schema)
        except _ARROW_ERRORS as exc:
            if count == 1:
                yield start, 1, None, str(exc)
                continue
            match = _ERROR_ROW.search(str(exc))
            row = int(match.group(1)) if match else -1
            alone = _parse_error(lines[start + row], schema) if 0 <= row < count else None
            if alone is None:  # the named row parses alone (or none was named): bisect
                half = count // 2
                stack += [(start + half, count - half), (start, half)]
                continue
            if row + 1 < count:
                stack.append((start + row + 1, count - row - 1))
            stack.append((start + row, 1))
            if row > 0:
                stack.append((start, row))
            continue
        yield start, count, table, ""


def _parse_error(line: bytes, schema: pa.Schema) -> str | None:
    try:
        _parse_ndjson([line], schema)
    except _ARROW_ERRORS as exc:
        return str(exc)
    return None


def _classify_parse_error(doc: bytes, message: str) -> str:
    if "JSON parse error" in message and "changed from" not in message and "specified twice" not in message:
        return "invalid_json"
    if "Number too big" in message:
        return "invalid_json"
    return "wrong_types"


def _doc_mask_any(
    list_arr: pa.Array, sample_mask: np.ndarray[Any, np.dtype[np.bool_]], n_docs: int
) -> np.ndarray[Any, np.dtype[np.bool_]]:
    """Per document: does any sample of this list column have ``sample_mask`` set?"""
    out = np.zeros(n_docs, dtype=bool)
    if sample_mask.any():
        parents = pc.list_parent_indices(list_arr).to_numpy()
        out[parents[sample_mask]] = True
    return out


# ------------------------------------------------------------------------------------------ main entry


def extract_day_zip(
    data: bytes,
    *,
    day: DayKey,
    version: str,
    signals: Sequence[SignalSpec],
    extract: ExtractConfig,
    key: str | None = None,
) -> Extraction:
    """Extract one robot-day zip.

    Args:
        data: the zip object's bytes (one pinned version).
        day: the robot-day the object key names; envelopes must belong to it.
        version: the object version read (recorded in quarantine records).
        signals: the signal registry (``config.signals``).
        extract: the limits and the timestamp slack (``config.extract``).
        key: the object key for quarantine records (default ``day.key``).

    Returns:
        Per-signal tables (every registry signal with role ``sampled`` or ``events``; empty when the day
        has no data), quarantine records and counts.
    """
    key = day.key if key is None else key
    limits = extract
    report = ExtractReport()
    quarantine: list[QuarantineRecord] = []

    def reject(member: str, reason: str, detail: str) -> None:
        quarantine.append(QuarantineRecord(key, version, member, reason, detail))

    docs: list[bytes] = []
    doc_members: list[str] = []
    doc_name_fields: list[tuple[str, int, int]] = []
    try:
        entries, zf = zip_index(data)
    except BAD_ZIP_ERRORS as exc:
        reject("", "bad_zip", str(exc)[:200])
        report.documents = 1
        return _finish(day, key, version, signals, [], quarantine, report)

    report.documents = len(entries)
    for entry in entries[limits.max_members :]:
        reject(
            entry.name, "too_many_members", f"zip holds {len(entries)} members; limit {limits.max_members}"
        )
    schema = _envelope_schema(signals)
    day_start, day_end = day_bounds_ms(day.date)
    slack = int(limits.ts_slack_s * 1000)
    pieces: dict[str, list[pa.Table]] = {spec.name: [] for spec in signals}

    def parse_chunk() -> None:
        """Parse, validate and collect the pending documents (then forget them: memory stays bounded)."""
        for start, count, table, error in _parse_rows(docs, schema):
            if table is None:
                reject(doc_members[start], _classify_parse_error(docs[start], error), error[:200])
                continue
            reasons = _validate(
                table,
                day,
                (day_start - slack, day_end + slack),
                (day_start, day_end),
                signals,
                doc_name_fields[start : start + count],
                report,
            )
            ok = reasons == ""
            for i in np.flatnonzero(~ok):
                reject(doc_members[start + i], str(reasons[i]), _REASON_DETAIL[str(reasons[i])])
            _collect_samples(table, ok, signals, pieces)
        docs.clear()
        doc_members.clear()
        doc_name_fields.clear()

    pending_bytes = 0
    members = zip_members(
        data, zf, entries[: limits.max_members], limits.max_member_bytes, limits.max_compression_ratio
    )
    for name, raw, reason, detail in members:
        if raw is None:
            reject(name, reason, detail)
            continue
        parsed_name = parse_member_name(name)
        if parsed_name is None or parsed_name[0] != day.robot_id:
            reject(name, "bad_member_name", f"expected {day.robot_id}/<sent_at>-<seq>.json.gz")
            continue
        doc, reason, detail = inflate_member(raw, limits.max_member_bytes, limits.max_compression_ratio)
        del raw
        if doc is None:
            reject(name, reason, detail)
            continue
        stripped = doc.strip()
        if not stripped.startswith(b"{"):
            reject(name, "invalid_json", "document is not a JSON object" if stripped else "empty document")
            continue
        if not stripped.endswith(b"}"):  # the usual corruption; caught here without a parse
            reject(name, "invalid_json", "truncated: the document does not end with '}'")
            continue
        if (problem := _utf8_problem(stripped)) is not None:
            reject(name, "invalid_json", problem)
            continue
        if (problem := _nesting_problem(stripped)) is not None:
            reject(name, "invalid_json", problem)
            continue
        report.json_bytes += len(doc)
        # a literal newline can only be whitespace in valid JSON: flattening keeps the meaning
        docs.append(stripped.replace(b"\n", b" ").replace(b"\r", b" "))
        doc_members.append(name)
        doc_name_fields.append(parsed_name)
        pending_bytes += len(doc)
        if len(docs) >= _CHUNK_DOCS or pending_bytes >= _CHUNK_BYTES:
            parse_chunk()
            pending_bytes = 0
    if docs:
        parse_chunk()

    return _finish(day, key, version, signals, [pieces], quarantine, report)


_REASON_DETAIL = {
    "wrong_schema": f"schema is not {SCHEMA_ID!r} or an envelope field is missing",
    "wrong_fleet": "envelope fleet differs from the zip's fleet",
    "wrong_robot": "envelope robot_id differs from the zip's robot",
    "wrong_day": "sent_at is outside the zip's UTC day or differs from the member name",
    "wrong_types": "a sample is null",
    "missing_ts": "a sample has no ts",
    "ts_out_of_range": "a sample ts is outside the day plus extract.ts_slack_s",
    "non_finite": "NaN or Infinity in a numeric field",
}


def _validate(
    table: pa.Table,
    day: DayKey,
    ts_bounds: tuple[int, int],
    day_bounds: tuple[int, int],
    signals: Sequence[SignalSpec],
    name_fields: Sequence[tuple[str, int, int]],
    report: ExtractReport,
) -> np.ndarray[Any, np.dtype[np.object_]]:
    """Per document: ``""`` when valid, else the first failing reason (vectorised over the chunk)."""
    n = table.num_rows
    reasons = np.full(n, "", dtype=object)

    def flag(mask: np.ndarray[Any, np.dtype[np.bool_]], reason: str) -> None:
        reasons[(reasons == "") & mask] = reason

    def col(name: str) -> pa.ChunkedArray:
        return table.column(name)

    schema_ok = pc.fill_null(pc.equal(col("schema"), SCHEMA_ID), False).to_numpy(zero_copy_only=False)
    required_ok = np.ones(n, dtype=bool)
    for name in ("fleet", "robot_id", "seq", "sent_at", "signals"):
        required_ok &= col(name).is_valid().to_numpy(zero_copy_only=False)
    flag(~(schema_ok & required_ok), "wrong_schema")
    flag(
        ~pc.fill_null(pc.equal(col("fleet"), day.fleet), False).to_numpy(zero_copy_only=False), "wrong_fleet"
    )
    flag(
        ~pc.fill_null(pc.equal(col("robot_id"), day.robot_id), False).to_numpy(zero_copy_only=False),
        "wrong_robot",
    )
    sent_at = pc.fill_null(col("sent_at"), -1).to_numpy()
    seq = pc.fill_null(col("seq"), -1).to_numpy()
    name_sent = np.fromiter((f[1] for f in name_fields), dtype=np.int64, count=n)
    name_seq = np.fromiter((f[2] for f in name_fields), dtype=np.int64, count=n)
    in_day = (sent_at >= day_bounds[0]) & (sent_at < day_bounds[1])
    flag(~(in_day & (sent_at == name_sent) & (seq == name_seq)), "wrong_day")

    signals_col = _one_array(col("signals"))
    known = {spec.name for spec in signals}
    for child in signals_col.type:
        if child.name not in known:
            present = signals_col.field(child.name).is_valid().to_numpy(zero_copy_only=False)
            if present.any():
                report.unknown_signals[child.name] = report.unknown_signals.get(child.name, 0) + int(
                    present.sum()
                )
    for spec in signals:
        samples_list = signals_col.field(spec.name)
        samples = pc.list_flatten(samples_list)
        if len(samples) == 0:
            continue
        # cheap aggregate checks first; per-document masks only when something is off
        if samples.null_count:
            flag(
                _doc_mask_any(samples_list, ~samples.is_valid().to_numpy(zero_copy_only=False), n),
                "wrong_types",
            )
        ts = samples.field("ts")
        if ts.null_count:
            flag(_doc_mask_any(samples_list, ~ts.is_valid().to_numpy(zero_copy_only=False), n), "missing_ts")
        lo_hi = pc.min_max(ts)
        lo, hi = lo_hi["min"].as_py(), lo_hi["max"].as_py()
        if lo is not None and (lo < ts_bounds[0] or hi >= ts_bounds[1]):
            ts_np = pc.fill_null(ts, ts_bounds[0]).to_numpy()
            flag(
                _doc_mask_any(samples_list, (ts_np < ts_bounds[0]) | (ts_np >= ts_bounds[1]), n),
                "ts_out_of_range",
            )
        for name in spec.numeric:  # pyarrow reads the literals NaN, Inf, Infinity (and their negatives)
            values = samples.field(name)
            if pc.all(pc.is_finite(values)).as_py() is False:
                finite = pc.fill_null(pc.is_finite(values), True).to_numpy(zero_copy_only=False)
                flag(_doc_mask_any(samples_list, ~finite, n), "non_finite")
        declared = set(spec.fields) | {"ts"}
        for child in samples.type:
            if child.name not in declared:
                present = _doc_mask_any(
                    samples_list, samples.field(child.name).is_valid().to_numpy(zero_copy_only=False), n
                )
                if present.any():
                    label = f"{spec.name}.{child.name}"
                    report.unknown_fields[label] = report.unknown_fields.get(label, 0) + int(present.sum())
    return reasons


def _one_array(column: pa.ChunkedArray) -> pa.Array:
    """The column as one array: its only chunk as it is (``combine_chunks`` would copy it), else combined."""
    return column.chunk(0) if column.num_chunks == 1 else column.combine_chunks()


def _collect_samples(
    table: pa.Table,
    ok: np.ndarray[Any, np.dtype[np.bool_]],
    signals: Sequence[SignalSpec],
    pieces: dict[str, list[pa.Table]],
) -> None:
    if not ok.any():
        return
    signals_col = _one_array(table.column("signals"))
    if not ok.all():
        signals_col = signals_col.filter(pa.array(ok))
    for spec in signals:
        samples = pc.list_flatten(signals_col.field(spec.name))
        if len(samples) == 0:
            continue
        schema = signal_table_schema(spec).remove(0)  # robot_id is added once per table in _finish
        pieces[spec.name].append(
            pa.Table.from_arrays([samples.field(name) for name in schema.names], schema=schema)
        )


def _finish(
    day: DayKey,
    key: str,
    version: str,
    signals: Sequence[SignalSpec],
    chunk_pieces: Sequence[dict[str, list[pa.Table]]],
    quarantine: list[QuarantineRecord],
    report: ExtractReport,
) -> Extraction:
    tables: dict[str, pa.Table] = {}
    for spec in signals:
        parts = [t for pieces in chunk_pieces for t in pieces.get(spec.name, [])]
        schema = signal_table_schema(spec)
        table = pa.concat_tables(parts) if parts else schema.remove(0).empty_table()
        table, removed, conflicting = sorted_unique(table)
        robot = pa.repeat(pa.scalar(day.robot_id, pa.string()), table.num_rows)
        tables[spec.name] = table.add_column(0, schema.field(0), robot)
        report.samples[spec.name] = table.num_rows
        report.duplicates_removed[spec.name] = removed
        report.conflicting[spec.name] = conflicting
    report.quarantined = len(quarantine)
    report.extracted = report.documents - report.quarantined
    report.quarantined_by_reason = dict(Counter(rec.reason for rec in quarantine))
    return Extraction(day, key, version, tables, quarantine, report)


def sorted_unique(table: pa.Table) -> tuple[pa.Table, int, int]:
    """Sort by the columns in order (ts, then the field values); drop exact duplicate rows; count same-ts rows
    that differ. Returns ``(table, duplicates removed, conflicting rows)``.

    Tables whose columns before ``ts`` are constant (none, or one robot's id) are ordered by ``ts`` first
    with a stable NumPy sort (a linear-time merge for the concatenation of already sorted tables, the
    read-back of a day and its halo); only the rows that share a ``ts`` are then ordered by the remaining
    columns and compared. An already sorted table with distinct ``ts`` is returned as it is. Other tables
    take the general path (one Arrow sort by every column). Both give the same rows in the same order.
    """
    if table.num_rows == 0:
        return table, 0, 0
    if _ts_first(table):
        return _sorted_unique_by_ts(table)
    return _sorted_unique_general(table)


def rows_in_range(table: pa.Table, lo: int, hi: int) -> pa.Table:
    """The rows of ``table`` with ``lo <= ts < hi`` (the table itself, uncopied, when that is all of them)."""
    ts = table.column("ts")
    bounds = pc.min_max(ts).as_py()
    if bounds["min"] is None or (bounds["min"] >= lo and bounds["max"] < hi):
        return table
    return table.filter(pc.and_(pc.greater_equal(ts, lo), pc.less(ts, hi)))


def _ts_first(table: pa.Table) -> bool:
    """True when ``ts`` is a column without nulls and every column before it holds one non-null value."""
    names = table.column_names
    if "ts" not in names or table.column("ts").null_count:
        return False
    for name in names[: names.index("ts")]:
        column = table.column(name)
        if column.null_count or pc.count_distinct(column).as_py() != 1:
            return False
    return True


def _sorted_unique_by_ts(table: pa.Table) -> tuple[pa.Table, int, int]:
    ts = table.column("ts").to_numpy()
    n = len(ts)
    if n < 2 or bool(np.all(ts[1:] > ts[:-1])):
        return table, 0, 0
    order = np.argsort(ts, kind="stable")
    ts = ts[order]
    ties = np.flatnonzero(ts[1:] == ts[:-1])  # row i+1 has the ts of row i (sorted order)
    if len(ties):
        # rows sharing a ts: order them by every column, in place (their ts blocks do not move)
        tied = np.zeros(n, dtype=bool)
        tied[ties] = tied[ties + 1] = True
        rows = np.flatnonzero(tied)
        sub = table.take(pa.array(order[rows]))
        keys = [(name, "ascending") for name in table.column_names]
        order[rows] = order[rows][pc.sort_indices(sub, sort_keys=keys).to_numpy()]
    table = table.take(pa.array(order))
    if not len(ties):
        return table, 0, 0
    same_as_prev = np.ones(len(ties), dtype=bool)
    before, after = pa.array(ties), pa.array(ties + 1)
    for name in table.column_names:
        same_as_prev &= _same_values(table.column(name).take(after), table.column(name).take(before))
    removed = int(same_as_prev.sum())
    if removed:
        keep = np.ones(n, dtype=bool)
        keep[ties[same_as_prev] + 1] = False
        table = table.filter(pa.array(keep))
    return table, removed, len(ties) - removed


def _sorted_unique_general(table: pa.Table) -> tuple[pa.Table, int, int]:
    keys = [(name, "ascending") for name in table.column_names]
    table = table.take(pc.sort_indices(table, sort_keys=keys))
    n = table.num_rows
    same_as_prev = np.ones(n - 1, dtype=bool)
    for name in table.column_names:
        arr = table.column(name)
        same_as_prev &= _same_values(arr.slice(1), arr.slice(0, n - 1))
    keep = np.concatenate(([True], ~same_as_prev))
    removed = int(n - keep.sum())
    if removed:
        table = table.filter(pa.array(keep))
    ts = table.column("ts").to_numpy()
    conflicting = int((ts[1:] == ts[:-1]).sum())
    return table, removed, conflicting


def _same_values(this: pa.ChunkedArray, prev: pa.ChunkedArray) -> np.ndarray[Any, np.dtype[np.bool_]]:
    """Per position: the two arrays (same length) hold equal values, or both null."""
    equal = pc.fill_null(pc.equal(this, prev), False).to_numpy(zero_copy_only=False)
    both_null = ~this.is_valid().to_numpy(zero_copy_only=False) & ~prev.is_valid().to_numpy(
        zero_copy_only=False
    )
    same: np.ndarray[Any, np.dtype[np.bool_]] = equal | both_null
    return same
