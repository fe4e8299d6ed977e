"""Failure predictors: split, folds, rounds, targets and baseline units against brute-force references,
then real LightGBM training on small simulated fleets (with and without precursors), scoring and the CLI.
The metrics are tested in tests/test_evaluate.py, model folders and scores files in tests/test_registry.py."""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import average_precision_score

from telemetry.api import read_features
from telemetry.cli import main
from telemetry.config import TelemetryConfig, load_config
from telemetry.errors import ModelError
from telemetry.io.registry import load_model, write_model
from telemetry.io.store import Store
from telemetry.run.pipeline import run_features
from telemetry.run.train import train_models
from telemetry.sim.faults import FaultRates
from telemetry.sim.fleet import FleetSpec, simulate_fleet
from telemetry.stages import report as report_stage
from telemetry.stages import train as stage
from telemetry.stages.evaluate import average_precision
from telemetry.stages.incidents import failures_from_labels, incident_threshold, incidents
from telemetry.stages.report import IncidentTimeline, timeline_windows
from telemetry.stages.score import failure_catches, score_features

DAYS = 4
START = dt.date(2026, 11, 2)
OVERRIDES = [
    "labels.negative_fraction=0.2",
    "train.max_rounds=150",
    "train.early_stopping_rounds=25",
    "train.threads=1",
    "train.cv_folds=1",  # one training-span fold besides the validation span: half the fits
]
CONFIG = load_config(env={}, overrides=OVERRIDES)


# ------------------------------------------------------------------------------------------- units


def _midnight(day: dt.date) -> int:
    return int(dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC).timestamp() * 1000)


def test_time_split_by_fraction_and_by_time() -> None:
    days = [START + dt.timedelta(days=i) for i in range(8)]
    split = stage.time_split(days[::-1], 0.25, 0.25)  # order of the input does not matter
    assert (split.valid_start_ms, split.test_start_ms) == (_midnight(days[4]), _midnight(days[6]))
    assert split.robot_days(days + days) == {"train": 8.0, "valid": 4.0, "test": 4.0}  # two robots
    split = stage.time_split(days, 0.25, 0.25, valid_start=days[3], test_start=days[7])
    assert (split.valid_start_ms, split.test_start_ms) == (_midnight(days[3]), _midnight(days[7]))
    three = stage.time_split(days[:3], 0.4, 0.4)
    assert (three.valid_start_ms, three.test_start_ms) == (_midnight(days[1]), _midnight(days[2]))
    with pytest.raises(ModelError, match="at least 3 days"):
        stage.time_split(days[:2], 0.25, 0.25)
    # inside one day: instants (naive = UTC); exposure is split by the hour
    noon, six = dt.datetime(2026, 11, 2, 12), dt.datetime(2026, 11, 2, 18)
    one_day = stage.time_split([START], 0.25, 0.25, valid_start=noon, test_start=six)
    assert one_day.robot_days([START]) == {"train": 0.5, "valid": 0.25, "test": 0.25}
    assert one_day.spans() == {"valid_start": "2026-11-02T12:00:00Z", "test_start": "2026-11-02T18:00:00Z"}
    with pytest.raises(ModelError, match="must start before"):
        stage.time_split([START], 0.25, 0.25, valid_start=six, test_start=noon)


def test_split_masks_purge_rows_whose_label_window_reaches_the_next_split() -> None:
    days = [START + dt.timedelta(days=i) for i in range(3)]
    split = stage.time_split(days, 0.3, 0.3)
    valid_start, test_start = split.valid_start_ms, split.test_start_ms
    horizon = 300_000
    cutoffs = np.array(
        [valid_start - horizon - 1, valid_start - horizon, valid_start + 5, test_start - horizon, test_start],
        dtype=np.int64,
    )
    masks = stage.split_masks(cutoffs, split, horizon)
    assert masks["train"].tolist() == [True, False, False, False, False]  # c + h must be < valid start
    assert masks["purged_train"].tolist() == [False, True, False, False, False]
    assert masks["valid"].tolist() == [False, False, True, False, False]
    assert masks["purged_valid"].tolist() == [False, False, False, True, False]
    assert masks["test"].tolist() == [False, False, False, False, True]


def test_target_labels_keep_only_the_target_code() -> None:
    frame = pd.DataFrame({"label": [0, 1, 1, 0], "failure_code": [None, "A", "B", None]})
    y, keep = stage.target_labels(frame, "any")
    assert y.tolist() == [0, 1, 1, 0] and keep.all()
    y, keep = stage.target_labels(frame, "B")
    assert y.tolist() == [0, 0, 1, 0] and keep.tolist() == [True, False, True, True]


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.integers(0, 10_000), min_size=1, max_size=40),
    st.integers(0, 3_000),
    st.integers(1, 4),
)
def test_time_folds_are_expanding_purged_blocks(cutoff_list: list[int], horizon: int, n_folds: int) -> None:
    cutoffs = np.array(cutoff_list, dtype=np.int64)
    folds = stage.time_folds(cutoffs, horizon, n_folds)
    assert len(folds) == n_folds
    lo, hi = int(cutoffs.min()), int(cutoffs.max())
    edges = [lo + (hi - lo) * k // (n_folds + 1) for k in range(n_folds + 2)]
    for k, (fit, evaluate) in enumerate(folds, start=1):
        for i, c in enumerate(cutoff_list):
            in_block = edges[k] <= c < edges[k + 1] or (k == n_folds and c == hi and c >= edges[k])
            assert evaluate[i] == in_block
            assert fit[i] == (c + horizon < edges[k])  # label window ends before the evaluated block
            assert not (fit[i] and evaluate[i])
    # the evaluated blocks are disjoint and, with the first block, cover every row
    evaluated = np.sum([e for _, e in folds], axis=0)
    assert evaluated.max() <= 1
    first_block = cutoffs < edges[1]
    assert np.all((evaluated == 1) | first_block)


def test_choose_rounds_averages_pads_smooths_and_keeps_a_minimum() -> None:
    config = load_config(env={}, overrides=["train.rounds_smoothing=0", "train.min_rounds=1"]).train
    # two folds: one peaks at round 3, the other stopped early at round 2 (padded with its last value)
    curves = [np.array([0.1, 0.2, 0.9, 0.3, 0.3]), np.array([0.5, 0.4])]
    choice = stage.choose_rounds(curves, config)
    assert choice.rounds == 3 and choice.folds == 2
    assert choice.curve == pytest.approx([0.3, 0.3, 0.65, 0.35, 0.35])
    assert choice.score == pytest.approx(0.65)
    # a lone spike at round 1 among steady gains: smoothing prefers the plateau
    steppy = [np.array([0.9, 0.1, 0.1, 0.6, 0.6, 0.6, 0.6, 0.6, 0.6])]
    assert stage.choose_rounds(steppy, config).rounds == 1
    wide = load_config(env={}, overrides=["train.rounds_smoothing=1", "train.min_rounds=1"]).train
    assert stage.choose_rounds(steppy, wide).rounds == 5
    assert stage.smoothed(np.array([1.0, 2.0, 6.0]), 1).tolist() == [1.5, 3.0, 4.0]
    floor = load_config(env={}, overrides=["train.rounds_smoothing=0", "train.min_rounds=4"]).train
    assert stage.choose_rounds([np.array([0.9, 0.1, 0.1, 0.1, 0.1])], floor).rounds == 4
    with pytest.raises(ModelError, match="no validation curve"):
        stage.choose_rounds([], config)


def test_expand_targets_trains_modes_with_enough_positives_and_names_the_others() -> None:
    codes = ["A"] * 12 + ["B"] * 3 + ["C"] * 12 + [None] * 10
    label = [1] * 27 + [0] * 10
    frame = pd.DataFrame({"label": label, "failure_code": codes})
    train = np.array([True] * 10 + [False] * 2 + [True] * 2 + [False] + [True] * 12 + [True] * 10)
    valid = ~train
    masks = {"train": train, "valid": valid}
    kept, skipped = stage.expand_targets(frame, ["any", "modes"], masks, 10)
    assert kept == ["any", "A"]  # A: 10 training + 2 validation positives
    assert set(skipped) == {"B", "C"}  # B: 2 training positives; C: no validation positive
    assert "2 training and 1 validation" in skipped["B"]
    # a code named explicitly is trained whatever its count (the fit says when it cannot)
    kept, skipped = stage.expand_targets(frame, ["B", "modes"], masks, 10)
    assert kept == ["B", "A"] and set(skipped) == {"C"}


@settings(max_examples=100, deadline=None)
@given(st.integers(0, 5), st.integers(0, 400), st.sampled_from([None, 1.0, 10.0, 50.0]), st.integers(0, 3))
def test_sampled_negatives_keep_positives_and_the_negatives_total_weight(
    n_pos: int, n_neg: int, ratio: float | None, seed: int
) -> None:
    y = np.r_[np.ones(n_pos), np.zeros(n_neg)].astype(np.int8)
    weight = np.r_[np.ones(n_pos), np.full(n_neg, 5.0)]
    keep, scaled = stage.sampled_negatives(y, weight, ratio, seed)
    assert keep[y == 1].all() and (scaled[y == 1] == 1.0).all()
    if ratio is None or n_pos == 0 or n_neg <= ratio * n_pos:
        assert keep.all() and scaled is weight
    else:
        assert int(keep[y == 0].sum()) == int(ratio * n_pos)
        assert scaled[keep & (y == 0)].sum() == pytest.approx(weight[y == 0].sum())
    again = stage.sampled_negatives(y, weight, ratio, seed)
    assert (again[0] == keep).all()  # seeded: the same rows every time


@settings(max_examples=150, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.integers(0, 1),
            st.sampled_from([np.nan, 0.0, 1.0, 2.0, 3.0]),
            st.sampled_from([np.nan, 5.0, -1.0]),
        ),
        min_size=2,
        max_size=30,
    )
)
def test_best_single_feature_is_the_best_column_either_way_round(
    rows: list[tuple[int, float, float]],
) -> None:
    y = np.array([r[0] for r in rows], dtype=np.int8)
    if not y.any():
        y[0] = 1
    x = np.array([[r[1], r[2]] for r in rows])
    w = np.ones(len(rows))
    columns = [stage.FeatureColumn("a", "double", "numeric"), stage.FeatureColumn("b", "double", "numeric")]
    name, direction, ap = stage.best_single_feature(x, y, w, columns)

    def reference(col: np.ndarray, sign: int) -> float:  # NaN ranks last in both directions
        score = np.where(np.isnan(col), -1e9, sign * col)
        return float(average_precision_score(y, score, sample_weight=w))

    expected = max(reference(x[:, j], d) for j in range(2) for d in (1, -1))
    assert ap == pytest.approx(expected)
    assert reference(x[:, ["a", "b"].index(name)], direction) == pytest.approx(ap)


# ------------------------------------------------------------------------------ simulated fleets


def _fleet(
    root: Path, *, precursors: bool, seed: int, hours: float, rate: float, config: TelemetryConfig = CONFIG
) -> Store:
    spec = FleetSpec(
        robots=4, days=DAYS, hours=hours, seed=seed, failure_rate=rate, precursors=precursors,
        faults=FaultRates.none(),
    )  # fmt: skip
    raw, out = Store(str(root / "raw")), Store(str(root / "out"))
    simulate_fleet(spec, raw.write_bytes)
    run_features(raw, out, config, fleet=config.fleet, start=START, end=START + dt.timedelta(days=DAYS - 1))
    return out


# Failures at random, but not too dense: a robot stands still for up to 6.5 min after a failure and then
# resumes its duty cycle, and random failures are >= 10 min apart. At 100 failures per robot-day (a
# failure every ~14 min of a 3 h day) nearly every cutoff lies in some failure's aftermath, and the few
# that survive the cooldown differ in duty-cycle state between positives and negatives (a selection
# effect, ROC-AUC ~0.66 there). A 20 min cooldown and 40 failures per robot-day keep both sets in
# steady operation.
NULL_CONFIG = load_config(env={}, overrides=[*OVERRIDES, "labels.cooldown_s=1200"])


@pytest.fixture(scope="module")
def precursor_out(tmp_path_factory: pytest.TempPathFactory) -> Store:
    return _fleet(tmp_path_factory.mktemp("precursors"), precursors=True, seed=11, hours=3.0, rate=100.0)


@pytest.fixture(scope="module")
def null_out(tmp_path_factory: pytest.TempPathFactory) -> Store:
    return _fleet(
        tmp_path_factory.mktemp("null"), precursors=False, seed=12, hours=4.0, rate=40.0, config=NULL_CONFIG
    )


def _train(out: Store, config: TelemetryConfig = CONFIG, **kwargs: Any) -> Any:
    features = read_features(out, config.fleet)
    (model,) = train_models(features, config, **{"targets": ["any"], **kwargs})
    return model


@pytest.fixture(scope="module")
def precursor_model(precursor_out: Store) -> stage.TrainedModel:
    """``_train(precursor_out)``: the `any` model with CONFIG, trained once for the tests that only read it
    (none of them changes it)."""
    model: stage.TrainedModel = _train(precursor_out)
    return model


def test_precursors_are_learned_and_post_failure_signals_carry_nothing(
    precursor_model: stage.TrainedModel,
) -> None:
    model = precursor_model
    test = model.metrics["test"]
    assert test["n_pos"] >= 10
    assert test["pr_auc"] > 0.3 > 10 * test["prevalence"]
    assert test["roc_auc"] > 0.85
    assert test["pr_auc"] > model.metrics["baselines"]["one_feature"]["pr_auc"]
    assert sum(m["n_pos"] for m in model.metrics["per_mode"].values()) == test["n_pos"]
    assert set(model.metrics["per_mode"]) <= {
        "MOTOR_OVERHEAT",
        "LOCALIZATION_LOST",
        "BATTERY_BROWNOUT",
        "E_STOP",
    }
    # seconds in ABORTED and recovery events happen only after failures: the cooldown keeps them out
    # (window features only: time since the last recovery, with no window bound, is history of earlier
    # failures, which is information the model may use)
    post = [
        name
        for name in model.metadata["features"]
        if ("ABORTED" in name["name"] or "recovery" in name["name"]) and "__w" in name["name"]
    ]
    assert post
    importance = stage.importance_by_gain(
        __import__("lightgbm").Booster(model_str=model.model_text),
        [stage.FeatureColumn.from_dict(c) for c in model.metadata["features"]],
        model.metadata["best_iteration"],
    )
    assert all(importance[c["name"]] == 0.0 for c in post)
    # the threshold was chosen on validation days for the budget
    assert model.metrics["valid"]["alerts_per_robot_day"] <= CONFIG.train.alert_budget + 1e-9


def test_training_is_deterministic(precursor_out: Store, precursor_model: stage.TrainedModel) -> None:
    first, second = precursor_model, _train(precursor_out)  # two separate fits of the same features
    assert first.model_id == second.model_id
    assert first.model_text == second.model_text
    assert first.metrics == second.metrics


def test_no_precursors_means_no_better_than_prevalence(null_out: Store) -> None:
    """A fleet whose failures come at random: the model must not find anything (a leak would)."""
    model = _train(null_out, NULL_CONFIG)
    test = model.metrics["test"]
    n1, n0 = test["n_pos"], test["n_neg"]
    assert n1 >= 10
    se = ((n0 + n1 + 1) / (12 * n0 * n1)) ** 0.5  # Mann-Whitney standard error under no separation
    assert abs(test["roc_auc"] - 0.5) < 3 * se
    # average precision with ~15 positives is noisy: compare it with its permutation distribution
    features = read_features(null_out, NULL_CONFIG.fleet)
    split = stage.time_split(
        features.dates, NULL_CONFIG.train.valid_fraction, NULL_CONFIG.train.test_fraction
    )
    frame = features.frame
    te = stage.split_masks(frame["cutoff"].to_numpy(), split, 300_000)["test"]
    y = frame["label"].to_numpy(dtype=np.int8)[te]
    w = frame["weight"].to_numpy()[te]
    rng = np.random.default_rng(0)
    null_ap = [average_precision(y, rng.random(len(y)), w) for _ in range(2000)]
    assert test["pr_auc"] < float(np.quantile(null_ap, 0.99)), (test["pr_auc"], np.quantile(null_ap, 0.99))


def test_per_code_target_and_artifacts(precursor_out: Store, tmp_path: Path) -> None:
    model = _train(precursor_out, targets=["MOTOR_OVERHEAT"])
    assert model.model_id.startswith("motor-overheat-")
    assert set(model.metrics["per_mode"]) <= {"MOTOR_OVERHEAT"}
    url = write_model(Store(str(tmp_path)), model)
    folder = Path(url)
    assert sorted(p.name for p in folder.iterdir()) == [
        "config.yaml", "metadata.json", "metrics.json", "model.txt", "report.html"
    ]  # fmt: skip
    metrics = json.loads((folder / "metrics.json").read_text())
    for key in ("pr_auc", "roc_auc", "prevalence", "precision", "recall", "threshold", "alerts_per_robot_day",
                "median_lead_s", "n_pos", "n_neg"):  # fmt: skip
        assert key in metrics["test"]
    meta = json.loads((folder / "metadata.json").read_text())
    assert meta["split"]["valid_start"] < meta["split"]["test_start"]
    assert meta["split"]["robot_days"] == {"train": 8.0, "valid": 4.0, "test": 4.0}
    # by default the fit sees every training negative (a uniform sample loses the rare look-alikes)
    fit_rows = meta["split"]["fit_rows"]
    assert fit_rows["negatives_per_positive"] is None and fit_rows["rows"] == fit_rows["of"] > 0
    assert len(meta["features_used"]["partitions"]) == 4 * DAYS
    html = (folder / "report.html").read_text()
    assert html.count('src="data:image/png;base64,') >= 5
    assert not re.search(r'(src|href)="https?://', html), "the report must be viewable offline"
    loaded = load_model(url)
    assert loaded.booster.num_trees() == meta["best_iteration"]


def test_score_grid_days_and_refuse_mismatched_features(
    precursor_out: Store, precursor_model: stage.TrainedModel, tmp_path: Path
) -> None:
    model = precursor_model
    url = write_model(Store(str(tmp_path / "models")), model)
    # new days: features on the grid, no negative subsampling (deployment)
    grid_config = load_config(env={}, overrides=[*OVERRIDES[1:], "labels.mode=grid"])
    raw = Store(str(Path(precursor_out.url).parent / "raw"))
    scored_out = Store(str(tmp_path / "grid"))
    last = START + dt.timedelta(days=DAYS - 1)
    run_features(raw, scored_out, grid_config, fleet=grid_config.fleet, start=last, end=last)
    loaded = load_model(url)
    scores = score_features(loaded, read_features(scored_out, grid_config.fleet))
    assert scores["risk"].between(0, 1).all()
    assert (scores["alert"] == (scores["risk"] >= loaded.threshold)).all()
    assert scores.loc[scores["alert"], "top_features"].notna().all()
    catches = failure_catches(scores, grid_config.labels.horizon_s)
    assert len(catches) > 0
    assert catches.loc[catches["caught"], "lead_s"].between(0, 300).all()

    # CLI: the same through `telemetry score`, then a mismatch (other windows) is refused
    code = main(["score", "--model", url, "--features", scored_out.url, "--out", str(tmp_path / "s")])
    assert code == 0
    assert list((tmp_path / "s" / "scores" / loaded.model_id).rglob("*.parquet"))
    other = Store(str(tmp_path / "other"))  # one robot-day is enough to be refused
    other_config = load_config(env={}, overrides=["features.windows_s=[10]", "labels.mode=grid"])
    run_features(raw, other, other_config, fleet=CONFIG.fleet, start=last, end=last, robots=["amr-0001"])
    with pytest.raises(ModelError, match="does not match the features"):
        score_features(loaded, read_features(other, other_config.fleet))


def test_cli_train_prints_metrics_and_report(precursor_out: Store, tmp_path: Path, capsys: Any) -> None:
    args = ["train", "--features", precursor_out.url, "--out", str(tmp_path)]
    for item in OVERRIDES:
        args += ["--set", item]
    assert main(args) == 0
    out = capsys.readouterr().out
    # with no --target: `any` and one model per failure mode with enough positives; the others are named
    assert re.search(r"test\s+PR-AUC 0\.\d{3} \[0\.\d+, [01]\.?\d*\] \(prevalence 0\.\d{3}", out)
    assert "(target any," in out
    trained = set(re.findall(r"\(target ([A-Z_]+),", out))
    skipped = set(re.findall(r"skipped\s+([A-Z_]+): \d+ training", out))
    assert trained and skipped and not trained & skipped
    features = read_features(precursor_out, CONFIG.fleet)
    positive_codes = set(features.frame.loc[features.frame["label"] == 1, "failure_code"])
    assert trained | skipped == positive_codes
    report = re.search(r"report\s+(\S+)", out)
    assert report and Path(report.group(1)).is_file()
    assert main(["train", "--features", str(tmp_path / "nothing")]) == 2
    assert "no feature partitions" in capsys.readouterr().err


def test_no_positives_is_a_clear_error(precursor_out: Store) -> None:
    config = load_config(env={}, overrides=[*OVERRIDES, "train.targets=[NO_SUCH_CODE]"])
    with pytest.raises(ModelError, match="positives"):
        _train(precursor_out, config, targets=None)  # the configuration's targets


def test_distributed_training_on_real_worker_processes(
    precursor_out: Store, dask_cluster_address: Any, tmp_path: Path, capsys: Any
) -> None:
    """`telemetry train --distributed` boosts with lightgbm.dask on a 2-worker cluster; the best iteration
    is picked on the validation days afterwards (lightgbm.dask has no early stopping)."""
    dask_cluster_address.ensure_workers()
    args = ["train", "--features", precursor_out.url, "--out", str(tmp_path), "--target", "any",
            "--distributed", "--scheduler", dask_cluster_address.address,
            "--set", "train.timeout_s=300"]  # fmt: skip
    for item in OVERRIDES:
        args += ["--set", item]
    assert main(args) == 0
    out = capsys.readouterr().out
    (meta_path,) = list(tmp_path.glob("models/*/metadata.json"))
    meta = json.loads(meta_path.read_text())
    assert meta["distributed"] is True
    assert 1 <= meta["best_iteration"] <= CONFIG.train.max_rounds
    test = meta["metrics"]["test"]
    assert test["pr_auc"] > 10 * test["prevalence"]
    assert "report" in out


def test_search_picks_the_candidate_with_the_best_validation_curves(precursor_out: Store) -> None:
    config = load_config(env={}, overrides=[*OVERRIDES, "train.search=true", "train.max_rounds=60"])
    model = _train(precursor_out, config)
    tried = model.metadata["search"]
    assert len(tried) == 6
    assert {(t["num_leaves"], t["min_child_samples"]) for t in tried} == {
        (n, c) for n in (7, 15, 31) for c in (5, 20)
    }
    best = max(tried, key=lambda t: t["curve_score"])  # the first of equals: max keeps the first
    assert model.metadata["params"]["num_leaves"] == best["num_leaves"]
    assert model.metadata["params"]["min_data_in_leaf"] == best["min_child_samples"]
    assert model.metadata["best_iteration"] == best["trees"]


def test_incident_budget_sets_the_threshold_and_adds_event_metrics(
    precursor_out: Store, tmp_path: Path
) -> None:
    """Grid-mode features (every cutoff) of two robots on the last three days, `train.incident_budget`: the
    threshold is the incident-budget threshold of the validation rows and the metrics gain `events`
    (incidents against the failures the labels point at)."""
    config = load_config(
        env={},
        overrides=[*OVERRIDES[1:], "labels.mode=grid", "train.incident_budget=2", "train.max_rounds=60",
                   "train.bootstrap_resamples=100"],
    )  # fmt: skip
    raw = Store(str(Path(precursor_out.url).parent / "raw"))
    out = Store(str(tmp_path / "grid"))
    robots = sorted(p.stem for p in (Path(raw.url) / f"fleet={config.fleet}" / f"date={START}").glob("*.zip"))
    assert len(robots) == 4
    run_features(raw, out, config, fleet=config.fleet, start=START + dt.timedelta(days=1),
                 end=START + dt.timedelta(days=DAYS - 1), robots=robots[:2])  # fmt: skip
    features = read_features(out, config.fleet)
    assert sorted(features.frame["robot_id"].unique()) == robots[:2]
    (model,) = train_models(features, config, targets=["any"])
    meta = model.metadata
    assert meta["threshold_rule"] == {"incidents": 2.0}
    assert meta["incidents"] == {"hysteresis": config.alerts.hysteresis, "quiet_s": config.alerts.quiet_s}
    # the threshold is incident_threshold on every validation row (no suppression)
    frame = features.frame
    split = stage.time_split(features.dates, config.train.valid_fraction, config.train.test_fraction)
    masks = stage.split_masks(frame["cutoff"].to_numpy(), split, round(config.labels.horizon_s * 1000))
    valid = frame.loc[masks["valid"]]
    columns = [stage.FeatureColumn.from_dict(c) for c in meta["features"]]
    risk = stage.predict_risk(
        __import__("lightgbm").Booster(model_str=model.model_text),
        stage.feature_matrix(valid, columns),
        meta["logit_offset"],
    )
    scores = pd.DataFrame({"robot_id": valid["robot_id"], "cutoff": valid["cutoff"], "risk": risk})
    robot_days = meta["split"]["robot_days"]
    assert meta["threshold"] == incident_threshold(
        scores, budget=2.0, robot_days=robot_days["valid"], alerts=config.alerts
    )
    assert model.metrics["test"]["threshold"] == meta["threshold"]
    # event metrics of both spans, plain JSON; the validation incidents are within the budget
    events = model.metrics["test"]["events"]
    assert events["failures"] == len(failures_from_labels(frame.loc[masks["test"]])) > 0
    assert 0 <= events["caught"] <= events["failures"] and events["robot_days"] == robot_days["test"]
    assert all(0 < lead <= config.labels.horizon_s for lead in events["lead_times_s"])
    assert model.metrics["valid"]["events"]["incidents_per_robot_day"] <= 2.0
    json.dumps(model.metrics, allow_nan=False)
    assert "incidents per robot-day" in model.report_html
    # the report: one timeline per robot-window around up to 4 test failures, instead of the kept-row plots
    html = model.report_html
    assert "<h2>Timeline per robot: risk, incidents, failures</h2>" in html
    assert html.count('alt="incident timeline"') == min(4, events["failures"])
    assert 'alt="risk timeline"' not in html and "Risk around test failures" not in html
    assert not re.search(r'(src|href)="https?://', html)


def test_timeline_windows_pick_caught_failures_of_longest_lead_then_missed_ones() -> None:
    """Two windows of caught failures (longest lead first), then the earliest missed ones; without failures
    the unsuppressed incidents of highest peak; the report draws one image per window."""
    minute = m = 60_000
    scores = pd.DataFrame({"robot_id": ["a"] * 60 + ["b"] * 60, "cutoff": [i * minute for i in range(60)] * 2,
                           "risk": np.r_[np.linspace(0.01, 0.9, 60), np.full(60, 0.02)]})  # fmt: skip
    config = TelemetryConfig()
    found = incidents(scores, threshold=0.5, alerts=config.alerts)
    opened = int(found["opened"].iloc[0])
    failures = pd.DataFrame({"robot_id": ["a", "a", "b", "b", "b"],
                             "ts": [opened + minute, opened + 4 * minute, 10 * minute, 5 * minute, 50 * m],
                             "code": ["E1", "E2", "E3", "E4", "E5"]})  # fmt: skip
    tl = IncidentTimeline(scores, found, failures, threshold=0.5, hysteresis=0.5, horizon_s=300.0)
    windows = timeline_windows(tl)
    assert [(r, t) for r, t, _ in windows] == [("a", opened + 4 * minute), ("a", opened + minute),
                                              ("b", 5 * minute), ("b", 10 * minute)]  # fmt: skip
    assert "E2 caught, lead 4.0 min" in windows[0][2] and "E4 missed" in windows[2][2]
    no_failures = IncidentTimeline(
        scores, found, failures.iloc[:0], threshold=0.5, hysteresis=0.5, horizon_s=300.0
    )
    assert [(r, t) for r, t, _ in timeline_windows(no_failures)] == [("a", int(found["peak_cutoff"].iloc[0]))]
    # drawn: an incident still open at the end (closed null) and a suppressed one (hatched) among them
    assert found["closed"].isna().all()
    muted = found.assign(robot_id="b", suppressed=True)
    both = IncidentTimeline(scores, pd.concat([found, muted], ignore_index=True), failures, threshold=0.5,
                            hysteresis=0.5, horizon_s=300.0)  # fmt: skip
    images = report_stage._incident_timelines(both)
    assert len(images) == 4 and all(src.startswith("data:image/png;base64,") for src in images)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(st.sampled_from(["a", "b"]), st.integers(0, 40), st.integers(0, 1), st.integers(1, 12)),
        max_size=40,
        unique_by=lambda r: (r[0], r[1]),
    )
)
def test_nearest_positive_rows_keep_each_failures_last_cutoff(rows: list[tuple[str, int, int, int]]) -> None:
    # (robot, cutoff step, label, steps to the failure): cutoffs 5 s apart
    frame = pd.DataFrame(
        {
            "robot_id": [r[0] for r in rows],
            "cutoff": [r[1] * 5000 for r in rows],
            "label": np.array([r[2] for r in rows], dtype=np.int8),
            "time_to_failure_s": [5.0 * r[3] if r[2] else np.nan for r in rows],
        }
    )
    keep = stage.nearest_positive_rows(frame)
    for i, (robot, step, label, ahead) in enumerate(rows):
        if not label:
            assert keep[i]
            continue
        failure = step + ahead  # the failure this row names (in steps)
        same = [j for j, r in enumerate(rows) if r[2] and r[0] == robot and r[1] + r[3] == failure]
        nearest = min(same, key=lambda j: (rows[j][3], rows[j][1]))
        assert keep[i] == (i == nearest)
