"""A generator of hostile day zips: every case of issue 8's list, each with the outcome it must have.

Used by ``tests/test_hostile.py`` (every case, and random mixtures of member cases under hypothesis) and by
``benchmarks/fuzz_extract.py`` (the seed corpus of the coverage-guided fuzzer).

Two kinds of case:

* **member cases** (:func:`member_cases`): ``builder(seq) -> Member``, one hostile (or deliberately
  acceptable) zip member with the quarantine reason it must get (``None``: it must be extracted). Any
  mixture of member cases in one zip must give exactly those reasons member by member.
* **container cases** (:func:`container_cases`): whole objects (zero bytes, truncated, corrupt directory,
  empty zip, zip-level bombs, duplicate names, path traversal names) with the expected document count and
  reasons.

Every envelope belongs to :data:`DAY`; member ``seq`` is sent at ``T0 + 5 s * (seq + 1)``.
"""

from __future__ import annotations

import base64
import datetime as dt
import gzip
import io
import json
import random
import struct
import warnings
import zipfile
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from telemetry.config import TelemetryConfig, load_config
from telemetry.contract.envelope import day_bounds_ms, member_name
from telemetry.contract.layout import DayKey

CONFIG = load_config(env={})
DAY = DayKey("acme-dc3", dt.date(2026, 11, 2), "amr-0001")
T0, T1 = day_bounds_ms(DAY.date)
MiB = 2**20


@dataclass(frozen=True)
class Member:
    """One zip member and the reason it must be quarantined with (None: extracted)."""

    name: str
    payload: bytes
    reason: str | None


@dataclass(frozen=True)
class Case:
    """A whole object and what extraction must report for it."""

    name: str
    data: bytes
    documents: int
    reasons: Counter[str]  # quarantine reasons expected, with counts
    config: TelemetryConfig = CONFIG
    samples: int | None = None  # extracted samples over all signals, when the case pins it
    notes: dict[str, Any] = field(default_factory=dict)


# ------------------------------------------------------------------------------------------ builders


def sent_at(seq: int) -> int:
    return T0 + 5000 * (seq + 1)


def envelope(n: int, signals: dict[str, Any] | None = None, **over: Any) -> dict[str, Any]:
    seq = n
    doc: dict[str, Any] = {
        "schema": "telemetry.v1",
        "fleet": DAY.fleet,
        "robot_id": DAY.robot_id,
        "seq": seq,
        "sent_at": sent_at(seq),
        "agent_version": "3.2.1",
        "signals": {"battery": [{"ts": sent_at(seq) - 100, "voltage": 48.0, "current": 1.5, "soc": 70.0}]}
        if signals is None
        else signals,
    }
    doc.update(over)
    return doc


def gz(doc: dict[str, Any] | bytes) -> bytes:
    raw = doc if isinstance(doc, bytes) else json.dumps(doc).encode()
    return gzip.compress(raw, mtime=0)


def text(doc: dict[str, Any]) -> bytes:
    return json.dumps(doc).encode()


def build_zip(members: list[tuple[str, bytes]], compression: int = zipfile.ZIP_STORED) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=compression) as zf, warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # duplicate names are a case under test
        for name, data in members:
            info = zipfile.ZipInfo(name, date_time=(2026, 11, 2, 0, 0, 0))
            zf.writestr(info, data, compress_type=compression)
    return buf.getvalue()


def _name(seq: int) -> str:
    return member_name(DAY.robot_id, sent_at(seq), seq)


def _doc(reason: str | None, make: Callable[[int], dict[str, Any] | bytes]) -> Callable[[int], Member]:
    return lambda seq: Member(_name(seq), gz(make(seq)), reason)


def _replace_value(seq: int, signal: str, sample: dict[str, Any], literal: bytes) -> bytes:
    """An envelope whose one sample has the JSON text `literal` as the value of field ``"@"``."""
    doc = envelope(seq, {signal: [{**sample, "@": 0}]})
    return text(doc).replace(b'"@": 0', literal)


def _wrong_type_cases(config: TelemetryConfig) -> dict[str, Callable[[int], Member]]:
    """A value of the wrong JSON type, for every field of every registry signal and every envelope field."""
    cases: dict[str, Callable[[int], Member]] = {}
    not_numbers = {"string": '"12.5"', "bool": "true", "object": '{"v": 1}', "array": "[1]"}
    not_strings = {"number": "7", "bool": "false", "object": "{}", "array": '["a"]'}
    for spec in config.signals:
        for fname in spec.numeric:
            for label, literal in not_numbers.items():
                cases[f"wrong_type:{spec.name}.{fname}={label}"] = _doc(
                    "wrong_types",
                    lambda seq, s=spec.name, f=fname, lit=literal: _replace_value(
                        seq, s, {"ts": sent_at(seq) - 1}, f'"{f}": {lit}'.encode()
                    ),
                )
        for fname in spec.categorical:
            for label, literal in not_strings.items():
                cases[f"wrong_type:{spec.name}.{fname}={label}"] = _doc(
                    "wrong_types",
                    lambda seq, s=spec.name, f=fname, lit=literal: _replace_value(
                        seq, s, {"ts": sent_at(seq) - 1}, f'"{f}": {lit}'.encode()
                    ),
                )
        for label, literal in {"float": "1.5", "string": '"123"', "bool": "true"}.items():
            cases[f"wrong_type:{spec.name}.ts={label}"] = _doc(
                "wrong_types",
                lambda seq, s=spec.name, lit=literal: text(envelope(seq, {s: [{"ts": 0}]})).replace(
                    b'"ts": 0', b'"ts": ' + lit.encode()
                ),
            )
        cases[f"wrong_type:{spec.name}=object"] = _doc(
            "wrong_types", lambda seq, s=spec.name: envelope(seq, {s: {"ts": sent_at(seq)}})
        )
        cases[f"wrong_type:{spec.name}[0]=number"] = _doc(
            "wrong_types", lambda seq, s=spec.name: envelope(seq, {s: [5]})
        )
        cases[f"wrong_type:{spec.name}[0]=null"] = _doc(
            "wrong_types", lambda seq, s=spec.name: envelope(seq, {s: [None]})
        )
    for top, value in {
        "seq": "1",
        "sent_at": str(T0),
        "fleet": 3,
        "robot_id": ["amr-0001"],
        "schema": 1,
        "signals": [],
        "agent_version": {"v": 3},
    }.items():
        cases[f"wrong_type:envelope.{top}"] = _doc(
            "wrong_types", lambda seq, k=top, v=value: envelope(seq, **{k: v})
        )
    return cases


def member_cases(config: TelemetryConfig = CONFIG) -> dict[str, Callable[[int], Member]]:
    """Every member-level case: name -> ``builder(seq)``; each member's expected reason is in its Member."""
    battery = {"ts": 0, "voltage": 48.0}

    def sample_doc(seq: int, **values: Any) -> dict[str, Any]:
        return envelope(seq, {"battery": [{**battery, "ts": sent_at(seq) - 1, **values}]})

    def literal(value: bytes) -> Callable[[int], bytes]:
        return lambda seq: _replace_value(seq, "battery", {"ts": sent_at(seq) - 1}, b'"voltage": ' + value)

    def deep(depth: int, opener: bytes = b"[", closer: bytes = b"]") -> Callable[[int], bytes]:
        # random padding keeps the inflate ratio under the zip-bomb limit: the case is about nesting
        pad = random.Random(depth).randbytes(depth // 10 + 2000).hex().encode()
        return lambda seq: text(envelope(seq)).replace(
            b'"agent_version": "3.2.1"',
            b'"pad": "' + pad + b'", "agent_version": ' + opener * depth + b"1" + closer * depth,
        )

    cases: dict[str, Callable[[int], Member]] = {
        "valid": _doc(None, envelope),
        "valid:every_signal": _doc(
            None,
            lambda seq: envelope(
                seq,
                {
                    spec.name: [
                        {"ts": sent_at(seq) - 7, **dict.fromkeys(spec.numeric, 1.0)}
                        | dict.fromkeys(spec.categorical, "X")
                    ]
                    for spec in config.signals
                },
            ),
        ),
        "valid:unknown_signal_and_field": _doc(
            None,
            lambda seq: envelope(
                seq, {"lidar": [{"ts": 1}], "battery": [{"ts": sent_at(seq) - 1, "voltage": 1.0, "x": 2}]}
            ),
        ),
        "valid:huge_integer_in_float_field": _doc(None, literal(b"123456789012345678901234567890")),
        "valid:nulls_in_fields": _doc(None, lambda seq: sample_doc(seq, voltage=None, soc=None)),
        "valid:non_ascii_utf8": _doc(
            None, lambda seq: envelope(seq, {"mission": [{"ts": sent_at(seq) - 3, "state": "ÉTAT-✓"}]})
        ),
        "valid:whitespace_and_newlines": _doc(None, lambda seq: json.dumps(envelope(seq), indent=2).encode()),
        # gzip
        "gzip:truncated": lambda seq: Member(_name(seq), gz(envelope(seq))[:-9], "truncated_gzip"),
        "gzip:trailing_garbage": lambda seq: Member(_name(seq), gz(envelope(seq)) + b"garbage!", "bad_gzip"),
        "gzip:two_streams": lambda seq: Member(_name(seq), gz(envelope(seq)) + gz(envelope(seq)), "bad_gzip"),
        "gzip:not_gzip": lambda seq: Member(_name(seq), text(envelope(seq)), "bad_gzip"),
        "gzip:corrupt_deflate": lambda seq: Member(
            _name(seq), gz(envelope(seq))[:10] + b"\xff" * 40 + gz(envelope(seq))[50:], "bad_gzip"
        ),
        "gzip:zero_byte_member": lambda seq: Member(_name(seq), b"", "truncated_gzip"),
        "gzip:bomb_ratio": lambda seq: Member(_name(seq), gz(b" " * (4 * MiB)), "zip_bomb"),
        # JSON text
        "json:empty": _doc("invalid_json", lambda seq: b""),
        "json:array": _doc("invalid_json", lambda seq: b"[1, 2, 3]"),
        "json:truncated": _doc("invalid_json", lambda seq: text(envelope(seq))[:-7]),
        "json:syntax": _doc("invalid_json", lambda seq: text(envelope(seq)).replace(b":", b"=", 1)),
        "json:invalid_utf8_in_string": _doc(
            "invalid_json", lambda seq: text(envelope(seq)).replace(b'"3.2.1"', b'"3.2.\xff\xfe"')
        ),
        "json:invalid_utf8_in_category": _doc(
            "invalid_json",
            lambda seq: text(envelope(seq, {"mission": [{"ts": sent_at(seq), "state": "@"}]})).replace(
                b"@", b"\xc3\x28"
            ),
        ),
        "json:utf16": _doc("invalid_json", lambda seq: json.dumps(envelope(seq)).encode("utf-16")),
        "json:nul_byte_after": _doc("invalid_json", lambda seq: text(envelope(seq)) + b"\x00"),
        "json:deep_arrays_1500": _doc("invalid_json", deep(1500)),
        "json:deep_arrays_100000": _doc("invalid_json", deep(100_000)),
        "json:deep_objects_5000": _doc("invalid_json", deep(5000, b'{"a":', b"}")),
        "json:number_beyond_float64": _doc("invalid_json", literal(b"1e400")),
        "json:negative_number_beyond_float64": _doc("invalid_json", literal(b"-1e999")),
        "json:two_objects": _doc("wrong_types", lambda seq: text(envelope(seq)) + b" " + text(envelope(seq))),
        "json:duplicate_key": _doc(
            "wrong_types",
            lambda seq: text(sample_doc(seq)).replace(b'"voltage": 48.0', b'"voltage": 1, "voltage": 2'),
        ),
        # non-finite literals
        "nan:NaN": _doc("non_finite", literal(b"NaN")),
        "nan:Infinity": _doc("non_finite", literal(b"Infinity")),
        "nan:-Infinity": _doc("non_finite", literal(b"-Infinity")),
        "nan:ts_NaN": _doc(
            "wrong_types",
            lambda seq: text(envelope(seq, {"battery": [{"ts": 0}]})).replace(b'"ts": 0', b'"ts": NaN'),
        ),
        # huge numbers in integer fields
        "huge:ts_beyond_int64": _doc(
            "wrong_types",
            lambda seq: text(envelope(seq, {"battery": [{"ts": 0}]})).replace(
                b'"ts": 0', b'"ts": ' + b"9" * 30
            ),
        ),
        "huge:seq_beyond_int64": _doc(
            "wrong_types",
            lambda seq: text(envelope(seq)).replace(f'"seq": {seq}'.encode(), b'"seq": ' + b"9" * 25),
        ),
        # envelope fields
        "schema:v2": _doc("wrong_schema", lambda seq: envelope(seq, schema="telemetry.v2")),
        "schema:v0": _doc("wrong_schema", lambda seq: envelope(seq, schema="telemetry.v0")),
        "schema:empty": _doc("wrong_schema", lambda seq: envelope(seq, schema="")),
        "schema:null": _doc("wrong_schema", lambda seq: envelope(seq, schema=None)),
        "schema:missing": _doc(
            "wrong_schema", lambda seq: {k: v for k, v in envelope(seq).items() if k != "schema"}
        ),
        "schema:missing_signals": _doc(
            "wrong_schema", lambda seq: {k: v for k, v in envelope(seq).items() if k != "signals"}
        ),
        "schema:missing_sent_at": _doc(
            "wrong_schema", lambda seq: {k: v for k, v in envelope(seq).items() if k != "sent_at"}
        ),
        "owner:wrong_fleet": _doc("wrong_fleet", lambda seq: envelope(seq, fleet="other-fleet")),
        "owner:wrong_robot": _doc("wrong_robot", lambda seq: envelope(seq, robot_id="amr-0002")),
        # time
        "time:missing_ts": _doc("missing_ts", lambda seq: envelope(seq, {"battery": [{"voltage": 48.0}]})),
        "time:ts_in_seconds": _doc(
            "ts_out_of_range", lambda seq: sample_doc(seq, ts=(sent_at(seq) - 1) // 1000)
        ),
        "time:ts_in_microseconds": _doc(
            "ts_out_of_range", lambda seq: sample_doc(seq, ts=(sent_at(seq) - 1) * 1000)
        ),
        "time:ts_zero": _doc("ts_out_of_range", lambda seq: sample_doc(seq, ts=0)),
        "time:ts_negative": _doc("ts_out_of_range", lambda seq: sample_doc(seq, ts=-(2**62))),
        "time:ts_far_past": _doc("ts_out_of_range", lambda seq: sample_doc(seq, ts=T0 - 400 * 86_400_000)),
        "time:ts_far_future": _doc("ts_out_of_range", lambda seq: sample_doc(seq, ts=2**62)),
        "time:sent_at_in_seconds": lambda seq: Member(
            member_name(DAY.robot_id, sent_at(seq) // 1000, seq),
            gz(envelope(seq, sent_at=sent_at(seq) // 1000)),
            "wrong_day",
        ),
        "time:sent_at_next_day": lambda seq: Member(
            member_name(DAY.robot_id, T1 + seq, seq), gz(envelope(seq, sent_at=T1 + seq)), "wrong_day"
        ),
        "time:sent_at_differs_from_name": _doc(
            "wrong_day", lambda seq: envelope(seq, sent_at=sent_at(seq) + 1)
        ),
        "time:seq_differs_from_name": _doc("wrong_day", lambda seq: envelope(seq, seq=seq + 10_000)),
        # names
        "name:path_traversal": lambda seq: Member(
            f"../../../etc/{seq}.json.gz", gz(envelope(seq)), "bad_member_name"
        ),
        "name:path_traversal_inside": lambda seq: Member(
            f"{DAY.robot_id}/../../{sent_at(seq)}-{seq}.json.gz", gz(envelope(seq)), "bad_member_name"
        ),
        "name:absolute": lambda seq: Member(
            f"/tmp/{sent_at(seq)}-{seq}.json.gz", gz(envelope(seq)), "bad_member_name"
        ),
        "name:backslashes": lambda seq: Member(
            f"{DAY.robot_id}\\..\\{sent_at(seq)}-{seq}.json.gz", gz(envelope(seq)), "bad_member_name"
        ),
        "name:other_robot": lambda seq: Member(
            member_name("amr-0002", sent_at(seq), seq), gz(envelope(seq)), "bad_member_name"
        ),
        "name:not_json_gz": lambda seq: Member(
            f"{DAY.robot_id}/{sent_at(seq)}-{seq}.json", gz(envelope(seq)), "bad_member_name"
        ),
        "name:directory_entry": lambda seq: Member(f"{DAY.robot_id}/", b"", "bad_member_name"),
    }
    cases.update(_wrong_type_cases(config))
    return cases


# ------------------------------------------------------------------------------------------ containers


def _deflate_bomb(name: str, size: int, chunk: int = MiB) -> bytes:
    """A zip whose one deflated entry inflates (at the zip level) to `size` zero bytes."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
        info = zipfile.ZipInfo(name, date_time=(2026, 11, 2, 0, 0, 0))
        info.compress_type = zipfile.ZIP_DEFLATED
        with zf.open(info, "w", force_zip64=True) as fh:
            zeros = bytes(chunk)
            for _ in range(size // chunk):
                fh.write(zeros)
    return buf.getvalue()


def _with_compress_type(data: bytes, method: int) -> bytes:
    """Rewrite the compression method of every entry (central directory and local headers)."""
    out = bytearray(data)
    pos = 0
    while (pos := out.find(b"PK\x01\x02", pos)) >= 0:
        struct.pack_into("<H", out, pos + 10, method)
        offset = struct.unpack_from("<I", out, pos + 42)[0]
        struct.pack_into("<H", out, offset + 8, method)
        pos += 4
    return bytes(out)


# found by benchmarks/fuzz_extract.py (atheris): central directory offsets pointing before the zip start
# made zipfile raise ValueError ("negative seek value"), which escaped the extractor
FUZZ_NEGATIVE_SEEK = base64.b64decode(
    "UEsDBBQAAAAIAAAAYl0vEO3ftAAAAK8AAAAgAAAAYW1yLTAwMDEvMTc5MzU3NzYwNTAwMC0wLmpzb24uwt+kCqX1WrouraWl"
    "paWlp6boKWSrJ5W14dogUYkxLzE3OTM1Nzc2MTUwMDAtMi5qc29uLmd6Aa8AUP8fiwgAAAAAAAIDTYzbDoIwEER/xfRZmnKz"
    "4q8YQ0pZkaSlsV1JCOHf3a0vvk3OzJxdJPsCb8TtJBAceMC4ybUU55N4OgDkwlgPxWhrhjEMAft5zNzHQimVxwnehKqcFuwN"
    "H0vd1a3Wl7KlFTVm4mqFmOawsKCWlfy952kxLhHbxWAQIW6U77vA9O9puuxZg0NyUdNcJQP7iZHUPJUt64KlrJVUx+M4vhkI"
    "RFDkAAAAUEsBAhQDFAAAAAgAAABiXS8Q7d+0AAAArwAAACAAAAAAAAAAAAAyAIABAAAAAGFtci0wMDAxLzE3OTM1Nzc2MDUw"
    "MDAtMC5qc29uLmd6UEsBAhQDFAAAAAgAAABiXVE2Xy61AAAAsAAAACAAAAAAAAAAAAAAAIAB8gAAAGFtci0wMDAwLzE3OTM1"
    "Nzc2MTAwMDAtMS5qc29uLmd6UEsBAhQDFAAAAAgAAABiXTCAEHq0AAAArwAAACAAAAAAAAAAAAAAAIAB5QEAAGFtci0wMDAx"
    "LzE3OTM1Nzc2MTUwMDAtMi5qc29uLmd6UEsFBgAAAAADAAMA6gAAANcCAAAAAA=="
)

# ... and a stored entry's negative offset made the fast path's struct.unpack_from raise struct.error
FUZZ_NEGATIVE_OFFSET_STORED = base64.b64decode(
    "UEsDBBQAAAAAAAAAYl0vEO3frwAAAK8AAAAgAAAAYW1yLTAwMDEvMTc5MzU3NzYwNTAwMC0wLmpzb24uZ3ofiwgAAAAAAAID"
    "TYzBDoIwEER/hfQsTRGw4q8YQ0pZkaSlsV1JCOHf3a0Xb5M3M28Xyb7AG3ErBIIDDxg3uVbiVIinA0AujPVQjrZmGMMQsJ/H"
    "zH0slVJ5nOBNSOW0YG/4WOmubrXTZc8aHJKLmuYqGdhPjKTmqWxZFyxlraQ6HsfxBRg9/q/kAAAAUEsDBBQAAAAAAAAAYl0Y"
    "66wiJQEAACUBAAAgAAAAYW1yLTAwMDEvMTc5MzU3NzYxMDAwMC0xLmpzb24uZ3ofiwgAAAAAAAIDfZHRboMwDEV/pcrzimBo"
    "Q+xLJlUTSoOBaEncJS5ah/j3JaENbA+8xdf3HmM8MScG0Jy9HRiBAg1kb9lYsKcD6xQAhQYXGo6tKINo8YzUyDbq2h7zPI9m"
    "B19eKuLLUMNDsKjq8qWqXgtvyn2H96E1gnUSTQCU2XO2pGVvuHJem5hCwZX84eK0mE4TI7eB5XVdlz7yHbQsYG/pRQMQT5VA"
    "08kWjIBFmj+8iC3GHXfIShrgNmG46a//////////////////////6lFHxpkTwS5iREV+2/VTrtb63VPtUGx4GgntDo1AXxoF"
    "3ZqPipX9QP9H/PU9xI11mSid2/+9F4tSvQXnEuoeuZ/+PV6NOMFSRSqMfpbbgTrvsJLWg31Ks+IEtok2z79qSVE5mgIAAFBL"
    "AQIUAxQAAAAAAAAAYl0vEO3frwAAAK8AAAAgAAAAAAAAAAAAAACAAQAAAABhbXItMDAwMS8xNzkzNTc3NjA1MDAwLTAuanNv"
    "bi5nelBLAQIUAxQAAAAAAAAAYl0Y66wiJQEAACUBAAAgAAAAAAAAAAAAAACAAe0AAABhbXItMDAwMS8xNzkzNTc3NjEwMDAw"
    "LTEuanNvbi5nelBLBQYAAAAAAgACAJwAAABQAgAAAAA="
)

# ... and a zip64 end record naming an unknown "zip file version" made zipfile raise NotImplementedError
FUZZ_UNKNOWN_ZIP_VERSION = base64.b64decode(
    "UEsDBBQAAAAIAAAAAABiXS8Q7d+0AAAArwAAACAAAABhbXItMDAwMS8xNzkzNTc3NjA1MDAwLTAuanNvbi7C36QKpfVaui6t"
    "paWlpaWnpugpZKsnlbXh2iBRiegRsOKvGENKWZGkpbFdSQjh392tF2+TNzNvF8m+wBtxKwSCAw8YN7lW4lSIpwNALoz1UI62"
    "ZhjDEP+wn8fMfSyVUnmc4E1I5bRgb/hY6a5utb6ollbUmImrFWKaw8KCWp7l7z1Pi3GJ2C4Ggwhxo3zfBaZ/T9Nlzxockoua"
    "5ioZ2E+MpOapbFkXLGWtpDoex/EFGD3+r+QAAGbeJrJ7QbDidhAIHgJgWuWixfEgnh4AubAuQDW4mmGKfcRuGgoPqVJKlXGG"
    "NyFd0oyd5aM2bd0Yc9E0UtTYkasFUp7izIJanuTvPY2z9ZnYJnqLCGmlfN8E5j+PatviWaJHclFyvkoG7pMSqXkqG9ZFR9ko"
    "qfbHvn8B41P3huQAAABQSwMEFAAAAAgAAABiXTCAEHq0AAAArwAgACAAAABhbXItMDAwMS8xNzkzNTc3NjE1MDAwLTIuanNv"
    "bi5negGvAFD/H4sIAAAAAAACA02M2w6CMBBEf8X0WZpys+KvGENKWZGkpbFdSQjh392tL75NzsycXST7Am/E7SQQHHjAuMm1"
    "FOeTeDoA5MJYD8Voa4YxDAH7eczcx0IplccJ3oSqnBbsDR9L3dWt1peypRU1ZuJqhZjmsLCglpX8vedpMS4R28VgECFulO+7"
    "wPTvabrsWYNDclHTXCUD+4mR1DyVLeuCpayVVMfjOL4ZCERQ5AAAAFBLAQIUAxQAAP8IAAAAYl0vEO3ftAAAAK8AAAAgAAAA"
    "AAAAAAAAAACAAQAAAABhbXItMDAwMS8xNzkzNTc3NjA1MDAwLTAuanNvbi5nelBLAQIU/ev//AAIAAAAYl1RNl8utQAAALAA"
    "AAAgAAAAAAAAAAAAAACAAfIAAABhbXItMDAwMS8xNzkzNTc3NjEwMDAwLTEuanNvbi5nelBLAQIUAxQAAAgAAABiXTAAgBB6"
    "tAAAAK8AAAAgAAAAAAAAAAAAAACAAeUBAABhbXItMDAwMS8xNzkzNTc3NjE1MDAwLTIuanNvbi5nelBLBQYAAAAAAwADAOoA"
    "AADXAgAAAAA="
)


def container_cases(*, bomb_bytes: int = 256 * MiB) -> list[Case]:
    """Whole-object cases. `bomb_bytes`: what the absolute-size zip bomb inflates to."""
    good = [(_name(i), gz(envelope(i))) for i in range(3)]
    good_zip = build_zip(good)
    deflated = build_zip(good, zipfile.ZIP_DEFLATED)
    eocd = good_zip.rfind(b"PK\x05\x06")
    cases = [
        Case("zero_byte_object", b"", 1, Counter(bad_zip=1)),
        Case("not_a_zip", b"\x1f\x8b this is not a zip at all" * 3, 1, Counter(bad_zip=1)),
        Case("empty_zip", build_zip([]), 0, Counter()),
        Case("truncated_zip:half", good_zip[: len(good_zip) // 2], 1, Counter(bad_zip=1)),
        Case("truncated_zip:no_directory", good_zip[:eocd], 1, Counter(bad_zip=1)),
        Case("truncated_zip:deflated", deflated[: len(deflated) - 30], 1, Counter(bad_zip=1)),
        Case(
            "corrupt_zip:directory_magic",
            good_zip.replace(b"PK\x01\x02", b"PK\x01\x09", 1),
            1,
            Counter(bad_zip=1),
        ),
        Case(
            "corrupt_zip:member_crc",
            good_zip.replace(good[1][1][20:40], bytes(b ^ 0x5A for b in good[1][1][20:40]), 1),
            3,
            Counter(bad_zip_member=1),
        ),
        Case(
            "corrupt_zip:deflated_member_data",
            deflated[:60] + bytes(b ^ 0xA5 for b in deflated[60:90]) + deflated[90:],
            3,
            Counter(bad_zip_member=1),
        ),
        Case(
            "corrupt_zip:unsupported_method",
            _with_compress_type(good_zip, 99),
            3,
            Counter(bad_zip_member=3),
        ),
        Case(
            "duplicate_names:same_content",
            build_zip([*good, good[0], good[0]]),
            5,
            Counter(),
            samples=3,
        ),
        Case(
            "duplicate_names:other_content",
            build_zip([*good, (good[0][0], gz(envelope(0, {"battery": [{"ts": T0 + 7, "voltage": 1.0}]})))]),
            4,
            Counter(),
            samples=4,
        ),
        Case(
            "zip_bomb:zip_level_ratio",
            build_zip([good[0], (_name(1), bytes(8 * MiB))], zipfile.ZIP_DEFLATED),
            2,
            Counter(zip_bomb=1),
        ),
        Case(
            f"zip_bomb:zip_level_absolute_{bomb_bytes // MiB}MiB",
            _deflate_bomb(_name(0), bomb_bytes),
            1,
            Counter(oversize=1),
        ),
        Case(
            "zip_bomb:gzip_absolute",
            build_zip([(_name(0), gz(random.Random(0).randbytes(MiB).hex().encode()))]),
            1,
            Counter(oversize=1),
            config=load_config(env={}, overrides=["extract.max_member_bytes=1000000"]),
        ),
        Case(
            "too_many_members",
            build_zip([(_name(i), gz(envelope(i))) for i in range(5)]),
            5,
            Counter(too_many_members=2),
            config=load_config(env={}, overrides=["extract.max_members=3"]),
        ),
        Case("corrupt_zip:fuzz_negative_header_offset", FUZZ_NEGATIVE_SEEK, 3, Counter(bad_zip_member=3)),
        Case(
            "corrupt_zip:fuzz_negative_offset_stored",
            FUZZ_NEGATIVE_OFFSET_STORED,
            2,
            Counter(bad_zip_member=2),
        ),
        Case(
            "path_traversal:only",
            build_zip(
                [("../../etc/passwd", b"root:x:0:0"), ("/etc/shadow", b"x"), ("a/../../b.json.gz", b"")]
            ),
            3,
            Counter(bad_member_name=3),
        ),
    ]
    return cases


def mixed_zip(names: list[str], config: TelemetryConfig = CONFIG) -> tuple[bytes, list[Member]]:
    """One zip holding member case ``names[i]`` as member ``seq = i``."""
    builders = member_cases(config)
    members = [builders[name](seq) for seq, name in enumerate(names)]
    return build_zip([(m.name, m.payload) for m in members]), members


def seed_corpus(bomb_bytes: int = 32 * MiB) -> list[bytes]:
    """Every case as zip bytes (member cases one per zip, next to a valid member)."""
    out = [case.data for case in container_cases(bomb_bytes=bomb_bytes)]
    for name in member_cases():
        out.append(mixed_zip(["valid", name])[0])
    return out


__all__ = [
    "CONFIG",
    "DAY",
    "T0",
    "T1",
    "Case",
    "Member",
    "build_zip",
    "container_cases",
    "envelope",
    "gz",
    "member_cases",
    "mixed_zip",
    "seed_corpus",
]
