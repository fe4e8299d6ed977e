"""The benchmark suite: every benchmark here, one combined JSON, the generated tables of docs/performance.md.

    python -m benchmarks [--quick] [--only extract,features,pipeline,e2e] [--repeat N] [--no-docs]
    python -m benchmarks --render        # only rewrite the docs section from benchmarks/results/suite.json

Runs, each as a subprocess with ``--json``:

- ``extract``: benchmarks/extract.py (extraction of one full-rate robot-day vs the decode-only chains);
- ``features``: benchmarks/features.py (align + labels + features vs the peer libraries) with
  ``.venv-bench/bin/python`` when it exists; otherwise with this interpreter, which times our variants only
  and says that the peers were not run and how to install them;
- ``pipeline``: benchmarks/pipeline.py (20 robot-days in-process and on 1 and 2 Dask workers, projection,
  incremental re-run);
- ``e2e``: benchmarks/e2e.py (one robot-day from the store to Parquet: ours, the straightforward stdlib json
  + pandas chain, and the tuned polars chain when polars is importable).

and writes ``benchmarks/results/suite.json``: the machine (CPU model, cores, RAM, Python and library
versions, load average, git head), every script's own JSON, the per-stage figures (seconds, robot-days per
minute per core, MB/s of raw JSON, samples/s, peak RSS), Dask overhead, ratios and every target with
met / not met. Then it rewrites the section of docs/performance.md between ``<!-- bench:begin -->`` and
``<!-- bench:end -->``.

``--quick`` runs extract.py and e2e.py on a tiny workload (the fleet online 15 minutes) into
``$TMPDIR/telemetry-bench/quick`` and never touches the docs; benchmarks that have no quick workload
(features.py, pipeline.py, unless their ``--help`` offers ``--quick``) are not run: their last committed
JSON in benchmarks/results is read instead, and the report says so. ``--only`` does the same for the stages
not selected.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from benchmarks.workload import CACHE, REPO, machine

BENCH = REPO / "benchmarks"
RESULTS = BENCH / "results"
DOCS = REPO / "docs" / "performance.md"
BEGIN, END = "<!-- bench:begin -->", "<!-- bench:end -->"
SOURCES = ("extract", "features", "pipeline", "e2e")
PEER_VENV = REPO / ".venv-bench" / "bin" / "python"
PEER_SETUP = (
    "python3 -m venv .venv-bench && .venv-bench/bin/pip install -c constraints.txt -e . "
    "-r benchmarks/requirements-peers.txt"
)
# targets of the performance issue: (key, description, unit, bound, direction)
TARGETS: tuple[tuple[str, str, str, float, str], ...] = (
    ("extract_vs_fastest_decode", "extraction vs the fastest decode path in the same run", "x", 1.2, "<="),
    ("e2e_seconds", "end to end, one robot-day, one core", "s", 2.5, "<="),
    ("e2e_speedup_vs_straightforward", "end to end vs the straightforward chain", "x faster", 2.5, ">="),
    ("e2e_peak_rss_mb", "peak RSS, one robot-day (extract + features tasks, one process)", "MB", 600, "<="),
    ("worker_peak_rss_mb", "peak RSS per worker (pipeline.py: 20 robot-days with halos)", "MB", 600, "<="),
    ("workers_2_vs_1", "throughput of 2 workers vs 1 (pipeline.py)", "x", 1.8, ">="),
    ("fleet_day_projection_s", "365-robot fleet-day on 80 cores, projected (pipeline.py)", "s", 30, "<="),
    (
        "incremental_rerun_share",
        "re-run after one late upload, share of a full run (20 robot-days)",
        "",
        0.15,
        "<=",
    ),
)


# ------------------------------------------------------------------------------------------ running


def _supports_quick(script: Path) -> bool:
    return '"--quick"' in script.read_text()


def _python_for(name: str) -> tuple[str, str | None]:
    """The interpreter for a benchmark, and a note when peers are not available."""
    if name == "features":
        if PEER_VENV.exists():
            return str(PEER_VENV), None
        return (
            sys.executable,
            f"peers (tsfresh, polars, duckdb) were not run: .venv-bench is missing; {PEER_SETUP}",
        )
    return sys.executable, None


def _command(name: str, python: str, out: Path, repeat: int, quick: bool) -> list[str]:
    script = BENCH / f"{name}.py"
    cmd = [python, str(script), "--repeat", str(repeat), "--json", str(out)]
    return [*cmd, "--quick"] if quick else cmd


def run_source(name: str, out_dir: Path, repeat: int, quick: bool) -> dict[str, Any]:
    """Run one benchmark script (or explain why not) and load its JSON."""
    script = BENCH / f"{name}.py"
    committed = RESULTS / f"{name}.json"
    if quick and not _supports_quick(script):
        return _reuse(name, committed, f"not re-run: {script.name} has no quick workload")
    python, note = _python_for(name)
    out = out_dir / f"{name}.json"
    cmd = _command(name, python, out, repeat, quick)
    print(f"\n== {name}: {' '.join(_short(c) for c in cmd)}", flush=True)
    if note:
        print(f"   {note}", flush=True)
    started = time.perf_counter()
    proc = subprocess.run(cmd, cwd=REPO, text=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    sys.stdout.write(proc.stdout)
    if proc.returncode != 0:
        raise SystemExit(f"{name} failed (exit {proc.returncode}); command: {' '.join(cmd)}")
    info = {
        "ran": True,
        "command": [_short(c) for c in cmd],
        "wall_s": time.perf_counter() - started,
        "json": _short(str(out)),
        "note": note,
    }
    return {"info": info, "doc": json.loads(out.read_text())}


def _reuse(name: str, path: Path, why: str) -> dict[str, Any]:
    if not path.exists():
        return {
            "info": {"ran": False, "json": None, "note": f"{why}; no {_short(str(path))} either"},
            "doc": None,
        }
    print(f"\n== {name}: {why}; using {_short(str(path))}", flush=True)
    return {
        "info": {"ran": False, "json": _short(str(path)), "note": why},
        "doc": json.loads(path.read_text()),
    }


def _short(text: str) -> str:
    for prefix, alias in ((str(REPO) + "/", ""), (str(CACHE), "$TMPDIR/telemetry-bench")):
        text = text.replace(prefix, alias)
    return text


# ------------------------------------------------------------------------------------------ reading


def _results(doc: dict[str, Any] | None) -> list[dict[str, Any]]:
    return list(doc.get("results", [])) if doc else []


def _variant(doc: dict[str, Any] | None, name: str, step_ms: int | None = None) -> dict[str, Any] | None:
    for r in _results(doc):
        if r.get("variant") == name and (step_ms is None or r.get("step_ms") == step_ms):
            return r
    return None


def _num(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return None
    return float(value)


def _walk(node: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], Any]]:
    if isinstance(node, dict):
        for key, value in node.items():
            yield (*path, str(key)), value
            yield from _walk(value, (*path, str(key)))


def incremental(doc: dict[str, Any] | None) -> dict[str, Any] | None:
    """The incremental re-run figures of pipeline.py's JSON, wherever its block is, or None.

    Takes the first mapping whose key mentions ``incremental`` (``derived`` first): a numeric ratio / share /
    fraction in it, else its full-run and re-run seconds (keys mentioning ``full`` and ``rerun``/``re_run``).
    """
    if not doc:
        return None
    for root in (doc.get("derived"), doc):
        for path, value in _walk(root):
            if "incremental" not in path[-1].lower() or not isinstance(value, dict):
                continue
            flat = {"/".join(p).lower(): _num(v) for p, v in _walk(value) if _num(v) is not None}
            ratio = next(
                (v for k, v in flat.items() if any(w in k for w in ("ratio", "share", "fraction"))), None
            )
            full = next(
                (v for k, v in flat.items() if "full" in k and ("_s" in k or "second" in k or "wall" in k)),
                None,
            )
            rerun = next(
                (
                    v
                    for k, v in flat.items()
                    if any(w in k for w in ("rerun", "re_run", "re-run", "incremental"))
                    and ("_s" in k or "second" in k or "wall" in k)
                ),
                None,
            )
            if ratio is None and full and rerun is not None:
                ratio = rerun / full
            return {"path": "/".join(path), "share": ratio, "full_s": full, "rerun_s": rerun}
    return None


# ------------------------------------------------------------------------------------------ deriving


def stages(e2e: dict[str, Any] | None) -> dict[str, dict[str, Any]]:
    """Per-stage figures of our end-to-end run (best run): one robot-day, one core."""
    ours = _variant(e2e, "telemetry")
    if ours is None:
        return {}
    st = ours["stages"]
    peaks = ours.get("stage_peak_rss_mb", {})
    parts = {
        "extract": (
            st["store_read"] + st["extract"],
            "store read, unzip, inflate, parse, validate, Arrow tables",
            peaks.get("extract"),
        ),
        "align+labels+features": (
            st["features"],
            "align, labels, features (robot_features)",
            peaks.get("features"),
        ),
        "Parquet write": (
            st["parquet_write"],
            "signal tables and features, zstd, atomic put",
            peaks.get("parquet_write"),
        ),
        "Parquet read-back": (
            st["read_back"],
            "the day's signal tables read by the features task",
            peaks.get("read_back"),
        ),
    }
    other = ours["seconds"] - sum(v[0] for v in parts.values())
    parts["other"] = (other, "listing and content hash, lease, lineage, manifest", None)
    parts["end to end"] = (ours["seconds"], "store read -> features Parquet written", ours["peak_rss_mb"])
    out = {}
    for name, (seconds, what, peak) in parts.items():
        out[name] = {
            "what": what,
            "seconds": seconds,
            "robot_days_per_min_per_core": 60 / seconds if seconds > 0 else None,
            "json_mb_per_s": ours["json_mb"] / seconds if seconds > 0 else None,
            "samples_per_s": ours["samples"] / seconds if seconds > 0 else None,
            "peak_rss_mb": peak,
        }
    return out


def dask(pipeline: dict[str, Any] | None) -> dict[str, Any]:
    """Dask figures of pipeline.py: overhead (1 worker vs in-process), scaling, projection."""
    d = (pipeline or {}).get("derived")
    if not d:
        return {}
    tp = d.get("throughput_robot_days_per_min", {})
    proj = d.get("projection", {})
    peak = proj.get("inputs", {}).get("peak_worker_rss_bytes")
    one, two = _num(tp.get("dask-1")), _num(tp.get("dask-2"))
    return {
        "robot_days": d.get("robot_days"),
        "throughput_robot_days_per_min": tp,
        "overhead_1_worker_vs_in_process": _num(d.get("dask_overhead")),
        "overhead_cpu": _num(d.get("dask_overhead_cpu")),
        "workers_2_vs_1": two / one if one and two is not None else None,
        "scaling_efficiency_1_to_2": _num(d.get("scaling_efficiency_1_to_2")),
        "per_task_overhead_s": d.get("per_task_overhead_s", {}).get("dask_1_busy"),
        "projection_wall_s": _num(proj.get("wall_s")),
        "projection_wall_s_at_measured_efficiency": _num(proj.get("wall_s_at_measured_efficiency")),
        "projection_bound_by": proj.get("bound_by"),
        "peak_worker_rss_mb": peak / 1e6 if _num(peak) is not None else None,
        "incremental": incremental(pipeline),
    }


def ratios(extract: dict[str, Any] | None, e2e: dict[str, Any] | None) -> dict[str, float | None]:
    """Ours vs the others measured in the same run (>1: ours is faster, except the extraction ratio)."""
    out: dict[str, float | None] = {}
    ours = _variant(extract, "telemetry")
    others = [r["seconds"] for r in _results(extract) if r.get("variant") != "telemetry"]
    out["extract_vs_fastest_decode"] = ours["seconds"] / min(others) if ours and others else None
    mine = _variant(e2e, "telemetry")
    for r in _results(e2e):
        if mine and r.get("variant") != "telemetry":
            out[f"e2e_speedup_vs_{r['variant']}"] = r["seconds"] / mine["seconds"]
    return out


def targets(
    ratio: dict[str, float | None], e2e: dict[str, Any] | None, d: dict[str, Any]
) -> list[dict[str, Any]]:
    """Every target of the issue with its measured value and met / not met (None: not measured)."""
    ours = _variant(e2e, "telemetry") or {}
    inc = d.get("incremental") or {}
    values = {
        "extract_vs_fastest_decode": ratio.get("extract_vs_fastest_decode"),
        "e2e_seconds": ours.get("seconds"),
        "e2e_speedup_vs_straightforward": ratio.get("e2e_speedup_vs_straightforward"),
        "e2e_peak_rss_mb": ours.get("peak_rss_mb"),
        "worker_peak_rss_mb": d.get("peak_worker_rss_mb"),
        "workers_2_vs_1": d.get("workers_2_vs_1"),
        "fleet_day_projection_s": d.get("projection_wall_s"),
        "incremental_rerun_share": inc.get("share"),
    }
    out = []
    for key, what, unit, bound, op in TARGETS:
        value = _num(values[key])
        met = None if value is None else (value <= bound if op == "<=" else value >= bound)
        out.append(
            {"key": key, "what": what, "unit": unit, "target": f"{op} {bound:g}", "value": value, "met": met}
        )
    return out


def summarise(sources: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The derived part of suite.json from the scripts' JSONs."""
    docs = {name: src["doc"] for name, src in sources.items()}
    ratio = ratios(docs.get("extract"), docs.get("e2e"))
    d = dask(docs.get("pipeline"))
    return {
        "stages": stages(docs.get("e2e")),
        "dask": d,
        "ratios": ratio,
        "targets": targets(ratio, docs.get("e2e"), d),
    }


# ------------------------------------------------------------------------------------------ rendering


def _f(value: Any, fmt: str = ".2f", none: str = "—") -> str:
    v = _num(value)
    return none if v is None else format(v, fmt)


def _table(head: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join("---" for _ in head) + "|"]
    return lines + ["| " + " | ".join(row) + " |" for row in rows]


def render(suite: dict[str, Any]) -> str:
    """The generated Markdown section (tables) of docs/performance.md."""
    m = suite["machine"]
    load = suite.get("load_average", {})
    v = m.get("versions", {})
    lines = [
        "_Generated by `python -m benchmarks` from `benchmarks/results/suite.json`; do not edit by hand._",
        "",
        f"Machine: {m.get('cpu_model')}, {m.get('cores')} cores, {m.get('ram_gib')} GiB RAM; Python "
        f"{m.get('python')}; "
        + ", ".join(f"{k} {val}" for k, val in v.items() if val)
        + f"; git {m.get('git_head')}."
        f" Load average (1/5/15 min) at the start {_loads(load.get('start'))},"
        f" at the end {_loads(load.get('end'))}. Best of {suite.get('repeat')} runs per variant"
        f"{' (quick workload)' if suite.get('quick') else ''}.",
        "",
    ]
    for name, src in suite["sources"].items():
        info = src["info"]
        if not info.get("ran") or info.get("note"):
            lines.append(
                f"- `{name}`: {info.get('note') or 'not run'}"
                + (f" ({info['json']})" if info.get("json") else "")
            )
    lines += [
        "",
        "**Stages, one full-rate robot-day, one core** (benchmarks/e2e.py, `telemetry` variant):",
        "",
    ]
    rows = []
    for name, s in suite["summary"]["stages"].items():
        rows.append(
            [
                f"**{name}**" if name == "end to end" else name,
                s["what"],
                _f(s["seconds"]),
                _f(s["robot_days_per_min_per_core"], ".1f"),
                _f(s["json_mb_per_s"], ".0f"),
                _f(s["samples_per_s"], ",.0f"),
                _f(s["peak_rss_mb"], ".0f"),
            ]
        )
    lines += _table(
        ["stage", "what", "seconds", "robot-days/min/core", "MB/s JSON", "samples/s", "peak RSS MB (so far)"],
        rows,
    )
    e2e = suite["sources"].get("e2e", {}).get("doc")
    if e2e:
        lines += ["", "**End to end, same robot-day, each variant in its own process:**", ""]
        rows = []
        for r in _results(e2e):
            st = ", ".join(f"{k} {_f(val)}" for k, val in r.get("stages", {}).items())
            rows.append(
                [
                    f"`{r['variant']}`",
                    _f(r["seconds"]),
                    _f(r.get("cpu_seconds")),
                    _f(r["peak_rss_mb"], ".0f"),
                    st,
                    " ".join(f"{x:.2f}" for x in r.get("runs", [])),
                ]
            )
        lines += _table(["variant", "best s", "CPU s", "peak RSS MB", "stages (s)", "runs (s)"], rows)
        lines += [""] + [
            f"- {k}: **{_f(val)}x**" for k, val in suite["summary"]["ratios"].items() if val is not None
        ]
        lines += [f"- {note}" for note in e2e.get("notes", [])]
    ex = suite["sources"].get("extract", {}).get("doc")
    if ex:
        lines += ["", "**Extraction** (benchmarks/extract.py):", ""]
        rows = [
            [
                f"`{r['variant']}`",
                _f(r["seconds"]),
                _f(r["json_mb"] / r["seconds"], ".0f"),
                _f(r["peak_rss_mb"], ".0f"),
                " ".join(f"{x:.2f}" for x in r.get("runs", [])),
            ]
            for r in _results(ex)
        ]
        lines += _table(["variant", "best s", "MB/s JSON", "peak RSS MB", "runs (s)"], rows)
    ft = suite["sources"].get("features", {}).get("doc")
    if ft:
        lines += ["", "**Align, labels, features** (benchmarks/features.py; every variant it reported):", ""]
        steps = sorted({r.get("step_ms") for r in _results(ft) if r.get("step_ms") is not None}, reverse=True)
        rows = []
        names = list(dict.fromkeys(r["variant"] for r in _results(ft)))
        for name in names:
            row = [f"`{name}`"]
            for step in steps:
                r = _variant(ft, name, step)
                row.append(
                    "—"
                    if r is None
                    else f"{'≈' if r.get('measured') else ''}{_f(r.get('seconds'), '.3f')}"
                    f" / {_f(r.get('cpu_seconds'), '.3f')}"
                    f" / {_f(r.get('peak_rss_mb'), '.0f')}"
                )
            rows.append(row)
        lines += _table(["variant", *[f"{s} ms clock: s / CPU s / peak MB" for s in steps]], rows)
        lines += ["", "≈: extrapolated from a subset of the windows (see benchmarks/features.py)."]
    d = suite["summary"]["dask"]
    if d:
        tp = d["throughput_robot_days_per_min"]
        lines += ["", f"**Fleet pipeline** (benchmarks/pipeline.py, {d.get('robot_days')} robot-days):", ""]
        rows = [[k, _f(val, ".1f")] for k, val in tp.items()]
        rows += [
            [
                "Dask overhead, 1 worker vs in-process (wall)",
                _pct(d["overhead_1_worker_vs_in_process"]),
            ],
            ["Dask overhead in CPU seconds", _pct(d["overhead_cpu"])],
            ["throughput 2 workers / 1 worker", _f(d["workers_2_vs_1"]) + "x"],
            ["per-task overhead (s)", _f(d["per_task_overhead_s"], ".3f")],
            [
                "365-robot fleet-day on 80 cores, projected (s)",
                f"{_f(d['projection_wall_s'], '.1f')} (at the measured 1->2 efficiency"
                f" {_f(d['projection_wall_s_at_measured_efficiency'], '.1f')};"
                f" bound by {d.get('projection_bound_by')})",
            ],
            ["peak worker RSS (MB)", _f(d["peak_worker_rss_mb"], ".0f")],
        ]
        inc = d.get("incremental")
        rows.append(
            [
                "incremental re-run / full run",
                "not measured"
                if not inc
                else f"{_f(inc['share'], '.1%')} ({_f(inc['rerun_s'])} s / {_f(inc['full_s'])} s)",
            ]
        )
        lines += _table(["run / figure", "robot-days/min or value"], rows)
    lines += ["", "**Targets** (one core, one full-rate robot-day unless stated):", ""]
    rows = []
    for t in suite["summary"]["targets"]:
        met = "not measured" if t["met"] is None else ("**met**" if t["met"] else "**not met**")
        rows.append([t["what"], f"{t['target']} {t['unit']}".strip(), _f(t["value"], ".3g"), met])
    lines += _table(["target", "bound", "measured", ""], rows)
    return "\n".join(lines) + "\n"


def _pct(value: Any) -> str:
    v = _num(value)
    return "—" if v is None else f"{100 * v:+.1f}%"


def _loads(values: Any) -> str:
    return "—" if not values else " / ".join(f"{x:.2f}" for x in values)


def generated_span(text: str) -> tuple[int, int] | None:
    """``(start, end)`` of the text between the bench markers, each alone on its line (prose may name
    them)."""
    begin = re.search(rf"^{re.escape(BEGIN)}\n", text, re.M)
    if begin is None:
        return None
    end = re.search(rf"^{re.escape(END)}$", text[begin.end() :], re.M)
    return None if end is None else (begin.end(), begin.end() + end.start())


def write_docs(section: str, path: Path = DOCS) -> None:
    """Replace the text between the bench markers of `path` (markers appended when missing)."""
    text = path.read_text()
    span = generated_span(text)
    if span is not None:
        text = text[: span[0]] + section + text[span[1] :]
    else:
        block = f"{BEGIN}\n{section}{END}"
        text = text.rstrip("\n") + "\n\n## Benchmark suite results\n\n" + block + "\n"
    path.write_text(text)


# ------------------------------------------------------------------------------------------ main


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="tiny workload (seconds): for tests")
    parser.add_argument(
        "--only",
        help=f"comma-separated benchmarks to run (of {','.join(SOURCES)}); "
        "the others are read from benchmarks/results",
    )
    parser.add_argument("--repeat", type=int, help="runs per variant (default 3; 1 with --quick)")
    parser.add_argument("--no-docs", action="store_true", help="do not rewrite docs/performance.md")
    parser.add_argument(
        "--out",
        type=Path,
        help="where the JSONs go (default benchmarks/results; $TMPDIR/telemetry-bench/quick with --quick)",
    )
    parser.add_argument(
        "--render", action="store_true", help="only rewrite the docs section from <out>/suite.json"
    )
    args = parser.parse_args(argv)
    out_dir = args.out or (CACHE / "quick" if args.quick else RESULTS)
    out_dir.mkdir(parents=True, exist_ok=True)
    if args.render:
        suite = json.loads((out_dir / "suite.json").read_text())
        write_docs(render(suite))
        print(
            f"rewrote the generated section of {_short(str(DOCS))} from {_short(str(out_dir / 'suite.json'))}"
        )
        return
    wanted = args.only.split(",") if args.only else list(SOURCES)
    unknown = sorted(set(wanted) - set(SOURCES))
    if unknown:
        raise SystemExit(f"--only: unknown benchmark(s) {unknown}; expected a subset of {list(SOURCES)}")
    repeat = args.repeat or (1 if args.quick else 3)
    load_start = list(os.getloadavg())
    started = time.perf_counter()
    sources = {}
    for name in SOURCES:
        if name in wanted:
            sources[name] = run_source(name, out_dir, repeat, args.quick)
        else:
            sources[name] = _reuse(name, RESULTS / f"{name}.json", "not selected by --only")
    suite = {
        "machine": machine(),
        "load_average": {"start": load_start, "end": list(os.getloadavg())},
        "quick": args.quick,
        "repeat": repeat,
        "wall_s": time.perf_counter() - started,
        "sources": sources,
    }
    suite["summary"] = summarise(sources)
    path = out_dir / "suite.json"
    path.write_text(json.dumps(suite, indent=1) + "\n")
    section = render(suite)
    print("\n" + section)
    print(f"wrote {_short(str(path))}")
    if not args.no_docs and not args.quick:
        write_docs(section)
        print(f"rewrote the generated section of {_short(str(DOCS))}")
