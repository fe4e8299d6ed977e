"""Synthetic robot fleet: realistic ``telemetry.v1`` day zips with a known ground truth.

The generator drives a small physical model per robot (duty cycle, motion in a bounded warehouse, battery,
motor thermals, localization quality), injects failures with physically plausible precursors, and
serialises what the robot's agent would have uploaded: one gzip member per envelope, one zip per robot-day.
Next to the bytes it returns exactly what a correct extractor must produce from them (``RobotDay.expected``)
and the failures a correct pipeline can see (``RobotDay.failures``, ``GroundTruth``).

Time semantics
--------------
* Every timestamp (``ts``, ``sent_at``, ``Failure.ts``, ...) is an integer count of epoch milliseconds UTC.
* A robot-day is the half-open UTC interval ``[00:00, 24:00)`` of its date. The robot is simulated
  continuously across midnight (pose, battery, temperatures, missions carry over).
  ``FleetSpec.hours < 24`` keeps each robot online only during ``[00:00, 00:00 + hours)`` of every day
  (offline, i.e. nothing recorded and nothing sent, for the rest of the day); meant for fast tests.
* Every signal has its own clock: sample ``k`` of a periodic signal is taken at
  ``k * period + offset + jitter`` with a per-robot, per-signal constant ``offset`` in ``[-300, 300)`` ms
  and a per-sample ``jitter`` in ``[-8, 8]`` ms. Offsets are chosen so that two signals of one robot never
  share a timestamp (a periodic sample that would hit an ``events``/``mission`` timestamp moves 1 ms).
  A sample belongs to the physical chunk (day) of its *nominal* time ``k * period + offset``, so a sample
  a few ms before midnight may be taken by the next day's chunk; timestamps stay strictly increasing per
  signal.
* A sample taken at ``ts`` is ready to send at ``ready = ts + latency`` (latency 5-80 ms) and travels in the
  first envelope with ``sent_at >= ready``. Envelopes are sent every 4.7-5.3 s while the robot is online;
  an envelope belongs to the day zip of the UTC day of its ``sent_at``. Samples of the last seconds before
  midnight are therefore carried by the next day's zip. The agent drops samples it could not upload within
  10 minutes (e.g. across an offline gap), so ``sent_at - ts <= 600_000`` for every uploaded sample. Samples
  still unsent when the simulation ends are never uploaded.

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

Failures and their precursors (``FleetSpec.precursors=True``)
-------------------------------------------------------------
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

Serialisation
-------------
Numbers are printed with exactly three decimals, right-aligned with JSON whitespace (as a C agent's
``printf("%8.3f")`` would), so every record of a high-rate signal has a fixed width and the JSON is built
with vectorised table look-ups instead of per-sample Python objects. Values in ``expected`` are the parsed
values (``k / 1000`` for the printed integer ``k``), so they compare exactly with ``==``.
Gzip members have ``mtime = 0``, zips use ``ZIP_STORED`` and a fixed ``date_time``: the same
:class:`FleetSpec` gives byte-identical zips (with the same ``isal`` and ``numpy`` versions).
"""

from __future__ import annotations

import bisect
import dataclasses
import datetime as dt
import io
import math
import struct
import zipfile
import zlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any, Final

import numpy as np
import numpy.typing as npt
import orjson
import pandas as pd
from isal import isal_zlib

from telemetry.config import DEFAULT_SIGNALS, SignalSpec
from telemetry.contract.envelope import DAY_MS, ROBOT_ID_RE, SCHEMA_ID, day_bounds_ms, member_name
from telemetry.contract.layout import DayKey, ground_truth_key

__all__ = [
    "FAILURE_CODES",
    "Failure",
    "FaultRates",
    "FleetSpec",
    "GroundTruth",
    "RobotDay",
    "build_day_zip",
    "robot_ids",
    "simulate_fleet",
    "simulate_robot_days",
]

I64 = npt.NDArray[np.int64]
F64 = npt.NDArray[np.float64]
Obj = npt.NDArray[np.object_]
Bools = npt.NDArray[np.bool_]

FAILURE_CODES: Final = ("MOTOR_OVERHEAT", "LOCALIZATION_LOST", "BATTERY_BROWNOUT", "E_STOP")
"""Failure modes (``events`` with ``kind == "failure"`` carry one of these as ``code``)."""

_MO, _LL, _BB, _ES = FAILURE_CODES
_MODE_WEIGHTS: Final = (0.3, 0.3, 0.2, 0.2)
_PRECURSOR_S: Final = {_MO: (120.0, 480.0), _LL: (10.0, 60.0), _BB: (60.0, 180.0)}
_WARNING_CODE: Final = {_MO: "MOTOR_TEMP_HIGH", _LL: "LOC_DEGRADED", _BB: "LOW_VOLTAGE"}
_SERVICE_CODE: Final = {_MO: "SERVICE_MOTORS", _LL: "CALIBRATE_SENSORS", _BB: "SERVICE_BATTERY"}
_DEGRADING: Final = (_MO, _LL, _BB)
_WARN_IN_PRECURSOR_P: Final = 0.55  # probability that a precursor fires its warning
_RANDOM_WARNINGS_PER_DAY: Final = 3.0  # per warning code, at random times
_MIN_FAILURE_GAP_MS: Final = 600_000
_BUFFER_TTL_MS: Final = 600_000  # the agent drops samples it could not upload within 10 minutes
# calibration of the hazards so that a robot-day sees about `failure_rate` failures
_EXEC_FRACTION: Final = 0.56  # share of the time spent executing missions
_DEGRADATION_MEAN: Final = 2.0  # mean of (1 + degradation)
_SUSCEPTIBILITY_SIGMA: Final = 0.35  # lognormal spread of per-robot hazards (mean exp(sigma^2 / 2))
_ONLINE_FRACTION: Final = 0.955  # calibrates random failure times to about `failure_rate`

_SAMPLED_FIELDS: Final = {
    "localization": ("x", "y", "theta", "confidence"),
    "odometry": ("linear", "angular"),
    "battery": ("voltage", "current", "soc"),
    "motor": ("temp_left", "temp_right", "current_left", "current_right"),
}
_PERIOD_MS: Final = {"localization": 100, "odometry": 100, "battery": 1000, "motor": 1000}
_GENERATED_FIELDS: Final = {
    **_SAMPLED_FIELDS,
    "mission": ("progress", "mission_id", "state"),
    "events": ("severity", "kind", "code"),
}

_TICK_MS: Final = 100
_WIDTH_M: Final = 80.0
_DEPTH_M: Final = 50.0
_ST_OFFLINE, _ST_IDLE, _ST_EXEC, _ST_TRAVEL, _ST_DOCKED = 0, 1, 2, 3, 4
_K_STAY, _K_MOVE, _K_TURN = 0, 1, 2
_NULL: Final = np.iinfo(np.int64).min  # "null" in a scaled numeric column
_SCALE: Final = 1000  # three decimals
_GZIP_LEVEL: Final = 1
_ZIP_DATE_TIME: Final = (1980, 1, 1, 0, 0, 0)
_ZIP_DOS_DATE: Final = (0 << 9) | (1 << 5) | 1  # 1980-01-01 (DOS time 00:00:00 is 0)
_ZIP_MADE_BY: Final = (3 << 8) | 20  # unix, zip 2.0
_ZIP_ATTR: Final = 0o100644 << 16  # regular file, rw-r--r--
_ZIP_LOCAL: Final = struct.Struct("<IHHHHHIIIHH")
_ZIP_CENTRAL: Final = struct.Struct("<IHHHHHHIIIHHHHHII")
_ZIP_END: Final = struct.Struct("<IHHHHIIH")
_UNKNOWN_SIGNAL: Final = "lidar"
_UNKNOWN_FIELDS: Final = ("fw_diag", "rssi", "temp_cell")
_FAULT_COUNTS: Final = (
    "members",
    "truncated_gzip",
    "invalid_json",
    "wrong_types",
    "unknown_signal_docs",
    "unknown_field_docs",
    "duplicate_samples",
    "out_of_order_samples",
    "late_upload_missing",
)


# ============================================================================================ public API


@dataclass(frozen=True, slots=True, kw_only=True)
class FaultRates:
    """Probabilities of upload faults (per member, per sample or per robot-day as noted).

    Corrupt members (``truncated_gzip``, ``invalid_json``, ``wrong_types``) replace a real envelope, whose
    samples are then lost unless a duplicate of them travels in another member. ``unknown_signal`` and
    ``unknown_field`` members are valid: the extra data must be counted and ignored.
    """

    duplicate_samples: float = 0.002  # per sample: also re-sent in the next envelope
    out_of_order_samples: float = 0.002  # per sample: delivered 6-40 s late, by a later envelope
    truncated_gzip: float = 0.0005  # per member: gzip bytes cut short
    invalid_json: float = 0.0005  # per member: decompresses to broken (truncated) JSON
    wrong_types: float = 0.0005  # per member: a numeric field holds a string
    unknown_signal: float = 0.001  # per member: the envelope also carries signal "lidar"
    unknown_field: float = 0.001  # per member: one sample of a known signal carries an extra field
    late_upload: float = 0.1  # per robot-day: a first zip version lacks a contiguous run of envelopes

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= value <= 1.0:
                raise ValueError(f"FaultRates.{f.name} must be a probability in [0, 1] (got {value!r})")
        if self.duplicate_samples + self.out_of_order_samples > 1.0:
            raise ValueError(
                "FaultRates.duplicate_samples + out_of_order_samples must be <= 1 "
                f"(got {self.duplicate_samples + self.out_of_order_samples!r})"
            )
        corrupt = self.truncated_gzip + self.invalid_json + self.wrong_types
        if corrupt > 1.0:
            raise ValueError(
                f"FaultRates: truncated_gzip + invalid_json + wrong_types must be <= 1 (got {corrupt!r})"
            )

    @classmethod
    def none(cls) -> FaultRates:
        """No faults at all."""
        return cls(**{f.name: 0.0 for f in dataclasses.fields(cls)})


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
            known = _GENERATED_FIELDS.get(s.name)
            if known is None:
                raise ValueError(
                    f"FleetSpec.signals: the simulator cannot generate signal {s.name!r}; "
                    f"use a subset of {sorted(_GENERATED_FIELDS)}"
                )
            if sorted(s.fields) != sorted(known) or (s.name in _SAMPLED_FIELDS and s.categorical):
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


def build_day_zip(members: Sequence[tuple[str, bytes]]) -> bytes:
    """Deterministic zip bytes: ``ZIP_STORED``, fixed ``date_time`` and attributes, members in given order.

    Raises:
        ValueError: when a member name repeats.
    """
    names = [name for name, _ in members]
    if len(set(names)) != len(names):
        dup = next(n for n in names if names.count(n) > 1)
        raise ValueError(f"member names must be unique in a zip (got {dup!r} twice or more)")
    total = sum(len(data) + 30 + 2 * len(name.encode()) + 46 for name, data in members)
    if len(members) >= 0xFFFF or total >= 0xFFFFFFFF:
        return _build_zip64(members)
    local: list[bytes] = []
    central: list[bytes] = []
    offset = 0
    for name, data in members:
        raw = name.encode()
        flags = 0 if raw.isascii() else 0x800  # UTF-8 names
        crc = zlib.crc32(data)
        header = _ZIP_LOCAL.pack(
            0x04034B50, 20, flags, 0, 0, _ZIP_DOS_DATE, crc, len(data), len(data), len(raw), 0
        )
        local += (header, raw, data)
        sizes = (crc, len(data), len(data), len(raw))
        entry = _ZIP_CENTRAL.pack(
            0x02014B50, _ZIP_MADE_BY, 20, flags, 0, 0, _ZIP_DOS_DATE, *sizes, 0, 0, 0, 0, _ZIP_ATTR, offset
        )
        central += (entry, raw)
        offset += len(header) + len(raw) + len(data)
    directory = b"".join(central)
    end = _ZIP_END.pack(0x06054B50, 0, 0, len(members), len(members), len(directory), offset, 0)
    return b"".join(local) + directory + end


def _build_zip64(members: Sequence[tuple[str, bytes]]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_STORED, allowZip64=True) as zf:
        for name, data in members:
            info = zipfile.ZipInfo(name, date_time=_ZIP_DATE_TIME)
            info.create_system = 3
            info.external_attr = _ZIP_ATTR
            zf.writestr(info, data)
    return buf.getvalue()


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


# ============================================================================================ JSON encoding


@cache
def _frac_table(closing: bool) -> npt.NDArray[np.uint32]:
    """Fraction words: ``.ddd`` or (last field of a record) ``ddd}``; index = thousandths."""
    texts = [f"{i:03d}}}" if closing else f".{i:03d}" for i in range(1000)]
    return np.frombuffer("".join(texts).encode(), dtype=np.uint32)  # read-only view: safe to cache


@cache
def _digits4_table() -> npt.NDArray[np.uint32]:
    return np.frombuffer("".join(f"{i:04d}" for i in range(10_000)).encode(), dtype=np.uint32)


def _keyed_table(key: str, numbers: Sequence[str]) -> npt.NDArray[np.uint32]:
    """Words of ``key`` + number right-aligned (JSON whitespace after the key), padded to whole words.

    Returns an array of shape (words, len(numbers)): one contiguous row per word position.
    """
    width = len(key) + max(len(s) for s in numbers)
    width += -width % 4
    texts = [key + " " * (width - len(key) - len(s)) + s for s in numbers]
    arr = np.frombuffer("".join(texts).encode(), dtype=np.uint32).reshape(len(numbers), width // 4)
    return np.ascontiguousarray(arr.T)


def _put(
    out: npt.NDArray[np.uint32], row: int, table: npt.NDArray[np.uint32], idx: npt.NDArray[np.intp]
) -> int:
    """Write the word rows of `table` gathered by `idx` into `out` from row `row`; returns the next row."""
    for words in table:
        if words.shape[0] == 1 or bool((words == words[0]).all()):
            out[row].fill(words[0])
        else:
            np.take(words, idx, out=out[row])
        row += 1
    return row


def _encode_fast(ts: I64, num: dict[str, I64], names: Sequence[str]) -> memoryview | None:
    """Fixed-width records ``,{"ts":...,"f": 1.234,...}`` for numeric-only rows without nulls.

    Returns None when the values do not fit the fast layout (then use :func:`_encode_slow`).
    """
    n = ts.shape[0]
    if n == 0 or not names or int(ts.min()) < 10**8:
        return None
    top = ts // 10**8
    top_min, top_max = int(top.min()), int(top.max())
    if top_max - top_min > 10_000:
        return None
    parts: list[tuple[npt.NDArray[np.uint32], npt.NDArray[np.intp]]] = [
        (
            _keyed_table(',{"ts":', [str(v) for v in range(top_min, top_max + 1)]),
            (top - top_min).astype(np.intp),
        ),
        (_digits4_table()[None, :], ((ts // 10_000) % 10_000).astype(np.intp)),
        (_digits4_table()[None, :], (ts % 10_000).astype(np.intp)),
    ]
    for i, name in enumerate(names):
        k = num[name]
        last = i == len(names) - 1
        if bool((k == _NULL).any()):
            return None
        neg = k < 0
        a = np.abs(k)
        ip = a // _SCALE
        ip_max = int(ip.max())
        if ip_max >= 10_000:
            return None
        has_neg = bool(neg.any())
        dot = "." if last else ""
        numbers = [f"{j}{dot}" for j in range(ip_max + 1)]
        if has_neg:
            numbers += [f"-{j}{dot}" for j in range(ip_max + 1)]
        idx = ip + neg * (ip_max + 1) if has_neg else ip
        parts.append((_keyed_table(f',"{name}":', numbers), idx.astype(np.intp)))
        parts.append((_frac_table(last)[None, :], (a - ip * _SCALE).astype(np.intp)))
    words = sum(table.shape[0] for table, _ in parts)
    out = np.empty((words, n), dtype=np.uint32)  # word-major: contiguous writes, one transpose at the end
    row = 0
    for table, idx in parts:
        row = _put(out, row, table, idx)
    return np.ascontiguousarray(out.T).reshape(-1).view(np.uint8).data


def _fmt_scaled(k: int) -> str:
    if k == _NULL:
        return "null"
    sign = "-" if k < 0 else ""
    a = -k if k < 0 else k
    return f"{sign}{a // _SCALE}.{a % _SCALE:03d}"


def _encode_slow(ts: I64, fields: Sequence[tuple[str, I64 | Obj]]) -> tuple[bytes, I64]:
    """Compact records ``,{"ts":...,...}`` one by one (small or unusual tables); returns blob and offsets."""
    cols: list[list[str]] = []
    for name, values in fields:
        if values.dtype == np.int64:
            cols.append([f',"{name}":{_fmt_scaled(int(v))}' for v in values.tolist()])
        else:
            cols.append([f',"{name}":{orjson.dumps(v).decode()}' for v in values.tolist()])
    records = [
        (f',{{"ts":{t}' + "".join(parts) + "}").encode() for t, *parts in zip(ts.tolist(), *cols, strict=True)
    ]
    offsets = np.zeros(len(records) + 1, dtype=np.int64)
    np.cumsum([len(r) for r in records], out=offsets[1:])
    return b"".join(records), offsets


# ============================================================================================ rows


@dataclass(slots=True)
class _Rows:
    """Samples of one signal: ``ts``, scaled numeric values (int64, ``_NULL`` = null), categorical objects.

    ``ready`` is when the sample may be sent; ``tag`` is 0 (original), 1 (re-sent copy) or 2 (late).
    """

    ts: I64
    num: dict[str, I64]
    cat: dict[str, Obj]
    ready: I64
    tag: npt.NDArray[np.int8]

    def __len__(self) -> int:
        return int(self.ts.shape[0])

    def take(self, idx: npt.NDArray[Any]) -> _Rows:
        return _Rows(
            self.ts[idx],
            {k: v[idx] for k, v in self.num.items()},
            {k: v[idx] for k, v in self.cat.items()},
            self.ready[idx],
            self.tag[idx],
        )

    @staticmethod
    def concat(parts: Sequence[_Rows]) -> _Rows:
        first = parts[0]
        return _Rows(
            np.concatenate([p.ts for p in parts]),
            {k: np.concatenate([p.num[k] for p in parts]) for k in first.num},
            {k: np.concatenate([p.cat[k] for p in parts]) for k in first.cat},
            np.concatenate([p.ready for p in parts]),
            np.concatenate([p.tag for p in parts]),
        )


def _scaled(values: F64) -> I64:
    return np.rint(values * _SCALE).astype(np.int64)


# ============================================================================================ robot model


@dataclass(frozen=True, slots=True)
class _Profile:
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


def _make_profile(rng: np.random.Generator, robot_index: int) -> _Profile:
    base = int(rng.integers(0, 100))
    slots = rng.permutation(4) * 25 + rng.integers(-2, 3, 4)
    offsets = {
        name: int((base + int(slot)) % 100 + 100 * int(rng.integers(-3, 3)))
        for name, slot in zip(_SAMPLED_FIELDS, slots, strict=True)
    }
    r_th = float(rng.uniform(0.55, 0.9))
    skew = float(rng.uniform(-0.08, 0.08))
    return _Profile(
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
        degradation_per_day={m: float(rng.uniform(0.1, 0.5)) for m in _DEGRADING},
        offsets=offsets,
        dock=(4.0 + (3.0 * robot_index) % (_WIDTH_M - 8.0), 0.5),
        agent_version="3.2.1" if rng.random() < 0.7 else "3.1.4",
    )


def _trapezoid(tau: F64, dist: F64, vpk: F64, acc: F64) -> tuple[F64, F64, F64]:
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


@dataclass(slots=True)
class _FailurePlan:
    mode: str
    ts: int
    onset: int
    recovery_ts: int
    params: dict[str, float]


class _Plan:
    """The robot's schedule, planned ahead of rendering: motion primitives, mission samples, events, failures.

    Motion is a contiguous sequence of primitives (stay, move straight, turn in place); each has a closed-form
    trajectory, so any time range can be rendered independently. The battery charge at primitive boundaries is
    integrated exactly from the same current model the renderer uses.
    """

    def __init__(self, spec: FleetSpec, prof: _Profile, rng: np.random.Generator, robot_index: int) -> None:
        self.spec = spec
        self.prof = prof
        self.rng = rng
        self.robot_number = robot_index + 1
        start, _ = day_bounds_ms(spec.start)
        self.start = start
        self.end = start + spec.days * DAY_MS
        self.hours_ms = round(spec.hours * 3_600_000 / 1000) * 1000
        self.t = start
        self.x = float(rng.uniform(5, _WIDTH_M - 5))
        self.y = float(rng.uniform(5, _DEPTH_M - 5))
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
        self.failures: list[_FailurePlan] = []
        self.maint: dict[str, list[int]] = {
            m: [start - int(rng.uniform(0.0, 4.0) * DAY_MS)] for m in _DEGRADING
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
        if state == _ST_OFFLINE:
            charge = 0.0
        elif state == _ST_DOCKED:
            charge = (prof.i_elec - prof.i_charge) * secs
        else:
            charge = prof.i_elec * secs
            side = prof.side[0] + prof.side[1]
            if kind == _K_MOVE:
                charge += side * payload * (prof.k_v * dist + prof.i0 * secs + prof.k_a * 2.0 * vpk)
            elif kind == _K_TURN:
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
        if kind == _K_MOVE:
            self.x += dist * math.cos(self.th)
            self.y += dist * math.sin(self.th)
        elif kind == _K_TURN:
            self.th += sign * dist
        self.t += dur_ms
        self.soc = soc1

    def _stay(self, until: int, state: int) -> None:
        if until > self.t:
            self._push(_K_STAY, until - self.t, 0.0, 0.0, 0.0, 1.0, state, 1.0)

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
                _K_TURN,
                math.ceil(secs * 1000),
                abs(turn),
                math.copysign(1.0, turn),
                vpk,
                prof.wacc,
                state,
                payload,
            )
        vpk, secs = _profile_time(dist, prof.vmax, prof.acc)
        self._push(_K_MOVE, math.ceil(secs * 1000), dist, 1.0, vpk, prof.acc, state, payload)

    def _stop_at_station(self, payload: float) -> None:
        wx = float(self.rng.uniform(2.0, _WIDTH_M - 2.0))
        wy = float(self.rng.uniform(2.0, _DEPTH_M - 2.0))
        self._leg(wx, wy, _ST_EXEC, payload)
        self._stay(self.t + int(self.rng.uniform(5.0, 25.0) * 1000), _ST_EXEC)

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
        if self.p_kind[i] != _K_STAY:
            s, _, _ = _trapezoid(
                np.array([(t_cut - t0) / 1000.0]),
                np.array([self.p_dist[i]]),
                np.array([self.p_vpk[i]]),
                np.array([self.p_acc[i]]),
            )
            if self.p_kind[i] == _K_MOVE:
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
        for mode in _DEGRADING:
            rate = _RANDOM_WARNINGS_PER_DAY
            if not self.spec.precursors:  # keep the total number of warnings comparable
                rate += (
                    self.spec.failure_rate * _MODE_WEIGHTS[FAILURE_CODES.index(mode)] * _WARN_IN_PRECURSOR_P
                )
            count = int(self.rng.poisson(rate * window / DAY_MS))
            for ts in sorted(int(v) for v in self.rng.integers(day0, day0 + window, count)):
                self._event(ts, "warning", _WARNING_CODE[mode], 2.0)

    def _offline(self, until: int) -> None:
        self._stay(until, _ST_OFFLINE)
        while self.next_random_failure < self.t:  # no failure while offline (thinning)
            self.next_random_failure = self.t + self._exp(self.random_gap_ms)

    def _maintenance(self) -> None:
        self.next_maint = self.t + int(self.rng.uniform(2.0, 6.0) * DAY_MS)
        self._offline(self.t + int(self.rng.uniform(20.0, 60.0) * 60_000))
        serviced = [m for m in _DEGRADING if self.rng.random() < 0.6] or [
            _DEGRADING[int(self.rng.integers(0, 3))]
        ]
        ts = self.t + int(self.rng.uniform(5.0, 60.0) * 1000)
        for mode in serviced:
            ts = self._event(ts, "maintenance", _SERVICE_CODE[mode], 1.0) + int(self.rng.integers(200, 3000))
            self.maint[mode].append(ts)

    def _idle(self, dur_ms: int) -> None:
        t0 = self.t
        self._stay(t0 + dur_ms, _ST_IDLE)
        self._finish(t0, "IDLE", None, 0, None)

    def _charge(self) -> None:
        t0 = self.t
        self._leg(*self.prof.dock, _ST_TRAVEL, 1.0)
        need = max(self.prof.charge_to - self.soc, 0.0) / 100.0 * self.prof.capacity_ah * 3600.0
        secs = need / (self.prof.i_charge - self.prof.i_elec)
        self._stay(self.t + int(secs * 1000) + 1000, _ST_DOCKED)
        self._finish(t0, "CHARGING", None, 0, None)

    def _hazards(self, t: int) -> F64:
        rate = self.spec.failure_rate / DAY_MS / _EXEC_FRACTION / math.exp(_SUSCEPTIBILITY_SIGMA**2 / 2)
        out = np.zeros(len(FAILURE_CODES))
        for i, mode in enumerate(FAILURE_CODES):
            lam = rate * _MODE_WEIGHTS[i] * self.prof.susceptibility[mode]
            if mode in _DEGRADING:
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
        self._stay(ts + recovery_delay + int(rng.uniform(10.0, 90.0) * 1000), _ST_IDLE)  # stands still
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
        self.failures.append(_FailurePlan(mode, ts, onset, recovery_ts, params))
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


# ============================================================================================ rendering


def _ramp(times: I64, f: _FailurePlan) -> tuple[slice, F64]:
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
    failures: list[_FailurePlan]


@dataclass(slots=True)
class _Rendered:
    rows: dict[str, _Rows]
    online_ticks: Bools  # online state per 100 ms tick of [start, end)
    start: int
    end: int


class _Robot:
    """One robot over the whole simulation: plans, renders and packages its days in order."""

    def __init__(self, spec: FleetSpec, robot_index: int) -> None:
        self.spec = spec
        self.index = robot_index
        self.robot_id = robot_ids(spec)[robot_index]
        seeds = np.random.SeedSequence([spec.seed, robot_index]).spawn(2)
        self.prof = _make_profile(np.random.default_rng(seeds[0]), robot_index)
        self.plan = _Plan(spec, self.prof, np.random.default_rng(seeds[1]), robot_index)
        self.temps = (30.0, 30.0)
        self.conf_noise = 0.0
        self.next_send = self.plan.start + int(
            np.random.default_rng([spec.seed, robot_index, 7]).integers(0, 5000)
        )
        self.seq = 1000 + 97 * robot_index
        self.carry: dict[str, _Rows] = {}
        self.failures: list[Failure] = []
        self.signals = spec.signals

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
        rendered = self._render(day_start, end, rng)
        robot_day = self._package(
            date, rendered, np.random.default_rng([self.spec.seed, self.index, day_index, 2])
        )
        self.plan.prune(end - 3_600_000)
        self.plan.failures = [f for f in self.plan.failures if f.recovery_ts >= end - 3_600_000]
        return robot_day

    # ---------------------------------------------------------------------------------------- physics

    def _render(self, start: int, end: int, rng: np.random.Generator) -> _Rendered:
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
        rows: dict[str, _Rows] = {}
        for spec_s in self.signals:
            name = spec_s.name
            if name in _SAMPLED_FIELDS:
                ts = self._sample_times(name, start, end, rng, taken)
                ts = ts[ph.online[np.clip((ts - start) // _TICK_MS, 0, n - 1)]]
                values = self._sample_values(name, ts, ph, rng)
                num = {f: _scaled(values[f]) for f in spec_s.fields}
                rows[name] = _Rows(
                    ts, num, {}, ts + rng.integers(5, 81, ts.shape[0]), np.zeros(ts.shape[0], np.int8)
                )
            else:
                rows[name] = self._discrete_rows(name, start, end, ph.online, rng, spec_s)
        return _Rendered(rows, ph.online, start, end)

    def _physics(self, start: int, end: int, rng: np.random.Generator) -> _Physics:
        """The robot's physical state over ``[start, end)``.

        A 100 ms grid holds motion, currents and the battery; a 1 s grid thermals and localization confidence.
        Temperatures and the confidence noise state carry over to the next day.
        """
        plan, prof = self.plan, self.prof
        n = (end - start) // _TICK_MS
        t = start + _TICK_MS * np.arange(n, dtype=np.int64)
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
        moving = kind != _K_STAY
        is_move = kind == _K_MOVE
        is_turn = kind == _K_TURN
        safe = p["kind"] != _K_STAY
        s, v, a = _trapezoid(
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
        if self.spec.precursors:
            for f in failures:
                sl, r = _ramp(t, f)
                if f.mode == _MO:  # friction in one motor: its current climbs (less so when standing)
                    motor[int(f.params["side"])][sl] += (
                        f.params["extra_a"] * r**1.5 * np.where(moving[sl], 1.0, 0.4)
                    )
                elif f.mode == _BB:  # failing cell / connector: internal resistance climbs
                    r_mult[sl] += f.params["r_gain"] * r**2
        battery_current = np.select(
            [state == _ST_OFFLINE, state == _ST_DOCKED],
            [np.zeros(n), np.full(n, prof.i_elec - prof.i_charge)],
            prof.i_elec + motor[0] + motor[1],
        )

        # 1 s grid (centres of whole seconds)
        sec = start + 1000 * np.arange(n // 10, dtype=np.int64) + 500
        hour = (sec % DAY_MS) / 3_600_000.0
        ambient = 23.0 + prof.ambient + 3.0 * np.sin(2 * np.pi * (hour - 9.0) / 24.0)
        deg = {m: self._degradation(m, sec) for m in _DEGRADING}
        alpha = 1.0 - math.exp(-1.0 / prof.tau_th)
        temps = []
        for side in (0, 1):
            heat = (motor[side] ** 2).reshape(-1, 10).mean(axis=1)
            drive = ambient + prof.r_th[side] * (1.0 + 0.15 * deg[_MO]) * heat
            if self.spec.precursors:
                for f in failures:
                    if f.mode == _MO and int(f.params["side"]) == side:  # failing bearing/winding heats up
                        sl, r = _ramp(sec, f)
                        drive[sl] += f.params["heat_c"] * r**2
            temps.append(_first_order(drive, alpha, self.temps[side]))
        ar = _first_order(rng.normal(0.0, 0.15, sec.shape[0]), 0.02, self.conf_noise)
        conf = prof.conf_base - 0.03 * deg[_LL] + ar
        for _ in range(int(rng.poisson(8.0 * (end - start) / DAY_MS))):  # harmless dips (reflective aisles)
            center = float(rng.uniform(start, end))
            width = float(rng.uniform(2.0, 15.0)) * 1000
            conf -= float(rng.uniform(0.1, 0.4)) * np.exp(-(((sec - center) / width) ** 2))
        for f in failures:
            if f.mode != _LL:
                continue
            if self.spec.precursors:
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
            * (1.0 + 0.25 * deg[_BB][sec_of_tick])
            * (1.0 + 0.6 * (1.0 - soc / 100.0) ** 3)
            * r_mult
        )
        return _Physics(
            t=t,
            sec=sec,
            online=state != _ST_OFFLINE,
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
            if self.spec.precursors:
                for f in ph.failures:
                    if f.mode == _LL:
                        lo, hi = np.searchsorted(ts, [f.onset, f.recovery_ts])
                        r = np.clip((ts[lo:hi] - f.onset) / max(f.ts - f.onset, 1), 0.0, 1.0)
                        jitter_th[lo:hi] = f.params["theta_jitter"] * r**2
                        jitter_xy[lo:hi] = f.params["xy_jitter"] * r**2
            theta = at(ph.th) + noise(1.0) * (prof.sigma_th + jitter_th)
            return {
                "x": np.clip(at(ph.x) + noise(1.0) * (prof.sigma_xy + jitter_xy), 0.0, _WIDTH_M),
                "y": np.clip(at(ph.y) + noise(1.0) * (prof.sigma_xy + jitter_xy), 0.0, _DEPTH_M),
                "theta": np.remainder(theta + np.pi, 2 * np.pi) - np.pi,
                "confidence": np.clip(_interp_causal(tf, secf, ph.conf, cuts) + noise(0.004), 0.0, 1.0),
            }
        if name == "odometry":
            return {"linear": at(ph.lin) + noise(0.003), "angular": at(ph.ang) + noise(0.003)}
        if name == "battery":
            sag = np.zeros(m)
            if self.spec.precursors:
                for f in ph.failures:
                    if f.mode == _BB:
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
    ) -> _Rows:
        n = online.shape[0]
        if name == "events":
            items = sorted(e for e in self.plan.events if start <= e[0] < end)
            items = [e for e in items if online[(e[0] - start) // _TICK_MS]] if n else []
            ts = np.array([e[0] for e in items], dtype=np.int64)
            num = {"severity": np.array([round(e[1] * _SCALE) for e in items], dtype=np.int64)}
            cat = {
                "kind": np.array([e[2] for e in items], dtype=object),
                "code": np.array([e[3] for e in items], dtype=object),
            }
        else:
            mitems = sorted((m for m in self.plan.mission if start <= m[0] < end), key=lambda m: m[0])
            mitems = [m for m in mitems if online[(m[0] - start) // _TICK_MS]] if n else []
            ts = np.array([m[0] for m in mitems], dtype=np.int64)
            num = {
                "progress": np.array(
                    [_NULL if m[1] is None else round(m[1] * _SCALE) for m in mitems], dtype=np.int64
                )
            }
            cat = {
                "mission_id": np.array([m[2] for m in mitems], dtype=object),
                "state": np.array([m[3] for m in mitems], dtype=object),
            }
        num = {f: num[f] for f in spec_s.numeric}
        cat = {f: cat[f] for f in spec_s.categorical}
        return _Rows(ts, num, cat, ts + rng.integers(5, 81, ts.shape[0]), np.zeros(ts.shape[0], np.int8))

    # ---------------------------------------------------------------------------------------- upload

    def _send_times(self, day_start: int, day_end: int, rendered: _Rendered) -> I64:
        """``sent_at`` of this day's envelopes: every 4.7-5.3 s while online, in ``[day_start, day_end)``."""
        rng = np.random.default_rng([self.spec.seed, self.index, (day_start // DAY_MS), 3])
        count = (day_end - self.next_send) // 4700 + 2
        times = self.next_send + np.concatenate(([0], np.cumsum(rng.integers(4700, 5301, count))))
        inside = times < day_end
        self.next_send = int(times[~inside][0])
        times = times[inside & (times >= day_start)]
        tick = (times - rendered.start) // _TICK_MS
        n = rendered.online_ticks.shape[0]
        ok = (times >= rendered.start) & (times < rendered.end)
        ok[ok] = rendered.online_ticks[np.clip(tick[ok], 0, max(n - 1, 0))]
        return times[ok]

    def _package(self, date: dt.date, rendered: _Rendered, rng: np.random.Generator) -> RobotDay:
        """Upload one day: route samples into this day's envelopes, inject faults, serialise, gzip."""
        faults = self.spec.faults
        day_start, day_end = day_bounds_ms(date)
        sent = self._send_times(day_start, day_end, rendered)
        n_env = sent.shape[0]
        seqs = self.seq + np.arange(n_env, dtype=np.int64)
        self.seq += n_env
        counts = dict.fromkeys(_FAULT_COUNTS, 0)
        counts["members"] = n_env
        # member faults: 0 valid, 1 truncated gzip, 2 invalid JSON, 3 wrong types
        u = rng.random(n_env)
        c1 = faults.truncated_gzip
        c2 = c1 + faults.invalid_json
        c3 = c2 + faults.wrong_types
        corrupt_kind = np.select([u < c1, u < c2, u < c3], [1, 2, 3], 0).astype(np.int64)
        corrupt = corrupt_kind > 0
        unknown_signal = (~corrupt) & (rng.random(n_env) < faults.unknown_signal)
        unknown_field = (~corrupt) & (rng.random(n_env) < faults.unknown_field)

        parts: list[list[bytes]] = []
        expected: dict[str, pd.DataFrame] = {}
        for spec_s in self.signals:
            rows, env = self._route(spec_s.name, rendered.rows[spec_s.name], sent, rng)
            counts["duplicate_samples"] += int((rows.tag == 1).sum())
            counts["out_of_order_samples"] += int((rows.tag == 2).sum())
            parts.append(_signal_parts(spec_s, rows, np.searchsorted(env, np.arange(n_env + 1))))
            expected[spec_s.name] = self._expected(spec_s, rows, ~corrupt[env])

        head = (
            f'{{"schema":"{SCHEMA_ID}","fleet":"{self.spec.fleet}","robot_id":"{self.robot_id}","seq":%d,'
            f'"sent_at":%d,"agent_version":"{self.prof.agent_version}","signals":{{'
        ).encode()
        sent_list, seq_list = sent.tolist(), seqs.tolist()
        special = (corrupt | unknown_signal | unknown_field).tolist()
        members: list[tuple[str, bytes]] = []
        for j, envelope in enumerate(zip(*parts, strict=True)):
            name = member_name(self.robot_id, sent_list[j], seq_list[j])
            if not special[j]:
                doc = head % (seq_list[j], sent_list[j]) + b",".join([p for p in envelope if p]) + b"}}"
                members.append((name, _gzip(doc)))
                continue
            chosen = list(envelope)
            present = [self.signals[i] for i, p in enumerate(chosen) if p]
            if unknown_field[j] and present:
                i = int(rng.choice([i for i, p in enumerate(chosen) if p]))
                chosen[i] = _with_unknown_field(chosen[i], self.signals[i].name, rng)
                counts["unknown_field_docs"] += 1
            if unknown_signal[j]:
                points = int(rng.integers(900, 1100))
                chosen.append(
                    f'"{_UNKNOWN_SIGNAL}":[{{"ts":{sent_list[j] - 2000},"points":{points}}}]'.encode()
                )
                counts["unknown_signal_docs"] += 1
            doc = head % (seq_list[j], sent_list[j]) + b",".join([p for p in chosen if p]) + b"}}"
            kind = int(corrupt_kind[j])
            if kind == 3:
                doc = _wrong_types(doc, present)
                counts["wrong_types"] += 1
            elif kind == 2:
                doc = doc[
                    : int(rng.integers(1, len(doc)))
                ]  # a strict prefix of an object is never valid JSON
                counts["invalid_json"] += 1
            gz = _gzip(doc)
            if kind == 1:
                gz = gz[: int(rng.integers(10, len(gz) - 8))]  # at least the 8-byte trailer is missing
                counts["truncated_gzip"] += 1
            members.append((name, gz))

        first: list[tuple[str, bytes]] | None = None
        if len(members) >= 3 and rng.random() < faults.late_upload:
            run = max(1, int(len(members) * rng.uniform(0.02, 0.25)))
            at = int(rng.integers(0, len(members) - run + 1))
            first = members[:at] + members[at + run :]
            counts["late_upload_missing"] = run

        visible: set[int] = set()
        events = expected.get("events")
        if events is not None and "kind" in events:
            visible = set(events.loc[events["kind"] == "failure", "ts"].tolist())
        return RobotDay(
            day=DayKey(self.spec.fleet, date, self.robot_id),
            members=members,
            first_version_members=first,
            expected=expected,
            failures=[f for f in self.failures if f.ts in visible],
            faults=counts,
        )

    def _route(self, name: str, new: _Rows, sent: I64, rng: np.random.Generator) -> tuple[_Rows, I64]:
        """This day's emissions of one signal in upload order, and the envelope index of each.

        Applies the per-sample faults to the day's new samples (a re-sent copy travels in the envelope after
        the original's; a late sample becomes ready 6-40 s later), adds what the previous day left unsent and
        keeps for the next day what no envelope of this day takes (``ready`` after the last ``sent_at``).
        """
        faults = self.spec.faults
        n_env = sent.shape[0]
        draw = rng.random(len(new))
        dup = draw < faults.duplicate_samples
        late = (~dup) & (draw < faults.duplicate_samples + faults.out_of_order_samples)
        new.ready[late] += rng.integers(6000, 40_001, int(late.sum()))
        new.tag[late] = 2
        copies = new.take(np.flatnonzero(dup))
        copies.tag[:] = 1
        env_of_original = np.searchsorted(sent, copies.ready, side="left")
        if n_env:
            after = sent[np.minimum(env_of_original, n_env - 1)] + 1
            copies.ready = np.where(env_of_original < n_env, after, copies.ready + 5200)
        else:
            copies.ready = copies.ready + 5200
        pending = self.carry.get(name)
        rows = _Rows.concat([new, copies] if pending is None else [pending, new, copies])
        env = np.searchsorted(sent, rows.ready, side="left").astype(np.int64)
        today = env < n_env
        self.carry[name] = rows.take(np.flatnonzero(~today))
        # the agent drops samples it could not send within its buffer TTL (e.g. across an offline gap)
        today[today] = sent[env[today]] - rows.ts[today] <= _BUFFER_TTL_MS
        rows, env = rows.take(np.flatnonzero(today)), env[today]
        order = np.lexsort((rows.ts, rows.ready, env))  # by envelope, then in the order they became ready
        return rows.take(order), env[order]

    def _expected(self, spec_s: SignalSpec, rows: _Rows, keep: Bools) -> pd.DataFrame:
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
            data[f] = pd.Series(np.where(k == _NULL, np.nan, k / _SCALE), dtype=np.float64)
        for f in spec_s.categorical:
            data[f] = pd.Series(rows.cat[f][sel], dtype=object)
        return pd.DataFrame(data, columns=["robot_id", "ts", *spec_s.fields])


def _wrong_types(doc: bytes, present: Sequence[SignalSpec]) -> bytes:
    """The envelope with the first numeric value of a sample quoted (or ``seq`` quoted when there is none)."""
    for spec_s in present:
        if spec_s.numeric:
            key = f'"{spec_s.numeric[0]}":'.encode()
            pos = doc.find(key, doc.find(f'"{spec_s.name}":['.encode()))
            if pos >= 0:
                start = pos + len(key)
                stop = min(i for i in (doc.find(b",", start), doc.find(b"}", start)) if i >= 0)
                return doc[:start] + b'"' + doc[start:stop].strip() + b'"' + doc[stop:]
    start = doc.find(b'"seq":') + 6
    stop = doc.find(b",", start)
    return doc[:start] + b'"' + doc[start:stop] + b'"' + doc[stop:]


def _with_unknown_field(part: bytes, signal: str, rng: np.random.Generator) -> bytes:
    """`part` (``"<signal>":[{...},...]``) with an extra field in its first sample."""
    cut = len(signal) + 5  # after '"<signal>":[{'
    extra = _UNKNOWN_FIELDS[int(rng.integers(0, len(_UNKNOWN_FIELDS)))]
    return part[:cut] + f'"{extra}":{rng.uniform(-90, 90):.1f},'.encode() + part[cut:]


def _signal_parts(spec_s: SignalSpec, rows: _Rows, bounds: npt.NDArray[np.intp]) -> list[bytes]:
    """Per envelope ``j``: ``"<name>":[<records bounds[j]:bounds[j+1]>]``, or b"" when that range is empty."""
    fields: list[tuple[str, I64 | Obj]] = [(f, rows.num[f]) for f in spec_s.numeric]
    fields += [(f, rows.cat[f]) for f in spec_s.categorical]
    fast = (
        _encode_fast(rows.ts, rows.num, spec_s.numeric)
        if not spec_s.categorical and len(rows) > 1000
        else None
    )
    if fast is not None:
        blob: memoryview = fast
        offsets = np.arange(len(rows) + 1, dtype=np.int64) * (len(fast) // len(rows))
    else:
        slow, offsets = _encode_slow(rows.ts, fields)
        blob = memoryview(slow)
    key = f'"{spec_s.name}":['.encode()
    starts = (offsets[bounds[:-1]] + 1).tolist()  # skip the leading comma of the first record
    ends = offsets[bounds[1:]].tolist()
    return [key + blob[a:b] + b"]" if a < b else b"" for a, b in zip(starts, ends, strict=True)]


def _gzip(data: bytes) -> bytes:
    """Gzip with a zero mtime (deterministic)."""
    out: bytes = isal_zlib.compress(data, _GZIP_LEVEL, 31)
    return out
