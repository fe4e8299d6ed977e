"""Metrics of scored examples and their honest uncertainty (a stage: no I/O, no Dask).

Metrics (:func:`binary_metrics`): average precision, ROC-AUC, and precision, recall and alerts per robot-day
at an alert threshold chosen for a budget of alerts (:func:`alert_threshold`). All are weighted by the
example weights (which undo negative subsampling).

Uncertainty (:func:`bootstrap_intervals`, :func:`add_intervals`): test rows of one robot on one UTC day are
not independent (neighbouring cutoffs share most of their window and their label horizon), so rows are
resampled by **robot-day**: a replicate draws as many robot-days as the test set holds, uniformly with
replacement, and every row of a drawn robot-day enters with its weight times the number of times its
robot-day was drawn. A metric's interval is the percentile interval of its
replicate values (replicates where the metric is undefined, e.g. no positive drawn, are left out; an
interval needs at least half the replicates defined, else it is None).

Scores compared on the **same replicates** give a paired interval of their difference
(:func:`bootstrap_intervals` ``differences``): "the model beats the baseline beyond the interval" means the
lower end of ``model - baseline`` is above 0.

Promotion (:func:`promotion_decision`): whether a newly trained model replaces the current one, from both
models' validation PR-AUC on the same rows (the candidate's validation rows, see
:func:`telemetry.stages.score.compare_on_validation`) and the rule ``train.promotion``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal, get_args

import numpy as np
import numpy.typing as npt
from sklearn.metrics import average_precision_score, roc_auc_score

from telemetry._types import F64, I8, I64
from telemetry.contract.envelope import DAY_MS
from telemetry.errors import ModelError

__all__ = [
    "PROMOTION_RULES",
    "BootstrapResult",
    "PromotionRule",
    "add_intervals",
    "alert_threshold",
    "average_precision",
    "average_precision_ranked",
    "binary_metrics",
    "bootstrap_intervals",
    "pr_auc",
    "promotion_decision",
    "rankable",
    "replicate_metrics",
    "robot_day_groups",
    "verdict",
]


# ------------------------------------------------------------------------------------------- metrics


def alert_threshold(scores: F64, weight: F64, robot_days: float, budget: float) -> float:
    """The lowest score threshold whose alerts (weighted rows with ``score >= threshold``) stay within
    ``budget`` alerts per robot-day over `robot_days`; above every score when even the top one exceeds it."""
    if robot_days <= 0:
        raise ModelError("the validation days hold no robot-day; cannot choose an alert threshold")
    allowed = budget * robot_days
    if len(scores) == 0:
        return 1.0
    order = np.argsort(-scores, kind="stable")
    s, w = scores[order], weight[order]
    cum = np.cumsum(w)
    # alerts at threshold s[i] include every row tied with it: take the last index of each tie group
    last_of_group = np.r_[s[1:] != s[:-1], True]
    ok = last_of_group & (cum <= allowed + 1e-9)
    if not ok.any():
        return float(np.nextafter(s[0], np.inf))
    return float(s[np.flatnonzero(ok)[-1]])


def pr_auc(y: I8, scores: F64, weight: F64) -> float | None:
    """Weighted average precision (PR-AUC) of `scores`, as :func:`binary_metrics` reports it
    (scikit-learn's ``average_precision_score`` with the example weights); None unless `y` holds both
    classes."""
    if not ((y == 1).any() and (y == 0).any()):
        return None
    return float(average_precision_score(y, scores, sample_weight=weight))


def binary_metrics(
    y: I8,
    scores: F64,
    weight: F64,
    threshold: float,
    robot_days: float,
    time_to_failure_s: F64 | None = None,
) -> dict[str, Any]:
    """Metrics with plain keys: ``pr_auc`` (average precision), ``roc_auc``, ``prevalence``, ``precision``,
    ``recall``, ``threshold``, ``alerts_per_robot_day``, ``median_lead_s``, ``n_pos``, ``n_neg``.

    All are weighted by `weight` (which undoes negative subsampling). An alert is a row with
    ``score >= threshold``; ``median_lead_s`` is the median ``time_to_failure_s`` of the caught positives.
    Undefined values (no positives, no alerts) are None.
    """
    pos, neg = y == 1, y == 0
    n_pos, n_neg = int(pos.sum()), int(neg.sum())
    alert = scores >= threshold
    w_pos, w_all = float(weight[pos].sum()), float(weight.sum())
    w_alert = float(weight[alert].sum())
    tp = float(weight[alert & pos].sum())
    both = n_pos > 0 and n_neg > 0
    lead = None
    if time_to_failure_s is not None and (alert & pos).any():
        caught = time_to_failure_s[alert & pos]
        caught = caught[np.isfinite(caught)]
        lead = float(np.median(caught)) if len(caught) else None
    return {
        "pr_auc": pr_auc(y, scores, weight),
        "roc_auc": float(roc_auc_score(y, scores, sample_weight=weight)) if both else None,
        "prevalence": w_pos / w_all if w_all > 0 else None,
        "precision": tp / w_alert if w_alert > 0 else None,
        "recall": tp / w_pos if w_pos > 0 else None,
        "threshold": float(threshold),
        "alerts_per_robot_day": w_alert / robot_days if robot_days > 0 else None,
        "median_lead_s": lead,
        "n_pos": n_pos,
        "n_neg": n_neg,
    }


def rankable(score: F64) -> F64:
    """`score` with NaN (undefined feature) replaced by a value below every finite score: ranked last."""
    finite = np.isfinite(score)
    if finite.all():
        return score
    low = float(score[finite].min()) - 1.0 if finite.any() else 0.0
    return np.where(finite, score, low)


def average_precision(y: I8, x: F64, w: F64) -> float:
    """Weighted average precision of score `x` (NaN ranks last); ties share one step, as in sklearn."""
    x = np.where(np.isnan(x), -np.inf, x)
    order = np.argsort(-x, kind="stable")
    return average_precision_ranked(x[order], y[order], w[order])


def average_precision_ranked(xs: F64, ys: I8, ws: F64) -> float:
    """Average precision of rows in descending score order (any order within ties)."""
    tp = np.cumsum(ws * ys)
    fp = np.cumsum(ws * (1 - ys))
    last = np.r_[xs[1:] != xs[:-1], True]
    tp, fp = tp[last], fp[last]
    total = tp[-1]
    if total <= 0:
        return float("nan")
    precision = tp / np.maximum(tp + fp, 1e-300)
    recall = tp / total
    return float(np.sum(np.diff(np.r_[0.0, recall]) * precision))


# ---------------------------------------------------------------------------------------- uncertainty


def robot_day_groups(robot_id: npt.NDArray[np.object_], cutoff_ms: I64) -> I64:
    """Group index (``0..groups-1``) of every row: rows of one robot and one UTC day of ``cutoff_ms`` share
    one group."""
    day = np.floor_divide(cutoff_ms, DAY_MS)
    keys = np.char.add(np.asarray(robot_id, dtype=str), np.char.add("|", day.astype(str)))
    _, index = np.unique(keys, return_inverse=True)
    return np.asarray(index, dtype=np.int64).reshape(-1)


def replicate_metrics(
    y: npt.NDArray[np.integer], score: F64, weight: F64, groups: I64, counts: F64
) -> tuple[F64, F64]:
    """``(average precision, ROC-AUC)`` of `score` under each replicate: replicate ``b`` weighs row ``i`` by
    ``weight[i] * counts[groups[i], b]`` (`counts` is ``groups x replicates``). NaN where a replicate has no
    positive weight (and, for ROC-AUC, no negative weight). Ties in `score` share one step, as in
    scikit-learn; NaN scores rank last.

    Only positives' ranks matter: for every tie group of scores holding a positive, the weight of the
    negatives scored at or above it (and strictly above it) is summed per group once; each replicate is then
    a matrix product, instead of a sort and a pass over every row per replicate.
    """
    n_groups = counts.shape[0]
    s = np.where(np.isnan(score), -np.inf, score)
    order = np.argsort(-s, kind="stable")
    s, yy, ww, gg = s[order], np.asarray(y)[order] == 1, weight[order], groups[order]
    tie = np.cumsum(np.r_[True, s[1:] != s[:-1]]) - 1 if len(s) else np.zeros(0, dtype=np.int64)
    pos_ties = np.unique(tie[yy])  # the tie groups holding a positive, best first
    k = len(pos_ties)
    if k == 0:  # no positive: no replicate has a positive weight
        return np.full(counts.shape[1], np.nan), np.full(counts.shape[1], np.nan)
    # a negative in tie group t counts "at or above" positive group j when t <= T_j, "above" when t < T_j
    neg = ~yy
    t_neg, g_neg, w_neg = tie[neg], gg[neg], ww[neg]
    ge_bin = np.searchsorted(pos_ties, t_neg, side="left")
    gt_bin = ge_bin + (ge_bin < k) * (pos_ties[np.minimum(ge_bin, k - 1)] == t_neg)
    at_or_above = np.zeros((k + 1, n_groups))
    above = np.zeros((k + 1, n_groups))
    np.add.at(at_or_above, (ge_bin, g_neg), w_neg)
    np.add.at(above, (gt_bin, g_neg), w_neg)
    positives = np.zeros((k, n_groups))
    np.add.at(positives, (np.searchsorted(pos_ties, tie[yy]), gg[yy]), ww[yy])
    neg_total = at_or_above.sum(axis=0) @ counts
    fp_ge = np.cumsum(at_or_above[:k], axis=0) @ counts
    fp_gt = np.cumsum(above[:k], axis=0) @ counts
    d_tp = positives @ counts
    tp_ge = np.cumsum(d_tp, axis=0)
    tp_total = tp_ge[-1]
    with np.errstate(invalid="ignore", divide="ignore"):
        precision = np.where(tp_ge > 0, tp_ge / np.maximum(tp_ge + fp_ge, 1e-300), 0.0)
        ap = np.where(tp_total > 0, (d_tp * precision).sum(axis=0) / tp_total, np.nan)
        ranked_below = neg_total - fp_ge + 0.5 * (fp_ge - fp_gt)
        auc = np.where(
            (tp_total > 0) & (neg_total > 0),
            (d_tp * ranked_below).sum(axis=0) / (tp_total * neg_total),
            np.nan,
        )
    return np.asarray(ap, dtype=np.float64), np.asarray(auc, dtype=np.float64)


@dataclass(frozen=True, slots=True)
class BootstrapResult:
    """Percentile intervals (``[lo, hi]`` or None) per score and metric, and of paired differences."""

    intervals: dict[str, dict[str, list[float] | None]]
    """``score name -> {"pr_auc": [lo, hi], "roc_auc": [lo, hi]}``."""
    differences: dict[str, dict[str, list[float] | None]]
    """``"<a>-<b>" -> {"pr_auc": [lo, hi], ...}``: the interval of ``metric(a) - metric(b)`` over the same
    replicates, for every requested pair."""
    resamples: int
    groups: int
    level: float


def _interval(values: F64, level: float) -> list[float] | None:
    ok = values[np.isfinite(values)]
    if len(ok) < max(1, len(values) // 2):
        return None
    tail = (1.0 - level) / 2.0
    lo, hi = np.quantile(ok, [tail, 1.0 - tail])
    return [float(lo), float(hi)]


def bootstrap_intervals(
    y: npt.NDArray[np.integer],
    scores: Mapping[str, F64],
    weight: F64,
    groups: I64,
    *,
    pairs: tuple[tuple[str, str], ...] = (),
    resamples: int = 1000,
    level: float = 0.9,
    seed: int = 0,
) -> BootstrapResult:
    """Bootstrap intervals over groups (robot-days, see :func:`robot_day_groups`) of PR-AUC (average
    precision) and ROC-AUC for each score in `scores`, and of the paired differences in `pairs`.

    Args:
        y: labels 0/1 per row.
        scores: name -> score per row (higher: more likely positive; NaN ranks last).
        weight: row weights (they undo negative subsampling).
        groups: group index per row (``0..G-1``).
        pairs: ``(a, b)`` names whose difference ``a - b`` gets an interval.
        resamples: number of bootstrap replicates.
        level: coverage of the percentile intervals (0.9: the 5th and 95th percentiles).
        seed: the replicates are a function of the seed (same inputs, same intervals).
    """
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must be in (0, 1) (got {level})")
    if resamples < 1:
        raise ValueError(f"resamples must be >= 1 (got {resamples})")
    n_groups = int(groups.max()) + 1 if len(groups) else 0
    rng = np.random.default_rng(seed)
    counts = np.zeros((n_groups, resamples))
    for b in range(resamples if n_groups else 0):
        counts[:, b] = np.bincount(rng.integers(0, n_groups, n_groups), minlength=n_groups)
    values = {}
    for name, score in scores.items():
        ap, auc = replicate_metrics(y, np.asarray(score, dtype=np.float64), weight, groups, counts)
        values[name] = {"pr_auc": ap, "roc_auc": auc}
    intervals = {name: {m: _interval(v, level) for m, v in per.items()} for name, per in values.items()}
    differences = {
        f"{a}-{b}": {m: _interval(values[a][m] - values[b][m], level) for m in ("pr_auc", "roc_auc")}
        for a, b in pairs
    }
    return BootstrapResult(intervals, differences, resamples, n_groups, level)


def add_intervals(
    metrics: dict[str, Any],
    y: Any,
    risk: Any,
    baseline: Any,
    weight: Any,
    groups: Any,
    codes: Any,
    *,
    resamples: int,
    seed: int,
) -> None:
    """Add 90 % bootstrap intervals over robot-days (`groups`, see :func:`robot_day_groups`) to `metrics` in
    place: ``test.pr_auc_interval`` / ``roc_auc_interval``, the same per mode (`codes`: the failure code of
    every row) and for the one-feature baseline, and ``comparison``: the paired intervals of the model minus
    each baseline and whether the model beats it (the lower end above 0)."""
    level = 0.9
    prevalence = np.zeros(len(y))  # a constant score: its average precision is the prevalence
    boot = bootstrap_intervals(
        y, {"model": risk, "one_feature": baseline, "prevalence": prevalence}, weight, groups,
        pairs=(("model", "one_feature"), ("model", "prevalence")),
        resamples=resamples, level=level, seed=seed,
    )  # fmt: skip
    for name in ("pr_auc", "roc_auc"):
        metrics["test"][f"{name}_interval"] = boot.intervals["model"][name]
        metrics["baselines"]["one_feature"][f"{name}_interval"] = boot.intervals["one_feature"][name]
    metrics["baselines"]["prevalence"]["pr_auc_interval"] = boot.intervals["prevalence"]["pr_auc"]
    comparison: dict[str, Any] = {"level": level, "resamples": resamples, "robot_days": boot.groups}
    for base in ("one_feature", "prevalence"):
        diff = boot.differences[f"model-{base}"]["pr_auc"]
        comparison[base] = {
            "pr_auc_difference_interval": diff,
            "beaten": bool(diff is not None and diff[0] > 0),
        }
    metrics["comparison"] = comparison
    for code, m in metrics["per_mode"].items():
        keep = (y == 0) | (codes == code)
        mode = bootstrap_intervals(
            (y[keep] == 1).astype(np.int8), {"model": risk[keep]}, weight[keep], groups[keep],
            resamples=resamples, level=level, seed=seed,
        )  # fmt: skip
        m["pr_auc_interval"] = mode.intervals["model"]["pr_auc"]
        m["roc_auc_interval"] = mode.intervals["model"]["roc_auc"]


def verdict(metrics: Mapping[str, Any]) -> str | None:
    """One plain sentence when the model does not beat the one-feature baseline or the prevalence beyond the
    90 % interval of the difference (None when it beats both)."""
    comparison = metrics.get("comparison") or {}
    lost = [
        name for name in ("prevalence", "one_feature") if not comparison.get(name, {}).get("beaten", False)
    ]
    if not lost:
        return None
    what = {"prevalence": "the prevalence (a constant score)", "one_feature": "the best single feature"}
    return (
        f"this model does not beat {' nor '.join(what[n] for n in lost)} beyond the 90 % interval of the "
        f"difference ({metrics['test']['n_pos']} test positives): do not rely on it"
    )


# ------------------------------------------------------------------------------------------ promotion

PromotionRule = Literal["not_worse", "always", "manual"]
"""``train.promotion``: when a newly trained model becomes the current one."""
PROMOTION_RULES: tuple[str, ...] = get_args(PromotionRule)


def promotion_decision(
    candidate_valid_ap: float | None,
    current_valid_ap: float | None,
    rule: str,
    *,
    current_error: str | None = None,
) -> tuple[bool, str]:
    """``(promote, reason)``: whether a candidate model replaces the current one under `rule`.

    Both PR-AUCs are measured on the same rows, the candidate's validation rows (cutoffs in
    ``[valid_start, test_start)`` of its split, purged as in training). `current_valid_ap` is None when there
    is no current model, NaN when the current model's PR-AUC is undefined on those rows; `current_error`
    says why the current model cannot score them (e.g. another feature spec). A None or NaN
    `candidate_valid_ap` is undefined.

    - ``not_worse``: promote when there is no current model, when the current model cannot score the
      candidate's features, or when ``candidate >= current`` (a tie promotes: the newer model has seen more
      recent days). A candidate with an undefined PR-AUC is not promoted over a current model.
    - ``always``: promote.
    - ``manual``: never; the reason says to run ``telemetry models promote``.

    Raises:
        ValueError: an unknown rule.
    """
    if rule not in PROMOTION_RULES:
        raise ValueError(f"promotion rule must be one of {', '.join(PROMOTION_RULES)} (got {rule!r})")
    candidate = None if candidate_valid_ap is None or math.isnan(candidate_valid_ap) else candidate_valid_ap
    no_current = current_valid_ap is None and current_error is None
    current = None if current_valid_ap is None or math.isnan(current_valid_ap) else current_valid_ap
    if current_error is not None:
        compared = "current model cannot score the new features"
    elif no_current:
        compared = "no current model"
    else:
        compared = f"validation PR-AUC {_num(candidate)} vs current model's {_num(current)} on the same rows"
    if rule == "manual":
        return (
            False,
            f"train.promotion is manual ({compared}): promote by hand with `telemetry models promote`",
        )
    if rule == "always":
        return True, f"train.promotion is always ({compared})"
    if current_error is not None or no_current:
        return True, compared
    if candidate is None:
        return False, compared
    if current is None or candidate >= current:
        return True, compared.replace(" vs ", " >= ")
    return False, compared.replace(" vs ", " < ")


def _num(value: float | None) -> str:
    return "undefined" if value is None else f"{value:.4g}"
