"""A collaborative robot arm (cobot) at 1 Hz whose protective stops come every minute: dense failures.

The arm runs a pick-and-place program in a loop. About every 75 s on average it stops: a **protective stop**
(``PROTECTIVE_STOP``, 85 % of stops) or a **collision** (``COLLISION``, 15 %). Most protective stops announce
themselves: one joint's torque and current climb (and vibrate) over the 5-20 s before the stop, as when a
gripped part jams or a joint drags. Collisions never do, nor do 15 % of the protective stops. After every stop
the arm stands still for 3-10 s, then a ``recovery`` event restarts the program. Such data loses most of its
cutoffs to the ``other_failure`` exclusion: :func:`cobot_config` gives the label and feature settings for
dense failures (docs/time-semantics.md, "Dense failures").

Time semantics
--------------
* Every timestamp is an integer count of epoch milliseconds UTC. A robot-day is the UTC day ``[00:00, 24:00)``
  of its date; ``CobotSpec.hours < 24`` keeps the arm online only during ``[00:00, 00:00 + hours)`` of every
  day (a fresh program start each day); ``24`` simulates the days as one continuous run.
* Signals ``joint`` and ``gripper`` are sampled at 1 Hz, each on its own clock: sample ``k`` at
  ``k * 1000 + offset + jitter``, ``offset`` a per-robot constant (``joint`` in ``[-300, -100)`` ms,
  ``gripper`` in ``[100, 300)`` ms), ``jitter`` in ``[-8, 8]`` ms. Every value is a function of the sample's
  own ``ts``: a precursor shows in samples with ``ts`` in ``[onset, t_f)``, the stop in samples with ``ts`` in
  ``[t_f, recovery)``. Event timestamps are moved by 1 ms where they would equal another sample's.
* Envelopes are sent every 4.7-5.3 s while online; a sample (or event) ready at ``ts + latency`` (5-80 ms)
  travels in the first envelope with ``sent_at >= ready`` and belongs to the day zip of that envelope's UTC
  day. Samples of the last seconds of an online span that no envelope carries are never uploaded (their
  failures are not visible). No upload faults: every member is a valid document.

Signals
-------
* ``joint``: ``torque_j1``, ``current_j1``, ``temp_j1`` (shoulder), ``torque_j2``, ``current_j2``,
  ``temp_j2`` (elbow), ``speed`` (tool speed, m/s; 0 while stopped). Torques follow the program's cycle
  (10-14 s per robot) and the payload while a part is held; currents are torques over a torque constant;
  temperatures lag the squared currents by ~10 min.
* ``gripper``: ``force`` (N; ~35 while holding a part) and ``grip_ok`` (1, or 0 after a collision dropped
  the part and on rare glitches).
* ``events``: ``failure`` (the stops), ``recovery`` (same code, 3-10 s after its stop) and ``warning``
  ``TORQUE_HIGH`` (during 40 % of the precursors and at random about every 10 min).

Determinism: the same :class:`CobotSpec` gives the same bytes (for the same ``numpy`` and ``zlib``). Stops
are drawn alike with ``precursors=False`` (same times, codes and outages), so the two runs are a paired
comparison: with no precursor, only the time since the last stop remains to predict the next one.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Final

import numpy as np
import numpy.typing as npt
import orjson
import pandas as pd

from telemetry._types import F64, I64, Bools
from telemetry.config import DEFAULT_SIGNALS, EXCLUSION_REASONS, SignalSpec
from telemetry.contract.envelope import DAY_MS, ROBOT_ID_RE, SCHEMA_ID, day_bounds_ms, member_name
from telemetry.contract.layout import DayKey, ground_truth_key
from telemetry.contract.ziplib import build_day_zip, gzip_member
from telemetry.sim.fleet import Failure

__all__ = [
    "COBOT_SIGNALS",
    "STOP_CODES",
    "WARNING_CODE",
    "CobotDay",
    "CobotSpec",
    "cobot_config",
    "cobot_ids",
    "simulate_cobot_days",
    "simulate_cobots",
]


STOP_CODES: Final = ("PROTECTIVE_STOP", "COLLISION")
"""Codes of the failures (``events`` with ``kind == "failure"``)."""
WARNING_CODE: Final = "TORQUE_HIGH"
"""Code of the warnings (``kind == "warning"``)."""

COBOT_SIGNALS: tuple[SignalSpec, ...] = (
    SignalSpec(
        name="joint",
        numeric=("torque_j1", "current_j1", "temp_j1", "torque_j2", "current_j2", "temp_j2", "speed"),
        rate_hz=1.0,
        tolerance_ms=500,
    ),
    SignalSpec(name="gripper", numeric=("force", "grip_ok"), rate_hz=1.0, tolerance_ms=500),
    next(s for s in DEFAULT_SIGNALS if s.role == "events"),
)
"""The signal registry of the simulated cobot (the ``signals`` of :func:`cobot_config`)."""

_PS, _CO = STOP_CODES
_RUN_MIN_S: Final = 25.0  # running time from a (re)start to the next stop: this + exponential
_RUN_EXTRA_MEAN_S: Final = 42.0
_OUTAGE_S: Final = (3.0, 10.0)  # stop -> recovery
_COLLISION_SHARE: Final = 0.15
_PRECURSOR_SHARE: Final = 0.85  # of the protective stops
_PRECURSOR_S: Final = (5.0, 20.0)
_WARNING_IN_PRECURSOR: Final = 0.4
_RANDOM_WARNINGS_PER_S: Final = 1.0 / 600.0
_ENVELOPE_MS: Final = (4700, 5300)
_LATENCY_MS: Final = (5, 80)
_SEVERITY: Final = {"failure": 3.0, "recovery": 1.0, "warning": 2.0}
_AGENT_VERSION: Final = "urcap-agent 1.4.2"


@dataclass(frozen=True, slots=True, kw_only=True)
class CobotSpec:
    """What to simulate. Equal specs give byte-identical zips.

    ``hours`` (``(0, 24]``) keeps every arm online only during ``[00:00, 00:00 + hours)`` UTC of each day
    (fast tests); ``precursors=False`` removes every precursor (and the warnings they fire), nothing else.
    """

    fleet: str = "cobot-cell"
    robots: int = 1
    days: int = 2
    start: dt.date = dt.date(2026, 11, 2)
    seed: int = 0
    hours: float = 24.0
    precursors: bool = True

    def __post_init__(self) -> None:
        if not isinstance(self.fleet, str) or not ROBOT_ID_RE.match(self.fleet):
            raise ValueError(f"CobotSpec.fleet must match {ROBOT_ID_RE.pattern} (got {self.fleet!r})")
        for name in ("robots", "days"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 9999:
                raise ValueError(f"CobotSpec.{name} must be an integer in [1, 9999] (got {value!r})")
        if not isinstance(self.start, dt.date) or isinstance(self.start, dt.datetime):
            raise ValueError(f"CobotSpec.start must be a datetime.date (got {self.start!r})")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0:
            raise ValueError(f"CobotSpec.seed must be an integer >= 0 (got {self.seed!r})")
        if isinstance(self.hours, bool) or not isinstance(self.hours, (int, float)):
            raise ValueError(f"CobotSpec.hours must be a number in (0, 24] (got {self.hours!r})")
        if not 0.0 < self.hours <= 24.0:
            raise ValueError(f"CobotSpec.hours must be in (0, 24] (got {self.hours!r})")


@dataclass(slots=True)
class CobotDay:
    """One simulated robot-day.

    Attributes:
        day: the robot-day (its zip is ``day.key``).
        members: the zip's members ``(name, gzip bytes)`` in ``seq`` order.
        expected: per signal of :data:`COBOT_SIGNALS`, what a correct extractor produces from ``members``:
            ``robot_id``, ``ts`` (int64), then the fields in registry order (numeric float64, categorical
            object), sorted by ``ts`` (unique), index ``0..n-1``.
        failures: the stops whose failure event this day's zip carries, in ``ts`` order.
    """

    day: DayKey
    members: list[tuple[str, bytes]]
    expected: dict[str, pd.DataFrame]
    failures: list[Failure]


def cobot_ids(spec: CobotSpec) -> list[str]:
    """Robot ids of the cell: ``cobot-0001`` ... (zero-padded to 4 digits)."""
    return [f"cobot-{i + 1:04d}" for i in range(spec.robots)]


def simulate_cobot_days(spec: CobotSpec, robot_id: str) -> Iterator[CobotDay]:
    """All ``spec.days`` robot-days of one arm, in date order (deterministic: ``spec`` and the robot's index).

    Raises:
        ValueError: when ``robot_id`` is not one of :func:`cobot_ids`.
    """
    ids = cobot_ids(spec)
    if robot_id not in ids:
        raise ValueError(
            f"robot_id must be one of cobot_ids(spec) ('{ids[0]}' ... '{ids[-1]}') (got {robot_id!r})"
        )
    yield from _Arm(spec, ids.index(robot_id)).days()


def simulate_cobots(
    spec: CobotSpec,
    write: Callable[[str, bytes], None],
    *,
    progress: Callable[[DayKey], None] | None = None,
) -> list[Failure]:
    """Simulate every robot-day, ``write(day.key, zip bytes)`` it, then the ground truth.

    Robots in order, days in order; finally ``write("fleet=<fleet>/_truth/ground_truth.json", ...)``: the spec
    and every visible stop (``robot_id``, ``ts``, ``code``, ``precursor_onset_ts``, ``precursor_s``). Keys are
    relative to the raw root; ``progress(day)`` is called after each robot-day is written.

    Returns:
        The visible stops, by robot then ``ts``.
    """
    failures: list[Failure] = []
    for robot_id in cobot_ids(spec):
        for cd in simulate_cobot_days(spec, robot_id):
            write(cd.day.key, build_day_zip(cd.members))
            failures.extend(cd.failures)
            if progress is not None:
                progress(cd.day)
    spec_doc = {f.name: getattr(spec, f.name) for f in dataclasses.fields(spec)}
    spec_doc["start"] = spec.start.isoformat()
    truth = {"spec": spec_doc, "failures": [dataclasses.asdict(f) for f in failures]}
    write(
        ground_truth_key(spec.fleet),
        orjson.dumps(truth, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS),
    )
    return failures


def cobot_config(fleet: str = "cobot-cell") -> dict[str, Any]:
    """The configuration (YAML-ready, for ``load_config``) of the simulated cobot, set for dense failures.

    * ``signals``: :data:`COBOT_SIGNALS`; ``align``: a 1 s grid (the signals' rate).
    * ``labels``: event mode on a 1 s grid; ``lead_s`` 2 (a positive is the grid instant 2-3 s before its
      stop: time to slow down, and most precursors have grown by then); ``horizon_s`` 20 (the longest
      precursor: a cutoff that may sit inside one is not a clean negative); ``cooldown_s`` 0 and
      ``exclude`` without ``other_failure`` (the stops are ~75 s apart: with it, most cutoffs would be
      excluded); ``unobserved_failure_s`` 60 (a recovery follows its stop within 10 s).
    * ``features``: windows of 5, 10 and 30 s (the precursor's scale) and 120 s (longer than most gaps
      between stops, so that ``events.kind__since_last:failure__w120s``, the time since the last stop, is
      defined at most cutoffs); event kinds ``failure``, ``recovery`` and ``warning``; the warning code.
    * ``train.alert_budget`` 1000 alerts per robot-day: about one per stop of a 24 h day (the default, 2,
      suits failures that come a few times a day).
    """
    signals = {
        spec.name: {
            "numeric": list(spec.numeric),
            "categorical": list(spec.categorical),
            "rate_hz": spec.rate_hz,
            "tolerance_ms": spec.tolerance_ms,
            "direction": spec.direction,
            "role": spec.role,
        }
        for spec in COBOT_SIGNALS
    }
    return {
        "fleet": fleet,
        "signals": signals,
        "align": {"clock": "grid", "step_ms": 1000},
        "labels": {
            "mode": "event",
            "lead_s": 2.0,
            "horizon_s": 20.0,
            "grid_step_s": 2.0,
            "cooldown_s": 0.0,
            "unobserved_failure_s": 60.0,
            "exclude": [r for r in EXCLUSION_REASONS if r != "other_failure"],
        },
        "features": {
            "windows_s": [5, 10, 30, 120],
            "levels": {},
            "event_kinds": ["failure", "recovery", "warning"],
            "event_codes": [WARNING_CODE],
        },
        "train": {"alert_budget": 1000.0},
    }


# ================================================================================================ the model


@dataclass(frozen=True, slots=True)
class _Profile:
    """Per-robot constants."""

    cycle_s: float
    base: tuple[float, float]  # joint torques (Nm) at rest
    payload: tuple[float, float]  # extra torque while a part is held
    amplitude: tuple[float, float]  # cyclic torque amplitude while moving
    kt: tuple[float, float]  # torque constant (Nm/A)
    heat: tuple[float, float]  # steady temperature rise per A^2
    ambient: float
    offsets: tuple[int, int]  # joint, gripper clock offsets (ms)


def _profile(rng: np.random.Generator) -> _Profile:
    return _Profile(
        cycle_s=float(rng.uniform(10.0, 14.0)),
        base=(float(rng.uniform(30.0, 40.0)), float(rng.uniform(14.0, 20.0))),
        payload=(float(rng.uniform(6.0, 10.0)), float(rng.uniform(3.0, 6.0))),
        amplitude=(float(rng.uniform(10.0, 14.0)), float(rng.uniform(5.0, 8.0))),
        kt=(float(rng.uniform(9.0, 11.0)), float(rng.uniform(7.0, 9.0))),
        heat=(float(rng.uniform(0.8, 1.0)), float(rng.uniform(1.0, 1.4))),
        ambient=float(rng.uniform(24.0, 30.0)),
        offsets=(int(rng.integers(-300, -100)), int(rng.integers(100, 300))),
    )


@dataclass(slots=True)
class _Plan:
    """The stops and warnings of one online span ``[start, end)`` (epoch ms)."""

    start: int
    end: int
    stop_ts: I64
    code: list[str]
    onset: I64  # precursor onset, -1 when the stop has none
    joint: I64  # the joint whose torque climbs (0 or 1)
    magnitude: F64  # of the climb, in units of the joint's cyclic amplitude
    recovery: I64
    warnings: I64


def _plan(rng: np.random.Generator, start: int, end: int, precursors: bool) -> _Plan:
    """Draw the stops of ``[start, end)``: every draw is made whatever ``precursors`` says (paired runs)."""
    stops: list[tuple[int, str, int, int, float, int]] = []
    warnings: list[int] = []
    run_start = start
    while True:
        t_f = run_start + round((_RUN_MIN_S + rng.exponential(_RUN_EXTRA_MEAN_S)) * 1000)
        recovery = t_f + round(rng.uniform(*_OUTAGE_S) * 1000)
        code = _CO if rng.random() < _COLLISION_SHARE else _PS
        announced = rng.random() < _PRECURSOR_SHARE
        length = round(rng.uniform(*_PRECURSOR_S) * 1000)
        joint = int(rng.integers(0, 2))
        magnitude = float(rng.uniform(0.6, 1.2))
        warned = rng.random() < _WARNING_IN_PRECURSOR
        warn_at = float(rng.uniform(0.5, 0.95))
        if recovery >= end:  # the arm runs on until the span ends
            break
        onset = -1
        if precursors and code == _PS and announced:
            onset = max(t_f - length, run_start + 2000)  # a precursor starts after the restart
            if warned:
                warnings.append(onset + round(warn_at * (t_f - onset)))
        stops.append((t_f, code, onset, joint, magnitude, recovery))
        run_start = recovery
    n_random = int(rng.poisson((end - start) / 1000 * _RANDOM_WARNINGS_PER_S))
    warnings += rng.integers(start, end, n_random).tolist()
    return _Plan(
        start=start,
        end=end,
        stop_ts=np.array([s[0] for s in stops], dtype=np.int64),
        code=[s[1] for s in stops],
        onset=np.array([s[2] for s in stops], dtype=np.int64),
        joint=np.array([s[3] for s in stops], dtype=np.int64),
        magnitude=np.array([s[4] for s in stops], dtype=np.float64),
        recovery=np.array([s[5] for s in stops], dtype=np.int64),
        warnings=np.sort(np.array(warnings, dtype=np.int64)),
    )


def _sample_times(rng: np.random.Generator, start: int, end: int, offset: int) -> I64:
    """1 Hz sample times whose nominal time ``k * 1000 + offset`` lies in ``[start, end)``, with jitter."""
    first = -(-(start - offset) // 1000)
    nominal = np.arange(first, -(-(end - offset) // 1000), dtype=np.int64) * 1000 + offset
    return nominal + rng.integers(-8, 9, len(nominal))


def _unique_events(plan: _Plan, taken: I64) -> None:
    """Move event timestamps by 1 ms where they equal a sample's or another event's (no shared ``ts``)."""
    used = set(taken.tolist())
    for array in (plan.stop_ts, plan.recovery, plan.warnings):
        for i, ts in enumerate(array.tolist()):
            while ts in used:
                ts += 1
            array[i] = ts
            used.add(ts)
    plan.warnings.sort()


@dataclass(slots=True)
class _State:
    """The arm at given sample times."""

    tau: F64  # seconds since the program (re)started
    stopped: Bools
    holding: Bools
    collision: Bools  # stopped by a collision (the part is dropped)
    ramp: F64  # precursor progress in [0, 1), 0 outside precursors
    ramp_joint: I64  # the joint of that precursor (-1 outside)
    magnitude: F64


def _state(plan: _Plan, ts: I64, prof: _Profile) -> _State:
    """The arm's state at each of ``ts`` (sorted or not): every value depends on that instant only."""
    restarts = np.concatenate(([plan.start], plan.recovery)).astype(np.int64)
    last_restart = restarts[np.maximum(np.searchsorted(restarts, ts, side="right") - 1, 0)]
    tau = (ts - last_restart) / 1000.0
    n = len(plan.stop_ts)
    empty = _State(
        tau=tau,
        stopped=np.zeros(len(ts), dtype=bool),
        holding=_holding(tau, prof.cycle_s),
        collision=np.zeros(len(ts), dtype=bool),
        ramp=np.zeros(len(ts)),
        ramp_joint=np.full(len(ts), -1, dtype=np.int64),
        magnitude=np.zeros(len(ts)),
    )
    if n == 0:
        return empty
    prev = np.searchsorted(plan.stop_ts, ts, side="right") - 1  # the latest stop at or before ts
    at = np.maximum(prev, 0)
    stopped = (prev >= 0) & (ts < plan.recovery[at])
    # while stopped, the arm holds what it held at the stop
    stop_tau = (plan.stop_ts - restarts[:-1]) / 1000.0
    holding = _holding(np.where(stopped, stop_tau[at], tau), prof.cycle_s)
    is_collision = np.array([c == _CO for c in plan.code], dtype=bool)
    collision = stopped & is_collision[at]
    nxt = np.minimum(prev + 1, n - 1)  # the first stop after ts (clipped; `inside` checks it is after)
    onset, t_f = plan.onset[nxt], plan.stop_ts[nxt]
    inside = (onset >= 0) & (ts >= onset) & (ts < t_f)
    ramp, ramp_joint, magnitude = empty.ramp, empty.ramp_joint, empty.magnitude
    ramp[inside] = (ts[inside] - onset[inside]) / (t_f[inside] - onset[inside])
    ramp_joint[inside] = plan.joint[nxt][inside]
    magnitude[inside] = plan.magnitude[nxt][inside]
    return _State(tau, stopped, holding, collision, ramp, ramp_joint, magnitude)


def _holding(tau: F64, cycle_s: float) -> Bools:
    """A part is held from 30 % to 80 % of every cycle."""
    phase = np.mod(tau, cycle_s) / cycle_s
    return np.asarray((phase >= 0.3) & (phase < 0.8), dtype=bool)


def _first_order(u: F64, alpha: float, y0: float) -> F64:
    """``y[k] = y[k-1] + alpha * (u[k] - y[k-1])`` with ``y[-1] = y0`` (a thermal lag)."""
    series = pd.Series(np.concatenate(([y0], u)))
    return series.ewm(alpha=alpha, adjust=False).mean().to_numpy(dtype=np.float64)[1:]


def _joint_values(plan: _Plan, ts: I64, prof: _Profile, rng: np.random.Generator) -> dict[str, F64]:
    st = _state(plan, ts, prof)
    moving = ~st.stopped
    phase = 2.0 * math.pi * st.tau / prof.cycle_s
    out: dict[str, F64] = {}
    for j, shift in ((0, 0.0), (1, 1.2)):
        climbing = st.ramp_joint == j
        ramp = np.where(climbing, st.ramp, 0.0)
        held = prof.base[j] + prof.payload[j] * st.holding
        noise = rng.normal(0.0, 1.0, len(ts))
        extra = st.magnitude * prof.amplitude[j] * 1.25 * ramp**1.5
        running = held + prof.amplitude[j] * np.sin(phase + shift) + (1.0 + 2.0 * ramp) * 1.2 * noise + extra
        torque = np.where(moving, running, held + 0.3 * noise)
        current = torque / prof.kt[j] + rng.normal(0.0, 0.05, len(ts))
        target = prof.ambient + prof.heat[j] * current**2
        temp = _first_order(target, 1.0 / 600.0, float(target[:60].mean()) if len(target) else prof.ambient)
        out[f"torque_j{j + 1}"] = torque
        out[f"current_j{j + 1}"] = current
        out[f"temp_j{j + 1}"] = temp + rng.normal(0.0, 0.05, len(ts))
    speed = 0.25 + 0.2 * np.abs(np.sin(phase)) + rng.normal(0.0, 0.01, len(ts))
    out["speed"] = np.where(moving, np.maximum(speed, 0.0), 0.0)
    return out


def _gripper_values(plan: _Plan, ts: I64, prof: _Profile, rng: np.random.Generator) -> dict[str, F64]:
    st = _state(plan, ts, prof)
    holding = st.holding & ~st.collision
    force = np.where(holding, 35.0 + rng.normal(0.0, 1.0, len(ts)), 0.5 + rng.normal(0.0, 0.2, len(ts)))
    glitch = rng.random(len(ts)) < 0.002
    grip_ok = np.where(st.collision | glitch, 0.0, 1.0)
    return {"force": np.maximum(force, 0.0), "grip_ok": grip_ok}


def _event_rows(plan: _Plan) -> tuple[I64, dict[str, npt.NDArray[Any]]]:
    """``ts`` and fields (``severity``, ``kind``, ``code``) of every event of the span, sorted by ``ts``."""
    n, w = len(plan.stop_ts), len(plan.warnings)
    ts = np.concatenate([plan.stop_ts, plan.recovery, plan.warnings]).astype(np.int64)
    kind = np.array(["failure"] * n + ["recovery"] * n + ["warning"] * w, dtype=object)
    code = np.array(plan.code + plan.code + [WARNING_CODE] * w, dtype=object)
    severity = np.array([_SEVERITY[k] for k in kind.tolist()], dtype=np.float64)
    order = np.argsort(ts, kind="stable")
    return ts[order], {"severity": severity[order], "kind": kind[order], "code": code[order]}


@dataclass(slots=True)
class _Uploaded:
    """The samples of one signal that an envelope carries, and which envelope (index into the span's)."""

    ts: I64
    fields: dict[str, npt.NDArray[Any]]
    envelope: I64


@dataclass(slots=True)
class _Span:
    """The uploads of one online span."""

    envelopes: list[tuple[int, int, bytes]]  # (sent_at, seq, JSON document)
    rows: dict[str, pd.DataFrame]  # per signal: the uploaded samples (as `CobotDay.expected`)
    row_sent: dict[str, I64]  # per signal: sent_at of the envelope carrying each row
    failures: list[tuple[int, Failure]]  # (sent_at of the envelope carrying its event, the stop)


class _Arm:
    """One robot: its profile, its online spans and their uploads."""

    def __init__(self, spec: CobotSpec, index: int) -> None:
        self.spec = spec
        self.robot_id = cobot_ids(spec)[index]
        self.rng = np.random.default_rng([spec.seed, index])
        self.prof = _profile(self.rng)
        self.seq = 0

    def spans(self) -> list[tuple[int, int]]:
        """The online spans ``[start, end)``: one per day, or one for all days when online all day."""
        first, _ = day_bounds_ms(self.spec.start)
        if self.spec.hours >= 24.0:
            return [(first, first + self.spec.days * DAY_MS)]
        online = round(self.spec.hours * 3_600_000)
        return [(first + d * DAY_MS, first + d * DAY_MS + online) for d in range(self.spec.days)]

    def days(self) -> Iterator[CobotDay]:
        """Every robot-day, in date order."""
        spans = [self._span(start, end) for start, end in self.spans()]
        first, _ = day_bounds_ms(self.spec.start)
        for d in range(self.spec.days):
            lo, hi = first + d * DAY_MS, first + (d + 1) * DAY_MS
            members = [
                (member_name(self.robot_id, sent, seq), gzip_member(doc))
                for span in spans
                for sent, seq, doc in span.envelopes
                if lo <= sent < hi
            ]
            expected = {}
            for spec_s in COBOT_SIGNALS:
                name = spec_s.name
                parts = [sp.rows[name][(sp.row_sent[name] >= lo) & (sp.row_sent[name] < hi)] for sp in spans]
                frame = pd.concat(parts, ignore_index=True).sort_values("ts", kind="stable")
                expected[name] = frame.reset_index(drop=True)
            visible = [f for span in spans for sent, f in span.failures if lo <= sent < hi]
            date = self.spec.start + dt.timedelta(days=d)
            yield CobotDay(DayKey(self.spec.fleet, date, self.robot_id), members, expected, visible)

    def _span(self, start: int, end: int) -> _Span:
        """Simulate ``[start, end)`` and route its samples into envelopes."""
        rng, prof = self.rng, self.prof
        plan = _plan(rng, start, end, self.spec.precursors)
        joint_ts = _sample_times(rng, start, end, prof.offsets[0])
        gripper_ts = _sample_times(rng, start, end, prof.offsets[1])
        _unique_events(plan, np.concatenate([joint_ts, gripper_ts]))
        event_ts, event_fields = _event_rows(plan)
        samples = {
            "joint": (joint_ts, _joint_values(plan, joint_ts, prof, rng)),
            "gripper": (gripper_ts, _gripper_values(plan, gripper_ts, prof, rng)),
            "events": (event_ts, event_fields),
        }
        gaps = rng.integers(_ENVELOPE_MS[0], _ENVELOPE_MS[1] + 1, (end - start) // _ENVELOPE_MS[0] + 2)
        sent = start + int(rng.integers(1000, 5000)) + np.concatenate(([0], np.cumsum(gaps)))
        sent = sent[sent < end].astype(np.int64)
        uploaded: dict[str, _Uploaded] = {}
        for spec_s in COBOT_SIGNALS:
            ts, fields = samples[spec_s.name]
            ready = ts + rng.integers(_LATENCY_MS[0], _LATENCY_MS[1] + 1, len(ts))
            envelope = np.searchsorted(sent, ready, side="left").astype(np.int64)
            keep = envelope < len(sent)
            rounded = {
                name: np.round(values[keep], 3) if values.dtype == np.float64 else values[keep]
                for name, values in fields.items()
            }
            uploaded[spec_s.name] = _Uploaded(ts[keep], rounded, envelope[keep])
        seqs = self.seq + np.arange(len(sent), dtype=np.int64)
        self.seq += len(sent)
        return _Span(
            envelopes=self._documents(sent, seqs, uploaded),
            rows={name: self._frame(name, up) for name, up in uploaded.items()},
            row_sent={name: sent[up.envelope] for name, up in uploaded.items()},
            failures=self._visible_failures(plan, uploaded["events"], sent),
        )

    def _visible_failures(self, plan: _Plan, events: _Uploaded, sent: I64) -> list[tuple[int, Failure]]:
        """The stops whose failure event is uploaded, with the ``sent_at`` of the envelope carrying it."""
        onset_of = dict(zip(plan.stop_ts.tolist(), plan.onset.tolist(), strict=True))
        out = []
        is_failure = events.fields["kind"] == "failure"
        for i in np.flatnonzero(is_failure).tolist():
            ts_f = int(events.ts[i])
            onset = onset_of[ts_f]
            failure = Failure(
                robot_id=self.robot_id,
                ts=ts_f,
                code=str(events.fields["code"][i]),
                precursor_onset_ts=onset if onset >= 0 else None,
                precursor_s=(ts_f - onset) / 1000 if onset >= 0 else None,
            )
            out.append((int(sent[events.envelope[i]]), failure))
        return out

    def _documents(
        self, sent: I64, seqs: I64, uploaded: dict[str, _Uploaded]
    ) -> list[tuple[int, int, bytes]]:
        records = {name: self._records(name, up) for name, up in uploaded.items()}
        bounds = {
            name: np.searchsorted(np.sort(up.envelope), np.arange(len(sent) + 1))
            for name, up in uploaded.items()
        }
        order = {name: np.argsort(up.envelope, kind="stable") for name, up in uploaded.items()}
        docs = []
        for j, (sent_at, seq) in enumerate(zip(sent.tolist(), seqs.tolist(), strict=True)):
            signals = {}
            for name in records:
                idx = order[name][bounds[name][j] : bounds[name][j + 1]]
                if len(idx):
                    signals[name] = [records[name][i] for i in idx.tolist()]
            envelope = {
                "schema": SCHEMA_ID,
                "fleet": self.spec.fleet,
                "robot_id": self.robot_id,
                "seq": seq,
                "sent_at": sent_at,
                "agent_version": _AGENT_VERSION,
                "signals": signals,
            }
            docs.append((sent_at, seq, orjson.dumps(envelope)))
        return docs

    @staticmethod
    def _records(name: str, up: _Uploaded) -> list[dict[str, Any]]:
        names = ["ts", *up.fields]
        columns = [up.ts.tolist(), *(values.tolist() for values in up.fields.values())]
        return [dict(zip(names, row, strict=True)) for row in zip(*columns, strict=True)]

    def _frame(self, name: str, up: _Uploaded) -> pd.DataFrame:
        spec_s = next(s for s in COBOT_SIGNALS if s.name == name)
        data: dict[str, Any] = {
            "robot_id": pd.Series([self.robot_id] * len(up.ts), dtype=object),
            "ts": up.ts.astype(np.int64),
        }
        for fname in spec_s.numeric:
            data[fname] = up.fields[fname].astype(np.float64)
        for fname in spec_s.categorical:
            data[fname] = pd.Series(up.fields[fname], dtype=object)
        return pd.DataFrame(data)
