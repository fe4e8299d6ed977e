"""Upload faults: what goes wrong between a robot's agent and the store, injected at declared rates.

Per sample (:func:`sample_faults`): a re-sent duplicate travels in the envelope after the original's; a late
sample becomes ready 6-40 s later (out of order). Per member (:func:`member_faults`): a corrupt member
(truncated gzip, truncated JSON, a numeric value quoted) replaces a real envelope, whose samples are then
lost unless a duplicate travels in another member; a valid member may carry an unknown signal (``lidar``) or
an unknown field in one sample (:func:`add_unknown_data`, :func:`corrupt_member`). Per robot-day
(:func:`late_upload`): a first zip version lacks a contiguous run of members. Each function draws from the
generator it is given, in a fixed order, so equal inputs give equal faults.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

import numpy as np

from telemetry._types import I64, Bools
from telemetry.config import SignalSpec
from telemetry.contract.ziplib import gzip_member
from telemetry.sim.physics import Rows

__all__ = [
    "FAULT_COUNTS",
    "FaultRates",
    "MemberFaults",
    "add_unknown_data",
    "corrupt_member",
    "late_upload",
    "member_faults",
    "sample_faults",
]


_UNKNOWN_SIGNAL: Final = "lidar"
_UNKNOWN_FIELDS: Final = ("fw_diag", "rssi", "temp_cell")
FAULT_COUNTS: Final = (
    "members",
    "truncated_gzip",
    "invalid_json",
    "wrong_types",
    "unknown_signal_docs",
    "unknown_field_docs",
    "duplicate_samples",
    "out_of_order_samples",
    "late_upload_missing",
)
"""The fault counts of a robot-day (``RobotDay.faults``), in this order."""
# member corruption kinds
_VALID, _TRUNCATED_GZIP, _INVALID_JSON, _WRONG_TYPES = 0, 1, 2, 3


@dataclass(frozen=True, slots=True, kw_only=True)
class FaultRates:
    """Probabilities of upload faults (per member, per sample or per robot-day as noted).

    Corrupt members (``truncated_gzip``, ``invalid_json``, ``wrong_types``) replace a real envelope, whose
    samples are then lost unless a duplicate of them travels in another member. ``unknown_signal`` and
    ``unknown_field`` members are valid: the extra data must be counted and ignored.
    """

    duplicate_samples: float = 0.002  # per sample: also re-sent in the next envelope
    out_of_order_samples: float = 0.002  # per sample: delivered 6-40 s late, by a later envelope
    truncated_gzip: float = 0.0005  # per member: gzip bytes cut short
    invalid_json: float = 0.0005  # per member: decompresses to broken (truncated) JSON
    wrong_types: float = 0.0005  # per member: a numeric field holds a string
    unknown_signal: float = 0.001  # per member: the envelope also carries signal "lidar"
    unknown_field: float = 0.001  # per member: one sample of a known signal carries an extra field
    late_upload: float = 0.1  # per robot-day: a first zip version lacks a contiguous run of envelopes

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= value <= 1.0:
                raise ValueError(f"FaultRates.{f.name} must be a probability in [0, 1] (got {value!r})")
        if self.duplicate_samples + self.out_of_order_samples > 1.0:
            raise ValueError(
                "FaultRates.duplicate_samples + out_of_order_samples must be <= 1 "
                f"(got {self.duplicate_samples + self.out_of_order_samples!r})"
            )
        corrupt = self.truncated_gzip + self.invalid_json + self.wrong_types
        if corrupt > 1.0:
            raise ValueError(
                f"FaultRates: truncated_gzip + invalid_json + wrong_types must be <= 1 (got {corrupt!r})"
            )

    @classmethod
    def none(cls) -> FaultRates:
        """No faults at all."""
        return cls(**{f.name: 0.0 for f in dataclasses.fields(cls)})


@dataclass(frozen=True, slots=True)
class MemberFaults:
    """Per member of a robot-day: how it is corrupted (``kind``: 0 valid, 1 truncated gzip, 2 invalid JSON, 3
    wrong types) and whether a valid one also carries an unknown signal or an unknown field."""

    kind: I64
    corrupt: Bools
    unknown_signal: Bools
    unknown_field: Bools


def member_faults(faults: FaultRates, members: int, rng: np.random.Generator) -> MemberFaults:
    """The faults of `members` envelopes, drawn from `rng` (three uniform draws per member)."""
    u = rng.random(members)
    c1 = faults.truncated_gzip
    c2 = c1 + faults.invalid_json
    c3 = c2 + faults.wrong_types
    kind = np.select([u < c1, u < c2, u < c3], [_TRUNCATED_GZIP, _INVALID_JSON, _WRONG_TYPES], _VALID)
    kind = kind.astype(np.int64)
    corrupt = kind > 0
    unknown_signal = (~corrupt) & (rng.random(members) < faults.unknown_signal)
    unknown_field = (~corrupt) & (rng.random(members) < faults.unknown_field)
    return MemberFaults(kind, corrupt, unknown_signal, unknown_field)


def sample_faults(new: Rows, sent: I64, faults: FaultRates, rng: np.random.Generator) -> Rows:
    """Make samples of `new` late (in place: ``ready`` 6-40 s later, ``tag`` 2) and return re-sent copies of
    others (``tag`` 1), ready just after the envelope (``sent``: the ``sent_at``) that takes the original."""
    n_env = sent.shape[0]
    draw = rng.random(len(new))
    dup = draw < faults.duplicate_samples
    late = (~dup) & (draw < faults.duplicate_samples + faults.out_of_order_samples)
    new.ready[late] += rng.integers(6000, 40_001, int(late.sum()))
    new.tag[late] = 2
    copies = new.take(np.flatnonzero(dup))
    copies.tag[:] = 1
    env_of_original = np.searchsorted(sent, copies.ready, side="left")
    if n_env:
        after = sent[np.minimum(env_of_original, n_env - 1)] + 1
        copies.ready = np.where(env_of_original < n_env, after, copies.ready + 5200)
    else:
        copies.ready = copies.ready + 5200
    return copies


def add_unknown_data(
    parts: list[bytes],
    signals: Sequence[SignalSpec],
    *,
    unknown_field: bool,
    unknown_signal: bool,
    sent_at: int,
    rng: np.random.Generator,
    counts: dict[str, int],
) -> list[bytes]:
    """An envelope's signal parts (``parts[i]``: signal ``signals[i]``, b"" when absent) with an unknown field
    in the first sample of one present signal and an unknown signal appended, as flagged; counts them."""
    chosen = list(parts)
    if unknown_field and any(chosen):
        i = int(rng.choice([i for i, p in enumerate(chosen) if p]))
        chosen[i] = _with_unknown_field(chosen[i], signals[i].name, rng)
        counts["unknown_field_docs"] += 1
    if unknown_signal:
        points = int(rng.integers(900, 1100))
        chosen.append(f'"{_UNKNOWN_SIGNAL}":[{{"ts":{sent_at - 2000},"points":{points}}}]'.encode())
        counts["unknown_signal_docs"] += 1
    return chosen


def corrupt_member(
    doc: bytes, kind: int, present: Sequence[SignalSpec], rng: np.random.Generator, counts: dict[str, int]
) -> bytes:
    """The gzip member of the envelope `doc` (signals `present`), corrupted as `kind` says; counts it."""
    if kind == _WRONG_TYPES:
        doc = _wrong_types(doc, present)
        counts["wrong_types"] += 1
    elif kind == _INVALID_JSON:
        doc = doc[: int(rng.integers(1, len(doc)))]  # a strict prefix of an object is never valid JSON
        counts["invalid_json"] += 1
    gz = gzip_member(doc, fast=True)
    if kind == _TRUNCATED_GZIP:
        gz = gz[: int(rng.integers(10, len(gz) - 8))]  # at least the 8-byte trailer is missing
        counts["truncated_gzip"] += 1
    return gz


def late_upload(
    members: list[tuple[str, bytes]], rate: float, rng: np.random.Generator
) -> tuple[list[tuple[str, bytes]] | None, int]:
    """With probability `rate` (days of at least 3 members only): the members of a first zip version that
    lacks one contiguous run of 2-25 % of them (at least one), and that run's length; else ``(None, 0)``."""
    if len(members) >= 3 and rng.random() < rate:
        run = max(1, int(len(members) * rng.uniform(0.02, 0.25)))
        at = int(rng.integers(0, len(members) - run + 1))
        return members[:at] + members[at + run :], run
    return None, 0


def _wrong_types(doc: bytes, present: Sequence[SignalSpec]) -> bytes:
    """The envelope with the first numeric value of a sample quoted (or ``seq`` quoted when there is none)."""
    for spec_s in present:
        if spec_s.numeric:
            key = f'"{spec_s.numeric[0]}":'.encode()
            pos = doc.find(key, doc.find(f'"{spec_s.name}":['.encode()))
            if pos >= 0:
                start = pos + len(key)
                stop = min(i for i in (doc.find(b",", start), doc.find(b"}", start)) if i >= 0)
                return doc[:start] + b'"' + doc[start:stop].strip() + b'"' + doc[stop:]
    start = doc.find(b'"seq":') + 6
    stop = doc.find(b",", start)
    return doc[:start] + b'"' + doc[start:stop] + b'"' + doc[stop:]


def _with_unknown_field(part: bytes, signal: str, rng: np.random.Generator) -> bytes:
    """`part` (``"<signal>":[{...},...]``) with an extra field in its first sample."""
    cut = len(signal) + 5  # after '"<signal>":[{'
    extra = _UNKNOWN_FIELDS[int(rng.integers(0, len(_UNKNOWN_FIELDS)))]
    return part[:cut] + f'"{extra}":{rng.uniform(-90, 90):.1f},'.encode() + part[cut:]
