"""The deployed loop: the ``train`` and ``score`` stages of ``telemetry run`` (``features`` is
:func:`telemetry.run.pipeline.run_features`).

**train** (weekly, say): a model of the first of ``train.targets`` (``any`` when that is ``modes``) on the
``train.span_days`` UTC days ending at the run's last day, written under ``models/<model_id>/``, then
promoted by ``train.promotion`` (:func:`telemetry.io.models.promote_candidate`). The model id
is a hash of its inputs: a re-run over unchanged features finds the model already stored and trains nothing.

**score** (daily), for each UTC day ``d`` of the run, in order:

1. read the feature partitions of ``d`` and of ``d - 1`` (an incident open at midnight began on the
   previous day: its rows decide that ``d``'s first rows continue it rather than open a new one);
2. score them with the current model (``models/current.json``) or the one given, and write ``d``'s scores;
3. incidents over both days (:func:`telemetry.stages.incidents.incidents`, suppressed by the robots' events
   of both days); those that opened in ``[d 00:00, d+1 00:00)`` UTC are ``d``'s alerts, written to
   ``alerts/fleet=<f>/date=<d>/`` (:mod:`telemetry.io.alerts`);
4. event-level figures of ``d``: the failures with ``ts`` in ``[d, d+1)`` (events of kind
   ``labels.failure_kind``) against the incidents of both days
   (:func:`telemetry.stages.incidents.event_metrics`);
5. write ``_scored/fleet=<f>/date=<d>.json`` last: the model id, the fingerprints of the partitions read and
   the figures. A day whose record names the same model and partitions is skipped (a re-run does nothing);
   a run stopped before the record scores the day again, and every file is written whole, so a stop leaves
   nothing partial;
6. deliver ``d``'s unsuppressed alerts to ``alerts.webhook_url`` when set (only those not delivered yet, also
   on a skipped day). A failed delivery keeps the alerts in the store and makes the day ``partial``.
"""

from __future__ import annotations

import datetime as dt
import io
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from telemetry.config import TelemetryConfig
from telemetry.contract.envelope import DAY_MS
from telemetry.contract.layout import DayKey, model_prefix, scored_day_key, signal_key
from telemetry.errors import AlertDeliveryError
from telemetry.io.alerts import alerts_opened_on, deliver_alerts, read_alerts, write_alerts
from telemetry.io.models import load_current_model
from telemetry.io.registry import list_feature_partitions, read_feature_set, write_scores
from telemetry.io.store import Store
from telemetry.stages.incidents import event_metrics, incidents
from telemetry.stages.score import Model, score_features
from telemetry.stages.train import FeatureSet

__all__ = [
    "DayScore",
    "TrainResult",
    "day_events",
    "day_line",
    "loop_target",
    "score_day",
    "score_days",
    "train_span",
]

Progress = Callable[[str], None]


@dataclass(slots=True)
class DayScore:
    """What the score stage did for one UTC day."""

    date: dt.date
    model_id: str
    skipped: bool
    robot_days: int = 0
    cutoffs: int = 0
    incidents: int = 0
    suppressed: int = 0
    events: dict[str, Any] = field(default_factory=dict)
    delivered: int = 0
    delivery_error: str | None = None

    @property
    def partial(self) -> bool:
        """The day's alerts are stored but the sink did not take them all."""
        return self.delivery_error is not None


@dataclass(slots=True)
class TrainResult:
    """What the train stage did: the model (trained now or found stored) and the promotion decision."""

    model_id: str | None
    url: str | None
    trained: bool
    promoted: bool
    reason: str
    model: Any = None  # the TrainedModel when trained now

    @property
    def skipped(self) -> bool:
        """No model this run (not a training day, or too few days for a first one)."""
        return self.model_id is None


def loop_target(config: TelemetryConfig) -> str:
    """The loop's target: the first of ``train.targets``; ``any`` when that is ``modes``."""
    first = config.train.targets[0]
    return "any" if first == "modes" else first


def train_span(config: TelemetryConfig, end: dt.date) -> tuple[dt.date | None, dt.date]:
    """``[first, end]`` days the train stage reads: ``train.span_days`` days ending at `end` (None: from the
    first day of the store)."""
    days = config.train.span_days
    return (None if days is None else end - dt.timedelta(days=days - 1)), end


def train_stage(
    out: Store, config: TelemetryConfig, end: dt.date, *, progress: Progress | None = None
) -> TrainResult:
    """Train the loop's model on the span ending at `end`, store it and decide its promotion
    (``train.promotion``); a model already stored with the same id (same features, config, split) is not
    trained again, and its promotion is decided again only when it is not current.

    Nothing is trained when `end` is not the ``train.weekday`` (unless there is no current model yet), nor
    when there is no current model and fewer than 3 days of features.

    Raises:
        NothingToDoError: no feature partitions in the span.
        ModelError: the span cannot train a model (e.g. no positive in the training or validation days).
    """
    from telemetry.io.models import current_model, promote_candidate
    from telemetry.io.registry import write_model
    from telemetry.run.train import train_models
    from telemetry.stages.train import model_id_for

    current = current_model(out)
    weekday = config.train.weekday
    if current is not None and weekday is not None and end.isoweekday() != weekday:
        return TrainResult(
            None, None, False, False, f"not a training day ({end} is a {end:%A}; train.weekday {weekday})"
        )
    first, last = train_span(config, end)
    features = read_feature_set(out, config.fleet, first, last, list(config.run.robots) or None)
    if current is None and len(features.dates) < 3:
        return TrainResult(
            None, None, False, False,
            f"no model yet and {len(features.dates)} day(s) of features: a first model needs 3 (training, "
            "validation and test days)",
        )  # fmt: skip
    target = loop_target(config)
    model_id = model_id_for(target, features, config.train, config.alerts)
    url = f"{out.url}/{model_prefix(model_id).rstrip('/')}"
    if out.exists(model_prefix(model_id) + "metadata.json"):
        if current is not None and current["model_id"] == model_id:
            return TrainResult(model_id, url, False, False, "already current")
        decision = promote_candidate(out, model_id, features, config.train.promotion)
        return TrainResult(model_id, url, False, decision.promoted, decision.reason)
    (trained,) = train_models(features, config, targets=[target], progress=progress)
    url = write_model(out, trained)
    decision = promote_candidate(out, trained.model_id, features, config.train.promotion)
    return TrainResult(trained.model_id, url, True, decision.promoted, decision.reason, trained)


def _events_of(out: Store, config: TelemetryConfig, days: Sequence[DayKey]) -> pd.DataFrame:
    """The extracted events (``robot_id, ts, kind, code``) of robot-days `days`, deduplicated (a day's file
    may hold events of its neighbours' slack)."""
    spec = config.events_signal
    columns = ["robot_id", "ts", "kind", "code"]
    if spec is None:
        return pd.DataFrame({c: pd.Series(dtype="int64" if c == "ts" else object) for c in columns})
    parts = []
    for day in days:
        key = signal_key(spec.name, day)
        if out.exists(key):
            table = pq.read_table(io.BytesIO(out.read_bytes(key)), columns=["ts", "kind", "code"])
            frame = table.to_pandas()
            frame.insert(0, "robot_id", day.robot_id)
            parts.append(frame)
    if not parts:
        return pd.DataFrame({c: pd.Series(dtype="int64" if c == "ts" else object) for c in columns})
    events: pd.DataFrame = pd.concat(parts, ignore_index=True).drop_duplicates()
    events["ts"] = events["ts"].astype(np.int64)
    return events.sort_values(["robot_id", "ts"]).reset_index(drop=True)


def _record(out: Store, fleet: str, date: dt.date) -> dict[str, Any] | None:
    key = scored_day_key(fleet, date)
    if not out.exists(key):
        return None
    data: dict[str, Any] = json.loads(out.read_bytes(key))
    return data


def _fingerprint(features: FeatureSet) -> list[dict[str, str]]:
    return [p.to_dict() for p in sorted(features.partitions, key=lambda p: p.key)]


def _day_features(out: Store, config: TelemetryConfig, date: dt.date) -> tuple[FeatureSet, int] | None:
    """Features of `date` and of the day before, for the robots that have `date` (each partition read once),
    and how many robot-days `date` has; None when it has none."""
    robots = list(config.run.robots) or None
    listed = list_feature_partitions(out, config.fleet, date, date, robots)
    if not listed:
        return None
    ids = sorted({day.robot_id for day, _ in listed})
    both = read_feature_set(out, config.fleet, date - dt.timedelta(days=1), date, ids)
    return both, len(listed)


_FAILURE_SIDE = ("failures", "caught", "recall", "lead_s", "lead_times_s")


def day_events(
    incidents_read: pd.DataFrame,
    incidents_of_day: pd.DataFrame,
    failures: pd.DataFrame,
    *,
    day_start: int,
    horizon_s: float,
    robot_days: int,
) -> dict[str, Any]:
    """Event-level figures of the UTC day ``[day_start, day_start + 1 day)`` (epoch ms), each thing counted
    on the day it happened, so that the figures of consecutive days add up:

    - its **failures** (``ts`` in the day) and whether an incident caught them: any of `incidents_read`
      (those of the day before count: an incident opened at 23:58 catches a failure at 00:01), with the lead
      times (:func:`telemetry.stages.incidents.event_metrics`);
    - its **incidents** (`incidents_of_day`, opened in the day), true or false against `failures` (of the days
      read; a failure after the day's end is not known yet, so an incident in the day's last horizon is
      judged on what is known).

    Returns :func:`~telemetry.stages.incidents.event_metrics`' keys, ``per_code`` merged the same way.
    """
    on_day = failures[(failures["ts"] >= day_start) & (failures["ts"] < day_start + DAY_MS)]
    by_failure = event_metrics(incidents_read, on_day, horizon_s=horizon_s, robot_days=robot_days)
    by_incident = event_metrics(incidents_of_day, failures, horizon_s=horizon_s, robot_days=robot_days)
    merged = {**by_incident, **{key: by_failure[key] for key in _FAILURE_SIDE}}
    caught = int(merged["caught"] or 0)
    merged["incidents_per_failure_caught"] = merged["incidents"] / caught if caught else None
    codes = sorted(set(by_failure["per_code"]) | set(by_incident["per_code"]))
    merged["per_code"] = {
        code: {
            **{key: (by_failure["per_code"].get(code) or {}).get(key) for key in _FAILURE_SIDE},
            "true_incidents": (by_incident["per_code"].get(code) or {}).get("true_incidents", 0),
        }
        for code in codes
    }
    for entry in merged["per_code"].values():
        entry["failures"] = entry["failures"] or 0
        entry["caught"] = entry["caught"] or 0
    return merged


def score_day(
    out: Store, config: TelemetryConfig, model: Model, date: dt.date, *, force: bool = False
) -> DayScore | None:
    """Score one UTC day with `model` and write its scores, alerts and record (see the module docstring).

    Returns None when the day has no feature partitions (nothing to score).
    """
    found = _day_features(out, config, date)
    if found is None:
        return None
    features, robot_days = found
    fleet = config.fleet
    inputs = _fingerprint(features)
    record = _record(out, fleet, date)
    if (
        not force
        and record is not None
        and record["model_id"] == model.model_id
        and record["inputs"] == inputs
    ):
        return DayScore(date, model.model_id, True, **record["figures"])

    scores = score_features(model, features, top_k=config.alerts.top_k)
    lo = (date - dt.date(1970, 1, 1)).days * DAY_MS
    on_day = (scores["cutoff"] >= lo) & (scores["cutoff"] < lo + DAY_MS)
    write_scores(out, model, scores[on_day].reset_index(drop=True), fleet)

    events = _events_of(out, config, [p.day for p in features.partitions])
    found_incidents = incidents(scores, threshold=model.threshold, alerts=config.alerts, events=events)
    opened_today = alerts_opened_on(found_incidents, date)
    write_alerts(out, fleet, date, opened_today.reset_index(drop=True))

    failures = events[events["kind"] == config.labels.failure_kind][["robot_id", "ts", "code"]]
    figures: dict[str, Any] = {
        "robot_days": robot_days,
        "cutoffs": int(on_day.sum()),
        "incidents": len(opened_today),
        "suppressed": int(opened_today["suppressed"].sum()),
        "events": day_events(
            found_incidents, opened_today, failures, day_start=lo, horizon_s=config.labels.horizon_s,
            robot_days=robot_days,
        ),
    }  # fmt: skip
    out.write_bytes(
        scored_day_key(fleet, date),
        json.dumps(
            {
                "model_id": model.model_id,
                "inputs": inputs,
                "scored_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
                "figures": figures,
            },
            indent=1,
            sort_keys=True,
            default=str,
        ).encode(),
    )
    return DayScore(date, model.model_id, False, **figures)


def _deliver(out: Store, config: TelemetryConfig, date: dt.date, result: DayScore) -> None:
    url = config.alerts.webhook_url
    if url is None:
        return
    alerts = read_alerts(out, config.fleet, date, date)
    try:
        delivery = deliver_alerts(
            out, config.fleet, date, alerts, url=url, retries=config.alerts.webhook_retries,
            timeout_s=config.alerts.webhook_timeout_s,
        )  # fmt: skip
    except AlertDeliveryError as exc:
        result.delivery_error = str(exc)
        return
    result.delivered = len(delivery.delivered)


def score_days(
    out: Store,
    config: TelemetryConfig,
    start: dt.date,
    end: dt.date,
    *,
    model: Model | None = None,
    progress: Progress | None = None,
) -> list[DayScore]:
    """Score the UTC days ``[start, end]`` (inclusive) one after the other (see the module docstring).

    Raises:
        ModelError: no model given and the store has no current model.
    """
    model = model or load_current_model(out.url, config.store.s3)
    results = []
    date = start
    while date <= end:
        result = score_day(out, config, model, date)
        if result is not None:
            _deliver(out, config, date, result)
            results.append(result)
            if progress is not None:
                progress(day_line(result))
        date += dt.timedelta(days=1)
    return results


def day_line(result: DayScore) -> str:
    """One line per scored day: incidents, failures caught, median lead time, false incidents per
    robot-day (what an operator reads first)."""
    ev = result.events or {}

    def num(value: object, fmt: str) -> str:
        return format(value, fmt) if isinstance(value, (int, float)) else "-"

    lead = (ev.get("lead_s") or {}).get("median") if isinstance(ev.get("lead_s"), dict) else None
    false_rate = ev.get("false_incidents_per_robot_day")
    text = (
        f"{result.date}  {result.robot_days} robots  incidents {result.incidents}"
        f" ({result.suppressed} suppressed)  failures {ev.get('failures', 0)}, caught {ev.get('caught', 0)}"
        f"  median lead {num(lead, '.0f')} s  false incidents/robot-day {num(false_rate, '.2f')}"
    )
    if result.skipped:
        text += "  (already scored: nothing to do)"
    if result.delivery_error:
        text += f"  DELIVERY FAILED: {result.delivery_error}"
    elif result.delivered:
        text += f"  delivered {result.delivered}"
    return text
