"""Cutoffs, labels and exclusions (see docs/time-semantics.md, section 2).

All times are epoch milliseconds UTC (int64); intervals are half-open ``[a, b)`` unless written otherwise.
A **failure** is an event of the events signal with ``kind == labels.failure_kind``; its time ``t_f`` is the
event's ``ts`` and its mode the event's ``code``. With ``h = labels.horizon_s``, ``g = labels.grid_step_s``,
``Wmax = max(features.windows_s)``, ``cooldown = labels.cooldown_s`` and ``U = labels.unobserved_failure_s``
(all converted to whole ms):

- **Grid cutoffs** are the multiples of ``g`` (epoch-aligned) in the span ``[start, end)``.
- ``mode: event``: one positive per failure with cutoff ``c = floor((t_f - lead) / g) * g``, the latest grid
  instant at or before ``t_f - lead``, in ``[start, end)`` (label 1, its code,
  ``time_to_failure_s = (t_f - c) / 1000`` in ``[lead, lead + g)``); grid cutoffs are the negative
  candidates. Positives sit on the grid like every negative and every cutoff scored in deployment: a
  positive at an arbitrary millisecond would differ from all negatives by its phase against the clock
  (e.g. seconds-in-state never reaching the window length), which a model learns instead of the failure.
- ``mode: grid``: every grid cutoff is a candidate, labelled 1 when a failure lies in ``(c, c + h]`` (code and
  time to failure of the first such failure), else 0.
- **Exclusions**, first matching reason wins, among the reasons listed in ``labels.exclude`` (default: all
  five; a reason left out is never checked, so its candidates go on to the next reason and, if none
  matches, stay examples with the label their mode gives them):

  1. ``other_failure``: a failure other than the example's own with ``t_f`` in ``[c - Wmax - cooldown, c]``
     (both ends included);
  2. ``near_failure`` (event mode, grid candidates only): a failure in ``[c, c + h]``. A failure exactly at
     ``c`` is also an ``other_failure`` (which comes first), so this matters only when ``other_failure`` is
     not applied: a negative at ``c`` would then share its cutoff with that failure's positive (``lead = 0``,
     ``t_f`` on the grid). Event mode requires this reason (the configuration refuses to leave it out): a
     grid cutoff with a failure in its horizon is neither that failure's positive nor a negative, so it
     could only be dropped, which is what the reason does (and counts); ``mode: grid`` labels such cutoffs 1
     instead and never applies it;
  3. ``unobserved_failure``: an **orphan recovery** -- an event with ``kind == labels.recovery_kind`` at
     ``r`` with no failure in ``[r - U, r]`` whose code matches (equal codes, or either code null) -- whose
     possible failure times ``[r - U, r]`` meet ``[c - Wmax - cooldown, c + h]`` (positives:
     ``[c - Wmax - cooldown, c]``). A failure whose event was lost (with its document) still happened
     somewhere in ``[r - U, r]``; a cutoff it could have excluded or labelled is neither a clean negative nor
     a clean positive. ``U = 0`` turns the rule off;
  4. ``offline``: no sample of any sampled signal with ``ts`` in ``[c - Wmax, c)``;
  5. ``low_coverage``: a sampled signal with a ``rate_hz`` has
     ``(rows with ts in [c - Wmax, c)) / (Wmax_s * rate_hz) < labels.min_coverage``.

- **Negative subsampling**: a label-0 example that survived the exclusions is kept when
  ``u(robot_id, c) < labels.negative_fraction``, ``u`` a deterministic hash in ``[0, 1)`` (see
  :func:`_unit_hash`); kept negatives get ``weight = 1 / negative_fraction``, positives ``weight = 1``.

Choices where the contract is silent (each is tested against ``tests/reference_labels.py``):

- Durations in seconds (``lead_s``, ``horizon_s``, ``grid_step_s``, ``cooldown_s``,
  ``unobserved_failure_s``) must be whole milliseconds (within 1e-6 ms); anything else raises
  ``ValueError`` rather than being rounded silently.
- Failures are ordered by ``(ts, code)`` (null codes last): "the first such failure" of grid mode and the
  order of positives sharing a cutoff follow it. Two failure events at the same ``ts`` are two failures:
  when their cutoff equals ``t_f`` (``lead = 0`` and ``t_f`` on the grid) each is the other's
  ``other_failure``.
- "The example's own failure" is the failure event a positive was made from; grid candidates (both modes)
  have none, so any failure in ``[c - Wmax - cooldown, c]`` excludes them.
- Exclusions apply to every candidate, positives included (only ``near_failure`` is restricted to event-mode
  grid candidates). In event mode a positive and a grid candidate may share a cutoff (e.g. ``lead > 0``
  landing on the grid); they are distinct candidates.
- Without ``other_failure`` (dense failures, e.g. a cobot's protective stops every minute) a candidate with
  another failure in ``[c - Wmax - cooldown, c]`` stays an example: a positive stays a positive (two failures
  at one ``ts`` with their cutoff at ``t_f`` are two positives), a grid candidate is a negative unless a
  failure lies in ``[c, c + h]`` (event mode: ``near_failure``) or ``(c, c + h]`` (grid mode: label 1). The
  time since the last failure (event kind ``failure`` in ``features.event_kinds``: events with
  ``ts < c`` only) then tells the model what the exclusion used to keep out of the training data.
- Coverage counts sample rows (two rows sharing a ``ts`` count twice); a sampled signal missing from
  ``tables`` has no samples (so it is ``low_coverage`` whenever ``min_coverage > 0`` and it has a rate).
  The ratio is compared in float64 exactly as written above.
- Negative subsampling applies to label-0 examples in both modes (set ``negative_fraction: 1`` to score).
- ``time_to_failure_s = (t_f - c) / 1000`` for every positive (in ``[lead_s, lead_s + grid_step_s)`` in
  event mode), NaN for negatives.
- Output rows are sorted by ``(cutoff, label)``, ties (positives sharing a cutoff) in failure order.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from telemetry._types import F64, I64, Bools, Objs
from telemetry.config import (
    EXCLUSION_REASONS,
    FeaturesConfig,
    LabelsConfig,
    SignalSpec,
    events_signal,
    sampled_signals,
)
from telemetry.errors import DataContractError

__all__ = [
    "EXAMPLE_COLUMNS",
    "EXAMPLE_SCHEMA",
    "EXCLUSION_REASONS",
    "ExampleSet",
    "failure_events",
    "grid_cutoffs",
    "make_examples",
]

U64 = npt.NDArray[np.uint64]
Side = Literal["left", "right"]

EXAMPLE_SCHEMA = pa.schema(
    [
        pa.field("robot_id", pa.string()),
        pa.field("cutoff", pa.int64()),
        pa.field("label", pa.int8()),
        pa.field("failure_code", pa.string()),
        pa.field("time_to_failure_s", pa.float64()),
        pa.field("weight", pa.float64()),
    ]
)
"""The example columns as stored: the first columns of every feature table."""
EXAMPLE_COLUMNS: tuple[str, ...] = tuple(EXAMPLE_SCHEMA.names)

# EXCLUSION_REASONS (from the configuration) lists the reasons in evaluation order (the first matching one is
# counted); a candidate's reason is recorded as its position there (-1: none)
_REASON_CODE = {name: code for code, name in enumerate(EXCLUSION_REASONS)}

_MASK64 = (1 << 64) - 1


@dataclass(slots=True)
class ExampleSet:
    """The examples of one robot over one span, and what happened to every candidate cutoff."""

    examples: pd.DataFrame
    """Columns ``robot_id`` (object str), ``cutoff`` (int64 epoch ms), ``label`` (int8 0/1), ``failure_code``
    (object str or None), ``time_to_failure_s`` (float64, NaN for negatives), ``weight`` (float64); sorted by
    ``(cutoff, label)``; index ``0..n-1``."""
    candidates: int
    """All candidate cutoffs considered: ``len(examples) + sum(excluded.values()) + subsampled``."""
    excluded: dict[str, int] = field(default_factory=lambda: dict.fromkeys(EXCLUSION_REASONS, 0))
    """Reason -> count, for the reasons applied (``labels.exclude``, in :data:`EXCLUSION_REASONS` order; all
    five by default); a reason not applied has no key."""
    subsampled: int = 0
    """Negatives dropped by ``labels.negative_fraction``."""


# ------------------------------------------------------------------------------------------ helpers


def _whole_ms(seconds: float, name: str) -> int:
    """``seconds`` as whole milliseconds; ValueError when it is not (within 1e-6 ms)."""
    scaled = float(seconds) * 1000.0
    ms = round(scaled)
    if abs(scaled - ms) > 1e-6:
        raise ValueError(f"labels.{name} must be a whole number of milliseconds (got {seconds!r} s)")
    return int(ms)


def _check_span(start: int, end: int) -> None:
    for name, value in (("start", start), ("end", end)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
            raise ValueError(f"span {name} must be an integer epoch ms (got {value!r})")
    if end < start:
        raise ValueError(f"span end must be >= start (got start={start!r}, end={end!r})")


def _object_values(column: pd.Series[Any]) -> npt.NDArray[np.object_]:
    """An object array of ``column`` with None for every null (None, NaN, pd.NA)."""
    values = column.to_numpy(dtype=object, copy=True)
    values[column.isna().to_numpy(dtype=bool)] = None
    return values


def _sample_ts(table: pa.Table | pd.DataFrame, name: str) -> I64:
    """Sorted sample timestamps of one signal table."""
    if isinstance(table, pa.Table):
        if "ts" not in table.column_names:
            raise DataContractError(f"table of signal {name!r} has no 'ts' column (got {table.column_names})")
        column = table.column("ts")
        if column.null_count:
            raise DataContractError(f"signal {name!r} has samples without ts")
        ts: I64 = column.to_numpy().astype(np.int64, copy=False)
    elif isinstance(table, pd.DataFrame):
        if "ts" not in table.columns:
            raise DataContractError(
                f"table of signal {name!r} has no 'ts' column (got {list(table.columns)})"
            )
        if table["ts"].isna().any():
            raise DataContractError(f"signal {name!r} has samples without ts")
        ts = table["ts"].to_numpy(dtype=np.int64)
    else:
        raise ValueError(
            f"table of signal {name!r}: expected a pyarrow Table or a pandas DataFrame "
            f"(got {type(table).__name__})"
        )
    if len(ts) > 1 and bool((ts[1:] < ts[:-1]).any()):
        ts = np.sort(ts, kind="stable")
    return ts


def _count_in(sorted_ts: I64, lo: I64, hi: I64, *, lo_side: Side, hi_side: Side) -> I64:
    """Per query, how many of ``sorted_ts`` lie between ``lo`` and ``hi``.

    Sides as in ``np.searchsorted``: ``lo_side="left"`` includes ``lo``, ``"right"`` excludes it;
    ``hi_side="right"`` includes ``hi``, ``"left"`` excludes it.
    """
    left = np.searchsorted(sorted_ts, lo, side=lo_side)
    right = np.searchsorted(sorted_ts, hi, side=hi_side)
    return np.asarray(right - left, dtype=np.int64)


def _window_counts(ts: I64, cut: I64, n_grid: int, wmax: int, step: int) -> I64:
    """Per cutoff, the samples with ``ts`` in ``[c - wmax, c)``; ``cut[:n_grid]`` are consecutive grid points.

    When ``step`` divides ``wmax``, the window starts of the grid cutoffs are grid points too, so one search
    over ``[first - wmax, last]`` serves both ends (the searches over a day of 10 Hz samples dominate).
    """
    if n_grid == 0 or wmax % step:
        return _count_in(ts, cut - wmax, cut, lo_side="left", hi_side="left")
    k = wmax // step
    keys = np.arange(int(cut[0]) - wmax, int(cut[n_grid - 1]) + 1, step, dtype=np.int64)  # n_grid + k keys
    pos = np.searchsorted(ts, keys, side="left")
    grid_counts = pos[k:] - pos[:-k]
    rest = cut[n_grid:]
    rest_counts = _count_in(ts, rest - wmax, rest, lo_side="left", hi_side="left")
    return np.concatenate([grid_counts, rest_counts]).astype(np.int64, copy=False)


def _robot_hash(robot_id: str) -> int:
    """A stable 64-bit hash of ``robot_id`` (blake2b of its UTF-8 bytes, little-endian)."""
    return int.from_bytes(hashlib.blake2b(robot_id.encode("utf-8"), digest_size=8).digest(), "little")


def _unit_hash(robot_id: str, cutoffs: I64) -> F64:
    """Deterministic ``u(robot_id, c)`` in ``[0, 1)`` per cutoff.

    ``z = robot_hash(robot_id) XOR (c mod 2**64) * 0x9E3779B97F4A7C15`` (mod 2**64), then the splitmix64
    finaliser ``z ^= z >> 30; z *= 0xBF58476D1CE4E5B9; z ^= z >> 27; z *= 0x94D049BB133111EB; z ^= z >> 31``,
    and ``u = (z >> 11) / 2**53``. Independent of the partitioning and of Python's salted ``hash()``.
    """
    rid = np.uint64(_robot_hash(robot_id))
    with np.errstate(over="ignore"):
        z = np.ascontiguousarray(cutoffs, dtype=np.int64).view(np.uint64) * np.uint64(0x9E3779B97F4A7C15)
        z = z ^ rid
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        z = z ^ (z >> np.uint64(31))
    return np.asarray((z >> np.uint64(11)).astype(np.float64) * (1.0 / 9007199254740992.0), dtype=np.float64)


def _empty_examples() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "robot_id": pd.Series([], dtype=object),
            "cutoff": pd.Series([], dtype=np.int64),
            "label": pd.Series([], dtype=np.int8),
            "failure_code": pd.Series([], dtype=object),
            "time_to_failure_s": pd.Series([], dtype=np.float64),
            "weight": pd.Series([], dtype=np.float64),
        }
    )


# ------------------------------------------------------------------------------------------ public API


def _failures(events: pa.Table | pd.DataFrame | None, labels: LabelsConfig) -> tuple[I64, Objs]:
    """``(ts, code)`` arrays of the failures, in the order of :func:`failure_events`."""
    return _events_of_kind(events, labels.failure_kind, "failure")


def _events_of_kind(events: pa.Table | pd.DataFrame | None, kind_wanted: str, what: str) -> tuple[I64, Objs]:
    """``(ts, code)`` arrays of the events of one kind, ordered by ``(ts, code)``, null codes last."""
    if events is None:
        return np.empty(0, dtype=np.int64), np.empty(0, dtype=object)
    if isinstance(events, pa.Table):  # no pandas round trip: events tables are small, to_pandas is not
        names = events.column_names
        for column in ("ts", "kind"):
            if column not in names:
                raise DataContractError(f"events table has no {column!r} column (got {names})")
        kind = events.column("kind").cast(pa.string())
        mask = pc.fill_null(pc.equal(kind, pa.scalar(kind_wanted, pa.string())), False)
        ts_col = events.column("ts").filter(mask)
        if ts_col.null_count:
            raise DataContractError(f"a {what} event has no ts")
        ts: I64 = ts_col.to_numpy().astype(np.int64, copy=False)
        if "code" in names:
            codes = np.array(events.column("code").filter(mask).cast(pa.string()).to_pylist(), dtype=object)
        else:
            codes = np.full(len(ts), None, dtype=object)
    elif isinstance(events, pd.DataFrame):
        for column in ("ts", "kind"):
            if column not in events.columns:
                raise DataContractError(f"events table has no {column!r} column (got {list(events.columns)})")
        is_failure = np.asarray(_object_values(events["kind"]) == kind_wanted, dtype=bool)
        ts_series = events["ts"][is_failure]
        if ts_series.isna().any():
            raise DataContractError(f"a {what} event has no ts")
        ts = ts_series.to_numpy(dtype=np.int64)
        if "code" in events.columns:
            codes = _object_values(events["code"])[is_failure]
        else:
            codes = np.full(len(ts), None, dtype=object)
    else:
        raise ValueError(
            f"events: expected a pyarrow Table or a pandas DataFrame (got {type(events).__name__})"
        )
    if len(ts) == 0:
        return np.empty(0, dtype=np.int64), np.empty(0, dtype=object)
    has_code = np.asarray(codes != None, dtype=bool)  # noqa: E711 - elementwise comparison
    code_keys = np.where(has_code, codes, "").astype(str)
    order = np.lexsort((code_keys, ~has_code, ts))  # the last key is the primary one
    return ts[order], codes[order]


def _orphan_recoveries(
    events: pa.Table | pd.DataFrame | None, labels: LabelsConfig, f_ts: I64, f_code: Objs, window: int
) -> I64:
    """Sorted times ``r`` of the recoveries with no matching failure in ``[r - window, r]`` (none if 0)."""
    if window <= 0:
        return np.empty(0, dtype=np.int64)
    r_ts, r_code = _events_of_kind(events, labels.recovery_kind, "recovery")
    lo = np.searchsorted(f_ts, r_ts - window, side="left")
    hi = np.searchsorted(f_ts, r_ts, side="right")
    orphan = np.ones(len(r_ts), dtype=bool)
    for i in np.flatnonzero(hi > lo):  # recoveries are few (one per failure): a loop over them is cheap
        code = r_code[i]
        orphan[i] = not any(c is None or code is None or c == code for c in f_code[lo[i] : hi[i]])
    return r_ts[orphan]


def failure_events(events: pa.Table | pd.DataFrame | None, labels: LabelsConfig) -> pd.DataFrame:
    """The failures among ``events``: events with ``kind == labels.failure_kind``.

    Args:
        events: the events signal's extracted table (``ts``, ``kind``, ``code``, ...), or None (no failures).
        labels: the ``labels`` section (``failure_kind``).

    Returns:
        Columns ``ts`` (int64 epoch ms) and ``code`` (object: str or None), sorted by ``(ts, code)`` with null
        codes last among equal ``ts``; index ``0..n-1``. Events with a null ``kind`` are not failures.

    Raises:
        DataContractError: a ``ts`` or ``kind`` column is missing, or a failure has no ``ts``.
    """
    ts, codes = _failures(events, labels)
    return pd.DataFrame({"ts": pd.Series(ts, dtype=np.int64), "code": pd.Series(codes, dtype=object)})


def grid_cutoffs(labels: LabelsConfig, start: int, end: int) -> I64:
    """The grid cutoffs of ``[start, end)``: the multiples of ``labels.grid_step_s`` (epoch-aligned, in ms)
    ``c`` with ``start <= c < end``, ascending int64.

    Raises:
        ValueError: ``end < start``, or the grid step is not a whole number of milliseconds.
    """
    _check_span(start, end)
    step = _whole_ms(labels.grid_step_s, "grid_step_s")
    if step < 1:
        raise ValueError(f"labels.grid_step_s must be at least 1 ms (got {labels.grid_step_s!r} s)")
    first = -(-int(start) // step) * step  # smallest multiple of step >= start
    return np.arange(first, int(end), step, dtype=np.int64)


def make_examples(
    tables: Mapping[str, pa.Table | pd.DataFrame],
    *,
    signals: Sequence[SignalSpec],
    labels: LabelsConfig,
    features: FeaturesConfig,
    robot_id: str,
    start: int,
    end: int,
) -> ExampleSet:
    """Labelled example cutoffs of one robot whose cutoff lies in ``[start, end)``.

    Args:
        tables: extracted tables by signal name (``ts`` plus fields). The events signal's table (the
            registry's ``role: events`` signal) supplies the failures; every ``role: sampled`` signal's ``ts``
            drives ``offline`` and ``low_coverage``; a missing table has no rows. Pass the halo too: samples
            with ``ts`` in ``[start - Wmax, end)`` and events with ``ts`` in
            ``[start - Wmax - cooldown - U, end + max(h + U, lead + g))`` (data outside those never changes
            the result).
            Failures outside the span make no positive but still exclude and label the cutoffs inside it.
        signals: the signal registry (``config.signals``): the events signal and the sampled signals.
        labels: the ``labels`` section.
        features: the ``features`` section (``windows_s``: ``Wmax``).
        robot_id: the robot (recorded in every row; seeds the negative subsampling hash).
        start: first instant of the span (epoch ms, inclusive).
        end: end of the span (epoch ms, exclusive).

    Returns:
        The examples (see :class:`ExampleSet`) and the counts of every candidate cutoff's fate. The result
        for ``[a, c)`` is the concatenation of those for ``[a, b)`` and ``[b, c)`` given the same tables.

    Raises:
        ValueError: bad span, robot id or durations that are not whole milliseconds.
        DataContractError: a table without ``ts`` (or an events table without ``kind``), or a null ``ts``.
    """
    if not isinstance(robot_id, str) or not robot_id:
        raise ValueError(f"robot_id must be a non-empty string (got {robot_id!r})")
    _check_span(start, end)
    lead = _whole_ms(labels.lead_s, "lead_s")
    horizon = _whole_ms(labels.horizon_s, "horizon_s")
    cooldown = _whole_ms(labels.cooldown_s, "cooldown_s")
    unobserved = _whole_ms(labels.unobserved_failure_s, "unobserved_failure_s")
    wmax = features.longest_window_ms
    wmax_s = float(max(features.windows_s))

    events_spec = events_signal(signals)
    events = tables.get(events_spec.name) if events_spec is not None else None
    f_ts, f_code = _failures(events, labels)
    orphans = _orphan_recoveries(events, labels, f_ts, f_code, unobserved)

    # candidates: grid cutoffs, then (event mode) one positive per failure whose cutoff is in the span
    grid = grid_cutoffs(labels, start, end)
    step = _whole_ms(labels.grid_step_s, "grid_step_s")
    if labels.mode == "event":
        pos_cut = (f_ts - lead) // step * step  # the latest grid instant <= t_f - lead
        in_span = (pos_cut >= start) & (pos_cut < end)
        pos_idx = np.flatnonzero(in_span)
        cut = np.concatenate([grid, pos_cut[pos_idx]])
        is_pos = np.concatenate([np.zeros(len(grid), dtype=bool), np.ones(len(pos_idx), dtype=bool)])
        own = np.concatenate([np.full(len(grid), -1, dtype=np.int64), pos_idx.astype(np.int64)])
    else:
        cut = grid
        is_pos = np.zeros(len(grid), dtype=bool)
        own = np.full(len(grid), -1, dtype=np.int64)
    n = len(cut)

    # label, code and time to failure
    label = is_pos.copy()
    fail_idx = own.copy()
    if labels.mode == "grid" and len(f_ts):
        first_after = np.searchsorted(f_ts, cut, side="right")  # first failure with t_f > c
        safe = np.minimum(first_after, len(f_ts) - 1)
        hit = (first_after < len(f_ts)) & (f_ts[safe] <= cut + horizon)
        label = hit
        fail_idx = np.where(hit, first_after, -1).astype(np.int64)

    # exclusions, first matching reason wins; a reason not applied is never computed
    reason = np.full(n, -1, dtype=np.int8)
    applied = set(labels.exclude)

    def mark(name: str, mask: Bools) -> None:
        reason[(reason < 0) & mask] = _REASON_CODE[name]

    if "other_failure" in applied:
        others = _count_in(f_ts, cut - wmax - cooldown, cut, lo_side="left", hi_side="right")
        if is_pos.any():  # a positive's own failure (t_f >= c) is counted when it lies at its cutoff
            own_ts = f_ts[np.maximum(own, 0)]
            others = others - (is_pos & (own_ts <= cut)).astype(np.int64)
        mark("other_failure", others > 0)
    if labels.mode == "event" and "near_failure" in applied:
        near = _count_in(f_ts, cut, cut + horizon, lo_side="left", hi_side="right")
        mark("near_failure", ~is_pos & (near > 0))
    if len(orphans) and "unobserved_failure" in applied:
        # [r - U, r] meets [c - Wmax - cooldown, reach]  <=>  c - Wmax - cooldown <= r <= reach + U
        reach = np.where(is_pos, cut, cut + horizon)
        hidden = _count_in(
            orphans, cut - wmax - cooldown, reach + unobserved, lo_side="left", hi_side="right"
        )
        mark("unobserved_failure", hidden > 0)
    if applied & {"offline", "low_coverage"}:
        any_sample = np.zeros(n, dtype=bool)
        low = np.zeros(n, dtype=bool)
        for spec in sampled_signals(signals):
            table = tables.get(spec.name)
            ts = _sample_ts(table, spec.name) if table is not None else np.empty(0, dtype=np.int64)
            count = _window_counts(ts, cut, len(grid), wmax, step)
            any_sample |= count > 0
            if spec.rate_hz is not None:
                low |= count / (wmax_s * spec.rate_hz) < labels.min_coverage
        if "offline" in applied:
            mark("offline", ~any_sample)
        if "low_coverage" in applied:
            mark("low_coverage", low)

    # negative subsampling of the survivors
    survivors = reason < 0
    negatives = survivors & ~label
    if labels.negative_fraction < 1.0:
        dropped = negatives & (_unit_hash(robot_id, cut) >= labels.negative_fraction)
    else:
        dropped = np.zeros(n, dtype=bool)
    keep = survivors & ~dropped

    excluded = {name: int((reason == code).sum()) for name, code in _REASON_CODE.items() if name in applied}
    rows = np.flatnonzero(keep)
    if len(rows) == 0:
        return ExampleSet(_empty_examples(), n, excluded, int(dropped.sum()))
    k_cut = cut[rows]
    k_label = label[rows]
    k_fail = fail_idx[rows]
    # candidates are in (grid ascending, positives in failure order): a stable sort keeps failure order
    order = np.lexsort((k_label, k_cut))
    k_cut, k_label, k_fail = k_cut[order], k_label[order], k_fail[order]
    codes = np.full(len(rows), None, dtype=object)
    ttf = np.full(len(rows), np.nan)
    if k_label.any():
        pos = np.flatnonzero(k_label)
        codes[pos] = f_code[k_fail[pos]]
        ttf[pos] = (f_ts[k_fail[pos]] - k_cut[pos]) / 1000.0
    weight = np.where(k_label, 1.0, 1.0 / labels.negative_fraction)
    data: dict[str, Any] = {
        "robot_id": pd.Series(np.full(len(rows), robot_id, dtype=object), dtype=object),
        "cutoff": k_cut.astype(np.int64),
        "label": k_label.astype(np.int8),
        "failure_code": pd.Series(codes, dtype=object),
        "time_to_failure_s": ttf.astype(np.float64),
        "weight": weight.astype(np.float64),
    }
    return ExampleSet(pd.DataFrame(data), n, excluded, int(dropped.sum()))
