"""The robot's agent: envelopes every ~5 s, the samples each one carries, serialised and gzipped.

Time semantics
--------------
* A sample taken at ``ts`` is ready to send at ``ready = ts + latency`` (latency 5-80 ms) and travels in the
  first envelope with ``sent_at >= ready``. Envelopes are sent every 4.7-5.3 s while the robot is online;
  an envelope belongs to the day zip of the UTC day of its ``sent_at``, so samples of the last seconds before
  midnight are carried by the next day's zip. The agent drops samples it could not upload within 10 minutes
  (e.g. across an offline gap): ``sent_at - ts <= 600_000`` for every uploaded sample. Samples still unsent
  when the simulation ends are never uploaded.
* Upload faults (:mod:`telemetry.sim.faults`) are applied on the way: late and re-sent samples, corrupt
  members, unknown data, late uploads.

Serialisation
-------------
Numbers are printed with exactly three decimals, right-aligned with JSON whitespace (as a C agent's
``printf("%8.3f")`` would), so every record of a high-rate signal has a fixed width and the JSON is built
with vectorised table look-ups instead of per-sample Python objects (:func:`encode_fixed_width`). This is
the simulated agent's choice, not the format's: ``telemetry.v1`` takes any JSON number. Gzip members are
deterministic (:func:`telemetry.contract.ziplib.gzip_member`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from typing import Final

import numpy as np
import numpy.typing as npt
import orjson

from telemetry._types import I64, Bools, Objs
from telemetry.config import SignalSpec
from telemetry.contract.envelope import DAY_MS, SCHEMA_ID, day_bounds_ms, member_name
from telemetry.contract.ziplib import gzip_member
from telemetry.sim.faults import (
    FAULT_COUNTS,
    FaultRates,
    add_unknown_data,
    corrupt_member,
    late_upload,
    member_faults,
    sample_faults,
)
from telemetry.sim.physics import NULL, SCALE, TICK_MS, Rendered, Rows

__all__ = ["Agent", "Upload", "encode_fixed_width"]


_BUFFER_TTL_MS: Final = 600_000  # the agent drops samples it could not upload within 10 minutes


@dataclass(slots=True)
class Upload:
    """One robot-day as uploaded.

    Attributes:
        members: the final zip's members ``(name, gzip bytes)`` in ``seq`` order, corrupt ones included.
        first_version_members: the members of an earlier zip version (a late upload), else None.
        carried: per signal, the samples this day's members carry (in upload order, copies included) and
            whether each one is in a readable (not corrupt) member.
        faults: counts per :data:`telemetry.sim.faults.FAULT_COUNTS`.
    """

    members: list[tuple[str, bytes]]
    first_version_members: list[tuple[str, bytes]] | None
    carried: dict[str, tuple[Rows, Bools]]
    faults: dict[str, int]


class Agent:
    """The upload agent of one robot over the whole simulation; unsent samples carry over to the next day."""

    def __init__(
        self,
        *,
        fleet: str,
        robot_id: str,
        robot_index: int,
        seed: int,
        start: int,
        agent_version: str,
        signals: Sequence[SignalSpec],
        faults: FaultRates,
    ) -> None:
        self.fleet = fleet
        self.robot_id = robot_id
        self.index = robot_index
        self.seed = seed
        self.agent_version = agent_version
        self.signals = signals
        self.faults = faults
        self.next_send = start + int(np.random.default_rng([seed, robot_index, 7]).integers(0, 5000))
        self.seq = 1000 + 97 * robot_index
        self.carry: dict[str, Rows] = {}

    def _send_times(self, day_start: int, day_end: int, rendered: Rendered) -> I64:
        """``sent_at`` of this day's envelopes: every 4.7-5.3 s while online, in ``[day_start, day_end)``."""
        rng = np.random.default_rng([self.seed, self.index, (day_start // DAY_MS), 3])
        count = (day_end - self.next_send) // 4700 + 2
        times = self.next_send + np.concatenate(([0], np.cumsum(rng.integers(4700, 5301, count))))
        inside = times < day_end
        self.next_send = int(times[~inside][0])
        times = times[inside & (times >= day_start)]
        tick = (times - rendered.start) // TICK_MS
        n = rendered.online_ticks.shape[0]
        ok = (times >= rendered.start) & (times < rendered.end)
        ok[ok] = rendered.online_ticks[np.clip(tick[ok], 0, max(n - 1, 0))]
        return times[ok]

    def upload(self, date: dt.date, rendered: Rendered, rng: np.random.Generator) -> Upload:
        """Upload one day: route samples into this day's envelopes, inject faults, serialise, gzip."""
        day_start, day_end = day_bounds_ms(date)
        sent = self._send_times(day_start, day_end, rendered)
        n_env = sent.shape[0]
        seqs = self.seq + np.arange(n_env, dtype=np.int64)
        self.seq += n_env
        counts = dict.fromkeys(FAULT_COUNTS, 0)
        counts["members"] = n_env
        bad = member_faults(self.faults, n_env, rng)

        parts: list[list[bytes]] = []
        carried: dict[str, tuple[Rows, Bools]] = {}
        for spec_s in self.signals:
            rows, env = self._route(spec_s.name, rendered.rows[spec_s.name], sent, rng)
            counts["duplicate_samples"] += int((rows.tag == 1).sum())
            counts["out_of_order_samples"] += int((rows.tag == 2).sum())
            parts.append(_signal_parts(spec_s, rows, np.searchsorted(env, np.arange(n_env + 1))))
            carried[spec_s.name] = (rows, ~bad.corrupt[env])

        head = (
            f'{{"schema":"{SCHEMA_ID}","fleet":"{self.fleet}","robot_id":"{self.robot_id}","seq":%d,'
            f'"sent_at":%d,"agent_version":"{self.agent_version}","signals":{{'
        ).encode()
        sent_list, seq_list = sent.tolist(), seqs.tolist()
        special = (bad.corrupt | bad.unknown_signal | bad.unknown_field).tolist()
        members: list[tuple[str, bytes]] = []
        for j, envelope in enumerate(zip(*parts, strict=True)):
            name = member_name(self.robot_id, sent_list[j], seq_list[j])
            if not special[j]:
                doc = head % (seq_list[j], sent_list[j]) + b",".join([p for p in envelope if p]) + b"}}"
                members.append((name, gzip_member(doc, fast=True)))
                continue
            present = [self.signals[i] for i, p in enumerate(envelope) if p]
            chosen = add_unknown_data(
                list(envelope),
                self.signals,
                unknown_field=bool(bad.unknown_field[j]),
                unknown_signal=bool(bad.unknown_signal[j]),
                sent_at=sent_list[j],
                rng=rng,
                counts=counts,
            )
            doc = head % (seq_list[j], sent_list[j]) + b",".join([p for p in chosen if p]) + b"}}"
            members.append((name, corrupt_member(doc, int(bad.kind[j]), present, rng, counts)))

        first, missing = late_upload(members, self.faults.late_upload, rng)
        if first is not None:
            counts["late_upload_missing"] = missing
        return Upload(members, first, carried, counts)

    def _route(self, name: str, new: Rows, sent: I64, rng: np.random.Generator) -> tuple[Rows, I64]:
        """This day's emissions of one signal in upload order, and the envelope index of each.

        Applies the per-sample faults to the day's new samples (a re-sent copy travels in the envelope after
        the original's; a late sample becomes ready 6-40 s later), adds what the previous day left unsent and
        keeps for the next day what no envelope of this day takes (``ready`` after the last ``sent_at``).
        """
        n_env = sent.shape[0]
        copies = sample_faults(new, sent, self.faults, rng)
        pending = self.carry.get(name)
        rows = Rows.concat([new, copies] if pending is None else [pending, new, copies])
        env = np.searchsorted(sent, rows.ready, side="left").astype(np.int64)
        today = env < n_env
        self.carry[name] = rows.take(np.flatnonzero(~today))
        # the agent drops samples it could not send within its buffer TTL (e.g. across an offline gap)
        today[today] = sent[env[today]] - rows.ts[today] <= _BUFFER_TTL_MS
        rows, env = rows.take(np.flatnonzero(today)), env[today]
        order = np.lexsort((rows.ts, rows.ready, env))  # by envelope, then in the order they became ready
        return rows.take(order), env[order]


def _signal_parts(spec_s: SignalSpec, rows: Rows, bounds: npt.NDArray[np.intp]) -> list[bytes]:
    """Per envelope ``j``: ``"<name>":[<records bounds[j]:bounds[j+1]>]``, or b"" when that range is empty."""
    fields: list[tuple[str, I64 | Objs]] = [(f, rows.num[f]) for f in spec_s.numeric]
    fields += [(f, rows.cat[f]) for f in spec_s.categorical]
    fast = (
        encode_fixed_width(rows.ts, rows.num, spec_s.numeric)
        if not spec_s.categorical and len(rows) > 1000
        else None
    )
    if fast is not None:
        blob: memoryview = fast
        offsets = np.arange(len(rows) + 1, dtype=np.int64) * (len(fast) // len(rows))
    else:
        slow, offsets = _encode_compact(rows.ts, fields)
        blob = memoryview(slow)
    key = f'"{spec_s.name}":['.encode()
    starts = (offsets[bounds[:-1]] + 1).tolist()  # skip the leading comma of the first record
    ends = offsets[bounds[1:]].tolist()
    return [key + blob[a:b] + b"]" if a < b else b"" for a, b in zip(starts, ends, strict=True)]


# ============================================================================================ JSON records


@cache
def _frac_table(closing: bool) -> npt.NDArray[np.uint32]:
    """Fraction words: ``.ddd`` or (last field of a record) ``ddd}``; index = thousandths."""
    texts = [f"{i:03d}}}" if closing else f".{i:03d}" for i in range(1000)]
    return np.frombuffer("".join(texts).encode(), dtype=np.uint32)  # read-only view: safe to cache


@cache
def _digits4_table() -> npt.NDArray[np.uint32]:
    return np.frombuffer("".join(f"{i:04d}" for i in range(10_000)).encode(), dtype=np.uint32)


def _keyed_table(key: str, numbers: Sequence[str]) -> npt.NDArray[np.uint32]:
    """Words of ``key`` + number right-aligned (JSON whitespace after the key), padded to whole words.

    Returns an array of shape (words, len(numbers)): one contiguous row per word position.
    """
    width = len(key) + max(len(s) for s in numbers)
    width += -width % 4
    texts = [key + " " * (width - len(key) - len(s)) + s for s in numbers]
    arr = np.frombuffer("".join(texts).encode(), dtype=np.uint32).reshape(len(numbers), width // 4)
    return np.ascontiguousarray(arr.T)


def _put(
    out: npt.NDArray[np.uint32], row: int, table: npt.NDArray[np.uint32], idx: npt.NDArray[np.intp]
) -> int:
    """Write the word rows of `table` gathered by `idx` into `out` from row `row`; returns the next row."""
    for words in table:
        if words.shape[0] == 1 or bool((words == words[0]).all()):
            out[row].fill(words[0])
        else:
            np.take(words, idx, out=out[row])
        row += 1
    return row


def encode_fixed_width(ts: I64, num: dict[str, I64], names: Sequence[str]) -> memoryview | None:
    """Fixed-width records ``,{"ts":...,"f": 1.234,...}`` for numeric-only rows without nulls.

    Returns None when the values do not fit the fast layout (then use :func:`_encode_compact`).
    """
    n = ts.shape[0]
    if n == 0 or not names or int(ts.min()) < 10**8:
        return None
    top = ts // 10**8
    top_min, top_max = int(top.min()), int(top.max())
    if top_max - top_min > 10_000:
        return None
    parts: list[tuple[npt.NDArray[np.uint32], npt.NDArray[np.intp]]] = [
        (
            _keyed_table(',{"ts":', [str(v) for v in range(top_min, top_max + 1)]),
            (top - top_min).astype(np.intp),
        ),
        (_digits4_table()[None, :], ((ts // 10_000) % 10_000).astype(np.intp)),
        (_digits4_table()[None, :], (ts % 10_000).astype(np.intp)),
    ]
    for i, name in enumerate(names):
        k = num[name]
        last = i == len(names) - 1
        if bool((k == NULL).any()):
            return None
        neg = k < 0
        a = np.abs(k)
        ip = a // SCALE
        ip_max = int(ip.max())
        if ip_max >= 10_000:
            return None
        has_neg = bool(neg.any())
        dot = "." if last else ""
        numbers = [f"{j}{dot}" for j in range(ip_max + 1)]
        if has_neg:
            numbers += [f"-{j}{dot}" for j in range(ip_max + 1)]
        idx = ip + neg * (ip_max + 1) if has_neg else ip
        parts.append((_keyed_table(f',"{name}":', numbers), idx.astype(np.intp)))
        parts.append((_frac_table(last)[None, :], (a - ip * SCALE).astype(np.intp)))
    words = sum(table.shape[0] for table, _ in parts)
    out = np.empty((words, n), dtype=np.uint32)  # word-major: contiguous writes, one transpose at the end
    row = 0
    for table, idx in parts:
        row = _put(out, row, table, idx)
    return np.ascontiguousarray(out.T).reshape(-1).view(np.uint8).data


def _fmt_scaled(k: int) -> str:
    if k == NULL:
        return "null"
    sign = "-" if k < 0 else ""
    a = -k if k < 0 else k
    return f"{sign}{a // SCALE}.{a % SCALE:03d}"


def _encode_compact(ts: I64, fields: Sequence[tuple[str, I64 | Objs]]) -> tuple[bytes, I64]:
    """Compact records ``,{"ts":...,...}`` one by one (small or unusual tables); returns blob and offsets."""
    cols: list[list[str]] = []
    for name, values in fields:
        if values.dtype == np.int64:
            cols.append([f',"{name}":{_fmt_scaled(int(v))}' for v in values.tolist()])
        else:
            cols.append([f',"{name}":{orjson.dumps(v).decode()}' for v in values.tolist()])
    records = [
        (f',{{"ts":{t}' + "".join(parts) + "}").encode() for t, *parts in zip(ts.tolist(), *cols, strict=True)
    ]
    offsets = np.zeros(len(records) + 1, dtype=np.int64)
    np.cumsum([len(r) for r in records], out=offsets[1:])
    return b"".join(records), offsets
