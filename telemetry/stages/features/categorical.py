"""Categorical window statistics (see docs/time-semantics.md, section 3).

Per categorical field and window ``[c - W, c)``: the last value, the number of changes between consecutive
values (ticks without a value skipped; the window's first value has no predecessor in it) and, per
configured level, the seconds spent in it (a tick lasts until the next tick, the window's last tick until the
cutoff).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from telemetry._types import I64
from telemetry.stages.align import AlignedSignal
from telemetry.stages.features.windows import SignalWindows, last_valid_index

__all__ = ["CategoricalTicks"]


class CategoricalTicks:
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
        self.last_valid = last_valid_index(valid)
        prev = np.concatenate(([-1], self.last_valid[:-1])) if n_ticks else np.empty(0, dtype=np.int64)
        prev_code = np.where(prev >= 0, self.tick_codes[np.maximum(prev, 0)], -1)
        self.changed = (valid & (prev_code >= 0) & (self.tick_codes != prev_code)).astype(np.int64)
        self.changes_cum = np.concatenate(([0], np.cumsum(self.changed)))
        self.next_valid = (
            np.minimum.accumulate(np.where(valid, np.arange(n_ticks), n_ticks)[::-1])[::-1]
            if n_ticks
            else np.empty(0, dtype=np.int64)
        )
        # duration of a tick: until the next tick (the window's last tick is cut at the cutoff, below)
        self.durations = np.diff(ticks, append=ticks[-1]) if n_ticks else np.zeros(0, dtype=np.int64)
        self._level_cum: dict[str, I64] = {}

    def _edge_codes(self, window: SignalWindows) -> I64:
        rows = window.edge_rows
        if len(self.codes) == 0:
            return np.full(rows.shape, -1, dtype=np.int64)
        return np.where(rows >= 0, self.codes[np.maximum(rows, 0)], -1)

    def stats(
        self, window: SignalWindows, levels: tuple[str, ...]
    ) -> dict[tuple[str, str | None], npt.NDArray[Any]]:
        """``last``, ``changes`` and ``seconds:<level>`` of every cutoff's window."""
        ticks, lo, core_end, hi, cutoffs = self.ticks, window.lo, window.core_end, window.hi, window.cutoffs
        n_ticks = len(ticks)
        edge_codes = self._edge_codes(window)
        last_code = np.full(len(cutoffs), -1, dtype=np.int64)
        changes = np.zeros(len(cutoffs), dtype=np.int64)
        if n_ticks:
            j = self.last_valid[np.clip(core_end - 1, 0, n_ticks - 1)]
            core_ok = (core_end > lo) & (j >= lo)
            last_code[core_ok] = self.tick_codes[j[core_ok]]
            # changes inside the core; the core's first valid tick has no predecessor in the window
            lo_clipped = np.minimum(lo, n_ticks)
            changes = np.where(core_end > lo, self.changes_cum[core_end] - self.changes_cum[lo_clipped], 0)
            first = self.next_valid[np.clip(lo, 0, n_ticks - 1)]
            has_first = (core_end > lo) & (first < core_end)
            changes = changes - np.where(has_first, self.changed[np.minimum(first, n_ticks - 1)], 0)
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
        edge_ms = np.zeros(window.edge_idx.shape, dtype=np.int64)  # per edge tick: its duration
        last_tick = hi - 1
        if n_ticks:
            safe = np.minimum(window.edge_idx, n_ticks - 1)
            edge_ms = np.where(
                window.edge_idx == last_tick[:, None], cutoffs[:, None] - ticks[safe], self.durations[safe]
            )
            edge_ms = np.where(window.edge_in, edge_ms, 0)
        core_stop = np.minimum(
            core_end, last_tick
        )  # the window's last tick is cut at the cutoff: handled apart
        last_in_core = (hi > lo) & (last_tick < core_end)
        last_tick_safe = np.clip(last_tick, 0, max(n_ticks - 1, 0))
        for level in levels:
            level_code = self.index.get(level, -2)
            if level not in self._level_cum:
                self._level_cum[level] = np.concatenate(
                    ([0], np.cumsum(np.where(self.tick_codes == level_code, self.durations, 0)))
                )
            cum = self._level_cum[level]
            seconds_ms = np.where(
                core_stop > lo, cum[np.maximum(core_stop, 0)] - cum[np.minimum(lo, n_ticks)], 0
            )
            if n_ticks:
                seconds_ms = seconds_ms + np.where(
                    last_in_core & (self.tick_codes[last_tick_safe] == level_code),
                    cutoffs - ticks[last_tick_safe],
                    0,
                )
            seconds_ms = seconds_ms + np.where(edge_codes == level_code, edge_ms, 0).sum(axis=1)
            out[("seconds", level)] = seconds_ms / 1000.0
        return out
