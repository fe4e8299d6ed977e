"""telemetry.run.cluster: the printable DaskCluster resource (validated against the CRD shipped inside
dask-kubernetes and against Kubernetes' own schemas, its commands run by the installed distributed), and
real clients: a LocalCluster of processes, an existing scheduler (the conftest processes), failures."""

from __future__ import annotations

import argparse
import copy
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import dask_kubernetes
import jsonschema
import kubernetes_validate
import pytest
import yaml
from dask_kubernetes.operator.controller.controller import (
    build_scheduler_deployment_spec,
    build_scheduler_service_spec,
    build_worker_deployment_spec,
)

from telemetry.cli import add_cluster_options, cluster_overrides, main
from telemetry.config import TelemetryConfig, load_config
from telemetry.errors import ConfigError, TelemetryError
from telemetry.run.cluster import (
    SCHEDULER_COMMAND,
    WORKER_COMMAND,
    WORKER_ENV,
    cluster_spec,
    connect,
    dashboard_url,
)

if TYPE_CHECKING:
    from conftest import DaskProcesses

# The CRD as the operator's Helm chart installs it: every $ref resolved (PodSpec, ServiceSpec inlined).
# customresources/daskcluster.yaml next to it is the unresolved template (python://k8s_crd_resolver refs).
CRD = (
    Path(dask_kubernetes.__file__).parent
    / "operator/deployment/helm/dask-kubernetes-operator/crds/daskcluster.yaml"
)
DASK = Path(sys.executable).parent / "dask"
SECRET_KEY_ID = "AKIACLUSTERTESTKEY01"
SECRET_VALUE = "cluster-test-secret-8c1e"


def config(*overrides: str) -> TelemetryConfig:
    return load_config(env={}, overrides=list(overrides))


def strict(schema: Any) -> Any:
    """The schema with unknown fields forbidden: the API server silently prunes fields a structural
    schema does not declare, so a misplaced field would vanish instead of failing."""
    if isinstance(schema, list):
        return [strict(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    out = {key: strict(value) for key, value in schema.items()}
    declared = "properties" in schema and "additionalProperties" not in schema
    if declared and not schema.get("x-kubernetes-preserve-unknown-fields"):
        out["additionalProperties"] = False
    return out


@pytest.fixture(scope="module")
def crd_validator() -> jsonschema.protocols.Validator:
    crd = yaml.safe_load(CRD.read_text())
    assert crd["spec"]["names"]["kind"] == "DaskCluster"
    (version,) = [v for v in crd["spec"]["versions"] if v["name"] == "v1"]
    schema = copy.deepcopy(version["schema"]["openAPIV3Schema"])
    # the API server supplies these for every custom resource (metadata is validated as ObjectMeta;
    # kubernetes_validate covers it through the objects the operator derives)
    schema["properties"] |= {
        "apiVersion": {"type": "string", "enum": [f"{crd['spec']['group']}/v1"]},
        "kind": {"type": "string", "enum": ["DaskCluster"]},
        "metadata": {"type": "object"},
    }
    schema = strict(schema)
    jsonschema.Draft7Validator.check_schema(schema)
    return jsonschema.Draft7Validator(schema)


def errors(validator: jsonschema.protocols.Validator, instance: Any) -> list[str]:
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(instance)]


def operator_objects(spec: dict[str, Any]) -> list[dict[str, Any]]:
    """What the operator's controller creates from the resource: its own build functions, labels merged
    as the controller merges them (cluster labels, then the pod's metadata labels)."""
    name, namespace = spec["metadata"]["name"], spec["metadata"].get("namespace", "default")
    labels = spec["metadata"].get("labels", {})
    worker, scheduler = spec["spec"]["worker"], spec["spec"]["scheduler"]
    worker_labels = labels | worker.get("metadata", {}).get("labels", {})
    scheduler_labels = labels | scheduler.get("metadata", {}).get("labels", {})
    return [
        build_scheduler_deployment_spec(name, copy.deepcopy(scheduler["spec"]), {}, scheduler_labels),
        build_scheduler_service_spec(name, copy.deepcopy(scheduler["service"]), {}, scheduler_labels),
        build_worker_deployment_spec(
            f"{name}-default", namespace, name, "0123456789", copy.deepcopy(worker["spec"]), {}, worker_labels
        ),
    ]


def pods(spec: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {role: spec["spec"][role]["spec"] for role in ("worker", "scheduler")}


SPEC_CASES = [
    (),
    ("cluster.workers=5", "cluster.kubernetes.namespace=robots", "cluster.memory_limit=3GiB"),
    (
        "cluster.kubernetes.env_from_secret=telemetry-s3",
        "cluster.kubernetes.service_account=telemetry-workers",
        "cluster.kubernetes.image=registry.example/telemetry:0.1.0",
        "cluster.kubernetes.worker_cpu_request=0.5",
        "cluster.kubernetes.worker_cpu_limit=2",
        "cluster.kubernetes.worker_memory_limit=null",
        "cluster.kubernetes.adaptive_minimum=0",
        "cluster.kubernetes.adaptive_maximum=20",
        "cluster.threads_per_worker=2",
    ),
]


# ------------------------------------------------------------------------------------ the resource


@pytest.mark.parametrize("overrides", SPEC_CASES)
def test_spec_validates_against_the_daskcluster_crd(
    crd_validator: jsonschema.protocols.Validator, overrides: tuple[str, ...]
) -> None:
    spec = cluster_spec(config(*overrides))
    assert spec["apiVersion"] == "kubernetes.dask.org/v1"
    assert spec["kind"] == "DaskCluster"
    assert errors(crd_validator, spec) == []


def test_the_strict_crd_check_catches_misplaced_fields(crd_validator: jsonschema.protocols.Validator) -> None:
    spec = cluster_spec(config())
    spec["spec"]["worker"]["spec"]["containers"][0]["securityContxt"] = {}  # typo: would be pruned
    spec["spec"]["scheduler"]["spec"]["containers"][0]["resources"]["limits"]["cpu"] = 2  # must be a string
    found = errors(crd_validator, spec)
    assert any("securityContxt" in e for e in found), found
    assert any("limits/cpu" in e for e in found), found


@pytest.mark.parametrize("overrides", SPEC_CASES)
def test_objects_the_operator_creates_validate_strictly_against_kubernetes(
    overrides: tuple[str, ...],
) -> None:
    spec = cluster_spec(config(*overrides))
    for obj in operator_objects(spec):
        kubernetes_validate.validate(obj, kubernetes_validate.latest_version(), strict=True)
    # the checker itself is strict: an unknown field fails
    bad = operator_objects(spec)[2]
    bad["spec"]["template"]["spec"]["containers"][0]["runAsRoot"] = False
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(bad, kubernetes_validate.latest_version(), strict=True)


def test_commands_exist_in_the_installed_distributed() -> None:
    spec = cluster_spec(config())
    worker_args = spec["spec"]["worker"]["spec"]["containers"][0]["args"]
    scheduler_args = spec["spec"]["scheduler"]["spec"]["containers"][0]["args"]
    assert worker_args[:2] == list(WORKER_COMMAND) == ["dask", "worker"]
    assert scheduler_args[:2] == list(SCHEDULER_COMMAND) == ["dask", "scheduler"]
    assert "dask-worker" not in worker_args and "dask-scheduler" not in scheduler_args
    for args in (worker_args, scheduler_args):
        done = subprocess.run(
            [str(DASK), args[1], "--help"], capture_output=True, text=True, timeout=60, check=False
        )
        assert done.returncode == 0, done.stderr
        for flag in (a for a in args if a.startswith("--")):
            assert flag in done.stdout, f"`dask {args[1]}` has no option {flag}"


def test_worker_args_carry_name_dashboard_threads_and_memory() -> None:
    spec = cluster_spec(config("cluster.threads_per_worker=2", "cluster.memory_limit=3GiB"))
    args = spec["spec"]["worker"]["spec"]["containers"][0]["args"]
    assert args == [
        "dask",
        "worker",
        "--name",
        "$(DASK_WORKER_NAME)",  # set by the operator on every worker container
        "--dashboard",
        "--dashboard-address",
        "8788",
        "--nthreads",
        "2",
        "--memory-limit",
        "3GiB",
    ]
    assert cluster_spec(config())["spec"]["worker"]["spec"]["containers"][0]["args"][-1] == "auto"


def test_worker_command_of_the_spec_joins_a_scheduler(
    dask_cluster_address: DaskProcesses, tmp_path: Path
) -> None:
    """The spec's worker args, run as the operator runs them: $(DASK_WORKER_NAME) expanded from the env
    and the scheduler found through DASK_SCHEDULER_ADDRESS. Two changes keep the test on loopback: the
    dashboard binds 127.0.0.1:0 instead of all interfaces :8788, and --host 127.0.0.1 is added."""
    container = cluster_spec(config())["spec"]["worker"]["spec"]["containers"][0]
    env = {e["name"]: e["value"] for e in container["env"]} | {
        "DASK_WORKER_NAME": "spec-worker",
        "DASK_SCHEDULER_ADDRESS": dask_cluster_address.address,
        "HOME": str(tmp_path),
    }
    args = [a.replace("$(DASK_WORKER_NAME)", env["DASK_WORKER_NAME"]) for a in container["args"]]
    args[args.index("--dashboard-address") + 1] = "127.0.0.1:0"
    args += ["--host", "127.0.0.1", "--local-directory", str(tmp_path)]
    drop = {"PYTHONWARNINGS", "PYTHONDEVMODE", "PYTHONTRACEMALLOC"}
    with open(tmp_path / "worker.log", "wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", *args],  # python -m dask worker ... == dask worker ...
            env={k: v for k, v in os.environ.items() if k not in drop} | env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            dask_cluster_address.wait_for(lambda names: "spec-worker" in names, "spec-worker to register")
        finally:
            proc.terminate()
            proc.wait(timeout=30)
    dask_cluster_address.wait_for(lambda names: "spec-worker" not in names, "spec-worker to leave")


def test_security_defaults() -> None:
    spec = cluster_spec(config())
    for role, pod in pods(spec).items():
        assert pod["securityContext"]["runAsNonRoot"] is True, role
        assert pod["securityContext"]["runAsUser"] > 0
        assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
        assert pod["automountServiceAccountToken"] is False
        assert "serviceAccountName" not in pod
        for key in ("hostNetwork", "hostPID", "hostIPC"):
            assert not pod.get(key)
        assert pod["volumes"] == [{"name": "tmp", "emptyDir": {}}]  # the only volume: nothing from the host
        (container,) = pod["containers"]
        context = container["securityContext"]
        assert context["readOnlyRootFilesystem"] is True
        assert context["allowPrivilegeEscalation"] is False
        assert context["runAsNonRoot"] is True
        assert context["capabilities"] == {"drop": ["ALL"]}
        assert "privileged" not in context and "add" not in context["capabilities"]
        assert container["volumeMounts"] == [{"name": "tmp", "mountPath": "/tmp"}]
        assert {"name": "HOME", "value": "/tmp"} in container["env"]  # writable home on a read-only root
        assert container["resources"]["requests"]["memory"]
    service = spec["spec"]["scheduler"]["service"]
    assert service["type"] == "ClusterIP"  # not exposed outside the cluster


def test_resources_labels_namespace_and_service_account() -> None:
    spec = cluster_spec(
        config(
            "cluster.workers=4",
            "cluster.kubernetes.name=fleet-a",
            "cluster.kubernetes.namespace=robots",
            "cluster.kubernetes.service_account=telemetry-workers",
            "cluster.kubernetes.worker_cpu_request=1.5",
            "cluster.kubernetes.worker_cpu_limit=4",
            "cluster.kubernetes.worker_memory_request=6Gi",
            "cluster.kubernetes.worker_memory_limit=8Gi",
            "cluster.kubernetes.image_pull_policy=Always",
        )
    )
    assert spec["metadata"]["name"] == "fleet-a"
    assert spec["metadata"]["namespace"] == "robots"
    labels = spec["metadata"]["labels"]
    assert labels["app.kubernetes.io/name"] == "telemetry"
    assert labels["app.kubernetes.io/instance"] == "fleet-a"
    assert labels["app.kubernetes.io/version"]
    assert spec["spec"]["worker"]["metadata"]["labels"]["app.kubernetes.io/component"] == "dask-worker"
    assert spec["spec"]["scheduler"]["metadata"]["labels"]["app.kubernetes.io/component"] == "dask-scheduler"
    assert spec["spec"]["scheduler"]["service"]["selector"]["dask.org/cluster-name"] == "fleet-a"
    assert spec["spec"]["worker"]["replicas"] == 4
    worker, scheduler = pods(spec)["worker"], pods(spec)["scheduler"]
    assert worker["containers"][0]["resources"] == {
        "requests": {"cpu": "1500m", "memory": "6Gi"},
        "limits": {"cpu": "4", "memory": "8Gi"},
    }
    assert scheduler["containers"][0]["resources"] == {
        "requests": {"cpu": "500m", "memory": "1Gi"},
        "limits": {"memory": "2Gi"},
    }
    assert worker["serviceAccountName"] == scheduler["serviceAccountName"] == "telemetry-workers"
    assert {c["imagePullPolicy"] for p in (worker, scheduler) for c in p["containers"]} == {"Always"}
    assert "namespace" not in cluster_spec(config())["metadata"]  # null: the kubeconfig context decides


def test_secrets_are_never_inline() -> None:
    spec = cluster_spec(
        config(
            f"store.s3.key={SECRET_KEY_ID}",
            f"store.s3.secret={SECRET_VALUE}",
            "cluster.kubernetes.env_from_secret=telemetry-s3",
        )
    )
    text = yaml.safe_dump(spec)
    assert SECRET_KEY_ID not in text and SECRET_VALUE not in text and "***" not in text
    worker, scheduler = pods(spec)["worker"], pods(spec)["scheduler"]
    assert worker["containers"][0]["envFrom"] == [{"secretRef": {"name": "telemetry-s3"}}]
    assert "envFrom" not in scheduler["containers"][0]  # the scheduler never reads data
    for pod, names in ((worker, ["HOME", *WORKER_ENV]), (scheduler, ["HOME"])):
        env = pod["containers"][0]["env"]
        assert all(set(e) == {"name", "value"} for e in env)  # no valueFrom, no credentials
        assert [e["name"] for e in env] == names
    assert "envFrom" not in cluster_spec(config())["spec"]["worker"]["spec"]["containers"][0]


def test_adaptive_starts_at_the_minimum_unless_workers_are_given() -> None:
    adaptive = ("cluster.kubernetes.adaptive_minimum=1", "cluster.kubernetes.adaptive_maximum=8")
    assert cluster_spec(config(*adaptive))["spec"]["worker"]["replicas"] == 1
    assert cluster_spec(config(*adaptive, "cluster.workers=3"))["spec"]["worker"]["replicas"] == 3
    assert cluster_spec(config())["spec"]["worker"]["replicas"] == 2


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["cluster.kubernetes.worker_memory_limit=4GiB"], "Kubernetes writes Gi, not GiB"),
        (["cluster.kubernetes.name=Fleet_A"], "cluster.kubernetes.name must be a lowercase RFC 1123 label"),
        (["cluster.kubernetes.name=" + "a" * 54], "at most 53"),
        (["cluster.kubernetes.env_from_secret=AWS creds"], "env_from_secret must name a Kubernetes object"),
        (["cluster.kubernetes.adaptive_minimum=1"], "set both adaptive_minimum and adaptive_maximum"),
        (
            ["cluster.kubernetes.adaptive_minimum=5", "cluster.kubernetes.adaptive_maximum=2"],
            "adaptive_minimum <= adaptive_maximum",
        ),
        (["cluster.kubernetes.run_as_user=0"], "non-root UID"),
        (["cluster.kubernetes.worker_cpu_request=0"], "worker_cpu_request must be CPU cores"),
        (["cluster.kind=address"], "cluster.address is required for cluster.kind=address"),
        (["cluster.memory_limit=lots"], "cluster.memory_limit must be 'auto' or a size"),
        (["cluster.workers=0"], "cluster.workers must be >= 1"),
        (["cluster.threads_per_worker=0"], "cluster.threads_per_worker must be >= 1"),
        (["cluster.address=tcp://a b:1"], "cluster.address must be like tcp://host:8786"),
    ],
)
def test_bad_cluster_settings_are_config_errors(overrides: list[str], message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace("(", r"\(")):
        config(*overrides)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (
            ["cluster.kubernetes.worker_memory_request=8Gi", "cluster.kubernetes.worker_memory_limit=4Gi"],
            r"worker_memory_request \(8Gi\) must not exceed worker_memory_limit \(4Gi\)",
        ),
        (
            ["cluster.kubernetes.scheduler_cpu_request=2", "cluster.kubernetes.scheduler_cpu_limit=1"],
            "scheduler_cpu_request",
        ),
        (
            ["cluster.memory_limit=6GiB"],
            r"cluster.memory_limit \(6GiB\) exceeds .*worker_memory_limit \(4Gi\)",
        ),
    ],
)
def test_inconsistent_sizes_fail_before_anything_is_created(overrides: list[str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        cluster_spec(config(*overrides))


# ---------------------------------------------------------------------------------------------- CLI


def test_cli_cluster_spec_prints_exactly_the_spec(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = tmp_path / "telemetry.yaml"
    path.write_text("cluster:\n  kubernetes:\n    namespace: robots\n    env_from_secret: telemetry-s3\n")
    path.chmod(0o644)
    argv = ["cluster-spec", "--config", str(path), "--set", "cluster.workers=7"]
    assert main(argv) == 0
    out, _ = capsys.readouterr()
    expected = cluster_spec(load_config(path, overrides=["cluster.workers=7"]))
    assert yaml.safe_load(out) == expected
    assert expected["spec"]["worker"]["replicas"] == 7 and expected["metadata"]["namespace"] == "robots"


def test_cli_cluster_spec_reports_bad_config_in_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["cluster-spec", "--set", "cluster.kubernetes.worker_memory_limit=4GiB"]) == 2
    _, err = capsys.readouterr()
    assert err.startswith("telemetry: error: cluster.kubernetes.worker_memory_limit") and err.count("\n") == 1


def parse_cluster_options(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_cluster_options(parser)
    return parser.parse_args(list(argv))


def test_cluster_options_map_to_overrides() -> None:
    assert cluster_overrides(parse_cluster_options()) == []
    args = parse_cluster_options("--scheduler", "tcp://10.0.0.5:8786", "--workers", "3")
    loaded = config(*cluster_overrides(args)).cluster
    assert (loaded.kind, loaded.address, loaded.workers) == ("address", "tcp://10.0.0.5:8786", 3)
    loaded = config(*cluster_overrides(parse_cluster_options("--cluster", "kubernetes"))).cluster
    assert loaded.kind == "kubernetes"
    # an address YAML would not read as a string stays a string
    assert config(*cluster_overrides(parse_cluster_options("--scheduler", "1:30"))).cluster.address == "1:30"
    with pytest.raises(ConfigError, match="--scheduler implies --cluster address"):
        cluster_overrides(parse_cluster_options("--cluster", "local", "--scheduler", "tcp://h:1"))
    with pytest.raises(SystemExit):
        parse_cluster_options("--workers", "0")


# ------------------------------------------------------------------------------------------ clients


def test_connect_local_starts_worker_processes_and_runs_tasks() -> None:
    with connect(config("cluster.workers=2")) as client:
        pids = client.run(os.getpid)
        assert len(pids) == 2 and os.getpid() not in pids.values()  # processes, not threads
        assert all(address.startswith("tcp://127.0.0.1:") for address in pids)
        assert client.scheduler.address.startswith("tcp://127.0.0.1:")
        assert client.submit(sum, [1, 2, 3]).result() == 6
        assert set(client.nthreads().values()) == {1}
        # the nannies leave glibc's malloc thresholds alone (WORKER_DASK_CONFIG); Dask's thread limits stay
        environ = client.run(
            lambda: {k: os.environ.get(k) for k in ("MALLOC_TRIM_THRESHOLD_", "OMP_NUM_THREADS")}
        )
        assert all(env["MALLOC_TRIM_THRESHOLD_"] is None for env in environ.values()), environ
        assert all(env["OMP_NUM_THREADS"] is not None for env in environ.values()), environ
        url = dashboard_url(client)
        assert url is not None and url.startswith("http://127.0.0.1:")
    assert client.status == "closed"
    deadline = time.monotonic() + 10
    while any(_alive(pid) for pid in pids.values()) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not any(_alive(pid) for pid in pids.values()), "worker processes outlived connect()"


@pytest.mark.parametrize("with_worker_env", [False, True])
def test_worker_env_unsets_dasks_malloc_threshold_in_a_fresh_process(with_worker_env: bool) -> None:
    """What a worker container sees (the image and the DaskCluster set WORKER_ENV): Dask's configuration
    then drops MALLOC_TRIM_THRESHOLD_ from what its nanny puts in the worker's environment."""
    code = (
        "import json, dask, distributed\n"
        "print(json.dumps(dask.config.get('distributed.nanny.pre-spawn-environ')))"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("DASK_") and not k.startswith("MALLOC_")}
    env.update(WORKER_ENV if with_worker_env else {})
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    environ = json.loads(done.stdout)
    assert environ["MALLOC_TRIM_THRESHOLD_"] == (None if with_worker_env else 65536)
    assert environ["OMP_NUM_THREADS"] == 1  # the rest of Dask's defaults stay


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_connect_address_runs_tasks_on_both_workers(dask_cluster_address: DaskProcesses) -> None:
    cfg = config("cluster.kind=address", f"cluster.address={dask_cluster_address.address}")
    with connect(cfg) as client:
        workers = client.scheduler_info(n_workers=-1)["workers"]
        assert {w["name"] for w in workers.values()} >= {"worker-0", "worker-1"}
        ran_on = {
            address: client.submit(os.getpid, workers=[address], pure=False).result()
            for address, info in workers.items()
            if info["name"] in {"worker-0", "worker-1"}
        }
        assert len(set(ran_on.values())) == 2 and os.getpid() not in ran_on.values()
        url = dashboard_url(client)  # the scheduler's HTTP server, on loopback like the scheduler
        assert url is not None and url.startswith("http://127.0.0.1:")
    assert client.status == "closed"
    # `scheduler=` overrides the config (and the cluster is not ours: it keeps running)
    with connect(config(), scheduler=dask_cluster_address.address) as client:
        assert client.submit(sum, [2, 2]).result() == 4
    dask_cluster_address.wait_for(lambda names: {"worker-0", "worker-1"} <= names, "both workers")


def test_connect_to_a_dead_port_fails_fast_and_says_what_to_do() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # nothing listens there once the socket is closed
    address = f"tcp://127.0.0.1:{port}"
    started = time.monotonic()
    with (
        pytest.raises(TelemetryError) as info,
        connect(
            config("cluster.kind=address", f"cluster.address={address}", "cluster.connect_timeout_s=1.5")
        ),
    ):
        pytest.fail("connected to a dead port")
    assert time.monotonic() - started < 10
    message = str(info.value)
    assert address in message and "within 1.5 s" in message and "dask scheduler" in message
    assert "cluster.address" in message


def test_connect_kubernetes_without_credentials_is_a_clear_error(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "missing-kubeconfig"))
    with (
        pytest.raises(TelemetryError, match=r"no Kubernetes credentials: KUBECONFIG=.*missing-kubeconfig"),
        connect(config("cluster.kind=kubernetes")),
    ):
        pytest.fail("connected without credentials")


def test_fixture_kills_and_restarts_a_worker(dask_cluster_address: DaskProcesses) -> None:
    """The fault-injection handles of the conftest processes (used by pipeline fault tests)."""
    try:
        dask_cluster_address.kill_worker(1)
        assert not dask_cluster_address.worker_alive(1)
        dask_cluster_address.wait_for(lambda names: "worker-1" not in names, "the scheduler to drop worker-1")
        with connect(config(), scheduler=dask_cluster_address.address) as client:
            assert client.submit(sum, [1, 1], pure=False).result() == 2  # the survivor takes the work
        dask_cluster_address.restart_worker(1)
        assert dask_cluster_address.worker_alive(1)
        dask_cluster_address.wait_for(lambda names: {"worker-0", "worker-1"} <= names, "both workers")
    finally:
        dask_cluster_address.ensure_workers()
