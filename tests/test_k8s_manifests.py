"""The image recipe (Dockerfile, .dockerignore, docker/entrypoint.sh) checked statically and by running the
entry point, and the plain manifests of k8s/: Kubernetes and CRD schemas, the restricted Pod Security
Standard, the analysts' DaskCluster against a fresh `telemetry cluster-spec` (drift), and the example Job
against that cluster. No Docker engine and no cluster are needed."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from kube import (
    K8S,
    ROOT,
    Obj,
    by_kind,
    crd_errors,
    dask_command_options,
    one,
    operator_objects,
    pod_specs,
    restricted_problems,
    validate_builtin,
)

from telemetry import __version__
from telemetry.cli import main
from telemetry.config import load_config
from telemetry.run.cluster import WORKER_ENV

ENTRYPOINT = ROOT / "docker" / "entrypoint.sh"
BIN = Path(sys.executable).parent


# ------------------------------------------------------------------------------------------ Dockerfile


@dataclass
class Stage:
    base: str
    name: str | None
    instructions: list[tuple[str, str]]  # (INSTRUCTION, arguments)

    def all(self, instruction: str) -> list[str]:
        return [args for name, args in self.instructions if name == instruction]


def dockerfile_stages(text: str) -> tuple[dict[str, str], list[Stage]]:
    """Global ARG defaults and the stages of a Dockerfile (continuation lines joined, comments dropped)."""
    logical, current = [], ""
    for line in text.splitlines():
        if not current and (not line.strip() or line.lstrip().startswith("#")):
            continue
        if line.lstrip().startswith("#"):
            continue  # a comment inside a continued instruction
        current += line.rstrip()
        if current.endswith("\\"):
            current = current[:-1] + " "
            continue
        logical.append(current.strip())
        current = ""
    args: dict[str, str] = {}
    stages: list[Stage] = []
    for line in logical:
        instruction, _, rest = line.partition(" ")
        instruction = instruction.upper()
        if instruction == "FROM":
            match = re.fullmatch(r"(\S+)(?:\s+AS\s+(\S+))?", rest.strip(), re.IGNORECASE)
            assert match, line
            base = re.sub(r"\$\{(\w+)\}", lambda m: args[m.group(1)], match.group(1))
            stages.append(Stage(base, match.group(2), []))
        elif not stages and instruction == "ARG":
            name, _, default = rest.partition("=")
            args[name.strip()] = default.strip()
        elif stages:
            stages[-1].instructions.append((instruction, rest.strip()))
    return args, stages


@pytest.fixture(scope="module")
def stages() -> list[Stage]:
    return dockerfile_stages((ROOT / "Dockerfile").read_text())[1]


def test_dockerfile_is_multi_stage_on_a_slim_python(stages: list[Stage]) -> None:
    assert [s.name for s in stages] == ["build", "final"]
    for stage in stages:
        assert re.fullmatch(r"python:3\.\d+-slim-\w+", stage.base), stage.base
    assert stages[0].base == stages[1].base  # the virtualenv's interpreter is the same in both


def test_image_installs_the_package_with_the_k8s_extra_pinned_by_constraints(stages: list[Stage]) -> None:
    build = stages[0]
    (install,) = [r for r in build.all("RUN") if "pip install -c constraints.txt" in r]
    assert "'.[k8s]'" in install and "-e " not in install  # a real install: the final stage gets no sources
    # the image runs the dask CLI the chart's DaskCluster and `telemetry cluster-spec` use
    assert "dask worker --help" in install and "dask scheduler --help" in install
    copied = [c.split()[0] for c in build.all("COPY")]
    assert copied == ["pyproject.toml", "telemetry"]
    assert "constraints.txt" in build.all("COPY")[0] and "README.md" in build.all("COPY")[0]


def test_final_stage_runs_as_a_numeric_non_root_user_without_build_tools(stages: list[Stage]) -> None:
    final = stages[-1]
    users = final.all("USER")
    assert users and users[-1] == "1000:1000"  # runAsNonRoot can only check a numeric UID
    text = " ".join(args for _, args in final.instructions)
    for tool in ("build-essential", "gcc", "g++", "make ", "clang", "pip install", "git"):
        assert tool not in text, tool
    (apt,) = [r for r in final.all("RUN") if "apt-get install" in r]
    (packages,) = re.findall(r"apt-get install -y --no-install-recommends ([^&]+)&&", apt)
    assert packages.split() == ["tini"]  # the only package added to the slim base
    assert "rm -rf /var/lib/apt/lists/*" in apt
    copies = final.all("COPY")
    assert copies[0] == "--from=build /opt/telemetry /opt/telemetry"
    assert copies[1] == "--chmod=0555 docker/entrypoint.sh /usr/local/bin/telemetry-entrypoint"
    assert len(copies) == 2  # nothing else from the build context: no sources, no tests, no data
    assert not final.all("HEALTHCHECK") and not stages[0].all("HEALTHCHECK")
    env = " ".join(final.all("ENV"))
    assert "PATH=/opt/telemetry/bin:" in env and "HOME=/tmp" in env
    # `dask worker` from the image keeps glibc's dynamic malloc thresholds, as telemetry's own workers do
    for name, value in WORKER_ENV.items():
        assert f'{name}="{value}"' in env
    assert final.all("WORKDIR") == ["/tmp"]  # the emptyDir; the root filesystem is read-only


def test_entrypoint_is_telemetry_behind_tini(stages: list[Stage]) -> None:
    final = stages[-1]
    assert final.all("ENTRYPOINT") == ['["/usr/bin/tini", "--", "/usr/local/bin/telemetry-entrypoint"]']
    assert final.all("CMD") == ['["--help"]']


def test_entrypoint_runs_telemetry_and_dask() -> None:
    assert os.access(ENTRYPOINT, os.X_OK)
    env = {"PATH": f"{BIN}:/usr/bin:/bin", "HOME": "/tmp"}
    cases = {
        "version": ["--version"],
        # the operator's pods pass `dask worker ...` as args: it must reach the Dask CLI, not `telemetry dask`
        "worker": ["dask", "worker", "--help"],
    }
    procs = {  # concurrently: one imports telemetry, the other distributed
        name: subprocess.Popen(
            ["/bin/sh", str(ENTRYPOINT), *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        for name, args in cases.items()
    }
    done = {name: (*proc.communicate(timeout=120), proc.returncode) for name, proc in procs.items()}
    assert done["version"] == (f"telemetry {__version__}\n", "", 0)
    out, err, code = done["worker"]
    assert code == 0 and out.startswith("Usage: dask worker"), err
    assert {"--nthreads", "--memory-limit", "--name"} <= dask_command_options("worker")


# ------------------------------------------------------------------------------------------ .dockerignore


def dockerignore_excludes(patterns: list[str], path: str) -> bool:
    """Whether Docker leaves `path` out of the build context: the last matching pattern wins, `!` re-includes,
    a pattern matching a directory matches everything under it, `**` spans directories."""

    def regex(pattern: str) -> re.Pattern[str]:
        out, i = "", 0
        while i < len(pattern):
            if pattern.startswith("**/", i):
                out, i = out + "(?:.*/)?", i + 3
            elif pattern.startswith("**", i):
                out, i = out + ".*", i + 2
            elif pattern[i] == "*":
                out, i = out + "[^/]*", i + 1
            elif pattern[i] == "?":
                out, i = out + "[^/]", i + 1
            elif pattern[i] == "[":
                end = pattern.index("]", i)
                out, i = out + pattern[i : end + 1], end + 1
            else:
                out, i = out + re.escape(pattern[i]), i + 1
        return re.compile(out + "(?:/.*)?")

    excluded = False
    for raw in patterns:
        negate = raw.startswith("!")
        pattern = raw[1:] if negate else raw
        pattern = pattern.strip().strip("/")
        if regex(pattern).fullmatch(path):
            excluded = not negate
    return excluded


def test_dockerignore_sends_only_what_the_build_needs() -> None:
    lines = (ROOT / ".dockerignore").read_text().splitlines()
    patterns = [p.strip() for p in lines if p.strip() and not p.startswith("#")]
    kept = [
        "pyproject.toml",
        "constraints.txt",
        "README.md",
        "telemetry/cli.py",
        "telemetry/schemas/telemetry.v1.schema.json",
        "telemetry/py.typed",
        "docker/entrypoint.sh",
    ]
    dropped = [
        ".venv/bin/python",
        ".git/HEAD",
        ".pytest_cache/v/cache/nodeids",
        ".mypy_cache/3.11/telemetry.json",
        ".ruff_cache/CACHEDIR.TAG",
        ".hypothesis/examples/x",
        "demo-data/raw/fleet=acme-dc3/date=2026-11-02/amr-0001.zip",
        "data/raw/fleet=a/date=2026-11-02/r.zip",
        "tests/test_helm.py",
        "benchmarks/results/extract.json",
        "telemetry/__pycache__/cli.cpython-311.pyc",
        "helm/telemetry/values.yaml",
        "Dockerfile",
    ]
    assert [p for p in kept if dockerignore_excludes(patterns, p)] == []
    assert [p for p in dropped if not dockerignore_excludes(patterns, p)] == []
    # every source the Dockerfile copies is in the context
    _, stages = dockerfile_stages((ROOT / "Dockerfile").read_text())
    for stage in stages:
        for copy in stage.all("COPY"):
            words = [w for w in copy.split() if not w.startswith("--")]
            if "--from=" in copy:
                continue
            for source in words[:-1]:
                assert not dockerignore_excludes(patterns, source), source
                assert (ROOT / source).exists(), source


def test_the_dockerignore_matcher_follows_docker_rules() -> None:
    assert dockerignore_excludes(["*"], "a/b/c")
    assert not dockerignore_excludes(["*", "!a/"], "a/b/c")
    assert dockerignore_excludes(["*", "!a/", "**/__pycache__"], "a/b/__pycache__/x.pyc")
    assert not dockerignore_excludes(["data"], "database.py")
    assert dockerignore_excludes(["data"], "data/x")


# ------------------------------------------------------------------------------------------ k8s/


def manifests(name: str) -> list[Obj]:
    return [doc for doc in yaml.safe_load_all((K8S / name).read_text()) if doc]


def test_every_manifest_validates() -> None:
    files = sorted(p.name for p in K8S.glob("*.yaml"))
    assert files == ["daskcluster.config.yaml", "daskcluster.yaml", "job.yaml", "namespace.yaml"]
    count = 0
    for name in ("namespace.yaml", "daskcluster.yaml", "job.yaml"):
        for obj in manifests(name):
            if obj["apiVersion"].startswith("kubernetes.dask.org/"):
                assert crd_errors(obj) == [], name
                for derived in operator_objects(obj):
                    validate_builtin(derived)
            else:
                validate_builtin(obj)
            count += 1
            for where, pod in pod_specs(obj):
                assert restricted_problems(pod) == [], where
    assert count == 4


def test_namespace_enforces_the_restricted_pod_security_standard() -> None:
    (namespace,) = manifests("namespace.yaml")
    assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
    for name in ("daskcluster.yaml", "job.yaml"):
        for obj in manifests(name):
            assert obj["metadata"]["namespace"] == namespace["metadata"]["name"], name


def test_analyst_daskcluster_is_exactly_telemetry_cluster_spec(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in [n for n in os.environ if n.startswith("TELEMETRY__")]:
        monkeypatch.delenv(name)
    monkeypatch.chdir(ROOT)
    assert main(["cluster-spec", "--config", "k8s/daskcluster.config.yaml"]) == 0
    fresh = capsys.readouterr().out
    assert (K8S / "daskcluster.yaml").read_text() == fresh, (
        "k8s/daskcluster.yaml drifted from `telemetry cluster-spec`; regenerate it: "
        ".venv/bin/telemetry cluster-spec --config k8s/daskcluster.config.yaml > k8s/daskcluster.yaml"
    )
    (cluster,) = manifests("daskcluster.yaml")
    worker = cluster["spec"]["worker"]["spec"]["containers"][0]
    assert worker["args"][:2] == ["dask", "worker"] and worker["envFrom"] == [
        {"secretRef": {"name": "telemetry-s3"}}
    ]


def test_example_job_runs_on_the_analyst_cluster(tmp_path: Path) -> None:
    config_map, job = manifests("job.yaml")
    (cluster,) = manifests("daskcluster.yaml")
    path = tmp_path / "telemetry.yaml"
    path.write_text(config_map["data"]["telemetry.yaml"])
    config = load_config(path, env={})
    _, service, _ = operator_objects(cluster)
    assert config.cluster.kind == "address"
    assert (
        config.cluster.address
        == f"tcp://{service['metadata']['name']}.{cluster['metadata']['namespace']}.svc:8786"
    )
    assert (config.run.start, config.run.end) == ("2026-11-01", "2026-11-30")
    assert config.store.s3.key is None and "AWS_" not in config_map["data"]["telemetry.yaml"]
    pod = job["spec"]["template"]["spec"]
    (run,) = pod["containers"]
    assert "command" not in run  # the image's entry point: tini, then telemetry
    assert run["args"] == ["run", "--config", "/etc/telemetry/telemetry.yaml"]
    volume = {v["name"]: v for v in pod["volumes"]}["config"]
    assert volume["configMap"] == {"name": config_map["metadata"]["name"], "defaultMode": 0o444}
    # the run reads the store with the same Secret the workers get
    worker = cluster["spec"]["worker"]["spec"]["containers"][0]
    assert run["envFrom"] == worker["envFrom"]
    assert run["image"] == worker["image"] == f"telemetry:{__version__}"
    assert job["spec"]["backoffLimit"] >= 1 and job["spec"]["ttlSecondsAfterFinished"] > 0
    assert by_kind([config_map, job], "Job") == [one([config_map, job], "Job")]


# ------------------------------------------------------------------------------------------ docs


def test_docs_pin_the_operator_to_the_installed_dask_kubernetes() -> None:
    from importlib.metadata import version

    operator = version("dask-kubernetes")
    for doc in (
        ROOT / "docs" / "kubernetes.md",
        K8S / "README.md",
        ROOT / "helm" / "telemetry" / "README.md",
    ):
        text = doc.read_text()
        commands = re.findall(r"helm (?:install|template)(?:[^\n]*\\\n)*[^\n]*", text)  # with continuations
        installs = [c for c in commands if "dask-kubernetes-operator" in c]
        assert installs, f"{doc} shows no operator install"
        for command in installs:
            assert f"--version {operator}" in command, (doc, command)
    assert "(docs/kubernetes.md)" in (ROOT / "README.md").read_text()
