"""The feature table: examples plus every window feature, and the table's schema (see
docs/time-semantics.md, section 3).

For every example cutoff ``c`` and window length ``W``, features summarise the clock ticks ``t`` with
``c - W <= t < c``. A tick's value may only come from a sample with ``ts < c``: for ``nearest`` signals a
tick whose nearest sample is at or after ``c`` takes its backward match instead (only ticks within the
tolerance of the cutoff can be affected). Events count when ``c - W <= ts < c``.

Deviation from the robot's own baseline (``features.baseline_s`` = ``B``, 0 turns it off): per numeric field
and window, ``z = (mean over the window - mean over [c - B, c)) / std over [c - B, c)``, the baseline's ticks
taking their values under the same cutoff rule; named ``<signal>.<field>__z:b<B>s__w<W>s``.

Column names: ``<signal>.<field>__<stat>__w<W>s``, with ``<stat>:<level>`` where a level applies
(:mod:`.names`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
import pyarrow as pa

from telemetry.config import (
    FeaturesConfig,
    HistoryConfig,
    LabelsConfig,
    SignalSpec,
    UnitsConfig,
    events_signal,
    feature_levels,
    sampled_signals,
)
from telemetry.stages.align import Aligned
from telemetry.stages.features.categorical import CategoricalTicks
from telemetry.stages.features.events import event_stats
from telemetry.stages.features.names import BASELINE_STAT, FeatureName, baseline_level, feature_names
from telemetry.stages.features.numeric import BaselineTicks, NumericTicks, z_scores
from telemetry.stages.features.windows import SignalTicks, SignalWindows, segment_length, window_tick_ranges
from telemetry.stages.history import history_feature_names
from telemetry.stages.labels import EXAMPLE_SCHEMA
from telemetry.stages.units import unit_feature_fields

__all__ = ["build_features", "feature_table_schema"]


def build_features(
    aligned: Aligned,
    events: pa.Table | pd.DataFrame | None,
    examples: pd.DataFrame,
    *,
    signals: Sequence[SignalSpec],
    features: FeaturesConfig,
) -> pd.DataFrame:
    """The feature table: ``examples`` (its columns first, same row order) plus every feature column.

    Args:
        aligned: the robot's signals on the clock; its ticks must cover ``[cutoff - L, cutoff)`` of every
            example, ``L = features.lookback_ms`` (the longest window or the baseline; ticks outside those
            spans are ignored).
        events: the events signal's extracted table (``ts``, ``kind``, ``code``, ...), or None.
        examples: at least the column ``cutoff`` (epoch ms, int64); other columns are passed through.
        signals: the signal registry (``config.signals``): which fields, which signal holds the events.
        features: the ``features`` section: windows, baseline, levels, event kinds and codes.

    Returns:
        One row per example, columns ``examples.columns`` then :func:`.names.feature_names` (as strings).
        Counts are int64, categorical ``last`` values strings (None when null), everything else float64.
    """
    if "cutoff" not in examples.columns:
        raise ValueError(f"examples need a 'cutoff' column (got {list(examples.columns)})")
    cutoffs = examples["cutoff"].to_numpy(dtype=np.int64)
    columns: dict[str, npt.NDArray[Any]] = {}
    levels = feature_levels(signals, features)
    window_list, baseline_s = features.windows_s, features.baseline_s
    spans = (*window_list, baseline_s) if baseline_s and baseline_s not in window_list else window_list
    ranges = window_tick_ranges(aligned.ticks, cutoffs, spans)
    for spec in sampled_signals(signals):
        signal = aligned.signals[spec.name]
        windows = {w: SignalWindows(aligned.ticks, signal, cutoffs, w, *ranges[w]) for w in window_list}
        length = segment_length(aligned, windows)
        shared = SignalTicks(aligned.ticks, signal, windows, length)
        if baseline_s and spec.numeric:  # the baseline's ticks, and its segments (longer than the windows')
            base_window = (
                windows[baseline_s]
                if baseline_s in windows
                else SignalWindows(aligned.ticks, signal, cutoffs, baseline_s, *ranges[baseline_s])
            )
            base_length = segment_length(aligned, {baseline_s: base_window})
        # Per-tick structures (one float per tick each) are dropped as soon as their columns are taken, so at
        # most one field's (and one signal's shared ones) are alive: a field's structures hold the signal's
        # shared ones, and keeping them until the next assignment would double the peak.
        for field in spec.numeric:
            prepared = NumericTicks(shared, signal, signal.values[field])
            field_stats = {w: prepared.stats(windows[w]) for w in window_list}
            baseline = BaselineTicks(prepared, base_length).moments(base_window) if baseline_s else {}
            for w in window_list:
                for stat, values in field_stats[w].items():
                    columns[str(FeatureName(spec.name, field, stat, None, w))] = values
                if baseline_s:
                    z = z_scores(field_stats[w]["mean"], baseline)
                    columns[
                        str(FeatureName(spec.name, field, BASELINE_STAT, baseline_level(baseline_s), w))
                    ] = z
            del prepared, field_stats, baseline
        del shared
        for field in spec.categorical:
            categorical = CategoricalTicks(aligned.ticks, signal, signal.values[field])
            for w, win in windows.items():
                field_levels = levels.get(f"{spec.name}.{field}", ())
                for (stat, level), values in categorical.stats(win, field_levels).items():
                    columns[str(FeatureName(spec.name, field, stat, level, w))] = values
            del categorical
        del windows
    events_spec = events_signal(signals)
    if events_spec is not None:
        for w in features.windows_s:
            for (field, stat, level), values in event_stats(events, cutoffs, w, features).items():
                columns[str(FeatureName(events_spec.name, field, stat, level, w))] = values
    names = [str(name) for name in feature_names(signals=signals, features=features)]
    table = pd.DataFrame(
        {  # categorical values: nullable string dtype whether or not the windows hold values (stable schema)
            name: pd.array(columns[name], dtype="string") if columns[name].dtype == object else columns[name]
            for name in names
        },
        index=examples.index,
        copy=False,  # the arrays are this function's own
    )
    return pd.concat([examples, table], axis=1)


def feature_table_schema(
    *,
    signals: Sequence[SignalSpec],
    features: FeaturesConfig,
    labels: LabelsConfig,
    history: HistoryConfig,
    units: UnitsConfig,
) -> pa.Schema:
    """The Arrow schema of a feature table, fixed by the configuration: the example columns
    (:data:`telemetry.stages.labels.EXAMPLE_SCHEMA`), then the window features (:func:`.names.feature_names`),
    then the history features (:func:`telemetry.stages.history.history_feature_names`), then the static unit
    attributes (:func:`telemetry.stages.units.unit_feature_names`).

    Counts (``count``, ``changes``, event ``count``, history ``count``) are int64, categorical ``last``
    values strings, every other feature float64 (null where undefined).

    Args:
        signals: the signal registry (``config.signals``).
        features: the ``features`` section.
        labels: the ``labels`` section (the failure kind has history features).
        history: the ``history`` section.
        units: the ``units`` section.
    """
    categorical = {spec.name: spec.categorical for spec in signals}
    fields = list(EXAMPLE_SCHEMA)
    for name in feature_names(signals=signals, features=features):
        if name.stat in ("count", "changes"):
            kind = pa.int64()
        elif name.stat == "last" and name.field in categorical[name.signal]:
            kind = pa.string()
        else:
            kind = pa.float64()
        fields.append(pa.field(str(name), kind))
    for item in history_feature_names(signals=signals, features=features, labels=labels, history=history):
        fields.append(pa.field(str(item), pa.int64() if item.stat == "count" else pa.float64()))
    fields += unit_feature_fields(units)  # last: unit.* (telemetry.stages.units), none without units.url
    return pa.schema(fields)
