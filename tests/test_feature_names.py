"""Feature column names are self-describing, parseable, and fixed by the configuration alone."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from telemetry.config import load_config
from telemetry.stages.features import (
    BASELINE_STAT,
    CATEGORICAL_STATS,
    NUMERIC_STATS,
    FeatureName,
    feature_names,
    parse_feature_name,
)

NAME = st.from_regex(r"[a-z][a-z0-9_]{0,8}", fullmatch=True).filter(
    lambda s: "__" not in s and not s.endswith("_")
)


@given(
    NAME,
    NAME,
    st.sampled_from([*NUMERIC_STATS, *CATEGORICAL_STATS, "seconds", "since_last", BASELINE_STAT]),
    st.one_of(st.none(), st.from_regex(r"[A-Za-z0-9_.-]{1,10}", fullmatch=True)),
    st.integers(1, 100_000),
)
def test_every_name_round_trips(signal: str, field: str, stat: str, level: str | None, window: int) -> None:
    name = FeatureName(signal, field, stat, level, window)
    assert parse_feature_name(str(name)) == name


@pytest.mark.parametrize(
    ("text", "parsed"),
    [
        ("motor.temp_left__slope__w42s", FeatureName("motor", "temp_left", "slope", None, 42)),
        (
            "mission.state__seconds:EXECUTING__w300s",
            FeatureName("mission", "state", "seconds", "EXECUTING", 300),
        ),
        (
            "events.code__count:MOTOR_TEMP_HIGH__w10s",
            FeatureName("events", "code", "count", "MOTOR_TEMP_HIGH", 10),
        ),
        ("motor.temp_left__z:b3600s__w42s", FeatureName("motor", "temp_left", "z", "b3600s", 42)),
    ],
)
def test_documented_examples_parse(text: str, parsed: FeatureName) -> None:
    assert parse_feature_name(text) == parsed


@pytest.mark.parametrize(
    "bad", ["motor.temp_left__slope", "motor__slope__w42s", "Motor.x__mean__w42s", "a.b__mean__w0s"]
)
def test_malformed_names_are_refused(bad: str) -> None:
    with pytest.raises(ValueError, match="not a feature name"):
        parse_feature_name(bad)


def test_names_follow_the_configuration() -> None:
    config = load_config(env={}, overrides=["features.windows_s=[10, 42, 300]"])
    names = [str(n) for n in feature_names(signals=config.signals, features=config.features)]
    assert len(names) == len(set(names))
    numeric_fields = sum(len(s.numeric) for s in config.sampled_signals)
    categorical = sum(len(s.categorical) for s in config.sampled_signals)
    per_window = numeric_fields * len(NUMERIC_STATS) + categorical * len(CATEGORICAL_STATS) + 4 + 3 + 3 + 3
    assert len(names) == 3 * per_window
    assert "battery.voltage__min__w300s" in names
    assert "events.kind__since_last:maintenance__w42s" in names
    # a baseline adds one z per numeric field and window, and nothing else
    on = load_config(env={}, overrides=["features.windows_s=[10, 42, 300]", "features.baseline_s=3600"])
    with_z = [str(n) for n in feature_names(signals=on.signals, features=on.features)]
    assert len(with_z) == len(names) + 3 * numeric_fields and "battery.voltage__z:b3600s__w300s" in with_z
    assert [n for n in with_z if "__z:" not in n] == names


def test_baseline_length_is_read_back_from_a_z_name() -> None:
    assert parse_feature_name("motor.temp_left__z:b3600s__w42s").baseline_s == 3600
    assert parse_feature_name("motor.temp_left__mean__w42s").baseline_s is None
    assert parse_feature_name("mission.state__seconds:b3600s__w42s").baseline_s is None  # a level, not a z
