"""telemetry.io.store on a local directory, an in-memory fsspec store and the real moto S3 server."""

from __future__ import annotations

import datetime as dt
import errno
import hashlib
import os
import pickle
import socket
import traceback
import uuid
from collections.abc import Iterator
from typing import Any

import fsspec
import pytest
import s3fs

import telemetry.io.store as store_module
from telemetry.config import S3Config, Secret, StoreConfig, TelemetryConfig
from telemetry.contract.layout import DayKey, day_zip_key
from telemetry.errors import StoreError, VersionNotFoundError
from telemetry.io.store import TRANSIENT_ERRORS, RawObject, Store, TransientStoreError

D1, D2, D3 = dt.date(2026, 11, 1), dt.date(2026, 11, 2), dt.date(2026, 11, 3)
FLEETS = ("acme-dc3", "beta")
ROBOTS = ("amr-0001", "amr-0002", "amr-0003")
NOT_DAY_ZIPS = (
    "fleet=acme-dc3/_truth/failures.json",
    "fleet=acme-dc3/_truth/amr-0001.zip",
    "fleet=acme-dc3/date=2026-11-02/notes.txt",
    "fleet=acme-dc3/date=2026-11-02/amr-0001.zip.bak",
    "fleet=acme-dc3/date=2026-13-45/amr-0001.zip",
    "fleet=acme-dc3/date=2026-11-02/sub/amr-0009.zip",
    "fleet=acme-dc3/date=2026-11-02/_bad.zip",
    "other/fleet=acme-dc3/date=2026-11-02/amr-0005.zip",
    "amr-0001.zip",
)


@pytest.fixture(params=["local", "memory", pytest.param("s3", marks=pytest.mark.s3)])
def store(request: pytest.FixtureRequest, tmp_path: Any) -> Iterator[Store]:
    """An empty store of each kind."""
    if request.param == "local":
        yield Store(str(tmp_path / "raw"))
    elif request.param == "memory":
        root = f"memory://test-{uuid.uuid4().hex}/raw"
        yield Store(root)
        fs = fsspec.filesystem("memory")
        if fs.exists(root):
            fs.rm(root, recursive=True)
    else:
        yield Store(request.getfixturevalue("s3_bucket_url"), request.getfixturevalue("s3_config"))


@pytest.fixture
def s3_store(s3_bucket_url: str, s3_config: S3Config) -> Store:
    return Store(s3_bucket_url, s3_config)


def populate(store: Store) -> dict[str, bytes]:
    """2 fleets x 3 days x 3 robots of day zips, plus keys that are not day zips."""
    written = {}
    for fleet in FLEETS:
        for date in (D1, D2, D3):
            for robot in ROBOTS:
                key = day_zip_key(fleet, date, robot)
                written[key] = f"zip of {key}".encode()
                store.write_bytes(key, written[key])
    for key in NOT_DAY_ZIPS:
        store.write_bytes(key, b"not a day zip")
    return written


def expected(
    fleets: tuple[str, ...] = FLEETS,
    dates: tuple[dt.date, ...] = (D1, D2, D3),
    robots: tuple[str, ...] = ROBOTS,
) -> list[str]:
    return [day_zip_key(f, d, r) for f in sorted(fleets) for d in sorted(dates) for r in sorted(robots)]


# ------------------------------------------------------------------------------------------ listing


def test_list_day_zips_filters_and_ignores_non_zips(store: Store) -> None:
    written = populate(store)

    everything = store.list_day_zips()
    assert [o.key for o in everything] == expected()
    assert everything == sorted(everything)
    for obj in everything:
        assert obj.day == DayKey(obj.day.fleet, obj.day.date, obj.day.robot_id)
        assert obj.day.key == obj.key
        assert obj.size == len(written[obj.key])
        assert obj.version

    def keys(**kwargs: Any) -> list[str]:
        return [o.key for o in store.list_day_zips(**kwargs)]

    assert keys(fleet="beta") == expected(fleets=("beta",))
    assert keys(start=D2, end=D2) == expected(dates=(D2,))  # both bounds inclusive
    assert keys(start=D2) == expected(dates=(D2, D3))
    assert keys(end=D2) == expected(dates=(D1, D2))
    assert keys(robots={"amr-0002"}) == expected(robots=("amr-0002",))
    assert keys(robots=[]) == []
    assert keys(fleet="acme-dc3", start=D2, end=D3, robots=("amr-0003", "amr-0001")) == expected(
        fleets=("acme-dc3",), dates=(D2, D3), robots=("amr-0001", "amr-0003")
    )
    # a long range is listed per fleet prefix, a short one per date prefix: same answer
    assert keys(start=dt.date(2026, 1, 1), end=dt.date(2026, 12, 31)) == expected()
    assert keys(fleet="beta", start=dt.date(2026, 1, 1), end=D1) == expected(fleets=("beta",), dates=(D1,))
    assert keys(fleet="nope") == []
    assert keys(start=dt.date(2027, 1, 1)) == []


def test_list_day_zips_of_an_empty_or_missing_root(store: Store) -> None:
    assert store.list_day_zips() == []
    assert store.list_keys("") == []


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"start": D3, "end": D1}, ValueError),
        ({"start": dt.datetime(2026, 11, 1, 12)}, TypeError),
        ({"robots": "amr-0001"}, TypeError),
        ({"fleet": "a/b"}, ValueError),
    ],
)
def test_list_day_zips_rejects_bad_arguments(
    tmp_path: Any, kwargs: dict[str, Any], error: type[Exception]
) -> None:
    with pytest.raises(error, match=r"'(start|robots|fleet)' must"):
        Store(str(tmp_path)).list_day_zips(**kwargs)


# ------------------------------------------------------------------------------------------ versions


def test_pinned_read_after_a_late_upload(store: Store) -> None:
    key = day_zip_key("acme-dc3", D2, "amr-0001")
    store.write_bytes(key, b"first upload")
    [old] = store.list_day_zips()
    store.write_bytes(key, b"late upload, longer")
    [new] = store.list_day_zips()

    assert new.key == old.key
    assert new.version != old.version
    assert new.size == len(b"late upload, longer")
    assert store.read(new) == store.read_bytes(key) == b"late upload, longer"
    if store.versioned:  # S3: the old version stays readable
        assert store.list_versions(key) == [old, new]  # oldest first
        assert store.read(old) == b"first upload"
    else:  # only the latest content exists
        assert store.list_versions(key) == [new]
        with pytest.raises(VersionNotFoundError, match="overwritten") as info:
            store.read(old)
        assert key in str(info.value)
        assert store.url in str(info.value)


@pytest.mark.s3
def test_s3_versions_are_version_ids_and_old_versions_stay_readable(
    s3_store: Store, s3_client: Any, s3_bucket_url: str
) -> None:
    assert s3_store.versioned
    key = day_zip_key("acme-dc3", D2, "amr-0001")
    for n in range(3):
        s3_store.write_bytes(key, f"upload {n}".encode())
    versions = s3_store.list_versions(key)
    assert [s3_store.read(v) for v in versions] == [b"upload 0", b"upload 1", b"upload 2"]

    bucket = s3_bucket_url.removeprefix("s3://").split("/")[0]
    listed = s3_client.list_object_versions(Bucket=bucket, Prefix=f"raw/{key}")["Versions"]
    assert [v.version for v in versions] == [v["VersionId"] for v in reversed(listed)]
    assert s3_store.list_day_zips() == [versions[-1]]

    # deleting adds a delete marker: the key leaves the listing, its versions stay readable
    s3_store.delete(key)
    assert s3_store.list_day_zips() == []
    assert not s3_store.exists(key)
    assert s3_store.list_versions(key) == versions
    assert s3_store.read(versions[0]) == b"upload 0"
    with pytest.raises(StoreError, match="not found"):
        s3_store.read_bytes(key)

    # a version removed from the bucket is gone for good
    s3_client.delete_object(Bucket=bucket, Key=f"raw/{key}", VersionId=versions[0].version)
    with pytest.raises(VersionNotFoundError, match=versions[0].version) as info:
        s3_store.read(versions[0])
    assert key in str(info.value)
    assert s3_store.list_versions(key) == versions[1:]


def test_local_version_is_the_sha256_of_the_content(tmp_path: Any) -> None:
    store = Store(str(tmp_path))
    key = day_zip_key("acme-dc3", D1, "amr-0001")
    store.write_bytes(key, b"payload")
    [obj] = store.list_day_zips()
    assert obj.version == "sha256:" + hashlib.sha256(b"payload").hexdigest()
    assert not store.versioned
    assert store.list_versions(key) == [obj]
    assert store.list_versions(day_zip_key("acme-dc3", D1, "amr-0404")) == []
    # a second listing of an unchanged file gives the same version (served from the hash cache)
    assert store.list_day_zips() == [obj]

    os.remove(tmp_path / key)
    with pytest.raises(VersionNotFoundError, match="deleted"):
        store.read(obj)


@pytest.mark.s3
@pytest.mark.parametrize("status", [None, "Suspended"])
def test_s3_null_versions_are_pinned_by_etag(s3_client: Any, s3_config: S3Config, status: str | None) -> None:
    """Objects with VersionId "null" (never-versioned or suspended bucket) are overwritten in place."""
    bucket = f"test-{uuid.uuid4().hex[:16]}"
    s3_client.create_bucket(Bucket=bucket)
    if status is not None:
        s3_client.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
        s3_client.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": status})
    store = Store(f"s3://{bucket}", s3_config)
    assert store.versioned is (status is not None)

    key = day_zip_key("acme-dc3", D1, "amr-0001")
    store.write_bytes(key, b"v1")
    [old] = store.list_day_zips()
    assert old.version == "etag:" + hashlib.md5(b"v1").hexdigest()  # S3's ETag of a single PUT
    assert store.read(old) == b"v1"
    store.write_bytes(key, b"v2")
    [new] = store.list_day_zips()
    assert store.list_versions(key) == [new]
    assert store.read(new) == b"v2"
    with pytest.raises(VersionNotFoundError, match="no longer readable"):
        store.read(old)


def test_raw_object_from_key_validates() -> None:
    key = day_zip_key("acme-dc3", D1, "amr-0001")
    obj = RawObject.from_key(key, "v1", 3)
    assert obj.day == DayKey("acme-dc3", D1, "amr-0001")
    assert str(obj) == f"{key}@v1"
    with pytest.raises(ValueError, match="not a day-zip key"):
        RawObject.from_key("fleet=acme-dc3/_truth/x.zip", "v1", 3)
    with pytest.raises(ValueError, match="does not match its day"):
        RawObject(obj.day, day_zip_key("acme-dc3", D2, "amr-0001"), "v1", 3)


# ------------------------------------------------------------------------------------------ keys


def test_write_read_exists_list_keys_delete(store: Store) -> None:
    store.write_bytes("_lineage/fleet=a/date=2026-11-01/amr-1.json", b"{}")
    store.write_bytes("features/fleet=a/date=2026-11-01/amr-1.parquet", b"P1")
    store.write_bytes("features/fleet=ab/date=2026-11-01/amr-1.parquet", b"P2")
    store.write_bytes("top.txt", b"T")

    assert store.read_bytes("features/fleet=a/date=2026-11-01/amr-1.parquet") == b"P1"
    assert store.exists("top.txt")
    assert not store.exists("features/fleet=a")  # a "directory" is not an object
    assert not store.exists("missing.txt")
    assert store.list_keys("features/fleet=a/") == ["features/fleet=a/date=2026-11-01/amr-1.parquet"]
    assert store.list_keys("features/fleet=a") == [  # a string prefix, not a directory
        "features/fleet=a/date=2026-11-01/amr-1.parquet",
        "features/fleet=ab/date=2026-11-01/amr-1.parquet",
    ]
    assert store.list_keys("") == [
        "_lineage/fleet=a/date=2026-11-01/amr-1.json",
        "features/fleet=a/date=2026-11-01/amr-1.parquet",
        "features/fleet=ab/date=2026-11-01/amr-1.parquet",
        "top.txt",
    ]
    assert store.list_keys("nothing/") == []

    store.write_bytes("top.txt", b"T2")
    assert store.read_bytes("top.txt") == b"T2"
    store.delete("top.txt")
    store.delete("top.txt")  # deleting a missing key is not an error
    assert not store.exists("top.txt")
    assert "top.txt" not in store.list_keys("")


def test_missing_key_raises_store_error_naming_url_and_key(store: Store) -> None:
    with pytest.raises(StoreError, match="not found") as info:
        store.read_bytes("features/missing.parquet")
    assert not isinstance(info.value, TransientStoreError)
    assert f"{store.url}/features/missing.parquet" in str(info.value)
    assert info.value.__cause__ is not None


@pytest.mark.parametrize("key", ["", "/abs", "a//b", "../escape", "a/./b", "a/../b", "dir/", "a\\b"])
def test_invalid_keys_are_rejected(tmp_path: Any, key: str) -> None:
    store = Store(str(tmp_path / "root"))
    with pytest.raises(ValueError, match="key"):
        store.write_bytes(key, b"x")
    with pytest.raises(ValueError, match="key"):
        store.read_bytes(key)
    assert not (tmp_path / "escape").exists()


# ------------------------------------------------------------------------------------------ atomic writes


@pytest.mark.parametrize("crash_in", ["write", "fsync", "replace"])
@pytest.mark.parametrize("cleanup_runs", [True, False], ids=["failed", "killed"])
def test_local_write_is_atomic(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch, crash_in: str, cleanup_runs: bool
) -> None:
    """A crash mid-write leaves the old object intact and nothing partial or temporary visible."""
    store = Store(str(tmp_path))
    key = day_zip_key("acme-dc3", D1, "amr-0001")
    store.write_bytes(key, b"old content")
    [before] = store.list_day_zips()

    def crash(*args: Any, **kwargs: Any) -> None:
        raise OSError(28, "simulated crash")

    with monkeypatch.context() as m:
        if crash_in == "write":
            real_fdopen = open

            class HalfWriter:
                def __init__(self, *args: Any, **kwargs: Any) -> None:
                    self._f = real_fdopen(*args, **kwargs)

                def __enter__(self) -> HalfWriter:
                    return self

                def __exit__(self, *exc: object) -> None:
                    self._f.close()

                def write(self, data: bytes) -> int:
                    self._f.write(data[: len(data) // 2])  # a partial write, then the crash
                    self._f.flush()
                    raise OSError(28, "simulated crash: no space left on device")

            m.setattr(store_module, "open", HalfWriter, raising=False)
        else:
            m.setattr(os, crash_in, crash)
        if not cleanup_runs:  # as if the process were killed: the temporary file stays behind
            m.setattr(os, "unlink", lambda *a, **k: None)
        with pytest.raises(StoreError, match="simulated crash") as info:
            store.write_bytes(key, b"new content that never lands")
    assert key in str(info.value)

    leftovers = [p for p in (tmp_path / key).parent.iterdir() if p.name != "amr-0001.zip"]
    assert bool(leftovers) is not cleanup_runs
    assert store.read_bytes(key) == b"old content"
    assert store.list_day_zips() == [before]
    assert store.read(before) == b"old content"
    assert store.list_keys("") == [key]
    for leftover in leftovers:  # a temporary file is not an object, and its name is reserved
        with pytest.raises(ValueError, match="reserved for temporary files"):
            store.exists(str(leftover.relative_to(tmp_path)))


def test_local_write_creates_parents_and_replaces(tmp_path: Any) -> None:
    store = Store(f"file://{tmp_path}/deep/root")
    assert store.url == f"{tmp_path}/deep/root"
    assert store.protocol == "file"
    store.write_bytes("a/b/c.bin", b"1")
    store.write_bytes("a/b/c.bin", b"22")
    assert (tmp_path / "deep/root/a/b/c.bin").read_bytes() == b"22"
    assert sorted(p.name for p in (tmp_path / "deep/root/a/b").iterdir()) == ["c.bin"]


# ------------------------------------------------------------------------------------------ S3 specifics


@pytest.mark.s3
def test_s3_listing_is_one_paginated_call_per_prefix(
    s3_store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    populate(s3_store)
    for n in range(3):  # extra versions, so that pages hold old versions too
        s3_store.write_bytes(day_zip_key("beta", D2, "amr-0002"), f"late {n}".encode())
    want = s3_store.list_day_zips()

    calls: list[tuple[str, dict[str, Any]]] = []
    real_call_s3 = s3fs.S3FileSystem.call_s3

    def counting_call_s3(self: Any, method: str, *args: Any, **kwargs: Any) -> Any:
        calls.append((method, kwargs))
        return real_call_s3(self, method, *args, **kwargs)

    monkeypatch.setattr(s3fs.S3FileSystem, "call_s3", counting_call_s3)
    monkeypatch.setattr(store_module, "_S3_MAX_KEYS", 4)  # force pagination

    assert s3_store.list_day_zips() == want
    assert {method for method, _ in calls} == {"list_object_versions"}  # no HEAD/GET per object
    discovery = [kw["Prefix"] for _, kw in calls if kw.get("Delimiter") == "/"]
    listings = [kw["Prefix"] for _, kw in calls if "Delimiter" not in kw]
    assert set(discovery) == {"raw/"}  # fleets are discovered from common prefixes...
    assert set(listings) == {"raw/fleet=acme-dc3/", "raw/fleet=beta/"}  # ...then one listing per fleet...
    assert len(listings) > 2  # ...paginated
    assert [kw["Prefix"] for _, kw in calls] == sorted(discovery) + listings  # in that order

    calls.clear()
    assert s3_store.list_day_zips(fleet="beta", start=D2, end=D3) == [
        o for o in want if o.day.fleet == "beta" and o.day.date >= D2
    ]
    assert {kw["Prefix"] for _, kw in calls} == {
        "raw/fleet=beta/date=2026-11-02/",
        "raw/fleet=beta/date=2026-11-03/",
    }

    calls.clear()
    assert s3_store.list_day_zips(fleet="acme-dc3", end=D1) == [
        o for o in want if o.day.fleet == "acme-dc3" and o.day.date == D1
    ]
    assert len(calls) < 5  # stops paginating after the last wanted date


@pytest.mark.s3
def test_credentials_never_leak(s3_store: Store, s3_config: S3Config, tmp_path: Any) -> None:
    assert s3_config.key is not None
    assert s3_config.secret is not None
    key_id, secret = s3_config.key.reveal(), s3_config.secret.reveal()
    assert repr(s3_store) == f"Store({s3_store.url!r})"
    for text in (repr(s3_store), str(s3_store)):
        assert secret not in text
        assert key_id not in text

    missing_bucket = Store("s3://no-such-bucket-here/raw", s3_config)
    dead_endpoint = Store(
        "s3://bucket/raw",
        S3Config(
            endpoint_url="http://127.0.0.1:9", region="us-east-1", key=Secret(key_id), secret=Secret(secret)
        ),
    )
    failures = [
        lambda: s3_store.read_bytes("features/missing.parquet"),
        lambda: missing_bucket.list_day_zips(),
        lambda: missing_bucket.write_bytes("x", b"x"),
        lambda: dead_endpoint.list_keys(""),
    ]
    for fail in failures:
        with pytest.raises(StoreError) as info:
            fail()
        err = info.value
        everything = (
            "".join(traceback.format_exception(err)) + repr(err) + repr(pickle.loads(pickle.dumps(err)))
        )
        assert secret not in everything
        assert key_id not in str(err)
        assert "s3://" in str(err)


@pytest.mark.s3
def test_transient_errors_and_server_restart(s3_server: Any, s3_store: Store, s3_config: S3Config) -> None:
    s3_store.write_bytes("a.txt", b"a")
    s3_server.stop()
    try:
        with pytest.raises(TRANSIENT_ERRORS) as info:
            s3_store.read_bytes("a.txt")
        assert isinstance(info.value, TransientStoreError)
        assert "retry" in str(info.value)
        assert "a.txt" in str(info.value)
    finally:
        s3_server.start()
    # moto lost its state: the bucket is gone, which is not transient
    with pytest.raises(StoreError) as gone:
        s3_store.read_bytes("a.txt")
    assert not isinstance(gone.value, TRANSIENT_ERRORS)


# ------------------------------------------------------------------------------------------ construction


def test_from_config_and_pickling(tmp_path: Any, s3_config_or_default: S3Config) -> None:
    config = TelemetryConfig(
        store=StoreConfig(
            raw_url=str(tmp_path / "raw"), out_url=str(tmp_path / "out"), s3=s3_config_or_default
        )
    )
    raw, out = Store.from_config(config, "raw"), Store.from_config(config, "out")
    assert (raw.url, out.url) == (str(tmp_path / "raw"), str(tmp_path / "out"))
    with pytest.raises(ValueError, match="'raw' or 'out'"):
        Store.from_config(config, "features")  # type: ignore[arg-type]

    raw.write_bytes(day_zip_key("acme-dc3", D1, "amr-0001"), b"z")
    clone = pickle.loads(pickle.dumps(raw))
    assert repr(clone) == repr(raw)
    assert clone.list_day_zips() == raw.list_day_zips()


@pytest.fixture
def s3_config_or_default() -> S3Config:
    return S3Config(region="us-east-1", key=Secret("k"), secret=Secret("s"))


@pytest.mark.s3
def test_s3_store_pickles_with_its_config(s3_store: Store) -> None:
    s3_store.write_bytes(day_zip_key("acme-dc3", D1, "amr-0001"), b"z")
    clone = pickle.loads(pickle.dumps(s3_store))
    assert clone.list_day_zips() == s3_store.list_day_zips()
    assert (clone.protocol, clone.url) == ("s3", s3_store.url)


@pytest.mark.parametrize(
    ("url", "match"),
    [
        ("", "non-empty"),
        ("s3://", "must name a bucket"),
        ("nosuchproto://x", "unknown"),
        ("simplecache::s3://b", "chained"),
    ],
)
def test_bad_urls(url: str, match: str) -> None:
    with pytest.raises(StoreError, match=match):
        Store(url)


def test_the_test_session_is_offline() -> None:
    """conftest.py: fake AWS credentials, no proxies, and no TCP connections beyond loopback."""
    assert os.environ["AWS_ACCESS_KEY_ID"] == "testing"
    assert os.environ["AWS_EC2_METADATA_DISABLED"] == "true"
    assert not any(
        os.environ.get(name) for name in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy")
    )
    with socket.socket() as sock, pytest.raises(OSError, match="only connect to loopback") as info:
        sock.connect(("192.0.2.1", 443))  # TEST-NET-1: never routable
    assert info.value.errno == errno.ENETUNREACH
