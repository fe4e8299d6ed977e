"""Apply a stored failure predictor to feature rows (a stage: no I/O, no Dask).

Scores of a :class:`Model` on a :class:`~telemetry.stages.train.FeatureSet` (:func:`score_features`): one row
per example cutoff, ``robot_id``, ``cutoff`` (epoch ms UTC), ``risk`` (probability of a failure in
``(cutoff, cutoff + horizon]``, see :func:`telemetry.stages.train.predict_risk`), ``alert``
(``risk >= threshold``), ``top_features`` (largest contributions, alerts only) and
``label``/``failure_code``/``time_to_failure_s`` when the feature table has labels.
:mod:`telemetry.io.registry` loads models and writes scores.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd

from telemetry._types import F64
from telemetry.errors import ModelError
from telemetry.stages.train import FeatureColumn, FeatureSet, feature_matrix, predict_risk, top_contributions

__all__ = ["Model", "check_compatible", "failure_catches", "score_features"]


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
        }
    )
    for col in ("label", "failure_code", "time_to_failure_s"):
        if col in frame.columns:
            out[col] = frame[col].to_numpy()
    return out


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
