"""Metrics of scored examples (alert threshold, weighted metrics, fast average precision), bootstrap
intervals over robot-days and the rank metrics behind them, against scikit-learn and brute-force
references; the promotion rule as a table."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import average_precision_score, roc_auc_score

from telemetry.stages.evaluate import (
    DAY_MS,
    alert_threshold,
    average_precision,
    binary_metrics,
    bootstrap_intervals,
    pr_auc,
    promotion_decision,
    rankable,
    replicate_metrics,
    robot_day_groups,
)

# ------------------------------------------------------------------------------------------- metrics

scores_st = st.lists(
    st.tuples(st.sampled_from([0.1, 0.2, 0.3, 0.5, 0.9]), st.sampled_from([1.0, 5.0])),
    min_size=1,
    max_size=30,
)


@settings(max_examples=200, deadline=None)
@given(scores_st, st.integers(1, 5), st.sampled_from([0.5, 1.0, 2.0, 7.0]))
def test_alert_threshold_is_the_lowest_within_budget(
    rows: list[tuple[float, float]], robot_days: int, budget: float
) -> None:
    scores = np.array([s for s, _ in rows])
    weight = np.array([w for _, w in rows])
    threshold = alert_threshold(scores, weight, robot_days, budget)

    def alerts(t: float) -> float:
        return float(sum(w for s, w in rows if s >= t))

    assert alerts(threshold) <= budget * robot_days + 1e-9
    lower = [s for s in set(scores.tolist()) if s < threshold]
    for s in lower:  # any lower threshold breaks the budget
        assert alerts(s) > budget * robot_days


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.integers(0, 1), st.sampled_from([0.0, 0.5, 1.0, 2.0, np.nan]), st.sampled_from([1.0, 3.0])
        ),
        min_size=2,
        max_size=40,
    )
)
def test_fast_average_precision_matches_sklearn(rows: list[tuple[int, float, float]]) -> None:
    y = np.array([r[0] for r in rows], dtype=np.int8)
    if y.sum() == 0:
        return
    x = np.array([r[1] for r in rows])
    w = np.array([r[2] for r in rows])
    expected = average_precision_score(y, rankable(x), sample_weight=w)
    assert average_precision(y, x, w) == pytest.approx(expected, abs=1e-12)


def test_binary_metrics_by_hand() -> None:
    y = np.array([1, 0, 1, 0, 0], dtype=np.int8)
    s = np.array([0.9, 0.8, 0.3, 0.2, 0.1])
    w = np.array([1.0, 2.0, 1.0, 2.0, 2.0])
    ttf = np.array([5.0, np.nan, 7.0, np.nan, np.nan])
    m = binary_metrics(y, s, w, threshold=0.5, robot_days=2, time_to_failure_s=ttf)
    assert m["precision"] == pytest.approx(1 / 3)  # alerts: 0.9 (pos, w 1) and 0.8 (neg, w 2)
    assert m["recall"] == pytest.approx(0.5)
    assert m["alerts_per_robot_day"] == pytest.approx(1.5)
    assert m["prevalence"] == pytest.approx(2 / 8)
    assert m["median_lead_s"] == 5.0
    assert (m["n_pos"], m["n_neg"]) == (2, 3)
    none = binary_metrics(np.zeros(3, dtype=np.int8), s[:3], w[:3], 0.5, 1)
    assert none["pr_auc"] is None and none["recall"] is None


# --------------------------------------------------------------------------------------- uncertainty

rows = st.integers(2, 60)


@st.composite
def labelled_scores(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    n = draw(rows)
    y = np.array(draw(st.lists(st.integers(0, 1), min_size=n, max_size=n)), dtype=np.int8)
    # few distinct values: ties are common
    score = np.array(draw(st.lists(st.integers(0, 5), min_size=n, max_size=n)), dtype=np.float64)
    weight = np.array(draw(st.lists(st.sampled_from([0.5, 1.0, 2.0, 5.0]), min_size=n, max_size=n)))
    return y, score, weight


@settings(max_examples=300, deadline=None)
@given(labelled_scores(), st.integers(1, 4), st.lists(st.integers(0, 3), min_size=4, max_size=4))
def test_replicate_metrics_equal_scikit_learn_on_the_reweighted_rows(
    data: tuple[np.ndarray, np.ndarray, np.ndarray], n_groups: int, group_counts: list[int]
) -> None:
    y, score, weight = data
    score[:: max(1, len(score) // 3)] = np.nan  # NaN ranks last
    groups = np.arange(len(y), dtype=np.int64) % n_groups
    counts = np.array(group_counts[:n_groups], dtype=np.float64)[:, None]
    ap, auc = replicate_metrics(y, score, weight, groups, counts)
    w = weight * counts[groups, 0]
    keep = w > 0
    ranked = np.where(np.isnan(score), -1.0, score)  # below every score drawn (scikit-learn refuses inf)
    yk, sk, wk = y[keep], ranked[keep], w[keep]
    if yk.any():
        assert ap[0] == pytest.approx(average_precision_score(yk, sk, sample_weight=wk), abs=1e-9)
    else:
        assert np.isnan(ap[0])
    if yk.any() and not yk.all():
        assert auc[0] == pytest.approx(roc_auc_score(yk, sk, sample_weight=wk), abs=1e-9)
    else:
        assert np.isnan(auc[0])


def test_robot_day_groups_share_a_group_per_robot_and_utc_day() -> None:
    robots = np.array(["a", "a", "b", "a", "b"], dtype=object)
    cutoffs = np.array([0, DAY_MS - 1, 5, DAY_MS, DAY_MS + 5], dtype=np.int64)
    groups = robot_day_groups(robots, cutoffs)
    assert groups[0] == groups[1]
    assert len({groups[0], groups[2], groups[3], groups[4]}) == 4
    assert sorted(set(groups.tolist())) == [0, 1, 2, 3]


def _brute_interval(y, score, weight, groups, resamples, seed, level):  # type: ignore[no-untyped-def]
    """The bootstrap written plainly: draw groups, repeat their rows, score with scikit-learn."""
    rng = np.random.default_rng(seed)
    n = int(groups.max()) + 1
    values = []
    for _ in range(resamples):
        counts = np.bincount(rng.integers(0, n, n), minlength=n)
        w = weight * counts[groups]
        keep = w > 0
        if not y[keep].any():
            values.append(np.nan)
            continue
        values.append(average_precision_score(y[keep], score[keep], sample_weight=w[keep]))
    ok = np.array([v for v in values if np.isfinite(v)])
    tail = (1 - level) / 2
    return [float(q) for q in np.quantile(ok, [tail, 1 - tail])]


@settings(max_examples=25, deadline=None)
@given(labelled_scores(), st.integers(1, 6), st.integers(0, 10))
def test_bootstrap_intervals_equal_a_plain_bootstrap(
    data: tuple[np.ndarray, np.ndarray, np.ndarray], n_groups: int, seed: int
) -> None:
    y, score, weight = data
    y[0] = 1  # at least one positive
    groups = np.arange(len(y), dtype=np.int64) % n_groups
    result = bootstrap_intervals(y, {"m": score}, weight, groups, resamples=50, seed=seed)
    expected = _brute_interval(y, score, weight, groups, 50, seed, 0.9)
    got = result.intervals["m"]["pr_auc"]
    if got is None:  # fewer than half the replicates held a positive
        return
    assert got == pytest.approx(expected, abs=1e-9)
    assert result.groups == min(n_groups, len(y))


def test_intervals_are_deterministic_and_paired_differences_of_a_score_with_itself_are_zero() -> None:
    rng = np.random.default_rng(3)
    y = (rng.random(400) < 0.1).astype(np.int8)
    score = y * 0.5 + rng.random(400)
    groups = np.arange(400, dtype=np.int64) // 20
    w = np.ones(400)
    one = bootstrap_intervals(y, {"a": score, "b": score.copy()}, w, groups, pairs=(("a", "b"),), seed=1)
    two = bootstrap_intervals(y, {"a": score, "b": score.copy()}, w, groups, pairs=(("a", "b"),), seed=1)
    assert one.intervals == two.intervals
    assert one.differences["a-b"] == {"pr_auc": [0.0, 0.0], "roc_auc": [0.0, 0.0]}
    lo, hi = one.intervals["a"]["pr_auc"] or [np.nan, np.nan]
    assert lo < average_precision_score(y, score) < hi
    # a constant score's average precision is the prevalence of the replicate
    const = bootstrap_intervals(y, {"c": np.zeros(400)}, w, groups, seed=1).intervals["c"]
    assert const["roc_auc"] == [0.5, 0.5]
    assert const["pr_auc"] is not None and const["pr_auc"][0] <= y.mean() <= const["pr_auc"][1]


def test_a_better_score_beats_a_worse_one_and_one_group_gives_no_spread() -> None:
    rng = np.random.default_rng(4)
    y = (rng.random(2000) < 0.05).astype(np.int8)
    good = y * 2.0 + rng.random(2000)
    bad = rng.random(2000)
    groups = np.arange(2000, dtype=np.int64) // 50
    result = bootstrap_intervals(
        y, {"good": good, "bad": bad}, np.ones(2000), groups, pairs=(("good", "bad"),), resamples=200
    )
    diff = result.differences["good-bad"]["pr_auc"]
    assert diff is not None and diff[0] > 0.5
    single = bootstrap_intervals(y, {"good": good}, np.ones(2000), np.zeros(2000, dtype=np.int64))
    point = average_precision_score(y, good)
    assert single.intervals["good"]["pr_auc"] == pytest.approx([point, point])


def test_no_positive_in_most_replicates_gives_no_interval() -> None:
    y = np.zeros(100, dtype=np.int8)
    y[0] = 1
    groups = np.arange(100, dtype=np.int64)  # the one positive is drawn in ~63 % of replicates...
    got = bootstrap_intervals(y, {"m": np.arange(100.0)}, np.ones(100), groups, resamples=200)
    assert got.intervals["m"]["pr_auc"] is not None
    y2 = np.zeros(100, dtype=np.int8)
    got2 = bootstrap_intervals(y2, {"m": np.arange(100.0)}, np.ones(100), groups, resamples=20)
    assert got2.intervals["m"] == {"pr_auc": None, "roc_auc": None}  # ...and never without positives
    with pytest.raises(ValueError, match="level"):
        bootstrap_intervals(y, {"m": np.arange(100.0)}, np.ones(100), groups, level=1.0)


# ------------------------------------------------------------------------------------------ promotion

NAN = float("nan")
CANNOT = "model any-x does not match the features: 1 model features missing"


VS = "validation PR-AUC {} {} current model's {} on the same rows"
BY_HAND = ": promote by hand with `telemetry models promote`"


@pytest.mark.parametrize(
    ("candidate", "current", "error", "rule", "promoted", "reason"),
    [
        # not_worse: no current model, a better, an equal (a tie promotes), a worse candidate
        (0.4, None, None, "not_worse", True, "no current model"),
        (None, None, None, "not_worse", True, "no current model"),
        (0.5, 0.4, None, "not_worse", True, VS.format(0.5, ">=", 0.4)),
        (0.4, 0.4, None, "not_worse", True, VS.format(0.4, ">=", 0.4)),
        (0.3, 0.4, None, "not_worse", False, VS.format(0.3, "<", 0.4)),
        # the current model cannot score the candidate's features: the candidate wins
        (0.1, None, CANNOT, "not_worse", True, "current model cannot score the new features"),
        # undefined values: an undefined candidate never replaces a current model
        (None, 0.4, None, "not_worse", False, VS.format("undefined", "vs", 0.4)),
        (NAN, 0.4, None, "not_worse", False, VS.format("undefined", "vs", 0.4)),
        (0.4, NAN, None, "not_worse", True, VS.format(0.4, ">=", "undefined")),
        # always
        (0.3, 0.4, None, "always", True, f"train.promotion is always ({VS.format(0.3, 'vs', 0.4)})"),
        (0.3, None, None, "always", True, "train.promotion is always (no current model)"),
        (0.3, None, CANNOT, "always", True,
         "train.promotion is always (current model cannot score the new features)"),
        # manual: never, whatever the numbers
        (0.5, 0.4, None, "manual", False,
         f"train.promotion is manual ({VS.format(0.5, 'vs', 0.4)}){BY_HAND}"),
        (0.5, None, None, "manual", False, f"train.promotion is manual (no current model){BY_HAND}"),
    ],
)  # fmt: skip
def test_promotion_decision_table(
    candidate: float | None, current: float | None, error: str | None, rule: str, promoted: bool, reason: str
) -> None:
    assert promotion_decision(candidate, current, rule, current_error=error) == (promoted, reason)


def test_promotion_decision_refuses_an_unknown_rule() -> None:
    with pytest.raises(ValueError, match="one of not_worse, always, manual"):
        promotion_decision(0.5, 0.4, "sometimes")


def test_pr_auc_is_the_weighted_average_precision_of_binary_metrics() -> None:
    y = np.array([0, 1, 0, 1, 0, 0], dtype=np.int8)
    score = np.array([0.1, 0.8, 0.4, 0.3, 0.9, 0.2])
    weight = np.array([1.0, 1.0, 2.0, 1.0, 5.0, 1.0])
    assert pr_auc(y, score, weight) == average_precision_score(y, score, sample_weight=weight)
    assert pr_auc(y, score, weight) == binary_metrics(y, score, weight, 0.5, 1.0)["pr_auc"]
    assert pr_auc(np.zeros(3, dtype=np.int8), score[:3], weight[:3]) is None
