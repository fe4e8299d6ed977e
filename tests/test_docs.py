"""Documentation that runs.

- The README tour runs as written: every `.venv/bin/telemetry ...` line of its bash block, in order, as a
  real subprocess (the features commands start real Dask processes).
- Every other `telemetry` command shown in README.md, docs/, helm/ and k8s/ is accepted by the CLI's parser
  (real commands, real options, valid values). These are not executed: many run full-rate fleets, S3 buckets
  or Kubernetes clusters that the suite does not have.
"""

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


def bash_blocks(path: Path) -> list[list[tuple[int, str]]]:
    """The file's bash/sh/console blocks, each as ``(line number, line)`` pairs with continuation lines
    joined (a joined line carries the number of its first line)."""
    text = path.read_text(encoding="utf-8")
    blocks = []
    for block in re.finditer(r"```(?:bash|sh|console)\n(.*?)```", text, re.S):
        first = text[: block.start()].count("\n") + 2
        lines = block.group(1).replace("\\\n", " ").splitlines()
        blocks.append([(first + offset, line) for offset, line in enumerate(lines)])
    return blocks


def _documented_commands() -> list[tuple[str, str]]:
    """``(where, command)`` for every `telemetry ...` line of a bash block in README.md, docs/, helm/, k8s/
    (continuation lines joined, trailing comments dropped, ``$VAR`` set in the same block expanded)."""
    found = []
    for path in [
        ROOT / "README.md",
        *sorted((ROOT / "docs").glob("*.md")),
        *sorted(ROOT.glob("[hk]*/**/*.md")),
    ]:
        for block in bash_blocks(path):
            variables: dict[str, str] = {}
            for number, line in block:
                assignment = re.match(r'^([A-Z_]+)="([^"]*)"$', line.strip())
                if assignment:
                    variables[assignment.group(1)] = assignment.group(2)
                    continue
                command = re.sub(r"\s+#.*$", "", line.strip())
                command = re.sub(r"\s+[>|].*$", "", command)  # output redirection and pipes
                if not re.match(r"^(\.venv/bin/)?telemetry\s", command):
                    continue
                for name, value in variables.items():
                    command = command.replace(f"${name}", value)
                command = re.sub(r"<(\w+)>", r"X\1", command)  # <model_id> -> Xmodel_id
                command = command.replace("<same --set>", "")
                found.append((f"{path.relative_to(ROOT)}:{number}", command))
    return found


def test_every_documented_command_parses() -> None:
    """Every `telemetry` command shown in the docs names a real command with real options and valid values
    (the parser accepts it); a renamed option or command makes this fail with the doc and line."""
    from telemetry.cli import build_parser

    commands = _documented_commands()
    assert len(commands) >= 30
    bad = []
    for where, command in commands:
        tokens = shlex.split(command)[1:]
        if "$" in command or any(t.startswith("${") for t in tokens):
            bad.append(f"{where}: unexpanded variable in {command!r}")
            continue
        try:
            build_parser().parse_args(tokens)
        except SystemExit:
            bad.append(f"{where}: {command}")
    assert not bad, "documented commands the CLI rejects:\n" + "\n".join(bad)
