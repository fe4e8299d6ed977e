"""The robot's schedule, planned ahead of rendering: per-robot baselines, duty cycle, missions and failures.

A :class:`Plan` is a contiguous sequence of motion primitives (stay, move straight, turn in place; each
with a closed-form trajectory, :func:`trapezoid`) plus the ``mission`` samples, the ``events`` and the
failures (:class:`FailurePlan`) that :mod:`telemetry.sim.physics` renders into signals. Times are epoch
milliseconds UTC; a plan covers ``[start, t)`` and grows with :meth:`Plan.plan_until`.

Duty cycle: missions (``EXECUTING``, 2-6 stations, progress samples every 10 %), ``IDLE`` gaps, ``CHARGING``
when the battery runs low, occasional offline gaps and maintenance (20-60 min offline; resets a degradation).
``hours < 24`` keeps the robot online only during ``[00:00, 00:00 + hours)`` UTC of every day. A state other
than ``EXECUTING`` is restated every 15 min while it lasts.

Failures and their precursors (``precursors=True``)
---------------------------------------------------
Failures happen only while a mission is executing (a precursor may begin before the mission, never
before the end of the previous failure's stop); per-mode hazards grow with a slowly increasing
degradation that maintenance events reset. Precursor ``[onset, failure)`` lengths are drawn per failure:

* ``MOTOR_OVERHEAT`` (2-8 min): extra friction current on one motor, its current and temperature climb.
* ``LOCALIZATION_LOST`` (10-60 s): localization confidence decays, theta (and x/y) jitter grows.
* ``BATTERY_BROWNOUT`` (1-3 min): internal resistance rises, voltage sags under load.
* ``E_STOP``: no precursor, ever.

Warnings (``MOTOR_TEMP_HIGH``, ``LOC_DEGRADED``, ``LOW_VOLTAGE``) fire during about half of the matching
precursors and also at random times. After every failure: a mission sample with state ``ABORTED``, the robot
stands still for 1-6.5 minutes, a ``recovery`` event follows 1-5 minutes after the failure (and for
``LOCALIZATION_LOST`` the confidence stays low until then). Failures of one robot are >= 10 minutes apart.
With ``precursors=False`` the same generator draws failure times from a homogeneous Poisson process over
online time (any state), applies no precursor shaping and fires warnings only at random: nothing before a
failure predicts it.
"""

from __future__ import annotations

import bisect
import datetime as dt
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final, Protocol

import numpy as np

from telemetry._types import F64
from telemetry.contract.envelope import DAY_MS, day_bounds_ms

__all__ = [
    "BATTERY_BROWNOUT",
    "DEGRADING_MODES",
    "E_STOP",
    "FAILURE_CODES",
    "LOCALIZATION_LOST",
    "MOTOR_OVERHEAT",
    "FailurePlan",
    "Plan",
    "PlanSpec",
    "Profile",
    "make_profile",
    "trapezoid",
]


FAILURE_CODES: Final = ("MOTOR_OVERHEAT", "LOCALIZATION_LOST", "BATTERY_BROWNOUT", "E_STOP")
"""Failure modes (``events`` with ``kind == "failure"`` carry one of these as ``code``)."""

MOTOR_OVERHEAT, LOCALIZATION_LOST, BATTERY_BROWNOUT, E_STOP = FAILURE_CODES
_MODE_WEIGHTS: Final = (0.3, 0.3, 0.2, 0.2)
_PRECURSOR_S: Final = {
    MOTOR_OVERHEAT: (120.0, 480.0),
    LOCALIZATION_LOST: (10.0, 60.0),
    BATTERY_BROWNOUT: (60.0, 180.0),
}
_WARNING_CODE: Final = {
    MOTOR_OVERHEAT: "MOTOR_TEMP_HIGH",
    LOCALIZATION_LOST: "LOC_DEGRADED",
    BATTERY_BROWNOUT: "LOW_VOLTAGE",
}
_SERVICE_CODE: Final = {
    MOTOR_OVERHEAT: "SERVICE_MOTORS",
    LOCALIZATION_LOST: "CALIBRATE_SENSORS",
    BATTERY_BROWNOUT: "SERVICE_BATTERY",
}
DEGRADING_MODES: Final = (MOTOR_OVERHEAT, LOCALIZATION_LOST, BATTERY_BROWNOUT)
_WARN_IN_PRECURSOR_P: Final = 0.55  # probability that a precursor fires its warning
_RANDOM_WARNINGS_PER_DAY: Final = 3.0  # per warning code, at random times
_MIN_FAILURE_GAP_MS: Final = 600_000
# calibration of the hazards so that a robot-day sees about `failure_rate` failures
_EXEC_FRACTION: Final = 0.56  # share of the time spent executing missions
_DEGRADATION_MEAN: Final = 2.0  # mean of (1 + degradation)
_SUSCEPTIBILITY_SIGMA: Final = 0.35  # lognormal spread of per-robot hazards (mean exp(sigma^2 / 2))
_ONLINE_FRACTION: Final = 0.955  # calibrates random failure times to about `failure_rate`
# the warehouse (m), the plan's robot states and motion primitives
WIDTH_M: Final = 80.0
DEPTH_M: Final = 50.0
ST_OFFLINE, ST_IDLE, ST_EXEC, ST_TRAVEL, ST_DOCKED = 0, 1, 2, 3, 4
K_STAY, K_MOVE, K_TURN = 0, 1, 2


@dataclass(frozen=True, slots=True)
class Profile:
    """Per-robot baselines (robots differ)."""

    vmax: float  # cruise speed, m/s
    acc: float  # linear acceleration, m/s^2
    wmax: float  # turn rate, rad/s
    wacc: float  # angular acceleration, rad/s^2
    capacity_ah: float
    r_int: float  # battery internal resistance, ohm
    i_elec: float  # electronics current, A
    i_charge: float  # charger current, A
    charge_below: float  # soc % that sends the robot to its charger
    charge_to: float  # soc % it charges to
    k_v: float  # motor current per m/s, A
    k_a: float  # motor current per m/s^2, A
    k_w: float  # motor current per rad/s when turning, A
    i0: float  # motor current when moving at all, A
    side: tuple[float, float]  # left/right motor current factors
    r_th: tuple[float, float]  # thermal resistance per motor, degC per A^2
    tau_th: float  # thermal time constant, s
    ambient: float  # warehouse ambient offset, degC
    conf_base: float
    sigma_xy: float
    sigma_th: float
    susceptibility: dict[str, float]
    degradation_per_day: dict[str, float]
    offsets: dict[str, int]  # clock offset per sampled signal, ms
    dock: tuple[float, float]
    agent_version: str


def make_profile(rng: np.random.Generator, robot_index: int, clocks: Sequence[str]) -> Profile:
    """The baselines of robot `robot_index`, with a clock offset per signal named in `clocks` (ms)."""
    base = int(rng.integers(0, 100))
    slots = rng.permutation(4) * 25 + rng.integers(-2, 3, 4)
    offsets = {
        name: int((base + int(slot)) % 100 + 100 * int(rng.integers(-3, 3)))
        for name, slot in zip(clocks, slots, strict=True)
    }
    r_th = float(rng.uniform(0.55, 0.9))
    skew = float(rng.uniform(-0.08, 0.08))
    return Profile(
        vmax=float(rng.uniform(1.0, 1.6)),
        acc=float(rng.uniform(0.4, 0.7)),
        wmax=float(rng.uniform(0.8, 1.2)),
        wacc=float(rng.uniform(1.2, 2.0)),
        capacity_ah=float(50.0 * rng.uniform(0.75, 1.0)),
        r_int=float(rng.uniform(0.045, 0.08)),
        i_elec=float(rng.uniform(1.8, 2.6)),
        i_charge=float(rng.uniform(30.0, 40.0)),
        charge_below=float(rng.uniform(20.0, 30.0)),
        charge_to=float(rng.uniform(88.0, 97.0)),
        k_v=float(rng.uniform(3.0, 4.0)),
        k_a=float(rng.uniform(3.0, 5.0)),
        k_w=float(rng.uniform(2.5, 3.5)),
        i0=float(rng.uniform(0.4, 0.8)),
        side=(float(1 + rng.uniform(-0.03, 0.03)), float(1 + rng.uniform(-0.03, 0.03))),
        r_th=(r_th * (1 + skew), r_th * (1 - skew)),
        tau_th=float(rng.uniform(300.0, 600.0)),
        ambient=float(rng.uniform(-1.0, 1.0)),
        conf_base=float(rng.uniform(0.9, 0.97)),
        sigma_xy=float(rng.uniform(0.01, 0.02)),
        sigma_th=float(rng.uniform(0.002, 0.004)),
        susceptibility={m: float(rng.lognormal(0.0, _SUSCEPTIBILITY_SIGMA)) for m in FAILURE_CODES},
        degradation_per_day={m: float(rng.uniform(0.1, 0.5)) for m in DEGRADING_MODES},
        offsets=offsets,
        dock=(4.0 + (3.0 * robot_index) % (WIDTH_M - 8.0), 0.5),
        agent_version="3.2.1" if rng.random() < 0.7 else "3.1.4",
    )


def trapezoid(tau: F64, dist: F64, vpk: F64, acc: F64) -> tuple[F64, F64, F64]:
    """Position, speed and acceleration along a rest-to-rest trapezoidal profile at times `tau` (s)."""
    t_acc = vpk / acc
    d_acc = 0.5 * vpk * t_acc
    t_cru = np.maximum(dist - 2.0 * d_acc, 0.0) / vpk
    t_tot = 2.0 * t_acc + t_cru
    tau = np.clip(tau, 0.0, t_tot)
    left = t_tot - tau
    ph1 = tau < t_acc
    ph3 = tau >= t_acc + t_cru
    s = np.where(
        ph1, 0.5 * acc * tau**2, np.where(ph3, dist - 0.5 * acc * left**2, d_acc + vpk * (tau - t_acc))
    )
    v = np.where(ph1, acc * tau, np.where(ph3, acc * left, vpk))
    a = np.where(ph1, acc, np.where(ph3, -acc, 0.0))
    return s, v, a


def _profile_time(dist: float, vmax: float, acc: float) -> tuple[float, float]:
    """Peak speed and duration (s) of a rest-to-rest move over `dist`."""
    vpk = min(vmax, math.sqrt(acc * dist))
    t_acc = vpk / acc
    return vpk, 2.0 * t_acc + max(dist - vpk * t_acc, 0.0) / vpk


class PlanSpec(Protocol):
    """What a plan depends on (a :class:`telemetry.sim.fleet.FleetSpec` provides it)."""

    @property
    def start(self) -> dt.date: ...  # the first simulated UTC day
    @property
    def days(self) -> int: ...
    @property
    def hours(self) -> float: ...  # online during [00:00, 00:00 + hours) of every day
    @property
    def failure_rate(self) -> float: ...  # expected failures per robot-day (full days)
    @property
    def precursors(self) -> bool: ...


@dataclass(slots=True)
class FailurePlan:
    """One planned failure: its ``mode``, time ``ts``, precursor onset (``ts`` when it has none), the time of
    its ``recovery`` event and the parameters that shape its precursor and outage."""

    mode: str
    ts: int
    onset: int
    recovery_ts: int
    params: dict[str, float]


class Plan:
    """The robot's schedule, planned ahead of rendering: motion primitives, mission samples, events, failures.

    Motion is a contiguous sequence of primitives (stay, move straight, turn in place); each has a closed-form
    trajectory, so any time range can be rendered independently. The battery charge at primitive boundaries is
    integrated exactly from the same current model the renderer uses.
    """

    def __init__(self, spec: PlanSpec, prof: Profile, rng: np.random.Generator, robot_index: int) -> None:
        self.spec = spec
        self.prof = prof
        self.rng = rng
        self.robot_number = robot_index + 1
        start, _ = day_bounds_ms(spec.start)
        self.start = start
        self.end = start + spec.days * DAY_MS
        self.hours_ms = round(spec.hours * 3_600_000 / 1000) * 1000
        self.t = start
        self.x = float(rng.uniform(5, WIDTH_M - 5))
        self.y = float(rng.uniform(5, DEPTH_M - 5))
        self.th = float(rng.uniform(-math.pi, math.pi))
        self.soc = float(rng.uniform(45.0, 95.0))
        # primitives (columns)
        self.p_t0: list[int] = []
        self.p_t1: list[int] = []
        self.p_kind: list[int] = []
        self.p_x: list[float] = []
        self.p_y: list[float] = []
        self.p_th: list[float] = []
        self.p_dist: list[float] = []
        self.p_sign: list[float] = []
        self.p_vpk: list[float] = []
        self.p_acc: list[float] = []
        self.p_pay: list[float] = []
        self.p_state: list[int] = []
        self.p_soc0: list[float] = []
        self.p_soc1: list[float] = []
        self.events: list[tuple[int, float, str, str]] = []  # ts, severity, kind, code
        self.mission: list[tuple[int, float | None, str | None, str]] = []  # ts, progress, mission_id, state
        self.taken: set[int] = set()
        self.failures: list[FailurePlan] = []
        self.maint: dict[str, list[int]] = {
            m: [start - int(rng.uniform(0.0, 4.0) * DAY_MS)] for m in DEGRADING_MODES
        }
        self.next_maint = start + int(rng.uniform(0.3, 5.0) * DAY_MS)
        self.next_offline = start + int(rng.exponential(2.5) * DAY_MS)
        self.last_failure = start - 10 * DAY_MS
        self.free_since = start - 10 * DAY_MS  # end of the last post-failure stop
        self.mission_count = int(rng.integers(100, 900))
        self.warned_days: set[int] = set()
        # random failures: >= 10 min apart, then exponential, about `failure_rate` per day of online time
        mean_gap = (
            max(DAY_MS * _ONLINE_FRACTION / spec.failure_rate - _MIN_FAILURE_GAP_MS, 60_000.0)
            if spec.failure_rate > 0
            else math.inf
        )
        self.random_gap_ms = mean_gap
        self.next_random_failure = start + self._exp(mean_gap)

    # ---------------------------------------------------------------------------------------- helpers

    def _exp(self, mean: float) -> float:
        return float(self.rng.exponential(mean)) if math.isfinite(mean) else math.inf

    def _unique_ts(self, ts: int) -> int:
        while ts in self.taken:
            ts += 1
        self.taken.add(ts)
        return ts

    def _event(self, ts: int, kind: str, code: str, severity: float) -> int:
        ts = self._unique_ts(ts)
        self.events.append((ts, severity, kind, code))
        return ts

    def _state_sample(self, ts: int, progress: float | None, mission_id: str | None, state: str) -> None:
        latency = int(self.rng.integers(20, 250))
        self.mission.append((self._unique_ts(ts + latency), progress, mission_id, state))

    def _push(
        self,
        kind: int,
        dur_ms: int,
        dist: float,
        sign: float,
        vpk: float,
        acc: float,
        state: int,
        payload: float,
    ) -> None:
        prof = self.prof
        secs = dur_ms / 1000.0
        if state == ST_OFFLINE:
            charge = 0.0
        elif state == ST_DOCKED:
            charge = (prof.i_elec - prof.i_charge) * secs
        else:
            charge = prof.i_elec * secs
            side = prof.side[0] + prof.side[1]
            if kind == K_MOVE:
                charge += side * payload * (prof.k_v * dist + prof.i0 * secs + prof.k_a * 2.0 * vpk)
            elif kind == K_TURN:
                charge += side * (prof.k_w * dist + prof.i0 * secs)
        soc1 = min(100.0, max(0.0, self.soc - charge / (prof.capacity_ah * 3600.0) * 100.0))
        self.p_t0.append(self.t)
        self.p_t1.append(self.t + dur_ms)
        self.p_kind.append(kind)
        self.p_x.append(self.x)
        self.p_y.append(self.y)
        self.p_th.append(self.th)
        self.p_dist.append(dist)
        self.p_sign.append(sign)
        self.p_vpk.append(vpk)
        self.p_acc.append(acc)
        self.p_pay.append(payload)
        self.p_state.append(state)
        self.p_soc0.append(self.soc)
        self.p_soc1.append(soc1)
        if kind == K_MOVE:
            self.x += dist * math.cos(self.th)
            self.y += dist * math.sin(self.th)
        elif kind == K_TURN:
            self.th += sign * dist
        self.t += dur_ms
        self.soc = soc1

    def _stay(self, until: int, state: int) -> None:
        if until > self.t:
            self._push(K_STAY, until - self.t, 0.0, 0.0, 0.0, 1.0, state, 1.0)

    def _leg(self, wx: float, wy: float, state: int, payload: float) -> None:
        prof = self.prof
        dx, dy = wx - self.x, wy - self.y
        dist = math.hypot(dx, dy)
        if dist < 0.05:
            return
        turn = math.remainder(math.atan2(dy, dx) - self.th, 2 * math.pi)
        if abs(turn) > 0.02:
            vpk, secs = _profile_time(abs(turn), prof.wmax, prof.wacc)
            self._push(
                K_TURN,
                math.ceil(secs * 1000),
                abs(turn),
                math.copysign(1.0, turn),
                vpk,
                prof.wacc,
                state,
                payload,
            )
        vpk, secs = _profile_time(dist, prof.vmax, prof.acc)
        self._push(K_MOVE, math.ceil(secs * 1000), dist, 1.0, vpk, prof.acc, state, payload)

    def _stop_at_station(self, payload: float) -> None:
        wx = float(self.rng.uniform(2.0, WIDTH_M - 2.0))
        wy = float(self.rng.uniform(2.0, DEPTH_M - 2.0))
        self._leg(wx, wy, ST_EXEC, payload)
        self._stay(self.t + int(self.rng.uniform(5.0, 25.0) * 1000), ST_EXEC)

    def _truncate(self, t_cut: int) -> None:
        """Drop the plan from `t_cut` on: the robot stops dead at `t_cut`."""
        while self.p_t0 and self.p_t0[-1] >= t_cut:
            for col in self.columns():
                col.pop()
        i = len(self.p_t0) - 1
        t0, t1 = self.p_t0[i], self.p_t1[i]
        frac = (t_cut - t0) / (t1 - t0)
        soc = self.p_soc0[i] + frac * (self.p_soc1[i] - self.p_soc0[i])
        x, y, th = self.p_x[i], self.p_y[i], self.p_th[i]
        if self.p_kind[i] != K_STAY:
            s, _, _ = trapezoid(
                np.array([(t_cut - t0) / 1000.0]),
                np.array([self.p_dist[i]]),
                np.array([self.p_vpk[i]]),
                np.array([self.p_acc[i]]),
            )
            if self.p_kind[i] == K_MOVE:
                x += float(s[0]) * math.cos(th)
                y += float(s[0]) * math.sin(th)
            else:
                th += self.p_sign[i] * float(s[0])
        self.p_t1[i] = t_cut
        self.p_soc1[i] = soc
        self.t, self.x, self.y, self.th, self.soc = t_cut, x, y, th, soc

    def columns(self) -> list[list[Any]]:
        return [
            self.p_t0, self.p_t1, self.p_kind, self.p_x, self.p_y, self.p_th, self.p_dist, self.p_sign,
            self.p_vpk, self.p_acc, self.p_pay, self.p_state, self.p_soc0, self.p_soc1,
        ]  # fmt: skip

    def degradation(self, mode: str, t: int) -> float:
        times = self.maint[mode]
        last = times[bisect.bisect_right(times, t) - 1]
        return self.prof.degradation_per_day[mode] * (t - last) / DAY_MS

    # ---------------------------------------------------------------------------------------- planning

    def plan_until(self, t_end: int) -> None:
        """Extend the plan until it covers ``[.., t_end)``."""
        while self.t < t_end:
            self._step()

    def _step(self) -> None:
        day0 = self.t - self.t % DAY_MS
        if day0 not in self.warned_days:
            self.warned_days.add(day0)
            self._random_warnings(day0)
        if self.hours_ms < DAY_MS and self.t >= day0 + self.hours_ms:
            self._offline(day0 + DAY_MS)
        elif self.t >= self.next_maint:
            self._maintenance()
        elif self.t >= self.next_offline:
            self.next_offline = self.t + int(self.rng.exponential(2.5) * DAY_MS)
            self._offline(self.t + int(self.rng.uniform(5.0, 60.0) * 60_000))
        elif self.soc < self.prof.charge_below:
            self._charge()
        else:
            self._mission()
            long_idle = self.rng.random() < 0.3
            self._idle(
                int(self.rng.uniform(30.0, 400.0) * 1000)
                if long_idle
                else int(self.rng.uniform(3.0, 20.0) * 1000)
            )

    def _random_warnings(self, day0: int) -> None:
        window = min(self.hours_ms, DAY_MS)
        for mode in DEGRADING_MODES:
            rate = _RANDOM_WARNINGS_PER_DAY
            if not self.spec.precursors:  # keep the total number of warnings comparable
                rate += (
                    self.spec.failure_rate * _MODE_WEIGHTS[FAILURE_CODES.index(mode)] * _WARN_IN_PRECURSOR_P
                )
            count = int(self.rng.poisson(rate * window / DAY_MS))
            for ts in sorted(int(v) for v in self.rng.integers(day0, day0 + window, count)):
                self._event(ts, "warning", _WARNING_CODE[mode], 2.0)

    def _offline(self, until: int) -> None:
        self._stay(until, ST_OFFLINE)
        while self.next_random_failure < self.t:  # no failure while offline (thinning)
            self.next_random_failure = self.t + self._exp(self.random_gap_ms)

    def _maintenance(self) -> None:
        self.next_maint = self.t + int(self.rng.uniform(2.0, 6.0) * DAY_MS)
        self._offline(self.t + int(self.rng.uniform(20.0, 60.0) * 60_000))
        serviced = [m for m in DEGRADING_MODES if self.rng.random() < 0.6] or [
            DEGRADING_MODES[int(self.rng.integers(0, 3))]
        ]
        ts = self.t + int(self.rng.uniform(5.0, 60.0) * 1000)
        for mode in serviced:
            ts = self._event(ts, "maintenance", _SERVICE_CODE[mode], 1.0) + int(self.rng.integers(200, 3000))
            self.maint[mode].append(ts)

    def _idle(self, dur_ms: int) -> None:
        t0 = self.t
        self._stay(t0 + dur_ms, ST_IDLE)
        self._finish(t0, "IDLE", None, 0, None)

    def _charge(self) -> None:
        t0 = self.t
        self._leg(*self.prof.dock, ST_TRAVEL, 1.0)
        need = max(self.prof.charge_to - self.soc, 0.0) / 100.0 * self.prof.capacity_ah * 3600.0
        secs = need / (self.prof.i_charge - self.prof.i_elec)
        self._stay(self.t + int(secs * 1000) + 1000, ST_DOCKED)
        self._finish(t0, "CHARGING", None, 0, None)

    def _hazards(self, t: int) -> F64:
        rate = self.spec.failure_rate / DAY_MS / _EXEC_FRACTION / math.exp(_SUSCEPTIBILITY_SIGMA**2 / 2)
        out = np.zeros(len(FAILURE_CODES))
        for i, mode in enumerate(FAILURE_CODES):
            lam = rate * _MODE_WEIGHTS[i] * self.prof.susceptibility[mode]
            if mode in DEGRADING_MODES:
                lam *= (1.0 + self.degradation(mode, t)) / _DEGRADATION_MEAN
            out[i] = lam
        return out

    def _mission(self) -> None:
        t0 = self.t
        self.mission_count += 1
        mission_id = f"m-{self.robot_number}-{self.mission_count}"
        payload = float(self.rng.uniform(0.7, 1.6))
        for _ in range(int(self.rng.integers(2, 7))):
            self._stop_at_station(payload)
        failure: tuple[str, int, int] | None = None
        if self.spec.precursors and self.spec.failure_rate > 0:
            # competing exponential hazards over the planned mission; the plan itself does not depend on it
            draws = self.rng.exponential(1.0 / self._hazards(t0))
            i = int(np.argmin(draws))
            at = t0 + max(int(draws[i]), 2000, self.last_failure + _MIN_FAILURE_GAP_MS + 1 - t0)
            if at < self.t:
                mode = FAILURE_CODES[i]
                lo, hi = _PRECURSOR_S.get(mode, (0.0, 0.0))
                # the precursor may begin before the mission, but not before the previous failure's stop ended
                pre_ms = min(int(self.rng.uniform(lo, hi) * 1000), at - self.free_since)
                failure = (mode, at, pre_ms)
        self._finish(t0, "EXECUTING", mission_id, self.t - t0, failure)

    def _finish(
        self, t0: int, state: str, mission_id: str | None, length: int, failure: tuple[str, int, int] | None
    ) -> None:
        """Close a segment that started at `t0`: random failure, the daily offline window, state samples."""
        if not self.spec.precursors and self.spec.failure_rate > 0:
            self.next_random_failure = max(self.next_random_failure, t0)
            if self.next_random_failure < self.t:
                weights = np.array(_MODE_WEIGHTS)
                mode = FAILURE_CODES[int(self.rng.choice(len(FAILURE_CODES), p=weights / weights.sum()))]
                failure = (mode, int(self.next_random_failure), 0)
        cut: int | None = None
        if failure is not None:
            mode, ts, pre_ms = failure
            ts = self._unique_ts(ts)  # reserved: no state sample may take the failure's timestamp
            failure = (mode, ts, pre_ms)
            cut = ts
        day0 = t0 - t0 % DAY_MS
        window_end = day0 + self.hours_ms
        if self.hours_ms < DAY_MS and (cut if cut is not None else self.t) > window_end:
            cut = window_end
            if failure is not None and failure[1] >= window_end:
                self.taken.discard(failure[1])
                failure = None
        if cut is not None and cut < self.t:
            self._truncate(cut)
        end = self.t
        self._state_sample(t0, 0.0 if mission_id else None, mission_id, state)
        if mission_id is not None:
            for q in range(1, 11):
                at = t0 + int(length * q / 10)
                if at < end or (at == end and failure is None):
                    self._state_sample(at, q / 10, mission_id, state)
        else:
            for at in range(t0 + 900_000, end, 900_000):  # restate a long state every 15 min
                self._state_sample(at, None, None, state)
        if failure is not None:
            progress = round((end - t0) / length, 3) if mission_id is not None and length > 0 else None
            self._fail(failure, mission_id, progress)

    def _fail(self, failure: tuple[str, int, int], mission_id: str | None, progress: float | None) -> None:
        mode, ts, pre_ms = failure  # `ts` is already reserved in `taken`
        rng = self.rng
        self.events.append((ts, 3.0, "failure", mode))
        self._state_sample(ts + int(rng.integers(80, 350)), progress, mission_id, "ABORTED")
        recovery_delay = int(rng.uniform(60.0, 300.0) * 1000)
        self._stay(ts + recovery_delay + int(rng.uniform(10.0, 90.0) * 1000), ST_IDLE)  # stands still
        self.free_since = self.t
        recovery_ts = self._event(ts + recovery_delay, "recovery", mode, 1.0)
        params = {
            "side": float(rng.integers(0, 2)),
            "extra_a": float(rng.uniform(8.0, 14.0)),
            "heat_c": float(rng.uniform(60.0, 120.0)),
            "conf_end": float(rng.uniform(0.12, 0.35)),
            "theta_jitter": float(rng.uniform(0.04, 0.1)),
            "xy_jitter": float(rng.uniform(0.05, 0.15)),
            "r_gain": float(rng.uniform(4.0, 9.0)),
            "sag_sigma": float(rng.uniform(0.2, 0.5)),
        }
        has_precursor = self.spec.precursors and mode in _PRECURSOR_S and pre_ms > 0
        onset = ts - pre_ms if has_precursor else ts
        self.failures.append(FailurePlan(mode, ts, onset, recovery_ts, params))
        if has_precursor and rng.random() < _WARN_IN_PRECURSOR_P:
            self._event(onset + int(rng.uniform(0.3, 0.95) * pre_ms), "warning", _WARNING_CODE[mode], 2.0)
        self.last_failure = ts
        if not self.spec.precursors:
            self.next_random_failure = ts + _MIN_FAILURE_GAP_MS + self._exp(self.random_gap_ms)

    def prune(self, before: int) -> None:
        """Forget what lies entirely before `before` (keeps memory flat over long simulations)."""
        keep = max(0, bisect.bisect_right(self.p_t0, before) - 1)
        if keep:
            for col in self.columns():
                del col[:keep]
        self.events = [e for e in self.events if e[0] >= before]
        self.mission = [m for m in self.mission if m[0] >= before]
        self.taken = {t for t in self.taken if t >= before}
