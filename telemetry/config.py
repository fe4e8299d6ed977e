"""One typed, frozen configuration tree.

Sources, lowest precedence first: built-in defaults < YAML file < environment (``TELEMETRY__SECTION__KEY``)
< command line (``--set section.key=value``). Values from the environment and the command line are parsed
as YAML scalars, so ``--set extract.ts_slack_s=120`` gives a number and ``--set store.s3.anon=true`` a bool.

Every field is declared once, with its default and its documentation (``doc`` metadata); the
configuration reference in ``docs/configuration.md`` is generated from this module and a test checks that
it has not drifted. Credentials are :class:`Secret` values: they print as ``***`` everywhere (``repr``,
``str``, ``config show``, the config hash) and are revealed only where a client is built.

The ``signals`` registry is a mapping from signal name to its spec. A YAML file that sets ``signals``
replaces the built-in registry as a whole (so a signal can be removed); environment and command-line
overrides then change single keys of the effective registry.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
import os
import re
import types
import typing
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, TypeVar

import yaml

from telemetry.errors import ConfigError

__all__ = [
    "AlertsConfig",
    "AlignConfig",
    "ClusterConfig",
    "ExtractConfig",
    "FeaturesConfig",
    "HistoryConfig",
    "KubernetesConfig",
    "LabelsConfig",
    "RunConfig",
    "S3Config",
    "Secret",
    "SignalSpec",
    "StoreConfig",
    "TelemetryConfig",
    "TrainConfig",
    "UnitsConfig",
    "config_hash",
    "config_reference_markdown",
    "config_to_dict",
    "events_signal",
    "feature_levels",
    "kubernetes_quantity",
    "load_config",
    "sampled_signals",
]

ENV_PREFIX = "TELEMETRY__"
_NAME_RE = re.compile(r"^[a-z][a-z0-9_]*$")

T = TypeVar("T")


def _f(default: Any, doc: str) -> Any:
    """A dataclass field with a default and its one-line documentation."""
    if isinstance(default, (list, dict, set)):
        raise TypeError("use tuples or frozen dataclasses for defaults")
    return field(default=default, metadata={"doc": doc})


class Secret:
    """A credential. Prints as ``***``; call :meth:`reveal` only where a client is built."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        if not isinstance(value, str):
            raise ConfigError(f"a secret must be a string (got {type(value).__name__})")
        self._value = value

    def reveal(self) -> str:
        """The secret's plain value."""
        return self._value

    def __repr__(self) -> str:
        return "Secret('***')"

    def __str__(self) -> str:
        return "***"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)

    def __reduce__(self) -> tuple[type[Secret], tuple[str]]:
        return (Secret, (self._value,))


# --------------------------------------------------------------------------------------------- sections


@dataclass(frozen=True, slots=True, kw_only=True)
class SignalSpec:
    """One signal of the registry: its fields and how it is joined onto the clock."""

    name: str = _f("", "signal name as it appears under `signals` in an envelope")
    numeric: tuple[str, ...] = _f((), "numeric fields (floats; null allowed, NaN/inf quarantined)")
    categorical: tuple[str, ...] = _f((), "categorical fields (strings)")
    rate_hz: float | None = _f(None, "expected sample rate; null for on-change or sporadic signals")
    tolerance_ms: int = _f(500, "join tolerance: a clock tick takes a sample at most this far away")
    direction: Literal["nearest", "backward"] = _f(
        "nearest",
        "nearest: closest sample either side (ties to the earlier); backward: latest sample <= tick",
    )
    role: Literal["sampled", "events"] = _f(
        "sampled",
        "sampled: joined onto the clock; events: sporadic records used for labels and event features",
    )

    def __post_init__(self) -> None:
        where = f"signals.{self.name}"
        if not _NAME_RE.match(self.name):
            raise ConfigError(f"{where}: signal names must match {_NAME_RE.pattern} (got {self.name!r})")
        for name in (*self.numeric, *self.categorical):
            if not _NAME_RE.match(name) or "__" in name:
                raise ConfigError(
                    f"{where}: field names must match {_NAME_RE.pattern} without '__' (got {name!r}); "
                    "they become parts of feature column names"
                )
        if name_clash := set(self.numeric) & set(self.categorical):
            raise ConfigError(f"{where}: fields {sorted(name_clash)} are both numeric and categorical")
        if "ts" in (*self.numeric, *self.categorical):
            raise ConfigError(f"{where}: 'ts' is the timestamp of every sample, not a field")
        if self.tolerance_ms < 0:
            raise ConfigError(f"{where}.tolerance_ms must be >= 0 (got {self.tolerance_ms})")
        if self.rate_hz is not None and self.rate_hz <= 0:
            raise ConfigError(f"{where}.rate_hz must be > 0 or null (got {self.rate_hz})")

    @property
    def fields(self) -> tuple[str, ...]:
        """All declared fields, numeric first."""
        return (*self.numeric, *self.categorical)


DEFAULT_SIGNALS: tuple[SignalSpec, ...] = (
    SignalSpec(
        name="localization",
        numeric=("x", "y", "theta", "confidence"),
        rate_hz=10.0,
        tolerance_ms=100,
    ),
    SignalSpec(name="odometry", numeric=("linear", "angular"), rate_hz=10.0, tolerance_ms=100),
    SignalSpec(name="battery", numeric=("voltage", "current", "soc"), rate_hz=1.0, tolerance_ms=1000),
    SignalSpec(
        name="motor",
        numeric=("temp_left", "temp_right", "current_left", "current_right"),
        rate_hz=1.0,
        tolerance_ms=1000,
    ),
    SignalSpec(
        name="mission",
        numeric=("progress",),
        categorical=("mission_id", "state"),
        rate_hz=None,
        tolerance_ms=3_600_000,
        direction="backward",
    ),
    SignalSpec(
        name="events",
        numeric=("severity",),
        categorical=("kind", "code"),
        rate_hz=None,
        tolerance_ms=0,
        direction="backward",
        role="events",
    ),
)


def sampled_signals(signals: Sequence[SignalSpec]) -> tuple[SignalSpec, ...]:
    """The signals of registry ``signals`` that are joined onto the clock (``role: sampled``), in order."""
    return tuple(s for s in signals if s.role == "sampled")


def events_signal(signals: Sequence[SignalSpec]) -> SignalSpec | None:
    """The signal of registry ``signals`` holding sporadic events (failures among them), if any."""
    return next((s for s in signals if s.role == "events"), None)


@dataclass(frozen=True, slots=True, kw_only=True)
class S3Config:
    """S3 (or S3-compatible: MinIO, Ceph, ...) connection settings, used for `s3://` URLs."""

    endpoint_url: str | None = _f(None, "endpoint URL for S3-compatible stores; null for AWS")
    region: str | None = _f(None, "region name; null lets botocore decide")
    key: Secret | None = _f(None, "access key id; null uses the standard AWS credential chain")
    secret: Secret | None = _f(None, "secret access key; null uses the standard AWS credential chain")
    anon: bool = _f(False, "anonymous access (public buckets)")


@dataclass(frozen=True, slots=True, kw_only=True)
class StoreConfig:
    """Where raw day zips are read and outputs are written (any fsspec URL)."""

    raw_url: str = _f("data/raw", "raw root: `<raw_url>/fleet=<f>/date=<YYYY-MM-DD>/<robot_id>.zip`")
    out_url: str = _f("data/out", "output root for extracted signals, features, quarantine, lineage, models")
    s3: S3Config = _f(S3Config(), "S3 settings")


@dataclass(frozen=True, slots=True, kw_only=True)
class ExtractConfig:
    """Limits and checks applied while reading day zips (violations are quarantined, not fatal)."""

    max_member_bytes: int = _f(16 * 2**20, "largest accepted decompressed document, bytes")
    max_compression_ratio: float = _f(100.0, "largest accepted inflate ratio of one member (zip bombs)")
    max_members: int = _f(200_000, "most members read from one day zip; the rest are quarantined")
    ts_slack_s: float = _f(
        3600.0, "sample timestamps must lie in [day start - slack, day end + slack) of the zip's UTC day"
    )

    def __post_init__(self) -> None:
        for name in ("max_member_bytes", "max_members"):
            if getattr(self, name) <= 0:
                raise ConfigError(f"extract.{name} must be > 0 (got {getattr(self, name)})")
        if self.max_compression_ratio < 1 or self.ts_slack_s < 0:
            raise ConfigError("extract.max_compression_ratio must be >= 1 and extract.ts_slack_s >= 0")


@dataclass(frozen=True, slots=True, kw_only=True)
class AlignConfig:
    """The clock every signal of a robot is joined onto (see docs/time-semantics.md)."""

    clock: str = _f(
        "grid", "grid (epoch-aligned ticks every step_ms) or the name of a sampled signal (its timestamps)"
    )
    step_ms: int = _f(1000, "grid step in milliseconds (ticks are the multiples of step_ms)")

    def __post_init__(self) -> None:
        if self.step_ms <= 0:
            raise ConfigError(f"align.step_ms must be > 0 (got {self.step_ms})")


EXCLUSION_REASONS: tuple[str, ...] = (
    "other_failure",
    "near_failure",
    "unobserved_failure",
    "offline",
    "low_coverage",
)
"""Exclusion reasons of candidate cutoffs, in evaluation order (``telemetry.stages.labels`` applies them)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class LabelsConfig:
    """Cutoffs, labels and exclusions (see docs/time-semantics.md)."""

    mode: Literal["event", "grid"] = _f(
        "event",
        "event: a positive per failure + grid negatives; grid: every grid cutoff labelled (deployment)",
    )
    failure_kind: str = _f("failure", "event kind that marks a failure")
    lead_s: float = _f(0.0, "positive cutoff = failure time - lead (seconds, >= 0)")
    horizon_s: float = _f(300.0, "a cutoff is labelled 1 when a failure falls in (cutoff, cutoff + horizon]")
    grid_step_s: float = _f(5.0, "spacing of grid cutoffs (epoch-aligned multiples), seconds")
    cooldown_s: float = _f(
        600.0, "exclude cutoffs with another failure in [cutoff - longest window - cooldown, cutoff]"
    )
    recovery_kind: str = _f("recovery", "event kind that marks the end of a failure's outage")
    unobserved_failure_s: float = _f(
        600.0,
        "a recovery with no failure of its code in the preceding unobserved_failure_s seconds marks a failure"
        " whose event was lost (at an unknown time in [recovery - this, recovery]): cutoffs it could have"
        " labelled or excluded are excluded as unobserved_failure; 0 turns this off",
    )
    min_coverage: float = _f(
        0.5, "exclude cutoffs where a signal with a rate has less coverage over the longest window"
    )
    negative_fraction: float = _f(
        1.0, "keep this fraction of negatives (deterministic hash); weight = 1 / fraction"
    )
    exclude: tuple[str, ...] = _f(
        EXCLUSION_REASONS,
        "exclusion reasons that apply (any order; evaluated in the order of the default); a reason left out"
        " keeps its candidates as examples, e.g. drop other_failure for failures every minute. Event mode"
        " needs near_failure",
    )

    def __post_init__(self) -> None:
        if self.lead_s < 0 or self.horizon_s <= 0 or self.grid_step_s <= 0 or self.cooldown_s < 0:
            raise ConfigError("labels: lead_s and cooldown_s must be >= 0, horizon_s and grid_step_s > 0")
        unknown = [name for name in self.exclude if name not in EXCLUSION_REASONS]
        if unknown:
            raise ConfigError(
                f"labels.exclude: unknown reason(s) {unknown}; expected a subset of {list(EXCLUSION_REASONS)}"
            )
        if len(set(self.exclude)) != len(self.exclude):
            raise ConfigError(f"labels.exclude has duplicates: {list(self.exclude)}; list each reason once")
        if self.mode == "event" and "near_failure" not in self.exclude:
            raise ConfigError(
                f"labels.exclude must list near_failure in mode 'event' (got {list(self.exclude)}): a grid"
                " cutoff with a failure in its horizon is neither that failure's positive nor a negative;"
                " use labels.mode=grid to label every grid cutoff"
            )
        # one spelling per set of reasons: the order given never changes a result, nor the config hash
        object.__setattr__(self, "exclude", tuple(r for r in EXCLUSION_REASONS if r in self.exclude))
        if self.unobserved_failure_s < 0:
            raise ConfigError(f"labels.unobserved_failure_s must be >= 0 (got {self.unobserved_failure_s})")
        if not 0.0 <= self.min_coverage <= 1.0:
            raise ConfigError(f"labels.min_coverage must be in [0, 1] (got {self.min_coverage})")
        if not 0.0 < self.negative_fraction <= 1.0:
            raise ConfigError(f"labels.negative_fraction must be in (0, 1] (got {self.negative_fraction})")


DEFAULT_LEVELS: dict[str, tuple[str, ...]] = {"mission.state": ("IDLE", "EXECUTING", "CHARGING", "ABORTED")}


@dataclass(frozen=True, slots=True, kw_only=True)
class FeaturesConfig:
    """Lookback-window features (see docs/time-semantics.md for names and semantics)."""

    windows_s: tuple[int, ...] = _f(
        (10, 42, 300),
        "window lengths W in whole seconds; features use ticks in [cutoff - W, cutoff) (several scales: a "
        "precursor may last seconds or minutes)",
    )
    levels: dict[str, tuple[str, ...]] | None = _f(
        None,
        "categorical levels with a seconds-in-state feature: '<signal>.<field>': [levels] (null: defaults)",
    )
    event_kinds: tuple[str, ...] = _f(
        ("warning", "maintenance", "recovery"), "event kinds counted per window"
    )
    event_codes: tuple[str, ...] = _f(
        ("MOTOR_TEMP_HIGH", "LOC_DEGRADED", "LOW_VOLTAGE"), "event codes counted per window"
    )
    baseline_s: int = _f(
        0,
        "trailing baseline B in whole seconds (e.g. 3600; 0: off): per numeric field and window, z = (window"
        " mean - mean over [cutoff - B, cutoff)) / std over it; the halo grows to B",
    )

    def __post_init__(self) -> None:
        if isinstance(self.baseline_s, bool) or not isinstance(self.baseline_s, int) or self.baseline_s < 0:
            raise ConfigError(
                f"features.baseline_s must be whole seconds >= 0 (got {self.baseline_s!r}); 0 turns the"
                " baseline z features off"
            )
        if not self.windows_s or any(w <= 0 for w in self.windows_s):
            raise ConfigError(
                f"features.windows_s must be positive whole seconds (got {list(self.windows_s)})"
            )
        if len(set(self.windows_s)) != len(self.windows_s):
            raise ConfigError(f"features.windows_s has duplicates: {list(self.windows_s)}")
        for key, values in (self.levels or {}).items():
            for value in values:
                if not re.match(r"^[A-Za-z0-9_.-]+$", value):
                    raise ConfigError(f"features.levels.{key}: level {value!r} must match [A-Za-z0-9_.-]+")
        for value in (*self.event_kinds, *self.event_codes):
            if not re.match(r"^[A-Za-z0-9_.-]+$", value):
                raise ConfigError(f"features: event kind/code {value!r} must match [A-Za-z0-9_.-]+")

    @property
    def longest_window_ms(self) -> int:
        """The longest window, in milliseconds."""
        return max(self.windows_s) * 1000

    @property
    def lookback_ms(self) -> int:
        """How far before a cutoff the features read ticks: the longest window or the baseline, in ms."""
        return max(self.longest_window_ms, self.baseline_s * 1000)


def feature_levels(signals: Sequence[SignalSpec], features: FeaturesConfig) -> dict[str, tuple[str, ...]]:
    """``features.levels``, or (when null) the built-in levels of the fields registry ``signals`` has."""
    if features.levels is not None:
        return features.levels
    present = {f"{s.name}.{f}" for s in signals for f in s.categorical}
    return {k: v for k, v in DEFAULT_LEVELS.items() if k in present}


DEFAULT_FAILURE_CODES: tuple[str, ...] = ("MOTOR_OVERHEAT", "LOCALIZATION_LOST", "BATTERY_BROWNOUT", "E_STOP")
"""The simulator's failure codes (``telemetry.sim.plan.FAILURE_CODES``; a test keeps the two equal)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class HistoryConfig:
    """Long-memory event features: a robot's event history beyond the windows and the day
    (see docs/time-semantics.md, "Memory beyond the window")."""

    enabled: bool = _f(
        True,
        "add the history.* features (seconds since the last event of each kind and code, event counts over"
        " horizons_s); a partition then reads the events of the days its longest horizon reaches back",
    )
    horizons_s: tuple[int, ...] = _f(
        (3600, 86400, 604800),
        "count horizons H in whole seconds (events with ts in [cutoff - H, cutoff)); the longest also"
        " bounds since_last (null when the last event is older)",
    )
    failure_codes: tuple[str, ...] = _f(
        DEFAULT_FAILURE_CODES,
        "failure codes with a since_last feature, besides features.event_codes (listed here, not found in"
        " the data, so every partition has the same columns)",
    )

    def __post_init__(self) -> None:
        if not self.horizons_s or any(h <= 0 for h in self.horizons_s):
            raise ConfigError(
                f"history.horizons_s must be positive whole seconds (got {list(self.horizons_s)}); "
                "set history.enabled=false to turn the history features off"
            )
        if len(set(self.horizons_s)) != len(self.horizons_s):
            raise ConfigError(f"history.horizons_s has duplicates: {list(self.horizons_s)}")
        for code in self.failure_codes:
            if not re.match(r"^[A-Za-z0-9_.-]+$", code):
                raise ConfigError(f"history.failure_codes: {code!r} must match [A-Za-z0-9_.-]+")

    @property
    def longest_horizon_ms(self) -> int:
        """How far back the history reaches, in milliseconds (0 when turned off)."""
        return max(self.horizons_s) * 1000 if self.enabled else 0


UNITS_SUFFIXES: tuple[str, ...] = (".parquet", ".csv", ".csv.gz")
"""File name endings of a units table (the format follows the name)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class UnitsConfig:
    """Static unit attributes (model, age, firmware, site, ...): a table with one row per robot, joined by
    robot id onto every example as ``unit.<column>`` features (see docs/time-semantics.md, "Static unit
    attributes"). The columns are listed here, never discovered in the table, so the feature schema is fixed
    by the configuration."""

    url: str | None = _f(
        None,
        "a units table in any store: a Parquet (.parquet) or CSV (.csv, .csv.gz) file URL or path, one row"
        " per robot; null: no unit attributes",
    )
    id_column: str = _f("robot_id", "the table's column holding the robot id (as in the telemetry)")
    numeric: tuple[str, ...] = _f((), "columns taken as numbers: features unit.<column> (float64)")
    categorical: tuple[str, ...] = _f(
        (), "columns taken as strings: features unit.<column> (categorical model inputs)"
    )

    def __post_init__(self) -> None:
        for name in (*self.numeric, *self.categorical):
            if not _NAME_RE.match(name) or "__" in name:
                raise ConfigError(
                    f"units: column names must match {_NAME_RE.pattern} without '__' (got {name!r}); they "
                    "become feature names unit.<column> (`telemetry import-csv --units` normalises them)"
                )
        columns = [*self.numeric, *self.categorical]
        if len(set(columns)) != len(columns):
            raise ConfigError(
                f"units: columns listed twice (numeric {list(self.numeric)}, categorical "
                f"{list(self.categorical)}); list each column once, as numeric or as categorical"
            )
        if not self.id_column:
            raise ConfigError("units.id_column must name the table's robot id column (got '')")
        if self.id_column in columns:
            raise ConfigError(f"units: the id column {self.id_column!r} cannot also be a feature column")
        if self.url is None and columns:
            raise ConfigError(
                f"units lists columns {columns} but units.url is null; set units.url to the table, or empty "
                "units.numeric and units.categorical"
            )
        if self.url is not None:
            if not columns:
                raise ConfigError(
                    f"units.url is set ({self.url!r}) but units.numeric and units.categorical are empty; "
                    "list the columns to use, or set units.url to null"
                )
            if not self.url.strip() or not self.url.lower().endswith(UNITS_SUFFIXES):
                raise ConfigError(
                    f"units.url must name a file ending in {', '.join(UNITS_SUFFIXES)} (got {self.url!r})"
                )

    @property
    def columns(self) -> tuple[str, ...]:
        """The feature columns, numeric first (the order of the ``unit.*`` features)."""
        return (*self.numeric, *self.categorical)


@dataclass(frozen=True, slots=True, kw_only=True)
class TrainConfig:
    """LightGBM failure predictors: time split, parameters, alert budget (see docs/training.md)."""

    targets: tuple[str, ...] = _f(
        ("any", "modes"),
        "one model per target: 'any' (every failure), a failure code (e.g. MOTOR_OVERHEAT), or 'modes' "
        "(one per failure code with at least min_positives training positives and one validation positive)",
    )
    min_positives: int = _f(10, "a failure-code target needs this many training positives (else skipped)")
    negatives_per_positive: float | None = _f(
        None,
        "fit on at most this many training negatives per training positive (a seeded sample, weights "
        "scaled up to match; validation and test rows are never sampled); null: every negative (a sample "
        "loses the rare negatives that look like a precursor, see docs/training.md)",
    )
    bootstrap_resamples: int = _f(
        1000, "bootstrap replicates (over robot-days) behind the 90 % intervals of test metrics"
    )
    valid_fraction: float = _f(0.25, "fraction of the days (later ones) for validation, at least one day")
    test_fraction: float = _f(0.25, "fraction of the days (the latest) for the test, at least one day")
    alert_budget: float = _f(
        2.0, "alerts per robot-day allowed on the validation days; it sets the alert threshold"
    )
    learning_rate: float = _f(0.05, "LightGBM learning_rate")
    num_leaves: int = _f(15, "LightGBM num_leaves")
    min_child_samples: int = _f(20, "LightGBM min_data_in_leaf")
    feature_fraction: float = _f(0.8, "LightGBM feature_fraction (columns sampled per tree)")
    max_rounds: int = _f(500, "boosting rounds at most")
    early_stopping_rounds: int = _f(
        50, "a fold's fit stops when its validation metric has not improved for this many rounds"
    )
    early_stopping_metric: Literal["binary_logloss", "average_precision"] = _f(
        "average_precision",
        "validation metric per round that chooses the number of rounds: average_precision (what the test "
        "reports) or binary_logloss (the training loss, positives weighted alike)",
    )
    cv_folds: int = _f(
        3,
        "expanding-window folds over the training span whose validation curves join the validation span's "
        "to choose the rounds (0: the validation span alone)",
    )
    min_rounds: int = _f(10, "fewest boosting rounds a model gets, whatever the curves say")
    rounds_smoothing: int = _f(
        5, "the mean validation curve is averaged over this many rounds on each side before its maximum"
    )
    pos_weight: float | None = _f(
        None,
        "weight of positives relative to negatives; null: balance them, capped at 100 "
        "(scores are corrected back to probabilities)",
    )
    search: bool = _f(
        False,
        "choose num_leaves (7, 15, 31) x min_child_samples (5, 20) by validation average precision "
        "(6 fits per target) instead of the two values above",
    )
    positive_rows: Literal["all", "nearest"] = _f(
        "all",
        "which rows labelled 1 the fit uses: all, or per failure only the nearest (its last cutoff before "
        "it; the failure's other rows are left out of the fit, as event mode does): with grid-mode "
        "features, a model of the imminent failure whose incidents give the lead time (docs/operations.md)",
    )
    incident_budget: float | None = _f(
        None,
        "incidents per robot-day allowed on the validation days (grid-mode features: a risk at every "
        "cutoff); sets the alert threshold instead of alert_budget, incidents as the alerts section "
        "defines them; null: alert_budget",
    )
    span_days: int | None = _f(
        None,
        "`telemetry run` stage train: train on the span_days UTC days ending at the run's last day; null: "
        "every day of the feature store",
    )
    weekday: int | None = _f(
        None,
        "`telemetry run` stage train trains only when the run's last day is this ISO weekday (1 Monday .. 7 "
        "Sunday), or when the store has no current model yet; null: every run",
    )
    promotion: Literal["not_worse", "always", "manual"] = _f(
        "not_worse",
        "when a model trained by `telemetry run` becomes current: not_worse (its validation PR-AUC is at "
        "least the current model's on the same validation rows), always, or manual "
        "(`telemetry models promote`)",
    )
    seed: int = _f(7, "random seed (same data, parameters and seed: same model bytes)")
    threads: int = _f(2, "LightGBM threads (part of the determinism: keep it fixed)")
    timeout_s: float = _f(1800.0, "distributed training: give up (with an error) after this many seconds")

    def __post_init__(self) -> None:
        if not self.targets or len(set(self.targets)) != len(self.targets):
            raise ConfigError(f"train.targets must be distinct and non-empty (got {list(self.targets)})")
        for target in self.targets:
            if not re.match(r"^[A-Za-z0-9_.-]+$", target):
                raise ConfigError(
                    f"train.targets: {target!r} must be 'any' or a failure code ([A-Za-z0-9_.-]+)"
                )
        for name in ("valid_fraction", "test_fraction"):
            if not 0.0 < getattr(self, name) < 1.0:
                raise ConfigError(f"train.{name} must be in (0, 1) (got {getattr(self, name)})")
        if self.valid_fraction + self.test_fraction >= 1.0:
            raise ConfigError("train.valid_fraction + train.test_fraction must be < 1 (training needs days)")
        if self.alert_budget <= 0:
            raise ConfigError(
                f"train.alert_budget must be > 0 alerts per robot-day (got {self.alert_budget})"
            )
        if not 0.0 < self.learning_rate <= 1.0 or not 0.0 < self.feature_fraction <= 1.0:
            raise ConfigError("train.learning_rate and train.feature_fraction must be in (0, 1]")
        if self.cv_folds < 0 or self.rounds_smoothing < 0:
            raise ConfigError(
                f"train.cv_folds and train.rounds_smoothing must be >= 0 (got {self.cv_folds}, "
                f"{self.rounds_smoothing})"
            )
        for name in ("num_leaves", "min_child_samples", "max_rounds", "early_stopping_rounds", "threads",
                     "min_rounds", "min_positives", "bootstrap_resamples"):  # fmt: skip
            if getattr(self, name) < (2 if name == "num_leaves" else 1):
                raise ConfigError(f"train.{name} must be a positive integer (got {getattr(self, name)})")
        if self.negatives_per_positive is not None and self.negatives_per_positive <= 0:
            raise ConfigError(
                f"train.negatives_per_positive must be > 0 or null (got {self.negatives_per_positive})"
            )
        if self.pos_weight is not None and self.pos_weight <= 0:
            raise ConfigError(f"train.pos_weight must be > 0 or null (got {self.pos_weight})")
        if self.seed < 0 or self.timeout_s <= 0:
            raise ConfigError("train.seed must be >= 0 and train.timeout_s > 0")
        if self.incident_budget is not None and self.incident_budget <= 0:
            raise ConfigError(
                "train.incident_budget must be > 0 incidents per robot-day or null "
                f"(got {self.incident_budget})"
            )
        if self.weekday is not None and not 1 <= self.weekday <= 7:
            raise ConfigError(f"train.weekday must be 1 (Monday) .. 7 (Sunday) or null (got {self.weekday})")
        if self.span_days is not None and self.span_days < 3:
            raise ConfigError(
                "train.span_days must be >= 3 (training, validation and test days) or null "
                f"(got {self.span_days})"
            )


@dataclass(frozen=True, slots=True, kw_only=True)
class AlertsConfig:
    """Incidents and alerts from the per-cutoff risk of `score` (see docs/alerts.md).

    An incident of a robot opens at the first cutoff whose risk reaches the model's threshold, stays open
    while cutoffs keep reaching ``hysteresis * threshold`` and closes once none has for ``quiet_s``
    seconds; it raises one alert, unless it opens within ``suppress_s`` after an event of a
    ``suppress_kinds`` kind of that robot.
    """

    hysteresis: float = _f(
        0.5, "an open incident stays open while risk >= hysteresis x threshold (0 < hysteresis <= 1)"
    )
    quiet_s: float = _f(
        600.0, "an incident closes when no cutoff has reached the lower level for this many seconds"
    )
    suppress_kinds: tuple[str, ...] = _f(
        ("maintenance", "recovery"),
        "event kinds after which a robot's new incidents are suppressed (recorded, not alerted)",
    )
    suppress_s: float = _f(1800.0, "how long after such an event incidents are suppressed, seconds")
    top_k: int = _f(3, "feature contributions listed per alert (at the incident's peak risk)")
    webhook_url: Secret | None = _f(
        None, "POST each day's new alerts as JSON to this URL (a secret: it often holds a token); null: none"
    )
    webhook_retries: int = _f(3, "retries of a failed POST (exponential backoff) before the run reports it")
    webhook_timeout_s: float = _f(10.0, "seconds per POST attempt")

    def __post_init__(self) -> None:
        if not 0.0 < self.hysteresis <= 1.0:
            raise ConfigError(f"alerts.hysteresis must be in (0, 1] (got {self.hysteresis})")
        if self.quiet_s < 0 or self.suppress_s < 0:
            raise ConfigError(
                f"alerts.quiet_s and alerts.suppress_s must be >= 0 (got {self.quiet_s}, {self.suppress_s})"
            )
        if self.top_k < 0 or self.webhook_retries < 0 or self.webhook_timeout_s <= 0:
            raise ConfigError("alerts.top_k and alerts.webhook_retries must be >= 0, webhook_timeout_s > 0")
        if self.webhook_url is not None and not self.webhook_url.reveal().startswith(("http://", "https://")):
            raise ConfigError("alerts.webhook_url must be an http:// or https:// URL (got ***)")


_K8S_NAME_RE = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")  # RFC 1123 label
_K8S_SUBDOMAIN_RE = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_K8S_QUANTITY_RE = re.compile(r"^(\d+(?:\.\d*)?|\.\d+)(Ki|Mi|Gi|Ti|Pi|Ei|m|k|M|G|T|P|E)?$")
_K8S_QUANTITY_FACTOR: dict[str, float] = {
    "": 1.0,
    "m": 1e-3,
    **{s: 1000.0**i for i, s in enumerate(("k", "M", "G", "T", "P", "E"), start=1)},
    **{s: 1024.0**i for i, s in enumerate(("Ki", "Mi", "Gi", "Ti", "Pi", "Ei"), start=1)},
}
_DASK_BYTES_RE = re.compile(r"^(auto|\d+(\.\d+)?(e\d+)?\s*([kmgtp]i?b?|b)?)$", re.IGNORECASE)


def kubernetes_quantity(text: str) -> float | None:
    """The value of Kubernetes quantity ``text`` (``512Mi`` -> 536870912.0 bytes, ``250m`` -> 0.25), or
    None when ``text`` is not one (Kubernetes writes ``Gi``, not ``GiB``; no exponent forms)."""
    match = _K8S_QUANTITY_RE.match(text)
    if match is None:
        return None
    return float(match.group(1)) * _K8S_QUANTITY_FACTOR[match.group(2) or ""]


@dataclass(frozen=True, slots=True, kw_only=True)
class KubernetesConfig:
    """The `DaskCluster` resource of kind=kubernetes (dask-kubernetes operator); print it with
    `telemetry cluster-spec`. CPUs are cores; memory sizes are Kubernetes quantities (`4Gi`, not `4GiB`)."""

    name: str = _f("telemetry", "DaskCluster name (RFC 1123 label, <= 53 characters)")
    namespace: str | None = _f(None, "namespace; null: the current kubeconfig context's (or the pod's)")
    image: str | None = _f(
        None, "image with telemetry installed, for scheduler and workers; null: telemetry:<package version>"
    )
    image_pull_policy: Literal["IfNotPresent", "Always", "Never"] = _f("IfNotPresent", "imagePullPolicy")
    worker_cpu_request: float = _f(1.0, "CPU cores requested by a worker pod (0.5 = 500m)")
    worker_cpu_limit: float | None = _f(None, "CPU cores limit of a worker pod; null: none (no throttling)")
    worker_memory_request: str = _f("4Gi", "memory request of a worker pod")
    worker_memory_limit: str | None = _f(
        "4Gi", "memory limit of a worker pod; `cluster.memory_limit: auto` makes Dask use it"
    )
    scheduler_cpu_request: float = _f(0.5, "CPU cores requested by the scheduler pod")
    scheduler_cpu_limit: float | None = _f(None, "CPU cores limit of the scheduler pod; null: none")
    scheduler_memory_request: str = _f("1Gi", "memory request of the scheduler pod")
    scheduler_memory_limit: str | None = _f("2Gi", "memory limit of the scheduler pod")
    env_from_secret: str | None = _f(
        None,
        "name of an existing Secret whose keys become worker env vars (e.g. AWS_ACCESS_KEY_ID); "
        "secrets are never written into the spec",
    )
    service_account: str | None = _f(
        None, "serviceAccountName of the pods (e.g. bound to a cloud IAM role); null: the namespace default"
    )
    run_as_user: int = _f(1000, "non-root UID the containers run as (runAsNonRoot is always on)")
    adaptive_minimum: int | None = _f(None, "adaptive scaling: fewest workers (set with adaptive_maximum)")
    adaptive_maximum: int | None = _f(None, "adaptive scaling: most workers; null: fixed `cluster.workers`")

    def __post_init__(self) -> None:
        where = "cluster.kubernetes"
        if len(self.name) > 53 or not _K8S_NAME_RE.match(self.name):
            raise ConfigError(
                f"{where}.name must be a lowercase RFC 1123 label of at most 53 characters "
                f"([a-z0-9-], alphanumeric at both ends) (got {self.name!r})"
            )
        if self.namespace is not None and (
            len(self.namespace) > 63 or not _K8S_NAME_RE.match(self.namespace)
        ):
            raise ConfigError(
                f"{where}.namespace must be a lowercase RFC 1123 label (got {self.namespace!r})"
            )
        for key in ("env_from_secret", "service_account"):
            value = getattr(self, key)
            if value is not None and (len(value) > 253 or not _K8S_SUBDOMAIN_RE.match(value)):
                raise ConfigError(
                    f"{where}.{key} must name a Kubernetes object (lowercase RFC 1123 subdomain) "
                    f"(got {value!r})"
                )
        for key in ("worker_cpu_request", "worker_cpu_limit", "scheduler_cpu_request", "scheduler_cpu_limit"):
            cores = getattr(self, key)
            if cores is not None and not 0.001 <= cores <= 1024:
                raise ConfigError(f"{where}.{key} must be CPU cores in [0.001, 1024] (got {cores})")
        for key in (
            "worker_memory_request",
            "worker_memory_limit",
            "scheduler_memory_request",
            "scheduler_memory_limit",
        ):
            value = getattr(self, key)
            if value is not None and kubernetes_quantity(value) is None:
                raise ConfigError(
                    f"{where}.{key} must be a Kubernetes quantity like '512Mi' or '4Gi' (got {value!r}); "
                    "Kubernetes writes Gi, not GiB"
                )
        if self.run_as_user <= 0:
            raise ConfigError(f"{where}.run_as_user must be a non-root UID > 0 (got {self.run_as_user})")
        if (self.adaptive_minimum is None) != (self.adaptive_maximum is None):
            raise ConfigError(f"{where}: set both adaptive_minimum and adaptive_maximum, or neither")
        low, high = self.adaptive_minimum, self.adaptive_maximum
        if low is not None and high is not None and not (0 <= low <= high and high >= 1):
            raise ConfigError(
                f"{where}: expected 0 <= adaptive_minimum <= adaptive_maximum, adaptive_maximum >= 1 "
                f"(got {low} and {high})"
            )


@dataclass(frozen=True, slots=True, kw_only=True)
class RunConfig:
    """What `telemetry run` computes: the stages over a fleet and date range (scheduled batch jobs)."""

    start: str = _f("yesterday", "first UTC day: YYYY-MM-DD, today or yesterday")
    end: str | None = _f(None, "last UTC day, inclusive (same forms); null: the start day")
    robots: tuple[str, ...] = _f((), "only these robots; empty: every robot")
    stages: tuple[Literal["features", "train", "score"], ...] = _f(
        ("features",),
        "stages to run, in this order: features (the days' feature partitions), train (a model on the "
        "train.span_days days ending at the last day; promoted by train.promotion), score (the days with the "
        "current model: scores, incidents, alerts)",
    )

    def __post_init__(self) -> None:
        order = ("features", "train", "score")
        if not self.stages or list(self.stages) != sorted(set(self.stages), key=order.index):
            raise ConfigError(
                f"run.stages must be distinct stages in the order {list(order)} (got {list(self.stages)}), "
                "e.g. [features, score] daily and [train] weekly"
            )
        for name in ("start", "end"):
            value = getattr(self, name)
            if value is None or value in ("today", "yesterday"):
                continue
            try:
                dt.date.fromisoformat(value)
            except ValueError:
                raise ConfigError(
                    f"run.{name} must be YYYY-MM-DD, today or yesterday (got {value!r})"
                ) from None

    def dates(self, today: dt.date | None = None) -> tuple[dt.date, dt.date]:
        """``(start, end)`` resolved against ``today`` (UTC by default)."""
        today = today or dt.datetime.now(dt.UTC).date()

        def resolve(value: str) -> dt.date:
            if value == "today":
                return today
            if value == "yesterday":
                return today - dt.timedelta(days=1)
            return dt.date.fromisoformat(value)

        start = resolve(self.start)
        end = resolve(self.end) if self.end is not None else start
        if end < start:
            raise ConfigError(f"run.end ({end}) is before run.start ({start})")
        return start, end


@dataclass(frozen=True, slots=True, kw_only=True)
class ClusterConfig:
    """Which Dask cluster runs the pipeline (see `telemetry.run.cluster.connect`)."""

    kind: Literal["local", "address", "kubernetes"] = _f(
        "local",
        "local: a LocalCluster of worker processes on this machine; address: an existing scheduler "
        "(`address`); kubernetes: a DaskCluster through the dask-kubernetes operator",
    )
    address: str | None = _f(None, "scheduler address for kind=address, e.g. tcp://10.0.0.5:8786")
    workers: int | None = _f(
        None,
        "worker processes (local) or worker pods (kubernetes); null: CPU count / threads_per_worker "
        "locally, 2 pods on Kubernetes",
    )
    threads_per_worker: int = _f(1, "threads per worker process (stages are GIL-bound: keep 1)")
    memory_limit: str = _f(
        "auto",
        "Dask memory limit per worker (e.g. 4GiB); auto: the machine's memory split evenly over local "
        "workers, or the pod's memory limit on Kubernetes",
    )
    dashboard_address: str = _f(
        "127.0.0.1:0",
        "kind=local: where the scheduler's dashboard listens; default loopback on a free port (the URL is "
        "printed), e.g. 127.0.0.1:8787; `:8787` listens on every interface",
    )
    connect_timeout_s: float = _f(10.0, "seconds to wait for the scheduler of kind=address")
    kubernetes: KubernetesConfig = _f(KubernetesConfig(), "kind=kubernetes settings")

    def __post_init__(self) -> None:
        if self.kind == "address" and not self.address:
            raise ConfigError(
                "cluster.address is required for cluster.kind=address "
                "(e.g. --scheduler tcp://10.0.0.5:8786 or --set cluster.address=tcp://10.0.0.5:8786)"
            )
        if self.address is not None and (not self.address.strip() or any(c.isspace() for c in self.address)):
            raise ConfigError(f"cluster.address must be like tcp://host:8786 (got {self.address!r})")
        if self.workers is not None and self.workers < 1:
            raise ConfigError(f"cluster.workers must be >= 1 or null (got {self.workers})")
        if self.threads_per_worker < 1:
            raise ConfigError(f"cluster.threads_per_worker must be >= 1 (got {self.threads_per_worker})")
        if not _DASK_BYTES_RE.match(self.memory_limit.strip()):
            raise ConfigError(
                f"cluster.memory_limit must be 'auto' or a size like '4GiB' (got {self.memory_limit!r})"
            )
        if not self.dashboard_address.strip():
            raise ConfigError("cluster.dashboard_address must be host:port, e.g. 127.0.0.1:8787 (got '')")
        if self.connect_timeout_s <= 0:
            raise ConfigError(f"cluster.connect_timeout_s must be > 0 (got {self.connect_timeout_s})")


@dataclass(frozen=True, slots=True, kw_only=True)
class TelemetryConfig:
    """The whole configuration."""

    fleet: str = _f("acme-dc3", "default fleet name")
    signals: tuple[SignalSpec, ...] = _f(
        DEFAULT_SIGNALS, "the signal registry (mapping name -> spec in YAML)"
    )
    store: StoreConfig = _f(StoreConfig(), "stores")
    extract: ExtractConfig = _f(ExtractConfig(), "extraction limits")
    align: AlignConfig = _f(AlignConfig(), "the clock")
    labels: LabelsConfig = _f(LabelsConfig(), "cutoffs, labels, exclusions")
    features: FeaturesConfig = _f(FeaturesConfig(), "lookback-window features")
    history: HistoryConfig = _f(HistoryConfig(), "long-memory event features")
    units: UnitsConfig = _f(UnitsConfig(), "static unit attributes")
    cluster: ClusterConfig = _f(ClusterConfig(), "Dask cluster")
    run: RunConfig = _f(RunConfig(), "what `telemetry run` computes")
    train: TrainConfig = _f(TrainConfig(), "failure predictors")
    alerts: AlertsConfig = _f(AlertsConfig(), "incidents and alerts of `score`")

    def __post_init__(self) -> None:
        names = [s.name for s in self.signals]
        if len(set(names)) != len(names):
            raise ConfigError(f"signals: duplicate signal names in {names}")
        if sum(s.role == "events" for s in self.signals) > 1:
            raise ConfigError("signals: at most one signal may have role 'events'")
        if "history" in names:  # history.* are the long-memory features: no window feature may look alike
            raise ConfigError("signals: 'history' is reserved for the history.* features; rename that signal")
        if "unit" in names:  # unit.* are the static unit attributes
            raise ConfigError("signals: 'unit' is reserved for the unit.* features; rename that signal")
        if "score" in self.run.stages and self.labels.mode != "grid":
            raise ConfigError(
                "run.stages has score, which needs a risk at every grid cutoff: set labels.mode=grid "
                f"(got {self.labels.mode!r}; event-mode features leave out the cutoffs just before failures)"
            )
        sampled = {s.name for s in self.signals if s.role == "sampled"}
        if self.align.clock != "grid" and self.align.clock not in sampled:
            raise ConfigError(
                f"align.clock must be 'grid' or a sampled signal {sorted(sampled)} (got {self.align.clock!r})"
            )
        for key in self.features.levels or {}:  # explicit levels must name registry fields
            signal, _, name = key.partition(".")
            if signal not in {s.name for s in self.signals} or name not in self.signal(signal).categorical:
                raise ConfigError(
                    f"features.levels: {key!r} is not '<signal>.<categorical field>' of the registry"
                )

    @property
    def feature_levels(self) -> dict[str, tuple[str, ...]]:
        """``features.levels``, or (when null) the built-in levels of the fields the registry has."""
        return feature_levels(self.signals, self.features)

    def signal(self, name: str) -> SignalSpec:
        """The spec of signal `name`."""
        for spec in self.signals:
            if spec.name == name:
                return spec
        raise ConfigError(f"unknown signal {name!r}; the registry has {[s.name for s in self.signals]}")

    @property
    def sampled_signals(self) -> tuple[SignalSpec, ...]:
        """Signals joined onto the clock."""
        return sampled_signals(self.signals)

    @property
    def events_signal(self) -> SignalSpec | None:
        """The signal holding sporadic events (failures among them), if any."""
        return events_signal(self.signals)


# --------------------------------------------------------------------------------------------- loading


def load_config(
    path: str | os.PathLike[str] | None = None,
    *,
    env: Mapping[str, str] | None = None,
    overrides: Sequence[str] = (),
) -> TelemetryConfig:
    """Load the effective configuration.

    Args:
        path: YAML file (optional). Its keys are validated against the tree; unknown keys are errors.
        env: environment to read ``TELEMETRY__A__B=value`` overrides from (default: ``os.environ``).
        overrides: ``"a.b=value"`` strings, highest precedence (the CLI's ``--set``).

    Returns:
        The frozen configuration tree.

    Raises:
        ConfigError: naming the key, the expected type, the value found and where it came from.

    >>> load_config(overrides=["extract.ts_slack_s=120"]).extract.ts_slack_s
    120.0
    """
    layered: dict[tuple[str, ...], tuple[Any, str]] = {}
    file_data: dict[str, Any] = {}
    if path is not None:
        file_data = _read_yaml_file(Path(path))
    if "signals" not in file_data:
        file_data = {**file_data, "signals": _signals_as_mapping(DEFAULT_SIGNALS)}
    _flatten_into(layered, file_data, (), f"file {path}" if path is not None else "defaults")

    environ = os.environ if env is None else env
    for name in sorted(environ):
        if name.startswith(ENV_PREFIX):
            keys = tuple(part.lower() for part in name[len(ENV_PREFIX) :].split("__"))
            _set_leaf(layered, keys, _parse_scalar(environ[name]), f"environment {name}")
    for item in overrides:
        dotted, sep, raw = item.partition("=")
        if not sep or not dotted:
            raise ConfigError(f"--set expects 'section.key=value' (got {item!r})")
        _set_leaf(layered, tuple(dotted.strip().split(".")), _parse_scalar(raw), f"--set {dotted}")

    nested = _unflatten(layered)
    sources = {k: src for k, (_, src) in layered.items()}
    return _build(TelemetryConfig, nested, (), sources)


def _read_yaml_file(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise ConfigError(f"config file {path} does not exist")
    if os.name == "posix" and path.stat().st_mode & 0o002:
        raise ConfigError(f"config file {path} is world-writable; run `chmod o-w {path}` first")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ConfigError(f"config file {path} is not valid YAML: {exc}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(
            f"config file {path}: expected a mapping at the top level, got {type(data).__name__}"
        )
    return data


def _parse_scalar(raw: str) -> Any:
    try:
        return yaml.safe_load(raw)
    except yaml.YAMLError:
        return raw


def _signals_as_mapping(signals: Sequence[SignalSpec]) -> dict[str, Any]:
    out = {}
    for spec in signals:
        item = {f.name: getattr(spec, f.name) for f in dataclasses.fields(spec) if f.name != "name"}
        out[spec.name] = {k: list(v) if isinstance(v, tuple) else v for k, v in item.items()}
    return out


def _flatten_into(
    out: dict[tuple[str, ...], tuple[Any, str]], data: Any, prefix: tuple[str, ...], src: str
) -> None:
    if isinstance(data, dict) and (data or not prefix):
        for key, value in data.items():
            _flatten_into(out, value, (*prefix, str(key)), src)
    else:
        out[prefix] = (data, src)


def _set_leaf(
    out: dict[tuple[str, ...], tuple[Any, str]], keys: tuple[str, ...], value: Any, src: str
) -> None:
    # an override replaces the whole subtree at `keys` (and any leaf above it)
    for existing in [k for k in out if k[: len(keys)] == keys or keys[: len(k)] == k]:
        del out[existing]
    _flatten_into(out, value, keys, src)


def _unflatten(flat: Mapping[tuple[str, ...], tuple[Any, str]]) -> dict[str, Any]:
    root: dict[str, Any] = {}
    for keys, (value, _) in flat.items():
        node = root
        for key in keys[:-1]:
            node = node.setdefault(key, {})
        if keys:
            node[keys[-1]] = value
    return root


def _type_name(tp: Any) -> str:
    if isinstance(tp, type):
        return tp.__name__
    return str(tp).replace("typing.", "").replace("telemetry.config.", "")


def _fail(
    path: tuple[str, ...], expected: str, value: Any, sources: Mapping[tuple[str, ...], str]
) -> typing.NoReturn:
    key = ".".join(path) or "<root>"
    src = next((sources[k] for k in sorted(sources) if k[: len(path)] == path), "defaults")
    shown = "***" if path and path[-1] in {"key", "secret"} else repr(value)
    raise ConfigError(f"{key}: expected {expected}, got {shown} ({type(value).__name__}) from {src}")


def _build(cls: type[T], data: Any, path: tuple[str, ...], sources: Mapping[tuple[str, ...], str]) -> T:
    if not isinstance(data, dict):
        _fail(path, f"a mapping for {cls.__name__}", data, sources)
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]  # type: ignore[arg-type]
    unknown = sorted(set(data) - set(names))
    if unknown:
        where = ".".join((*path, unknown[0]))
        raise ConfigError(
            f"{where}: unknown key (expected one of {names}) from {sources.get((*path, unknown[0]), '?')}"
        )
    kwargs = {
        name: _coerce(hints[name], data[name], (*path, name), sources) for name in names if name in data
    }
    try:
        return cls(**kwargs)
    except ConfigError:
        raise
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{'.'.join(path) or '<root>'}: {exc}") from None


def _coerce(tp: Any, value: Any, path: tuple[str, ...], sources: Mapping[tuple[str, ...], str]) -> Any:
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        inner = [a for a in args if a is not type(None)]
        return _coerce(inner[0], value, path, sources)
    if origin is Literal:
        if value not in args:
            _fail(path, f"one of {list(args)}", value, sources)
        return value
    if origin is dict:
        if not isinstance(value, dict):
            _fail(path, "a mapping", value, sources)
        return {str(k): _coerce(args[1], v, (*path, str(k)), sources) for k, v in value.items()}
    if origin is tuple:
        item_tp = args[0]
        if item_tp is SignalSpec:
            if not isinstance(value, dict):
                _fail(path, "a mapping of signal name -> spec", value, sources)
            return tuple(
                _build(SignalSpec, {**(spec or {}), "name": name}, (*path, name), sources)
                for name, spec in value.items()
            )
        if not isinstance(value, (list, tuple)):
            _fail(path, f"a list of {_type_name(item_tp)}", value, sources)
        return tuple(_coerce(item_tp, v, (*path, str(i)), sources) for i, v in enumerate(value))
    if dataclasses.is_dataclass(tp):
        return _build(tp, value, path, sources)  # type: ignore[arg-type]
    if tp is Secret:
        if isinstance(value, Secret):
            return value
        if not isinstance(value, str):
            _fail(path, "a string", value, sources)
        return Secret(value)
    if tp is bool:
        if not isinstance(value, bool):
            _fail(path, "a boolean (true/false)", value, sources)
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            _fail(path, "an integer", value, sources)
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            _fail(path, "a number", value, sources)
        return float(value)
    if tp is str:
        if isinstance(value, dt.date):  # YAML reads 2026-06-01 (in a file or --set) as a date: keep its text
            return value.isoformat()
        if not isinstance(value, str):
            _fail(path, "a string", value, sources)
        return value
    raise TypeError(f"unsupported config type {tp!r} at {'.'.join(path)}")


# --------------------------------------------------------------------------------------------- output


def config_to_dict(config: Any, *, reveal_secrets: bool = False, _mask: Any = "***") -> Any:
    """The config tree as plain YAML/JSON-able data; secrets masked as ``***`` unless revealed."""
    if isinstance(config, Secret):
        return config.reveal() if reveal_secrets else _mask
    if isinstance(config, TelemetryConfig):
        out = {
            f.name: config_to_dict(getattr(config, f.name), reveal_secrets=reveal_secrets, _mask=_mask)
            for f in dataclasses.fields(config)
        }
        out["signals"] = {
            name: config_to_dict(spec, reveal_secrets=reveal_secrets, _mask=_mask)
            for name, spec in _signals_as_mapping(config.signals).items()
        }
        return out
    if dataclasses.is_dataclass(config) and not isinstance(config, type):
        return {
            f.name: config_to_dict(getattr(config, f.name), reveal_secrets=reveal_secrets, _mask=_mask)
            for f in dataclasses.fields(config)
        }
    if isinstance(config, (list, tuple)):
        return [config_to_dict(v, reveal_secrets=reveal_secrets, _mask=_mask) for v in config]
    if isinstance(config, dict):
        return {k: config_to_dict(v, reveal_secrets=reveal_secrets, _mask=_mask) for k, v in config.items()}
    return config


def config_hash(config: TelemetryConfig, *sections: str) -> str:
    """A short stable hash of the given sections (all when none given). Secrets never enter it, nor where
    the units table lives (``units.url``): its content version is in each partition's lineage, and a model
    trained on a local copy applies to the features of the same table in S3."""
    data = config_to_dict(config, _mask=None)  # whether credentials are set never changes a result
    # null url <=> no columns (UnitsConfig), so dropping the url loses nothing but the location
    data["units"] = {k: v for k, v in data["units"].items() if k != "url"}
    if sections:
        data = {name: data[name] for name in sections}
    text = json.dumps(data, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _reference_rows(cls: type[Any], prefix: str) -> Iterator[tuple[str, str, str, str]]:
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        tp = hints[f.name]
        key = f"{prefix}{f.name}"
        if dataclasses.is_dataclass(tp):
            yield from _reference_rows(tp, key + ".")  # type: ignore[arg-type]
        elif typing.get_args(tp) and typing.get_args(tp)[0] is SignalSpec:
            yield key, "mapping name -> signal spec", "see below", f.metadata["doc"]
            yield from _reference_rows(SignalSpec, f"{key}.<name>.")
        else:
            is_mapping_key = cls is SignalSpec and f.name == "name"  # the signal's name is its registry key
            default = "" if is_mapping_key else json.dumps(config_to_dict(f.default))
            yield key, _type_name(tp), default, f.metadata["doc"]


def config_reference_markdown() -> str:
    """The configuration reference (``docs/configuration.md``), generated from the tree itself."""
    lines = [
        "# Configuration reference",
        "",
        "<!-- generated by `telemetry config reference`; tests fail if this file drifts -->",
        "",
        "Precedence, lowest first: defaults < YAML file (`--config FILE`) < environment",
        "(`TELEMETRY__SECTION__KEY=value`, e.g. `TELEMETRY__STORE__S3__ENDPOINT_URL`) < command line",
        "(`--set section.key=value`). Environment and command-line values are parsed as YAML scalars.",
        "A file that sets `signals` replaces the whole default registry.",
        "",
        "| key | type | default | meaning |",
        "|---|---|---|---|",
    ]
    for key, tp, default, doc in _reference_rows(TelemetryConfig, ""):
        lines.append(f"| `{key}` | {tp.replace('|', 'or')} | {default.replace('|', 'or')} | {doc} |")
    lines += ["", "## Default signal registry", "", "```yaml"]
    lines.append(yaml.safe_dump({"signals": _signals_as_mapping(DEFAULT_SIGNALS)}, sort_keys=False).rstrip())
    lines += ["```", ""]
    return "\n".join(lines)
