"""Lookback-window features (see docs/time-semantics.md, section 3), one module per job:

- :mod:`.names`: column names (``<signal>.<field>__<stat>[:<level>]__w<W>s``), built and parsed;
- :mod:`.windows`: window bounds on the clock, the cutoff rule at the window's edge, prefix-sum segments;
- :mod:`.numeric`: numeric window statistics and baseline z-scores;
- :mod:`.categorical`: last value, changes and seconds in each level;
- :mod:`.events`: event counts and time since the last event, per window;
- :mod:`.build`: the feature table (:func:`build_features`) and its schema (:func:`feature_table_schema`).
"""

from telemetry.stages.features.build import build_features, feature_table_schema
from telemetry.stages.features.names import (
    BASELINE_STAT,
    CATEGORICAL_STATS,
    NUMERIC_STATS,
    FeatureName,
    baseline_level,
    feature_names,
    parse_feature_name,
)

__all__ = [
    "BASELINE_STAT",
    "CATEGORICAL_STATS",
    "NUMERIC_STATS",
    "FeatureName",
    "baseline_level",
    "build_features",
    "feature_names",
    "feature_table_schema",
    "parse_feature_name",
]
