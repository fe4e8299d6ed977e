"""Object-store access: list day zips with their versions, pinned reads, atomic writes.

A :class:`Store` is rooted at any fsspec URL: a local directory (the default kind; a plain path or
``file://``), ``s3://bucket/prefix`` (AWS S3, MinIO, Ceph, ... through s3fs), or any other fsspec
protocol. Keys are relative to the root, ``/``-separated, and never start with ``/`` or contain ``.``
or ``..`` segments, e.g. ``fleet=acme-dc3/date=2026-11-02/amr-0001.zip``.

Versions
    Every listed day zip is a :class:`RawObject` ``(day, key, version, size)``. The version pins exact
    bytes: :meth:`Store.read` returns those bytes or raises :class:`~telemetry.errors.VersionNotFoundError`;
    it never silently returns other content.

    * **S3** (the bucket is versioned): the object's ``VersionId``. A late upload of a day zip creates a
      new version; older versions stay readable by their VersionId until deleted from the bucket.
      Objects whose VersionId is ``"null"`` (written while versioning was never enabled, or while it
      was suspended) can be overwritten in place, so their version is ``"etag:<etag>"`` instead, and a
      pinned read sends ``VersionId=null`` with ``If-Match: <etag>``: if the object changed, the read
      fails with VersionNotFoundError. No bytes are downloaded to list versions.
    * **Local directories and other fsspec stores**: ``"sha256:<hex>"`` of the content. Only the current
      content exists: :meth:`Store.list_versions` returns one entry and a pinned read of an overwritten
      object raises VersionNotFoundError. Listing hashes each zip: local hashes are cached in memory per
      process and reused while the file's size, mtime, ctime and inode are unchanged; other fsspec stores
      are read in full at every listing.

Listing
    :meth:`Store.list_day_zips` returns the latest version of each day zip, deleted objects excluded,
    sorted by ``(fleet, date, robot_id)``. Only keys of the exact form
    ``fleet=<fleet>/date=<YYYY-MM-DD>/<robot_id>.zip`` directly under the root are day zips; anything
    else (``fleet=x/_truth/...``, nested or malformed keys) is ignored. On S3 it issues one paginated
    ``ListObjectVersions`` per fleet prefix, or per date prefix when the date range spans at most
    31 days, plus one delimited listing to discover fleets when no fleet is given; it never makes one
    request per object, and never uses s3fs' listings cache (listings are always fresh).

Writes
    :meth:`Store.write_bytes` is atomic: a reader sees the old object or the new one, never a part.
    Locally the bytes go to a hidden temporary file in the target directory
    (``.<name>.<random>.telemetry-tmp``), are fsynced, and are renamed over the target with
    :func:`os.replace`; the directory is fsynced after.
    A failed write removes its temporary file; one left behind by a killed process is never listed.
    On object stores a write is one PUT (or one completed multipart upload), atomic by nature.

Conditional writes
    :meth:`Store.read_with_token` and :meth:`Store.write_if` are a compare-and-swap on one small object
    (the run lease of :mod:`telemetry.io.lineage`). On S3 they are ``PutObject`` with ``If-None-Match: *``
    (create only if absent) or ``If-Match: <ETag>`` (replace only if unchanged), evaluated atomically by
    the service (AWS S3 since 2024, MinIO, moto). Locally the check and the atomic rename run under an
    exclusive ``flock`` on a hidden lock file next to the object: atomic between processes of one host
    (and on network filesystems whose locks work). Other fsspec stores check then write: not atomic.

Errors
    Failures raise :class:`~telemetry.errors.StoreError` naming the store URL and key (never credentials),
    chained from the original exception. Failures that are worth retrying (connection errors, timeouts,
    throttling, HTTP 5xx) raise :class:`TransientStoreError`, a StoreError subclass. Catch
    :data:`TRANSIENT_ERRORS` to retry: it holds TransientStoreError and the raw network exception types
    of botocore/aiohttp for code that talks to s3fs directly. botocore retries each request first
    (``AWS_MAX_ATTEMPTS`` / ``AWS_RETRY_MODE`` tune that). Invalid arguments (malformed keys, dates,
    robot collections) raise :class:`ValueError` or :class:`TypeError`.

Credentials from :class:`~telemetry.config.S3Config` are revealed only when the s3fs client is built.
``repr(Store)`` shows only the URL. A pickled Store (e.g. sent to a Dask worker) carries its S3Config.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import hashlib
import logging
import os
import posixpath
import secrets
import threading
from abc import ABC, abstractmethod
from collections.abc import Collection, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

import aiohttp
import fsspec
import fsspec.asyn
import fsspec.core
import s3fs
from botocore.exceptions import (  # type: ignore[import-untyped]
    BotoCoreError,
    ClientError,
    ConnectionClosedError,
    ConnectTimeoutError,
    EndpointConnectionError,
    IncompleteReadError,
    ReadTimeoutError,
    ResponseStreamingError,
)

from telemetry.config import S3Config, TelemetryConfig
from telemetry.contract.layout import (
    DayKey,
    date_of_dir,
    date_prefix,
    fleet_of_dir,
    fleet_prefix,
    parse_day_zip_key,
    parse_partition_key,
)
from telemetry.errors import StoreError, TransientStoreError, VersionNotFoundError

__all__ = ["TRANSIENT_ERRORS", "RawObject", "Store", "TransientStoreError"]

logger = logging.getLogger(__name__)


TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (
    TransientStoreError,
    # raw botocore / aiobotocore / aiohttp types, for callers that use s3fs directly
    EndpointConnectionError,
    ConnectTimeoutError,
    ConnectionClosedError,
    ReadTimeoutError,
    ResponseStreamingError,
    IncompleteReadError,
    aiohttp.ServerDisconnectedError,
    aiohttp.ServerTimeoutError,
    aiohttp.ClientPayloadError,
    ConnectionError,  # builtin: refused / reset / aborted / broken pipe
    TimeoutError,  # builtin; also asyncio.TimeoutError and fsspec's FSTimeoutError
)
"""Exception types a caller may retry. Store methods raise only TransientStoreError of these."""

_RETRYABLE_S3_CODES = frozenset(
    {"SlowDown", "Throttling", "ThrottlingException", "RequestTimeout", "InternalError", "ServiceUnavailable"}
)
_GONE_S3_CODES = frozenset({"NoSuchKey", "NoSuchVersion", "404", "PreconditionFailed", "412"})
_MAX_DATE_PREFIXES = 31  # list per date prefix when a closed date range spans at most this many days
_S3_MAX_KEYS = 1000  # page size of S3 listings (the S3 maximum)
_TMP_SUFFIX = ".telemetry-tmp"


# ------------------------------------------------------------------------------------------ RawObject


@dataclass(frozen=True, slots=True, order=True)
class RawObject:
    """One version of one day zip: what a run reads, and what lineage records.

    Attributes:
        day: the robot-day parsed from ``key``.
        key: key relative to the store root, e.g. ``fleet=acme-dc3/date=2026-11-02/amr-0001.zip``.
        version: the S3 VersionId where the store keeps versions (``"etag:<etag>"`` for S3 objects
            whose VersionId is ``null``), else ``"sha256:<hex>"`` of the content.
        size: object size in bytes.

    Instances sort by ``(fleet, date, robot_id)`` first.
    """

    day: DayKey
    key: str
    version: str
    size: int

    def __post_init__(self) -> None:
        if self.day.key != self.key:
            raise ValueError(
                f"RawObject key {self.key!r} does not match its day {self.day} (expected {self.day.key!r})"
            )
        if not self.version:
            raise ValueError(f"RawObject {self.key!r}: version must be a non-empty string")

    @classmethod
    def from_key(cls, key: str, version: str, size: int) -> RawObject:
        """The RawObject of a day-zip `key` (e.g. from a lineage manifest).

        Raises:
            ValueError: `key` is not ``fleet=<fleet>/date=<YYYY-MM-DD>/<robot_id>.zip``.
        """
        return cls(_require_day(key), key, version, size)

    def __str__(self) -> str:
        return f"{self.key}@{self.version}"


# ------------------------------------------------------------------------------------------ Store


class Store:
    """Versioned access to one store root (see the module docstring for the version semantics).

    Attributes:
        url: the root URL, normalised: an absolute path for local stores, ``s3://bucket[/prefix]`` for S3.
        protocol: ``"file"``, ``"s3"``, or the fsspec protocol of any other store (e.g. ``"memory"``).
    """

    url: str
    protocol: str

    def __init__(self, url: str, s3: S3Config | None = None) -> None:
        """Open the store at `url`.

        Args:
            url: any fsspec URL: a local path (``data/raw``, ``/abs/path``, ``file:///abs/path``),
                ``s3://bucket/prefix``, ``memory://...``, ... Relative local paths are made absolute.
            s3: S3 connection settings, used for ``s3://`` URLs (default: the standard AWS chain).

        Raises:
            StoreError: the URL is empty, chained (``a::b``) or names an unknown/unavailable protocol.
        """
        if not isinstance(url, str) or not url.strip():
            raise StoreError(f"a store URL must be a non-empty string (got {url!r})")
        if s3 is not None and not isinstance(s3, S3Config):
            raise TypeError(f"'s3' must be an S3Config or None (got {type(s3).__name__})")
        self._s3_config = s3
        self._backend = _open_backend(url.strip(), s3 or S3Config())
        self.url = self._backend.url
        self.protocol = self._backend.protocol

    @classmethod
    def from_config(cls, config: TelemetryConfig, which: Literal["raw", "out"]) -> Store:
        """The raw or output store of `config` (``store.raw_url`` / ``store.out_url`` with ``store.s3``)."""
        if which == "raw":
            return cls(config.store.raw_url, config.store.s3)
        if which == "out":
            return cls(config.store.out_url, config.store.s3)
        raise ValueError(f"'which' must be 'raw' or 'out' (got {which!r})")

    def __repr__(self) -> str:
        return f"Store({self.url!r})"

    def __reduce__(self) -> tuple[type[Store], tuple[str, S3Config | None]]:
        return (Store, (self.url, self._s3_config))

    @property
    def versioned(self) -> bool:
        """True when the store keeps object versions (an S3 bucket whose versioning is Enabled or
        Suspended); False for local directories and other fsspec stores. Checked once per Store."""
        return self._backend.versioned()

    def list_day_zips(
        self,
        fleet: str | None = None,
        start: dt.date | None = None,
        end: dt.date | None = None,
        robots: Collection[str] | None = None,
    ) -> list[RawObject]:
        """The latest version of every day zip under the root, filtered.

        Args:
            fleet: only this fleet (default: all fleets).
            start: first UTC day, INCLUSIVE (default: unbounded).
            end: last UTC day, INCLUSIVE (default: unbounded).
            robots: only these robot ids (default: all robots).

        Returns:
            Sorted by ``(fleet, date, robot_id)``. Deleted objects and keys that are not day zips are left
            out. A root that does not exist gives an empty list.

        Raises:
            StoreError: the store cannot be listed (TransientStoreError when worth retrying).
        """
        if fleet is not None and (not isinstance(fleet, str) or not fleet or "/" in fleet):
            raise ValueError(f"'fleet' must be a fleet name without '/' or None (got {fleet!r})")
        _check_date("start", start)
        _check_date("end", end)
        if start is not None and end is not None and start > end:
            raise ValueError(f"'start' must be <= 'end' (both inclusive); got start={start}, end={end}")
        wanted: frozenset[str] | None = None
        if robots is not None:
            if isinstance(robots, str) or not all(isinstance(r, str) for r in robots):
                raise TypeError(f"'robots' must be a collection of robot id strings (got {robots!r})")
            wanted = frozenset(robots)
        query = _Query(fleet, start, end, wanted)
        with self._backend.failures("list day zips under", query.prefix_hint()):
            found = self._backend.list_day_zips(query)
        return sorted(found)

    def list_versions(self, key: str) -> list[RawObject]:
        """All readable versions of day zip `key`, OLDEST FIRST (delete markers left out).

        On stores without versions this is the current object only. A missing key gives ``[]``.

        Raises:
            ValueError: `key` is not a day-zip key.
            StoreError: the store cannot be listed.
        """
        _check_key(key)
        day = _require_day(key)
        with self._backend.failures("list versions of", key):
            return self._backend.list_versions(day)

    def read(self, obj: RawObject) -> bytes:
        """The bytes of exactly version ``obj.version`` of ``obj.key``.

        Raises:
            VersionNotFoundError: that version is gone (deleted, or overwritten on a store without versions).
            StoreError: any other failure (TransientStoreError when worth retrying).
        """
        if not isinstance(obj, RawObject):
            raise TypeError(
                f"read() expects a RawObject (got {type(obj).__name__}); use read_bytes(key) for keys"
            )
        _check_key(obj.key)
        with self._backend.failures("read", obj.key, obj.version):
            return self._backend.read(obj)

    def read_bytes(self, key: str) -> bytes:
        """The latest bytes of `key` (outputs, lineage manifests, ...).

        Raises:
            StoreError: no object at `key`, or the read failed.
        """
        _check_key(key)
        with self._backend.failures("read", key):
            return self._backend.read_bytes(key)

    def write_bytes(self, key: str, data: bytes) -> None:
        """Atomically write `data` to `key`, replacing any object there; parent directories are created.

        Raises:
            StoreError: the write failed; the previous object (if any) is unchanged.
        """
        _check_key(key)
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise TypeError(f"'data' must be bytes (got {type(data).__name__})")
        with self._backend.failures("write", key):
            self._backend.write_bytes(key, bytes(data))

    def read_with_token(self, key: str) -> tuple[bytes, str] | None:
        """The latest bytes of `key` and a token for :meth:`write_if`, or None when there is no object."""
        _check_key(key)
        with self._backend.failures("read", key):
            return self._backend.read_with_token(key)

    def write_if(self, key: str, data: bytes, token: str | None) -> str | None:
        """Write `data` to `key` only if the object is unchanged since `token` was read (``token=None``:
        only if there is no object). Returns the new token, or None when the condition failed (another
        writer got there first; nothing was written). See "Conditional writes" in the module docstring."""
        _check_key(key)
        with self._backend.failures("conditionally write", key):
            return self._backend.write_if(key, bytes(data), token)

    def exists(self, key: str) -> bool:
        """Whether an object (not a directory) exists at exactly `key`."""
        _check_key(key)
        with self._backend.failures("check", key):
            return self._backend.exists(key)

    def list_keys(self, prefix: str) -> list[str]:
        """Keys (relative to the root) of the latest objects whose key starts with `prefix`, sorted.

        `prefix` is a string prefix: ``"features/fleet=a"`` also matches ``features/fleet=ab/...``; end it
        with ``/`` to list one "directory". ``""`` lists everything.
        """
        _check_prefix(prefix)
        with self._backend.failures("list keys under", prefix or None):
            return sorted(self._backend.list_keys(prefix))

    def list_partitions(
        self,
        prefix: str,
        suffix: str,
        fleet: str | None = None,
        start: dt.date | None = None,
        end: dt.date | None = None,
        robots: Sequence[str] | None = None,
    ) -> list[tuple[DayKey, str]]:
        """``(day, key)`` of the per-robot-day outputs ``<prefix><partition><suffix>``, sorted.

        Only days in ``[start, end]`` (inclusive; None: unbounded), of `fleet` and of `robots` when given.
        Keys of another form under `prefix` are ignored (see :mod:`telemetry.contract.layout`).
        """
        found = []
        for key in self.list_keys(prefix + (fleet_prefix(fleet) if fleet else "")):
            day = parse_partition_key(key, prefix, suffix)
            if day is None or (robots and day.robot_id not in robots):
                continue
            if (start is None or day.date >= start) and (end is None or day.date <= end):
                found.append((day, key))
        return sorted(found)

    def delete(self, key: str) -> None:
        """Delete the object at `key` (a missing key is not an error).

        On a versioned S3 bucket this adds a delete marker: the key disappears from listings, but its
        older versions stay readable through :meth:`read`.
        """
        _check_key(key)
        with self._backend.failures("delete", key):
            self._backend.delete(key)


# ------------------------------------------------------------------------------------------ helpers


@dataclass(frozen=True, slots=True)
class _Query:
    fleet: str | None
    start: dt.date | None
    end: dt.date | None
    robots: frozenset[str] | None

    def matches(self, day: DayKey) -> bool:
        return (
            (self.fleet is None or day.fleet == self.fleet)
            and (self.start is None or day.date >= self.start)
            and (self.end is None or day.date <= self.end)
            and (self.robots is None or day.robot_id in self.robots)
        )

    def date_matches(self, date: dt.date) -> bool:
        return (self.start is None or date >= self.start) and (self.end is None or date <= self.end)

    def prefix_hint(self) -> str | None:
        return fleet_prefix(self.fleet) if self.fleet is not None else None


def _check_date(name: str, value: object) -> None:
    if value is None:
        return
    if isinstance(value, dt.datetime) or not isinstance(value, dt.date):
        raise TypeError(f"'{name}' must be a datetime.date (a UTC day) or None (got {value!r})")


def _check_segments(what: str, value: str, segments: list[str]) -> None:
    for seg in segments:
        if seg in ("", ".", ".."):
            raise ValueError(
                f"{what} must be relative and '/'-separated, without empty, '.' or '..' segments "
                f"(got {value!r})"
            )
    if "\\" in value or "\x00" in value:
        raise ValueError(f"{what} must not contain backslashes or NUL characters (got {value!r})")


def _check_key(key: object) -> None:
    if not isinstance(key, str) or not key:
        raise ValueError(f"a key must be a non-empty string (got {key!r})")
    _check_segments("a key", key, key.split("/"))
    if _is_temp_name(key.rsplit("/", 1)[-1]):
        raise ValueError(f"keys ending in {_TMP_SUFFIX!r} are reserved for temporary files (got {key!r})")


def _check_prefix(prefix: object) -> None:
    if not isinstance(prefix, str):
        raise ValueError(f"a prefix must be a string (got {prefix!r})")
    if prefix:
        segments = prefix.split("/")
        _check_segments("a prefix", prefix, segments[:-1] if prefix.endswith("/") else segments)


def _day_of(key: str) -> DayKey | None:
    """The robot-day of `key` when it is exactly a day-zip key relative to the root, else None."""
    day = parse_day_zip_key(key)
    return day if day is not None and day.key == key else None


def _require_day(key: str) -> DayKey:
    day = _day_of(key)
    if day is None:
        raise ValueError(
            f"{key!r} is not a day-zip key; expected 'fleet=<fleet>/date=<YYYY-MM-DD>/<robot_id>.zip'"
        )
    return day


def _is_temp_name(name: str) -> bool:
    return name.startswith(".") and name.endswith(_TMP_SUFFIX)


def _exception_chain(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen and len(seen) < 16:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def _client_error_code(exc: BaseException) -> tuple[str, int]:
    response: Any = getattr(exc, "response", None) or {}
    code = str(response.get("Error", {}).get("Code", ""))
    status = response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0
    return code, int(status)


def _is_transient(exc: BaseException) -> bool:
    for e in _exception_chain(exc):
        if isinstance(e, TRANSIENT_ERRORS):
            return True
        if isinstance(e, ClientError):
            code, status = _client_error_code(e)
            if status >= 500 or status == 429 or code in _RETRYABLE_S3_CODES:
                return True
    return False


def _is_condition_failure(exc: BaseException) -> bool:
    """Whether `exc` says a conditional write lost (412 Precondition Failed, 409 conditional conflict)."""
    for e in _exception_chain(exc):
        if isinstance(e, ClientError):
            code, status = _client_error_code(e)
            if code in ("PreconditionFailed", "ConditionalRequestConflict") or status in (409, 412):
                return True
    return False


def _is_gone(exc: BaseException) -> bool:
    """Whether `exc` says the requested object or version does not exist (any more)."""
    for e in _exception_chain(exc):
        if isinstance(e, FileNotFoundError):
            return True
        if isinstance(e, ClientError):
            code, status = _client_error_code(e)
            if code in _GONE_S3_CODES or status in (404, 412):
                return True
            if code == "InvalidArgument" and "version" in str(e).lower():
                return True
    return False


class _HashCache:
    """Content hashes of local files, keyed by path and valid while the file's fingerprint is unchanged."""

    _MAX_ENTRIES = 200_000

    def __init__(self) -> None:
        self._entries: dict[str, tuple[object, str]] = {}
        self._lock = threading.Lock()

    def get(self, path: str, fingerprint: object) -> str | None:
        with self._lock:
            entry = self._entries.get(path)
        return entry[1] if entry is not None and entry[0] == fingerprint else None

    def put(self, path: str, fingerprint: object, digest: str) -> None:
        with self._lock:
            if len(self._entries) >= self._MAX_ENTRIES:
                self._entries.clear()
            self._entries[path] = (fingerprint, digest)


_HASHES = _HashCache()


def _sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _open_backend(url: str, s3: S3Config) -> _Backend:
    if "::" in url:
        raise StoreError(
            f"chained fsspec URLs are not supported as store roots (got {url!r}); use a plain URL"
        )
    protocol, path = fsspec.core.split_protocol(url)
    if protocol in (None, "file", "local"):
        return _LocalBackend(path)
    try:
        fs_class = fsspec.get_filesystem_class(protocol)
    except (ValueError, ImportError) as exc:
        raise StoreError(
            f"cannot open store {url!r}: unknown or unavailable protocol {protocol!r} ({exc})"
        ) from exc
    if issubclass(fs_class, s3fs.S3FileSystem):
        bucket, _, prefix = path.strip("/").partition("/")
        if not bucket:
            raise StoreError(f"an S3 store URL must name a bucket: 's3://<bucket>[/<prefix>]' (got {url!r})")
        return _S3Backend(bucket, prefix.strip("/"), s3)
    return _FsspecBackend(url)


# ------------------------------------------------------------------------------------------ backends


class _Backend(ABC):
    url: str
    protocol: str
    io_errors: ClassVar[tuple[type[BaseException], ...]] = (OSError,)

    def location(self, key: str | None) -> str:
        return self.url if key is None else f"{self.url}/{key}"

    def scrub(self, text: str) -> str:
        return text

    def error(
        self, action: str, key: str | None, exc: BaseException, version: str | None = None
    ) -> StoreError:
        where = self.location(key) + (f" (version {version})" if version else "")
        transient = _is_transient(exc)
        detail = f"{type(exc).__name__}: {exc}"
        if isinstance(exc, FileNotFoundError):
            detail = f"not found ({detail})"
        hint = (
            "; this looks transient (connection, timeout, throttling or 5xx): retry later"
            if transient
            else ""
        )
        cls = TransientStoreError if transient else StoreError
        return cls(self.scrub(f"cannot {action} {where}: {detail}{hint}"))

    def gone(self, obj: RawObject, reason: str) -> VersionNotFoundError:
        return VersionNotFoundError(
            self.scrub(
                f"{self.location(obj.key)}: pinned version {obj.version} is no longer readable: {reason}. "
                "Re-list the store to pick up the current version, or restore the old object."
            )
        )

    @contextlib.contextmanager
    def failures(self, action: str, key: str | None, version: str | None = None) -> Iterator[None]:
        """Translate backend exceptions into StoreError / TransientStoreError, chained."""
        try:
            yield
        except StoreError:
            raise
        except self.io_errors as exc:
            raise self.error(action, key, exc, version) from exc

    @abstractmethod
    def versioned(self) -> bool: ...

    @abstractmethod
    def list_day_zips(self, query: _Query) -> list[RawObject]: ...

    @abstractmethod
    def list_versions(self, day: DayKey) -> list[RawObject]: ...

    @abstractmethod
    def read(self, obj: RawObject) -> bytes: ...

    @abstractmethod
    def read_bytes(self, key: str) -> bytes: ...

    @abstractmethod
    def write_bytes(self, key: str, data: bytes) -> None: ...

    @abstractmethod
    def exists(self, key: str) -> bool: ...

    @abstractmethod
    def read_with_token(self, key: str) -> tuple[bytes, str] | None: ...

    @abstractmethod
    def write_if(self, key: str, data: bytes, token: str | None) -> str | None: ...

    @abstractmethod
    def list_keys(self, prefix: str) -> list[str]: ...

    @abstractmethod
    def delete(self, key: str) -> None: ...


class _ContentHashBackend(_Backend):
    """Stores without object versions: the version of an object is the sha256 of its content."""

    def versioned(self) -> bool:
        return False

    @abstractmethod
    def _candidates(self, query: _Query) -> Iterator[tuple[str, str]]:
        """``(key, path)`` of files that may be day zips matching `query` (pre-filtered cheaply)."""

    @abstractmethod
    def _version_and_size(self, path: str) -> tuple[str, int]:
        """Content hash and size of the file at `path`, taken from the same content."""

    @abstractmethod
    def _path(self, key: str) -> str: ...

    @abstractmethod
    def _read_path(self, path: str) -> bytes: ...

    def list_day_zips(self, query: _Query) -> list[RawObject]:
        found = []
        for key, path in self._candidates(query):
            day = _day_of(key)
            if day is None or not query.matches(day):
                continue
            try:
                version, size = self._version_and_size(path)
            except FileNotFoundError:  # deleted while listing
                continue
            found.append(RawObject(day, key, version, size))
        return found

    def list_versions(self, day: DayKey) -> list[RawObject]:
        try:
            version, size = self._version_and_size(self._path(day.key))
        except (FileNotFoundError, IsADirectoryError):
            return []
        return [RawObject(day, day.key, version, size)]

    def read(self, obj: RawObject) -> bytes:
        try:
            data = self._read_path(self._path(obj.key))
        except FileNotFoundError as exc:
            raise self.gone(obj, "the object was deleted") from exc
        found = _sha256(data)
        if found != obj.version:
            raise self.gone(
                obj,
                f"the object was overwritten (its content is now {found}); "
                "this store keeps only the latest content",
            )
        return data

    def read_bytes(self, key: str) -> bytes:
        return self._read_path(self._path(key))

    def read_with_token(self, key: str) -> tuple[bytes, str] | None:
        try:
            data = self._read_path(self._path(key))
        except FileNotFoundError:
            return None
        return data, _sha256(data)

    def write_if(self, key: str, data: bytes, token: str | None) -> str | None:
        """Check then write: not atomic on this kind of store (the local backend overrides it)."""
        current = self.read_with_token(key)
        if (current[1] if current is not None else None) != token:
            return None
        self.write_bytes(key, data)
        return _sha256(data)


class _LocalBackend(_ContentHashBackend):
    protocol = "file"

    def __init__(self, path: str) -> None:
        self.root = os.path.abspath(os.path.expanduser(path))
        self.url = self.root

    def _path(self, key: str) -> str:
        return os.path.join(self.root, *key.split("/"))

    def _read_path(self, path: str) -> bytes:
        with open(path, "rb") as f:
            return f.read()

    def _version_and_size(self, path: str) -> tuple[str, int]:
        st = os.stat(path)
        fingerprint = (st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino, st.st_dev)
        cached = _HASHES.get(path, fingerprint)
        if cached is not None:
            return cached, st.st_size
        with open(path, "rb") as f:  # hash and size from the same open file (it may be replaced meanwhile)
            st = os.fstat(f.fileno())
            digest = "sha256:" + hashlib.file_digest(f, "sha256").hexdigest()
        _HASHES.put(path, (st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino, st.st_dev), digest)
        return digest, st.st_size

    @staticmethod
    def _entries(path: str) -> list[os.DirEntry[str]]:
        """The entries of directory `path`; none when it does not exist (or vanished meanwhile)."""
        try:
            with os.scandir(path) as entries:
                return list(entries)
        except (FileNotFoundError, NotADirectoryError):
            return []

    def _candidates(self, query: _Query) -> Iterator[tuple[str, str]]:
        for fleet_dir in self._entries(self.root):
            fleet = fleet_of_dir(fleet_dir.name)
            if fleet is None or (query.fleet is not None and fleet != query.fleet) or not fleet_dir.is_dir():
                continue
            for date_dir in self._entries(fleet_dir.path):
                date = date_of_dir(date_dir.name)
                if date is None or not date_dir.is_dir():
                    continue
                if not query.date_matches(date):
                    continue
                for entry in self._entries(date_dir.path):
                    if entry.name.endswith(".zip") and not _is_temp_name(entry.name) and entry.is_file():
                        yield f"{fleet_dir.name}/{date_dir.name}/{entry.name}", entry.path

    def write_bytes(self, key: str, data: bytes) -> None:
        path = self._path(key)
        directory, name = os.path.split(path)
        os.makedirs(directory, exist_ok=True)
        tmp = os.path.join(directory, f".{name[:100]}.{secrets.token_hex(8)}{_TMP_SUFFIX}")
        flags = (
            os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0) | getattr(os, "O_CLOEXEC", 0)
        )
        fd = os.open(tmp, flags, 0o666)  # the umask applies, as for any new file
        try:
            with open(fd, "wb", closefd=True) as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
        _fsync_dir(directory)

    def exists(self, key: str) -> bool:
        return os.path.isfile(self._path(key))

    def write_if(self, key: str, data: bytes, token: str | None) -> str | None:
        directory, name = os.path.split(self._path(key))
        os.makedirs(directory, exist_ok=True)
        lock = os.path.join(directory, f".{name[:100]}.cas{_TMP_SUFFIX}")  # hidden, never listed
        fd = os.open(lock, os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), 0o666)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            return super().write_if(key, data, token)
        finally:
            os.close(fd)  # releases the lock

    def delete(self, key: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self._path(key))

    def list_keys(self, prefix: str) -> list[str]:
        base = prefix if prefix.endswith("/") or not prefix else posixpath.dirname(prefix)
        top = self._path(base.rstrip("/")) if base.strip("/") else self.root
        if not os.path.isdir(top):
            return []

        def fail(exc: OSError) -> None:
            raise exc

        keys = []
        for dirpath, _dirs, files in os.walk(top, onerror=fail):
            rel_dir = os.path.relpath(dirpath, self.root).replace(os.sep, "/")
            for name in files:
                if _is_temp_name(name):
                    continue
                key = name if rel_dir == "." else f"{rel_dir}/{name}"
                if key.startswith(prefix):
                    keys.append(key)
        return keys


def _fsync_dir(directory: str) -> None:
    """Persist a rename (POSIX); a no-op where directories cannot be opened (Windows)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


class _FsspecBackend(_ContentHashBackend):
    """Any other fsspec filesystem (memory://, gcs://, ...), treated as a store without versions."""

    io_errors = (Exception,)  # fsspec implementations raise library-specific exception types

    def __init__(self, url: str) -> None:
        fs, root = fsspec.core.url_to_fs(url)
        self._fs: Any = fs
        self._root = str(root).rstrip("/")
        protocol = fs.protocol
        self.protocol = protocol if isinstance(protocol, str) else protocol[0]
        self.url = url.rstrip("/")

    def _path(self, key: str) -> str:
        return f"{self._root}/{key}"

    def _read_path(self, path: str) -> bytes:
        return bytes(self._fs.cat_file(path))

    def _version_and_size(self, path: str) -> tuple[str, int]:
        data = self._read_path(path)
        return _sha256(data), len(data)

    def _find(self, base: str) -> dict[str, dict[str, Any]]:
        self._fs.invalidate_cache(base)
        try:
            found = self._fs.find(base, detail=True)
        except FileNotFoundError:
            return {}
        return {str(name): info for name, info in found.items() if info.get("type") != "directory"}

    def _relative(self, name: str) -> str | None:
        name = str(self._fs._strip_protocol(name))
        return name[len(self._root) + 1 :] if name.startswith(self._root + "/") else None

    def _candidates(self, query: _Query) -> Iterator[tuple[str, str]]:
        base = self._path(fleet_prefix(query.fleet).rstrip("/")) if query.fleet is not None else self._root
        for name in self._find(base):
            key = self._relative(name)
            if key is not None and key.endswith(".zip"):
                yield key, self._path(key)

    def write_bytes(self, key: str, data: bytes) -> None:
        path = self._path(key)
        self._fs.makedirs(posixpath.dirname(path), exist_ok=True)
        self._fs.pipe_file(path, data)

    def exists(self, key: str) -> bool:
        path = self._path(key)
        self._fs.invalidate_cache(path)
        return bool(self._fs.isfile(path))

    def delete(self, key: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            self._fs.rm_file(self._path(key))

    def list_keys(self, prefix: str) -> list[str]:
        base = prefix if prefix.endswith("/") or not prefix else posixpath.dirname(prefix)
        keys = (
            self._relative(name) for name in self._find(self._path(base.rstrip("/")) if base else self._root)
        )
        return [k for k in keys if k is not None and k.startswith(prefix)]


class _S3Backend(_Backend):
    """S3 and S3-compatible stores through s3fs (version aware, listings cache off)."""

    protocol = "s3"
    io_errors = (OSError, BotoCoreError, ClientError, aiohttp.ClientError)

    def __init__(self, bucket: str, prefix: str, config: S3Config) -> None:
        self.bucket = bucket
        self.prefix = f"{prefix}/" if prefix else ""
        self.url = f"s3://{bucket}/{prefix}" if prefix else f"s3://{bucket}"
        kwargs: dict[str, Any] = {"version_aware": True, "use_listings_cache": False}
        if config.endpoint_url:
            kwargs["endpoint_url"] = config.endpoint_url
        if config.region:
            kwargs["client_kwargs"] = {"region_name": config.region}
        if config.anon:
            kwargs["anon"] = True
        revealed = []
        for name, secret in (("key", config.key), ("secret", config.secret)):
            if secret is not None:
                kwargs[name] = secret.reveal()
                revealed.append(secret.reveal())
        self._secrets = tuple(v for v in revealed if len(v) >= 4)  # shorter values are no real secrets
        self._fs: Any = s3fs.S3FileSystem(**kwargs)
        self._versioned: bool | None = None

    def scrub(self, text: str) -> str:
        for value in self._secrets:
            text = text.replace(value, "***")
        return text

    def _key(self, key: str) -> str:
        return self.prefix + key

    def _relative(self, s3_key: str) -> str | None:
        return s3_key[len(self.prefix) :] if s3_key.startswith(self.prefix) else None

    def _pages(self, method: str, prefix: str, delimiter: str | None = None) -> Iterator[dict[str, Any]]:
        """Pages of a paginated listing (``list_object_versions`` or ``list_objects_v2``) under `prefix`."""
        kwargs: dict[str, Any] = {"Bucket": self.bucket, "Prefix": prefix, "MaxKeys": _S3_MAX_KEYS}
        if delimiter is not None:
            kwargs["Delimiter"] = delimiter
        while True:
            page: dict[str, Any] = self._fs.call_s3(method, **kwargs)
            yield page
            if not page.get("IsTruncated"):
                return
            if method == "list_object_versions":
                if not page.get("NextKeyMarker"):
                    raise OSError(f"{method} page is truncated but has no NextKeyMarker")
                kwargs["KeyMarker"] = page["NextKeyMarker"]
                kwargs["VersionIdMarker"] = page.get("NextVersionIdMarker", "")
            else:
                kwargs["ContinuationToken"] = page["NextContinuationToken"]

    @staticmethod
    def _version(entry: dict[str, Any]) -> str:
        version_id = entry.get("VersionId")
        if version_id and version_id != "null":
            return str(version_id)
        return "etag:" + str(entry["ETag"]).strip('"')

    def versioned(self) -> bool:
        if self._versioned is None:
            with self.failures("get the versioning status of", None):
                status = self._fs.call_s3("get_bucket_versioning", Bucket=self.bucket).get("Status", "")
            self._versioned = status in ("Enabled", "Suspended")
        return self._versioned

    def _fleets(self) -> list[str]:
        fleets = set()
        for page in self._pages("list_object_versions", self.prefix, delimiter="/"):
            for common in page.get("CommonPrefixes", []):
                rel = self._relative(str(common["Prefix"])) or ""
                fleet = fleet_of_dir(rel.rstrip("/"))
                if fleet is not None:
                    fleets.add(fleet)
        return sorted(fleets)

    def _plan(self, query: _Query) -> Iterator[tuple[str, str | None]]:
        """``(prefix, last)`` listings that cover `query`; `last` ends a listing early (keys are sorted)."""
        fleets = [query.fleet] if query.fleet is not None else self._fleets()
        for fleet in fleets:
            start, end = query.start, query.end
            if start is not None and end is not None and (end - start).days < _MAX_DATE_PREFIXES:
                for offset in range((end - start).days + 1):
                    yield date_prefix(fleet, start + dt.timedelta(days=offset)), None
            else:
                yield (
                    fleet_prefix(fleet),
                    (date_prefix(fleet, end) if end is not None else None),
                )

    def list_day_zips(self, query: _Query) -> list[RawObject]:
        found = []
        calls = 0
        for rel_prefix, last in self._plan(query):
            for page in self._pages("list_object_versions", self._key(rel_prefix)):
                calls += 1
                for entry in page.get("Versions", []):
                    if not entry.get("IsLatest"):
                        continue
                    key = self._relative(str(entry["Key"]))
                    day = _day_of(key) if key is not None else None
                    if day is not None and query.matches(day):
                        found.append(RawObject(day, day.key, self._version(entry), int(entry["Size"])))
                next_key = self._relative(str(page.get("NextKeyMarker") or "")) or ""
                if last is not None and next_key > last and not next_key.startswith(last):
                    break  # every later key sorts after the last wanted date
        logger.debug(
            "listed %d day zips under %s in %d ListObjectVersions pages", len(found), self.url, calls
        )
        return found

    def list_versions(self, day: DayKey) -> list[RawObject]:
        s3_key = self._key(day.key)
        entries: list[dict[str, Any]] = []
        for page in self._pages("list_object_versions", s3_key):
            entries.extend(e for e in page.get("Versions", []) if e.get("Key") == s3_key)
            if str(page.get("NextKeyMarker") or "") > s3_key:
                break
        entries.reverse()  # S3 lists the versions of a key newest first
        return [RawObject(day, day.key, self._version(e), int(e["Size"])) for e in entries]

    def _get(self, **kwargs: Any) -> bytes:
        response = self._fs.call_s3("get_object", Bucket=self.bucket, **kwargs)
        body = response["Body"]
        try:
            return bytes(fsspec.asyn.sync(self._fs.loop, body.read))
        finally:
            body.close()

    def read(self, obj: RawObject) -> bytes:
        if obj.version.startswith("sha256:"):
            raise self.gone(
                obj, "a content-hash version comes from a store without object versions, not from S3"
            )
        if obj.version.startswith("etag:"):
            pin = {"VersionId": "null", "IfMatch": '"' + obj.version.removeprefix("etag:") + '"'}
        else:
            pin = {"VersionId": obj.version}
        try:
            return self._get(Key=self._key(obj.key), **pin)
        except self.io_errors as exc:
            if _is_gone(exc) and not _is_transient(exc):
                raise self.gone(obj, f"the bucket no longer has it ({type(exc).__name__}: {exc})") from exc
            raise

    def read_bytes(self, key: str) -> bytes:
        return self._get(Key=self._key(key))

    def write_bytes(self, key: str, data: bytes) -> None:
        self._fs.pipe_file(f"{self.bucket}/{self._key(key)}", data)

    def read_with_token(self, key: str) -> tuple[bytes, str] | None:
        try:
            response = self._fs.call_s3("get_object", Bucket=self.bucket, Key=self._key(key))
        except FileNotFoundError:
            return None
        body = response["Body"]
        try:
            return bytes(fsspec.asyn.sync(self._fs.loop, body.read)), str(response["ETag"])
        finally:
            body.close()

    def write_if(self, key: str, data: bytes, token: str | None) -> str | None:
        condition = {"IfNoneMatch": "*"} if token is None else {"IfMatch": token}
        try:
            response = self._fs.call_s3(
                "put_object", Bucket=self.bucket, Key=self._key(key), Body=data, **condition
            )
        except self.io_errors as exc:
            if _is_condition_failure(exc):
                return None
            raise
        return str(response["ETag"])

    def exists(self, key: str) -> bool:
        try:
            self._fs.call_s3("head_object", Bucket=self.bucket, Key=self._key(key))
        except FileNotFoundError:
            return False
        return True

    def delete(self, key: str) -> None:
        self._fs.call_s3("delete_object", Bucket=self.bucket, Key=self._key(key))

    def list_keys(self, prefix: str) -> list[str]:
        keys = []
        for page in self._pages("list_objects_v2", self._key(prefix)):
            for entry in page.get("Contents", []):
                key = self._relative(str(entry["Key"]))
                if key and not key.endswith("/"):
                    keys.append(key)
        return keys
