"""Day zips as bytes: the deterministic writer and the bounded reader (pure: bytes in, bytes or members out).

A day zip holds one gzip member per envelope (docs/raw-format.md). Writing: :func:`gzip_member` compresses
one envelope document, :func:`build_day_zip` packs the members (``ZIP_STORED``, fixed date and attributes, in
the given order), so equal members give equal bytes. The simulators and the importers write through these.

Reading (the extractor): :func:`zip_index` lists the entries, with a central-directory reader of its own for
the usual all-stored zip (:func:`stored_entries`) and :mod:`zipfile` for anything else; :func:`zip_members`
yields each member's raw bytes with a bounded read; :func:`inflate_member` gunzips one member with bounded
output. A member that cannot be read comes back as a reason and a detail, named as the extractor's
quarantine reasons (``bad_zip_member``, ``oversize``, ``zip_bomb``, ``truncated_gzip``, ``bad_gzip``).
"""

from __future__ import annotations

import gzip
import io
import struct
import zipfile
import zlib
from collections.abc import Iterator, Sequence
from typing import Final, NamedTuple, cast

from isal import isal_zlib

__all__ = [
    "BAD_ZIP_ERRORS",
    "ZipEntry",
    "build_day_zip",
    "gzip_member",
    "inflate_member",
    "stored_entries",
    "zip_index",
    "zip_members",
]

# zip records: local file header, central-directory entry, end of central directory
_LOCAL: Final = struct.Struct("<IHHHHHIIIHH")
_CENTRAL: Final = struct.Struct("<IHHHHHHIIIHHHHHII")
_END: Final = struct.Struct("<IHHHHIIH")
_LOCAL_MAGIC: Final = 0x04034B50
_CENTRAL_MAGIC: Final = 0x02014B50
_END_MAGIC: Final = 0x06054B50
_END_MAGIC_BYTES: Final = b"PK\x05\x06"
# what the writer puts in every entry
_DATE_TIME: Final = (1980, 1, 1, 0, 0, 0)
_DOS_DATE: Final = (0 << 9) | (1 << 5) | 1  # 1980-01-01 (DOS time 00:00:00 is 0)
_MADE_BY: Final = (3 << 8) | 20  # unix, zip 2.0
_ATTR: Final = 0o100644 << 16  # regular file, rw-r--r--
_FAST_GZIP_LEVEL: Final = 1
# isal's stubs declare `error` as an instance, not a class
_INFLATE_ERRORS: tuple[type[Exception], ...] = (cast("type[Exception]", isal_zlib.error),)

BAD_ZIP_ERRORS: Final[tuple[type[Exception], ...]] = (
    zipfile.BadZipFile,
    zlib.error,
    ValueError,
    OSError,
    EOFError,
    struct.error,
    NotImplementedError,  # zipfile refuses a "zip file version" it does not know (found by fuzzing)
)
"""What :func:`zip_index` raises on bytes that are not a readable zip."""


# ============================================================================================ writing


def gzip_member(doc: bytes, *, fast: bool = False) -> bytes:
    """One deterministic gzip stream (mtime 0, no file name) of `doc`: zlib at level 9, or with `fast` ISA-L
    at level 1 (several times faster, somewhat larger; for the fleet simulator's full-rate days)."""
    if fast:
        out: bytes = isal_zlib.compress(doc, _FAST_GZIP_LEVEL, 31)
        return out
    return gzip.compress(doc, mtime=0)


def build_day_zip(members: Sequence[tuple[str, bytes]]) -> bytes:
    """Deterministic zip bytes: ``ZIP_STORED``, fixed ``date_time`` and attributes, members in given order.

    Raises:
        ValueError: when a member name repeats.
    """
    names = [name for name, _ in members]
    if len(set(names)) != len(names):
        dup = next(n for n in names if names.count(n) > 1)
        raise ValueError(f"member names must be unique in a zip (got {dup!r} twice or more)")
    total = sum(len(data) + 30 + 2 * len(name.encode()) + 46 for name, data in members)
    if len(members) >= 0xFFFF or total >= 0xFFFFFFFF:
        return _build_zip64(members)
    local: list[bytes] = []
    central: list[bytes] = []
    offset = 0
    for name, data in members:
        raw = name.encode()
        flags = 0 if raw.isascii() else 0x800  # UTF-8 names
        crc = zlib.crc32(data)
        header = _LOCAL.pack(_LOCAL_MAGIC, 20, flags, 0, 0, _DOS_DATE, crc, len(data), len(data), len(raw), 0)
        local += (header, raw, data)
        sizes = (crc, len(data), len(data), len(raw))
        entry = _CENTRAL.pack(
            _CENTRAL_MAGIC, _MADE_BY, 20, flags, 0, 0, _DOS_DATE, *sizes, 0, 0, 0, 0, _ATTR, offset
        )
        central += (entry, raw)
        offset += len(header) + len(raw) + len(data)
    directory = b"".join(central)
    end = _END.pack(_END_MAGIC, 0, 0, len(members), len(members), len(directory), offset, 0)
    return b"".join(local) + directory + end


def _build_zip64(members: Sequence[tuple[str, bytes]]) -> bytes:
    """:func:`build_day_zip` beyond the plain format's limits (65,535 members or 4 GiB): zipfile's zip64."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_STORED, allowZip64=True) as zf:
        for name, data in members:
            info = zipfile.ZipInfo(name, date_time=_DATE_TIME)
            info.create_system = 3
            info.external_attr = _ATTR
            zf.writestr(info, data)
    return buf.getvalue()


# ============================================================================================ reading


class ZipEntry(NamedTuple):
    """The fields of one central-directory entry that extraction uses (``info``: zipfile's, if it read it)."""

    name: str
    method: int
    crc: int
    compress_size: int
    file_size: int
    header_offset: int
    info: zipfile.ZipInfo | None = None

    @classmethod
    def of(cls, info: zipfile.ZipInfo) -> ZipEntry:
        return cls(
            info.filename,
            info.compress_type,
            info.CRC,
            info.compress_size,
            info.file_size,
            info.header_offset,
            info,
        )


def zip_index(data: bytes) -> tuple[list[ZipEntry], zipfile.ZipFile | None]:
    """The entries of the zip `data` in central-directory order, and the :class:`zipfile.ZipFile` that read
    them (None when :func:`stored_entries` did: then every member is stored and no ZipFile is needed).

    Raises:
        one of BAD_ZIP_ERRORS: `data` is not a readable zip.
    """
    stored = stored_entries(data)
    if stored is not None:
        return stored, None
    zf = zipfile.ZipFile(io.BytesIO(data))
    return [ZipEntry.of(i) for i in zf.infolist()], zf


def stored_entries(data: bytes) -> list[ZipEntry] | None:
    """The central directory of a plain zip whose members are all stored, read without :mod:`zipfile`.

    :class:`zipfile.ZipFile` builds its index in Python at ~30 µs per entry; a day zip has ~17,000. This
    reads the same fields with one ``struct`` call per entry (names as zipfile gives them: UTF-8 when
    flagged, else cp437, cut at a NUL). Returns None for anything unusual (zip64, encryption, compression,
    comments, a damaged directory): the caller then uses :mod:`zipfile`.
    """
    end = data.rfind(_END_MAGIC_BYTES, max(0, len(data) - 22 - 65535))
    if end < 0 or end + 22 > len(data):
        return None
    _, disk, cd_disk, _, count, cd_size, cd_offset, _ = _END.unpack_from(data, end)
    if disk or cd_disk or count == 0xFFFF or cd_offset == 0xFFFFFFFF or cd_offset + cd_size > end:
        return None
    entries = []
    unpack = _CENTRAL.unpack_from
    pos = cd_offset
    for _ in range(count):
        if pos + 46 > end:
            return None
        (magic, _, _, flags, method, _, _, crc, csize, usize, nlen, xlen, clen, _, _, _, offset) = unpack(
            data, pos
        )
        if magic != _CENTRAL_MAGIC or method != zipfile.ZIP_STORED or flags & 0x1 or csize != usize:
            return None
        raw_name = data[pos + 46 : pos + 46 + nlen]
        if raw_name.isascii():  # the usual case: the same text in UTF-8 and cp437
            name = raw_name.decode("ascii")
        else:
            name = raw_name.decode("utf-8" if flags & 0x800 else "cp437", "replace")
        if "\0" in name:
            name = name[: name.index("\0")]
        entries.append(ZipEntry(name, method, crc, csize, usize, offset))
        pos += 46 + nlen + xlen + clen
    return entries


def zip_members(
    data: bytes,
    zf: zipfile.ZipFile | None,
    entries: Sequence[ZipEntry],
    max_bytes: int,
    max_ratio: float,
) -> Iterator[tuple[str, bytes | memoryview | None, str, str]]:
    """Yield ``(member name, raw member bytes or None, reason, detail)`` for each entry.

    Stored members are views into ``data`` (their CRC is checked); other compression methods go through
    :mod:`zipfile` with a bounded read: a member that inflates (at the zip level) to more than `max_bytes`
    plus gzip framing, or by more than `max_ratio`, is rejected after reading at most that much, whatever
    size its header declares (a 1 MB zip can declare a 1 GB member).
    """
    view = memoryview(data)
    size = len(data)
    local_header = _LOCAL.unpack_from
    crc32 = isal_zlib.crc32  # zlib's CRC-32, ~5x faster
    # the member is itself a gzip stream: allow its framing (header, trailer, stored-block headers)
    byte_cap = max_bytes + max_bytes // 1000 + 1024
    for name, method, crc, compress_size, file_size, header_offset, info in entries:
        if method == zipfile.ZIP_STORED and 0 <= header_offset <= size - 30:
            fields = local_header(data, header_offset)
            if fields[0] != _LOCAL_MAGIC:
                yield name, None, "bad_zip_member", "bad local header signature"
                continue
            start = header_offset + 30 + fields[9] + fields[10]
            end = start + compress_size
            if end > size:
                yield name, None, "bad_zip_member", "member extends past the end of the zip"
                continue
            raw = view[start:end]
            if crc32(raw) != crc:
                yield name, None, "bad_zip_member", "zip CRC mismatch"
                continue
            yield name, raw, "", ""
        elif zf is None or info is None:
            yield name, None, "bad_zip_member", "member extends past the end of the zip"
        else:
            ratio_cap = int(max(compress_size, 1) * max_ratio)
            cap = min(byte_cap, ratio_cap)
            try:
                with zf.open(info) as fh:
                    member = fh.read(cap + 1)
            # ValueError: a header offset before the start of the zip (found by benchmarks/fuzz_extract.py)
            except (
                zipfile.BadZipFile,
                zlib.error,
                NotImplementedError,
                OSError,
                EOFError,
                ValueError,
            ) as exc:
                yield name, None, "bad_zip_member", str(exc)[:200]
                continue
            if len(member) > cap or file_size > cap:
                if cap == ratio_cap and ratio_cap < byte_cap:
                    detail = f"zip entry inflates more than {max_ratio:g}x ({compress_size} compressed bytes)"
                    yield name, None, "zip_bomb", detail
                else:
                    yield name, None, "oversize", f"zip entry larger than {byte_cap} bytes"
                continue
            yield name, member, "", ""


def inflate_member(
    member: bytes | memoryview, max_bytes: int, max_ratio: float
) -> tuple[bytes | None, str, str]:
    """Gunzip one member with bounded output. Returns ``(document, reason, detail)``."""
    ratio_cap = int(max(len(member), 1) * max_ratio)
    cap = min(max_bytes, ratio_cap)
    inflater = isal_zlib.decompressobj(31)
    try:
        out = inflater.decompress(member, cap + 1)
    except _INFLATE_ERRORS as exc:
        return None, "bad_gzip", str(exc)[:200]
    if len(out) > cap:
        if cap == ratio_cap and ratio_cap < max_bytes:
            return None, "zip_bomb", f"inflates more than {max_ratio:g}x ({len(member)} compressed bytes)"
        return None, "oversize", f"document larger than {max_bytes} bytes"
    if not inflater.eof:
        return None, "truncated_gzip", f"gzip stream ends early after {len(member)} bytes"
    if inflater.unused_data:
        return None, "bad_gzip", f"{len(inflater.unused_data)} bytes after the end of the gzip stream"
    return out, "", ""
