"""The benchmarks' shared workload and measurement helpers (imported by the scripts in this directory).

One simulated robot-day at full rates with the default faults, ``FleetSpec(robots=1, days=1, seed=2026)``,
cached as a day zip under ``$TMPDIR/telemetry-bench``; ``quick=True`` gives the same fleet online for the
first 15 minutes of the day only (a few seconds of work, for tests).
"""

from __future__ import annotations

import importlib.metadata
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

CACHE = Path(tempfile.gettempdir()) / "telemetry-bench"
SEED = 2026
QUICK_HOURS = 0.25
REPO = Path(__file__).resolve().parent.parent
# every thread pool to one thread: all figures are per core
ONE_CORE_ENV = {
    name: "1"
    for name in (
        "OMP_NUM_THREADS",
        "OPENBLAS_NUM_THREADS",
        "MKL_NUM_THREADS",
        "NUMEXPR_NUM_THREADS",
        "POLARS_MAX_THREADS",
        "RAYON_NUM_THREADS",
        "ARROW_NUM_THREADS",
    )
}


def fleet_spec(quick: bool = False) -> Any:
    """The simulated fleet: one robot, one day, seed 2026 (``quick``: online 15 minutes)."""
    from telemetry.sim.fleet import FleetSpec

    return FleetSpec(robots=1, days=1, seed=SEED, hours=QUICK_HOURS if quick else 24.0)


def robot_day_zip(quick: bool = False) -> Path:
    """The day zip of the workload (default faults), simulated once and cached."""
    from telemetry.contract.ziplib import build_day_zip
    from telemetry.sim.fleet import robot_ids, simulate_robot_days

    spec = fleet_spec(quick)
    suffix = "-quick" if quick else ""
    path = CACHE / f"robot-day-seed{spec.seed}{suffix}.zip"
    if not path.exists():
        CACHE.mkdir(parents=True, exist_ok=True)
        started = time.perf_counter()
        day = next(simulate_robot_days(spec, robot_ids(spec)[0]))
        tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
        tmp.write_bytes(build_day_zip(day.members))
        tmp.replace(path)
        print(f"simulated one robot-day in {time.perf_counter() - started:.1f} s -> {path}", file=sys.stderr)
    return path


def day_key(quick: bool = False) -> Any:
    """The :class:`telemetry.contract.layout.DayKey` of the workload's robot-day."""
    from telemetry.contract.layout import parse_day_zip_key
    from telemetry.sim.fleet import robot_ids

    spec = fleet_spec(quick)
    day = parse_day_zip_key(f"fleet={spec.fleet}/date={spec.start.isoformat()}/{robot_ids(spec)[0]}.zip")
    if day is None:
        raise SystemExit("the workload's day zip key does not parse")
    return day


def pin_one_cpu() -> int | None:
    """Pin this process to the last allowed CPU (one core per measurement); the CPU, or None."""
    if not hasattr(os, "sched_setaffinity"):
        return None
    cpu = sorted(os.sched_getaffinity(0))[-1]
    os.sched_setaffinity(0, {cpu})
    return cpu


def peak_rss_mb() -> float:
    """Peak resident set size of this process so far (``ru_maxrss``), MB."""
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def cpu_seconds() -> float:
    """User + system CPU time of this process so far."""
    t = os.times()
    return t.user + t.system


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _ram_gib() -> float | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) / 1024**2, 1)
    except OSError:
        pass
    return None


def _git_head() -> str | None:
    try:
        out = subprocess.run(
            ["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
        )
        dirty = subprocess.run(
            ["git", "-C", str(REPO), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            check=True,
        )
    except (OSError, subprocess.CalledProcessError):
        return None
    return out.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "")


def versions(
    names: tuple[str, ...] = ("numpy", "pandas", "pyarrow", "dask", "distributed", "isal", "orjson"),
) -> dict[str, str | None]:
    """Installed versions of the libraries that decide the figures (None: not installed)."""
    found: dict[str, str | None] = {}
    for name in names:
        try:
            found[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            found[name] = None
    return found


def machine() -> dict[str, Any]:
    """What the figures were measured on: CPU model, cores, RAM, Python, library versions, load, git head."""
    return {
        "cpu_model": _cpu_model(),
        "arch": platform.machine(),
        "cores": os.cpu_count(),
        "ram_gib": _ram_gib(),
        "python": platform.python_version(),
        "versions": versions(),
        "load_average": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
        "git_head": _git_head(),
    }
