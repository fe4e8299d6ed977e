"""Drift scores (``telemetry/stages/drift.py``) from sketches against the exact statistics on the raw values
(numpy), and the ranking of ``drift_table`` on columns with and without an injected shift, over seeds."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from datasketches import kll_doubles_sketch

from telemetry.errors import DataContractError
from telemetry.stages.drift import DRIFT_COLUMNS, KS_POINTS, drift_table, ks_distance, psi
from telemetry.stages.summaries import merge_summaries, rank_error, summarize_table

T0 = 1_793_664_000_000  # 2026-11-03 00:00 UTC
DAY = 86_400_000
KS_TOLERANCE = 2 * rank_error(pmf=True) + 1 / KS_POINTS  # the bound stated in the module docstring


def exact_psi(reference: np.ndarray, target: np.ndarray, bins: int = 10, epsilon: float = 1e-4) -> float:
    """PSI on the exact reference quantile bins ``[e_(i-1), e_i)`` (the definition, on every value)."""
    edges = np.unique(np.quantile(reference, np.arange(1, bins) / bins, method="inverted_cdf"))
    r = np.bincount(np.searchsorted(edges, reference, side="right"), minlength=len(edges) + 1) / len(
        reference
    )
    t = np.bincount(np.searchsorted(edges, target, side="right"), minlength=len(edges) + 1) / len(target)
    r, t = np.maximum(r, epsilon), np.maximum(t, epsilon)
    return float(np.sum((t - r) * np.log(t / r)))


def exact_ks(reference: np.ndarray, target: np.ndarray) -> float:
    """The two-sample KS statistic: the largest gap between the empirical CDFs, over every value."""
    xs = np.union1d(reference, target)
    r, t = np.sort(reference), np.sort(target)
    gaps = np.searchsorted(r, xs, side="right") / len(r) - np.searchsorted(t, xs, side="right") / len(t)
    return float(np.max(np.abs(gaps)))


def sketch(values: np.ndarray) -> kll_doubles_sketch:
    out = kll_doubles_sketch(200)
    out.update(np.ascontiguousarray(values, dtype=np.float64))
    return out


@pytest.mark.parametrize("seed", range(6))
def test_sketch_scores_agree_with_exact_ones(seed: int) -> None:
    rng = np.random.default_rng(seed)
    for shift_sd in (0.0, 0.1, 0.3, 0.7, 1.5, 3.0):
        reference = rng.normal(50.0, 5.0, 20_000)
        target = rng.normal(50.0 + 5.0 * shift_sd, 5.0 * rng.uniform(0.8, 1.2), 15_000)
        got_psi, want_psi = psi(sketch(reference), sketch(target)), exact_psi(reference, target)
        # far past the 0.25 flag the tail bins' few values make PSI noisy: relative agreement only
        tolerance = 0.02 + 0.1 * want_psi if want_psi <= 1 else 0.3 * want_psi
        assert abs(got_psi - want_psi) <= tolerance, (shift_sd, got_psi, want_psi)
        got_ks, want_ks = ks_distance(sketch(reference), sketch(target)), exact_ks(reference, target)
        assert abs(got_ks - want_ks) <= KS_TOLERANCE, (shift_sd, got_ks, want_ks)


def test_discrete_and_constant_columns() -> None:
    rng = np.random.default_rng(1)
    counts = rng.poisson(3.0, 10_000).astype(np.float64)
    assert psi(sketch(counts), sketch(rng.poisson(3.0, 10_000).astype(np.float64))) < 0.02
    assert abs(ks_distance(sketch(counts), sketch(counts + 1)) - exact_ks(counts, counts + 1)) <= KS_TOLERANCE
    constant = np.full(1000, 7.0)
    assert psi(sketch(constant), sketch(constant)) == 0.0
    assert ks_distance(sketch(constant), sketch(constant)) == 0.0
    assert ks_distance(sketch(constant), sketch(constant + 1)) == 1.0
    assert math.isnan(psi(kll_doubles_sketch(200), sketch(constant)))
    assert math.isnan(ks_distance(sketch(constant), kll_doubles_sketch(200)))


# ----------------------------------------------------------------------------------------- drift_table

COLUMNS = ("temp", "current", "speed", "voltage", "slope", "count")


def feature_frame(
    rng: np.random.Generator, n: int, day: int, *, offset: str = "", rescale: str = ""
) -> pd.DataFrame:
    """A feature-table-like frame: ``cutoff`` every 5 s of ``day`` and six columns of different shapes;
    ``offset`` gets +3 sd, ``rescale`` is multiplied by 1.5."""
    cutoff = T0 + day * DAY + 5000 * np.arange(n, dtype=np.int64)
    columns = {
        "temp": rng.normal(50.0, 5.0, n),
        "current": rng.gamma(4.0, 1.5, n),
        "speed": rng.uniform(0.0, 1.2, n),
        "voltage": rng.normal(48.0, 0.3, n),
        "slope": rng.standard_t(5, n),
        "count": rng.poisson(20.0, n).astype(np.float64),
    }
    if offset:
        columns[offset] = columns[offset] + 3 * float(np.std(columns[offset]))
    if rescale:
        columns[rescale] = columns[rescale] * 1.5
    return pd.DataFrame({"cutoff": cutoff, **columns})


def span_summary(rng: np.random.Generator, days: range, **faults: str) -> pa.Table:
    return merge_summaries(
        summarize_table(
            feature_frame(rng, 3000, d, **faults),
            name="features",
            start=T0 + d * DAY,
            end=T0 + (d + 1) * DAY,
            time_column="cutoff",
        )
        for d in days
    )


@pytest.mark.parametrize("seed", range(5))
def test_identical_distributions_are_not_flagged(seed: int) -> None:
    rng = np.random.default_rng(seed)
    table = drift_table(span_summary(rng, range(0, 4)), span_summary(rng, range(4, 6)))
    assert list(table.columns) == list(DRIFT_COLUMNS)
    assert sorted(table["column"]) == sorted(COLUMNS)
    assert not table["flagged"].any()
    assert table["psi"].max() < 0.05 and table["ks"].max() < 0.05 and table["null_shift"].max() == 0.0


@pytest.mark.parametrize(
    ("seed", "offset", "rescale"),
    [(0, "temp", "current"), (1, "speed", "temp"), (2, "voltage", "count"), (3, "count", "speed")],
)
def test_shifted_and_rescaled_columns_are_flagged_and_ranked_first(
    seed: int, offset: str, rescale: str
) -> None:
    rng = np.random.default_rng(seed)
    reference = span_summary(rng, range(0, 4))
    table = drift_table(reference, span_summary(rng, range(4, 6), offset=offset))
    assert table["column"].iloc[0] == offset
    assert table.set_index("column")["flagged"].to_dict() == {c: c == offset for c in COLUMNS}
    table = drift_table(reference, span_summary(rng, range(4, 6), rescale=rescale))
    assert table["column"].iloc[0] == rescale  # these columns are away from zero: a rescale moves them
    assert table.set_index("column")["flagged"].to_dict() == {c: c == rescale for c in COLUMNS}


def test_importance_weights_the_ranking_at_most_twofold() -> None:
    rng = np.random.default_rng(9)
    reference = span_summary(rng, range(0, 3))
    frame = feature_frame(rng, 3000, 5)
    frame["temp"] += 0.6 * 5.0  # a moderate drift of two columns alike
    frame["voltage"] += 0.6 * 0.3
    target = summarize_table(
        frame, name="features", start=T0 + 5 * DAY, end=T0 + 6 * DAY, time_column="cutoff"
    )
    plain = drift_table(reference, target)
    assert set(plain["column"].iloc[:2]) == {"temp", "voltage"}
    weighted = drift_table(reference, target, importance={"voltage": 90.0, "temp": 1.0, "speed": 50.0})
    assert list(weighted["column"].iloc[:2]) == ["voltage", "temp"]
    assert weighted.set_index("column").loc["current", "importance"] == 0.0
    assert (weighted["weighted"] >= weighted["drift"]).all() and (
        weighted["weighted"] <= 2 * weighted["drift"]
    ).all()
    # a huge drift of an unused column outranks a marginal drift of the top feature
    frame["current"] *= 3.0
    target = summarize_table(
        frame, name="features", start=T0 + 5 * DAY, end=T0 + 6 * DAY, time_column="cutoff"
    )
    assert drift_table(reference, target, importance={"voltage": 90.0})["column"].iloc[0] == "current"


def test_a_column_going_null_is_flagged_by_its_null_shift() -> None:
    rng = np.random.default_rng(4)
    reference = span_summary(rng, range(0, 2))
    frame = feature_frame(rng, 3000, 3)
    frame.loc[frame.index[:1000], "speed"] = np.nan
    frame["temp"] = np.nan
    target = summarize_table(
        frame, name="features", start=T0 + 3 * DAY, end=T0 + 4 * DAY, time_column="cutoff"
    )
    table = drift_table(reference, target).set_index("column")
    assert (
        table.loc["temp", "flagged"]
        and math.isnan(table.loc["temp", "psi"])
        and table.loc["temp", "null_shift"] == 1
    )
    assert table.loc["speed", "flagged"] and table.loc["speed", "psi"] < 0.25  # its values look alike
    assert table.loc["temp", "target_count"] == 0
    assert not table.drop(index=["temp", "speed"])["flagged"].any()


def test_drift_table_input_errors() -> None:
    rng = np.random.default_rng(0)
    day = summarize_table(
        feature_frame(rng, 50, 0), name="features", start=T0, end=T0 + DAY, time_column="cutoff"
    )
    with pytest.raises(DataContractError, match="several rows"):
        drift_table(pa.concat_tables([day, day]), day)
    with pytest.raises(DataContractError, match="lacks the columns"):
        drift_table(day.drop_columns(["sketch"]), day)
    with pytest.raises(ValueError, match="psi_threshold must be"):
        drift_table(day, day, psi_threshold=0.0)
    with pytest.raises(ValueError, match="importance must be finite"):
        drift_table(day, day, importance={"temp": -1.0})
    assert drift_table(day, day, table="signals").empty
