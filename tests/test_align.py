"""``align`` against the loop-by-loop reference of ``tests/reference.py`` (docs/time-semantics.md, section 1).

Matching copies values, it never computes them: fast and reference must agree exactly (NaN == NaN,
None == None) on irregular, duplicated, unsorted, gappy data, at exactly the tolerance on both sides, for
both directions and both kinds of clock, with spans that cut through the data.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from reference import make_table, reference_align, reference_match_rates

from telemetry.config import AlignConfig, FeaturesConfig, SignalSpec, TelemetryConfig
from telemetry.stages.align import _tick_counts, align

# a multiple of 3000 ms, plus 7 ms: grids of 250/500/1000/1500 ms do not start on it
BASE = 1_790_000_001_000 + 7
STATES = ("IDLE", "EXECUTING", "CHARGING", "ABORTED")

EVENTS = SignalSpec(
    name="events",
    numeric=("severity",),
    categorical=("kind", "code"),
    tolerance_ms=0,
    direction="backward",
    role="events",
)


def make_config(
    tolerances: tuple[int, int, int],
    directions: tuple[str, str, str],
    clock: str = "grid",
    step_ms: int = 1000,
    windows_s: tuple[int, ...] = (42,),
) -> TelemetryConfig:
    """Three sampled signals (numeric + categorical, numeric only, categorical only) and an events signal."""
    a = SignalSpec(
        name="a",
        numeric=("x", "y"),
        categorical=("s",),
        rate_hz=1.0,
        tolerance_ms=tolerances[0],
        direction=directions[0],  # type: ignore[arg-type]
    )
    b = SignalSpec(name="b", numeric=("v",), tolerance_ms=tolerances[1], direction=directions[1])  # type: ignore[arg-type]
    c = SignalSpec(name="c", categorical=("state",), tolerance_ms=tolerances[2], direction=directions[2])  # type: ignore[arg-type]
    return TelemetryConfig(
        signals=(a, b, c, EVENTS),
        align=AlignConfig(clock=clock, step_ms=step_ms),
        features=FeaturesConfig(
            windows_s=windows_s,
            levels={"c.state": STATES, "a.s": ("IDLE", "CHARGING")},
            event_kinds=("warning", "maintenance", "recovery"),
            event_codes=("MOTOR_TEMP_HIGH", "LOC_DEGRADED"),
        ),
    )


# ------------------------------------------------------------------------------------------ strategies

numeric_values = st.one_of(
    st.none(),
    st.integers(-3, 3).map(float),
    st.floats(-1e3, 1e3, allow_nan=False, allow_infinity=False),
)
categorical_values = st.sampled_from((None, *STATES, "OTHER"))
tolerances = st.one_of(st.sampled_from((0, 1, 100, 250, 499, 500, 1000, 1500, 2500)), st.integers(0, 3000))
directions = st.sampled_from(("nearest", "backward"))


def timestamps(tolerance: int, step: int, lo: int, hi: int) -> st.SearchStrategy[int]:
    """A sample time in ``[lo, hi]``: arbitrary, or at / next to exactly ``tolerance`` from a grid tick."""
    deltas = (-tolerance - 1, -tolerance, -tolerance + 1, 0, tolerance - 1, tolerance, tolerance + 1)
    near_tick = st.tuples(st.integers(lo // step, hi // step), st.sampled_from(deltas)).map(
        lambda kd: min(max(kd[0] * step + kd[1], lo), hi)
    )
    return st.one_of(st.integers(lo, hi), near_tick)


def row_strategy(spec: SignalSpec, ts: st.SearchStrategy[int]) -> st.SearchStrategy[dict[str, Any]]:
    """One row: ``ts`` and every field (nullable)."""
    fields = {f: numeric_values for f in spec.numeric} | {f: categorical_values for f in spec.categorical}
    return st.fixed_dictionaries({"ts": ts, **fields})


@st.composite
def signal_rows(
    draw: st.DrawFn, spec: SignalSpec, step: int, lo: int, hi: int, max_rows: int = 12
) -> list[dict[str, Any]]:
    """Rows of one signal in arbitrary order, with equal-ts rows (identical and conflicting) and ties."""
    rows = draw(st.lists(row_strategy(spec, timestamps(spec.tolerance_ms, step, lo, hi)), max_size=max_rows))
    for _ in range(draw(st.integers(0, 2))):  # ties: two rows at the same distance either side of a tick
        tick = draw(st.integers(lo // step + 1, hi // step - 1)) * step
        distance = draw(st.one_of(st.just(spec.tolerance_ms), st.integers(0, spec.tolerance_ms + 1)))
        for row in draw(
            st.tuples(
                row_strategy(spec, st.just(tick - distance)), row_strategy(spec, st.just(tick + distance))
            )
        ):
            rows.insert(draw(st.integers(0, len(rows))), row)
    if rows:  # identical duplicates and conflicting rows at the same ts, inserted anywhere
        for _ in range(draw(st.integers(0, 3))):
            source = rows[draw(st.integers(0, len(rows) - 1))]
            copy = dict(source) if draw(st.booleans()) else draw(row_strategy(spec, st.just(source["ts"])))
            rows.insert(draw(st.integers(0, len(rows))), copy)
    order = draw(st.sampled_from(("as drawn", "sorted like extract", "reversed")))
    if order == "sorted like extract":  # ts, then values (nulls last), as extract writes tables
        rows.sort(key=lambda r: (r["ts"], *((r[f] is None, r[f] or 0) for f in spec.fields)))
    elif order == "reversed":
        rows.reverse()
    return rows


def to_frame(spec: SignalSpec, rows: list[dict[str, Any]]) -> pd.DataFrame:
    """The same rows as a pandas frame (``align`` accepts both)."""
    data: dict[str, Any] = {"ts": np.array([r["ts"] for r in rows], dtype=np.int64)}
    for field in spec.numeric:
        data[field] = np.array([math.nan if r[field] is None else r[field] for r in rows], dtype=np.float64)
    for field in spec.categorical:
        data[field] = pd.Series([r[field] for r in rows], dtype=object)
    return pd.DataFrame(data)


@st.composite
def signal_tables(
    draw: st.DrawFn, config: TelemetryConfig, step: int, lo: int, hi: int, max_rows: int = 12
) -> dict[str, pa.Table | pd.DataFrame]:
    """Per sampled signal: a table (Arrow or pandas), an empty table, or no table at all."""
    tables: dict[str, pa.Table | pd.DataFrame] = {}
    for spec in config.sampled_signals:
        kind = draw(st.sampled_from(("arrow", "arrow", "arrow", "pandas", "empty", "missing")))
        if kind == "missing":
            continue
        rows = [] if kind == "empty" else draw(signal_rows(spec, step, lo, hi, max_rows))
        tables[spec.name] = to_frame(spec, rows) if kind == "pandas" else make_table(spec, rows)
    return tables


@st.composite
def align_cases(draw: st.DrawFn) -> tuple[dict[str, pa.Table | pd.DataFrame], TelemetryConfig, int, int]:
    step = draw(st.sampled_from((250, 500, 1000, 1500)))
    clock = draw(st.sampled_from(("grid", "grid", "a", "b", "c")))
    config = make_config(
        (draw(tolerances), draw(tolerances), draw(tolerances)),
        (draw(directions), draw(directions), draw(directions)),
        clock=clock,
        step_ms=step,
    )
    lo, hi = BASE - 4000, BASE + 12_000
    tables = draw(signal_tables(config, step, lo, hi))
    # the span cuts through the data: samples outside it must still match ticks inside it
    # and its bounds sometimes fall exactly on samples (anchor clocks: [start, end) includes start only)
    sample_ts = sorted({int(t) for table in tables.values() for t in list(table["ts"])})
    bounds = st.one_of(
        st.integers(lo - 2000, hi), st.integers(lo // step, hi // step).map(lambda k: k * step)
    )
    if sample_ts:
        bounds = st.one_of(bounds, st.sampled_from(sample_ts))
    start, end = sorted(draw(st.tuples(bounds, bounds)))
    if draw(st.booleans()):
        end = start + draw(st.sampled_from((0, 1, 4000, 9000)))
    return tables, config, start, end


# ------------------------------------------------------------------------------------------ comparison


def is_null(value: Any) -> bool:
    return value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value))


def assert_frames_identical(got: pd.DataFrame, expected: pd.DataFrame) -> None:
    """Same columns in the same order, same length, every cell equal (null == null, no tolerance)."""
    assert list(got.columns) == list(expected.columns)
    assert len(got) == len(expected)
    for column in expected.columns:
        for i, (g, e) in enumerate(zip(got[column].tolist(), expected[column].tolist(), strict=True)):
            if is_null(e):
                assert is_null(g), f"{column} row {i}: expected null, got {g!r}"
            else:
                assert not is_null(g) and g == e and type(g) is type(e), (
                    f"{column} row {i} (tick {expected['tick'].iloc[i]}): expected {e!r}, got {g!r}"
                )


# ------------------------------------------------------------------------------------------ properties


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(align_cases())
def test_align_equals_reference(case: tuple[dict[str, Any], TelemetryConfig, int, int]) -> None:
    tables, config, start, end = case
    got = align(tables, signals=config.signals, align=config.align, robot_id="r1", start=start, end=end)
    expected = reference_align(tables, config, "r1", start, end)
    assert_frames_identical(got.frame(), expected)
    rates = got.match_rates()
    assert rates == pytest.approx(reference_match_rates(tables, config, start, end), rel=0, abs=1e-15)
    assert list(rates) == [s.name for s in config.sampled_signals]


@settings(max_examples=100, deadline=None)
@given(
    tolerance=st.integers(0, 3000),
    direction=directions,
    step=st.sampled_from((250, 1000)),
    k=st.integers(-5, 5),
    offsets=st.lists(st.integers(-4000, 4000), max_size=6),
)
def test_matches_are_single_rows_of_the_table(
    tolerance: int, direction: str, step: int, k: int, offsets: list[int]
) -> None:
    """A tick takes all fields of one row: (x, y, s) of every tick is a row of the table (or all null)."""
    config = make_config((tolerance, 0, 0), (direction, "nearest", "nearest"), step_ms=step)
    spec = config.signal("a")
    rows = [
        {"ts": BASE + o, "x": float(i), "y": float(-i), "s": STATES[i % 4]} for i, o in enumerate(offsets)
    ]
    start = (BASE // step + k) * step
    frame = align(
        {"a": make_table(spec, rows)},
        signals=config.signals,
        align=config.align,
        robot_id="r1",
        start=start - 5000,
        end=start + 5000,
    ).frame()
    table_rows = {(r["x"], r["y"], r["s"]) for r in rows}
    for x, y, s in zip(frame["a.x"], frame["a.y"], frame["a.s"], strict=True):
        if is_null(x):
            assert is_null(y) and is_null(s)
        else:
            assert (x, y, s) in table_rows


# ------------------------------------------------------------------------------------------ examples


def one_signal(tolerance: int, direction: str, rows: list[dict[str, Any]], t: int) -> Any:
    """The value of ``a.x`` that a single grid tick ``t`` takes."""
    config = make_config((tolerance, 0, 0), (direction, "nearest", "nearest"))
    spec = config.signal("a")
    table = make_table(spec, [{"s": None, "y": None, **r} for r in rows])
    frame = align(
        {"a": table}, signals=config.signals, align=config.align, robot_id="r1", start=t, end=t + 1
    ).frame()
    assert list(frame["tick"]) == [t]
    expected = reference_align({"a": table}, config, "r1", t, t + 1)
    assert_frames_identical(frame, expected)
    return frame["a.x"].iloc[0]


T = 1_790_000_000_000  # a grid tick (multiple of 1000)


@pytest.mark.parametrize("tolerance", [0, 1, 500, 1000])
def test_tolerance_boundary_nearest(tolerance: int) -> None:
    assert one_signal(tolerance, "nearest", [{"ts": T + tolerance, "x": 1.0}], T) == 1.0
    assert one_signal(tolerance, "nearest", [{"ts": T - tolerance, "x": 2.0}], T) == 2.0
    assert math.isnan(one_signal(tolerance, "nearest", [{"ts": T + tolerance + 1, "x": 1.0}], T))
    assert math.isnan(one_signal(tolerance, "nearest", [{"ts": T - tolerance - 1, "x": 2.0}], T))
    # exactly at tolerance on both sides: the earlier sample, whatever the table order
    # (with tolerance 0 both rows are at the tick: the first row in table order)
    both = [{"ts": T + tolerance, "x": 1.0}, {"ts": T - tolerance, "x": 2.0}]
    assert one_signal(tolerance, "nearest", both, T) == (2.0 if tolerance else 1.0)
    assert one_signal(tolerance, "nearest", both[::-1], T) == 2.0


@pytest.mark.parametrize("tolerance", [0, 1, 500, 1000])
def test_tolerance_boundary_backward(tolerance: int) -> None:
    assert one_signal(tolerance, "backward", [{"ts": T - tolerance, "x": 2.0}], T) == 2.0
    assert math.isnan(one_signal(tolerance, "backward", [{"ts": T - tolerance - 1, "x": 2.0}], T))
    assert math.isnan(one_signal(tolerance, "backward", [{"ts": T + 1, "x": 1.0}], T))
    assert one_signal(tolerance, "backward", [{"ts": T, "x": 3.0}, {"ts": T + 1, "x": 1.0}], T) == 3.0


def test_conflicting_duplicates_take_the_first_row_in_table_order() -> None:
    rows = [{"ts": T - 10, "x": 5.0}, {"ts": T - 10, "x": 4.0}, {"ts": T + 10, "x": 9.0}]
    assert one_signal(100, "nearest", rows, T) == 5.0
    assert one_signal(100, "backward", rows, T) == 5.0
    assert one_signal(100, "nearest", [rows[1], rows[0]], T) == 4.0
    # a matched row with a null field gives null, not another row's value
    assert math.isnan(one_signal(100, "nearest", [{"ts": T - 10, "x": None}, {"ts": T - 20, "x": 1.0}], T))


def test_anchor_clock_and_span() -> None:
    config = make_config((100, 100, 100), ("nearest", "backward", "nearest"), clock="b")
    tables = {
        "b": make_table(
            config.signal("b"), [{"ts": T + 30, "v": 1.0}, {"ts": T + 10, "v": 2.0}, {"ts": T + 10, "v": 3.0}]
        ),
        "a": make_table(config.signal("a"), [{"ts": T - 50, "x": 7.0}]),  # before the span, still matches
    }
    frame = align(
        tables, signals=config.signals, align=config.align, robot_id="r1", start=T + 10, end=T + 30
    ).frame()
    assert list(frame["tick"]) == [T + 10]  # distinct anchor ts in [start, end)
    assert frame["b.v"].tolist() == [2.0]
    assert frame["a.x"].tolist() == [7.0]
    assert_frames_identical(frame, reference_align(tables, config, "r1", T + 10, T + 30))


def test_grid_is_epoch_aligned_and_missing_signals_are_null() -> None:
    config = make_config((0, 0, 0), ("nearest", "nearest", "nearest"), step_ms=1500)
    got = align({}, signals=config.signals, align=config.align, robot_id="r1", start=T + 1, end=T + 6001)
    assert [t % 1500 for t in got.ticks] == [0, 0, 0, 0]
    assert list(got.ticks) == [t for t in range(T + 1, T + 6001) if t % 1500 == 0]
    assert got.match_rates() == {"a": 0.0, "b": 0.0, "c": 0.0}
    assert_frames_identical(got.frame(), reference_align({}, config, "r1", T + 1, T + 6001))
    empty = align({}, signals=config.signals, align=config.align, robot_id="r1", start=T, end=T)
    assert len(empty.ticks) == 0 and empty.match_rates() == {"a": 0.0, "b": 0.0, "c": 0.0}


@settings(max_examples=200, deadline=None)
@given(
    st.integers(-(10**6), 10**6),
    st.sampled_from((1, 5, 100, 1000)),
    st.integers(0, 60),
    st.lists(st.integers(-3000, 9000), max_size=60),
)
def test_grid_tick_counts_equal_binary_search(
    first: int, step: int, n_ticks: int, offsets: list[int]
) -> None:
    """On a grid clock the per-tick sample counts (``ts < tick``, ``ts <= tick``) are computed
    arithmetically; they equal the binary search, samples before, between, on and after the ticks."""
    ticks = first * step + step * np.arange(n_ticks, dtype=np.int64)
    ts = np.sort(np.array([first * step + o for o in offsets], dtype=np.int64))
    arithmetic = _tick_counts(ts, ticks, step)
    expected = (np.searchsorted(ts, ticks, side="left"), np.searchsorted(ts, ticks, side="right"))
    for got, want in zip(arithmetic, expected, strict=True):
        assert got.dtype == np.int64
        np.testing.assert_array_equal(got, want)
