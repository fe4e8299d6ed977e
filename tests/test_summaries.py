"""Summaries (``telemetry/stages/summaries.py``) against numpy brute force: the exact columns exactly, the
moments to float tolerance, the sketches' quantiles within their rank error; and the merge property:
merging the summaries of a table's time partitions equals summarizing the whole table."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from telemetry.errors import DataContractError
from telemetry.stages.summaries import (
    CLOCK_OFFSET_COLUMN,
    DEFAULT_K,
    SUMMARY_SCHEMA,
    merge_summaries,
    quantiles,
    rank_error,
    sketch_of,
    statistics,
    summarize_table,
)

DAY = 86_400_000
T0 = 1_793_664_000_000  # 2026-11-03 00:00 UTC
EXACT = ("rows", "count", "nulls", "min", "max", "span_s", "expected_rows", "seconds_covered")


def signal_table(
    rng: np.random.Generator, n: int, *, start: int, span_ms: int, sent_at: bool = False
) -> pa.Table:
    """A signal table: sorted ``ts`` over ``[start - 1 s, start + span + 1 s)`` (so some rows fall outside the
    span), ``a`` ~ N(50, 5) with ~5 % nulls and a NaN, ``b`` integer counts."""
    ts = np.sort(rng.integers(start - 1000, start + span_ms + 1000, n))
    a = rng.normal(50.0, 5.0, n)
    mask = rng.random(n) < 0.05
    columns: dict[str, pa.Array] = {
        "robot_id": pa.array(["amr-0001"] * n),
        "ts": pa.array(ts, pa.int64()),
        "a": pa.array(a, pa.float64(), mask=mask),
        "b": pa.array(rng.integers(0, 6, n), pa.int64()),
    }
    if n:
        columns["a"] = pa.array(np.where(np.arange(n) == n // 2, np.nan, a), pa.float64(), mask=mask)
    if sent_at:
        columns["sent_at"] = pa.array(ts + rng.integers(0, 5000, n), pa.int64())
    return pa.table(columns)


def brute(values: np.ndarray) -> dict[str, float]:
    finite = values[np.isfinite(values)]
    if not len(finite):
        return {"count": 0, "nulls": len(values)}
    return {
        "count": len(finite),
        "nulls": len(values) - len(finite),
        "min": finite.min(),
        "max": finite.max(),
        "mean": finite.mean(),
        "variance": finite.var(),
    }


def row_of(summary: pa.Table, column: str) -> dict[str, object]:
    (row,) = [r for r in summary.to_pylist() if r["column"] == column]
    return row


def assert_quantiles_within_rank_error(
    summary: pa.Table, column: str, values: np.ndarray, extra: float = 0, k: int = DEFAULT_K
) -> None:
    """Every returned quantile ``q`` of rank ``r`` has an exact normalized rank within ``eps`` of ``r``."""
    finite = np.sort(values[np.isfinite(values)])
    ranks = np.linspace(0.05, 0.95, 19)
    got = quantiles(summary, ranks.tolist(), table="s", column=column)
    eps = rank_error(k) + extra
    below = np.searchsorted(finite, got, side="left") / len(finite)  # rank of values < q
    at_or_below = np.searchsorted(finite, got, side="right") / len(finite)  # ... <= q
    assert np.all(ranks >= below - eps - 1 / len(finite)), (ranks, below)
    assert np.all(ranks <= at_or_below + eps + 1 / len(finite)), (ranks, at_or_below)


# ------------------------------------------------------------------------------------------- one table


def test_summary_matches_numpy_over_the_span_only() -> None:
    rng = np.random.default_rng(7)
    span = 3_600_000
    table = signal_table(rng, 20_000, start=T0, span_ms=span)
    summary = summarize_table(table, name="s", start=T0, end=T0 + span, rate_hz=5.0)
    assert summary.schema == SUMMARY_SCHEMA
    assert summary.column("column").to_pylist() == ["a", "b"]  # robot_id and ts are not values
    ts = table.column("ts").to_numpy()
    inside = (ts >= T0) & (ts < T0 + span)
    for column in ("a", "b"):
        values = pc_float(table, column)[inside]
        want, row = brute(values), row_of(summary, column)
        assert row["rows"] == inside.sum()
        for key in ("count", "nulls", "min", "max"):
            assert row[key] == want[key], key
        assert math.isclose(row["mean"], want["mean"], rel_tol=1e-12)
        assert math.isclose(row["m2"] / row["count"], want["variance"], rel_tol=1e-9)
        assert row["span_s"] == 3600
        assert row["expected_rows"] == 3600 * 5.0
        assert row["seconds_covered"] == len(np.unique(ts[inside] // 1000))
    assert_quantiles_within_rank_error(summary, "a", pc_float(table, "a")[inside])
    stats = statistics(summary).set_index("column")
    assert stats.loc["a", "coverage"] == inside.sum() / (3600 * 5.0)
    assert stats.loc["a", "second_coverage"] == row_of(summary, "a")["seconds_covered"] / 3600
    assert math.isclose(stats.loc["a", "std"], math.sqrt(brute(pc_float(table, "a")[inside])["variance"]))


def pc_float(table: pa.Table, column: str) -> np.ndarray:
    return np.asarray(
        table.column(column).cast(pa.float64()).to_numpy(zero_copy_only=False), dtype=np.float64
    )


def test_clock_offset_row_only_with_sent_at() -> None:
    rng = np.random.default_rng(3)
    with_sent = signal_table(rng, 500, start=T0, span_ms=60_000, sent_at=True)
    summary = summarize_table(with_sent, name="s", start=T0, end=T0 + 60_000)
    assert summary.column("column").to_pylist() == ["a", "b", CLOCK_OFFSET_COLUMN]
    ts = with_sent.column("ts").to_numpy()
    inside = (ts >= T0) & (ts < T0 + 60_000)
    offsets = (with_sent.column("sent_at").to_numpy() - ts)[inside]
    row = row_of(summary, CLOCK_OFFSET_COLUMN)
    assert (row["count"], row["min"], row["max"]) == (inside.sum(), offsets.min(), offsets.max())
    without = summarize_table(with_sent.drop_columns(["sent_at"]), name="s", start=T0, end=T0 + 60_000)
    assert CLOCK_OFFSET_COLUMN not in without.column("column").to_pylist()


def test_empty_and_all_null_columns() -> None:
    frame = pd.DataFrame({"cutoff": np.array([T0, T0 + 5000], dtype=np.int64), "f": [np.nan, np.nan]})
    summary = summarize_table(frame, name="features", start=T0, end=T0 + DAY, time_column="cutoff")
    row = row_of(summary, "f")
    assert (row["rows"], row["count"], row["nulls"], row["min"], row["mean"]) == (2, 0, 2, None, None)
    assert np.isnan(quantiles(summary, [0.5], table="features", column="f")).all()
    empty = summarize_table(frame.iloc[:0], name="features", start=T0, end=T0 + DAY, time_column="cutoff")
    assert row_of(empty, "f")["rows"] == 0 and row_of(empty, "f")["seconds_covered"] == 0
    other = pd.DataFrame({"cutoff": np.array([T0 + DAY], dtype=np.int64), "f": [4.0]})
    merged = merge_summaries(
        [
            summary,
            empty,
            summarize_table(other, name="features", start=T0 + DAY, end=T0 + 2 * DAY, time_column="cutoff"),
        ]
    )
    row = row_of(merged, "f")
    assert (row["rows"], row["count"], row["min"], row["max"], row["mean"], row["m2"]) == (
        3,
        1,
        4.0,
        4.0,
        4.0,
        0.0,
    )
    assert quantiles(merged, [0.0, 0.5, 1.0], table="features", column="f").tolist() == [4.0, 4.0, 4.0]


def test_max_sketched_subsamples_within_the_stated_bound() -> None:
    rng = np.random.default_rng(11)
    table = signal_table(rng, 60_000, start=T0, span_ms=DAY)
    m = 5_000
    summary = summarize_table(table, name="s", start=T0, end=T0 + DAY, max_sketched=m)
    again = summarize_table(table, name="s", start=T0, end=T0 + DAY, max_sketched=m)
    sketch = sketch_of(summary, table="s", column="a")
    assert abs(sketch.n - m) < 5 * math.sqrt(m)  # a Bernoulli(m / n) sample
    assert sketch.n == sketch_of(again, table="s", column="a").n  # the same subsample
    row = row_of(summary, "a")
    values = pc_float(table, "a")[
        (table.column("ts").to_numpy() >= T0) & (table.column("ts").to_numpy() < T0 + DAY)
    ]
    assert row["count"] == np.isfinite(values).sum()  # the exact columns use every value
    assert_quantiles_within_rank_error(summary, "a", values, extra=math.sqrt(math.log(200) / (2 * m)))


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"start": T0 + 1}, ValueError, "whole second"),
        ({"end": T0 - 1000}, ValueError, "end must be >= start"),
        ({"k": 4}, ValueError, "k must be an int"),
        ({"rate_hz": 0.0}, ValueError, "rate_hz"),
        ({"max_sketched": 0}, ValueError, "max_sketched"),
        ({"columns": ["nope"]}, DataContractError, "not in the table"),
        ({"columns": ["robot_id"]}, DataContractError, "must be numeric"),
        ({"time_column": "when"}, DataContractError, "int64 epoch milliseconds"),
        ({"time_column": "missing"}, DataContractError, "no column 'missing'"),
    ],
)
def test_input_errors_say_what_was_expected(
    kwargs: dict[str, object], error: type[Exception], match: str
) -> None:
    frame = pd.DataFrame(
        {
            "robot_id": ["r", "r"],
            "ts": np.array([T0, T0 + 1], dtype=np.int64),
            "when": pd.to_datetime([T0, T0 + 1], unit="ms", utc=True),
            "a": [1.0, 2.0],
        }
    )
    args: dict[str, object] = {"name": "s", "start": T0, "end": T0 + 1000, **kwargs}
    with pytest.raises(error, match=match):
        summarize_table(frame, **args)  # type: ignore[arg-type]


# ------------------------------------------------------------------------------------------------ merge


def assert_same_summary(
    merged: pa.Table, whole: pa.Table, values: dict[str, np.ndarray], k: int = DEFAULT_K
) -> None:
    """Exact columns equal, moments to float tolerance, quantiles within the rank error of ``k``."""
    assert merged.column("column").to_pylist() == whole.column("column").to_pylist()
    for got, want in zip(merged.to_pylist(), whole.to_pylist(), strict=True):
        for key in EXACT:
            assert got[key] == want[key], (got["column"], key)
        if want["count"]:
            scale = max(1.0, abs(want["mean"]))
            assert math.isclose(got["mean"], want["mean"], rel_tol=1e-9, abs_tol=1e-12 * scale)
            assert math.isclose(got["m2"], want["m2"], rel_tol=1e-7, abs_tol=1e-9 * scale**2 * want["count"])
            assert_quantiles_within_rank_error(merged, got["column"], values[got["column"]], k=k)
        else:
            assert got["mean"] is None and got["m2"] is None


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    n=st.integers(0, 600),
    cuts=st.lists(st.integers(1, 59), max_size=6, unique=True),
    order=st.randoms(use_true_random=False),
)
def test_merging_partitions_equals_summarizing_the_whole(
    seed: int, n: int, cuts: list[int], order: object
) -> None:
    rng = np.random.default_rng(seed)
    span = 60_000
    table = signal_table(rng, n, start=T0, span_ms=span, sent_at=True)
    bounds = [T0, *sorted(T0 + 1000 * c for c in cuts), T0 + span]
    parts = [
        summarize_table(table, name="s", start=a, end=b, rate_hz=2.0, k=16)
        for a, b in itertools.pairwise(bounds)
    ]
    order.shuffle(parts)  # type: ignore[attr-defined]
    whole = summarize_table(table, name="s", start=T0, end=T0 + span, rate_hz=2.0, k=16)
    ts = table.column("ts").to_numpy()
    inside = (ts >= T0) & (ts < T0 + span)
    values = {c: pc_float(table, c)[inside] for c in ("a", "b")}
    values[CLOCK_OFFSET_COLUMN] = (table.column("sent_at").to_numpy() - ts)[inside].astype(np.float64)
    merged = merge_summaries(parts)
    assert merged.schema == SUMMARY_SCHEMA
    assert_same_summary(merged, whole, values, k=16)
    # associativity: any grouping of the partitions gives the same summary
    half = len(parts) // 2
    regrouped = (
        merge_summaries([merge_summaries(parts[:half] or parts[:1]), *parts[half:]]) if half else merged
    )
    if half:
        assert_same_summary(regrouped, whole, values, k=16)


@pytest.mark.parametrize("seed", [0, 1])
def test_a_year_of_partitions_merges_within_rank_error(seed: int) -> None:
    """365 daily summaries of a slowly drifting column merge to the summary of the concatenation."""
    rng = np.random.default_rng(seed)
    days = []
    for d in range(365):
        n = 400
        ts = np.sort(rng.integers(T0 + d * DAY, T0 + (d + 1) * DAY, n))
        days.append(pd.DataFrame({"ts": ts, "a": rng.normal(40 + d / 30, 2 + d / 200, n)}))
    parts = [
        summarize_table(frame, name="s", start=T0 + d * DAY, end=T0 + (d + 1) * DAY, rate_hz=0.005)
        for d, frame in enumerate(days)
    ]
    whole = pd.concat(days, ignore_index=True)
    merged = merge_summaries(parts)
    reference = summarize_table(whole, name="s", start=T0, end=T0 + 365 * DAY, rate_hz=0.005)
    assert_same_summary(merged, reference, {"a": whole["a"].to_numpy()})
    assert quantiles(merged, [0.0, 1.0], table="s", column="a").tolist() == [
        whole["a"].min(),
        whole["a"].max(),
    ]


def test_merge_by_keeps_extra_keys() -> None:
    rng = np.random.default_rng(5)
    parts = []
    for robot in ("amr-0001", "amr-0002"):
        for d in range(3):
            summary = summarize_table(
                signal_table(rng, 300, start=T0 + d * DAY, span_ms=DAY),
                name="s",
                start=T0 + d * DAY,
                end=T0 + (d + 1) * DAY,
            )
            parts.append(summary.append_column("robot_id", pa.array([robot] * summary.num_rows)))
    per_robot = merge_summaries(parts, by=["robot_id"])
    assert per_robot.column_names == ["robot_id", *SUMMARY_SCHEMA.names]
    assert per_robot.column("robot_id").to_pylist() == ["amr-0001", "amr-0001", "amr-0002", "amr-0002"]
    assert per_robot.column("span_s").to_pylist() == [3 * 86_400] * 4
    fleet = merge_summaries(parts)
    assert fleet.column("rows").to_pylist() == [
        sum(per_robot.column("rows").to_pylist()[i::2]) for i in (0, 1)
    ]
    with pytest.raises(DataContractError, match="lacks the columns"):
        merge_summaries(parts, by=["site"])
    with pytest.raises(ValueError, match="at least one summary"):
        merge_summaries([])
    with pytest.raises(ValueError, match="expected one summary row"):
        quantiles(per_robot, [0.5], table="s", column="a")
