"""Train, store, load and apply failure predictors (the I/O edge around :mod:`telemetry.stages.train`).

Layout of a model (``<out_root>/models/<model_id>/``):

- ``model.txt``: the LightGBM text model (inputs named ``f0000``... in the order of ``metadata.json``'s
  ``features``);
- ``metadata.json``: target, the exact feature spec (names, Arrow types, categorical levels), the hash and
  text of the configuration sections the features depend on, parameters, the time split, the feature
  partitions used (key, sha256 of the Parquet bytes, lineage fingerprint), metrics, package version;
- ``metrics.json``: the metrics alone (plain keys, see docs/training.md);
- ``config.yaml``: the configuration sections to recompute matching features for scoring;
- ``report.html``: the self-contained report.

``model_id`` is ``<target>-<hash>`` of the inputs (feature partitions, configuration, parameters, split,
package version): retraining on the same features gives the same id and the same model bytes.

Scores: ``<out_root>/scores/<model_id>/fleet=<f>/date=<d>/<robot>.parquet``: ``robot_id``, ``cutoff``,
``risk`` (probability of a failure, see :func:`telemetry.stages.train.predict_risk`), ``alert``
(``risk >= threshold``), ``top_features`` (largest contributions, alerts only) and ``label``/``failure_code``
when the feature table has labels.
"""

from __future__ import annotations

import concurrent.futures as cf
import datetime as dt
import hashlib
import io
import json
import math
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import yaml

from telemetry._version import __version__
from telemetry.config import TelemetryConfig, TrainConfig
from telemetry.contract.layout import (
    FEATURES_PREFIX,
    DayKey,
    lineage_key,
    model_prefix,
    score_key,
)
from telemetry.errors import ModelError, NothingToDoError
from telemetry.io.lineage import PartitionLineage, features_config_hash
from telemetry.io.store import Store
from telemetry.stages import train as stage
from telemetry.stages.evaluate import bootstrap_intervals, robot_day_groups
from telemetry.stages.report import ReportData, render_report

__all__ = [
    "FeatureSet",
    "Model",
    "TrainedModel",
    "load_model",
    "read_features",
    "score_features",
    "train_models",
    "write_model",
    "write_scores",
]

# ------------------------------------------------------------------------------------- feature store


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
    """Feature rows of many robot-days (one DataFrame) and where they came from."""

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


def list_feature_partitions(
    out: Store, fleet: str, start: dt.date | None, end: dt.date | None, robots: Sequence[str] | None = None
) -> list[tuple[DayKey, str]]:
    """``(day, key)`` of the committed feature partitions of `fleet` with a date in ``[start, end]``
    (inclusive; None: unbounded), sorted."""
    return out.list_partitions(FEATURES_PREFIX, ".parquet", fleet, start, end, robots)


def read_features(
    out: Store,
    fleet: str,
    start: dt.date | None = None,
    end: dt.date | None = None,
    robots: Sequence[str] | None = None,
    *,
    threads: int = 8,
) -> FeatureSet:
    """Read the feature partitions of a fleet and date range (inclusive) into one DataFrame.

    Raises:
        NothingToDoError: no partition matches.
        ModelError: partitions with different schemas (features computed with different configurations).
    """
    listed = list_feature_partitions(out, fleet, start, end, robots)
    if not listed:
        raise NothingToDoError(
            f"no feature partitions under {out.url}/features/fleet={fleet}/ "
            f"for {start or '...'}..{end or '...'}; "
            "run `telemetry features` first"
        )

    def read_one(item: tuple[DayKey, str]) -> tuple[PartitionRef, pa.Table]:
        day, key = item
        data = out.read_bytes(key)
        lineage = None
        if out.exists(lineage_key(day)):
            lineage = PartitionLineage.from_json(out.read_bytes(lineage_key(day)))
        ref = PartitionRef(
            day,
            key,
            hashlib.sha256(data).hexdigest(),
            lineage.fingerprint if lineage else "",
            lineage.features_hash if lineage else "",
        )
        return ref, pq.read_table(io.BytesIO(data))

    with cf.ThreadPoolExecutor(max_workers=max(1, threads)) as pool:
        results = list(pool.map(read_one, listed))
    schema = results[0][1].schema.remove_metadata()
    for ref, table in results:
        if not table.schema.remove_metadata().equals(schema):
            raise ModelError(
                f"{ref.key} has different columns than {results[0][0].key}: "
                "the partitions were computed with "
                "different feature configurations; recompute them with one configuration"
            )
    table = pa.concat_tables([t for _, t in results])
    frame = table.to_pandas(split_blocks=True, self_destruct=True)
    return FeatureSet(out.url, frame, schema, [r for r, _ in results])


# ------------------------------------------------------------------------------------------- models


@dataclass(slots=True)
class Model:
    """A stored model, ready to score."""

    model_id: str
    booster: lgb.Booster
    metadata: dict[str, Any]

    @property
    def columns(self) -> list[stage.FeatureColumn]:
        """The feature spec, in model input order."""
        return [stage.FeatureColumn.from_dict(c) for c in self.metadata["features"]]

    @property
    def threshold(self) -> float:
        """The alert threshold chosen on the validation days."""
        return float(self.metadata["threshold"])

    def risk(self, frame: pd.DataFrame) -> np.ndarray[Any, np.dtype[np.float64]]:
        """Failure probabilities of the rows of `frame` (which must hold every model feature)."""
        x = stage.feature_matrix(frame, self.columns)
        return stage.predict_risk(self.booster, x, float(self.metadata["logit_offset"]))


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


def _model_id(target: str, features: FeatureSet, config: TelemetryConfig, split: stage.TimeSplit) -> str:
    text = json.dumps(
        [
            target,
            [p.to_dict() for p in features.partitions],
            stage.lightgbm_params(config.train),
            [config.train.max_rounds, config.train.early_stopping_rounds, config.train.pos_weight],
            [config.train.cv_folds, config.train.min_rounds, config.train.rounds_smoothing],
            config.train.negatives_per_positive,
            config.train.search,
            config.train.early_stopping_metric,
            [config.train.alert_budget],
            split.spans(),
            __version__,
        ],
        sort_keys=True,
        default=str,
    )
    return f"{target.lower().replace('_', '-')}-{hashlib.sha256(text.encode()).hexdigest()[:12]}"


def _fit_distributed(
    client: Any,
    x: np.ndarray[Any, Any],
    y: np.ndarray[Any, Any],
    w: np.ndarray[Any, Any],
    columns: Sequence[stage.FeatureColumn],
    config: TelemetryConfig,
    pos_weight: float,
) -> lgb.Booster:
    """Train on the cluster's workers with ``lightgbm.dask`` (no early stopping there: it is not supported
    and known to hang; the caller picks the best iteration on the validation rows afterwards)."""
    import dask.array as da
    from lightgbm.dask import DaskLGBMClassifier

    workers = len(client.scheduler_info()["workers"])
    if workers < 1:
        raise ModelError("the Dask cluster has no workers; cannot train with --distributed")
    chunk = max(1, math.ceil(len(x) / workers))
    dx = da.from_array(  # type: ignore[no-untyped-call]
        x, chunks=(chunk, x.shape[1])
    )
    dy = da.from_array(  # type: ignore[no-untyped-call]
        y.astype(np.int32), chunks=chunk
    )
    fit_w = np.where(y == 1, w * pos_weight, w)
    dw = da.from_array(  # type: ignore[no-untyped-call]
        fit_w, chunks=chunk
    )
    params = stage.lightgbm_params(config.train)
    params.pop("metric")
    params.pop("deterministic")
    params.pop("num_threads")
    params.pop("verbosity")
    model = DaskLGBMClassifier(
        client=client,
        n_estimators=config.train.max_rounds,
        time_out=max(1, math.ceil(config.train.timeout_s / 60)),  # LightGBM network timeout, minutes
        verbose=-1,
        **params,
    )
    categorical = [i for i, c in enumerate(columns) if c.kind == "categorical"]

    def fit() -> None:
        with warnings.catch_warnings():
            # lightgbm.dask sets the threads from the workers' nthreads and says so for the sklearn default
            warnings.filterwarnings("ignore", message="Parameter n_jobs will be ignored")
            model.fit(dx, dy, sample_weight=dw, categorical_feature=categorical or "auto")

    pool = cf.ThreadPoolExecutor(max_workers=1)
    future = pool.submit(fit)
    try:
        future.result(timeout=config.train.timeout_s)
    except cf.TimeoutError:
        pool.shutdown(wait=False, cancel_futures=True)
        raise ModelError(
            f"distributed training did not finish within train.timeout_s={config.train.timeout_s:g} s; "
            "check the workers on the dashboard (lightgbm.dask needs every worker reachable from the others "
            "on its listen ports), or train without --distributed"
        ) from None
    pool.shutdown(wait=False)
    return model.booster_


def _validation_curve(
    booster: lgb.Booster, x: np.ndarray[Any, Any], y: Any, w: Any, pos_weight: float, metric: str
) -> np.ndarray[Any, np.dtype[np.float64]]:
    """The validation metric after every tree of `booster` (:func:`telemetry.stages.train.curve_value`), to
    choose
    the rounds after the fact (``lightgbm.dask`` has no early stopping)."""
    raw = np.zeros(len(x))
    curve = []
    for i in range(int(booster.current_iteration())):
        raw += np.asarray(booster.predict(x, raw_score=True, start_iteration=i, num_iteration=1))
        curve.append(stage.curve_value(metric, y, raw, w, pos_weight))
    return np.asarray(curve, dtype=np.float64)


def add_intervals(
    metrics: dict[str, Any],
    y: Any,
    risk: Any,
    baseline: Any,
    weight: Any,
    groups: Any,
    codes: Any,
    train: TrainConfig,
) -> None:
    """Add 90 % bootstrap intervals over robot-days to `metrics` in place (see
    :mod:`telemetry.stages.evaluate`): ``test.pr_auc_interval`` / ``roc_auc_interval``, the same per mode and
    for the one-feature baseline, and ``comparison``: the paired intervals of the model minus each baseline
    and whether the model beats it (the lower end above 0)."""
    level, resamples, seed = 0.9, train.bootstrap_resamples, train.seed
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


def _rounds_metadata(fitted: stage.FittedModel, train: TrainConfig) -> dict[str, Any] | None:
    if fitted.rounds is None:
        return None
    return {
        "chosen": fitted.rounds.rounds,
        "curves": fitted.rounds.folds,
        "metric": train.early_stopping_metric,
        "smoothed_score": fitted.rounds.score,
        "min_rounds": train.min_rounds,
    }


def train_models(
    features: FeatureSet,
    config: TelemetryConfig,
    *,
    targets: Sequence[str] | None = None,
    valid_start: dt.date | dt.datetime | None = None,
    test_start: dt.date | dt.datetime | None = None,
    client: Any = None,
    progress: Callable[[str], None] | None = None,
    on_skip: Callable[[str, str], None] | None = None,
) -> list[TrainedModel]:
    """Fit, evaluate and report one model per target (``config.train.targets`` by default).

    With a Dask `client` the boosting runs on the cluster's workers (``lightgbm.dask``); validation and
    test rows are evaluated here either way. ``modes`` in the targets expands to the failure codes with enough
    positives (:func:`telemetry.stages.train.expand_targets`); `on_skip` hears ``(target, why)`` of the
    others.
    """
    say = progress or (lambda _m: None)
    frame = features.frame
    tc = config.train
    split = stage.time_split(
        features.dates, tc.valid_fraction, tc.test_fraction, valid_start=valid_start, test_start=test_start
    )
    horizon_ms = round(config.labels.horizon_s * 1000)
    cutoffs = frame["cutoff"].to_numpy(dtype=np.int64)
    masks = stage.split_masks(cutoffs, split, horizon_ms)
    weight_all = frame["weight"].to_numpy(dtype=np.float64)
    ttf_all = frame["time_to_failure_s"].to_numpy(dtype=np.float64)
    robot_days = split.robot_days(features.partition_dates)
    trained = []
    chosen, skipped = stage.expand_targets(frame, targets or tc.targets, masks, tc.min_positives)
    for target, why in skipped.items():
        (on_skip or (lambda t, w: say(f"{t}: skipped ({w})")))(target, why)
    for target in chosen:
        started = time.perf_counter()
        y_all, keep = stage.target_labels(frame, target)
        tr, va, te = masks["train"] & keep, masks["valid"] & keep, masks["test"] & keep
        fit_rows, fit_weight = stage.sampled_negatives(
            y_all[tr], weight_all[tr], tc.negatives_per_positive, tc.seed
        )
        n_train_rows = int(tr.sum())
        tr[np.flatnonzero(tr)[~fit_rows]] = False
        train_rows = frame.loc[tr]
        columns = stage.feature_columns(features.schema, train_rows)
        x_tr = stage.feature_matrix(train_rows, columns)
        del train_rows
        x_va = stage.feature_matrix(frame.loc[va], columns)
        x_te = stage.feature_matrix(frame.loc[te], columns)
        y_tr, y_va, y_te = y_all[tr], y_all[va], y_all[te]
        w_tr, w_va, w_te = fit_weight[fit_rows], weight_all[va], weight_all[te]
        say(
            f"{target}: train {len(y_tr):,} of {n_train_rows:,} rows ({int(y_tr.sum())} positives), "
            f"valid {len(y_va):,}, test {len(y_te):,}"
        )
        if client is None:
            fitted = stage.fit_model(
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
            stage.require_both_classes(y_tr, y_va)
            pos_weight = stage.positive_weight(y_tr, w_tr, tc.pos_weight)
            booster = _fit_distributed(client, x_tr, y_tr, w_tr, columns, config, pos_weight)
            curve = _validation_curve(booster, x_va, y_va, w_va, pos_weight, tc.early_stopping_metric)
            choice = stage.choose_rounds([curve], tc)
            fitted = stage.FittedModel(booster, columns, pos_weight, choice.rounds, stage.lightgbm_params(tc))
            fitted.rounds = choice
        fit_s = time.perf_counter() - started
        # reload from text: what is evaluated is exactly what is stored
        text = fitted.model_text()
        booster = lgb.Booster(model_str=text)
        risk_va = stage.predict_risk(booster, x_va, fitted.logit_offset)
        risk_te = stage.predict_risk(booster, x_te, fitted.logit_offset)
        threshold = stage.alert_threshold(risk_va, w_va, robot_days["valid"], tc.alert_budget)
        metrics: dict[str, Any] = {
            "target": target,
            "test": stage.binary_metrics(y_te, risk_te, w_te, threshold, robot_days["test"], ttf_all[te]),
            "valid": stage.binary_metrics(y_va, risk_va, w_va, threshold, robot_days["valid"], ttf_all[va]),
            "per_mode": {},
        }
        codes = frame["failure_code"].to_numpy(dtype=object)[te]
        for code in sorted({str(c) for c in codes[y_te == 1] if c is not None}):
            m = (y_te == 0) | (codes == code)
            metrics["per_mode"][code] = stage.binary_metrics(
                (y_te[m] == 1).astype(np.int8),
                risk_te[m],
                w_te[m],
                threshold,
                robot_days["test"],
                ttf_all[te][m],
            )
        name, direction, valid_ap = stage.best_single_feature(x_va, y_va, w_va, columns)
        j = [c.name for c in columns].index(name)
        base_score = direction * x_te[:, j]
        base = stage.binary_metrics(y_te, stage.rankable(base_score), w_te, np.inf, robot_days["test"])
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
        add_intervals(metrics, y_te, risk_te, stage.rankable(base_score), w_te, groups, codes, tc)
        importance = stage.importance_by_gain(booster, columns, fitted.best_iteration)
        metrics["importance_top"] = dict(list(importance.items())[:20])

        test_rows = frame.loc[te]
        top_idx = np.argsort(-risk_te, kind="stable")[:10]
        contributions = stage.top_contributions(booster, x_te[top_idx], columns, k=5)
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
        model_id = _model_id(target, features, config, split)
        ref_config = stage.reference_config(config)
        metadata: dict[str, Any] = {
            "model_id": model_id,
            "target": target,
            "package_version": __version__,
            "created_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "features": [c.to_dict() for c in columns],
            "features_hash": features_config_hash(config),
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
            "alert_budget": tc.alert_budget,
            "distributed": client is not None,
            "split": {
                **split.spans(),
                "robot_days": robot_days,
                "rows": stage.describe_split(frame, {k: v & keep for k, v in masks.items()}),
                "purge_s": config.labels.horizon_s,
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


def _json(data: Any) -> bytes:
    return json.dumps(data, indent=1, sort_keys=True, default=str, allow_nan=False).encode()


def write_model(out: Store, model: TrainedModel) -> str:
    """Write a model's folder under ``models/<model_id>/`` (``metadata.json`` last); returns its URL."""
    prefix = model_prefix(model.model_id)
    out.write_bytes(prefix + "model.txt", model.model_text.encode())
    out.write_bytes(prefix + "metrics.json", _json(model.metrics))
    out.write_bytes(prefix + "config.yaml", model.config_yaml.encode())
    out.write_bytes(prefix + "report.html", model.report_html.encode())
    out.write_bytes(prefix + "metadata.json", _json(model.metadata))  # last: marks the model complete
    return f"{out.url}/{prefix.rstrip('/')}"


def load_model(url: str, s3: Any = None) -> Model:
    """Load the model whose folder is at `url` (``.../models/<model_id>``).

    Raises:
        ModelError: the folder holds no complete model.
    """
    store = Store(url, s3)
    if not store.exists("metadata.json") or not store.exists("model.txt"):
        raise ModelError(
            f"no model at {store.url} (expected metadata.json and model.txt; see `telemetry train`)"
        )
    metadata = json.loads(store.read_bytes("metadata.json"))
    booster = lgb.Booster(model_str=store.read_bytes("model.txt").decode())
    if booster.num_feature() != len(metadata["features"]):
        raise ModelError(
            f"model.txt at {store.url} has {booster.num_feature()} inputs, metadata.json lists "
            f"{len(metadata['features'])}; the folder is inconsistent"
        )
    return Model(str(metadata["model_id"]), booster, metadata)


# -------------------------------------------------------------------------------------------- score


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
    """Risk per robot and cutoff for the rows of `features` (see the module docstring for columns)."""
    check_compatible(model, features)
    frame = features.frame
    x = stage.feature_matrix(frame, model.columns)
    risk = stage.predict_risk(model.booster, x, float(model.metadata["logit_offset"]))
    alert = risk >= model.threshold
    top = np.full(len(frame), None, dtype=object)
    idx = np.flatnonzero(alert)
    for i, contrib in zip(
        idx, stage.top_contributions(model.booster, x[idx], model.columns, top_k), strict=True
    ):
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


def write_scores(out: Store, model: Model, scores: pd.DataFrame, fleet: str) -> list[str]:
    """Write scores partitioned like the features: one Parquet file per robot-day."""
    keys = []
    day = (scores["cutoff"].to_numpy(dtype=np.int64) // stage.DAY_MS).astype("datetime64[D]").astype(str)
    for (robot, date), part in scores.groupby([scores["robot_id"], day], sort=True):
        key = score_key(model.model_id, DayKey(fleet, dt.date.fromisoformat(str(date)), str(robot)))
        sink = io.BytesIO()
        pq.write_table(
            pa.Table.from_pandas(part.reset_index(drop=True), preserve_index=False), sink, compression="zstd"
        )
        out.write_bytes(key, sink.getvalue())
        keys.append(key)
    return keys


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
