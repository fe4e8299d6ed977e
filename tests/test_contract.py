"""The data contract (telemetry/contract/): member names and UTC day bounds of the `telemetry.v1` envelope,
and every store key of telemetry/contract/layout.py: each key builder round-trips through its parser,
parsers refuse malformed keys, robot-days sort by fleet, then date, then robot."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import pytest
from hypothesis import given
from hypothesis import strategies as st

from telemetry.contract.envelope import (
    DAY_MS,
    ID_PATTERN,
    ROBOT_ID_RE,
    SCHEMA_ID,
    day_bounds_ms,
    day_of_ms,
    envelope_json_schema,
    member_name,
    parse_member_name,
)
from telemetry.contract.layout import (
    EXTRACT_PREFIX,
    FEATURES_PREFIX,
    LEASE_KEY,
    QUARANTINE_PREFIX,
    RUNS_PREFIX,
    DayKey,
    date_of_dir,
    date_prefix,
    day_zip_key,
    extract_report_key,
    features_key,
    fleet_of_dir,
    fleet_prefix,
    ground_truth_key,
    lineage_key,
    model_prefix,
    parse_day_zip_key,
    parse_partition_key,
    partition,
    quarantine_key,
    run_manifest_key,
    score_key,
    signal_key,
    units_key,
)

IDS = st.from_regex(ID_PATTERN, fullmatch=True)
DATES = st.dates(min_value=dt.date(1970, 1, 1), max_value=dt.date(2999, 12, 31))
DAYS = st.builds(DayKey, IDS, DATES, IDS)
EPOCH = dt.date(1970, 1, 1)
DAY = DayKey("acme-dc3", dt.date(2026, 11, 2), "amr-0007")

# per-partition keys: builder -> (prefix, suffix) its parser is given
PARTITION_KEYS: dict[str, tuple[Callable[[DayKey], str], str, str]] = {
    "partition": (partition, "", ""),
    "signal_key": (lambda d: signal_key("motor", d), "signals/motor/", ".parquet"),
    "quarantine_key": (quarantine_key, QUARANTINE_PREFIX, ".parquet"),
    "extract_report_key": (extract_report_key, EXTRACT_PREFIX, ".json"),
    "features_key": (features_key, FEATURES_PREFIX, ".parquet"),
    "lineage_key": (lineage_key, "_lineage/", ".json"),
    "score_key": (lambda d: score_key("m-1", d), "scores/m-1/", ".parquet"),
}


# ------------------------------------------------------------------------------------------ envelope


@given(IDS, st.integers(0, 10**15 - 1), st.integers(0, 10**18 - 1))
def test_member_names_round_trip(robot_id: str, sent_at: int, seq: int) -> None:
    name = member_name(robot_id, sent_at, seq)
    assert name == f"{robot_id}/{sent_at}-{seq}.json.gz"
    assert parse_member_name(name) == (robot_id, sent_at, seq)


@pytest.mark.parametrize(
    "name",
    [
        "amr-0007/1763719205123-18231.json",  # not gzip
        "amr-0007/1763719205123.json.gz",  # no seq
        "amr-0007/1763719205123-x.json.gz",  # seq not a number
        "amr-0007/-1-2.json.gz",  # negative sent_at
        "amr-0007/1234567890123456-1.json.gz",  # sent_at beyond 15 digits
        "a/b/1763719205123-1.json.gz",  # nested path
        "-amr/1763719205123-1.json.gz",  # id starting with a separator
        "/1763719205123-1.json.gz",  # empty robot id
        "amr-0007/1763719205123-1.json.gz/",
    ],
)
def test_parse_member_name_refuses_names_outside_the_contract(name: str) -> None:
    assert parse_member_name(name) is None


@given(IDS)
def test_generated_ids_are_robot_ids(robot_id: str) -> None:
    assert ROBOT_ID_RE.match(robot_id)


@pytest.mark.parametrize("robot_id", ["", "-amr", ".amr", "amr/1", "amr 1", "a" * 65])
def test_robot_id_re_refuses_malformed_ids(robot_id: str) -> None:
    assert ROBOT_ID_RE.match(robot_id) is None


def test_the_envelope_schema_states_the_same_ids_and_schema_name() -> None:
    properties = envelope_json_schema()["properties"]
    assert properties["schema"] == {"const": SCHEMA_ID}
    for key in ("fleet", "robot_id"):
        assert properties[key]["pattern"] == f"^{ID_PATTERN}$"


@given(DATES)
def test_a_day_is_the_half_open_utc_interval(date: dt.date) -> None:
    """``[start, end)``: the first millisecond belongs to the day, ``end`` to the next one."""
    start, end = day_bounds_ms(date)
    assert start == (date - EPOCH).days * DAY_MS  # brute force: whole days since the epoch
    assert end - start == DAY_MS
    assert day_of_ms(start) == date
    assert day_of_ms(end - 1) == date
    assert day_of_ms(end) == date + dt.timedelta(days=1)


# ------------------------------------------------------------------------------------------ layout


@given(DAYS)
def test_day_zip_keys_round_trip(day: DayKey) -> None:
    key = day_zip_key(day.fleet, day.date, day.robot_id)
    assert key == day.key == f"fleet={day.fleet}/date={day.date.isoformat()}/{day.robot_id}.zip"
    assert parse_day_zip_key(key) == day
    assert parse_day_zip_key(f"s3://bucket/raw/{key}") == day  # any prefix before fleet=


@given(DAYS, st.sampled_from(sorted(PARTITION_KEYS)))
def test_partition_keys_round_trip(day: DayKey, builder: str) -> None:
    build, prefix, suffix = PARTITION_KEYS[builder]
    key = build(day)
    assert key == f"{prefix}fleet={day.fleet}/date={day.date.isoformat()}/{day.robot_id}{suffix}"
    assert parse_partition_key(key, prefix, suffix) == day


@given(DAYS)
def test_fleet_and_date_prefixes_round_trip(day: DayKey) -> None:
    fleet_dir, date_dir, rest = date_prefix(day.fleet, day.date).split("/")
    assert rest == ""
    assert fleet_prefix(day.fleet) == f"{fleet_dir}/"
    assert fleet_of_dir(fleet_dir) == day.fleet
    assert date_of_dir(date_dir) == day.date
    assert day_zip_key(day.fleet, day.date, day.robot_id).startswith(date_prefix(day.fleet, day.date))


def test_keys_without_a_partition_have_their_documented_form() -> None:
    fixed = {
        ground_truth_key("acme-dc3"): "fleet=acme-dc3/_truth/ground_truth.json",
        units_key("pdm"): "units/pdm.parquet",
        run_manifest_key("20261122T000000Z-abc123"): "_runs/20261122T000000Z-abc123.json",
        model_prefix("m-1"): "models/m-1/",
        LEASE_KEY: "_lock/lease.json",
    }
    for key, expected in fixed.items():
        assert key == expected
        assert parse_day_zip_key(key) is None  # never mistaken for a robot-day
    assert run_manifest_key("r").startswith(RUNS_PREFIX)


@pytest.mark.parametrize(
    "key",
    [
        "fleet=acme/date=2026-11-02/amr-1.zip.tmp",  # not a zip
        "fleet=acme/date=2026-13-02/amr-1.zip",  # impossible month
        "fleet=acme/date=2026-02-30/amr-1.zip",  # impossible day
        "fleet=acme/date=2026-1-02/amr-1.zip",  # unpadded month
        "fleet=/date=2026-11-02/amr-1.zip",  # empty fleet
        "fleet=acme/date=2026-11-02/.zip",  # empty robot
        "fleet=acme/2026-11-02/amr-1.zip",  # no date=
        "date=2026-11-02/amr-1.zip",  # no fleet=
        "fleet=acme/date=2026-11-02/x/amr-1.zip",  # extra segment
        "myfleet=acme/date=2026-11-02/amr-1.zip",  # fleet= not at a segment start
    ],
)
def test_parse_day_zip_key_refuses_malformed_keys(key: str) -> None:
    assert parse_day_zip_key(key) is None


@pytest.mark.parametrize(
    ("key", "prefix", "suffix"),
    [
        ("features/fleet=a/date=2026-11-02/r.json", FEATURES_PREFIX, ".parquet"),  # other suffix
        ("quarantine/fleet=a/date=2026-11-02/r.parquet", FEATURES_PREFIX, ".parquet"),  # other prefix
        ("features/fleet=a/date=2026-11-02/x/r.parquet", FEATURES_PREFIX, ".parquet"),  # extra segment
        ("features/fleet=a/date=2026-11-02.parquet", FEATURES_PREFIX, ".parquet"),  # no robot
        ("features/fleet=a/2026-11-02/r.parquet", FEATURES_PREFIX, ".parquet"),  # no date=
        ("features/a/date=2026-11-02/r.parquet", FEATURES_PREFIX, ".parquet"),  # no fleet=
        ("features/fleet=/date=2026-11-02/r.parquet", FEATURES_PREFIX, ".parquet"),  # empty fleet
        ("features/fleet=a/date=2026-11-02/.parquet", FEATURES_PREFIX, ".parquet"),  # empty robot
        ("features/fleet=a/date=2026-02-30/r.parquet", FEATURES_PREFIX, ".parquet"),  # impossible date
        ("features/fleet=a/date=today/r.parquet", FEATURES_PREFIX, ".parquet"),  # not a date
    ],
)
def test_parse_partition_key_refuses_malformed_keys(key: str, prefix: str, suffix: str) -> None:
    assert parse_partition_key(key, prefix, suffix) is None


@pytest.mark.parametrize("name", ["fleet=", "fleet=a/b", "fleet", "date=2026-11-02", "xfleet=a"])
def test_fleet_of_dir_refuses_other_names(name: str) -> None:
    assert fleet_of_dir(name) is None


@pytest.mark.parametrize(
    "name", ["date=", "date=2026-02-30", "date=2026-1-2", "date=2026-11-02/", "fleet=a", "2026-11-02"]
)
def test_date_of_dir_refuses_other_names(name: str) -> None:
    assert date_of_dir(name) is None


@given(st.lists(DAYS, max_size=20))
def test_day_keys_sort_by_fleet_then_date_then_robot(days: list[DayKey]) -> None:
    assert sorted(days) == sorted(days, key=lambda d: (d.fleet, d.date.toordinal(), d.robot_id))


def test_day_key_order_is_chronological_within_a_fleet() -> None:
    later_robot_earlier_day = DayKey("acme", dt.date(2026, 11, 2), "zz")
    earlier_robot_later_day = DayKey("acme", dt.date(2026, 11, 3), "aa")
    other_fleet = DayKey("acme-dc3", dt.date(2026, 1, 1), "aa")
    assert sorted([other_fleet, earlier_robot_later_day, later_robot_earlier_day]) == [
        later_robot_earlier_day,
        earlier_robot_later_day,
        other_fleet,
    ]
    assert str(DAY) == "acme-dc3/2026-11-02/amr-0007"
