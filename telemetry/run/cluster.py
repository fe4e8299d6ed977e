"""Dask clusters for the pipeline: a LocalCluster, an existing scheduler, or a DaskCluster on Kubernetes.

This is an edge module: stages never import it (nor Dask). :func:`connect` opens the cluster that
``config.cluster`` describes and closes whatever it opened; :func:`cluster_spec` is the exact
``DaskCluster`` resource that kind=kubernetes creates, printable before anything runs
(``telemetry cluster-spec``).

Worker processes of a local cluster are started with ``processes=True``. Python starts them by
re-importing the main module, so a script that calls :func:`connect` must guard its entry point::

    from telemetry import load_config
    from telemetry.run.cluster import connect

    if __name__ == "__main__":  # required: local worker processes re-import this module
        with connect(load_config()) as client:
            print(client.submit(sum, [1, 2]).result())

Dask, distributed and dask-kubernetes are imported when first needed, so importing this module is cheap.
"""

from __future__ import annotations

import copy
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from telemetry._version import __version__
from telemetry.config import ClusterConfig, KubernetesConfig, TelemetryConfig, kubernetes_quantity
from telemetry.errors import ConfigError, TelemetryError

if TYPE_CHECKING:
    import distributed

__all__ = [
    "SCHEDULER_COMMAND",
    "WORKER_COMMAND",
    "WORKER_DASK_CONFIG",
    "WORKER_ENV",
    "cluster_spec",
    "connect",
    "dashboard_url",
    "local_cluster",
    "local_workers",
]

WORKER_COMMAND: tuple[str, ...] = ("dask", "worker")
"""How Kubernetes worker containers start. ``dask-worker`` (dask-kubernetes' default) is gone from
distributed >= 2026.6."""
SCHEDULER_COMMAND: tuple[str, ...] = ("dask", "scheduler")
"""How the Kubernetes scheduler container starts (dask-kubernetes writes the removed ``dask-scheduler``)."""

_NANNY_ENVIRON: dict[str, str | None] = {"MALLOC_TRIM_THRESHOLD_": None}
"""What telemetry's workers change in ``distributed.nanny.pre-spawn-environ`` (None: leave the variable
unset): glibc's malloc keeps its default thresholds.

Dask's nanny sets ``MALLOC_TRIM_THRESHOLD_=65536`` in every worker process (so freed memory returns to
the operating system at once). Setting any glibc malloc threshold also switches off glibc's *dynamic*
mmap threshold: every NumPy temporary above 128 KiB is then a fresh ``mmap`` whose pages fault in again
on first touch: several times the page faults and the kernel time per robot-day (measured in
docs/performance.md, "The workers' malloc settings"). The tasks return freed memory themselves when they
finish (``malloc_trim``), so a worker's RSS still tracks its live data."""
WORKER_DASK_CONFIG: dict[str, Any] = {
    f"distributed.nanny.pre-spawn-environ.{name}": value for name, value in _NANNY_ENVIRON.items()
}
"""The nanny settings as Dask configuration (``dask.config.set``), for the clusters started here."""
WORKER_ENV: dict[str, str] = {"DASK_DISTRIBUTED__NANNY__PRE_SPAWN_ENVIRON": repr(_NANNY_ENVIRON)}
"""The nanny settings as an environment variable, for ``dask worker`` in a container (Dask merges it into
its defaults; the image sets it too)."""

DEFAULT_KUBERNETES_WORKERS = 2
"""Worker pods when ``cluster.workers`` is null and scaling is not adaptive."""

_K8S_EXTRA_HINT = "install the Kubernetes extra: pip install 'telemetry[k8s]'"
_TMP_VOLUME = "tmp"


# ------------------------------------------------------------------------------------- Kubernetes spec


def cluster_spec(config: TelemetryConfig) -> dict[str, Any]:
    """The ``DaskCluster`` resource (``kubernetes.dask.org/v1``) that kind=kubernetes creates.

    Built with dask-kubernetes' ``make_cluster_spec`` and then patched: the containers run
    ``dask worker`` / ``dask scheduler`` (the hyphenated commands no longer exist); workers get
    ``--nthreads`` and ``--memory-limit`` from ``cluster.threads_per_worker`` / ``cluster.memory_limit``;
    each pod gets its own requests and limits, ``app.kubernetes.io/*`` labels, a restricted security
    context (non-root UID, read-only root filesystem with an ``emptyDir`` at ``/tmp``, every capability
    dropped, no privilege escalation, RuntimeDefault seccomp, no service-account token), and optionally a
    service account. Credentials never appear in the spec: ``cluster.kubernetes.env_from_secret`` names
    an existing Secret whose keys the worker containers receive as environment variables.

    Contacts no cluster; the result is plain YAML/JSON-able data.

    Args:
        config: the configuration; ``config.cluster`` and ``config.cluster.kubernetes`` are used.

    Returns:
        The resource as a dict (``apiVersion``, ``kind``, ``metadata``, ``spec``).

    Raises:
        ConfigError: inconsistent sizes (a request above its limit, a Dask memory limit above the
            pod's memory limit).
        TelemetryError: dask-kubernetes is not installed.
    """
    cluster, k8s = config.cluster, config.cluster.kubernetes
    _check_sizes(cluster, k8s)
    try:
        from dask_kubernetes.operator import make_cluster_spec
    except ImportError as exc:
        raise TelemetryError(
            f"`telemetry cluster-spec` needs dask-kubernetes ({exc}); {_K8S_EXTRA_HINT}"
        ) from None

    spec: dict[str, Any] = make_cluster_spec(
        name=k8s.name,
        image=_image(k8s),
        n_workers=_replicas(cluster, k8s),
        env={"HOME": "/tmp"},  # noqa: S108 - the root filesystem is read-only; /tmp is a private emptyDir
        worker_command=list(WORKER_COMMAND),
        idle_timeout=0,
    )
    labels = {
        "app.kubernetes.io/name": "telemetry",
        "app.kubernetes.io/instance": k8s.name,
        "app.kubernetes.io/version": _label_value(__version__),
        "app.kubernetes.io/part-of": "telemetry",
        "app.kubernetes.io/managed-by": "telemetry",
    }
    spec["metadata"] = {
        "name": k8s.name,
        **({"namespace": k8s.namespace} if k8s.namespace else {}),
        "labels": labels,
    }

    worker, scheduler = spec["spec"]["worker"], spec["spec"]["scheduler"]
    worker["metadata"] = {"labels": {"app.kubernetes.io/component": "dask-worker"}}
    scheduler["metadata"] = {"labels": {"app.kubernetes.io/component": "dask-scheduler"}}

    worker_container = _only_container(worker["spec"], "worker")
    worker_container["args"] = _worker_args(worker_container["args"], cluster)
    worker_container["env"] += [{"name": k, "value": v} for k, v in WORKER_ENV.items()]
    scheduler_container = _only_container(scheduler["spec"], "scheduler")
    scheduler_container["args"] = _scheduler_args(scheduler_container["args"])

    _harden_pod(
        worker["spec"],
        k8s,
        _resources(
            k8s.worker_cpu_request, k8s.worker_cpu_limit, k8s.worker_memory_request, k8s.worker_memory_limit
        ),
    )
    _harden_pod(
        scheduler["spec"],
        k8s,
        _resources(
            k8s.scheduler_cpu_request,
            k8s.scheduler_cpu_limit,
            k8s.scheduler_memory_request,
            k8s.scheduler_memory_limit,
        ),
    )
    if k8s.env_from_secret is not None:  # workers only: the scheduler never reads data
        worker_container["envFrom"] = [{"secretRef": {"name": k8s.env_from_secret}}]
    without_nulls: dict[str, Any] = _without_nulls(spec)  # make_cluster_spec writes `env: null` etc.
    return without_nulls


def _image(k8s: KubernetesConfig) -> str:
    if k8s.image is not None:
        return k8s.image
    return "telemetry:" + re.sub(r"[^A-Za-z0-9_.-]", "-", __version__)[:128]


def _replicas(cluster: ClusterConfig, k8s: KubernetesConfig) -> int:
    if cluster.workers is not None:
        return cluster.workers
    if k8s.adaptive_minimum is not None:
        return k8s.adaptive_minimum
    return DEFAULT_KUBERNETES_WORKERS


def _label_value(text: str) -> str:
    """``text`` as a valid label value (<= 63 characters of [A-Za-z0-9_.-], alphanumeric at both ends)."""
    return re.sub(r"[^A-Za-z0-9_.-]", "_", text)[:63].strip("_.-")


def _only_container(pod: dict[str, Any], role: str) -> dict[str, Any]:
    containers = pod.get("containers") or []
    if len(containers) != 1:
        raise TelemetryError(
            f"dask-kubernetes' make_cluster_spec changed: expected one {role} container, "
            f"got {len(containers)}; "
            "telemetry.run.cluster.cluster_spec needs updating for this dask-kubernetes version"
        )
    container: dict[str, Any] = containers[0]
    return container


def _worker_args(template: list[str], cluster: ClusterConfig) -> list[str]:
    """make_cluster_spec's worker args (our command + --name/--dashboard flags) plus threads and memory."""
    command = list(WORKER_COMMAND)
    if template[: len(command)] != command or "--name" not in template:
        raise TelemetryError(
            f"dask-kubernetes' make_cluster_spec changed: unexpected worker args {template}; "
            "telemetry.run.cluster.cluster_spec needs updating for this dask-kubernetes version"
        )
    extra = ["--nthreads", str(cluster.threads_per_worker), "--memory-limit", cluster.memory_limit.strip()]
    return [*template, *extra]


def _scheduler_args(template: list[str]) -> list[str]:
    """make_cluster_spec's scheduler args, the removed ``dask-scheduler`` replaced by ``dask scheduler``."""
    if template[:1] == ["dask-scheduler"]:
        return [*SCHEDULER_COMMAND, *template[1:]]
    if template[: len(SCHEDULER_COMMAND)] == list(SCHEDULER_COMMAND):
        return list(template)
    raise TelemetryError(
        f"dask-kubernetes' make_cluster_spec changed: unexpected scheduler args {template}; "
        "telemetry.run.cluster.cluster_spec needs updating for this dask-kubernetes version"
    )


def _cpu(cores: float) -> str:
    return str(int(cores)) if float(cores).is_integer() else f"{round(cores * 1000)}m"


def _resources(
    cpu_request: float, cpu_limit: float | None, memory_request: str, memory_limit: str | None
) -> dict[str, dict[str, str]]:
    requests = {"cpu": _cpu(cpu_request), "memory": memory_request}
    limits = {
        **({"cpu": _cpu(cpu_limit)} if cpu_limit is not None else {}),
        **({"memory": memory_limit} if memory_limit is not None else {}),
    }
    return {"requests": requests, **({"limits": limits} if limits else {})}


def _harden_pod(pod: dict[str, Any], k8s: KubernetesConfig, resources: dict[str, dict[str, str]]) -> None:
    pod["securityContext"] = {
        "runAsNonRoot": True,
        "runAsUser": k8s.run_as_user,
        "runAsGroup": k8s.run_as_user,
        "fsGroup": k8s.run_as_user,
        "seccompProfile": {"type": "RuntimeDefault"},
    }
    pod["automountServiceAccountToken"] = False  # Dask never talks to the Kubernetes API from its pods
    if k8s.service_account is not None:
        pod["serviceAccountName"] = k8s.service_account
    pod["volumes"] = [{"name": _TMP_VOLUME, "emptyDir": {}}]
    for container in pod["containers"]:
        container["imagePullPolicy"] = k8s.image_pull_policy
        container["resources"] = copy.deepcopy(resources)
        container["securityContext"] = {
            "runAsNonRoot": True,
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "capabilities": {"drop": ["ALL"]},
        }
        container["volumeMounts"] = [{"name": _TMP_VOLUME, "mountPath": "/tmp"}]  # noqa: S108 - emptyDir


def _without_nulls(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _without_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_without_nulls(v) for v in value]
    return value


def _quantity(text: str) -> float:
    value = kubernetes_quantity(text)
    if value is None:  # ruled out by KubernetesConfig
        raise ConfigError(f"not a Kubernetes quantity: {text!r}")
    return value


def _check_sizes(cluster: ClusterConfig, k8s: KubernetesConfig) -> None:
    where = "cluster.kubernetes"
    for pod in ("worker", "scheduler"):
        for what, parse in (("cpu", float), ("memory", _quantity)):
            request, limit = getattr(k8s, f"{pod}_{what}_request"), getattr(k8s, f"{pod}_{what}_limit")
            if limit is not None and parse(request) > parse(limit):
                raise ConfigError(
                    f"{where}.{pod}_{what}_request ({request}) must not exceed {pod}_{what}_limit ({limit}); "
                    "Kubernetes rejects such pods"
                )
    if cluster.memory_limit.strip().lower() != "auto" and k8s.worker_memory_limit is not None:
        from dask.utils import parse_bytes

        dask_bytes = parse_bytes(cluster.memory_limit.strip())
        if dask_bytes > _quantity(k8s.worker_memory_limit):
            raise ConfigError(
                f"cluster.memory_limit ({cluster.memory_limit}) exceeds {where}.worker_memory_limit "
                f"({k8s.worker_memory_limit}): the pod would be OOM-killed before Dask spills to disk; "
                "lower it or use cluster.memory_limit=auto (the pod's limit)"
            )


# ------------------------------------------------------------------------------------------- clients


@contextmanager
def connect(config: TelemetryConfig, *, scheduler: str | None = None) -> Iterator[distributed.Client]:
    """A Dask client for the cluster of ``config.cluster``; closes what it opened on exit.

    - kind=local: a ``LocalCluster`` of ``cluster.workers`` worker *processes* (default: the CPU count
      divided by ``threads_per_worker``) with ``threads_per_worker`` threads and ``memory_limit`` each,
      scheduler and workers listening on 127.0.0.1 and the dashboard on ``cluster.dashboard_address``.
      Scripts need the ``if __name__ == "__main__":`` guard (see the module docstring).
    - kind=address: a client of the scheduler at ``cluster.address`` (or ``scheduler``), waiting at most
      ``cluster.connect_timeout_s``. The cluster is not closed on exit: it is not ours.
    - kind=kubernetes: ``KubeCluster(custom_cluster_spec=cluster_spec(config))`` through the
      dask-kubernetes operator, adaptive when ``cluster.kubernetes.adaptive_*`` are set; the
      DaskCluster is deleted on exit. Creating a cluster whose name already exists is an error (two
      runs would otherwise share, and the first to finish delete, one cluster).

    Args:
        config: the configuration.
        scheduler: a scheduler address; overrides ``cluster.address`` and implies kind=address.

    Yields:
        A connected ``distributed.Client``.

    Raises:
        TelemetryError: the scheduler is unreachable, or the Kubernetes extra / credentials are missing,
            or the DaskCluster could not be created. The message names the address and the fix.
    """
    cluster = config.cluster
    if scheduler is not None:
        with _address_client(scheduler, cluster.connect_timeout_s) as client:
            yield client
    elif cluster.kind == "address":
        if not cluster.address:  # ruled out by ClusterConfig
            raise ConfigError("cluster.address is required for cluster.kind=address")
        with _address_client(cluster.address, cluster.connect_timeout_s) as client:
            yield client
    elif cluster.kind == "kubernetes":
        with _kubernetes_client(config) as client:
            yield client
    else:
        with _local_client(cluster) as client:
            yield client


def local_workers(cluster: ClusterConfig) -> int:
    """Worker processes of a local cluster: ``cluster.workers``, else CPUs / ``threads_per_worker`` (>= 1)."""
    if cluster.workers is not None:
        return cluster.workers
    from dask.system import CPU_COUNT  # honours cgroup quotas and CPU affinity

    return max(1, int(CPU_COUNT) // cluster.threads_per_worker)


def local_cluster(cluster: ClusterConfig) -> distributed.LocalCluster:
    """The started ``LocalCluster`` of kind=local (see :func:`connect`), with the workers' nanny settings
    (:data:`WORKER_DASK_CONFIG`); the caller closes it."""
    import dask
    from distributed import LocalCluster

    with dask.config.set(WORKER_DASK_CONFIG):  # read by each nanny as it starts
        return LocalCluster(  # type: ignore[no-untyped-call]
            n_workers=local_workers(cluster),
            threads_per_worker=cluster.threads_per_worker,
            memory_limit=cluster.memory_limit.strip(),
            processes=True,
            host="127.0.0.1",
            dashboard_address=cluster.dashboard_address,
        )


@contextmanager
def _local_client(cluster: ClusterConfig) -> Iterator[distributed.Client]:
    from distributed import Client

    with local_cluster(cluster) as local, Client(local) as client:  # type: ignore[no-untyped-call]
        yield client


@contextmanager
def _address_client(address: str, timeout_s: float) -> Iterator[distributed.Client]:
    from distributed import Client

    fix = (
        "start one there (`dask scheduler`), or fix the address (--scheduler / cluster.address), "
        "or raise cluster.connect_timeout_s"
    )
    try:
        client = Client(address, timeout=timeout_s)  # type: ignore[no-untyped-call]
    except (OSError, TimeoutError) as exc:
        raise TelemetryError(
            f"no Dask scheduler answered at {address} within {timeout_s:g} s ({exc}); {fix}"
        ) from None
    except ValueError as exc:
        raise TelemetryError(
            f"bad scheduler address {address!r} ({exc}); expected like tcp://host:8786"
        ) from None
    with client:
        yield client


def _kubernetes_credentials_problem() -> str | None:
    """Why no cluster is reachable (no in-cluster service account, no kubeconfig file), or None."""
    if os.environ.get("KUBERNETES_SERVICE_HOST"):
        return None
    listed = os.environ.get("KUBECONFIG")
    paths = [p for p in listed.split(os.pathsep) if p] if listed else ["~/.kube/config"]
    if any(Path(p).expanduser().is_file() for p in paths):
        return None
    where = f"KUBECONFIG={listed}" if listed else "~/.kube/config"
    return f"no Kubernetes credentials: {where} does not exist and this is not a pod"


@contextmanager
def _kubernetes_client(config: TelemetryConfig) -> Iterator[distributed.Client]:
    k8s = config.cluster.kubernetes
    spec = cluster_spec(config)  # also reports a missing dask-kubernetes
    from dask_kubernetes.operator import KubeCluster
    from dask_kubernetes.operator.kubecluster.kubecluster import CreateMode
    from distributed import Client

    problem = _kubernetes_credentials_problem()
    if problem is not None:
        raise TelemetryError(
            f"cluster.kind=kubernetes: {problem}; point KUBECONFIG at a cluster's kubeconfig "
            "(`kubectl config current-context` must work), or use --cluster local / --scheduler ADDRESS"
        )
    where = f"DaskCluster {k8s.name!r} in namespace {k8s.namespace or '<kubeconfig default>'}"
    try:
        kube = KubeCluster(
            custom_cluster_spec=spec,
            namespace=k8s.namespace,
            create_mode=CreateMode.CREATE_ONLY,
            shutdown_on_close=True,
        )
    except Exception as exc:  # kr8s/httpx/operator errors have no common base; keep the cause chained
        raise TelemetryError(
            f"could not start {where}: {type(exc).__name__}: {exc}. Is the dask-kubernetes operator "
            "installed (`kubectl get crd daskclusters.kubernetes.dask.org`)? Does a cluster of that name "
            "exist (`kubectl get daskclusters`)? Inspect the resource with `telemetry cluster-spec`."
        ) from exc
    try:
        if k8s.adaptive_minimum is not None and k8s.adaptive_maximum is not None:
            kube.adapt(minimum=k8s.adaptive_minimum, maximum=k8s.adaptive_maximum)
        with Client(kube) as client:  # type: ignore[no-untyped-call]
            yield client
    finally:
        kube.close()


def dashboard_url(client: distributed.Client) -> str | None:
    """The dashboard URL of ``client``'s scheduler, or None when it runs no dashboard."""
    try:
        link = client.dashboard_link
    except (KeyError, AttributeError):
        return None
    return str(link) if link else None
