"""Per-partition summaries of numeric columns, mergeable across partitions (a stage: pyarrow/numpy and
Apache DataSketches only; no store, no Dask). Groundwork of fleet health and drift (docs/health.md).

A **summary** is an Arrow table (:data:`SUMMARY_SCHEMA`) with one row per ``(table, column)``: the table is a
signal name (an extracted signal table, :func:`telemetry.stages.extract.signal_table_schema`) or, for a
feature table, e.g. ``"features"``. It summarizes the rows whose time (``ts``, epoch milliseconds UTC; a
feature table's ``cutoff``) lies in ``[start, end)`` (start included, end excluded): a partition's halo
rows are left out, so the summaries of consecutive days add up to the summary of the span.

Per column:

- ``rows``: rows with time in ``[start, end)``; ``count``: their finite values; ``nulls = rows - count``
  (null, NaN or infinite);
- ``min``, ``max``; ``mean`` and ``m2`` (the sum of squared deviations from the mean, so the population
  variance is ``m2 / count``): moments are merged with Chan et al.'s pairwise formula, exact up to float
  rounding and stable for large offsets (a 48 V battery with millivolt noise), unlike a sum of squares;
  null when ``count == 0``;
- ``sketch``: the serialized KLL sketch (``datasketches.kll_doubles_sketch``, parameter ``k``) of the finite
  values. Its normalized rank error (99 % confidence) is :func:`rank_error`: 1.33 % for a rank or quantile
  query and 1.65 % for a PMF/CDF at the default ``k = 200``, whatever the number of values. KLL compacts with
  random coin flips, so two summaries of the same data are equal in every column but ``sketch``, whose
  answers agree within the rank error (not bit-identical);

per table (the same value on each of its rows, so that merging row by row keeps it exact):

- ``span_s``: the seconds of ``[start, end)``;
- ``expected_rows``: ``span_s * rate_hz`` for a signal with a rate, else null; sample **coverage** is
  ``rows / expected_rows`` (rows sharing a ``ts`` count separately, as in ``labels.min_coverage``; it can
  exceed 1 when a clock runs fast or samples are re-sent with other values);
- ``seconds_covered``: the UTC seconds ``[s, s + 1 s)`` inside the span holding at least one row;
  **second coverage** ``seconds_covered / span_s`` needs no rate (e.g. a robot that went silent).

**Clock offset**: a table with a ``sent_at`` column (epoch ms of the envelope that carried the sample) also
gets a row for the column :data:`CLOCK_OFFSET_COLUMN`, the values ``sent_at - ts`` in ms: upload latency plus
the offset of the agent's clock against the signal's. Extracted signal tables do not keep ``sent_at`` today
(:func:`~telemetry.stages.extract.signal_table_schema`), so they get no such row.

Merging (:func:`merge_summaries`) sums ``rows``, ``count``, ``nulls``, ``span_s``, ``expected_rows`` and
``seconds_covered``, takes min/max, combines moments and merges sketches; it is associative and
commutative up to float rounding (moments) and the sketches' rank error (quantiles), so partition summaries
merge in any grouping. Partitions must not overlap in time (one robot-day each, as the pipeline writes them).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable, Sequence

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from datasketches import kll_doubles_sketch

from telemetry._types import F64, I64
from telemetry.errors import DataContractError

__all__ = [
    "CLOCK_OFFSET_COLUMN",
    "DEFAULT_K",
    "SUMMARY_SCHEMA",
    "merge_summaries",
    "quantiles",
    "rank_error",
    "sketch_of",
    "statistics",
    "summarize_table",
]

DEFAULT_K = 200  # KLL parameter: 1.33 % rank error, ~5 KB per column at a day of 10 Hz samples
CLOCK_OFFSET_COLUMN = "sent_at-ts"  # not a valid field name, so it never clashes with one
SECOND_MS = 1000
_SAMPLE_SEED = 20_260_611  # the subsample of max_sketched is a fixed function of the values

SUMMARY_SCHEMA = pa.schema(
    [
        ("table", pa.string()),  # signal name, or the feature table's name
        ("column", pa.string()),  # numeric field / feature column, or CLOCK_OFFSET_COLUMN
        ("rows", pa.int64()),  # rows with start <= time < end
        ("count", pa.int64()),  # finite values among them
        ("nulls", pa.int64()),  # rows - count: null, NaN or infinite
        ("min", pa.float64()),  # null when count == 0 (so are max, mean, m2)
        ("max", pa.float64()),
        ("mean", pa.float64()),
        ("m2", pa.float64()),  # sum of squared deviations from the mean: variance = m2 / count
        ("sketch", pa.binary()),  # serialized datasketches.kll_doubles_sketch of the finite values
        ("span_s", pa.int64()),  # seconds of [start, end) (per table)
        ("expected_rows", pa.float64()),  # span_s * rate_hz, null without a rate (per table)
        ("seconds_covered", pa.int64()),  # whole UTC seconds in the span with >= 1 row (per table)
    ]
)
_KEYS = ("table", "column")
_SUMMED = ("rows", "count", "nulls", "span_s", "seconds_covered")
_EXCLUDED = ("robot_id", "sent_at")  # never summarized as values by default


def rank_error(k: int = DEFAULT_K, *, pmf: bool = False) -> float:
    """The normalized rank error of a KLL sketch with parameter ``k`` (99 % confidence): of a rank or quantile
    query, or (``pmf=True``) of each PMF/CDF value. ``k = 200``: 0.0133 / 0.0165."""
    _check_k(k)
    return float(kll_doubles_sketch.get_normalized_rank_error(k, pmf))


def summarize_table(
    table: pa.Table | pd.DataFrame,
    *,
    name: str,
    start: int,
    end: int,
    time_column: str = "ts",
    columns: Sequence[str] | None = None,
    rate_hz: float | None = None,
    k: int = DEFAULT_K,
    max_sketched: int | None = None,
) -> pa.Table:
    """The summary (:data:`SUMMARY_SCHEMA`) of the rows of ``table`` with ``start <= time < end``.

    Args:
        table: a signal table (``ts`` + numeric fields, optionally ``sent_at``) or a feature table.
        name: the ``table`` value of the summary (signal name, or e.g. ``"features"``).
        start: span start, epoch ms UTC, included; a whole second (so seconds never straddle partitions).
        end: span end, epoch ms UTC, excluded; a whole second, ``>= start``.
        time_column: the int64 epoch-ms column the span applies to (``"cutoff"`` for a feature table).
        columns: the numeric columns to summarize; default every integer or float column except the time
            column, ``robot_id`` and ``sent_at``.
        rate_hz: the signal's expected rate (``SignalSpec.rate_hz``), for ``expected_rows``; None for
            on-change signals and feature tables.
        k: the KLL parameter (8 to 65535; see :func:`rank_error`).
        max_sketched: None (default): every finite value enters the sketch. An int ``m``: a column with
            ``n > m`` finite values feeds the sketch a uniform random subsample (each value kept with
            probability ``m / n``, a fixed seed: the same table gives the same subsample), to bound the
            sketch's cost on 10 Hz signals; the quantiles' rank error then grows by at most
            ``sqrt(ln(200) / (2 m))`` (the DKW bound at 99 %: 0.0055 for ``m = 86_400``). Every other column
            of the summary still uses every value.
    """
    arrow = _as_arrow(table)
    _check_span(start, end)
    _check_k(k)
    if max_sketched is not None and (
        isinstance(max_sketched, bool) or not isinstance(max_sketched, int) or max_sketched < 1
    ):
        raise ValueError(f"max_sketched must be None or an int >= 1 (got {max_sketched!r})")
    if rate_hz is not None and not (math.isfinite(rate_hz) and rate_hz > 0):
        raise ValueError(f"rate_hz must be a finite number > 0 or None (got {rate_hz!r})")
    times = _epoch_ms(arrow, time_column)
    names = _value_columns(arrow, time_column, columns)
    inside = (times >= start) & (times < end)
    kept = arrow.filter(pa.array(inside)) if not inside.all() else arrow
    kept_times = times[inside]
    span_s = (end - start) // SECOND_MS
    per_table = {
        "span_s": span_s,
        "expected_rows": None if rate_hz is None else span_s * rate_hz,
        "seconds_covered": _seconds_covered(kept_times),
    }
    rows = [_column_row(name, col, _float_values(kept, col), k, max_sketched) for col in names]
    if "sent_at" in arrow.column_names:
        sent = _epoch_ms(kept, "sent_at")
        offsets = (sent - kept_times).astype(np.float64)
        rows.append(_column_row(name, CLOCK_OFFSET_COLUMN, offsets, k, max_sketched))
    for row in rows:
        row.update(per_table)
    return pa.Table.from_pylist(rows, schema=SUMMARY_SCHEMA)


def merge_summaries(summaries: Iterable[pa.Table], *, by: Sequence[str] = ()) -> pa.Table:
    """One summary row per ``(*by, table, column)`` merging every row of ``summaries`` with those keys.

    Args:
        summaries: summaries (:func:`summarize_table` or earlier merges) of non-overlapping partitions; they
            may carry extra key columns (e.g. ``robot_id``, ``date``, ``site`` added by the caller).
        by: extra key columns kept in the result (e.g. ``("robot_id",)`` for per-robot summaries); the
            default merges everything per ``(table, column)``. Rows are sorted by the keys.
    """
    tables = list(summaries)
    if not tables:
        raise ValueError("merge_summaries needs at least one summary (got none)")
    keys = [*by, *_KEYS]
    for i, t in enumerate(tables):
        missing = [c for c in (*keys, *SUMMARY_SCHEMA.names) if c not in t.column_names]
        if missing:
            raise DataContractError(f"summary {i} lacks the columns {missing}; expected SUMMARY_SCHEMA + by")
    frame = pd.concat([t.select([*by, *SUMMARY_SCHEMA.names]).to_pandas() for t in tables], ignore_index=True)
    frame = frame.sort_values(keys, kind="stable").reset_index(drop=True)
    groups = frame.groupby(keys, sort=False, dropna=False)
    out = groups[list(_SUMMED)].sum()
    out["min"] = groups["min"].min()
    out["max"] = groups["max"].max()
    out["expected_rows"] = (
        groups["expected_rows"].sum(min_count=1).where(groups["expected_rows"].count() == groups.size())
    )
    counts = frame["count"].to_numpy(np.float64)
    means = np.nan_to_num(frame["mean"].to_numpy(np.float64))
    weighted = pd.Series(counts * means).groupby([frame[c] for c in keys], sort=False).sum()
    total = out["count"].to_numpy(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = weighted.to_numpy() / total
    out["mean"] = np.where(total > 0, mean, np.nan)
    group_mean = np.repeat(out["mean"].to_numpy(), groups.size().to_numpy())  # frame is sorted by keys
    spread = counts * (means - np.nan_to_num(group_mean)) ** 2
    m2 = (np.nan_to_num(frame["m2"].to_numpy(np.float64)) + spread).astype(np.float64)
    out["m2"] = pd.Series(m2).groupby([frame[c] for c in keys], sort=False).sum().to_numpy()
    out.loc[total == 0, "m2"] = np.nan
    sketches = frame["sketch"].to_numpy()
    bounds = np.cumsum(np.r_[0, groups.size().to_numpy()])
    out["sketch"] = [_merged_sketch(sketches[a:b]) for a, b in itertools.pairwise(bounds)]
    out = out.reset_index()
    schema = pa.schema([*(tables[0].schema.field(c) for c in by), *SUMMARY_SCHEMA])
    return pa.Table.from_pandas(out[[*by, *SUMMARY_SCHEMA.names]], schema=schema, preserve_index=False)


def sketch_of(summary: pa.Table, *, table: str, column: str) -> kll_doubles_sketch:
    """The KLL sketch of the one row of ``summary`` for ``(table, column)`` (merge first to get one)."""
    names = summary.column("table").to_pylist()
    cols = summary.column("column").to_pylist()
    at = [i for i, (t, c) in enumerate(zip(names, cols, strict=True)) if t == table and c == column]
    if len(at) != 1:
        raise ValueError(
            f"expected one summary row for table {table!r}, column {column!r} (got {len(at)}); "
            "merge_summaries(...) the partitions first, without `by`"
        )
    return kll_doubles_sketch.deserialize(summary.column("sketch")[at[0]].as_py())


def quantiles(summary: pa.Table, ranks: Sequence[float], *, table: str, column: str) -> F64:
    """The approximate quantiles of ``(table, column)`` at normalized ``ranks`` in ``[0, 1]`` (0: the min,
    1: the max), each the value whose rank is within :func:`rank_error` of the requested one; NaN when the
    column had no finite value."""
    wanted = np.asarray(ranks, dtype=np.float64)
    if wanted.ndim != 1 or not np.all((wanted >= 0) & (wanted <= 1)):
        raise ValueError(f"ranks must be a 1-d sequence of numbers in [0, 1] (got {ranks!r})")
    sketch = sketch_of(summary, table=table, column=column)
    if sketch.is_empty():
        return np.full(len(wanted), np.nan)
    out = np.asarray(sketch.get_quantiles(wanted.tolist()), dtype=np.float64)
    out[wanted == 0] = sketch.get_min_value()  # the sketch keeps the exact extremes
    out[wanted == 1] = sketch.get_max_value()
    return out


def statistics(summary: pa.Table) -> pd.DataFrame:
    """``summary`` without sketches, plus the derived ``variance`` (population, ``m2 / count``), ``std``,
    ``null_rate`` (``nulls / rows``), ``coverage`` (``rows / expected_rows``) and ``second_coverage``
    (``seconds_covered / span_s``); NaN where undefined."""
    frame: pd.DataFrame = summary.drop_columns(["sketch"]).to_pandas()
    count = frame["count"].to_numpy(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        frame["variance"] = np.where(count > 0, frame["m2"].to_numpy(np.float64) / count, np.nan)
        frame["std"] = np.sqrt(frame["variance"])
        rows = frame["rows"].to_numpy(np.float64)
        frame["null_rate"] = np.where(rows > 0, frame["nulls"].to_numpy(np.float64) / rows, np.nan)
        frame["coverage"] = rows / frame["expected_rows"].to_numpy(np.float64)
        span = frame["span_s"].to_numpy(np.float64)
        frame["second_coverage"] = np.where(
            span > 0, frame["seconds_covered"].to_numpy(np.float64) / span, np.nan
        )
    return frame


# --------------------------------------------------------------------------------------------- helpers


def _check_k(k: int) -> None:
    if isinstance(k, bool) or not isinstance(k, int) or not 8 <= k <= 65535:
        raise ValueError(f"k must be an int in [8, 65535] (got {k!r}); the default {DEFAULT_K} is typical")


def _check_span(start: int, end: int) -> None:
    for label, value in (("start", start), ("end", end)):
        if isinstance(value, bool) or not isinstance(value, int | np.integer):
            raise ValueError(f"{label} must be an int of epoch ms UTC (got {value!r})")
        if value % SECOND_MS:
            raise ValueError(
                f"{label} must be a whole second of epoch ms (got {value}); a partition is whole UTC days"
            )
    if end < start:
        raise ValueError(f"end must be >= start (got start={start}, end={end})")


def _as_arrow(table: pa.Table | pd.DataFrame) -> pa.Table:
    if isinstance(table, pa.Table):
        return table
    if isinstance(table, pd.DataFrame):
        return pa.Table.from_pandas(table, preserve_index=False)
    raise TypeError(f"table must be a pyarrow.Table or pandas.DataFrame (got {type(table).__name__})")


def _epoch_ms(table: pa.Table, column: str) -> I64:
    if column not in table.column_names:
        raise DataContractError(f"the table has no column {column!r} (columns: {table.column_names})")
    values = table.column(column)
    if not pa.types.is_integer(values.type):
        raise DataContractError(
            f"column {column!r} must hold int64 epoch milliseconds UTC (got {values.type}); "
            "convert timestamps explicitly, e.g. series.astype('datetime64[ms, UTC]').astype('int64')"
        )
    if values.null_count:
        raise DataContractError(f"column {column!r} has {values.null_count} nulls; every row needs a time")
    return np.asarray(values.to_numpy(), dtype=np.int64)


def _value_columns(table: pa.Table, time_column: str, columns: Sequence[str] | None) -> list[str]:
    if columns is None:
        return [
            f.name
            for f in table.schema
            if f.name not in (time_column, *_EXCLUDED)
            and (pa.types.is_floating(f.type) or pa.types.is_integer(f.type))
        ]
    names = list(columns)
    present = set(table.column_names)
    for col in names:
        if col not in present:
            raise DataContractError(f"column {col!r} is not in the table (columns: {table.column_names})")
        kind = table.schema.field(col).type
        if not (pa.types.is_floating(kind) or pa.types.is_integer(kind)):
            raise DataContractError(f"column {col!r} must be numeric (got {kind}); summaries are numeric")
    if len(set(names)) != len(names):
        raise ValueError(f"columns must not repeat a name (got {names})")
    return names


def _float_values(table: pa.Table, column: str) -> F64:
    """The column as float64 with NaN for nulls."""
    values = pc.cast(table.column(column), pa.float64())
    return np.asarray(values.to_numpy(zero_copy_only=False), dtype=np.float64)


def _seconds_covered(times: I64) -> int:
    seconds = np.floor_divide(times, SECOND_MS)
    if len(seconds) == 0:
        return 0
    steps = np.diff(seconds)
    if np.all(steps >= 0):  # extracted tables are sorted by ts: no sort needed
        return int(np.count_nonzero(steps)) + 1
    return len(np.unique(seconds))


def _column_row(table: str, column: str, values: F64, k: int, max_sketched: int | None) -> dict[str, object]:
    finite = values[np.isfinite(values)] if not np.isfinite(values).all() else values
    sketch = kll_doubles_sketch(k)
    row: dict[str, object] = {
        "table": table,
        "column": column,
        "rows": len(values),
        "count": len(finite),
        "nulls": len(values) - len(finite),
        "min": None,
        "max": None,
        "mean": None,
        "m2": None,
    }
    if len(finite):
        mean = float(finite.mean())
        deviations = finite - mean
        np.square(deviations, out=deviations)  # not np.dot: BLAS threads cost ~100x more on short columns
        row.update(min=float(finite.min()), max=float(finite.max()), mean=mean, m2=float(deviations.sum()))
        sketched = finite
        if max_sketched is not None and len(finite) > max_sketched:
            keep = np.random.default_rng(_SAMPLE_SEED).random(len(finite)) < max_sketched / len(finite)
            sketched = finite[keep]
        # the binding takes writable float64 arrays only (Arrow's zero-copy arrays are read-only)
        sketch.update(
            sketched if sketched.flags.writeable and sketched.flags.c_contiguous else sketched.copy()
        )
    row["sketch"] = sketch.serialize()
    return row


def _merged_sketch(serialized: Sequence[bytes]) -> bytes:
    if len(serialized) == 1:
        return serialized[0]
    merged = kll_doubles_sketch.deserialize(serialized[0])
    for blob in serialized[1:]:
        merged.merge(kll_doubles_sketch.deserialize(blob))
    return bytes(merged.serialize())
