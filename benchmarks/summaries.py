"""Micro-benchmark of the health summaries (telemetry/stages/summaries.py) against the features computation
they would be added to, one core (not a timed test):

    .venv/bin/python benchmarks/summaries.py [--repeat 3] [--json benchmarks/results/summaries.json]

Workload: the cached tables of benchmarks/features.py (day 2 of ``FleetSpec(robots=1, days=2, seed=2026)``
at full rates, default faults, plus a 1 h halo of day 1; simulated once into ``$TMPDIR/telemetry-bench``).
Configuration: the defaults with a 10 Hz clock and grid labels (``align.step_ms=100``, ``labels.mode=grid``),
as benchmarks/e2e.py's worker path.

Timed in one process pinned to one CPU (thread pools of one thread), best wall and best CPU time of
``--repeat`` rounds (every variant once per round; on a shared machine CPU time is the steadier figure):

- ``features``: :func:`telemetry.run.pipeline.robot_features` for the day (align + labels + features);
- ``summaries[signals]``: :func:`~telemetry.stages.summaries.summarize_table` of every sampled signal's table
  over the day ``[00:00, 24:00)`` (its numeric fields, its ``rate_hz``), all values sketched;
- ``summaries[signals, max_sketched=86400]``: the same, sketching at most 86,400 values per column (the
  10 Hz signals' sketches see a 10 % random subsample; every other column uses every value);
- ``summaries[signals, max_sketched=8640]``: at most one value per 10 s per column in the sketches;
- ``summaries[features]``: the feature table of the day (every numeric feature column, ``time_column=
  "cutoff"``); ``summaries[features, max_sketched=1728]``: a tenth of the rows in each column's sketch;
- ``merge[365]``: :func:`~telemetry.stages.summaries.merge_summaries` of 365 copies of the day's summary
  (signals + features): the cost of a year of one robot (sketches of the same size as distinct days').

Reported: seconds, and each summary's cost as a fraction of ``features``; the Parquet size of a day's summary.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

from workload import ONE_CORE_ENV, machine, pin_one_cpu

os.environ.update(ONE_CORE_ENV)  # before numpy is imported: every figure is per core

from features import load_tables, workload

OVERRIDES = ["align.step_ms=100", "labels.mode=grid"]
MAX_SKETCHED = 86_400  # one value per second of the day
FEW_SKETCHED = (8_640, 1_728)  # signals: one per 10 s; features: a tenth of the 5 s cutoffs
YEAR = 365


def timed(fn: Any) -> tuple[float, float]:
    """Wall and CPU seconds of one call of ``fn`` (the process is pinned to one CPU)."""
    started, cpu = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - started, time.process_time() - cpu


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    cpu = pin_one_cpu()

    import pyarrow as pa
    import pyarrow.parquet as pq

    from telemetry.config import load_config
    from telemetry.run.pipeline import robot_features
    from telemetry.stages.labels import EXAMPLE_COLUMNS
    from telemetry.stages.summaries import DEFAULT_K, merge_summaries, summarize_table

    root = workload()
    meta = json.loads((root / "workload.json").read_text())
    tables = load_tables(root)
    config = load_config(env={}, overrides=OVERRIDES)
    start, end, robot_id = meta["start"], meta["end"], meta["robot_id"]
    sampled = [s for s in config.sampled_signals if s.numeric and s.name in tables]

    def features() -> pa.Table:
        return robot_features(tables, config, robot_id=robot_id, start=start, end=end).table

    def signals(max_sketched: int | None = None) -> list[pa.Table]:
        return [
            summarize_table(
                tables[s.name].select(["ts", *s.numeric]),
                name=s.name,
                start=start,
                end=end,
                rate_hz=s.rate_hz,
                max_sketched=max_sketched,
            )
            for s in sampled
        ]

    feature_table = features()
    feature_columns = [
        f.name
        for f in feature_table.schema
        if f.name not in EXAMPLE_COLUMNS and (pa.types.is_floating(f.type) or pa.types.is_integer(f.type))
    ]

    def feature_summary(max_sketched: int | None = None) -> pa.Table:
        return summarize_table(
            feature_table,
            name="features",
            start=start,
            end=end,
            time_column="cutoff",
            columns=feature_columns,
            max_sketched=max_sketched,
        )

    day = pa.concat_tables([*signals(), feature_summary()])
    year = [day] * YEAR
    timings: dict[str, list[float]] = {}
    cpu_timings: dict[str, list[float]] = {}
    variants = {
        "features": features,
        "summaries[signals]": signals,
        f"summaries[signals, max_sketched={MAX_SKETCHED}]": lambda: signals(MAX_SKETCHED),
        f"summaries[signals, max_sketched={FEW_SKETCHED[0]}]": lambda: signals(FEW_SKETCHED[0]),
        "summaries[features]": feature_summary,
        f"summaries[features, max_sketched={FEW_SKETCHED[1]}]": lambda: feature_summary(FEW_SKETCHED[1]),
        f"merge[{YEAR}]": lambda: merge_summaries(year),
    }
    for _ in range(args.repeat):  # round-robin: every variant sees the same machine load
        for name, fn in variants.items():
            seconds, cpu_s = timed(fn)
            timings.setdefault(name, []).append(seconds)
            cpu_timings.setdefault(name, []).append(cpu_s)
    best = {name: min(runs) for name, runs in timings.items()}
    best_cpu = {name: min(runs) for name, runs in cpu_timings.items()}
    base, base_cpu = best["features"], best_cpu["features"]
    buffer = io.BytesIO()
    pq.write_table(day, buffer)
    values = {s.name: tables[s.name].num_rows * len(s.numeric) for s in sampled}
    result = {
        "workload": {
            "tables": str(root),
            "robot_id": robot_id,
            "date": meta["date"],
            "overrides": OVERRIDES,
            "signal_values": values,
            "feature_rows": feature_table.num_rows,
            "feature_columns": len(feature_columns),
            "k": DEFAULT_K,
        },
        "repeat": args.repeat,
        "cpu": cpu,
        "seconds": best,
        "cpu_seconds": best_cpu,
        "runs": timings,
        "cpu_runs": cpu_timings,
        "fraction_of_features": {name: s / base for name, s in best.items() if name != "features"},
        "cpu_fraction_of_features": {
            name: s / base_cpu for name, s in best_cpu.items() if name != "features"
        },
        "day_summary": {"rows": day.num_rows, "parquet_bytes": buffer.tell()},
        "machine": machine(),
    }
    print(f"{'':40s} {'wall s':>8s} {'cpu s':>8s}  share of features (wall / cpu)")
    for name, seconds in best.items():
        share = "" if name == "features" else f"  {seconds / base:6.1%} / {best_cpu[name] / base_cpu:6.1%}"
        print(f"{name:40s} {seconds:8.3f} {best_cpu[name]:8.3f}{share}")
    print(f"day summary: {day.num_rows} rows, {buffer.tell() / 1e6:.2f} MB as Parquet")
    if args.json is not None:
        args.json.write_text(json.dumps(result, indent=1) + "\n")
        print(f"-> {args.json}", file=sys.stderr)


if __name__ == "__main__":
    main()
