"""Validation on public data as a reproducible result (docs/validation.md).

    python -m benchmarks.validation [--data DIR] [--work DIR] [--only skab,azure] [--fresh]
        [--json benchmarks/results/validation.json] [--no-docs]
    python -m benchmarks.validation --write-docs   # only rewrite docs/validation.md's tables from the JSON

Runs SKAB and the Azure PdM subset through the product's own command line (``.venv/bin/telemetry``, or
``$TELEMETRY``): ``import-csv`` (CSV -> ``telemetry.v1`` day zips), ``features`` and ``train``, exactly the
commands docs/validation.md shows. Then, for every trained model, it reads ``metrics.json`` and
``metadata.json`` (``<features out>/models/<model_id>/``), trains the straightforward pandas + LightGBM
baseline on the same rows and split (benchmarks/baseline_pandas.py), and writes one JSON: per dataset the
import counts, the features run (robot-days, examples, exclusions, seconds) and per split/labelling the test
positives/negatives, PR-AUC and ROC-AUC with their 90 % bootstrap intervals over robot-days (null when the
trainer does not write them), prevalence, the one-feature baseline, trees, precision/recall/alerts per
robot-day at the threshold, per-mode PR-AUC, the pandas baseline, seconds; plus the commit and date. With
``--only`` the other datasets are kept from the existing JSON. Then it rewrites the tables of
docs/validation.md between ``<!-- validation:<dataset>:begin -->`` and ``<!-- validation:<dataset>:end -->``
(tests/test_validation_docs.py checks that they are what the committed JSON renders).

Resumable: the import of a dataset is skipped when its work folder holds the record of a finished import;
``telemetry features`` always runs, since it is incremental by lineage (it recomputes only partitions whose
raw versions, configuration or code changed, so a code change is never hidden by an old output); training
and the baseline always run. ``--fresh`` deletes the datasets' work folders first (use it after a change to
the importer).
"""

from __future__ import annotations

import argparse
import ast
import datetime as dt
import glob
import json
import math
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmarks.workload import REPO, machine

RESULTS = REPO / "benchmarks" / "results"
DEFAULT_JSON = RESULTS / "validation.json"
DOCS = REPO / "docs" / "validation.md"
DEFAULT_DATA = REPO.parent / "shared" / "data"
DEFAULT_WORK = Path("/tmp/telemetry-validation")
MARKER = (
    ".telemetry-validation"  # written in every work folder this script creates (--fresh deletes only those)
)
SCHEMA = 1


def begin_marker(name: str) -> str:
    """The line opening the generated block of dataset `name` in docs/validation.md."""
    return f"<!-- validation:{name}:begin -->"


def end_marker(name: str) -> str:
    """The line closing the generated block of dataset `name` in docs/validation.md."""
    return f"<!-- validation:{name}:end -->"


# ------------------------------------------------------------------------------------------ the runs


@dataclass(frozen=True, slots=True)
class Training:
    """One ``telemetry train`` of a labelling: its key in the JSON, its row label in the docs, its options."""

    key: str
    label: str
    args: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Labelling:
    """One ``telemetry features`` output (a labelling mode) and the trainings on it."""

    mode: str
    out: str
    sets: tuple[str, ...]
    trainings: tuple[Training, ...]


@dataclass(frozen=True, slots=True)
class Dataset:
    """A public dataset: how it is imported, the features settings, and what is trained on it."""

    name: str
    title: str
    fleet: str
    start: str
    end: str
    sets: tuple[str, ...]
    labellings: tuple[Labelling, ...]
    import_args: Callable[[Path], list[str]] = field(repr=False)


def _skab_import(data: Path) -> list[str]:
    files = sorted(glob.glob(str(data / "skab" / "*" / "*.csv")))
    if not files:
        raise SystemExit(
            f"no SKAB CSVs under {data}/skab/*/ (expected the layout of ../shared/data/README.md)"
        )
    return [
        *files, "--sep", ";", "--time-column", "datetime", "--unit-from-path", "--label-column", "anomaly",
        "--label-delay-s", "30",
    ]  # fmt: skip


def _azure_import(data: Path) -> list[str]:
    a = data / "azure_pdm"
    telemetry_csv = a / "PdM_telemetry_SUBSET_machines1-20_2015-01-01_to_2015-04-01.csv.gz"
    if not telemetry_csv.exists():
        raise SystemExit(f"no {telemetry_csv} (expected the layout of ../shared/data/README.md)")
    return [
        str(telemetry_csv), "--time-column", "datetime", "--unit-column", "machineID",
        "--unit-prefix", "machine-", "--events", f"failure={a}/PdM_failures.csv.gz:failure",
        "--events", f"error={a}/PdM_errors.csv.gz:errorID",
        "--events", f"maintenance={a}/PdM_maint.csv.gz:comp",
        "--units", str(a / "PdM_machines.csv.gz"), "--units-id-column", "machineID",
        # the maintenance history before the telemetry starts is what 90-day history features read
        "--events-margin-s", "7776000",
    ]  # fmt: skip


GRID = ("--set", "labels.mode=grid")
DATASETS: dict[str, Dataset] = {
    "skab": Dataset(
        name="skab",
        title="SKAB v0.9 (real testbed, 1 s rows): detect an anomaly within 30 s of its onset",
        fleet="skab",
        start="2020-02-08",
        end="2020-03-09",
        sets=(
            "--set",
            "labels.horizon_s=30",
            "--set",
            "labels.cooldown_s=900",
            "--set",
            "features.windows_s=[10,30,60]",
        ),
        labellings=(
            Labelling(
                "event",
                "out",
                (),
                (
                    Training("by_day", "by day: train Feb 8 (other/*), validate Mar 1, test Mar 9 (valve*)"),
                    Training(
                        "inside_mar9",
                        "inside Mar 9: train < 12:00, validate 12:00–14:00, test ≥ 14:00",
                        ("--valid-start", "2020-03-09T12:00", "--test-start", "2020-03-09T14:00"),
                    ),
                ),
            ),
        ),
        import_args=_skab_import,
    ),
    "azure": Dataset(
        name="azure",
        title="Azure PdM subset (synthetic, hourly rows of 20 machines)",
        fleet="azure-pdm",
        start="2015-01-01",
        end="2015-04-01",
        sets=(
            "--set",
            "labels.horizon_s=86400",
            "--set",
            "labels.grid_step_s=10800",
            "--set",
            "labels.cooldown_s=0",
            "--set",
            "features.windows_s=[10800,86400]",
            # components are replaced every few months: the event history reaches back 90 days
            "--set",
            "history.horizons_s=[86400,604800,7776000]",
        ),
        labellings=(
            Labelling(
                "event",
                "out",
                (),
                (
                    Training(
                        "event",
                        "event: one positive per failure (budget 0.1 alerts/machine-day)",
                        ("--set", "train.alert_budget=0.1"),
                    ),
                ),
            ),
            Labelling(
                "grid",
                "out-grid",
                GRID,
                (
                    Training(
                        "grid",
                        'grid: every 3 h record, "failure in the next 24 h" (budget 1)',
                        (*GRID, "--set", "train.alert_budget=1"),
                    ),
                ),
            ),
        ),
        import_args=_azure_import,
    ),
}


def telemetry_cli() -> str:
    """The product's command line: ``$TELEMETRY`` or the repository's ``.venv/bin/telemetry``."""
    return os.environ.get("TELEMETRY") or str(REPO / ".venv" / "bin" / "telemetry")


@dataclass(slots=True)
class Step:
    """A finished command: its arguments, output, exit code and wall seconds."""

    cmd: list[str]
    stdout: str
    returncode: int
    seconds: float

    def error(self) -> str | None:
        """None when it succeeded, else the exit code and the tail of its output."""
        if self.returncode == 0:
            return None
        return f"exit {self.returncode}: {self.stdout[-2000:]}"


def run(cmd: list[str]) -> Step:
    """Run `cmd` from the repository, echo its output, and time it."""
    print("$ " + " ".join(_short(c) for c in cmd), flush=True)
    started = time.perf_counter()
    proc = subprocess.run(cmd, cwd=REPO, text=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    step = Step(cmd, proc.stdout, proc.returncode, time.perf_counter() - started)
    sys.stdout.write(proc.stdout)
    sys.stdout.flush()
    return step


def _short(text: str) -> str:
    return text.replace(str(REPO) + "/", "")


def _match(pattern: str, text: str) -> re.Match[str] | None:
    return re.search(pattern, text, re.M)


def _int(text: str | None) -> int | None:
    return None if text is None else int(text.replace(",", ""))


def import_figures(stdout: str) -> dict[str, Any]:
    """The counts ``telemetry import-csv`` printed (None for a figure it no longer prints), and its lines."""
    out: dict[str, Any] = {}
    m = _match(r"^imported\s+(\d+) files: (\d+) units, ([\d,]+) rows", stdout)
    out["files"], out["units"], out["rows"] = (_int(g) for g in (m.groups() if m else (None,) * 3))
    m = _match(r"^events\s+(\{[^}]*\}|none)(.*)$", stdout)
    out["events"] = (ast.literal_eval(m.group(1)) if m.group(1) != "none" else {}) if m else None
    out["events_detail"] = m.group(2).strip() if m else None
    m = _match(r"^events\s.*?\((\d+) outside", stdout)
    out["events_outside"] = _int(m.group(1)) if m else None
    m = _match(r"^written\s+([\d,]+) day zips, ([\d,]+) envelopes", stdout)
    out["day_zips"], out["envelopes"] = (_int(m.group(1)), _int(m.group(2))) if m else (None, None)
    m = _match(r"^written\s.*?(\d{4}-\d\d-\d\d)\.\.(\d{4}-\d\d-\d\d)", stdout)
    out["first_day"], out["last_day"] = (m.group(1), m.group(2)) if m else (None, None)
    m = _match(r"^clock\s+median step (\d+) ms", stdout)
    out["step_ms"] = _int(m.group(1)) if m else None
    out["printed"] = [line for line in stdout.splitlines() if line and not line.startswith("$ ")]
    return out


def features_figures(stdout: str, out_dir: Path) -> dict[str, Any]:
    """The summary of a ``telemetry features`` run, from its run manifest (``_runs/<run_id>.json``).

    When that run recomputed nothing (every partition's lineage unchanged), the figures are those of the
    latest run under ``_runs/`` that computed every partition, with ``reused_run`` naming it.
    """
    m = _match(r"^run\s+(\S+)", stdout)
    if m is None or not (out_dir / "_runs" / f"{m.group(1)}.json").exists():
        return {"error": "no run manifest found in the output of `telemetry features`"}
    this = json.loads((out_dir / "_runs" / f"{m.group(1)}.json").read_text())
    summary = dict(this.get("summary", {}))
    figures: dict[str, Any] = {"run_id": this.get("run_id"), "reused_run": None}
    if summary.get("computed", 0) == 0 and summary.get("partitions"):
        manifests = [json.loads(p.read_text()) for p in sorted((out_dir / "_runs").glob("*.json"))]
        full = [r for r in manifests if r.get("summary", {}).get("computed") == summary.get("partitions")]
        if full:
            summary = dict(full[-1]["summary"])
            figures["reused_run"] = full[-1].get("run_id")
    for key in ("partitions", "computed", "skipped", "failed", "documents", "quarantined", "examples",
                "positives", "excluded", "seconds"):  # fmt: skip
        figures[key] = summary.get(key)
    return figures


def model_dir_of(stdout: str, out_dir: Path) -> list[tuple[str, Path]]:
    """``(target, model folder)`` of every model ``telemetry train`` printed
    (``model <id> (target <t>, ...``)."""
    found = []
    for m in re.finditer(r"^model\s+(\S+)\s+\(target (\S+?)[,)]", stdout, re.M):
        found.append((m.group(2), out_dir / "models" / m.group(1)))
    return found


def _get(node: Any, *path: str) -> Any:
    for key in path:
        if not isinstance(node, dict) or key not in node:
            return None
        node = node[key]
    return node


def _finite(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return None
    return float(value)


def _interval(value: Any) -> list[float] | None:
    if isinstance(value, (list, tuple)) and len(value) == 2 and all(_finite(v) is not None for v in value):
        return [float(value[0]), float(value[1])]
    return None


def model_figures(model_dir: Path) -> dict[str, Any]:
    """The figures of one stored model (``metrics.json``, else ``metadata.json``'s ``metrics``; intervals
    null when the trainer did not write them)."""
    meta = json.loads((model_dir / "metadata.json").read_text())
    path = model_dir / "metrics.json"
    metrics = json.loads(path.read_text()) if path.exists() else meta.get("metrics", {})
    test = metrics.get("test", {})
    one = _get(metrics, "baselines", "one_feature") or {}
    per_mode = {
        str(code): {
            "n_pos": m.get("n_pos"),
            "pr_auc": _finite(m.get("pr_auc")),
            "pr_auc_interval": _interval(m.get("pr_auc_interval")),
            "prevalence": _finite(m.get("prevalence")),
            "recall": _finite(m.get("recall")),
        }
        for code, m in sorted((metrics.get("per_mode") or {}).items())
    }
    split = meta.get("split", {})
    return {
        "model_id": meta.get("model_id", model_dir.name),
        "target": meta.get("target"),
        "split": {k: split.get(k) for k in ("valid_start", "test_start", "purge_s")},
        "robot_days": split.get("robot_days"),
        "rows": split.get("rows"),
        "trees": meta.get("best_iteration"),
        "test": {
            "n_pos": test.get("n_pos"),
            "n_neg": test.get("n_neg"),
            "pr_auc": _finite(test.get("pr_auc")),
            "pr_auc_interval": _interval(test.get("pr_auc_interval")),
            "roc_auc": _finite(test.get("roc_auc")),
            "roc_auc_interval": _interval(test.get("roc_auc_interval")),
            "prevalence": _finite(test.get("prevalence")),
            "precision": _finite(test.get("precision")),
            "recall": _finite(test.get("recall")),
            "alerts_per_robot_day": _finite(test.get("alerts_per_robot_day")),
            "threshold": _finite(test.get("threshold")),
            "median_lead_s": _finite(test.get("median_lead_s")),
        },
        "one_feature": {
            "feature": one.get("feature"),
            "pr_auc": _finite(one.get("pr_auc")),
            "pr_auc_interval": _interval(one.get("pr_auc_interval")),
        },
        "per_mode": per_mode,
        "comparison": metrics.get("comparison"),
    }


def mode_model_figures(model_dir: Path) -> dict[str, Any]:
    """The headline figures of a per-failure-code model (``train.targets`` ``modes``)."""
    full = model_figures(model_dir)
    t = full["test"]
    keys = ("n_pos", "n_neg", "pr_auc", "pr_auc_interval", "prevalence")
    return {"model_id": full["model_id"], "target": full["target"], **{k: t[k] for k in keys}}


def _work_dir(work: Path, name: str, fresh: bool) -> Path:
    """The dataset's work folder, created with the marker; with `fresh`, deleted first (only when it holds
    the marker: never a folder this script did not create)."""
    folder = work / name
    if fresh and folder.exists():
        if not (folder / MARKER).exists():
            raise SystemExit(
                f"--fresh: {folder} was not created by this script (no {MARKER}); delete it by hand"
            )
        shutil.rmtree(folder)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / MARKER).touch()
    return folder


def run_import(ds: Dataset, data: Path, folder: Path) -> dict[str, Any]:
    """Import the dataset's CSVs into ``<folder>/raw`` (skipped when ``import.json`` records a finished
    import); returns the import record."""
    record = folder / "import.json"
    if record.exists():
        print(f"== {ds.name}: import done before ({_short(str(record))}); --fresh redoes it", flush=True)
        return dict(json.loads(record.read_text()), reused=True)
    cmd = [telemetry_cli(), "import-csv", *ds.import_args(data), "--fleet", ds.fleet,
           "--out", str(folder / "raw"), "--write-config", str(folder / "config.yaml")]  # fmt: skip
    step = run(cmd)
    if step.error():
        return {"error": step.error(), "seconds": step.seconds}
    figures = {**import_figures(step.stdout), "seconds": step.seconds, "reused": False}
    record.write_text(json.dumps(figures, indent=1) + "\n")
    return figures


def run_dataset(ds: Dataset, data: Path, work: Path, fresh: bool) -> dict[str, Any]:
    """Every step of one dataset; a failed step is recorded (``error``) and the others go on."""
    started = time.perf_counter()
    folder = _work_dir(work, ds.name, fresh)
    print(f"\n== {ds.title}", flush=True)
    result: dict[str, Any] = {
        "title": ds.title,
        "import": run_import(ds, data, folder),
        "features": {},
        "runs": [],
    }
    config = ["--config", str(folder / "config.yaml"), *ds.sets]
    if "error" in result["import"]:
        result["seconds"] = time.perf_counter() - started
        return result
    for lab in ds.labellings:
        out_dir = folder / lab.out
        cmd = [telemetry_cli(), "features", *config, *lab.sets, "--raw", str(folder / "raw"),
               "--out", str(out_dir), "--fleet", ds.fleet, "--start", ds.start, "--end", ds.end]  # fmt: skip
        step = run(cmd)
        feats = features_figures(step.stdout, out_dir)
        feats["wall_s"] = step.seconds
        if step.error():
            feats["error"] = step.error()
        result["features"][lab.mode] = feats
        if step.error():
            continue
        for training in lab.trainings:
            result["runs"].append(run_training(ds, data, config, lab, training, out_dir))
    result["seconds"] = time.perf_counter() - started
    return result


def run_training(
    ds: Dataset, data: Path, config: list[str], lab: Labelling, training: Training, out_dir: Path
) -> dict[str, Any]:
    """Train (``telemetry train``), read the model's figures, and run the pandas baseline on its split."""
    from benchmarks.baseline_pandas import baseline_result  # edge: LightGBM and sklearn only when running

    entry: dict[str, Any] = {"key": training.key, "label": training.label, "labels": lab.mode}
    step = run([telemetry_cli(), "train", *config, *training.args, "--features", str(out_dir),
                "--fleet", ds.fleet])  # fmt: skip
    entry["train_s"] = step.seconds
    models = model_dir_of(step.stdout, out_dir)
    if step.error() or not models:
        entry["error"] = step.error() or "`telemetry train` printed no model line"
        return entry
    target, model_dir = next(((t, d) for t, d in models if t == "any"), models[0])
    try:
        entry["product"] = model_figures(model_dir)
    except (OSError, ValueError) as exc:
        entry["error"] = f"cannot read the model at {model_dir}: {exc}"
        return entry
    entry["mode_models"] = []
    for other, folder in models:
        if other != target:
            try:
                entry["mode_models"].append(mode_model_figures(folder))
            except (OSError, ValueError) as exc:
                entry["mode_models"].append({"target": other, "error": f"cannot read {folder}: {exc}"})
    print(f"-- pandas baseline on the rows and split of {model_dir.name}", flush=True)
    try:
        entry["baseline_pandas"] = baseline_result(ds.name, data, out_dir, model_dir)
    except Exception as exc:  # recorded, not fatal: the product's figures stand on their own
        entry["baseline_pandas"] = {"error": f"{type(exc).__name__}: {exc}"}
    b = entry["baseline_pandas"]
    print(f"   PR-AUC {b.get('pr_auc')} interval {b.get('pr_auc_interval')} ({b.get('seconds', 0):.1f} s)")
    return entry


def _git(*args: str) -> str | None:
    try:
        proc = subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return None
    return proc.stdout.strip() if proc.returncode == 0 else None


def provenance() -> dict[str, Any]:
    """Commit (and whether the work tree had changes), date, package version and machine of a run."""
    status = _git("status", "--porcelain", "--untracked-files=no")
    from telemetry import __version__  # the package under validation (its version goes in the JSON)

    return {
        "commit": _git("rev-parse", "HEAD"),
        "dirty": None if status is None else bool(status),
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "package_version": __version__,
        "machine": machine(),
    }


# ------------------------------------------------------------------------------------------ rendering


def _f(value: Any, fmt: str = ".3f") -> str:
    v = _finite(value)
    return "—" if v is None else format(v, fmt)


def _n(value: Any) -> str:
    return "—" if not isinstance(value, int) or isinstance(value, bool) else f"{value:,}"


def _with_interval(value: Any, interval: Any, fmt: str = ".3f") -> str:
    iv = _interval(interval)
    return _f(value, fmt) + ("" if iv is None else f" [{_f(iv[0], fmt)}, {_f(iv[1], fmt)}]")


def _table(head: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join("---" for _ in head) + "|"]
    return lines + ["| " + " | ".join(row) + " |" for row in rows]


def _counts(mapping: Any) -> str:
    if not isinstance(mapping, dict) or not mapping:
        return "none"
    return ", ".join(f"{k} {_n(v)}" for k, v in sorted(mapping.items()))


def _outside(imp: dict[str, Any]) -> str:
    if isinstance(imp.get("events_outside"), int):
        return f" ({_n(imp['events_outside'])} outside the telemetry span, left out)"
    detail = re.sub(r"^kept\s*", "", str(imp.get("events_detail") or "")).strip().strip("()")
    # a printed mapping ({'failure': 2, ...}) reads as the counts elsewhere on the page
    detail = re.sub(r"\{[^}]*\}", _mapping_as_counts, detail)
    return f" ({detail})" if detail else ""


def _mapping_as_counts(match: re.Match[str]) -> str:
    try:
        value = ast.literal_eval(match.group(0))
    except (ValueError, SyntaxError):
        return match.group(0)
    return _counts(value) if isinstance(value, dict) else match.group(0)


def render_dataset(result: dict[str, Any]) -> str:
    """The generated Markdown block of one dataset (import and features figures, the results table,
    per-mode figures) from its entry in validation.json."""
    imp = result.get("import", {})
    lines = []
    if "error" in imp:
        lines.append(f"Import failed: {imp['error'].splitlines()[0]}")
    else:
        events = f"events {_counts(imp.get('events'))}{_outside(imp)}"
        written = f"{_n(imp.get('day_zips'))} day zips, {_n(imp.get('envelopes'))} envelopes"
        lines.append(
            f"Import: {_n(imp.get('rows'))} rows of {_n(imp.get('units'))} units, {events}, {written},"
            f" {_f(imp.get('seconds'), '.1f')} s."
        )
    for mode, feats in result.get("features", {}).items():
        if "error" in feats and feats.get("partitions") is None:
            lines += ["", f"Features ({mode} labels) failed: {feats['error'].splitlines()[0]}"]
            continue
        excluded = {k: v for k, v in (feats.get("excluded") or {}).items() if v}
        lines += [
            "",
            f"Features ({mode} labels): {_n(feats.get('partitions'))} robot-days"
            f" in {_f(feats.get('seconds'), '.1f')} s,"
            f" {_n(feats.get('documents'))} documents ({_n(feats.get('quarantined'))} quarantined),"
            f" {_n(feats.get('examples'))} examples, {_n(feats.get('positives'))} positives;"
            f" candidates excluded: {_counts(excluded)}.",
        ]
    rows = []
    for r in result.get("runs", []):
        p, b = r.get("product"), r.get("baseline_pandas") or {}
        if p is None:
            rows.append([r["label"], f"failed: {str(r.get('error', '')).splitlines()[0][:80]}"] + ["—"] * 7)
            continue
        t = p["test"]
        rows.append(
            [
                r["label"],
                f"{_n(t['n_pos'])} / {_n(t['n_neg'])}",
                "**" + _with_interval(t["pr_auc"], t["pr_auc_interval"]) + "**",
                _f(t["prevalence"], ".4f"),
                _with_interval(p["one_feature"]["pr_auc"], p["one_feature"]["pr_auc_interval"]),
                _with_interval(b.get("pr_auc"), b.get("pr_auc_interval")) if "error" not in b else "failed",
                _with_interval(t["roc_auc"], t["roc_auc_interval"]),
                f"precision {_f(t['precision'], '.2f')}, recall {_f(t['recall'], '.2f')},"
                f" {_f(t['alerts_per_robot_day'], '.2f')} alerts/robot-day",
                f"{_n(p['trees'])}; {_f(r.get('train_s'), '.0f')} s",
            ]
        )
    head = ["split / labels", "test pos / neg", "PR-AUC [90 %]", "prevalence", "one feature [90 %]",
            "pandas baseline [90 %]", "ROC-AUC [90 %]", "at the validation threshold",
            "trees; train s"]  # fmt: skip
    lines += ["", *_table(head, rows)]
    differences = [line for r in result.get("runs", []) if (line := _differences(r))]
    if differences:
        lines += ["", "PR-AUC differences on the same test rows (paired 90 % intervals):", "", *differences]
    for r in result.get("runs", []):
        modes = (r.get("product") or {}).get("per_mode") or {}
        dedicated = [m for m in r.get("mode_models", []) if "error" not in m]
        if len(modes) > 1:  # one mode: the `any` model is that mode's model
            parts = [f"{code} {_with_interval(m['pr_auc'], m['pr_auc_interval'], '.2f')} ({_positives(m)})"
                     for code, m in modes.items()]  # fmt: skip
            text = f"Per failure mode ({_short_label(r)}, test rows), PR-AUC of the `any` model: "
            text += ", ".join(parts)
            if dedicated:
                own = [f"{m['target']} {_with_interval(m['pr_auc'], m['pr_auc_interval'], '.2f')}"
                       f" ({_positives(m)})" for m in dedicated]  # fmt: skip
                text += f"; of one model per mode: {', '.join(own)}"
            lines += ["", text + "."]
    lines += [
        "",
        f"_Generated by `python -m benchmarks.validation` from benchmarks/results/validation.json: commit "
        f"{str(result.get('commit'))[:10]}{' with local changes' if result.get('dirty') else ''}, "
        f"{str(result.get('date'))[:10]}; do not edit by hand. Intervals: 90 % bootstrap over robot-days._",
    ]
    return "\n".join(lines) + "\n"


def _short_label(run: dict[str, Any]) -> str:
    return str(run.get("label", run.get("key"))).split(":")[0]


def _positives(m: dict[str, Any]) -> str:
    return f"{_n(m.get('n_pos'))} positive{'' if m.get('n_pos') == 1 else 's'}"


def _verdict(diff: list[float]) -> str:
    if diff[0] > 0:
        return "the product is better"
    if diff[1] < 0:
        return "the product is worse"
    return "no clear difference"


def _differences(run: dict[str, Any]) -> str | None:
    """One bullet: the product's PR-AUC minus the one-feature and pandas baselines' (paired intervals)."""
    parts = []
    for name, interval in (
        ("one feature", _get(run, "product", "comparison", "one_feature", "pr_auc_difference_interval")),
        ("pandas baseline", _get(run, "baseline_pandas", "product_minus_baseline_pr_auc_interval")),
    ):
        iv = _interval(interval)
        if iv is not None:
            parts.append(f"product − {name} [{iv[0]:.3f}, {iv[1]:.3f}] ({_verdict(iv)})")
    return f"- {_short_label(run)}: " + "; ".join(parts) if parts else None


def generated_span(text: str, name: str) -> tuple[int, int] | None:
    """``(start, end)`` of the text between dataset `name`'s markers, each alone on its line."""
    begin = re.search(rf"^{re.escape(begin_marker(name))}\n", text, re.M)
    if begin is None:
        return None
    end = re.search(rf"^{re.escape(end_marker(name))}$", text[begin.end() :], re.M)
    return None if end is None else (begin.end(), begin.end() + end.start())


def write_docs(doc: dict[str, Any], path: Path = DOCS) -> list[str]:
    """Replace each dataset's generated block of `path` with what `doc` renders; returns the datasets done.

    Raises:
        SystemExit: a dataset of `doc` has no marker pair in `path`.
    """
    text = path.read_text()
    for name, result in doc["datasets"].items():
        span = generated_span(text, name)
        if span is None:
            raise SystemExit(
                f"{path} has no block for {name!r}: add the lines {begin_marker(name)} and {end_marker(name)}"
            )
        text = text[: span[0]] + render_dataset(result) + text[span[1] :]
    path.write_text(text)
    return list(doc["datasets"])


# ------------------------------------------------------------------------------------------ main


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.validation",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="folder holding skab/ and azure_pdm/")
    parser.add_argument("--work", type=Path, default=DEFAULT_WORK, help="raw zips, features and models")
    parser.add_argument("--only", help=f"comma-separated datasets (of {','.join(DATASETS)}; default all)")
    parser.add_argument("--json", type=Path, default=DEFAULT_JSON, help="the results JSON to write")
    parser.add_argument("--fresh", action="store_true", help="delete the datasets' work folders first")
    parser.add_argument("--no-docs", action="store_true", help="do not rewrite docs/validation.md")
    parser.add_argument(
        "--write-docs", action="store_true", help="only rewrite docs/validation.md's tables from --json"
    )
    args = parser.parse_args(argv)
    if args.write_docs:
        done = write_docs(json.loads(args.json.read_text()))
        print(f"rewrote the blocks {done} of {_short(str(DOCS))} from {_short(str(args.json))}")
        return 0
    wanted = args.only.split(",") if args.only else list(DATASETS)
    unknown = sorted(set(wanted) - set(DATASETS))
    if unknown:
        raise SystemExit(f"--only: unknown dataset(s) {unknown}; expected a subset of {list(DATASETS)}")
    if not args.data.is_dir():
        raise SystemExit(
            f"--data {args.data} is not a folder (expected the one holding skab/ and azure_pdm/)"
        )
    previous = json.loads(args.json.read_text()) if args.json.exists() else {}
    doc: dict[str, Any] = {"schema": SCHEMA, **provenance(), "datasets": {}}
    started = time.perf_counter()
    for name in DATASETS:
        if name in wanted:
            doc["datasets"][name] = {
                **_stamp(doc),
                **run_dataset(DATASETS[name], args.data, args.work, args.fresh),
            }
        elif name in previous.get("datasets", {}):
            doc["datasets"][name] = previous["datasets"][name]  # kept from the earlier run (its own stamp)
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(doc, indent=1, ensure_ascii=False) + "\n")  # after each: resumable
    doc["seconds"] = time.perf_counter() - started
    args.json.write_text(json.dumps(doc, indent=1, ensure_ascii=False) + "\n")
    for name, result in doc["datasets"].items():
        print(f"\n## {name}\n\n{render_dataset(result)}")
    print(f"wrote {_short(str(args.json))} ({doc['seconds']:.0f} s)")
    if args.no_docs:
        pass
    elif args.json.resolve() != DEFAULT_JSON.resolve():  # the docs show the committed JSON, nothing else
        print(f"{_short(str(DOCS))} not rewritten: --json is not {_short(str(DEFAULT_JSON))}")
    else:
        print(f"rewrote the blocks {write_docs(doc)} of {_short(str(DOCS))}")
    failed = [f"{n}/{r.get('key', 'import')}" for n, d in doc["datasets"].items()
              for r in [d.get("import", {}), *d.get("runs", [])] if "error" in r]  # fmt: skip
    if failed:
        print(f"FAILED steps: {failed}", file=sys.stderr)
        return 1
    return 0


def _stamp(doc: dict[str, Any]) -> dict[str, Any]:
    return {k: doc[k] for k in ("commit", "dirty", "date", "package_version")}


if __name__ == "__main__":
    sys.exit(main())
