"""Ground-truth acceptance test: the features carry the simulated precursors, and nothing else.

Two small simulated fleets go through the real chain (day zip -> ``extract_day_zip`` -> ``align`` ->
``make_examples`` -> ``build_features``, windows 10 s, 42 s and 300 s, event mode, lead 0):

- ``precursors=True``: for each failure mode with a precursor, the positives of that mode against all
  negatives are separated (ROC AUC > 0.8 in the physically expected direction) by the best of a small named
  set of features of the signal that mode degrades (:data:`PRECURSOR_FEATURES`);
- ``precursors=False`` (failure times drawn at random, nothing shaped before them): the same features do not
  separate;
- in both fleets the post-failure-only features (seconds in state ``ABORTED``, ``recovery`` event counts)
  carry no information about the coming failure: the cooldown exclusion keeps every earlier failure's
  aftermath out of both positive and negative windows.

Sampling noise. Under the null hypothesis (no separation) the AUC of a continuous score has standard error
``se = sqrt((n0 + n1 + 1) / (12 n0 n1))`` (Mann-Whitney), about ``1 / sqrt(12 n1)`` when negatives are
plentiful: 0.065 for 20 positives, 0.02 only for ~200. A fleet that produces 200 positives per mode takes
minutes, so the "no separation" bound is ``0.5 +/- max(0.05, 3 se)`` per feature (about +/- 0.16 to 0.2
here), still well clear of the > 0.8 the precursors reach. Features that are constant over positives and
negatives (the post-failure-only ones) have AUC exactly 0.5, and get the plain +/- 0.05.

The fleets are deterministic (fixed seeds), so is every AUC.
"""

from __future__ import annotations

import math
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pandas as pd
import pyarrow as pa
import pytest
from sklearn.metrics import roc_auc_score

from telemetry.config import TelemetryConfig, load_config
from telemetry.contract.envelope import day_bounds_ms
from telemetry.contract.ziplib import build_day_zip
from telemetry.sim.fleet import FleetSpec, robot_ids, simulate_robot_days
from telemetry.stages.align import Aligned, align
from telemetry.stages.extract import extract_day_zip
from telemetry.stages.features import build_features
from telemetry.stages.labels import make_examples

pytestmark = pytest.mark.slow

CONFIG = load_config(env={}, overrides=["features.windows_s=[10,42,300]"])
ROBOTS, HOURS = 4, 12.0  # 48 robot-hours per fleet, ~20 s each
# seeds picked (on positive counts only) for >= 15 positives of every precursor mode
PRECURSOR_SPEC = FleetSpec(robots=ROBOTS, hours=HOURS, seed=2, failure_rate=100.0, precursors=True)
# random failures are >= 10 min apart and the cooldown excludes 15 min after each: a lower rate keeps more
NULL_SPEC = FleetSpec(robots=ROBOTS, hours=HOURS, seed=3, failure_rate=50.0, precursors=False)

# feature -> expected direction before the failure (+1: higher, -1: lower); "{side}" takes the max over the
# left and right motor, as the failing side is random
PRECURSOR_FEATURES: dict[str, dict[str, int]] = {
    "MOTOR_OVERHEAT": {
        "motor.temp_{side}__max__w300s": +1,
        "motor.temp_{side}__slope__w300s": +1,
        "motor.current_{side}__max__w42s": +1,
    },
    "LOCALIZATION_LOST": {
        "localization.confidence__mean__w42s": -1,
        "localization.confidence__min__w42s": -1,
        "localization.confidence__last__w10s": -1,
    },
    "BATTERY_BROWNOUT": {
        "battery.voltage__min__w42s": -1,
        "battery.voltage__mean__w42s": -1,
        "battery.voltage__min__w300s": -1,
    },
}
POST_FAILURE_FEATURES = [
    f"{name}__w{w}s"
    for w in (10, 42, 300)
    for name in ("mission.state__seconds:ABORTED", "events.kind__count:recovery")
]
MIN_POSITIVES = 8


@dataclass
class RobotDayInputs:
    robot_id: str
    tables: dict[str, pa.Table]
    aligned: Aligned
    start: int
    end: int


@dataclass
class Fleet:
    spec: FleetSpec
    days: list[RobotDayInputs]
    features: pd.DataFrame
    failures: Counter[str]
    seconds: float


def fleet_features(days: list[RobotDayInputs], config: TelemetryConfig) -> pd.DataFrame:
    """``make_examples`` then ``build_features`` on every robot-day (labels may differ from ``CONFIG``'s)."""
    frames = []
    for day in days:
        examples = make_examples(
            day.tables,
            signals=config.signals,
            labels=config.labels,
            features=config.features,
            robot_id=day.robot_id,
            start=day.start,
            end=day.end,
        )
        events = day.tables.get(config.events_signal.name) if config.events_signal is not None else None
        frames.append(
            build_features(
                day.aligned, events, examples.examples, signals=config.signals, features=config.features
            )
        )
    return pd.concat(frames, ignore_index=True)


def run_fleet(spec: FleetSpec, config: TelemetryConfig) -> Fleet:
    """Simulate, zip, extract and align every robot-day, then label and build the features."""
    clock = time.perf_counter()
    days = []
    failures: Counter[str] = Counter()
    for robot_id in robot_ids(spec):
        for rd in simulate_robot_days(spec, robot_id):
            failures.update(f.code for f in rd.failures)
            extraction = extract_day_zip(
                build_day_zip(rd.members),
                day=rd.day,
                version="sim",
                signals=config.signals,
                extract=config.extract,
            )
            start, end = day_bounds_ms(rd.day.date)
            aligned = align(
                extraction.tables,
                signals=config.signals,
                align=config.align,
                robot_id=robot_id,
                start=start - config.features.longest_window_ms,
                end=end,
            )
            days.append(RobotDayInputs(robot_id, extraction.tables, aligned, start, end))
    features = fleet_features(days, config)
    return Fleet(spec, days, features, failures, time.perf_counter() - clock)


@pytest.fixture(scope="module")
def precursor_fleet() -> Fleet:
    return run_fleet(PRECURSOR_SPEC, CONFIG)


@pytest.fixture(scope="module")
def null_fleet() -> Fleet:
    return run_fleet(NULL_SPEC, CONFIG)


def score(features: pd.DataFrame, name: str) -> npt.NDArray[np.float64]:
    """The feature's values (float, NaN for null); ``{side}`` names take the max over left and right."""
    if "{side}" in name:
        left = features[name.format(side="left")].to_numpy(dtype=np.float64, na_value=np.nan)
        right = features[name.format(side="right")].to_numpy(dtype=np.float64, na_value=np.nan)
        return np.asarray(np.fmax(left, right), dtype=np.float64)
    return np.asarray(features[name].to_numpy(dtype=np.float64, na_value=np.nan), dtype=np.float64)


def auc(ex: pd.DataFrame, name: str, code: str | None) -> tuple[float, int, int]:
    """ROC AUC of feature ``name`` for positives of mode ``code`` (all modes when None) vs all negatives,
    over the examples where the feature is not null; with the positive and negative counts used."""
    positive = (ex["label"] == 1).to_numpy()
    if code is not None:
        positive = positive & (ex["failure_code"] == code).to_numpy()
    negative = (ex["label"] == 0).to_numpy()
    x = score(ex, name)
    keep = (positive | negative) & ~np.isnan(x)
    y = positive[keep]
    n1, n0 = int(y.sum()), int((~y).sum())
    if n1 == 0 or n0 == 0:
        return math.nan, n1, n0
    return float(roc_auc_score(y, x[keep])), n1, n0


def null_se(n1: int, n0: int) -> float:
    """Standard error of the AUC under no separation (Mann-Whitney U, continuous scores)."""
    return math.sqrt((n0 + n1 + 1) / (12.0 * n0 * n1))


def auc_rows(ex: pd.DataFrame) -> Iterator[tuple[str, str, float, int, int]]:
    """``(mode, feature, AUC, positives, negatives)`` for every named precursor feature."""
    for code, names in PRECURSOR_FEATURES.items():
        for name in names:
            yield (code, name, *auc(ex, name, code))


# ------------------------------------------------------------------------------------------ tests


@pytest.mark.parametrize("code", list(PRECURSOR_FEATURES))
def test_precursor_features_separate_their_mode(precursor_fleet: Fleet, code: str) -> None:
    oriented = {}
    for name, sign in PRECURSOR_FEATURES[code].items():
        value, n1, n0 = auc(precursor_fleet.features, name, code)
        assert n1 >= MIN_POSITIVES, f"{code}: only {n1} positives; enlarge the fleet"
        assert n0 > 1000
        oriented[name] = value if sign > 0 else 1.0 - value
    best = max(oriented, key=lambda k: oriented[k])
    assert oriented[best] > 0.8, (
        f"{code}: best precursor feature {best} has AUC {oriented[best]:.3f}: {oriented}"
    )


@pytest.mark.parametrize("code", ["MOTOR_OVERHEAT", "LOCALIZATION_LOST", "BATTERY_BROWNOUT"])
def test_no_separation_without_precursors(null_fleet: Fleet, code: str) -> None:
    for name in PRECURSOR_FEATURES[code]:
        value, n1, n0 = auc(null_fleet.features, name, code)
        assert n1 >= MIN_POSITIVES, f"{code}: only {n1} positives; enlarge the fleet"
        bound = max(0.05, 3.0 * null_se(n1, n0))
        assert abs(value - 0.5) < bound, (
            f"{code}: {name} has AUC {value:.3f} (bound 0.5 +/- {bound:.3f}, n1={n1})"
        )


@pytest.mark.parametrize("which", ["precursor_fleet", "null_fleet"])
def test_post_failure_features_carry_no_information(request: pytest.FixtureRequest, which: str) -> None:
    fleet: Fleet = request.getfixturevalue(which)
    for name in POST_FAILURE_FEATURES:
        value, n1, n0 = auc(fleet.features, name, None)
        assert n1 >= 3 * MIN_POSITIVES
        assert abs(value - 0.5) <= 0.05, f"{which}: {name} has AUC {value:.3f} (n1={n1}, n0={n0})"
