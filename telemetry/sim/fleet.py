"""Synthetic robot fleet: realistic ``telemetry.v1`` day zips with a known ground truth.

The generator drives a small physical model per robot (duty cycle, motion in a bounded warehouse, battery,
motor thermals, localization quality), injects failures with physically plausible precursors, and
serialises what the robot's agent would have uploaded: one gzip member per envelope, one zip per robot-day.
Next to the bytes it returns exactly what a correct extractor must produce from them (``RobotDay.expected``)
and the failures a correct pipeline can see (``RobotDay.failures``, ``GroundTruth``).

This module holds the spec, the driver and the ground truth; the model is in the modules it drives, in the
order of the data: :mod:`telemetry.sim.plan` (missions, duty cycle, failures and their precursors),
:mod:`telemetry.sim.physics` (signals on their own clocks), :mod:`telemetry.sim.upload` (envelopes,
serialisation) and :mod:`telemetry.sim.faults` (upload faults, :class:`FaultRates`). Day zips are written by
:func:`telemetry.contract.ziplib.build_day_zip`.

Time semantics
--------------
* Every timestamp (``ts``, ``sent_at``, ``Failure.ts``, ...) is an integer count of epoch milliseconds UTC.
* A robot-day is the half-open UTC interval ``[00:00, 24:00)`` of its date. The robot is simulated
  continuously across midnight (pose, battery, temperatures, missions carry over).
  ``FleetSpec.hours < 24`` keeps each robot online only during ``[00:00, 00:00 + hours)`` of every day
  (offline, i.e. nothing recorded and nothing sent, for the rest of the day); meant for fast tests.
* Every signal has its own clock (a per-robot offset and a per-sample jitter; two signals of one robot never
  share a timestamp); a sample a few ms before midnight may be taken by the next day's chunk; timestamps
  stay strictly increasing per signal.
* An envelope belongs to the day zip of the UTC day of its ``sent_at``: samples of the last seconds before
  midnight are carried by the next day's zip. Uploaded samples are at most 10 minutes old
  (``sent_at - ts <= 600_000``).

Determinism: each robot draws from its own generators, seeded by ``(seed, robot index)`` and per day, so a
robot does not depend on the others and the same :class:`FleetSpec` gives byte-identical zips (with the
same ``isal`` and ``numpy`` versions).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import orjson
import pandas as pd

from telemetry._types import Bools
from telemetry.config import DEFAULT_SIGNALS, SignalSpec
from telemetry.contract.envelope import DAY_MS, ROBOT_ID_RE, day_bounds_ms
from telemetry.contract.layout import DayKey, ground_truth_key
from telemetry.contract.ziplib import build_day_zip
from telemetry.sim.faults import FaultRates
from telemetry.sim.physics import GENERATED_FIELDS, NULL, SAMPLED_FIELDS, SCALE, Renderer, Rows
from telemetry.sim.plan import Plan, make_profile
from telemetry.sim.upload import Agent

__all__ = [
    "Failure",
    "FleetSpec",
    "GroundTruth",
    "RobotDay",
    "robot_ids",
    "simulate_fleet",
    "simulate_robot_days",
]


# ============================================================================================ public API


@dataclass(frozen=True, slots=True, kw_only=True)
class FleetSpec:
    """What to simulate. Equal specs give byte-identical output.

    ``hours`` (``(0, 24]``) keeps every robot online only during ``[00:00, 00:00 + hours)`` UTC of each day,
    for fast tests; ``24`` simulates full days. ``signals`` must be a subset of the six default signals with
    their default fields (in any order; ``expected`` tables and JSON records follow the registry order).
    """

    fleet: str = "acme-dc3"
    robots: int = 4
    days: int = 1
    start: dt.date = dt.date(2026, 11, 2)
    seed: int = 0
    failure_rate: float = 6.0  # expected failures per robot-day (full days)
    precursors: bool = True
    faults: FaultRates = FaultRates()
    signals: tuple[SignalSpec, ...] = DEFAULT_SIGNALS
    hours: float = 24.0

    def __post_init__(self) -> None:
        if not isinstance(self.fleet, str) or not ROBOT_ID_RE.match(self.fleet):
            raise ValueError(f"FleetSpec.fleet must match {ROBOT_ID_RE.pattern} (got {self.fleet!r})")
        for name in ("robots", "days"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 9999:
                raise ValueError(f"FleetSpec.{name} must be an integer in [1, 9999] (got {value!r})")
        if not isinstance(self.start, dt.date) or isinstance(self.start, dt.datetime):
            raise ValueError(f"FleetSpec.start must be a datetime.date (got {self.start!r})")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0:
            raise ValueError(f"FleetSpec.seed must be an integer >= 0 (got {self.seed!r})")
        if not isinstance(self.failure_rate, (int, float)) or not 0.0 <= self.failure_rate <= 100.0:
            raise ValueError(
                f"FleetSpec.failure_rate must be in [0, 100] failures/robot-day (got {self.failure_rate!r})"
            )
        if not isinstance(self.hours, (int, float)) or not 0.0 < self.hours <= 24.0:
            raise ValueError(f"FleetSpec.hours must be in (0, 24] (got {self.hours!r})")
        if not isinstance(self.faults, FaultRates):
            raise ValueError(f"FleetSpec.faults must be a FaultRates (got {self.faults!r})")
        names = [s.name for s in self.signals]
        if not names or len(set(names)) != len(names):
            raise ValueError(f"FleetSpec.signals must name distinct signals (got {names})")
        for s in self.signals:
            known = GENERATED_FIELDS.get(s.name)
            if known is None:
                raise ValueError(
                    f"FleetSpec.signals: the simulator cannot generate signal {s.name!r}; "
                    f"use a subset of {sorted(GENERATED_FIELDS)}"
                )
            if sorted(s.fields) != sorted(known) or (s.name in SAMPLED_FIELDS and s.categorical):
                raise ValueError(
                    f"FleetSpec.signals: signal {s.name!r} must have the fields {list(known)} "
                    f"(got numeric={list(s.numeric)}, categorical={list(s.categorical)})"
                )


def robot_ids(spec: FleetSpec) -> list[str]:
    """Robot ids of the fleet: ``amr-0001`` ... (zero-padded to 4 digits)."""
    return [f"amr-{i + 1:04d}" for i in range(spec.robots)]


@dataclass(frozen=True, slots=True)
class Failure:
    """One failure: the ``events`` sample ``kind="failure"`` at ``ts`` (epoch ms UTC) with this ``code``.

    ``precursor_onset_ts`` is the start of the precursor interval ``[onset, ts)`` and ``precursor_s`` its
    length in seconds; both are None for ``E_STOP`` and whenever ``FleetSpec.precursors`` is False.
    """

    robot_id: str
    ts: int
    code: str
    precursor_onset_ts: int | None
    precursor_s: float | None


@dataclass(slots=True)
class RobotDay:
    """Everything about one simulated robot-day.

    Attributes:
        day: the robot-day (its zip is ``day.key``).
        members: the final zip's members ``(name, gzip bytes)`` in zip order (by ``seq``), corrupt ones
            included.
        first_version_members: the members of the earlier zip version when the day was uploaded late (a
            strict subset of ``members`` that lacks one contiguous run), else None.
        expected: per signal of the spec, exactly what a correct extractor produces from ``members``: columns
            ``robot_id``, ``ts`` (int64), then the signal's fields in registry order (numeric float64 with NaN
            for null, categorical and ``robot_id`` as object dtype holding ``str`` or None). Samples of
            non-corrupt members only, unknown signals and fields left out, exact duplicates removed, sorted
            by ``ts`` (timestamps are unique per signal, so there are no ties), index ``0..n-1``.
        failures: failures whose failure event is in ``expected["events"]`` (visible in this day's zip).
        faults: counts for this day's members: ``members``, ``truncated_gzip``, ``invalid_json``,
            ``wrong_types``, ``unknown_signal_docs``, ``unknown_field_docs``, ``duplicate_samples`` (re-sent
            copies carried, in any member), ``out_of_order_samples`` (late samples carried, in any member) and
            ``late_upload_missing`` (members missing from the first version; 0 when not late).
    """

    day: DayKey
    members: list[tuple[str, bytes]]
    first_version_members: list[tuple[str, bytes]] | None
    expected: dict[str, pd.DataFrame]
    failures: list[Failure]
    faults: dict[str, int]


@dataclass
class GroundTruth:
    """What was simulated: the spec, every failure and a summary per robot-day.

    ``failures`` lists every simulated failure in the simulated period, sorted by robot then ``ts``, including
    the rare ones whose event is not visible (carried by a corrupt member, or still unsent when the
    simulation ends). ``robot_days`` has one dict per robot-day: ``robot_id``, ``date`` (ISO), ``members``,
    ``late_upload`` (bool), ``faults`` (as :attr:`RobotDay.faults`), ``samples`` (rows per signal of
    ``expected``) and ``failures`` (the visible ones, as dicts of :class:`Failure` fields).
    """

    spec: FleetSpec
    failures: list[Failure]
    robot_days: list[dict[str, Any]]

    def to_json(self) -> bytes:
        """Indented JSON, stable key order."""
        doc = {
            "spec": _spec_to_dict(self.spec),
            "failures": [dataclasses.asdict(f) for f in self.failures],
            "robot_days": self.robot_days,
        }
        return orjson.dumps(doc, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS)

    @classmethod
    def from_json(cls, data: bytes) -> GroundTruth:
        """Inverse of :meth:`to_json`."""
        doc = orjson.loads(data)
        if not isinstance(doc, dict) or not {"spec", "failures", "robot_days"} <= set(doc):
            raise ValueError("ground truth JSON must be an object with keys spec, failures, robot_days")
        return cls(
            spec=_spec_from_dict(doc["spec"]),
            failures=[Failure(**f) for f in doc["failures"]],
            robot_days=list(doc["robot_days"]),
        )


def simulate_robot_days(spec: FleetSpec, robot_id: str) -> Iterator[RobotDay]:
    """All ``spec.days`` robot-days of one robot, in date order; state is continuous across midnight.

    Deterministic: depends only on ``spec`` and the robot's index, not on the other robots.

    Raises:
        ValueError: when ``robot_id`` is not one of :func:`robot_ids`.
    """
    ids = robot_ids(spec)
    if robot_id not in ids:
        raise ValueError(
            f"robot_id must be one of robot_ids(spec) ('amr-0001' ... '{ids[-1]}') (got {robot_id!r})"
        )
    robot = _Robot(spec, ids.index(robot_id))
    for day_index in range(spec.days):
        yield robot.day(day_index)


def simulate_fleet(
    spec: FleetSpec,
    write: Callable[[str, bytes], None],
    *,
    progress: Callable[[DayKey], None] | None = None,
) -> GroundTruth:
    """Simulate every robot-day and write its zip(s), then the ground truth.

    For each robot and day (robots in order, days in order): when the day was uploaded late,
    ``write(day.key, zip_of_first_version)`` first, then ``write(day.key, zip_of_final_version)``. Finally
    ``write("fleet=<fleet>/_truth/ground_truth.json", GroundTruth.to_json())``. Keys are relative to the raw
    root; ``write`` is typically ``Store.write_bytes`` (a versioned store keeps both versions of a late day).
    ``progress(day)`` is called after each robot-day is written.
    """
    failures: list[Failure] = []
    robot_days: list[dict[str, Any]] = []
    for robot_index in range(spec.robots):
        robot = _Robot(spec, robot_index)
        for day_index in range(spec.days):
            rd = robot.day(day_index)
            if rd.first_version_members is not None:
                write(rd.day.key, build_day_zip(rd.first_version_members))
            write(rd.day.key, build_day_zip(rd.members))
            robot_days.append(_robot_day_summary(rd))
            if progress is not None:
                progress(rd.day)
        failures.extend(robot.all_failures())
    truth = GroundTruth(spec=spec, failures=failures, robot_days=robot_days)
    write(ground_truth_key(spec.fleet), truth.to_json())
    return truth


# ======================================================================================== ground truth I/O


def _robot_day_summary(rd: RobotDay) -> dict[str, Any]:
    return {
        "robot_id": rd.day.robot_id,
        "date": rd.day.date.isoformat(),
        "members": len(rd.members),
        "late_upload": rd.first_version_members is not None,
        "faults": dict(rd.faults),
        "samples": {name: len(df) for name, df in rd.expected.items()},
        "failures": [dataclasses.asdict(f) for f in rd.failures],
    }


def _spec_to_dict(spec: FleetSpec) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for f in dataclasses.fields(spec):
        value = getattr(spec, f.name)
        if f.name == "start":
            value = value.isoformat()
        elif f.name == "faults":
            value = {g.name: getattr(value, g.name) for g in dataclasses.fields(value)}
        elif f.name == "signals":
            value = [{g.name: getattr(s, g.name) for g in dataclasses.fields(s)} for s in value]
        out[f.name] = value
    return out


def _spec_from_dict(doc: dict[str, Any]) -> FleetSpec:
    kwargs = dict(doc)
    kwargs["start"] = dt.date.fromisoformat(kwargs["start"])
    kwargs["faults"] = FaultRates(**kwargs["faults"])
    signals: list[SignalSpec] = []
    for item in kwargs["signals"]:
        values: dict[str, Any] = {k: tuple(v) if isinstance(v, list) else v for k, v in item.items()}
        signals.append(SignalSpec(**values))
    kwargs["signals"] = tuple(signals)
    return FleetSpec(**kwargs)


class _Robot:
    """One robot over the whole simulation: plans, renders and uploads its days in order."""

    def __init__(self, spec: FleetSpec, robot_index: int) -> None:
        self.spec = spec
        self.index = robot_index
        self.robot_id = robot_ids(spec)[robot_index]
        seeds = np.random.SeedSequence([spec.seed, robot_index]).spawn(2)
        prof = make_profile(np.random.default_rng(seeds[0]), robot_index, tuple(SAMPLED_FIELDS))
        self.plan = Plan(spec, prof, np.random.default_rng(seeds[1]), robot_index)
        self.renderer = Renderer(self.plan, prof, spec.signals, precursors=spec.precursors)
        self.agent = Agent(
            fleet=spec.fleet,
            robot_id=self.robot_id,
            robot_index=robot_index,
            seed=spec.seed,
            start=self.plan.start,
            agent_version=prof.agent_version,
            signals=spec.signals,
            faults=spec.faults,
        )
        self.failures: list[Failure] = []

    def all_failures(self) -> list[Failure]:
        """Every simulated failure in the simulated period (after all days were produced)."""
        return [f for f in self.failures if self.plan.start <= f.ts < self.plan.end]

    def day(self, day_index: int) -> RobotDay:
        date = self.spec.start + dt.timedelta(days=day_index)
        day_start, _ = day_bounds_ms(date)
        end = day_start + min(self.plan.hours_ms, DAY_MS)
        rng = np.random.default_rng([self.spec.seed, self.index, day_index, 1])
        self.plan.plan_until(end + 1)
        known = {f.ts for f in self.failures}
        for fp in self.plan.failures:
            if fp.ts not in known:
                pre = fp.ts - fp.onset
                self.failures.append(
                    Failure(
                        self.robot_id,
                        fp.ts,
                        fp.mode,
                        fp.onset if pre else None,
                        pre / 1000.0 if pre else None,
                    )
                )
        rendered = self.renderer.render(day_start, end, rng)
        upload = self.agent.upload(
            date, rendered, np.random.default_rng([self.spec.seed, self.index, day_index, 2])
        )
        expected = {
            spec_s.name: self._expected(spec_s, *upload.carried[spec_s.name]) for spec_s in self.spec.signals
        }
        visible: set[int] = set()
        events = expected.get("events")
        if events is not None and "kind" in events:
            visible = set(events.loc[events["kind"] == "failure", "ts"].tolist())
        self.plan.prune(end - 3_600_000)
        self.plan.failures = [f for f in self.plan.failures if f.recovery_ts >= end - 3_600_000]
        return RobotDay(
            day=DayKey(self.spec.fleet, date, self.robot_id),
            members=upload.members,
            first_version_members=upload.first_version_members,
            expected=expected,
            failures=[f for f in self.failures if f.ts in visible],
            faults=upload.faults,
        )

    def _expected(self, spec_s: SignalSpec, rows: Rows, keep: Bools) -> pd.DataFrame:
        """What a correct extractor reads of one signal: the samples with `keep` (in readable members),
        sorted by ``ts``, exact duplicates (re-sent copies) removed."""
        kept = np.flatnonzero(keep)
        order = kept[np.argsort(rows.ts[kept], kind="stable")]
        ts = rows.ts[order]
        first = np.ones(ts.shape[0], dtype=bool)
        first[1:] = ts[1:] != ts[:-1]  # timestamps are unique per signal: equal ts = exact duplicate
        sel = order[first]
        ts = ts[first]
        data: dict[str, Any] = {
            "robot_id": pd.Series(np.array([self.robot_id], dtype=object).repeat(ts.shape[0]), dtype=object),
            "ts": pd.Series(ts, dtype=np.int64),
        }
        for f in spec_s.numeric:
            k = rows.num[f][sel]
            data[f] = pd.Series(np.where(k == NULL, np.nan, k / SCALE), dtype=np.float64)
        for f in spec_s.categorical:
            data[f] = pd.Series(rows.cat[f][sel], dtype=object)
        return pd.DataFrame(data, columns=["robot_id", "ts", *spec_s.fields])
