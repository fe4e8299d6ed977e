"""The `telemetry.v1` envelope: member names, day bounds and the envelope schema.

Pure functions and constants shared by the simulator, the importers and the extractor (no I/O). Store keys
are in :mod:`telemetry.contract.layout`.

Inside a day zip (``fleet=<fleet>/date=<YYYY-MM-DD>/<robot_id>.zip``), one gzip member
per envelope named ``<robot_id>/<sent_at>-<seq>.json.gz``. The day of an envelope is the UTC day of its
``sent_at`` (epoch milliseconds). A day is the half-open interval ``[00:00, 24:00)`` UTC.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from functools import cache
from importlib import resources
from typing import Any

__all__ = [
    "DAY_MS",
    "ID_PATTERN",
    "ROBOT_ID_RE",
    "SCHEMA_ID",
    "day_bounds_ms",
    "day_of_ms",
    "envelope_json_schema",
    "member_name",
    "parse_member_name",
]

SCHEMA_ID = "telemetry.v1"
DAY_MS = 86_400_000

# robot and fleet ids: what a key segment and a member name may hold
ID_PATTERN = r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}"
_MEMBER_RE = re.compile(rf"^(?P<robot>{ID_PATTERN})/(?P<sent_at>\d{{1,15}})-(?P<seq>\d{{1,18}})\.json\.gz$")
ROBOT_ID_RE = re.compile(rf"^{ID_PATTERN}$")


def member_name(robot_id: str, sent_at: int, seq: int) -> str:
    """``<robot_id>/<sent_at>-<seq>.json.gz``."""
    return f"{robot_id}/{sent_at}-{seq}.json.gz"


def parse_member_name(name: str) -> tuple[str, int, int] | None:
    """``(robot_id, sent_at, seq)`` of a member name, or None when it does not follow the contract."""
    m = _MEMBER_RE.match(name)
    if m is None:
        return None
    return m["robot"], int(m["sent_at"]), int(m["seq"])


def day_bounds_ms(date: dt.date) -> tuple[int, int]:
    """``[start, end)`` of a UTC day in epoch milliseconds."""
    start = int(dt.datetime(date.year, date.month, date.day, tzinfo=dt.UTC).timestamp()) * 1000
    return start, start + DAY_MS


def day_of_ms(ts_ms: int) -> dt.date:
    """The UTC day containing epoch-millisecond `ts_ms`."""
    return dt.datetime.fromtimestamp(ts_ms / 1000, tz=dt.UTC).date()


@cache
def envelope_json_schema() -> dict[str, Any]:
    """The JSON Schema of one `telemetry.v1` envelope (shipped in the package)."""
    text = resources.files("telemetry").joinpath("schemas/telemetry.v1.schema.json").read_text("utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema
