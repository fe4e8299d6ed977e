"""Incidents, their event-level evaluation and the incident-budget threshold
(``telemetry/stages/incidents.py``) against deliberately simple references written from the rules in
docs/time-semantics.md ("Incidents"), plus one example per boundary.

The references walk the rows one by one with a state machine (open / continue / close), check every event
and every failure against every incident, and find the threshold by counting incidents at every distinct
risk from the top. The fast code shares none of that: it works on segments of active rows, binary searches
and, for the threshold, a Kruskal merge of a forest.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from telemetry.config import AlertsConfig
from telemetry.stages.incidents import (
    INCIDENT_COLUMNS,
    caught_failures,
    event_metrics,
    failures_from_labels,
    incident_threshold,
    incidents,
    true_incidents,
)

STEP = 5_000  # the grid step of the examples, ms
T0 = 1_780_000_000_000  # an epoch-ms instant on the 5 s grid


# ---------------------------------------------------------------------------------------- references


def _iso(ms: int) -> str:
    text = dt.datetime.fromtimestamp(ms / 1000, dt.UTC).strftime("%Y-%m-%dT%H:%M:%S")
    return f"{text}.{ms % 1000:03d}Z" if ms % 1000 else f"{text}Z"


def reference_incidents(
    rows: list[tuple[str, int, float]],
    threshold: float,
    alerts: AlertsConfig,
    events: list[tuple[str, int, str, str | None]] = (),  # type: ignore[assignment]
    until: int | None = None,
) -> list[dict[str, Any]]:
    """Per robot, rows in cutoff order, one at a time: the rules of the docs, as written."""
    low = alerts.hysteresis * threshold
    quiet = round(alerts.quiet_s * 1000)
    out = []
    for robot in sorted({r for r, _, _ in rows}):
        mine = sorted((c, risk) for r, c, risk in rows if r == robot)
        end = mine[-1][0] if until is None else until
        current: dict[str, Any] | None = None
        for cutoff, risk in mine:
            if current is not None and cutoff - current["last_active"] > quiet:
                current["closed"] = current["last_active"] + quiet
                out.append(current)
                current = None
            if current is None:
                if risk >= threshold:
                    current = {"robot_id": robot, "opened": cutoff, "last_active": cutoff, "closed": None,
                               "peak_cutoff": cutoff, "peak_risk": risk, "rows": 1, "cutoffs": 1}  # fmt: skip
            else:
                current["rows"] += 1
                if risk >= low:
                    current["last_active"] = cutoff
                    current["cutoffs"] = current["rows"]
                    if risk > current["peak_risk"]:
                        current["peak_cutoff"], current["peak_risk"] = cutoff, risk
        if current is not None:
            if current["last_active"] + quiet <= end:
                current["closed"] = current["last_active"] + quiet
            out.append(current)
    suppress = round(alerts.suppress_s * 1000)
    for incident in out:
        del incident["rows"]
        hits = [
            (ts, kind, code or "")
            for robot, ts, kind, code in events
            if robot == incident["robot_id"] and kind in alerts.suppress_kinds
            and ts <= incident["opened"] < ts + suppress
        ]  # fmt: skip
        incident["suppressed"] = bool(hits)
        incident["suppressed_by"] = None
        if hits:
            ts, kind, code = max(hits)
            incident["suppressed_by"] = f"{kind}{' ' + code if code else ''} at {_iso(ts)}"
    return sorted(out, key=lambda i: (i["opened"], i["robot_id"]))


def reference_threshold(
    rows: list[tuple[str, int, float]],
    budget: float,
    robot_days: float,
    alerts: AlertsConfig,
    events: list[tuple[str, int, str, str | None]] = (),  # type: ignore[assignment]
) -> float:
    """Lower the threshold through every distinct risk; stop before the first over budget."""
    if not rows:
        return 1.0
    candidates = sorted({risk for _, _, risk in rows}, reverse=True)
    previous = None
    for candidate in candidates:
        found = reference_incidents(rows, candidate, alerts, events)
        if sum(not i["suppressed"] for i in found) > budget * robot_days + 1e-9:
            return previous if previous is not None else math.nextafter(candidate, math.inf)
        previous = candidate
    return candidates[-1]


def reference_event_metrics(
    found: list[dict[str, Any]],
    failures: list[tuple[str, int, str | None]],
    horizon_ms: int,
    robot_days: float,
) -> dict[str, Any]:
    live = [i for i in found if not i["suppressed"]]
    leads = []
    for robot, ts, _code in failures:
        opens = [i["opened"] for i in live if i["robot_id"] == robot and ts - horizon_ms <= i["opened"] < ts]
        if opens:
            leads.append((ts - min(opens)) / 1000)
    true = [i for i in live if any(r == i["robot_id"] and i["opened"] < ts <= i["opened"] + horizon_ms
                                   for r, ts, _ in failures)]  # fmt: skip
    return {
        "failures": len(failures),
        "caught": len(leads),
        "lead_times_s": sorted(leads),
        "incidents": len(live),
        "true_incidents": len(true),
        "false_incidents": len(live) - len(true),
        "false_incidents_per_robot_day": (len(live) - len(true)) / robot_days,
        "suppressed": len(found) - len(live),
    }


# ----------------------------------------------------------------------------------------- strategies

RISKS = [0.0, 0.05, 0.1, 0.2, 0.25, 0.3, 0.4, 0.5, 0.6, 0.8, 1.0]  # 0.5 * 0.4 == 0.2: rows exactly at L


@st.composite
def score_rows(draw: st.DrawFn, max_rows: int = 40) -> list[tuple[str, int, float]]:
    rows = []
    for robot in draw(st.lists(st.sampled_from(["a", "b", "c"]), min_size=1, max_size=3, unique=True)):
        cutoff = T0 + STEP * draw(st.integers(0, 3))
        for _ in range(draw(st.integers(0, max_rows))):
            rows.append((robot, cutoff, draw(st.sampled_from(RISKS) | st.floats(0, 1))))
            cutoff += STEP * draw(st.sampled_from([1, 1, 1, 1, 2, 3, 7]))  # gaps: excluded cutoffs
    return rows


alerts_st = st.builds(
    lambda h, q, s: AlertsConfig(hysteresis=h, quiet_s=q, suppress_s=s),
    st.sampled_from([0.25, 0.5, 0.8, 1.0]),
    st.sampled_from([0.0, 4.0, 5.0, 10.0, 12.5, 30.0]),
    st.sampled_from([0.0, 5.0, 10.0, 60.0]),
)


@st.composite
def event_rows(draw: st.DrawFn) -> list[tuple[str, int, str, str | None]]:
    return draw(
        st.lists(
            st.tuples(
                st.sampled_from(["a", "b", "c"]),
                st.integers(T0 - 20_000, T0 + 60 * STEP),
                st.sampled_from(["maintenance", "recovery", "warning"]),
                st.sampled_from([None, "M1", "M2"]),
            ),
            max_size=6,
        )
    )


def _frame(rows: list[tuple[str, int, float]]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "robot_id": pd.Series([r for r, _, _ in rows], dtype=object),
            "cutoff": pd.Series([c for _, c, _ in rows], dtype=np.int64),
            "risk": pd.Series([x for _, _, x in rows], dtype=np.float64),
        }
    )


def _events(events: list[tuple[str, int, str, str | None]]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "robot_id": pd.Series([e[0] for e in events], dtype=object),
            "ts": pd.Series([e[1] for e in events], dtype=np.int64),
            "kind": pd.Series([e[2] for e in events], dtype=object),
            "code": pd.Series([e[3] for e in events], dtype=object),
        }
    )


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    keys = ["robot_id", "opened", "last_active", "closed", "peak_cutoff", "peak_risk", "cutoffs",
            "suppressed", "suppressed_by"]  # fmt: skip
    out = []
    for row in frame.to_dict("records"):
        record = {k: row[k] for k in keys}
        record["closed"] = None if pd.isna(record["closed"]) else int(record["closed"])
        record["suppressed_by"] = None if pd.isna(record["suppressed_by"]) else record["suppressed_by"]
        record["suppressed"] = bool(record["suppressed"])
        out.append(record)
    return out


# --------------------------------------------------------------------------------- property tests


@settings(max_examples=200, deadline=None)
@given(score_rows(), alerts_st, st.sampled_from([0.0, 0.2, 0.3, 0.4, 0.5, 0.55, 0.8, 1.0]), event_rows())
def test_incidents_match_the_reference(
    rows: list[tuple[str, int, float]],
    alerts: AlertsConfig,
    threshold: float,
    events: list[tuple[str, int, str, str | None]],
) -> None:
    shuffled = _frame(rows).sample(frac=1.0, random_state=0)  # any row order
    found = incidents(shuffled, threshold=threshold, alerts=alerts, events=_events(events))
    assert list(found.columns) == list(INCIDENT_COLUMNS)
    assert _records(found) == reference_incidents(rows, threshold, alerts, events)
    assert (found["threshold"] == threshold).all()
    assert found["incident_id"].is_unique


@settings(max_examples=100, deadline=None)
@given(score_rows(), alerts_st, st.sampled_from([0.2, 0.5, 0.8]), st.integers(0, 100 * STEP))
def test_until_keeps_incidents_open_only_while_a_later_row_could_continue_them(
    rows: list[tuple[str, int, float]], alerts: AlertsConfig, threshold: float, extra: int
) -> None:
    if not rows:
        return
    until = max(c for _, c, _ in rows) + extra
    found = incidents(_frame(rows), threshold=threshold, alerts=alerts, until=until)
    assert _records(found) == reference_incidents(rows, threshold, alerts, until=until)


@settings(max_examples=200, deadline=None)
@given(
    score_rows(max_rows=30),
    alerts_st,
    st.sampled_from([0.5, 1.0, 2.0, 5.0]),
    st.sampled_from([0.5, 1.0, 3.0]),
    st.booleans(),
    event_rows(),
)
def test_incident_threshold_matches_the_reference(
    rows: list[tuple[str, int, float]],
    alerts: AlertsConfig,
    budget: float,
    robot_days: float,
    with_events: bool,
    events: list[tuple[str, int, str, str | None]],
) -> None:
    used = events if with_events else []
    chosen = incident_threshold(
        _frame(rows), budget=budget, robot_days=robot_days, alerts=alerts,
        events=_events(used) if with_events else None,
    )  # fmt: skip
    assert chosen == reference_threshold(rows, budget, robot_days, alerts, used)
    if rows:  # and the incidents at the chosen threshold are within the budget
        found = incidents(_frame(rows), threshold=chosen, alerts=alerts, events=_events(used))
        assert (~found["suppressed"]).sum() <= budget * robot_days + 1e-9


@settings(max_examples=150, deadline=None)
@given(
    score_rows(),
    alerts_st,
    event_rows(),
    st.lists(
        st.tuples(
            st.sampled_from(["a", "b", "c"]), st.integers(T0, T0 + 80 * STEP), st.sampled_from(["X", "Y"])
        ),
        max_size=8,
    ),
    st.sampled_from([5.0, 20.0, 60.0]),
)
def test_event_metrics_match_the_reference(
    rows: list[tuple[str, int, float]],
    alerts: AlertsConfig,
    events: list[tuple[str, int, str, str | None]],
    failure_rows: list[tuple[str, int, str]],
    horizon_s: float,
) -> None:
    found = incidents(_frame(rows), threshold=0.5, alerts=alerts, events=_events(events))
    failures = pd.DataFrame(failure_rows, columns=["robot_id", "ts", "code"]).astype({"ts": np.int64})
    got = event_metrics(found, failures, horizon_s=horizon_s, robot_days=2.0)
    want = reference_event_metrics(
        reference_incidents(rows, 0.5, alerts, events), failure_rows, round(horizon_s * 1000), 2.0
    )
    assert {k: got[k] for k in want} == want
    assert got["recall"] == (want["caught"] / want["failures"] if want["failures"] else None)
    assert got["precision"] == (want["true_incidents"] / want["incidents"] if want["incidents"] else None)
    assert got["incidents_per_failure_caught"] == (
        want["incidents"] / want["caught"] if want["caught"] else None
    )
    for code in ("X", "Y"):
        mine = [f for f in failure_rows if f[2] == code]
        if not mine:
            assert code not in got["per_code"]
            continue
        ref = reference_event_metrics(
            reference_incidents(rows, 0.5, alerts, events), mine, round(horizon_s * 1000), 2.0
        )
        per = got["per_code"][code]
        assert (per["failures"], per["caught"], per["lead_times_s"], per["true_incidents"]) == (
            ref["failures"], ref["caught"], ref["lead_times_s"], ref["true_incidents"]
        )  # fmt: skip


# ------------------------------------------------------------------------------------- boundaries


def _scores(risks: dict[int, float], robot: str = "r") -> pd.DataFrame:
    """Rows at ``T0 + k * STEP`` for each ``k: risk``."""
    return _frame([(robot, T0 + k * STEP, r) for k, r in sorted(risks.items())])


ALERTS = AlertsConfig(hysteresis=0.5, quiet_s=10.0, suppress_s=30.0)  # Q = 2 steps, S = 6 steps


def _spans(found: pd.DataFrame) -> list[tuple[int, int, int | None]]:
    """``(opened, last_active, closed or None)`` per incident."""
    return [(r["opened"], r["last_active"], r["closed"]) for r in _records(found)]


def test_rows_exactly_quiet_apart_continue_one_more_millisecond_closes() -> None:
    # active rows at 0 and exactly Q later: one incident
    found = incidents(_scores({0: 0.9, 2: 0.3, 3: 0.0, 4: 0.0}), threshold=0.5, alerts=ALERTS)
    assert _spans(found) == [(T0, T0 + 2 * STEP, T0 + 4 * STEP)]
    # without the row at 4 the scores end before the quiet period does: still open
    assert _spans(incidents(_scores({0: 0.9, 2: 0.3, 3: 0.0}), threshold=0.5, alerts=ALERTS)) == [
        (T0, T0 + 2 * STEP, None)
    ]
    # Q + 1 ms apart: the first closes at last_active + Q, the second row (hot) opens a new one
    rows = _frame([("r", T0, 0.9), ("r", T0 + 10_001, 0.9)])
    found = incidents(rows, threshold=0.5, alerts=ALERTS)
    assert found["opened"].tolist() == [T0, T0 + 10_001]
    assert _spans(found)[0] == (T0, T0, T0 + 10_000)


def test_risk_exactly_at_the_threshold_opens_and_exactly_at_the_lower_level_continues() -> None:
    at = incidents(_scores({0: 0.5, 1: 0.25, 3: 0.25, 5: 0.24, 7: 0.0}), threshold=0.5, alerts=ALERTS)
    # rows 0, 1, 3 (2 is missing); 0.24 < L neither continues nor closes it
    assert _spans(at) == [(T0, T0 + 3 * STEP, T0 + 5 * STEP)]
    assert at["cutoffs"].tolist() == [3]
    below = incidents(_scores({0: 0.4999, 1: 0.9}), threshold=0.5, alerts=ALERTS)
    assert below["opened"].tolist() == [T0 + STEP]
    # a row at L that is not hot never opens an incident
    assert incidents(_scores({0: 0.25, 1: 0.25}), threshold=0.5, alerts=ALERTS).empty


def test_a_gap_in_the_rows_longer_than_the_quiet_period_closes_the_incident() -> None:
    # rows 1..2 missing (excluded cutoffs): 0 -> 3 is 15 s > Q = 10 s
    found = incidents(_scores({0: 0.9, 3: 0.4, 4: 0.9}), threshold=0.5, alerts=ALERTS)
    assert _spans(found) == [(T0, T0, T0 + 2 * STEP), (T0 + 4 * STEP, T0 + 4 * STEP, None)]
    # 0 -> 2 (one row missing) is exactly Q: one incident
    assert len(incidents(_scores({0: 0.9, 2: 0.4}), threshold=0.5, alerts=ALERTS)) == 1


def test_quiet_period_shorter_than_the_grid_step_makes_every_hot_row_an_incident() -> None:
    for quiet in (0.0, 4.999):
        alerts = AlertsConfig(hysteresis=0.5, quiet_s=quiet)
        found = incidents(_scores({0: 0.9, 1: 0.8, 2: 0.3, 3: 0.6}), threshold=0.5, alerts=alerts)
        assert found["opened"].tolist() == [T0, T0 + STEP, T0 + 3 * STEP]
        assert (found["opened"] == found["last_active"]).all()
        # the last row cannot be continued by a later one: closed even at the last row when Q = 0
        assert found["closed"].isna().tolist() == [False, False, quiet > 0]
    # quiet exactly one step: consecutive active rows hold it open
    alerts = AlertsConfig(hysteresis=0.5, quiet_s=5.0)
    assert len(incidents(_scores({0: 0.9, 1: 0.3, 2: 0.3, 3: 0.9}), threshold=0.5, alerts=alerts)) == 1


def test_open_at_the_end_and_until() -> None:
    scores = _scores({0: 0.9, 1: 0.1})  # last row 5 s after the last active one, Q = 10 s
    assert incidents(scores, threshold=0.5, alerts=ALERTS)["closed"].isna().all()
    # the rows are final until 10 s after the last active row: it cannot continue any more
    closed = incidents(scores, threshold=0.5, alerts=ALERTS, until=T0 + 2 * STEP)
    assert _spans(closed) == [(T0, T0, T0 + 2 * STEP)]
    still = incidents(scores, threshold=0.5, alerts=ALERTS, until=T0 + 2 * STEP - 1)["closed"]
    assert still.isna().all()
    with pytest.raises(ValueError, match="until"):
        incidents(scores, threshold=0.5, alerts=ALERTS, until=T0)


def test_peak_ties_go_to_the_earliest_and_carry_their_contributions() -> None:
    scores = _scores({0: 0.6, 1: 0.9, 2: 0.9, 3: 0.7})
    scores["top_features"] = ["a", "b", "c", "d"]
    scores["model_id"] = ["m1", "m2", "m2", "m2"]
    (row,) = incidents(scores, threshold=0.5, alerts=ALERTS).to_dict("records")
    assert (row["peak_cutoff"], row["peak_risk"], row["top_features"], row["model_id"]) == (
        T0 + STEP, 0.9, "b", "m1"  # the model of the opening row
    )  # fmt: skip
    assert row["incident_id"] == "r@" + _iso(T0).replace("-", "").replace(":", "")


def test_suppression_bounds() -> None:
    def suppressed(event_ts: int, kind: str = "maintenance") -> bool:
        events = _events([("r", event_ts, kind, "MAINT_X"), ("other", T0, "maintenance", None)])
        found = incidents(_scores({0: 0.9}), threshold=0.5, alerts=ALERTS, events=events)
        return bool(found["suppressed"].iloc[0])

    assert suppressed(T0)  # an event at the opening instant: included
    assert suppressed(T0 - 30_000 + 1)  # opened 1 ms before the end of [ts, ts + S)
    assert not suppressed(T0 - 30_000)  # exactly ts + S: excluded
    assert not suppressed(T0 + 1)  # an event after the opening does not reach back
    assert not suppressed(T0, kind="warning")  # not a suppressing kind
    events = _events([("r", T0 - 5000, "recovery", None), ("r", T0 - 1000, "maintenance", "MAINT_X")])
    (why,) = incidents(_scores({0: 0.9}), threshold=0.5, alerts=ALERTS, events=events)["suppressed_by"]
    assert why == f"maintenance MAINT_X at {_iso(T0 - 1000)}"  # the latest
    no_window = AlertsConfig(hysteresis=0.5, quiet_s=10.0, suppress_s=0.0)
    assert not incidents(_scores({0: 0.9}), threshold=0.5, alerts=no_window, events=events)[
        "suppressed"
    ].any()


def test_invalid_inputs_are_refused_with_the_fix() -> None:
    with pytest.raises(ValueError, match="duplicate"):
        incidents(_frame([("r", T0, 0.5), ("r", T0, 0.6)]), threshold=0.5, alerts=ALERTS)
    as_time = _scores({0: 0.9}).assign(cutoff=lambda f: pd.to_datetime(f["cutoff"], unit="ms", utc=True))
    with pytest.raises(ValueError, match="epoch milliseconds"):
        incidents(as_time, threshold=0.5, alerts=ALERTS)
    with pytest.raises(ValueError, match="risk"):
        incidents(_scores({0: float("nan")}), threshold=0.5, alerts=ALERTS)
    with pytest.raises(ValueError, match="threshold"):
        incidents(_scores({0: 0.5}), threshold=-0.1, alerts=ALERTS)
    with pytest.raises(ValueError, match="lacks the columns"):
        incidents(_scores({0: 0.5}).drop(columns="risk"), threshold=0.5, alerts=ALERTS)
    with pytest.raises(ValueError, match="whole milliseconds"):
        incidents(_scores({0: 0.5}), threshold=0.5, alerts=AlertsConfig(quiet_s=0.0001))
    with pytest.raises(ValueError, match="robot-day"):
        incident_threshold(_scores({0: 0.5}), budget=1.0, robot_days=0.0, alerts=ALERTS)
    assert incidents(_scores({}), threshold=0.5, alerts=ALERTS).empty
    assert incident_threshold(_scores({}), budget=1.0, robot_days=1.0, alerts=ALERTS) == 1.0


# ------------------------------------------------------------------------------ threshold examples


def test_incident_counts_are_not_monotone_and_the_walk_stops_at_the_first_excess() -> None:
    # two bursts 30 s apart joined by a valley at 0.3: at T = 0.9 they are two incidents (L = 0.45), at
    # T = 0.6 one (L = 0.3 bridges the valley)
    risks = {0: 0.9, 1: 0.3, 2: 0.3, 3: 0.3, 4: 0.3, 5: 0.3, 6: 0.95, 20: 0.7}
    counts = {t: len(incidents(_scores(risks), threshold=t, alerts=ALERTS)) for t in (0.95, 0.9, 0.7, 0.6)}
    assert counts == {0.95: 1, 0.9: 2, 0.7: 3, 0.6: 2}
    # budget 2 incidents: 0.95 (1), 0.9 (2), 0.7 (3, over): stop at 0.9 although 0.6 would be within budget
    assert incident_threshold(_scores(risks), budget=2.0, robot_days=1.0, alerts=ALERTS) == 0.9
    # even the highest risk over budget: just above every risk
    over = incident_threshold(_scores(risks), budget=0.5, robot_days=1.0, alerts=ALERTS)
    assert 0.95 < over == math.nextafter(0.95, math.inf)
    # never over budget: the lowest risk
    assert incident_threshold(_scores(risks), budget=10.0, robot_days=1.0, alerts=ALERTS) == 0.3


# -------------------------------------------------------------------------- evaluation examples


def test_failure_caught_bounds_and_lead_time() -> None:
    horizon_s = 300.0
    failure = T0 + 1_000_000

    def catch(opened: int, suppressed: bool = False) -> pd.DataFrame:
        found = pd.DataFrame({"robot_id": ["r"], "incident_id": ["i"], "opened": [opened],
                              "suppressed": [suppressed]})  # fmt: skip
        failures = pd.DataFrame({"robot_id": ["r"], "ts": [failure], "code": ["X"]})
        return caught_failures(found, failures, horizon_s=horizon_s)

    assert catch(failure - 300_000)[["caught", "lead_s", "incident_id"]].values.tolist() == [
        [True, 300.0, "i"]
    ]
    assert not catch(failure - 300_001)["caught"].iloc[0]  # before the horizon
    assert not catch(failure)["caught"].iloc[0]  # at the failure: too late
    assert catch(failure - 1)["lead_s"].iloc[0] == 0.001
    assert not catch(failure - 1000, suppressed=True)["caught"].iloc[0]
    found = pd.DataFrame({"robot_id": ["r", "r", "q"], "opened": [failure - 300_000, failure, failure - 10],
                          "suppressed": [False, False, False]})  # fmt: skip
    failures = pd.DataFrame({"robot_id": ["r"], "ts": [failure], "code": [None]})
    assert true_incidents(found, failures, horizon_s=horizon_s).tolist() == [True, False, False]


def test_event_metrics_are_plain_json() -> None:
    found = incidents(_scores({0: 0.9, 10: 0.9, 30: 0.9}), threshold=0.5, alerts=ALERTS,
                      events=_events([("r", T0 + 29 * STEP, "recovery", None)]))  # fmt: skip
    failures = pd.DataFrame({"robot_id": ["r", "r"], "ts": [T0 + 5 * STEP, T0 + 100 * STEP],
                             "code": ["X", "Y"]})  # fmt: skip
    got = event_metrics(found, failures, horizon_s=60.0, robot_days=0.5)
    assert got["failures"] == 2 and got["caught"] == 1 and got["recall"] == 0.5
    assert got["lead_times_s"] == [25.0] and got["lead_s"]["median"] == 25.0
    assert (got["incidents"], got["true_incidents"], got["false_incidents"], got["suppressed"]) == (
        2,
        1,
        1,
        1,
    )
    assert got["false_incidents_per_robot_day"] == 2.0 and got["incidents_per_failure_caught"] == 2.0
    assert got["per_code"]["Y"]["lead_s"] == {
        "min": None,
        "q1": None,
        "median": None,
        "q3": None,
        "max": None,
    }
    assert got["per_code"]["Y"]["recall"] == 0.0 and got["per_code"]["X"]["true_incidents"] == 1
    json.dumps(got, allow_nan=False)  # NaN would fail: undefined values are None
    empty = event_metrics(found.iloc[:0], failures.iloc[:0], horizon_s=60.0, robot_days=1.0)
    assert empty["recall"] is None and empty["precision"] is None and empty["lead_s"]["max"] is None


def test_failures_from_labels_one_per_robot_and_failure_time() -> None:
    frame = pd.DataFrame(
        {
            "robot_id": ["r", "r", "r", "q", "r"],
            "cutoff": np.array([T0, T0 + STEP, T0 + 2 * STEP, T0, T0 + 3 * STEP], dtype=np.int64),
            "label": np.array([1, 1, 0, 1, 1], dtype=np.int8),
            "failure_code": ["X", "X", None, "Y", "X"],
            "time_to_failure_s": [12.5, 7.5, np.nan, 1.0, 60.0],
        }
    )
    got = failures_from_labels(frame)
    assert got.values.tolist() == [
        ["q", T0 + 1000, "Y"],
        ["r", T0 + 12_500, "X"],
        ["r", T0 + 3 * STEP + 60_000, "X"],
    ]
    assert got["ts"].dtype == np.int64
    assert failures_from_labels(frame.assign(label=0)).empty
