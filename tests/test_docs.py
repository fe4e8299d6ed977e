"""The README tour runs as written: every `.venv/bin/telemetry ...` line of its bash block, in order, as a
real subprocess (the features commands start real Dask processes)."""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


def _tour_commands() -> list[str]:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("## A 5-minute tour") :]
    block = re.search(r"```bash\n(.*?)```", section, re.S)
    assert block, "the tour has a bash block"
    return [line for line in block.group(1).splitlines() if line.startswith(".venv/bin/telemetry ")]


def test_readme_tour_runs_as_written(tmp_path: Path, dask_cluster_address: Any) -> None:
    commands = _tour_commands()
    assert len(commands) >= 8
    for command in commands:
        command = command.replace("/tmp/fleet", str(tmp_path / "fleet"))
        command = command.replace("tcp://127.0.0.1:8786", dask_cluster_address.address)
        args = shlex.split(command)[1:]
        done = subprocess.run(
            [sys.executable, "-m", "telemetry.cli", *args], capture_output=True, text=True, timeout=600
        )
        assert done.returncode == 0, f"{command}\n{done.stdout}\n{done.stderr}"
        if args[0] == "train":
            assert re.search(r"test\s+PR-AUC", done.stdout) and "report.html" in done.stdout
    assert list((tmp_path / "fleet" / "out" / "models").glob("*/report.html"))
