"""Helpers of the Kubernetes tests (tests/test_helm.py, tests/test_k8s_manifests.py): rendering the chart
with the `helm` binary of the helm-binary package, validating objects against Kubernetes' schemas
(kubernetes-validate) and against the CRDs shipped inside dask-kubernetes, the restricted Pod Security
Standard, and the JSON Schema of the chart's `config` block generated from telemetry's config tree.

`python tests/kube.py --write-config-schema` rewrites that block of helm/telemetry/values.schema.json after
a change of telemetry/config.py (tests/test_helm.py fails until it is done).
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import json
import subprocess
import sys
import tempfile
import types
import typing
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, Literal

import dask_kubernetes
import jsonschema
import kubernetes_validate
import yaml

from telemetry.config import Secret, SignalSpec, TelemetryConfig

ROOT = Path(__file__).resolve().parents[1]
CHART = ROOT / "helm" / "telemetry"
K8S = ROOT / "k8s"
HELM = Path(sys.executable).parent / "helm"
DASK = Path(sys.executable).parent / "dask"
CRDS = Path(dask_kubernetes.__file__).parent / "operator/deployment/helm/dask-kubernetes-operator/crds"

# Kubernetes versions the built-in objects are validated against: the chart's kubeVersion floor and the newest
# schema kubernetes-validate ships.
KUBE_VERSIONS = ("1.27.0", kubernetes_validate.latest_version())

# The sections of the config tree the chart fills from its own values; the others go through `config:`.
CHART_MANAGED_SECTIONS = ("fleet", "store", "run", "cluster")

Obj = dict[str, Any]


# ------------------------------------------------------------------------------------------ helm


def helm(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run the helm binary, with no kubeconfig (it must not need a cluster) and a scratch HOME."""
    done = subprocess.run(
        [str(HELM), *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={"HOME": "/tmp", "PATH": "/usr/bin:/bin", "KUBECONFIG": "/nonexistent"},
    )
    if check and done.returncode != 0:
        raise AssertionError(f"helm {' '.join(args)} failed ({done.returncode}):\n{done.stderr}")
    return done


def helm_template(
    values: Obj, *, release: str = "telemetry", namespace: str = "telemetry", check: bool = True
) -> subprocess.CompletedProcess[str]:
    """`helm template` of the chart with `values` (written to a file as JSON, not by PyYAML: helm's YAML 1.1
    reads an unquoted `y` as true)."""
    with tempfile.NamedTemporaryFile("w", suffix=".json") as f:
        json.dump(values, f)
        f.flush()
        return helm("template", release, str(CHART), "-n", namespace, "--values", f.name, check=check)


@functools.cache
def _rendered_text(values_json: str, release: str, namespace: str) -> str:
    return helm_template(json.loads(values_json), release=release, namespace=namespace).stdout


def render(
    values: Obj | None = None, *, release: str = "telemetry", namespace: str = "telemetry"
) -> list[Obj]:
    """The objects `helm template` renders (the text is cached; each call parses a fresh copy)."""
    text = _rendered_text(json.dumps(values or {}, sort_keys=True), release, namespace)
    return [doc for doc in yaml.safe_load_all(text) if doc]


def helm_fails(values: Obj) -> str:
    """The error of `helm template` for `values`; fails the test when it renders."""
    done = helm_template(values, check=False)
    assert done.returncode != 0, f"helm rendered values it should reject: {values}"
    return done.stderr


def by_kind(objects: Sequence[Obj], kind: str) -> list[Obj]:
    return [o for o in objects if o["kind"] == kind]


def one(objects: Sequence[Obj], kind: str) -> Obj:
    found = by_kind(objects, kind)
    assert len(found) == 1, f"expected one {kind}, got {[o['metadata']['name'] for o in found]}"
    return found[0]


# ------------------------------------------------------------------------------------------ pods


def pod_specs(obj: Obj) -> Iterator[tuple[str, Obj]]:
    """Every pod spec an object carries or makes the operator create: (where, spec)."""
    kind, name = obj["kind"], obj["metadata"]["name"]
    if kind == "Pod":
        yield f"Pod/{name}", obj["spec"]
    elif kind == "Job":
        yield f"Job/{name}", obj["spec"]["template"]["spec"]
    elif kind == "CronJob":
        yield f"CronJob/{name}", obj["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    elif kind == "Deployment":
        yield f"Deployment/{name}", obj["spec"]["template"]["spec"]
    elif kind == "DaskCluster":
        for role in ("scheduler", "worker"):
            yield f"DaskCluster/{name} {role}", obj["spec"][role]["spec"]
    elif kind == "DaskJob":
        yield f"DaskJob/{name} job", obj["spec"]["job"]["spec"]
        for role in ("scheduler", "worker"):
            yield f"DaskJob/{name} {role}", obj["spec"]["cluster"]["spec"][role]["spec"]


def restricted_problems(pod: Obj) -> list[str]:
    """Violations of the restricted Pod Security Standard and of this project's own pod rules (read-only
    root filesystem with an emptyDir at /tmp, requests and limits for cpu and memory, no service-account
    token). Empty when the pod complies."""
    problems = []
    pod_sc = pod.get("securityContext", {})
    if pod.get("automountServiceAccountToken") is not False:
        problems.append("automountServiceAccountToken is not false")
    if pod_sc.get("seccompProfile", {}).get("type") not in ("RuntimeDefault", "Localhost"):
        problems.append("pod seccompProfile is not RuntimeDefault")
    if pod_sc.get("runAsUser") == 0:
        problems.append("pod runAsUser is 0")
    for key in ("hostNetwork", "hostPID", "hostIPC"):
        if pod.get(key):
            problems.append(f"{key} is set")
    volumes = {v["name"]: v for v in pod.get("volumes", [])}
    for volume in volumes.values():
        allowed = {"configMap", "emptyDir", "secret", "projected", "downwardAPI", "persistentVolumeClaim"}
        if not set(volume) - {"name"} <= allowed:
            problems.append(f"volume {volume['name']} has a type the restricted standard forbids")
    for container in [*pod.get("initContainers", []), *pod["containers"]]:
        name = container["name"]
        sc = container.get("securityContext", {})
        if not (sc.get("runAsNonRoot") or pod_sc.get("runAsNonRoot")):
            problems.append(f"{name}: runAsNonRoot is not true")
        if sc.get("runAsUser") == 0:
            problems.append(f"{name}: runAsUser is 0")
        if sc.get("allowPrivilegeEscalation") is not False:
            problems.append(f"{name}: allowPrivilegeEscalation is not false")
        if sc.get("privileged"):
            problems.append(f"{name}: privileged")
        if sc.get("capabilities", {}).get("drop") != ["ALL"] or sc.get("capabilities", {}).get("add"):
            problems.append(f"{name}: capabilities are not exactly drop [ALL]")
        if sc.get("readOnlyRootFilesystem") is not True:
            problems.append(f"{name}: readOnlyRootFilesystem is not true")
        mounts = {m["mountPath"]: m["name"] for m in container.get("volumeMounts", [])}
        if "emptyDir" not in volumes.get(mounts.get("/tmp", ""), {}):
            problems.append(f"{name}: /tmp is not an emptyDir")
        resources = container.get("resources", {})
        for part in ("requests", "limits"):
            for resource in ("cpu", "memory"):
                if resource not in resources.get(part, {}):
                    problems.append(f"{name}: no {resource} {part}")
        for port in container.get("ports", []):
            if "hostPort" in port:
                problems.append(f"{name}: hostPort")
    return problems


@functools.cache
def dask_command_options(subcommand: str) -> frozenset[str]:
    """The options of `dask <subcommand>` in the installed distributed: the click command the `dask` script
    dispatches to (through its `dask_cli` entry points), read in-process instead of parsing `--help`."""
    from importlib.metadata import entry_points

    (entry,) = [e for e in entry_points(group="dask_cli") if e.name == subcommand]
    command = entry.load()
    return frozenset(opt for param in command.params for opt in (*param.opts, *param.secondary_opts))


# ------------------------------------------------------------------------------------------ schemas


def validate_builtin(obj: Obj) -> None:
    """kubernetes-validate --strict at every version of KUBE_VERSIONS (unknown fields are errors)."""
    for version in KUBE_VERSIONS:
        kubernetes_validate.validate(obj, version, strict=True)


def strict(schema: Any) -> Any:
    """The schema with unknown fields forbidden: the API server silently prunes fields a structural schema
    does not declare, so a misplaced field would vanish instead of failing."""
    if isinstance(schema, list):
        return [strict(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    out = {key: strict(value) for key, value in schema.items()}
    declared = "properties" in schema and "additionalProperties" not in schema
    if declared and not schema.get("x-kubernetes-preserve-unknown-fields"):
        out["additionalProperties"] = False
    return out


@functools.cache
def crd_validator(kind: str) -> jsonschema.protocols.Validator:
    """A strict validator of custom resource `kind` (DaskCluster, DaskJob, DaskWorkerGroup, DaskAutoscaler)
    from the CRD that ships inside the installed dask-kubernetes (the one the operator chart installs)."""
    crd = yaml.load((CRDS / f"{kind.lower()}.yaml").read_text(), Loader=yaml.CSafeLoader)  # 6000 lines
    if crd["spec"]["names"]["kind"] != kind:
        raise AssertionError(f"{kind.lower()}.yaml defines {crd['spec']['names']['kind']}")
    (version,) = [v for v in crd["spec"]["versions"] if v["name"] == "v1"]
    schema = copy.deepcopy(version["schema"]["openAPIV3Schema"])
    schema["properties"] |= {  # the API server adds these to every custom resource
        "apiVersion": {"type": "string", "enum": [f"{crd['spec']['group']}/v1"]},
        "kind": {"type": "string", "enum": [kind]},
        "metadata": {
            "type": "object",
            "properties": {
                "name": {"type": "string"},
                "namespace": {"type": "string"},
                "labels": {"type": "object", "additionalProperties": {"type": "string"}},
                "annotations": {"type": "object", "additionalProperties": {"type": "string"}},
            },
            "required": ["name"],
        },
    }
    schema["required"] = sorted({*schema.get("required", []), "apiVersion", "kind", "metadata", "spec"})
    schema = strict(schema)
    jsonschema.Draft7Validator.check_schema(schema)
    return jsonschema.Draft7Validator(schema)


def crd_errors(obj: Obj) -> list[str]:
    validator = crd_validator(obj["kind"])
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(obj)]


def operator_objects(cluster: Obj, namespace: str = "telemetry") -> list[Obj]:
    """What the operator's controller creates from a DaskCluster: its own build functions, with labels merged
    as the controller merges them (cluster labels, then the role's metadata labels)."""
    from dask_kubernetes.operator.controller.controller import (
        build_scheduler_deployment_spec,
        build_scheduler_service_spec,
        build_worker_deployment_spec,
    )

    name = cluster["metadata"]["name"]
    namespace = cluster["metadata"].get("namespace", namespace)
    labels = cluster["metadata"].get("labels", {})
    worker, scheduler = cluster["spec"]["worker"], cluster["spec"]["scheduler"]
    worker_meta, scheduler_meta = worker.get("metadata", {}), scheduler.get("metadata", {})
    return [
        build_scheduler_deployment_spec(
            name,
            copy.deepcopy(scheduler["spec"]),
            scheduler_meta.get("annotations", {}),
            labels | scheduler_meta.get("labels", {}),
        ),
        build_scheduler_service_spec(
            name,
            copy.deepcopy(scheduler["service"]),
            scheduler_meta.get("annotations", {}),
            labels | scheduler_meta.get("labels", {}),
        ),
        build_worker_deployment_spec(
            f"{name}-default",
            namespace,
            name,
            "0123456789",
            copy.deepcopy(worker["spec"]),
            worker_meta.get("annotations", {}),
            labels | worker_meta.get("labels", {}),
        ),
    ]


# ------------------------------------------------------------------------------------------ config schema


def _type_schema(tp: Any) -> Obj:
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        inner = [a for a in args if a is not type(None)]
        if len(inner) != 1 or type(None) not in args:
            raise TypeError(f"unsupported union {tp!r}")
        return {"anyOf": [_type_schema(inner[0]), {"type": "null"}]}
    if origin is Literal:
        return {"enum": list(args)}
    if origin is dict:
        return {"type": "object", "additionalProperties": _type_schema(args[1])}
    if origin is tuple:
        if args[0] is SignalSpec:  # the registry: a mapping name -> spec (null: all defaults)
            spec = {"anyOf": [dataclass_schema(SignalSpec), {"type": "null"}]}
            return {
                "type": "object",
                "propertyNames": {"pattern": "^[a-z][a-z0-9_]*$"},
                "additionalProperties": spec,
            }
        return {"type": "array", "items": _type_schema(args[0])}
    if dataclasses.is_dataclass(tp):
        return dataclass_schema(tp)  # type: ignore[arg-type]
    simple = {bool: "boolean", int: "integer", float: "number", str: "string", Secret: "string"}
    if tp in simple:
        return {"type": simple[tp]}
    raise TypeError(f"unsupported config type {tp!r}")


def dataclass_schema(cls: type[Any]) -> Obj:
    """JSON Schema of one section of the config tree: its fields, types and docs; unknown keys rejected."""
    hints = typing.get_type_hints(cls)
    properties = {}
    for f in dataclasses.fields(cls):
        if cls is SignalSpec and f.name == "name":  # a signal's name is its key in the registry
            continue
        properties[f.name] = {"description": f.metadata["doc"], **_type_schema(hints[f.name])}
    return {"type": "object", "additionalProperties": False, "properties": properties}


def config_block_schema() -> Obj:
    """The schema of the chart's `config` value: the sections of TelemetryConfig the chart does not manage."""
    schema = dataclass_schema(TelemetryConfig)
    schema["properties"] = {k: v for k, v in schema["properties"].items() if k not in CHART_MANAGED_SECTIONS}
    schema["description"] = (
        "telemetry config sections (docs/configuration.md); fleet, store, run and cluster come from the "
        "chart's own values. Generated from telemetry/config.py: "
        "`python tests/kube.py --write-config-schema`."
    )
    return schema


def _write_config_schema() -> None:
    path = CHART / "values.schema.json"
    schema = json.loads(path.read_text())
    schema["properties"]["config"] = config_block_schema()
    path.write_text(json.dumps(schema, indent=2) + "\n")
    print(f"wrote the config block of {path}")


if __name__ == "__main__":
    if sys.argv[1:] != ["--write-config-schema"]:
        sys.exit("usage: python tests/kube.py --write-config-schema")
    _write_config_schema()
