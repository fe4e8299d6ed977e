"""Fleet pipeline benchmark: extract + features of 10 full-rate robots x 2 days, in-process and on Dask.

    .venv/bin/python benchmarks/pipeline.py [--repeat 3] [--only in-process,dask-1,dask-2,incremental]
        [--no-wait] [--json benchmarks/results/pipeline.json]

Workload: ``FleetSpec(robots=10, days=2, seed=2026)`` at full rates with the default faults, simulated once
(~40 s) into a cached local raw store, ``$TMPDIR/telemetry-bench/pipeline-raw-10x2``; 20 robot-days, so
``run_features`` over both days runs 20 extract and 20 features tasks.

Variants, each in a fresh process with a fresh output directory (all on 127.0.0.1), round-robin ``--repeat``
times; the table shows the best wall time of each and every run:

- ``in-process``: ``run_features(..., client=None)``, every task one after another in this process. Its
  tasks are timed by wrapping ``_extract_if_needed`` and ``compute_partition`` (a few microseconds each):
  **their sum is the sum of stage times**, the work a single core has to do.
- ``dask-1``, ``dask-2``: the LocalCluster of ``telemetry.run.cluster.connect`` (``local_cluster``:
  ``n_workers=w``, one thread each, worker processes, its nanny settings) and ``run_features(...,
  client=client)``. Cluster start-up and the workers' imports (a ``client.run`` that
  imports ``telemetry.run.pipeline``) are done and timed before the run, not inside it: a long-lived cluster
  pays them once. Per-task compute times come from the scheduler's task stream (``get_task_stream``); peak
  worker memory is the max over workers of their ``ru_maxrss``, cross-checked by sampling
  ``psutil.Process().memory_info().rss`` on every worker every 0.5 s from a background thread.

After each timed run the same call is repeated on the same output directory: every task is then a no-op
(committed extraction / lineage), which isolates the per-task cost of scheduling.

Scenario ``incremental`` (JSON block ``incremental``), on a LocalCluster of 2 workers, in a fresh process:
the cached raw store hard-linked into a scratch store (a write replaces a link, never the cache) in which one
robot-day holds its **first** zip version (the simulator uploads ~10% of robot-days late: a first version
lacking a contiguous run of envelopes, then the full zip; the first late robot-day of the ground truth is
taken and its first version simulated again; a fleet without one would use a robot-day's zip minus its last
tenth). Then: the full run (``full_s``, from an empty output store); the late upload (the full zip written
over it: a new version, content hash on a local store, VersionId on S3); the same call again (``rerun_s``).
Reported: ``ratio = rerun_s / full_s`` (target <= 0.15), extract and features tasks run and skipped in each
run (extract: ``_extract`` reports written; features: the run summary), the partitions recomputed against
the expected ones (the late day and every day whose halo reads it, from ``plan_partitions``), that every
other partition was left untouched (files not rewritten), and, for every recomputed partition, its table,
bytes and lineage (fingerprint: inputs, configuration hash, package version) against a from-scratch run of
the late robot on the new inputs in a fresh output store. Both wall times include listing the store and
hashing the listed zips (a local store's versions are content hashes, cached per process by file stat: the
re-run hashes only the new zip); on S3 the listing returns VersionIds without reading the objects.

Derived figures (from the best wall time of each variant, measured in the same invocation; only when all
three variants ran):

- Dask overhead = (wall dask-1 - wall in-process) / wall in-process (target < 10%);
- scaling efficiency 1 -> 2 workers = (throughput dask-2 / throughput dask-1) / 2 (target >= 85%), and the
  throughput ratio dask-2 / dask-1 itself (``throughput_ratio_2_to_1``, target >= 1.8x);
- per-task overhead = (wall - sum of task compute times) / tasks, on dask-1.

Projection: a 365-robot fleet-day on 80 single-threaded workers (80 cores) = ceil(365 / 80) waves x (mean
extract task + mean features task + 2 x per-task overhead), plus the no-op extract checks of the neighbour
days (each features task reads the zips of its day and its two neighbours), with bytes moved per task from
the output directory and memory from the measured worker peak; scaled by the measured 1 -> 2 worker
efficiency (``wall_s_at_measured_efficiency``, target <= 30 s). Every model input is in the JSON
(``derived.projection``: ``tasks``, ``inputs`` (task seconds, per-task overhead, no-op task, peak worker
RSS, bytes per robot-day), ``waves``, ``bytes_moved``, ``cluster_memory_bytes``, ``bound_by``, ``model``,
``includes``, ``excludes``). Cluster start-up and listing the store at fleet scale are not in it.

The machine is shared: before every run the script waits for the 1-min load average to drop below 1.0 (up
to 10 min before the first run, 5 min before the others, then measures anyway; ``--no-wait`` skips this),
and records the load at the start and end of every run. Every run also accounts for CPU seconds from
``/proc/stat`` and ``os.times``: ours (in-process: the process; Dask: the workers, and this process, which
runs client, scheduler and nannies) and the rest of the machine's busy time ("others", as a share of all
cores during the run). Ours in CPU seconds gives a second Dask overhead figure, less sensitive to other load
than wall time.

JSON: ``machine``, ``workload``, ``repeat``, ``load_1min``, ``derived`` (empty unless all three variants
ran), ``best`` and ``runs`` (per variant), ``incremental`` (the scenario's run with the best ``rerun_s``,
with ``runs``: every run's ``full_s``, ``rerun_s``, ``ratio``; null when not run) and ``results``: the best
run of each variant in the shape of benchmarks/features.py's entries (``variant``, ``step_ms`` null,
``seconds`` = wall, ``cpu_seconds``, ``peak_rss_mb``, ``runs``; for ``incremental``: ``seconds`` = rerun_s,
plus ``full_s`` and ``ratio``).
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib.metadata
import json
import math
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

CACHE = Path(tempfile.gettempdir()) / "telemetry-bench"
SEED = 2026
ROBOTS, DAYS = 10, 2
RAW = CACHE / f"pipeline-raw-{ROBOTS}x{DAYS}"
VARIANTS = ("in-process", "dask-1", "dask-2")
SCENARIOS = ("incremental",)
INCREMENTAL_WORKERS = 2
INCREMENTAL_TARGET = 0.15  # re-run after one late robot-day / full run
PROJECTION_TARGET_S = 30.0
THROUGHPUT_TARGET = 1.8  # dask-2 / dask-1
FLEET_ROBOTS, CLUSTER_CORES = 365, 80
LOAD_TARGET, LOAD_WAIT_S = 1.0, 600.0
ENV = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def _spec() -> Any:
    from telemetry.sim.fleet import FleetSpec

    return FleetSpec(robots=ROBOTS, days=DAYS, seed=SEED)


def raw_store() -> Path:
    """The simulated fleet (default faults), cached under $TMPDIR."""
    from telemetry.io.store import Store
    from telemetry.sim.fleet import simulate_fleet

    spec = _spec()
    marker = RAW.with_suffix(".json")
    want = {"robots": spec.robots, "days": spec.days, "seed": spec.seed, "start": spec.start.isoformat()}
    if RAW.exists() and marker.exists() and json.loads(marker.read_text()) == want:
        return RAW
    tmp = RAW.with_name(RAW.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    shutil.rmtree(RAW, ignore_errors=True)
    tmp.mkdir(parents=True)
    started = time.perf_counter()
    simulate_fleet(spec, Store(str(tmp)).write_bytes)
    tmp.rename(RAW)
    marker.write_text(json.dumps(want))
    print(
        f"simulated {spec.robots} x {spec.days} robot-days in {time.perf_counter() - started:.1f} s -> {RAW}"
    )
    return RAW


def wait_for_quiet(target: float = LOAD_TARGET, limit_s: float = LOAD_WAIT_S) -> dict[str, float]:
    """Poll the 1-min load average until it is below `target` (at most `limit_s`), then measure anyway."""
    started = time.monotonic()
    first = os.getloadavg()[0]
    while os.getloadavg()[0] >= target and time.monotonic() - started < limit_s:
        time.sleep(10)
    load = os.getloadavg()[0]
    waited = time.monotonic() - started
    note = "" if load < target else f" (still >= {target} after {limit_s:.0f} s: measuring anyway)"
    print(f"load average 1 min: {first:.2f} -> {load:.2f} after waiting {waited:.0f} s{note}")
    return {"initial": first, "at_start": load, "waited_s": waited}


# ------------------------------------------------------------------------------------------ one run


def _dir_bytes(root: Path, prefix: str) -> dict[str, int]:
    """Bytes per robot-day (``<date>/<robot>``) of the files under ``root/prefix``."""
    sizes: dict[str, int] = {}
    for path in (root / prefix).rglob("*"):
        if path.is_file():
            date = next(p for p in path.parts if p.startswith("date="))[5:]
            key = f"{date}/{path.stem}"
            sizes[key] = sizes.get(key, 0) + path.stat().st_size
    return sizes


def _bytes_moved(out: Path, raw_sizes: dict[str, int]) -> dict[str, Any]:
    """Bytes per robot-day: raw zip read, extraction written, features read (day + neighbours) and written."""
    signals = _dir_bytes(out, "signals")
    extract_written = {k: v + _dir_bytes(out, "quarantine").get(k, 0) for k, v in signals.items()}
    for k, v in _dir_bytes(out, "_extract").items():
        extract_written[k] = extract_written.get(k, 0) + v
    features_written = _dir_bytes(out, "features")
    for k, v in _dir_bytes(out, "_lineage").items():
        features_written[k] = features_written.get(k, 0) + v

    def neighbours(key: str) -> list[str]:
        date, robot = key.split("/")
        day = dt.date.fromisoformat(date)
        near = [f"{day + dt.timedelta(days=d)}/{robot}" for d in (-1, 0, 1)]
        return [k for k in near if k in signals]

    features_read = {k: sum(signals[n] for n in neighbours(k)) for k in features_written}
    n = len(raw_sizes)

    def mean(values: dict[str, int]) -> float:
        return sum(values.values()) / max(1, len(values))

    return {
        "robot_days": n,
        "raw_zip_read": sum(raw_sizes.values()),
        "extract_written": sum(extract_written.values()),
        "signals_parquet": sum(signals.values()),
        "features_read": sum(features_read.values()),
        "features_written": sum(features_written.values()),
        "per_robot_day": {
            "raw_zip_read": mean(raw_sizes),
            "extract_written": mean(extract_written),
            "signals_parquet": mean(signals),
            "features_read_measured": mean(features_read),
            "features_written": mean(features_written),
        },
    }


def _summary_fields(summary: Any) -> dict[str, Any]:
    stages = {"align": 0.0, "labels": 0.0, "features": 0.0}
    for p in summary.partitions:
        for name, value in p.seconds.items():
            stages[name] = stages.get(name, 0.0) + value
    return {
        "wall_s": summary.seconds,
        "computed": len(summary.computed),
        "skipped": len(summary.skipped),
        "failed": summary.failed,
        "partition_stage_s": stages,
        "manifest": summary.manifest.summary,
    }


class _Sampler(threading.Thread):
    """Calls `probe()` (-> {name: rss bytes}) every `period` s and keeps the max per name."""

    def __init__(self, probe: Callable[[], dict[str, int]], period: float = 0.5) -> None:
        super().__init__(daemon=True)
        self.probe, self.period = probe, period
        self.peak: dict[str, int] = {}
        self.samples = 0
        self._stop_event = threading.Event()

    def run(self) -> None:
        while not self._stop_event.is_set():
            try:
                for name, rss in self.probe().items():
                    self.peak[name] = max(self.peak.get(name, 0), rss)
                self.samples += 1
            except Exception:  # a probe racing with shutdown: keep what we have
                pass
            self._stop_event.wait(self.period)

    def stop(self) -> None:
        self._stop_event.set()
        self.join()


def _rss() -> int:
    import psutil  # type: ignore[import-untyped]

    return int(psutil.Process().memory_info().rss)


def _maxrss() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def _cpu_self() -> float:
    """CPU seconds (user + system, all threads) of this process."""
    t = os.times()
    return t.user + t.system


def _machine_busy() -> float:
    """CPU seconds the whole machine spent busy (all cores, all processes) since boot."""
    ticks = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    return (sum(ticks) - ticks[3] - ticks[4]) / os.sysconf("SC_CLK_TCK")  # minus idle and iowait


def _cpu_account(ours: dict[str, float], busy: float, wall: float) -> dict[str, float]:
    """Our CPU seconds by process, the machine's, and the share of all cores used by other processes."""
    total = sum(ours.values())
    others = max(0.0, busy - total)
    return {
        **ours,
        "ours": total,
        "machine_busy": busy,
        "others": others,
        "others_share": others / (wall * (os.cpu_count() or 1)),
    }


def _warm() -> int:
    import telemetry.run.pipeline  # noqa: F401 - the worker's imports, paid once per worker

    return os.getpid()


def run_variant(name: str, raw_dir: Path) -> dict[str, Any]:
    """One timed run of `name` in this (fresh) process, then the same call again (every task a no-op)."""
    import telemetry.run.pipeline as tp
    from telemetry.config import load_config
    from telemetry.io.store import Store

    spec = _spec()
    start, end = spec.start, spec.start + dt.timedelta(days=spec.days - 1)
    config = load_config(env={})
    raw = Store(str(raw_dir))
    raw_sizes = {f"{o.day.date}/{o.day.robot_id}": o.size for o in raw.list_day_zips(spec.fleet, start, end)}
    workdir = Path(tempfile.mkdtemp(prefix="pipeline-out-", dir=CACHE))
    out_dir = workdir / "out"
    out = Store(str(out_dir))
    result: dict[str, Any] = {"variant": name, "load_1min": {"start": os.getloadavg()[0]}}

    def call(client: Any) -> Any:
        return tp.run_features(raw, out, config, fleet=spec.fleet, start=start, end=end, client=client)

    try:
        if name == "in-process":
            times: dict[str, list[float]] = {"extract": [], "features": []}

            def timed(fn: Callable[..., Any], stage: str) -> Callable[..., Any]:
                def wrapper(*args: Any, **kwargs: Any) -> Any:
                    clock = time.perf_counter()
                    try:
                        return fn(*args, **kwargs)
                    finally:
                        times[stage].append(time.perf_counter() - clock)

                return wrapper

            tp._extract_if_needed = timed(tp._extract_if_needed, "extract")
            tp.compute_partition = timed(tp.compute_partition, "features")
            sampler = _Sampler(lambda: {"self": _rss()})
            sampler.start()
            cpu, busy, clock = _cpu_self(), _machine_busy(), time.perf_counter()
            summary = call(None)
            cpu, busy, wall = _cpu_self() - cpu, _machine_busy() - busy, time.perf_counter() - clock
            sampler.stop()
            result.update(_summary_fields(summary))
            result["cpu_s"] = _cpu_account({"process": cpu}, busy, wall)
            result["task_s"] = {k: list(v) for k, v in times.items()}
            result["peak_rss"] = {"maxrss": _maxrss(), "sampled": max(sampler.peak.values(), default=0)}
            for v in times.values():
                v.clear()
            noop = call(None)
            result["noop"] = {"wall_s": noop.seconds, "skipped": len(noop.skipped), "tasks": dict(times)}
        else:
            from distributed import Client, get_task_stream

            workers = int(name.split("-")[1])
            clock = time.perf_counter()
            with (
                _local_cluster(workers) as cluster,
                Client(cluster) as client,  # type: ignore[no-untyped-call]
            ):
                client.wait_for_workers(workers)
                result["cluster_start_s"] = time.perf_counter() - clock
                clock = time.perf_counter()
                client.run(_warm)
                result["worker_warmup_s"] = time.perf_counter() - clock
                sampler = _Sampler(lambda: client.run(_rss))
                sampler.start()
                with get_task_stream(client) as stream:
                    w_cpu = client.run(_cpu_self)
                    cpu, busy, clock = _cpu_self(), _machine_busy(), time.perf_counter()
                    summary = call(client)
                    cpu, busy, wall = _cpu_self() - cpu, _machine_busy() - busy, time.perf_counter() - clock
                    w_cpu = {k: v - w_cpu[k] for k, v in client.run(_cpu_self).items()}
                sampler.stop()
                result.update(_summary_fields(summary))
                # a LocalCluster runs the scheduler and the nannies in this process: `cpu` counts all three
                ours = {"client_scheduler_nannies": cpu, "workers": sum(w_cpu.values())}
                result["cpu_s"] = _cpu_account(ours, busy, wall)
                result["task_s"] = _task_stream_seconds(stream.data)
                result["peak_rss"] = {
                    "maxrss": max(client.run(_maxrss).values()),
                    "sampled": max(sampler.peak.values(), default=0),
                    "samples": sampler.samples,
                    "per_worker_maxrss": sorted(client.run(_maxrss).values()),
                }
                with get_task_stream(client) as stream:
                    noop = call(client)
                result["noop"] = {
                    "wall_s": noop.seconds,
                    "skipped": len(noop.skipped),
                    "tasks": _task_stream_seconds(stream.data),
                }
        result["bytes"] = _bytes_moved(out_dir, raw_sizes)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    result["load_1min"]["end"] = os.getloadavg()[0]
    return result


def _local_cluster(workers: int) -> Any:
    """The LocalCluster ``telemetry.run.cluster.connect`` starts, with `workers` single-threaded processes."""
    from telemetry.config import load_config
    from telemetry.run.cluster import local_cluster

    return local_cluster(load_config(env={}, overrides=[f"cluster.workers={workers}"]).cluster)


def _cluster(workers: int) -> tuple[Any, Any, dict[str, float]]:
    """A started LocalCluster of `workers` single-threaded processes, its client and the set-up seconds."""
    from distributed import Client

    clock = time.perf_counter()
    cluster = _local_cluster(workers)
    client = Client(cluster)  # type: ignore[no-untyped-call]
    client.wait_for_workers(workers)
    start_s = time.perf_counter() - clock
    clock = time.perf_counter()
    client.run(_warm)
    return cluster, client, {"cluster_start_s": start_s, "worker_warmup_s": time.perf_counter() - clock}


def _snapshot(root: Path, prefix: str) -> dict[str, tuple[int, int]]:
    """``{key: (size, mtime_ns)}`` of the files under ``root/prefix``: what a run wrote is what changed."""
    out = {}
    for path in (root / prefix).rglob("*"):
        if path.is_file() and not path.name.startswith("."):
            st = path.stat()
            out[path.relative_to(root).as_posix()] = (st.st_size, st.st_mtime_ns)
    return out


def _written(before: dict[str, tuple[int, int]], after: dict[str, tuple[int, int]]) -> list[str]:
    return sorted(k for k, v in after.items() if before.get(k) != v)


def _partition_of(key: str) -> str:
    """``<prefix>/fleet=<f>/date=<d>/<robot>.<ext>`` -> ``<f>/<d>/<robot>`` (as ``str(DayKey)``)."""
    _, fleet, date, name = key.split("/")
    return f"{fleet.removeprefix('fleet=')}/{date.removeprefix('date=')}/{name.rsplit('.', 1)[0]}"


def _late_day(raw_dir: Path) -> tuple[Any, list[tuple[str, bytes]], str]:
    """The robot-day to upload late, its first zip version's members and where they come from.

    The simulator uploads ~10% of robot-days late (a first version lacking a contiguous run of envelopes,
    then the full zip): the first such robot-day of the ground truth is taken, its first version simulated
    again (deterministic). When the fleet has none, the first robot-day's first version is its full zip
    without the last tenth of its members (envelopes not uploaded yet).
    """
    from telemetry.contract.layout import DayKey
    from telemetry.sim.fleet import simulate_robot_days

    spec = _spec()
    truth = json.loads((raw_dir / f"fleet={spec.fleet}" / "_truth" / "ground_truth.json").read_bytes())
    late = [d for d in truth["robot_days"] if d["late_upload"]]
    chosen = late[0] if late else truth["robot_days"][0]
    day = DayKey(spec.fleet, dt.date.fromisoformat(chosen["date"]), chosen["robot_id"])
    for rd in simulate_robot_days(spec, day.robot_id):
        if rd.day == day:
            if rd.first_version_members is not None:
                return day, list(rd.first_version_members), "simulator late upload"
            return day, list(rd.members[: len(rd.members) * 9 // 10]), "full zip minus its last tenth"
    raise SystemExit(f"{day} is not in the simulated fleet")


def run_incremental(raw_dir: Path) -> dict[str, Any]:
    """Full run, one late robot-day uploaded, re-run; the re-run checked against a from-scratch run."""
    import pandas as pd
    from distributed import get_task_stream

    import telemetry.run.pipeline as tp
    from telemetry.config import load_config
    from telemetry.contract.layout import features_key
    from telemetry.contract.ziplib import build_day_zip
    from telemetry.io.lineage import read_lineage
    from telemetry.io.store import Store

    spec = _spec()
    start, end = spec.start, spec.start + dt.timedelta(days=spec.days - 1)
    config = load_config(env={})
    workdir = Path(tempfile.mkdtemp(prefix="pipeline-incremental-", dir=CACHE))
    result: dict[str, Any] = {"variant": "incremental", "load_1min": {"start": os.getloadavg()[0]}}
    try:
        # the raw store of this run: the cached fleet hard-linked (a write replaces a link, never the cache)
        raw_root = workdir / "raw"
        for path in raw_dir.rglob("*"):
            if path.is_file():
                target = raw_root / path.relative_to(raw_dir)
                target.parent.mkdir(parents=True, exist_ok=True)
                os.link(path, target)
        raw = Store(str(raw_root))
        day, first_members, source = _late_day(raw_dir)
        final = (raw_dir / day.key).read_bytes()
        raw.write_bytes(day.key, build_day_zip(first_members))
        first_obj = raw.list_versions(day.key)[-1]
        out_dir = workdir / "out"
        out = Store(str(out_dir))
        cluster, client, setup = _cluster(INCREMENTAL_WORKERS)
        result.update(setup)
        try:

            def call(store: Any, target: Any, robots: list[str] | None = None) -> tuple[Any, float, Any]:
                with get_task_stream(client) as stream:
                    clock = time.perf_counter()
                    summary = tp.run_features(
                        raw, target, config, fleet=spec.fleet, start=start, end=end, robots=robots,
                        client=client,
                    )  # fmt: skip
                    wall = time.perf_counter() - clock
                return summary, wall, _task_stream_seconds(stream.data)

            full, full_s, full_tasks = call(raw, out)
            before = {p: _snapshot(out_dir, p) for p in ("_extract", "features", "_lineage")}
            raw.write_bytes(day.key, final)  # the late upload: a new version of the day zip
            new_obj = raw.list_versions(day.key)[-1]
            rerun, rerun_s, rerun_tasks = call(raw, out)
            after = {p: _snapshot(out_dir, p) for p in ("_extract", "features", "_lineage")}
            re_extracted = [_partition_of(k) for k in _written(before["_extract"], after["_extract"])]
            rewritten = [_partition_of(k) for k in _written(before["features"], after["features"])]
            # expected: the late day and every robot-day whose halo reads it
            back, forward = tp.halo_days(config)
            history = tp.history_days(config)  # the days whose history features read its events
            objects = raw.list_day_zips(
                spec.fleet, start - dt.timedelta(days=max(back, history)), end + dt.timedelta(days=forward)
            )
            plan = tp.plan_partitions(objects, start, end, back, forward, history)
            expected = sorted(str(d) for d, inputs in plan.items() if any(o.day == day for o in inputs))
            # from scratch on the new inputs: the late robot's days in a fresh output store
            scratch_dir = workdir / "scratch"
            scratch, scratch_s, _ = call(raw, Store(str(scratch_dir)), [day.robot_id])
        finally:
            client.close()
            cluster.close()
        checks = {}
        for p in rerun.partitions:
            if not p.computed:
                continue
            d = next(k for k in plan if str(k) == p.day)
            a, b = out_dir / features_key(d), scratch_dir / features_key(d)
            la, lb = read_lineage(out, d), read_lineage(Store(str(scratch_dir)), d)
            checks[p.day] = {
                "table_equal": bool(pd.read_parquet(a).equals(pd.read_parquet(b))),
                "bytes_equal": a.read_bytes() == b.read_bytes(),
                "lineage_equal": la is not None
                and lb is not None
                and (la.fingerprint, la.features_hash) == (lb.fingerprint, lb.features_hash),
                "reads_new_version": la is not None and any(v == new_obj.version for _, v, _ in la.inputs),
            }
        untouched = [k for k in before["features"] if _partition_of(k) not in rerun.computed]
        n_extract_full = len(before["_extract"])  # the full run started from an empty output store
        result.update(
            {
                "workers": INCREMENTAL_WORKERS,
                "robot_days": len(plan),
                "late_upload": {
                    "robot_day": str(day),
                    "key": day.key,
                    "first_version": {"version": first_obj.version, "size": first_obj.size},
                    "new_version": {"version": new_obj.version, "size": new_obj.size},
                    "first_version_from": source,
                    "members": {"first_version": len(first_members)},
                },
                "full_s": full_s,
                "rerun_s": rerun_s,
                "ratio": rerun_s / full_s,
                "target_ratio_le": INCREMENTAL_TARGET,
                "full": {
                    "extract": {"run": n_extract_full, "skipped": 0},
                    "features": {"run": len(full.computed), "skipped": len(full.skipped)},
                    "failed": full.failed,
                    "task_s": full_tasks,
                },
                "rerun": {
                    "extract": {
                        "run": len(re_extracted),
                        "skipped": len(after["_extract"]) - len(re_extracted),
                    },
                    "features": {"run": len(rerun.computed), "skipped": len(rerun.skipped)},
                    "failed": rerun.failed,
                    "task_s": rerun_tasks,
                    "re_extracted": re_extracted,
                    "recomputed": rerun.computed,
                    "features_rewritten": rewritten,
                },
                "expected_recomputed": expected,
                "check": {
                    "scratch_s": scratch_s,
                    "scratch_computed": scratch.computed,
                    "partitions": checks,
                    "recomputed_as_expected": sorted(rerun.computed) == expected,
                    "others_untouched": not set(untouched) & set(rewritten)
                    and len(untouched) == len(plan) - len(rerun.computed),
                },
            }
        )
        c = result["check"]
        c["ok"] = bool(
            c["recomputed_as_expected"]
            and c["others_untouched"]
            and checks
            and all(
                v["table_equal"] and v["lineage_equal"] and v["reads_new_version"] for v in checks.values()
            )
        )
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    result["load_1min"]["end"] = os.getloadavg()[0]
    return result


def _task_stream_seconds(records: list[dict[str, Any]]) -> dict[str, Any]:
    """Compute seconds per task kind (worker side), and the span of compute over all tasks."""
    times: dict[str, list[float]] = {"extract": [], "features": []}
    starts, stops = [], []
    for rec in records:
        kind = str(rec["key"]).split("-", 1)[0]
        for ss in rec["startstops"]:
            if ss["action"] == "compute" and kind in times:
                times[kind].append(ss["stop"] - ss["start"])
                starts.append(ss["start"])
                stops.append(ss["stop"])
    return {**times, "span_s": (max(stops) - min(starts)) if starts else 0.0}


# ------------------------------------------------------------------------------------------ driver


def _measure(variant: str) -> dict[str, Any]:
    proc = subprocess.run(
        [sys.executable, __file__, "--variant", variant],
        capture_output=True,
        text=True,
        env={**os.environ, **ENV},
    )
    if proc.returncode != 0:
        raise SystemExit(f"variant {variant} failed:\n{proc.stderr[-4000:]}")
    return dict(json.loads(proc.stdout.strip().splitlines()[-1]))


def _sum(values: list[float]) -> float:
    return float(sum(values))


def derive(best: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Targets and the 365-robot projection from the best run of each variant."""
    ip, d1, d2 = best["in-process"], best["dask-1"], best["dask-2"]
    robot_days = ip["bytes"]["robot_days"]
    n_tasks = len(d1["task_s"]["extract"]) + len(d1["task_s"]["features"])
    throughput = {k: robot_days / v["wall_s"] * 60 for k, v in best.items()}
    overhead = (d1["wall_s"] - ip["wall_s"]) / ip["wall_s"]
    overhead_cpu = (d1["cpu_s"]["ours"] - ip["cpu_s"]["ours"]) / ip["cpu_s"]["ours"]
    efficiency = throughput["dask-2"] / throughput["dask-1"] / 2
    compute_d1 = _sum(d1["task_s"]["extract"]) + _sum(d1["task_s"]["features"])
    per_task_overhead = (d1["wall_s"] - compute_d1) / n_tasks
    noop_tasks = len(d1["noop"]["tasks"]["extract"]) + len(d1["noop"]["tasks"]["features"])
    noop_per_task = d1["noop"]["wall_s"] / max(1, noop_tasks)
    noop_extra = (d1["noop"]["wall_s"] - ip["noop"]["wall_s"]) / max(1, noop_tasks)
    te = _sum(d1["task_s"]["extract"]) / len(d1["task_s"]["extract"])
    tf = _sum(d1["task_s"]["features"]) / len(d1["task_s"]["features"])
    per_robot_day = te + tf + 2 * per_task_overhead
    waves = math.ceil(FLEET_ROBOTS / CLUSTER_CORES)
    neighbour_checks = 2 * FLEET_ROBOTS  # the zips of day-1 and day+1, already extracted: no-op tasks
    neighbour_s = math.ceil(neighbour_checks / CLUSTER_CORES) * noop_per_task
    wall = waves * per_robot_day + neighbour_s
    packed = FLEET_ROBOTS * per_robot_day / CLUSTER_CORES + neighbour_s
    b = ip["bytes"]["per_robot_day"]
    features_read_3 = 3 * b["signals_parquet"]  # an interior day reads its own and both neighbours' tables
    moved = FLEET_ROBOTS * (
        b["raw_zip_read"] + b["extract_written"] + features_read_3 + b["features_written"]
    )
    peak = max(d1["peak_rss"]["maxrss"], d1["peak_rss"]["sampled"], d2["peak_rss"]["maxrss"])
    return {
        "robot_days": robot_days,
        "throughput_robot_days_per_min": throughput,
        "dask_overhead": overhead,
        "dask_overhead_cpu": overhead_cpu,
        "cpu_s": {k: v["cpu_s"]["ours"] for k, v in best.items()},
        "others_cpu_share": {k: v["cpu_s"]["others_share"] for k, v in best.items()},
        "scaling_efficiency_1_to_2": efficiency,
        "sum_of_stage_times_s": {
            "in_process_tasks": _sum(ip["task_s"]["extract"]) + _sum(ip["task_s"]["features"]),
            "in_process_wall": ip["wall_s"],
            "dask_1_worker_compute": compute_d1,
            "dask_2_worker_compute": _sum(d2["task_s"]["extract"]) + _sum(d2["task_s"]["features"]),
        },
        "per_task_overhead_s": {
            "dask_1_busy": per_task_overhead,
            "dask_1_noop_task": noop_per_task,
            "dask_1_noop_minus_in_process": noop_extra,
        },
        "throughput_ratio_2_to_1": throughput["dask-2"] / throughput["dask-1"],
        "targets": {
            "dask_overhead_lt_10pct": overhead < 0.10,
            "scaling_efficiency_ge_85pct": efficiency >= 0.85,
            "throughput_ratio_ge_1_8x": throughput["dask-2"] / throughput["dask-1"] >= THROUGHPUT_TARGET,
            "projection_le_30s": wall / min(1.0, efficiency) <= PROJECTION_TARGET_S,
        },
        "projection": {
            "robots": FLEET_ROBOTS,
            "workers": CLUSTER_CORES,
            "tasks": {
                "extract": FLEET_ROBOTS,
                "features": FLEET_ROBOTS,
                "neighbour_noop_checks": neighbour_checks,
            },
            "inputs": {
                "extract_task_s": te,
                "features_task_s": tf,
                "per_task_overhead_s": per_task_overhead,
                "noop_task_s": noop_per_task,
                "peak_worker_rss_bytes": peak,
                "bytes_per_robot_day": {**b, "features_read_interior_day": features_read_3},
            },
            "waves": waves,
            "per_robot_day_s": per_robot_day,
            "neighbour_checks_s": neighbour_s,
            "wall_s": wall,
            "wall_s_perfect_packing": packed,
            "wall_s_at_measured_efficiency": wall / min(1.0, efficiency),
            "bytes_moved": moved,
            "store_throughput_mb_s": moved / wall / 1e6,
            "cluster_memory_bytes": CLUSTER_CORES * peak,
            "bound_by": "extract" if te > tf else "features",
            "model": (
                "wall_s = waves x (extract_task_s + features_task_s + 2 x per_task_overhead_s)"
                " + ceil(neighbour_noop_checks / workers) x noop_task_s;"
                " wall_s_at_measured_efficiency = wall_s / min(1, scaling_efficiency_1_to_2)"
            ),
            "includes": [
                "per-task overhead (dask-1: (wall - sum of task compute) / tasks): scheduling, idle",
                "the no-op extract checks of the neighbour days",
                "the measured 1 -> 2 worker efficiency (wall_s_at_measured_efficiency)",
            ],
            "excludes": ["cluster start-up and worker imports", "store listing at fleet scale"],
            "target_wall_s_le": PROJECTION_TARGET_S,
        },
    }


def _workers(variant: str) -> int:
    return 1 if variant == "in-process" else int(variant.split("-")[1])


def report(runs: dict[str, list[dict[str, Any]]], best: dict[str, dict[str, Any]], d: dict[str, Any]) -> None:
    mb = 1e6
    n = d["robot_days"]
    print(f"\n{ROBOTS} robots x {DAYS} days = {n} robot-days, full rates; best of {len(runs['in-process'])}")
    head = (
        f"{'variant':<11} {'wall s':>7} {'rd/min':>7} {'Σextract':>9} {'Σfeatures':>10} {'Σtasks':>7} "
        f"{'idle/task':>9} {'no-op s':>8} {'peak RSS MB':>12} {'CPU s':>6} {'others':>7} {'load':>10}"
        "  runs (wall s)"
    )
    print(head)
    print("-" * len(head))
    for name in VARIANTS:
        r = best[name]
        se, sf = _sum(r["task_s"]["extract"]), _sum(r["task_s"]["features"])
        tasks = len(r["task_s"]["extract"]) + len(r["task_s"]["features"])
        peak = max(r["peak_rss"]["maxrss"], r["peak_rss"]["sampled"])
        load = f"{r['load_1min']['start']:.2f}/{r['load_1min']['end']:.2f}"
        walls = " ".join(f"{x['wall_s']:.1f}" for x in runs[name])
        print(
            f"{name:<11} {r['wall_s']:7.1f} {n / r['wall_s'] * 60:7.2f} {se:9.1f} {sf:10.1f} {se + sf:7.1f} "
            f"{(r['wall_s'] * _workers(name) - se - sf) / tasks:9.3f}"
            f" {r['noop']['wall_s']:8.2f} {peak / mb:12.0f}"
            f" {r['cpu_s']['ours']:6.1f} {r['cpu_s']['others_share']:7.0%} {load:>10}"
            f"  {walls}"
        )
    ip = best["in-process"]
    st = ip["partition_stage_s"]
    sf = _sum(ip["task_s"]["features"])
    print(
        f"\nin-process stage split (s): extract {_sum(ip['task_s']['extract']):.1f};"
        f" features tasks {sf:.1f} ="
        f" align {st['align']:.1f} + labels {st['labels']:.1f} + features {st['features']:.1f}"
        f" + read/write {sf - sum(st.values()):.1f}"
    )
    for name in ("dask-1", "dask-2"):
        r = best[name]
        print(
            f"{name}: cluster start {r['cluster_start_s']:.1f} s, worker imports {r['worker_warmup_s']:.1f} s"
            f" (not in wall); per-worker peak RSS MB "
            f"{[round(x / mb) for x in r['peak_rss']['per_worker_maxrss']]}"
        )
    print(
        f"\nDask overhead (1 worker vs in-process): {d['dask_overhead']:+.1%}  (target < 10%: "
        f"{'met' if d['targets']['dask_overhead_lt_10pct'] else 'NOT met'}); in CPU seconds (client,"
        f" scheduler, nannies and workers vs in-process): {d['dask_overhead_cpu']:+.1%}"
    )
    print(
        f"scaling efficiency 1 -> 2 workers:      {d['scaling_efficiency_1_to_2']:.1%}  (target >= 85%: "
        f"{'met' if d['targets']['scaling_efficiency_ge_85pct'] else 'NOT met'})"
    )
    print(
        f"throughput dask-2 / dask-1:             {d['throughput_ratio_2_to_1']:.2f}x  (target >= "
        f"{THROUGHPUT_TARGET}x: {'met' if d['targets']['throughput_ratio_ge_1_8x'] else 'NOT met'})"
    )
    o = d["per_task_overhead_s"]
    print(
        f"per-task overhead: {o['dask_1_busy'] * 1000:.0f} ms (dask-1: (wall - Σcompute) / tasks);"
        f" no-op task {o['dask_1_noop_task'] * 1000:.0f} ms on Dask,"
        f" {o['dask_1_noop_minus_in_process'] * 1000:+.0f} ms vs in-process"
    )
    p = d["projection"]
    i = p["inputs"]
    b = i["bytes_per_robot_day"]
    print(f"\nprojection: {p['robots']}-robot fleet-day on {p['workers']} single-threaded workers")
    print(
        f"  tasks: {p['tasks']['extract']} extract + {p['tasks']['features']} features "
        f"(+ {p['tasks']['neighbour_noop_checks']} no-op extract checks of the neighbour days)"
    )
    print(
        f"  per robot-day: extract {i['extract_task_s']:.2f} s + features {i['features_task_s']:.2f} s"
        f" + 2 x overhead {i['per_task_overhead_s']:.3f} s = {p['per_robot_day_s']:.2f} s"
        f"  (bound by {p['bound_by']})"
    )
    print(
        f"  wall = ceil({p['robots']}/{p['workers']}) = {p['waves']} waves x {p['per_robot_day_s']:.2f} s"
        f" + neighbour checks {p['neighbour_checks_s']:.2f} s = {p['wall_s']:.0f} s"
        f"  (perfect packing {p['wall_s_perfect_packing']:.0f} s;"
        f" at the measured 1->2 efficiency {p['wall_s_at_measured_efficiency']:.0f} s)"
    )
    print(
        f"  target <= {p['target_wall_s_le']:.0f} s at the measured efficiency, with per-task overhead:"
        f" {'met' if d['targets']['projection_le_30s'] else 'NOT met'}"
        " (cluster start-up and fleet-scale listing not included)"
    )
    print(
        f"  bytes per robot-day: raw zip {b['raw_zip_read'] / mb:.1f} MB read; extraction "
        f"{b['extract_written'] / mb:.1f} MB written;"
        f" features read {b['features_read_interior_day'] / mb:.1f} MB"
        f" (3 days of signals), write {b['features_written'] / mb:.2f} MB"
    )
    print(
        f"  bytes moved: {p['bytes_moved'] / 1e9:.1f} GB, {p['store_throughput_mb_s']:.0f} MB/s from the"
        f" store at that wall time"
    )
    print(
        f"  memory: {i['peak_worker_rss_bytes'] / mb:.0f} MB peak per worker -> "
        f"{p['cluster_memory_bytes'] / 1e9:.0f} GB for {p['workers']} workers"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--json", type=Path, help="write the results here as JSON")
    parser.add_argument("--no-wait", action="store_true", help="do not wait for a quiet machine")
    parser.add_argument(
        "--only",
        help=f"comma-separated variants and scenarios (default: all of {', '.join(VARIANTS + SCENARIOS)})",
    )
    parser.add_argument("--variant", help=argparse.SUPPRESS)
    args = parser.parse_args()
    wanted = args.only.split(",") if args.only else [*VARIANTS, *SCENARIOS]
    unknown = sorted(set(wanted) - {*VARIANTS, *SCENARIOS})
    if unknown:
        raise SystemExit(f"--only: unknown {unknown}; expected some of {', '.join(VARIANTS + SCENARIOS)}")
    plan = [n for n in (*VARIANTS, *SCENARIOS) if n in wanted]
    raw_dir = raw_store()
    if args.variant:
        print(
            json.dumps(
                run_incremental(raw_dir) if args.variant in SCENARIOS else run_variant(args.variant, raw_dir)
            )
        )
        return
    load: list[dict[str, float]] = []
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name in plan}
    for round_ in range(args.repeat):
        for name in plan:
            if not args.no_wait:  # the first wait up to 10 min, then up to 5 min before every run
                load.append(wait_for_quiet(limit_s=LOAD_WAIT_S if not load else LOAD_WAIT_S / 2))
            r = _measure(name)
            r["quiet_wait"] = load[-1] if load else None
            runs[name].append(r)
            if name == "incremental":
                print(
                    f"round {round_ + 1} {name:<10} full {r['full_s']:6.1f} s, re-run {r['rerun_s']:5.1f} s"
                    f" ({r['ratio']:.1%}); load {r['load_1min']['start']:.2f} -> {r['load_1min']['end']:.2f}",
                    flush=True,
                )
                if r["full"]["failed"] or r["rerun"]["failed"] or not r["check"]["ok"]:
                    raise SystemExit(f"incremental: failed or check not ok:\n{json.dumps(r, indent=1)}")
                continue
            print(
                f"round {round_ + 1} {name:<10} wall {r['wall_s']:6.1f} s  load "
                f"{r['load_1min']['start']:.2f} -> {r['load_1min']['end']:.2f}; other processes used"
                f" {r['cpu_s']['others_share']:.0%} of the cores",
                flush=True,
            )
            if r["failed"] or r["computed"] != r["bytes"]["robot_days"]:
                raise SystemExit(f"{name}: computed {r['computed']}, failed {r['failed']}")
    best = {name: min(rs, key=lambda r: r["wall_s"]) for name, rs in runs.items() if name in VARIANTS}
    derived = derive(best) if len(best) == len(VARIANTS) else {}
    if derived:
        report(runs, best, derived)
    elif best:
        print("\n(derived figures need all of " + ", ".join(VARIANTS) + ")")
    incremental = None
    if "incremental" in runs:
        incremental = dict(min(runs["incremental"], key=lambda r: r["rerun_s"]))
        incremental["runs"] = [
            {"full_s": r["full_s"], "rerun_s": r["rerun_s"], "ratio": r["ratio"]} for r in runs["incremental"]
        ]
        report_incremental(incremental)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        machine = {
            "python": platform.python_version(),
            "cpu": platform.processor() or platform.machine(),
            "cores": os.cpu_count(),
            "distributed": importlib.metadata.version("distributed"),
        }
        workload = {"robots": ROBOTS, "days": DAYS, "seed": SEED, "faults": "default", "raw": str(RAW)}
        doc = {
            "machine": machine,
            "workload": workload,
            "repeat": args.repeat,
            "load_1min": load,
            "derived": derived,
            "best": best,
            "runs": {k: v for k, v in runs.items() if k in VARIANTS},
            "incremental": incremental,
            "results": results_list(runs, best, incremental),
        }
        args.json.write_text(json.dumps(doc, indent=1) + "\n")


def results_list(
    runs: dict[str, list[dict[str, Any]]], best: dict[str, dict[str, Any]], incremental: dict[str, Any] | None
) -> list[dict[str, Any]]:
    """The best run of every variant in the shape of benchmarks/features.py's ``results`` entries."""
    out = []
    for name, r in best.items():
        cpu = min(x["cpu_s"]["ours"] for x in runs[name])
        peak = max(max(x["peak_rss"]["maxrss"], x["peak_rss"]["sampled"]) for x in runs[name])
        out.append(
            {
                "variant": name,
                "step_ms": None,
                "seconds": r["wall_s"],
                "cpu_seconds": cpu,
                "peak_rss_mb": peak / 2**20,
                "runs": [round(x["wall_s"], 3) for x in runs[name]],
                "robot_days": r["bytes"]["robot_days"],
            }
        )
    if incremental is not None:
        out.append(
            {
                "variant": "incremental",
                "step_ms": None,
                "seconds": incremental["rerun_s"],
                "cpu_seconds": None,
                "peak_rss_mb": None,
                "runs": [round(x["rerun_s"], 3) for x in incremental["runs"]],
                "full_s": incremental["full_s"],
                "ratio": incremental["ratio"],
            }
        )
    return out


def report_incremental(r: dict[str, Any]) -> None:
    """Print the incremental re-run scenario."""
    late, c = r["late_upload"], r["check"]
    print(
        f"\nincremental re-run ({r['robot_days']} robot-days, LocalCluster of {r['workers']} workers):"
        f" late upload of {late['robot_day']} ({late['first_version_from']};"
        f" {late['first_version']['size'] / 1e6:.1f} -> {late['new_version']['size'] / 1e6:.1f} MB)"
    )
    for phase in ("full", "rerun"):
        p = r[phase]
        print(
            f"  {phase:<6} {r[phase + '_s']:6.1f} s: extract run {p['extract']['run']}, skipped"
            f" {p['extract']['skipped']}; features run {p['features']['run']},"
            f" skipped {p['features']['skipped']}"
        )
    ok = "met" if r["ratio"] <= r["target_ratio_le"] else "NOT met"
    print(f"  re-run / full = {r['ratio']:.3f} (target <= {r['target_ratio_le']}: {ok}); runs {r['runs']}")
    print(
        f"  recomputed {r['rerun']['recomputed']} (expected: the late day and the days whose halo reads it:"
        f" {'yes' if c['recomputed_as_expected'] else 'NO'}); other partitions untouched:"
        f" {'yes' if c['others_untouched'] else 'NO'}"
    )
    for day, v in c["partitions"].items():
        print(
            f"  vs from scratch ({c['scratch_s']:.1f} s) {day}: table equal {v['table_equal']}, bytes equal"
            f" {v['bytes_equal']}, lineage equal {v['lineage_equal']}, reads the new version"
            f" {v['reads_new_version']}"
        )


if __name__ == "__main__":
    main()
