"""A deliberately simple, slow reference for ``align`` and ``build_features``, written from the text of
``docs/time-semantics.md`` (sections 1 and 3, and "Deviation from the robot's own baseline") and nothing
else.

Everything here is plain Python loops over ticks and samples: no sorting tricks, no searchsorted, no
prefix sums. Each rule of the contract appears once, in the words of the docs, so that a reader can check
it line by line. The property tests in ``tests/test_align.py`` and ``tests/test_features.py`` compare the
fast implementation with these functions.

Conventions: times are epoch milliseconds (int); a null numeric value is ``None`` inside the reference and
NaN in the returned frames; a null categorical value is ``None``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeAlias

import numpy as np
import pandas as pd
import pyarrow as pa

from telemetry.config import SignalSpec, TelemetryConfig
from telemetry.stages.extract import signal_table_schema
from telemetry.stages.features import feature_names

__all__ = [
    "Sample",
    "make_table",
    "reference_align",
    "reference_baseline",
    "reference_features",
    "reference_match_rates",
    "reference_ticks",
    "samples_of",
]

Table: TypeAlias = pa.Table | pd.DataFrame


@dataclass(frozen=True, slots=True)
class Sample:
    """One row of a signal table: its position in table order, its ``ts`` and its field values."""

    row: int
    ts: int
    values: dict[str, Any]


# ------------------------------------------------------------------------------------------ inputs


def _is_null(value: Any) -> bool:
    if value is None or value is pd.NA:
        return True
    return isinstance(value, float) and math.isnan(value)


def samples_of(table: Table | None, spec: SignalSpec) -> list[Sample]:
    """The rows of a signal table, in table order (not sorted). A missing field or table is all-null."""
    if table is None:
        return []
    records = table.to_pylist() if isinstance(table, pa.Table) else table.to_dict("records")
    out = []
    for row, record in enumerate(records):
        values: dict[str, Any] = {}
        for field in spec.numeric:
            value = record.get(field)
            values[field] = None if _is_null(value) else float(value)
        for field in spec.categorical:
            value = record.get(field)
            values[field] = None if _is_null(value) else str(value)
        out.append(Sample(row, int(record["ts"]), values))
    return out


def make_table(spec: SignalSpec, rows: Sequence[Mapping[str, Any]], robot_id: str = "r1") -> pa.Table:
    """An extracted-style table (``signal_table_schema``) holding ``rows`` in the given order."""
    schema = signal_table_schema(spec)
    columns: dict[str, list[Any]] = {name: [] for name in schema.names}
    for row in rows:
        for name in schema.names:
            columns[name].append(robot_id if name == "robot_id" else row.get(name))
    return pa.table(columns, schema=schema)


# ------------------------------------------------------------------------------------------ the clock


def reference_ticks(tables: Mapping[str, Table], config: TelemetryConfig, start: int, end: int) -> list[int]:
    """The clock ticks in ``[start, end)``.

    grid: "the multiples of align.step_ms inside the requested span [start, end)", epoch-aligned.
    <signal>: "the distinct timestamps of that signal's samples inside [start, end)".
    """
    if config.align.clock == "grid":
        step = config.align.step_ms
        k = start // step  # floor
        if k * step < start:
            k += 1
        ticks = []
        while k * step < end:
            ticks.append(k * step)
            k += 1
        return ticks
    anchor = config.signal(config.align.clock)
    distinct: list[int] = []
    for sample in samples_of(tables.get(anchor.name), anchor):
        if start <= sample.ts < end and sample.ts not in distinct:
            distinct.append(sample.ts)
    distinct.sort()
    return distinct


def _next_tick(config: TelemetryConfig, tables: Mapping[str, Table], t: int) -> int | None:
    """The clock's next tick after ``t`` (None when the anchor signal has no later sample)."""
    if config.align.clock == "grid":
        return t + config.align.step_ms
    anchor = config.signal(config.align.clock)
    later = [s.ts for s in samples_of(tables.get(anchor.name), anchor) if s.ts > t]
    return min(later) if later else None


# ------------------------------------------------------------------------------------------ matching


def match_sample(
    samples: Sequence[Sample], spec: SignalSpec, t: int, before: int | None = None
) -> Sample | None:
    """The sample (one row) a tick ``t`` takes, or None.

    nearest: "the sample whose ts is closest to the tick t, provided |ts - t| <= τ. Ties go to the earlier
    sample." backward: "the latest sample with ts <= t, provided t - ts <= τ". Several rows with the same
    ts: "the first row in table order".

    ``before``: when given, only samples with ``ts < before`` are candidates (the cutoff rule of section 3:
    "the value of a signal at a window tick is matched among the samples with ts < c only").
    """
    tolerance = spec.tolerance_ms
    best: Sample | None = None
    best_key: tuple[int, ...] | None = None
    for sample in samples:
        if before is not None and sample.ts >= before:
            continue
        if spec.direction == "nearest":
            distance = abs(sample.ts - t)
            if distance > tolerance:
                continue
            key: tuple[int, ...] = (distance, sample.ts, sample.row)  # closest, then earlier, then first row
        else:
            if sample.ts > t or t - sample.ts > tolerance:
                continue
            key = (-sample.ts, sample.row)  # latest, then first row
        if best_key is None or key < best_key:
            best, best_key = sample, key
    return best


def reference_align(
    tables: Mapping[str, Table], config: TelemetryConfig, robot_id: str, start: int, end: int
) -> pd.DataFrame:
    """The aligned table: ``robot_id``, ``tick``, then ``<signal>.<field>`` for every sampled signal."""
    ticks = reference_ticks(tables, config, start, end)
    data: dict[str, Any] = {
        "robot_id": np.array([robot_id] * len(ticks), dtype=object),
        "tick": np.array(ticks, dtype=np.int64),
    }
    for spec in config.sampled_signals:
        samples = samples_of(tables.get(spec.name), spec)
        matches = [match_sample(samples, spec, t) for t in ticks]
        for field in spec.fields:
            values = [None if m is None else m.values[field] for m in matches]
            if field in spec.numeric:
                data[f"{spec.name}.{field}"] = np.array(
                    [math.nan if v is None else v for v in values], dtype=np.float64
                )
            else:
                data[f"{spec.name}.{field}"] = np.array(values, dtype=object)
    return pd.DataFrame(data)


def reference_match_rates(
    tables: Mapping[str, Table], config: TelemetryConfig, start: int, end: int
) -> dict[str, float]:
    """Per sampled signal: "matched ticks / ticks" (0.0 when there are no ticks)."""
    ticks = reference_ticks(tables, config, start, end)
    rates = {}
    for spec in config.sampled_signals:
        samples = samples_of(tables.get(spec.name), spec)
        matched = sum(1 for t in ticks if match_sample(samples, spec, t) is not None)
        rates[spec.name] = matched / len(ticks) if ticks else 0.0
    return rates


# ------------------------------------------------------------------------------------------ features


def _numeric_stats(points: list[tuple[int, float]], n_ticks: int) -> dict[str, Any]:
    """Stats of one numeric field over the window's ticks with a value, ``points`` = (tick, value)."""
    count = len(points)
    out: dict[str, Any] = {
        "count": count,
        "coverage": count / n_ticks if n_ticks else 0.0,
        "mean": None,
        "std": None,
        "min": None,
        "max": None,
        "last": None,
        "slope": None,
    }
    if count == 0:
        return out
    xs = [x for _, x in points]
    mean = math.fsum(xs) / count
    out["mean"] = mean
    out["std"] = math.sqrt(math.fsum((x - mean) ** 2 for x in xs) / count)  # population, ddof = 0
    out["min"] = min(xs)
    out["max"] = max(xs)
    out["last"] = points[-1][1]  # points are in tick order
    if count >= 2:
        # least squares against tick time in seconds; the slope does not depend on the time origin, so
        # seconds are counted from the first tick to keep the numbers small
        secs = [(t - points[0][0]) / 1000 for t, _ in points]
        mean_s = math.fsum(secs) / count
        sxx = math.fsum((s - mean_s) ** 2 for s in secs)
        sxy = math.fsum((s - mean_s) * (x - mean) for s, x in zip(secs, xs, strict=True))
        out["slope"] = sxy / sxx
    return out


def reference_baseline(
    tables: Mapping[str, Table], config: TelemetryConfig, c: int
) -> dict[str, tuple[float, float] | None]:
    """Per numeric field ``<signal>.<field>``: (mean, population std) of its values over the baseline of
    cutoff ``c``, the ticks with ``c - B <= t < c``, each taking the nearest (or backward) sample among the
    samples with ``ts < c`` only; None when the values are "fewer than two or all equal", or their std
    "rounds to 0" (a spread whose squares underflow). Empty when ``features.baseline_s`` is 0."""
    baseline_s = config.features.baseline_s
    if not baseline_s:
        return {}
    ticks = reference_ticks(tables, config, c - baseline_s * 1000, c)
    out: dict[str, tuple[float, float] | None] = {}
    for spec in config.sampled_signals:
        samples = samples_of(tables.get(spec.name), spec)
        matches = [match_sample(samples, spec, t, before=c) for t in ticks]
        for field in spec.numeric:
            xs = [m.values[field] for m in matches if m is not None and m.values[field] is not None]
            if len(xs) < 2 or min(xs) == max(xs):
                out[f"{spec.name}.{field}"] = None
                continue
            mean = math.fsum(xs) / len(xs)
            std = math.sqrt(math.fsum((x - mean) ** 2 for x in xs) / len(xs))
            out[f"{spec.name}.{field}"] = (mean, std) if std > 0 else None
    return out


def _categorical_stats(
    ticks: list[int], values: list[str | None], durations_ms: list[int], levels: Sequence[str]
) -> dict[str, Any]:
    """last, changes and seconds:<level> of one categorical field over the window's ticks."""
    present = [v for v in values if v is not None]
    out: dict[str, Any] = {
        "last": present[-1] if present else None,
        "changes": sum(1 for i in range(1, len(present)) if present[i] != present[i - 1]),
    }
    for level in levels:
        total_ms = 0
        for i in range(len(ticks)):
            if values[i] == level:
                total_ms += durations_ms[i]
        out[f"seconds:{level}"] = total_ms / 1000
    return out


def reference_features(
    tables: Mapping[str, Table],
    events: Table | None,
    examples: pd.DataFrame,
    config: TelemetryConfig,
) -> pd.DataFrame:
    """The feature table: the examples' columns (same row order), then every feature of
    ``feature_names(signals=config.signals, features=config.features)``, named by ``str(FeatureName)``.

    For each example cutoff ``c`` and window ``W``: the ticks ``t`` with ``c - W <= t < c``; each tick takes
    the nearest (or backward) sample among the samples with ``ts < c`` only; events count when
    ``c - W <= ts < c``. With a baseline ``B`` (``features.baseline_s`` > 0), per numeric field:
    ``z = (mean over the window - mean over the baseline) / std over the baseline``, the baseline being the
    values of the ticks with ``c - B <= t < c`` under the same rule.
    """
    names = feature_names(signals=config.signals, features=config.features)
    levels_by_field: dict[str, list[str]] = {}  # "<signal>.<field>" -> levels with a seconds:<level> feature
    for name in names:
        key = f"{name.signal}.{name.field}"
        if (
            name.stat == "seconds"
            and name.level is not None
            and name.level not in levels_by_field.get(key, [])
        ):
            levels_by_field.setdefault(key, []).append(name.level)
    samples = {spec.name: samples_of(tables.get(spec.name), spec) for spec in config.sampled_signals}
    event_spec = config.events_signal
    event_samples: list[Sample] = (
        samples_of(events, event_spec) if event_spec is not None and events is not None else []
    )

    baseline_s = config.features.baseline_s
    rows: list[dict[str, Any]] = []
    for c_value in examples["cutoff"].tolist():
        c = int(c_value)
        values: dict[str, Any] = {}
        baselines = reference_baseline(tables, config, c)
        for window_s in config.features.windows_s:
            w_ms = window_s * 1000
            # the clock's ticks in [c - W, c): the clock of [c - W, c) is the clock restricted to it
            ticks = reference_ticks(tables, config, c - w_ms, c)
            durations = []
            for t in ticks:
                nxt = _next_tick(config, tables, t)
                durations.append((c if nxt is None else min(nxt, c)) - t)
            for spec in config.sampled_signals:
                matches = [match_sample(samples[spec.name], spec, t, before=c) for t in ticks]
                for field in spec.numeric:
                    points = []
                    for t, m in zip(ticks, matches, strict=True):
                        if m is not None and m.values[field] is not None:
                            points.append((t, m.values[field]))
                    numeric = _numeric_stats(points, len(ticks))
                    for stat, value in numeric.items():
                        values[f"{spec.name}.{field}__{stat}__w{window_s}s"] = value
                    if baseline_s:
                        base = baselines[f"{spec.name}.{field}"]
                        z = None
                        if base is not None and numeric["mean"] is not None:
                            z = (numeric["mean"] - base[0]) / base[1]
                        values[f"{spec.name}.{field}__z:b{baseline_s}s__w{window_s}s"] = z
                for field in spec.categorical:
                    cat = [None if m is None else m.values[field] for m in matches]
                    levels = levels_by_field.get(f"{spec.name}.{field}", ())
                    for stat, value in _categorical_stats(ticks, cat, durations, levels).items():
                        values[f"{spec.name}.{field}__{stat}__w{window_s}s"] = value
            if event_spec is not None:
                in_window = [e for e in event_samples if c - w_ms <= e.ts < c]
                prefix = f"{event_spec.name}."
                for kind in config.features.event_kinds:
                    of_kind = [e.ts for e in in_window if e.values.get("kind") == kind]
                    values[f"{prefix}kind__count:{kind}__w{window_s}s"] = len(of_kind)
                    since = (c - max(of_kind)) / 1000 if of_kind else None
                    values[f"{prefix}kind__since_last:{kind}__w{window_s}s"] = since
                for code in config.features.event_codes:
                    n_code = sum(1 for e in in_window if e.values.get("code") == code)
                    values[f"{prefix}code__count:{code}__w{window_s}s"] = n_code
        rows.append({str(name): values[str(name)] for name in names})

    features: dict[str, Any] = {}
    for name in names:
        column = [row[str(name)] for row in rows]
        if name.stat == "last" and name.field in config.signal(name.signal).categorical:
            features[str(name)] = np.array(column, dtype=object)
        else:
            features[str(name)] = np.array([math.nan if v is None else v for v in column], dtype=np.float64)
    out = examples.reset_index(drop=True).copy()
    return pd.concat([out, pd.DataFrame(features, index=out.index)], axis=1)
