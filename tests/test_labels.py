"""Cutoffs, labels and exclusions: the vectorised :mod:`telemetry.stages.labels` equals the loop reference
(``tests/reference_labels.py``) exactly, is invariant to the partitioning of the span, and on a simulated
robot-day accounts for every visible failure."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from reference_labels import (
    Candidate,
    judge,
    reference_examples,
    reference_inputs,
    reference_orphans,
    unit_hash,
)

from telemetry.config import (
    FeaturesConfig,
    LabelsConfig,
    SignalSpec,
    TelemetryConfig,
    load_config,
)
from telemetry.contract.envelope import day_bounds_ms
from telemetry.errors import ConfigError, DataContractError
from telemetry.sim.fleet import FleetSpec, robot_ids, simulate_robot_days
from telemetry.stages.labels import (
    EXAMPLE_COLUMNS,
    EXCLUSION_REASONS,
    ExampleSet,
    _unit_hash,
    failure_events,
    grid_cutoffs,
    make_examples,
)

BASE = 1_700_000_000_000  # a multiple of every grid step used here
ROBOT = "amr-0007"
SIGNALS = (
    SignalSpec(name="fast", numeric=("x",), rate_hz=2.0, tolerance_ms=250),
    SignalSpec(name="slow", numeric=("y",), rate_hz=1.0, tolerance_ms=500),
    SignalSpec(
        name="mission", categorical=("state",), rate_hz=None, tolerance_ms=60_000, direction="backward"
    ),
    SignalSpec(
        name="events",
        numeric=("severity",),
        categorical=("kind", "code"),
        tolerance_ms=0,
        direction="backward",
        role="events",
    ),
)
CODES = ("MOTOR_OVERHEAT", "E_STOP", None)


def make_config(**labels: Any) -> TelemetryConfig:
    windows = labels.pop("windows_s", (3, 5))
    return TelemetryConfig(
        signals=SIGNALS,
        labels=LabelsConfig(**labels),
        features=FeaturesConfig(windows_s=tuple(windows), levels={}),
    )


def examples_of(
    tables: Mapping[str, pa.Table | pd.DataFrame], config: TelemetryConfig, **span: Any
) -> ExampleSet:
    """:func:`make_examples` with the sections of ``config`` (``span``: ``robot_id``, ``start``, ``end``)."""
    return make_examples(
        tables, signals=config.signals, labels=config.labels, features=config.features, **span
    )


def assert_same(fast: ExampleSet, ref: ExampleSet) -> None:
    assert list(fast.examples.columns) == list(EXAMPLE_COLUMNS)
    pd.testing.assert_frame_equal(fast.examples, ref.examples, check_exact=True)
    assert isinstance(fast.examples.index, pd.RangeIndex)
    assert (fast.candidates, fast.excluded, fast.subsampled) == (ref.candidates, ref.excluded, ref.subsampled)
    assert list(fast.excluded) == [r for r in EXCLUSION_REASONS if r in fast.excluded]  # evaluation order
    assert fast.candidates == len(fast.examples) + sum(fast.excluded.values()) + fast.subsampled


def concat(parts: list[ExampleSet]) -> ExampleSet:
    examples = pd.concat([p.examples for p in parts], ignore_index=True)
    excluded = {r: sum(p.excluded[r] for p in parts) for r in parts[0].excluded}
    return ExampleSet(examples, sum(p.candidates for p in parts), excluded, sum(p.subsampled for p in parts))


# ------------------------------------------------------------------------------------------ strategies


@dataclass
class Case:
    config: TelemetryConfig
    tables: dict[str, pa.Table | pd.DataFrame]
    start: int
    end: int
    split: int


def _periodic(
    rng: np.random.Generator, lo: int, hi: int, period: int, gaps: list[tuple[int, int]]
) -> np.ndarray:
    ts = np.arange(lo, hi, period, dtype=np.int64) + rng.integers(-period // 3, period // 3 + 1, 1)
    ts = ts + rng.integers(-20, 21, len(ts))
    for g0, glen in gaps:
        ts = ts[(ts < g0) | (ts >= g0 + glen)]
    if len(ts) and rng.random() < 0.3:  # conflicting duplicates (same ts, another row)
        ts = np.concatenate([ts, rng.choice(ts, size=min(3, len(ts)))])
    return np.sort(ts)


def _table(
    data: dict[str, Any], as_arrow: bool, shuffle: np.random.Generator | None
) -> pa.Table | pd.DataFrame:
    df = pd.DataFrame(data)
    if shuffle is not None and len(df):
        df = df.iloc[shuffle.permutation(len(df))].reset_index(drop=True)
    return pa.Table.from_pandas(df, preserve_index=False) if as_arrow else df


@st.composite
def cases(draw: st.DrawFn) -> Case:
    mode = draw(st.sampled_from(["event", "grid"]))
    step_ms = draw(st.sampled_from([500, 1000, 2500]))
    windows = draw(st.sampled_from([(2,), (3, 5), (4,), (1, 6)]))
    lead_ms = draw(st.sampled_from([0, 0, 500, 1000, 3000, 7000]))
    horizon_ms = draw(st.sampled_from([1000, 3000, 4500, 10_000]))
    cooldown_ms = draw(st.sampled_from([0, 2000, 5000]))
    unobserved_ms = draw(st.sampled_from([0, 1000, 4000, 9000]))
    # which reasons apply: all (the default), all but other_failure (dense failures) or any subset, in any
    # order (event mode needs near_failure)
    subset = st.lists(st.sampled_from(EXCLUSION_REASONS), unique=True).map(tuple)
    dense = tuple(r for r in EXCLUSION_REASONS if r != "other_failure")
    exclude = draw(st.one_of(st.just(EXCLUSION_REASONS), st.just(dense), subset))
    if mode == "event" and "near_failure" not in exclude:
        exclude = (*exclude, "near_failure")
    config = make_config(
        exclude=exclude,
        mode=mode,
        grid_step_s=step_ms / 1000,
        windows_s=windows,
        lead_s=lead_ms / 1000,
        horizon_s=horizon_ms / 1000,
        cooldown_s=cooldown_ms / 1000,
        unobserved_failure_s=unobserved_ms / 1000,
        min_coverage=draw(st.sampled_from([0.0, 0.25, 0.5, 0.8, 1.0])),
        negative_fraction=draw(st.sampled_from([1.0, 1.0, 0.5, 0.3])),
    )
    start = BASE + draw(st.integers(-3000, 3000))
    length = st.one_of(st.sampled_from([0, 1, 4_999, 60_000]), *[st.integers(5_000, 60_000)] * 3)
    end = start + draw(length)
    split = draw(st.integers(start, end))
    wmax = max(windows) * 1000
    lo, hi = (
        start - wmax - cooldown_ms - unobserved_ms - 8000,
        end + horizon_ms + unobserved_ms + lead_ms + 8000,
    )

    # failure times: anywhere (halo included), on grid cutoffs, at the span edges, ties
    first_grid = -(-start // step_ms) * step_ms
    special = [start + lead_ms, end + lead_ms, start + lead_ms - 1, end + lead_ms - 1, split + lead_ms]
    one_time = st.one_of(
        st.integers(lo, hi),
        st.integers(-4, 14).map(lambda k: first_grid + k * step_ms),
        st.integers(-4, 14).map(lambda k: first_grid + k * step_ms + lead_ms),
        st.sampled_from(special),
    )
    times: list[int] = draw(st.lists(one_time, max_size=5))
    if times:  # ties
        times += draw(st.lists(st.sampled_from(times), max_size=2))
    codes: list[str | None] = [draw(st.sampled_from(CODES)) for _ in times]
    kinds: list[str | None] = ["failure"] * len(times)
    # other events (never failures): warnings, and recoveries with or without a failure of their code before
    for t in draw(st.lists(st.integers(lo, hi), max_size=3)):
        times.append(t)
        codes.append(draw(st.sampled_from(["MOTOR_TEMP_HIGH", *CODES])))
        kinds.append(draw(st.sampled_from(["warning", "recovery", None])))
    for t_f, code in list(zip(times[: len(codes)], codes, strict=True)):  # a recovery after some failures
        if draw(st.booleans()):
            times.append(t_f + draw(st.sampled_from([0, 500, unobserved_ms, unobserved_ms + 1])))
            codes.append(code if draw(st.booleans()) else draw(st.sampled_from(CODES)))
            kinds.append("recovery")

    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    as_arrow = draw(st.booleans())
    shuffle = np.random.default_rng(seed + 1) if draw(st.booleans()) else None
    text = draw(st.sampled_from([object, None]))  # None: pandas infers its string dtype (NaN for null)
    tables: dict[str, pa.Table | pd.DataFrame] = {}
    if len(times) > 0 or draw(st.booleans()):
        tables["events"] = _table(
            {
                "ts": np.array(times, dtype=np.int64),
                "severity": np.ones(len(times)),
                "kind": pd.Series(kinds, dtype=text),
                "code": pd.Series(codes, dtype=text),
            },
            as_arrow,
            shuffle,
        )
    gap = st.tuples(st.integers(lo, hi), st.integers(200, 12_000))
    for name, period in (("fast", 500), ("slow", 1000)):
        presence = draw(st.sampled_from(["full", "full", "gappy", "missing", "empty"]))
        if presence == "missing":
            continue
        gaps = draw(st.lists(gap, min_size=1, max_size=3)) if presence == "gappy" else []
        ts = _periodic(rng, lo, hi, period, gaps) if presence != "empty" else np.empty(0, dtype=np.int64)
        field = "x" if name == "fast" else "y"
        tables[name] = _table({"ts": ts, field: rng.normal(size=len(ts))}, as_arrow, shuffle)
    if draw(st.booleans()):
        ts = np.sort(np.array(draw(st.lists(st.integers(lo, hi), max_size=4)), dtype=np.int64))
        tables["mission"] = _table({"ts": ts, "state": ["EXECUTING"] * len(ts)}, as_arrow, shuffle)
    return Case(config, tables, start, end, split)


# ------------------------------------------------------------------------------------------ properties


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cases())
def test_fast_equals_reference(case: Case) -> None:
    fast = examples_of(case.tables, case.config, robot_id=ROBOT, start=case.start, end=case.end)
    ref = reference_examples(case.tables, case.config, robot_id=ROBOT, start=case.start, end=case.end)
    assert_same(fast, ref)
    assert set(fast.excluded) == set(case.config.labels.exclude)  # only the applied reasons are reported
    assert (fast.examples["weight"] > 0).all()
    assert ((fast.examples["cutoff"] >= case.start) & (fast.examples["cutoff"] < case.end)).all()


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cases())
def test_partition_invariance(case: Case) -> None:
    whole = examples_of(case.tables, case.config, robot_id=ROBOT, start=case.start, end=case.end)
    left = examples_of(case.tables, case.config, robot_id=ROBOT, start=case.start, end=case.split)
    right = examples_of(case.tables, case.config, robot_id=ROBOT, start=case.split, end=case.end)
    assert_same(whole, concat([left, right]))


# ------------------------------------------------------------------------------------------ examples


def _events(rows: list[tuple[int, str | None, str | None]]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "ts": np.array([r[0] for r in rows], dtype=np.int64),
            "kind": pd.Series([r[1] for r in rows], dtype=object),
            "code": pd.Series([r[2] for r in rows], dtype=object),
        }
    )


def _dense(start: int, end: int, period: int) -> pd.DataFrame:
    ts = np.arange(start, end, period, dtype=np.int64)
    return pd.DataFrame({"ts": ts, "x": np.zeros(len(ts))})


def _full_tables(start: int, end: int, events: pd.DataFrame | None = None) -> dict[str, Any]:
    tables: dict[str, Any] = {"fast": _dense(start, end, 500), "slow": _dense(start, end, 1000)}
    if events is not None:
        tables["events"] = events
    return tables


def test_grid_cutoffs_bounds() -> None:
    config = make_config(grid_step_s=5.0)
    assert grid_cutoffs(config.labels, 10_000, 25_000).tolist() == [10_000, 15_000, 20_000]
    assert grid_cutoffs(config.labels, 10_001, 25_001).tolist() == [15_000, 20_000, 25_000]
    assert grid_cutoffs(config.labels, -7_000, 1).tolist() == [-5_000, 0]
    assert grid_cutoffs(config.labels, 10_000, 10_000).dtype == np.int64
    assert len(grid_cutoffs(config.labels, 10_000, 10_000)) == 0


def test_failure_events_filter_and_order() -> None:
    config = make_config()
    events = _events(
        [
            (30, "failure", "E_STOP"),
            (10, "warning", "X"),
            (30, "failure", None),
            (30, "failure", "A"),
            (5, None, "B"),
        ]
    )
    out = failure_events(pa.Table.from_pandas(events, preserve_index=False), config.labels)
    assert out["ts"].tolist() == [30, 30, 30]
    assert out["code"].tolist() == ["A", "E_STOP", None]
    assert out["ts"].dtype == np.int64
    assert out["code"].dtype == object
    empty = failure_events(None, config.labels)
    assert list(empty.columns) == ["ts", "code"]
    assert len(empty) == 0
    with pytest.raises(DataContractError, match="kind"):
        failure_events(pd.DataFrame({"ts": [1]}), config.labels)


def test_event_mode_by_hand() -> None:
    """Window 5 s, cooldown 2 s, horizon 3 s, grid 1 s; failures at 20 s and 40.5 s (ms below)."""
    config = make_config(windows_s=(5,), cooldown_s=2.0, horizon_s=3.0, grid_step_s=1.0)
    tables = _full_tables(
        0, 60_000, _events([(20_000, "failure", "E_STOP"), (40_500, "failure", "MOTOR_OVERHEAT")])
    )
    out = examples_of(tables, config, robot_id=ROBOT, start=10_000, end=50_000)
    pos = out.examples[out.examples["label"] == 1]
    # positives sit on the grid: the latest grid instant at or before t_f - lead
    assert pos["cutoff"].tolist() == [20_000, 40_000]
    assert pos["failure_code"].tolist() == ["E_STOP", "MOTOR_OVERHEAT"]
    assert pos["time_to_failure_s"].tolist() == [0.0, 0.5]
    neg = set(out.examples.loc[out.examples["label"] == 0, "cutoff"].tolist())
    # near_failure: c in [17, 20) and [38, 40.5) -> 17, 18, 19 and 38, 39, 40
    # other_failure: failure in [c - 7, c] -> c in [20, 27] and [40.5, 47.5] -> 20..27 and 41..47
    assert neg == {c * 1000 for c in range(10, 50)} - {
        *range(17_000, 28_000, 1000),
        *range(38_000, 48_000, 1000),
    }
    assert out.excluded == {
        "other_failure": 8 + 7,
        "near_failure": 6,
        "unobserved_failure": 0,
        "offline": 0,
        "low_coverage": 0,
    }
    assert out.candidates == 40 + 2


def test_grid_mode_by_hand() -> None:
    config = make_config(mode="grid", windows_s=(5,), cooldown_s=0.0, horizon_s=3.0, grid_step_s=1.0)
    events = _events([(20_000, "failure", "E_STOP"), (20_000, "failure", "A"), (21_500, "failure", "B")])
    out = examples_of(_full_tables(0, 60_000, events), config, robot_id=ROBOT, start=15_000, end=21_000)
    ex = out.examples
    assert ex["cutoff"].tolist() == [15_000, 16_000, 17_000, 18_000, 19_000]  # 20 s: other_failure
    assert ex["label"].tolist() == [0, 0, 1, 1, 1]
    assert ex["failure_code"].tolist() == [None, None, "A", "A", "A"]  # the first of the tied failures
    assert ex["time_to_failure_s"].tolist()[2:] == [3.0, 2.0, 1.0]
    assert out.excluded["other_failure"] == 1


def test_lead_and_halo_failures() -> None:
    """Failures outside the span make no positive but still exclude and label cutoffs inside it."""
    config = make_config(windows_s=(5,), cooldown_s=0.0, horizon_s=5.0, grid_step_s=1.0, lead_s=2.0)
    events = _events([(8_000, "failure", "A"), (31_000, "failure", "E_STOP"), (53_000, "failure", "B")])
    out = examples_of(_full_tables(0, 60_000, events), config, robot_id=ROBOT, start=10_000, end=50_000)
    ex = out.examples
    pos = ex[ex["label"] == 1]
    assert pos["cutoff"].tolist() == [29_000]  # 8 s - 2 s and 53 s - 2 s lie outside [10 s, 50 s)
    assert pos["time_to_failure_s"].tolist() == [2.0]
    neg = set(ex.loc[ex["label"] == 0, "cutoff"].tolist())
    # other_failure: [8, 13] and [31, 36]; near_failure: [26, 31) and [48, 50)
    expected = {c * 1000 for c in range(10, 50)} - {c * 1000 for c in (*range(10, 14), *range(31, 37))}
    expected -= {c * 1000 for c in (*range(26, 31), 48, 49)}
    assert neg == expected
    assert out.excluded == {
        "other_failure": 4 + 6,
        "near_failure": 5 + 2,
        "unobserved_failure": 0,
        "offline": 0,
        "low_coverage": 0,
    }


def test_orphan_recovery_by_hand() -> None:
    """Window 5 s, cooldown 2 s, horizon 3 s, grid 1 s, U = 4 s. A recovery at 30 s whose failure event was
    lost: that failure lies somewhere in [26 s, 30 s]. A recovery at 45 s follows its failure (42 s)."""
    config = make_config(
        windows_s=(5,), cooldown_s=2.0, horizon_s=3.0, grid_step_s=1.0, unobserved_failure_s=4.0
    )
    events = _events(
        [
            (30_000, "recovery", "LOCALIZATION_LOST"),
            (42_000, "failure", "E_STOP"),
            (45_000, "recovery", "E_STOP"),
        ]
    )
    out = examples_of(_full_tables(0, 70_000, events), config, robot_id=ROBOT, start=10_000, end=60_000)
    kept = set(out.examples["cutoff"].tolist())
    # unobserved: [26, 30] meets [c - 7, c + 3]  <=>  23 <= c <= 37
    # the E_STOP: near_failure 39..41, other_failure 42..49, its positive at 42 s (other_failure: none)
    assert kept == {c * 1000 for c in (*range(10, 23), *range(38, 39), *range(50, 60), 42)}
    assert out.excluded == {
        "other_failure": 8,
        "near_failure": 3,
        "unobserved_failure": 15,
        "offline": 0,
        "low_coverage": 0,
    }
    assert_same(
        out,
        reference_examples(_full_tables(0, 70_000, events), config, robot_id=ROBOT, start=10_000, end=60_000),
    )
    # a failure of the same code (or without a code) inside [r - U, r] makes the recovery an ordinary one
    for code in ("LOCALIZATION_LOST", None):
        seen = pd.concat([events, _events([(27_000, "failure", code)])], ignore_index=True)
        again = examples_of(_full_tables(0, 70_000, seen), config, robot_id=ROBOT, start=10_000, end=60_000)
        assert again.excluded["unobserved_failure"] == 0
    # U = 0 turns the rule off
    off = make_config(
        windows_s=(5,), cooldown_s=2.0, horizon_s=3.0, grid_step_s=1.0, unobserved_failure_s=0.0
    )
    out_off = examples_of(_full_tables(0, 70_000, events), off, robot_id=ROBOT, start=10_000, end=60_000)
    assert out_off.excluded["unobserved_failure"] == 0
    assert out_off.candidates == out.candidates


def test_offline_and_low_coverage_by_hand() -> None:
    """Wmax = 4 s: ``fast`` (2 Hz) expects 8 samples, ``slow`` (1 Hz) 4; min_coverage 0.5."""
    config = make_config(windows_s=(2, 4), grid_step_s=1.0, min_coverage=0.5)
    fast = _dense(0, 60_000, 500)
    fast = fast[(fast["ts"] < 20_000) | (fast["ts"] >= 30_000)]  # a 10 s hole
    slow = _dense(0, 60_000, 1000)
    slow = slow[(slow["ts"] < 20_000) | (slow["ts"] >= 40_000)]  # a 20 s hole
    out = examples_of({"fast": fast, "slow": slow}, config, robot_id=ROBOT, start=10_000, end=50_000)
    kept = out.examples["cutoff"].tolist()
    # offline: no sample in [c - 4 s, c) of either signal: fast's last sample before its hole is at 19.5 s and
    # it resumes at 30 s -> c in (23.5 s, 30 s] -> 24..30 s (7)
    # low coverage: < 4 fast samples (c in 23..31 s) or < 2 slow samples (19 s, then 40 s: c in 23..41 s),
    # minus the offline ones -> 23 and 31..41 s (12)
    assert out.excluded == {
        "other_failure": 0,
        "near_failure": 0,
        "unobserved_failure": 0,
        "offline": 7,
        "low_coverage": 12,
    }
    assert kept == [c * 1000 for c in (*range(10, 23), *range(42, 50))]
    assert_same(
        out,
        reference_examples({"fast": fast, "slow": slow}, config, robot_id=ROBOT, start=10_000, end=50_000),
    )


def test_exclude_keeps_the_cutoffs_of_dense_failures() -> None:
    """Window 5 s, horizon 3 s, grid 1 s, cooldown 0; a failure every 10 s (at 15.5, 25.5, ... 45.5 s)."""
    events = _events([(t, "failure", "PROTECTIVE_STOP") for t in range(15_500, 50_000, 10_000)])
    tables = _full_tables(0, 60_000, events)
    default = make_config(windows_s=(5,), cooldown_s=0.0, horizon_s=3.0, grid_step_s=1.0)
    dense = make_config(
        windows_s=(5,),
        cooldown_s=0.0,
        horizon_s=3.0,
        grid_step_s=1.0,
        exclude=("near_failure", "unobserved_failure", "offline", "low_coverage"),
    )
    before = examples_of(tables, default, robot_id=ROBOT, start=10_000, end=50_000)
    after = examples_of(tables, dense, robot_id=ROBOT, start=10_000, end=50_000)
    # other_failure: a failure in [c - 5 s, c] -> c in [15.5, 20.5], ...: 16..20 s, ..., 46..49 s (the span)
    assert before.excluded["other_failure"] == 5 + 5 + 5 + 4
    assert after.excluded == {"near_failure": 12, "unobserved_failure": 0, "offline": 0, "low_coverage": 0}
    assert after.candidates == before.candidates == 40 + 4
    assert after.candidates == len(after.examples) + sum(after.excluded.values()) + after.subsampled
    ex = after.examples
    # near_failure: c in [t_f - 3 s, t_f] -> 13, 14, 15 s before each; every other grid cutoff is a negative
    near = {t_f - 500 - k * 1000 for t_f in range(15_500, 50_000, 10_000) for k in range(3)}
    assert set(ex.loc[ex["label"] == 0, "cutoff"].tolist()) == {c * 1000 for c in range(10, 50)} - near
    assert ex.loc[ex["label"] == 1, "cutoff"].tolist() == [15_000, 25_000, 35_000, 45_000]
    assert len(before.examples) < len(after.examples) == 40 - 12 + 4
    assert_same(after, reference_examples(tables, dense, robot_id=ROBOT, start=10_000, end=50_000))


def test_a_failure_at_the_cutoff_without_other_failure() -> None:
    """A failure exactly on a grid instant (lead 0): its positive has that cutoff. Without other_failure, the
    grid candidate there is near_failure in event mode (never a negative beside the positive); in grid mode
    it is labelled by (c, c + h], which does not hold t_f = c (the earlier cutoffs are labelled 1)."""
    events = _events([(20_000, "failure", "PROTECTIVE_STOP")])
    tables = _full_tables(0, 60_000, events)
    reasons = ("near_failure", "offline")
    event = make_config(windows_s=(5,), cooldown_s=0.0, horizon_s=3.0, grid_step_s=1.0, exclude=reasons)
    out = examples_of(tables, event, robot_id=ROBOT, start=10_000, end=30_000)
    at_cutoff = out.examples[out.examples["cutoff"] == 20_000]
    assert at_cutoff["label"].tolist() == [1]
    assert at_cutoff["time_to_failure_s"].tolist() == [0.0]
    assert out.excluded == {"near_failure": 4, "offline": 0}  # 17, 18, 19 and 20 s
    assert_same(out, reference_examples(tables, event, robot_id=ROBOT, start=10_000, end=30_000))
    grid = make_config(
        mode="grid", windows_s=(5,), cooldown_s=0.0, horizon_s=3.0, grid_step_s=1.0, exclude=reasons
    )
    out = examples_of(tables, grid, robot_id=ROBOT, start=10_000, end=30_000)
    ex = out.examples.set_index("cutoff")["label"]
    assert ex.loc[[17_000, 18_000, 19_000, 20_000, 21_000]].tolist() == [1, 1, 1, 0, 0]
    assert out.excluded == {"near_failure": 0, "offline": 0}  # listed, but grid mode never applies it
    assert len(out.examples) == 20
    assert_same(out, reference_examples(tables, grid, robot_id=ROBOT, start=10_000, end=30_000))


def test_exclude_nothing_but_near_failure_keeps_offline_cutoffs() -> None:
    config = make_config(grid_step_s=1.0, exclude=("near_failure",))
    out = examples_of({}, config, robot_id=ROBOT, start=10_000, end=20_000)
    assert (out.candidates, len(out.examples), out.excluded) == (10, 10, {"near_failure": 0})
    grid = make_config(mode="grid", grid_step_s=1.0, exclude=())
    out = examples_of({}, grid, robot_id=ROBOT, start=10_000, end=20_000)
    assert (out.candidates, len(out.examples), out.excluded) == (10, 10, {})


def test_exclude_is_validated_and_canonical() -> None:
    with pytest.raises(ConfigError, match=r"unknown reason\(s\) \['coverage'\].*'low_coverage'"):
        LabelsConfig(exclude=("near_failure", "coverage"))
    with pytest.raises(ConfigError, match="duplicates"):
        LabelsConfig(exclude=("near_failure", "offline", "offline"))
    with pytest.raises(ConfigError, match=r"must list near_failure in mode 'event'.*labels\.mode=grid"):
        LabelsConfig(exclude=("offline",))
    assert LabelsConfig(mode="grid", exclude=()).exclude == ()
    assert LabelsConfig().exclude == EXCLUSION_REASONS  # the default applies every reason
    # any order given, one spelling kept (evaluation order): the config hash does not depend on the order
    swapped = load_config(env={}, overrides=["labels.exclude=[offline, near_failure]"])
    assert swapped.labels.exclude == ("near_failure", "offline")
    with pytest.raises(ConfigError, match=r"^labels.exclude: unknown reason\(s\) \['typo'\]"):
        load_config(env={}, overrides=["labels.exclude=[near_failure, typo]"])


def test_empty_inputs() -> None:
    config = make_config(grid_step_s=1.0)
    out = examples_of({}, config, robot_id=ROBOT, start=10_000, end=20_000)
    assert out.candidates == 10
    assert out.excluded == {
        "other_failure": 0,
        "near_failure": 0,
        "unobserved_failure": 0,
        "offline": 10,
        "low_coverage": 0,
    }
    assert len(out.examples) == 0
    assert out.examples.dtypes.tolist() == [object, np.int64, np.int8, object, np.float64, np.float64]
    empty = examples_of({}, config, robot_id=ROBOT, start=10_000, end=10_000)
    assert (empty.candidates, len(empty.examples)) == (0, 0)
    no_rate = make_config(grid_step_s=1.0, min_coverage=0.0)
    out = examples_of(
        {"fast": _dense(0, 30_000, 500), "events": _events([])},
        no_rate,
        robot_id=ROBOT,
        start=10_000,
        end=20_000,
    )
    assert len(out.examples) == 10  # "slow" has no table, but min_coverage 0 never excludes


def test_negative_subsampling_is_deterministic_and_weighted() -> None:
    config = make_config(grid_step_s=1.0, negative_fraction=0.25, min_coverage=0.0)
    tables = _full_tables(0, 4_000_000)
    out = examples_of(tables, config, robot_id=ROBOT, start=10_000, end=3_610_000)
    assert out.candidates == 3600
    kept = len(out.examples)
    assert out.subsampled == 3600 - kept
    assert abs(kept / 3600 - 0.25) < 0.03
    assert (out.examples["weight"] == 4.0).all()
    other = examples_of(tables, config, robot_id="amr-0008", start=10_000, end=3_610_000)
    assert other.examples["cutoff"].tolist() != out.examples["cutoff"].tolist()  # the robot enters the hash
    cutoffs = np.array([0, 1, -1, BASE, 2**62], dtype=np.int64)
    assert _unit_hash(ROBOT, cutoffs).tolist() == [unit_hash(ROBOT, int(c)) for c in cutoffs]


def test_input_checks() -> None:
    config = make_config()
    with pytest.raises(ValueError, match="end must be >= start"):
        examples_of({}, config, robot_id=ROBOT, start=10, end=5)
    with pytest.raises(ValueError, match="robot_id"):
        examples_of({}, config, robot_id="", start=0, end=5)
    with pytest.raises(ValueError, match="whole number of milliseconds"):
        examples_of({}, make_config(lead_s=0.0005), robot_id=ROBOT, start=0, end=5)
    with pytest.raises(ValueError, match="whole number of milliseconds"):
        grid_cutoffs(make_config(grid_step_s=0.0015).labels, 0, 10)
    with pytest.raises(DataContractError, match="no 'ts' column"):
        examples_of({"fast": pd.DataFrame({"x": [1.0]})}, config, robot_id=ROBOT, start=0, end=5)
    with pytest.raises(DataContractError, match="without ts"):
        examples_of(
            {"fast": pa.table({"ts": pa.array([1, None], pa.int64())})},
            config,
            robot_id=ROBOT,
            start=0,
            end=5,
        )
    events = pd.DataFrame({"ts": pd.array([1, None], dtype="Int64"), "kind": ["failure", "failure"]})
    with pytest.raises(DataContractError, match="failure event has no ts"):
        examples_of({"events": events}, config, robot_id=ROBOT, start=0, end=5)


def test_full_day_counts() -> None:
    """17,280 grid cutoffs, 10 Hz and 1 Hz signals over a day plus halo, 20 failures: every candidate is
    accounted for (its speed is measured by benchmarks/features.py, variant ``labels``, not asserted here)."""
    config = load_config(env={})
    day0 = BASE - BASE % 86_400_000
    rng = np.random.default_rng(3)
    tables: dict[str, Any] = {}
    for spec in config.sampled_signals:
        period = int(1000 / spec.rate_hz) if spec.rate_hz else 900_000
        ts = np.arange(day0 - 3_600_000, day0 + 90_000_000, period, dtype=np.int64)
        columns: dict[str, Any] = {"ts": ts + rng.integers(-8, 9, len(ts))}
        columns |= {f: np.zeros(len(ts)) for f in spec.numeric}
        columns |= {f: np.full(len(ts), "EXECUTING", dtype=object) for f in spec.categorical}
        tables[spec.name] = pa.table(columns)
    fail_ts = np.sort(rng.integers(day0, day0 + 86_400_000, 20))
    tables["events"] = pa.table(
        {"ts": fail_ts, "severity": np.ones(20), "kind": ["failure"] * 20, "code": ["E_STOP"] * 20}
    )
    out = examples_of(tables, config, robot_id=ROBOT, start=day0, end=day0 + 86_400_000)
    assert out.candidates == 17_280 + 20
    assert out.candidates == len(out.examples) + sum(out.excluded.values()) + out.subsampled
    assert int(out.examples["label"].sum()) + out.excluded["other_failure"] >= 20


# ------------------------------------------------------------------------------------------ simulated day


def test_simulated_robot_day_accounts_for_every_failure() -> None:
    """Every visible failure of a simulated robot-day is one positive, or one candidate excluded for the
    reason the reference finds for it; nothing is lost between candidates and outcomes."""
    spec = FleetSpec(robots=1, hours=2, seed=0, failure_rate=100.0)
    config = load_config(env={}, overrides=["features.windows_s=[10,42,300]", "labels.lead_s=5"])
    (rd,) = simulate_robot_days(spec, robot_ids(spec)[0])
    start, end = day_bounds_ms(rd.day.date)
    assert len(rd.failures) >= 5, "pick a seed with a few visible failures"
    tables = dict(rd.expected)
    out = examples_of(tables, config, robot_id=rd.day.robot_id, start=start, end=end)
    ex = out.examples
    failures, samples = reference_inputs(tables, config)
    assert failures == sorted((f.ts, f.code) for f in rd.failures)
    assert reference_orphans(tables["events"], config) == []  # every recovery follows its failure
    fates = []
    for i, failure in enumerate(sorted(rd.failures, key=lambda f: f.ts)):
        cutoff = (failure.ts - 5000) // 5000 * 5000  # the grid instant at or before t_f - lead
        cand = Candidate(cutoff, i, 1, failure.code, (failure.ts - cutoff) / 1000)
        judge(cand, failures, samples, config, rd.day.robot_id)
        rows = ex[(ex["label"] == 1) & (ex["cutoff"] == cand.cutoff)]
        if cand.fate == "kept":
            assert rows["failure_code"].tolist() == [failure.code]
            assert rows["time_to_failure_s"].tolist() == [cand.ttf_s]
            assert 5.0 <= cand.ttf_s < 10.0
        else:
            assert len(rows) == 0
            assert cand.fate in ("other_failure", "offline", "low_coverage")
        fates.append(cand.fate)
    assert int(ex["label"].sum()) == fates.count("kept") > 0
    for reason in ("other_failure", "offline", "low_coverage"):
        assert out.excluded[reason] >= fates.count(reason)
    assert out.candidates == len(grid_cutoffs(config.labels, start, end)) + len(rd.failures)
    assert out.candidates == len(ex) + sum(out.excluded.values()) + out.subsampled
    # online for 2 h only: grid cutoffs after that (+ the longest window) are offline, unless a failure at the
    # end of the online time excludes them first
    after = len(grid_cutoffs(config.labels, start + 2 * 3_600_000 + 300_000 + 60_000, end))
    assert out.excluded["offline"] + out.excluded["other_failure"] >= after
