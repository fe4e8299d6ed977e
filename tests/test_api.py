"""The public API: every name of ``telemetry.__all__`` resolves and has an example that runs.

``docs/api.md`` (a tour of the whole API on a simulated fleet) and the docstrings of ``telemetry/api.py`` are
run with ``doctest``; the docstring examples use the fleet the tour built (``raw``, ``out``).
"""

from __future__ import annotations

import doctest
import inspect
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import telemetry
import telemetry.api

ROOT = Path(__file__).resolve().parents[1]
API_DOC = ROOT / "docs" / "api.md"
FLAGS = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE


def _failures(runner: doctest.DocTestRunner, test: doctest.DocTest) -> str:
    """Run one doctest; the report of its failures ('' when none)."""
    lines: list[str] = []
    runner.run(test, out=lines.append, clear_globs=False)
    return "".join(lines)


@pytest.fixture(scope="module")
def tour(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """docs/api.md executed in an empty directory: its globals (raw, out, config, ...) and failures."""
    root = tmp_path_factory.mktemp("api-tour")
    text = API_DOC.read_text(encoding="utf-8")
    test = doctest.DocTestParser().get_doctest(text, {"root": root}, "docs/api.md", str(API_DOC), 0)
    runner = doctest.DocTestRunner(optionflags=FLAGS)
    report = _failures(runner, test)
    yield {"globs": test.globs, "report": report, "examples": len(test.examples)}
    test.globs.clear()


@pytest.mark.slow
def test_docs_api_tour_runs(tour: dict[str, Any]) -> None:
    assert tour["examples"] > 50
    assert not tour["report"], tour["report"]


@pytest.mark.slow
def test_api_module_docstrings_run(tour: dict[str, Any]) -> None:
    globs = {"raw": tour["globs"]["raw"], "out": tour["globs"]["out"]}
    finder = doctest.DocTestFinder(exclude_empty=True)
    runner = doctest.DocTestRunner(optionflags=FLAGS)
    tests = finder.find(telemetry.api, "telemetry.api", extraglobs=globs)
    assert len(tests) >= 8
    reports = [_failures(runner, test) for test in tests]
    assert not any(reports), "".join(reports)


def test_every_public_name_resolves_and_is_documented() -> None:
    documented = API_DOC.read_text(encoding="utf-8")
    missing_docs, missing_examples = [], []
    for name in telemetry.__all__:
        obj = getattr(telemetry, name)
        if name.startswith("__"):
            continue
        if not inspect.getdoc(obj):
            missing_docs.append(name)
        # every public function and class appears in an executed example of docs/api.md or its docstring
        in_tour = re.search(rf"tm\.{re.escape(name)}\b", documented) is not None
        is_error = inspect.isclass(obj) and issubclass(obj, Exception)
        has_example = ">>>" in (inspect.getdoc(obj) or "")
        if callable(obj) and not is_error and not (in_tour or has_example or inspect.isclass(obj)):
            missing_examples.append(name)
    assert not missing_docs, f"public names without a docstring: {missing_docs}"
    assert not missing_examples, f"public functions without an example in docs/api.md: {missing_examples}"


def test_all_is_sorted_unique_and_star_import_works() -> None:
    names = [n for n in telemetry.__all__ if not n.startswith("__")]
    assert names == sorted(set(names))
    namespace: dict[str, Any] = {}
    exec("from telemetry import *", namespace)
    assert set(telemetry.__all__) <= set(namespace)
    assert set(telemetry.__all__) <= set(dir(telemetry))
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        _ = telemetry.nope  # type: ignore[attr-defined]


def test_import_telemetry_is_cheap_and_keeps_submodules() -> None:
    """Workers import the package to unpickle tasks: Dask, LightGBM, fsspec and matplotlib load on first use
    of a name that needs them. ``telemetry.stages.align`` stays the module (the function is
    ``align_signals``)."""
    code = (
        "import sys, types, telemetry, telemetry.stages.align as a\n"
        "heavy = [m for m in ('dask', 'distributed', 'lightgbm', 'fsspec', 's3fs', 'matplotlib') "
        "if m in sys.modules]\n"
        "assert isinstance(a, types.ModuleType) and telemetry.align_signals is a.align, a\n"
        "print(heavy)\n"
        "telemetry.read_features\n"
        "print('fsspec' in sys.modules)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.split("\n")[:2] == ["[]", "True"], result.stdout + result.stderr


def test_openmp_threads_wait_passively_unless_the_user_chose() -> None:
    """Importing the package makes LightGBM's OpenMP threads wait without spinning (same model bytes, far
    faster on shared cores); a policy already in the environment is kept."""
    code = "import os, telemetry; print(os.environ['OMP_WAIT_POLICY'])"
    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}

    def policy(extra: dict[str, str]) -> str:
        run = subprocess.run(
            [sys.executable, "-c", code], env={**env, **extra}, capture_output=True, text=True
        )
        return run.stdout.strip() + run.stderr

    assert (policy({}), policy({"OMP_WAIT_POLICY": "ACTIVE"})) == ("PASSIVE", "ACTIVE")


@pytest.mark.slow
def test_dashboard_task_names_and_spans(tour: dict[str, Any]) -> None:
    """Tasks are named after stage and partition and grouped in per-run, per-stage spans."""
    import distributed

    g = tour["globs"]
    with (
        distributed.LocalCluster(
            n_workers=1, threads_per_worker=1, processes=False, dashboard_address=None
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        day = g["dt"].date(2026, 11, 2)
        summary = telemetry.run_features(
            g["raw"], g["out"], g["config"], fleet="acme-dc3", start=day, end=day, client=client
        )
        run_id = summary.manifest.run_id
        spans = {s.name for s in cluster.scheduler.extensions["spans"].spans.values()}
        prefixes = set(cluster.scheduler.task_prefixes)
    assert summary.skipped == [f"acme-dc3/2026-11-02/amr-000{i}" for i in (1, 2, 3)]
    assert (f"telemetry-run-{run_id}", "extract") in spans
    assert (f"telemetry-run-{run_id}", "features") in spans
    # the progress panel groups by task prefix: the stage and the robot-id family
    assert prefixes >= {"extract-amr", "features-amr"}, prefixes
