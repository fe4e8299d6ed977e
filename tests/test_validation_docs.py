"""The validation on public data as a result (benchmarks/validation.py, benchmarks/baseline_pandas.py).

The validation itself takes minutes on data outside the repository and is not run here. These tests check
that docs/validation.md's tables are what the committed benchmarks/results/validation.json renders, that the
blocks are replaced between their markers only, that the figures are read from the CLI's output and the
model's files, and that the pandas baseline's features use only rows before each cutoff (brute-force
references, hypothesis)."""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from benchmarks.baseline_pandas import DAY_MS, STATS, azure_history_features, window_features
from benchmarks.validation import (
    DATASETS,
    DEFAULT_JSON,
    DOCS,
    begin_marker,
    end_marker,
    features_figures,
    generated_span,
    import_figures,
    model_dir_of,
    model_figures,
    render_dataset,
    write_docs,
)


def test_committed_docs_match_the_committed_validation_json() -> None:
    """Each dataset's block of docs/validation.md is what `python -m benchmarks.validation --write-docs`
    makes of benchmarks/results/validation.json."""
    doc = json.loads(DEFAULT_JSON.read_text())
    assert set(doc["datasets"]) == set(DATASETS)
    text = DOCS.read_text()
    for name, result in doc["datasets"].items():
        span = generated_span(text, name)
        assert span is not None, (
            f"docs/validation.md has no block {begin_marker(name)} ... {end_marker(name)}"
        )
        assert text[span[0] : span[1]] == render_dataset(result), name


def test_committed_json_has_every_figure_of_every_run() -> None:
    doc = json.loads(DEFAULT_JSON.read_text())
    assert len(doc["commit"]) == 40 and doc["date"]
    for name, result in doc["datasets"].items():
        assert [r["key"] for r in result["runs"]] == [
            t.key for lab in DATASETS[name].labellings for t in lab.trainings
        ]
        for run in result["runs"]:
            test = run["product"]["test"]
            assert test["n_pos"] > 0 and test["n_neg"] > 0, (name, run["key"])
            for key in ("pr_auc", "roc_auc", "prevalence"):
                assert isinstance(test[key], float), (name, run["key"], key)
            baseline = run["baseline_pandas"]
            # the baseline is scored on exactly the product's test rows
            assert (baseline["n_pos"], baseline["n_neg"]) == (test["n_pos"], test["n_neg"])
            assert baseline["train_rows"] == run["product"]["rows"]["train"]["rows"]


def _result(pr_auc: float) -> dict[str, Any]:
    return {
        "title": "t",
        "import": {"rows": 3},
        "features": {},
        "runs": [],
        "commit": "0" * 40,
        "date": "d",
    } | {
        "runs": [
            {
                "key": "k",
                "label": "split k: detail",
                "labels": "event",
                "train_s": 1.0,
                "product": {
                    "trees": 3,
                    "test": {
                        "n_pos": 1,
                        "n_neg": 9,
                        "pr_auc": pr_auc,
                        "pr_auc_interval": None,
                        "roc_auc": 0.5,
                        "roc_auc_interval": [0.1, 0.9],
                        "prevalence": 0.1,
                        "precision": None,
                        "recall": 1.0,
                        "alerts_per_robot_day": 2.0,
                    },
                    "one_feature": {"pr_auc": 0.2, "pr_auc_interval": None},
                    "per_mode": {},
                },
                "baseline_pandas": {
                    "pr_auc": 0.3,
                    "pr_auc_interval": [0.2, 0.4],
                    "product_minus_baseline_pr_auc_interval": [0.01, 0.2],
                },
            }
        ]
    }


def test_write_docs_replaces_only_the_blocks_between_the_markers(tmp_path: Path) -> None:
    path = tmp_path / "validation.md"
    prose = f"the tables between `{begin_marker('a')}` and `{end_marker('a')}` are generated\n"
    path.write_text(
        f"# V\n\n{prose}\n{begin_marker('a')}\nold a\n{end_marker('a')}\n\nmiddle\n\n"
        f"{begin_marker('b')}\nold b\n{end_marker('b')}\nend\n"
    )
    doc = {"datasets": {"a": _result(0.5), "b": _result(0.25)}}
    write_docs(doc, path)
    text = path.read_text()
    a, b = render_dataset(doc["datasets"]["a"]), render_dataset(doc["datasets"]["b"])
    assert text == (
        f"# V\n\n{prose}\n{begin_marker('a')}\n{a}{end_marker('a')}\n\nmiddle\n\n"
        f"{begin_marker('b')}\n{b}{end_marker('b')}\nend\n"
    )
    assert "**0.500**" in a and "**0.250**" in b  # the figures come from the JSON; a missing interval: none
    assert "0.500 [0.100, 0.900]" in a  # ROC-AUC with its interval
    assert "product − pandas baseline [0.010, 0.200] (the product is better)" in a
    write_docs(doc, path)
    assert path.read_text() == text  # idempotent


def test_write_docs_refuses_a_page_without_the_markers(tmp_path: Path) -> None:
    path = tmp_path / "validation.md"
    path.write_text("# V\n\nno markers\n")
    with pytest.raises(SystemExit, match=r"validation:a:begin"):
        write_docs({"datasets": {"a": _result(0.5)}}, path)


def test_figures_are_read_from_the_cli_output_and_the_model_files(tmp_path: Path) -> None:
    printed = (
        "imported          35 files: 35 units, 46,806 rows\n"
        "events            {'failure': 34} (2 outside the telemetry span, left out)\n"
        "written           35 day zips, 9,922 envelopes, 2020-02-08..2020-03-09\n"
        "clock             median step 1000 ms\n"
    )
    figures = import_figures(printed)
    assert (figures["files"], figures["units"], figures["rows"]) == (35, 35, 46806)
    assert figures["events"] == {"failure": 34} and figures["events_outside"] == 2
    assert (figures["day_zips"], figures["envelopes"]) == (35, 9922)
    assert (figures["first_day"], figures["last_day"], figures["step_ms"]) == (
        "2020-02-08",
        "2020-03-09",
        1000,
    )
    assert import_figures("something else entirely\n")["rows"] is None  # a changed CLI: nulls, no crash

    out = tmp_path / "out"
    (out / "_runs").mkdir(parents=True)
    full = {"computed": 4, "partitions": 4, "examples": 10, "seconds": 2.0}
    (out / "_runs" / "r1.json").write_text(json.dumps({"run_id": "r1", "summary": full}))
    (out / "_runs" / "r2.json").write_text(
        json.dumps(
            {"run_id": "r2", "summary": {"computed": 0, "partitions": 4, "skipped": 4, "seconds": 0.1}}
        )
    )
    assert features_figures("run               r1\n", out)["examples"] == 10
    rerun = features_figures("run               r2\n", out)  # nothing recomputed: the full run's figures
    assert (rerun["reused_run"], rerun["seconds"], rerun["examples"]) == ("r1", 2.0, 10)

    printed = "model             any-1  (target any, 3 trees)\nmodel  comp1-2  (target comp1, 5 trees)\n"
    models = model_dir_of(printed, out)
    assert models == [("any", out / "models" / "any-1"), ("comp1", out / "models" / "comp1-2")]
    folder = out / "models" / "any-1"
    folder.mkdir(parents=True)
    metrics = {"test": {"n_pos": 2, "n_neg": 5, "pr_auc": 0.5, "pr_auc_interval": [0.25, 0.75]},
               "baselines": {"one_feature": {"feature": "f", "pr_auc": 0.4}},
               "per_mode": {"comp1": {"n_pos": 2, "pr_auc": 0.5}}}  # fmt: skip
    (folder / "metrics.json").write_text(json.dumps(metrics))
    (folder / "metadata.json").write_text(json.dumps({"model_id": "any-1", "best_iteration": 3, "split": {}}))
    read = model_figures(folder)
    assert read["test"]["pr_auc_interval"] == [0.25, 0.75] and read["test"]["roc_auc_interval"] is None
    assert read["one_feature"] == {"feature": "f", "pr_auc": 0.4, "pr_auc_interval": None}
    assert read["per_mode"]["comp1"]["pr_auc_interval"] is None and read["trees"] == 3


# ------------------------------------------------------------------------------------------ the baseline

MINUTE = 60_000
rows_st = st.lists(
    st.tuples(st.sampled_from(["a", "b"]), st.integers(0, 20 * MINUTE), st.floats(-100, 100)),
    min_size=0,
    max_size=40,
    unique_by=lambda r: (r[0], r[1]),  # one row per unit and time, as in the datasets (and as imported)
)
probes_st = st.lists(
    st.tuples(st.sampled_from(["a", "b", "c"]), st.integers(0, 22 * MINUTE)), min_size=1, max_size=8
)


@settings(max_examples=50, deadline=None)
@given(rows_st, probes_st, st.sampled_from([[60], [30, 300]]))
def test_window_features_use_the_rows_in_the_window_before_the_cutoff(
    rows: list[tuple[str, int, float]], probes: list[tuple[str, int]], windows: list[int]
) -> None:
    """mean/std/min/max/last over the unit's rows with time in [cutoff - W, cutoff): brute force."""
    table = pd.DataFrame(rows, columns=["unit", "time", "x"]).astype({"time": np.int64, "x": float})
    table = table.sort_values(["unit", "time"], kind="stable", ignore_index=True)
    probe = pd.DataFrame(probes, columns=["unit", "time"]).astype({"time": np.int64})
    got = window_features(table, probe, windows)
    for i, (unit, cutoff) in enumerate(probes):
        for w in windows:
            sel = table[
                (table["unit"] == unit) & (table["time"] >= cutoff - w * 1000) & (table["time"] < cutoff)
            ]
            x = sel["x"]
            expected = {"mean": x.mean(), "std": x.std(), "min": x.min(), "max": x.max()}
            for stat in STATS:
                assert np.isclose(got[f"x__{stat}__w{w}s"].iloc[i], expected[stat], equal_nan=True, atol=1e-9)
            if len(sel):  # the latest row before the cutoff
                last = sel[sel["time"] == sel["time"].max()]["x"].iloc[-1]
                assert got[f"x__last__w{w}s"].iloc[i] == last
            else:
                assert np.isnan(got[f"x__last__w{w}s"].iloc[i])


def _write_azure_tables(folder: Path, errors: list[tuple[int, str]], maint: list[tuple[int, str]]) -> None:
    def csv(name: str, header: str, lines: list[str]) -> None:
        with gzip.open(folder / f"PdM_{name}.csv.gz", "wt") as fh:
            fh.write(header + "\n" + "".join(line + "\n" for line in lines))

    def when(ms: int) -> str:
        return pd.Timestamp(ms, unit="ms").strftime("%Y-%m-%d %H:%M:%S")

    csv("errors", "datetime,machineID,errorID", [f"{when(t)},1,{code}" for t, code in errors])
    csv("maint", "datetime,machineID,comp", [f"{when(t)},1,{comp}" for t, comp in maint])
    csv("failures", "datetime,machineID,failure", [f"{when(0)},2,comp1"])
    csv("machines", "machineID,model,age", ["1,model3,18", "2,model4,7"])


HOUR = 3_600_000
events_st = st.lists(st.tuples(st.integers(1, 72).map(lambda h: h * HOUR), st.sampled_from(["1", "2"])))


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(events_st, events_st, st.lists(st.integers(1, 80).map(lambda h: h * HOUR), min_size=1, max_size=6))
def test_azure_history_features_count_only_events_before_the_cutoff(
    tmp_path_factory: pytest.TempPathFactory,
    errors: list[tuple[int, str]],
    maint: list[tuple[int, str]],
    cutoffs: list[int],
) -> None:
    """Error counts in [cutoff - 24 h, cutoff) and days since the last replacement (time < cutoff)."""
    base = tmp_path_factory.mktemp("azure")
    (base / "azure_pdm").mkdir()
    errors, maint = [(t, f"error{c}") for t, c in errors], [(t, f"comp{c}") for t, c in maint]
    _write_azure_tables(base / "azure_pdm", errors, maint)
    probes = pd.DataFrame({"unit": "machine-1", "time": np.array(cutoffs, dtype=np.int64)})
    got = azure_history_features(base, probes)
    for i, c in enumerate(cutoffs):
        for code in {code for _, code in errors}:
            n = sum(1 for t, e in errors if e == code and c - DAY_MS <= t < c)
            assert got[f"errors_{code}__count__w86400s"].iloc[i] == n
        for comp in {comp for _, comp in maint} | {"comp1"}:  # comp1: also machine 2's failure, not ours
            before = [t for t, m in maint if m == comp and t < c]
            expected = (c - max(before)) / DAY_MS if before else np.nan
            assert np.isclose(got[f"{comp}__days_since_replacement"].iloc[i], expected, equal_nan=True)
    assert list(got["model"].astype(str)) == ["model3"] * len(cutoffs) and set(got["age"]) == {18.0}
