"""A fleet operated day by day: `telemetry run` each day (features, train on Mondays, score), as a cron would.

``python -m benchmarks.loop`` simulates a fleet (8 robots x 10 days by default, 8 h online a day), then runs
the command of docs/operations.md once per day, in order, exactly as a daily job would, and collects what
each day's run left in the store (``_scored/`` records, ``models/promotions.jsonl``) into
``benchmarks/results/loop.json``. ``--write-docs`` renders docs/operations.md's block between
``<!-- loop:begin -->`` and ``<!-- loop:end -->`` from that file (``tests/test_operations_docs.py`` checks
that they agree), so the page's figures are never typed by hand.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from benchmarks.validation import provenance, telemetry_cli

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_JSON = ROOT / "benchmarks" / "results" / "loop.json"
DOCS = ROOT / "docs" / "operations.md"
BEGIN, END = "<!-- loop:begin -->", "<!-- loop:end -->"

START = dt.date(2026, 11, 2)  # a Monday: the first training day of train.weekday 1
# what docs/operations.md sets on the command line (the chart's defaults set the same in its config block)
LOOP_SETTINGS = (
    "labels.mode=grid",
    "train.positive_rows=nearest",
    "train.incident_budget=1",
    "train.weekday=1",
    "train.targets=[any]",
)
PRECURSOR_MODES = ("BATTERY_BROWNOUT", "LOCALIZATION_LOST", "MOTOR_OVERHEAT")


def run_day(raw: Path, out: Path, day: dt.date) -> dict[str, Any]:
    """One day's `telemetry run` (the documented command); its exit code, seconds and stdout."""
    sets = [*LOOP_SETTINGS, f"store.raw_url={raw}", f"store.out_url={out}", f"run.start={day}",
            "run.stages=[features, train, score]", "cluster.workers=2"]  # fmt: skip
    cmd = [telemetry_cli(), "run", *[a for s in sets for a in ("--set", s)]]
    started = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - started
    print(done.stdout, done.stderr, sep="\n", flush=True)
    return {
        "date": day.isoformat(),
        "exit": done.returncode,
        "seconds": round(seconds, 1),
        "stdout": done.stdout,
    }


def _json_lines(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def collect(out: Path, fleet: str, runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Per day: the score record's figures (incidents, failures, caught, lead times, false incidents) and
    the train stage's outcome; the promotion history; totals over the scored days, per failure code."""
    days = []
    for run in runs:
        record_path = out / "_scored" / f"fleet={fleet}" / f"date={run['date']}.json"
        record = json.loads(record_path.read_text()) if record_path.exists() else None
        train = next(
            (
                line[18:].strip()
                for line in run["stdout"].splitlines()
                if line.startswith(("promotion ", "skipped "))
            ),
            None,
        )
        days.append(
            {
                "date": run["date"],
                "exit": run["exit"],
                "seconds": run["seconds"],
                "train": train,
                "model_id": record["model_id"] if record else None,
                "figures": record["figures"] if record else None,
            }
        )
    history = _json_lines(out / "models" / "promotions.jsonl")
    totals, per_code = totals_of([d["figures"] for d in days if d["figures"]])
    return {"days": days, "promotions": history, "totals": totals, "per_code": per_code}


def totals_of(scored: list[dict[str, Any]]) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    """Totals and per-code totals over the figures of scored days (``incidents`` are the alerted ones, as
    in :func:`telemetry.stages.incidents.event_metrics`; ``suppressed`` apart)."""
    totals: dict[str, Any] = {"robot_days": sum(f["robot_days"] for f in scored)}
    for key in ("failures", "caught", "incidents", "true_incidents", "false_incidents", "suppressed"):
        totals[key] = sum(int(f["events"].get(key) or 0) for f in scored)
    leads = [x for f in scored for x in f["events"].get("lead_times_s") or []]
    totals["median_lead_s"] = statistics.median(leads) if leads else None
    per_code: dict[str, dict[str, Any]] = {}
    for f in scored:
        for code, m in (f["events"].get("per_code") or {}).items():
            entry = per_code.setdefault(code, {"failures": 0, "caught": 0, "true_incidents": 0, "leads": []})
            entry["failures"] += int(m.get("failures") or 0)
            entry["caught"] += int(m.get("caught") or 0)
            entry["true_incidents"] += int(m.get("true_incidents") or 0)
            entry["leads"] += list(m.get("lead_times_s") or [])
    for entry in per_code.values():
        leads_c = entry.pop("leads")
        entry["median_lead_s"] = statistics.median(leads_c) if leads_c else None
    precursor = [per_code[c] for c in PRECURSOR_MODES if c in per_code]
    caught_p = sum(e["caught"] for e in precursor)
    # incidents a precursor-mode failure follows, plus the false ones: what an operator of those modes sees
    incidents_p = sum(e["true_incidents"] for e in precursor) + totals["false_incidents"]
    totals["precursor_modes"] = {
        "failures": sum(e["failures"] for e in precursor),
        "caught": caught_p,
        "incidents_per_failure_caught": round(incidents_p / caught_p, 3) if caught_p else None,
    }
    totals["incidents_per_failure_caught"] = (
        round(totals["incidents"] / totals["caught"], 3) if totals["caught"] else None
    )
    totals["false_incidents_per_robot_day"] = (
        round(totals["false_incidents"] / totals["robot_days"], 3) if totals["robot_days"] else None
    )
    return totals, per_code


def _totals_line(t: dict[str, Any]) -> str:
    p = t["precursor_modes"]
    return (
        f"{t['robot_days']} robot-days, {t['incidents']} alerted incidents "
        f"(and {t['suppressed']} suppressed), "
        f"{t['caught']} of {t['failures']} failures caught (median lead {_f(t['median_lead_s'], '.0f')} s), "
        f"{t['false_incidents']} false incidents ({_f(t['false_incidents_per_robot_day'])} per robot-day), "
        f"{_f(t['incidents_per_failure_caught'])} incidents per failure caught; precursor modes "
        f"{p['caught']} of {p['failures']} caught, {_f(p['incidents_per_failure_caught'])} incidents per "
        "failure caught"
    )


def _f(value: Any, fmt: str = ".2f") -> str:
    return "–" if value is None else format(value, fmt)


def render(doc: dict[str, Any]) -> str:
    """The generated block of docs/operations.md."""
    fleet = doc["fleet"]
    lines = [
        BEGIN,
        f"Fleet: {fleet['robots']} robots x {fleet['days']} days from {fleet['start']} "
        f"({fleet['hours']:g} h online a day, "
        f"seed {fleet['seed']}); one `telemetry run` per day; {doc['seconds']:.0f} s in all.",
        "",
        "| day | train stage | incidents (suppressed) | failures | caught | median lead s "
        "| false incidents / robot-day | run s |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for day in doc["result"]["days"]:
        f = day["figures"]
        ev = f["events"] if f else {}
        lead = (ev.get("lead_s") or {}).get("median") if f else None
        lines.append(
            f"| {day['date']} | {day['train'] or '–'} | "
            + (f"{f['incidents']} ({f['suppressed']})" if f else "not scored (no model yet)")
            + f" | {ev.get('failures', '–')} | {ev.get('caught', '–')} | {_f(lead, '.0f')} | "
            f"{_f(ev.get('false_incidents_per_robot_day'))} | {day['seconds']:.0f} |"
        )
    t, _ = totals_of([d["figures"] for d in doc["result"]["days"] if d["figures"]])
    lines += ["", f"All scored days: {_totals_line(t)}.", "", "Per model in force:", ""]
    models = dict.fromkeys(d["model_id"] for d in doc["result"]["days"] if d["model_id"])
    for model_id in models:
        scored = [d for d in doc["result"]["days"] if d["model_id"] == model_id]
        dates = f"{scored[0]['date']}..{scored[-1]['date']}"
        model_totals, _ = totals_of([d["figures"] for d in scored])
        lines.append(f"- `{model_id}` ({dates}): {_totals_line(model_totals)}.")
    lines += [
        "",
        "Precursor modes: "
        + ", ".join(PRECURSOR_MODES)
        + "; their incidents per failure caught count their true incidents and every false one.",
        "",
        "| failure code | failures | caught | median lead s |",
        "|---|---|---|---|",
    ]
    for code, e in sorted(doc["result"]["per_code"].items()):
        lines.append(f"| {code} | {e['failures']} | {e['caught']} | {_f(e['median_lead_s'], '.0f')} |")
    lines += ["", "Promotions (`models/promotions.jsonl`):", ""]
    for line in doc["result"]["promotions"]:
        cmp = line.get("comparison") or {}
        figures = ", ".join(
            f"{k} {_f(v, '.3f')}"
            for k, v in cmp.items()
            if k.endswith("pr_auc") and isinstance(v, (int, float))
        )
        lines.append(
            f"- {str(line.get('at', ''))[:10]} `{line.get('model_id')}`: "
            f"{'promoted' if line.get('promoted') else 'refused'} ({line.get('rule')}: {line.get('reason')})"
            + (f"; validation {figures}" if figures else "")
        )
    prov = doc["provenance"]
    lines += [
        "",
        f"_Generated by `python -m benchmarks.loop` from benchmarks/results/loop.json: commit "
        f"{str(prov.get('commit'))[:10]}{' with local changes' if prov.get('dirty') else ''}, "
        f"{prov.get('date')}; "
        "do not edit by hand._",
        END,
    ]
    return "\n".join(lines)


def write_docs(doc: dict[str, Any], path: Path = DOCS) -> None:
    """Replace the block between the markers of `path` with :func:`render` of `doc`."""
    text = path.read_text()
    a, b = text.index(BEGIN), text.index(END) + len(END)
    path.write_text(text[:a] + render(doc) + text[b:])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, default=Path("/tmp/telemetry-loop"), help="scratch directory")
    parser.add_argument("--robots", type=int, default=8)
    parser.add_argument("--days", type=int, default=10)
    parser.add_argument("--hours", type=float, default=8.0)
    parser.add_argument("--seed", type=int, default=3)
    parser.add_argument("--out", type=Path, default=DEFAULT_JSON, help="results JSON")
    parser.add_argument("--write-docs", action="store_true", help="only render docs/operations.md from --out")
    args = parser.parse_args(argv)
    if args.write_docs:
        write_docs(json.loads(args.out.read_text()))
        return 0
    shutil.rmtree(args.work, ignore_errors=True)
    raw, out = args.work / "raw", args.work / "out"
    started = time.perf_counter()
    subprocess.run(
        [telemetry_cli(), "simulate", "--out", str(raw), "--robots", str(args.robots),
         "--days", str(args.days),
         "--start", START.isoformat(), "--seed", str(args.seed), "--hours", str(args.hours)],
        check=True,
    )  # fmt: skip
    runs = [run_day(raw, out, START + dt.timedelta(days=i)) for i in range(args.days)]
    doc = {
        "fleet": {"robots": args.robots, "days": args.days, "hours": args.hours, "seed": args.seed,
                  "start": START.isoformat()},
        "settings": list(LOOP_SETTINGS),
        "seconds": round(time.perf_counter() - started, 1),
        "result": collect(out, "acme-dc3", runs),
        "provenance": provenance(),
    }  # fmt: skip
    args.out.write_text(json.dumps(doc, indent=1, sort_keys=True, default=str) + "\n")
    print(render(doc))
    return 0 if all(r["exit"] == 0 for r in runs) else 1


if __name__ == "__main__":
    sys.exit(main())
