"""``build_features`` against the loop-by-loop reference of ``tests/reference.py`` (docs/time-semantics.md,
section 3), and the leakage property: nothing at or after an example's cutoff changes any of its features.

The reference applies the cutoff rule literally (each window tick takes its nearest sample *among the samples
with ts < c*), so equality with the fast implementation, which uses the backward-match trick, checks the
argument in the docs as well as the code.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from reference import make_table, reference_baseline, reference_features
from test_align import (
    BASE,
    EVENTS,
    STATES,
    T,
    directions,
    is_null,
    make_config,
    numeric_values,
    row_strategy,
    signal_rows,
    tolerances,
)

from telemetry.config import TelemetryConfig
from telemetry.contract.envelope import DAY_MS
from telemetry.run.pipeline import robot_features
from telemetry.stages.align import align
from telemetry.stages.features import FeatureName, build_features, feature_names, parse_feature_name
from telemetry.stages.features.numeric import column_sums
from telemetry.stages.labels import EXAMPLE_COLUMNS

Rows = dict[str, list[dict[str, Any]]]  # signal name -> rows; a signal without an entry has no table

LO, HI = BASE - 9000, BASE + 12_000  # where the data lies
EVENT_KINDS = ("warning", "maintenance", "recovery", "failure", None)
EVENT_CODES = ("MOTOR_TEMP_HIGH", "LOC_DEGRADED", "LOW_VOLTAGE", None)

event_rows = st.lists(
    st.fixed_dictionaries(
        {
            "ts": st.integers(LO, HI),
            "severity": numeric_values,
            "kind": st.sampled_from(EVENT_KINDS),
            "code": st.sampled_from(EVENT_CODES),
        }
    ),
    max_size=10,
)


def names_of(config: TelemetryConfig) -> list[FeatureName]:
    """The window feature columns of ``config``."""
    return feature_names(signals=config.signals, features=config.features)


def with_baseline(config: TelemetryConfig, baseline_s: int) -> TelemetryConfig:
    """``config`` with ``features.baseline_s`` set (0: no z features)."""
    return dataclasses.replace(config, features=dataclasses.replace(config.features, baseline_s=baseline_s))


@st.composite
def feature_configs(draw: st.DrawFn) -> TelemetryConfig:
    config = make_config(
        (draw(tolerances), draw(tolerances), draw(tolerances)),
        (draw(directions), draw(directions), draw(directions)),
        clock=draw(st.sampled_from(("grid", "grid", "grid", "a", "c"))),
        step_ms=draw(st.sampled_from((1000, 250))),
        windows_s=draw(st.sampled_from(((1, 3, 7), (7, 1, 3), (2, 5), (1,)))),
    )
    # baselines shorter than, equal to and longer than a window, and longer than the data
    return with_baseline(config, draw(st.sampled_from((0, 2, 3, 12, 30))))


@st.composite
def data(draw: st.DrawFn, config: TelemetryConfig) -> tuple[Rows, list[dict[str, Any]] | None]:
    rows: Rows = {}
    for spec in config.sampled_signals:
        kind = draw(st.sampled_from(("rows", "rows", "rows", "empty", "missing")))
        if kind != "missing":
            rows[spec.name] = [] if kind == "empty" else draw(signal_rows(spec, config.align.step_ms, LO, HI))
    events = draw(st.one_of(st.none(), event_rows))
    return rows, events


@st.composite
def cutoffs(
    draw: st.DrawFn, config: TelemetryConfig, rows: Rows, events: list[dict[str, Any]] | None
) -> list[int]:
    """On and off the grid, and next to data edges: at a sample or event, just after it, a tolerance away,
    a window length away."""
    step = config.align.step_ms
    candidates = [
        st.integers(LO, HI + 3000),
        st.integers(LO // step, (HI + 3000) // step).map(lambda k: k * step),
    ]
    windows_ms = [w * 1000 for w in config.features.windows_s]
    edges = {
        r["ts"] + d
        for name, signal_rows_ in rows.items()
        for r in signal_rows_
        for d in (0, 1, -1, config.signal(name).tolerance_ms, -config.signal(name).tolerance_ms, *windows_ms)
    }
    edges |= {e["ts"] + d for e in events or [] for d in (0, 1, *windows_ms, *(w + 1 for w in windows_ms))}
    if edges:
        candidates.append(st.sampled_from(sorted(edges)))
    # the cutoff rule at work: a sample at or just after the cutoff, within its tolerance of the window's
    # last grid tick t (c in (t, ts]), so that it may be that tick's nearest sample
    ahead = []
    for name, signal_rows_ in rows.items():
        for r in signal_rows_:
            last_tick = (r["ts"] - 1) // step * step
            if r["ts"] - last_tick <= config.signal(name).tolerance_ms:
                ahead.append((last_tick, r["ts"]))
    if ahead:
        just_before = st.tuples(st.sampled_from(sorted(ahead)), st.floats(0, 1))
        candidates += [just_before.map(lambda p: p[0][0] + 1 + int(p[1] * (p[0][1] - p[0][0] - 1)))] * 2
    return draw(st.lists(st.one_of(*candidates), max_size=4))


def build_tables(config: TelemetryConfig, rows: Rows) -> dict[str, pa.Table]:
    return {name: make_table(config.signal(name), signal_rows_) for name, signal_rows_ in rows.items()}


def examples_frame(cutoff_list: list[int]) -> pd.DataFrame:
    n = len(cutoff_list)
    return pd.DataFrame(
        {
            "robot_id": pd.Series(["r1"] * n, dtype=object),
            "cutoff": np.array(cutoff_list, dtype=np.int64),
            "label": np.array([i % 2 for i in range(n)], dtype=np.int8),
            "failure_code": pd.Series(
                [None if i % 2 == 0 else "MOTOR_TEMP_HIGH" for i in range(n)], dtype=object
            ),
            "time_to_failure_s": np.array([math.nan if i % 2 == 0 else 0.0 for i in range(n)]),
            "weight": np.ones(n),
        }
    )


def span_for(
    config: TelemetryConfig, cutoff_list: list[int], pad_before: int, pad_after: int
) -> tuple[int, int]:
    """A span that covers ``[c - L, c)`` of every cutoff, ``L`` the longest window or the baseline (and some
    ticks after the cutoffs)."""
    if not cutoff_list:
        return LO, HI
    return min(cutoff_list) - config.features.lookback_ms - pad_before, max(cutoff_list) + pad_after


def fast_features(
    config: TelemetryConfig,
    tables: dict[str, pa.Table],
    events: list[dict[str, Any]] | None,
    examples: pd.DataFrame,
    span: tuple[int, int],
) -> pd.DataFrame:
    aligned = align(
        tables, signals=config.signals, align=config.align, robot_id="r1", start=span[0], end=span[1]
    )
    event_table = None if events is None else make_table(EVENTS, events)
    return build_features(aligned, event_table, examples, signals=config.signals, features=config.features)


# ------------------------------------------------------------------------------------------ comparison


def tolerance_of(column: str) -> tuple[float, float]:
    """(rtol, atol) by statistic, as docs/time-semantics.md promises (``z``: see :func:`z_tolerance`)."""
    stat = parse_feature_name(column).stat
    return (1e-6, 1e-8) if stat in ("std", "slope") else (1e-9, 1e-9)


def z_tolerance(z: float, window_mean: float, baseline: tuple[float, float]) -> float:
    """How far a ``z = (mean_W - mean_B) / std_B`` may be from the reference: what the tolerances of the
    means (rtol = atol = 1e-9) and of the std (rtol 1e-6) allow, as docs/time-semantics.md promises. A
    baseline spread far below the values' magnitude amplifies the means' rounding."""
    mean_b, std_b = baseline
    return 1e-6 * abs(z) + 1e-9 * (abs(window_mean) + abs(mean_b) + 2) / std_b + 1e-8


def assert_features_equal(
    got: pd.DataFrame, expected: pd.DataFrame, config: TelemetryConfig, tables: dict[str, pa.Table]
) -> None:
    """Every feature as the reference computed it (``tables``: the data it was given, for the baselines)."""
    assert list(got.columns) == list(expected.columns)
    assert len(got) == len(expected)
    n_examples = len(expected.columns) - len(names_of(config))
    baselines = [reference_baseline(tables, config, int(c)) for c in expected["cutoff"].tolist()]
    for column in expected.columns[n_examples:]:
        name = parse_feature_name(column)
        rtol, atol = tolerance_of(column)
        for i, (g, e) in enumerate(zip(got[column].tolist(), expected[column].tolist(), strict=True)):
            where = f"{column} at cutoff {expected['cutoff'].iloc[i]} (row {i})"
            if is_null(e):
                assert is_null(g), f"{where}: expected null, got {g!r}"
            elif isinstance(e, str):
                assert g == e, f"{where}: expected {e!r}, got {g!r}"
            elif name.baseline_s is not None:
                baseline = baselines[i][f"{name.signal}.{name.field}"]
                assert baseline is not None, f"{where}: the reference has a z without a baseline"
                mean = expected[str(dataclasses.replace(name, stat="mean", level=None))].iloc[i]
                tolerance = z_tolerance(e, mean, baseline)
                assert not is_null(g) and abs(g - e) <= tolerance, (
                    f"{where}: expected {e!r} ± {tolerance}, got {g!r}"
                )
            else:
                assert not is_null(g), f"{where}: expected {e!r}, got null"
                assert math.isclose(g, e, rel_tol=rtol, abs_tol=atol), f"{where}: expected {e!r}, got {g!r}"
    for column in expected.columns[:n_examples]:
        assert [None if is_null(v) else v for v in got[column].tolist()] == [
            None if is_null(v) else v for v in expected[column].tolist()
        ], column


def assert_rows_unchanged(got: pd.Series, expected: pd.Series, where: str) -> None:
    """Every feature identical, bit for bit: data at or after the cutoff reaches no feature, not even
    through floating-point rounding (sums are centred on values that precede the window's data)."""
    assert list(got.index) == list(expected.index)
    for column in expected.index:
        g, e = got[column], expected[column]
        if is_null(e) or is_null(g):
            assert is_null(g) and is_null(e), f"{where}: {column} changed from {e!r} to {g!r}"
        else:
            assert g == e, f"{where}: {column} changed from {e!r} to {g!r}"


# ------------------------------------------------------------------------------------------ properties


@st.composite
def feature_cases(
    draw: st.DrawFn,
) -> tuple[TelemetryConfig, Rows, list[dict[str, Any]] | None, list[int], tuple[int, int]]:
    config = draw(feature_configs())
    rows, events = draw(data(config))
    cutoff_list = draw(cutoffs(config, rows, events))
    span = span_for(config, cutoff_list, draw(st.integers(0, 3000)), draw(st.integers(0, 3000)))
    return config, rows, events, cutoff_list, span


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large]
)
@given(feature_cases())
def test_features_equal_reference(
    case: tuple[TelemetryConfig, Rows, Any, list[int], tuple[int, int]],
) -> None:
    config, rows, events, cutoff_list, span = case
    tables = build_tables(config, rows)
    examples = examples_frame(cutoff_list)
    got = fast_features(config, tables, events, examples, span)
    event_table = None if events is None else make_table(EVENTS, events)
    expected = reference_features(tables, event_table, examples, config)
    assert_features_equal(got.reset_index(drop=True), expected, config, tables)


@settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large]
)
@given(st.data())
def test_features_equal_reference_across_segments(hyp: st.DataObject) -> None:
    """Many ticks (5 ms grid, 60 s span, 20 s windows): the fast sums restart every few thousand ticks, and
    windows straddle those restarts; so do baselines, in segments of their own: 30 s (6,000 ticks, segments
    of 8,192) beside 20 s windows (segments of 4,096), 12 s (2,400 ticks, segments of 4,096) beside 1-3 s
    windows (segments of 512)."""
    windows_s, baseline_s = hyp.draw(st.sampled_from((((20, 7), 30), ((1, 3), 12), ((20, 7), 0))))
    config = make_config(
        (hyp.draw(st.integers(0, 1000)), hyp.draw(st.integers(0, 3000)), 3_600_000),
        (hyp.draw(directions), hyp.draw(directions), "backward"),
        step_ms=5,
        windows_s=windows_s,
    )
    config = with_baseline(config, baseline_s)
    lo, hi = BASE - 30_000, BASE + 30_000
    rows: Rows = {
        "a": hyp.draw(signal_rows(config.signal("a"), 1000, lo, hi, max_rows=40)),
        "b": hyp.draw(
            st.lists(row_strategy(config.signal("b"), st.integers(lo, hi)), min_size=5, max_size=40)
        ),
        "c": hyp.draw(signal_rows(config.signal("c"), 1000, lo, hi, max_rows=8)),
    }
    cutoff_list = hyp.draw(st.lists(st.integers(BASE - 10_000, hi), min_size=1, max_size=2))
    span = (lo, hi)
    if min(cutoff_list) - config.features.lookback_ms < lo:
        span = span_for(config, cutoff_list, 0, 0)
    tables = build_tables(config, rows)
    examples = examples_frame(cutoff_list)
    got = fast_features(config, tables, None, examples, span)
    assert_features_equal(
        got.reset_index(drop=True), reference_features(tables, None, examples, config), config, tables
    )


@settings(
    max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large]
)
@given(st.data())
def test_baseline_equals_reference_on_dense_data(hyp: st.DataObject) -> None:
    """Dense data on a 5 ms grid, 1-3 s windows (segments of 512 ticks) and a 4 s or 12 s baseline (800 or
    2,400 ticks, in segments of 1,024 or 4,096 of its own): baselines straddle segment restarts, hold
    repeated values (all equal, or not, by one tick at either end) and a step, so the sums are re-centred
    and the constant-baseline rule is met at its edges."""
    b_tolerance = hyp.draw(st.integers(0, 400))
    config = make_config(
        (0, b_tolerance, 0),
        ("nearest", hyp.draw(directions), "nearest"),
        step_ms=5,
        windows_s=hyp.draw(st.sampled_from(((1,), (3, 1)))),
    )
    config = with_baseline(config, hyp.draw(st.sampled_from((4, 12))))
    lo, hi = BASE - 14_000, BASE + 2_000
    every = hyp.draw(st.integers(20, 400))
    level = hyp.draw(st.floats(-1e3, 1e3, allow_nan=False))
    values = hyp.draw(st.lists(numeric_values, min_size=1, max_size=8))
    rows = [  # a level plus a repeating pattern of arbitrary values (and nulls), one step up halfway
        {"ts": ts, "v": None if v is None else level + v + (5.0 if ts > BASE - 6_000 else 0.0)}
        for k, ts in enumerate(range(lo, hi, every))
        for v in [values[k % len(values)]]
    ]
    cutoff_list = hyp.draw(st.lists(st.integers(BASE - 3_000, hi), min_size=1, max_size=3))
    tables = build_tables(config, {"b": rows})
    examples = examples_frame(cutoff_list)
    got = fast_features(config, tables, None, examples, span_for(config, cutoff_list, 0, 0))
    expected = reference_features(tables, None, examples, config)
    assert_features_equal(got.reset_index(drop=True), expected, config, tables)


@st.composite
def extra_rows(draw: st.DrawFn, config: TelemetryConfig, cutoff: int) -> tuple[Rows, list[dict[str, Any]]]:
    """Arbitrary samples of any signal and events, all at or after ``cutoff`` (exactly at it, within the
    tolerance just after it, or anywhere later)."""

    def after(tolerance: int) -> st.SearchStrategy[int]:
        return st.one_of(
            st.just(cutoff),
            st.integers(cutoff, cutoff + tolerance + 1),
            st.integers(cutoff, max(cutoff, HI + 6000)),
        )

    extra: Rows = {}
    for spec in config.sampled_signals:
        extra[spec.name] = draw(st.lists(row_strategy(spec, after(spec.tolerance_ms)), max_size=4))
    extra_events = draw(
        st.lists(
            st.fixed_dictionaries(
                {
                    "ts": after(0),
                    "severity": numeric_values,
                    "kind": st.sampled_from(EVENT_KINDS),
                    "code": st.sampled_from(EVENT_CODES),
                }
            ),
            max_size=4,
        )
    )
    return extra, extra_events


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large]
)
@given(st.data())
def test_no_leakage_after_the_cutoff(hyp: st.DataObject) -> None:
    """Appending anything at ts >= c (and shuffling it in anywhere) leaves every feature of that example
    unchanged. Each example separately: what lies after one cutoff lies before a later one."""
    config, rows, events, cutoff_list, span = hyp.draw(feature_cases())
    if not cutoff_list:
        return
    examples = examples_frame(cutoff_list)
    before = fast_features(config, build_tables(config, rows), events, examples, span)
    for i, cutoff in enumerate(cutoff_list):
        extra, extra_events = hyp.draw(extra_rows(config, cutoff))
        more: Rows = {}
        for spec in config.sampled_signals:
            if spec.name in rows or extra[spec.name]:
                combined = list(rows.get(spec.name, []))
                for row in extra[spec.name]:
                    combined.insert(hyp.draw(st.integers(0, len(combined))), row)
                more[spec.name] = combined
        more_events = None if events is None and not extra_events else [*(events or []), *extra_events]
        after = fast_features(config, build_tables(config, more), more_events, examples.iloc[[i]], span)
        assert_rows_unchanged(after.iloc[0], before.iloc[i], f"example {i} (cutoff {cutoff})")


# ------------------------------------------------------------------------------------ examples and schema


def test_column_order_is_feature_names_and_independent_of_data() -> None:
    config = make_config((500, 1000, 3_600_000), ("nearest", "nearest", "backward"), windows_s=(7, 1, 3))
    names = [str(n) for n in names_of(config)]
    examples = examples_frame([BASE, BASE + 5000])
    empty = fast_features(config, {}, None, examples, span_for(config, [BASE, BASE + 5000], 0, 0))
    assert list(empty.columns) == [*EXAMPLE_COLUMNS, *names]
    no_examples = fast_features(config, {}, None, examples_frame([]), (BASE, BASE))
    assert list(no_examples.columns) == [*EXAMPLE_COLUMNS, *names]
    assert len(no_examples) == 0
    rows: Rows = {
        "a": [{"ts": BASE + k * 300, "x": float(k), "y": None, "s": "IDLE"} for k in range(-30, 20)],
        "c": [{"ts": BASE - 4000, "state": "EXECUTING"}, {"ts": BASE + 100, "state": "CHARGING"}],
    }
    events = [{"ts": BASE - 10, "kind": "warning", "code": "LOC_DEGRADED", "severity": 1.0}]
    full = fast_features(
        config, build_tables(config, rows), events, examples, span_for(config, [BASE, BASE + 5000], 0, 0)
    )
    assert list(full.columns) == list(empty.columns)
    for name in names:  # the names round-trip
        assert str(parse_feature_name(name)) == name


def test_dtypes_are_independent_of_data() -> None:
    """Same dtypes (pandas and Arrow) whether the windows hold values or not: every partition has the same
    schema, so partitions can be concatenated and written to one dataset."""
    config = make_config((500, 1000, 1000), ("nearest", "nearest", "backward"), windows_s=(1,))
    examples = examples_frame([BASE])
    span = span_for(config, [BASE], 0, 0)
    empty = fast_features(config, {}, None, examples, span)
    rows: Rows = {
        "a": [{"ts": BASE - 300, "x": 1.0, "y": 2.0, "s": "IDLE"}],
        "c": [{"ts": BASE - 300, "state": "IDLE"}],
    }
    full = fast_features(config, build_tables(config, rows), None, examples, span)
    differ = {
        c: (str(full[c].dtype), str(empty[c].dtype)) for c in full.columns if full[c].dtype != empty[c].dtype
    }
    assert not differ, f"dtype with values != dtype without: {differ}"
    assert pa.Table.from_pandas(full).schema.equals(pa.Table.from_pandas(empty).schema)


def test_hand_computed_window() -> None:
    """One window worked by hand: W = 3 s, step 1 s, off-grid cutoff c = T + 2200: ticks T, T+1000, T+2000."""
    c = T + 2200
    config = make_config((400, 1000, 1000), ("nearest", "nearest", "backward"), windows_s=(3,))
    rows: Rows = {
        "a": [
            {"ts": T - 100, "x": 1.0, "y": None, "s": "IDLE"},
            {"ts": T + 1100, "x": 3.0, "y": None, "s": "CHARGING"},
            {"ts": T + 1700, "x": 4.0, "y": None, "s": "CHARGING"},
            # nearest to tick T+2000 (200 ms) but at the cutoff: the tick takes T+1700 (300 ms) instead
            {"ts": c, "x": 100.0, "y": None, "s": "ABORTED"},
        ],
        "c": [{"ts": T - 500, "state": "IDLE"}, {"ts": T + 1500, "state": "EXECUTING"}],
    }
    events = [
        {"ts": c - 3000, "kind": "warning", "code": "LOC_DEGRADED", "severity": 1.0},  # c - W: counted
        {"ts": T + 1500, "kind": "warning", "code": None, "severity": 1.0},
        {"ts": c, "kind": "warning", "code": "LOC_DEGRADED", "severity": 1.0},  # at c: not counted
    ]
    examples = examples_frame([c])
    got = fast_features(config, build_tables(config, rows), events, examples, (T - 5000, T + 9000)).iloc[0]
    # a.x: ticks T -> 1.0, T+1000 -> 3.0, T+2000 -> 4.0 (not 100.0)
    assert got["a.x__count__w3s"] == 3
    assert got["a.x__coverage__w3s"] == 1.0
    assert got["a.x__mean__w3s"] == pytest.approx(8 / 3)
    assert got["a.x__std__w3s"] == pytest.approx(math.sqrt(14) / 3)
    assert got["a.x__slope__w3s"] == pytest.approx(1.5)  # per second
    assert got["a.x__last__w3s"] == 4.0
    assert (got["a.x__min__w3s"], got["a.x__max__w3s"]) == (1.0, 4.0)
    assert got["a.s__last__w3s"] == "CHARGING"
    assert got["a.s__changes__w3s"] == 1
    assert got["a.s__seconds:IDLE__w3s"] == pytest.approx(1.0)
    assert got["a.s__seconds:CHARGING__w3s"] == pytest.approx(1.2)  # 1 s + min(next tick, c) - t = 0.2 s
    assert is_null(got["a.y__mean__w3s"]) and is_null(got["a.y__slope__w3s"]) and got["a.y__count__w3s"] == 0
    # c.state (backward, 1 s): T -> IDLE, T+1000 -> nothing (T-500 is 1500 ms back), T+2000 -> EXECUTING
    assert got["c.state__last__w3s"] == "EXECUTING"
    assert got["c.state__seconds:IDLE__w3s"] == pytest.approx(1.0)
    assert got["c.state__seconds:EXECUTING__w3s"] == pytest.approx(0.2)
    assert got["c.state__changes__w3s"] == 1
    assert got["events.kind__count:warning__w3s"] == 2
    assert got["events.code__count:LOC_DEGRADED__w3s"] == 1
    assert got["events.kind__since_last:warning__w3s"] == pytest.approx(0.7)
    assert is_null(got["events.kind__since_last:recovery__w3s"])
    assert got["events.kind__count:recovery__w3s"] == 0
    tables = build_tables(config, rows)
    expected = reference_features(tables, make_table(EVENTS, events), examples, config)
    assert_features_equal(got.to_frame().T.reset_index(drop=True), expected, config, tables)


def test_hand_computed_baseline() -> None:
    """One baseline worked by hand: B = 6 s, W = 2 s, step 1 s, c = T + 5050. The baseline's ticks are
    T .. T+5000, the window's T+4000 and T+5000; a sample at T+5100 (at or after c) is the nearest to tick
    T+5000 but must not be used, nor change anything."""
    c = T + 5050
    config = with_baseline(
        make_config((400, 1000, 1000), ("nearest", "nearest", "backward"), windows_s=(2,)), 6
    )
    rows = [
        {"ts": T + ts, "x": x, "y": 7.0, "s": None}
        for ts, x in ((0, 1.0), (1000, 2.0), (2000, 3.0), (3000, 2.0), (3900, 4.0), (4700, 6.0))
    ]
    late = {"ts": T + 5100, "x": 100.0, "y": -7.0, "s": None}  # 100 ms from tick T+5000, 300 ms nearer
    examples = examples_frame([c])
    span = span_for(config, [c], 0, 3000)
    tables = build_tables(config, {"a": [*rows, late]})
    got = fast_features(config, build_tables(config, {"a": rows}), None, examples, span).iloc[0]
    with_late = fast_features(config, tables, None, examples, span).iloc[0]
    # baseline 1, 2, 3, 2, 4, 6: mean 3, variance 16/6; window 4, 6: mean 5; z = 2 / sqrt(8/3)
    assert got["a.x__mean__w2s"] == pytest.approx(5.0)
    assert got["a.x__z:b6s__w2s"] == pytest.approx(2 / math.sqrt(8 / 3))
    assert is_null(got["a.y__z:b6s__w2s"])  # a constant baseline has no spread: no z
    assert_rows_unchanged(with_late, got, "a sample at or after the cutoff")
    # a later cutoff, T+5150, comes after the late sample: tick T+5000 takes it
    later = fast_features(config, tables, None, examples_frame([T + 5150]), span)
    assert later.iloc[0]["a.x__mean__w2s"] == pytest.approx(52.0)
    # y: baseline 7, 7, 7, 7, 7, -7 (mean 14/3, variance 1470/54), window 7, -7 (mean 0): z = -2 / sqrt(5)
    assert later.iloc[0]["a.y__z:b6s__w2s"] == pytest.approx(-2 / math.sqrt(5))
    expected = reference_features(tables, None, examples_frame([c, T + 5150]), config)
    both = fast_features(config, tables, None, examples_frame([c, T + 5150]), span)
    assert_features_equal(both.reset_index(drop=True), expected, config, tables)


def test_day_chunks_look_back_over_the_baseline() -> None:
    """``robot_features`` aligns each UTC-day chunk from ``max(Wmax, B)`` before it: the z of a day's first
    cutoffs see the previous day's last ``B`` seconds, as the reference does (from ``Wmax`` only, the
    baseline would hold a few seconds)."""
    config = with_baseline(
        make_config((400, 1000, 1000), ("nearest", "nearest", "backward"), windows_s=(3,)), 600
    )
    config = dataclasses.replace(config, labels=dataclasses.replace(config.labels, mode="grid"))
    midnight = (T // DAY_MS + 1) * DAY_MS
    rows = [  # every second over the last 10 minutes of a day and into the next: a slow ramp and a wobble
        {"ts": ts, "x": (ts - midnight) / 60_000 + (ts // 1000 % 7), "y": None, "s": "IDLE"}
        for ts in range(midnight - 600_000, midnight + 12_000, 1000)
    ]
    tables = build_tables(config, {"a": rows})
    result = robot_features(
        tables, config, robot_id="r1", start=midnight, end=midnight + 10_000
    ).table.to_pandas()
    assert result["cutoff"].tolist() == [midnight, midnight + 5000]
    expected = reference_features(tables, None, result[list(EXAMPLE_COLUMNS)], config)
    for column in ("a.x__mean__w3s", "a.x__z:b600s__w3s"):
        assert result[column].tolist() == pytest.approx(expected[column].tolist(), rel=1e-9), column
    assert result["a.x__z:b600s__w3s"].abs().min() > 1  # the window is well above its ten minutes' mean


def test_z_features_follow_the_baseline_setting() -> None:
    """Off by default (``features.baseline_s`` 0); with a baseline, one z per numeric field and window, right
    after that field's statistics, and the features look back as far as the baseline."""
    off = make_config((0, 0, 0), ("nearest", "nearest", "nearest"), windows_s=(3, 1))
    on = with_baseline(off, 3600)
    assert off.features.baseline_s == 0 and not [name for name in names_of(off) if name.stat == "z"]
    z = [name for name in names_of(on) if name.stat == "z"]
    numeric = sum(len(spec.numeric) for spec in on.sampled_signals)
    assert len(z) == numeric * 2 and {name.baseline_s for name in z} == {3600}
    assert [name for name in names_of(on) if name.stat != "z"] == names_of(off)
    names = [str(name) for name in names_of(on)]
    assert names.index("a.x__z:b3600s__w3s") == names.index("a.x__coverage__w3s") + 1
    assert [str(name) for name in z][:2] == ["a.x__z:b3600s__w3s", "a.y__z:b3600s__w3s"]
    assert off.features.lookback_ms == 3000 and on.features.lookback_ms == 3_600_000
    for config in (off, on):
        got = fast_features(config, {}, None, examples_frame([BASE]), span_for(config, [BASE], 0, 0))
        assert list(got.columns) == [*EXAMPLE_COLUMNS, *(str(name) for name in names_of(config))]


def test_generated_categorical_values_include_the_levels() -> None:
    """Guard: the generated categorical values include the configured levels (else seconds:* is vacuous)."""
    config = make_config((0, 0, 0), ("nearest", "nearest", "nearest"))
    levels = {n.level for n in names_of(config) if n.stat == "seconds"}
    assert levels and levels <= set(STATES)


@pytest.mark.parametrize(
    "glitch",
    [1e6, -1e9, 1e12, -1e15],
)
def test_precision_does_not_depend_on_a_distant_outlier(glitch: float) -> None:
    """A single large value at the start of the span (a sensor glitch, still finite) must not cost the
    windows of the rest of the span their precision (docs: "nor depends on a distant outlier")."""
    config = make_config((400, 0, 0), ("nearest", "nearest", "nearest"), windows_s=(3,))
    rows = [{"ts": T, "x": glitch, "y": None, "s": None}] + [
        {"ts": T + 1000 * k, "x": 20.0 + 0.1 * (k % 3), "y": None, "s": None} for k in range(1, 10)
    ]
    tables = build_tables(config, {"a": rows})
    examples = examples_frame([T + 9000])
    got = fast_features(config, tables, None, examples, (T, T + 10_000))
    assert_features_equal(got, reference_features(tables, None, examples, config), config, tables)


@settings(max_examples=200, deadline=None)
@given(
    st.integers(1, 4),
    st.lists(st.floats(-1e12, 1e12, allow_nan=False), min_size=1, max_size=300),
    st.integers(0, 40),
)
def test_column_sums_ignore_padding_and_neighbours(width: int, values: list[float], pad: int) -> None:
    """The exact fallback sums each window down a column: trailing zeros (padding to the longest window of a
    batch) and the other columns of the batch leave a column's sum unchanged, bit for bit."""
    column = np.array(values)
    alone = column_sums(column[:, None])[0]
    sequential = 0.0
    for v in values:
        sequential += v
    padded = np.zeros((len(values) + pad, width))
    padded[: len(values), 0] = column
    padded[:, 1:] = np.arange(padded.size - len(padded)).reshape(len(padded), width - 1) * 1.1
    assert alone == sequential
    assert column_sums(padded)[0] == sequential
