"""docs/operations.md's table is generated from benchmarks/results/loop.json (`python -m benchmarks.loop`)."""

from __future__ import annotations

import json
from pathlib import Path

from benchmarks.loop import BEGIN, DEFAULT_JSON, DOCS, END, render, write_docs


def test_committed_docs_match_the_committed_loop_json() -> None:
    doc = json.loads(DEFAULT_JSON.read_text())
    text = DOCS.read_text()
    block = text[text.index(BEGIN) : text.index(END) + len(END)]
    assert block == render(doc)


def test_committed_loop_json_has_every_day_scored_once_a_model_exists() -> None:
    doc = json.loads(DEFAULT_JSON.read_text())
    days = doc["result"]["days"]
    assert len(days) == doc["fleet"]["days"] and all(d["exit"] == 0 for d in days)
    first = next(i for i, d in enumerate(days) if d["figures"] is not None)
    assert all(d["figures"] is not None for d in days[first:])  # once promoted, every day is scored
    assert doc["result"]["promotions"][0]["promoted"] is True
    totals = doc["result"]["totals"]
    assert totals["caught"] <= totals["failures"] and totals["false_incidents"] <= totals["incidents"]


def test_write_docs_replaces_only_the_generated_block(tmp_path: Path) -> None:
    doc = json.loads(DEFAULT_JSON.read_text())
    path = tmp_path / "operations.md"
    path.write_text(f"# Ops\n\nbefore\n\n{BEGIN}\nold\n{END}\n\nafter\n")
    write_docs(doc, path)
    assert path.read_text() == f"# Ops\n\nbefore\n\n{render(doc)}\n\nafter\n"
