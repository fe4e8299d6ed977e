"""Extraction benchmark: one full-rate robot-day, one core.

    .venv/bin/python benchmarks/extract.py [--repeat 3] [--json benchmarks/results/extract.json] [--quick]

Generates (once, cached under $TMPDIR) a full-rate simulated robot-day zip (benchmarks/workload.py;
``--quick``: the robot online 15 minutes only, for tests), then times, round-robin, each in a fresh process
pinned to one CPU so that peak RSS is the variant's own:

- ``telemetry``: :func:`telemetry.stages.extract.extract_day_zip` (validation, quarantine, dedupe, sort
included);
- ``stdlib``:    stdlib ``gzip`` + ``json`` per document, columns built in Python (the straightforward chain);
- ``isal_orjson``: ``isal_zlib`` + ``orjson`` per document, columns built in Python (no validation).

Prints seconds (best of --repeat), MB/s of JSON, samples and peak RSS per variant.
The three variants make up the suite's "fastest decode path" comparison (``python -m benchmarks``).
"""

from __future__ import annotations

import argparse
import gzip
import io
import json
import os
import resource
import subprocess
import sys
import time
import zipfile
from pathlib import Path
from typing import Any

from workload import ONE_CORE_ENV, day_key, machine, pin_one_cpu, robot_day_zip

VARIANTS = ("telemetry", "isal_orjson", "stdlib")


def _members(data: bytes) -> list[bytes]:
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        return [zf.read(info) for info in zf.infolist()]


def _columnarise(docs: list[dict[str, Any]]) -> dict[str, dict[str, list[Any]]]:
    columns: dict[str, dict[str, list[Any]]] = {}
    for doc in docs:
        for name, samples in doc["signals"].items():
            cols = columns.setdefault(name, {})
            for sample in samples:
                for key, value in sample.items():
                    cols.setdefault(key, []).append(value)
    return columns


def run_variant(name: str, path: Path, quick: bool = False) -> dict[str, Any]:
    pin_one_cpu()
    import orjson
    import pyarrow as pa
    from isal import isal_zlib

    from telemetry.config import load_config
    from telemetry.stages.extract import extract_day_zip

    pa.set_cpu_count(1)
    pa.set_io_thread_count(1)
    day = day_key(quick)
    config = load_config(env={})
    data = path.read_bytes()
    started = time.perf_counter()  # imports and set-up above are not timed
    if name == "telemetry":
        result = extract_day_zip(
            data, day=day, version="bench", signals=config.signals, extract=config.extract
        )
        samples = sum(result.report.samples.values())
        json_bytes = result.report.json_bytes
        extra = {"documents": result.report.documents, "quarantined": result.report.quarantined}
    elif name == "stdlib":
        docs, json_bytes = [], 0
        for raw in _members(data):
            try:
                text = gzip.decompress(raw)
                docs.append(json.loads(text))
                json_bytes += len(text)
            except (OSError, EOFError, ValueError):
                continue
        cols = _columnarise(docs)
        samples = sum(len(c.get("ts", [])) for c in cols.values())
        extra = {"documents": len(docs)}
    elif name == "isal_orjson":
        docs, json_bytes = [], 0
        for raw in _members(data):
            try:
                text = isal_zlib.decompress(raw, wbits=31)
                docs.append(orjson.loads(text))
                json_bytes += len(text)
            except (isal_zlib.error, orjson.JSONDecodeError):
                continue
        cols = _columnarise(docs)
        samples = sum(len(c.get("ts", [])) for c in cols.values())
        extra = {"documents": len(docs)}
    else:
        raise SystemExit(f"unknown variant {name!r}")
    seconds = time.perf_counter() - started
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {
        "variant": name,
        "seconds": seconds,
        "json_mb": json_bytes / 1e6,
        "zip_mb": len(data) / 1e6,
        "samples": samples,
        "peak_rss_mb": peak_mb,
        **extra,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--json", type=Path, help="write the results here as JSON")
    parser.add_argument("--quick", action="store_true", help="the robot online 15 minutes only (tests)")
    parser.add_argument("--variant", help=argparse.SUPPRESS)
    args = parser.parse_args()
    path = robot_day_zip(args.quick)
    if args.variant:
        print(json.dumps(run_variant(args.variant, path, args.quick)))
        return
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name in VARIANTS}
    for _ in range(args.repeat):  # round-robin: a slow spell of the shared machine hits every variant
        for variant in VARIANTS:
            out = subprocess.run(
                [sys.executable, __file__, "--variant", variant, *(["--quick"] if args.quick else [])],
                capture_output=True,
                text=True,
                check=True,
                env={**os.environ, **ONE_CORE_ENV},
            )
            runs[variant].append(json.loads(out.stdout))
    results = []
    for variant in VARIANTS:
        best = min(runs[variant], key=lambda r: r["seconds"])
        best["runs"] = [round(r["seconds"], 3) for r in runs[variant]]
        results.append(best)
    head = results[0]
    print(
        f"one full-rate robot-day: {head['zip_mb']:.1f} MB zipped, {head['json_mb']:.1f} MB JSON, "
        f"{head['samples']:,} samples, {head['documents']:,} documents; best of {args.repeat}, one core"
    )
    print(f"{'variant':<12} {'seconds':>8} {'MB/s JSON':>10} {'peak RSS MB':>12}  runs")
    for r in results:
        rate = r["json_mb"] / r["seconds"]
        print(f"{r['variant']:<12} {r['seconds']:8.2f} {rate:10.0f} {r['peak_rss_mb']:12.0f}  {r['runs']}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        doc = {"machine": machine(), "quick": args.quick, "repeat": args.repeat, "results": results}
        args.json.write_text(json.dumps(doc, indent=1) + "\n")


if __name__ == "__main__":
    main()
