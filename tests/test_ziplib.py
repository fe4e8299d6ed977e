"""Day zips as bytes (telemetry/contract/ziplib.py): the writer is deterministic and zipfile reads it back;
the fast central-directory reader agrees with zipfile field for field; members come back byte for byte,
and a damaged member comes back as a reason, never as bytes."""

from __future__ import annotations

import gzip
import io
import warnings
import zipfile

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from telemetry.contract.envelope import member_name
from telemetry.contract.ziplib import (
    BAD_ZIP_ERRORS,
    build_day_zip,
    gzip_member,
    inflate_member,
    stored_entries,
    zip_index,
    zip_members,
)

T0 = 1_793_577_600_000  # 2026-11-02 00:00 UTC
LIMIT = 1 << 20  # bytes a member may inflate to in these tests
RATIO = 1000.0

# names of one character or more; zipfile keeps a name up to its first NUL
_NAMES = st.text(st.characters(exclude_categories=("Cs",)), min_size=1, max_size=24)


def _zipfile_zip(members: list[tuple[str, bytes]]) -> bytes:
    """A stored zip written by :mod:`zipfile` (the reference writer)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf, warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # duplicate names are allowed here
        for name, data in members:
            zf.writestr(zipfile.ZipInfo(name, date_time=(2026, 11, 2, 0, 0, 0)), data)
    return buf.getvalue()


def _envelope_members(count: int) -> list[tuple[str, bytes]]:
    return [
        (member_name("amr-0001", T0 + 5000 * i, i), gzip_member(b'{"seq":%d}' % i, fast=i % 2 == 0))
        for i in range(count)
    ]


# ------------------------------------------------------------------------------------------ writing


def test_day_zip_is_a_stored_zip_in_member_order() -> None:
    members = _envelope_members(60)
    data = build_day_zip(members)
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        assert zf.testzip() is None  # CRCs
        infos = zf.infolist()
        assert [i.filename for i in infos] == [n for n, _ in members]
        assert {i.compress_type for i in infos} == {zipfile.ZIP_STORED}
        assert {i.date_time for i in infos} == {(1980, 1, 1, 0, 0, 0)}
        assert [zf.read(i) for i in infos[:20]] == [g for _, g in members[:20]]
    with pytest.raises(ValueError, match="unique"):
        build_day_zip([members[0], members[0]])


@pytest.mark.parametrize("fast", [False, True])
def test_gzip_members_are_deterministic_and_read_back(fast: bool) -> None:
    doc = b'{"schema":"telemetry.v1","signals":{}}' * 50
    member = gzip_member(doc, fast=fast)
    assert member == gzip_member(doc, fast=fast)
    assert member[:4] == b"\x1f\x8b\x08\x00"  # gzip, deflate, no flags (no file name)
    assert member[4:8] == b"\x00\x00\x00\x00"  # mtime 0
    assert gzip.decompress(member) == doc
    assert inflate_member(member, LIMIT, RATIO) == (doc, "", "")


@settings(max_examples=60, deadline=None)
@given(
    st.dictionaries(_NAMES.filter(lambda n: "\0" not in n), st.binary(max_size=64), min_size=1, max_size=8)
)
def test_written_members_read_back_byte_for_byte(named: dict[str, bytes]) -> None:
    members = list(named.items())
    data = build_day_zip(members)
    entries, zf = zip_index(data)
    assert zf is None  # all stored: the fast reader took it
    read = [
        (name, bytes(raw))
        for name, raw, _, _ in zip_members(data, zf, entries, LIMIT, RATIO)
        if raw is not None
    ]
    assert read == members
    with zipfile.ZipFile(io.BytesIO(data)) as ref:
        assert [(i.filename, ref.read(i)) for i in ref.infolist()] == members


# ------------------------------------------------------------------------------------------ reading


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(_NAMES, st.binary(max_size=64)), min_size=1, max_size=8))
def test_stored_central_directory_reads_as_zipfile_does(members: list[tuple[str, bytes]]) -> None:
    """The fast central-directory reader gives zipfile's names (ASCII, UTF-8, cut at a NUL) and fields."""
    data = _zipfile_zip(members)
    assert _entry_fields(data) == _zipfile_fields(data)


def test_stored_central_directory_decodes_unflagged_names_as_cp437() -> None:
    data = bytearray(_zipfile_zip([("caf\u00e9", b"x")]))  # zipfile writes it UTF-8 flagged
    central = data.rfind(b"PK\x01\x02")
    data[central + 9] &= ~0x08  # clear the UTF-8 flag: bit 11 of the flags (offset 8, little-endian)
    fields = _entry_fields(bytes(data))
    assert fields == _zipfile_fields(bytes(data))
    assert fields[0][0] == "caf\u00e9".encode().decode("cp437")


def test_a_compressed_zip_is_indexed_by_zipfile_and_read_within_bounds() -> None:
    """Anything but an all-stored zip goes to zipfile; a zip-level bomb is stopped at the ratio cap."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("small", b"a" * 100)
        zf.writestr("bomb", b"\0" * (4 * LIMIT))
    data = buf.getvalue()
    assert stored_entries(data) is None
    entries, ref = zip_index(data)
    assert ref is not None and [e.name for e in entries] == ["small", "bomb"]
    read = list(zip_members(data, ref, entries, LIMIT, 100.0))
    assert read[0] == ("small", b"a" * 100, "", "")
    assert read[1][1:3] == (None, "zip_bomb")


def test_a_damaged_stored_member_is_a_reason_not_bytes() -> None:
    members = _envelope_members(3)
    data = bytearray(build_day_zip(members))
    data[data.find(members[1][1]) + 12] ^= 0xFF  # inside the second member's bytes
    entries, zf = zip_index(bytes(data))
    read = list(zip_members(bytes(data), zf, entries, LIMIT, RATIO))
    assert [(name, reason) for name, _, reason, _ in read] == [
        (members[0][0], ""),
        (members[1][0], "bad_zip_member"),
        (members[2][0], ""),
    ]
    assert read[1][1] is None and read[1][3] == "zip CRC mismatch"


@pytest.mark.parametrize(
    ("member", "ratio", "reason"),
    [
        (gzip_member(b"{}")[:-6], RATIO, "truncated_gzip"),
        (b"not gzip at all", RATIO, "bad_gzip"),
        (gzip_member(b"{}") + b"garbage", RATIO, "bad_gzip"),
        (gzip_member(b"{}" * LIMIT), 1e9, "oversize"),
        (gzip_member(b" " * (LIMIT // 2)), 100.0, "zip_bomb"),
    ],
)
def test_inflate_refuses_bad_members_with_a_reason(member: bytes, ratio: float, reason: str) -> None:
    assert inflate_member(member, LIMIT, ratio)[:2] == (None, reason)


@pytest.mark.parametrize("data", [b"", b"PK\x03\x04 truncated", b"\x00" * 100])
def test_unreadable_zip_raises_one_of_the_declared_errors(data: bytes) -> None:
    with pytest.raises(BAD_ZIP_ERRORS):
        zip_index(data)


def _entry_fields(data: bytes) -> list[tuple[str, int, int, int, int]]:
    """(name, CRC, compressed size, size, header offset) per entry, as the fast reader gives them."""
    entries = stored_entries(data)
    assert entries is not None
    return [(e.name, e.crc, e.compress_size, e.file_size, e.header_offset) for e in entries]


def _zipfile_fields(data: bytes) -> list[tuple[str, int, int, int, int]]:
    """The same fields as :mod:`zipfile` reads them."""
    infos = zipfile.ZipFile(io.BytesIO(data)).infolist()
    return [(i.filename, i.CRC, i.compress_size, i.file_size, i.header_offset) for i in infos]
