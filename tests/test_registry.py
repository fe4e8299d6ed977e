"""The model registry (telemetry/io/registry.py, telemetry/io/models.py): the feature store read with the
provenance of every partition, model folders written and read back byte for byte, inconsistent folders
refused, scores written under the layout's keys; the current-model pointer, its history, crashes and races
between the two writes, the listing, and promotion of really trained models compared on the candidate's
validation rows (a promotion, a refusal, a current model that cannot score the new features); the
``telemetry models`` commands and ``score`` with the current model. The models come from the pure training
stage on small feature stores written here (no simulation, no pipeline run)."""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from telemetry.cli import main
from telemetry.config import S3Config, load_config
from telemetry.contract.layout import (
    CURRENT_MODEL_KEY,
    PROMOTIONS_KEY,
    DayKey,
    features_key,
    lineage_key,
    model_prefix,
    score_key,
)
from telemetry.errors import ModelError, NothingToDoError
from telemetry.io.lineage import PartitionLineage
from telemetry.io.models import (
    MODEL_COLUMNS,
    current_model,
    list_models,
    load_current_model,
    promote,
    promote_candidate,
    promotion_history,
)
from telemetry.io.registry import load_model, read_feature_set, read_model, write_model, write_scores
from telemetry.io.store import Store
from telemetry.stages import train as train_stage
from telemetry.stages.score import score_features, validation_rows
from telemetry.stages.train import (
    FeatureSet,
    TrainedModel,
    evaluated_models,
    predict_risk,
    reference_config,
    split_masks,
    time_split,
)

FLEET = "acme-dc3"
ROBOTS = ("amr-0001", "amr-0002")
DAYS = tuple(dt.date(2026, 11, 2) + dt.timedelta(days=i) for i in range(3))
TICK_MS = 60_000
HOUR_MS = 3_600_000
CONFIG_OVERRIDES = [
    "train.targets=[any]",
    "train.max_rounds=30",
    "train.min_rounds=5",
    "train.cv_folds=0",
    "train.bootstrap_resamples=50",
    "train.threads=1",
]
CONFIG = load_config(env={}, overrides=CONFIG_OVERRIDES)
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


def _feature_store(root: Path, drop: tuple[str, ...] = ()) -> Store:
    store = Store(str(root))
    for i, (date, robot) in enumerate((d, r) for d in DAYS for r in ROBOTS):
        day = DayKey(FLEET, date, robot)
        store.write_bytes(features_key(day), _parquet(_partition(day, i).drop(columns=list(drop))))
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
    assert (scores["model_id"] == model.model_id).all()  # every row names the model that scored it
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


# --------------------------------------------------------------------------- current model, promotion

TEMP = "motor.temp_left__mean__w42s"
HTML = "<html>report not rendered in this test</html>"


def _fit(features: FeatureSet, *overrides: str) -> TrainedModel:
    """A small model on `features` (the report, irrelevant to promotion, is not rendered: it takes most of
    the time)."""
    config = load_config(env={}, overrides=[*CONFIG_OVERRIDES, *overrides])
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(train_stage, "render_report", lambda _data: HTML)
        (model,) = evaluated_models(
            features, config.train, horizon_s=config.labels.horizon_s,
            features_hash="features-hash-of-the-test", feature_config=reference_config(config),
        )  # fmt: skip
    return model


@pytest.fixture(scope="module")
def weak(features_out: Store) -> TrainedModel:
    """One stump: two distinct scores, a far lower validation PR-AUC than `trained` on the same rows."""
    return _fit(read_feature_set(features_out, FLEET), "train.num_leaves=2", "train.max_rounds=1",
                "train.min_rounds=1")  # fmt: skip


@pytest.fixture(scope="module")
def blind_features(tmp_path_factory: pytest.TempPathFactory) -> FeatureSet:
    """The same days without the temperature column: a model trained on them has another feature spec."""
    return read_feature_set(_feature_store(tmp_path_factory.mktemp("blind"), drop=(TEMP,)), FLEET)


@pytest.fixture(scope="module")
def blind(blind_features: FeatureSet) -> TrainedModel:
    return _fit(blind_features)


def _models_root(path: Path, *models: TrainedModel) -> Store:
    out = Store(str(path))
    for model in models:
        write_model(out, model)
    return out


def test_the_pointer_round_trips_with_its_history(
    trained: TrainedModel, weak: TrainedModel, tmp_path: Path
) -> None:
    out = _models_root(tmp_path, trained, weak)
    assert current_model(out) is None and promotion_history(out) == []
    first = promote(out, weak.model_id, reason="the first one")
    assert current_model(out) == first == json.loads(out.read_bytes(CURRENT_MODEL_KEY))
    assert (
        first["model_id"] == weak.model_id and first["target"] == "any" and first["reason"] == "the first one"
    )
    assert first["previous"] is None and first["previous_promotion"] is None and first["rule"] == "hand"
    assert first["comparison"] is None
    promoted_at = dt.datetime.fromisoformat(first["promoted_at"])
    assert promoted_at.utcoffset() == dt.timedelta(0)
    assert abs(dt.datetime.now(dt.UTC) - promoted_at) < dt.timedelta(minutes=5)

    second = promote(out, trained.model_id, reason="better", comparison={"what": "compared"})
    assert second["previous"] == weak.model_id and second["previous_promotion"] == first["promotion_id"]
    assert second["comparison"] == {"what": "compared"}
    assert load_current_model(out.url).model_id == trained.model_id
    # promoting the current model again writes nothing
    history_bytes = out.read_bytes(PROMOTIONS_KEY)
    assert promote(out, trained.model_id, reason="again") == second
    assert out.read_bytes(PROMOTIONS_KEY) == history_bytes
    # a rollback is a promotion of an older model
    promote(out, weak.model_id, reason="rollback")
    history = promotion_history(out)
    assert [(h["model_id"], h["status"], h["reason"]) for h in history] == [
        (weak.model_id, "superseded", "the first one"),
        (trained.model_id, "superseded", "better"),
        (weak.model_id, "current", "rollback"),
    ]
    lines = out.read_bytes(PROMOTIONS_KEY).decode().splitlines()
    assert [json.loads(line)["promoted"] for line in lines] == [True, True, True]  # a readable history
    assert [h["reason"] for h in promotion_history(out, trained.model_id)] == ["better"]


def test_unknown_or_incomplete_models_are_refused_and_nothing_is_written(
    trained: TrainedModel, tmp_path: Path
) -> None:
    out = _models_root(tmp_path, trained)
    with pytest.raises(
        ModelError, match=r"cannot promote 'any-000000000000': no model at .*telemetry models list"
    ):
        promote(out, "any-000000000000", reason="typo")
    with pytest.raises(ModelError, match="a model id is a folder name"):
        promote(out, "../elsewhere", reason="escape")
    out.delete(model_prefix(trained.model_id) + "metadata.json")  # written last: the folder is incomplete
    with pytest.raises(ModelError, match="cannot promote"):
        promote(out, trained.model_id, reason="incomplete")
    assert not out.exists(CURRENT_MODEL_KEY) and not out.exists(PROMOTIONS_KEY)
    with pytest.raises(ModelError, match=r"no current model under .*`telemetry models promote --out"):
        load_current_model(out.url)
    out.write_bytes(CURRENT_MODEL_KEY, b"[1, 2]")
    with pytest.raises(ModelError, match="is not a model pointer"):
        current_model(out)
    out.write_bytes(CURRENT_MODEL_KEY, json.dumps({"model_id": trained.model_id}).encode())
    with pytest.raises(ModelError, match=f"names model {trained.model_id}, which cannot be loaded"):
        load_current_model(out.url)


class _Crash(BaseException):
    """A process killed between two writes."""


def test_a_crash_between_history_and_pointer_leaves_the_previous_model_current(
    trained: TrainedModel, weak: TrainedModel, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = _models_root(tmp_path, trained, weak)
    promote(out, weak.model_id, reason="first")
    pointer_bytes = out.read_bytes(CURRENT_MODEL_KEY)
    write_if = Store.write_if

    def crash_on_pointer(self: Store, key: str, data: bytes, token: str | None) -> str | None:
        if key == CURRENT_MODEL_KEY:
            raise _Crash
        return write_if(self, key, data, token)

    monkeypatch.setattr(Store, "write_if", crash_on_pointer)
    with pytest.raises(_Crash):
        promote(out, trained.model_id, reason="killed")
    monkeypatch.undo()
    assert out.read_bytes(CURRENT_MODEL_KEY) == pointer_bytes
    assert load_current_model(out.url).model_id == weak.model_id
    assert [(h["model_id"], h["status"]) for h in promotion_history(out)] == [
        (weak.model_id, "current"),
        (trained.model_id, "interrupted"),  # the history line was written, the pointer never was
    ]
    promote(out, trained.model_id, reason="again")  # a re-run completes it
    assert [(h["reason"], h["status"]) for h in promotion_history(out)] == [
        ("first", "superseded"),
        ("killed", "interrupted"),
        ("again", "current"),
    ]
    assert current_model(out)["previous_promotion"] == promotion_history(out)[0]["promotion_id"]


def test_of_two_concurrent_promotions_one_fails_and_is_marked(
    trained: TrainedModel, weak: TrainedModel, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another promotion lands after this one read the pointer: the pointer's compare-and-swap refuses."""
    out = _models_root(tmp_path, trained, weak)
    read_with_token = Store.read_with_token
    raced = []

    def race(self: Store, key: str) -> tuple[bytes, str] | None:
        found = read_with_token(self, key)
        if key == CURRENT_MODEL_KEY and not raced:
            raced.append(True)
            promote(out, weak.model_id, reason="the other one")
        return found

    monkeypatch.setattr(Store, "read_with_token", race)
    with pytest.raises(ModelError, match="changed while promoting"):
        promote(out, trained.model_id, reason="this one")
    monkeypatch.undo()
    assert current_model(out)["model_id"] == weak.model_id
    assert [(h["reason"], h["status"]) for h in promotion_history(out)] == [
        ("the other one", "current"),
        ("this one", "interrupted"),
    ]


def test_list_models(trained: TrainedModel, weak: TrainedModel, tmp_path: Path) -> None:
    out = _models_root(tmp_path, trained, weak)
    assert list(list_models(Store(str(tmp_path / "empty")))) == list(MODEL_COLUMNS)
    out.write_bytes(model_prefix("any-half-written") + "model.txt", b"no metadata: incomplete")
    promote(out, weak.model_id, reason="r")
    listed = list_models(out)
    assert list(listed) == list(MODEL_COLUMNS)
    assert sorted(listed["model_id"]) == sorted([trained.model_id, weak.model_id])
    keys = list(zip(listed["created_at"], listed["model_id"], strict=True))
    assert keys == sorted(keys)
    for model in (trained, weak):
        row = listed.set_index("model_id").loc[model.model_id]
        assert row["target"] == "any"
        assert row["created_at"] == pd.Timestamp(model.metadata["created_at"])
        assert (row["first_day"], row["last_day"]) == (DAYS[0], DAYS[-1])
        assert row["valid_pr_auc"] == model.metrics["valid"]["pr_auc"]
        assert row["test_pr_auc"] == model.metrics["test"]["pr_auc"]
        assert row["threshold"] == model.metadata["threshold"]
        assert row["trees"] == model.metadata["best_iteration"]
        assert row["current"] == (model is weak)


def test_the_candidate_is_compared_on_its_validation_rows(
    trained: TrainedModel, weak: TrainedModel, features_out: Store, tmp_path: Path
) -> None:
    """A better model is promoted over a worse one, the worse one is refused over the better; both are scored
    on the candidate's validation rows, so each model's own validation PR-AUC comes back exactly."""
    out = _models_root(tmp_path, trained, weak)
    features = read_feature_set(features_out, FLEET)
    # the candidate's validation rows are the training split's, brute force
    split = time_split(features.dates, CONFIG.train.valid_fraction, CONFIG.train.test_fraction)
    masks = split_masks(features.frame["cutoff"].to_numpy(), split, round(CONFIG.labels.horizon_s * 1000))
    rows = validation_rows(features, read_model(out, trained.model_id).metadata)
    np.testing.assert_array_equal(rows.mask, masks["valid"])
    assert int(rows.mask.sum()) == trained.metadata["split"]["rows"]["valid"]["rows"]

    promote(out, weak.model_id, reason="start from the weak one")
    up = promote_candidate(out, trained.model_id, features, "not_worse")
    assert up.promoted and up.record is not None and current_model(out)["model_id"] == trained.model_id
    comparison = up.comparison
    assert comparison is not None
    assert comparison["candidate"]["pr_auc"] == trained.metrics["valid"]["pr_auc"]
    assert comparison["current"]["model_id"] == weak.model_id
    assert (
        comparison["current"]["pr_auc"] == weak.metrics["valid"]["pr_auc"]
    )  # same rows as its own validation
    assert comparison["current"]["error"] is None
    assert comparison["rows"] == int(masks["valid"].sum()) and comparison["positives"] > 0
    assert (comparison["valid_start"], comparison["test_start"]) == (
        trained.metadata["split"]["valid_start"], trained.metadata["split"]["test_start"]
    )  # fmt: skip
    assert up.reason.startswith("validation PR-AUC") and " >= current model's " in up.reason
    assert current_model(out)["comparison"] == json.loads(json.dumps(comparison))

    down = promote_candidate(out, weak.model_id, features, "not_worse")
    assert not down.promoted and " < current model's " in down.reason
    assert current_model(out)["model_id"] == trained.model_id
    assert promotion_history(out)[-1]["status"] == "refused"
    history = out.read_bytes(PROMOTIONS_KEY)
    again = promote_candidate(out, weak.model_id, features, "not_worse")  # a re-run records nothing new
    assert (again.promoted, again.record, again.reason) == (False, None, down.reason)
    assert out.read_bytes(PROMOTIONS_KEY) == history
    same = promote_candidate(out, trained.model_id, features, "not_worse")
    assert (same.promoted, same.reason, same.record) == (True, "already the current model", None)

    manual = promote_candidate(out, weak.model_id, features, "manual")
    assert not manual.promoted and "telemetry models promote" in manual.reason
    forced = promote_candidate(out, weak.model_id, features, "always")
    assert forced.promoted and current_model(out)["rule"] == "always"
    with pytest.raises(ModelError, match="not the 6 partitions"):
        promote_candidate(
            out, trained.model_id, read_feature_set(features_out, FLEET, DAYS[0], DAYS[1]), "always"
        )


def test_a_rule_never_changes_the_scored_target(
    weak: TrainedModel, features_out: Store, tmp_path: Path
) -> None:
    """A per-mode model trained next to the ``any`` model does not replace it, whatever its PR-AUC."""
    out = _models_root(tmp_path, weak)
    other = "motor-overheat-0123456789ab"  # the weak model relabelled: the same scores, a tie
    for name in FILES:
        data = out.read_bytes(model_prefix(weak.model_id) + name)
        if name == "metadata.json":
            data = json.dumps({**json.loads(data), "model_id": other, "target": "MOTOR_OVERHEAT"}).encode()
        out.write_bytes(model_prefix(other) + name, data)
    promote(out, weak.model_id, reason="the any model")
    features = read_feature_set(features_out, FLEET)
    for rule in ("not_worse", "always"):
        decision = promote_candidate(out, other, features, rule)
        assert not decision.promoted
        assert decision.reason.startswith("target MOTOR_OVERHEAT is not the current model's (any)")
    assert current_model(out)["model_id"] == weak.model_id
    assert promote(out, other, reason="by hand")["target"] == "MOTOR_OVERHEAT"


def test_a_current_model_that_cannot_score_the_new_features(
    trained: TrainedModel, blind: TrainedModel, blind_features: FeatureSet, tmp_path: Path
) -> None:
    out = _models_root(tmp_path, trained, blind)
    promote(out, trained.model_id, reason="start")
    kept = promote_candidate(out, blind.model_id, blind_features, "manual")
    assert not kept.promoted and "current model cannot score the new features" in kept.reason
    decision = promote_candidate(out, blind.model_id, blind_features, "not_worse")
    assert decision.promoted and decision.reason == "current model cannot score the new features"
    assert decision.comparison is not None
    current = decision.comparison["current"]
    assert current["model_id"] == trained.model_id and current["pr_auc"] is None
    assert "does not match the features" in current["error"] and TEMP in current["error"]
    assert decision.comparison["candidate"]["pr_auc"] == blind.metrics["valid"]["pr_auc"]


# --------------------------------------------------------------------------------------- command line


def test_models_commands_and_score_with_the_current_model(
    trained: TrainedModel,
    weak: TrainedModel,
    features_out: Store,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    out = _models_root(tmp_path / "out", trained, weak)
    scores = str(tmp_path / "scores")
    score = ["score", "--features", features_out.url, "--models", out.url, "--out", scores]
    assert main(score) == 2
    assert "`telemetry models promote --out" in capsys.readouterr().err

    assert main(["models", "list", "--out", out.url]) == 0
    text = capsys.readouterr().out
    assert trained.model_id in text and weak.model_id in text and "no current model" in text

    assert main(["models", "promote", "--out", out.url, weak.model_id, "--reason", "on call said so"]) == 0
    assert f"current           {weak.model_id} (previous: none)" in capsys.readouterr().out
    assert main(["models", "promote", "--out", out.url, weak.model_id]) == 0
    assert "already; nothing changed" in capsys.readouterr().out
    assert main(["models", "promote", "--out", out.url, "any-000000000000"]) == 2
    assert "cannot promote" in capsys.readouterr().err

    assert main(["models", "list", "--out", out.url]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[1] for line in lines if line.startswith("*")] == [weak.model_id]

    assert main(["models", "show", "--out", out.url]) == 0  # the current model
    text = capsys.readouterr().out
    assert f"model             {weak.model_id}" in text and "current           yes" in text
    assert re.search(r"history\s+\S+\s+current\s+\(hand\) on call said so", text)
    assert main(["models", "show", "--out", out.url, trained.model_id]) == 0
    text = capsys.readouterr().out
    assert "current           no" in text and "history           never promoted" in text

    assert main(score) == 0  # without --model: the current model of --models
    assert f"model             {weak.model_id} (current of {out.url};" in capsys.readouterr().out
    written = pd.concat(
        pq.read_table(io.BytesIO(Path(scores, key).read_bytes())).to_pandas()
        for key in Store(scores).list_keys("scores/")
    )
    assert set(written["model_id"]) == {weak.model_id} and len(written) == len(
        read_feature_set(features_out, FLEET).frame
    )
    assert main([*score, "--model", f"{out.url}/models/{trained.model_id}"]) == 2  # one or the other
    assert "not both" in capsys.readouterr().err


def test_train_promotes_only_the_first_model_of_a_root(
    features_out: Store, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(train_stage, "render_report", lambda _data: HTML)
    sets = [arg for item in CONFIG_OVERRIDES for arg in ("--set", item)]
    train = ["train", "--features", features_out.url, *sets]
    assert main([*train, "--out", str(tmp_path / "a")]) == 0
    text = capsys.readouterr().out
    model_id = re.search(r"current\s+(\S+) \(the first model of", text)
    assert model_id and current_model(Store(str(tmp_path / "a")))["rule"] == "first"
    assert main([*train, "--out", str(tmp_path / "a"), "--set", "train.seed=8"]) == 0  # a second model
    text = capsys.readouterr().out
    assert (
        f"(current is {model_id.group(1)})" in text and "promote with      telemetry models promote" in text
    )
    assert current_model(Store(str(tmp_path / "a")))["model_id"] == model_id.group(1)
    assert main([*train, "--out", str(tmp_path / "b"), "--set", "train.promotion=manual"]) == 0
    assert "no current model (train.promotion is manual)" in capsys.readouterr().out
    assert current_model(Store(str(tmp_path / "b"))) is None


# ------------------------------------------------------------------------------------------------ S3


@pytest.mark.s3
def test_the_pointer_on_s3(
    trained: TrainedModel, weak: TrainedModel, s3_bucket_url: str, s3_config: S3Config
) -> None:
    out = Store(s3_bucket_url.rsplit("/", 1)[0] + "/out", s3_config)
    for model in (trained, weak):
        write_model(out, model)
    assert current_model(out) is None
    first = promote(out, weak.model_id, reason="first")
    second = promote(out, trained.model_id, reason="second")
    assert current_model(out) == second and second["previous"] == weak.model_id
    assert load_current_model(out.url, s3_config).model_id == trained.model_id
    assert [h["status"] for h in promotion_history(out)] == ["superseded", "current"]
    assert promotion_history(out)[0]["promotion_id"] == first["promotion_id"]
    assert list(list_models(out)["current"]) == [
        m.model_id == trained.model_id for m in list_models(out).itertuples()
    ]
