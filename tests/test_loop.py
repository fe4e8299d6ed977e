"""`telemetry run` with the train and score stages (telemetry.run.loop): a simulated fleet's grid features,
trained, promoted, scored day by day into incidents and alerts; re-runs, a stop before the alert write, a
webhook that is down."""

from __future__ import annotations

import datetime as dt
import json
import socket
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from telemetry.cli import main
from telemetry.config import load_config
from telemetry.contract.layout import alerts_key, scored_day_key
from telemetry.errors import ConfigError
from telemetry.io.alerts import read_alerts
from telemetry.io.models import current_model
from telemetry.io.store import Store
from telemetry.run import loop
from telemetry.run.pipeline import run_features
from telemetry.sim.faults import FaultRates
from telemetry.sim.fleet import FleetSpec, simulate_fleet
from telemetry.stages.incidents import event_metrics

START = dt.date(2026, 11, 2)
DAYS = 5
LAST = START + dt.timedelta(days=DAYS - 1)
FLEET_OVERRIDES = [
    "labels.mode=grid",
    "train.positive_rows=nearest",
    "train.incident_budget=1",
    "train.max_rounds=80",
    "train.threads=1",
    "train.cv_folds=1",
    "train.bootstrap_resamples=100",
]


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """Raw zips and grid features of 3 robots x 5 days (2 h a day, a failure every ~6 min on average)."""
    root = tmp_path_factory.mktemp("loop")
    config = load_config(env={}, overrides=FLEET_OVERRIDES)
    spec = FleetSpec(robots=3, days=DAYS, hours=2.0, seed=21, failure_rate=60.0, faults=FaultRates.none())
    raw, out = Store(str(root / "raw")), Store(str(root / "out"))
    simulate_fleet(spec, raw.write_bytes)
    run_features(raw, out, config, fleet=config.fleet, start=START, end=LAST)
    return root / "raw", root / "out"


def _copy(src: Path, dst: Path) -> Path:
    import shutil

    shutil.copytree(src, dst)
    return dst


def _run(out: Path, *extra: str) -> int:
    sets = [*FLEET_OVERRIDES, f"store.out_url={out}", *extra]
    return main(["run", *[a for s in sets for a in ("--set", s)]])


def test_score_needs_grid_features() -> None:
    with pytest.raises(ConfigError, match=r"labels\.mode=grid"):
        load_config(env={}, overrides=["run.stages=[score]"])


@pytest.fixture(scope="module")
def trained(fleet: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """The fleet's output root after `telemetry run` with stages train and score on the last day (stdout)."""
    import contextlib
    import io

    out = _copy(fleet[1], tmp_path_factory.mktemp("trained") / "out")
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        code = _run(out, "run.stages=[train, score]", f"run.start={LAST}", f"run.end={LAST}")
    assert code == 0, printed.getvalue()
    return out, printed.getvalue()


def test_train_promotes_the_first_model_scores_the_days_and_a_rerun_does_nothing(
    trained: tuple[Path, str], tmp_path: Path, capsys: Any
) -> None:
    out, text = _copy(trained[0], tmp_path / "out"), trained[1]
    day = LAST.isoformat()
    assert "promotion         promoted to current: " in text
    store = Store(str(out))
    pointer = current_model(store)
    assert pointer is not None
    model_id = pointer["model_id"]
    (line,) = [x for x in text.splitlines() if x.startswith(day)]
    assert "incidents" in line and "caught" in line and "false incidents/robot-day" in line
    alerts = read_alerts(store, "acme-dc3", LAST, LAST)
    assert len(alerts) > 0 and set(alerts["model_id"]) == {model_id}
    opened = pd.to_datetime(alerts["opened"], unit="ms", utc=True).dt.date
    assert (opened == LAST).all()
    scores = pd.concat(pd.read_parquet(p) for p in (out / "scores" / model_id).rglob("*.parquet"))
    assert set(scores["model_id"]) == {model_id}
    record = json.loads(store.read_bytes(scored_day_key("acme-dc3", LAST)))
    assert record["model_id"] == model_id and record["figures"]["incidents"] == len(alerts)

    before = {p: p.stat().st_mtime_ns for p in out.rglob("*") if p.is_file()}
    assert _run(out, "run.stages=[train, score]", f"run.start={day}") == 0
    again = capsys.readouterr().out
    assert "(already stored, not trained again)" in again and "already current" in again
    assert "(already scored: nothing to do)" in again
    after = {p: p.stat().st_mtime_ns for p in out.rglob("*") if p.is_file()}
    assert after == before  # nothing rewritten


def test_a_run_stopped_before_the_alert_write_leaves_nothing_partial(
    trained: tuple[Path, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    out = _copy(trained[0], tmp_path / "out")
    day = (LAST - dt.timedelta(days=1)).isoformat()  # a day the fixture did not score
    last = LAST - dt.timedelta(days=1)

    def stopped(*_: Any, **__: Any) -> None:
        raise KeyboardInterrupt  # what SIGINT raises between scoring and the alert write

    monkeypatch.setattr(loop, "write_alerts", stopped)
    assert _run(out, "run.stages=[score]", f"run.start={day}") == 130  # stopped as by SIGINT
    store = Store(str(out))
    assert not store.exists(alerts_key("acme-dc3", last))
    assert not store.exists(scored_day_key("acme-dc3", last))
    monkeypatch.undo()
    capsys.readouterr()
    assert _run(out, "run.stages=[score]", f"run.start={day}") == 0
    assert "already scored" not in capsys.readouterr().out
    assert store.exists(alerts_key("acme-dc3", last)) and store.exists(scored_day_key("acme-dc3", last))


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_webhook_down_keeps_the_alerts_and_the_run_is_partial(
    trained: tuple[Path, str], tmp_path: Path, capsys: Any
) -> None:
    out = _copy(trained[0], tmp_path / "out")
    day = LAST.isoformat()  # already scored: the delivery of its alerts is still owed
    url = f"http://127.0.0.1:{_closed_port()}/hooks/S3CR3T-T0KEN"
    args = ("run.stages=[score]", f"run.start={day}", f"alerts.webhook_url={url}", "alerts.webhook_retries=1")
    code = _run(out, *args)
    captured = capsys.readouterr()
    assert code == 1
    assert f"PARTIAL {day}: alerts stored, not delivered" in captured.err
    assert "S3CR3T" not in captured.out + captured.err
    assert len(read_alerts(Store(str(out)), "acme-dc3", LAST, LAST)) > 0


def test_training_waits_for_its_weekday_once_a_model_is_current(
    trained: tuple[Path, str], tmp_path: Path, capsys: Any
) -> None:
    out = _copy(trained[0], tmp_path / "out")
    not_monday = LAST if LAST.isoweekday() != 1 else LAST - dt.timedelta(days=1)
    assert _run(out, "run.stages=[train]", f"run.start={not_monday}", "train.weekday=1") == 0
    assert (
        f"skipped           not a training day ({not_monday} is a {not_monday:%A}" in capsys.readouterr().out
    )


def test_manual_promotion_leaves_the_current_model(
    trained: tuple[Path, str], tmp_path: Path, capsys: Any
) -> None:
    out = _copy(trained[0], tmp_path / "out")
    current = current_model(Store(str(out)))
    assert current is not None
    capsys.readouterr()
    assert (
        _run(out, "run.stages=[train]", f"run.start={LAST}", "train.span_days=4", "train.promotion=manual")
        == 0
    )
    text = capsys.readouterr().out
    assert "not promoted" in text and "telemetry models promote" in text
    after = current_model(Store(str(out)))
    assert after is not None and after["model_id"] == current["model_id"]


DAY_MS = 86_400_000


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.tuples(st.sampled_from(["a", "b"]), st.integers(0, 2 * 288 - 1)), max_size=12, unique=True),
    st.lists(st.tuples(st.sampled_from(["a", "b"]), st.integers(0, 2 * 288 - 1)), max_size=8, unique=True),
)
def test_day_events_of_consecutive_days_add_up_to_the_whole(
    opened: list[tuple[str, int]], failed: list[tuple[str, int]]
) -> None:
    # two days in 5-minute steps; every incident and failure counted on the day it happened
    step = 300_000
    found = pd.DataFrame(
        {
            "robot_id": [r for r, _ in opened],
            "opened": np.array([i * step for _, i in opened], dtype=np.int64),
            "suppressed": np.zeros(len(opened), dtype=bool),
        }
    )
    failures = pd.DataFrame(
        {
            "robot_id": [r for r, _ in failed],
            "ts": np.array([i * step + 1 for _, i in failed], dtype=np.int64),
            "code": ["X"] * len(failed),
        }
    )
    whole = event_metrics(found, failures, horizon_s=900.0, robot_days=4)
    days = [
        loop.day_events(
            found,
            found[(found["opened"] >= d * DAY_MS) & (found["opened"] < (d + 1) * DAY_MS)],
            failures,
            day_start=d * DAY_MS,
            horizon_s=900.0,
            robot_days=2,
        )
        for d in (0, 1)
    ]
    for key in ("failures", "caught", "incidents", "true_incidents", "false_incidents"):
        assert sum(int(d[key] or 0) for d in days) == int(whole[key] or 0), key
    assert sorted(x for d in days for x in d["lead_times_s"]) == sorted(whole["lead_times_s"])
