"""The dense-failure cobot simulator: deterministic bytes, a stop about every 75 s with its outage and
recovery, documents that all extract to exactly the simulated samples, the command line, and the acceptance:
with the documented settings (``cobot_config``: no ``other_failure``, time since the last stop as a
feature) a model learns the precursors of the stops."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml

from telemetry.api import read_features
from telemetry.cli import main
from telemetry.config import TelemetryConfig, load_config
from telemetry.contract.ziplib import build_day_zip
from telemetry.io.store import Store
from telemetry.run.pipeline import run_extract, run_features
from telemetry.run.train import train_models
from telemetry.sim.cobot import (
    COBOT_SIGNALS,
    STOP_CODES,
    CobotDay,
    CobotSpec,
    cobot_config,
    cobot_ids,
    simulate_cobot_days,
    simulate_cobots,
)
from telemetry.stages.extract import extract_day_zip

START = dt.date(2026, 11, 2)


def _days(spec: CobotSpec) -> list[CobotDay]:
    return [cd for robot in cobot_ids(spec) for cd in simulate_cobot_days(spec, robot)]


def _config_file(tmp_path: Path, *overrides: str) -> TelemetryConfig:
    path = tmp_path / "cobot.yaml"
    path.write_text(yaml.safe_dump(cobot_config()), encoding="utf-8")
    os.chmod(path, 0o644)
    return load_config(path, env={}, overrides=list(overrides))


def test_same_seed_same_bytes() -> None:
    spec = CobotSpec(robots=2, days=2, hours=0.25, seed=3)
    written: dict[str, bytes] = {}
    again: dict[str, bytes] = {}
    simulate_cobots(spec, written.__setitem__)
    simulate_cobots(spec, again.__setitem__)
    assert written == again
    assert len(written) == 2 * 2 + 1  # robot-days and the ground truth
    other: dict[str, bytes] = {}
    simulate_cobots(CobotSpec(robots=2, days=2, hours=0.25, seed=4), other.__setitem__)
    assert set(other) == set(written)
    assert all(other[k] != written[k] for k in written if k.endswith(".zip"))
    # one robot does not depend on the others
    alone = _days(CobotSpec(robots=1, days=2, hours=0.25, seed=3))
    assert [cd.members for cd in alone] == [cd.members for cd in _days(spec)[:2]]


def test_stops_every_minute_with_precursors_outages_and_recoveries() -> None:
    spec = CobotSpec(days=2, hours=3, seed=1)
    days = _days(spec)
    failures = [f for cd in days for f in cd.failures]
    per_hour = len(failures) / (spec.days * spec.hours)
    assert 40 <= per_hour <= 60, per_hour  # a stop every 60-90 s on average
    codes = [f.code for f in failures]
    assert set(codes) == set(STOP_CODES)
    assert 0.05 <= codes.count("COLLISION") / len(codes) <= 0.3
    protective = [f for f in failures if f.code == "PROTECTIVE_STOP"]
    announced = [f for f in protective if f.precursor_s is not None]
    assert 0.7 <= len(announced) / len(protective) < 1.0  # most, not all
    assert all(f.precursor_s is None for f in failures if f.code == "COLLISION")
    assert all(5.0 <= f.precursor_s <= 20.0 for f in announced if f.precursor_s is not None)
    for cd in days:
        events, joint = cd.expected["events"], cd.expected["joint"]
        stops = events[events["kind"] == "failure"]
        recoveries = events[events["kind"] == "recovery"]
        assert stops["ts"].tolist() == [f.ts for f in cd.failures]
        # every stop is followed by its recovery 3-10 s later, before the next stop
        after = np.searchsorted(recoveries["ts"].to_numpy(), stops["ts"].to_numpy())
        gap = recoveries["ts"].to_numpy()[after] - stops["ts"].to_numpy()
        assert ((gap >= 3000) & (gap <= 10_001)).all()
        assert (recoveries["code"].to_numpy()[after] == stops["code"].to_numpy()).all()
        # the arm stands still from the stop to its recovery, and moves otherwise
        ts = joint["ts"].to_numpy()
        still = np.zeros(len(ts), dtype=bool)
        for t_f, t_r in zip(stops["ts"], recoveries["ts"].to_numpy()[after], strict=True):
            still |= (ts >= t_f) & (ts < t_r)
        assert (joint["speed"].to_numpy()[still] == 0).all()
        assert (joint["speed"].to_numpy()[~still] > 0).all()
        # signals never share a timestamp
        all_ts = np.concatenate([cd.expected[s.name]["ts"].to_numpy() for s in COBOT_SIGNALS])
        assert len(np.unique(all_ts)) == len(all_ts)


def test_no_precursors_is_the_same_stops_without_their_announcement() -> None:
    with_ = _days(CobotSpec(days=1, hours=1, seed=2))
    without = _days(CobotSpec(days=1, hours=1, seed=2, precursors=False))
    assert [(f.ts, f.code) for f in with_[0].failures] == [(f.ts, f.code) for f in without[0].failures]
    assert all(f.precursor_s is None for f in without[0].failures)
    assert any(f.precursor_s is not None for f in with_[0].failures)


def _extract_and_compare(tmp_path: Path, spec: CobotSpec) -> list[CobotDay]:
    """Write the zips, extract them with the pipeline and alone: every document extracts to the samples."""
    config = _config_file(tmp_path)
    raw, out = Store(str(tmp_path / "raw")), Store(str(tmp_path / "out"))
    days = _days(spec)
    for cd in days:
        raw.write_bytes(cd.day.key, build_day_zip(cd.members))
    end = START + dt.timedelta(days=spec.days - 1)
    report = run_extract(raw, out, config, fleet=spec.fleet, start=START, end=end).report
    members = sum(len(cd.members) for cd in days)
    assert report.documents == report.extracted + report.quarantined == members
    assert (report.quarantined, report.unknown_signals, report.unknown_fields) == (0, {}, {})
    assert sum(report.samples.values()) == sum(len(t) for cd in days for t in cd.expected.values())
    for cd in days:
        ex = extract_day_zip(
            build_day_zip(cd.members),
            day=cd.day,
            version="v1",
            signals=config.signals,
            extract=config.extract,
        )
        for name, expected in cd.expected.items():
            pd.testing.assert_frame_equal(ex.tables[name].to_pandas(), expected, check_dtype=False)
    return days


def test_every_document_extracts_to_the_simulated_samples(tmp_path: Path) -> None:
    days = _extract_and_compare(tmp_path, CobotSpec(robots=2, days=2, hours=0.5, seed=5))
    for cd in days:
        assert 340 <= len(cd.members) <= 385  # an envelope every ~5 s for 30 min
        assert len(cd.expected["joint"]) >= 1780  # 1 Hz, but the last seconds no envelope carries


@pytest.mark.slow
def test_a_continuous_run_crosses_midnight(tmp_path: Path) -> None:
    days = _extract_and_compare(tmp_path, CobotSpec(days=2, hours=24, seed=5))
    first, second = (cd.expected["joint"]["ts"] for cd in days)
    midnight = int(dt.datetime(2026, 11, 3, tzinfo=dt.UTC).timestamp() * 1000)
    # samples of the last seconds before midnight travel in the next day's zip, and never twice
    assert first.max() < second.min() < midnight
    assert all(17_000 <= len(cd.members) <= 18_500 for cd in days)  # an envelope every ~5 s


def test_spec_is_validated() -> None:
    for kwargs in ({"hours": 0}, {"hours": 25.0}, {"robots": 0}, {"days": True}, {"seed": -1}, {"fleet": ""}):
        with pytest.raises(ValueError, match="CobotSpec"):
            CobotSpec(**kwargs)
    with pytest.raises(ValueError, match="cobot-0001"):
        next(simulate_cobot_days(CobotSpec(), "amr-0001"))


def test_cli_writes_the_zips_and_the_matching_config(tmp_path: Path, capsys: Any) -> None:
    raw, path = tmp_path / "raw", tmp_path / "cobot.yaml"
    argv = ["simulate", "--profile", "cobot", "--robots", "1", "--days", "2", "--hours", "0.2"]
    assert main([*argv, "--out", str(raw), "--write-config", str(path)]) == 0
    printed = capsys.readouterr().out
    assert "simulated cobots cobot-cell: 1 robots x 2 days" in printed
    assert sorted(p.name for p in raw.glob("fleet=cobot-cell/date=*/*.zip")) == ["cobot-0001.zip"] * 2
    config = load_config(path, env={})
    assert config.fleet == "cobot-cell"
    assert [s.name for s in config.signals] == [s.name for s in COBOT_SIGNALS]
    assert "other_failure" not in config.labels.exclude
    assert "failure" in config.features.event_kinds
    assert main(["simulate", "--profile", "cobot", "--failure-rate", "3", "--out", str(raw)]) == 2
    assert "--failure-rate applies to --profile amr" in capsys.readouterr().err
    assert main(["simulate", "--write-config", str(path), "--out", str(tmp_path / "amr")]) == 2
    assert "--write-config applies to --profile cobot" in capsys.readouterr().err


# ------------------------------------------------------------------------------------------ acceptance

DAYS = 3
HOURS = 2.0
TRAIN = ["train.threads=1", "train.max_rounds=100", "train.early_stopping_rounds=20"]


@pytest.mark.slow
def test_dense_failures_are_learnable_with_the_documented_settings(tmp_path: Path) -> None:
    """1 cobot x 3 days x 2 h (~100 stops a day), ``cobot_config`` as written: train on the first day,
    validate on the second, test on the third."""
    spec = CobotSpec(days=DAYS, hours=HOURS, seed=0)
    config = _config_file(tmp_path, *TRAIN)
    raw, out = Store(str(tmp_path / "raw")), Store(str(tmp_path / "out"))
    failures = simulate_cobots(spec, raw.write_bytes)
    summary = run_features(
        raw, out, config, fleet=spec.fleet, start=START, end=START + dt.timedelta(days=DAYS - 1)
    )
    excluded = summary.excluded()
    assert "other_failure" not in excluded  # not applied, not reported
    features = read_features(out, spec.fleet)
    frame = features.frame
    assert frame["label"].sum() >= 0.9 * len(failures)  # nearly every stop makes a positive

    # time since the last stop, from events with ts < cutoff only (brute force over the ground truth)
    stops = np.array(sorted(f.ts for f in failures), dtype=np.int64)
    column = "events.kind__since_last:failure__w120s"
    cutoffs = frame["cutoff"].to_numpy(dtype=np.int64)
    before = np.searchsorted(stops, cutoffs, side="left")  # stops with ts < cutoff
    latest = stops[np.maximum(before - 1, 0)]
    seen = (before > 0) & (latest >= cutoffs - 120_000)
    expected = np.where(seen, (cutoffs - latest) / 1000.0, np.nan)
    np.testing.assert_array_equal(frame[column].to_numpy(dtype=np.float64), expected)
    assert seen.mean() > 0.8  # defined at most cutoffs: the stops are ~75 s apart

    (model,) = train_models(features, config, targets=["any"])
    test = model.metrics["test"]
    one_feature = model.metrics["baselines"]["one_feature"]["pr_auc"]
    print(
        f"cobot: test PR-AUC {test['pr_auc']:.3f}, prevalence {test['prevalence']:.4f}, "
        f"one feature {one_feature:.3f}, {model.metadata['best_iteration']} trees, {test['n_pos']} positives"
    )
    assert test["n_pos"] >= 50
    assert test["pr_auc"] >= 1.5 * test["prevalence"]
    assert test["pr_auc"] > one_feature  # more than the time since the last stop, or any one feature
