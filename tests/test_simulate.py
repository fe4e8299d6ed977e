"""The synthetic fleet: deterministic bytes, contract-valid envelopes, realistic clocks and rates, failures
with (and without) precursors, faults injected as declared, and ``expected`` tables that a deliberately
simple reference decoder (stdlib gzip + orjson, one member at a time) reproduces exactly."""

from __future__ import annotations

import dataclasses
import io
import itertools
import math
import zipfile
import zlib
from collections import Counter
from collections.abc import Sequence
from typing import Any

import jsonschema
import numpy as np
import orjson
import pandas as pd
import pytest

from telemetry.config import DEFAULT_SIGNALS, SignalSpec
from telemetry.contract.envelope import day_bounds_ms, envelope_json_schema, parse_member_name
from telemetry.contract.layout import DayKey
from telemetry.contract.ziplib import build_day_zip
from telemetry.sim.faults import FaultRates
from telemetry.sim.fleet import (
    FleetSpec,
    GroundTruth,
    RobotDay,
    robot_ids,
    simulate_fleet,
    simulate_robot_days,
)
from telemetry.sim.plan import FAILURE_CODES
from telemetry.sim.upload import encode_fixed_width

HEAVY_FAULTS = FaultRates(
    duplicate_samples=0.01,
    out_of_order_samples=0.01,
    truncated_gzip=0.01,
    invalid_json=0.01,
    wrong_types=0.01,
    unknown_signal=0.02,
    unknown_field=0.02,
    late_upload=0.5,
)
PRECURSOR_RANGE_S = {
    "MOTOR_OVERHEAT": (120, 480),
    "LOCALIZATION_LOST": (10, 60),
    "BATTERY_BROWNOUT": (60, 180),
}
WARNING_OF = {
    "MOTOR_OVERHEAT": "MOTOR_TEMP_HIGH",
    "LOCALIZATION_LOST": "LOC_DEGRADED",
    "BATTERY_BROWNOUT": "LOW_VOLTAGE",
}
REGISTRY = {s.name: s for s in DEFAULT_SIGNALS}
HOURS = 3.0  # online window of the failure fixtures


def _signals(*names: str) -> tuple[SignalSpec, ...]:
    return tuple(REGISTRY[n] for n in names)


def _days(spec: FleetSpec) -> list[RobotDay]:
    return [rd for rid in robot_ids(spec) for rd in simulate_robot_days(spec, rid)]


# ------------------------------------------------------------------------------------ reference decoder


class Decoded:
    """What a correct extractor sees in one robot-day's members (reference implementation)."""

    def __init__(
        self, members: Sequence[tuple[str, bytes]], signals: Sequence[SignalSpec], robot_id: str
    ) -> None:
        self.corrupt: list[str] = []
        self.unknown_signal_docs = 0
        self.unknown_field_docs = 0
        self.docs: list[dict[str, Any]] = []
        rows: dict[str, list[tuple[Any, ...]]] = {s.name: [] for s in signals}
        for name, gz in members:
            doc = self._valid_doc(gz, signals)
            if doc is None:
                self.corrupt.append(name)
                continue
            self.docs.append(doc)
            self.unknown_signal_docs += bool(set(doc["signals"]) - set(REGISTRY))
            self.unknown_field_docs += any(
                set(sample) - {"ts", *REGISTRY[sig].fields}
                for sig, samples in doc["signals"].items()
                if sig in REGISTRY
                for sample in samples
            )
            for s in signals:
                for sample in doc["signals"].get(s.name, []):
                    numeric = [math.nan if sample.get(f) is None else float(sample[f]) for f in s.numeric]
                    rows[s.name].append(
                        (robot_id, sample["ts"], *numeric, *(sample.get(f) for f in s.categorical))
                    )
        self.tables = {s.name: self._table(s, rows[s.name]) for s in signals}

    @staticmethod
    def _valid_doc(gz: bytes, signals: Sequence[SignalSpec]) -> dict[str, Any] | None:
        try:
            doc = orjson.loads(zlib.decompress(gz, 31))
        except (zlib.error, orjson.JSONDecodeError):
            return None
        if (
            not isinstance(doc, dict)
            or type(doc.get("seq")) is not int
            or type(doc.get("sent_at")) is not int
        ):
            return None
        for s in signals:
            for sample in doc["signals"].get(s.name, []):
                if type(sample.get("ts")) is not int:
                    return None
                if any(type(sample.get(f)) not in (int, float, type(None)) for f in s.numeric):
                    return None
                if any(type(sample.get(f)) not in (str, type(None)) for f in s.categorical):
                    return None
        return doc

    @staticmethod
    def _table(s: SignalSpec, rows: list[tuple[Any, ...]]) -> pd.DataFrame:
        cols = ["robot_id", "ts", *s.numeric, *s.categorical]
        values = list(zip(*rows, strict=True)) if rows else [() for _ in cols]
        dtypes: dict[str, Any] = {"robot_id": object, "ts": np.int64, **dict.fromkeys(s.numeric, np.float64)}
        data = {c: pd.Series(list(v), dtype=dtypes.get(c, object)) for c, v in zip(cols, values, strict=True)}
        df = pd.DataFrame(data).drop_duplicates()
        return df.sort_values("ts", kind="stable").reset_index(drop=True)[["robot_id", "ts", *s.fields]]


def _failure_events(expected: dict[str, pd.DataFrame]) -> list[tuple[int, str]]:
    ev = expected["events"]
    ev = ev[ev["kind"] == "failure"]
    return list(zip(ev["ts"].tolist(), ev["code"].tolist(), strict=True))


# ------------------------------------------------------------------------------------ fixtures


@pytest.fixture(scope="module")
def faulty() -> list[RobotDay]:
    """Two robots, two one-hour days, every fault at a high rate, many failures."""
    return _days(FleetSpec(robots=2, days=2, hours=1.0, seed=11, failure_rate=48.0, faults=HEAVY_FAULTS))


@pytest.fixture(scope="module")
def faulty_decoded(faulty: list[RobotDay]) -> list[Decoded]:
    return [Decoded(rd.members, DEFAULT_SIGNALS, rd.day.robot_id) for rd in faulty]


@pytest.fixture(scope="module")
def with_precursors() -> list[RobotDay]:
    spec = FleetSpec(robots=4, days=1, hours=HOURS, seed=4, failure_rate=48.0, faults=FaultRates.none())
    return _days(spec)


@pytest.fixture(scope="module")
def without_precursors() -> list[RobotDay]:
    spec = FleetSpec(
        robots=4, days=1, hours=HOURS, seed=4, failure_rate=48.0, faults=FaultRates.none(), precursors=False
    )
    return _days(spec)


@pytest.fixture(scope="module")
def across_midnight() -> list[RobotDay]:
    """Full days (24 h) of the low-rate signals only: cheap, and the robot is online at midnight."""
    spec = FleetSpec(robots=1, days=2, seed=3, signals=_signals("battery", "mission", "events"))
    return _days(spec)


# ------------------------------------------------------------------------------------ spec and API


def test_robot_ids_are_zero_padded() -> None:
    assert robot_ids(FleetSpec(robots=3)) == ["amr-0001", "amr-0002", "amr-0003"]


def test_unknown_robot_is_rejected() -> None:
    with pytest.raises(ValueError, match="amr-0009"):
        next(simulate_robot_days(FleetSpec(robots=2), "amr-0009"))


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"hours": 0.0}, "hours"),
        ({"hours": 25.0}, "hours"),
        ({"robots": 0}, "robots"),
        ({"failure_rate": -1.0}, "failure_rate"),
        ({"fleet": "bad fleet!"}, "fleet"),
        ({"signals": (SignalSpec(name="lidar", numeric=("range",)),)}, "lidar"),
        ({"signals": (SignalSpec(name="battery", numeric=("voltage",)),)}, "battery"),
    ],
)
def test_fleet_spec_rejects_bad_values(kwargs: dict[str, Any], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        FleetSpec(**kwargs)


def test_fault_rates_must_be_probabilities() -> None:
    with pytest.raises(ValueError, match="truncated_gzip"):
        FaultRates(truncated_gzip=1.5)
    assert all(getattr(FaultRates.none(), f.name) == 0.0 for f in dataclasses.fields(FaultRates))


# ------------------------------------------------------------------------------------ determinism


def _zips(spec: FleetSpec) -> list[bytes]:
    out = []
    for rd in _days(spec):
        if rd.first_version_members is not None:
            out.append(build_day_zip(rd.first_version_members))
        out.append(build_day_zip(rd.members))
    return out


def test_same_spec_gives_identical_bytes() -> None:
    spec = FleetSpec(robots=2, days=2, hours=0.5, seed=7, failure_rate=30.0, faults=HEAVY_FAULTS)
    assert _zips(spec) == _zips(spec)
    writes_a: list[tuple[str, bytes]] = []
    writes_b: list[tuple[str, bytes]] = []
    simulate_fleet(spec, lambda key, data: writes_a.append((key, data)))
    simulate_fleet(spec, lambda key, data: writes_b.append((key, data)))
    assert writes_a == writes_b


def test_different_seed_gives_different_bytes() -> None:
    a = _zips(FleetSpec(robots=1, days=1, hours=0.25, seed=1))
    b = _zips(FleetSpec(robots=1, days=1, hours=0.25, seed=2))
    assert a != b


def test_a_robot_does_not_depend_on_the_fleet_size() -> None:
    small = next(simulate_robot_days(FleetSpec(robots=1, hours=0.25, seed=4), "amr-0001"))
    large = next(simulate_robot_days(FleetSpec(robots=5, hours=0.25, seed=4), "amr-0001"))
    assert small.members == large.members


def test_members_are_deterministic_gzip(faulty: list[RobotDay]) -> None:
    for name, gz in faulty[0].members[:50]:
        assert gz[:4] == b"\x1f\x8b\x08\x00", name  # gzip, deflate, no flags
        assert gz[4:8] == b"\x00\x00\x00\x00", name  # mtime 0


# ------------------------------------------------------------------------------------ envelopes


def test_envelopes_follow_the_contract(faulty: list[RobotDay], faulty_decoded: list[Decoded]) -> None:
    validator = jsonschema.Draft202012Validator(envelope_json_schema())
    last_seq: dict[str, int] = {}
    for rd, decoded in zip(faulty, faulty_decoded, strict=True):
        start, _ = day_bounds_ms(rd.day.date)
        assert decoded.docs
        by_name = dict(rd.members)
        # schema validation is slow: every 25th envelope plus every one carrying unknown data
        unusual = [
            d for d in decoded.docs if set(d["signals"]) - set(REGISTRY) or b"fw_diag" in orjson.dumps(d)
        ]
        for doc in decoded.docs[::25] + unusual:
            validator.validate(doc)
        for doc in decoded.docs:
            assert doc["fleet"] == rd.day.fleet and doc["robot_id"] == rd.day.robot_id
            # the online window of a short day is [00:00, 00:00 + hours)
            assert start <= doc["sent_at"] < start + 3_600_000
            for samples in doc["signals"].values():
                assert all(s["ts"] <= doc["sent_at"] for s in samples)
        names = [parse_member_name(n) for n in by_name]
        assert all(p is not None and p[0] == rd.day.robot_id for p in names)
        seqs = [p[2] for p in names if p is not None]
        assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)
        assert seqs[0] > last_seq.get(rd.day.robot_id, -1)  # seq keeps increasing across days
        last_seq[rd.day.robot_id] = seqs[-1]
        name_of_seq = {p[2]: (p[1], n) for p, n in zip(names, by_name, strict=True) if p is not None}
        for doc in decoded.docs:
            assert name_of_seq[doc["seq"]][0] == doc["sent_at"]


def test_envelopes_come_every_five_seconds(across_midnight: list[RobotDay]) -> None:
    rd = across_midnight[0]
    sent = np.array([p[1] for p in (parse_member_name(n) for n, _ in rd.members) if p is not None])
    gaps = np.diff(sent)
    assert np.median(gaps) == pytest.approx(5000, abs=60)
    assert (gaps >= 4700).all()
    online_gaps = gaps[gaps <= 5300]
    assert len(online_gaps) > 0.9 * len(gaps)
    assert 0.9 * 17_280 < len(sent) <= 17_280 * 5000 / 4700


# ------------------------------------------------------------------------------------ clocks and rates


@pytest.mark.parametrize(
    ("signal", "period_ms"), [("localization", 100), ("odometry", 100), ("battery", 1000), ("motor", 1000)]
)
def test_sample_rates(faulty: list[RobotDay], signal: str, period_ms: int) -> None:
    for rd in faulty:
        ts = rd.expected[signal]["ts"].to_numpy()
        gaps = np.diff(ts)
        assert np.median(gaps) == pytest.approx(period_ms, abs=2)
        regular = gaps[gaps < 1.5 * period_ms]  # lost members and offline time make longer gaps
        assert (np.abs(regular - period_ms) <= 17).all()  # jitter <= 8 ms each side (+ rare 1 ms steps)
        assert len(regular) > 0.9 * len(gaps)
        # mean rate while online (envelopes come every ~5 s while online): ~10 Hz / ~1 Hz
        online_ms = 5000 * len(rd.members)
        assert 0.92 < len(ts) / (online_ms / period_ms) < 1.05  # ~3% of the members are corrupt here


def test_mission_is_on_change_and_events_are_sporadic(faulty: list[RobotDay]) -> None:
    for rd in faulty:
        mission, events = rd.expected["mission"], rd.expected["events"]
        assert 20 < len(mission) < 1000 and len(events) < 200
        assert set(mission["state"]) <= {"EXECUTING", "IDLE", "CHARGING", "ABORTED"}
        executing = mission[mission["state"] == "EXECUTING"]
        assert executing["mission_id"].notna().all()
        assert executing["progress"].between(0.0, 1.0).all()
        idle = mission[mission["state"] == "IDLE"]
        assert idle["mission_id"].isna().all() and idle["progress"].isna().all()
        assert set(events["kind"]) <= {"failure", "warning", "maintenance", "recovery"}


def test_each_signal_has_its_own_clock(faulty: list[RobotDay]) -> None:
    for rd in faulty:
        seen: dict[int, str] = {}
        for name, df in rd.expected.items():
            ts = df["ts"].to_numpy()
            assert (np.diff(ts) > 0).all(), name  # unique and sorted
            for t in ts.tolist():
                assert seen.setdefault(t, name) == name, f"{name} shares ts {t} with {seen[t]}"
        phase = {
            n: int(np.median(rd.expected[n]["ts"].to_numpy() % 100)) for n in ("localization", "odometry")
        }
        assert abs(phase["localization"] - phase["odometry"]) >= 10


def test_samples_near_midnight_travel_in_the_next_days_zip(across_midnight: list[RobotDay]) -> None:
    first, second = across_midnight
    midnight, _ = day_bounds_ms(second.day.date)
    carried = second.expected["battery"]["ts"].to_numpy()
    carried = carried[carried < midnight]
    assert 1 <= len(carried) <= 10  # the last seconds before midnight
    assert (carried >= midnight - 10_000).all()
    assert not set(carried.tolist()) & set(first.expected["battery"]["ts"].tolist())
    both = np.concatenate(
        [first.expected["battery"]["ts"].to_numpy(), second.expected["battery"]["ts"].to_numpy()]
    )
    assert (np.diff(both) > 0).all()  # nothing lost or duplicated at midnight
    day_gaps = np.diff(both)
    assert np.median(day_gaps) == 1000 and 0.9 * 2 * 86_400 < len(both) <= 2 * 86_400


def test_battery_and_duty_cycle_over_full_days(across_midnight: list[RobotDay]) -> None:
    battery = pd.concat([rd.expected["battery"] for rd in across_midnight])
    mission = pd.concat([rd.expected["mission"] for rd in across_midnight])
    assert battery["soc"].between(10.0, 100.0).all()  # charges before running flat
    assert battery["voltage"].between(38.0, 58.0).all()
    charging = battery["current"] < -10.0
    assert 0.05 < charging.mean() < 0.5 and battery["current"].max() > 10.0
    states = Counter(mission["state"])
    assert states["CHARGING"] >= 2 and states["IDLE"] > 50 and states["EXECUTING"] > 500
    # on change: the longest silence of the mission signal is a restated state (<= 15 min) or offline
    gaps = np.diff(mission["ts"].to_numpy())
    assert np.median(gaps) < 60_000 and (gaps <= 15 * 60_000 + 1000).mean() > 0.99


# ------------------------------------------------------------------------------------ expected tables


def test_expected_is_what_a_correct_extractor_sees(
    faulty: list[RobotDay], faulty_decoded: list[Decoded]
) -> None:
    totals: Counter[str] = Counter()
    for rd, decoded in zip(faulty, faulty_decoded, strict=True):
        faults = rd.faults
        totals.update(faults)
        assert faults["members"] == len(rd.members)
        assert (
            len(decoded.corrupt) == faults["truncated_gzip"] + faults["invalid_json"] + faults["wrong_types"]
        )
        assert decoded.unknown_signal_docs == faults["unknown_signal_docs"]
        assert decoded.unknown_field_docs == faults["unknown_field_docs"]
        assert list(rd.expected) == [s.name for s in DEFAULT_SIGNALS]
        for name, expected in rd.expected.items():
            assert list(expected.columns) == ["robot_id", "ts", *REGISTRY[name].fields]
            pd.testing.assert_frame_equal(expected, decoded.tables[name], check_dtype=True)
    assert min(totals[k] for k in ("truncated_gzip", "invalid_json", "wrong_types")) > 0  # all kinds happened
    assert min(totals[k] for k in ("unknown_signal_docs", "unknown_field_docs", "duplicate_samples")) > 0
    assert totals["out_of_order_samples"] > 0


def test_expected_excludes_the_samples_of_corrupt_members(
    faulty: list[RobotDay], faulty_decoded: list[Decoded]
) -> None:
    lost = 0
    for rd, decoded in zip(faulty, faulty_decoded, strict=True):
        corrupt = set(decoded.corrupt)
        # the corrupt members still hold (most of) their samples' bytes, yet none of them is expected:
        # what is expected is exactly what the valid members alone carry
        valid_only = [(n, g) for n, g in rd.members if n not in corrupt]
        again = Decoded(valid_only, _signals("localization"), rd.day.robot_id)
        pd.testing.assert_frame_equal(rd.expected["localization"], again.tables["localization"])
        loc = rd.expected["localization"]["ts"].to_numpy()
        # and a window of samples is missing around each corrupt member
        for name in sorted(corrupt):
            parsed = parse_member_name(name)
            assert parsed is not None
            sent = parsed[1]
            window = loc[(loc > sent - 4000) & (loc <= sent - 1000)]
            lost += len(window) < 20  # ~30 expected when the member's samples were there
    assert lost > 0


def test_duplicates_and_late_samples_are_in_the_members(faulty_decoded: list[Decoded]) -> None:
    decoded = faulty_decoded[0]
    counts: Counter[int] = Counter()
    late = 0
    for doc in decoded.docs:
        for sample in doc["signals"].get("localization", []):
            counts[sample["ts"]] += 1
            late += doc["sent_at"] - sample["ts"] > 5400  # older than one envelope period
    assert sum(c - 1 for c in counts.values()) > 0.005 * len(counts)
    assert late > 0.005 * len(counts)


# ------------------------------------------------------------------------------------ failures


def test_failures_match_the_failure_events(faulty: list[RobotDay]) -> None:
    total = 0
    for rd in faulty:
        assert [(f.ts, f.code) for f in rd.failures] == _failure_events(rd.expected)
        assert all(f.robot_id == rd.day.robot_id for f in rd.failures)
        total += len(rd.failures)
    assert total >= 5


def test_ground_truth_lists_every_failure_event_and_round_trips() -> None:
    spec = FleetSpec(robots=2, days=2, seed=2, failure_rate=8.0, signals=_signals("mission", "events"))
    writes: list[tuple[str, bytes]] = []
    truth = simulate_fleet(spec, lambda key, data: writes.append((key, data)))
    events = []
    for key, data in writes[:-1]:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            robot = key.split("/")[-1].removesuffix(".zip")
            members = [(i.filename, zf.read(i)) for i in zf.infolist()]
        ev = Decoded(members, spec.signals, robot).tables["events"]
        ev = ev[ev["kind"] == "failure"]
        events += [(robot, t, c) for t, c in zip(ev["ts"], ev["code"], strict=True)]
    assert len(events) >= 10
    assert sorted(events) == sorted((f.robot_id, f.ts, f.code) for f in truth.failures)
    assert [f["ts"] for rd in truth.robot_days for f in rd["failures"]] == [f.ts for f in truth.failures]
    key, data = writes[-1]
    assert key == "fleet=acme-dc3/_truth/ground_truth.json"
    assert GroundTruth.from_json(data) == truth
    assert GroundTruth.from_json(truth.to_json()).to_json() == data
    assert {(rd["robot_id"], rd["date"]) for rd in truth.robot_days} == {
        (r, d) for r in robot_ids(spec) for d in ("2026-11-02", "2026-11-03")
    }


def test_failure_modes_precursors_and_spacing(with_precursors: list[RobotDay]) -> None:
    failures = [f for rd in with_precursors for f in rd.failures]
    assert {f.code for f in failures} == set(FAILURE_CODES)
    for f in failures:
        if f.code == "E_STOP":
            assert f.precursor_onset_ts is None and f.precursor_s is None
        else:
            assert f.precursor_onset_ts is not None and f.precursor_s is not None
            assert f.ts - f.precursor_onset_ts == round(f.precursor_s * 1000)
            assert 0 < f.precursor_s <= PRECURSOR_RANGE_S[f.code][1]
    long_enough = [f.precursor_s for f in failures if f.precursor_s]
    assert len(set(long_enough)) == len(long_enough)  # drawn per failure
    for rd in with_precursors:
        ts = [f.ts for f in rd.failures]
        assert all(b - a >= 600_000 for a, b in itertools.pairwise(ts))


def _window(df: pd.DataFrame, start: int, end: int) -> pd.DataFrame:
    return df[(df["ts"] >= start) & (df["ts"] < end)]


def _hottest(motor: pd.DataFrame) -> float:
    return float(np.maximum(motor["temp_left"], motor["temp_right"]).max())


def _precursor_stats(days: list[RobotDay]) -> dict[str, list[float]]:
    """Per failure mode: how its signal moved between the precursor's onset and the failure (without a
    precursor: between 2 minutes before the failure and the failure)."""
    out: dict[str, list[float]] = {code: [] for code in PRECURSOR_RANGE_S}
    for rd in days:
        e = rd.expected
        for f in rd.failures:
            onset = f.precursor_onset_ts or f.ts - 120_000
            if f.code == "MOTOR_OVERHEAT":
                m = e["motor"]
                out[f.code].append(
                    _hottest(_window(m, f.ts - 10_000, f.ts)) - _hottest(_window(m, onset - 30_000, onset))
                )
            elif f.code == "LOCALIZATION_LOST":
                loc = e["localization"]
                out[f.code].append(float(_window(loc, f.ts - 3000, f.ts)["confidence"].mean()))
            elif f.code == "BATTERY_BROWNOUT":
                b = e["battery"]
                out[f.code].append(
                    float(_window(b, f.ts - 20_000, f.ts)["voltage"].min())
                    - float(_window(b, onset - 120_000, onset)["voltage"].median())
                )
    return out


def test_precursors_show_in_the_signals(
    with_precursors: list[RobotDay], without_precursors: list[RobotDay]
) -> None:
    shaped = _precursor_stats(with_precursors)
    random = _precursor_stats(without_precursors)
    for code in PRECURSOR_RANGE_S:
        assert len(shaped[code]) >= 2 and len(random[code]) >= 2, code
    assert np.mean(shaped["MOTOR_OVERHEAT"]) > 15.0 > np.mean(random["MOTOR_OVERHEAT"])
    assert np.mean(shaped["LOCALIZATION_LOST"]) < 0.5 < 0.8 < np.mean(random["LOCALIZATION_LOST"])
    assert np.mean(shaped["BATTERY_BROWNOUT"]) < -3.0 < np.mean(random["BATTERY_BROWNOUT"])


def _warned(days: list[RobotDay], lookback_ms: int | None) -> list[bool]:
    out = []
    for rd in days:
        ev = rd.expected["events"]
        warnings = ev[ev["kind"] == "warning"]
        for f in rd.failures:
            if f.code not in WARNING_OF:
                continue
            start = f.ts - (lookback_ms or round((f.precursor_s or 0) * 1000))
            w = warnings[(warnings["ts"] >= start) & (warnings["ts"] < f.ts)]
            out.append(bool((w["code"] == WARNING_OF[f.code]).any()))
    return out


def test_warnings_are_only_partly_predictive(
    with_precursors: list[RobotDay], without_precursors: list[RobotDay]
) -> None:
    shaped = _warned(with_precursors, None)
    assert 0.2 < np.mean(shaped) < 0.9  # some precursors warn, some do not
    outside = 0  # warnings also come at random times, outside any precursor
    for rd in with_precursors:
        ev = rd.expected["events"]
        windows = [(f.precursor_onset_ts, f.ts) for f in rd.failures if f.precursor_onset_ts is not None]
        for t in ev.loc[ev["kind"] == "warning", "ts"].tolist():
            outside += not any(a <= t < b for a, b in windows)
    assert outside >= 5
    assert sum(int(rd.expected["events"]["kind"].eq("warning").sum()) for rd in without_precursors) >= 5
    assert np.mean(_warned(without_precursors, 300_000)) < 0.15


def test_no_precursor_mode_has_failures_but_no_precursors(without_precursors: list[RobotDay]) -> None:
    failures = [f for rd in without_precursors for f in rd.failures]
    assert len(failures) >= 10 and {f.code for f in failures} == set(FAILURE_CODES)
    assert all(f.precursor_onset_ts is None and f.precursor_s is None for f in failures)


@pytest.mark.parametrize("fixture", ["with_precursors", "without_precursors"])
def test_what_follows_a_failure(request: pytest.FixtureRequest, fixture: str) -> None:
    days: list[RobotDay] = request.getfixturevalue(fixture)
    checked = 0
    for rd in days:
        e = rd.expected
        events, mission, odo = e["events"], e["mission"], e["odometry"]
        window_end = day_bounds_ms(rd.day.date)[0] + round(HOURS * 3_600_000)
        for f in rd.failures:
            if f.ts > window_end - 400_000:  # the recovery may fall after the robot went offline
                continue
            aborted = _window(mission, f.ts, f.ts + 1000)
            assert list(aborted["state"]) == ["ABORTED"]
            recovery = events[(events["kind"] == "recovery") & (events["ts"] > f.ts)].iloc[0]
            assert recovery["code"] == f.code and 60_000 <= recovery["ts"] - f.ts <= 300_000
            standing = _window(odo, f.ts + 200, int(recovery["ts"]))
            assert len(standing) > 500 and standing["linear"].abs().max() < 0.05
            checked += 1
    assert checked >= 10


# ------------------------------------------------------------------------------------ late uploads


def test_late_upload_writes_a_strict_subset_first() -> None:
    spec = FleetSpec(
        robots=2, days=2, hours=0.5, seed=9, faults=dataclasses.replace(FaultRates.none(), late_upload=1.0)
    )
    days = _days(spec)
    assert sum(len(rd.members) >= 3 for rd in days) >= 3
    for rd in days:
        first = rd.first_version_members
        if len(rd.members) < 3:  # a robot offline all day has nothing to upload late
            continue
        assert first is not None
        names = [n for n, _ in rd.members]
        kept = [names.index(n) for n, _ in first]
        assert kept == sorted(kept) and len(kept) < len(names)  # same order, strictly fewer
        missing = sorted(set(range(len(names))) - set(kept))
        assert missing == list(range(missing[0], missing[-1] + 1))  # one contiguous run
        assert rd.faults["late_upload_missing"] == len(missing)
        assert dict(first).items() <= dict(rd.members).items()  # same bytes
    writes: list[tuple[str, bytes]] = []
    simulate_fleet(spec, lambda key, data: writes.append((key, data)))
    expected_writes = []
    for rd in days:
        key = DayKey("acme-dc3", rd.day.date, rd.day.robot_id).key
        if rd.first_version_members is not None:
            expected_writes.append((key, build_day_zip(rd.first_version_members)))
        expected_writes.append((key, build_day_zip(rd.members)))
    assert writes[:-1] == expected_writes


def test_no_faults_means_no_late_upload_and_nothing_corrupt() -> None:
    spec = FleetSpec(robots=1, days=2, hours=0.5, seed=3, faults=FaultRates.none())
    for rd in _days(spec):
        assert rd.first_version_members is None
        assert Decoded(rd.members, DEFAULT_SIGNALS, rd.day.robot_id).corrupt == []
        assert {k: v for k, v in rd.faults.items() if k != "members"} == dict.fromkeys(
            rd.faults.keys() - {"members"}, 0
        )


# ------------------------------------------------------------------------------------ encoder


def test_fixed_width_records_parse_back_exactly() -> None:
    rng = np.random.default_rng(0)
    n = 5000
    ts = 1_793_577_600_000 + np.cumsum(rng.integers(90, 110, n))
    edge = np.array([0, -1, 1, -999, 999, -1000, 1000, 9_999_999, -9_999_999, -500], dtype=np.int64)
    num = {
        "a": np.concatenate([edge, rng.integers(-80_000, 80_000, n - len(edge))]).astype(np.int64),
        "b": rng.integers(0, 1000, n).astype(np.int64),
    }
    blob = encode_fixed_width(ts, num, ["a", "b"])
    assert blob is not None
    width = len(blob) // n
    records = orjson.loads(b"[" + bytes(blob)[1:] + b"]")  # every record starts with its separating comma
    assert [r["ts"] for r in records] == ts.tolist()
    assert [r["a"] for r in records] == (num["a"] / 1000).tolist()
    assert [r["b"] for r in records] == (num["b"] / 1000).tolist()
    assert len(blob) == width * n and width % 4 == 0
