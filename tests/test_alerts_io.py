"""telemetry.io.alerts: the alert files (Parquet + JSON lines, crash order, empty days) and the webhook
delivery, against a real HTTP server on 127.0.0.1 (retries, Retry-After, 4xx, refused connections, timeouts,
idempotent re-runs, the secret URL never shown)."""

from __future__ import annotations

import datetime as dt
import http.server
import json
import logging
import socket
import threading
import time
import traceback
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from telemetry.config import S3Config, Secret
from telemetry.contract.layout import alerts_delivery_key, alerts_jsonl_key, alerts_key
from telemetry.errors import AlertDeliveryError, StoreError
from telemetry.io.alerts import (
    ALERT_COLUMNS,
    PAYLOAD_SCHEMA,
    alerts_opened_on,
    alerts_written,
    deliver_alerts,
    delivered_alert_ids,
    mask_url,
    read_alerts,
    write_alerts,
)
from telemetry.io.store import Store

FLEET = "acme-dc3"
DAY = dt.date(2026, 6, 1)
DAY_START = int(dt.datetime(2026, 6, 1, tzinfo=dt.UTC).timestamp() * 1000)
SECRET_PATH = "/hooks/T0KEN-s3cr3t-9f8e7d"
SECRET_QUERY = "key=q-s3cr3t-abc123"
FAST = {"backoff_s": 0.01, "max_backoff_s": 0.05}  # retry waits in tests: milliseconds, not seconds


def incidents(n: int, *, day_start: int = DAY_START, suppressed: tuple[int, ...] = ()) -> pd.DataFrame:
    """`n` incidents opening 10 min apart on the day, as the incidents stage emits them (closed is null for
    the last one: still open)."""
    opened = day_start + 60_000 + 600_000 * np.arange(n, dtype=np.int64)
    closed: list[float] = [float(t + 400_000) for t in opened]
    if n:
        closed[-1] = np.nan
    return pd.DataFrame(
        {
            "robot_id": [f"amr-{i % 3 + 1:04d}" for i in range(n)],
            "incident_id": [f"amr-{i % 3 + 1:04d}-{t}" for i, t in enumerate(opened)],
            "opened": opened,
            "last_active": opened + 120_123,
            "closed": closed,
            "peak_cutoff": opened + 35_000,
            "peak_risk": np.linspace(0.5, 0.9, n) if n else np.zeros(0),
            "cutoffs": np.full(n, 24, dtype=np.int64),
            "threshold": np.full(n, 0.31),
            "model_id": ["failure-abc123"] * n,
            "top_features": ['{"motor.temp_left__slope__w42s": 0.41}' if i % 2 else None for i in range(n)],
            "suppressed": [i in suppressed for i in range(n)],
            "suppressed_by": ["maintenance" if i in suppressed else None for i in range(n)],
        }
    )


# ----------------------------------------------------------------------------------- the webhook


@dataclass
class Hook:
    """A scripted webhook: each request takes the next answer of ``script`` (then 200 for ever), recorded.

    An answer is ``status`` or ``(status, headers)`` or ``("sleep", seconds, status)``.
    """

    server: http.server.ThreadingHTTPServer
    script: list[Any] = field(default_factory=list)
    requests: list[dict[str, Any]] = field(default_factory=list)
    released: threading.Event = field(default_factory=threading.Event)

    @property
    def url(self) -> Secret:
        return Secret(f"http://127.0.0.1:{self.server.server_address[1]}{SECRET_PATH}?{SECRET_QUERY}")

    def answered(self) -> list[dict[str, Any]]:
        """The requests answered 2xx."""
        return [r for r in self.requests if 200 <= r["status"] < 300]


@pytest.fixture
def hook() -> Iterator[Hook]:
    lock = threading.Lock()
    state: dict[str, Hook] = {}

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            h = state["hook"]
            with lock:
                answer = h.script.pop(0) if h.script else 200
            headers: dict[str, str] = {}
            if isinstance(answer, tuple) and answer[0] == "sleep":
                h.released.wait(answer[1])
                answer = answer[2]
            elif isinstance(answer, tuple):
                answer, headers = answer
            with lock:
                h.requests.append(
                    {
                        "path": self.path,
                        "headers": dict(self.headers),
                        "json": json.loads(body),
                        "status": answer,
                    }
                )
            try:
                self.send_response(answer)
                for name, value in headers.items():
                    self.send_header(name, value)
                reply = b'{"ok": true}' if answer < 300 else f"rejected {self.path}".encode()
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)
            except OSError:  # the client gave up (timeout)
                pass

        def log_message(self, format: str, *args: Any) -> None:  # silence the server's stderr
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state["hook"] = h = Hook(server)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield h
    finally:
        h.released.set()
        server.shutdown()
        server.server_close()
        thread.join(5)


@pytest.fixture
def closed_port_url() -> Secret:
    """An http URL on a loopback port nobody listens on (connection refused)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return Secret(f"http://127.0.0.1:{port}{SECRET_PATH}?{SECRET_QUERY}")


@pytest.fixture
def out(tmp_path: Any) -> Store:
    return Store(str(tmp_path / "out"))


def written(out: Store, alerts: pd.DataFrame, date: dt.date = DAY) -> pd.DataFrame:
    write_alerts(out, FLEET, date, alerts)
    return read_alerts(out, FLEET, date, date)


def chain(exc: BaseException) -> list[BaseException]:
    """`exc` and every exception it chains (cause or context), recursively."""
    seen: list[BaseException] = []
    todo: list[BaseException | None] = [exc]
    while todo:
        e = todo.pop()
        if e is None or any(e is s for s in seen):
            continue
        seen.append(e)
        todo += [e.__cause__, e.__context__]
    return seen


def assert_no_secret(text: str) -> None:
    for secret in (SECRET_PATH, SECRET_QUERY, "T0KEN", "q-s3cr3t"):
        assert secret not in text


# ------------------------------------------------------------------------------------------- files


def test_files_round_trip_parquet_and_json_lines(out: Store) -> None:
    alerts = incidents(5, suppressed=(1,)).sample(frac=1.0, random_state=3)  # any row order in
    files = write_alerts(out, FLEET, DAY, alerts)
    assert (files.parquet_key, files.jsonl_key) == (alerts_key(FLEET, DAY), alerts_jsonl_key(FLEET, DAY))
    assert (files.alerts, files.suppressed) == (5, 1)

    back = read_alerts(out, FLEET, DAY, DAY)
    assert list(back.columns) == list(ALERT_COLUMNS)
    expected = alerts.sort_values("opened", ignore_index=True)[list(ALERT_COLUMNS)]
    assert back["incident_id"].tolist() == expected["incident_id"].tolist()  # sorted by opened
    assert back["opened"].dtype == np.int64 and str(back["closed"].dtype) == "Int64"
    assert back["closed"].isna().tolist() == [False] * 4 + [True]
    assert back["closed"].iloc[:4].tolist() == expected["closed"].iloc[:4].astype(np.int64).tolist()
    assert back["top_features"].isna().tolist() == expected["top_features"].isna().tolist()
    assert back["suppressed"].tolist() == [False, True, False, False, False]
    assert back["peak_risk"].tolist() == expected["peak_risk"].tolist()

    lines = out.read_bytes(files.jsonl_key).decode().splitlines()
    records = [json.loads(line) for line in lines]
    assert len(records) == 5
    keys = list(records[0])
    assert keys[:6] == ["incident_id", "robot_id", "opened", "opened_utc", "last_active", "last_active_utc"]
    assert all(list(r) == keys for r in records)  # stable key order
    for record, (_, row) in zip(records, back.iterrows(), strict=True):
        for name in ALERT_COLUMNS:  # the same content as the Parquet file
            value = row[name]
            assert record[name] == (None if pd.isna(value) else value), name
        for name in ("opened", "last_active", "closed", "peak_cutoff"):
            ms = record[name]
            iso = (
                None
                if ms is None
                else pd.Timestamp(ms, unit="ms", tz="UTC").isoformat(timespec="milliseconds")
            )
            assert record[f"{name}_utc"] == (None if iso is None else iso.replace("+00:00", "Z"))
    assert records[0]["opened_utc"] == "2026-06-01T00:01:00.000Z"
    assert records[0]["last_active_utc"] == "2026-06-01T00:03:00.123Z"
    assert records[-1]["closed"] is None and "NaN" not in "".join(lines)

    # hive-style: any Parquet reader finds the same rows under alerts/
    table = pq.read_table(f"{out.url}/{files.parquet_key}")
    assert table.num_rows == 5 and table.schema.names == list(ALERT_COLUMNS)


def test_an_empty_day_is_written_and_differs_from_a_day_not_run(out: Store) -> None:
    assert not alerts_written(out, FLEET, DAY)
    files = write_alerts(out, FLEET, DAY, incidents(0))
    assert alerts_written(out, FLEET, DAY) and files.alerts == 0
    assert out.read_bytes(files.jsonl_key) == b""
    assert pq.read_schema(f"{out.url}/{files.parquet_key}").names == list(ALERT_COLUMNS)
    back = read_alerts(out, FLEET)
    assert back.empty and list(back.columns) == list(ALERT_COLUMNS)
    assert back["opened"].dtype == np.int64
    assert not alerts_written(out, FLEET, DAY + dt.timedelta(days=1))


def test_read_alerts_spans_days_inclusive(out: Store) -> None:
    for offset in range(3):
        day = DAY + dt.timedelta(days=offset)
        write_alerts(out, FLEET, day, incidents(2, day_start=DAY_START + offset * 86_400_000))
    write_alerts(out, "other-fleet", DAY, incidents(4))
    assert len(read_alerts(out, FLEET)) == 6
    both = read_alerts(out, FLEET, DAY + dt.timedelta(days=1), DAY + dt.timedelta(days=2))
    assert len(both) == 4 and both["opened"].min() >= DAY_START + 86_400_000
    assert len(read_alerts(out, "other-fleet", DAY, DAY)) == 4


def test_a_crash_between_the_two_writes_leaves_the_day_not_written(
    out: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_write = out.write_bytes
    calls: list[str] = []

    def crash_on_second(key: str, data: bytes) -> None:
        calls.append(key)
        if len(calls) == 2:
            raise StoreError(f"killed while writing {key}")
        real_write(key, data)

    monkeypatch.setattr(out, "write_bytes", crash_on_second)
    with pytest.raises(StoreError, match="killed"):
        write_alerts(out, FLEET, DAY, incidents(3))
    assert calls == [alerts_jsonl_key(FLEET, DAY), alerts_key(FLEET, DAY)]  # JSON lines first, Parquet last
    assert not alerts_written(out, FLEET, DAY)
    assert read_alerts(out, FLEET).empty
    monkeypatch.undo()
    write_alerts(out, FLEET, DAY, incidents(3))  # the re-run completes the day
    assert alerts_written(out, FLEET, DAY) and len(read_alerts(out, FLEET)) == 3


def test_invalid_alerts_are_refused_with_the_fix(out: Store) -> None:
    good = incidents(2)
    with pytest.raises(ValueError, match=r"did not open on 2026-06-02.*alerts_opened_on"):
        write_alerts(out, FLEET, DAY + dt.timedelta(days=1), good)
    with pytest.raises(ValueError, match="epoch milliseconds"):
        write_alerts(out, FLEET, DAY, good.assign(opened=pd.to_datetime(good["opened"], unit="ms")))
    with pytest.raises(ValueError, match=r"missing \['model_id'\], unknown \['extra'\]"):
        write_alerts(out, FLEET, DAY, good.drop(columns="model_id").assign(extra=1))
    with pytest.raises(ValueError, match=r"\['peak_risk'\] must not be null"):
        write_alerts(out, FLEET, DAY, good.assign(peak_risk=None))
    with pytest.raises(ValueError, match="incident_id must be unique"):
        write_alerts(out, FLEET, DAY, good.assign(incident_id="same"))
    with pytest.raises(TypeError, match=r"datetime\.date"):
        write_alerts(out, FLEET, dt.datetime(2026, 6, 1), good)  # type: ignore[arg-type]
    assert not alerts_written(out, FLEET, DAY)
    spanning = pd.concat([incidents(2), incidents(1, day_start=DAY_START + 86_400_000)], ignore_index=True)
    assert len(alerts_opened_on(spanning, DAY)) == 2


@pytest.mark.s3
def test_files_and_delivery_record_on_s3(s3_bucket_url: str, s3_config: S3Config, hook: Hook) -> None:
    s3 = Store(s3_bucket_url, s3_config)
    back = written(s3, incidents(3, suppressed=(0,)))
    assert alerts_written(s3, FLEET, DAY) and len(back) == 3
    assert len(s3.read_bytes(alerts_jsonl_key(FLEET, DAY)).splitlines()) == 3
    delivery = deliver_alerts(s3, FLEET, DAY, back, url=hook.url, retries=0, timeout_s=5)
    assert len(delivery.delivered) == 2 and delivered_alert_ids(s3, FLEET, DAY) == set(delivery.delivered)


# ---------------------------------------------------------------------------------------- delivery


def test_delivery_posts_the_unsuppressed_alerts_and_records_them(out: Store, hook: Hook) -> None:
    alerts = written(out, incidents(4, suppressed=(2,)))
    delivery = deliver_alerts(out, FLEET, DAY, alerts, url=hook.url, retries=2, timeout_s=5, **FAST)

    assert len(hook.requests) == 1 and delivery.requests == 1 and delivery.status == 200
    request = hook.requests[0]
    assert request["path"] == f"{SECRET_PATH}?{SECRET_QUERY}"
    assert request["headers"]["Content-Type"] == "application/json"
    assert request["headers"]["Idempotency-Key"]
    payload = request["json"]
    assert (payload["schema"], payload["fleet"], payload["date"]) == (PAYLOAD_SCHEMA, FLEET, "2026-06-01")
    sent = [a["incident_id"] for a in payload["alerts"]]
    expected = alerts.loc[~alerts["suppressed"], "incident_id"].tolist()
    assert sent == expected == list(delivery.delivered)
    assert delivery.suppressed == (alerts["incident_id"].iloc[2],)
    first = payload["alerts"][0]
    assert first["opened_utc"] == "2026-06-01T00:01:00.000Z" and first["peak_risk"] == 0.5
    assert payload["alerts"][-1]["closed"] is None

    assert delivered_alert_ids(out, FLEET, DAY) == set(expected)
    record = json.loads(out.read_bytes(alerts_delivery_key(FLEET, DAY)))
    (post,) = record["posts"]
    assert post["status"] == 200 and post["attempts"] == 1 and post["incident_ids"] == expected
    assert post["at"].endswith("Z") and post["sink"] == mask_url(hook.url.reveal())
    assert_no_secret(json.dumps(record))


def test_a_delivered_day_posts_nothing_again(out: Store, hook: Hook) -> None:
    alerts = written(out, incidents(3))
    deliver_alerts(out, FLEET, DAY, alerts, url=hook.url, retries=0, timeout_s=5)
    again = deliver_alerts(out, FLEET, DAY, alerts, url=hook.url, retries=0, timeout_s=5)
    assert len(hook.requests) == 1
    assert again.delivered == () and len(again.already_delivered) == 3
    assert (again.requests, again.status) == (0, None)
    nothing = deliver_alerts(out, FLEET, DAY + dt.timedelta(days=1), incidents(0), url=hook.url, retries=0,
                             timeout_s=5)  # fmt: skip
    assert nothing.requests == 0 and len(hook.requests) == 1


def test_a_server_error_is_retried_then_succeeds(out: Store, hook: Hook) -> None:
    alerts = written(out, incidents(2))
    hook.script = [500, 503]
    delivery = deliver_alerts(out, FLEET, DAY, alerts, url=hook.url, retries=3, timeout_s=5, **FAST)
    assert [r["status"] for r in hook.requests] == [500, 503, 200]
    assert delivery.requests == 3 and len(delivery.delivered) == 2
    assert len({r["headers"]["Idempotency-Key"] for r in hook.requests}) == 1  # the same request, resent
    assert json.loads(out.read_bytes(alerts_delivery_key(FLEET, DAY)))["posts"][0]["attempts"] == 3


def test_429_waits_for_retry_after(out: Store, hook: Hook) -> None:
    alerts = written(out, incidents(1))
    hook.script = [(429, {"Retry-After": "1"})]
    began = time.monotonic()
    delivery = deliver_alerts(out, FLEET, DAY, alerts, url=hook.url, retries=1, timeout_s=5, **FAST)
    assert time.monotonic() - began >= 0.95  # the server's 1 s, not the 10 ms backoff
    assert [r["status"] for r in hook.requests] == [429, 200] and len(delivery.delivered) == 1


def test_a_long_retry_after_ends_the_retries(out: Store, hook: Hook) -> None:
    alerts = written(out, incidents(1))
    hook.script = [(429, {"Retry-After": "3600"})]
    with pytest.raises(AlertDeliveryError, match=r"HTTP 429.*Retry-After 3600 s is more than 60 s"):
        deliver_alerts(out, FLEET, DAY, alerts, url=hook.url, retries=5, timeout_s=5, **FAST)
    assert len(hook.requests) == 1


def test_a_4xx_fails_at_once_without_retries(out: Store, hook: Hook) -> None:
    alerts = written(out, incidents(2))
    hook.script = [400]
    with pytest.raises(AlertDeliveryError) as info:
        deliver_alerts(out, FLEET, DAY, alerts, url=hook.url, retries=5, timeout_s=5, **FAST)
    assert len(hook.requests) == 1
    message = str(info.value)
    assert "HTTP 400" in message and "1 attempt(s)" in message and "0 of 2" in message
    assert "rejected ***" in message  # the server's reply, with the echoed path masked
    assert_no_secret(message)
    assert delivered_alert_ids(out, FLEET, DAY) == frozenset()
    assert alerts_written(out, FLEET, DAY)  # the alerts stay in the store


def test_exhausted_retries_raise_without_revealing_the_url(
    out: Store, hook: Hook, caplog: pytest.LogCaptureFixture
) -> None:
    alerts = written(out, incidents(2))
    hook.script = [500, 502, 503]
    caplog.set_level(logging.DEBUG)
    with pytest.raises(AlertDeliveryError) as info:
        deliver_alerts(out, FLEET, DAY, alerts, url=hook.url, retries=2, timeout_s=5, **FAST)
    assert len(hook.requests) == 3
    message = str(info.value)
    host = mask_url(hook.url.reveal())
    assert host.endswith("/***") and host in message
    assert "HTTP 503" in message and "3 attempt(s)" in message and "re-run sends them" in message
    assert chain(info.value) == [info.value]  # nothing chained
    assert_no_secret(message)
    assert_no_secret("".join(traceback.format_exception(info.value)))
    assert_no_secret(repr(info.value.args))
    assert "attempt 1 of 3 failed" in caplog.text
    assert_no_secret(caplog.text)
    assert not delivered_alert_ids(out, FLEET, DAY) and len(read_alerts(out, FLEET)) == 2


def test_connection_refused_is_retried_then_reported(
    out: Store, closed_port_url: Secret, caplog: pytest.LogCaptureFixture
) -> None:
    alerts = written(out, incidents(1))
    caplog.set_level(logging.DEBUG)
    with pytest.raises(AlertDeliveryError, match=r"after 3 attempt\(s\): ConnectionRefusedError") as info:
        deliver_alerts(out, FLEET, DAY, alerts, url=closed_port_url, retries=2, timeout_s=2, **FAST)
    assert chain(info.value) == [info.value]
    assert_no_secret(str(info.value))
    assert_no_secret(caplog.text)
    assert caplog.text.count("retrying") == 2


def test_a_slow_webhook_times_out_and_is_retried(out: Store, hook: Hook) -> None:
    alerts = written(out, incidents(1))
    hook.script = [("sleep", 5.0, 200), 200]  # the first answer comes after the client's timeout
    began = time.monotonic()
    delivery = deliver_alerts(out, FLEET, DAY, alerts, url=hook.url, retries=1, timeout_s=0.3, **FAST)
    assert time.monotonic() - began < 3.0
    assert delivery.requests == 2 and len(delivery.delivered) == 1


def test_a_slow_webhook_exhausts_the_retries(out: Store, hook: Hook) -> None:
    alerts = written(out, incidents(1))
    hook.script = [("sleep", 5.0, 200)] * 2
    with pytest.raises(AlertDeliveryError, match=r"after 2 attempt\(s\): .*timed out") as info:
        deliver_alerts(out, FLEET, DAY, alerts, url=hook.url, retries=1, timeout_s=0.3, **FAST)
    assert_no_secret(str(info.value))


def test_a_rerun_after_a_partial_delivery_sends_only_the_rest(out: Store, hook: Hook) -> None:
    alerts = written(out, incidents(5))
    hook.script = [200, 200, 500]  # batches of 2: the third batch fails
    with pytest.raises(AlertDeliveryError, match="4 of 5 pending alerts"):
        deliver_alerts(out, FLEET, DAY, alerts, url=hook.url, retries=0, timeout_s=5, max_per_post=2)
    first_two = [a["incident_id"] for r in hook.answered() for a in r["json"]["alerts"]]
    assert delivered_alert_ids(out, FLEET, DAY) == set(first_two) and len(first_two) == 4

    rerun = deliver_alerts(out, FLEET, DAY, alerts, url=hook.url, retries=0, timeout_s=5, max_per_post=2)
    assert [a["incident_id"] for a in hook.requests[-1]["json"]["alerts"]] == [alerts["incident_id"].iloc[4]]
    assert rerun.delivered == (alerts["incident_id"].iloc[4],) and len(rerun.already_delivered) == 4
    assert delivered_alert_ids(out, FLEET, DAY) == set(alerts["incident_id"])
    assert deliver_alerts(out, FLEET, DAY, alerts, url=hook.url, retries=0, timeout_s=5).requests == 0


def test_new_alerts_of_a_rewritten_day_are_sent_alone(out: Store, hook: Hook) -> None:
    deliver_alerts(out, FLEET, DAY, written(out, incidents(2)), url=hook.url, retries=0, timeout_s=5)
    more = written(out, incidents(3))  # the day re-scored: one incident more
    delivery = deliver_alerts(out, FLEET, DAY, more, url=hook.url, retries=0, timeout_s=5)
    assert delivery.delivered == (more["incident_id"].iloc[2],)
    assert len(hook.requests) == 2


def test_redirects_are_not_followed(out: Store, hook: Hook) -> None:
    alerts = written(out, incidents(1))
    hook.script = [(307, {"Location": "http://127.0.0.1:1/elsewhere"})]
    with pytest.raises(AlertDeliveryError, match=r"HTTP 307.*redirects are not followed"):
        deliver_alerts(out, FLEET, DAY, alerts, url=hook.url, retries=3, timeout_s=5, **FAST)
    assert len(hook.requests) == 1


def test_mask_url_keeps_scheme_host_and_port_only() -> None:
    assert (
        mask_url("https://user:pa55@hooks.example.com:8443/T/B?token=x#f")
        == "https://hooks.example.com:8443/***"
    )
    assert mask_url("http://[::1]/services/x") == "http://[::1]/***"
    assert mask_url("https://hooks.example.com") == "https://hooks.example.com/***"
    assert mask_url("not a url") == "***"


def test_invalid_delivery_arguments_are_refused(out: Store) -> None:
    alerts = incidents(1)
    with pytest.raises(TypeError, match="Secret"):
        deliver_alerts(out, FLEET, DAY, alerts, url="http://x/y", retries=0, timeout_s=1)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"http:// or https://.*got \*\*\*\)"):
        deliver_alerts(out, FLEET, DAY, alerts, url=Secret("ftp-T0KEN"), retries=0, timeout_s=1)
    with pytest.raises(ValueError, match="retries"):
        deliver_alerts(out, FLEET, DAY, alerts, url=Secret("http://127.0.0.1/x"), retries=-1, timeout_s=1)
    out.write_bytes(alerts_delivery_key(FLEET, DAY), b"{not json")
    with pytest.raises(StoreError, match="delete it"):
        delivered_alert_ids(out, FLEET, DAY)
