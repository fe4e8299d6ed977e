"""Align + labels + features benchmark: one full-rate robot-day, one core, against peer libraries.

Peers are NOT dependencies of the package. They live in a separate, plain venv (never
``--system-site-packages``), next to the project pinned by ``constraints.txt``. From the repository root:

    python3 -m venv .venv-bench
    .venv-bench/bin/python -m pip install --upgrade pip
    .venv-bench/bin/python -m pip install -c constraints.txt -e . -r benchmarks/requirements-peers.txt
    .venv-bench/bin/python benchmarks/features.py --repeat 3 --json benchmarks/results/features.json

(``.venv/bin/python benchmarks/features.py --setup`` runs the three set-up commands.) Run with
``.venv/bin/python`` the script still times our implementation; every peer that is not importable is reported
and skipped. ``.venv-bench/`` is git-ignored.

Workload (simulated once, cached as Parquet under ``$TMPDIR/telemetry-bench``): day 2 of
``FleetSpec(robots=1, days=2, seed=2026)`` at full rates (default faults), plus a 1 h halo of day 1 so that
windows and exclusions at 00:00 see the data a partitioned pipeline passes them. Clock span
``[start - Wmax, end)``; cutoffs every 5 s in ``[start, end)`` (17,280); windows 10, 42 and 300 s.

Every variant runs in a fresh process pinned to one CPU (thread pools set to 1) and reports its own peak
RSS; only the stage itself is timed (reading Parquet and preparing inputs are not). Variants run round-robin
``--repeat`` times; the table shows the best wall time (and the best CPU time, less sensitive to other load
on a shared VM) and every run.

- ``align``: :func:`telemetry.stages.align.align` (5 sampled signals, Arrow tables in, per-tick match rows
out).
- ``labels[grid|event]``: :func:`telemetry.stages.labels.make_examples` (the clock does not enter: timed
once).
- ``features[grid]``: :func:`telemetry.stages.features.build_features` for all 17,280 grid cutoffs (a fixed
  workload, excluded cutoffs included); ``features[event]``: for the event-mode examples.
- ``total[grid|event]``: align + labels + features in one process (what a worker does per robot-day).
- ``ours[numeric]``: build_features restricted to the 14 numeric fields (no categorical or event
  features), to compare with the peers on the same aggregates.

Peers compute mean, std (ddof 0), min, max, last, slope (s) and count of the 14 numeric fields over the same
windows and cutoffs, from the aligned numeric table (produced by our align, not timed). They do **not**
apply the cutoff rule of docs/time-semantics.md (a nearest tick may not use a sample at or after ``c``):

- ``pandas[loop]``: a per-cutoff slicing loop; a subset of cutoffs is timed and extrapolated to 17,280;
- ``tsfresh[N]``: ``extract_features(default_fc_parameters=MinimalFCParameters(), n_jobs=0)`` on N windows
  in long format (id, tick, kind, value; nulls dropped), extrapolated to 51,840 windows; the import, building
  the long table and a one-window warm-up call are not timed;
- ``polars[dynamic]``: ``group_by_dynamic`` (every 5 s, period W, offset -W, closed left), slope from sums;
- ``polars[rolling]``: fixed-row ``rolling_*`` on the gap-free grid (faster here than ``rolling_*_by``),
  slope from running sums, rows at the cutoffs taken;
- ``pandas[rolling]``: fixed-row ``rolling`` on the gap-free grid, slope from running sums;
- ``duckdb[rangejoin]``: cutoffs range-joined to their window's ticks, ``GROUP BY cutoff`` (``regr_slope``);
  at the 10 Hz clock a subset of cutoffs is timed and extrapolated. (Window functions ``OVER (RANGE
  BETWEEN W PRECEDING AND 1 PRECEDING)`` took minutes at 1 Hz: not included.)
- ``featuretools[N]``: an EntitySet of one robot (parent ``robots``) with one child dataframe per signal
  (the aligned ticks where the signal matched, time index ``time`` = tick), depth-1 ``dfs`` features with
  the aggregation primitives mean, std, min, max, count, last and trend (89 columns), and
  ``calculate_feature_matrix(cutoff_time=<robot_id, cutoff>, training_window="<W> seconds",
  include_cutoff_time=False, cutoff_time_in_index=True)``, once per window length, on N windows (N/3
  cutoffs spread over the day) extrapolated to 51,840 windows; building the EntitySet and the features
  and a one-cutoff warm-up call are not timed. Windows: featuretools' default (``include_cutoff_time=True``)
  is ``(c - W, c]`` (rows at the cutoff included, the first instant of the window not);
  ``include_cutoff_time=False`` makes it ``[c - W, c)``, ours. Same windows, same aggregates, with these
  differences (``--check`` agrees on every cell once they are accounted for): ``COUNT(<signal>)`` counts
  the signal's matched ticks (ours counts each field's values: the same unless a matched row has a null
  field); ``TREND`` is a slope per day, hour, minute or second, whichever unit divides the window's first
  timestamp with a value (``--check`` converts it to per second), and is null with two values (ours
  is not) and 0 when all times are equal; ``STD`` is ``np.std`` (ddof 0, as ours).
  featuretools 1.31.0 and woodwork 0.31.0 (the newest releases) predate pandas 3, which the project pins:
  pandas 3 no longer caches accessors, so woodwork's ``df.ww`` typing is lost (every ``add_dataframe``
  fails), and ``Trend`` scales a read-only copy-on-write array in place. :func:`featuretools_compat`
  restores pandas 2's cached ``ww`` accessor and does Trend's datetime-to-float conversion (same
  arithmetic) on a writable copy; the result records these shims under ``compat_shims``.

Joins on the 4 nearest-direction signals (localization, odometry, battery, motor), at both clocks:
``align[4]`` (ours, match rows), ``align[4]+frame`` (ours, values materialised into a pandas table),
``pandas[merge_asof]`` (``direction="nearest"``, ``tolerance=τ``), ``polars[join_asof]``
(``strategy="nearest"``) and ``duckdb[asof]``: duckdb's ``ASOF JOIN`` has no nearest direction and no
tolerance, so each signal is two ``ASOF LEFT JOIN`` s (backward ``tick >= ts`` and forward ``tick <= ts``),
the closer match taken in SQL (ties to the backward, earlier sample, as ours) and nulled beyond ``τ``.
Pandas tables in and out, one thread.

``--check`` compares every peer with ours on a subset of cutoffs instead of timing (featuretools on the
first 20 of them), and every join peer's table with ours cell by cell.

Results (``--json``): one entry per variant and clock in ``results`` (best run: ``variant``, ``step_ms``,
``seconds``, ``cpu_seconds``, ``peak_rss_mb``, ``runs``, ...). Every entry has ``extrapolated`` (bool);
entries timed on a subset also have ``cutoffs_timed`` and ``windows_timed`` (and ``measured``: the subset's
cutoffs, windows and seconds), their ``seconds`` and ``cpu_seconds`` being scaled linearly to all cutoffs.
"""

from __future__ import annotations

import argparse
import dataclasses
import gc
import hashlib
import importlib.metadata
import importlib.util
import json
import math
import os
import platform
import resource
import shlex
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

CACHE = Path(tempfile.gettempdir()) / "telemetry-bench"
ROOT = Path(__file__).resolve().parent.parent
SEED = 2026
HALO_MS = 3_600_000  # samples of the previous day kept before 00:00 (>= Wmax + cooldown, mission tolerance)
WINDOWS_S = (10, 42, 300)
STEPS_MS = (1000, 100)
STATS = ("mean", "std", "min", "max", "last", "slope", "count")
JOIN_SIGNALS = ("localization", "odometry", "battery", "motor")
PEERS = ("tsfresh", "featuretools", "polars", "duckdb")
THREAD_ENV = {
    name: "1"
    for name in (
        "OMP_NUM_THREADS",
        "OPENBLAS_NUM_THREADS",
        "MKL_NUM_THREADS",
        "NUMBA_NUM_THREADS",
        "POLARS_MAX_THREADS",
        "RAYON_NUM_THREADS",
        "ARROW_NUM_THREADS",
    )
}
SETUP = (  # the set-up commands (--setup runs them from the repository root)
    "python3 -m venv .venv-bench",
    ".venv-bench/bin/python -m pip install --upgrade pip",
    ".venv-bench/bin/python -m pip install -c constraints.txt -e . -r benchmarks/requirements-peers.txt",
)


# ----------------------------------------------------------------------------------------------- workload


def workload() -> Path:
    """Per-signal Parquet tables of one full-rate robot-day plus a 1 h halo, cached; returns the folder."""
    root = CACHE / f"features-seed{SEED}"
    if (root / "workload.json").exists():
        return root
    from telemetry.contract.envelope import day_bounds_ms
    from telemetry.sim.fleet import FleetSpec, robot_ids, simulate_robot_days

    spec = FleetSpec(robots=1, days=2, seed=SEED)
    robot_id = robot_ids(spec)[0]
    started = time.perf_counter()
    previous, day = simulate_robot_days(spec, robot_id)
    start, end = day_bounds_ms(day.day.date)
    root.mkdir(parents=True, exist_ok=True)
    samples = {}
    for name, table in day.expected.items():
        halo = previous.expected[name]
        both = pd.concat([halo[halo["ts"] >= start - HALO_MS], table], ignore_index=True)
        # a sample re-sent after midnight is in both days' zips: timestamps are unique per signal
        both = both.sort_values("ts", kind="stable").drop_duplicates("ts").reset_index(drop=True)
        both.to_parquet(root / f"{name}.parquet", index=False)
        samples[name] = len(both)
    meta = {
        "robot_id": robot_id,
        "date": day.day.date.isoformat(),
        "start": start,
        "end": end,
        "halo_ms": HALO_MS,
        "samples": samples,
        "failures_in_day": len(day.failures),
    }
    (root / "workload.json").write_text(json.dumps(meta, indent=1) + "\n")
    print(f"simulated 2 robot-days in {time.perf_counter() - started:.1f} s -> {root}", file=sys.stderr)
    return root


def load_tables(root: Path, names: tuple[str, ...] | None = None) -> dict[str, Any]:
    import pyarrow.parquet as pq

    return {
        p.stem: pq.read_table(p) for p in sorted(root.glob("*.parquet")) if names is None or p.stem in names
    }


def configs(step_ms: int) -> dict[str, Any]:
    """The configurations of the benchmark: full (grid / event mode), numeric-only and 4-signal joins."""
    from telemetry.config import AlignConfig, load_config

    base = load_config(env={})
    full = dataclasses.replace(
        base,
        align=AlignConfig(clock="grid", step_ms=step_ms),
        labels=dataclasses.replace(base.labels, mode="grid", grid_step_s=5.0),
        features=dataclasses.replace(base.features, windows_s=WINDOWS_S),
    )
    no_levels = dataclasses.replace(full.features, levels={})
    numeric = tuple(dataclasses.replace(s, categorical=()) for s in full.sampled_signals if s.numeric)
    return {
        "grid": full,
        "event": dataclasses.replace(full, labels=dataclasses.replace(full.labels, mode="event")),
        "numeric": dataclasses.replace(full, signals=numeric, features=no_levels),
        "join4": dataclasses.replace(
            full, signals=tuple(full.signal(n) for n in JOIN_SIGNALS), features=no_levels
        ),
    }


class Bench:
    """Everything a variant needs, loaded before the clock starts."""

    def __init__(self, root: Path, step_ms: int) -> None:
        self.meta = json.loads((root / "workload.json").read_text())
        self.root, self.step_ms = root, step_ms
        self.robot_id: str = self.meta["robot_id"]
        self.start: int = self.meta["start"]
        self.end: int = self.meta["end"]
        self.cfg = configs(step_ms)
        self.wmax_ms = max(WINDOWS_S) * 1000
        self.span = {"robot_id": self.robot_id, "start": self.start - self.wmax_ms, "end": self.end}
        self.label_span = {"robot_id": self.robot_id, "start": self.start, "end": self.end}

    def cutoffs(self) -> np.ndarray:
        from telemetry.stages.labels import grid_cutoffs

        return grid_cutoffs(self.cfg["grid"].labels, self.start, self.end)

    def grid_examples(self) -> pd.DataFrame:
        """Every grid cutoff of the day as an example (a fixed workload, independent of exclusions)."""
        cut = self.cutoffs()
        return pd.DataFrame({"robot_id": np.full(len(cut), self.robot_id, dtype=object), "cutoff": cut})

    def numeric_frame(self) -> pd.DataFrame:
        """The aligned table of the 14 numeric fields (``tick``, ``t_s`` = seconds since the span start)."""
        from telemetry.stages.align import align

        numeric = self.cfg["numeric"]
        aligned = align(load_tables(self.root), signals=numeric.signals, align=numeric.align, **self.span)
        frame = aligned.frame().drop(columns="robot_id")
        frame.insert(1, "t_s", (frame["tick"].to_numpy() - self.span["start"]) / 1000.0)
        return frame

    def numeric_columns(self) -> list[str]:
        return [f"{s.name}.{f}" for s in self.cfg["numeric"].sampled_signals for f in s.numeric]


def subset(n_total: int, n: int) -> np.ndarray:
    """``n`` indices spread evenly over ``range(n_total)``."""
    return np.unique(np.linspace(0, n_total - 1, min(n, n_total)).round().astype(np.int64))


_CPU: list[float] = []  # CPU seconds of the last timed call (the process is pinned to one CPU)


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    """Wall seconds of ``fn()`` and its result; its CPU seconds go to ``_CPU``."""
    gc.collect()
    started, cpu = time.perf_counter(), time.process_time()
    out = fn()
    _CPU.append(time.process_time() - cpu)
    return time.perf_counter() - started, out


# ------------------------------------------------------------------------------------------- our variants


def run_ours(name: str, b: Bench) -> dict[str, Any]:
    from telemetry.stages.align import align
    from telemetry.stages.features import build_features
    from telemetry.stages.labels import make_examples

    info: dict[str, Any] = {}
    if name in ("labels[grid]", "labels[event]"):
        tables = load_tables(b.root)
        cfg = b.cfg[name[7:-1]]
        seconds, ex = timed(
            lambda: make_examples(
                tables, signals=cfg.signals, labels=cfg.labels, features=cfg.features, **b.label_span
            )
        )
        info = {
            "cutoffs": ex.candidates,
            "examples": len(ex.examples),
            "positives": int(ex.examples["label"].sum()),
        }
        info["excluded"] = ex.excluded
    elif name == "align":
        tables = load_tables(b.root)
        grid = b.cfg["grid"]
        seconds, aligned = timed(lambda: align(tables, signals=grid.signals, align=grid.align, **b.span))
        info = {"ticks": len(aligned.ticks), "signals": len(aligned.signals)}
    elif name in ("align[4]", "align[4]+frame"):
        tables = load_tables(b.root, JOIN_SIGNALS)
        join4 = b.cfg["join4"]
        if name == "align[4]":
            seconds, aligned = timed(
                lambda: align(tables, signals=join4.signals, align=join4.align, **b.span)
            )
        else:
            seconds, frame = timed(
                lambda: align(tables, signals=join4.signals, align=join4.align, **b.span).frame()
            )
            info["columns"] = frame.shape[1]
        info["ticks"] = (b.end - b.span["start"]) // b.step_ms
    elif name in ("features[grid]", "features[event]", "ours[numeric]"):
        tables = load_tables(b.root)
        kind = "numeric" if name == "ours[numeric]" else "grid"
        cfg = b.cfg[kind]
        aligned = align(tables, signals=cfg.signals, align=cfg.align, **b.span)
        if name == "features[event]":
            event = b.cfg["event"]
            examples = make_examples(
                tables, signals=event.signals, labels=event.labels, features=event.features, **b.label_span
            ).examples
        else:
            examples = b.grid_examples()
        events = tables.get("events") if kind == "grid" else None
        del tables
        seconds, features = timed(
            lambda: build_features(aligned, events, examples, signals=cfg.signals, features=cfg.features)
        )
        info = {"cutoffs": len(examples), "windows": len(examples) * len(WINDOWS_S)}
        info["feature_columns"] = features.shape[1] - examples.shape[1]
    elif name in ("total[grid]", "total[event]"):
        tables = load_tables(b.root)
        cfg, mode = b.cfg["grid"], name[6:-1]

        def pipeline() -> tuple[Any, pd.DataFrame]:
            aligned = align(tables, signals=cfg.signals, align=cfg.align, **b.span)
            labelling = b.cfg[mode]
            ex = make_examples(
                tables,
                signals=labelling.signals,
                labels=labelling.labels,
                features=labelling.features,
                **b.label_span,
            )
            # grid: every grid cutoff gets features (the fixed workload); event: the training examples
            examples = b.grid_examples() if mode == "grid" else ex.examples
            return ex, build_features(
                aligned, tables.get("events"), examples, signals=cfg.signals, features=cfg.features
            )

        seconds, (ex, features) = timed(pipeline)
        info = {
            "cutoffs": len(features),
            "windows": len(features) * len(WINDOWS_S),
            "examples": len(ex.examples),
        }
    else:
        raise SystemExit(f"unknown variant {name!r}")
    return {"seconds": seconds, **info}


# ------------------------------------------------------------------------------------------ peer variants


def pandas_loop(frame: pd.DataFrame, cols: list[str], cutoffs: np.ndarray) -> pd.DataFrame:
    """The straightforward way: slice each window, aggregate with pandas."""
    ticks = frame["tick"].to_numpy()
    values = frame[cols]
    t_s = frame["t_s"]
    rows = []
    for c in cutoffs:
        row: dict[str, Any] = {"cutoff": c}
        hi = int(np.searchsorted(ticks, c, side="left"))
        for w in WINDOWS_S:
            lo = int(np.searchsorted(ticks, c - w * 1000, side="left"))
            win = values.iloc[lo:hi]
            t = win.notna().mul(t_s.iloc[lo:hi], axis=0).where(win.notna())
            dt, dx = t - t.mean(), win - win.mean()
            count = win.count()
            slope = ((dt * dx).sum() / (dt * dt).sum()).where(count >= 2)
            last = win.ffill().iloc[-1] if len(win) else pd.Series(np.nan, index=cols)
            stats = {
                "mean": win.mean(),
                "std": win.std(ddof=0),
                "min": win.min(),
                "max": win.max(),
                "last": last,
                "slope": slope,
                "count": count,
            }
            for stat, series in stats.items():
                for col, value in series.items():
                    row[f"{col}__{stat}__w{w}s"] = value
        rows.append(row)
    return pd.DataFrame(rows).set_index("cutoff")


def _slope_from_sums(n: Any, st: Any, stt: Any, sx: Any, stx: Any) -> Any:
    with np.errstate(divide="ignore", invalid="ignore"):
        return (n * stx - st * sx) / (n * stt - st * st)


def polars_dynamic(frame: Any, cols: list[str], cutoffs: np.ndarray, step_ms: int) -> Any:
    import polars as pl

    every = 5000
    assert np.all(cutoffs % every == 0)
    parts = []
    for w in WINDOWS_S:
        aggs = []
        for col in cols:
            x = pl.col(col)
            t = pl.when(x.is_not_null()).then(pl.col("t_s"))
            n = x.count()
            slope = _slope_from_sums(n, t.sum(), (t * t).sum(), x.sum(), (t * x).sum())
            named = {
                "mean": x.mean(),
                "std": x.std(ddof=0),
                "min": x.min(),
                "max": x.max(),
                "last": x.drop_nulls().last(),
                "slope": pl.when(n >= 2).then(slope),
                "count": n,
            }
            aggs += [e.alias(f"{col}__{stat}__w{w}s") for stat, e in named.items()]
        part = frame.group_by_dynamic(
            "tick",
            every=f"{every}i",
            period=f"{w * 1000}i",
            offset=f"-{w * 1000}i",
            closed="left",
            label="right",
            start_by="window",
        ).agg(aggs)
        parts.append(part.rename({"tick": "cutoff"}))
    out = pl.DataFrame({"cutoff": cutoffs})
    for part in parts:
        out = out.join(part, on="cutoff", how="left")
    return out


def polars_rolling(frame: Any, cols: list[str], cutoffs: np.ndarray, step_ms: int) -> Any:
    """Fixed-row rolling on the gap-free grid (faster than ``rolling_*_by``), rows at the cutoffs taken."""
    import polars as pl

    ticks = frame["tick"].to_numpy()
    if not np.all(np.diff(ticks) == step_ms):
        raise SystemExit("polars[rolling] needs a gap-free grid")
    rows = pl.Series((cutoffs - ticks[0]) // step_ms - 1)  # the window of c ends on the tick before c
    out = pl.DataFrame({"cutoff": cutoffs})
    for w in WINDOWS_S:
        size = w * 1000 // step_ms
        exprs = []
        for col in cols:
            x = pl.col(col)
            ok = x.is_not_null().cast(pl.Float64)
            t = pl.col("t_s") * ok
            n = ok.rolling_sum(size, min_samples=1)
            slope = _slope_from_sums(
                n,
                t.rolling_sum(size, min_samples=1),
                (t * t).rolling_sum(size, min_samples=1),
                x.fill_null(0.0).rolling_sum(size, min_samples=1),
                (t * x).fill_null(0.0).rolling_sum(size, min_samples=1),
            )
            last_tick = pl.when(x.is_not_null()).then(pl.col("tick")).forward_fill()
            named = {
                "mean": x.rolling_mean(size, min_samples=1),
                "std": x.rolling_std(size, min_samples=1, ddof=0),
                "min": x.rolling_min(size, min_samples=1),
                "max": x.rolling_max(size, min_samples=1),
                "last": pl.when(last_tick > pl.col("tick") - w * 1000).then(x.forward_fill()),
                "slope": pl.when(n >= 2).then(slope),
                "count": n,
            }
            exprs += [e.alias(f"{col}__{stat}__w{w}s") for stat, e in named.items()]
        picked = frame.lazy().select(exprs).collect()[rows]
        out = out.hstack(picked)
    return out


def pandas_rolling(frame: pd.DataFrame, cols: list[str], cutoffs: np.ndarray, step_ms: int) -> pd.DataFrame:
    """Fixed-row rolling on the gap-free grid, rows at the cutoffs taken."""
    ticks = frame["tick"].to_numpy()
    if not np.all(np.diff(ticks) == step_ms):
        raise SystemExit("pandas[rolling] needs a gap-free grid")
    rows = (cutoffs - ticks[0]) // step_ms - 1  # the window of c ends on the tick before c
    values = frame[cols]
    ok = values.notna().astype(np.float64)
    t = ok.mul(frame["t_s"], axis=0)
    tt = t * t
    tx = values.mul(frame["t_s"], axis=0)
    tick_ok = ok.mul(frame["tick"], axis=0).where(ok > 0).ffill().to_numpy()[rows]
    last = values.ffill().to_numpy()[rows]
    out: dict[str, Any] = {"cutoff": cutoffs}
    for w in WINDOWS_S:
        size = w * 1000 // step_ms

        def pick(table: pd.DataFrame) -> np.ndarray:
            return table.to_numpy()[rows]

        r = values.rolling(size, min_periods=1)
        n = pick(ok.rolling(size, min_periods=1).sum())
        slope = _slope_from_sums(
            n,
            pick(t.rolling(size, min_periods=1).sum()),
            pick(tt.rolling(size, min_periods=1).sum()),
            pick(r.sum()),
            pick(tx.rolling(size, min_periods=1).sum()),
        )
        named = {
            "mean": pick(r.mean()),
            "std": pick(r.std(ddof=0)),
            "min": pick(r.min()),
            "max": pick(r.max()),
            "last": np.where(tick_ok >= (cutoffs - w * 1000)[:, None], last, np.nan),
            "slope": np.where(n >= 2, slope, np.nan),
            "count": n,
        }
        for stat, picked in named.items():
            for j, col in enumerate(cols):
                out[f"{col}__{stat}__w{w}s"] = picked[:, j]
    return pd.DataFrame(out).set_index("cutoff")


def duckdb_rangejoin(frame: pd.DataFrame, cols: list[str], cutoffs: np.ndarray, step_ms: int) -> pd.DataFrame:
    """SQL: cutoffs range-joined to their ticks, ``GROUP BY cutoff`` (window functions were far slower)."""
    import duckdb

    con = duckdb.connect()
    con.execute("SET threads = 1")
    con.register("f", frame)
    con.register("c", pd.DataFrame({"cutoff": cutoffs}))
    out = pd.DataFrame(index=pd.Index(cutoffs, name="cutoff"))
    for w in WINDOWS_S:
        exprs = []
        for col in cols:
            q = f'"{col}"'
            named = {
                "mean": f"avg({q})",
                "std": f"stddev_pop({q})",
                "min": f"min({q})",
                "max": f"max({q})",
                "last": f"arg_max({q}, tick) FILTER (WHERE {q} IS NOT NULL)",
                "slope": f"regr_slope({q}, t_s)",
                "count": f"count({q})",
            }
            exprs += [f'{e} AS "{col}__{stat}__w{w}s"' for stat, e in named.items()]
        sql = (
            f"SELECT cutoff, {', '.join(exprs)} FROM c JOIN f "
            f"ON f.tick >= c.cutoff - {w * 1000} AND f.tick < c.cutoff GROUP BY cutoff"
        )
        out = out.join(con.execute(sql).df().set_index("cutoff"))
    return out


def tsfresh_long(frame: pd.DataFrame, cols: list[str], cutoffs: np.ndarray) -> pd.DataFrame:
    """The windows of ``cutoffs`` (x 3 lengths) stacked in tsfresh's long format, nulls dropped."""
    ticks = frame["tick"].to_numpy()
    values = frame[cols].to_numpy()
    idx, ids = [], []
    for i, c in enumerate(cutoffs):
        hi = np.searchsorted(ticks, c, side="left")
        for j, w in enumerate(WINDOWS_S):
            lo = np.searchsorted(ticks, c - w * 1000, side="left")
            idx.append(np.arange(lo, hi))
            ids.append(np.full(hi - lo, i * len(WINDOWS_S) + j))
    rows, id_col = np.concatenate(idx), np.concatenate(ids)
    long = pd.DataFrame(
        {
            "id": np.tile(id_col, len(cols)),
            "tick": np.tile(ticks[rows], len(cols)),
            "kind": np.repeat(np.array(cols, dtype=object), len(rows)),
            "value": values[rows].T.ravel(),
        }
    )
    return long.dropna(subset=["value"]).reset_index(drop=True)


def run_tsfresh(long: pd.DataFrame) -> pd.DataFrame:
    from tsfresh import extract_features
    from tsfresh.feature_extraction import MinimalFCParameters

    return extract_features(
        long,
        column_id="id",
        column_sort="tick",
        column_kind="kind",
        column_value="value",
        default_fc_parameters=MinimalFCParameters(),
        n_jobs=0,
        disable_progressbar=True,
    )


def pandas_merge_asof(tables: dict[str, pd.DataFrame], ticks: np.ndarray, cfg: Any) -> pd.DataFrame:
    out = pd.DataFrame({"tick": ticks})
    for name in JOIN_SIGNALS:
        spec = cfg.signal(name)
        right = tables[name][["ts", *spec.fields]].rename(columns={f: f"{name}.{f}" for f in spec.fields})
        out = pd.merge_asof(
            out, right, left_on="tick", right_on="ts", direction="nearest", tolerance=spec.tolerance_ms
        ).drop(columns="ts")
    return out


def polars_join_asof(tables: dict[str, Any], ticks: np.ndarray, cfg: Any) -> Any:
    import polars as pl

    out = pl.DataFrame({"tick": ticks})
    for name in JOIN_SIGNALS:
        spec = cfg.signal(name)
        right = tables[name].select(["ts", *spec.fields]).rename({f: f"{name}.{f}" for f in spec.fields})
        out = out.join_asof(
            right, left_on="tick", right_on="ts", strategy="nearest", tolerance=spec.tolerance_ms
        ).drop("ts")
    return out


def duckdb_asof(tables: dict[str, pd.DataFrame], ticks: np.ndarray, cfg: Any) -> pd.DataFrame:
    """Nearest match within tolerance from two ``ASOF LEFT JOIN`` per signal (duckdb has neither ``nearest``
    nor a tolerance): the backward (``tick >= ts``) and the forward (``tick <= ts``) match, the closer one
    taken (ties to the earlier, backward sample, as ours), nulled when farther than the tolerance."""
    import duckdb

    con = duckdb.connect()
    con.execute("SET threads = 1")
    con.register("ticks", pd.DataFrame({"tick": ticks}))
    joins, columns = [], []
    for name in JOIN_SIGNALS:
        spec = cfg.signal(name)
        con.register(name, tables[name][["ts", *spec.fields]])
        b, f = f"{name}_b", f"{name}_f"
        joins += [
            f"ASOF LEFT JOIN {name} {b} ON t.tick >= {b}.ts",
            f"ASOF LEFT JOIN {name} {f} ON t.tick <= {f}.ts",
        ]
        backward = f"({b}.ts IS NOT NULL AND ({f}.ts IS NULL OR t.tick - {b}.ts <= {f}.ts - t.tick))"
        for field in spec.fields:
            columns.append(
                f"CASE WHEN {backward} THEN (CASE WHEN t.tick - {b}.ts <= {spec.tolerance_ms} "
                f"THEN {b}.{field} END) WHEN {f}.ts - t.tick <= {spec.tolerance_ms} THEN {f}.{field} "
                f'END AS "{name}.{field}"'
            )
    sql = f"SELECT t.tick, {', '.join(columns)} FROM ticks t {' '.join(joins)} ORDER BY t.tick"
    return con.execute(sql).df()


def featuretools_compat() -> list[str]:
    """Import featuretools under pandas 3; returns the compatibility shims applied (see the module docstring).

    featuretools 1.31 / woodwork 0.31 (the newest releases) predate pandas 3: (1) pandas 3 no longer caches
    an accessor on its object, so the typing woodwork stores in ``df.ww`` was lost at once (every
    ``add_dataframe`` failed with WoodworkNotInitError): the ``ww`` accessors are re-registered with pandas
    2's caching; (2) ``Trend`` scaled the read-only array of a copy-on-write ``.values`` in place: its
    datetime-to-float conversion is replaced by the same arithmetic on a writable copy.
    """
    import woodwork.column_accessor as wca
    import woodwork.table_accessor as wta

    shims = []
    if not pd.__version__.startswith(("0.", "1.", "2.")):

        class Cached:
            def __init__(self, name: str, cls: type) -> None:
                self.name, self.cls = name, cls

            def __get__(self, obj: Any, owner: type) -> Any:
                if obj is None:
                    return self.cls
                accessor = self.cls(obj)
                object.__setattr__(obj, self.name, accessor)  # as pandas 2's CachedAccessor
                return accessor

        pd.DataFrame.ww = Cached("ww", wta.WoodworkTableAccessor)  # type: ignore[attr-defined]
        pd.Series.ww = Cached("ww", wca.WoodworkColumnAccessor)  # type: ignore[attr-defined]
        shims.append("woodwork ww accessors cached on their object (pandas < 3 behaviour)")
    import featuretools.utils.time_utils as ftu

    def convert_datetime_to_floats(x: pd.Series) -> np.ndarray:
        first = int(x.iloc[0].value * 1e-9)
        out = pd.to_numeric(x.astype("datetime64[ns]")).to_numpy(dtype=np.float64, copy=True)
        out *= 1e-9 / ftu.find_dividend_by_unit(first)
        return out

    ftu.convert_datetime_to_floats = convert_datetime_to_floats
    shims.append("Trend: datetime-to-float conversion on a writable copy")
    return shims


FT_STATS = {"MEAN": "mean", "STD": "std", "MIN": "min", "MAX": "max", "LAST": "last", "TREND": "slope"}
FT_PRIMITIVES = ("mean", "std", "min", "max", "count", "last", "trend")


def featuretools_setup(frame: pd.DataFrame, cols: list[str], robot_id: str) -> tuple[Any, list[Any]]:
    """An EntitySet (one robot; one child dataframe per signal: its aligned ticks with a match, time index
    ``time``) and the depth-1 aggregation features of :data:`FT_PRIMITIVES` on it."""
    import featuretools as ft

    es = ft.EntitySet("robot")
    es.add_dataframe(
        dataframe_name="robots",
        dataframe=pd.DataFrame({"robot_id": [robot_id]}),
        index="robot_id",
        logical_types={"robot_id": "Categorical"},
    )
    for signal in dict.fromkeys(c.split(".")[0] for c in cols):
        fields = [c for c in cols if c.split(".")[0] == signal]
        df = frame[["tick", *fields]].dropna(how="all", subset=fields)
        df = df.rename(columns={c: c.split(".", 1)[1] for c in fields})
        df.insert(0, "time", pd.to_datetime(df.pop("tick"), unit="ms").astype("datetime64[ns]"))
        df.insert(0, "robot_id", robot_id)
        df.insert(0, "row", np.arange(len(df)))
        es.add_dataframe(
            dataframe_name=signal,
            dataframe=df.reset_index(drop=True),
            index="row",
            time_index="time",
            logical_types={"robot_id": "Categorical"},
            already_sorted=True,
        )
        es.add_relationship("robots", "robot_id", signal, "robot_id")
    es.add_last_time_indexes()
    features = ft.dfs(
        entityset=es,
        target_dataframe_name="robots",
        agg_primitives=list(FT_PRIMITIVES),
        trans_primitives=[],
        max_depth=1,
        features_only=True,
    )
    # COUNT(<signal>) counts the index ``row``; LAST(<signal>.row) is no feature of ours
    return es, [f for f in features if not f.get_name().endswith(".row)")]


def run_featuretools(es: Any, features: list[Any], robot_id: str, cutoffs: np.ndarray) -> pd.DataFrame:
    """``calculate_feature_matrix`` once per window length (``training_window=W``, cutoff excluded): columns
    renamed to ours (``COUNT(<signal>)`` -> every field's count; ``TREND`` per its own time unit)."""
    import featuretools as ft

    cutoff_time = pd.DataFrame(
        {"robot_id": robot_id, "time": pd.to_datetime(cutoffs, unit="ms").astype("datetime64[ns]")}
    )
    parts = []
    for w in WINDOWS_S:
        fm = ft.calculate_feature_matrix(
            features,
            entityset=es,
            cutoff_time=cutoff_time,
            training_window=f"{w} seconds",
            include_cutoff_time=False,  # windows [c - W, c), as ours
            cutoff_time_in_index=True,
            n_jobs=1,
            verbose=False,
        )
        renamed: dict[str, pd.Series] = {}
        for name in fm.columns:
            stat, arg = name[:-1].split("(", 1)  # e.g. MEAN(battery.soc), TREND(battery.soc, time)
            arg = arg.split(",")[0]
            if stat == "COUNT":
                for field in es[arg].columns:
                    if field not in ("row", "robot_id", "time", "_ft_last_time"):
                        renamed[f"{arg}.{field}__count__w{w}s"] = fm[name]
            else:
                renamed[f"{arg}__{FT_STATS[stat]}__w{w}s"] = fm[name]
        part = pd.DataFrame(renamed)
        part.index = (part.index.get_level_values("time").astype("datetime64[ms]").astype(np.int64)).rename(
            "cutoff"
        )
        parts.append(part)
    return pd.concat(parts, axis=1)


def featuretools_slope_per_second(table: pd.DataFrame, frame: pd.DataFrame, cols: list[str]) -> pd.DataFrame:
    """``Trend`` is a slope per day, hour, minute or second: the largest unit that divides the window's first
    timestamp with a value (in whole seconds). Converted to per second, as ours, for the comparison."""
    from featuretools.utils.time_utils import find_dividend_by_unit

    table = table.copy()
    ticks = frame["tick"].to_numpy()
    for w in WINDOWS_S:
        for col in cols:
            name = f"{col}__slope__w{w}s"
            has = frame[col].notna().to_numpy()
            units = []
            for c in table.index:
                lo, hi = np.searchsorted(ticks, [c - w * 1000, c], side="left")
                first = np.flatnonzero(has[lo:hi])
                units.append(find_dividend_by_unit(int(ticks[lo + first[0]] // 1000)) if len(first) else 1)
            table[name] = table[name].astype(float) / np.array(units, dtype=float)
    return table


N_LOOP = {1000: 300, 100: 150}  # cutoffs timed by pandas[loop] per clock (extrapolated to all)
N_DUCK = {1000: 17_280, 100: 2_160}  # cutoffs timed by duckdb[rangejoin] per clock


def peer_of(name: str) -> str | None:
    """The peer package a variant needs (None: pandas/numpy only, always present)."""
    for peer in PEERS:
        if name.startswith(peer):
            return peer
    return None


def run_peer(name: str, b: Bench) -> dict[str, Any]:
    peer = peer_of(name)
    shims: list[str] = []
    if peer == "featuretools":
        shims = featuretools_compat()  # imports featuretools (not timed)
    elif peer is not None:
        importlib.import_module(peer)  # imports are not timed (tsfresh takes seconds)
    cutoffs = b.cutoffs()
    n_all = len(cutoffs)
    if name in JOIN_PEERS:
        tables = {k: v.to_pandas() for k, v in load_tables(b.root, JOIN_SIGNALS).items()}
        ticks = np.arange(b.span["start"], b.end, b.step_ms, dtype=np.int64)
        if name == "pandas[merge_asof]":
            seconds, out = timed(lambda: pandas_merge_asof(tables, ticks, b.cfg["join4"]))
        elif name == "duckdb[asof]":
            seconds, out = timed(lambda: duckdb_asof(tables, ticks, b.cfg["join4"]))
        else:
            import polars as pl

            pl_tables = {k: pl.from_pandas(v.drop(columns="robot_id")) for k, v in tables.items()}
            del tables
            seconds, out = timed(lambda: polars_join_asof(pl_tables, ticks, b.cfg["join4"]))
        return {"seconds": seconds, "ticks": len(ticks), "columns": out.shape[1]}

    frame = b.numeric_frame()
    cols = b.numeric_columns()
    info: dict[str, Any] = {"cutoffs": n_all, "windows": n_all * len(WINDOWS_S)}
    if name == "pandas[loop]":
        sel = cutoffs[subset(n_all, N_LOOP[b.step_ms])]
        seconds, _ = timed(lambda: pandas_loop(frame, cols, sel))
        info["measured"] = {"cutoffs": len(sel), "windows": len(sel) * len(WINDOWS_S), "seconds": seconds}
        info["scale"] = n_all / len(sel)
    elif name.startswith("tsfresh["):
        n_windows = int(name[8:-1])
        sel = cutoffs[subset(n_all, math.ceil(n_windows / len(WINDOWS_S)))]
        long = tsfresh_long(frame, cols, sel)
        run_tsfresh(tsfresh_long(frame, cols, sel[:1]))  # warm-up: lazy imports and one-time set-up
        del frame
        seconds, _ = timed(lambda: run_tsfresh(long))
        info["measured"] = {
            "cutoffs": len(sel),
            "windows": len(sel) * len(WINDOWS_S),
            "long_rows": len(long),
            "seconds": seconds,
        }
        info["scale"] = n_all / len(sel)
    elif name.startswith("featuretools["):
        n_windows = int(name[13:-1])
        sel = cutoffs[subset(n_all, math.ceil(n_windows / len(WINDOWS_S)))]
        es, features = featuretools_setup(frame, cols, b.robot_id)
        del frame
        run_featuretools(es, features, b.robot_id, sel[:1])  # warm-up: lazy imports, one-time set-up
        seconds, _ = timed(lambda: run_featuretools(es, features, b.robot_id, sel))
        info["measured"] = {"cutoffs": len(sel), "windows": len(sel) * len(WINDOWS_S), "seconds": seconds}
        info["scale"] = n_all / len(sel)
        info["feature_columns"] = len(features)
        info["compat_shims"] = shims
    elif name in ("polars[dynamic]", "polars[rolling]"):
        import polars as pl

        pl_frame = pl.from_pandas(frame)
        del frame
        fn = polars_dynamic if name == "polars[dynamic]" else polars_rolling
        seconds, _ = timed(lambda: fn(pl_frame, cols, cutoffs, b.step_ms))
    elif name == "pandas[rolling]":
        seconds, _ = timed(lambda: pandas_rolling(frame, cols, cutoffs, b.step_ms))
    elif name == "duckdb[rangejoin]":
        sel = cutoffs[subset(n_all, N_DUCK[b.step_ms])]
        seconds, _ = timed(lambda: duckdb_rangejoin(frame, cols, sel, b.step_ms))
        if len(sel) < n_all:
            info["measured"] = {"cutoffs": len(sel), "windows": len(sel) * len(WINDOWS_S), "seconds": seconds}
            info["scale"] = n_all / len(sel)
    else:
        raise SystemExit(f"unknown variant {name!r}")
    return {"seconds": seconds, **info}


OURS = (
    "align",
    "labels[grid]",
    "labels[event]",
    "features[grid]",
    "features[event]",
    "total[grid]",
    "total[event]",
    "ours[numeric]",
    "align[4]",
    "align[4]+frame",
)
AGGREGATE_PEERS = (
    "pandas[loop]",
    "tsfresh[200]",
    "tsfresh[1000]",
    "featuretools[60]",
    "polars[dynamic]",
    "polars[rolling]",
    "pandas[rolling]",
    "duckdb[rangejoin]",
)
JOIN_PEERS = ("pandas[merge_asof]", "polars[join_asof]", "duckdb[asof]")
CLOCK_FREE = ("labels[grid]", "labels[event]")  # timed once: labels do not use the clock


def run_variant(name: str, step_ms: int) -> dict[str, Any]:
    rss_start = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    b = Bench(workload(), step_ms)
    result = run_ours(name, b) if name in OURS else run_peer(name, b)
    scale = result.pop("scale", 1.0)  # subsets are extrapolated linearly to all cutoffs
    measured = result.get("measured")
    extrapolation: dict[str, Any] = {"extrapolated": measured is not None}
    if measured is not None:
        extrapolation.update(cutoffs_timed=measured["cutoffs"], windows_timed=measured["windows"])
    return {
        "variant": name,
        "step_ms": step_ms,
        **result,
        **extrapolation,
        "seconds": result["seconds"] * scale,
        "cpu_seconds": _CPU[-1] * scale,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "rss_at_start_mb": rss_start,
    }


# ------------------------------------------------------------------------------------------------- check


def check(step_ms: int, n: int) -> None:
    """Peers against ours (and each other) on ``n`` cutoffs: max |diff| per stat, and agreement."""
    from telemetry.stages.align import align
    from telemetry.stages.features import build_features

    b = Bench(workload(), step_ms)
    cutoffs = b.cutoffs()[subset(len(b.cutoffs()), n)]
    frame, cols = b.numeric_frame(), b.numeric_columns()
    numeric = b.cfg["numeric"]
    aligned = align(load_tables(b.root), signals=numeric.signals, align=numeric.align, **b.span)
    ex = pd.DataFrame({"cutoff": cutoffs})
    ours = build_features(aligned, None, ex, signals=numeric.signals, features=numeric.features)
    ours = ours.set_index("cutoff")
    ref = pandas_loop(frame, cols, cutoffs)
    results = {"ours": ours, "pandas[rolling]": pandas_rolling(frame, cols, cutoffs, step_ms)}
    available = {p for p in PEERS if importlib.util.find_spec(p) is not None}
    if "polars" in available:
        import polars as pl

        pl_frame = pl.from_pandas(frame)
        results["polars[dynamic]"] = (
            polars_dynamic(pl_frame, cols, cutoffs, step_ms).to_pandas().set_index("cutoff")
        )
        results["polars[rolling]"] = (
            polars_rolling(pl_frame, cols, cutoffs, step_ms).to_pandas().set_index("cutoff")
        )
    if "duckdb" in available:
        results["duckdb[rangejoin]"] = duckdb_rangejoin(frame, cols, cutoffs, step_ms)
    print(f"clock {step_ms} ms, {len(cutoffs)} cutoffs; vs pandas[loop]: cells within rtol 1e-6, atol 1e-8")
    for name, table in results.items():
        parts, columns = [], set()
        for stat in STATS:
            names = [c for c in ref.columns if c.split("__")[1] == stat]
            a = ref[names].to_numpy(dtype=float)
            o = table.loc[cutoffs, names].to_numpy(dtype=float)
            close = np.isclose(o, a, rtol=1e-6, atol=1e-8, equal_nan=True)
            parts.append(f"{stat} {close.mean():.2%}")
            bad = ~close.all(axis=0)
            columns |= {f"{n.split('__')[0]}:{stat}" for n, b in zip(names, bad, strict=True) if b}
        print(f"  {name:<18} " + ", ".join(parts))
        if columns:
            print(f"  {'':<18} not all close: {', '.join(sorted(columns))}")
    if "tsfresh" in available:
        long = tsfresh_long(frame, cols, cutoffs[:20])
        ts = run_tsfresh(long)
        worst = 0.0
        for i, c in enumerate(cutoffs[:20]):
            for j, w in enumerate(WINDOWS_S):
                for col in cols:
                    key = i * len(WINDOWS_S) + j
                    got = ts.loc[key, f"{col}__mean"] if key in ts.index else np.nan
                    want = ref.loc[c, f"{col}__mean__w{w}s"]
                    if not (np.isnan(got) and np.isnan(want)):
                        worst = max(worst, abs(got - want) / max(1.0, abs(want)))
        print(f"  {'tsfresh':<18} mean, max relative diff on 60 windows: {worst:.2e}")
    if "featuretools" in available:
        featuretools_compat()
        sub = cutoffs[:20]
        es, features = featuretools_setup(frame, cols, b.robot_id)
        ft_table = featuretools_slope_per_second(run_featuretools(es, features, b.robot_id, sub), frame, cols)
        parts, columns = [], set()
        for stat in STATS:
            names = [c for c in ref.columns if c.split("__")[1] == stat]
            a = ref.loc[sub, names].to_numpy(dtype=float)
            o = ft_table.loc[sub, names].to_numpy(dtype=float)
            close = np.isclose(o, a, rtol=1e-6, atol=1e-8, equal_nan=True)
            note = ""
            if stat == "slope":  # Trend is null with 2 values, ours is not: left out, counted
                two = ref.loc[sub, [n.replace("__slope__", "__count__") for n in names]].to_numpy() == 2
                close |= two
                note = f" ({int(two.sum())} two-value windows left out)"
            parts.append(f"{stat} {close.mean():.2%}{note}")
            bad = ~close.all(axis=0)
            columns |= {f"{n.split('__')[0]}:{stat}" for n, b in zip(names, bad, strict=True) if b}
        print(f"  {'featuretools':<18} {len(sub)} cutoffs: " + ", ".join(parts))
        if columns:
            print(f"  {'':<18} not all close: {', '.join(sorted(columns))}")
    # joins: every cell of the peers' tables against ours
    tables = load_tables(b.root, JOIN_SIGNALS)
    join4 = b.cfg["join4"]
    mine = align(tables, signals=join4.signals, align=join4.align, **b.span).frame().drop(columns="robot_id")
    pd_tables = {k: v.to_pandas() for k, v in tables.items()}
    joined = {"pandas[merge_asof]": pandas_merge_asof(pd_tables, mine["tick"].to_numpy(), b.cfg["join4"])}
    if "polars" in available:
        import polars as pl

        pl_tables = {k: pl.from_pandas(v.drop(columns="robot_id")) for k, v in pd_tables.items()}
        joined["polars[join_asof]"] = polars_join_asof(
            pl_tables, mine["tick"].to_numpy(), b.cfg["join4"]
        ).to_pandas()
    if "duckdb" in available:
        joined["duckdb[asof]"] = duckdb_asof(pd_tables, mine["tick"].to_numpy(), b.cfg["join4"])
    for name, table in joined.items():
        a, o = mine.to_numpy(dtype=float), table[mine.columns].to_numpy(dtype=float)
        same = (a == o) | (np.isnan(a) & np.isnan(o))
        differ = int((~same.all(axis=1)).sum())
        print(f"  {name:<18} cells equal to align: {same.mean():.6%} ({differ} ticks differ)")


# ------------------------------------------------------------------------------------------------ driver


def child_env() -> dict[str, str]:
    return {**os.environ, **THREAD_ENV, "PYTHONHASHSEED": "0"}


def pin_one_cpu(cpu: int | None) -> None:
    if hasattr(os, "sched_setaffinity"):
        allowed = sorted(os.sched_getaffinity(0))
        os.sched_setaffinity(0, {allowed[-1] if cpu is None else cpu})


def versions() -> dict[str, str | None]:
    out: dict[str, str | None] = {}
    for dist in ("numpy", "pandas", "pyarrow", *PEERS, "woodwork", "numba"):
        try:
            out[dist] = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            out[dist] = None
    return out


def fmt_rate(r: dict[str, Any]) -> str:
    windows = r.get("windows")
    return f"{r['seconds'] / windows * 1e6:9.1f}" if windows else f"{'':>9}"


def source_hashes() -> dict[str, str]:
    """The measured code may be in flux: tie the figures to the exact sources (and the commit)."""
    stages = ROOT / "telemetry" / "stages"
    names = (
        "align.py",
        "labels.py",
        *(f"features/{p.name}" for p in sorted((stages / "features").glob("*.py"))),
    )
    out = {name: hashlib.sha256((stages / name).read_bytes()).hexdigest()[:16] for name in names}
    git = ["git", "-C", str(ROOT)]
    head = subprocess.run([*git, "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=False)
    dirty = subprocess.run(
        [*git, "status", "--porcelain", "--", *(f"telemetry/stages/{n}" for n in names)],
        capture_output=True,
        text=True,
        check=False,
    )
    out["git_head"] = head.stdout.strip() + (" (sources modified)" if dirty.stdout.strip() else "")
    return out


def summary(results: list[dict[str, Any]], clocks: list[int]) -> list[str]:
    """The targets of the issue, checked against this run (lines to print)."""
    by = {(r["variant"], r["step_ms"]): r for r in results}
    labels = {r["variant"]: r for r in results if r["variant"] in CLOCK_FREE}
    lines = ["targets (one core, one full-rate robot-day, windows 10/42/300 s):"]
    for step, limit in ((1000, 1.0), (100, 2.0)):
        if step not in clocks:
            continue
        total = by.get(("total[grid]", step))
        parts = [by.get(("align", step)), labels.get("labels[grid]"), by.get(("features[grid]", step))]
        if total:
            ok = "met" if total["seconds"] <= limit else "NOT met"
            lines.append(
                f"  {step} ms clock: align + labels + features = {total['seconds']:.2f} s in one process"
            )
            if all(parts):
                summed = sum(p["seconds"] for p in parts if p)
                lines[-1] += f" ({summed:.2f} s as separate bests)"
            lines[-1] += f"; target <= {limit:.1f} s: {ok}"
        ours = by.get(("features[grid]", step))
        ts = [by[k] for k in by if k[0].startswith("tsfresh[") and k[1] == step]
        if ours and ts:
            best_ts = min(t["seconds"] / t["windows"] for t in ts)
            ratio = best_ts / (ours["seconds"] / ours["windows"])
            ok = "met" if ratio >= 60 else "NOT met"
            lines.append(
                f"  {step} ms clock: tsfresh (minimal) / ours per window = {ratio:.0f}x; target >= 60x: {ok}"
            )
        fts = [by[k] for k in by if k[0].startswith("featuretools[") and k[1] == step]
        if ours and fts:
            best_ft = min(t["seconds"] / t["windows"] for t in fts)
            ratio = best_ft / (ours["seconds"] / ours["windows"])
            lines.append(f"  {step} ms clock: featuretools / ours per window = {ratio:.0f}x (no target)")
        numeric = by.get(("ours[numeric]", step))
        libs = [  # tsfresh and featuretools have their own ratio lines above
            by[k]
            for k in by
            if k[1] == step and k[0] in AGGREGATE_PEERS and not k[0].startswith(("tsfresh", "featuretools"))
        ]
        if numeric and libs:
            best = min(libs, key=lambda r: r["seconds"])
            ok = "met" if numeric["seconds"] <= best["seconds"] else "NOT met"
            lines.append(
                f"  {step} ms clock: same aggregates, ours {numeric['seconds']:.2f} s vs best library "
                f"{best['variant']} {best['seconds']:.2f} s ({best['seconds'] / numeric['seconds']:.1f}x); "
                f"target: at least as fast: {ok}"
            )
    rss = [r for r in results if r["variant"] in OURS]
    if rss:
        worst = max(rss, key=lambda r: r["peak_rss_mb"])
        ok = "met" if worst["peak_rss_mb"] < 1024 else "NOT met"
        lines.append(
            f"  peak RSS of our variants: max {worst['peak_rss_mb']:.0f} MB ({worst['variant']} at "
            f"{worst['step_ms']} ms); target < 1 GB (1024 MB): {ok}"
        )
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeat", type=int, default=3, help="runs per variant (best is reported)")
    parser.add_argument("--json", type=Path, help="write the results here as JSON")
    parser.add_argument("--only", help="comma-separated variant names (default: all)")
    parser.add_argument("--clocks", default="1000,100", help="grid steps in ms (default 1000,100)")
    parser.add_argument("--cpu", type=int, help="CPU to pin every variant to (default: the last allowed)")
    parser.add_argument(
        "--check", type=int, metavar="N", help="compare peers with ours on N cutoffs, no timing"
    )
    parser.add_argument("--setup", action="store_true", help="create .venv-bench and install the peers")
    parser.add_argument("--variant", help=argparse.SUPPRESS)
    parser.add_argument("--step-ms", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.setup:
        for cmd in SETUP:
            print("+", cmd, flush=True)
            subprocess.run(shlex.split(cmd), cwd=ROOT, check=True)
        return
    if args.variant:
        pin_one_cpu(args.cpu)
        print(json.dumps(run_variant(args.variant, args.step_ms)))
        return
    root = workload()
    clocks = [int(s) for s in args.clocks.split(",")]
    if args.check:
        for step in clocks:
            check(step, args.check)
        return
    missing = [p for p in PEERS if importlib.util.find_spec(p) is None]
    for peer in missing:
        print(
            f"peer {peer!r} is not installed in {sys.executable}: skipping its variants. Run this script "
            "with .venv-bench/bin/python (create it with --setup, see the top of this file).",
            file=sys.stderr,
        )
    wanted = set(args.only.split(",")) if args.only else None
    plan = [
        (name, step)
        for step in clocks
        for name in (*OURS, *AGGREGATE_PEERS, *JOIN_PEERS)
        if (wanted is None or name in wanted)
        and peer_of(name) not in missing
        and not (name in CLOCK_FREE and step != clocks[0])
    ]
    load_start = os.getloadavg()[0]
    code_start = source_hashes()
    runs: dict[tuple[str, int], list[dict[str, Any]]] = {key: [] for key in plan}
    for attempt in range(args.repeat):  # round-robin: a noisy minute hits every variant, not just one
        for name, step in plan:
            cmd = [sys.executable, __file__, "--variant", name, "--step-ms", str(step)]
            if args.cpu is not None:
                cmd += ["--cpu", str(args.cpu)]
            out = subprocess.run(cmd, capture_output=True, text=True, env=child_env(), check=False)
            if out.returncode != 0:
                raise SystemExit(f"variant {name} at {step} ms failed:\n{out.stderr}")
            run = json.loads(out.stdout.strip().splitlines()[-1])
            runs[name, step].append(run)
            line = f"  [{attempt + 1}/{args.repeat}] {name} @ {step} ms: {run['seconds']:.3f} s"
            print(line, file=sys.stderr, flush=True)
    results = []
    for key in plan:
        best = dict(min(runs[key], key=lambda r: r["seconds"]))
        best["runs"] = [round(r["seconds"], 3) for r in runs[key]]
        best["cpu_seconds"] = min(r["cpu_seconds"] for r in runs[key])
        best["peak_rss_mb"] = max(r["peak_rss_mb"] for r in runs[key])
        results.append(best)

    meta = json.loads((root / "workload.json").read_text())
    print(
        f"one full-rate robot-day ({meta['date']}, {sum(meta['samples'].values()):,} samples with 1 h halo), "
        f"windows {', '.join(map(str, WINDOWS_S))} s, cutoffs every 5 s; best of {args.repeat}, one core"
    )
    print(
        f"{'clock':>6}  {'variant':<18} {'seconds':>8} {'cpu s':>8} {'us/window':>9} {'peak RSS MB':>11}  "
        "runs / note"
    )
    for r in results:
        note = ""
        if "measured" in r:
            m = r["measured"]
            note = f"  extrapolated from {m['windows']} windows ({m['seconds']:.2f} s)"
        clock = "any" if r["variant"] in CLOCK_FREE else f"{r['step_ms']}ms"
        print(
            f"{clock:>6}  {r['variant']:<18} {r['seconds']:8.3f} {r['cpu_seconds']:8.3f} {fmt_rate(r)} "
            f"{r['peak_rss_mb']:11.0f}  "
            f"{r['runs']}{note}"
        )
    code_end = source_hashes()
    changed = [k for k in code_start if k != "git_head" and code_start[k] != code_end[k]]
    if changed:
        print(
            f"WARNING: {', '.join(changed)} changed during the run: the figures mix versions", file=sys.stderr
        )
    targets = summary(results, clocks)
    for line in targets:
        print(line)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        machine = {
            "python": platform.python_version(),
            "cpu": platform.processor() or platform.machine(),
            "cores": os.cpu_count(),
            "versions": versions(),
            "load_average_1min": {"start": load_start, "end": os.getloadavg()[0]},
        }

        doc = {
            "machine": machine,
            "sources_sha256": code_end,
            "sources_sha256_at_start": code_start,
            "workload": meta,
            "repeat": args.repeat,
            "results": results,
            "targets": targets,
        }
        args.json.write_text(json.dumps(doc, indent=1) + "\n")


if __name__ == "__main__":
    main()
