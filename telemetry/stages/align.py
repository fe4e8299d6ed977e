"""Nearest-time join of one robot's signals onto one clock (see docs/time-semantics.md, section 1).

The clock is either epoch-aligned grid ticks (the multiples of ``align.step_ms`` in ``[start, end)``) or the
distinct timestamps of an anchor signal in ``[start, end)``. For every sampled signal and tick, the match is
one sample row (all its fields) or none:

- ``nearest``: the row whose ``ts`` is closest to the tick with ``|ts - tick| <= tolerance_ms``; ties go to
  the earlier sample;
- ``backward``: the latest row with ``ts <= tick`` and ``tick - ts <= tolerance_ms``.

Rows sharing a timestamp resolve to the first of them in table order. The span restricts ticks, not
samples: samples outside ``[start, end)`` still match ticks inside it (day halos).

Besides the match of its direction, every signal keeps its backward match per tick: the window features
need it to honour the cutoff rule (a tick in a window ending at cutoff ``c`` may only use samples with
``ts < c``; when the nearest sample is at or after ``c``, the backward match is the nearest one before it).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
import pyarrow as pa

from telemetry._types import I64
from telemetry.config import AlignConfig, SignalSpec, sampled_signals
from telemetry.errors import DataContractError

__all__ = ["Aligned", "AlignedSignal", "align", "clock_ticks", "signal_columns"]


@dataclass(frozen=True, slots=True)
class AlignedSignal:
    """One signal's samples and, per tick, the row it matched."""

    spec: SignalSpec
    ts: I64
    """Sample timestamps (epoch ms), sorted ascending."""
    values: dict[str, npt.NDArray[Any]]
    """Per field: float64 with NaN for null (numeric) or object with None for null (categorical)."""
    match: I64
    """Per tick: row of the match in the signal's direction, -1 when none."""
    backward: I64
    """Per tick: row of the backward match (latest ``ts <= tick`` within tolerance), -1 when none."""

    def matched(self, field: str, rows: I64 | None = None) -> npt.NDArray[Any]:
        """Values of ``field`` at the given rows (default: each tick's match); null where the row is -1."""
        return self.matched_values(self.values[field], rows)

    def matched_values(
        self, source: npt.NDArray[Any], rows: npt.NDArray[np.int64] | None = None
    ) -> npt.NDArray[Any]:
        """``source`` (one value per sample) taken at ``rows`` (any shape; default each tick's match)."""
        rows = self.match if rows is None else rows
        if source.dtype == object:
            out = np.empty(rows.shape, dtype=object)
            ok = rows >= 0
            out[ok] = source[rows[ok]]
            return out
        if len(source) == 0:
            return np.full(rows.shape, np.nan)
        return np.where(rows >= 0, source[np.maximum(rows, 0)], np.nan)


@dataclass(frozen=True, slots=True)
class Aligned:
    """All sampled signals of one robot on one clock."""

    robot_id: str
    ticks: I64
    """Clock ticks (epoch ms), sorted, unique."""
    step_ms: int | None
    """Grid step, or None for an anchor clock."""
    signals: dict[str, AlignedSignal]

    def match_rates(self) -> dict[str, float]:
        """Per signal: matched ticks / ticks (0.0 without ticks)."""
        n = len(self.ticks)
        return {name: float((s.match >= 0).sum() / n) if n else 0.0 for name, s in self.signals.items()}

    def frame(self) -> pd.DataFrame:
        """The aligned table: ``robot_id``, ``tick``, then ``<signal>.<field>`` for every field."""
        data: dict[str, Any] = {
            "robot_id": np.full(len(self.ticks), self.robot_id, dtype=object),
            "tick": self.ticks,
        }
        for name, signal in self.signals.items():
            for field in signal.spec.fields:
                data[f"{name}.{field}"] = signal.matched(field)
        return pd.DataFrame(data)


def signal_columns(
    table: pa.Table | pd.DataFrame, spec: SignalSpec
) -> tuple[I64, dict[str, npt.NDArray[Any]]]:
    """``(ts, values per field)`` of one extracted signal table, sorted by ``ts`` (stable).

    Numeric fields become float64 with NaN for null, categorical fields object arrays with None for null.
    Missing fields are all-null. Arrow columns are converted one at a time (never the whole table).
    """
    names = table.column_names if isinstance(table, pa.Table) else list(table.columns)
    if "ts" not in names:
        raise DataContractError(f"table of signal {spec.name!r} has no 'ts' column (got {names})")

    def column(name: str) -> pd.Series:
        return table.column(name).to_pandas() if isinstance(table, pa.Table) else table[name]

    if isinstance(table, pa.Table) and pa.types.is_integer(table.schema.field("ts").type):
        if table.column("ts").null_count:
            raise DataContractError(f"signal {spec.name!r} has samples without ts")
        ts = table.column("ts").to_numpy().astype(np.int64, copy=False)
    else:
        ts = column("ts").to_numpy(dtype=np.int64, na_value=np.iinfo(np.int64).min)
        if (ts == np.iinfo(np.int64).min).any():
            raise DataContractError(f"signal {spec.name!r} has samples without ts")
    in_order = len(ts) < 2 or bool((ts[1:] >= ts[:-1]).all())
    order = None if in_order else np.argsort(ts, kind="stable")

    def ordered(values: npt.NDArray[Any]) -> npt.NDArray[Any]:
        return values if order is None else values[order]

    values: dict[str, npt.NDArray[Any]] = {}
    for field in spec.numeric:
        if field not in names:
            values[field] = np.full(len(ts), np.nan)
        elif isinstance(table, pa.Table) and (
            pa.types.is_floating(kind := table.schema.field(field).type) or pa.types.is_integer(kind)
        ):  # nulls become NaN
            values[field] = ordered(table.column(field).cast(pa.float64()).to_numpy(zero_copy_only=False))
        else:
            values[field] = ordered(column(field).to_numpy(dtype=np.float64, na_value=np.nan))
    for field in spec.categorical:
        if field in names:
            col = column(field).astype(object)
            values[field] = ordered(col.where(col.notna(), None).to_numpy(dtype=object))
        else:
            values[field] = np.full(len(ts), None, dtype=object)
    return ordered(ts), values


def clock_ticks(align: AlignConfig, start: int, end: int, anchor_ts: I64 | None = None) -> I64:
    """The ticks in ``[start, end)``: multiples of ``align.step_ms``, or the anchor's distinct timestamps."""
    if end < start:
        raise ValueError(f"span end must be >= start (got start={start}, end={end})")
    if align.clock == "grid":
        step = align.step_ms
        first = -(-start // step) * step  # smallest multiple of step >= start
        return np.arange(first, end, step, dtype=np.int64)
    if anchor_ts is None:
        raise ValueError(f"align.clock={align.clock!r} needs the anchor signal's timestamps")
    inside = anchor_ts[(anchor_ts >= start) & (anchor_ts < end)]
    return np.unique(inside)


def _first_of_equal(ts: I64, rows: I64) -> I64:
    """Map each row to the first row holding the same timestamp (rows must be valid indices)."""
    return np.searchsorted(ts, ts[rows], side="left").astype(np.int64)


def _tick_counts(ts: I64, ticks: I64, step_ms: int | None) -> tuple[I64, I64]:
    """Per tick: the number of samples with ``ts < tick`` and with ``ts <= tick`` (``ts`` sorted).

    On a grid clock (ticks ``first + k * step``) each sample's tick position is computed arithmetically and
    counted, O(samples + ticks); otherwise, or when samples far outnumber ticks, by binary search.
    """
    if step_ms is None or len(ticks) == 0 or len(ts) == 0 or len(ts) > 4 * len(ticks):
        return (
            np.searchsorted(ts, ticks, side="left").astype(np.int64),
            np.searchsorted(ts, ticks, side="right").astype(np.int64),
        )
    n_ticks, first = len(ticks), int(ticks[0])
    # ts < first + k * step  <=>  (ts - first) // step + 1 <= k ;  ts <= first + k * step  <=>  ceil(...) <= k
    below = (ts - first) // step_ms + 1
    at_or_below = -((first - ts) // step_ms)
    count_lt = np.bincount(np.clip(below, 0, n_ticks), minlength=n_ticks + 1)[:n_ticks].cumsum()
    count_le = np.bincount(np.clip(at_or_below, 0, n_ticks), minlength=n_ticks + 1)[:n_ticks].cumsum()
    return count_lt.astype(np.int64, copy=False), count_le.astype(np.int64, copy=False)


def _backward_rows(ts: I64, ticks: I64, tolerance: int, count_le: I64) -> I64:
    """Latest row with ``ts <= tick`` and ``tick - ts <= tolerance`` (first of equal ts), else -1.

    ``count_le``: per tick, the number of samples with ``ts <= tick``.
    """
    rows = count_le - 1
    if len(ts) == 0:
        return rows  # all -1
    ok = (rows >= 0) & (ticks - ts[np.maximum(rows, 0)] <= tolerance)
    has_equal_ts = len(ts) > 1 and bool((ts[1:] == ts[:-1]).any())
    if has_equal_ts:
        rows = _first_of_equal(ts, np.maximum(rows, 0))
    return np.where(ok, rows, -1)


def _nearest_rows(ts: I64, ticks: I64, tolerance: int, backward: I64, count_lt: I64) -> I64:
    """Closest row within tolerance, ties to the earlier sample (first of equal ts), else -1.

    ``count_lt``: per tick, the number of samples with ``ts < tick`` (the first row with ``ts >= tick``,
    which is the first row of its timestamp).
    """
    if len(ts) == 0:
        return backward.copy()
    after = count_lt
    after_dist = ts[np.minimum(after, len(ts) - 1)] - ticks
    before_dist = ticks - ts[np.maximum(backward, 0)]
    use_after = (after < len(ts)) & (after_dist <= tolerance) & ((backward < 0) | (after_dist < before_dist))
    return np.where(use_after, after, backward)


def align(
    tables: Mapping[str, pa.Table | pd.DataFrame],
    *,
    signals: Sequence[SignalSpec],
    align: AlignConfig,
    robot_id: str,
    start: int,
    end: int,
) -> Aligned:
    """Join every sampled signal of one robot onto the clock of ``[start, end)``.

    Args:
        tables: extracted tables by signal name (``ts`` plus fields); a missing signal matches nothing.
            Pass samples covering ``[start - halo, end + max tolerance)`` when partitioning.
        signals: the signal registry (``config.signals``): the sampled signals, their tolerances and
            directions.
        align: the ``align`` section (the clock).
        robot_id: the robot the tables belong to.
        start: first instant of the span (epoch ms, inclusive).
        end: end of the span (epoch ms, exclusive).

    Returns:
        The ticks and, per sampled signal, its samples and each tick's matched row.
    """
    sampled = sampled_signals(signals)
    columns = {
        spec.name: signal_columns(tables[spec.name], spec)
        if spec.name in tables
        else (
            np.empty(0, dtype=np.int64),
            {f: np.empty(0, dtype=object if f in spec.categorical else np.float64) for f in spec.fields},
        )
        for spec in sampled
    }
    anchor = columns[align.clock][0] if align.clock != "grid" else None
    ticks = clock_ticks(align, start, end, anchor)
    matched: dict[str, AlignedSignal] = {}
    step = align.step_ms if align.clock == "grid" else None
    for spec in sampled:
        ts, values = columns[spec.name]
        count_lt, count_le = _tick_counts(ts, ticks, step)
        backward = _backward_rows(ts, ticks, spec.tolerance_ms, count_le)
        match = (
            backward
            if spec.direction == "backward"
            else _nearest_rows(ts, ticks, spec.tolerance_ms, backward, count_lt)
        )
        matched[spec.name] = AlignedSignal(spec, ts, values, match, backward)
    return Aligned(robot_id, ticks, step, matched)
