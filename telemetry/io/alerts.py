"""Alerts: a day's incidents stored as Parquet and JSON lines, and delivered to an optional webhook (the I/O
edge around :mod:`telemetry.stages.incidents`; see docs/alerts.md).

Files (:mod:`telemetry.contract.layout`), one folder per fleet and UTC day on which the incidents OPENED
(``opened`` in ``[00:00, 24:00)`` UTC of the day)::

    alerts/fleet=<fleet>/date=<YYYY-MM-DD>/alerts.jsonl     the same rows as JSON lines (written first)
    alerts/fleet=<fleet>/date=<YYYY-MM-DD>/alerts.parquet   the alerts (written last: the completion marker)
    alerts/fleet=<fleet>/date=<YYYY-MM-DD>/delivered.json   what the webhook accepted (by the delivery)

Every alert row is one incident with the columns of :data:`ALERT_SCHEMA` (times are epoch milliseconds UTC;
``closed`` is null while the incident is open). Suppressed incidents are stored too (``suppressed`` true,
``suppressed_by`` naming the event) but never delivered.

Crash safety: each file is written whole with :meth:`Store.write_bytes` (a reader sees the old object or the
new one). The JSON lines go first and the Parquet file last, so the Parquet file marks a complete day:
:func:`alerts_written` and :func:`read_alerts` look at it alone, and a run killed between the two writes
leaves a day that reads as not written (its JSON lines, if any, are replaced by the re-run). An empty day
writes both files empty (with the schema), so "no alerts" differs from "not run".

Delivery (:func:`deliver_alerts`): the day's unsuppressed alerts that ``delivered.json`` does not list yet are
POSTed as JSON, at most ``max_per_post`` per request; after each accepted request (HTTP 2xx) their ids are
added to ``delivered.json``, so a re-run sends only the rest and a fully delivered day sends nothing. Delivery
is at least once: a request that timed out after the receiver processed it is sent again (the payload carries
each ``incident_id``, and the ``Idempotency-Key`` header is the same for the same alerts, for receivers that
deduplicate). The webhook URL is a :class:`~telemetry.config.Secret`: messages, logs and exceptions name it
as ``scheme://host[:port]/***`` (:func:`mask_url`) and never chain the exceptions that hold it.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import hashlib
import io
import logging
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import orjson
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from telemetry._version import __version__
from telemetry.config import Secret
from telemetry.contract.envelope import DAY_MS
from telemetry.contract.layout import (
    ALERTS_PREFIX,
    alerts_delivery_key,
    alerts_jsonl_key,
    alerts_key,
    date_of_dir,
    fleet_prefix,
)
from telemetry.errors import AlertDeliveryError, StoreError
from telemetry.io.store import Store

__all__ = [
    "ALERT_COLUMNS",
    "ALERT_SCHEMA",
    "PAYLOAD_SCHEMA",
    "AlertFiles",
    "Delivery",
    "alert_records",
    "alerts_opened_on",
    "alerts_written",
    "deliver_alerts",
    "delivered_alert_ids",
    "mask_url",
    "read_alerts",
    "write_alerts",
]

logger = logging.getLogger(__name__)

ALERT_SCHEMA = pa.schema(
    [
        pa.field("incident_id", pa.string(), nullable=False),
        pa.field("robot_id", pa.string(), nullable=False),
        pa.field("opened", pa.int64(), nullable=False),  # first cutoff at or above the threshold
        pa.field("last_active", pa.int64(), nullable=False),  # last cutoff at or above the lower level
        pa.field("closed", pa.int64()),  # null while open
        pa.field("peak_cutoff", pa.int64(), nullable=False),
        pa.field("peak_risk", pa.float64(), nullable=False),
        pa.field("threshold", pa.float64(), nullable=False),
        pa.field("cutoffs", pa.int64(), nullable=False),
        pa.field("model_id", pa.string(), nullable=False),
        pa.field("top_features", pa.string()),
        pa.field("suppressed", pa.bool_(), nullable=False),
        pa.field("suppressed_by", pa.string()),
    ]
)
"""The columns of an alert file, in order (times: epoch ms UTC)."""

ALERT_COLUMNS: tuple[str, ...] = tuple(ALERT_SCHEMA.names)
TIME_COLUMNS: tuple[str, ...] = ("opened", "last_active", "closed", "peak_cutoff")
"""Epoch-ms columns; JSON lines and payloads add ``<column>_utc`` (ISO 8601, ``Z``) after each."""

_NULLABLE_SCHEMA = pa.schema([f.with_nullable(True) for f in ALERT_SCHEMA])

PAYLOAD_SCHEMA = "telemetry.alerts.v1"
"""The ``schema`` field of a webhook payload."""

_DELIVERY_SCHEMA = "telemetry.alerts.delivery.v1"


# ------------------------------------------------------------------------------------------- files


@dataclass(frozen=True, slots=True)
class AlertFiles:
    """What :func:`write_alerts` wrote for one fleet and UTC day.

    Attributes:
        parquet_key: the alerts as Parquet (the completion marker), relative to the output root.
        jsonl_key: the same alerts as JSON lines.
        alerts: rows written (suppressed incidents included).
        suppressed: of which suppressed (stored, never delivered).
    """

    fleet: str
    date: dt.date
    parquet_key: str
    jsonl_key: str
    alerts: int
    suppressed: int


def alerts_opened_on(alerts: pd.DataFrame, date: dt.date) -> pd.DataFrame:
    """The rows of `alerts` whose ``opened`` falls on UTC day `date`, i.e. in ``[00:00, 24:00)`` UTC (epoch
    ms, start inclusive, end exclusive): what :func:`write_alerts` accepts for that day."""
    _check_date("date", date)
    if "opened" not in alerts.columns:
        raise ValueError(f"alerts need an 'opened' column (epoch ms UTC); got columns {list(alerts.columns)}")
    start, end = _day_bounds(date)
    opened = pd.to_numeric(alerts["opened"], errors="raise")
    return alerts.loc[(opened >= start) & (opened < end)]


def write_alerts(out: Store, fleet: str, date: dt.date, alerts: pd.DataFrame) -> AlertFiles:
    """Write the alerts of the incidents that opened on UTC day `date`: JSON lines first, then Parquet.

    Args:
        out: the output store.
        fleet: the fleet.
        date: the UTC day; every row's ``opened`` must be in ``[00:00, 24:00)`` of it (select the rows with
            :func:`alerts_opened_on`).
        alerts: one row per incident with exactly the columns of :data:`ALERT_SCHEMA` (any order); ``closed``,
            ``top_features`` and ``suppressed_by`` may be null. An empty frame writes an empty day.

    Returns:
        The keys written and the row counts. Rows are stored sorted by ``(opened, robot_id, incident_id)``.

    Raises:
        ValueError: missing or unknown columns, wrong types (e.g. datetimes instead of epoch ms), nulls in
            required columns, duplicate ``incident_id``, or an alert that did not open on `date`.
        StoreError: a write failed; the day then reads as not written (see the module docstring).
    """
    _check_fleet(fleet)
    _check_date("date", date)
    table = _alerts_table(alerts, date)
    records = alert_records(table)
    jsonl = b"".join(orjson.dumps(record) + b"\n" for record in records)
    sink = io.BytesIO()
    pq.write_table(table, sink, compression="zstd")
    files = AlertFiles(
        fleet=fleet,
        date=date,
        parquet_key=alerts_key(fleet, date),
        jsonl_key=alerts_jsonl_key(fleet, date),
        alerts=table.num_rows,
        suppressed=int(sum(table.column("suppressed").to_pylist())),
    )
    out.write_bytes(files.jsonl_key, jsonl)  # first: a view of the rows
    out.write_bytes(files.parquet_key, sink.getvalue())  # last: marks the day complete
    logger.info("wrote %d alerts (%d suppressed) to %s", files.alerts, files.suppressed, files.parquet_key)
    return files


def alerts_written(out: Store, fleet: str, date: dt.date) -> bool:
    """Whether the alerts of `fleet` on UTC day `date` were written completely (possibly with no alert):
    the Parquet file, written last, exists."""
    _check_fleet(fleet)
    _check_date("date", date)
    return out.exists(alerts_key(fleet, date))


def read_alerts(
    out: Store, fleet: str, start: dt.date | None = None, end: dt.date | None = None
) -> pd.DataFrame:
    """The stored alerts of `fleet` that opened on the UTC days ``[start, end]`` (both INCLUSIVE; None:
    unbounded), read from the Parquet files (days not written are absent).

    Returns:
        The columns of :data:`ALERT_SCHEMA`, sorted by ``(opened, robot_id, incident_id)``; ``closed`` is a
        nullable ``Int64``. No alert: an empty frame with those columns.
    """
    _check_fleet(fleet)
    _check_date("start", start)
    _check_date("end", end)
    if start is not None and end is not None and start > end:
        raise ValueError(f"'start' must be <= 'end' (both inclusive); got start={start}, end={end}")
    tables = [ALERT_SCHEMA.empty_table()]
    for date in _alert_days(out, fleet, start, end):
        key = alerts_key(fleet, date)
        try:
            table = pq.read_table(io.BytesIO(out.read_bytes(key)))
        except (pa.ArrowInvalid, OSError) as exc:
            if isinstance(exc, StoreError):
                raise
            raise StoreError(f"{out.url}/{key} is not a readable alert file ({exc})") from exc
        tables.append(table.select(list(ALERT_COLUMNS)).cast(ALERT_SCHEMA))
    frame: pd.DataFrame = pa.concat_tables(tables).to_pandas()
    frame["closed"] = frame["closed"].astype("Int64")
    return frame.sort_values(["opened", "robot_id", "incident_id"], kind="stable", ignore_index=True)


def alert_records(table: pa.Table | pd.DataFrame) -> list[dict[str, Any]]:
    """The alerts as JSON-ready dicts: the columns of :data:`ALERT_SCHEMA` in order, each time column
    followed by ``<column>_utc`` (ISO 8601 with milliseconds and ``Z``, or None); NaN and null become None."""
    if isinstance(table, pd.DataFrame):
        table = pa.Table.from_pandas(table[list(ALERT_COLUMNS)], schema=ALERT_SCHEMA, preserve_index=False)
    records = []
    for row in table.select(list(ALERT_COLUMNS)).to_pylist():
        record: dict[str, Any] = {}
        for name in ALERT_COLUMNS:
            value = row[name]
            if isinstance(value, float) and not np.isfinite(value):
                value = None
            record[name] = value
            if name in TIME_COLUMNS:
                record[f"{name}_utc"] = None if value is None else _iso(value)
        records.append(record)
    return records


def _alerts_table(alerts: pd.DataFrame, date: dt.date) -> pa.Table:
    """`alerts` as a table of :data:`ALERT_SCHEMA`, validated, sorted by (opened, robot_id, incident_id)."""
    if not isinstance(alerts, pd.DataFrame):
        raise TypeError(f"'alerts' must be a pandas DataFrame (got {type(alerts).__name__})")
    missing = [c for c in ALERT_COLUMNS if c not in alerts.columns]
    unknown = [str(c) for c in alerts.columns if c not in ALERT_COLUMNS]
    if missing or unknown:
        raise ValueError(
            f"alerts must have exactly the columns {list(ALERT_COLUMNS)}: missing {missing}, "
            f"unknown {unknown} (drop unknown columns, or add them to telemetry.io.alerts.ALERT_SCHEMA)"
        )
    for name in TIME_COLUMNS:
        if pd.api.types.is_datetime64_any_dtype(alerts[name]) or isinstance(
            alerts[name].dtype, pd.PeriodDtype
        ):
            raise ValueError(
                f"alerts column {name!r} must hold epoch milliseconds UTC (integers), "
                f"got {alerts[name].dtype}; convert timestamps explicitly, "
                "e.g. series.astype('datetime64[ms, UTC]').astype('int64')"
            )
    try:
        table = pa.Table.from_pandas(alerts[list(ALERT_COLUMNS)], preserve_index=False)
        table = table.cast(_NULLABLE_SCHEMA, safe=True)  # nullability is checked below
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError) as exc:
        raise ValueError(f"alerts do not match ALERT_SCHEMA ({exc}); expected {ALERT_SCHEMA}") from exc
    nulls = [f.name for f in ALERT_SCHEMA if not f.nullable and table.column(f.name).null_count]
    if nulls:
        raise ValueError(
            f"alerts columns {nulls} must not be null (only closed, top_features, suppressed_by)"
        )
    ids = table.column("incident_id").to_pandas()
    if ids.duplicated().any():
        raise ValueError(f"incident_id must be unique; duplicated: {sorted(set(ids[ids.duplicated()]))[:5]}")
    start, end = _day_bounds(date)
    opened = table.column("opened").to_numpy()
    outside = int(((opened < start) | (opened >= end)).sum())
    if outside:
        raise ValueError(
            f"{outside} of {table.num_rows} alerts did not open on {date} "
            f"(opened must be in [{start}, {end}) epoch ms UTC); "
            "select the day's rows with alerts_opened_on(alerts, date)"
        )
    order = pc.sort_indices(
        table, sort_keys=[("opened", "ascending"), ("robot_id", "ascending"), ("incident_id", "ascending")]
    )
    return pa.Table.from_arrays(table.take(order).columns, schema=ALERT_SCHEMA)


def _alert_days(out: Store, fleet: str, start: dt.date | None, end: dt.date | None) -> list[dt.date]:
    """UTC days in ``[start, end]`` (inclusive) of `fleet` whose alert Parquet file exists, sorted."""
    days = []
    for key in out.list_keys(f"{ALERTS_PREFIX}{fleet_prefix(fleet)}"):
        parts = key.split("/")
        date = date_of_dir(parts[2]) if len(parts) == 4 else None
        if date is None or key != alerts_key(fleet, date):
            continue
        if (start is None or date >= start) and (end is None or date <= end):
            days.append(date)
    return sorted(days)


# ----------------------------------------------------------------------------------------- delivery


@dataclass(frozen=True, slots=True)
class Delivery:
    """What :func:`deliver_alerts` did for one fleet and UTC day.

    Attributes:
        sink: the webhook, masked (``scheme://host[:port]/***``).
        delivered: incident ids the webhook accepted in this call, in the order sent.
        already_delivered: incident ids skipped because ``delivered.json`` lists them from an earlier run.
        suppressed: incident ids never sent because they are suppressed.
        requests: HTTP requests made (retries included); 0 when nothing was pending.
        status: the HTTP status of the last accepted request, or None when nothing was sent.
    """

    fleet: str
    date: dt.date
    sink: str
    delivered: tuple[str, ...]
    already_delivered: tuple[str, ...]
    suppressed: tuple[str, ...]
    requests: int
    status: int | None


def mask_url(url: str) -> str:
    """`url` with everything but ``scheme://host[:port]`` replaced: ``https://hooks.example.com/***``.

    User info, path, query and fragment often hold tokens; ``***`` alone when `url` cannot be parsed."""
    try:
        parts = urllib.parse.urlsplit(url)
        host, port = parts.hostname, parts.port
    except ValueError:
        return "***"
    if not parts.scheme or not host:
        return "***"
    netloc = f"[{host}]" if ":" in host else host
    return f"{parts.scheme}://{netloc}{'' if port is None else f':{port}'}/***"


def delivered_alert_ids(out: Store, fleet: str, date: dt.date) -> frozenset[str]:
    """The incident ids of `fleet`'s UTC day `date` that a webhook accepted (``delivered.json``; empty when
    nothing was delivered)."""
    _check_fleet(fleet)
    _check_date("date", date)
    return frozenset(
        str(i) for post in _delivery_record(out, fleet, date)["posts"] for i in post["incident_ids"]
    )


def deliver_alerts(
    out: Store,
    fleet: str,
    date: dt.date,
    alerts: pd.DataFrame,
    *,
    url: Secret,
    retries: int,
    timeout_s: float,
    backoff_s: float = 1.0,
    max_backoff_s: float = 30.0,
    max_retry_after_s: float = 60.0,
    max_per_post: int = 100,
) -> Delivery:
    """POST the day's unsuppressed alerts that were not delivered yet to the webhook at `url`; record each
    accepted request in ``delivered.json``. Call it after :func:`write_alerts` (the store keeps the alerts
    whatever happens here).

    One request per batch of at most `max_per_post` alerts, in ``(opened, robot_id, incident_id)`` order,
    with the body ``{"schema": "telemetry.alerts.v1", "fleet": ..., "date": "YYYY-MM-DD", "alerts": [...]}``
    (each alert as in :func:`alert_records`). A request is retried up to `retries` times on connection
    errors, timeouts (`timeout_s` per attempt, for the connection and for each read), HTTP 5xx and 429,
    waiting ``backoff_s * 2**i`` seconds (at most `max_backoff_s`) or, after a 429/503 with ``Retry-After``,
    that long when it is at most `max_retry_after_s` (a longer one ends the retries). Any other status
    outside 2xx (4xx, redirects: they are not followed) fails at once.

    Returns:
        What was sent, skipped and how many requests it took. Nothing pending: no request at all.

    Raises:
        AlertDeliveryError: a request failed for good. The message names the masked webhook, the last HTTP
            status or connection error, the attempts, and how many alerts were delivered before; the
            accepted ones are recorded, and a re-run sends the rest. It chains no exception.
        ValueError, TypeError: invalid arguments (`url` must be a Secret with an http(s) URL).
    """
    _check_fleet(fleet)
    _check_date("date", date)
    if not isinstance(url, Secret):
        raise TypeError(f"'url' must be a telemetry.config.Secret (got {type(url).__name__})")
    revealed = url.reveal()
    sink = mask_url(revealed)
    parts = urllib.parse.urlsplit(revealed) if sink != "***" else None
    if parts is None or parts.scheme not in ("http", "https"):
        raise ValueError(f"the alert webhook must be an http:// or https:// URL with a host (got {sink})")
    _check_retry_args(retries, timeout_s, backoff_s, max_backoff_s, max_retry_after_s, max_per_post)

    table = _alerts_table(alerts, date)
    done = delivered_alert_ids(out, fleet, date)
    records = alert_records(table)
    suppressed = tuple(r["incident_id"] for r in records if r["suppressed"])
    already = tuple(r["incident_id"] for r in records if not r["suppressed"] and r["incident_id"] in done)
    pending = [r for r in records if not r["suppressed"] and r["incident_id"] not in done]
    delivered: list[str] = []
    requests, status = 0, None
    opener = urllib.request.build_opener(_RefuseRedirects())
    for first in range(0, len(pending), max_per_post):
        batch = pending[first : first + max_per_post]
        ids = [r["incident_id"] for r in batch]
        outcome = _post_with_retries(
            opener,
            revealed,
            _payload(fleet, date, batch),
            _headers(fleet, date, ids),
            sink=sink,
            retries=retries,
            timeout_s=timeout_s,
            backoff_s=backoff_s,
            max_backoff_s=max_backoff_s,
            max_retry_after_s=max_retry_after_s,
        )
        requests += outcome.attempts
        if outcome.error:
            break
        status = outcome.status
        _record_post(out, fleet, date, sink, outcome, ids)
        delivered.extend(ids)
    else:
        logger.info(
            "alerts of %s %s: %d delivered to %s (%d already, %d suppressed) in %d requests",
            fleet, date, len(delivered), sink, len(already), len(suppressed), requests,
        )  # fmt: skip
        return Delivery(fleet, date, sink, tuple(delivered), already, suppressed, requests, status)
    # outside any `except` block: the error chains nothing that could hold the revealed URL
    raise AlertDeliveryError(
        f"alert delivery to {sink} failed after {outcome.attempts} attempt(s): {outcome.error}; "
        f"{len(delivered)} of {len(pending)} pending alerts of {fleet} {date} delivered in this run, "
        f"the others are kept in {out.url}/{alerts_key(fleet, date)} and a re-run sends them"
    )


@dataclass(frozen=True, slots=True)
class _Outcome:
    """One request, after its retries: accepted (``error`` empty) or failed for good."""

    status: int | None  # last HTTP status; None when no response came
    error: str  # masked description of the last failure; "" when accepted
    attempts: int
    at: str  # when the last attempt ended, ISO UTC


@dataclass(frozen=True, slots=True)
class _Attempt:
    status: int | None
    error: str
    retryable: bool
    retry_after: float | None  # seconds the server asked to wait (Retry-After), or None


class _RefuseRedirects(urllib.request.HTTPRedirectHandler):
    """Never follow a redirect: it would resend the payload (or drop it) to a URL nobody configured."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


def _post_with_retries(
    opener: urllib.request.OpenerDirector,
    url: str,
    body: bytes,
    headers: dict[str, str],
    *,
    sink: str,
    retries: int,
    timeout_s: float,
    backoff_s: float,
    max_backoff_s: float,
    max_retry_after_s: float,
) -> _Outcome:
    attempt = _Attempt(None, "", False, None)
    for i in range(retries + 1):
        attempt = _attempt(opener, url, body, headers, timeout_s)
        if not attempt.error:
            return _Outcome(attempt.status, "", i + 1, _now_iso())
        error = attempt.error
        if not attempt.retryable or i == retries:
            return _Outcome(attempt.status, error, i + 1, _now_iso())
        wait = min(backoff_s * 2**i, max_backoff_s)
        if attempt.retry_after is not None:
            if attempt.retry_after > max_retry_after_s:
                error += f" (Retry-After {attempt.retry_after:g} s is more than {max_retry_after_s:g} s)"
                return _Outcome(attempt.status, error, i + 1, _now_iso())
            wait = attempt.retry_after
        logger.warning(
            "alert webhook %s: attempt %d of %d failed (%s); retrying in %.3g s",
            sink, i + 1, retries + 1, error, wait,
        )  # fmt: skip
        time.sleep(wait)
    raise AssertionError("unreachable")  # pragma: no cover


def _attempt(
    opener: urllib.request.OpenerDirector, url: str, body: bytes, headers: dict[str, str], timeout_s: float
) -> _Attempt:
    """One POST; every failure is turned into a masked description (no exception leaves this function)."""
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")  # noqa: S310 - http(s)
    try:
        with opener.open(request, timeout=timeout_s) as response:
            response.read()
            return _Attempt(int(response.status), "", False, None)
    except urllib.error.HTTPError as exc:
        status = int(exc.code)
        try:
            detail = _scrub(exc.read(300).decode("utf-8", "replace"), url).strip()
        except (OSError, ValueError):
            detail = ""
        retry_after = _retry_after_s(exc.headers.get("Retry-After") if exc.headers else None)
        exc.close()
        error = f"HTTP {status} {_scrub(str(exc.reason), url)}"
        if 300 <= status < 400:
            error += " (redirects are not followed: configure the final URL)"
        if detail:
            error += f": {' '.join(detail.split())[:200]}"
        return _Attempt(status, error, status == 429 or status >= 500, retry_after)
    except urllib.error.URLError as exc:  # refused, DNS, TLS, a timeout while connecting or sending
        reason = exc.reason
        return _Attempt(None, _scrub(f"{type(reason).__name__}: {reason}", url), True, None)
    except (OSError, ValueError) as exc:  # a timeout or reset while reading; http.client's protocol errors
        return _Attempt(None, _scrub(f"{type(exc).__name__}: {exc}", url), True, None)


def _retry_after_s(value: str | None) -> float | None:
    """Seconds of a ``Retry-After`` header (delta seconds or an HTTP date), or None."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return max(0.0, (when - dt.datetime.now(dt.UTC)).total_seconds())


def _scrub(text: str, url: str) -> str:
    """`text` without the URL's secret parts (the whole URL, user info, path, query, fragment)."""
    parts = urllib.parse.urlsplit(url)
    secrets = [url, parts.path, parts.query, parts.fragment, parts.username or "", parts.password or ""]
    for value in sorted(set(secrets), key=len, reverse=True):
        if len(value) >= 4:  # "/" or a one-letter user would blank unrelated text
            text = text.replace(value, "***")
    return text


def _payload(fleet: str, date: dt.date, records: Sequence[dict[str, Any]]) -> bytes:
    return orjson.dumps(
        {"schema": PAYLOAD_SCHEMA, "fleet": fleet, "date": date.isoformat(), "alerts": list(records)}
    )


def _headers(fleet: str, date: dt.date, ids: Iterable[str]) -> dict[str, str]:
    key = hashlib.sha256("\n".join([fleet, date.isoformat(), *ids]).encode()).hexdigest()[:32]
    return {
        "Content-Type": "application/json",
        "User-Agent": f"telemetry/{__version__}",
        "Idempotency-Key": key,
    }


def _delivery_record(out: Store, fleet: str, date: dt.date) -> dict[str, Any]:
    key = alerts_delivery_key(fleet, date)
    if not out.exists(key):
        return {"schema": _DELIVERY_SCHEMA, "fleet": fleet, "date": date.isoformat(), "posts": []}
    try:
        record = orjson.loads(out.read_bytes(key))
        if not isinstance(record, dict) or not isinstance(record.get("posts"), list):
            raise ValueError("expected an object with a 'posts' list")
        for post in record["posts"]:
            if not isinstance(post, dict) or not isinstance(post.get("incident_ids"), list):
                raise ValueError("expected every post to have an 'incident_ids' list")
    except ValueError as exc:  # orjson.JSONDecodeError is a ValueError
        raise StoreError(
            f"{out.url}/{key} is not a delivery record ({exc}); delete it to deliver the day's alerts again"
        ) from None
    return record


def _record_post(
    out: Store, fleet: str, date: dt.date, sink: str, outcome: _Outcome, ids: Sequence[str]
) -> None:
    """Add one accepted request to ``delivered.json`` (read, append, atomic write)."""
    record = _delivery_record(out, fleet, date)
    record["posts"].append(
        {
            "at": outcome.at,
            "sink": sink,
            "status": outcome.status,
            "attempts": outcome.attempts,
            "incident_ids": list(ids),
        }
    )
    out.write_bytes(alerts_delivery_key(fleet, date), orjson.dumps(record, option=orjson.OPT_INDENT_2))


# ------------------------------------------------------------------------------------------ helpers


def _check_fleet(fleet: object) -> None:
    if not isinstance(fleet, str) or not fleet or "/" in fleet:
        raise ValueError(f"'fleet' must be a fleet name without '/' (got {fleet!r})")


def _check_date(name: str, value: object) -> None:
    if value is None and name != "date":
        return
    if isinstance(value, dt.datetime) or not isinstance(value, dt.date):
        raise TypeError(f"'{name}' must be a datetime.date (a UTC day) (got {value!r})")


def _check_retry_args(
    retries: int,
    timeout_s: float,
    backoff_s: float,
    max_backoff_s: float,
    max_retry_after_s: float,
    max_per_post: int,
) -> None:
    if isinstance(retries, bool) or not isinstance(retries, int) or retries < 0:
        raise ValueError(f"'retries' must be an int >= 0 (got {retries!r})")
    if isinstance(max_per_post, bool) or not isinstance(max_per_post, int) or max_per_post < 1:
        raise ValueError(f"'max_per_post' must be an int >= 1 (got {max_per_post!r})")
    if not timeout_s > 0:
        raise ValueError(f"'timeout_s' must be > 0 seconds (got {timeout_s!r})")
    if not (backoff_s >= 0 and max_backoff_s >= 0 and max_retry_after_s >= 0):
        raise ValueError(
            "'backoff_s', 'max_backoff_s' and 'max_retry_after_s' must be >= 0 seconds "
            f"(got {backoff_s!r}, {max_backoff_s!r}, {max_retry_after_s!r})"
        )


def _day_bounds(date: dt.date) -> tuple[int, int]:
    """``[start, end)`` of UTC day `date` in epoch ms."""
    start = (date - dt.date(1970, 1, 1)).days * DAY_MS
    return start, start + DAY_MS


def _iso(ms: int) -> str:
    """``2026-06-01T00:10:05.123Z`` for epoch ms UTC."""
    when = dt.datetime(1970, 1, 1, tzinfo=dt.UTC) + dt.timedelta(milliseconds=int(ms))
    return when.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _now_iso() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
