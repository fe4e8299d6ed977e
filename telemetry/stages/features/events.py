"""Event window statistics (see docs/time-semantics.md, section 3): per event kind and code, the events with
``c - W <= ts < c`` (an event at the cutoff does not count), and the seconds since the latest event of each
kind in that window.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
import pyarrow as pa

from telemetry._types import I64
from telemetry.config import FeaturesConfig

__all__ = ["event_stats"]


def event_stats(
    events: pa.Table | pd.DataFrame | None, cutoffs: I64, window_s: int, features: FeaturesConfig
) -> dict[tuple[str, str, str], npt.NDArray[Any]]:
    """Counts per kind and code, and seconds since the latest event of each kind, over ``[c - W, c)``.

    Args:
        events: the events signal's extracted table (``ts``, ``kind``, ``code``, ...), or None.
        cutoffs: example cutoffs (epoch ms).
        window_s: the window length ``W``.
        features: ``event_kinds`` and ``event_codes``.

    Returns:
        By ``(field, stat, level)``: ``("kind", "count", kind)`` and ``("code", "count", code)`` int64,
        ``("kind", "since_last", kind)`` float64 seconds (NaN when the window holds no such event).
    """
    df = events.to_pandas() if isinstance(events, pa.Table) else events
    ts = df["ts"].to_numpy(dtype=np.int64) if df is not None and len(df) else np.empty(0, dtype=np.int64)
    kinds = df["kind"].to_numpy(dtype=object) if df is not None and len(df) else np.empty(0, dtype=object)
    codes = df["code"].to_numpy(dtype=object) if df is not None and len(df) else np.empty(0, dtype=object)
    start = cutoffs - window_s * 1000
    out: dict[tuple[str, str, str], npt.NDArray[Any]] = {}

    def times_of(mask: npt.NDArray[np.bool_]) -> I64:
        return np.sort(ts[mask])

    for kind in features.event_kinds:
        t = times_of(kinds == kind)
        before = np.searchsorted(t, cutoffs, side="left")
        out[("kind", "count", kind)] = (before - np.searchsorted(t, start, side="left")).astype(np.int64)
        latest = t[np.maximum(before - 1, 0)] if len(t) else np.zeros(len(cutoffs), dtype=np.int64)
        ok = (before > 0) & (latest >= start)
        out[("kind", "since_last", kind)] = np.where(ok, (cutoffs - latest) / 1000.0, np.nan)
    for code in features.event_codes:
        t = times_of(codes == code)
        count = np.searchsorted(t, cutoffs, side="left") - np.searchsorted(t, start, side="left")
        out[("code", "count", code)] = count.astype(np.int64)
    return out
