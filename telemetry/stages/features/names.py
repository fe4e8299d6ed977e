"""Feature column names: ``<signal>.<field>__<stat>__w<W>s``, with ``<stat>:<level>`` where a level applies
(see docs/time-semantics.md, "Features"). Every name is built and parsed here.

The columns come from the configuration alone (the signal registry and the ``features`` section), never from
the data, so every partition has the same columns in the same order.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from telemetry.config import FeaturesConfig, SignalSpec, events_signal, feature_levels, sampled_signals

__all__ = [
    "BASELINE_STAT",
    "CATEGORICAL_STATS",
    "NUMERIC_STATS",
    "FeatureName",
    "baseline_level",
    "feature_names",
    "parse_feature_name",
]

NUMERIC_STATS = ("mean", "std", "min", "max", "last", "slope", "count", "coverage")
BASELINE_STAT = "z"  # level b<B>s: the window mean's z-score against the trailing baseline of B seconds
CATEGORICAL_STATS = ("last", "changes")  # plus seconds:<level> for configured levels

_NAME_RE = re.compile(
    r"^(?P<signal>[a-z][a-z0-9_]*)\.(?P<field>[a-z][a-z0-9_]*)__(?P<stat>[a-z_]+)(?::(?P<level>[A-Za-z0-9_.-]+))?"
    r"__w(?P<window>[1-9][0-9]*)s$"
)
_BASELINE_LEVEL_RE = re.compile(r"^b(?P<baseline>[1-9][0-9]*)s$")


@dataclass(frozen=True, slots=True)
class FeatureName:
    """A parsed feature column name."""

    signal: str
    field: str
    stat: str
    level: str | None
    window_s: int

    def __str__(self) -> str:
        stat = self.stat if self.level is None else f"{self.stat}:{self.level}"
        return f"{self.signal}.{self.field}__{stat}__w{self.window_s}s"

    @property
    def baseline_s(self) -> int | None:
        """The baseline length ``B`` of a ``z:b<B>s`` feature (None for every other feature)."""
        if self.stat != BASELINE_STAT or self.level is None:
            return None
        m = _BASELINE_LEVEL_RE.match(self.level)
        return None if m is None else int(m["baseline"])


def baseline_level(baseline_s: int) -> str:
    """The level of the z features against a baseline of ``baseline_s`` seconds: ``b<B>s``."""
    return f"b{baseline_s}s"


def parse_feature_name(name: str) -> FeatureName:
    """Parse ``<signal>.<field>__<stat>[:<level>]__w<W>s``.

    >>> parse_feature_name("mission.state__seconds:EXECUTING__w42s")
    FeatureName(signal='mission', field='state', stat='seconds', level='EXECUTING', window_s=42)
    """
    m = _NAME_RE.match(name)
    if m is None:
        raise ValueError(f"not a feature name: {name!r} (expected <signal>.<field>__<stat>[:<level>]__w<W>s)")
    return FeatureName(m["signal"], m["field"], m["stat"], m["level"], int(m["window"]))


def feature_names(*, signals: Sequence[SignalSpec], features: FeaturesConfig) -> list[FeatureName]:
    """Every window feature column of the configuration, in table order (independent of the data).

    Args:
        signals: the signal registry (``config.signals``): the sampled signals' fields, the events signal.
        features: the ``features`` section: windows, levels, baseline, event kinds and codes.
    """
    out: list[FeatureName] = []
    levels = feature_levels(signals, features)
    baseline_s = features.baseline_s
    events = events_signal(signals)
    for window in features.windows_s:
        for spec in sampled_signals(signals):
            for field in spec.numeric:
                out += [FeatureName(spec.name, field, stat, None, window) for stat in NUMERIC_STATS]
                if baseline_s:
                    out.append(
                        FeatureName(spec.name, field, BASELINE_STAT, baseline_level(baseline_s), window)
                    )
            for field in spec.categorical:
                out += [FeatureName(spec.name, field, stat, None, window) for stat in CATEGORICAL_STATS]
                out += [
                    FeatureName(spec.name, field, "seconds", level, window)
                    for level in levels.get(f"{spec.name}.{field}", ())
                ]
        if events is not None:
            kinds = features.event_kinds
            out += [FeatureName(events.name, "kind", "count", kind, window) for kind in kinds]
            out += [FeatureName(events.name, "code", "count", code, window) for code in features.event_codes]
            out += [FeatureName(events.name, "kind", "since_last", kind, window) for kind in kinds]
    return out
