"""Long-memory event features: a robot's event history beyond the lookback windows and the day
(see docs/time-semantics.md, "Memory beyond the window").

For every example cutoff ``c`` (epoch ms) and with ``Hmax`` the longest of ``history.horizons_s``, only events
with ``ts < c`` count (an event at exactly ``c`` does not), and none older than ``c - Hmax``:

- ``history.kind__since_last:<kind>``: ``(c - t) / 1000`` with ``t`` the latest ``ts`` of an event of that
  kind in ``[c - Hmax, c)``; NaN when there is none. Kinds: ``features.event_kinds`` then
  ``labels.failure_kind``.
- ``history.code__since_last:<code>``: the same per event code. Codes: ``features.event_codes`` then
  ``history.failure_codes`` (listed in the configuration, never found in the data, so the columns are the
  same in every partition).
- ``history.kind__count:<kind>__h<H>s``: the number of events of that kind with ``ts`` in ``[c - H, c)``, for
  each ``H`` of ``history.horizons_s``.

Events with a null ``kind`` (``code``) match no kind (code). Rows that share a ``ts`` count separately. A
caller that partitions by day passes the events of ``[start - Hmax, end)`` for the cutoffs of
``[start, end)``; earlier and later events do not change the result.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import pandas as pd
import pyarrow as pa

from telemetry._types import F64, I64, Objs
from telemetry.config import FeaturesConfig, HistoryConfig, LabelsConfig, SignalSpec, events_signal
from telemetry.errors import DataContractError

__all__ = [
    "PREFIX",
    "HistoryName",
    "history_codes",
    "history_feature_names",
    "history_features",
    "history_kinds",
    "parse_history_name",
]

PREFIX = "history"
"""First part of every history column name (a reserved signal name: no window feature starts with it)."""


_LEVEL = r"[A-Za-z0-9_.-]+"
_NAME_RE = re.compile(
    rf"^{PREFIX}\.(?P<field>kind|code)__"
    rf"(?:since_last:(?P<last>{_LEVEL})|count:(?P<counted>{_LEVEL})__h(?P<horizon>[1-9][0-9]*)s)$"
)


@dataclass(frozen=True, slots=True)
class HistoryName:
    """A parsed history column name: ``history.<field>__since_last:<level>`` (``horizon_s`` None) or
    ``history.<field>__count:<level>__h<H>s``."""

    field: Literal["kind", "code"]
    stat: Literal["since_last", "count"]
    level: str
    horizon_s: int | None

    def __post_init__(self) -> None:
        if (self.stat == "count") != (self.horizon_s is not None):
            raise ValueError(
                f"a history 'count' needs a horizon and 'since_last' has none (got stat {self.stat!r}, "
                f"horizon_s {self.horizon_s!r})"
            )

    def __str__(self) -> str:
        horizon = "" if self.horizon_s is None else f"__h{self.horizon_s}s"
        return f"{PREFIX}.{self.field}__{self.stat}:{self.level}{horizon}"


def parse_history_name(name: str) -> HistoryName:
    """Parse ``history.<kind|code>__since_last:<level>`` or ``history.<kind|code>__count:<level>__h<H>s``.

    The two forms are told apart by the statistic, so a level may itself contain ``__h<H>s``.

    >>> parse_history_name("history.kind__count:warning__h86400s")
    HistoryName(field='kind', stat='count', level='warning', horizon_s=86400)
    """
    m = _NAME_RE.match(name)
    if m is None:
        raise ValueError(
            f"not a history feature name: {name!r} (expected history.<kind|code>__since_last:<level> or "
            "history.<kind|code>__count:<level>__h<H>s)"
        )
    field: Literal["kind", "code"] = "kind" if m["field"] == "kind" else "code"
    if m["last"] is not None:
        return HistoryName(field, "since_last", m["last"], None)
    return HistoryName(field, "count", m["counted"], int(m["horizon"]))


def _distinct(values: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(values))


def history_kinds(*, features: FeaturesConfig, labels: LabelsConfig) -> tuple[str, ...]:
    """Event kinds with history features: ``features.event_kinds`` then ``labels.failure_kind`` (distinct)."""
    return _distinct((*features.event_kinds, labels.failure_kind))


def history_codes(*, features: FeaturesConfig, history: HistoryConfig) -> tuple[str, ...]:
    """Event codes with a since_last feature: ``features.event_codes`` then ``history.failure_codes``."""
    return _distinct((*features.event_codes, *history.failure_codes))


def history_feature_names(
    *,
    signals: Sequence[SignalSpec],
    features: FeaturesConfig,
    labels: LabelsConfig,
    history: HistoryConfig,
) -> list[HistoryName]:
    """Every history column of the configuration, in table order (independent of the data); none when
    ``history.enabled`` is false or the registry ``signals`` has no events signal."""
    if not history.enabled or events_signal(signals) is None:
        return []
    kinds = history_kinds(features=features, labels=labels)
    out = [HistoryName("kind", "since_last", kind, None) for kind in kinds]
    out += [
        HistoryName("code", "since_last", code, None)
        for code in history_codes(features=features, history=history)
    ]
    out += [HistoryName("kind", "count", kind, h) for h in history.horizons_s for kind in kinds]
    return out


def _event_columns(events: pa.Table | pd.DataFrame | None) -> tuple[I64, Objs, Objs]:
    """``(ts, kind, code)`` arrays of an events table (None: no events); null kinds and codes are None."""
    if events is None:
        return np.empty(0, dtype=np.int64), np.empty(0, dtype=object), np.empty(0, dtype=object)
    names = list(events.column_names) if isinstance(events, pa.Table) else list(events.columns)
    for column in ("ts", "kind", "code"):
        if column not in names:
            raise DataContractError(
                f"events table has no {column!r} column (got {names}); pass the events signal's table"
            )
    if isinstance(events, pa.Table):
        if events.column("ts").null_count:
            raise DataContractError("an event has no ts; extracted tables never hold one")
        ts = events.column("ts").to_numpy().astype(np.int64, copy=False)
        kinds = np.array(events.column("kind").cast(pa.string()).to_pylist(), dtype=object)
        codes = np.array(events.column("code").cast(pa.string()).to_pylist(), dtype=object)
        return ts, kinds, codes
    if isinstance(events, pd.DataFrame):
        if events["ts"].isna().any():
            raise DataContractError("an event has no ts; extracted tables never hold one")
        ts = events["ts"].to_numpy(dtype=np.int64)
        kinds = events["kind"].astype(object).where(events["kind"].notna(), None).to_numpy(dtype=object)
        codes = events["code"].astype(object).where(events["code"].notna(), None).to_numpy(dtype=object)
        return ts, kinds, codes
    raise ValueError(f"events: expected a pyarrow Table or a pandas DataFrame (got {type(events).__name__})")


def _times_of(ts: I64, values: Objs, wanted: str) -> I64:
    """Sorted ``ts`` of the events whose value equals ``wanted``."""
    return np.sort(ts[values == wanted])


def _since_last(times: I64, cutoffs: I64, longest_ms: int) -> F64:
    """Seconds from the latest time ``< c`` in ``[c - longest, c)`` to ``c``; NaN when none."""
    before = np.searchsorted(times, cutoffs, side="left")
    latest = times[np.maximum(before - 1, 0)] if len(times) else np.zeros(len(cutoffs), dtype=np.int64)
    ok = (before > 0) & (latest >= cutoffs - longest_ms)
    since: F64 = np.where(ok, (cutoffs - latest) / 1000.0, np.nan)
    return since


def _count_in(times: I64, cutoffs: I64, horizon_ms: int) -> I64:
    """Number of times in ``[c - horizon, c)`` per cutoff."""
    counts = np.searchsorted(times, cutoffs, side="left") - np.searchsorted(
        times, cutoffs - horizon_ms, side="left"
    )
    return counts.astype(np.int64)


def history_features(
    events: pa.Table | pd.DataFrame | None,
    cutoffs: npt.ArrayLike,
    *,
    signals: Sequence[SignalSpec],
    features: FeaturesConfig,
    labels: LabelsConfig,
    history: HistoryConfig,
) -> dict[str, npt.NDArray[Any]]:
    """The history features of every cutoff, by column name in :func:`history_feature_names` order.

    Args:
        events: the events signal's extracted table (``ts``, ``kind``, ``code``; any order and span), or
            None. Only events with ``ts`` in ``[c - Hmax, c)`` reach the features of cutoff ``c``.
        cutoffs: example cutoffs (epoch ms, int64), in any order.
        signals: the signal registry (``config.signals``): no history without an events signal.
        features: the ``features`` section (``event_kinds`` and ``event_codes``).
        labels: the ``labels`` section (``failure_kind``).
        history: the ``history`` section.

    Returns:
        One array per column, one value per cutoff: since_last float64 seconds (NaN when no such event in
        ``[c - Hmax, c)``), counts int64. Empty when the history is turned off.

    Raises:
        DataContractError: the events table lacks ``ts``, ``kind`` or ``code``, or an event has no ``ts``.
    """
    names = history_feature_names(signals=signals, features=features, labels=labels, history=history)
    cuts = np.asarray(cutoffs, dtype=np.int64)
    if not names:
        return {}
    ts, kinds, codes = _event_columns(events)
    longest = history.longest_horizon_ms
    times = {("kind", k): _times_of(ts, kinds, k) for k in history_kinds(features=features, labels=labels)}
    times |= {("code", c): _times_of(ts, codes, c) for c in history_codes(features=features, history=history)}
    out: dict[str, npt.NDArray[Any]] = {}
    for name in names:
        t = times[(name.field, name.level)]
        if name.horizon_s is None:
            out[str(name)] = _since_last(t, cuts, longest)
        else:
            out[str(name)] = _count_in(t, cuts, name.horizon_s * 1000)
    return out
