"""The model registry (telemetry/io/registry.py): the feature store read with the provenance of every
partition, model folders written and read back byte for byte, inconsistent folders refused, scores written
under the layout's keys. The model comes from the pure training stage on a small feature store written
here (no simulation, no pipeline run)."""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from telemetry.config import load_config
from telemetry.contract.layout import DayKey, features_key, lineage_key, model_prefix, score_key
from telemetry.errors import ModelError, NothingToDoError
from telemetry.io.lineage import PartitionLineage
from telemetry.io.registry import load_model, read_feature_set, write_model, write_scores
from telemetry.io.store import Store
from telemetry.stages.score import score_features
from telemetry.stages.train import TrainedModel, evaluated_models, predict_risk, reference_config

FLEET = "acme-dc3"
ROBOTS = ("amr-0001", "amr-0002")
DAYS = tuple(dt.date(2026, 11, 2) + dt.timedelta(days=i) for i in range(3))
TICK_MS = 60_000
HOUR_MS = 3_600_000
CONFIG = load_config(
    env={},
    overrides=[
        "train.targets=[any]",
        "train.max_rounds=30",
        "train.min_rounds=5",
        "train.cv_folds=0",
        "train.bootstrap_resamples=50",
        "train.threads=1",
    ],
)
FILES = ["config.yaml", "metadata.json", "metrics.json", "model.txt", "report.html"]


def _midnight_ms(day: dt.date) -> int:
    return int(dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC).timestamp() * 1000)


def _partition(day: DayKey, seed: int) -> pd.DataFrame:
    """Four hours of cutoffs, one a minute: a temperature that runs high before failures, a noise column and a
    categorical state."""
    rng = np.random.default_rng(seed)
    n = 4 * HOUR_MS // TICK_MS
    label = (rng.random(n) < 0.08).astype(np.int8)
    temp = rng.normal(50.0, 2.0, n) + 4.0 * label
    temp[rng.random(n) < 0.05] = np.nan  # nulls are missing values
    return pd.DataFrame(
        {
            "robot_id": day.robot_id,
            "cutoff": _midnight_ms(day.date) + np.arange(n, dtype=np.int64) * TICK_MS,
            "label": label,
            "failure_code": np.where(label == 1, "MOTOR_OVERHEAT", None),
            "time_to_failure_s": np.where(label == 1, 30.0, np.nan),
            "weight": np.ones(n),
            "motor.temp_left__mean__w42s": temp,
            "motor.temp_left__slope__w42s": rng.normal(0.0, 1.0, n),
            "mission.state__last__w42s": rng.choice(["EXECUTING", "IDLE"], n),
        }
    )


def _parquet(frame: pd.DataFrame) -> bytes:
    """A feature partition as the pipeline writes one: the example columns, then the features (strings are
    Arrow ``string``, as in :func:`telemetry.stages.features.feature_table_schema`)."""
    types = {"robot_id": pa.string(), "failure_code": pa.string(), "label": pa.int8(), "cutoff": pa.int64()}
    schema = pa.schema(
        [
            pa.field(c, types.get(c, pa.string() if c.endswith("__last__w42s") else pa.float64()))
            for c in frame
        ]
    )
    sink = io.BytesIO()
    pq.write_table(pa.Table.from_pandas(frame, schema=schema, preserve_index=False), sink)
    return sink.getvalue()


def _feature_store(root: Path) -> Store:
    store = Store(str(root))
    for i, (date, robot) in enumerate((d, r) for d in DAYS for r in ROBOTS):
        store.write_bytes(
            features_key(DayKey(FLEET, date, robot)), _parquet(_partition(DayKey(FLEET, date, robot), i))
        )
    return store


@pytest.fixture(scope="module")
def features_out(tmp_path_factory: pytest.TempPathFactory) -> Store:
    return _feature_store(tmp_path_factory.mktemp("features"))


@pytest.fixture(scope="module")
def trained(features_out: Store) -> TrainedModel:
    (model,) = evaluated_models(
        read_feature_set(features_out, FLEET),
        CONFIG.train,
        horizon_s=CONFIG.labels.horizon_s,
        features_hash="features-hash-of-the-test",
        feature_config=reference_config(CONFIG),
    )
    return model


# ------------------------------------------------------------------------------------- feature store


def test_read_feature_set_reads_every_partition_with_its_provenance(tmp_path: Path) -> None:
    features_out = _feature_store(tmp_path)
    day = DayKey(FLEET, DAYS[1], ROBOTS[0])
    lineage = PartitionLineage(FLEET, day.date.isoformat(), day.robot_id, (("raw.zip", "v1", 10),), "c", "0",
                               features_hash="f1")  # fmt: skip
    features_out.write_bytes(lineage_key(day), lineage.to_json())
    features = read_feature_set(features_out, FLEET)
    days = [DayKey(FLEET, d, r) for d in DAYS for r in ROBOTS]
    assert [p.day for p in features.partitions] == sorted(days)
    assert [p.key for p in features.partitions] == [features_key(d) for d in sorted(days)]
    for ref in features.partitions:
        assert ref.sha256 == hashlib.sha256(features_out.read_bytes(ref.key)).hexdigest()
        has_lineage = ref.day == day
        assert ref.lineage_fingerprint == (lineage.fingerprint if has_lineage else "")
        assert ref.features_hash == ("f1" if has_lineage else "")
    expected = pd.concat(
        [pq.read_table(io.BytesIO(features_out.read_bytes(p.key))).to_pandas() for p in features.partitions],
        ignore_index=True,
    )
    pd.testing.assert_frame_equal(features.frame.reset_index(drop=True), expected)  # partitions in key order
    assert features.dates == list(DAYS)
    assert features.partition_dates == [p.day.date for p in features.partitions]
    # a date range is inclusive at both ends; robots filter
    some = read_feature_set(features_out, FLEET, DAYS[1], DAYS[2], robots=[ROBOTS[1]])
    assert [(p.day.date, p.day.robot_id) for p in some.partitions] == [
        (DAYS[1], ROBOTS[1]),
        (DAYS[2], ROBOTS[1]),
    ]


def test_read_feature_set_refuses_nothing_and_mixed_schemas(tmp_path: Path) -> None:
    store = Store(str(tmp_path))
    with pytest.raises(NothingToDoError, match="no feature partitions"):
        read_feature_set(store, FLEET)
    first, second = DayKey(FLEET, DAYS[0], ROBOTS[0]), DayKey(FLEET, DAYS[1], ROBOTS[0])
    store.write_bytes(features_key(first), _parquet(_partition(first, 0)))
    store.write_bytes(
        features_key(second), _parquet(_partition(second, 1).drop(columns="motor.temp_left__slope__w42s"))
    )
    with pytest.raises(ModelError, match="different feature configurations"):
        read_feature_set(store, FLEET)


# ------------------------------------------------------------------------------------------- models


def test_a_model_folder_reads_back_with_the_same_bytes(
    trained: TrainedModel, features_out: Store, tmp_path: Path
) -> None:
    store = Store(str(tmp_path))
    url = write_model(store, trained)
    prefix = model_prefix(trained.model_id)
    assert url == f"{store.url}/{prefix.rstrip('/')}"
    assert sorted(store.list_keys(prefix)) == [prefix + name for name in FILES]
    assert store.read_bytes(prefix + "model.txt") == trained.model_text.encode()
    assert store.read_bytes(prefix + "config.yaml") == trained.config_yaml.encode()
    assert store.read_bytes(prefix + "report.html") == trained.report_html.encode()
    assert json.loads(store.read_bytes(prefix + "metrics.json")) == json.loads(json.dumps(trained.metrics))
    # writing again gives the same bytes (metadata.json too: its time is the training's)
    again = Store(str(tmp_path / "again"))
    write_model(again, trained)
    for name in FILES:
        assert again.read_bytes(prefix + name) == store.read_bytes(prefix + name), name

    loaded = load_model(url)
    assert loaded.model_id == trained.model_id
    assert loaded.metadata == json.loads(json.dumps(trained.metadata))
    assert loaded.threshold == trained.metadata["threshold"]
    assert [c.to_dict() for c in loaded.columns] == trained.metadata["features"]
    assert loaded.booster.num_trees() == trained.metadata["best_iteration"]
    # the loaded model scores as the trained one does
    features = read_feature_set(features_out, FLEET)
    x = np.column_stack([
        features.frame["motor.temp_left__mean__w42s"], features.frame["motor.temp_left__slope__w42s"],
        features.frame["mission.state__last__w42s"].map({"EXECUTING": 0.0, "IDLE": 1.0}),
    ])  # fmt: skip
    import lightgbm as lgb

    expected = predict_risk(lgb.Booster(model_str=trained.model_text), x, trained.metadata["logit_offset"])
    np.testing.assert_array_equal(loaded.risk(features.frame), expected)


def test_load_model_refuses_an_incomplete_or_inconsistent_folder(
    trained: TrainedModel, tmp_path: Path
) -> None:
    store = Store(str(tmp_path))
    url = write_model(store, trained)
    prefix = model_prefix(trained.model_id)
    with pytest.raises(ModelError, match="no model at"):
        load_model(str(tmp_path / "models" / "nothing-here"))
    metadata = json.loads(store.read_bytes(prefix + "metadata.json"))
    metadata["features"] = metadata["features"][:-1]  # one input fewer than model.txt has
    store.write_bytes(prefix + "metadata.json", json.dumps(metadata).encode())
    with pytest.raises(ModelError, match="inconsistent"):
        load_model(url)
    store.delete(prefix + "metadata.json")  # written last: without it the folder is not a model
    with pytest.raises(ModelError, match="no model at"):
        load_model(url)


# -------------------------------------------------------------------------------------------- scores


def test_scores_are_written_under_the_layout_keys(
    trained: TrainedModel, features_out: Store, tmp_path: Path
) -> None:
    model = load_model(write_model(Store(str(tmp_path / "models")), trained))
    features = read_feature_set(features_out, FLEET)
    scores = score_features(model, features)
    # one row a millisecond before midnight: its cutoff's UTC day is the earlier one
    late = scores.iloc[[0]].assign(cutoff=_midnight_ms(DAYS[1]) - 1)
    scores = pd.concat([scores, late], ignore_index=True)
    out = Store(str(tmp_path / "scores"))
    keys = write_scores(out, model, scores, FLEET)
    day_of = (scores["cutoff"] // 86_400_000).map(lambda d: dt.date(1970, 1, 1) + dt.timedelta(days=int(d)))
    robot_days = sorted({(r, d) for r, d in zip(scores["robot_id"], day_of, strict=True)})
    assert keys == [score_key(model.model_id, DayKey(FLEET, d, r)) for r, d in robot_days]
    assert sorted(out.list_keys("scores/")) == sorted(keys)
    for (robot, date), key in zip(robot_days, keys, strict=True):
        written = pq.read_table(io.BytesIO(out.read_bytes(key))).to_pandas()
        rows = scores[(scores["robot_id"] == robot) & (day_of == date)].reset_index(drop=True)
        pd.testing.assert_frame_equal(written, rows)
    first_day = pq.read_table(
        io.BytesIO(out.read_bytes(score_key(model.model_id, DayKey(FLEET, DAYS[0], ROBOTS[0]))))
    )
    assert first_day["cutoff"].to_pylist()[-1] == _midnight_ms(DAYS[1]) - 1


def test_scoring_refuses_partitions_whose_lineage_names_other_feature_sections(
    trained: TrainedModel, tmp_path: Path
) -> None:
    """The reader hands each partition's lineage ``features_hash`` to scoring: a partition computed with
    other feature sections is refused even when its columns match."""
    store = _feature_store(tmp_path / "features")
    model = load_model(write_model(Store(str(tmp_path / "models")), trained))
    day = DayKey(FLEET, DAYS[2], ROBOTS[1])
    for features_hash in (trained.metadata["features_hash"], "another-configuration"):
        lineage = PartitionLineage(FLEET, day.date.isoformat(), day.robot_id, (), "c", "0",
                                   features_hash=features_hash)  # fmt: skip
        store.write_bytes(lineage_key(day), lineage.to_json())
        if features_hash == trained.metadata["features_hash"]:
            assert len(score_features(model, read_feature_set(store, FLEET))) > 0
    with pytest.raises(ModelError, match=rf"1 partitions \(e.g. {features_key(day)}\)"):
        score_features(model, read_feature_set(store, FLEET))
