"""The `telemetry` commands of docs/simulator.md, docs/pipeline.md and docs/training.md run, in the order the
pages show them, through the CLI's entry point (``telemetry.cli.main``, in this process to save an
interpreter start per command; the README tour runs its commands as subprocesses): against a small fleet,
the suite's moto S3 server (through ``TELEMETRY__STORE__S3__ENDPOINT_URL``) and its Dask cluster.
The README tour has its own test (tests/test_docs.py); docs/api.md runs as doctests.

Every change made to a command before it runs is listed in :data:`SUBSTITUTIONS` and :func:`runnable`, so a
reader can see how far the run is from the text: sizes are scaled down, `s3://bucket` and the example
scheduler address become the suite's, and a `features` command that would start its own LocalCluster uses the
suite's cluster instead. A command that cannot run here is listed in :data:`NOT_RUN` with the reason and what
checks it instead; a new command that neither runs nor is listed fails the test.
"""

from __future__ import annotations

import re
import shlex
import time
from pathlib import Path
from typing import Any

import pytest
from test_docs import bash_blocks

ROOT = Path(__file__).resolve().parents[1]
PAGES = ("docs/simulator.md", "docs/pipeline.md", "docs/training.md")

SUBSTITUTIONS = (
    # a small fleet: 2 h online a day with more failures (the tour's scale) instead of 12 robots x 24 h
    ("--robots 12 --days 4", "--robots 2 --days 4 --hours 2 --failure-rate 60"),
    ("--robots 12 --days 1", "--robots 2 --days 1 --hours 2 --failure-rate 60"),
    ("--robots 4 ", "--robots 4 --hours 1 "),
    # splits inside the 2 h online of a day
    ("--test-start 2026-11-05T12:00", "--test-start 2026-11-05T01:00"),
)
NOT_RUN = {
    "--cluster kubernetes": "needs a Kubernetes cluster with the Dask operator: the DaskCluster it "
    "creates is printed by `telemetry cluster-spec` (README tour) and validated against the operator's "
    "CRD schema (tests/test_k8s_manifests.py)",
}


def page_commands(page: str) -> list[tuple[str, str]]:
    """``(where, command)`` of every `telemetry` line of the page's bash blocks, continuations joined."""
    found = []
    for block in bash_blocks(ROOT / page):
        for number, line in block:
            command = re.sub(r"\s+#.*$", "", line.strip())
            if re.match(r"^telemetry\s", command):
                found.append((f"{page}:{number}", re.sub(r"\s+", " ", command)))
    return found


def runnable(command: str, sandbox: Path, s3_root: str, s3_endpoint: str, scheduler: str) -> list[str]:
    """The argument list run for a documented command (see the module docstring)."""
    for old, new in SUBSTITUTIONS:
        command = command.replace(old, new)
    command = command.replace("s3://bucket", s3_root).replace("http://127.0.0.1:9000", s3_endpoint)
    command = command.replace("tcp://10.0.0.5:8786", scheduler)
    if "<model_id>" in command:  # the model the page's train commands wrote last
        model = max((sandbox / "data/out/models").glob("*/metadata.json"), key=lambda p: p.stat().st_mtime)
        command = command.replace("<model_id>", model.parent.name)
    if "--as-of " in command:  # a past run of the same output root: the page's previous one
        runs = sorted((sandbox / "data/out/_runs").glob("*.json"))
        command = re.sub(r"--as-of \S+", f"--as-of {runs[-1].stem}", command)
    args = shlex.split(command)[1:]
    own_cluster = args[0] == "features" or "--distributed" in args  # would start a LocalCluster
    if own_cluster and not {"--scheduler", "--cluster", "--workers"} & set(args):
        args += ["--scheduler", scheduler]
    return args


def test_documented_commands_run(
    tmp_path: Path,
    s3_bucket_url: str,
    s3_server: Any,
    dask_cluster_address: Any,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from telemetry.cli import main

    sandbox = tmp_path
    s3_root = s3_bucket_url.rsplit("/", 1)[0]
    (sandbox / "telemetry.yaml").write_text(  # `telemetry run --config telemetry.yaml` of docs/pipeline.md
        "store:\n  raw_url: data/raw\n  out_url: data/out\n"
        "run:\n  start: '2026-11-02'\n  end: '2026-11-03'\n"
        f"cluster:\n  kind: address\n  address: {dask_cluster_address.address}\n",
        encoding="utf-8",
    )
    monkeypatch.setenv("TELEMETRY__STORE__S3__ENDPOINT_URL", s3_server.endpoint_url)  # S3: the suite's
    monkeypatch.chdir(sandbox)
    ran, skipped = [], []
    for page in PAGES:
        commands = page_commands(page)
        assert commands, f"{page} shows no telemetry command"
        for where, command in commands:
            reason = next((why for key, why in NOT_RUN.items() if key in command), None)
            if reason:
                skipped.append(where)
                continue
            args = runnable(command, sandbox, s3_root, s3_server.endpoint_url, dask_cluster_address.address)
            began = time.perf_counter()
            code = main(args)
            out = capsys.readouterr()
            assert code == 0, f"{where}: {command}\nran: {args}\n{out.out}\n{out.err}"
            ran.append(where)
            with capsys.disabled():
                print(f"{time.perf_counter() - began:6.1f} s  {where}  {shlex.join(args)}")
    assert len(ran) >= 15 and len(skipped) == len(NOT_RUN)
    # what the pages say the commands leave behind
    assert (sandbox / "dask-report.html").stat().st_size > 10_000  # --report
    assert len(list((sandbox / "data/out/models").glob("*/report.html"))) >= 3  # the training page's models
    assert list((sandbox / "data/new/scores").rglob("*.parquet"))  # telemetry score


@pytest.mark.parametrize("page", PAGES)
def test_every_command_of_the_page_is_run_or_explained(page: str) -> None:
    """A command the run cannot substitute into something runnable must be listed in NOT_RUN."""
    for where, command in page_commands(page):
        if any(key in command for key in NOT_RUN):
            continue
        assert "<" not in command.replace("<model_id>", ""), f"{where}: placeholder the run cannot fill"


def test_demo_runs(tmp_path: Path, dask_cluster_address: Any, capsys: pytest.CaptureFixture[str]) -> None:
    """`make demo` = create .venv, install, `telemetry demo`: the demo here on a smaller fleet (the sizes
    are options of the command) and the suite's Dask cluster; it prints the metrics and the report path."""
    from telemetry.cli import main

    address = dask_cluster_address.address
    small = ["--robots", "2", "--days", "3", "--hours", "2", "--failure-rate", "60"]
    cluster = ["--set", "cluster.kind=address", "--set", f"cluster.address={address}"]
    code = main(["demo", "--dir", str(tmp_path), *small, *cluster])
    out = capsys.readouterr().out
    assert code == 0, out
    assert re.search(r"test\s+PR-AUC \d\.\d+", out)
    report = re.search(r"report\s+(\S+report\.html)", out)
    assert report and Path(report.group(1)).stat().st_size > 10_000
