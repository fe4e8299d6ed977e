"""Incidents from per-cutoff risk, their event-level evaluation, and the threshold for an incident budget
(a stage: pandas/numpy only, no store, no Dask; see docs/time-semantics.md, section "Incidents").

All times are epoch milliseconds UTC (int64). ``T`` is the threshold, ``L = alerts.hysteresis * T`` (computed
exactly so, in float64) the lower level, ``Q = alerts.quiet_s`` and ``S = alerts.suppress_s`` in whole
milliseconds, ``h`` a horizon. A score row is **hot** when ``risk >= T`` and **active** when ``risk >= L``
(``T >= 0`` and ``0 < hysteresis <= 1``, so every hot row is active).

**Incidents** (:func:`incidents`), per robot, rows in cutoff order:

- an incident **opens** at a hot row when none is open;
- it **continues** at every later active row whose cutoff is at most ``Q`` after the incident's last active
  cutoff (``c - last_active <= Q``, inclusive); that row becomes ``last_active``. Rows below ``L`` neither
  continue nor close it;
- it **closes** at ``closed = last_active + Q``: it is open on ``[opened, closed]`` (both included), and the
  first row after ``closed`` (``c - last_active > Q``), whatever its risk, finds it closed. A gap in the rows
  (excluded or offline cutoffs have no row) longer than ``Q`` after the last active row therefore closes
  it, and a hot row after ``closed`` opens a new incident (even the row that shows the old one closed);
- **open at the end**: the scores are final up to ``until`` (default: the robot's last cutoff in the
  scores): no row with ``cutoff <= until`` will be added. An incident is closed when
  ``last_active + Q <= until`` (no later row could continue it), else it is still open: ``closed`` null;
- ``Q >= g`` (the grid step): consecutive active rows hold an incident open. ``Q < g``, including
  ``Q = 0``: no two rows are close enough, so every hot row is an incident of its own (``opened ==
  last_active``) and the hysteresis has no effect: one alert per hot cutoff;
- the **peak** is the row of highest risk among the rows in ``[opened, last_active]`` (ties: the earliest);
  ``cutoffs`` counts the rows in ``[opened, last_active]`` (active or not).

**Suppression**: an incident is suppressed when it opens in ``[e.ts, e.ts + S)`` (start included, end
excluded; ``S = 0`` suppresses nothing) of an event ``e`` of its robot whose kind is in
``alerts.suppress_kinds``; ``suppressed_by`` names the latest such event at or before ``opened``. It is
recorded (``suppressed: True``), not alerted, and evaluated as no incident.

**Event-level evaluation** (:func:`event_metrics`): a failure at ``ts`` is **caught** when an unsuppressed
incident of its robot opened in ``[ts - h, ts)`` (the cutoffs a grid-mode label 1 points at that failure);
its **lead time** is ``ts - opened`` of the earliest such incident, in ``(0, h]`` seconds. An unsuppressed
incident is **true** when a failure of its robot follows in ``(opened, opened + h]`` (the same pairs, seen
from the incident), else **false**.

**Incident budget** (:func:`incident_threshold`): incident counts are not monotone in ``T`` (a low threshold
also lowers ``L`` and merges everything into one long incident per robot). The threshold is found by
lowering ``T`` through the distinct risks from the top and stopping before the first whose unsuppressed
incidents exceed the budget.
"""

from __future__ import annotations

import datetime as dt
import itertools
import math
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from telemetry._types import F64, I64, Bools, Objs
from telemetry.config import AlertsConfig

__all__ = [
    "FAILURE_COLUMNS",
    "INCIDENT_COLUMNS",
    "caught_failures",
    "event_metrics",
    "failures_from_labels",
    "incident_threshold",
    "incidents",
    "true_incidents",
]

INCIDENT_COLUMNS = (
    "robot_id",
    "incident_id",
    "opened",
    "last_active",
    "closed",
    "peak_cutoff",
    "peak_risk",
    "cutoffs",
    "threshold",
    "model_id",
    "top_features",
    "suppressed",
    "suppressed_by",
)
"""Columns of :func:`incidents`, in order (``model_id``/``top_features`` null when the scores lack them)."""

FAILURE_COLUMNS = ("robot_id", "ts", "code")
"""Columns of a failures frame (:func:`failures_from_labels`): one row per failure."""

_EXCEED_TOLERANCE = 1e-9  # as evaluate.alert_threshold: a count equal to the budget is within it


# ---------------------------------------------------------------------------------------- validation


def whole_ms(seconds: float, name: str) -> int:
    """``seconds`` as whole milliseconds; a duration that is not (within 1e-6 ms) raises ``ValueError``."""
    if not math.isfinite(seconds) or seconds < 0:
        raise ValueError(f"{name} must be a finite number of seconds >= 0 (got {seconds!r})")
    ms = seconds * 1000.0
    whole = round(ms)
    if abs(ms - whole) > 1e-6:
        raise ValueError(f"{name} must be whole milliseconds (got {seconds!r} s); round it to 0.001 s")
    return int(whole)


def _require_columns(frame: pd.DataFrame, what: str, columns: Collection[str]) -> None:
    if not isinstance(frame, pd.DataFrame):
        raise TypeError(f"{what} must be a pandas DataFrame (got {type(frame).__name__})")
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueError(f"{what} lacks the columns {missing} (has {list(frame.columns)})")


def _epoch_ms(frame: pd.DataFrame, column: str, what: str) -> I64:
    values = frame[column]
    if not pd.api.types.is_integer_dtype(values.dtype) or values.isna().any():
        raise ValueError(
            f"{what}.{column} must be epoch milliseconds UTC as integers without nulls (got dtype "
            f"{values.dtype}); convert timestamps explicitly, e.g. `ts.astype('datetime64[ms, UTC]')"
            ".astype('int64')`"
        )
    return values.to_numpy(dtype=np.int64)


def _robot_ids(frame: pd.DataFrame, what: str) -> Objs:
    ids = frame["robot_id"]
    if ids.isna().any():
        raise ValueError(f"{what}.robot_id has nulls; every row needs its robot")
    return np.asarray(ids.astype(str).to_numpy(dtype=object), dtype=object)


def _threshold(threshold: float) -> float:
    value = float(threshold)
    if math.isnan(value) or value < 0:
        raise ValueError(f"threshold must be >= 0 (got {threshold!r})")
    return value


@dataclass(frozen=True, slots=True)
class _Rows:
    """Score rows sorted by ``(robot_id, cutoff)``: robot codes ``0..R-1`` in sorted id order."""

    robots: Objs  # the distinct robot ids, sorted
    robot: I64  # code per row
    cutoff: I64
    risk: F64
    order: I64  # row i here is row order[i] of the input
    model_id: Objs | None
    top_features: Objs | None

    @classmethod
    def of(cls, scores: pd.DataFrame) -> _Rows:
        _require_columns(scores, "scores", ("robot_id", "cutoff", "risk"))
        if scores["robot_id"].isna().any():
            raise ValueError("scores.robot_id has nulls; every row needs its robot")
        cutoff = _epoch_ms(scores, "cutoff", "scores")
        risk = pd.to_numeric(scores["risk"], errors="raise").to_numpy(dtype=np.float64, na_value=np.nan)
        if not np.isfinite(risk).all() or (risk < 0).any():
            raise ValueError("scores.risk must be finite probabilities >= 0 (found NaN, inf or a negative)")
        codes, uniques = pd.factorize(scores["robot_id"].astype(str), sort=True)
        robots, code = np.asarray(uniques, dtype=object), np.asarray(codes, dtype=np.int64)
        order = np.lexsort((cutoff, code))
        code, cutoff, risk = code[order], cutoff[order], risk[order]
        dup = (code[1:] == code[:-1]) & (cutoff[1:] == cutoff[:-1])
        if dup.any():
            i = int(np.flatnonzero(dup)[0])
            raise ValueError(
                f"scores hold {int(dup.sum())} duplicate (robot_id, cutoff) rows, e.g. "
                f"{robots[code[i]]!r} at {_iso(int(cutoff[i]))}; score each cutoff once"
            )

        def column(name: str) -> Objs | None:
            if name not in scores.columns:
                return None
            values = scores[name].to_numpy(dtype=object)[order]
            return np.asarray([None if _is_null(v) else str(v) for v in values], dtype=object)

        return cls(
            np.asarray(robots, dtype=object),
            code,
            cutoff,
            risk,
            order,
            column("model_id"),
            column("top_features"),
        )


def _is_null(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA


def _iso(ms: int) -> str:
    """``2026-06-01T12:00:05Z`` (milliseconds shown when not zero)."""
    when = dt.datetime.fromtimestamp(ms / 1000, dt.UTC)
    text = when.strftime("%Y-%m-%dT%H:%M:%S")
    return f"{text}.{ms % 1000:03d}Z" if ms % 1000 else f"{text}Z"


def _incident_id(robot_id: str, opened: int) -> str:
    """``<robot_id>@<opened as compact ISO UTC>``: one robot opens at most one incident per cutoff."""
    return f"{robot_id}@{_iso(opened).replace('-', '').replace(':', '')}"


# ------------------------------------------------------------------------------------------ incidents


def _incident_spans(
    robot: I64, cutoff: I64, risk: F64, threshold: float, level: float, quiet_ms: int
) -> tuple[I64, I64]:
    """``(opening row, last active row)`` of every incident of rows sorted by ``(robot, cutoff)``.

    Only active rows (``risk >= level``) matter: they form **segments** (consecutive active rows of one robot
    at most ``quiet_ms`` apart), and every segment holding a hot row (``risk >= threshold``) is one incident,
    opened at its first hot row and last active at its last row.
    """
    act = np.flatnonzero(risk >= level)
    empty = np.empty(0, dtype=np.int64)
    if not len(act):
        return empty, empty
    ra, ca = robot[act], cutoff[act]
    starts = np.ones(len(act), dtype=bool)
    starts[1:] = (ra[1:] != ra[:-1]) | (ca[1:] - ca[:-1] > quiet_ms)
    segment = np.cumsum(starts) - 1
    hot = np.flatnonzero(risk[act] >= threshold)
    if not len(hot):
        return empty, empty
    hot_segment = segment[hot]
    first = hot[np.r_[True, hot_segment[1:] != hot_segment[:-1]]]
    segment_last = np.r_[np.flatnonzero(starts)[1:] - 1, len(act) - 1]
    return act[first], act[segment_last[segment[first]]]


@dataclass(frozen=True, slots=True)
class _Events:
    """The suppressing events (kind in ``alerts.suppress_kinds``), sorted by ``(robot, ts, kind, code)``."""

    robot: Objs
    ts: I64
    kind: Objs
    code: Objs
    suppress_ms: int

    @classmethod
    def of(cls, events: pd.DataFrame, alerts: AlertsConfig) -> _Events:
        _require_columns(events, "events", ("robot_id", "ts", "kind"))
        suppress_ms = whole_ms(alerts.suppress_s, "alerts.suppress_s")
        ev = events.loc[events["kind"].isin(set(alerts.suppress_kinds)).to_numpy(dtype=bool)]
        robot = _robot_ids(ev, "events")
        ts = _epoch_ms(ev, "ts", "events")
        kind = np.asarray(ev["kind"].astype(str).to_numpy(dtype=object), dtype=object)
        code = np.asarray(["" if c is None else c for c in _codes(ev, "code")], dtype=object)
        order = np.lexsort((code.astype(str), kind.astype(str), ts, robot.astype(str)))
        return cls(robot[order], ts[order], kind[order], code[order], suppress_ms)

    def suppressing(self, robots: Objs, robot: I64, times: I64) -> I64:
        """Per query ``(robots[robot[i]], times[i])`` (queries sorted by `robot`): the index of the latest
        suppressing event with ``ts <= time < ts + suppress``, or -1 (``suppress = 0``: none)."""
        out = np.full(len(times), -1, dtype=np.int64)
        if not len(self.ts) or self.suppress_ms == 0:
            return out
        names = self.robot.astype(str)
        for code, name in enumerate(robots):
            e_lo = int(np.searchsorted(names, str(name), side="left"))
            e_hi = int(np.searchsorted(names, str(name), side="right"))
            q_lo, q_hi = (int(i) for i in np.searchsorted(robot, [code, code + 1], side="left"))
            if e_hi == e_lo or q_hi == q_lo:
                continue
            t = times[q_lo:q_hi]
            latest = e_lo + np.searchsorted(self.ts[e_lo:e_hi], t, side="right") - 1
            hit = (latest >= e_lo) & (t < self.ts[np.maximum(latest, e_lo)] + self.suppress_ms)
            out[q_lo:q_hi] = np.where(hit, latest, -1)
        return out

    def describe(self, index: int) -> str:
        """``<kind> <code> at <ISO>`` of event `index`."""
        code = f" {self.code[index]}" if self.code[index] else ""
        return f"{self.kind[index]}{code} at {_iso(int(self.ts[index]))}"


def incidents(
    scores: pd.DataFrame,
    *,
    threshold: float,
    alerts: AlertsConfig,
    events: pd.DataFrame | None = None,
    until: int | None = None,
) -> pd.DataFrame:
    """One row per incident of the per-cutoff risk in `scores` (rules: module docstring).

    Args:
        scores: one row per scored cutoff: ``robot_id``, ``cutoff`` (epoch ms UTC, int), ``risk`` (float,
            ``>= 0``), optional ``model_id`` and ``top_features``; any order; cutoffs may have gaps, never
            duplicates per robot.
        threshold: ``T >= 0`` (``inf``: no incident).
        alerts: the ``alerts`` section (``hysteresis``, ``quiet_s``, ``suppress_kinds``, ``suppress_s``).
        events: optional ``robot_id``, ``ts`` (epoch ms), ``kind``, ``code``: the events that suppress.
        until: the scores are final up to this instant (epoch ms, inclusive) for every robot; default each
            robot's last cutoff. An incident with ``last_active + quiet <= until`` is closed, else open.

    Returns:
        :data:`INCIDENT_COLUMNS`: ``robot_id``, ``incident_id`` (``<robot_id>@<opened, compact ISO UTC>``),
        ``opened``, ``last_active`` (last cutoff with ``risk >= L``), ``closed`` (``last_active + quiet``,
        nullable Int64: null while open), ``peak_cutoff``, ``peak_risk``, ``cutoffs`` (rows in ``[opened,
        last_active]``), ``threshold``, ``model_id`` (of the opening row), ``top_features`` (of the peak row),
        ``suppressed``, ``suppressed_by``; sorted by ``(opened, robot_id)``.

    Raises:
        ValueError: missing columns, non-integer or null times, NaN/negative risks, duplicate cutoffs of a
            robot, a negative threshold, durations that are not whole milliseconds, ``until`` before a
            robot's last cutoff.
    """
    t = _threshold(threshold)
    rows = _Rows.of(scores)
    quiet_ms = whole_ms(alerts.quiet_s, "alerts.quiet_s")
    level = alerts.hysteresis * t
    open_pos, last_pos = _incident_spans(rows.robot, rows.cutoff, rows.risk, t, level, quiet_ms)
    n = len(open_pos)
    robot_last = np.zeros(len(rows.robots), dtype=np.int64)
    ends = np.flatnonzero(np.r_[rows.robot[1:] != rows.robot[:-1], True])[: len(rows.robot)]
    robot_last[rows.robot[ends]] = rows.cutoff[ends]
    if until is not None:
        if len(rows.cutoff) and int(until) < int(robot_last.max()):
            raise ValueError(
                f"until ({_iso(int(until))}) is before the last cutoff of the scores "
                f"({_iso(int(robot_last.max()))}); the rows up to until must be final"
            )
        robot_last[:] = int(until)
    # the peak: highest risk in [opened, last_active], the earliest of equals (rows below L cannot be it)
    lengths = last_pos - open_pos + 1
    member = np.repeat(open_pos - np.cumsum(np.r_[0, lengths[:-1]]), lengths) + np.arange(int(lengths.sum()))
    incident_of = np.repeat(np.arange(n), lengths)
    by_peak = np.lexsort((member, -rows.risk[member], incident_of))
    first_of = np.r_[True, incident_of[by_peak][1:] != incident_of[by_peak][:-1]] if n else np.zeros(0, bool)
    peak_pos = member[by_peak][first_of]
    robot_ids = rows.robots[rows.robot[open_pos]] if n else np.empty(0, dtype=object)
    opened, last_active = rows.cutoff[open_pos], rows.cutoff[last_pos]
    closed_at = last_active + quiet_ms
    is_closed = closed_at <= robot_last[rows.robot[open_pos]]
    if events is not None:
        ev = _Events.of(events, alerts)
        by = ev.suppressing(rows.robots, rows.robot[open_pos], opened)  # open_pos is in robot order
        why = [ev.describe(int(i)) if i >= 0 else None for i in by]
        suppressed = by >= 0
    else:
        why, suppressed = [None] * n, np.zeros(n, dtype=bool)
    out = pd.DataFrame(
        {
            "robot_id": pd.array(robot_ids.tolist(), dtype=object),
            "incident_id": [_incident_id(r, int(o)) for r, o in zip(robot_ids, opened, strict=True)],
            "opened": opened,
            "last_active": last_active,
            "closed": pd.array([int(c) if k else None for c, k in zip(closed_at, is_closed, strict=True)],
                               dtype="Int64"),
            "peak_cutoff": rows.cutoff[peak_pos],
            "peak_risk": rows.risk[peak_pos],
            "cutoffs": lengths.astype(np.int64),
            "threshold": np.full(n, t, dtype=np.float64),
            "model_id": rows.model_id[open_pos] if rows.model_id is not None else np.full(n, None, object),
            "top_features": rows.top_features[peak_pos]
            if rows.top_features is not None
            else np.full(n, None, dtype=object),
            "suppressed": suppressed,
            "suppressed_by": np.asarray(why, dtype=object),
        }
    )  # fmt: skip
    out = out.sort_values(["opened", "robot_id"], kind="stable").reset_index(drop=True)
    return out.loc[:, list(INCIDENT_COLUMNS)]


# ------------------------------------------------------------------------------- incident threshold


def _window_parents(robot: I64, cutoff: I64, risk: F64, quiet_ms: int) -> tuple[I64, I64]:
    """``(rows, parents)``: for every row ``j`` with another row of its robot in ``[c_j - Q, c_j)``, the row
    of highest risk there (any of equals). Rows sorted by ``(robot, cutoff)``; a sparse table of range
    maxima, one level per doubling of the longest window (in rows)."""
    n = len(cutoff)
    lo = np.empty(n, dtype=np.int64)
    bounds = np.flatnonzero(np.r_[True, robot[1:] != robot[:-1], True]) if n else np.zeros(1, np.int64)
    for a, b in itertools.pairwise(bounds):
        lo[a:b] = a + np.searchsorted(cutoff[a:b], cutoff[a:b] - quiet_ms, side="left")
    length = np.arange(n, dtype=np.int64) - lo
    rows = np.flatnonzero(length > 0)
    if not len(rows):
        return rows, rows
    length = length[rows]
    table = [np.arange(n, dtype=np.int64)]
    k_of = np.floor(np.log2(length)).astype(np.int64)
    while len(table) <= int(k_of.max()):
        prev, half = table[-1], 1 << (len(table) - 1)
        left, right = prev[: len(prev) - half], prev[half:]  # level k: [i, i + 2^k), i <= n - 2^k
        table.append(np.where(risk[left] >= risk[right], left, right))
    parents = np.empty(len(rows), dtype=np.int64)
    for k in np.unique(k_of):
        sel = np.flatnonzero(k_of == k)
        a = table[k][lo[rows[sel]]]
        b = table[k][rows[sel] - (1 << int(k))]
        parents[sel] = np.where(risk[a] >= risk[b], a, b)
    return rows, parents


@dataclass(slots=True)
class _Forest:
    """The incidents of every threshold at once, as a forest merged by descending level.

    At level ``L`` an active row ``j`` belongs to the segment of the rows before it exactly when a row of its
    robot in ``[c_j - Q, c_j)`` is active, i.e. when the highest of them, ``p_j``
    (:func:`_window_parents`), is: row ``j`` joins ``p_j`` at level ``min(r_j, r_p)``, and the components of
    these edges at level ``L`` are the segments of :func:`_incident_spans`. Merging the edges by descending
    level (Kruskal), each component named by its highest risk, gives per merge its level ``w`` and the
    smaller of the two maxima ``y``; the incidents at ``T`` (no suppression) are then ``#{rows: r >= T} -
    #{merges: w >= hysteresis * T, y >= T}``, because a merge joins two incidents exactly when both maxima
    reach ``T``.

    A **follower** (``r_j <= r_p``) joins at its own level ``r_j`` a component whose maximum is at least
    ``r_p``, so its merge ``(r_j, r_j)`` cancels its own row in the first count for every threshold; followers
    are therefore attached in numpy (each to the top of its chain of followers) and only the other edges,
    rows higher than everything in their window, go through the Python loop (typically a few per cent).
    """

    levels: F64  # levels of the edges to merge, descending
    _pairs: tuple[I64, I64]  # (row, top of the parent's follower chain) per edge, in the order of levels
    younger: F64  # the smaller maximum of every merge done, in merge order
    node_risk_ascending: F64  # risks of the rows that are not followers (each starts a component)
    _risk: list[float]
    _parent: dict[int, int]
    done: int = 0

    @classmethod
    def of(cls, rows: _Rows, quiet_ms: int) -> _Forest:
        risk = rows.risk
        child, parent = _window_parents(rows.robot, rows.cutoff, risk, quiet_ms)
        follows = risk[child] <= risk[parent]
        top = np.arange(len(risk), dtype=np.int64)
        top[child[follows]] = parent[follows]
        while True:  # pointer jumping: every follower to the top of its chain (a row that is no follower)
            nxt = top[top]
            if np.array_equal(nxt, top):
                break
            top = nxt
        node = np.ones(len(risk), dtype=bool)
        node[child[follows]] = False
        child, parent = child[~follows], parent[~follows]
        level = risk[parent]  # < risk[child]
        order = np.argsort(-level, kind="stable")
        return cls(
            level[order], (child[order], top[parent[order]]), np.empty(len(order), dtype=np.float64),
            np.sort(risk[node]), risk.tolist(), {},
        )  # fmt: skip

    def merge_down_to(self, level: float) -> None:
        """Merge every edge at or above `level`."""
        stop = len(self.levels) - int(np.searchsorted(self.levels[::-1], level, side="left"))
        if stop <= self.done:
            return
        parent, best, younger = self._parent, self._risk, self.younger
        us, vs = self._pairs[0][self.done : stop].tolist(), self._pairs[1][self.done : stop].tolist()
        for i, u, v in zip(range(self.done, stop), us, vs, strict=True):
            while u in parent:  # find, with path halving; a root is its component's highest row
                up = parent[u]
                if up in parent:
                    parent[u] = parent[up]
                u = parent[u]
            while v in parent:
                vp = parent[v]
                if vp in parent:
                    parent[v] = parent[vp]
                v = parent[v]
            if best[u] >= best[v]:
                parent[v], younger[i] = u, best[v]
            else:
                parent[u], younger[i] = v, best[u]
        self.done = stop

    def counts(self, candidates: F64, level: F64, start: int, stop: int) -> I64:
        """Incidents (no suppression) at ``candidates[start:stop]`` (descending; ``level`` = hysteresis x
        candidates), exact when every edge at or above ``level[stop - 1]`` is merged."""
        nodes = len(self.node_risk_ascending) - np.searchsorted(self.node_risk_ascending, candidates, "left")
        # a merge counts for candidate k when level[k] <= w and candidates[k] <= y: both hold from some k on
        from_level = np.searchsorted(-level, -self.levels[: self.done], side="left")
        from_max = np.searchsorted(-candidates, -self.younger[: self.done], side="left")
        merged = np.cumsum(np.bincount(np.maximum(from_level, from_max), minlength=len(candidates) + 1))
        return np.asarray(nodes[start:stop] - merged[start:stop], dtype=np.int64)


def incident_threshold(
    scores: pd.DataFrame,
    *,
    budget: float,
    robot_days: float,
    alerts: AlertsConfig,
    events: pd.DataFrame | None = None,
) -> float:
    """The threshold for at most `budget` unsuppressed incidents per robot-day on `scores` (validation
    rows: ``robot_id``, ``cutoff``, ``risk``) over `robot_days`.

    Incident counts are not monotone in the threshold, so: the candidates are the **distinct risks** (all of
    them, no sampling), lowered from the top; the walk stops before the first candidate whose unsuppressed
    incidents (:func:`incidents` at that threshold) exceed ``budget * robot_days`` (a count equal to it is
    within budget; 1e-9 tolerance) and returns the last candidate within budget; the lowest risk when none
    exceeds it; just above the highest risk (``nextafter``) when even that one exceeds it; 1.0 without rows.

    Every candidate is counted exactly, all at once, by a Kruskal merge of a forest (:class:`_Forest`),
    merged only as far down as the walk goes. With `events`, that count (no suppression) bounds the
    unsuppressed one from above; only the candidates where the bound exceeds the budget are counted
    exactly with suppression, from the rows at or above their lower level.

    Raises:
        ValueError: invalid scores (:func:`incidents`), ``budget <= 0``, ``robot_days <= 0``.
    """
    if not budget > 0 or not math.isfinite(budget):
        raise ValueError(f"budget must be a finite number of incidents per robot-day > 0 (got {budget!r})")
    if not robot_days > 0:
        raise ValueError(f"the validation rows span no robot-day (robot_days={robot_days!r}); cannot choose")
    rows = _Rows.of(scores)
    if not len(rows.risk):
        return 1.0
    allowed = budget * robot_days + _EXCEED_TOLERANCE
    quiet_ms = whole_ms(alerts.quiet_s, "alerts.quiet_s")
    candidates = np.unique(rows.risk)[::-1]  # distinct risks, descending
    level = alerts.hysteresis * candidates  # float64, the same product as incidents()
    forest = _Forest.of(rows, quiet_ms)
    exact = _ExactCounter(rows, quiet_ms, alerts, events) if events is not None else None
    done = 0  # candidates [0, done) are within budget
    step = 256
    while done < len(candidates):
        if forest.done < len(forest.levels):  # merge `step` more edges (doubling), every tie included
            floor = float(forest.levels[min(len(forest.levels), forest.done + step) - 1])
            forest.merge_down_to(floor)
            step *= 2
        if forest.done == len(forest.levels):
            ready = len(candidates)
        else:  # counts are exact where every edge at or above the candidate's level is merged
            ready = int(np.searchsorted(-level, -float(forest.levels[forest.done]), side="left"))
        if ready <= done:
            continue
        for k in np.flatnonzero(forest.counts(candidates, level, done, ready) > allowed):
            candidate = done + int(k)
            if exact is None or exact.count(float(candidates[candidate])) > allowed:
                if candidate == 0:
                    return float(np.nextafter(candidates[0], np.inf))
                return float(candidates[candidate - 1])
        done = ready
    return float(candidates[-1])


class _ExactCounter:
    """Unsuppressed incidents at one threshold, from the active rows only (the rows sorted by risk once)."""

    def __init__(self, rows: _Rows, quiet_ms: int, alerts: AlertsConfig, events: pd.DataFrame) -> None:
        self.rows = rows
        self.quiet_ms = quiet_ms
        self.hysteresis = alerts.hysteresis
        self.by_risk = np.argsort(-rows.risk, kind="stable")
        self.desc = rows.risk[self.by_risk]
        # whether an incident opening at each row would be suppressed: the same rule as incidents()
        self.suppressed = _Events.of(events, alerts).suppressing(rows.robots, rows.robot, rows.cutoff) >= 0

    def count(self, threshold: float) -> int:
        level = self.hysteresis * threshold
        m = int(np.searchsorted(-self.desc, -level, side="right"))
        active = np.sort(self.by_risk[:m])
        r = self.rows
        opened, _ = _incident_spans(r.robot[active], r.cutoff[active], r.risk[active], threshold, level,
                                    self.quiet_ms)  # fmt: skip
        return int((~self.suppressed[active[opened]]).sum())


# ------------------------------------------------------------------------------ event-level evaluation


def failures_from_labels(frame: pd.DataFrame) -> pd.DataFrame:
    """The failures grid-mode labels point at: every row with ``label == 1`` and a finite
    ``time_to_failure_s`` names a failure of its robot at ``cutoff + round(time_to_failure_s * 1000)``; rows
    naming the same ``(robot_id, ts)`` are one failure (``code``: the ``failure_code`` of its earliest row).

    Only failures some labelled row points at appear (labels name the first failure of a horizon; excluded
    cutoffs have no row). Returns :data:`FAILURE_COLUMNS` sorted by ``(ts, robot_id)``.
    """
    _require_columns(frame, "feature rows", ("robot_id", "cutoff", "label", "time_to_failure_s"))
    label = frame["label"].to_numpy(dtype=np.float64, na_value=np.nan)
    ttf = pd.to_numeric(frame["time_to_failure_s"]).to_numpy(dtype=np.float64, na_value=np.nan)
    pos = np.flatnonzero((label == 1) & np.isfinite(ttf))
    if not len(pos):
        return pd.DataFrame({"robot_id": pd.Series(dtype=object), "ts": pd.Series(dtype=np.int64),
                             "code": pd.Series(dtype=object)})  # fmt: skip
    cutoff = _epoch_ms(frame, "cutoff", "feature rows")[pos]
    codes = _codes(frame, "failure_code")[pos]
    out = pd.DataFrame(
        {
            "robot_id": _robot_ids(frame, "feature rows")[pos],
            "ts": cutoff + np.round(ttf[pos] * 1000).astype(np.int64),
            "cutoff": cutoff,
            "code": codes,
        }
    )
    out = out.sort_values(["ts", "robot_id", "cutoff"], kind="stable")
    out = out.drop_duplicates(["robot_id", "ts"], keep="first").reset_index(drop=True)
    out["ts"] = out["ts"].astype(np.int64)
    return out.loc[:, list(FAILURE_COLUMNS)]


def _codes(frame: pd.DataFrame, column: str) -> Objs:
    """`column` as str-or-None per row (all None when the frame lacks it)."""
    if column not in frame.columns:
        return np.full(len(frame), None, dtype=object)
    return np.asarray([None if _is_null(c) else str(c) for c in frame[column].to_numpy(dtype=object)], object)


def _failure_arrays(failures: pd.DataFrame) -> tuple[Objs, I64, Objs]:
    _require_columns(failures, "failures", ("robot_id", "ts"))
    return _robot_ids(failures, "failures"), _epoch_ms(failures, "ts", "failures"), _codes(failures, "code")


def _incident_arrays(frame: pd.DataFrame) -> tuple[Objs, I64, Bools]:
    _require_columns(frame, "incidents", ("robot_id", "opened", "suppressed"))
    suppressed = frame["suppressed"].to_numpy(dtype=bool)
    return _robot_ids(frame, "incidents"), _epoch_ms(frame, "opened", "incidents"), suppressed


def caught_failures(incidents: pd.DataFrame, failures: pd.DataFrame, *, horizon_s: float) -> pd.DataFrame:
    """Per failure (rows of `failures`, same order): ``robot_id``, ``ts``, ``code``, ``caught`` (an
    unsuppressed incident of its robot opened in ``[ts - horizon, ts)``), ``lead_s`` (``ts - opened`` of the
    earliest such incident, seconds; NaN when not caught) and its ``incident_id`` (when `incidents` has
    that column)."""
    horizon_ms = whole_ms(horizon_s, "horizon_s")
    f_robot, f_ts, f_code = _failure_arrays(failures)
    i_robot, i_opened, i_suppressed = _incident_arrays(incidents)
    ids = incidents["incident_id"].to_numpy(dtype=object) if "incident_id" in incidents.columns else None
    lead = np.full(len(f_ts), np.nan)
    which = np.full(len(f_ts), None, dtype=object)
    live = ~i_suppressed
    for robot in np.unique(f_robot.astype(str)):
        mine = np.flatnonzero(live & (i_robot == robot))
        if not len(mine):
            continue
        mine = mine[np.argsort(i_opened[mine], kind="stable")]
        opened = i_opened[mine]
        rows = np.flatnonzero(f_robot == robot)
        lo = np.searchsorted(opened, f_ts[rows] - horizon_ms, side="left")
        hi = np.searchsorted(opened, f_ts[rows], side="left")
        hit = hi > lo
        lead[rows[hit]] = (f_ts[rows[hit]] - opened[lo[hit]]) / 1000.0
        if ids is not None:
            which[rows[hit]] = ids[mine[lo[hit]]]
    return pd.DataFrame(
        {"robot_id": f_robot, "ts": f_ts, "code": f_code, "caught": ~np.isnan(lead), "lead_s": lead,
         "incident_id": which}
    )  # fmt: skip


def true_incidents(incidents: pd.DataFrame, failures: pd.DataFrame, *, horizon_s: float) -> Bools:
    """Per incident (rows of `incidents`, suppressed or not): a failure of its robot follows in
    ``(opened, opened + horizon]``."""
    horizon_ms = whole_ms(horizon_s, "horizon_s")
    f_robot, f_ts, _ = _failure_arrays(failures)
    i_robot, i_opened, _ = _incident_arrays(incidents)
    out = np.zeros(len(i_opened), dtype=bool)
    for robot in np.unique(i_robot.astype(str)):
        ts = np.sort(f_ts[f_robot == robot])
        rows = np.flatnonzero(i_robot == robot)
        lo = np.searchsorted(ts, i_opened[rows], side="right")
        hi = np.searchsorted(ts, i_opened[rows] + horizon_ms, side="right")
        out[rows] = hi > lo
    return out


def _lead_summary(lead_s: F64) -> dict[str, Any]:
    if not len(lead_s):
        return {"min": None, "q1": None, "median": None, "q3": None, "max": None}
    q = np.quantile(lead_s, [0.0, 0.25, 0.5, 0.75, 1.0])
    return dict(zip(("min", "q1", "median", "q3", "max"), (float(v) for v in q), strict=True))


def _ratio(a: float, b: float) -> float | None:
    return float(a) / float(b) if b > 0 else None


def event_metrics(
    incidents: pd.DataFrame, failures: pd.DataFrame, *, horizon_s: float, robot_days: float
) -> dict[str, Any]:
    """What operators ask of the incidents of labelled days (a plain JSON-able dict; undefined values None).

    Failures are caught as in :func:`caught_failures`, incidents true or false as in :func:`true_incidents`;
    only unsuppressed incidents count as incidents (the suppressed ones are counted apart).

    Keys: ``horizon_s``, ``robot_days``, ``failures``, ``caught``, ``recall`` (caught / failures),
    ``lead_s`` (``min``, ``q1``, ``median``, ``q3``, ``max`` of the caught failures' lead times, seconds;
    quartiles by linear interpolation), ``lead_times_s`` (every lead time, ascending), ``incidents``,
    ``true_incidents``, ``false_incidents``, ``precision`` (true / incidents), ``incidents_per_robot_day``,
    ``false_incidents_per_robot_day``, ``incidents_per_failure_caught``, ``suppressed``, and ``per_code``:
    per failure code (failures without a code are in the totals only) ``failures``, ``caught``, ``recall``,
    ``lead_s``, ``lead_times_s`` and ``true_incidents`` (incidents a failure of that code follows within the
    horizon).

    Raises:
        ValueError: ``robot_days <= 0``, missing columns, a horizon that is not whole milliseconds.
    """
    if not robot_days > 0:
        raise ValueError(f"robot_days must be > 0 (got {robot_days!r})")
    catches = caught_failures(incidents, failures, horizon_s=horizon_s)
    live = ~incidents["suppressed"].to_numpy(dtype=bool)
    truth = true_incidents(incidents, failures, horizon_s=horizon_s)[live]
    n_inc, n_true = int(live.sum()), int(truth.sum())
    lead = np.sort(catches.loc[catches["caught"], "lead_s"].to_numpy(dtype=np.float64))
    caught = int(catches["caught"].sum())
    out: dict[str, Any] = {
        "horizon_s": float(horizon_s),
        "robot_days": float(robot_days),
        "failures": len(catches),
        "caught": caught,
        "recall": _ratio(caught, len(catches)),
        "lead_s": _lead_summary(lead),
        "lead_times_s": [float(v) for v in lead],
        "incidents": n_inc,
        "true_incidents": n_true,
        "false_incidents": n_inc - n_true,
        "precision": _ratio(n_true, n_inc),
        "incidents_per_robot_day": n_inc / robot_days,
        "false_incidents_per_robot_day": (n_inc - n_true) / robot_days,
        "incidents_per_failure_caught": _ratio(n_inc, caught),
        "suppressed": int((~live).sum()),
        "per_code": {},
    }
    live_incidents = incidents.loc[live]
    for code in sorted({str(c) for c in catches["code"] if c is not None}):
        mine = catches.loc[catches["code"] == code]
        code_lead = np.sort(mine.loc[mine["caught"], "lead_s"].to_numpy(dtype=np.float64))
        code_failures = failures.loc[(catches["code"] == code).to_numpy()]
        out["per_code"][code] = {
            "failures": len(mine),
            "caught": int(mine["caught"].sum()),
            "recall": _ratio(int(mine["caught"].sum()), len(mine)),
            "lead_s": _lead_summary(code_lead),
            "lead_times_s": [float(v) for v in code_lead],
            "true_incidents": int(true_incidents(live_incidents, code_failures, horizon_s=horizon_s).sum()),
        }
    return out
