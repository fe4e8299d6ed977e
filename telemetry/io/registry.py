"""The model registry: read the feature store, store and load models, write scores (the I/O edge around
:mod:`telemetry.stages.train` and :mod:`telemetry.stages.score`).

Feature store: :func:`read_feature_set` reads the committed feature partitions of a fleet and date range into
one :class:`~telemetry.stages.train.FeatureSet` (rows, schema, and per partition its key, the sha256 of its
bytes and its lineage), what training and scoring take.

Layout of a model (``<out_root>/models/<model_id>/``, :func:`telemetry.contract.layout.model_prefix`):

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

Which model is current (``models/current.json``), the promotion history and the list of model folders are
:mod:`telemetry.io.models`.

Scores (:func:`telemetry.contract.layout.score_key`):
``<out_root>/scores/<model_id>/fleet=<f>/date=<d>/<robot>.parquet``, one file per robot and UTC day of the
cutoff, with the columns of :func:`telemetry.stages.score.score_features`.
"""

from __future__ import annotations

import concurrent.futures as cf
import datetime as dt
import hashlib
import io
import json
from collections.abc import Sequence
from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from telemetry.contract.envelope import DAY_MS
from telemetry.contract.layout import (
    FEATURES_PREFIX,
    DayKey,
    lineage_key,
    model_prefix,
    score_key,
)
from telemetry.errors import ModelError, NothingToDoError
from telemetry.io.lineage import PartitionLineage
from telemetry.io.store import Store
from telemetry.stages.score import Model
from telemetry.stages.train import FeatureSet, PartitionRef, TrainedModel

__all__ = [
    "list_feature_partitions",
    "load_model",
    "read_feature_set",
    "read_model",
    "write_model",
    "write_scores",
]

# ------------------------------------------------------------------------------------- feature store


def list_feature_partitions(
    out: Store, fleet: str, start: dt.date | None, end: dt.date | None, robots: Sequence[str] | None = None
) -> list[tuple[DayKey, str]]:
    """``(day, key)`` of the committed feature partitions of `fleet` with a date in ``[start, end]``
    (inclusive; None: unbounded), sorted."""
    return out.list_partitions(FEATURES_PREFIX, ".parquet", fleet, start, end, robots)


def read_feature_set(
    out: Store,
    fleet: str,
    start: dt.date | None = None,
    end: dt.date | None = None,
    robots: Sequence[str] | None = None,
    *,
    threads: int = 8,
) -> FeatureSet:
    """The feature partitions of a fleet and date range (``[start, end]``, inclusive; None: unbounded) in one
    DataFrame, with the key, sha256 and lineage of every partition (what a model records it was trained on).

    The user-facing reader is :func:`telemetry.api.read_features` (store URLs, ISO dates, lazy reads).

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
    return _model_in(Store(url, s3), "")


def read_model(out: Store, model_id: str) -> Model:
    """Load model `model_id` of the output root `out` (``models/<model_id>/``).

    Raises:
        ModelError: no complete model of that id (an id with ``/`` is refused as well).
    """
    if not model_id or "/" in model_id or model_id.startswith("."):
        raise ModelError(
            f"a model id is a folder name under models/, e.g. any-0123456789ab (got {model_id!r})"
        )
    model = _model_in(out, model_prefix(model_id))
    if model.model_id != model_id:
        raise ModelError(
            f"{out.url}/{model_prefix(model_id)}metadata.json names model {model.model_id}, not {model_id}; "
            "the folder was copied or renamed by hand"
        )
    return model


def _model_in(store: Store, prefix: str) -> Model:
    where = f"{store.url}/{prefix}".rstrip("/")
    if not store.exists(prefix + "metadata.json") or not store.exists(prefix + "model.txt"):
        raise ModelError(f"no model at {where} (expected metadata.json and model.txt; see `telemetry train`)")
    metadata = json.loads(store.read_bytes(prefix + "metadata.json"))
    booster = lgb.Booster(model_str=store.read_bytes(prefix + "model.txt").decode())
    if booster.num_feature() != len(metadata["features"]):
        raise ModelError(
            f"model.txt at {where} has {booster.num_feature()} inputs, metadata.json lists "
            f"{len(metadata['features'])}; the folder is inconsistent"
        )
    return Model(str(metadata["model_id"]), booster, metadata)


# -------------------------------------------------------------------------------------------- scores


def write_scores(out: Store, model: Model, scores: pd.DataFrame, fleet: str) -> list[str]:
    """Write scores partitioned like the features: one Parquet file per robot and UTC day of the cutoff
    (:func:`telemetry.contract.layout.score_key`); returns the keys written, in robot then day order."""
    keys = []
    day = (scores["cutoff"].to_numpy(dtype=np.int64) // DAY_MS).astype("datetime64[D]").astype(str)
    for (robot, date), part in scores.groupby([scores["robot_id"], day], sort=True):
        key = score_key(model.model_id, DayKey(fleet, dt.date.fromisoformat(str(date)), str(robot)))
        sink = io.BytesIO()
        pq.write_table(
            pa.Table.from_pandas(part.reset_index(drop=True), preserve_index=False), sink, compression="zstd"
        )
        out.write_bytes(key, sink.getvalue())
        keys.append(key)
    return keys
