"""Output identity: checksums of everything the pipeline writes, to prove a change leaves the bytes alone.

    python -m benchmarks.identity --out DIR --manifest FILE.json [--quick] [--only NAME,...]
        [--compare BEFORE.json] [--demo-command]

Runs the fleets below through the **command line only** (``telemetry simulate``, ``telemetry features``,
``telemetry train``; the entry point named by ``[project.scripts]`` in this checkout's pyproject.toml, run
with ``sys.executable`` and this checkout first on ``PYTHONPATH``, ``TELEMETRY__*`` variables removed so
that the configuration is the defaults plus the ``--set`` shown). Nothing of the package is imported here,
so the tool runs unchanged on either side of a refactor that moves modules. ``DIR`` must be empty or new.

Then it writes a manifest (JSON): for every workload its raw root (day zips, ground truth) and for every
configuration its output root, ``relative path -> sha256`` of each file by kind:

- ``features`` (``features/**.parquet``), ``signals`` (``signals/<signal>/**.parquet``), ``quarantine``
  (``quarantine/**.parquet``), ``extract_reports`` (``_extract/**.json``: documents in, extracted,
  quarantined by reason, samples per signal), ``models`` (``models/<model_id>/model.txt``, the LightGBM
  text model), ``model_metrics``, ``model_config`` and ``model_reports`` (the other files of a model
  folder); raw roots: ``raw_zips`` and ``ground_truth``;
- ``excluded``: files whose bytes legitimately differ from run to run, each with the reason and, for JSON,
  ``stable_sha256``, the hash of its canonical JSON without the volatile fields named in ``volatile``:
  lineage records (``run_id``, ``computed_at``), the run manifest ``_runs/<run_id>.json`` (its name,
  ``run_id``, ``started_at``, ``finished_at``, ``summary.seconds``), a model's ``metadata.json``
  (``created_at``; ``features_used.url`` is the absolute path of the output root), the lease
  ``_lock/lease.json`` (holder host and pid, times: no stable part) and the local store's empty flock file
  ``_lock/.lease.json.cas.telemetry-tmp``;
- ``models_by_target``: target -> model id and the sha256 of its ``model.txt`` (the id hashes the feature
  partitions, configuration and package version: if it changes, the model bytes can still be compared).

``--compare BEFORE.json`` compares the new manifest with an earlier one (same ``--quick``): every file of
every configuration in both, and the stable hashes of the excluded files (reported, not failed: the
acceptance is about the files). Exit status 1 when a file differs, is missing or is new.

Configurations
--------------

``demo``: what ``telemetry demo`` simulates, computes and trains (telemetry/cli.py ``cmd_demo``): 3 robots x
4 days from 2026-11-02, 12 h online a day, 24 failures per robot-day, seed 7; ``--set
labels.negative_fraction=0.2 --set features.windows_s=[10,42,300]`` on every step; features on the default
LocalCluster; ``train`` with the default targets (``any`` and one model per failure code with enough
positives). ``--demo-command`` runs ``telemetry demo --dir`` itself instead of the three commands (same
files; not with ``--quick``).

The three benchmark configurations are the ones the project's history checks feature files on ("10 Hz one
window; 1 Hz three windows; event mode": docs/performance.md and commits 11c5cba, f51cb29), each on its
benchmark's own fleet at full rates with the default faults:

- ``e2e-10hz`` (benchmarks/e2e.py): the defaults with ``align.step_ms=100`` and ``labels.mode=grid``, the
  single default 42 s window; ``FleetSpec(robots=1, days=1, seed=2026)``.
- ``features-1hz-grid`` (benchmarks/features.py, configuration ``grid`` at its 1000 ms clock): grid clock,
  ``labels.mode=grid`` every 5 s, windows 10, 42, 300 s; ``FleetSpec(robots=1, days=2, seed=2026)`` (both
  days computed: day 2's halo is day 1, as in the benchmark).
- ``features-10hz-event`` (benchmarks/features.py, configuration ``event`` at its 100 ms clock): as above
  with ``labels.mode=event`` and ``align.step_ms=100``, same fleet. Event mode is taken at the 10 Hz clock
  because the demo already covers event mode at 1 Hz with these three windows.

The default configuration of benchmarks/extract.py and benchmarks/pipeline.py (1 Hz, event mode, one 42 s
window) is not a fourth run: its extraction equals the others' (signals and quarantine do not depend on the
clock, labels or windows) and its features differ from the demo's only in the window list and the negative
fraction. Benchmark configurations compute features only (the benchmarks train nothing); the model is the
demo's. Their fleets stay at full days (1 and 2 robot-days): a robot online fewer hours is offline at
midnight, and then no halo (the previous day's tail, the next day's head) holds any data.

``--quick`` (a smoke run, comparable only with another ``--quick`` manifest): the demo trains ``any`` only,
and the benchmark fleets are online 1 h a day (same configurations, clocks and windows).

Speed: the commands run with ``OMP_WAIT_POLICY=PASSIVE`` (unless set): LightGBM's spinning OpenMP threads
made the demo's training ~5x slower on a busy 2-core machine; the model bytes are the same either way.

Determinism: two runs into different directories give the same ``workloads`` and ``configurations``
(files and the excluded files' stable hashes; checked at the baseline commit 7c23e24, and ``--demo-command``
gives the same files too). LightGBM runs with ``deterministic=True``, a fixed seed and ``train.threads=2``.
``created_at``, ``command``, ``source``, ``environment`` and ``timing_s`` describe the run and are not
compared (library versions are reported when they differ).
"""

from __future__ import annotations

import argparse
import datetime as dt
import fnmatch
import hashlib
import importlib.metadata
import json
import os
import platform
import subprocess
import sys
import time
import tomllib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
SCHEMA = "telemetry-identity/1"
START = "2026-11-02"
FLEET = "acme-dc3"
QUICK_HOURS = "1"
DEMO_FLEET = ("--robots", "3", "--days", "4", "--hours", "12", "--failure-rate", "24", "--seed", "7")
"""``telemetry demo``'s defaults (cli.py ``cmd_demo``): robots, days, hours, failure rate; its seed."""
DEMO_SET = ("labels.negative_fraction=0.2", "features.windows_s=[10,42,300]")
THREE_WINDOWS = "features.windows_s=[10,42,300]"
OMP_WAIT_POLICY = "PASSIVE"
"""How LightGBM's idle OpenMP threads wait. Its default spins: with ``train.threads=2`` on 2 cores shared with
other work, the demo's ``any`` model took 438 s instead of 82 s (same model.txt bytes; thread count and
arithmetic are unchanged, only the waiting)."""
LIBRARIES = ("numpy", "pandas", "pyarrow", "lightgbm", "scikit-learn", "scipy", "dask", "distributed")
"""Libraries whose versions can change output bytes: recorded, and compared by ``--compare``."""


# ------------------------------------------------------------------------------------------ what runs


@dataclass(frozen=True, slots=True)
class Workload:
    """A simulated fleet: ``telemetry simulate --out <raw> <args>``."""

    name: str
    args: tuple[str, ...]
    description: str


@dataclass(frozen=True, slots=True)
class Configuration:
    """Features (and optionally models) of one workload under one configuration (``--set`` overrides)."""

    name: str
    workload: str
    overrides: tuple[str, ...]
    end: str
    train: tuple[str, ...] | None
    """Arguments of ``telemetry train`` after ``--features <out> --fleet``; None: no training."""
    description: str


def workloads(quick: bool) -> dict[str, Workload]:
    """The simulated fleets, by name (``quick``: benchmark fleets online 1 h a day)."""
    hours = ("--hours", QUICK_HOURS) if quick else ()
    bench = ("--seed", "2026", "--start", START, *hours)
    found = [
        Workload(
            "demo-fleet",
            (*DEMO_FLEET, "--start", START, *_sets(DEMO_SET)),
            "telemetry demo's fleet: 3 robots x 4 days, 12 h a day, 24 failures per robot-day, seed 7",
        ),
        Workload(
            "bench-1x1",
            ("--robots", "1", "--days", "1", *bench),
            "FleetSpec(robots=1, days=1, seed=2026): benchmarks/e2e.py and extract.py"
            + (" (online 1 h)" if quick else ""),
        ),
        Workload(
            "bench-1x2",
            ("--robots", "1", "--days", "2", *bench),
            "FleetSpec(robots=1, days=2, seed=2026): benchmarks/features.py"
            + (" (online 1 h)" if quick else ""),
        ),
    ]
    return {w.name: w for w in found}


def configurations(quick: bool) -> dict[str, Configuration]:
    """The demo and the three benchmark configurations, by name (see the module docstring)."""
    day2 = "2026-11-03"
    found = [
        Configuration(
            "demo",
            "demo-fleet",
            DEMO_SET,
            "2026-11-05",
            ("--target", "any") if quick else (),
            "telemetry demo: 1 Hz clock, event labels, windows 10/42/300 s, negative_fraction 0.2; train"
            + (" 'any' only" if quick else " the default targets"),
        ),
        Configuration(
            "e2e-10hz",
            "bench-1x1",
            ("align.step_ms=100", "labels.mode=grid"),
            START,
            None,
            "benchmarks/e2e.py: 10 Hz clock, grid labels, the default 42 s window",
        ),
        Configuration(
            "features-1hz-grid",
            "bench-1x2",
            (
                "align.clock=grid",
                "align.step_ms=1000",
                "labels.mode=grid",
                "labels.grid_step_s=5",
                THREE_WINDOWS,
            ),
            day2,
            None,
            "benchmarks/features.py 'grid' at 1000 ms: 1 Hz clock, grid labels, windows 10/42/300 s",
        ),
        Configuration(
            "features-10hz-event",
            "bench-1x2",
            (
                "align.clock=grid",
                "align.step_ms=100",
                "labels.mode=event",
                "labels.grid_step_s=5",
                THREE_WINDOWS,
            ),
            day2,
            None,
            "benchmarks/features.py 'event' at 100 ms: 10 Hz clock, event labels, windows 10/42/300 s",
        ),
    ]
    return {c.name: c for c in found}


def _sets(overrides: Iterable[str]) -> tuple[str, ...]:
    return tuple(arg for item in overrides for arg in ("--set", item))


def features_args(config: Configuration, raw: Path, out: Path) -> list[str]:
    """``telemetry features`` arguments of a configuration (every day of its workload)."""
    return ["features", "--raw", str(raw), "--out", str(out), "--start", START, "--end", config.end,
            "--fleet", FLEET, *_sets(config.overrides)]  # fmt: skip


def train_args(config: Configuration, out: Path) -> list[str] | None:
    """``telemetry train`` arguments of a configuration, or None when it trains nothing."""
    if config.train is None:
        return None
    return ["train", "--features", str(out), "--fleet", FLEET, *config.train, *_sets(config.overrides)]


# ------------------------------------------------------------------------------------------ running


def entry_point() -> list[str]:
    """The argv prefix that runs the ``telemetry`` console script of this checkout (pyproject.toml)."""
    with (REPO / "pyproject.toml").open("rb") as f:
        target = tomllib.load(f)["project"]["scripts"]["telemetry"]
    module, sep, func = str(target).partition(":")
    if not sep or not module or not func:
        raise SystemExit(
            f"pyproject.toml: [project.scripts] telemetry must be 'module:function' (got {target!r})"
        )
    code = f"import sys; from {module} import {func} as m; sys.argv[0] = 'telemetry'; sys.exit(m())"
    return [sys.executable, "-c", code]


def child_env() -> dict[str, str]:
    """The commands' environment: this one without ``TELEMETRY__*`` overrides.

    This checkout comes first on ``PYTHONPATH``; ``OMP_WAIT_POLICY`` is :data:`OMP_WAIT_POLICY` unless set.
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith("TELEMETRY__")}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH", "")) if p)
    env.setdefault("OMP_WAIT_POLICY", OMP_WAIT_POLICY)
    return env


def shown(argv: Sequence[str], paths: Mapping[Path, str]) -> str:
    """A command as ``telemetry ...`` with its absolute paths replaced by placeholders."""
    words = []
    for word in argv:
        for path, name in paths.items():
            word = word.replace(str(path), name)
        words.append(word)
    return " ".join(["telemetry", *words])


def run_cli(argv: Sequence[str], log: Path, label: str) -> float:
    """Run one ``telemetry`` command (output to `log`); its wall seconds. Exits when the command fails."""
    log.parent.mkdir(parents=True, exist_ok=True)
    print(f"[{label}] telemetry {argv[0]} ...", file=sys.stderr, flush=True)
    started = time.perf_counter()
    with log.open("wb") as f:
        code = subprocess.run(
            [*entry_point(), *argv], stdout=f, stderr=subprocess.STDOUT, env=child_env(), check=False
        ).returncode
    seconds = time.perf_counter() - started
    if code != 0:
        tail = log.read_text(errors="replace").splitlines()[-20:]
        raise SystemExit(
            f"[{label}] telemetry {' '.join(argv)} exited {code}; log {log}:\n" + "\n".join(tail)
        )
    print(f"[{label}] telemetry {argv[0]}: {seconds:.1f} s", file=sys.stderr, flush=True)
    return seconds


# ------------------------------------------------------------------------------------------ manifests


@dataclass(frozen=True, slots=True)
class Volatile:
    """A kind of file whose bytes differ between identical runs."""

    pattern: str
    kind: str
    fields: tuple[str, ...] | None
    """Dotted JSON fields removed before ``stable_sha256``; None: no stable part (no hash)."""
    reason: str


OUTPUT_KINDS = (
    ("features/*.parquet", "features"),
    ("signals/*.parquet", "signals"),
    ("quarantine/*.parquet", "quarantine"),
    ("_extract/*.json", "extract_reports"),
    ("models/*/model.txt", "models"),
    ("models/*/metrics.json", "model_metrics"),
    ("models/*/config.yaml", "model_config"),
    ("models/*/report.html", "model_reports"),
)
RAW_KINDS = (("fleet=*/date=*/*.zip", "raw_zips"), ("fleet=*/_truth/ground_truth.json", "ground_truth"))
VOLATILE = (
    Volatile(
        "_lineage/*.json", "lineage", ("run_id", "computed_at"),
        "lineage record: the run id and wall-clock time of the run that computed the partition",
    ),
    Volatile(
        "_runs/*.json", "run_manifest", ("run_id", "started_at", "finished_at", "summary.seconds"),
        "run manifest: named by its run id (shown as _runs/<run_id>.json); wall-clock start, end, seconds",
    ),
    Volatile(
        "models/*/metadata.json", "model_metadata", ("created_at", "features_used.url"),
        "model metadata: creation time, and the absolute URL of the features root (a temp path)",
    ),
    Volatile(
        "_lock/lease.json", "lease", None,
        "the run lease: holder host, pid, run id and wall-clock times only",
    ),
    Volatile(
        "_lock/.*.cas.telemetry-tmp", "lease_flock", None,
        "the local store's flock file for compare-and-swap writes (empty by design)",
    ),
)  # fmt: skip


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file's bytes."""
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def without_fields(data: Any, fields: Iterable[str]) -> Any:
    """`data` (parsed JSON) with the dotted `fields` removed (missing ones ignored)."""
    data = json.loads(json.dumps(data))
    for dotted in fields:
        *parents, leaf = dotted.split(".")
        node = data
        for key in parents:
            node = node.get(key) if isinstance(node, dict) else None
        if isinstance(node, dict):
            node.pop(leaf, None)
    return data


def stable_sha256(path: Path, fields: Iterable[str]) -> str:
    """sha256 of a JSON file's canonical form (sorted keys, compact) without the volatile `fields`."""
    data = without_fields(json.loads(path.read_bytes()), fields)
    return hashlib.sha256(json.dumps(data, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def _kind(rel: str, kinds: Sequence[tuple[str, str]]) -> str | None:
    return next((kind for pattern, kind in kinds if fnmatch.fnmatchcase(rel, pattern)), None)


def _volatile(rel: str) -> Volatile | None:
    return next((v for v in VOLATILE if fnmatch.fnmatchcase(rel, v.pattern)), None)


def root_manifest(root: Path, kinds: Sequence[tuple[str, str]], volatile: bool) -> dict[str, Any]:
    """Files under `root`: ``files`` (path -> sha256), ``kinds`` (path -> kind), counts and ``excluded``.

    Files of no known kind are hashed as kind ``other`` (a new kind of output shows up in a comparison).
    """
    files: dict[str, str] = {}
    kind_of: dict[str, str] = {}
    excluded: dict[str, dict[str, Any]] = {}
    runs = 0
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        rel = path.relative_to(root).as_posix()
        rule = _volatile(rel) if volatile else None
        if rule is not None:
            key = rel
            if rule.kind == "run_manifest":
                runs += 1
                key = "_runs/<run_id>.json" if runs == 1 else f"_runs/<run_id {runs}>.json"
            excluded[key] = {
                "kind": rule.kind,
                "reason": rule.reason,
                "volatile": list(rule.fields) if rule.fields is not None else None,
                "stable_sha256": stable_sha256(path, rule.fields) if rule.fields is not None else None,
            }
            continue
        files[rel] = sha256_file(path)
        kind_of[rel] = _kind(rel, kinds) or "other"
    counts: dict[str, int] = {}
    for kind in kind_of.values():
        counts[kind] = counts.get(kind, 0) + 1
    return {"counts": dict(sorted(counts.items())), "files": files, "kinds": kind_of, "excluded": excluded}


def models_by_target(out: Path, files: Mapping[str, str]) -> dict[str, dict[str, str]]:
    """Target -> ``model_id`` and the sha256 of its ``model.txt`` (from each model's ``metadata.json``)."""
    found: dict[str, dict[str, str]] = {}
    for meta in sorted(out.glob("models/*/metadata.json")):
        target = str(json.loads(meta.read_bytes())["target"])
        model_id = meta.parent.name
        found[target] = {"model_id": model_id, "model.txt": files.get(f"models/{model_id}/model.txt", "")}
    return found


# ------------------------------------------------------------------------------------------ one run


def run_all(
    out_dir: Path, quick: bool, only: Sequence[str], demo_command: bool
) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """Simulate, compute and train everything selected into `out_dir`: workloads, configurations, timing."""
    configs = configurations(quick)
    selected = [configs[name] for name in only] if only else list(configs.values())
    fleets = workloads(quick)
    logs = out_dir / "logs"
    timing: dict[str, Any] = {}
    done_workloads: dict[str, Any] = {}
    done_configs: dict[str, Any] = {}
    raw_roots: dict[str, Path] = {}
    for config in selected:
        steps: dict[str, float] = {}
        commands: list[str] = []
        if config.name == "demo" and demo_command:
            root = out_dir / "demo-command"
            raw, out = root / "raw", root / "out"
            argv = ["demo", "--dir", str(root)]
            steps["demo"] = run_cli(argv, logs / "demo-command.log", config.name)
            commands.append(shown(argv, {root: "<dir>"}))
            done_workloads[config.workload] = {
                "description": fleets[config.workload].description,
                "command": "(telemetry demo)",
                **root_manifest(raw, RAW_KINDS, volatile=False),
            }
            raw_roots[config.workload] = raw
        else:
            raw = raw_roots.get(config.workload) or out_dir / "raw" / config.workload
            if config.workload not in raw_roots:
                fleet = fleets[config.workload]
                argv = ["simulate", "--out", str(raw), *fleet.args]
                seconds = run_cli(argv, logs / f"simulate-{fleet.name}.log", fleet.name)
                timing[f"simulate {fleet.name}"] = round(seconds, 1)
                done_workloads[fleet.name] = {
                    "description": fleet.description,
                    "command": shown(argv, {raw: "<raw>"}),
                    **root_manifest(raw, RAW_KINDS, volatile=False),
                }
                raw_roots[fleet.name] = raw
            out = out_dir / config.name
            paths = {raw: "<raw>", out: "<out>"}
            argv = features_args(config, raw, out)
            steps["features"] = run_cli(argv, logs / f"features-{config.name}.log", config.name)
            commands.append(shown(argv, paths))
            fit = train_args(config, out)
            if fit is not None:
                steps["train"] = run_cli(fit, logs / f"train-{config.name}.log", config.name)
                commands.append(shown(fit, paths))
        manifest = root_manifest(out, OUTPUT_KINDS, volatile=True)
        done_configs[config.name] = {
            "description": config.description,
            "workload": config.workload,
            "overrides": list(config.overrides),
            "commands": commands,
            "counts": manifest["counts"],
            "models_by_target": models_by_target(out, manifest["files"]),
            "files": manifest["files"],
            "kinds": manifest["kinds"],
            "excluded": manifest["excluded"],
        }
        for step, seconds in steps.items():
            timing[f"{step} {config.name}"] = round(seconds, 1)
    return done_workloads, done_configs, timing


def _git(*args: str) -> str | None:
    try:
        done = subprocess.run(["git", "-C", str(REPO), *args], capture_output=True, text=True, check=True)
    except (OSError, subprocess.CalledProcessError):
        return None
    return done.stdout.strip()


def source() -> dict[str, Any]:
    """What was run: git head (``+dirty`` with uncommitted changes to tracked files), package version."""
    head = _git("rev-parse", "--short", "HEAD")
    dirty = _git("status", "--porcelain", "--untracked-files=no")
    version = subprocess.run(
        [*entry_point(), "--version"], capture_output=True, text=True, env=child_env(), check=False
    ).stdout.strip()
    return {
        "repo": str(REPO),
        "git_head": None if head is None else head + ("+dirty" if dirty else ""),
        "telemetry_version": version,
    }


def environment() -> dict[str, Any]:
    """Python and the versions of the libraries that decide output bytes."""
    versions: dict[str, str | None] = {}
    for name in LIBRARIES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = None
    return {
        "python": platform.python_version(),
        "machine": platform.machine(),
        "versions": versions,
        "OMP_WAIT_POLICY": child_env()["OMP_WAIT_POLICY"],
        "load_average_end": _load(),
    }


def _load() -> list[float] | None:
    return [round(x, 2) for x in os.getloadavg()] if hasattr(os, "getloadavg") else None


# ------------------------------------------------------------------------------------------ comparing


def compare(before: Mapping[str, Any], after: Mapping[str, Any]) -> tuple[list[str], list[str]]:
    """Differences between two manifests: (failures, notes). Files must be equal; the rest is reported."""
    if before.get("quick") != after.get("quick"):
        raise SystemExit(
            f"--compare: one manifest is --quick and the other not (before {before.get('quick')}, "
            f"after {after.get('quick')}); compare manifests made the same way"
        )
    failures: list[str] = []
    notes: list[str] = []
    for name, lib in after.get("environment", {}).get("versions", {}).items():
        old = before.get("environment", {}).get("versions", {}).get(name)
        if old != lib:
            notes.append(f"library {name}: {old} -> {lib} (may change bytes by itself)")
    for section in ("workloads", "configurations"):
        old_all, new_all = before.get(section, {}), after.get(section, {})
        for name in sorted(set(old_all) ^ set(new_all)):
            notes.append(
                f"{section} {name}: only in {'before' if name in old_all else 'after'}, not compared"
            )
        for name in sorted(set(old_all) & set(new_all)):
            failures += [f"{name}: {line}" for line in _file_differences(old_all[name], new_all[name])]
            notes += [f"{name}: {line}" for line in _excluded_differences(old_all[name], new_all[name])]
            notes += [f"{name}: {line}" for line in _model_notes(old_all[name], new_all[name])]
    return failures, notes


def _file_differences(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[str]:
    a, b = old["files"], new["files"]
    kinds = {**old.get("kinds", {}), **new.get("kinds", {})}
    lines = [f"changed {kinds.get(p, '?')} {p}" for p in sorted(set(a) & set(b)) if a[p] != b[p]]
    lines += [f"missing {kinds.get(p, '?')} {p}" for p in sorted(set(a) - set(b))]
    lines += [f"new {kinds.get(p, '?')} {p}" for p in sorted(set(b) - set(a))]
    return lines


def _excluded_differences(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[str]:
    a, b = old.get("excluded", {}), new.get("excluded", {})
    lines = [f"excluded file only {'before' if p in a else 'after'}: {p}" for p in sorted(set(a) ^ set(b))]
    lines += [
        f"excluded {a[p]['kind']} {p}: stable part changed (fields other than {a[p]['volatile']})"
        for p in sorted(set(a) & set(b))
        if a[p].get("stable_sha256") != b[p].get("stable_sha256")
    ]
    return lines


def _model_notes(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[str]:
    a, b = old.get("models_by_target", {}), new.get("models_by_target", {})
    lines = []
    for target in sorted(set(a) & set(b)):
        if a[target]["model_id"] != b[target]["model_id"]:
            same = "identical" if a[target]["model.txt"] == b[target]["model.txt"] else "DIFFERENT"
            lines.append(
                f"model {target}: id {a[target]['model_id']} -> {b[target]['model_id']}, model.txt {same}"
            )
    return lines


# ------------------------------------------------------------------------------------------ main


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.identity",
        description="Checksums of features, signals, quarantine and models on the demo fleet and the three "
        "benchmark configurations, through the telemetry command line.",
    )
    parser.add_argument("--out", required=True, type=Path, help="working directory (must be empty or new)")
    parser.add_argument("--manifest", required=True, type=Path, help="manifest JSON to write")
    parser.add_argument(
        "--quick", action="store_true", help="demo trains 'any' only; benchmark fleets 1 h a day"
    )
    parser.add_argument(
        "--only", help=f"comma-separated configurations (default all: {','.join(configurations(False))})"
    )
    parser.add_argument(
        "--compare", type=Path, metavar="BEFORE.json", help="compare with an earlier manifest"
    )
    parser.add_argument(
        "--demo-command",
        action="store_true",
        help="the demo through `telemetry demo --dir` instead of simulate, features and train",
    )
    args = parser.parse_args(argv)
    known = configurations(args.quick)
    args.only = [n for n in (args.only or "").split(",") if n]
    unknown = [n for n in args.only if n not in known]
    if unknown:
        parser.error(f"--only: unknown configurations {unknown} (expected some of {list(known)})")
    if args.demo_command and args.quick:
        parser.error("--demo-command trains the default targets: it cannot be combined with --quick")
    if args.out.exists() and (not args.out.is_dir() or any(args.out.iterdir())):
        parser.error(f"--out {args.out} exists and is not an empty directory (outputs are incremental)")
    if args.compare is not None and not args.compare.is_file():
        parser.error(f"--compare {args.compare}: no such file")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    """Run everything, write the manifest, print a summary; with ``--compare``, 1 when files differ."""
    args = parse_args(argv)
    out_dir = args.out.resolve()
    out_dir.mkdir(parents=True, exist_ok=True)
    started, load_start = time.perf_counter(), _load()
    done_workloads, done_configs, timing = run_all(out_dir, args.quick, args.only, args.demo_command)
    timing["total"] = round(time.perf_counter() - started, 1)
    manifest = {
        "schema": SCHEMA,
        "quick": args.quick,
        "created_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "command": " ".join(["python -m benchmarks.identity", *(argv if argv is not None else sys.argv[1:])]),
        "source": source(),
        "environment": {**environment(), "load_average_start": load_start},
        "timing_s": timing,
        "workloads": done_workloads,
        "configurations": done_configs,
    }
    args.manifest.parent.mkdir(parents=True, exist_ok=True)
    args.manifest.write_text(json.dumps(manifest, indent=1, sort_keys=False) + "\n", encoding="utf-8")
    for section in ("workloads", "configurations"):
        for name, entry in manifest[section].items():
            excluded = len(entry["excluded"])
            print(f"{name:<20} {entry['counts']}  excluded {excluded}")
    print(f"timing (s)           {timing}")
    print(f"manifest             {args.manifest}")
    if args.compare is None:
        return 0
    failures, notes = compare(json.loads(args.compare.read_text(encoding="utf-8")), manifest)
    for line in notes:
        print(f"note                 {line}")
    for line in failures:
        print(f"DIFFERS              {line}")
    files = sum(len(c["files"]) for s in ("workloads", "configurations") for c in manifest[s].values())
    verdict = "identical" if not failures else f"{len(failures)} differences"
    print(f"compared with        {args.compare}: {files} files, {verdict}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
