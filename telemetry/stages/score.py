"""Apply a stored failure predictor to feature rows (a stage: no I/O, no Dask).

Scores of a :class:`Model` on a :class:`~telemetry.stages.train.FeatureSet` (:func:`score_features`): one row
per example cutoff, ``robot_id``, ``cutoff`` (epoch ms UTC), ``risk`` (probability of a failure in
``(cutoff, cutoff + horizon]``, see :func:`telemetry.stages.train.predict_risk`), ``alert``
(``risk >= threshold``), ``top_features`` (largest contributions, alerts only), ``model_id`` (the model that
scored the row) and ``label``/``failure_code``/``time_to_failure_s`` when the feature table has labels.
:mod:`telemetry.io.registry` loads models and writes scores.

Comparison of two models for promotion (:func:`compare_on_validation`): both scored on exactly the
candidate's validation rows (:func:`validation_rows`), PR-AUC weighted as in training
(:func:`telemetry.stages.evaluate.pr_auc`); :mod:`telemetry.io.models` applies the rule and moves the
pointer.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd

from telemetry._types import F64, I8, Bools
from telemetry.errors import ModelError
from telemetry.stages.evaluate import pr_auc
from telemetry.stages.train import (
    FeatureColumn,
    FeatureSet,
    TimeSplit,
    feature_matrix,
    nearest_positive_rows,
    predict_risk,
    split_masks,
    target_labels,
    top_contributions,
)

__all__ = [
    "Model",
    "ValidationRows",
    "check_compatible",
    "compare_on_validation",
    "failure_catches",
    "score_features",
    "validation_pr_auc",
    "validation_rows",
]


@dataclass(slots=True)
class Model:
    """A stored model, ready to score (:func:`telemetry.io.registry.load_model` loads one)."""

    model_id: str
    booster: lgb.Booster
    metadata: dict[str, Any]

    @property
    def columns(self) -> list[FeatureColumn]:
        """The feature spec, in model input order."""
        return [FeatureColumn.from_dict(c) for c in self.metadata["features"]]

    @property
    def threshold(self) -> float:
        """The alert threshold chosen on the validation days."""
        return float(self.metadata["threshold"])

    def risk(self, frame: pd.DataFrame) -> F64:
        """Failure probabilities of the rows of `frame` (which must hold every model feature)."""
        x = feature_matrix(frame, self.columns)
        return predict_risk(self.booster, x, float(self.metadata["logit_offset"]))


def check_compatible(model: Model, features: FeatureSet) -> None:
    """Refuse features that do not match the model's feature spec.

    Raises:
        ModelError: a model feature is missing or has another type, or the partitions were computed with a
            different signals/extract/align/features configuration (lineage ``features_hash``).
    """
    have = {f.name: f.type for f in features.schema}
    missing = [c.name for c in model.columns if c.name not in have]
    wrong = [
        f"{c.name} ({have[c.name]}, model: {c.arrow_type})"
        for c in model.columns
        if c.name in have and str(have[c.name]) != c.arrow_type
    ]
    if missing or wrong:
        detail = []
        if missing:
            detail.append(f"{len(missing)} model features missing (e.g. {', '.join(missing[:3])})")
        if wrong:
            detail.append(f"{len(wrong)} with another type (e.g. {', '.join(wrong[:3])})")
        raise ModelError(
            f"model {model.model_id} does not match the features under {features.url}: {'; '.join(detail)}. "
            "Recompute the features with the model's config.yaml "
            "(`telemetry features --config <model>/config.yaml`)"
        )
    expected = model.metadata.get("features_hash", "")
    other = sorted(
        {p.key for p in features.partitions if p.features_hash and expected and p.features_hash != expected}
    )
    if other:
        raise ModelError(
            f"model {model.model_id} was trained on features of configuration {expected}, but {len(other)} "
            f"partitions (e.g. {other[0]}) were computed with another signals/extract/align/features "
            "configuration; recompute them with the model's config.yaml"
        )


def score_features(model: Model, features: FeatureSet, *, top_k: int = 3) -> pd.DataFrame:
    """Risk per robot and cutoff for the rows of `features` (see the module docstring for columns).

    Raises:
        ModelError: the features do not match the model (:func:`check_compatible`).
    """
    check_compatible(model, features)
    frame = features.frame
    x = feature_matrix(frame, model.columns)
    risk = predict_risk(model.booster, x, float(model.metadata["logit_offset"]))
    alert = risk >= model.threshold
    top = np.full(len(frame), None, dtype=object)
    idx = np.flatnonzero(alert)
    for i, contrib in zip(idx, top_contributions(model.booster, x[idx], model.columns, top_k), strict=True):
        top[i] = "; ".join(f"{name} {value:+.2f}" for name, value in contrib)
    out = pd.DataFrame(
        {
            "robot_id": frame["robot_id"].to_numpy(dtype=object),
            "cutoff": frame["cutoff"].to_numpy(dtype=np.int64),
            "risk": risk,
            "alert": alert,
            "top_features": top,
            "model_id": np.full(len(frame), model.model_id, dtype=object),
        }
    )
    for col in ("label", "failure_code", "time_to_failure_s"):
        if col in frame.columns:
            out[col] = frame[col].to_numpy()
    return out


# ------------------------------------------------------------------------------------------ promotion


@dataclass(frozen=True, slots=True)
class ValidationRows:
    """The rows of a :class:`FeatureSet` a model was validated on, with their labels and weights."""

    mask: Bools
    """Row mask over ``features.frame``."""
    y: I8
    """Labels of the model's target on those rows."""
    weight: F64
    target: str
    valid_start: str
    test_start: str


def _epoch_ms(iso: str) -> int:
    when = dt.datetime.fromisoformat(iso)
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return (when - dt.datetime(1970, 1, 1, tzinfo=dt.UTC)) // dt.timedelta(milliseconds=1)


def validation_rows(features: FeatureSet, metadata: Mapping[str, Any]) -> ValidationRows:
    """The rows of `features` that the model of `metadata` was validated on, as training chose them.

    Time: rows with cutoff in ``[valid_start, test_start)`` of the model's split whose label window
    ``(cutoff, cutoff + purge_s]`` ends before ``test_start`` (:func:`telemetry.stages.train.split_masks`),
    labelled for the model's target (:func:`telemetry.stages.train.target_labels`: a failure-code target
    drops the positives of other codes), and of the positives only each failure's nearest when the model was
    fit so (``split.positive_rows``, :func:`telemetry.stages.train.nearest_positive_rows`).

    Raises:
        ModelError: the metadata has no split, or `features` are not the partitions the model was trained
            on (keys and sha256 of ``features_used``): other rows would not be its validation rows.
    """
    split = metadata.get("split") or {}
    if not all(k in split for k in ("valid_start", "test_start", "purge_s")):
        raise ModelError(
            f"model {metadata.get('model_id')} records no time split (metadata.json split.valid_start, "
            "test_start, purge_s); retrain it with this version"
        )
    used = {(p["key"], p["sha256"]) for p in (metadata.get("features_used") or {}).get("partitions", [])}
    have = {(p.key, p.sha256) for p in features.partitions}
    if used != have:
        raise ModelError(
            f"the features under {features.url} are not the {len(used)} partitions model "
            f"{metadata.get('model_id')} was trained on ({len(have - used)} other, {len(used - have)} "
            "missing): its validation rows are only defined on its own training features"
        )
    frame = features.frame
    masks = split_masks(
        frame["cutoff"].to_numpy(dtype=np.int64),
        TimeSplit(_epoch_ms(split["valid_start"]), _epoch_ms(split["test_start"])),
        round(float(split["purge_s"]) * 1000),
    )
    y, keep = target_labels(frame, str(metadata["target"]))
    if split.get("positive_rows", "all") == "nearest":
        keep &= nearest_positive_rows(frame)
    mask = masks["valid"] & keep
    return ValidationRows(
        mask,
        y[mask],
        frame["weight"].to_numpy(dtype=np.float64)[mask],
        str(metadata["target"]),
        str(split["valid_start"]),
        str(split["test_start"]),
    )


def validation_pr_auc(model: Model, features: FeatureSet, rows: ValidationRows) -> float | None:
    """`model`'s PR-AUC (weighted average precision, :func:`telemetry.stages.evaluate.pr_auc`) on `rows` of
    `features`; None when the rows do not hold both classes.

    Raises:
        ModelError: `model` cannot score `features` (:func:`check_compatible`).
    """
    check_compatible(model, features)
    if not ((rows.y == 1).any() and (rows.y == 0).any()):
        return None
    return pr_auc(rows.y, model.risk(features.frame.loc[rows.mask]), rows.weight)


def compare_on_validation(candidate: Model, current: Model | None, features: FeatureSet) -> dict[str, Any]:
    """Both models' PR-AUC on the candidate's validation rows of `features` (its training features).

    Returns the comparison a promotion records: ``target``, ``valid_start``, ``test_start``, ``rows``,
    ``positives``, ``candidate`` (``model_id``, ``pr_auc``) and ``current`` (None without a current model;
    else ``model_id``, ``target``, ``pr_auc`` and ``error``: why it cannot score these features, e.g. another
    feature spec, with ``pr_auc`` None). The current model is scored on the candidate's target labels.

    Raises:
        ModelError: `features` are not the candidate's training features, or the candidate cannot score
            them (see :func:`validation_rows`, :func:`check_compatible`).
    """
    rows = validation_rows(features, candidate.metadata)
    comparison: dict[str, Any] = {
        "target": rows.target,
        "valid_start": rows.valid_start,
        "test_start": rows.test_start,
        "rows": int(rows.mask.sum()),
        "positives": int(rows.y.sum()),
        "candidate": {
            "model_id": candidate.model_id,
            "pr_auc": validation_pr_auc(candidate, features, rows),
        },
        "current": None,
    }
    if current is not None:
        entry: dict[str, Any] = {
            "model_id": current.model_id,
            "target": current.metadata.get("target"),
            "pr_auc": None,
            "error": None,
        }
        try:
            entry["pr_auc"] = validation_pr_auc(current, features, rows)
        except ModelError as exc:
            entry["error"] = str(exc)
        comparison["current"] = entry
    return comparison


def failure_catches(scores: pd.DataFrame, horizon_s: float) -> pd.DataFrame:
    """Per failure seen in grid-mode scores (rows with label 1 share a failure when they have the same robot
    and ``cutoff + time_to_failure_s``): whether an alert fired in ``(t_f - horizon, t_f)`` and how long
    before the failure the first one did (``lead_s``)."""
    pos = scores[(scores.get("label", pd.Series(dtype=int)) == 1)] if "label" in scores else scores.iloc[:0]
    if pos.empty or "time_to_failure_s" not in pos:
        return pd.DataFrame(columns=["robot_id", "failure_ts", "failure_code", "caught", "lead_s"])
    t_f = pos["cutoff"].to_numpy(dtype=np.int64) + np.round(
        pos["time_to_failure_s"].to_numpy() * 1000
    ).astype(np.int64)
    pos = pos.assign(failure_ts=t_f)
    rows = []
    for key, group in pos.groupby(["robot_id", "failure_ts"], sort=True):
        robot, ts = str(key[0]), int(key[1])  # type: ignore[call-overload]
        alerts = group[group["alert"]]
        lead = float((ts - alerts["cutoff"].min()) / 1000) if len(alerts) else None
        if lead is not None and lead > horizon_s:
            lead = float(horizon_s)
        rows.append({"robot_id": robot, "failure_ts": int(ts), "failure_code": group["failure_code"].iloc[0],
                     "caught": bool(len(alerts)), "lead_s": lead})  # fmt: skip
    return pd.DataFrame(rows)
