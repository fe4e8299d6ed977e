"""Training wired to the configuration and, with ``--distributed``, to a Dask cluster.

:func:`train_models` hands the training stage (:func:`telemetry.stages.train.evaluated_models`) what it
consumes from a :class:`~telemetry.config.TelemetryConfig`: the ``train`` section, the label horizon, the
hash of the feature sections and the sections to recompute matching features. With a Dask client the
boosting runs on the cluster's workers (:func:`fit_distributed`, ``lightgbm.dask``); the stage evaluates the
validation and test rows here either way.
"""

from __future__ import annotations

import concurrent.futures as cf
import datetime as dt
import functools
import math
import warnings
from collections.abc import Callable, Sequence
from typing import Any

import lightgbm as lgb
import numpy as np

from telemetry.config import TelemetryConfig, TrainConfig
from telemetry.errors import ModelError
from telemetry.io.lineage import features_config_hash
from telemetry.stages.train import (
    FeatureColumn,
    FeatureSet,
    TrainedModel,
    evaluated_models,
    lightgbm_params,
    reference_config,
)

__all__ = ["fit_distributed", "train_models"]


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

    Time: examples are split by cutoff (earlier days train, later days validate, the latest test;
    `valid_start` / `test_start` set the boundaries: a date is its 00:00 UTC, a naive datetime is UTC), and
    rows whose label window ``(cutoff, cutoff + labels.horizon_s]`` reaches the next split are purged.

    With a Dask `client` the boosting runs on the cluster's workers (``lightgbm.dask``); validation and
    test rows are evaluated here either way. ``modes`` in the targets expands to the failure codes with enough
    positives (:func:`telemetry.stages.train.expand_targets`); `on_skip` hears ``(target, why)`` of the
    others.
    """
    return evaluated_models(
        features,
        config.train,
        horizon_s=config.labels.horizon_s,
        features_hash=features_config_hash(config),
        feature_config=reference_config(config),
        targets=targets,
        valid_start=valid_start,
        test_start=test_start,
        fit_booster=None if client is None else functools.partial(fit_distributed, client),
        progress=progress,
        on_skip=on_skip,
        alerts=config.alerts,
    )


def fit_distributed(
    client: Any,
    x: np.ndarray[Any, Any],
    y: np.ndarray[Any, Any],
    w: np.ndarray[Any, Any],
    columns: Sequence[FeatureColumn],
    train: TrainConfig,
    pos_weight: float,
) -> lgb.Booster:
    """Train on the cluster's workers with ``lightgbm.dask`` (no early stopping there: it is not supported
    and known to hang; the caller picks the best iteration on the validation rows afterwards).

    Raises:
        ModelError: the cluster has no workers, or the fit did not finish within ``train.timeout_s``.
    """
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
    params = lightgbm_params(train)
    params.pop("metric")
    params.pop("deterministic")
    params.pop("num_threads")
    params.pop("verbosity")
    model = DaskLGBMClassifier(
        client=client,
        n_estimators=train.max_rounds,
        time_out=max(1, math.ceil(train.timeout_s / 60)),  # LightGBM network timeout, minutes
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
        future.result(timeout=train.timeout_s)
    except cf.TimeoutError:
        pool.shutdown(wait=False, cancel_futures=True)
        raise ModelError(
            f"distributed training did not finish within train.timeout_s={train.timeout_s:g} s; "
            "check the workers on the dashboard (lightgbm.dask needs every worker reachable from the others "
            "on its listen ports), or train without --distributed"
        ) from None
    pool.shutdown(wait=False)
    return model.booster_
