"""Lookback-window features (see docs/time-semantics.md, section 3).

For every example cutoff ``c`` and window length ``W``, features summarise the clock ticks ``t`` with
``c - W <= t < c``. A tick's value may only come from a sample with ``ts < c``: for ``nearest`` signals a
tick whose nearest sample is at or after ``c`` takes its backward match instead (only ticks within the
tolerance of the cutoff can be affected). Events count when ``c - W <= ts < c``.

Deviation from the robot's own baseline (``features.baseline_s`` = ``B``, 0 turns it off): per numeric field
and window, ``z = (mean over the window - mean over [c - B, c)) / std over [c - B, c)``, the baseline's ticks
taking their values under the same cutoff rule; named ``<signal>.<field>__z:b<B>s__w<W>s``.

Column names: ``<signal>.<field>__<stat>__w<W>s``, with ``<stat>:<level>`` where a level applies.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
import pyarrow as pa

from telemetry.config import TelemetryConfig
from telemetry.stages.align import Aligned, AlignedSignal
from telemetry.stages.history import history_feature_names
from telemetry.stages.units import unit_feature_fields

__all__ = [
    "BASELINE_STAT",
    "CATEGORICAL_STATS",
    "EXAMPLE_COLUMNS",
    "NUMERIC_STATS",
    "FeatureName",
    "baseline_level",
    "build_features",
    "feature_names",
    "feature_table_schema",
    "parse_feature_name",
]

NUMERIC_STATS = ("mean", "std", "min", "max", "last", "slope", "count", "coverage")
BASELINE_STAT = "z"  # level b<B>s: the window mean's z-score against the trailing baseline of B seconds
CATEGORICAL_STATS = ("last", "changes")  # plus seconds:<level> for configured levels
EXAMPLE_COLUMNS = ("robot_id", "cutoff", "label", "failure_code", "time_to_failure_s", "weight")

_NAME_RE = re.compile(
    r"^(?P<signal>[a-z][a-z0-9_]*)\.(?P<field>[a-z][a-z0-9_]*)__(?P<stat>[a-z_]+)(?::(?P<level>[A-Za-z0-9_.-]+))?"
    r"__w(?P<window>[1-9][0-9]*)s$"
)


@dataclass(frozen=True, slots=True)
class FeatureName:
    """A parsed feature column name."""

    signal: str
    field: str
    stat: str
    level: str | None
    window_s: int

    def __str__(self) -> str:
        stat = self.stat if self.level is None else f"{self.stat}:{self.level}"
        return f"{self.signal}.{self.field}__{stat}__w{self.window_s}s"

    @property
    def baseline_s(self) -> int | None:
        """The baseline length ``B`` of a ``z:b<B>s`` feature (None for every other feature)."""
        if self.stat != BASELINE_STAT or self.level is None:
            return None
        m = _BASELINE_LEVEL_RE.match(self.level)
        return None if m is None else int(m["baseline"])


_BASELINE_LEVEL_RE = re.compile(r"^b(?P<baseline>[1-9][0-9]*)s$")


def baseline_level(baseline_s: int) -> str:
    """The level of the z features against a baseline of ``baseline_s`` seconds: ``b<B>s``."""
    return f"b{baseline_s}s"


def parse_feature_name(name: str) -> FeatureName:
    """Parse ``<signal>.<field>__<stat>[:<level>]__w<W>s``.

    >>> parse_feature_name("mission.state__seconds:EXECUTING__w42s")
    FeatureName(signal='mission', field='state', stat='seconds', level='EXECUTING', window_s=42)
    """
    m = _NAME_RE.match(name)
    if m is None:
        raise ValueError(f"not a feature name: {name!r} (expected <signal>.<field>__<stat>[:<level>]__w<W>s)")
    return FeatureName(m["signal"], m["field"], m["stat"], m["level"], int(m["window"]))


def feature_names(config: TelemetryConfig) -> list[FeatureName]:
    """Every feature column the configuration defines, in table order (independent of the data)."""
    out: list[FeatureName] = []
    levels = config.feature_levels
    baseline_s = config.features.baseline_s
    for window in config.features.windows_s:
        for spec in config.sampled_signals:
            for field in spec.numeric:
                out += [FeatureName(spec.name, field, stat, None, window) for stat in NUMERIC_STATS]
                if baseline_s:
                    out.append(
                        FeatureName(spec.name, field, BASELINE_STAT, baseline_level(baseline_s), window)
                    )
            for field in spec.categorical:
                out += [FeatureName(spec.name, field, stat, None, window) for stat in CATEGORICAL_STATS]
                out += [
                    FeatureName(spec.name, field, "seconds", level, window)
                    for level in levels.get(f"{spec.name}.{field}", ())
                ]
        events = config.events_signal
        if events is not None:
            kinds = config.features.event_kinds
            out += [FeatureName(events.name, "kind", "count", kind, window) for kind in kinds]
            out += [
                FeatureName(events.name, "code", "count", code, window)
                for code in config.features.event_codes
            ]
            out += [FeatureName(events.name, "kind", "since_last", kind, window) for kind in kinds]
    return out


def build_features(
    aligned: Aligned,
    events: pa.Table | pd.DataFrame | None,
    examples: pd.DataFrame,
    config: TelemetryConfig,
) -> pd.DataFrame:
    """The feature table: ``examples`` (its columns first, same row order) plus every feature column.

    Args:
        aligned: the robot's signals on the clock; its ticks must cover ``[cutoff - L, cutoff)`` of every
            example, ``L = features.lookback_ms`` (the longest window or the baseline; ticks outside those
            spans are ignored).
        events: the events signal's extracted table (``ts``, ``kind``, ``code``, ...), or None.
        examples: at least the column ``cutoff`` (epoch ms, int64); other columns are passed through.
        config: windows, levels, event kinds and codes.

    Returns:
        One row per example, columns ``examples.columns`` then ``feature_names(config)`` (as strings).
        Counts are int64, categorical ``last`` values strings (None when null), everything else float64.
    """
    if "cutoff" not in examples.columns:
        raise ValueError(f"examples need a 'cutoff' column (got {list(examples.columns)})")
    cutoffs = examples["cutoff"].to_numpy(dtype=np.int64)
    columns: dict[str, npt.NDArray[Any]] = {}
    levels = config.feature_levels
    window_list, baseline_s = config.features.windows_s, config.features.baseline_s
    spans = (*window_list, baseline_s) if baseline_s and baseline_s not in window_list else window_list
    ranges = {
        w: (
            np.searchsorted(aligned.ticks, cutoffs - w * 1000, side="left").astype(np.int64),
            np.searchsorted(aligned.ticks, cutoffs, side="left").astype(np.int64),
        )
        for w in spans
    }
    for spec in config.sampled_signals:
        signal = aligned.signals[spec.name]
        windows = {w: _Window(aligned.ticks, signal, cutoffs, w, *ranges[w]) for w in window_list}
        length = _segment_length(aligned, windows)
        shared = _SignalTicks(aligned.ticks, signal, windows, length)
        if baseline_s and spec.numeric:  # the baseline's ticks, and its segments (longer than the windows')
            base_window = (
                windows[baseline_s]
                if baseline_s in windows
                else _Window(aligned.ticks, signal, cutoffs, baseline_s, *ranges[baseline_s])
            )
            base_length = _segment_length(aligned, {baseline_s: base_window})
        # Per-tick structures (~8 bytes x ticks each) are dropped as soon as their columns are taken, so at
        # most one field's (and one signal's shared ones) are alive: a field's structures hold the signal's
        # shared ones, and keeping them until the next assignment would double the peak.
        for field in spec.numeric:
            prepared = _NumericTicks(shared, signal, signal.values[field])
            field_stats = {w: prepared.stats(windows[w]) for w in window_list}
            baseline = _BaselineTicks(prepared, base_length).moments(base_window) if baseline_s else {}
            for w in window_list:
                for stat, values in field_stats[w].items():
                    columns[str(FeatureName(spec.name, field, stat, None, w))] = values
                if baseline_s:
                    z = _z_scores(field_stats[w]["mean"], baseline)
                    columns[
                        str(FeatureName(spec.name, field, BASELINE_STAT, baseline_level(baseline_s), w))
                    ] = z
            del prepared, field_stats, baseline
        del shared
        for field in spec.categorical:
            cat = _CategoricalTicks(aligned.ticks, signal, signal.values[field])
            for w, win in windows.items():
                for (stat, level), values in cat.stats(win, levels.get(f"{spec.name}.{field}", ())).items():
                    columns[str(FeatureName(spec.name, field, stat, level, w))] = values
            del cat
        del windows
    if config.events_signal is not None:
        for w in config.features.windows_s:
            for (fld, stat, level), values in _event_stats(events, cutoffs, w, config).items():
                columns[str(FeatureName(config.events_signal.name, fld, stat, level, w))] = values
    names = [str(name) for name in feature_names(config)]
    features = pd.DataFrame(
        {  # categorical values: nullable string dtype whether or not the windows hold values (stable schema)
            name: pd.array(columns[name], dtype="string") if columns[name].dtype == object else columns[name]
            for name in names
        },
        index=examples.index,
        copy=False,  # the arrays are this function's own
    )
    return pd.concat([examples, features], axis=1)


# ---------------------------------------------------------------------------------------------- kernels

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]


class _Window:
    """Tick ranges of one signal for many cutoffs, split into a core and an edge.

    The window of cutoff ``c`` is ticks ``[lo, hi)``. Ticks before ``c - tolerance`` (the core, ``[lo, e)``)
    can only have matched samples with ``ts < c``; the remaining ticks (the edge, ``[e, hi)``, at most a few)
    are gathered into a small matrix where a match at or after ``c`` is replaced by the backward match.
    """

    def __init__(
        self, ticks: I64, signal: AlignedSignal, cutoffs: I64, window_s: int, lo: I64, hi: I64
    ) -> None:
        self.ticks, self.signal, self.cutoffs, self.lo, self.hi = ticks, signal, cutoffs, lo, hi
        self.window_s = window_s
        tolerance = signal.spec.tolerance_ms if signal.spec.direction == "nearest" else 0
        edge_start = np.searchsorted(ticks, cutoffs - tolerance, side="left").astype(np.int64)
        self.e = np.clip(edge_start, lo, hi)
        width = int((hi - self.e).max(initial=0))
        self.edge_idx = self.e[:, None] + np.arange(width, dtype=np.int64)[None, :]
        self.edge_in = self.edge_idx < hi[:, None]
        safe = np.where(self.edge_in, self.edge_idx, 0)
        rows = signal.match[safe] if len(ticks) else np.full(safe.shape, -1, dtype=np.int64)
        if width and len(signal.ts):
            late = (rows >= 0) & (signal.ts[np.maximum(rows, 0)] >= cutoffs[:, None])
            rows = np.where(late, signal.backward[safe], rows)
        self.edge_rows = np.where(self.edge_in, rows, -1)
        self.edge_time_s = (
            np.where(self.edge_in, ticks[safe] if len(ticks) else 0, 0) - cutoffs[:, None]
        ) / 1000.0
        self.n_ticks = hi - lo
        self._plans: dict[int, dict[str, Any]] = {}

    def segment_plan(self, length: int) -> dict[str, Any]:
        """Indices for sums over the core from prefix sums restarted every ``length`` ticks (cached)."""
        if length not in self._plans:
            ticks, a, b, cutoffs = self.ticks, self.lo, self.e, self.cutoffs
            n_ticks = len(ticks)
            a_s = np.minimum(a, n_ticks - 1)
            last = np.clip(b - 1, 0, n_ticks - 1)
            seg_a, seg_b = a_s // length, last // length
            same = seg_a == seg_b
            self._plans[length] = {
                "a": a_s,
                "before_a": np.maximum(a_s - 1, 0),
                "a_starts_segment": a_s % length == 0,
                "last": last,
                "end_a": np.where(same, last, (seg_a + 1) * length - 1),
                "same": same,
                "empty": b <= a,
                "delta_a": (ticks[seg_a * length] - cutoffs) / 1000.0,
                "delta_b": (ticks[seg_b * length] - cutoffs) / 1000.0,
            }
        return self._plans[length]

    def tick_values(self, values: npt.NDArray[Any]) -> npt.NDArray[Any]:
        """Per tick: the value of its match (NaN / None where unmatched)."""
        return self.signal.matched_values(values)

    def edge_values(self, values: npt.NDArray[Any]) -> npt.NDArray[Any]:
        """Edge matrix of values (cutoffs x width), null where no (allowed) match or outside the window."""
        return self.signal.matched_values(values, self.edge_rows)


def _segment_length(aligned: Aligned, windows: dict[int, _Window]) -> int:
    """Ticks per prefix-sum segment: a power of two above the longest core of ``windows`` (so a core spans at
    most two segments), at least 512 ticks on a grid clock (from the configuration alone) and 4,096 on an
    anchor clock (where the longest core comes from the data, so the length only varies for very long
    windows). The baseline has segments of its own (:class:`_BaselineTicks`): longer segments would cost
    the short windows precision."""
    if aligned.step_ms is not None:
        longest_core = -(-max(windows) * 1000 // aligned.step_ms) + 2
        floor = 512
    else:
        longest_core = max(int((win.e - win.lo).max(initial=0)) for win in windows.values())
        floor = 4096
    return max(floor, 1 << int(np.ceil(np.log2(longest_core + 1))))


class _SignalTicks:
    """Per-signal structures shared by its numeric fields.

    - times (``tau_blocks``): per tick, seconds since its segment's first tick, one row per segment of
      ``length`` ticks (the padding after the last tick 0);
    - time sums (count, t, t^2 prefix sums) and the latest valid tick, per distinct validity mask (the
      fields of one signal are usually null together);
    - the elementary intervals of every window core: the sorted distinct core bounds ``lo`` and ``e`` of
      all windows cut the ticks into intervals, each core is a run of whole intervals, so min and max of a
      core are a range query over per-interval minima (a small sparse table) instead of over ticks.
    """

    def __init__(self, ticks: I64, signal: AlignedSignal, windows: dict[int, _Window], length: int) -> None:
        self.ticks, self.length = ticks, length
        n_ticks = len(ticks)
        seg_first = (np.arange(n_ticks) // length) * length
        tau = (ticks - ticks[seg_first]) / 1000.0 if n_ticks else np.zeros(0)
        self.tau_blocks = np.concatenate([tau, np.zeros((-n_ticks) % length)]).reshape(-1, length)
        self.matched_rows, self.unmatched = np.maximum(signal.match, 0), signal.match < 0
        self._time_sums: list[tuple[npt.NDArray[np.bool_], dict[str, Any]]] = []
        self._core_time: dict[tuple[int, int], dict[str, F64]] = {}
        is_bound = np.zeros(n_ticks + 1, dtype=bool)
        for win in windows.values():
            is_bound[win.lo] = True
            is_bound[win.e] = True
        self.bounds = np.flatnonzero(is_bound[:n_ticks])
        self.queries: dict[int, list[tuple[int, I64, I64, I64]]] = {}
        self.longest_run = 1
        for w, win in windows.items():  # core [lo, e) = intervals [p, q)
            p = np.searchsorted(self.bounds, win.lo).astype(np.int64)
            q = np.searchsorted(self.bounds, win.e).astype(np.int64)
            runs = q - p
            nonempty = runs > 0
            level = np.zeros(len(runs), dtype=np.int64)
            level[nonempty] = np.floor(np.log2(runs[nonempty])).astype(np.int64)
            self.queries[w] = [
                (int(k), sel, p[sel], q[sel] - (1 << int(k)))
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

    def time_sums(self, valid_blocks: npt.NDArray[np.bool_]) -> dict[str, Any]:
        """Prefix sums (restarted every segment) of count, t and t^2 over valid ticks, and the latest
        valid tick at or before each tick; computed once per distinct validity mask.

        ``valid_blocks``: the mask in segments of ``length`` ticks (shape ``(segments, length)``), the padding
        after the last tick False."""
        for mask, sums in self._time_sums:
            if np.array_equal(mask, valid_blocks):
                return sums
        n_ticks = len(self.ticks)
        w = valid_blocks.astype(np.float64)
        wt = w * self.tau_blocks
        wtt = wt * self.tau_blocks
        sums = {
            "n": _row_prefix_sums(w, n_ticks),
            "st": _row_prefix_sums(wt, n_ticks),
            "stt": _row_prefix_sums(wtt, n_ticks),
            "last_valid": _last_valid_index(valid_blocks.reshape(-1)[:n_ticks]),
        }
        self._time_sums.append((valid_blocks, sums))
        return sums

    def core_time_sums(self, sums: dict[str, Any], window: _Window) -> dict[str, F64]:
        """The value-independent part of the core sums of one window for one validity mask (cached): count
        and t of the two segment parts, and count, t, t^2 over the core with times relative to the cutoff
        (0 for empty cores)."""
        key = (id(sums), window.window_s)
        if key not in self._core_time:
            plan = window.segment_plan(self.length)
            end_a, last, same = plan["end_a"], plan["last"], plan["same"]
            before_a, a_first = plan["before_a"], plan["a_starts_segment"]
            pa_ = {k: sums[k][end_a] - np.where(a_first, 0.0, sums[k][before_a]) for k in ("n", "st", "stt")}
            pb_ = {k: np.where(same, 0.0, sums[k][last]) for k in ("n", "st", "stt")}
            da, db = plan["delta_a"], plan["delta_b"]
            st = pa_["st"] + da * pa_["n"] + pb_["st"] + db * pb_["n"]
            stt = (
                pa_["stt"]
                + 2 * da * pa_["st"]
                + da * da * pa_["n"]
                + pb_["stt"]
                + 2 * db * pb_["st"]
                + db * db * pb_["n"]
            )
            empty = plan["empty"]
            self._core_time[key] = {
                "pa_n": pa_["n"],
                "pb_n": pb_["n"],
                "pa_st": pa_["st"],
                "pb_st": pb_["st"],
                "n": np.where(empty, 0.0, pa_["n"] + pb_["n"]),
                "st": np.where(empty, 0.0, st),
                "stt": np.where(empty, 0.0, stt),
            }
        return self._core_time[key]

    def interval_table(self, x: F64, reduce: Any) -> list[F64]:
        """Sparse table of ``reduce`` (``np.fmin``/``np.fmax``, nulls ignored) over the intervals."""
        if len(self.bounds) == 0:
            return [np.zeros(0)]
        return _sparse_table(reduce.reduceat(x, self.bounds), self.longest_run, reduce)

    def query(self, table: list[F64], window_s: int, reduce: Any, n_rows: int) -> F64:
        """``reduce`` over each core of window ``window_s`` (NaN when empty or all null)."""
        out = np.full(n_rows, np.nan)
        for level, sel, first, second in self.queries[window_s]:
            out[sel] = reduce(table[level][first], table[level][second])
        return out


class _NumericTicks:
    """Per-tick structures of one numeric field, built once and queried for every window.

    Window sums (count, x, x^2, t, t^2, t*x) come from prefix sums restarted every ``length`` ticks, with
    times relative to each segment's first tick and values centred on a reference value, so rounding never
    accumulates over a day; a core range spans at most two segments and is shifted to the cutoff's time
    origin. Min and max come from the per-interval minima and maxima of :class:`_SignalTicks`
    (``np.fmin``/``np.fmax`` ignore nulls).
    """

    _SUMS = ("n", "sx", "sxx", "st", "stt", "stx")

    def __init__(self, shared: _SignalTicks, signal: AlignedSignal, sample_values: F64) -> None:
        self.shared, self.ticks, self.signal, self.sample_values = shared, shared.ticks, signal, sample_values
        n_ticks, length = len(self.ticks), shared.length
        self.length = length
        # per tick in segments of ``length`` (the last one padded with nulls): each tick's matched value
        n_segments = -(-n_ticks // length)
        padded = np.empty(n_segments * length)
        shared.matched_into(sample_values, padded[:n_ticks])
        padded[n_ticks:] = np.nan
        self.x = padded[:n_ticks]
        blocks = padded.reshape(n_segments, length)
        valid_blocks = ~np.isnan(blocks)
        # values are centred on their segment's first value: sums of squares stay well conditioned, the
        # reference precedes every window core that uses it (no information from after a cutoff, not even
        # in rounding), and it depends only on the span's ticks, never on how much halo data was passed, so
        # results stay bit-identical whatever the partitioning; outliers are handled by the exact fallback
        first = np.argmax(valid_blocks, axis=1)
        self.seg_ref = np.where(valid_blocks.any(axis=1), blocks[np.arange(n_segments), first], 0.0)
        x0 = blocks - self.seg_ref[:, None]
        np.copyto(x0, 0.0, where=~valid_blocks)
        time_sums = self.time_sums = shared.time_sums(valid_blocks)
        xx, tx = x0 * x0, shared.tau_blocks * x0
        self.prefix = {  # inclusive prefix sums restarted every segment (computed in place: x0 is done)
            "sx": _row_prefix_sums(x0, n_ticks),
            "sxx": _row_prefix_sums(xx, n_ticks),
            "stx": _row_prefix_sums(tx, n_ticks),
        }
        self.last_valid: I64 = time_sums["last_valid"]
        self.mins = shared.interval_table(self.x, np.fmin)
        self.maxs = shared.interval_table(self.x, np.fmax)

    def _core_sums(self, window: _Window, edge_ref: F64) -> tuple[dict[str, F64], F64]:
        """Sums over each window's core ticks, values relative to a window reference, times to the cutoff.

        The reference is the first value of the segment holding the core's first value (it precedes that
        value), else ``edge_ref`` (a value of the window's edge): never a value from after the cutoff.
        Returns the sums and the reference.
        """
        if len(self.ticks) == 0:
            zeros = np.zeros(len(window.cutoffs))
            return {k: zeros.copy() for k in (*self._SUMS, "sxx_magnitude")}, edge_ref.copy()
        plan = window.segment_plan(self.length)
        a, last, end_a, same = plan["a"], plan["last"], plan["end_a"], plan["same"]
        delta_a, delta_b = plan["delta_a"], plan["delta_b"]
        before_a, a_first = plan["before_a"], plan["a_starts_segment"]
        time = self.shared.core_time_sums(self.time_sums, window)
        prefix = self.prefix
        pa_ = {
            k: prefix[k][end_a] - np.where(a_first, 0.0, prefix[k][before_a]) for k in ("sx", "sxx", "stx")
        }
        pb_ = {k: np.where(same, 0.0, prefix[k][last]) for k in ("sx", "sxx", "stx")}
        pa_n, pb_n = time["pa_n"], time["pb_n"]
        ref_a, ref_b = self.seg_ref[a // self.length], self.seg_ref[last // self.length]
        ref = np.where(pa_n > 0, ref_a, np.where(pb_n > 0, ref_b, edge_ref))
        for part, part_ref, n, st in ((pa_, ref_a, pa_n, time["pa_st"]), (pb_, ref_b, pb_n, time["pb_st"])):
            shift = np.where(n > 0, part_ref - ref, 0.0)  # re-centre each part on the window reference
            part["sxx"] = part["sxx"] + 2 * shift * part["sx"] + shift * shift * n
            part["stx"] = part["stx"] + shift * st
            part["sx"] = part["sx"] + shift * n
        out = {k: pa_[k] + pb_[k] for k in ("sx", "sxx")}
        out["stx"] = pa_["stx"] + delta_a * pa_["sx"] + pb_["stx"] + delta_b * pb_["sx"]
        out["sxx_magnitude"] = (
            prefix["sxx"][end_a] + np.where(same, 0.0, prefix["sxx"][last]) + np.abs(pb_["sxx"])
        )
        empty = plan["empty"]
        result = {k: np.where(empty, 0.0, v) for k, v in out.items()}
        result.update(n=time["n"], st=time["st"], stt=time["stt"])
        return result, np.where(empty, edge_ref, ref)

    def _exact_moments(
        self, window: _Window, rows: I64, edge_values: F64, shift: F64
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
        lengths = window.e[rows] - window.lo[rows]
        order = np.argsort(lengths, kind="stable")
        cells = np.cumsum(np.maximum(lengths[order], 1))  # batches of about 2**17 matrix cells
        batches = np.split(order, np.flatnonzero(np.diff(cells // (1 << 17))) + 1)
        last_tick = len(self.x) - 1
        for batch in batches:
            part = rows[batch]
            lo, length, r = window.lo[part], lengths[batch], shift[batch]
            origin = self.ticks[np.minimum(lo, last_tick)]
            step = np.arange(int(length.max(initial=0)))[:, None]
            idx = np.minimum(lo[None, :] + step, last_tick)
            x = self.x[idx]
            valid = (step < length[None, :]) & ~np.isnan(x)
            d = np.where(valid, x - r, 0.0)
            k = np.where(valid, (self.ticks[idx] - origin).astype(np.float64), 0.0)
            xe = np.ascontiguousarray(edge_values[part].T)
            ve = ~np.isnan(xe)
            de = np.where(ve, xe - r, 0.0)
            edge_ms = np.rint(window.edge_time_s[part].T * 1000.0) + (window.cutoffs[part] - origin)
            ke = np.where(ve, edge_ms, 0.0)
            n = valid.sum(axis=0) + ve.sum(axis=0)  # counts: exact
            sd = _column_sums(d) + _column_sums(de)
            sdd = _column_sums(d * d) + _column_sums(de * de)
            sk = _column_sums(k) + _column_sums(ke)
            skk = _column_sums(k * k) + _column_sums(ke * ke)
            skd = _column_sums(k * d) + _column_sums(ke * de)
            mean_d = sd / n
            var[batch] = np.maximum(sdd / n - mean_d * mean_d, 0.0)
            means[batch] = r + mean_d
            stt = skk - sk * sk / n  # ms^2
            ok = (n >= 2) & (stt > 0)
            slope[batch] = np.where(ok, 1000.0 * (skd - sk * sd / n) / np.where(ok, stt, 1.0), np.nan)
        return var, slope, means

    def stats(self, window: _Window) -> dict[str, npt.NDArray[Any]]:
        """The numeric statistics of every cutoff's window."""
        xe = window.edge_values(self.sample_values)
        ve = ~np.isnan(xe)
        edge_ref = _first_edge_value(xe, ve)
        core, ref = self._core_sums(window, edge_ref)
        xe0 = np.where(ve, xe - ref[:, None], 0.0)
        te = np.where(ve, window.edge_time_s, 0.0)
        n = core["n"] + ve.sum(axis=1)
        sx = core["sx"] + xe0.sum(axis=1)
        sxx = core["sxx"] + (xe0 * xe0).sum(axis=1)
        st = core["st"] + te.sum(axis=1)
        stt = core["stt"] + (te * te).sum(axis=1)
        stx = core["stx"] + (te * xe0).sum(axis=1)
        has = n > 0
        safe_n = np.where(has, n, 1.0)
        mean0 = sx / safe_n
        var = np.maximum(sxx / safe_n - mean0 * mean0, 0.0)
        sxx_t = n * stt - st * st
        slope_ok = (n >= 2) & (sxx_t > 0)
        slope = np.where(slope_ok, (n * stx - st * sx) / np.where(slope_ok, sxx_t, 1.0), np.nan)
        lo, e = window.lo, window.e
        edge_min = np.min(np.where(ve, xe, np.inf), axis=1, initial=np.inf)
        edge_max = np.max(np.where(ve, xe, -np.inf), axis=1, initial=-np.inf)
        n_rows = len(window.cutoffs)
        lows = np.fmin(self.shared.query(self.mins, window.window_s, np.fmin, n_rows), edge_min)
        highs = np.fmax(self.shared.query(self.maxs, window.window_s, np.fmax, n_rows), edge_max)
        mean = np.where(has, ref + mean0, np.nan)
        # A constant window (min == max, exact) has that value as its mean, no spread and a zero slope.
        constant = has & (lows == highs)
        mean[constant], var[constant] = lows[constant], 0.0
        slope[constant & slope_ok] = 0.0
        # Single-pass sums lose what lies below ~1e-16 of the running totals they are differenced from.
        # Where that rounding could reach 1e-9 of the window's own spread (near-constant windows, or a huge
        # value earlier in the segment), mean, variance and slope are recomputed from the window's values.
        magnitude = core.pop("sxx_magnitude") + (xe0 * xe0).sum(axis=1)
        eps = np.finfo(np.float64).eps
        rounding = 8 * eps * magnitude
        rounding_sum = 8 * eps * np.sqrt(self.length * magnitude)  # bounds the rounding of the value sum
        suspect = np.flatnonzero(
            has & ~constant & ((rounding >= 1e-9 * n * var) | (rounding_sum >= 1e-10 * safe_n))
        )
        if len(suspect):
            var[suspect], slope[suspect], mean[suspect] = self._exact_moments(
                window, suspect, xe, lows[suspect]
            )
        last = _last_edge(xe, ve)
        core_last = _last_in_range(self.x, self.last_valid, lo, e)
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
            "coverage": np.where(window.n_ticks > 0, count / np.maximum(window.n_ticks, 1), 0.0),
        }


class _BaselineTicks:
    """Per-tick structures of one numeric field for its baseline ``[c - B, c)``, built once per field.

    - count, value and squared-value prefix sums restarted every ``length`` ticks, values centred on their
      segment's first value, as in :class:`_NumericTicks`, but in the baseline's own segments: a power of two
      above its core, so a core spans at most two segments (the windows keep their shorter segments, and the
      precision that goes with them);
    - per tick, whether its value differs from the previous value (prefix counts): whether a baseline's
      values are all equal (it then has no z) is decided exactly, without min and max.
    """

    def __init__(self, numeric: _NumericTicks, length: int) -> None:
        self.numeric, self.length = numeric, length
        x, n_ticks = numeric.x, len(numeric.x)
        n_segments = -(-n_ticks // length)
        padded = np.full(n_segments * length, np.nan)
        padded[:n_ticks] = x
        blocks = padded.reshape(n_segments, length)
        valid_blocks = ~np.isnan(blocks)
        first = np.argmax(valid_blocks, axis=1)
        self.seg_ref = np.where(valid_blocks.any(axis=1), blocks[np.arange(n_segments), first], 0.0)
        x0 = blocks - self.seg_ref[:, None]
        np.copyto(x0, 0.0, where=~valid_blocks)
        xx = x0 * x0
        self.prefix = {
            "n": _row_prefix_sums(valid_blocks.astype(np.float64), n_ticks),
            "sx": _row_prefix_sums(x0, n_ticks),
            "sxx": _row_prefix_sums(xx, n_ticks),
        }
        valid = ~np.isnan(x)
        previous = np.concatenate(([-1], numeric.last_valid[:-1])) if n_ticks else np.empty(0, dtype=np.int64)
        self.changed = valid & (previous >= 0) & (x != x[np.maximum(previous, 0)])
        self.changes_cum = np.concatenate(([0], np.cumsum(self.changed)))
        self.next_valid = (
            np.minimum.accumulate(np.where(valid, np.arange(n_ticks), n_ticks)[::-1])[::-1]
            if n_ticks
            else np.empty(0, dtype=np.int64)
        )

    def _core_sums(self, window: _Window, edge_ref: F64) -> tuple[dict[str, F64], F64]:
        """Count, sum and sum of squares over each baseline's core ticks, values relative to a reference
        (the first value of the segment holding the core's first value, else ``edge_ref``: never a value
        from after the cutoff), and ``magnitude``, what the sums were differenced from (rounding bound).
        Returns the sums and the reference."""
        if len(self.numeric.x) == 0:
            zeros = np.zeros(len(window.cutoffs))
            return {"n": zeros, "sx": zeros, "sxx": zeros, "magnitude": zeros}, edge_ref.copy()
        length, prefix = self.length, self.prefix
        plan = window.segment_plan(length)
        a, last, end_a, same = plan["a"], plan["last"], plan["end_a"], plan["same"]
        before_a, a_first = plan["before_a"], plan["a_starts_segment"]
        pa_ = {k: v[end_a] - np.where(a_first, 0.0, v[before_a]) for k, v in prefix.items()}
        pb_ = {k: np.where(same, 0.0, v[last]) for k, v in prefix.items()}
        ref_a, ref_b = self.seg_ref[a // length], self.seg_ref[last // length]
        ref = np.where(pa_["n"] > 0, ref_a, np.where(pb_["n"] > 0, ref_b, edge_ref))
        for part, part_ref in ((pa_, ref_a), (pb_, ref_b)):
            shift = np.where(part["n"] > 0, part_ref - ref, 0.0)  # re-centre each part on the reference
            part["sxx"] = part["sxx"] + 2 * shift * part["sx"] + shift * shift * part["n"]
            part["sx"] = part["sx"] + shift * part["n"]
        out = {k: pa_[k] + pb_[k] for k in ("n", "sx", "sxx")}
        out["magnitude"] = (
            prefix["sxx"][end_a] + np.where(same, 0.0, prefix["sxx"][last]) + np.abs(pb_["sxx"])
        )
        empty = plan["empty"]
        return {k: np.where(empty, 0.0, v) for k, v in out.items()}, np.where(empty, edge_ref, ref)

    def _varies(
        self, window: _Window, xe: F64, ve: npt.NDArray[np.bool_]
    ) -> tuple[npt.NDArray[np.bool_], F64]:
        """Per cutoff: whether the baseline holds two different values (exact), and its core's last value
        (NaN when none). Changes are counted between consecutive values, skipping ticks without one; the
        core's first value has no predecessor in the baseline."""
        x, n_ticks, lo, e = self.numeric.x, len(self.numeric.x), window.lo, window.e
        changes = np.zeros(len(window.cutoffs), dtype=np.int64)
        if n_ticks:
            changes = np.where(e > lo, self.changes_cum[e] - self.changes_cum[np.minimum(lo, n_ticks)], 0)
            first = self.next_valid[np.clip(lo, 0, n_ticks - 1)]
            has_first = (e > lo) & (first < e)
            changes = changes - np.where(has_first, self.changed[np.minimum(first, n_ticks - 1)], 0)
        core_last = _last_in_range(x, self.numeric.last_valid, lo, e)
        running = core_last
        for col in range(xe.shape[1]):
            value, ok = xe[:, col], ve[:, col]
            changes = changes + (ok & ~np.isnan(running) & (value != running))
            running = np.where(ok, value, running)
        return changes > 0, core_last

    def moments(self, window: _Window) -> dict[str, npt.NDArray[Any]]:
        """``mean``, ``std`` (population) and ``varies`` (two different values) over each cutoff's baseline:
        the window ``[c - B, c)``, its ticks under the cutoff rule like any window's. Mean and std are NaN
        when it holds no value. Where the rounding of the sums could reach 1e-9 of the spread or 1e-10 of
        the mean (the bound of :meth:`_NumericTicks.stats`), they are recomputed from the values, shifted by
        one of them (every shifted value is then at most the range)."""
        xe = window.edge_values(self.numeric.sample_values)
        ve = ~np.isnan(xe)
        edge_ref = _first_edge_value(xe, ve)
        core, ref = self._core_sums(window, edge_ref)
        xe0 = np.where(ve, xe - ref[:, None], 0.0)
        n = core["n"] + ve.sum(axis=1)
        sx = core["sx"] + xe0.sum(axis=1)
        sxx = core["sxx"] + (xe0 * xe0).sum(axis=1)
        has = n > 0
        safe_n = np.where(has, n, 1.0)
        mean0 = sx / safe_n
        var = np.maximum(sxx / safe_n - mean0 * mean0, 0.0)
        mean = np.where(has, ref + mean0, np.nan)
        varies, core_last = self._varies(window, xe, ve)
        constant = has & ~varies  # exact: that value, no spread
        value = np.where(np.isnan(core_last), edge_ref, core_last)  # a value of the baseline
        mean[constant], var[constant] = value[constant], 0.0
        magnitude = core["magnitude"] + (xe0 * xe0).sum(axis=1)
        eps = np.finfo(np.float64).eps
        rounding = 8 * eps * magnitude
        rounding_sum = 8 * eps * np.sqrt(self.length * magnitude)
        suspect = np.flatnonzero(varies & ((rounding >= 1e-9 * n * var) | (rounding_sum >= 1e-10 * safe_n)))
        if len(suspect):
            var[suspect], _, mean[suspect] = self.numeric._exact_moments(window, suspect, xe, value[suspect])
        return {"mean": mean, "std": np.where(has, np.sqrt(var), np.nan), "varies": varies}


def _first_edge_value(xe: F64, ve: npt.NDArray[np.bool_]) -> F64:
    """Per row of an edge matrix: its first valid value (0 when none), a reference from before the cutoff."""
    if xe.shape[1] == 0:
        return np.zeros(len(xe))
    first: F64 = np.where(ve.any(axis=1), xe[np.arange(len(xe)), np.argmax(ve, axis=1)], 0.0)
    return first


def _z_scores(window_mean: F64, baseline: dict[str, npt.NDArray[Any]]) -> F64:
    """``(window mean - baseline mean) / baseline std`` per cutoff, from the statistics of the window and
    of the baseline; NaN when the window has no value or the baseline's values are fewer than two or all
    equal (decided exactly: the spread is zero, not merely small), or their std rounds to 0 (underflow)."""
    std = baseline["std"]
    ok = ~np.isnan(window_mean) & baseline["varies"] & (std > 0)
    z: F64 = np.where(ok, (window_mean - baseline["mean"]) / np.where(ok, std, 1.0), np.nan)
    return z


def _column_sums(matrix: F64) -> F64:
    """Sum of each column, added up sequentially from the first row: trailing zero rows never change a
    column's result, whatever the matrix's other columns (NumPy sums a single contiguous column, like any
    contiguous run, pairwise, so that case goes through the sequential ``cumsum``)."""
    single = matrix.shape[1] == 1 and len(matrix) > 1
    sums: F64 = np.cumsum(matrix, axis=0)[-1] if single else matrix.sum(axis=0)
    return sums


def _row_prefix_sums(blocks: F64, n: int) -> F64:
    """Inclusive prefix sums along each row of ``blocks`` (one segment per row: restarted every segment,
    so rounding stays bounded over long days), computed in place; returns the first ``n`` as a flat view."""
    np.cumsum(blocks, axis=1, out=blocks)
    return blocks.reshape(-1)[:n]


def _sparse_table(x: F64, longest: int, reduce: Any) -> list[F64]:
    """Level ``k`` holds ``reduce`` over ``x[i : i + 2**k]`` (for ranges up to ``longest``)."""
    levels = [x]
    while (1 << len(levels)) <= longest:
        prev, half = levels[-1], 1 << (len(levels) - 1)
        levels.append(reduce(prev[:-half], prev[half:]) if len(prev) > half else prev[:0])
    return levels


def _last_valid_index(valid: npt.NDArray[np.bool_]) -> I64:
    """Per tick: index of the latest tick <= it with a value, -1 when none."""
    if len(valid) == 0:
        return np.empty(0, dtype=np.int64)
    return np.maximum.accumulate(np.where(valid, np.arange(len(valid)), -1))


def _last_in_range(x: F64, last_valid: I64, a: I64, b: I64) -> F64:
    """Value at the latest tick in ``[a, b)`` with a value (NaN when none)."""
    out = np.full(len(a), np.nan)
    if len(x) == 0:
        return out
    j = last_valid[np.clip(b - 1, 0, len(x) - 1)]
    ok = (b > a) & (j >= a)
    out[ok] = x[j[ok]]
    return out


def _last_edge(values: npt.NDArray[Any], valid: npt.NDArray[np.bool_]) -> npt.NDArray[Any]:
    """Per row of an edge matrix: the last valid value (NaN / None when none)."""
    width = values.shape[1]
    out = np.full(values.shape[0], None if values.dtype == object else np.nan, dtype=values.dtype)
    if width == 0:
        return out
    last_col = width - 1 - np.argmax(valid[:, ::-1], axis=1)
    ok = valid.any(axis=1)
    out[ok] = values[np.flatnonzero(ok), last_col[ok]]
    return out


class _CategoricalTicks:
    """Per-tick structures of one categorical field (integer codes), built once per field."""

    def __init__(self, ticks: I64, signal: AlignedSignal, sample_values: npt.NDArray[Any]) -> None:
        self.ticks = ticks
        self.vocabulary = sorted({v for v in sample_values if v is not None})
        self.index = {v: i for i, v in enumerate(self.vocabulary)}
        codes = np.fromiter(
            (-1 if v is None else self.index[v] for v in sample_values),
            dtype=np.int64,
            count=len(sample_values),
        )
        self.codes = codes
        match = signal.match
        self.tick_codes = (
            np.where(match >= 0, codes[np.maximum(match, 0)], -1)
            if len(codes)
            else np.full(len(ticks), -1, dtype=np.int64)
        )
        valid = self.tick_codes >= 0
        n_ticks = len(ticks)
        self.last_valid = _last_valid_index(valid)
        prev = np.concatenate(([-1], self.last_valid[:-1])) if n_ticks else np.empty(0, dtype=np.int64)
        prev_code = np.where(prev >= 0, self.tick_codes[np.maximum(prev, 0)], -1)
        self.flag = (valid & (prev_code >= 0) & (self.tick_codes != prev_code)).astype(np.int64)
        self.flag_cum = np.concatenate(([0], np.cumsum(self.flag)))
        self.next_valid = (
            np.minimum.accumulate(np.where(valid, np.arange(n_ticks), n_ticks)[::-1])[::-1]
            if n_ticks
            else np.empty(0, dtype=np.int64)
        )
        # duration of a tick: until the next tick (the window's last tick is cut at the cutoff, below)
        self.durations = np.diff(ticks, append=ticks[-1]) if n_ticks else np.zeros(0, dtype=np.int64)
        self._level_cum: dict[str, I64] = {}

    def _edge_codes(self, window: _Window) -> I64:
        rows = window.edge_rows
        if len(self.codes) == 0:
            return np.full(rows.shape, -1, dtype=np.int64)
        return np.where(rows >= 0, self.codes[np.maximum(rows, 0)], -1)

    def stats(
        self, window: _Window, levels: tuple[str, ...]
    ) -> dict[tuple[str, str | None], npt.NDArray[Any]]:
        """``last``, ``changes`` and ``seconds:<level>`` of every cutoff's window."""
        ticks, lo, e, hi, cutoffs = self.ticks, window.lo, window.e, window.hi, window.cutoffs
        n_ticks = len(ticks)
        edge_codes = self._edge_codes(window)
        last_code = np.full(len(cutoffs), -1, dtype=np.int64)
        changes = np.zeros(len(cutoffs), dtype=np.int64)
        if n_ticks:
            j = self.last_valid[np.clip(e - 1, 0, n_ticks - 1)]
            core_ok = (e > lo) & (j >= lo)
            last_code[core_ok] = self.tick_codes[j[core_ok]]
            # changes inside the core; the core's first valid tick has no predecessor in the window
            lo_c = np.minimum(lo, n_ticks)
            changes = np.where(e > lo, self.flag_cum[e] - self.flag_cum[lo_c], 0)
            first = self.next_valid[np.clip(lo, 0, n_ticks - 1)]
            has_first = (e > lo) & (first < e)
            changes = changes - np.where(has_first, self.flag[np.minimum(first, n_ticks - 1)], 0)
        running = last_code
        for col in range(edge_codes.shape[1]):
            code = edge_codes[:, col]
            ok = code >= 0
            changes = changes + (ok & (running >= 0) & (code != running)).astype(np.int64)
            running = np.where(ok, code, running)
        last = np.array([self.vocabulary[c] if c >= 0 else None for c in running], dtype=object)
        out: dict[tuple[str, str | None], npt.NDArray[Any]] = {
            ("last", None): last,
            ("changes", None): changes,
        }
        if not levels:
            return out
        edge_dur = np.zeros(window.edge_idx.shape, dtype=np.int64)
        last_tick = hi - 1
        if n_ticks:
            safe = np.minimum(window.edge_idx, n_ticks - 1)
            edge_dur = np.where(
                window.edge_idx == last_tick[:, None], cutoffs[:, None] - ticks[safe], self.durations[safe]
            )
            edge_dur = np.where(window.edge_in, edge_dur, 0)
        core_end = np.minimum(e, last_tick)  # the window's last tick is cut at the cutoff: handled apart
        last_in_core = (hi > lo) & (last_tick < e)
        lt = np.clip(last_tick, 0, max(n_ticks - 1, 0))
        for level in levels:
            level_code = self.index.get(level, -2)
            if level not in self._level_cum:
                self._level_cum[level] = np.concatenate(
                    ([0], np.cumsum(np.where(self.tick_codes == level_code, self.durations, 0)))
                )
            cum = self._level_cum[level]
            seconds_ms = np.where(
                core_end > lo, cum[np.maximum(core_end, 0)] - cum[np.minimum(lo, n_ticks)], 0
            )
            if n_ticks:
                seconds_ms = seconds_ms + np.where(
                    last_in_core & (self.tick_codes[lt] == level_code), cutoffs - ticks[lt], 0
                )
            seconds_ms = seconds_ms + np.where(edge_codes == level_code, edge_dur, 0).sum(axis=1)
            out[("seconds", level)] = seconds_ms / 1000.0
        return out


def _event_stats(
    events: pa.Table | pd.DataFrame | None, cutoffs: I64, window_s: int, config: TelemetryConfig
) -> dict[tuple[str, str, str], npt.NDArray[Any]]:
    """Counts per kind and code, and seconds since the latest event of each kind, over ``[c - W, c)``."""
    df = events.to_pandas() if isinstance(events, pa.Table) else events
    ts = df["ts"].to_numpy(dtype=np.int64) if df is not None and len(df) else np.empty(0, dtype=np.int64)
    kinds = df["kind"].to_numpy(dtype=object) if df is not None and len(df) else np.empty(0, dtype=object)
    codes = df["code"].to_numpy(dtype=object) if df is not None and len(df) else np.empty(0, dtype=object)
    start = cutoffs - window_s * 1000
    out: dict[tuple[str, str, str], npt.NDArray[Any]] = {}

    def times_of(mask: npt.NDArray[np.bool_]) -> I64:
        return np.sort(ts[mask])

    for kind in config.features.event_kinds:
        t = times_of(kinds == kind)
        before = np.searchsorted(t, cutoffs, side="left")
        out[("kind", "count", kind)] = (before - np.searchsorted(t, start, side="left")).astype(np.int64)
        latest = t[np.maximum(before - 1, 0)] if len(t) else np.zeros(len(cutoffs), dtype=np.int64)
        ok = (before > 0) & (latest >= start)
        out[("kind", "since_last", kind)] = np.where(ok, (cutoffs - latest) / 1000.0, np.nan)
    for code in config.features.event_codes:
        t = times_of(codes == code)
        count = np.searchsorted(t, cutoffs, side="left") - np.searchsorted(t, start, side="left")
        out[("code", "count", code)] = count.astype(np.int64)
    return out


def feature_table_schema(config: TelemetryConfig) -> pa.Schema:
    """The Arrow schema of a feature table: example columns, then the window features
    (:func:`feature_names`), then the history features
    (:func:`telemetry.stages.history.history_feature_names`), then the static unit attributes
    (:func:`telemetry.stages.units.unit_feature_names`); fixed by the configuration.

    Counts (``count``, ``changes``, event ``count``, history ``count``) are int64, categorical ``last``
    values strings, every other feature float64 (null where undefined).
    """
    fields = [
        pa.field("robot_id", pa.string()),
        pa.field("cutoff", pa.int64()),
        pa.field("label", pa.int8()),
        pa.field("failure_code", pa.string()),
        pa.field("time_to_failure_s", pa.float64()),
        pa.field("weight", pa.float64()),
    ]
    for name in feature_names(config):
        if name.stat in ("count", "changes"):
            kind = pa.int64()
        elif name.stat == "last" and name.field in config.signal(name.signal).categorical:
            kind = pa.string()
        else:
            kind = pa.float64()
        fields.append(pa.field(str(name), kind))
    for history in history_feature_names(config):
        fields.append(pa.field(str(history), pa.int64() if history.stat == "count" else pa.float64()))
    fields += unit_feature_fields(config)  # last: unit.* (telemetry.stages.units), none without units.url
    return pa.schema(fields)
