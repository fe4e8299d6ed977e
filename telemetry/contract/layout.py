"""Every store key the project reads or writes: its format and its parse, in one place.

Raw root (written by fleets, the simulator and the importers)::

    fleet=<fleet>/date=<YYYY-MM-DD>/<robot_id>.zip      one day zip per robot-day (versioned objects)
    fleet=<fleet>/_truth/ground_truth.json              what a simulator injected
    units/<fleet>.parquet                                a units table written by ``import-csv --units``

Output root (written by the pipeline, training and scoring)::

    signals/<signal>/<partition>.parquet    quarantine/<partition>.parquet    _extract/<partition>.json
    features/<partition>.parquet            _lineage/<partition>.json
    _runs/<run_id>.json                     _lock/lease.json
    models/<model_id>/...                   scores/<model_id>/<partition>.parquet
    models/current.json                     models/promotions.jsonl
    alerts/fleet=<fleet>/date=<YYYY-MM-DD>/alerts.parquet  (and alerts.jsonl, delivered.json)
    _scored/fleet=<fleet>/date=<YYYY-MM-DD>.json           what scored a day (written last)

where ``<partition>`` is ``fleet=<fleet>/date=<YYYY-MM-DD>/<robot_id>``. Dates are UTC days.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

from telemetry.contract.envelope import ID_PATTERN

__all__ = [
    "ALERTS_PREFIX",
    "CURRENT_MODEL_KEY",
    "EXTRACT_PREFIX",
    "FEATURES_PREFIX",
    "LEASE_KEY",
    "MODELS_PREFIX",
    "PROMOTIONS_KEY",
    "QUARANTINE_PREFIX",
    "RUNS_PREFIX",
    "DayKey",
    "alerts_delivery_key",
    "alerts_jsonl_key",
    "alerts_key",
    "date_of_dir",
    "date_prefix",
    "day_zip_key",
    "extract_report_key",
    "features_key",
    "fleet_of_dir",
    "fleet_prefix",
    "ground_truth_key",
    "lineage_key",
    "model_prefix",
    "parse_day_zip_key",
    "parse_partition_key",
    "partition",
    "quarantine_key",
    "run_manifest_key",
    "score_key",
    "scored_day_key",
    "signal_key",
    "units_key",
]

_DAY_ZIP_RE = re.compile(
    rf"(?:^|/)fleet=(?P<fleet>{ID_PATTERN})/date=(?P<date>\d{{4}}-\d{{2}}-\d{{2}})/(?P<robot>{ID_PATTERN})\.zip$"
)
_FLEET_DIR_RE = re.compile(r"^fleet=([^/]+)$")
_DATE_DIR_RE = re.compile(r"^date=(\d{4}-\d{2}-\d{2})$")

EXTRACT_PREFIX = "_extract/"
FEATURES_PREFIX = "features/"
QUARANTINE_PREFIX = "quarantine/"
RUNS_PREFIX = "_runs/"
LEASE_KEY = "_lock/lease.json"
MODELS_PREFIX = "models/"
CURRENT_MODEL_KEY = "models/current.json"
PROMOTIONS_KEY = "models/promotions.jsonl"
ALERTS_PREFIX = "alerts/"


@dataclass(frozen=True, slots=True, order=True)
class DayKey:
    """One robot-day: the unit of storage and of work."""

    fleet: str
    date: dt.date
    robot_id: str

    @property
    def key(self) -> str:
        """Relative object key of this robot-day's zip."""
        return day_zip_key(self.fleet, self.date, self.robot_id)

    def __str__(self) -> str:
        return f"{self.fleet}/{self.date.isoformat()}/{self.robot_id}"


# ---------------------------------------------------------------------------------------------- raw


def day_zip_key(fleet: str, date: dt.date, robot_id: str) -> str:
    """``fleet=<fleet>/date=<YYYY-MM-DD>/<robot_id>.zip`` (relative to the raw root)."""
    return f"fleet={fleet}/date={date.isoformat()}/{robot_id}.zip"


def parse_day_zip_key(key: str) -> DayKey | None:
    """The robot-day of an object key (any prefix allowed), or None when the key is not a day zip."""
    m = _DAY_ZIP_RE.search(key)
    if m is None:
        return None
    try:
        date = dt.date.fromisoformat(m["date"])
    except ValueError:
        return None
    return DayKey(m["fleet"], date, m["robot"])


def fleet_prefix(fleet: str) -> str:
    """``fleet=<fleet>/``: where a fleet's day zips (raw root) or partitions (under an output prefix)
    start."""
    return f"fleet={fleet}/"


def date_prefix(fleet: str, date: dt.date) -> str:
    """``fleet=<fleet>/date=<YYYY-MM-DD>/``: where one day of a fleet starts."""
    return f"{fleet_prefix(fleet)}date={date.isoformat()}/"


def fleet_of_dir(name: str) -> str | None:
    """The fleet of a directory name ``fleet=<fleet>``, or None."""
    m = _FLEET_DIR_RE.match(name)
    return m[1] if m else None


def date_of_dir(name: str) -> dt.date | None:
    """The date of a directory name ``date=<YYYY-MM-DD>``, or None (also for an impossible date)."""
    m = _DATE_DIR_RE.match(name)
    if m is None:
        return None
    try:
        return dt.date.fromisoformat(m[1])
    except ValueError:
        return None


def ground_truth_key(fleet: str) -> str:
    """``fleet=<fleet>/_truth/ground_truth.json`` (raw root): what a simulator injected."""
    return f"fleet={fleet}/_truth/ground_truth.json"


def units_key(fleet: str) -> str:
    """``units/<fleet>.parquet`` (raw root): the units table written by ``import-csv --units``."""
    return f"units/{fleet}.parquet"


# ------------------------------------------------------------------------------------------ outputs


def partition(day: DayKey) -> str:
    """``fleet=<fleet>/date=<YYYY-MM-DD>/<robot_id>``: a robot-day's part of every per-partition key."""
    return f"fleet={day.fleet}/date={day.date.isoformat()}/{day.robot_id}"


def parse_partition_key(key: str, prefix: str, suffix: str) -> DayKey | None:
    """The robot-day of ``<prefix><partition><suffix>``, or None when `key` is not of that form."""
    if not key.startswith(prefix) or not key.endswith(suffix):
        return None
    parts = key[len(prefix) : len(key) - len(suffix)].split("/")
    if len(parts) != 3 or not parts[0].startswith("fleet=") or not parts[1].startswith("date="):
        return None
    try:
        date = dt.date.fromisoformat(parts[1][len("date=") :])
    except ValueError:
        return None
    fleet, robot = parts[0][len("fleet=") :], parts[2]
    if not fleet or not robot:
        return None
    return DayKey(fleet, date, robot)


def signal_key(signal: str, day: DayKey) -> str:
    """``signals/<signal>/<partition>.parquet``: one signal's table of a robot-day."""
    return f"signals/{signal}/{partition(day)}.parquet"


def quarantine_key(day: DayKey) -> str:
    """``quarantine/<partition>.parquet``: the members of a robot-day that were refused, with reasons."""
    return f"{QUARANTINE_PREFIX}{partition(day)}.parquet"


def extract_report_key(day: DayKey) -> str:
    """``_extract/<partition>.json``: the extraction report (written last; names the raw version)."""
    return f"{EXTRACT_PREFIX}{partition(day)}.json"


def features_key(day: DayKey) -> str:
    """``features/<partition>.parquet``: a robot-day's feature rows."""
    return f"{FEATURES_PREFIX}{partition(day)}.parquet"


def lineage_key(day: DayKey) -> str:
    """``_lineage/<partition>.json``: the inputs and configuration a feature partition was built from."""
    return f"_lineage/{partition(day)}.json"


def run_manifest_key(run_id: str) -> str:
    """``_runs/<run_id>.json``: what one run listed, computed and skipped."""
    return f"{RUNS_PREFIX}{run_id}.json"


def model_prefix(model_id: str) -> str:
    """``models/<model_id>/``: the folder of one trained model."""
    return f"{MODELS_PREFIX}{model_id}/"


def score_key(model_id: str, day: DayKey) -> str:
    """``scores/<model_id>/<partition>.parquet``: a model's risk per cutoff of a robot-day."""
    return f"scores/{model_id}/{partition(day)}.parquet"


def alerts_key(fleet: str, date: dt.date) -> str:
    """``alerts/fleet=<fleet>/date=<YYYY-MM-DD>/alerts.parquet``: the alerts of the incidents that opened on
    one UTC day of a fleet."""
    return f"{ALERTS_PREFIX}{date_prefix(fleet, date)}alerts.parquet"


def alerts_jsonl_key(fleet: str, date: dt.date) -> str:
    """``alerts/fleet=<fleet>/date=<YYYY-MM-DD>/alerts.jsonl``: the same alerts as JSON lines."""
    return f"{ALERTS_PREFIX}{date_prefix(fleet, date)}alerts.jsonl"


def alerts_delivery_key(fleet: str, date: dt.date) -> str:
    """``alerts/fleet=<fleet>/date=<YYYY-MM-DD>/delivered.json``: which of a day's alerts a sink accepted."""
    return f"{ALERTS_PREFIX}{date_prefix(fleet, date)}delivered.json"


def scored_day_key(fleet: str, date: dt.date) -> str:
    """``_scored/fleet=<fleet>/date=<YYYY-MM-DD>.json``: the model and feature partitions that scored a day,
    written after its scores and alerts (a day without it is scored again)."""
    return f"_scored/{date_prefix(fleet, date).rstrip('/')}.json"
