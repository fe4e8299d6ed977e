"""Extraction: hostile members never crash it, counts always add up, and the fast batched decoder agrees
member for member with a deliberately simple reference (stdlib gzip + json, one document at a time)."""

from __future__ import annotations

import datetime as dt
import gzip
import io
import json
import math
import warnings
import zipfile
import zlib
from collections import Counter
from typing import Any

import pandas as pd
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from telemetry.config import TelemetryConfig, load_config
from telemetry.contract.envelope import day_bounds_ms, member_name
from telemetry.contract.layout import DayKey
from telemetry.stages.extract import QUARANTINE_REASONS, extract_day_zip, signal_table_schema

CONFIG = load_config()
DAY = DayKey("acme-dc3", dt.date(2026, 11, 2), "amr-0001")
T0, T1 = day_bounds_ms(DAY.date)


# ------------------------------------------------------------------------------------------ builders


def envelope(seq: int, sent_at: int, signals: dict[str, list[dict[str, Any]]], **over: Any) -> dict[str, Any]:
    doc = {
        "schema": "telemetry.v1",
        "fleet": DAY.fleet,
        "robot_id": DAY.robot_id,
        "seq": seq,
        "sent_at": sent_at,
        "agent_version": "3.2.1",
        "signals": signals,
    }
    doc.update(over)
    return doc


def build_zip(members: list[tuple[str, bytes]], compression: int = zipfile.ZIP_STORED) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=compression) as zf, warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # duplicate member names are one of the cases under test
        for name, data in members:
            zf.writestr(
                zipfile.ZipInfo(name, date_time=(2026, 11, 2, 0, 0, 0)), data, compress_type=compression
            )
    return buf.getvalue()


def gz(doc: dict[str, Any] | bytes) -> bytes:
    raw = doc if isinstance(doc, bytes) else json.dumps(doc).encode()
    return gzip.compress(raw, mtime=0)


# ------------------------------------------------------------------------------------------ reference


class Reject(Exception):
    pass


def _is_number(v: Any) -> bool:
    return v is None or (isinstance(v, (int, float)) and not isinstance(v, bool))


def reference_extract(
    data: bytes, config: TelemetryConfig
) -> tuple[dict[str, pd.DataFrame], Counter[str], int]:
    """Slow, obvious extraction: returns (tables, quarantined member names, documents)."""
    lim = config.extract
    slack = int(lim.ts_slack_s * 1000)
    quarantined: Counter[str] = Counter()
    rows: dict[str, list[tuple[Any, ...]]] = {s.name: [] for s in config.signals}
    try:
        zf = zipfile.ZipFile(io.BytesIO(data))
        infos = zf.infolist()
    except Exception:
        return {}, Counter({"": 1}), 1
    for i, info in enumerate(infos):
        try:
            if i >= lim.max_members:
                raise Reject
            try:
                raw = zf.read(info)
            except Exception:
                raise Reject from None
            parts = info.filename.split("/")
            if len(parts) != 2 or parts[0] != DAY.robot_id or not parts[1].endswith(".json.gz"):
                raise Reject
            stem = parts[1][: -len(".json.gz")]
            sent_s, _, seq_s = stem.partition("-")
            if not (sent_s.isdigit() and seq_s.isdigit() and len(sent_s) <= 15 and len(seq_s) <= 18):
                raise Reject
            try:
                d = zlib.decompressobj(31)
                cap = min(lim.max_member_bytes, int(max(len(raw), 1) * lim.max_compression_ratio))
                text = d.decompress(raw, cap + 1)
                if len(text) > cap or not d.eof or d.unused_data:
                    raise Reject
            except zlib.error:
                raise Reject from None

            def no_constants(name: str) -> Any:
                raise Reject

            try:
                doc = json.loads(text, parse_constant=no_constants)
            except (ValueError, RecursionError):
                raise Reject from None
            if not isinstance(doc, dict) or doc.get("schema") != "telemetry.v1":
                raise Reject
            for k in ("fleet", "robot_id", "agent_version", "schema"):
                if k in doc and doc[k] is not None and not isinstance(doc[k], str):
                    raise Reject
            for k in ("seq", "sent_at"):
                if not isinstance(doc.get(k), int) or isinstance(doc.get(k), bool):
                    raise Reject
            if doc.get("fleet") != DAY.fleet or doc.get("robot_id") != DAY.robot_id:
                raise Reject
            if not (T0 <= doc["sent_at"] < T1) or doc["sent_at"] != int(sent_s) or doc["seq"] != int(seq_s):
                raise Reject
            sigs = doc.get("signals")
            if not isinstance(sigs, dict):
                raise Reject
            doc_rows: dict[str, list[tuple[Any, ...]]] = {}
            for spec in config.signals:
                samples = sigs.get(spec.name)
                if samples is None:
                    continue
                if not isinstance(samples, list):
                    raise Reject
                for s in samples:
                    if not isinstance(s, dict):
                        raise Reject
                    ts = s.get("ts")
                    if not isinstance(ts, int) or isinstance(ts, bool) or not (T0 - slack <= ts < T1 + slack):
                        raise Reject
                    vals: list[Any] = [DAY.robot_id, ts]
                    for f in spec.numeric:
                        v = s.get(f)
                        if not _is_number(v) or (v is not None and not math.isfinite(float(v))):
                            raise Reject
                        vals.append(None if v is None else float(v))
                    for f in spec.categorical:
                        v = s.get(f)
                        if v is not None and not isinstance(v, str):
                            raise Reject
                        vals.append(v)
                    doc_rows.setdefault(spec.name, []).append(tuple(vals))
            for name, r in doc_rows.items():
                rows[name].extend(r)
        except Reject:
            quarantined[info.filename] += 1
    tables = {}
    for spec in config.signals:
        cols = signal_table_schema(spec).names
        df = pd.DataFrame(rows[spec.name], columns=cols).drop_duplicates()
        tables[spec.name] = df.sort_values(cols[1:], kind="stable").reset_index(drop=True)
    return tables, quarantined, len(infos)


def normalised(df: pd.DataFrame) -> pd.DataFrame:
    df = df.astype(object).where(df.notna(), None)
    return df.sort_values(list(df.columns[1:]), kind="stable").reset_index(drop=True)


def assert_same_as_reference(data: bytes, config: TelemetryConfig = CONFIG) -> None:
    fast = extract_day_zip(data, day=DAY, version="v", signals=config.signals, extract=config.extract)
    ref_tables, ref_quarantined, ref_docs = reference_extract(data, config)
    rep = fast.report
    assert rep.documents == rep.extracted + rep.quarantined
    assert rep.documents == ref_docs
    assert Counter(q.member for q in fast.quarantine) == ref_quarantined
    assert all(q.reason in QUARANTINE_REASONS for q in fast.quarantine)
    for name, ref in ref_tables.items():
        got = fast.tables[name].to_pandas()
        assert list(got.columns) == list(ref.columns)
        pd.testing.assert_frame_equal(normalised(got), normalised(ref), check_dtype=False)


# ------------------------------------------------------------------------------------------ strategies

finite = st.floats(allow_nan=False, allow_infinity=False, width=64, min_value=-1e6, max_value=1e6)


@st.composite
def valid_envelopes(draw: st.DrawFn) -> list[tuple[str, dict[str, Any]]]:
    n = draw(st.integers(1, 6))
    out = []
    for seq in range(n):
        sent = T0 + 5000 * (seq + 1) + draw(st.integers(0, 999))
        signals: dict[str, list[dict[str, Any]]] = {}
        for spec in CONFIG.signals:
            if draw(st.booleans()):
                samples = []
                for _ in range(draw(st.integers(0, 4))):
                    s: dict[str, Any] = {"ts": draw(st.integers(T0 - 3_000_000, T1 + 3_000_000))}
                    for f in spec.numeric:
                        s[f] = draw(st.one_of(st.none(), finite, st.integers(-1000, 1000)))
                    for f in spec.categorical:
                        s[f] = draw(st.one_of(st.none(), st.sampled_from(["IDLE", "EXECUTING", "m-1", "é"])))
                    samples.append(s)
                signals[spec.name] = samples
        out.append((member_name(DAY.robot_id, sent, seq), envelope(seq, sent, signals)))
    return out


json_values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(-(2**70), 2**70), finite, st.text(max_size=5)),
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=3), inner, max_size=3)
    ),
    max_leaves=5,
)


def _mutate_doc(doc: dict[str, Any], draw: st.DrawFn) -> bytes:
    kind = draw(st.sampled_from(["set_top", "del_top", "set_sample", "raw_text", "nan", "extra"]))
    doc = json.loads(json.dumps(doc))
    if kind == "set_top":
        doc[draw(st.sampled_from(["schema", "fleet", "robot_id", "seq", "sent_at", "signals"]))] = draw(
            json_values
        )
    elif kind == "del_top":
        doc.pop(draw(st.sampled_from(["schema", "fleet", "robot_id", "seq", "sent_at", "signals"])), None)
    elif kind == "set_sample":
        spec = draw(st.sampled_from(CONFIG.signals))
        sample = {"ts": T0 + 1}
        sample[draw(st.sampled_from(["ts", *spec.fields]))] = draw(json_values)
        doc["signals"][spec.name] = [sample]
    elif kind == "raw_text":
        return draw(st.binary(max_size=40))
    elif kind == "nan":
        spec = CONFIG.signal("battery")
        return (
            json.dumps(doc)
            .replace(
                '"signals": {', '"signals": {"%s": [{"ts": %d, "voltage": NaN}], ' % (spec.name, T0 + 5), 1
            )
            .encode()
        )
    else:
        doc["signals"]["lidar"] = [{"ts": T0 + 1, "range": 3.2}]
    return json.dumps(doc).encode()


@st.composite
def corrupted_zips(draw: st.DrawFn) -> bytes:
    members = []
    for name, doc in draw(valid_envelopes()):
        action = draw(
            st.sampled_from(["keep", "keep", "keep", "mutate", "truncate", "flip", "rename", "dup"])
        )
        payload = gz(doc)
        if action == "mutate":
            payload = gz(_mutate_doc(doc, draw))
        elif action == "truncate":
            payload = payload[: draw(st.integers(0, max(len(payload) - 1, 0)))]
        elif action == "flip":
            pos = draw(st.integers(0, len(payload) - 1))
            payload = payload[:pos] + bytes([payload[pos] ^ draw(st.integers(1, 255))]) + payload[pos + 1 :]
        elif action == "rename":
            name = draw(
                st.sampled_from(["../../etc/passwd", "amr-0002/1-1.json.gz", "amr-0001/x.json.gz", ""])
            )
        elif action == "dup":
            members.append((name, payload))
        members.append((name, payload))
    data = build_zip(members)
    if draw(st.integers(0, 20)) == 0:  # corrupt the zip container itself
        cut = draw(st.integers(0, len(data)))
        data = data[:cut]
    return data


# ------------------------------------------------------------------------------------------ tests


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(corrupted_zips())
def test_arbitrary_corruption_never_crashes_and_matches_reference(data: bytes) -> None:
    assert_same_as_reference(data)


@settings(max_examples=40, deadline=None)
@given(valid_envelopes())
def test_valid_envelopes_are_all_extracted(envs: list[tuple[str, dict[str, Any]]]) -> None:
    data = build_zip([(name, gz(doc)) for name, doc in envs])
    fast = extract_day_zip(data, day=DAY, version="v", signals=CONFIG.signals, extract=CONFIG.extract)
    in_range = all(
        T0 - 3_600_000 <= s["ts"] < T1 + 3_600_000
        for _, d in envs
        for ss in d["signals"].values()
        for s in ss
    )
    assert fast.report.quarantined == (0 if in_range else fast.report.quarantined)
    assert_same_as_reference(data)


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (gz(envelope(1, T0 + 5000, {}))[:-6], "truncated_gzip"),
        (b"not gzip at all", "bad_gzip"),
        (gz(envelope(1, T0 + 5000, {})) + b"garbage", "bad_gzip"),
        (gz(b'{"schema": "telemetry.v1", '), "invalid_json"),
        (gz(b""), "invalid_json"),
        (gz(b"[1, 2]"), "invalid_json"),
        (gz(envelope(1, T0 + 5000, {"odometry": [{"ts": T0, "linear": "fast"}]})), "wrong_types"),
        (gz(envelope(1, T0 + 5000, {"odometry": [None]})), "wrong_types"),
        (gz(envelope(1, T0 + 5000, {"odometry": [{"linear": 1.0}]})), "missing_ts"),
        (gz(envelope(1, T0 + 5000, {"odometry": [{"ts": T0 // 1000, "linear": 1.0}]})), "ts_out_of_range"),
        (gz(envelope(1, T0 + 5000, {"odometry": [{"ts": T1 + 10**10}]})), "ts_out_of_range"),
        (gz(envelope(1, T0 + 5000, {}, schema="telemetry.v2")), "wrong_schema"),
        (gz(envelope(1, T0 + 5000, {}, fleet="other")), "wrong_fleet"),
        (gz(envelope(1, T0 + 5000, {}, robot_id="amr-0002")), "wrong_robot"),
        (gz(envelope(1, T1 + 5000, {})), "wrong_day"),
        (gz(envelope(2, T0 + 5000, {})), "wrong_day"),
        (gz(b"\x00" * 5_000_000), "zip_bomb"),
    ],
)
def test_each_bad_member_is_quarantined_with_a_specific_reason(payload: bytes, reason: str) -> None:
    good = gz(envelope(0, T0 + 1000, {"battery": [{"ts": T0 + 1, "voltage": 48.0}]}))
    data = build_zip(
        [(member_name(DAY.robot_id, T0 + 1000, 0), good), (member_name(DAY.robot_id, T0 + 5000, 1), payload)]
    )
    fast = extract_day_zip(data, day=DAY, version="v1", signals=CONFIG.signals, extract=CONFIG.extract)
    assert fast.report.documents == 2
    assert fast.report.extracted == 1
    assert [(q.member, q.reason, q.version) for q in fast.quarantine] == [
        (member_name(DAY.robot_id, T0 + 5000, 1), reason, "v1")
    ]
    assert fast.tables["battery"].num_rows == 1


def test_nan_literal_is_quarantined_as_non_finite() -> None:
    text = json.dumps(envelope(1, T0 + 5000, {})).replace(
        '"signals": {}', '"signals": {"battery": [{"ts": %d, "voltage": NaN}]}' % T0
    )
    fast = extract_day_zip(
        build_zip([(member_name(DAY.robot_id, T0 + 5000, 1), gz(text.encode()))]),
        day=DAY,
        version="v",
        signals=CONFIG.signals,
        extract=CONFIG.extract,
    )
    assert [q.reason for q in fast.quarantine] == ["non_finite"]


@pytest.mark.parametrize("depth", [100, 5000, 200_000])
def test_deeply_nested_json_is_quarantined_not_a_crash(depth: int) -> None:
    config = load_config(overrides=["extract.max_compression_ratio=100000"])
    doc = b'{"schema": "telemetry.v1", "x": ' + b"[" * depth + b"]" * depth + b"}"
    fast = extract_day_zip(
        build_zip([(member_name(DAY.robot_id, T0 + 5000, 1), gz(doc))]),
        day=DAY,
        version="v",
        signals=config.signals,
        extract=config.extract,
    )
    assert fast.report.quarantined == 1
    assert fast.quarantine[0].reason in {"invalid_json", "wrong_schema"}


def test_oversize_document_is_quarantined() -> None:
    config = load_config(overrides=["extract.max_member_bytes=200"])
    big = envelope(1, T0 + 5000, {"battery": [{"ts": T0 + i, "voltage": 48.0} for i in range(20)]})
    fast = extract_day_zip(
        build_zip([(member_name(DAY.robot_id, T0 + 5000, 1), gz(big))]),
        day=DAY,
        version="v",
        signals=config.signals,
        extract=config.extract,
    )
    assert [q.reason for q in fast.quarantine] == ["oversize"]


def test_member_limit_quarantines_the_rest() -> None:
    config = load_config(overrides=["extract.max_members=2"])
    members = [
        (member_name(DAY.robot_id, T0 + 5000 * i, i), gz(envelope(i, T0 + 5000 * i, {}))) for i in range(1, 5)
    ]
    fast = extract_day_zip(
        build_zip(members), day=DAY, version="v", signals=config.signals, extract=config.extract
    )
    assert fast.report.extracted == 2
    assert Counter(q.reason for q in fast.quarantine) == {"too_many_members": 2}


@pytest.mark.parametrize("data", [b"", b"PK\x03\x04 truncated", b"\x00" * 100])
def test_unreadable_zip_is_one_quarantined_document(data: bytes) -> None:
    fast = extract_day_zip(data, day=DAY, version="v", signals=CONFIG.signals, extract=CONFIG.extract)
    assert (fast.report.documents, fast.report.quarantined) == (1, 1)
    assert fast.quarantine[0].reason == "bad_zip"
    assert all(t.num_rows == 0 for t in fast.tables.values())


def test_duplicates_removed_out_of_order_sorted_unknowns_counted() -> None:
    a = {"ts": T0 + 200, "linear": 0.6, "angular": 0.1}
    b = {"ts": T0 + 100, "linear": 0.5, "angular": 0.1, "extra": 1}
    c = {"ts": T0 + 200, "linear": 0.9, "angular": 0.1}  # same ts, other values: kept, counted
    docs = [
        envelope(1, T0 + 5000, {"odometry": [a, b], "lidar": [{"ts": T0}]}),
        envelope(2, T0 + 10000, {"odometry": [a, c]}),
    ]
    members = [(member_name(DAY.robot_id, d["sent_at"], d["seq"]), gz(d)) for d in docs]
    members.append(members[0])  # a duplicated member is a second document, extracted again, deduplicated
    fast = extract_day_zip(
        build_zip(members, compression=zipfile.ZIP_DEFLATED),
        day=DAY,
        version="v",
        signals=CONFIG.signals,
        extract=CONFIG.extract,
    )
    odo = fast.tables["odometry"].to_pandas()
    assert odo["ts"].tolist() == [T0 + 100, T0 + 200, T0 + 200]
    assert odo["linear"].tolist() == [0.5, 0.6, 0.9]
    assert fast.report.duplicates_removed["odometry"] == 3
    assert fast.report.conflicting["odometry"] == 1
    assert fast.report.unknown_signals == {"lidar": 2}
    assert fast.report.unknown_fields == {"odometry.extra": 2}
    assert fast.report.documents == 3 and fast.report.quarantined == 0


def test_zip_crc_corruption_of_stored_member_is_detected() -> None:
    payload = gz(envelope(1, T0 + 5000, {"battery": [{"ts": T0, "voltage": 1.0}]}))
    data = bytearray(build_zip([(member_name(DAY.robot_id, T0 + 5000, 1), payload)]))
    pos = data.find(payload) + 12
    data[pos] ^= 0xFF
    fast = extract_day_zip(bytes(data), day=DAY, version="v", signals=CONFIG.signals, extract=CONFIG.extract)
    assert [q.reason for q in fast.quarantine] == ["bad_zip_member"]


def test_registry_decides_the_fields() -> None:
    config = load_config(overrides=["signals.odometry.numeric=[linear]"])
    doc = envelope(1, T0 + 5000, {"odometry": [{"ts": T0, "linear": 1.0, "angular": 2.0}]})
    fast = extract_day_zip(
        build_zip([(member_name(DAY.robot_id, T0 + 5000, 1), gz(doc))]),
        day=DAY,
        version="v",
        signals=config.signals,
        extract=config.extract,
    )
    assert fast.tables["odometry"].column_names == ["robot_id", "ts", "linear"]
    assert fast.report.unknown_fields == {"odometry.angular": 1}


@settings(max_examples=300, deadline=None)
@given(
    ts=st.lists(st.integers(0, 12), max_size=40),
    values=st.lists(st.sampled_from([0.0, -0.0, 1.0, 2.5, math.nan, None]), min_size=40, max_size=40),
    kinds=st.lists(st.sampled_from(["a", "b", None]), min_size=40, max_size=40),
    robot=st.booleans(),
    presorted=st.booleans(),
    split=st.integers(0, 40),
)
def test_sorted_unique_fast_path_equals_the_general_sort(
    ts: list[int],
    values: list[float | None],
    kinds: list[str | None],
    robot: bool,
    presorted: bool,
    split: int,
) -> None:
    """The ts-first path (already sorted, concatenated sorted parts, ties) gives the general path's rows."""
    from telemetry.stages.extract import _sorted_unique_general, sorted_unique

    n = len(ts)
    ts = sorted(ts) if presorted else ts
    columns: dict[str, pa.Array] = {
        "ts": pa.array(ts, pa.int64()),
        "x": pa.array(values[:n], pa.float64()),
        "kind": pa.array(kinds[:n], pa.string()),
    }
    if robot:
        columns = {"robot_id": pa.array(["amr-0001"] * n, pa.string()), **columns}
    table = pa.table(columns)
    table = pa.concat_tables([table.slice(0, split), table.slice(split)])
    got = sorted_unique(table)
    want = _sorted_unique_general(table) if n else (table, 0, 0)
    assert got[1:] == want[1:]
    assert got[0].schema == want[0].schema
    assert repr(got[0].to_pydict()) == repr(want[0].to_pydict())  # repr: NaN and -0.0 compared exactly
