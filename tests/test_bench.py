"""The benchmark suite (``python -m benchmarks``): one quick run end to end, its combined JSON (every stage
and target present and numeric, ratios computed) and the generated section of docs/performance.md. No
timing assertions: the figures themselves are for the docs, not for the tests."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from benchmarks.suite import (
    BEGIN,
    END,
    RESULTS,
    SOURCES,
    TARGETS,
    generated_span,
    incremental,
    render,
    write_docs,
)

REPO = Path(__file__).resolve().parent.parent
STAGES = ("extract", "align+labels+features", "Parquet write", "Parquet read-back", "other", "end to end")


def _numeric(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


@pytest.fixture(scope="module")
def quick_suite(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    out = tmp_path_factory.mktemp("bench")
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--quick", "--no-docs", "--out", str(out)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return dict(json.loads((out / "suite.json").read_text()))


def test_quick_suite_runs_the_quick_benchmarks_and_reuses_the_others(quick_suite: dict[str, Any]) -> None:
    sources = quick_suite["sources"]
    assert set(sources) == set(SOURCES)
    assert sources["extract"]["info"]["ran"] and sources["e2e"]["info"]["ran"]
    for name in ("features", "pipeline"):  # no quick workload: their committed JSON is read and said so
        info = sources[name]["info"]
        assert info["ran"] or "not re-run" in info["note"]
        assert sources[name]["doc"] is not None
    machine = quick_suite["machine"]
    for key in ("cpu_model", "cores", "ram_gib", "python", "versions", "load_average", "git_head"):
        assert key in machine
    assert quick_suite["quick"] is True


def test_every_stage_has_numeric_figures(quick_suite: dict[str, Any]) -> None:
    stages = quick_suite["summary"]["stages"]
    assert list(stages) == list(STAGES)
    for name, stage in stages.items():
        for key in ("seconds", "robot_days_per_min_per_core", "json_mb_per_s", "samples_per_s"):
            assert _numeric(stage[key]), (name, key, stage[key])
        if name != "other":
            assert _numeric(stage["peak_rss_mb"]), name
    total = stages["end to end"]["seconds"]
    parts = sum(s["seconds"] for n, s in stages.items() if n != "end to end")
    assert parts == pytest.approx(total)


def test_every_target_is_evaluated_and_ratios_are_computed(quick_suite: dict[str, Any]) -> None:
    summary = quick_suite["summary"]
    targets = {t["key"]: t for t in summary["targets"]}
    assert list(targets) == [key for key, *_ in TARGETS]
    pipeline = quick_suite["sources"]["pipeline"]["doc"]
    assert incremental(pipeline) is not None  # the committed pipeline.json has the late-upload re-run
    for key, target in targets.items():
        assert _numeric(target["value"]), (key, target)
        assert isinstance(target["met"], bool), key
    ratios = summary["ratios"]
    assert _numeric(ratios["extract_vs_fastest_decode"])
    assert _numeric(ratios["e2e_speedup_vs_straightforward"])
    assert _numeric(summary["dask"]["overhead_1_worker_vs_in_process"])
    assert _numeric(summary["dask"]["workers_2_vs_1"])
    e2e = {r["variant"]: r for r in quick_suite["sources"]["e2e"]["doc"]["results"]}
    assert {"telemetry", "straightforward"} <= set(e2e)
    assert e2e["telemetry"]["rows_written"] > 0 and e2e["straightforward"]["rows_written"] > 0


def test_docs_section_is_replaced_between_the_markers(quick_suite: dict[str, Any], tmp_path: Path) -> None:
    doc = tmp_path / "performance.md"
    prose = f"before: the tables between `{BEGIN}` and `{END}` are generated\n"  # markers named in prose
    doc.write_text(f"# Performance\n\n{prose}\n{BEGIN}\nold tables\n{END}\n\nafter\n")
    section = render(quick_suite)
    write_docs(section, doc)
    text = doc.read_text()
    assert "old tables" not in text and section in text
    assert text.startswith(f"# Performance\n\n{prose}\n{BEGIN}\n") and text.endswith(f"\n{END}\n\nafter\n")
    assert "| target |" in text and "(quick workload)" in text


def test_committed_docs_match_the_committed_suite_json() -> None:
    """docs/performance.md's generated section is what `python -m benchmarks --render` makes of suite.json."""
    path = RESULTS / "suite.json"
    text = (REPO / "docs" / "performance.md").read_text()
    span = generated_span(text)
    assert span is not None, "docs/performance.md has no generated section"
    assert text[span[0] : span[1]] == render(json.loads(path.read_text()))
