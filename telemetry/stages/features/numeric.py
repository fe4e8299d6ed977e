"""Numeric window statistics and baseline z-scores (see docs/time-semantics.md, section 3).

Per numeric field and window ``[c - W, c)``: mean, std (population), min, max, last, slope (least squares
against time, per second), count and coverage of the ticks' values. Per numeric field, window and baseline
``B`` (``features.baseline_s``): ``z = (mean over the window - mean over [c - B, c)) / std over [c - B, c)``,
the baseline's ticks taking their values under the same cutoff rule as any window's.

Window sums come from prefix sums restarted every segment (:mod:`.windows`), with values centred on their
segment's first value (:func:`centred_segments`) and each core re-centred on one reference per window
(:func:`centred_core`): sums of squares stay well conditioned, and no value from after a cutoff enters a
window's arithmetic, not even through rounding. Where the rounding of the sums could still reach a window's
own spread, the statistics are recomputed from the window's values (:meth:`NumericTicks.exact_moments`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from telemetry._types import F64, I64, Bools
from telemetry.stages.align import AlignedSignal
from telemetry.stages.features.windows import (
    SegmentPlan,
    SignalTicks,
    SignalWindows,
    head_and_tail,
    row_prefix_sums,
)

__all__ = [
    "BaselineTicks",
    "NumericTicks",
    "column_sums",
    "z_scores",
]


# ----------------------------------------------------------------------------------- centring in segments


def segment_blocks(n_ticks: int, length: int) -> tuple[F64, F64]:
    """A ``(segments, length)`` matrix for per-tick values, the padding after the last tick null, and a
    flat view of its first ``n_ticks`` slots (to be filled with the ticks' values)."""
    n_segments = -(-n_ticks // length)
    padded = np.empty(n_segments * length)
    padded[n_ticks:] = np.nan
    return padded.reshape(n_segments, length), padded[:n_ticks]


@dataclass(frozen=True, slots=True)
class CentredSegments:
    """Per-tick values in segments (one row each), centred on their segment's first value."""

    valid: Bools
    """Whether each slot holds a value."""
    reference: F64
    """Per segment: its first value (0 when it holds none)."""
    centred: F64
    """Each value minus its segment's reference, 0 where null."""


def centred_segments(blocks: F64) -> CentredSegments:
    """Values centred on their segment's first value: sums of squares stay well conditioned, the reference
    precedes every window core that uses it (no information from after a cutoff, not even in rounding), and
    it depends only on the segment's ticks, never on how much halo data was passed, so results stay
    bit-identical whatever the partitioning; outliers are handled by the exact fallback."""
    valid = ~np.isnan(blocks)
    first = np.argmax(valid, axis=1)
    reference = np.where(valid.any(axis=1), blocks[np.arange(len(blocks)), first], 0.0)
    centred = blocks - reference[:, None]
    np.copyto(centred, 0.0, where=~valid)
    return CentredSegments(valid, reference, centred)


@dataclass(frozen=True, slots=True)
class CentredCore:
    """Value sums over the head and the tail of each window core (:class:`.windows.SegmentPlan`), both
    re-centred on the window's reference value."""

    head: dict[str, F64]
    tail: dict[str, F64]
    head_shift: F64
    """Per cutoff: the head segment's reference minus the window's (0 when the head holds no value)."""
    tail_shift: F64
    reference: F64
    """Per cutoff: the window's reference value."""
    magnitude: F64
    """What the sums of squares were differenced from (bounds their rounding)."""


def centred_core(
    prefix: dict[str, F64],
    segment_reference: F64,
    length: int,
    plan: SegmentPlan,
    counts: tuple[F64, F64],
    edge_reference: F64,
) -> CentredCore:
    """The sums ``prefix`` (``sx``, ``sxx`` and any other value sums, prefix sums of centred values restarted
    every ``length`` ticks) over the head and tail of each core, re-centred on one reference per window.

    The reference is the first value of the segment holding the core's first value (it precedes that
    value), else ``edge_reference`` (a value of the window's edge): never a value from after the cutoff.
    ``counts``: the number of values in the head and in the tail. Sums other than ``sx`` and ``sxx`` are
    left to the caller to re-centre (with the shifts returned).
    """
    head: dict[str, F64] = {}
    tail: dict[str, F64] = {}
    for key, sums in prefix.items():
        head[key], tail[key] = head_and_tail(sums, plan)
    head_n, tail_n = counts
    head_ref, tail_ref = segment_reference[plan.first // length], segment_reference[plan.last // length]
    reference = np.where(head_n > 0, head_ref, np.where(tail_n > 0, tail_ref, edge_reference))
    shifts = []
    for part, part_ref, n in ((head, head_ref, head_n), (tail, tail_ref, tail_n)):
        shift = np.where(n > 0, part_ref - reference, 0.0)  # re-centre each part on the window reference
        part["sxx"] = part["sxx"] + 2 * shift * part["sx"] + shift * shift * n
        part["sx"] = part["sx"] + shift * n
        shifts.append(shift)
    magnitude = (
        prefix["sxx"][plan.head_end]
        + np.where(plan.one_segment, 0.0, prefix["sxx"][plan.last])
        + np.abs(tail["sxx"])
    )
    return CentredCore(head, tail, shifts[0], shifts[1], reference, magnitude)


# ------------------------------------------------------------------------------------------ small kernels


def _first_edge_value(edge_x: F64, edge_valid: Bools) -> F64:
    """Per row of an edge matrix: its first valid value (0 when none), a reference from before the cutoff."""
    if edge_x.shape[1] == 0:
        return np.zeros(len(edge_x))
    first: F64 = np.where(
        edge_valid.any(axis=1), edge_x[np.arange(len(edge_x)), np.argmax(edge_valid, axis=1)], 0.0
    )
    return first


def _last_in_range(x: F64, last_valid: I64, a: I64, b: I64) -> F64:
    """Value at the latest tick in ``[a, b)`` with a value (NaN when none)."""
    out = np.full(len(a), np.nan)
    if len(x) == 0:
        return out
    j = last_valid[np.clip(b - 1, 0, len(x) - 1)]
    ok = (b > a) & (j >= a)
    out[ok] = x[j[ok]]
    return out


def _last_edge(values: npt.NDArray[Any], valid: Bools) -> npt.NDArray[Any]:
    """Per row of an edge matrix: the last valid value (NaN / None when none)."""
    width = values.shape[1]
    out = np.full(values.shape[0], None if values.dtype == object else np.nan, dtype=values.dtype)
    if width == 0:
        return out
    last_col = width - 1 - np.argmax(valid[:, ::-1], axis=1)
    ok = valid.any(axis=1)
    out[ok] = values[np.flatnonzero(ok), last_col[ok]]
    return out


def column_sums(matrix: F64) -> F64:
    """Sum of each column, added up sequentially from the first row: trailing zero rows never change a
    column's result, whatever the matrix's other columns (NumPy sums a single contiguous column, like any
    contiguous run, pairwise, so that case goes through the sequential ``cumsum``)."""
    single = matrix.shape[1] == 1 and len(matrix) > 1
    sums: F64 = np.cumsum(matrix, axis=0)[-1] if single else matrix.sum(axis=0)
    return sums


def z_scores(window_mean: F64, baseline: dict[str, npt.NDArray[Any]]) -> F64:
    """``(window mean - baseline mean) / baseline std`` per cutoff, from the statistics of the window and
    of the baseline; NaN when the window has no value or the baseline's values are fewer than two or all
    equal (decided exactly: the spread is zero, not merely small), or their std rounds to 0 (underflow)."""
    std = baseline["std"]
    ok = ~np.isnan(window_mean) & baseline["varies"] & (std > 0)
    z: F64 = np.where(ok, (window_mean - baseline["mean"]) / np.where(ok, std, 1.0), np.nan)
    return z


# ------------------------------------------------------------------------------------------ windows


class NumericTicks:
    """Per-tick structures of one numeric field, built once and queried for every window.

    Window sums (count, x, x^2, t, t^2, t*x) come from prefix sums restarted every ``length`` ticks, with
    times relative to each segment's first tick and values centred on a reference value, so rounding never
    accumulates over a day; a core range spans at most two segments and is shifted to the cutoff's time
    origin. Min and max come from the per-interval minima and maxima of :class:`.windows.SignalTicks`
    (``np.fmin``/``np.fmax`` ignore nulls).
    """

    _SUMS = ("n", "sx", "sxx", "st", "stt", "stx")

    def __init__(self, shared: SignalTicks, signal: AlignedSignal, sample_values: F64) -> None:
        self.shared, self.ticks, self.signal, self.sample_values = shared, shared.ticks, signal, sample_values
        n_ticks, length = len(self.ticks), shared.length
        self.length = length
        blocks, self.x = segment_blocks(n_ticks, length)  # x: each tick's matched value
        shared.matched_into(sample_values, self.x)
        segments = centred_segments(blocks)
        self.segment_reference = segments.reference
        centred = segments.centred
        time_sums = self.time_sums = shared.time_sums(segments.valid)
        squares, times_values = centred * centred, shared.segment_seconds * centred
        self.prefix = {  # inclusive prefix sums restarted every segment (computed in place: centred is done)
            "sx": row_prefix_sums(centred, n_ticks),
            "sxx": row_prefix_sums(squares, n_ticks),
            "stx": row_prefix_sums(times_values, n_ticks),
        }
        self.last_valid: I64 = time_sums.last_valid
        self.mins = shared.interval_table(self.x, np.fmin)
        self.maxs = shared.interval_table(self.x, np.fmax)

    def _core_sums(self, window: SignalWindows, edge_reference: F64) -> tuple[dict[str, F64], F64]:
        """Sums over each window's core ticks, values relative to a window reference (:func:`centred_core`),
        times to the cutoff, and ``magnitude`` (the rounding bound). Returns the sums and the reference."""
        if len(self.ticks) == 0:
            zeros = np.zeros(len(window.cutoffs))
            return {k: zeros.copy() for k in (*self._SUMS, "magnitude")}, edge_reference.copy()
        plan = window.segment_plan(self.length)
        time = self.shared.core_time_sums(self.time_sums, window)
        core = centred_core(
            self.prefix,
            self.segment_reference,
            self.length,
            plan,
            (time.head_n, time.tail_n),
            edge_reference,
        )
        head, tail = core.head, core.tail
        head["stx"] = head["stx"] + core.head_shift * time.head_st
        tail["stx"] = tail["stx"] + core.tail_shift * time.tail_st
        out = {k: head[k] + tail[k] for k in ("sx", "sxx")}
        out["stx"] = (
            head["stx"] + plan.head_offset_s * head["sx"] + tail["stx"] + plan.tail_offset_s * tail["sx"]
        )
        out["magnitude"] = core.magnitude
        empty = plan.empty
        result = {k: np.where(empty, 0.0, v) for k, v in out.items()}
        result.update(n=time.n, st=time.st, stt=time.stt)
        return result, np.where(empty, edge_reference, core.reference)

    def exact_moments(
        self, window: SignalWindows, rows: I64, edge_values: F64, shift: F64
    ) -> tuple[F64, F64, F64]:
        """Variance, least-squares slope (per second) and mean of the windows ``rows``, from their values.

        Sums of ``d = x - shift`` with ``shift`` the window's minimum: every ``|d|`` is at most the window's
        range, and a window's variance is at least range^2 / (2n), so ``sum(d^2)/n - mean(d)^2`` loses at
        most ~2 n^2 eps of the variance to rounding (7e-9 at n = 4,096), within the tolerance of a two-pass
        computation. Times are integer milliseconds from the window's first tick (exact sums).

        Windows are batched by length (bounded temporaries) and laid out one column per window, so every sum
        runs down a column in tick order: a window's result does not depend on the other windows of its
        batch or on their lengths (trailing padding adds exact zeros).
        """
        var, slope, means = np.empty(len(rows)), np.empty(len(rows)), np.empty(len(rows))
        if len(rows) == 0 or len(self.x) == 0:
            var[:], slope[:], means[:] = np.nan, np.nan, np.nan  # no ticks: only edges (never suspect)
            return var, slope, means
        lengths = window.core_end[rows] - window.lo[rows]
        order = np.argsort(lengths, kind="stable")
        cells = np.cumsum(np.maximum(lengths[order], 1))  # batches of about 2**17 matrix cells
        batches = np.split(order, np.flatnonzero(np.diff(cells // (1 << 17))) + 1)
        last_tick = len(self.x) - 1
        for batch in batches:
            part = rows[batch]
            lo, length, batch_shift = window.lo[part], lengths[batch], shift[batch]
            origin = self.ticks[np.minimum(lo, last_tick)]
            step = np.arange(int(length.max(initial=0)))[:, None]
            idx = np.minimum(lo[None, :] + step, last_tick)
            x = self.x[idx]
            valid = (step < length[None, :]) & ~np.isnan(x)
            # one column per window: d = x - shift, k = ms since the window's first tick (0 where no value)
            d = np.where(valid, x - batch_shift, 0.0)
            k = np.where(valid, (self.ticks[idx] - origin).astype(np.float64), 0.0)
            edge_x = np.ascontiguousarray(edge_values[part].T)
            edge_valid = ~np.isnan(edge_x)
            edge_d = np.where(edge_valid, edge_x - batch_shift, 0.0)
            edge_ms = np.rint(window.edge_time_s[part].T * 1000.0) + (window.cutoffs[part] - origin)
            edge_k = np.where(edge_valid, edge_ms, 0.0)
            n = valid.sum(axis=0) + edge_valid.sum(axis=0)  # counts: exact
            sd = column_sums(d) + column_sums(edge_d)
            sdd = column_sums(d * d) + column_sums(edge_d * edge_d)
            sk = column_sums(k) + column_sums(edge_k)
            skk = column_sums(k * k) + column_sums(edge_k * edge_k)
            skd = column_sums(k * d) + column_sums(edge_k * edge_d)
            mean_d = sd / n
            var[batch] = np.maximum(sdd / n - mean_d * mean_d, 0.0)
            means[batch] = batch_shift + mean_d
            stt = skk - sk * sk / n  # ms^2
            ok = (n >= 2) & (stt > 0)
            slope[batch] = np.where(ok, 1000.0 * (skd - sk * sd / n) / np.where(ok, stt, 1.0), np.nan)
        return var, slope, means

    def stats(self, window: SignalWindows) -> dict[str, npt.NDArray[Any]]:
        """The numeric statistics of every cutoff's window."""
        edge_x = window.edge_values(self.sample_values)
        edge_valid = ~np.isnan(edge_x)
        edge_reference = _first_edge_value(edge_x, edge_valid)
        core, reference = self._core_sums(window, edge_reference)
        # the edge's values relative to the window reference and times relative to the cutoff (0 where null)
        edge_centred = np.where(edge_valid, edge_x - reference[:, None], 0.0)
        edge_t = np.where(edge_valid, window.edge_time_s, 0.0)
        n = core["n"] + edge_valid.sum(axis=1)
        sx = core["sx"] + edge_centred.sum(axis=1)
        sxx = core["sxx"] + (edge_centred * edge_centred).sum(axis=1)
        st = core["st"] + edge_t.sum(axis=1)
        stt = core["stt"] + (edge_t * edge_t).sum(axis=1)
        stx = core["stx"] + (edge_t * edge_centred).sum(axis=1)
        has = n > 0
        safe_n = np.where(has, n, 1.0)
        centred_mean = sx / safe_n
        var = np.maximum(sxx / safe_n - centred_mean * centred_mean, 0.0)
        time_spread = n * stt - st * st
        slope_ok = (n >= 2) & (time_spread > 0)
        slope = np.where(slope_ok, (n * stx - st * sx) / np.where(slope_ok, time_spread, 1.0), np.nan)
        lo, core_end = window.lo, window.core_end
        edge_min = np.min(np.where(edge_valid, edge_x, np.inf), axis=1, initial=np.inf)
        edge_max = np.max(np.where(edge_valid, edge_x, -np.inf), axis=1, initial=-np.inf)
        n_rows = len(window.cutoffs)
        lows = np.fmin(self.shared.query(self.mins, window.window_s, np.fmin, n_rows), edge_min)
        highs = np.fmax(self.shared.query(self.maxs, window.window_s, np.fmax, n_rows), edge_max)
        mean = np.where(has, reference + centred_mean, np.nan)
        # A constant window (min == max, exact) has that value as its mean, no spread and a zero slope.
        constant = has & (lows == highs)
        mean[constant], var[constant] = lows[constant], 0.0
        slope[constant & slope_ok] = 0.0
        # Single-pass sums lose what lies below ~1e-16 of the running totals they are differenced from.
        # Where that rounding could reach 1e-9 of the window's own spread (near-constant windows, or a huge
        # value earlier in the segment), mean, variance and slope are recomputed from the window's values.
        magnitude = core.pop("magnitude") + (edge_centred * edge_centred).sum(axis=1)
        eps = np.finfo(np.float64).eps
        rounding = 8 * eps * magnitude
        rounding_sum = 8 * eps * np.sqrt(self.length * magnitude)  # bounds the rounding of the value sum
        suspect = np.flatnonzero(
            has & ~constant & ((rounding >= 1e-9 * n * var) | (rounding_sum >= 1e-10 * safe_n))
        )
        if len(suspect):
            var[suspect], slope[suspect], mean[suspect] = self.exact_moments(
                window, suspect, edge_x, lows[suspect]
            )
        last = _last_edge(edge_x, edge_valid)
        core_last = _last_in_range(self.x, self.last_valid, lo, core_end)
        last = np.where(np.isnan(last), core_last, last)
        count = n.astype(np.int64)
        return {
            "mean": mean,
            "std": np.where(has, np.sqrt(var), np.nan),
            "min": np.where(has, lows, np.nan),
            "max": np.where(has, highs, np.nan),
            "last": np.where(has, last, np.nan),
            "slope": slope,
            "count": count,
            "coverage": np.where(
                window.ticks_in_window > 0, count / np.maximum(window.ticks_in_window, 1), 0.0
            ),
        }


# ------------------------------------------------------------------------------------------ baselines


class BaselineTicks:
    """Per-tick structures of one numeric field for its baseline ``[c - B, c)``, built once per field.

    - count, value and squared-value prefix sums restarted every ``length`` ticks, values centred on their
      segment's first value, as in :class:`NumericTicks`, but in the baseline's own segments: a power of two
      above its core, so a core spans at most two segments (the windows keep their shorter segments, and the
      precision that goes with them);
    - per tick, whether its value differs from the previous value (prefix counts): whether a baseline's
      values are all equal (it then has no z) is decided exactly, without min and max.
    """

    def __init__(self, numeric: NumericTicks, length: int) -> None:
        self.numeric, self.length = numeric, length
        x, n_ticks = numeric.x, len(numeric.x)
        blocks, values = segment_blocks(n_ticks, length)
        values[:] = x
        segments = centred_segments(blocks)
        self.segment_reference = segments.reference
        centred = segments.centred
        squares = centred * centred
        self.prefix_n = row_prefix_sums(segments.valid.astype(np.float64), n_ticks)
        self.prefix = {"sx": row_prefix_sums(centred, n_ticks), "sxx": row_prefix_sums(squares, n_ticks)}
        valid = ~np.isnan(x)
        previous = np.concatenate(([-1], numeric.last_valid[:-1])) if n_ticks else np.empty(0, dtype=np.int64)
        self.changed = valid & (previous >= 0) & (x != x[np.maximum(previous, 0)])
        self.changes_cum = np.concatenate(([0], np.cumsum(self.changed)))
        self.next_valid = (
            np.minimum.accumulate(np.where(valid, np.arange(n_ticks), n_ticks)[::-1])[::-1]
            if n_ticks
            else np.empty(0, dtype=np.int64)
        )

    def _core_sums(self, window: SignalWindows, edge_reference: F64) -> tuple[dict[str, F64], F64]:
        """Count, sum and sum of squares over each baseline's core ticks, values relative to a reference
        (:func:`centred_core`), and ``magnitude``, what the sums were differenced from (rounding bound).
        Returns the sums and the reference."""
        if len(self.numeric.x) == 0:
            zeros = np.zeros(len(window.cutoffs))
            return {"n": zeros, "sx": zeros, "sxx": zeros, "magnitude": zeros}, edge_reference.copy()
        plan = window.segment_plan(self.length)
        head_n, tail_n = head_and_tail(self.prefix_n, plan)
        core = centred_core(
            self.prefix, self.segment_reference, self.length, plan, (head_n, tail_n), edge_reference
        )
        out = {"n": head_n + tail_n, **{k: core.head[k] + core.tail[k] for k in ("sx", "sxx")}}
        out["magnitude"] = core.magnitude
        empty = plan.empty
        return {k: np.where(empty, 0.0, v) for k, v in out.items()}, np.where(
            empty, edge_reference, core.reference
        )

    def _varies(self, window: SignalWindows, edge_x: F64, edge_valid: Bools) -> tuple[Bools, F64]:
        """Per cutoff: whether the baseline holds two different values (exact), and its core's last value
        (NaN when none). Changes are counted between consecutive values, skipping ticks without one; the
        core's first value has no predecessor in the baseline."""
        x, n_ticks, lo, core_end = self.numeric.x, len(self.numeric.x), window.lo, window.core_end
        changes = np.zeros(len(window.cutoffs), dtype=np.int64)
        if n_ticks:
            changes = np.where(
                core_end > lo, self.changes_cum[core_end] - self.changes_cum[np.minimum(lo, n_ticks)], 0
            )
            first = self.next_valid[np.clip(lo, 0, n_ticks - 1)]
            has_first = (core_end > lo) & (first < core_end)
            changes = changes - np.where(has_first, self.changed[np.minimum(first, n_ticks - 1)], 0)
        core_last = _last_in_range(x, self.numeric.last_valid, lo, core_end)
        running = core_last
        for col in range(edge_x.shape[1]):
            value, ok = edge_x[:, col], edge_valid[:, col]
            changes = changes + (ok & ~np.isnan(running) & (value != running))
            running = np.where(ok, value, running)
        return changes > 0, core_last

    def moments(self, window: SignalWindows) -> dict[str, npt.NDArray[Any]]:
        """``mean``, ``std`` (population) and ``varies`` (two different values) over each cutoff's baseline:
        the window ``[c - B, c)``, its ticks under the cutoff rule like any window's. Mean and std are NaN
        when it holds no value. Where the rounding of the sums could reach 1e-9 of the spread or 1e-10 of
        the mean (the bound of :meth:`NumericTicks.stats`), they are recomputed from the values, shifted by
        one of them (every shifted value is then at most the range)."""
        edge_x = window.edge_values(self.numeric.sample_values)
        edge_valid = ~np.isnan(edge_x)
        edge_reference = _first_edge_value(edge_x, edge_valid)
        core, reference = self._core_sums(window, edge_reference)
        edge_centred = np.where(edge_valid, edge_x - reference[:, None], 0.0)
        n = core["n"] + edge_valid.sum(axis=1)
        sx = core["sx"] + edge_centred.sum(axis=1)
        sxx = core["sxx"] + (edge_centred * edge_centred).sum(axis=1)
        has = n > 0
        safe_n = np.where(has, n, 1.0)
        centred_mean = sx / safe_n
        var = np.maximum(sxx / safe_n - centred_mean * centred_mean, 0.0)
        mean = np.where(has, reference + centred_mean, np.nan)
        varies, core_last = self._varies(window, edge_x, edge_valid)
        constant = has & ~varies  # exact: that value, no spread
        value = np.where(np.isnan(core_last), edge_reference, core_last)  # a value of the baseline
        mean[constant], var[constant] = value[constant], 0.0
        magnitude = core["magnitude"] + (edge_centred * edge_centred).sum(axis=1)
        eps = np.finfo(np.float64).eps
        rounding = 8 * eps * magnitude
        rounding_sum = 8 * eps * np.sqrt(self.length * magnitude)
        suspect = np.flatnonzero(varies & ((rounding >= 1e-9 * n * var) | (rounding_sum >= 1e-10 * safe_n)))
        if len(suspect):
            var[suspect], _, mean[suspect] = self.numeric.exact_moments(
                window, suspect, edge_x, value[suspect]
            )
        return {"mean": mean, "std": np.where(has, np.sqrt(var), np.nan), "varies": varies}
