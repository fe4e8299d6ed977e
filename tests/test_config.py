"""The typed config tree: precedence, typed errors that name key/type/value/source, masked secrets."""

from __future__ import annotations

import datetime as dt
import os
import pickle
from pathlib import Path

import pytest
import yaml

from telemetry.config import (
    DEFAULT_SIGNALS,
    Secret,
    TelemetryConfig,
    config_hash,
    config_reference_markdown,
    config_to_dict,
    kubernetes_quantity,
    load_config,
)
from telemetry.errors import ConfigError

DOCS = Path(__file__).resolve().parents[1] / "docs"


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "telemetry.yaml"
    path.write_text(text)
    path.chmod(0o644)
    return path


def test_defaults_are_the_registry_of_the_design() -> None:
    config = load_config(env={})
    assert config == TelemetryConfig()
    assert [s.name for s in config.signals] == [
        "localization",
        "odometry",
        "battery",
        "motor",
        "mission",
        "events",
    ]
    assert config.signal("localization").rate_hz == 10.0
    assert config.events_signal is not None and config.events_signal.name == "events"


def test_precedence_file_then_env_then_cli(tmp_path: Path) -> None:
    path = write(tmp_path, "fleet: from-file\nextract:\n  ts_slack_s: 10\n  max_members: 5\n")
    env = {"TELEMETRY__EXTRACT__TS_SLACK_S": "20", "TELEMETRY__EXTRACT__MAX_MEMBERS": "6"}
    config = load_config(path, env=env, overrides=["extract.max_members=7"])
    assert config.fleet == "from-file"
    assert config.extract.ts_slack_s == 20.0
    assert config.extract.max_members == 7


def test_file_signals_replace_the_registry_and_overrides_edit_it(tmp_path: Path) -> None:
    path = write(tmp_path, "signals:\n  imu:\n    numeric: [ax, ay]\n    rate_hz: 100\n    tolerance_ms: 5\n")
    config = load_config(path, env={"TELEMETRY__SIGNALS__IMU__TOLERANCE_MS": "7"})
    assert [s.name for s in config.signals] == ["imu"]
    assert config.signal("imu").tolerance_ms == 7
    assert config.signal("imu").numeric == ("ax", "ay")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "extract:\n  ts_slack_s: soon\n",
            "extract.ts_slack_s: expected a number, got 'soon' (str) from file",
        ),
        ("extract:\n  max_members: 1.5\n", "extract.max_members: expected an integer, got 1.5 (float)"),
        ("extract:\n  nope: 1\n", "extract.nope: unknown key (expected one of"),
        (
            "signals:\n  gps:\n    numeric: lat\n",
            "signals.gps.numeric: expected a list of str, got 'lat' (str)",
        ),
        (
            "signals:\n  gps:\n    direction: sideways\n",
            "signals.gps.direction: expected one of ['nearest', 'backward']",
        ),
        ("signals:\n  gps:\n    numeric: [a__b]\n", "without '__'"),
        ("signals:\n  gps:\n    tolerance_ms: -1\n", "signals.gps.tolerance_ms must be >= 0"),
        ("store: [1, 2]\n", "store: expected a mapping for StoreConfig"),
        ("- a\n- b\n", "expected a mapping at the top level"),
        ("store:\n  s3:\n    secret: 12345\n", "store.s3.secret: expected a string, got *** (int)"),
    ],
)
def test_bad_files_name_key_type_and_value(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, text), env={})
    assert message in str(info.value)
    assert "12345" not in str(info.value)


def test_env_and_cli_errors_name_their_source() -> None:
    with pytest.raises(ConfigError, match="from environment TELEMETRY__EXTRACT__MAX_MEMBERS"):
        load_config(env={"TELEMETRY__EXTRACT__MAX_MEMBERS": "many"})
    with pytest.raises(ConfigError, match=r"from --set cluster.kind"):
        load_config(env={}, overrides=["cluster.kind=mainframe"])
    with pytest.raises(ConfigError, match="--set expects"):
        load_config(env={}, overrides=["no-equals-sign"])


def test_missing_and_world_writable_files_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "missing.yaml", env={})
    path = write(tmp_path, "fleet: x\n")
    os.chmod(path, 0o666)
    with pytest.raises(ConfigError, match="world-writable"):
        load_config(path, env={})


def test_secrets_are_masked_everywhere_but_reveal(tmp_path: Path) -> None:
    config = load_config(
        env={"TELEMETRY__STORE__S3__SECRET": "hunter2-very-secret"}, overrides=["store.s3.key=AKIDEXAMPLE"]
    )
    assert config.store.s3.secret == Secret("hunter2-very-secret")
    assert config.store.s3.secret is not None and config.store.s3.secret.reveal() == "hunter2-very-secret"
    for text in (repr(config), str(config), yaml.safe_dump(config_to_dict(config)), config_hash(config)):
        assert "hunter2" not in text and "AKIDEXAMPLE" not in text
    assert config_to_dict(config, reveal_secrets=True)["store"]["s3"]["secret"] == "hunter2-very-secret"
    # secrets do not change the hash: lineage must not depend on credentials
    assert config_hash(config) == config_hash(load_config(env={}))


def test_config_is_frozen_and_pickles() -> None:
    config = load_config(env={}, overrides=["store.s3.secret=s"])
    with pytest.raises(AttributeError):
        config.fleet = "x"  # type: ignore[misc]
    assert pickle.loads(pickle.dumps(config)) == config


def test_hash_changes_with_values_and_is_sectioned() -> None:
    base = load_config(env={})
    other = load_config(env={}, overrides=["signals.battery.tolerance_ms=900"])
    assert config_hash(base) != config_hash(other)
    assert config_hash(base, "extract") == config_hash(other, "extract")
    assert config_hash(base, "signals") != config_hash(other, "signals")


def test_show_round_trips_through_yaml(tmp_path: Path) -> None:
    config = load_config(env={}, overrides=["extract.ts_slack_s=30", "signals.motor.tolerance_ms=700"])
    path = write(tmp_path, yaml.safe_dump(config_to_dict(config), sort_keys=False))
    assert load_config(path, env={}) == config


def test_reference_doc_is_generated_from_the_tree() -> None:
    text = config_reference_markdown()
    for spec in DEFAULT_SIGNALS:
        assert f"  {spec.name}:" in text
    assert "`extract.max_compression_ratio`" in text
    assert (DOCS / "configuration.md").read_text() == text, (
        "run `telemetry config reference > docs/configuration.md`"
    )


def test_time_semantics_sections_validate() -> None:
    config = load_config(env={}, overrides=["features.windows_s=[10, 42, 300]", "align.step_ms=100"])
    assert config.features.windows_s == (10, 42, 300)
    assert config.features.longest_window_ms == 300_000
    assert config.feature_levels == {"mission.state": ("IDLE", "EXECUTING", "CHARGING", "ABORTED")}
    with pytest.raises(ConfigError, match=r"features\.windows_s must be positive"):
        load_config(env={}, overrides=["features.windows_s=[0]"])
    with pytest.raises(ConfigError, match="duplicates"):
        load_config(env={}, overrides=["features.windows_s=[42, 42]"])
    with pytest.raises(ConfigError, match=r"align\.clock must be 'grid' or a sampled signal"):
        load_config(env={}, overrides=["align.clock=events"])
    with pytest.raises(ConfigError, match=r"is not '<signal>\.<categorical field>'"):
        load_config(env={}, overrides=["features.levels={battery.voltage: [LOW]}"])
    with pytest.raises(ConfigError, match=r"negative_fraction must be in"):
        load_config(env={}, overrides=["labels.negative_fraction=0"])
    assert load_config(env={}, overrides=["align.clock=odometry"]).align.clock == "odometry"


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("4Gi", 4 * 2**30),
        ("512Mi", 512 * 2**20),
        ("1.5Gi", 1.5 * 2**30),
        (".5Ki", 512.0),
        ("2G", 2e9),
        ("250m", 0.25),
        ("3", 3.0),
        ("1E", 1e18),
        ("1Ei", 2.0**60),
    ],
)
def test_kubernetes_quantities_have_their_value(text: str, value: float) -> None:
    assert kubernetes_quantity(text) == value


@pytest.mark.parametrize("text", ["4GiB", "4gi", "4 Gi", "-1Gi", "1e3", "Gi", "", "0x10"])
def test_what_is_not_a_kubernetes_quantity_is_refused(text: str) -> None:
    """Kubernetes spells `Gi`, not `GiB`; the pod sizes of the config are checked with the same rule."""
    assert kubernetes_quantity(text) is None
    with pytest.raises(ConfigError, match="must be a Kubernetes quantity"):
        load_config(env={}, overrides=[f"cluster.kubernetes.worker_memory_limit={text!r}"])


def test_run_dates_written_as_dates_are_accepted(tmp_path: Path) -> None:
    # YAML reads an unquoted 2026-06-01 as a date, from a file and from --set alike
    path = tmp_path / "c.yaml"
    path.write_text("run:\n  start: 2026-06-01\n  end: 2026-06-03\n")
    config = load_config(path, overrides=["run.end=2026-06-02"])
    assert config.run.dates() == (dt.date(2026, 6, 1), dt.date(2026, 6, 2))


def test_run_stages_in_order() -> None:
    config = load_config(None, overrides=["run.stages=[features, train, score]", "labels.mode=grid"])
    assert config.run.stages == ("features", "train", "score")
    for bad in ("[score, features]", "[features, features]", "[]"):
        with pytest.raises(ConfigError, match=r"run\.stages must be distinct stages in the order"):
            load_config(None, overrides=[f"run.stages={bad}", "labels.mode=grid"])


def test_alert_webhook_url_is_a_secret() -> None:
    config = load_config(None, overrides=["alerts.webhook_url=https://hooks.example/T0K3N"])
    assert config.alerts.webhook_url is not None
    assert config.alerts.webhook_url.reveal() == "https://hooks.example/T0K3N"
    assert "T0K3N" not in repr(config) and "T0K3N" not in str(config_to_dict(config))
    with pytest.raises(ConfigError, match=r"alerts\.webhook_url must be an http"):
        load_config(None, overrides=["alerts.webhook_url=ftp://x"])
