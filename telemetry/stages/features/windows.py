"""Window bounds and tick machinery shared by the feature kernels (see docs/time-semantics.md, section 3).

The window of cutoff ``c`` and length ``W`` is the clock ticks ``t`` with ``c - W <= t < c``, ticks
``[lo, hi)`` of the clock. A tick's value may only come from a sample with ``ts < c``; for ``nearest`` signals
only ticks within the tolerance of the cutoff can have matched a sample at or after it. A window is therefore
split into a **core** ``[lo, core_end)`` (ticks before ``c - tolerance``: their matches are all before ``c``),
summed from per-tick prefix sums, and an **edge** ``[core_end, hi)`` (at most a few ticks), gathered into a
small matrix where a match at or after ``c`` is replaced by the tick's backward match.

Prefix sums restart every *segment* of ``length`` ticks, so that rounding never accumulates over a day; a
core spans at most two segments (:class:`SegmentPlan`).
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from telemetry._types import F64, I64, Bools
from telemetry.stages.align import Aligned, AlignedSignal

__all__ = [
    "CoreTimeSums",
    "SegmentPlan",
    "SignalTicks",
    "SignalWindows",
    "TimeSums",
    "head_and_tail",
    "last_valid_index",
    "row_prefix_sums",
    "segment_length",
    "window_tick_ranges",
]


def window_tick_ranges(ticks: I64, cutoffs: I64, spans_s: Collection[int]) -> dict[int, tuple[I64, I64]]:
    """Per span ``W`` (seconds): the tick range ``[lo, hi)`` of ``[c - W, c)`` for every cutoff ``c``."""
    return {
        w: (
            np.searchsorted(ticks, cutoffs - w * 1000, side="left").astype(np.int64),
            np.searchsorted(ticks, cutoffs, side="left").astype(np.int64),
        )
        for w in spans_s
    }


@dataclass(frozen=True, slots=True)
class SegmentPlan:
    """Where each window's core lies in segments of ``length`` ticks.

    A core spans at most two segments: its **head** runs from its first tick to the end of that tick's
    segment (or to its last tick, when both share a segment), its **tail** from the first tick of its last
    tick's segment to its last tick (nothing when the core lies in one segment). A sum over the core is the
    head's (a difference of two prefix sums) plus the tail's (one prefix sum).
    """

    first: I64
    """The core's first tick (clipped to the clock)."""
    before_first: I64
    """The tick before it (0 at the clock's start); unused where ``first_starts_segment``."""
    first_starts_segment: Bools
    last: I64
    """The core's last tick (clipped to the clock)."""
    head_end: I64
    """The head's last tick."""
    one_segment: Bools
    """The core lies in one segment (no tail)."""
    empty: Bools
    """The core holds no tick."""
    head_offset_s: F64
    """Seconds from the cutoff to the first tick of the head's segment (times are relative to it)."""
    tail_offset_s: F64
    """Seconds from the cutoff to the first tick of the tail's segment."""


def head_and_tail(prefix: F64, plan: SegmentPlan) -> tuple[F64, F64]:
    """Sums of a per-tick quantity over the head and the tail of each core, from its prefix sums
    (restarted every segment)."""
    head = prefix[plan.head_end] - np.where(plan.first_starts_segment, 0.0, prefix[plan.before_first])
    tail = np.where(plan.one_segment, 0.0, prefix[plan.last])
    return head, tail


class SignalWindows:
    """Tick ranges of one signal and one window length for many cutoffs, split into a core and an edge.

    The window of cutoff ``c`` is ticks ``[lo, hi)``. Ticks before ``c - tolerance`` (the core,
    ``[lo, core_end)``) can only have matched samples with ``ts < c``; the remaining ticks (the edge,
    ``[core_end, hi)``, at most a few) are gathered into a small matrix (cutoffs x edge width) where a match
    at or after ``c`` is replaced by the backward match.
    """

    def __init__(
        self, ticks: I64, signal: AlignedSignal, cutoffs: I64, window_s: int, lo: I64, hi: I64
    ) -> None:
        self.ticks, self.signal, self.cutoffs, self.lo, self.hi = ticks, signal, cutoffs, lo, hi
        self.window_s = window_s
        tolerance = signal.spec.tolerance_ms if signal.spec.direction == "nearest" else 0
        edge_start = np.searchsorted(ticks, cutoffs - tolerance, side="left").astype(np.int64)
        self.core_end = np.clip(edge_start, lo, hi)
        width = int((hi - self.core_end).max(initial=0))
        self.edge_idx = self.core_end[:, None] + np.arange(width, dtype=np.int64)[None, :]
        self.edge_in = self.edge_idx < hi[:, None]
        safe = np.where(self.edge_in, self.edge_idx, 0)
        rows = signal.match[safe] if len(ticks) else np.full(safe.shape, -1, dtype=np.int64)
        if width and len(signal.ts):
            late = (rows >= 0) & (signal.ts[np.maximum(rows, 0)] >= cutoffs[:, None])
            rows = np.where(late, signal.backward[safe], rows)
        # per cutoff and edge tick: the sample row it takes under the cutoff rule (-1 when none), and the
        # tick's time relative to the cutoff in seconds
        self.edge_rows = np.where(self.edge_in, rows, -1)
        self.edge_time_s = (
            np.where(self.edge_in, ticks[safe] if len(ticks) else 0, 0) - cutoffs[:, None]
        ) / 1000.0
        self.ticks_in_window = hi - lo
        self._plans: dict[int, SegmentPlan] = {}

    def segment_plan(self, length: int) -> SegmentPlan:
        """Where each core lies in segments of ``length`` ticks (cached per length)."""
        if length not in self._plans:
            ticks, core_start, core_end, cutoffs = self.ticks, self.lo, self.core_end, self.cutoffs
            n_ticks = len(ticks)
            first = np.minimum(core_start, n_ticks - 1)
            last = np.clip(core_end - 1, 0, n_ticks - 1)
            first_segment, last_segment = first // length, last // length
            one_segment = first_segment == last_segment
            self._plans[length] = SegmentPlan(
                first=first,
                before_first=np.maximum(first - 1, 0),
                first_starts_segment=first % length == 0,
                last=last,
                head_end=np.where(one_segment, last, (first_segment + 1) * length - 1),
                one_segment=one_segment,
                empty=core_end <= core_start,
                head_offset_s=(ticks[first_segment * length] - cutoffs) / 1000.0,
                tail_offset_s=(ticks[last_segment * length] - cutoffs) / 1000.0,
            )
        return self._plans[length]

    def edge_values(self, values: npt.NDArray[Any]) -> npt.NDArray[Any]:
        """Edge matrix of values (cutoffs x width), null where no (allowed) match or outside the window."""
        return self.signal.matched_values(values, self.edge_rows)


def segment_length(aligned: Aligned, windows: dict[int, SignalWindows]) -> int:
    """Ticks per prefix-sum segment: a power of two above the longest core of ``windows`` (so a core spans at
    most two segments), at least 512 ticks on a grid clock (from the configuration alone) and 4,096 on an
    anchor clock (where the longest core comes from the data, so the length only varies for very long
    windows). The baseline has segments of its own (``numeric.BaselineTicks``): longer segments would cost
    the short windows precision."""
    if aligned.step_ms is not None:
        longest_core = -(-max(windows) * 1000 // aligned.step_ms) + 2
        floor = 512
    else:
        longest_core = max(int((win.core_end - win.lo).max(initial=0)) for win in windows.values())
        floor = 4096
    return max(floor, 1 << int(np.ceil(np.log2(longest_core + 1))))


def row_prefix_sums(blocks: F64, n: int) -> F64:
    """Inclusive prefix sums along each row of ``blocks`` (one segment per row: restarted every segment,
    so rounding stays bounded over long days), computed in place; returns the first ``n`` as a flat view."""
    np.cumsum(blocks, axis=1, out=blocks)
    return blocks.reshape(-1)[:n]


def last_valid_index(valid: Bools) -> I64:
    """Per tick: index of the latest tick <= it with a value, -1 when none."""
    if len(valid) == 0:
        return np.empty(0, dtype=np.int64)
    return np.maximum.accumulate(np.where(valid, np.arange(len(valid)), -1))


def _sparse_table(x: F64, longest: int, reduce: np.ufunc) -> list[F64]:
    """Level ``k`` holds ``reduce`` over ``x[i : i + 2**k]`` (for ranges up to ``longest``)."""
    levels = [x]
    while (1 << len(levels)) <= longest:
        prev, half = levels[-1], 1 << (len(levels) - 1)
        levels.append(reduce(prev[:-half], prev[half:]) if len(prev) > half else prev[:0])
    return levels


@dataclass(frozen=True, slots=True)
class TimeSums:
    """Prefix sums (restarted every segment) of count, t and t^2 over the valid ticks of one validity mask,
    and the latest valid tick at or before each tick."""

    n: F64
    st: F64
    stt: F64
    last_valid: I64


@dataclass(frozen=True, slots=True)
class CoreTimeSums:
    """The value-independent part of the core sums of one window for one validity mask: counts and t of the
    head and tail (t relative to their segment's first tick), and count, t and t^2 over the core with times
    relative to the cutoff (0 for empty cores)."""

    head_n: F64
    tail_n: F64
    head_st: F64
    tail_st: F64
    n: F64
    st: F64
    stt: F64


class SignalTicks:
    """Per-signal structures shared by its numeric fields.

    - times (``segment_seconds``): per tick, seconds since its segment's first tick, one row per segment of
      ``length`` ticks (the padding after the last tick 0);
    - time sums (count, t, t^2 prefix sums) and the latest valid tick, per distinct validity mask (the
      fields of one signal are usually null together);
    - the elementary intervals of every window core: the sorted distinct core bounds ``lo`` and ``core_end``
      of all windows cut the ticks into intervals, each core is a run of whole intervals, so min and max of a
      core are a range query over per-interval minima (a small sparse table) instead of over ticks.
    """

    def __init__(
        self, ticks: I64, signal: AlignedSignal, windows: dict[int, SignalWindows], length: int
    ) -> None:
        self.ticks, self.length = ticks, length
        n_ticks = len(ticks)
        segment_first = (np.arange(n_ticks) // length) * length
        seconds = (ticks - ticks[segment_first]) / 1000.0 if n_ticks else np.zeros(0)
        self.segment_seconds = np.concatenate([seconds, np.zeros((-n_ticks) % length)]).reshape(-1, length)
        self.matched_rows, self.unmatched = np.maximum(signal.match, 0), signal.match < 0
        self._time_sums: list[tuple[Bools, TimeSums]] = []
        self._core_time: dict[tuple[int, int], CoreTimeSums] = {}
        is_bound = np.zeros(n_ticks + 1, dtype=bool)
        for win in windows.values():
            is_bound[win.lo] = True
            is_bound[win.core_end] = True
        self.bounds = np.flatnonzero(is_bound[:n_ticks])
        self.queries: dict[int, list[tuple[int, I64, I64, I64]]] = {}
        self.longest_run = 1
        for w, win in windows.items():  # core [lo, core_end) = intervals [first_interval, end_interval)
            first_interval = np.searchsorted(self.bounds, win.lo).astype(np.int64)
            end_interval = np.searchsorted(self.bounds, win.core_end).astype(np.int64)
            runs = end_interval - first_interval
            nonempty = runs > 0
            level = np.zeros(len(runs), dtype=np.int64)
            level[nonempty] = np.floor(np.log2(runs[nonempty])).astype(np.int64)
            self.queries[w] = [
                (int(k), sel, first_interval[sel], end_interval[sel] - (1 << int(k)))
                for k in np.unique(level[nonempty])
                for sel in [np.flatnonzero(nonempty & (level == k))]
            ]
            self.longest_run = max(self.longest_run, int(runs.max(initial=1)))

    def matched_into(self, sample_values: F64, out: F64) -> None:
        """Per tick: the value of its match (NaN when none), written into ``out`` (one slot per tick)."""
        if len(sample_values) == 0:
            out[:] = np.nan
            return
        np.take(sample_values, self.matched_rows, out=out, mode="clip")  # rows are valid: no buffering
        out[self.unmatched] = np.nan

    def time_sums(self, valid_blocks: Bools) -> TimeSums:
        """Prefix sums (restarted every segment) of count, t and t^2 over valid ticks, and the latest
        valid tick at or before each tick; computed once per distinct validity mask.

        ``valid_blocks``: the mask in segments of ``length`` ticks (shape ``(segments, length)``), the padding
        after the last tick False."""
        for mask, sums in self._time_sums:
            if np.array_equal(mask, valid_blocks):
                return sums
        n_ticks = len(self.ticks)
        weight = valid_blocks.astype(np.float64)
        weighted_t = weight * self.segment_seconds
        weighted_tt = weighted_t * self.segment_seconds
        sums = TimeSums(
            n=row_prefix_sums(weight, n_ticks),
            st=row_prefix_sums(weighted_t, n_ticks),
            stt=row_prefix_sums(weighted_tt, n_ticks),
            last_valid=last_valid_index(valid_blocks.reshape(-1)[:n_ticks]),
        )
        self._time_sums.append((valid_blocks, sums))
        return sums

    def core_time_sums(self, sums: TimeSums, window: SignalWindows) -> CoreTimeSums:
        """The value-independent part of the core sums of one window for one validity mask (cached)."""
        key = (id(sums), window.window_s)
        if key not in self._core_time:
            plan = window.segment_plan(self.length)
            head_n, tail_n = head_and_tail(sums.n, plan)
            head_st, tail_st = head_and_tail(sums.st, plan)
            head_stt, tail_stt = head_and_tail(sums.stt, plan)
            head_offset, tail_offset = plan.head_offset_s, plan.tail_offset_s
            st = head_st + head_offset * head_n + tail_st + tail_offset * tail_n
            stt = (
                head_stt
                + 2 * head_offset * head_st
                + head_offset * head_offset * head_n
                + tail_stt
                + 2 * tail_offset * tail_st
                + tail_offset * tail_offset * tail_n
            )
            empty = plan.empty
            self._core_time[key] = CoreTimeSums(
                head_n=head_n,
                tail_n=tail_n,
                head_st=head_st,
                tail_st=tail_st,
                n=np.where(empty, 0.0, head_n + tail_n),
                st=np.where(empty, 0.0, st),
                stt=np.where(empty, 0.0, stt),
            )
        return self._core_time[key]

    def interval_table(self, x: F64, reduce: np.ufunc) -> list[F64]:
        """Sparse table of ``reduce`` (``np.fmin``/``np.fmax``, nulls ignored) over the intervals."""
        if len(self.bounds) == 0:
            return [np.zeros(0)]
        return _sparse_table(reduce.reduceat(x, self.bounds), self.longest_run, reduce)

    def query(self, table: list[F64], window_s: int, reduce: np.ufunc, n_rows: int) -> F64:
        """``reduce`` over each core of window ``window_s`` (NaN when empty or all null)."""
        out = np.full(n_rows, np.nan)
        for level, sel, first, second in self.queries[window_s]:
            out[sel] = reduce(table[level][first], table[level][second])
        return out
