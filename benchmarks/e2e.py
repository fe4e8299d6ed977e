"""End-to-end benchmark: one full-rate robot-day from the store to Parquet, one core.

    .venv/bin/python benchmarks/e2e.py [--repeat 3] [--json benchmarks/results/e2e.json] [--quick]

Workload: the robot-day of benchmarks/extract.py (``FleetSpec(robots=1, days=1, seed=2026)``, default
faults; 16,607 documents, ~132 MB of JSON, ~30 MB zipped) in a local raw store. Configuration: the
defaults with a 10 Hz clock (``align.step_ms=100``), the default single 42 s window and grid labelling
(``labels.mode=grid``: every 5 s cutoff of the day is an example, 17,280). ``--quick``: the same fleet online
for 15 minutes only and a 1 s clock (for tests; the clock and the cutoffs still span the whole day).

Every variant runs in a fresh process pinned to one CPU (thread pools set to 1), so its peak RSS
(``ru_maxrss``) is its own; variants run round-robin ``--repeat`` times and the best wall time is reported
with every run. What is timed: from reading the day zip to the Parquet file written.

- ``telemetry``: ``run_features(raw, out, config, client=None)`` for that day: what a worker runs (the
  extract task: store read, :func:`~telemetry.stages.extract.extract_day_zip`, signal tables written as
  Parquet;
  the features task: signal tables read back, align, labels, features, Parquet written; plus listing, lease
  and manifest). Stage times come from wrapping the task functions (``extract_day_zip``, ``_read_tables``,
  ``robot_features``, ``parquet_bytes``) in this process.
- ``straightforward``: stdlib ``zipfile`` + ``gzip`` + ``json`` per document (bad documents skipped), one
  pandas DataFrame per signal (sorted, duplicates dropped), ``pandas.merge_asof`` (nearest or backward as
  configured, the signal's tolerance) of every numeric field onto the 10 Hz clock, then per numeric field
  ``rolling("42s", closed="left")`` mean / std / min / max / count and the last value, taken at the grid
  cutoffs, grid labels, ``DataFrame.to_parquet``: the straightforward stdlib-json + pandas chain.
- ``tuned`` (only when polars is importable, e.g. with ``.venv-bench/bin/python``): ``isal_zlib`` +
  ``orjson`` per document, polars frames, ``join_asof`` (tolerance) onto the clock, ``group_by_dynamic``
  (every 5 s, period 42 s, offset -42 s, closed left) for the same aggregates, pyarrow Parquet.

Neither peer validates documents the way extraction does (types, ranges, quarantine records), applies the
cutoff rule to the join (no sample at or after a cutoff may reach its features), computes slopes,
coverage, categorical or event features, or writes lineage: they are lower bounds for the same job.
"""

from __future__ import annotations

import argparse
import gzip
import io
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from workload import ONE_CORE_ENV, cpu_seconds, day_key, peak_rss_mb, pin_one_cpu, robot_day_zip

VARIANTS = ("telemetry", "straightforward", "tuned")
OVERRIDES = ["align.step_ms=100", "labels.mode=grid"]
QUICK_OVERRIDES = ["align.step_ms=1000", "labels.mode=grid"]  # --quick: a 1 s clock, 10x fewer ticks
STATS = ("mean", "std", "min", "max", "last", "count")


def _config(quick: bool) -> Any:
    from telemetry.config import load_config

    return load_config(env={}, overrides=QUICK_OVERRIDES if quick else OVERRIDES)


def _result(name: str, started: float, cpu0: float, **extra: Any) -> dict[str, Any]:
    return {
        "variant": name,
        "seconds": time.perf_counter() - started,
        "cpu_seconds": cpu_seconds() - cpu0,
        "peak_rss_mb": peak_rss_mb(),
        **extra,
    }


# ------------------------------------------------------------------------------------------ telemetry


def run_telemetry(path: Path, quick: bool) -> dict[str, Any]:
    """The worker's code path for one robot-day, in this process, with stage times."""
    import pyarrow.parquet as pq

    import telemetry.run.pipeline as pipeline
    from telemetry.contract.layout import features_key
    from telemetry.io.store import Store

    config = _config(quick)
    day = day_key(quick)
    tmp = Path(tempfile.mkdtemp(prefix="telemetry-e2e-"))
    try:
        raw = Store(str(tmp / "raw"))
        raw.write_bytes(
            f"fleet={day.fleet}/date={day.date.isoformat()}/{day.robot_id}.zip", path.read_bytes()
        )
        out = Store(str(tmp / "out"))
        stages = {"store_read": 0.0, "extract": 0.0, "read_back": 0.0, "features": 0.0, "parquet_write": 0.0}
        peaks: dict[str, float] = {}

        def timed(fn: Callable[..., Any], stage: str) -> Callable[..., Any]:
            def wrapper(*args: Any, **kwargs: Any) -> Any:
                clock = time.perf_counter()
                try:
                    return fn(*args, **kwargs)
                finally:
                    stages[stage] += time.perf_counter() - clock
                    peaks[stage] = peak_rss_mb()

            return wrapper

        pipeline.extract_day_zip = timed(pipeline.extract_day_zip, "extract")  # type: ignore[assignment]
        pipeline._read_tables = timed(pipeline._read_tables, "read_back")  # type: ignore[assignment]
        pipeline.robot_features = timed(pipeline.robot_features, "features")  # type: ignore[assignment]
        pipeline.parquet_bytes = timed(pipeline.parquet_bytes, "parquet_write")  # type: ignore[assignment]
        Store.read = timed(Store.read, "store_read")  # type: ignore[method-assign]
        started, cpu0 = time.perf_counter(), cpu_seconds()
        summary = pipeline.run_features(raw, out, config, fleet=day.fleet, start=day.date, end=day.date)
        result = _result("telemetry", started, cpu0)
        if summary.failed or len(summary.computed) != 1:
            raise SystemExit(f"telemetry: computed {summary.computed}, failed {summary.failed}")
        (partition,) = summary.partitions
        written = pq.read_metadata(io.BytesIO(out.read_bytes(features_key(day))))
        result.update(
            stages=stages,
            partition_stage_s=partition.seconds,
            stage_peak_rss_mb=peaks,
            documents=summary.extract.documents,
            quarantined=summary.extract.quarantined,
            samples=sum(summary.extract.samples.values()),
            json_mb=summary.extract.json_bytes / 1e6,
            examples=partition.examples,
            rows_written=written.num_rows,
            columns_written=written.num_columns,
        )
        return result
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


# ------------------------------------------------------------------------------------ straightforward


def _clock_and_cutoffs(config: Any, day: Any) -> tuple[Any, Any]:
    import numpy as np

    from telemetry.contract.envelope import day_bounds_ms

    start, end = day_bounds_ms(day.date)
    step = config.align.step_ms
    window = config.features.longest_window_ms
    clock = np.arange(start - window, end, step, dtype=np.int64)
    grid = round(config.labels.grid_step_s * 1000)
    cutoffs = np.arange(start, end, grid, dtype=np.int64)
    return clock, cutoffs


def _grid_labels(failures: Any, cutoffs: Any, horizon_ms: int) -> Any:
    """1 when a failure falls in ``(cutoff, cutoff + horizon]``."""
    import numpy as np

    failures = np.sort(np.asarray(failures, dtype=np.int64))
    after = np.searchsorted(failures, cutoffs, side="right")
    upto = np.searchsorted(failures, cutoffs + horizon_ms, side="right")
    return (upto > after).astype(np.int8)


def run_straightforward(path: Path, quick: bool, out_path: Path) -> dict[str, Any]:
    """stdlib zipfile + gzip + json, pandas merge_asof and time-based rolling, to_parquet."""
    import numpy as np
    import pandas as pd

    config = _config(quick)
    day = day_key(quick)
    sampled = [s for s in config.signals if s.role != "events" and s.numeric]
    events = config.events_signal
    started, cpu0 = time.perf_counter(), cpu_seconds()
    stages: dict[str, float] = {}
    clock_t = time.perf_counter()
    rows: dict[str, list[dict[str, Any]]] = {s.name: [] for s in config.signals}
    documents = json_bytes = 0
    with zipfile.ZipFile(path) as zf:
        for info in zf.infolist():
            documents += 1
            try:
                text = gzip.decompress(zf.read(info))
                doc = json.loads(text)
                signals = doc["signals"]
                for name, samples in signals.items():
                    if name in rows and isinstance(samples, list):
                        rows[name].extend(samples)
            except (OSError, EOFError, ValueError, KeyError, TypeError, AttributeError, zipfile.BadZipFile):
                continue
            json_bytes += len(text)
    frames: dict[str, pd.DataFrame] = {}
    for spec in config.signals:
        frame = pd.DataFrame.from_records(rows.pop(spec.name), columns=["ts", *spec.fields])
        for col in ("ts", *spec.numeric):
            frame[col] = pd.to_numeric(frame[col], errors="coerce")
        frame = frame.dropna(subset=["ts"]).astype({"ts": "int64"})
        frames[spec.name] = frame.sort_values("ts", kind="stable").drop_duplicates(ignore_index=True)
    samples = sum(len(f) for f in frames.values())
    stages["extract"] = time.perf_counter() - clock_t

    clock_t = time.perf_counter()
    clock, cutoffs = _clock_and_cutoffs(config, day)
    aligned = pd.DataFrame({"ts": clock})
    for spec in sampled:
        right = frames[spec.name][["ts", *spec.numeric]].rename(
            columns={f: f"{spec.name}.{f}" for f in spec.numeric}
        )
        aligned = pd.merge_asof(
            aligned,
            right,
            on="ts",
            direction=spec.direction,
            tolerance=spec.tolerance_ms,
        )
    stages["align"] = time.perf_counter() - clock_t
    clock_t = time.perf_counter()
    aligned.index = pd.to_datetime(aligned.pop("ts"), unit="ms")
    at = pd.to_datetime(cutoffs, unit="ms")
    columns: dict[str, Any] = {"robot_id": day.robot_id, "cutoff": cutoffs}
    for w in config.features.windows_s:
        roll = aligned.rolling(f"{w}s", closed="left")
        stats = {
            "mean": roll.mean(),
            "std": roll.std(ddof=0),
            "min": roll.min(),
            "max": roll.max(),
            "count": roll.count(),
        }
        last = aligned.ffill().shift(1)
        for col in aligned.columns:
            for stat in STATS:
                if stat == "last":
                    values = last[col].reindex(at).to_numpy()
                    values = np.where(stats["count"][col].reindex(at).to_numpy() > 0, values, np.nan)
                else:
                    values = stats[stat][col].reindex(at).to_numpy()
                columns[f"{col}__{stat}__w{w}s"] = values
    failures = []
    if events is not None:
        ev = frames[events.name]
        failures = ev.loc[ev["kind"] == config.labels.failure_kind, "ts"].to_numpy()
    columns["label"] = _grid_labels(failures, cutoffs, round(config.labels.horizon_s * 1000))
    result_frame = pd.DataFrame(columns)
    stages["labels_features"] = time.perf_counter() - clock_t
    clock_t = time.perf_counter()
    result_frame.to_parquet(out_path, index=False)
    stages["parquet_write"] = time.perf_counter() - clock_t
    return _result(
        "straightforward",
        started,
        cpu0,
        stages=stages,
        documents=documents,
        samples=samples,
        json_mb=json_bytes / 1e6,
        rows_written=len(result_frame),
        columns_written=result_frame.shape[1],
    )


# --------------------------------------------------------------------------------------------- tuned


def run_tuned(path: Path, quick: bool, out_path: Path) -> dict[str, Any]:
    """isal + orjson per document, polars join_asof + group_by_dynamic, pyarrow Parquet."""
    import numpy as np
    import orjson
    import polars as pl
    import pyarrow.parquet as pq
    from isal import isal_zlib

    config = _config(quick)
    day = day_key(quick)
    sampled = [s for s in config.signals if s.role != "events" and s.numeric]
    events = config.events_signal
    started, cpu0 = time.perf_counter(), cpu_seconds()
    stages: dict[str, float] = {}
    clock_t = time.perf_counter()
    cols: dict[str, dict[str, list[Any]]] = {
        s.name: {f: [] for f in ("ts", *s.fields)} for s in config.signals
    }
    documents = json_bytes = 0
    with zipfile.ZipFile(path) as zf:
        for info in zf.infolist():
            documents += 1
            try:
                text = isal_zlib.decompress(zf.read(info), wbits=31)
                signals = orjson.loads(text)["signals"]
                staged = []
                for name, samples in signals.items():
                    target = cols.get(name)
                    if target is None:
                        continue
                    for key, values in target.items():
                        staged.append((values, [s.get(key) for s in samples]))
                for values, new in staged:
                    values.extend(new)
            except (isal_zlib.error, orjson.JSONDecodeError, KeyError, TypeError, AttributeError):
                continue
            json_bytes += len(text)
    frames: dict[str, pl.DataFrame] = {}
    for spec in config.signals:
        data = cols.pop(spec.name)
        frame = pl.DataFrame(
            {
                "ts": pl.Series(data["ts"], dtype=pl.Int64, strict=False),
                **{f: pl.Series(data[f], dtype=pl.Float64, strict=False) for f in spec.numeric},
                **{f: pl.Series(data[f], dtype=pl.String, strict=False) for f in spec.categorical},
            }
        )
        frames[spec.name] = frame.drop_nulls("ts").unique(maintain_order=True).sort("ts")
    samples = sum(f.height for f in frames.values())
    stages["extract"] = time.perf_counter() - clock_t

    clock_t = time.perf_counter()
    clock, cutoffs = _clock_and_cutoffs(config, day)
    aligned = pl.DataFrame({"ts": clock})
    for spec in sampled:
        right = frames[spec.name].select("ts", *[pl.col(f).alias(f"{spec.name}.{f}") for f in spec.numeric])
        aligned = aligned.join_asof(
            right, on="ts", strategy=spec.direction, tolerance=spec.tolerance_ms, check_sortedness=False
        )
    stages["align"] = time.perf_counter() - clock_t
    clock_t = time.perf_counter()
    every = round(config.labels.grid_step_s * 1000)
    value_cols = [c for c in aligned.columns if c != "ts"]
    result = pl.DataFrame({"cutoff": cutoffs})
    for w in config.features.windows_s:
        aggs = []
        for col in value_cols:
            x = pl.col(col)
            named = {
                "mean": x.mean(),
                "std": x.std(ddof=0),
                "min": x.min(),
                "max": x.max(),
                "last": x.drop_nulls().last(),
                "count": x.count(),
            }
            aggs += [e.alias(f"{col}__{stat}__w{w}s") for stat, e in named.items()]
        part = aligned.group_by_dynamic(
            "ts",
            every=f"{every}i",
            period=f"{w * 1000}i",
            offset=f"-{w * 1000}i",
            closed="left",
            label="right",
            start_by="window",
        ).agg(aggs)
        result = result.join(part.rename({"ts": "cutoff"}), on="cutoff", how="left")
    failures: Any = []
    if events is not None:
        ev = frames[events.name]
        failures = ev.filter(pl.col("kind") == config.labels.failure_kind)["ts"].to_numpy()
    result = result.with_columns(
        pl.lit(day.robot_id).alias("robot_id"),
        pl.Series(
            "label", _grid_labels(failures, np.asarray(cutoffs), round(config.labels.horizon_s * 1000))
        ),
    )
    stages["labels_features"] = time.perf_counter() - clock_t
    clock_t = time.perf_counter()
    pq.write_table(result.to_arrow(), out_path)
    stages["parquet_write"] = time.perf_counter() - clock_t
    return _result(
        "tuned",
        started,
        cpu0,
        stages=stages,
        documents=documents,
        samples=samples,
        json_mb=json_bytes / 1e6,
        rows_written=result.height,
        columns_written=result.width,
    )


# ------------------------------------------------------------------------------------------ driver


def run_variant(name: str, quick: bool) -> dict[str, Any]:
    """One variant, timed in this process (after the imports and the workload are ready)."""
    pin_one_cpu()
    import pyarrow as pa

    pa.set_cpu_count(1)
    pa.set_io_thread_count(1)
    path = robot_day_zip(quick)
    if name == "telemetry":
        return run_telemetry(path, quick)
    with tempfile.TemporaryDirectory(prefix="telemetry-e2e-") as tmp:
        out = Path(tmp) / "features.parquet"
        if name == "straightforward":
            return run_straightforward(path, quick, out)
        if name == "tuned":
            return run_tuned(path, quick, out)
    raise SystemExit(f"unknown variant {name!r}; expected one of {VARIANTS}")


def _polars_available(python: str) -> bool:
    probe = subprocess.run([python, "-c", "import polars"], capture_output=True)
    return probe.returncode == 0


def _measure(python: str, name: str, quick: bool) -> dict[str, Any]:
    cmd = [python, __file__, "--variant", name, *(["--quick"] if quick else [])]
    proc = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, **ONE_CORE_ENV})
    if proc.returncode != 0:
        raise SystemExit(f"variant {name} failed:\n{proc.stderr[-4000:]}")
    return dict(json.loads(proc.stdout.strip().splitlines()[-1]))


def ratios(best: dict[str, dict[str, Any]]) -> dict[str, float | None]:
    """How many times faster telemetry is than each other variant (their seconds / ours)."""
    ours = best["telemetry"]["seconds"]
    return {
        f"telemetry_vs_{name}": (r["seconds"] / ours if ours > 0 else math.inf)
        for name, r in best.items()
        if name != "telemetry"
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--repeat", type=int, default=3, help="runs per variant, round-robin (best is reported)"
    )
    parser.add_argument("--json", type=Path, help="write the results here as JSON")
    parser.add_argument("--quick", action="store_true", help="the fleet online 15 minutes only (tests)")
    parser.add_argument("--only", help="comma-separated variants (default: all available)")
    parser.add_argument(
        "--peer-python",
        help="interpreter of the tuned variant (default: .venv-bench/bin/python if it exists, else this one)",
    )
    parser.add_argument("--variant", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.variant:
        print(json.dumps(run_variant(args.variant, args.quick)))
        return
    robot_day_zip(args.quick)  # simulate once, before any timing
    peer_python = args.peer_python
    if peer_python is None:
        bench_venv = Path(__file__).resolve().parent.parent / ".venv-bench" / "bin" / "python"
        peer_python = str(bench_venv) if bench_venv.exists() else sys.executable
    wanted = args.only.split(",") if args.only else list(VARIANTS)
    pythons = {name: sys.executable for name in wanted}
    notes = []
    if "tuned" in pythons:
        if _polars_available(peer_python):
            pythons["tuned"] = peer_python
        else:
            del pythons["tuned"]
            notes.append(
                "tuned not run: polars is not importable; "
                "create .venv-bench (see benchmarks/requirements-peers.txt)"
            )
            print(notes[-1], file=sys.stderr)
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name in pythons}
    for _ in range(args.repeat):
        for name, python in pythons.items():
            runs[name].append(_measure(python, name, args.quick))
    best = {name: min(rs, key=lambda r: r["seconds"]) for name, rs in runs.items()}
    for name, r in best.items():
        r["runs"] = [round(x["seconds"], 3) for x in runs[name]]
    doc = {
        "workload": {
            "quick": args.quick,
            "overrides": QUICK_OVERRIDES if args.quick else OVERRIDES,
            "robot_day_zip": str(robot_day_zip(args.quick)),
        },
        "repeat": args.repeat,
        "results": list(best.values()),
        "ratios": ratios(best) if "telemetry" in best else {},
        "notes": notes,
    }
    head = best.get("telemetry") or next(iter(best.values()))
    print(
        f"one robot-day{' (quick)' if args.quick else ''}: {head['json_mb']:.1f} MB JSON, "
        f"{head['samples']:,} samples; best of {args.repeat}, one core"
    )
    print(f"{'variant':<16} {'seconds':>8} {'CPU s':>6} {'peak RSS MB':>12}  stages (s)  runs")
    for r in best.values():
        stages = " ".join(f"{k}={v:.2f}" for k, v in r["stages"].items())
        print(
            f"{r['variant']:<16} {r['seconds']:8.2f} {r['cpu_seconds']:6.2f} {r['peak_rss_mb']:12.0f}"
            f"  {stages}  {r['runs']}"
        )
    for key, value in doc["ratios"].items():
        print(f"{key}: {value:.2f}x")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(doc, indent=1) + "\n")


if __name__ == "__main__":
    main()
