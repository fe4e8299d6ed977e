"""The long-memory event features (``telemetry/stages/history.py``) against a loop-by-loop reference written
from docs/time-semantics.md ("Memory beyond the window"), their names, their configuration and their place
in the feature table's schema. The pipeline side (the extra days' events, lineage, partition invariance) is
tested in tests/test_pipeline.py."""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from hypothesis import given
from hypothesis import strategies as st

from telemetry.config import HistoryConfig, TelemetryConfig, load_config
from telemetry.errors import ConfigError, DataContractError
from telemetry.sim.plan import FAILURE_CODES
from telemetry.stages.features import feature_table_schema
from telemetry.stages.history import (
    HistoryName,
    history_codes,
    history_feature_names,
    history_features,
    history_kinds,
    parse_history_name,
)
from telemetry.stages.train import feature_columns

DAY_MS = 86_400_000
BASE = 1_795_000_000_000  # an epoch-ms instant in 2026
KINDS = ("warning", "recovery", "failure", "other", None)
CODES = ("A", "B", "E_STOP", None)
Event = dict[str, Any]


def config_with(horizons_s: tuple[int, ...], *, enabled: bool = True) -> TelemetryConfig:
    """The default tree with small kind and code lists (those of ``KINDS`` and ``CODES``, plus a kind and a
    code that never occur) and the given horizons."""
    base = TelemetryConfig()
    return dataclasses.replace(
        base,
        features=dataclasses.replace(
            base.features, event_kinds=("warning", "recovery", "absent"), event_codes=("A",)
        ),
        history=HistoryConfig(enabled=enabled, horizons_s=horizons_s, failure_codes=("B", "E_STOP", "Z")),
    )


def sections(config: TelemetryConfig) -> dict[str, Any]:
    """The configuration sections the history stage consumes, as keyword arguments."""
    return {
        "signals": config.signals,
        "features": config.features,
        "labels": config.labels,
        "history": config.history,
    }


def events_table(events: list[Event]) -> pa.Table:
    """An events table as extraction makes it (``ts`` int64, ``kind`` and ``code`` strings, any order)."""
    return pa.table(
        {
            "ts": pa.array([e["ts"] for e in events], pa.int64()),
            "severity": pa.array([1.0] * len(events), pa.float64()),
            "kind": pa.array([e["kind"] for e in events], pa.string()),
            "code": pa.array([e["code"] for e in events], pa.string()),
        }
    )


def reference(events: list[Event], cutoffs: list[int], config: TelemetryConfig) -> dict[str, list[Any]]:
    """For every cutoff ``c``, one event at a time: events count when ``c - H <= ts < c``; since_last is
    ``(c - latest ts) / 1000`` over the events with ``c - Hmax <= ts < c``, None when there is none."""
    longest = max(config.history.horizons_s) * 1000
    out: dict[str, list[Any]] = {str(name): [] for name in history_feature_names(**sections(config))}
    for c in cutoffs:
        for name in history_feature_names(**sections(config)):
            if name.stat == "count":
                assert name.horizon_s is not None
                n = 0
                for e in events:
                    if e[name.field] == name.level and c - name.horizon_s * 1000 <= e["ts"] < c:
                        n += 1
                out[str(name)].append(n)
            else:
                latest = None
                for e in events:
                    if e[name.field] == name.level and c - longest <= e["ts"] < c:
                        latest = e["ts"] if latest is None else max(latest, e["ts"])
                out[str(name)].append(None if latest is None else (c - latest) / 1000)
    return out


def assert_equal_to_reference(got: dict[str, np.ndarray], expected: dict[str, list[Any]]) -> None:
    assert list(got) == list(expected)
    for name, values in expected.items():
        column = got[name]
        assert len(column) == len(values), name
        if parse_history_name(name).stat == "count":
            assert column.dtype == np.int64, name
            assert column.tolist() == values, name
        else:
            assert column.dtype == np.float64, name
            for i, (g, e) in enumerate(zip(column.tolist(), values, strict=True)):
                if e is None:
                    assert math.isnan(g), f"{name} row {i}: expected null, got {g}"
                else:
                    assert g == e, f"{name} row {i}: expected {e}, got {g}"  # exact: (c - t) / 1000


# ------------------------------------------------------------------------------------------ properties

horizon_lists = st.lists(st.integers(1, 40), min_size=1, max_size=3, unique=True).map(tuple)


@st.composite
def cases(draw: st.DrawFn) -> tuple[TelemetryConfig, list[Event], list[int]]:
    """Events over ~2 minutes (ties: a few distinct times only), and cutoffs on and around the events'
    times and their horizon edges (exactly at an event, 1 ms after, exactly ``H`` after, ``H + 1`` after)."""
    config = config_with(draw(horizon_lists))
    times = draw(st.lists(st.integers(BASE, BASE + 120_000), min_size=1, max_size=6))
    events = draw(
        st.lists(
            st.fixed_dictionaries(
                {"ts": st.sampled_from(times), "kind": st.sampled_from(KINDS), "code": st.sampled_from(CODES)}
            ),
            max_size=20,
        )
    )
    edges = [t + d for t in times for d in (0, 1, -1)]
    edges += [t + h * 1000 + d for t in times for h in config.history.horizons_s for d in (0, 1)]
    cutoffs = draw(st.lists(st.one_of(st.sampled_from(edges), st.integers(BASE - 50_000, BASE + 200_000))))
    return config, events, cutoffs


@given(cases(), st.booleans())
def test_history_equals_the_reference(
    case: tuple[TelemetryConfig, list[Event], list[int]], frame: bool
) -> None:
    config, events, cutoffs = case
    arrow = events_table(events)
    table: pa.Table | pd.DataFrame = arrow.to_pandas() if frame else arrow
    got = history_features(table, np.array(cutoffs, dtype=np.int64), **sections(config))
    assert_equal_to_reference(got, reference(events, cutoffs, config))


@given(cases(), st.data())
def test_nothing_at_or_after_the_cutoff_changes_a_feature(
    case: tuple[TelemetryConfig, list[Event], list[int]], data: st.DataObject
) -> None:
    """Events at or after a cutoff (exactly at it included), and events older than the longest horizon,
    leave every feature of that cutoff bit-identical."""
    config, events, cutoffs = case
    if not cutoffs:
        return
    c = cutoffs[0]
    longest = max(config.history.horizons_s) * 1000
    extra = data.draw(
        st.lists(
            st.fixed_dictionaries(
                {
                    "ts": st.one_of(st.just(c), st.integers(c, c + 10**9), st.integers(0, c - longest - 1)),
                    "kind": st.sampled_from(KINDS),
                    "code": st.sampled_from(CODES),
                }
            ),
            min_size=1,
            max_size=5,
        )
    )
    before = history_features(events_table(events), np.array([c]), **sections(config))
    after = history_features(events_table([*extra, *events]), np.array([c]), **sections(config))
    for name, values in before.items():
        assert np.array_equal(values, after[name], equal_nan=True), name


def test_an_event_exactly_at_the_cutoff_does_not_count_and_one_at_c_minus_h_does() -> None:
    config = config_with((10, 60))
    c = BASE + 100_000
    events = [
        {"ts": c, "kind": "warning", "code": "A"},  # at the cutoff: not seen
        {"ts": c - 10_000, "kind": "warning", "code": "A"},  # exactly c - H: inside [c - H, c)
        {"ts": c - 60_000, "kind": "failure", "code": "E_STOP"},  # exactly c - Hmax: inside
        {"ts": c - 60_001, "kind": "failure", "code": "B"},  # just older than Hmax: outside
    ]
    got = history_features(events_table(events), np.array([c]), **sections(config))
    assert got["history.kind__count:warning__h10s"].tolist() == [1]
    assert got["history.kind__since_last:warning"].tolist() == [10.0]
    assert got["history.code__since_last:A"].tolist() == [10.0]
    assert got["history.kind__count:failure__h60s"].tolist() == [1]
    assert got["history.kind__count:failure__h10s"].tolist() == [0]
    assert got["history.code__since_last:E_STOP"].tolist() == [60.0]
    assert math.isnan(got["history.code__since_last:B"][0])
    assert math.isnan(got["history.kind__since_last:recovery"][0])


def test_ties_count_separately_and_since_last_takes_their_time() -> None:
    config = config_with((5,))
    c = BASE
    events = [{"ts": c - 1000, "kind": "warning", "code": "A"}] * 3 + [
        {"ts": c - 1000, "kind": None, "code": None}
    ]
    got = history_features(events_table(events), np.array([c, c - 1000, c - 999]), **sections(config))
    assert got["history.kind__count:warning__h5s"].tolist() == [3, 0, 3]
    assert got["history.kind__since_last:warning"][[0, 2]].tolist() == [1.0, 0.001]
    assert math.isnan(got["history.kind__since_last:warning"][1])


def test_events_days_before_the_cutoff_reach_it_within_the_longest_horizon() -> None:
    config = config_with((3600, 86_400, 7 * 86_400))
    c = BASE + 10 * DAY_MS
    events = [
        {"ts": c - 6 * DAY_MS - 5, "kind": "failure", "code": "E_STOP"},
        {"ts": c - 2 * DAY_MS, "kind": "failure", "code": "B"},
        {"ts": c - 8 * DAY_MS, "kind": "warning", "code": "A"},  # beyond 7 days: invisible
        {"ts": c - 1800_000, "kind": "failure", "code": None},
    ]
    got = history_features(events_table(events), np.array([c]), **sections(config))
    assert got["history.code__since_last:E_STOP"].tolist() == [(6 * DAY_MS + 5) / 1000]
    assert got["history.code__since_last:B"].tolist() == [2 * 86_400.0]
    assert got["history.kind__since_last:failure"].tolist() == [1800.0]
    assert [got[f"history.kind__count:failure__h{h}s"][0] for h in (3600, 86_400, 604_800)] == [1, 1, 3]
    assert math.isnan(got["history.kind__since_last:warning"][0])
    assert got["history.kind__count:warning__h604800s"].tolist() == [0]


@pytest.mark.parametrize("events", [None, [], "frame"])
def test_no_events_give_null_times_and_zero_counts(events: Any) -> None:
    config = config_with((60,))
    table = (
        events_table([]).to_pandas() if events == "frame" else (None if events is None else events_table([]))
    )
    got = history_features(table, np.array([BASE, BASE + 1]), **sections(config))
    assert len(got) == len(history_feature_names(**sections(config)))
    for name, values in got.items():
        if parse_history_name(name).stat == "count":
            assert values.tolist() == [0, 0]
        else:
            assert np.isnan(values).all()
    assert all(
        len(v) == 0 for v in history_features(None, np.array([], dtype=np.int64), **sections(config)).values()
    )


def test_an_events_table_without_its_columns_is_a_contract_error() -> None:
    config = config_with((60,))
    with pytest.raises(DataContractError, match="no 'code' column"):
        history_features(pa.table({"ts": [1], "kind": ["warning"]}), np.array([BASE]), **sections(config))
    with pytest.raises(DataContractError, match="has no ts"):
        history_features(
            pa.table({"ts": pa.array([None], pa.int64()), "kind": ["warning"], "code": ["A"]}),
            np.array([BASE]),
            **sections(config),
        )


# ------------------------------------------------------------------------------------------ names


@given(
    st.sampled_from(["kind", "code"]),
    st.from_regex(r"[A-Za-z0-9_.-]{1,12}", fullmatch=True),
    st.one_of(st.none(), st.integers(1, 10**7)),
)
def test_every_history_name_round_trips(field: Any, level: str, horizon: int | None) -> None:
    """Also levels that contain ``__h<H>s`` themselves: the statistic tells the two forms apart."""
    name = HistoryName(field, "since_last" if horizon is None else "count", level, horizon)
    assert parse_history_name(str(name)) == name
    assert (
        parse_history_name(str(HistoryName(field, "since_last", f"{level}__h5s", None))).level
        == f"{level}__h5s"
    )


@pytest.mark.parametrize(
    "bad",
    [
        "history.kind__count:failure",
        "history.kind__since_last:",
        "history.severity__count:x__h5s",
        "events.kind__since_last:failure__w42s",
        "history.kind__count:failure__h0s",
    ],
)
def test_malformed_history_names_are_refused(bad: str) -> None:
    with pytest.raises(ValueError, match="not a history feature name"):
        parse_history_name(bad)


def test_names_follow_the_configuration_alone() -> None:
    config = load_config(env={})
    names = [str(n) for n in history_feature_names(**sections(config))]
    kinds = history_kinds(features=config.features, labels=config.labels)
    codes = history_codes(features=config.features, history=config.history)
    assert kinds == ("warning", "maintenance", "recovery", "failure")
    assert codes == ("MOTOR_TEMP_HIGH", "LOC_DEGRADED", "LOW_VOLTAGE", *FAILURE_CODES)
    assert names[:4] == [f"history.kind__since_last:{k}" for k in kinds]
    assert "history.code__since_last:MOTOR_OVERHEAT" in names
    assert "history.kind__count:failure__h604800s" in names
    assert len(names) == len(set(names)) == 4 + 7 + 4 * 3
    off = load_config(env={}, overrides=["history.enabled=false"])
    assert history_feature_names(**sections(off)) == []
    assert history_features(None, np.array([BASE]), **sections(off)) == {}


def test_default_failure_codes_are_the_simulators() -> None:
    assert HistoryConfig().failure_codes == FAILURE_CODES


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("history.horizons_s=[]", "positive whole seconds"),
        ("history.horizons_s=[60, 0]", "positive whole seconds"),
        ("history.horizons_s=[60, 60]", "duplicates"),
        ("history.horizons_s=[1.5]", "expected an integer"),
        ("history.failure_codes=['a b']", "must match"),
    ],
)
def test_bad_history_settings_are_refused(override: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_config(env={}, overrides=[override])


def test_a_signal_named_history_is_refused() -> None:
    with pytest.raises(ConfigError, match="'history' is reserved"):
        load_config(env={}, overrides=["signals.history.numeric=[x]"])


def test_the_feature_schema_ends_with_the_history_columns_as_numeric_model_inputs() -> None:
    config = load_config(env={})
    schema = feature_table_schema(**sections(config), units=config.units)
    history = [str(n) for n in history_feature_names(**sections(config))]
    assert schema.names[-len(history) :] == history
    for name in history:
        expected = pa.int64() if parse_history_name(name).stat == "count" else pa.float64()
        assert schema.field(name).type == expected
    inputs = {c.name: c for c in feature_columns(schema)}
    assert all(inputs[name].kind == "numeric" for name in history)
    off_config = load_config(env={}, overrides=["history.enabled=false"])
    off = feature_table_schema(**sections(off_config), units=off_config.units)
    assert off.names == schema.names[: -len(history)]
