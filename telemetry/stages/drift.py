"""Drift between a reference and a target summary, from their sketches alone (a stage: no raw data, no store).
Groundwork of ``telemetry health`` and the score stage's drift verdict (docs/health.md).

Inputs are merged summaries (:func:`telemetry.stages.summaries.merge_summaries`, one row per
``(table, column)``), e.g. the model's training span as the reference and the days just scored as the
target. Per column:

- **PSI** (population stability index, :func:`psi`) on ``bins`` bins cut at the reference sketch's
  quantiles at ranks ``1/bins, ..., (bins-1)/bins`` (deciles by default; repeated cut points, from ties,
  are merged, so a constant column has 2 bins). Bin ``i`` is ``[e_(i-1), e_i)`` (left edge included), the
  first ``(-inf, e_1)`` and the last ``[e_(bins-1), +inf)``. ``r_i``, ``t_i`` are the fractions of the
  reference and target values in bin ``i`` (the sketches' PMFs), floored at ``epsilon = 1e-4`` so that an
  empty bin costs a large finite amount rather than infinity: ``PSI = sum_i (t_i - r_i) ln(t_i / r_i)``.
  Against the PSI of the raw values on their exact deciles it agrees within ``0.02 + 0.1 PSI`` up to PSI 1
  and within 30 % beyond (tests/test_drift.py).
- **KS** (:func:`ks_distance`): ``max_x |F_r(x) - F_t(x)|`` with ``F(x)`` the fraction of values ``<= x``
  (the sketches' inclusive CDFs), evaluated at the union of both sketches' quantiles at ranks ``0, 1/q,
  ..., 1`` (``q = 200``) and their exact min and max. Against the exact two-sample statistic it errs by at
  most ``2 eps_cdf + 1/q`` (0.038 at ``k = 200``, ``eps_cdf`` = :func:`~telemetry.stages.summaries.rank_error`
  with ``pmf=True``; the ``1/q`` term is the evaluation grid).
- **null shift**: ``|nulls_t / rows_t - nulls_r / rows_r|``, so that a column going null (a silent sensor,
  a feature that lost its input) is drift too, even though its remaining values look alike.

A column is **flagged** when ``PSI > psi_threshold`` (default 0.25: the customary "major shift" level of
credit scoring, above the 0.1-0.25 "moderate" band; sketch noise on identical data is ~0.005 at ``k = 200``)
or ``KS > ks_threshold`` (default 0.1: a tenth of the mass moved, ~2.6x the worst sketch error above, far
above a day's sampling noise at thousands of values) or ``null shift > null_threshold`` (default 0.1).
Ranking: ``drift = max(PSI / psi_threshold, KS / ks_threshold, null shift / null_threshold)`` (1 = at a
threshold), weighted by the model's gain importance ``w = 1 + gain / max(gain)`` (in ``[1, 2]``: the
feature the model relies on most counts double, one it does not use once, so a large drift of an unused
column still outranks a marginal one of the top feature); rows are sorted flagged first, then by weighted
drift (descending), then by column name.

Limits: a pure rescale about zero (``x -> 1.5 x`` of a zero-mean column) moves little mass (exact PSI 0.19 and
KS 0.097 for a normal) and is not flagged by the defaults; the same rescale of a sensor away from zero
(temperatures, voltages) is.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
from datasketches import kll_doubles_sketch

from telemetry._types import F64
from telemetry.errors import DataContractError

__all__ = [
    "DRIFT_COLUMNS",
    "KS_THRESHOLD",
    "NULL_THRESHOLD",
    "PSI_EPSILON",
    "PSI_THRESHOLD",
    "drift_table",
    "ks_distance",
    "psi",
]

PSI_THRESHOLD = 0.25
KS_THRESHOLD = 0.1
NULL_THRESHOLD = 0.1
PSI_EPSILON = 1e-4  # floor of a bin's fraction (an empty bin)
PSI_BINS = 10
KS_POINTS = 200  # quantile ranks per sketch at which the CDFs are compared

DRIFT_COLUMNS = (
    "table",
    "column",
    "psi",  # NaN when either side has no finite value
    "ks",  # NaN likewise
    "null_shift",  # NaN when either side has no row
    "drift",  # max of the three in threshold units (NaN ignored; NaN when all are)
    "importance",  # the column's gain (0 when the model does not use it; NaN without importance)
    "weighted",  # drift * (1 + importance / max importance); drift without importance
    "flagged",
    "reference_count",
    "target_count",
)


def psi(
    reference: kll_doubles_sketch,
    target: kll_doubles_sketch,
    *,
    bins: int = PSI_BINS,
    epsilon: float = PSI_EPSILON,
) -> float:
    """The population stability index of ``target`` against ``reference`` on the reference's quantile bins
    (see the module docstring); NaN when either sketch is empty."""
    if isinstance(bins, bool) or not isinstance(bins, int) or bins < 2:
        raise ValueError(f"bins must be an int >= 2 (got {bins!r})")
    if not 0 < epsilon < 1 / bins:
        raise ValueError(f"epsilon must be in (0, 1/bins) (got {epsilon!r} with bins={bins})")
    if reference.is_empty() or target.is_empty():
        return math.nan
    edges = _bin_edges(reference, bins)
    expected = np.maximum(np.asarray(reference.get_pmf(edges), dtype=np.float64), epsilon)
    actual = np.maximum(np.asarray(target.get_pmf(edges), dtype=np.float64), epsilon)
    return float(np.sum((actual - expected) * np.log(actual / expected)))


def ks_distance(
    reference: kll_doubles_sketch, target: kll_doubles_sketch, *, points: int = KS_POINTS
) -> float:
    """``max_x |F_reference(x) - F_target(x)|`` evaluated at both sketches' quantile points (see the module
    docstring); NaN when either sketch is empty."""
    if isinstance(points, bool) or not isinstance(points, int) or points < 2:
        raise ValueError(f"points must be an int >= 2 (got {points!r})")
    if reference.is_empty() or target.is_empty():
        return math.nan
    ranks = np.linspace(0.0, 1.0, points + 1).tolist()
    xs = np.unique(
        np.concatenate(
            [
                np.asarray(reference.get_quantiles(ranks), dtype=np.float64),
                np.asarray(target.get_quantiles(ranks), dtype=np.float64),
                [reference.get_min_value(), reference.get_max_value()],
                [target.get_min_value(), target.get_max_value()],
            ]
        )
    ).tolist()
    below_r = np.asarray(reference.get_cdf(xs, inclusive=True), dtype=np.float64)[:-1]
    below_t = np.asarray(target.get_cdf(xs, inclusive=True), dtype=np.float64)[:-1]
    return float(np.max(np.abs(below_r - below_t)))


def drift_table(
    reference: pa.Table,
    target: pa.Table,
    *,
    importance: Mapping[str, float] | pd.Series | None = None,
    table: str | None = None,
    psi_threshold: float = PSI_THRESHOLD,
    ks_threshold: float = KS_THRESHOLD,
    null_threshold: float = NULL_THRESHOLD,
    bins: int = PSI_BINS,
) -> pd.DataFrame:
    """Per column present in both summaries: PSI, KS, null shift and the flag, ranked (columns
    :data:`DRIFT_COLUMNS`; see the module docstring for the definitions and the order).

    Args:
        reference: the merged summary of the reference span (one row per ``(table, column)``).
        target: the merged summary of the target span.
        importance: gain importance per column name (e.g. the LightGBM model's ``feature_importance("gain")``
            by feature name); columns absent from it count as 0. None: no weighting.
        table: compare only this table's rows (e.g. ``"features"``); None: every table.
        psi_threshold: flag above this PSI.
        ks_threshold: flag above this KS distance.
        null_threshold: flag above this change of the null fraction.
        bins: PSI bins (quantile cut points of the reference).
    """
    for label, value in (("psi_threshold", psi_threshold), ("ks_threshold", ks_threshold),
                         ("null_threshold", null_threshold)):  # fmt: skip
        if not (math.isfinite(value) and value > 0):
            raise ValueError(f"{label} must be a finite number > 0 (got {value!r})")
    ref, tgt = _rows(reference, "reference", table), _rows(target, "target", table)
    gains = _gains(importance)
    max_gain = max(gains.values(), default=0.0)
    out: list[dict[str, object]] = []
    for key in sorted(ref.keys() & tgt.keys()):
        r, t = ref[key], tgt[key]
        r_sketch = kll_doubles_sketch.deserialize(r["sketch"])
        t_sketch = kll_doubles_sketch.deserialize(t["sketch"])
        scores = {
            "psi": psi(r_sketch, t_sketch, bins=bins),
            "ks": ks_distance(r_sketch, t_sketch),
            "null_shift": _null_shift(r, t),
        }
        units = [scores["psi"] / psi_threshold, scores["ks"] / ks_threshold,
                 scores["null_shift"] / null_threshold]  # fmt: skip
        finite = [u for u in units if not math.isnan(u)]
        drift = max(finite) if finite else math.nan
        gain = math.nan if importance is None else gains.get(key[1], 0.0)
        weight = 1.0 if importance is None or max_gain <= 0 else 1.0 + gain / max_gain
        out.append(
            {
                "table": key[0],
                "column": key[1],
                **scores,
                "drift": drift,
                "importance": gain,
                "weighted": drift * weight,
                "flagged": bool(
                    scores["psi"] > psi_threshold
                    or scores["ks"] > ks_threshold
                    or scores["null_shift"] > null_threshold
                ),
                "reference_count": int(r["count"]),
                "target_count": int(t["count"]),
            }
        )
    frame = pd.DataFrame(out, columns=list(DRIFT_COLUMNS))
    if frame.empty:
        return frame
    frame = frame.sort_values(
        ["flagged", "weighted", "table", "column"],
        ascending=[False, False, True, True],
        na_position="last",
        kind="stable",
    )
    return frame.reset_index(drop=True)


# --------------------------------------------------------------------------------------------- helpers


def _bin_edges(reference: kll_doubles_sketch, bins: int) -> list[float]:
    cuts: F64 = np.asarray(reference.get_quantiles([i / bins for i in range(1, bins)]), dtype=np.float64)
    return [float(x) for x in np.unique(cuts)]


def _rows(summary: pa.Table, label: str, table: str | None) -> dict[tuple[str, str], dict[str, Any]]:
    needed = ("table", "column", "rows", "count", "nulls", "sketch")
    missing = [c for c in needed if c not in summary.column_names]
    if missing:
        raise DataContractError(f"the {label} summary lacks the columns {missing}; pass a merged summary")
    rows = summary.select(list(needed)).to_pylist()
    out: dict[tuple[str, str], dict[str, Any]] = {}
    for row in rows:
        key = (str(row["table"]), str(row["column"]))
        if table is not None and key[0] != table:
            continue
        if key in out:
            raise DataContractError(
                f"the {label} summary has several rows for {key}; merge_summaries(...) it without `by` first"
            )
        out[key] = row
    return out


def _gains(importance: Mapping[str, float] | pd.Series | None) -> dict[str, float]:
    if importance is None:
        return {}
    gains = {str(k): float(v) for k, v in dict(importance).items()}
    bad = {k: v for k, v in gains.items() if not (math.isfinite(v) and v >= 0)}
    if bad:
        raise ValueError(f"importance must be finite and >= 0 per column (got {bad})")
    return gains


def _null_shift(reference: Mapping[str, Any], target: Mapping[str, Any]) -> float:
    r_rows, t_rows = int(reference["rows"]), int(target["rows"])
    if r_rows == 0 or t_rows == 0:
        return math.nan
    return abs(int(target["nulls"]) / t_rows - int(reference["nulls"]) / r_rows)
