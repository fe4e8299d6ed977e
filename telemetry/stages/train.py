"""LightGBM failure predictors: time split, fit, honest evaluation (a stage: no I/O, no Dask).

:func:`evaluated_models` is the training loop: a :class:`FeatureSet` (feature rows of many robot-days and
where they came from) and the ``train`` section in, one :class:`TrainedModel` per target out (model text,
metadata, metrics, report). Reading the feature store and writing model folders is
:mod:`telemetry.io.registry`; boosting on a Dask cluster is :mod:`telemetry.run.train`.

Examples are rows of feature tables (:func:`telemetry.stages.features.feature_table_schema`): ``robot_id``,
``cutoff`` (epoch ms UTC), ``label``, ``failure_code``, ``time_to_failure_s``, ``weight`` and the feature
columns. An example's **day** is the UTC day of its cutoff (the day of the partition it was written to).

Time semantics of the split (see docs/training.md):

- Time is split in order: the earliest days train, the next ones validate, the latest ones test
  (:func:`time_split`; explicit boundaries may fall inside a day). Rows are never split at random.
- A label looks ahead: it depends on failures in ``(cutoff, cutoff + horizon]``. Training rows whose label
  window reaches the validation span (``cutoff + horizon >= valid_start``) are **purged**, and so are
  validation rows whose label window reaches the test span, so no label of a fitted or tuned row
  uses a failure of a later split. Features look back only (``[cutoff - W, cutoff)``), so test features may
  use validation-period samples; that is what deployment sees.

Targets: ``any`` (label 1 for every failure) or one failure code (label 1 for failures of that code; the
positives of other codes are dropped for that model, as they are neither normal operation nor the
target).

Scores: the model is fitted with positives up-weighted by ``w+`` (``train.pos_weight`` or the balanced
ratio); scores are mapped back to probabilities by subtracting ``log(w+)`` from the raw log-odds (the
standard prior correction for weighted training), so calibration plots and thresholds mean what they say.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import lightgbm as lgb
import numpy as np
import numpy.typing as npt
import pandas as pd
import pyarrow as pa
import yaml

from telemetry._types import F64, I8, Bools
from telemetry._version import __version__
from telemetry.config import AlertsConfig, TelemetryConfig, TrainConfig, config_to_dict
from telemetry.contract.envelope import DAY_MS
from telemetry.contract.layout import DayKey
from telemetry.errors import ModelError
from telemetry.stages.evaluate import (
    add_intervals,
    alert_threshold,
    average_precision,
    average_precision_ranked,
    binary_metrics,
    rankable,
    robot_day_groups,
)
from telemetry.stages.incidents import event_metrics, failures_from_labels, incident_threshold, incidents
from telemetry.stages.labels import EXAMPLE_COLUMNS
from telemetry.stages.report import IncidentTimeline, ReportData, render_report

__all__ = [
    "ANY",
    "MODES",
    "BoosterFit",
    "FeatureColumn",
    "FeatureSet",
    "FittedModel",
    "PartitionRef",
    "RoundsChoice",
    "TimeSplit",
    "TrainedModel",
    "best_single_feature",
    "choose_rounds",
    "curve_value",
    "evaluated_models",
    "expand_targets",
    "feature_columns",
    "feature_matrix",
    "fit_model",
    "lightgbm_params",
    "model_id_for",
    "nearest_positive_rows",
    "predict_risk",
    "sampled_negatives",
    "smoothed",
    "target_labels",
    "time_folds",
    "time_split",
    "top_contributions",
]

ANY = "any"
"""The target made of every failure, whatever its code."""

_POS_WEIGHT_CAP = 100.0


# -------------------------------------------------------------------------------------- feature sets


@dataclass(frozen=True, slots=True)
class PartitionRef:
    """One feature partition that was read."""

    day: DayKey
    key: str
    sha256: str
    lineage_fingerprint: str
    features_hash: str

    def to_dict(self) -> dict[str, str]:
        """JSON form (model metadata)."""
        return {"key": self.key, "sha256": self.sha256, "lineage": self.lineage_fingerprint}


@dataclass(slots=True)
class FeatureSet:
    """Feature rows of many robot-days (one DataFrame) and where they came from
    (:func:`telemetry.io.registry.read_feature_set` reads one from the feature store)."""

    url: str
    frame: pd.DataFrame
    schema: pa.Schema
    partitions: list[PartitionRef]

    @property
    def partition_dates(self) -> list[dt.date]:
        """The date of every partition read (one per robot-day)."""
        return [p.day.date for p in self.partitions]

    @property
    def dates(self) -> list[dt.date]:
        """Dates with at least one partition, sorted."""
        return sorted({p.day.date for p in self.partitions})


# ------------------------------------------------------------------------------------------ features


@dataclass(frozen=True, slots=True)
class FeatureColumn:
    """One model input: a feature-table column and how it is encoded.

    ``kind`` is ``numeric`` (float64 and int64 columns, used as float64) or ``categorical`` (string
    columns; value ``levels[i]`` is encoded as ``i``, unseen values and nulls as missing).
    """

    name: str
    arrow_type: str
    kind: Literal["numeric", "categorical"]
    levels: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """JSON form (model metadata)."""
        return {
            "name": self.name,
            "arrow_type": self.arrow_type,
            "kind": self.kind,
            "levels": list(self.levels),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> FeatureColumn:
        """Inverse of :meth:`to_dict`."""
        return cls(str(data["name"]), str(data["arrow_type"]), data["kind"], tuple(data.get("levels", ())))


def feature_columns(schema: pa.Schema, frame: pd.DataFrame | None = None) -> list[FeatureColumn]:
    """The model inputs of a feature table: every column that is not an example column, in table order.

    String columns are categorical; their levels are the sorted distinct non-null values of `frame` (the
    training rows), or none when `frame` is None.
    """
    columns = []
    for f in schema:
        if f.name in EXAMPLE_COLUMNS or f.name == "date":
            continue
        if pa.types.is_string(f.type) or pa.types.is_large_string(f.type) or pa.types.is_dictionary(f.type):
            levels: tuple[str, ...] = ()
            if frame is not None:
                levels = tuple(sorted(str(v) for v in frame[f.name].dropna().unique()))
            columns.append(FeatureColumn(f.name, "string", "categorical", levels))
        elif pa.types.is_integer(f.type) or pa.types.is_floating(f.type):
            columns.append(FeatureColumn(f.name, str(f.type), "numeric"))
        else:
            raise ModelError(f"feature column {f.name!r} has type {f.type}; expected numbers or strings")
    return columns


def feature_matrix(frame: pd.DataFrame, columns: Sequence[FeatureColumn]) -> F64:
    """The ``(rows, columns)`` float64 matrix of `frame` (NaN for nulls and unseen categorical values)."""
    out = np.empty((len(frame), len(columns)), dtype=np.float64)
    for j, col in enumerate(columns):
        if col.name not in frame.columns:
            raise ModelError(f"feature column {col.name!r} is missing from the examples")
        values = frame[col.name]
        if col.kind == "categorical":
            index = {level: float(i) for i, level in enumerate(col.levels)}
            out[:, j] = values.map(index).to_numpy(dtype=np.float64, na_value=np.nan)
        else:
            out[:, j] = pd.to_numeric(values, errors="raise").to_numpy(dtype=np.float64, na_value=np.nan)
    return out


# --------------------------------------------------------------------------------------------- split


def _ms(when: dt.datetime) -> int:
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return int(when.timestamp() * 1000)


def _iso(ms: int) -> str:
    return dt.datetime.fromtimestamp(ms / 1000, dt.UTC).isoformat().replace("+00:00", "Z")


@dataclass(frozen=True, slots=True)
class TimeSplit:
    """Two instants (epoch ms UTC) cutting time into train ``[.., valid_start)``, validation
    ``[valid_start, test_start)`` and test ``[test_start, ..)``, by cutoff time."""

    valid_start_ms: int
    test_start_ms: int

    def __post_init__(self) -> None:
        if not self.valid_start_ms < self.test_start_ms:
            raise ModelError(
                f"the validation span must start before the test span (got {_iso(self.valid_start_ms)} and "
                f"{_iso(self.test_start_ms)})"
            )

    def spans(self) -> dict[str, str]:
        """The two boundaries as ISO instants (metadata)."""
        return {"valid_start": _iso(self.valid_start_ms), "test_start": _iso(self.test_start_ms)}

    def robot_days(self, dates: Sequence[dt.date]) -> dict[str, float]:
        """Exposure of each split in robot-days: every partition (one robot, one UTC day in `dates`, repeats
        allowed) contributes the fraction of its day that falls in the split."""
        out = {"train": 0.0, "valid": 0.0, "test": 0.0}
        for date in dates:
            lo = _ms(dt.datetime(date.year, date.month, date.day))
            hi = lo + DAY_MS
            cuts = {"train": (lo, min(hi, self.valid_start_ms)),
                    "valid": (max(lo, self.valid_start_ms), min(hi, self.test_start_ms)),
                    "test": (max(lo, self.test_start_ms), hi)}  # fmt: skip
            for name, (a, b) in cuts.items():
                out[name] += max(0, b - a) / DAY_MS
        return out


def time_split(
    days: Sequence[dt.date],
    valid_fraction: float,
    test_fraction: float,
    *,
    valid_start: dt.date | dt.datetime | None = None,
    test_start: dt.date | dt.datetime | None = None,
) -> TimeSplit:
    """Split time by the `days` with data: the latest ``ceil(test_fraction * n)`` days test, the
    ``ceil(valid_fraction * n)`` before them validate, the earlier days train (at least one day each).

    ``valid_start`` / ``test_start`` override the fractions: a date means 00:00 UTC of that day, a datetime
    that instant (naive: UTC), so a split may fall inside a day.
    """

    def instant(value: dt.date | dt.datetime) -> int:
        if isinstance(value, dt.datetime):
            return _ms(value)
        return _ms(dt.datetime(value.year, value.month, value.day))

    ordered = sorted(set(days))
    n = len(ordered)
    if valid_start is not None and test_start is not None:
        return TimeSplit(instant(valid_start), instant(test_start))
    if n < 3:
        raise ModelError(
            f"training needs at least 3 days of features (train, validation, test); got {n}. "
            "Give --valid-start and --test-start times to split inside days"
        )
    n_test = max(1, math.ceil(test_fraction * n))
    n_valid = max(1, math.ceil(valid_fraction * n))
    while n - n_valid - n_test < 1:  # keep a training day: shrink the larger
        if n_valid >= n_test:
            n_valid -= 1
        else:
            n_test -= 1
    v = instant(valid_start) if valid_start is not None else instant(ordered[n - n_test - n_valid])
    t = instant(test_start) if test_start is not None else instant(ordered[n - n_test])
    return TimeSplit(v, t)


def split_masks(cutoffs: npt.NDArray[np.int64], split: TimeSplit, horizon_ms: int) -> dict[str, Bools]:
    """Row masks ``train``/``valid``/``test`` for `cutoffs`, with the purge described in the module
    docstring (``purged_train``/``purged_valid``: rows dropped because their label window
    ``(cutoff, cutoff + horizon]`` reaches the next split)."""
    v, t = split.valid_start_ms, split.test_start_ms
    train = cutoffs < v
    valid = (cutoffs >= v) & (cutoffs < t)
    train_ok = cutoffs + horizon_ms < v
    valid_ok = cutoffs + horizon_ms < t
    return {
        "train": train & train_ok,
        "valid": valid & valid_ok,
        "test": cutoffs >= t,
        "purged_train": train & ~train_ok,
        "purged_valid": valid & ~valid_ok,
    }


def target_labels(frame: pd.DataFrame, target: str) -> tuple[I8, Bools]:
    """``(y, keep)`` for `target`: ``any`` takes every label; a failure code takes label 1 only for that
    code and drops (``keep=False``) the positives of other codes."""
    label = frame["label"].to_numpy(dtype=np.int8)
    if target == ANY:
        return label, np.ones(len(frame), dtype=bool)
    code = frame["failure_code"].to_numpy(dtype=object)
    is_target = (label == 1) & (code == target)
    keep = (label == 0) | is_target
    return is_target.astype(np.int8), keep


def nearest_positive_rows(frame: pd.DataFrame) -> Bools:
    """Rows a fit keeps with ``train.positive_rows: nearest``: every row labelled 0 and, of the rows labelled
    1 that name one failure (same ``robot_id`` and ``cutoff + time_to_failure_s``, to the millisecond), the
    one with the smallest ``time_to_failure_s`` (the failure's last cutoff before it; the earliest row on a
    tie). Grid-mode labels mark every cutoff whose horizon holds the failure, most of them before any
    precursor; the nearest alone is what event mode trains on: a model of the imminent failure."""
    label = frame["label"].to_numpy(dtype=np.int8)
    keep: Bools = np.asarray(label == 0, dtype=bool)
    pos = np.flatnonzero(label == 1)
    if len(pos) == 0:
        return keep
    ttf_ms = np.round(frame["time_to_failure_s"].to_numpy(dtype=np.float64)[pos] * 1000).astype(np.int64)
    rows = pd.DataFrame(
        {
            "robot": frame["robot_id"].to_numpy(dtype=object)[pos],
            "failure": frame["cutoff"].to_numpy(dtype=np.int64)[pos] + ttf_ms,
            "ttf": ttf_ms,
            "row": pos,
        }
    )
    nearest = rows.sort_values(["robot", "failure", "ttf", "row"]).drop_duplicates(["robot", "failure"])
    keep[nearest["row"].to_numpy(dtype=np.int64)] = True
    return keep


MODES = "modes"
"""In ``train.targets``: one model per failure code with enough positives (:func:`expand_targets`)."""


def expand_targets(
    frame: pd.DataFrame, targets: Sequence[str], masks: Mapping[str, Bools], min_positives: int
) -> tuple[list[str], dict[str, str]]:
    """``(targets to train, {skipped target: why})``: :data:`MODES` becomes every failure code of the
    positives, in sorted order, each kept when the training rows hold at least `min_positives` of its
    positives and the validation rows at least one. Targets named explicitly are always kept (too few
    positives there is an error the fit reports)."""
    label = frame["label"].to_numpy(dtype=np.int8)
    code = frame["failure_code"].to_numpy(dtype=object)
    codes = sorted({str(c) for c in code[label == 1] if c is not None})
    explicit = [t for t in targets if t != MODES]
    wanted = [*explicit, *(c for c in codes if MODES in targets and c not in explicit)]
    kept, skipped = [], {}
    for target in wanted:
        if target not in explicit:
            is_target = (label == 1) & (code == target)
            n_train, n_valid = int(is_target[masks["train"]].sum()), int(is_target[masks["valid"]].sum())
            if n_train < min_positives or n_valid < 1:
                skipped[target] = (
                    f"{n_train} training and {n_valid} validation positives; needs at least {min_positives} "
                    "and 1 (train.min_positives)"
                )
                continue
        kept.append(target)
    return kept, skipped


def sampled_negatives(y: I8, weight: F64, ratio: float | None, seed: int) -> tuple[Bools, F64]:
    """``(keep, weight)`` of the training rows: every positive, and at most ``ratio`` negatives per positive
    drawn uniformly (seeded) with their weights scaled by ``available / kept`` so that the negatives weigh
    in total what they weighed before. All rows when `ratio` is None or there are few enough negatives.

    Hundreds of thousands of negatives against a hundred positives make every boosting round slow and add
    little: the positives bound what a model can learn.
    """
    keep = np.ones(len(y), dtype=bool)
    negatives = np.flatnonzero(y == 0)
    n_pos = int((y == 1).sum())
    if ratio is None or n_pos == 0 or len(negatives) <= ratio * n_pos:
        return keep, weight
    n_keep = max(1, int(ratio * n_pos))
    chosen = np.random.default_rng(seed).choice(negatives, size=n_keep, replace=False)
    keep[negatives] = False
    keep[chosen] = True
    scaled = weight.copy()
    scaled[chosen] *= float(weight[negatives].sum() / weight[chosen].sum())
    return keep, scaled


# ----------------------------------------------------------------------------------------------- fit


def lightgbm_params(train: TrainConfig) -> dict[str, Any]:
    """LightGBM parameters of `train` (deterministic: fixed seed and threads, ``deterministic=True``)."""
    return {
        "objective": "binary",
        "learning_rate": train.learning_rate,
        "num_leaves": train.num_leaves,
        "min_data_in_leaf": train.min_child_samples,
        "feature_fraction": train.feature_fraction,
        "seed": train.seed,
        "deterministic": True,
        "force_col_wise": True,
        "num_threads": train.threads,
        "verbosity": -1,
        "metric": train.early_stopping_metric,
    }


@dataclass(slots=True)
class FittedModel:
    """A fitted booster and what is needed to apply it."""

    booster: lgb.Booster
    columns: list[FeatureColumn]
    pos_weight: float
    """Positives were up-weighted by this factor; ``predict_risk`` undoes it."""
    best_iteration: int
    params: dict[str, Any] = field(default_factory=dict)
    valid_pr_auc: float = float("nan")
    """Validation average precision at ``best_iteration``."""
    search: list[dict[str, Any]] = field(default_factory=list)
    """With ``train.search``: every candidate tried (parameters, trees, smoothed curve score)."""
    rounds: RoundsChoice | None = None
    """How the number of rounds was chosen (None when chosen elsewhere, e.g. distributed training)."""

    @property
    def logit_offset(self) -> float:
        """Subtracted from raw log-odds to give probabilities: ``log(pos_weight)``."""
        return math.log(self.pos_weight)

    def model_text(self) -> str:
        """The LightGBM text model (trees up to the best iteration)."""
        return str(self.booster.model_to_string(num_iteration=self.best_iteration))


def require_both_classes(y_train: I8, y_valid: I8) -> None:
    """Raise ModelError unless the training and the validation rows each hold positives and negatives."""
    for name, y in (("training", y_train), ("validation", y_valid)):
        if not (y == 1).any() or not (y == 0).any():
            raise ModelError(
                f"the {name} days have {int((y == 1).sum())} positives and {int((y == 0).sum())} negatives "
                "for this target; both are needed (widen the date range, or change train.valid_fraction)"
            )


def positive_weight(y: I8, weight: F64, configured: float | None) -> float:
    """``configured``, or the balanced ratio ``sum(w | y=0) / sum(w | y=1)`` capped at 100 (>= 1)."""
    if configured is not None:
        return float(configured)
    pos = float(weight[y == 1].sum())
    neg = float(weight[y == 0].sum())
    if pos <= 0:
        return 1.0
    return float(min(_POS_WEIGHT_CAP, max(1.0, neg / pos)))


def _lgb_names(n: int) -> list[str]:
    # LightGBM rejects JSON characters (":" in level features); positions name the model's inputs
    return [f"f{i:04d}" for i in range(n)]


def time_folds(cutoffs: npt.NDArray[np.int64], horizon_ms: int, n_folds: int) -> list[tuple[Bools, Bools]]:
    """Expanding-window folds over the training span, purged like the split: ``(fit, evaluate)`` row masks.

    The span ``[first cutoff, last cutoff]`` is cut into ``n_folds + 1`` blocks of equal time
    ``[b_k, b_{k+1})`` (the last one closed). Fold ``k`` (``1..n_folds``) evaluates the rows of block ``k``
    and fits the rows whose label window ends before it: ``cutoff + horizon < b_k``. Folds are in time
    order; a fold may hold no row (the caller skips folds without both classes).
    """
    if n_folds < 1 or len(cutoffs) == 0:
        return []
    lo, hi = int(cutoffs.min()), int(cutoffs.max())
    edges = [lo + (hi - lo) * k // (n_folds + 1) for k in range(n_folds + 2)]
    folds = []
    for k in range(1, n_folds + 1):
        start, end = edges[k], edges[k + 1]
        evaluate = (cutoffs >= start) & ((cutoffs < end) | ((k == n_folds) & (cutoffs <= end)))
        folds.append((cutoffs + horizon_ms < start, evaluate))
    return folds


def smoothed(curve: F64, half_width: int) -> F64:
    """Centred moving average of `curve` over ``2 * half_width + 1`` rounds (fewer at the ends)."""
    if half_width <= 0 or len(curve) == 0:
        return curve
    sums = np.r_[0.0, np.cumsum(curve)]
    i = np.arange(len(curve))
    lo, hi = np.maximum(0, i - half_width), np.minimum(len(curve), i + half_width + 1)
    return np.asarray((sums[hi] - sums[lo]) / (hi - lo), dtype=np.float64)


@dataclass(frozen=True, slots=True)
class RoundsChoice:
    """The number of boosting rounds chosen from the folds' validation curves."""

    rounds: int
    score: float
    """The smoothed mean curve at ``rounds`` (higher is better)."""
    folds: int
    """Curves averaged (the training-span folds with both classes, plus the validation span)."""
    curve: list[float]
    """The smoothed mean curve, one value per round."""


def choose_rounds(curves: Sequence[F64], train: TrainConfig) -> RoundsChoice:
    """Rounds maximising the mean of the folds' curves, smoothed over ``train.rounds_smoothing`` rounds on
    each side, and at least ``train.min_rounds`` (ties: the fewest rounds).

    A curve that stopped early (no improvement for ``train.early_stopping_rounds``) is extended with its last
    value. One validation span with a handful of positives gives a steppy curve whose maximum is often at
    1-2 trees; the mean over time-ordered folds, smoothed, is steadier.
    """
    if not curves:
        raise ModelError("no validation curve to choose the number of rounds from")
    length = max(len(c) for c in curves)
    padded = np.vstack([np.r_[c, np.full(length - len(c), c[-1])] for c in curves])
    mean = smoothed(padded.mean(axis=0), train.rounds_smoothing)
    best = int(np.argmax(mean))
    rounds = min(max(best + 1, train.min_rounds), train.max_rounds)
    return RoundsChoice(rounds, float(mean[min(rounds, length) - 1]), len(curves), [float(v) for v in mean])


def fit_model(
    x_train: F64,
    y_train: I8,
    w_train: F64,
    x_valid: F64,
    y_valid: I8,
    w_valid: F64,
    columns: Sequence[FeatureColumn],
    train: TrainConfig,
    *,
    cutoffs_train: npt.NDArray[np.int64] | None = None,
    horizon_ms: int = 0,
) -> FittedModel:
    """Fit a LightGBM binary classifier on the training rows, with the number of rounds (and, with
    ``train.search``, the candidate) chosen on validation curves (:func:`choose_rounds`): the validation
    rows, and ``train.cv_folds`` expanding-window folds over the training span (:func:`time_folds`, needs
    `cutoffs_train`; rows purged by `horizon_ms`). The metric per round is ``train.early_stopping_metric``.

    Raises:
        ModelError: no positive (or no negative) training or validation row.
    """
    require_both_classes(y_train, y_valid)
    pos_weight = positive_weight(y_train, w_train, train.pos_weight)
    folds = []
    if cutoffs_train is not None:
        for fit_mask, eval_mask in time_folds(cutoffs_train, horizon_ms, train.cv_folds):
            y_fit, y_eval = y_train[fit_mask], y_train[eval_mask]
            if (y_fit == 1).any() and (y_fit == 0).any() and (y_eval == 1).any() and (y_eval == 0).any():
                folds.append((fit_mask, eval_mask))
    candidates = [lightgbm_params(train)]
    if train.search:
        candidates = [
            {**candidates[0], "num_leaves": leaves, "min_data_in_leaf": child}
            for leaves in SEARCH_NUM_LEAVES
            for child in SEARCH_MIN_CHILD_SAMPLES
        ]
    tried = []
    for params in candidates:
        curves = []
        for fit_mask, eval_mask in folds:
            _, curve = _fit_curve(
                x_train[fit_mask], y_train[fit_mask], w_train[fit_mask],
                x_train[eval_mask], y_train[eval_mask], w_train[eval_mask],
                columns, train, params, pos_weight,
            )  # fmt: skip
            curves.append(curve)
        booster, valid_curve = _fit_curve(
            x_train, y_train, w_train, x_valid, y_valid, w_valid, columns, train, params, pos_weight
        )
        tried.append((params, booster, valid_curve, choose_rounds([*curves, valid_curve], train)))
    best = max(range(len(tried)), key=lambda i: (tried[i][3].score, -i))  # ties: the first candidate
    params, booster, valid_curve, choice = tried[best]
    if booster.current_iteration() < choice.rounds:  # the validation fit stopped before the chosen rounds
        booster = _train_booster(x_train, y_train, w_train, columns, params, pos_weight, choice.rounds)
    rounds = max(1, min(choice.rounds, booster.current_iteration()))  # fewer when no split helps any more
    raw = np.asarray(booster.predict(x_valid, raw_score=True, num_iteration=rounds), dtype=np.float64)
    fitted = FittedModel(booster, list(columns), pos_weight, rounds, params)
    fitted.valid_pr_auc = average_precision(y_valid, raw, w_valid)
    fitted.rounds = choice
    fitted.search = [
        {"num_leaves": p["num_leaves"], "min_child_samples": p["min_data_in_leaf"],
         "trees": c.rounds, "curve_score": c.score}
        for p, _, _, c in tried
    ] if train.search else []  # fmt: skip
    return fitted


SEARCH_NUM_LEAVES = (7, 15, 31)
SEARCH_MIN_CHILD_SAMPLES = (5, 20)


def _train_booster(
    x: F64,
    y: I8,
    w: F64,
    columns: Sequence[FeatureColumn],
    params: dict[str, Any],
    pos_weight: float,
    rounds: int,
) -> lgb.Booster:
    return lgb.train(params, _dataset(x, y, w, columns, pos_weight), num_boost_round=rounds)


def _dataset(
    x: F64, y: I8, w: F64, columns: Sequence[FeatureColumn], pos_weight: float, reference: Any = None
) -> lgb.Dataset:
    categorical = [i for i, c in enumerate(columns) if c.kind == "categorical"]
    return lgb.Dataset(
        x, y, weight=np.where(y == 1, w * pos_weight, w), feature_name=_lgb_names(len(columns)),
        categorical_feature=categorical, reference=reference,
        params={"verbosity": -1, "max_bin": 255, "deterministic": True}, free_raw_data=True,
    )  # fmt: skip


def curve_value(metric: str, y: I8, raw: F64, w: F64, pos_weight: float) -> float:
    """The validation metric of raw scores, higher is better: average precision, or minus the weighted
    log-loss (positives weighted by `pos_weight`, as in training)."""
    if metric == "average_precision":
        return average_precision(y, raw, w)
    fit_w = np.where(y == 1, w * pos_weight, w)
    z = np.where(y == 1, -raw, raw)  # log(1 + e^-z) for positives, log(1 + e^z) for negatives
    return -float(np.sum(fit_w * np.logaddexp(0.0, z)) / np.sum(fit_w))


def _fit_curve(
    x_fit: F64,
    y_fit: I8,
    w_fit: F64,
    x_eval: F64,
    y_eval: I8,
    w_eval: F64,
    columns: Sequence[FeatureColumn],
    train: TrainConfig,
    params: dict[str, Any],
    pos_weight: float,
) -> tuple[lgb.Booster, F64]:
    """Boost on the fit rows and record the evaluation metric (:func:`curve_value`) after every round; stop
    after ``train.early_stopping_rounds`` rounds without a better value (or at ``train.max_rounds``).

    The evaluation rows are a LightGBM validation set: LightGBM keeps their scores up to date tree by tree,
    so a round costs one tree's prediction, not the whole model's.
    """
    fit_set = _dataset(x_fit, y_fit, w_fit, columns, pos_weight)
    eval_set = lgb.Dataset(
        x_eval, y_eval, weight=w_eval, reference=fit_set,
        params={"verbosity": -1, "max_bin": 255, "deterministic": True},
    )  # fmt: skip
    metric = train.early_stopping_metric

    def evaluate(preds: F64, _data: lgb.Dataset) -> tuple[str, float, bool]:
        p = np.clip(preds, 1e-15, 1 - 1e-15)  # the binary objective hands over probabilities
        return "curve", curve_value(metric, y_eval, np.log(p / (1 - p)), w_eval, pos_weight), True

    record: dict[str, Any] = {}
    booster = lgb.train(
        {**params, "metric": "None"},
        fit_set,
        num_boost_round=train.max_rounds,
        valid_sets=[eval_set],
        valid_names=["eval"],
        feval=evaluate,
        callbacks=[
            lgb.record_evaluation(record),
            lgb.early_stopping(train.early_stopping_rounds, verbose=False, min_delta=1e-12),
        ],
    )
    curve = list(record.get("eval", {}).get("curve", []))
    if not curve:  # no round at all (no split improves the training loss)
        curve = [curve_value(metric, y_eval, np.zeros(len(y_eval)), w_eval, pos_weight)]
    return booster, np.asarray(curve[: booster.current_iteration() or 1], dtype=np.float64)


def predict_risk(booster: lgb.Booster, x: F64, logit_offset: float, num_iteration: int | None = None) -> F64:
    """Failure probabilities: ``sigmoid(raw log-odds - logit_offset)``."""
    if len(x) == 0:
        return np.empty(0, dtype=np.float64)
    raw = np.asarray(booster.predict(x, raw_score=True, num_iteration=num_iteration), dtype=np.float64)
    return 1.0 / (1.0 + np.exp(-(raw - logit_offset)))


def top_contributions(
    booster: lgb.Booster, x: F64, columns: Sequence[FeatureColumn], k: int = 5
) -> list[list[tuple[str, float]]]:
    """Per row, the `k` features with the largest absolute contribution to the raw score (LightGBM
    ``pred_contrib``: SHAP values in log-odds), largest first."""
    if len(x) == 0:
        return []
    contrib = np.asarray(booster.predict(x, pred_contrib=True), dtype=np.float64)[:, : len(columns)]
    order = np.argsort(-np.abs(contrib), axis=1, kind="stable")[:, :k]
    return [[(columns[j].name, float(contrib[i, j])) for j in order[i]] for i in range(len(x))]


# ------------------------------------------------------------------------------------------ evaluate


def best_single_feature(
    x_valid: F64, y_valid: I8, w_valid: F64, columns: Sequence[FeatureColumn]
) -> tuple[str, int, float]:
    """The one-feature baseline: ``(feature, direction, validation AP)`` of the numeric feature (taken as
    a score either way round, ``direction`` +1 or -1) with the highest validation average precision."""
    best: tuple[str, int, float] = ("", 1, -1.0)
    for j, col in enumerate(columns):
        if col.kind != "numeric":
            continue
        x = x_valid[:, j]
        missing = np.flatnonzero(np.isnan(x))
        present = np.flatnonzero(~np.isnan(x))
        ascending = present[np.argsort(x[present], kind="stable")]  # one sort serves both directions
        for direction, ranked in ((1, ascending[::-1]), (-1, ascending)):
            order = np.r_[ranked, missing]  # undefined values rank last either way
            xs = np.r_[direction * x[ranked], np.full(len(missing), -np.inf)]
            ap = average_precision_ranked(xs, y_valid[order], w_valid[order])
            if ap > best[2]:
                best = (col.name, direction, ap)
    if not best[0]:
        raise ModelError("no numeric feature to build the one-feature baseline from")
    return best


def importance_by_gain(
    booster: lgb.Booster, columns: Sequence[FeatureColumn], num_iteration: int
) -> dict[str, float]:
    """Total split gain per feature (every feature, zero when never used), largest first."""
    gain = booster.feature_importance(importance_type="gain", iteration=num_iteration)
    pairs = sorted(zip((c.name for c in columns), (float(g) for g in gain), strict=True), key=lambda p: -p[1])
    return dict(pairs)


def describe_split(frame: pd.DataFrame, masks: Mapping[str, Bools]) -> dict[str, Any]:
    """Row counts per split (metadata)."""
    label = frame["label"].to_numpy()
    return {
        name: {"rows": int(m.sum()), "positives": int((label[m] == 1).sum())} for name, m in masks.items()
    }


def reference_config(config: TelemetryConfig) -> dict[str, Any]:
    """The configuration sections a model's features depend on (to recompute them for scoring)."""
    full = config_to_dict(config)
    return {k: full[k] for k in ("signals", "align", "labels", "features")}


# -------------------------------------------------------------------------------------- the loop


BoosterFit = Callable[[F64, I8, F64, Sequence[FeatureColumn], TrainConfig, float], lgb.Booster]
"""Boosting done elsewhere, e.g. on a Dask cluster (:func:`telemetry.run.train.fit_distributed`): called
with the training rows ``(x, y, weight, columns, train, pos_weight)``, it returns a booster of up to
``train.max_rounds`` trees; the rounds are then chosen on the validation rows."""


@dataclass(slots=True)
class TrainedModel:
    """A fitted model with everything written to its folder."""

    model_id: str
    target: str
    model_text: str
    metadata: dict[str, Any]
    metrics: dict[str, Any]
    report_html: str
    config_yaml: str
    seconds: dict[str, float] = field(default_factory=dict)


def model_id_for(
    target: str,
    features: FeatureSet,
    train: TrainConfig,
    alerts: AlertsConfig,
    *,
    valid_start: dt.date | dt.datetime | None = None,
    test_start: dt.date | dt.datetime | None = None,
) -> str:
    """The id :func:`evaluated_models` gives the model of `target` on `features` (a hash of its inputs),
    known before any fit: a caller can skip a model that is already stored."""
    split = time_split(
        features.dates,
        train.valid_fraction,
        train.test_fraction,
        valid_start=valid_start,
        test_start=test_start,
    )
    return _model_id(target, features, train, split, alerts)


def _model_id(
    target: str, features: FeatureSet, train: TrainConfig, split: TimeSplit, alerts: AlertsConfig
) -> str:
    # the incident rule joins the hash only when it sets the threshold (ids of other models are unchanged)
    incident_rule = []
    if train.incident_budget is not None:
        incident_rule = [[train.incident_budget, alerts.hysteresis, alerts.quiet_s]]
    text = json.dumps(
        [
            target,
            [p.to_dict() for p in features.partitions],
            lightgbm_params(train),
            [train.max_rounds, train.early_stopping_rounds, train.pos_weight],
            [train.cv_folds, train.min_rounds, train.rounds_smoothing],
            train.negatives_per_positive,
            train.search,
            train.early_stopping_metric,
            [train.alert_budget],
            split.spans(),
            __version__,
            *incident_rule,
            *([train.positive_rows] if train.positive_rows != "all" else []),
        ],
        sort_keys=True,
        default=str,
    )
    return f"{target.lower().replace('_', '-')}-{hashlib.sha256(text.encode()).hexdigest()[:12]}"


def _validation_curve(booster: lgb.Booster, x: F64, y: I8, w: F64, pos_weight: float, metric: str) -> F64:
    """The validation metric after every tree of `booster` (:func:`curve_value`), to choose the rounds after
    the fact (a :data:`BoosterFit` has no early stopping)."""
    raw = np.zeros(len(x))
    curve = []
    for i in range(int(booster.current_iteration())):
        raw += np.asarray(booster.predict(x, raw_score=True, start_iteration=i, num_iteration=1))
        curve.append(curve_value(metric, y, raw, w, pos_weight))
    return np.asarray(curve, dtype=np.float64)


def _rounds_metadata(fitted: FittedModel, train: TrainConfig) -> dict[str, Any] | None:
    if fitted.rounds is None:
        return None
    return {
        "chosen": fitted.rounds.rounds,
        "curves": fitted.rounds.folds,
        "metric": train.early_stopping_metric,
        "smoothed_score": fitted.rounds.score,
        "min_rounds": train.min_rounds,
    }


def cutoff_scores(frame: pd.DataFrame, risk: F64) -> pd.DataFrame:
    """``robot_id``, ``cutoff``, ``risk`` of the rows of `frame` (one row per robot and cutoff: the highest
    risk where an event-mode positive shares its grid cutoff with another row), the input of
    :func:`telemetry.stages.incidents.incidents`."""
    out = pd.DataFrame(
        {
            "robot_id": frame["robot_id"].to_numpy(dtype=object),
            "cutoff": frame["cutoff"].to_numpy(dtype=np.int64),
            "risk": np.asarray(risk, dtype=np.float64),
        }
    )
    if out.duplicated(["robot_id", "cutoff"]).any():
        out = out.groupby(["robot_id", "cutoff"], sort=True)["risk"].max().reset_index()
    return out


def split_risk(
    frame: pd.DataFrame,
    split_rows: Bools,
    scored: Bools,
    risk_scored: F64,
    booster: lgb.Booster,
    columns: Sequence[FeatureColumn],
    logit_offset: float,
) -> F64:
    """The risk of every row of `split_rows` (in frame order): `risk_scored` for the rows in `scored` (a
    subset), predicted for the others (the positives of other failure codes a code target left out)."""
    out = np.full(len(frame), np.nan)
    out[scored] = risk_scored
    extra = split_rows & ~scored
    if extra.any():
        out[extra] = predict_risk(booster, feature_matrix(frame.loc[extra], columns), logit_offset)
    return out[split_rows]


def split_incidents(
    scores: pd.DataFrame, rows: pd.DataFrame, target: str, *, threshold: float, alerts: AlertsConfig
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The incidents of `scores` at `threshold` (:func:`telemetry.stages.incidents.incidents`, no
    suppression: training sees no events) and the failures the labels of `rows` point at
    (:func:`telemetry.stages.incidents.failures_from_labels`; a failure-code target: that code's)."""
    failures = failures_from_labels(rows)
    if target != ANY:
        failures = failures.loc[(failures["code"] == target).to_numpy(dtype=bool)].reset_index(drop=True)
    return incidents(scores, threshold=threshold, alerts=alerts), failures


def split_events(
    scores: pd.DataFrame,
    rows: pd.DataFrame,
    target: str,
    *,
    threshold: float,
    alerts: AlertsConfig,
    horizon_s: float,
    robot_days: float,
) -> dict[str, Any]:
    """Event-level metrics (:func:`telemetry.stages.incidents.event_metrics`) of the incidents of `scores`
    at `threshold` against the failures the labels of `rows` point at (both as :func:`split_incidents`)."""
    found, failures = split_incidents(scores, rows, target, threshold=threshold, alerts=alerts)
    return event_metrics(found, failures, horizon_s=horizon_s, robot_days=robot_days)


def evaluated_models(
    features: FeatureSet,
    train: TrainConfig,
    *,
    horizon_s: float,
    features_hash: str,
    feature_config: Mapping[str, Any],
    targets: Sequence[str] | None = None,
    valid_start: dt.date | dt.datetime | None = None,
    test_start: dt.date | dt.datetime | None = None,
    fit_booster: BoosterFit | None = None,
    progress: Callable[[str], None] | None = None,
    on_skip: Callable[[str, str], None] | None = None,
    alerts: AlertsConfig | None = None,
) -> list[TrainedModel]:
    """Fit, evaluate and report one model per target (``train.targets`` by default).

    Time: the split is by cutoff (:func:`time_split`, boundaries `valid_start` / `test_start` when given),
    and rows whose label window ``(cutoff, cutoff + horizon_s]`` reaches the next split are purged
    (:func:`split_masks`). ``modes`` in the targets expands to the failure codes with enough positives
    (:func:`expand_targets`); `on_skip` hears ``(target, why)`` of the others.

    Args:
        features: the examples (:class:`FeatureSet`).
        train: the ``train`` section.
        horizon_s: ``labels.horizon_s`` the labels were made with (the purge).
        features_hash: the hash of the sections that define the features
            (:func:`telemetry.io.lineage.features_config_hash`), recorded so that scoring refuses other
            features.
        feature_config: the sections to recompute matching features (:func:`reference_config`), written to
            ``config.yaml`` and the metadata.
        fit_booster: boost elsewhere (a Dask cluster) instead of here; validation and test rows are
            evaluated here either way.
        progress: hears one line per step.
        alerts: the ``alerts`` section: how incidents are made when ``train.incident_budget`` sets the
            threshold (default: the defaults).

    The alert threshold: with ``train.incident_budget`` null (the default), the lowest risk whose alerts
    (validation rows at or above it) stay within ``train.alert_budget`` per robot-day
    (:func:`telemetry.stages.evaluate.alert_threshold`). With ``train.incident_budget`` set,
    :func:`telemetry.stages.incidents.incident_threshold` on every validation row of the split (robot,
    cutoff, risk; positives of other failure codes included, as deployment scores every cutoff), without
    suppression (training sees no events); ``metrics.valid.events`` and ``metrics.test.events`` then hold the
    event-level metrics of the incidents at that threshold against the failures the labels point at. Those
    need grid-mode features (every cutoff a row; event-mode tables hold one positive per failure and no
    cutoff near one); nothing in a feature table records its labels mode, so they are computed whenever
    the incident budget is set.
    """
    say = progress or (lambda _m: None)
    alerts = alerts or AlertsConfig()
    frame = features.frame
    tc = train
    ref_config = dict(feature_config)
    split = time_split(
        features.dates, tc.valid_fraction, tc.test_fraction, valid_start=valid_start, test_start=test_start
    )
    horizon_ms = round(horizon_s * 1000)
    cutoffs = frame["cutoff"].to_numpy(dtype=np.int64)
    masks = split_masks(cutoffs, split, horizon_ms)
    weight_all = frame["weight"].to_numpy(dtype=np.float64)
    ttf_all = frame["time_to_failure_s"].to_numpy(dtype=np.float64)
    robot_days = split.robot_days(features.partition_dates)
    trained = []
    chosen, skipped = expand_targets(frame, targets or tc.targets, masks, tc.min_positives)
    for target, why in skipped.items():
        (on_skip or (lambda t, w: say(f"{t}: skipped ({w})")))(target, why)
    for target in chosen:
        started = time.perf_counter()
        y_all, keep = target_labels(frame, target)
        if tc.positive_rows == "nearest":
            keep &= nearest_positive_rows(frame)
        tr, va, te = masks["train"] & keep, masks["valid"] & keep, masks["test"] & keep
        fit_rows, fit_weight = sampled_negatives(
            y_all[tr], weight_all[tr], tc.negatives_per_positive, tc.seed
        )
        n_train_rows = int(tr.sum())
        tr[np.flatnonzero(tr)[~fit_rows]] = False
        train_rows = frame.loc[tr]
        columns = feature_columns(features.schema, train_rows)
        x_tr = feature_matrix(train_rows, columns)
        del train_rows
        x_va = feature_matrix(frame.loc[va], columns)
        x_te = feature_matrix(frame.loc[te], columns)
        y_tr, y_va, y_te = y_all[tr], y_all[va], y_all[te]
        w_tr, w_va, w_te = fit_weight[fit_rows], weight_all[va], weight_all[te]
        say(
            f"{target}: train {len(y_tr):,} of {n_train_rows:,} rows ({int(y_tr.sum())} positives), "
            f"valid {len(y_va):,}, test {len(y_te):,}"
        )
        if fit_booster is None:
            fitted = fit_model(
                x_tr,
                y_tr,
                w_tr,
                x_va,
                y_va,
                w_va,
                columns,
                tc,
                cutoffs_train=cutoffs[tr],
                horizon_ms=horizon_ms,
            )
        else:
            require_both_classes(y_tr, y_va)
            pos_weight = positive_weight(y_tr, w_tr, tc.pos_weight)
            booster = fit_booster(x_tr, y_tr, w_tr, columns, tc, pos_weight)
            curve = _validation_curve(booster, x_va, y_va, w_va, pos_weight, tc.early_stopping_metric)
            choice = choose_rounds([curve], tc)
            fitted = FittedModel(booster, columns, pos_weight, choice.rounds, lightgbm_params(tc))
            fitted.rounds = choice
        fit_s = time.perf_counter() - started
        # reload from text: what is evaluated is exactly what is stored
        text = fitted.model_text()
        booster = lgb.Booster(model_str=text)
        risk_va = predict_risk(booster, x_va, fitted.logit_offset)
        risk_te = predict_risk(booster, x_te, fitted.logit_offset)
        if tc.incident_budget is None:
            threshold = alert_threshold(risk_va, w_va, robot_days["valid"], tc.alert_budget)
            threshold_rule = {"alerts": tc.alert_budget}
        else:
            scores = {
                name: cutoff_scores(
                    frame.loc[masks[name]],
                    split_risk(frame, masks[name], scored, risk_s, booster, columns, fitted.logit_offset),
                )
                for name, scored, risk_s in (("valid", va, risk_va), ("test", te, risk_te))
            }
            threshold = incident_threshold(
                scores["valid"], budget=tc.incident_budget, robot_days=robot_days["valid"], alerts=alerts
            )
            threshold_rule = {"incidents": tc.incident_budget}
        metrics: dict[str, Any] = {
            "target": target,
            "test": binary_metrics(y_te, risk_te, w_te, threshold, robot_days["test"], ttf_all[te]),
            "valid": binary_metrics(y_va, risk_va, w_va, threshold, robot_days["valid"], ttf_all[va]),
            "per_mode": {},
        }
        timeline = None
        if tc.incident_budget is not None:
            for name in ("valid", "test"):
                found, failures = split_incidents(
                    scores[name], frame.loc[masks[name]], target, threshold=threshold, alerts=alerts
                )
                metrics[name]["events"] = event_metrics(
                    found, failures, horizon_s=horizon_s, robot_days=robot_days[name]
                )
                if name == "test":
                    timeline = IncidentTimeline(
                        scores=scores["test"], incidents=found, failures=failures, threshold=threshold,
                        hysteresis=alerts.hysteresis, horizon_s=horizon_s,
                    )  # fmt: skip
        codes = frame["failure_code"].to_numpy(dtype=object)[te]
        for code in sorted({str(c) for c in codes[y_te == 1] if c is not None}):
            m = (y_te == 0) | (codes == code)
            metrics["per_mode"][code] = binary_metrics(
                (y_te[m] == 1).astype(np.int8),
                risk_te[m],
                w_te[m],
                threshold,
                robot_days["test"],
                ttf_all[te][m],
            )
        name, direction, valid_ap = best_single_feature(x_va, y_va, w_va, columns)
        j = [c.name for c in columns].index(name)
        base_score = direction * x_te[:, j]
        base = binary_metrics(y_te, rankable(base_score), w_te, np.inf, robot_days["test"])
        metrics["baselines"] = {
            "prevalence": {"pr_auc": metrics["test"]["prevalence"], "roc_auc": 0.5},
            "one_feature": {
                "feature": name,
                "direction": direction,
                "valid_pr_auc": valid_ap,
                "pr_auc": base["pr_auc"],
                "roc_auc": base["roc_auc"],
            },
        }
        test_robots = frame["robot_id"].to_numpy(dtype=object)[te]
        groups = robot_day_groups(test_robots, cutoffs[te])
        add_intervals(
            metrics, y_te, risk_te, rankable(base_score), w_te, groups, codes,
            resamples=tc.bootstrap_resamples, seed=tc.seed,
        )  # fmt: skip
        importance = importance_by_gain(booster, columns, fitted.best_iteration)
        metrics["importance_top"] = dict(list(importance.items())[:20])

        test_rows = frame.loc[te]
        top_idx = np.argsort(-risk_te, kind="stable")[:10]
        contributions = top_contributions(booster, x_te[top_idx], columns, k=5)
        contrib_rows = [
            {
                "robot_id": test_rows["robot_id"].iloc[i],
                "when": dt.datetime.fromtimestamp(
                    int(test_rows["cutoff"].iloc[i]) / 1000, dt.UTC
                ).isoformat(),
                "risk": float(risk_te[i]),
                "label": int(y_te[i]),
                "top": top,
            }
            for i, top in zip(top_idx, contributions, strict=True)
        ]
        model_id = _model_id(target, features, tc, split, alerts)
        metadata: dict[str, Any] = {
            "model_id": model_id,
            "target": target,
            "package_version": __version__,
            "created_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "features": [c.to_dict() for c in columns],
            "features_hash": features_hash,
            "feature_config": ref_config,
            "params": fitted.params,
            "max_rounds": tc.max_rounds,
            "early_stopping_rounds": tc.early_stopping_rounds,
            "best_iteration": fitted.best_iteration,
            "rounds": _rounds_metadata(fitted, tc),
            "search": fitted.search,
            "pos_weight": fitted.pos_weight,
            "logit_offset": fitted.logit_offset,
            "threshold": threshold,
            "threshold_rule": threshold_rule,
            **(
                {"incidents": {"hysteresis": alerts.hysteresis, "quiet_s": alerts.quiet_s}}
                if tc.incident_budget is not None
                else {}
            ),
            "alert_budget": tc.alert_budget,
            "distributed": fit_booster is not None,
            "split": {
                **split.spans(),
                "robot_days": robot_days,
                "rows": describe_split(frame, {k: v & keep for k, v in masks.items()}),
                "purge_s": horizon_s,
                "positive_rows": tc.positive_rows,
                "fit_rows": {
                    "rows": int(tr.sum()),
                    "of": n_train_rows,
                    "negatives_per_positive": tc.negatives_per_positive,
                },
            },
            "features_used": {"url": features.url, "partitions": [p.to_dict() for p in features.partitions]},
            "metrics": metrics,
        }
        report = render_report(
            ReportData(
                model_id=model_id,
                target=target,
                metadata=metadata,
                metrics=metrics,
                y=y_te,
                risk=risk_te,
                weight=w_te,
                baseline_score=base_score,
                baseline_name=name,
                robot_id=test_rows["robot_id"].to_numpy(dtype=object),
                cutoff=test_rows["cutoff"].to_numpy(dtype=np.int64),
                failure_code=test_rows["failure_code"].to_numpy(dtype=object),
                importance=importance,
                contributions=contrib_rows,
                incident_timeline=timeline,
            )
        )
        seconds = {"fit": fit_s, "total": time.perf_counter() - started}
        say(
            f"{target}: {fitted.best_iteration} trees, "
            f"test PR-AUC {metrics['test']['pr_auc']}, {seconds['total']:.1f} s"
        )
        trained.append(
            TrainedModel(
                model_id,
                target,
                text,
                metadata,
                metrics,
                report,
                yaml.safe_dump(ref_config, sort_keys=False),
                seconds,
            )
        )
    return trained
