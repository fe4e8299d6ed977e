"""Signal generation: the robot's physical state over a day, sampled on each signal's own clock.

:class:`Renderer` turns a :class:`telemetry.sim.plan.Plan` into samples (:class:`Rows`) of every signal of the
spec over ``[start, end)`` (epoch ms UTC), with a small physical model per robot: motion along the plan's
primitives, battery (open-circuit voltage, internal resistance, charge), motor currents and thermals (a
first-order lag of the squared currents), localization confidence; and, with ``precursors``, the shaping of
each failure's precursor ``[onset, failure)`` (friction current and heat, confidence decay and jitter,
voltage sag). Temperatures and the confidence noise carry over to the next day.

Signals
-------
``localization`` and ``odometry`` at ~10 Hz, ``battery`` and ``motor`` at ~1 Hz, while the robot is online.
``mission`` on change: a sample when a state starts (``EXECUTING`` with a mission id and ``progress`` 0,
``IDLE``, ``CHARGING``, ``ABORTED``), ``progress`` every 10 % of a mission, and a restatement every 15 min of
an unchanged state (so a backward join within the registry's 1 h tolerance always finds it). ``events`` are
sporadic: ``failure``, ``warning``, ``maintenance`` (resets a degradation; after 20-60 min offline) and
``recovery``. Robots differ in speed, battery capacity and resistance, motor thermal resistance, localization
quality, clock offsets and failure susceptibility; a day has missions, idle time, charging when the
battery runs low, and occasional offline gaps (no envelopes at all).

Every signal has its own clock: sample ``k`` of a periodic signal is taken at ``k * period + offset +
jitter`` with a per-robot, per-signal constant ``offset`` in ``[-300, 300)`` ms and a per-sample ``jitter``
in ``[-8, 8]`` ms. Offsets are chosen so that two signals of one robot never share a timestamp (a periodic
sample that would hit an ``events``/``mission`` timestamp moves 1 ms). A sample belongs to the physical chunk
(day) of its *nominal* time ``k * period + offset``, so a sample a few ms before midnight may be taken by
the next day's chunk; timestamps stay strictly increasing per signal. A sample taken just before a failure
never sees state from at or after it (:func:`_interp_causal`).

Values are held as integers scaled by :data:`SCALE` (three decimals; :data:`NULL` is null): what the agent
prints is exactly what a reader parses back.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

import numpy as np
import numpy.typing as npt
import pandas as pd

from telemetry._types import F64, I8, I64, Bools, Objs
from telemetry.config import SignalSpec
from telemetry.contract.envelope import DAY_MS
from telemetry.sim.plan import (
    BATTERY_BROWNOUT,
    DEGRADING_MODES,
    DEPTH_M,
    K_MOVE,
    K_STAY,
    K_TURN,
    LOCALIZATION_LOST,
    MOTOR_OVERHEAT,
    ST_DOCKED,
    ST_OFFLINE,
    WIDTH_M,
    FailurePlan,
    Plan,
    Profile,
    trapezoid,
)

__all__ = [
    "GENERATED_FIELDS",
    "NULL",
    "SAMPLED_FIELDS",
    "SCALE",
    "TICK_MS",
    "Rendered",
    "Renderer",
    "Rows",
]


SAMPLED_FIELDS: Final = {
    "localization": ("x", "y", "theta", "confidence"),
    "odometry": ("linear", "angular"),
    "battery": ("voltage", "current", "soc"),
    "motor": ("temp_left", "temp_right", "current_left", "current_right"),
}
"""The periodic signals and their fields."""
_PERIOD_MS: Final = {"localization": 100, "odometry": 100, "battery": 1000, "motor": 1000}
GENERATED_FIELDS: Final = {
    **SAMPLED_FIELDS,
    "mission": ("progress", "mission_id", "state"),
    "events": ("severity", "kind", "code"),
}
"""Every signal the simulator can generate, and its fields."""
TICK_MS: Final = 100  # the state grid
NULL: Final = np.iinfo(np.int64).min  # "null" in a scaled numeric column
SCALE: Final = 1000  # three decimals


@dataclass(slots=True)
class Rows:
    """Samples of one signal: ``ts``, scaled numeric values (int64, ``NULL`` = null), categorical objects.

    ``ready`` is when the sample may be sent; ``tag`` is 0 (original), 1 (re-sent copy) or 2 (late).
    """

    ts: I64
    num: dict[str, I64]
    cat: dict[str, Objs]
    ready: I64
    tag: I8

    def __len__(self) -> int:
        return int(self.ts.shape[0])

    def take(self, idx: npt.NDArray[Any]) -> Rows:
        return Rows(
            self.ts[idx],
            {k: v[idx] for k, v in self.num.items()},
            {k: v[idx] for k, v in self.cat.items()},
            self.ready[idx],
            self.tag[idx],
        )

    @staticmethod
    def concat(parts: Sequence[Rows]) -> Rows:
        first = parts[0]
        return Rows(
            np.concatenate([p.ts for p in parts]),
            {k: np.concatenate([p.num[k] for p in parts]) for k in first.num},
            {k: np.concatenate([p.cat[k] for p in parts]) for k in first.cat},
            np.concatenate([p.ready for p in parts]),
            np.concatenate([p.tag for p in parts]),
        )


def _scaled(values: F64) -> I64:
    return np.rint(values * SCALE).astype(np.int64)


def _ocv(soc: F64) -> F64:
    """Open-circuit voltage of a 13S Li-ion pack, V."""
    s = np.clip(soc / 100.0, 0.0, 1.0)
    return 13.0 * (3.45 + 0.7 * s - 0.35 * np.exp(-s / 0.06))


def _interp_causal(x: F64, grid: F64, values: F64, cuts: Sequence[float]) -> F64:
    """``np.interp``, except that a sample before a cut (a failure) never blends in state from at or after it.

    The state grids are coarser than the sensors; plain interpolation would let a sample taken just before
    a failure see the post-failure state (information from the future). Samples in ``[g, cut)``, where ``g``
    is the last grid point before the cut, hold the value at ``g``.
    """
    out = np.interp(x, grid, values)
    for cut in cuts:
        left = int(np.searchsorted(grid, cut, side="left")) - 1
        if left < 0:
            continue
        lo, hi = np.searchsorted(x, [grid[left], cut], side="left")
        out[lo:hi] = values[left]
    return out


def _first_order(u: F64, alpha: float, y0: float) -> F64:
    """``y[k] = y[k-1] + alpha * (u[k] - y[k-1])`` with ``y[-1] = y0`` (first-order lag)."""
    series = pd.Series(np.concatenate(([y0], u)))
    return series.ewm(alpha=alpha, adjust=False).mean().to_numpy(dtype=np.float64)[1:]


def _ramp(times: I64, f: FailurePlan) -> tuple[slice, F64]:
    """The slice of sorted `times` inside the precursor ``[onset, ts)`` of `f`, and its progress in [0, 1)."""
    lo, hi = np.searchsorted(times, [f.onset, f.ts])
    return slice(int(lo), int(hi)), (times[lo:hi] - f.onset) / max(f.ts - f.onset, 1)


@dataclass(slots=True, kw_only=True)
class _Physics:
    """Physical state of one robot over a chunk: 100 ms grid ``t`` and 1 s grid ``sec`` (ms epoch)."""

    t: I64
    sec: I64
    online: Bools
    x: F64
    y: F64
    th: F64  # unwrapped heading, rad
    lin: F64
    ang: F64
    soc: F64
    battery_current: F64
    voltage: F64
    motor: tuple[F64, F64]
    temps: tuple[F64, F64]  # on the 1 s grid
    conf: F64  # on the 1 s grid
    failures: list[FailurePlan]


@dataclass(slots=True)
class Rendered:
    """The samples of every signal over ``[start, end)`` (ms) and when the robot was online."""

    rows: dict[str, Rows]
    online_ticks: Bools  # online state per 100 ms tick of [start, end)
    start: int
    end: int


class Renderer:
    """Renders one robot's plan, day after day (the physical state that carries over lives here)."""

    def __init__(self, plan: Plan, prof: Profile, signals: Sequence[SignalSpec], *, precursors: bool) -> None:
        self.plan = plan
        self.prof = prof
        self.signals = signals
        self.precursors = precursors
        self.temps = (30.0, 30.0)
        self.conf_noise = 0.0

    def render(self, start: int, end: int, rng: np.random.Generator) -> Rendered:
        """Sample every signal of the spec over ``[start, end)`` (ms, whole seconds) from the plan."""
        ph = self._physics(start, end, rng)
        n = ph.t.shape[0]
        taken = np.array(
            sorted(
                {e[0] for e in self.plan.events if start - 1000 <= e[0] < end + 1000}
                | {m[0] for m in self.plan.mission if start - 1000 <= m[0] < end + 1000}
            ),
            dtype=np.int64,
        )
        rows: dict[str, Rows] = {}
        for spec_s in self.signals:
            name = spec_s.name
            if name in SAMPLED_FIELDS:
                ts = self._sample_times(name, start, end, rng, taken)
                ts = ts[ph.online[np.clip((ts - start) // TICK_MS, 0, n - 1)]]
                values = self._sample_values(name, ts, ph, rng)
                num = {f: _scaled(values[f]) for f in spec_s.fields}
                rows[name] = Rows(
                    ts, num, {}, ts + rng.integers(5, 81, ts.shape[0]), np.zeros(ts.shape[0], np.int8)
                )
            else:
                rows[name] = self._discrete_rows(name, start, end, ph.online, rng, spec_s)
        return Rendered(rows, ph.online, start, end)

    def _physics(self, start: int, end: int, rng: np.random.Generator) -> _Physics:
        """The robot's physical state over ``[start, end)``.

        A 100 ms grid holds motion, currents and the battery; a 1 s grid thermals and localization confidence.
        Temperatures and the confidence noise state carry over to the next day.
        """
        plan, prof = self.plan, self.prof
        n = (end - start) // TICK_MS
        t = start + TICK_MS * np.arange(n, dtype=np.int64)
        i0 = max(0, bisect.bisect_right(plan.p_t0, start) - 1)
        i1 = bisect.bisect_left(plan.p_t0, end)
        names = (
            "t0",
            "t1",
            "kind",
            "x",
            "y",
            "th",
            "dist",
            "sign",
            "vpk",
            "acc",
            "pay",
            "state",
            "soc0",
            "soc1",
        )
        p = {name: np.asarray(col[i0:i1]) for name, col in zip(names, plan.columns(), strict=True)}
        idx = np.searchsorted(p["t0"], t, side="right") - 1
        kind = p["kind"][idx]
        state = p["state"][idx]
        moving = kind != K_STAY
        is_move = kind == K_MOVE
        is_turn = kind == K_TURN
        safe = p["kind"] != K_STAY
        s, v, a = trapezoid(
            (t - p["t0"][idx]) / 1000.0,
            np.where(safe, p["dist"], 1.0)[idx],
            np.where(safe, p["vpk"], 1.0)[idx],
            np.where(safe, p["acc"], 1.0)[idx],
        )
        s = np.where(moving, s, 0.0)
        th0 = p["th"][idx]
        x = p["x"][idx] + np.where(is_move, s * np.cos(th0), 0.0)
        y = p["y"][idx] + np.where(is_move, s * np.sin(th0), 0.0)
        th = th0 + np.where(is_turn, p["sign"][idx] * s, 0.0)
        lin = np.where(is_move, v, 0.0)
        lin_acc = np.where(is_move, a, 0.0)
        ang = np.where(is_turn, p["sign"][idx] * v, 0.0)
        bounds = np.concatenate((p["t0"], p["t1"][-1:]))
        soc = np.interp(t, bounds, np.concatenate((p["soc0"], p["soc1"][-1:])))

        base_motor = np.where(
            is_move,
            p["pay"][idx] * (prof.k_v * np.abs(lin) + prof.i0 + prof.k_a * np.abs(lin_acc)),
            np.where(is_turn, prof.k_w * np.abs(ang) + prof.i0, 0.0),
        )
        motor = (base_motor * prof.side[0], base_motor * prof.side[1])
        failures = [f for f in plan.failures if f.onset < end and f.recovery_ts >= start]
        r_mult = np.ones(n)
        if self.precursors:
            for f in failures:
                sl, r = _ramp(t, f)
                if (
                    f.mode == MOTOR_OVERHEAT
                ):  # friction in one motor: its current climbs (less so when standing)
                    motor[int(f.params["side"])][sl] += (
                        f.params["extra_a"] * r**1.5 * np.where(moving[sl], 1.0, 0.4)
                    )
                elif f.mode == BATTERY_BROWNOUT:  # failing cell / connector: internal resistance climbs
                    r_mult[sl] += f.params["r_gain"] * r**2
        battery_current = np.select(
            [state == ST_OFFLINE, state == ST_DOCKED],
            [np.zeros(n), np.full(n, prof.i_elec - prof.i_charge)],
            prof.i_elec + motor[0] + motor[1],
        )

        # 1 s grid (centres of whole seconds)
        sec = start + 1000 * np.arange(n // 10, dtype=np.int64) + 500
        hour = (sec % DAY_MS) / 3_600_000.0
        ambient = 23.0 + prof.ambient + 3.0 * np.sin(2 * np.pi * (hour - 9.0) / 24.0)
        deg = {m: self._degradation(m, sec) for m in DEGRADING_MODES}
        alpha = 1.0 - math.exp(-1.0 / prof.tau_th)
        temps = []
        for side in (0, 1):
            heat = (motor[side] ** 2).reshape(-1, 10).mean(axis=1)
            drive = ambient + prof.r_th[side] * (1.0 + 0.15 * deg[MOTOR_OVERHEAT]) * heat
            if self.precursors:
                for f in failures:
                    if (
                        f.mode == MOTOR_OVERHEAT and int(f.params["side"]) == side
                    ):  # failing bearing/winding heats up
                        sl, r = _ramp(sec, f)
                        drive[sl] += f.params["heat_c"] * r**2
            temps.append(_first_order(drive, alpha, self.temps[side]))
        ar = _first_order(rng.normal(0.0, 0.15, sec.shape[0]), 0.02, self.conf_noise)
        conf = prof.conf_base - 0.03 * deg[LOCALIZATION_LOST] + ar
        for _ in range(int(rng.poisson(8.0 * (end - start) / DAY_MS))):  # harmless dips (reflective aisles)
            center = float(rng.uniform(start, end))
            width = float(rng.uniform(2.0, 15.0)) * 1000
            conf -= float(rng.uniform(0.1, 0.4)) * np.exp(-(((sec - center) / width) ** 2))
        for f in failures:
            if f.mode != LOCALIZATION_LOST:
                continue
            if self.precursors:
                sl, r = _ramp(sec, f)
                conf[sl] = conf[sl] * (1 - r**1.5) + f.params["conf_end"] * r**1.5
            lo, hi = np.searchsorted(sec, [f.ts, f.recovery_ts])  # lost until the recovery
            conf[lo:hi] = f.params["conf_end"] * 0.8 + 0.05 * rng.standard_normal(int(hi - lo))
        conf = np.clip(conf, 0.0, 1.0)
        # carry to the next day (temperatures relax towards ambient across an offline gap)
        cool = math.exp(-(DAY_MS - (end - start)) / 1000.0 / prof.tau_th)
        self.temps = (
            float(ambient[-1] + (temps[0][-1] - ambient[-1]) * cool),
            float(ambient[-1] + (temps[1][-1] - ambient[-1]) * cool),
        )
        self.conf_noise = float(ar[-1])

        sec_of_tick = np.minimum(np.arange(n) // 10, sec.shape[0] - 1)
        r_eff = (
            prof.r_int
            * (1.0 + 0.25 * deg[BATTERY_BROWNOUT][sec_of_tick])
            * (1.0 + 0.6 * (1.0 - soc / 100.0) ** 3)
            * r_mult
        )
        return _Physics(
            t=t,
            sec=sec,
            online=state != ST_OFFLINE,
            x=x,
            y=y,
            th=th,
            lin=lin,
            ang=ang,
            soc=soc,
            battery_current=battery_current,
            voltage=_ocv(soc) - battery_current * r_eff,
            motor=motor,
            temps=(temps[0], temps[1]),
            conf=conf,
            failures=failures,
        )

    def _degradation(self, mode: str, times: I64) -> F64:
        maint = np.asarray(self.plan.maint[mode], dtype=np.int64)
        last = maint[np.searchsorted(maint, times, side="right") - 1]
        return self.prof.degradation_per_day[mode] * (times - last) / DAY_MS

    def _sample_times(self, name: str, start: int, end: int, rng: np.random.Generator, taken: I64) -> I64:
        """Own clock of a periodic signal: ``k * period + offset + jitter``.

        Nominal times ``k * period + offset`` lie in ``[start, end)``; a sample that would share a timestamp
        in `taken` (events and mission samples) is moved 1 ms later.
        """
        period, offset = _PERIOD_MS[name], self.prof.offsets[name]
        k0 = -((offset - start) // period)  # ceil((start - offset) / period)
        k1 = -((offset - end) // period)
        nominal = np.arange(k0, k1, dtype=np.int64) * period + offset
        ts = nominal + np.clip(np.rint(rng.normal(0.0, 2.5, nominal.shape[0])), -8, 8).astype(np.int64)
        for _ in range(5):
            if not (taken.size and ts.size):
                break
            pos = np.minimum(np.searchsorted(ts, taken), ts.shape[0] - 1)
            hit = pos[ts[pos] == taken]
            if hit.size == 0:
                break
            ts[hit] += 1
        return ts

    def _sample_values(self, name: str, ts: I64, ph: _Physics, rng: np.random.Generator) -> dict[str, F64]:
        """Measured values of one sampled signal at its timestamps (interpolated state plus sensor noise)."""
        prof = self.prof
        m = ts.shape[0]
        tf = ts.astype(np.float64)
        tick = ph.t.astype(np.float64)
        secf = ph.sec.astype(np.float64)

        cuts = [float(f.ts) for f in ph.failures]

        def at(values: F64) -> F64:
            return _interp_causal(tf, tick, values, cuts)

        def noise(sigma: float) -> F64:
            return rng.normal(0.0, sigma, size=(m,))

        if name == "localization":
            jitter_th = np.zeros(m)
            jitter_xy = np.zeros(m)
            if self.precursors:
                for f in ph.failures:
                    if f.mode == LOCALIZATION_LOST:
                        lo, hi = np.searchsorted(ts, [f.onset, f.recovery_ts])
                        r = np.clip((ts[lo:hi] - f.onset) / max(f.ts - f.onset, 1), 0.0, 1.0)
                        jitter_th[lo:hi] = f.params["theta_jitter"] * r**2
                        jitter_xy[lo:hi] = f.params["xy_jitter"] * r**2
            theta = at(ph.th) + noise(1.0) * (prof.sigma_th + jitter_th)
            return {
                "x": np.clip(at(ph.x) + noise(1.0) * (prof.sigma_xy + jitter_xy), 0.0, WIDTH_M),
                "y": np.clip(at(ph.y) + noise(1.0) * (prof.sigma_xy + jitter_xy), 0.0, DEPTH_M),
                "theta": np.remainder(theta + np.pi, 2 * np.pi) - np.pi,
                "confidence": np.clip(_interp_causal(tf, secf, ph.conf, cuts) + noise(0.004), 0.0, 1.0),
            }
        if name == "odometry":
            return {"linear": at(ph.lin) + noise(0.003), "angular": at(ph.ang) + noise(0.003)}
        if name == "battery":
            sag = np.zeros(m)
            if self.precursors:
                for f in ph.failures:
                    if f.mode == BATTERY_BROWNOUT:
                        sl, r = _ramp(ts, f)
                        sag[sl] = f.params["sag_sigma"] * r
            return {
                "voltage": at(ph.voltage) - np.abs(noise(1.0)) * sag + noise(0.02),
                "current": at(ph.battery_current) + noise(0.05),
                "soc": at(ph.soc),
            }
        return {
            "temp_left": np.interp(tf, secf, ph.temps[0]) + noise(0.1),
            "temp_right": np.interp(tf, secf, ph.temps[1]) + noise(0.1),
            "current_left": at(ph.motor[0]) + noise(0.05),
            "current_right": at(ph.motor[1]) + noise(0.05),
        }

    def _discrete_rows(
        self, name: str, start: int, end: int, online: Bools, rng: np.random.Generator, spec_s: SignalSpec
    ) -> Rows:
        n = online.shape[0]
        if name == "events":
            items = sorted(e for e in self.plan.events if start <= e[0] < end)
            items = [e for e in items if online[(e[0] - start) // TICK_MS]] if n else []
            ts = np.array([e[0] for e in items], dtype=np.int64)
            num = {"severity": np.array([round(e[1] * SCALE) for e in items], dtype=np.int64)}
            cat = {
                "kind": np.array([e[2] for e in items], dtype=object),
                "code": np.array([e[3] for e in items], dtype=object),
            }
        else:
            mitems = sorted((m for m in self.plan.mission if start <= m[0] < end), key=lambda m: m[0])
            mitems = [m for m in mitems if online[(m[0] - start) // TICK_MS]] if n else []
            ts = np.array([m[0] for m in mitems], dtype=np.int64)
            num = {
                "progress": np.array(
                    [NULL if m[1] is None else round(m[1] * SCALE) for m in mitems], dtype=np.int64
                )
            }
            cat = {
                "mission_id": np.array([m[2] for m in mitems], dtype=object),
                "state": np.array([m[3] for m in mitems], dtype=object),
            }
        num = {f: num[f] for f in spec_s.numeric}
        cat = {f: cat[f] for f in spec_s.categorical}
        return Rows(ts, num, cat, ts + rng.integers(5, 81, ts.shape[0]), np.zeros(ts.shape[0], np.int8))
