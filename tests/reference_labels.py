"""A deliberately simple, slow reference of docs/time-semantics.md section 2 (cutoffs, labels, exclusions).

Written straight from the text, one candidate and one failure at a time, with plain Python integers; the
property tests compare :func:`telemetry.stages.labels.make_examples` with it. It shares nothing with the fast
implementation but the choices documented in the ``telemetry.stages.labels`` module docstring (failure order,
whole-millisecond durations, the subsampling hash) and the :class:`~telemetry.stages.labels.ExampleSet`
container.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from telemetry.config import TelemetryConfig
from telemetry.stages.labels import ExampleSet

REASONS = ("other_failure", "near_failure", "unobserved_failure", "offline", "low_coverage")
MASK = (1 << 64) - 1


@dataclass
class Candidate:
    """One candidate cutoff and its fate."""

    cutoff: int
    own: int | None  # index of the failure a positive was made from (event mode), else None
    label: int = 0
    code: str | None = None
    ttf_s: float = math.nan
    fate: str = "kept"  # "kept", "subsampled" or an exclusion reason


def _rows(table: pa.Table | pd.DataFrame | None) -> list[dict[str, Any]]:
    if table is None:
        return []
    df = table.to_pandas() if isinstance(table, pa.Table) else table
    out: list[dict[str, Any]] = []
    for record in df.to_dict("records"):
        out.append({str(k): (None if _is_null(v) else v) for k, v in record.items()})
    return out


def _is_null(value: Any) -> bool:
    if value is None or value is pd.NA:
        return True
    return isinstance(value, float) and math.isnan(value)


def ms(seconds: float) -> int:
    return round(seconds * 1000)


def reference_failures(
    events: pa.Table | pd.DataFrame | None, config: TelemetryConfig
) -> list[tuple[int, Any]]:
    """``(ts, code)`` of every failure event, in the documented order (ts, then code, null codes last)."""
    failures = [
        (int(r["ts"]), r.get("code")) for r in _rows(events) if r.get("kind") == config.labels.failure_kind
    ]
    return sorted(failures, key=lambda f: (f[0], f[1] is None, f[1] or ""))


def reference_orphans(events: pa.Table | pd.DataFrame | None, config: TelemetryConfig) -> list[int]:
    """Times of the recoveries with no failure of a matching code (equal, or either null) in [r - U, r]."""
    window = ms(config.labels.unobserved_failure_s)
    if window == 0:
        return []
    rows = _rows(events)
    failures = [(int(r["ts"]), r.get("code")) for r in rows if r.get("kind") == config.labels.failure_kind]
    orphans = []
    for r in rows:
        if r.get("kind") != config.labels.recovery_kind:
            continue
        t_r, code = int(r["ts"]), r.get("code")
        if not any(
            t_r - window <= t_f <= t_r and (f is None or code is None or f == code) for t_f, f in failures
        ):
            orphans.append(t_r)
    return orphans


def unit_hash(robot_id: str, cutoff: int) -> float:
    """The documented hash, with Python integers (splitmix64 finaliser)."""
    rid = int.from_bytes(hashlib.blake2b(robot_id.encode("utf-8"), digest_size=8).digest(), "little")
    z = ((cutoff & MASK) * 0x9E3779B97F4A7C15) & MASK
    z ^= rid
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK
    z ^= z >> 31
    return (z >> 11) / 2**53


def judge(
    cand: Candidate,
    failures: list[tuple[int, Any]],
    samples: Mapping[str, list[int]],
    config: TelemetryConfig,
    robot_id: str,
    orphans: tuple[int, ...] | list[int] = (),
) -> None:
    """Set ``cand.fate``: the first exclusion reason that applies, else subsampled or kept."""
    lab = config.labels
    h, cooldown = ms(lab.horizon_s), ms(lab.cooldown_s)
    wmax_s = max(config.features.windows_s)
    wmax = wmax_s * 1000
    c = cand.cutoff
    other = any(c - wmax - cooldown <= t_f <= c for i, (t_f, _) in enumerate(failures) if i != cand.own)
    # a failure at c itself is other_failure first; near_failure's [c, c + h] catches it without that reason
    near = lab.mode == "event" and cand.own is None and any(c <= t_f <= c + h for t_f, _ in failures)
    # an orphan recovery's failure lies somewhere in [r - U, r]: does that meet what could exclude or label c?
    u = ms(lab.unobserved_failure_s)
    reach = c if cand.own is not None else c + h
    hidden = any(r - u <= reach and r >= c - wmax - cooldown for r in orphans)
    offline = not any(c - wmax <= t < c for ts in samples.values() for t in ts)
    low = False
    for spec in config.sampled_signals:
        if spec.rate_hz is not None:
            n = sum(1 for t in samples.get(spec.name, []) if c - wmax <= t < c)
            if n / (wmax_s * spec.rate_hz) < lab.min_coverage:
                low = True
    cand.fate = "kept"
    for reason, hit in zip(REASONS, (other, near, hidden, offline, low), strict=True):
        if hit and reason in lab.exclude:  # a reason not applied never excludes
            cand.fate = reason
            return
    if cand.label == 0 and not unit_hash(robot_id, c) < lab.negative_fraction:
        cand.fate = "subsampled"


def reference_inputs(
    tables: Mapping[str, pa.Table | pd.DataFrame], config: TelemetryConfig
) -> tuple[list[tuple[int, Any]], dict[str, list[int]]]:
    """The failures (in order) and every sampled signal's sample timestamps (a missing table: none)."""
    events_name = config.events_signal.name if config.events_signal is not None else None
    failures = reference_failures(tables.get(events_name) if events_name else None, config)
    samples = {
        spec.name: [int(r["ts"]) for r in _rows(tables.get(spec.name))] for spec in config.sampled_signals
    }
    return failures, samples


def reference_candidates(
    tables: Mapping[str, pa.Table | pd.DataFrame],
    config: TelemetryConfig,
    *,
    robot_id: str,
    start: int,
    end: int,
) -> list[Candidate]:
    """Every candidate cutoff of ``[start, end)`` with its label and fate, in generation order."""
    lab = config.labels
    lead, h, g = ms(lab.lead_s), ms(lab.horizon_s), ms(lab.grid_step_s)
    failures, samples = reference_inputs(tables, config)
    events_name = config.events_signal.name if config.events_signal is not None else None
    orphans = reference_orphans(tables.get(events_name) if events_name else None, config)

    # grid cutoffs: the multiples of g inside [start, end)
    grid = []
    c = (start // g) * g
    while c < end:
        if c >= start:
            grid.append(c)
        c += g

    candidates: list[Candidate] = []
    if lab.mode == "event":
        candidates += [Candidate(c, None) for c in grid]
        for i, (t_f, code) in enumerate(failures):
            c = ((t_f - lead) // g) * g  # the latest grid instant at or before t_f - lead
            if start <= c < end:
                candidates.append(Candidate(c, i, 1, code, (t_f - c) / 1000))
    else:
        for c in grid:
            cand = Candidate(c, None)
            for t_f, code in failures:  # failures are in order: the first in (c, c + h] wins
                if c < t_f <= c + h:
                    cand.label, cand.code, cand.ttf_s = 1, code, (t_f - c) / 1000
                    break
            candidates.append(cand)

    for cand in candidates:
        judge(cand, failures, samples, config, robot_id, orphans)
    return candidates


def reference_examples(
    tables: Mapping[str, pa.Table | pd.DataFrame],
    config: TelemetryConfig,
    *,
    robot_id: str,
    start: int,
    end: int,
) -> ExampleSet:
    """The reference :class:`ExampleSet`."""
    candidates = reference_candidates(tables, config, robot_id=robot_id, start=start, end=end)
    kept = sorted((c for c in candidates if c.fate == "kept"), key=lambda c: (c.cutoff, c.label))
    frac = config.labels.negative_fraction
    examples = pd.DataFrame(
        {
            "robot_id": pd.Series([robot_id] * len(kept), dtype=object),
            "cutoff": pd.Series([c.cutoff for c in kept], dtype=np.int64),
            "label": pd.Series([c.label for c in kept], dtype=np.int8),
            "failure_code": pd.Series([c.code for c in kept], dtype=object),
            "time_to_failure_s": pd.Series([c.ttf_s for c in kept], dtype=np.float64),
            "weight": pd.Series([1.0 if c.label else 1.0 / frac for c in kept], dtype=np.float64),
        }
    )
    applied = [reason for reason in REASONS if reason in config.labels.exclude]
    excluded = {reason: sum(c.fate == reason for c in candidates) for reason in applied}
    subsampled = sum(c.fate == "subsampled" for c in candidates)
    return ExampleSet(examples, len(candidates), excluded, subsampled)
