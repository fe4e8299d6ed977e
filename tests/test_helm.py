"""The Helm chart helm/telemetry, rendered by the real `helm` (no cluster): lint, schema validation of every
rendered object (Kubernetes' schemas, the operator's CRDs), the values schema, security defaults, run
semantics, the config it writes (loaded by telemetry's own loader), networking, NOTES.txt and `helm test`."""

from __future__ import annotations

import copy
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import jsonschema
import kubernetes_validate
import pytest
import yaml
from kube import (
    CHART,
    DASK,
    Obj,
    by_kind,
    config_block_schema,
    crd_errors,
    dask_command_options,
    helm,
    helm_fails,
    one,
    operator_objects,
    pod_specs,
    render,
    restricted_problems,
    validate_builtin,
)

from telemetry import __version__
from telemetry.cli import main
from telemetry.config import config_to_dict, load_config
from telemetry.contract.envelope import ROBOT_ID_RE
from telemetry.run.cluster import SCHEDULER_COMMAND, WORKER_COMMAND, WORKER_ENV, cluster_spec

if TYPE_CHECKING:
    from conftest import DaskProcesses

NAMESPACE = "telemetry"
SECRET = "telemetry-s3"

# value sets: the defaults, each option on its own, and everything on at once
VALUE_SETS: dict[str, Obj] = {
    "default": {},
    "once": {"run": {"mode": "once", "start": "2026-11-01", "end": "2026-11-30"}},
    "minio": {
        "store": {
            "rawUrl": "s3://robots/raw",
            "outUrl": "s3://robots/out",
            "s3": {"endpointUrl": "http://minio.minio.svc:9000", "credentials": {"existingSecret": SECRET}},
        }
    },
    "aws-iam-role": {
        "store": {"s3": {"region": "eu-west-1"}},
        "serviceAccount": {"annotations": {"eks.amazonaws.com/role-arn": "arn:aws:iam::123456789012:role/t"}},
    },
    "adaptive": {"dask": {"adaptive": {"enabled": True, "minimum": 0, "maximum": 20}}},
    "network-policy": {"networkPolicy": {"enabled": True}},
    "everything": {
        "image": {"repository": "registry.example.com/robots/telemetry", "digest": "sha256:" + "ab" * 32},
        "imagePullSecrets": ["regcred"],
        "fleet": "acme-dc4",
        "run": {"verbose": True, "robots": ["amr-0001", "amr-0002"], "suspend": True, "backoffLimit": 4},
        "alerts": {"webhook": {"existingSecret": "oncall-webhook", "urlKey": "hook"}},
        "store": {
            "s3": {
                "endpointUrl": "https://s3.eu-west-1.amazonaws.com",
                "region": "eu-west-1",
                "credentials": {"existingSecret": SECRET, "sessionTokenKey": "AWS_SESSION_TOKEN"},
            }
        },
        "dask": {
            "threadsPerWorker": 2,
            "memoryLimit": "3GiB",
            "adaptive": {"enabled": True, "minimum": 1, "maximum": 8},
        },
        "dashboard": {
            "service": {
                "type": "LoadBalancer",
                "port": 80,
                "annotations": {"service.beta.kubernetes.io/aws-load-balancer-internal": "true"},
                "loadBalancerSourceRanges": ["10.0.0.0/8"],
            }
        },
        "networkPolicy": {
            "enabled": True,
            "dashboardFrom": [
                {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "ingress"}}}
            ],
        },
        "serviceAccount": {"annotations": {"eks.amazonaws.com/role-arn": "arn:aws:iam::123456789012:role/t"}},
        "podAnnotations": {"prometheus.io/scrape": "true"},
        "nodeSelector": {"pool": "batch"},
        "tolerations": [{"key": "batch", "operator": "Exists", "effect": "NoSchedule"}],
        "affinity": {
            "nodeAffinity": {
                "requiredDuringSchedulingIgnoredDuringExecution": {
                    "nodeSelectorTerms": [
                        {"matchExpressions": [{"key": "pool", "operator": "In", "values": ["b"]}]}
                    ]
                }
            }
        },
        "config": {
            "labels": {"mode": "grid", "horizon_s": 600},
            "features": {"windows_s": [42, 300]},
            "extract": {"ts_slack_s": 1800},
        },
    },
}


def objects(name: str, **kwargs: Any) -> list[Obj]:
    return render(VALUE_SETS[name], namespace=NAMESPACE, **kwargs)


def run_pod(objs: list[Obj]) -> Obj:
    for obj in objs:
        if obj["kind"] in ("CronJob", "Job"):
            (_, pod), *_ = pod_specs(obj)
            return pod
    raise AssertionError("no CronJob or Job rendered")


def container(pod: Obj, name: str) -> Obj:
    (found,) = [c for c in pod["containers"] if c["name"] == name]
    return found


def rendered_config(objs: list[Obj], tmp_path: Path) -> Path:
    path = tmp_path / "telemetry.yaml"
    path.write_text(one(objs, "ConfigMap")["data"]["telemetry.yaml"])
    path.chmod(0o444)  # as mounted (defaultMode 0444)
    return path


def env_names(c: Obj) -> dict[str, Obj]:
    return {e["name"]: e for e in c.get("env", [])}


# ------------------------------------------------------------------------------------------ lint and schemas


@pytest.mark.parametrize("name", ["default", "everything"])
def test_chart_passes_helm_lint_strict(name: str, tmp_path: Path) -> None:
    values = tmp_path / "values.json"
    values.write_text(json.dumps(VALUE_SETS[name]))
    done = helm("lint", "--strict", str(CHART), "--values", str(values), "--namespace", NAMESPACE)
    assert "0 chart(s) failed" in done.stdout, done.stdout


_COMMON_KINDS = ["ConfigMap", "DaskCluster", "Pod", "Role", "RoleBinding", "Service", "ServiceAccount"]
EXPECTED_KINDS = {
    "default": sorted([*_COMMON_KINDS, "CronJob"]),
    "once": sorted([*_COMMON_KINDS, "Job"]),
    "adaptive": sorted([*_COMMON_KINDS, "CronJob", "DaskAutoscaler"]),
    "network-policy": sorted([*_COMMON_KINDS, "CronJob", *["NetworkPolicy"] * 3]),
}


@pytest.mark.parametrize("name", list(VALUE_SETS))
def test_every_builtin_object_validates_strictly_against_kubernetes(name: str) -> None:
    objs = objects(name)
    builtin = [o for o in objs if not o["apiVersion"].startswith("kubernetes.dask.org/")]
    for obj in builtin:
        validate_builtin(obj)
    if name in EXPECTED_KINDS:
        assert sorted(o["kind"] for o in objs) == EXPECTED_KINDS[name]
    assert len(builtin) >= 7


@pytest.mark.parametrize("name", list(VALUE_SETS))
def test_dask_resources_validate_against_the_crds_shipped_with_dask_kubernetes(name: str) -> None:
    objs = objects(name)
    custom = [o for o in objs if o["apiVersion"].startswith("kubernetes.dask.org/")]
    assert {o["kind"] for o in custom} <= {"DaskCluster", "DaskAutoscaler"}
    for obj in custom:
        assert crd_errors(obj) == [], obj["kind"]
    # what the operator makes of the DaskCluster must be valid Kubernetes too
    for obj in operator_objects(one(objs, "DaskCluster"), NAMESPACE):
        validate_builtin(obj)


def test_the_validators_catch_what_a_broken_template_would_render() -> None:
    objs = copy.deepcopy(objects("default"))
    cron = one(objs, "CronJob")
    cron["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]["securityContxt"] = {}
    with pytest.raises(kubernetes_validate.ValidationError):
        validate_builtin(cron)
    cron = one(copy.deepcopy(objects("default")), "CronJob")
    cron["spec"]["jobTemplate"]["spec"]["backoffLimit"] = "2"  # a string where Kubernetes wants an integer
    with pytest.raises(kubernetes_validate.ValidationError):
        validate_builtin(cron)
    cluster = one(objs, "DaskCluster")
    cluster["spec"]["worker"]["replica"] = 2  # the API server would silently drop it
    cluster["spec"]["scheduler"]["spec"]["containers"][0]["resources"]["limits"]["cpu"] = 1
    found = crd_errors(cluster)
    assert any("replica" in e for e in found), found
    assert any("limits/cpu" in e for e in found), found


def test_values_schema_rejects_unknown_and_mistyped_values() -> None:
    bad: list[tuple[Obj, str]] = [
        ({"dask": {"wrkers": 2}}, "Additional property wrkers is not allowed"),
        ({"dask": {"workers": "two"}}, "dask.workers: Invalid type. Expected: integer"),
        ({"dask": {"workers": 0}}, "dask.workers: Must be greater than or equal to 1"),
        ({"run": {"mode": "daily"}}, "run.mode: run.mode must be one of the following"),
        ({"run": {"start": "last-week"}}, "run.start: Does not match pattern"),
        ({"run": {"backoffLimit": 1.5}}, "run.backoffLimit: Invalid type. Expected: integer"),
        ({"run": {"robots": ["amr 7"]}}, "run.robots.0: Does not match pattern"),
        ({"store": {"rawUrl": "data/raw"}}, "store.rawUrl: Does not match pattern"),
        # credentials only by Secret name: there is no key for a secret value
        (
            {"store": {"s3": {"credentials": {"secretAccessKey": "abc"}}}},
            "Additional property secretAccessKey",
        ),
        (
            {"dashboard": {"service": {"type": "Ingress"}}},
            "dashboard.service.type: dashboard.service.type must be",
        ),
        (
            {"podSecurityContext": {"runAsUser": 0}},
            "podSecurityContext.runAsUser: Must be greater than or equal",
        ),
        ({"dask": {"worker": {"resources": {"limits": None}}}}, "dask.worker.resources: limits is required"),
        (
            {"run": {"resources": {"requests": {"memory": None}}}},
            "run.resources.requests: memory is required",
        ),
        ({"dask": {"worker": {"resources": {"limits": {"memory": "4GB"}}}}}, "Does not match pattern"),
        ({"unknownTopLevel": True}, "Additional property unknownTopLevel is not allowed"),
        # the pipeline block: telemetry's own keys and types, and not the sections the chart manages
        (
            {"config": {"labels": {"horizon": 600}}},
            "config.labels: Additional property horizon is not allowed",
        ),
        ({"config": {"labels": {"horizon_s": "10 min"}}}, "config.labels.horizon_s: Invalid type"),
        ({"config": {"labels": {"mode": "events"}}}, "config.labels.mode: config.labels.mode must be one of"),
        (
            {"config": {"store": {"raw_url": "s3://x/raw"}}},
            "config: Additional property store is not allowed",
        ),
        ({"config": {"signals": {"motor": {"rate": 1}}}}, "Additional property rate is not allowed"),
    ]
    for values, message in bad:
        error = helm_fails(values)
        assert message in error, f"{values}: expected {message!r} in\n{error}"


def test_values_schema_accepts_the_documented_examples() -> None:
    # the example of values.yaml's config comment, a custom signal registry and explicit nulls
    values = {
        "config": {
            "labels": {"mode": "grid", "horizon_s": 600},
            "features": {"windows_s": [42, 300], "levels": {"mission.state": ["IDLE", "EXECUTING"]}},
            "signals": {"battery": {"numeric": ["voltage"], "rate_hz": 1.0}, "events": None},
        },
        "run": {"end": None, "start": "2026-11-02"},
        "store": {"s3": {"endpointUrl": None}},
    }
    assert one(render(values), "ConfigMap")


def test_adaptive_minimum_above_maximum_fails_with_a_message() -> None:
    error = helm_fails({"dask": {"adaptive": {"enabled": True, "minimum": 5, "maximum": 3}}})
    assert "dask.adaptive.minimum (5) must not exceed dask.adaptive.maximum (3)" in error


def _values_keys(path: Path) -> list[tuple[int, str, bool]]:
    """(line number, dotted key, documented) for every key of values.yaml outside Kubernetes-shaped maps."""
    lines = path.read_text().splitlines()
    out, stack = [], []  # stack of (indent, key)
    opaque = ("resources", "config")  # config: the generated block of telemetry config sections
    for number, line in enumerate(lines, start=1):
        match = re.match(r"^( *)([A-Za-z][A-Za-z0-9_-]*):(.*)$", line)
        if not match:
            continue
        indent, key, rest = len(match.group(1)), match.group(2), match.group(3)
        while stack and stack[-1][0] >= indent:
            stack.pop()
        parents = [k for _, k in stack]
        stack.append((indent, key))
        if any(p in opaque for p in parents):
            continue
        previous = lines[number - 2].strip() if number > 1 else ""
        documented = "#" in rest or previous.startswith("#")
        out.append((number, ".".join([*parents, key]), documented))
    return out


def _schema_keys(schema: Obj, prefix: str = "") -> set[str]:
    keys = set()
    for key, sub in schema.get("properties", {}).items():
        dotted = f"{prefix}{key}"
        keys.add(dotted)
        if key not in ("resources", "config"):
            keys |= _schema_keys(sub, dotted + ".")
    return keys


def test_values_yaml_documents_every_key_once_and_matches_the_schema() -> None:
    keys = _values_keys(CHART / "values.yaml")
    undocumented = [f"line {n}: {k}" for n, k, documented in keys if not documented]
    assert undocumented == []
    names = [k for _, k, _ in keys]
    assert len(names) == len(set(names)), "a key appears twice"
    schema = json.loads((CHART / "values.schema.json").read_text())
    assert set(names) == _schema_keys(schema)

    # every object of the schema rejects unknown keys
    def closed(node: Any, where: str) -> list[str]:
        if not isinstance(node, dict):
            return []
        problems = []
        if (
            node.get("type") == "object"
            and "properties" in node
            and node.get("additionalProperties") is not False
        ):
            problems.append(where)
        for key, value in node.items():
            if isinstance(value, dict):
                problems += closed(value, f"{where}/{key}")
        return problems

    assert closed(schema, "") == []


def test_values_yaml_defaults_satisfy_the_schema() -> None:
    schema = json.loads((CHART / "values.schema.json").read_text())
    jsonschema.Draft7Validator.check_schema(schema)
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    assert list(jsonschema.Draft7Validator(schema).iter_errors(values)) == []


def test_config_block_schema_is_generated_from_the_config_tree() -> None:
    schema = json.loads((CHART / "values.schema.json").read_text())
    assert schema["properties"]["config"] == config_block_schema(), (
        "telemetry/config.py changed: run `.venv/bin/python tests/kube.py --write-config-schema`"
    )
    robots = schema["properties"]["run"]["properties"]["robots"]["items"]["pattern"]
    assert robots == ROBOT_ID_RE.pattern


def test_chart_app_version_is_the_package_version_and_the_default_image_tag() -> None:
    chart = yaml.safe_load((CHART / "Chart.yaml").read_text())
    assert chart["appVersion"] == __version__
    images = {c["image"] for o in objects("default") for _, pod in pod_specs(o) for c in pod["containers"]}
    default_image = cluster_spec(load_config(env={}))["spec"]["worker"]["spec"]["containers"][0]["image"]
    assert images == {f"telemetry:{__version__}"} == {default_image}
    images = {c["image"] for o in objects("everything") for _, pod in pod_specs(o) for c in pod["containers"]}
    assert images == {"registry.example.com/robots/telemetry@sha256:" + "ab" * 32}


# ------------------------------------------------------------------------------------------ security


@pytest.mark.parametrize("name", list(VALUE_SETS))
def test_every_pod_is_restricted_read_only_and_bounded(name: str) -> None:
    objs = objects(name)
    pods = [(where, pod) for obj in objs for where, pod in pod_specs(obj)]
    assert len(pods) == 4  # the run, the scheduler, the workers, the helm test
    for where, pod in pods:
        assert restricted_problems(pod) == [], where
        assert pod["securityContext"]["runAsUser"] == 1000
        assert pod["serviceAccountName"] == "telemetry"


def test_the_restricted_check_finds_violations() -> None:
    pod = copy.deepcopy(run_pod(objects("default")))
    pod["automountServiceAccountToken"] = True
    c = pod["containers"][0]
    c["securityContext"]["readOnlyRootFilesystem"] = False
    c["securityContext"]["capabilities"] = {"drop": ["NET_RAW"]}
    del c["resources"]["limits"]["cpu"]
    pod["volumes"] = [v for v in pod["volumes"] if v["name"] != "tmp"] + [
        {"name": "tmp", "hostPath": {"path": "/"}}
    ]
    assert restricted_problems(pod) == [
        "automountServiceAccountToken is not false",
        "volume tmp has a type the restricted standard forbids",
        "run: capabilities are not exactly drop [ALL]",
        "run: readOnlyRootFilesystem is not true",
        "run: /tmp is not an emptyDir",
        "run: no cpu limits",
    ]


def test_credentials_come_only_from_the_existing_secret(tmp_path: Path) -> None:
    objs = objects("everything")
    config_text = one(objs, "ConfigMap")["data"]["telemetry.yaml"]
    assert "AWS_" not in config_text and SECRET not in config_text
    config = load_config(rendered_config(objs, tmp_path), env={})
    assert config.store.s3.key is None and config.store.s3.secret is None  # botocore reads AWS_* itself
    expected = {
        "AWS_ACCESS_KEY_ID": "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY": "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN": "AWS_SESSION_TOKEN",
    }
    cluster = one(objs, "DaskCluster")
    readers = {
        "run": container(run_pod(objs), "run"),
        "worker": container(cluster["spec"]["worker"]["spec"], "worker"),
    }
    for role, c in readers.items():
        env = env_names(c)
        for var, key in expected.items():
            assert env[var] == {"name": var, "valueFrom": {"secretKeyRef": {"name": SECRET, "key": key}}}, (
                role
            )
    # the scheduler and the helm test never read the store: no credentials there
    non_readers = [container(cluster["spec"]["scheduler"]["spec"], "scheduler")]
    non_readers += one(objs, "Pod")["spec"]["containers"]
    for c in non_readers:
        assert not any(name.startswith("AWS_") for name in env_names(c)), c["name"]
    # no literal value of any env var anywhere except HOME (and the workers' Dask setting)
    for obj in objs:
        for _, pod in pod_specs(obj):
            for c in pod["containers"]:
                literal = [e["name"] for e in c.get("env", []) if "value" in e]
                assert literal == ["HOME", *(WORKER_ENV if c["name"] == "worker" else [])], c["name"]
    # without a Secret (an IAM role): no AWS_* variables at all
    for obj in objects("aws-iam-role"):
        for _, pod in pod_specs(obj):
            for c in pod["containers"]:
                assert not any(name.startswith("AWS_") for name in env_names(c))


def test_dashboard_is_not_exposed_outside_the_cluster_by_default() -> None:
    objs = objects("default")
    services = by_kind(objs, "Service")
    assert [s["spec"]["type"] for s in services] == ["ClusterIP"]
    cluster = one(objs, "DaskCluster")
    assert cluster["spec"]["scheduler"]["service"]["type"] == "ClusterIP"
    # published on request, dashboard port only: never the scheduler's comm port
    (dashboard,) = by_kind(objects("everything"), "Service")
    assert dashboard["spec"]["type"] == "LoadBalancer"
    assert dashboard["spec"]["loadBalancerSourceRanges"] == ["10.0.0.0/8"]
    assert [p["targetPort"] for p in dashboard["spec"]["ports"]] == ["http-dashboard"]
    assert one(objects("everything"), "DaskCluster")["spec"]["scheduler"]["service"]["type"] == "ClusterIP"


def test_service_account_has_no_token_and_the_role_grants_nothing() -> None:
    objs = objects("default")
    account = one(objs, "ServiceAccount")
    assert account["automountServiceAccountToken"] is False
    assert one(objs, "Role")["rules"] == []
    binding = one(objs, "RoleBinding")
    assert binding["roleRef"] == {
        "apiGroup": "rbac.authorization.k8s.io",
        "kind": "Role",
        "name": "telemetry",
    }
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "telemetry", "namespace": NAMESPACE}]
    # an existing account (e.g. bound to a cloud IAM role) instead
    objs = render({"serviceAccount": {"create": False, "name": "robots-s3"}, "rbac": {"create": False}})
    assert by_kind(objs, "ServiceAccount") == by_kind(objs, "Role") == []
    assert {pod["serviceAccountName"] for o in objs for _, pod in pod_specs(o)} == {"robots-s3"}


# ------------------------------------------------------------------------------------------ runs


def test_cronjob_never_overlaps_retries_with_backoff_and_prunes_history() -> None:
    cron = one(objects("default"), "CronJob")
    spec = cron["spec"]
    assert spec["concurrencyPolicy"] == "Forbid"
    assert spec["schedule"] == "30 2 * * *" and spec["timeZone"] == "Etc/UTC"
    assert spec["startingDeadlineSeconds"] == 3600
    assert (spec["successfulJobsHistoryLimit"], spec["failedJobsHistoryLimit"]) == (3, 5)
    job = spec["jobTemplate"]["spec"]
    assert job["backoffLimit"] == 2 and job["activeDeadlineSeconds"] == 21600
    assert job["podFailurePolicy"]["rules"] == [
        {"action": "Ignore", "onPodConditions": [{"type": "DisruptionTarget", "status": "True"}]}
    ]
    assert job["template"]["spec"]["restartPolicy"] == "Never"  # each retry is a new pod with its own log
    assert len(cron["metadata"]["name"]) <= 52
    everything = one(objects("everything"), "CronJob")["spec"]
    assert everything["suspend"] is True and everything["jobTemplate"]["spec"]["backoffLimit"] == 4


def test_once_mode_is_one_job_per_revision_deleted_after_a_week() -> None:
    objs = objects("once")
    assert by_kind(objs, "CronJob") == []
    job = one(objs, "Job")
    assert job["metadata"]["name"] == "telemetry-run-1"  # .Release.Revision: a new Job on every upgrade
    assert job["spec"]["ttlSecondsAfterFinished"] == 604800
    assert job["spec"]["backoffLimit"] == 2
    assert "ttlSecondsAfterFinished" not in one(objects("default"), "CronJob")["spec"]["jobTemplate"]["spec"]


def test_run_container_runs_telemetry_run_with_the_mounted_config() -> None:
    pod = run_pod(objects("default"))
    run = container(pod, "run")
    assert "command" not in run  # the image's entry point: tini (forwards SIGTERM) -> telemetry
    assert run["args"] == ["run", "--config", "/etc/telemetry/telemetry.yaml"]
    mounts = {m["mountPath"]: m for m in run["volumeMounts"]}
    volume = {v["name"]: v for v in pod["volumes"]}[mounts["/etc/telemetry"]["name"]]
    assert volume["configMap"] == {"name": "telemetry-config", "defaultMode": 0o444}
    assert mounts["/etc/telemetry"]["readOnly"] is True
    assert env_names(run)["HOME"]["value"] == "/tmp"  # the read-only root has no writable home
    assert container(run_pod(objects("everything")), "run")["args"][-1] == "--verbose"


def test_configmap_is_a_config_file_the_project_loader_accepts(tmp_path: Path) -> None:
    objs = objects("default")
    config = load_config(rendered_config(objs, tmp_path), env={})
    assert config.fleet == "acme-dc3"
    assert (config.store.raw_url, config.store.out_url) == ("s3://telemetry/raw", "s3://telemetry/out")
    assert (config.run.start, config.run.end, config.run.robots, config.run.stages) == (
        "yesterday",
        None,
        (),
        ("features", "train", "score"),
    )
    # the loop's defaults: grid labels for a risk at every cutoff, weekly training on four weeks
    assert (config.labels.mode, config.train.weekday, config.train.span_days) == ("grid", 1, 28)
    assert config.alerts.webhook_url is None
    assert config.cluster.kind == "address"
    cluster = one(objs, "DaskCluster")["metadata"]["name"]
    assert config.cluster.address == f"tcp://{cluster}-scheduler.telemetry.svc:8786"
    assert config.cluster.connect_timeout_s == 300
    # everything else is the project's defaults
    defaults = config_to_dict(load_config(env={}))
    for section in ("signals", "extract", "align", "features", "alerts"):
        assert config_to_dict(config)[section] == defaults[section]
    assert {**config_to_dict(config)["labels"], "mode": "event"} == defaults["labels"]


def test_values_and_the_config_block_reach_the_config_file(tmp_path: Path) -> None:
    objs = objects("everything")
    config = load_config(rendered_config(objs, tmp_path), env={})
    assert config.fleet == "acme-dc4"
    assert config.run.robots == ("amr-0001", "amr-0002")
    assert config.store.s3.endpoint_url == "https://s3.eu-west-1.amazonaws.com"
    assert config.store.s3.region == "eu-west-1"
    assert (config.cluster.threads_per_worker, config.cluster.memory_limit) == (2, "3GiB")
    assert (config.labels.mode, config.labels.horizon_s) == ("grid", 600.0)
    assert config.features.windows_s == (42, 300)
    assert config.extract.ts_slack_s == 1800.0
    (tmp_path / "once").mkdir()
    once = load_config(rendered_config(objects("once"), tmp_path / "once"), env={})
    assert (once.run.start, once.run.end) == ("2026-11-01", "2026-11-30")


def test_runs_address_the_scheduler_service_the_operator_creates() -> None:
    for release, namespace in (("telemetry", "telemetry"), ("nightly", "robots")):
        objs = render({}, release=release, namespace=namespace)
        cluster = one(objs, "DaskCluster")
        deployment, service, _ = operator_objects(cluster, namespace)
        text = one(objs, "ConfigMap")["data"]["telemetry.yaml"]
        address = yaml.safe_load(text)["cluster"]["address"]
        assert address == f"tcp://{service['metadata']['name']}.{namespace}.svc:8786"
        assert 8786 in [p["port"] for p in service["spec"]["ports"]]
        # the dashboard Service selects the pod the operator's scheduler Deployment makes
        dashboard = one(objs, "Service")
        pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
        assert dashboard["spec"]["selector"].items() <= pod_labels.items()
        ports = deployment["spec"]["template"]["spec"]["containers"][0]["ports"]
        assert dashboard["spec"]["ports"][0]["targetPort"] in [p["name"] for p in ports]
    name = one(render({}, release="nightly", namespace="robots"), "DaskCluster")["metadata"]["name"]
    assert re.fullmatch(r"nightly-telemetry-[0-9a-f]{8}", name)


def test_a_change_of_the_dask_pods_renames_the_cluster_so_that_upgrades_replace_it() -> None:
    """The operator creates the pods of a DaskCluster once and then only follows its worker count, so an
    upgrade that changes the pods (a new image, say) must create a new DaskCluster: its name carries a hash
    of the pods, and everything that addresses it follows."""

    def names(values: Obj) -> tuple[str, str, str]:
        objs = render(values)
        cluster = one(objs, "DaskCluster")["metadata"]["name"]
        address = yaml.safe_load(one(objs, "ConfigMap")["data"]["telemetry.yaml"])["cluster"]["address"]
        selector = one(objs, "Service")["spec"]["selector"]["dask.org/cluster-name"]
        assert address == f"tcp://{cluster}-scheduler.telemetry.svc:8786" and selector == cluster
        return cluster, one(objs, "Service")["metadata"]["name"], one(objs, "CronJob")["metadata"]["name"]

    base = names({})
    for change in (
        {"image": {"tag": "9.9.9"}},
        {"dask": {"memoryLimit": "3GiB"}},
        {"dask": {"worker": {"resources": {"limits": {"memory": "8Gi"}}}}},
        {"store": {"s3": {"credentials": {"existingSecret": SECRET}}}},
        {"podAnnotations": {"team": "robots"}},
    ):
        changed = names(change)
        assert changed[0] != base[0], change
        assert changed[1:] == base[1:] == ("telemetry-dashboard", "telemetry-run"), change  # stable names
    # what the operator does follow, or what does not concern the pods, keeps the cluster
    for same in ({"dask": {"workers": 7}}, {"run": {"schedule": "0 * * * *"}}, {"fleet": "acme-dc9"}):
        assert names(same) == base, same


def test_long_release_names_keep_every_name_within_kubernetes_limits() -> None:
    release = "a-very-long-release-name-for-the-robot-fleet-telemetr"  # 53: helm's maximum
    for values in ({}, {"run": {"mode": "once"}, "networkPolicy": {"enabled": True}}):
        objs = render(values, release=release, namespace=NAMESPACE)
        for obj in objs:
            name = obj["metadata"]["name"]
            assert re.fullmatch(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?", name) and len(name) <= 63, name
        assert len(one(objs, "DaskCluster")["metadata"]["name"]) <= 53  # <name>-scheduler is a DNS label
        for cron in by_kind(objs, "CronJob"):
            assert len(cron["metadata"]["name"]) <= 52
        for obj in objs:
            for labels in _all_labels(obj):
                assert all(len(v) <= 63 for v in labels.values()), labels
        config = yaml.safe_load(one(objs, "ConfigMap")["data"]["telemetry.yaml"])
        load_config(env={}, overrides=[f"cluster.address={config['cluster']['address']}"])


def _all_labels(node: Any) -> list[dict[str, str]]:
    found = []
    if isinstance(node, dict):
        for key, value in node.items():
            is_labels = key in ("labels", "matchLabels", "selector") and isinstance(value, dict)
            if is_labels and all(isinstance(v, str) for v in value.values()):
                found.append(value)
            found += _all_labels(value)
    elif isinstance(node, list):
        for item in node:
            found += _all_labels(item)
    return found


# ------------------------------------------------------------------------------------------ Dask


def test_dask_commands_exist_in_the_installed_distributed() -> None:
    assert DASK.is_file()  # the `dask` script the image's entry point runs
    assert not (DASK.parent / "dask-worker").exists()  # the name dask-kubernetes still defaults to
    for name in ("default", "everything"):
        cluster = one(objects(name), "DaskCluster")
        for role, command in (("worker", WORKER_COMMAND), ("scheduler", SCHEDULER_COMMAND)):
            args = cluster["spec"][role]["spec"]["containers"][0]["args"]
            assert args[:2] == list(command)
            options = dask_command_options(args[1])
            flags = [a for a in args if a.startswith("--")]
            assert flags and set(flags) <= options, f"`dask {args[1]}` lacks {set(flags) - options}"
    assert "--nthreads" in dask_command_options("worker") and "--no-such-flag" not in dask_command_options(
        "worker"
    )


# chart values, and the telemetry config for which `telemetry cluster-spec` prints the same Dask pods
EQUIVALENT = [
    ({}, ["cluster.kubernetes.worker_cpu_limit=1", "cluster.kubernetes.scheduler_cpu_limit=1"]),
    (
        {
            "dask": {
                "workers": 5,
                "threadsPerWorker": 2,
                "memoryLimit": "3GiB",
                "worker": {
                    "resources": {"requests": {"cpu": "500m", "memory": "2Gi"}, "limits": {"cpu": "2"}}
                },
            },
            "image": {"repository": "registry.example.com/telemetry", "tag": "0.1.0", "pullPolicy": "Always"},
            "podSecurityContext": {"runAsUser": 2000, "runAsGroup": 2000, "fsGroup": 2000},
        },
        [
            "cluster.workers=5",
            "cluster.threads_per_worker=2",
            "cluster.memory_limit=3GiB",
            "cluster.kubernetes.worker_cpu_request=0.5",
            "cluster.kubernetes.worker_cpu_limit=2",
            "cluster.kubernetes.worker_memory_request=2Gi",
            "cluster.kubernetes.scheduler_cpu_limit=1",
            "cluster.kubernetes.image=registry.example.com/telemetry:0.1.0",
            "cluster.kubernetes.image_pull_policy=Always",
            "cluster.kubernetes.run_as_user=2000",
        ],
    ),
]


@pytest.mark.parametrize(("values", "overrides"), EQUIVALENT)
def test_chart_dask_pods_match_telemetry_cluster_spec(values: Obj, overrides: list[str]) -> None:
    """The chart writes its DaskCluster in a template; `telemetry cluster-spec` builds one in Python. For
    equivalent settings their pods must agree on everything that matters: commands, image, resources,
    security, scratch volume and environment (the chart adds the service account, probes and size limits)."""
    rendered = one(render(values), "DaskCluster")
    chart, name = rendered["spec"], rendered["metadata"]["name"]
    spec = cluster_spec(load_config(env={}, overrides=[*overrides, f"cluster.kubernetes.name={name}"]))[
        "spec"
    ]
    assert chart["worker"]["replicas"] == spec["worker"]["replicas"]
    for role in ("worker", "scheduler"):
        mine, theirs = chart[role]["spec"], spec[role]["spec"]
        for key in ("securityContext", "automountServiceAccountToken"):
            assert mine[key] == theirs[key], (role, key)
        assert [v["name"] for v in mine["volumes"]] == [v["name"] for v in theirs["volumes"]]
        (c_mine,), (c_theirs,) = mine["containers"], theirs["containers"]
        for key in (
            "name",
            "image",
            "imagePullPolicy",
            "args",
            "env",
            "ports",
            "securityContext",
            "volumeMounts",
        ):
            assert c_mine[key] == c_theirs[key], (role, key)
        assert _normal(c_mine["resources"]) == _normal(c_theirs["resources"]), role
    assert chart["scheduler"]["service"] == spec["scheduler"]["service"]
    assert chart["idleTimeout"] == spec["idleTimeout"] == 0


def _normal(resources: Obj) -> Obj:
    def cpu(value: Any) -> float:
        text = str(value)
        return float(text[:-1]) / 1000 if text.endswith("m") else float(text)

    return {
        part: {k: (cpu(v) if k == "cpu" else str(v)) for k, v in values.items()}
        for part, values in resources.items()
    }


def test_adaptive_scaling_is_a_daskautoscaler_starting_at_the_minimum() -> None:
    objs = objects("adaptive")
    scaler, cluster = one(objs, "DaskAutoscaler"), one(objs, "DaskCluster")
    assert scaler["spec"] == {"cluster": cluster["metadata"]["name"], "minimum": 0, "maximum": 20}
    assert cluster["spec"]["worker"]["replicas"] == 0
    assert one(objects("default"), "DaskCluster")["spec"]["worker"]["replicas"] == 2
    assert by_kind(objects("default"), "DaskAutoscaler") == []


# ------------------------------------------------------------------------------------------ network


def _selects(selector: Obj, labels: dict[str, str]) -> bool:
    return set(selector.get("matchLabels", {}).items()) <= set(labels.items())


def _allowed(policy: Obj, port: int, pod_labels: dict[str, str], namespace: str) -> bool:
    """Whether an ingress rule of `policy` admits a pod with `pod_labels` in `namespace` on `port`."""
    for rule in policy["spec"].get("ingress", []):
        if "ports" in rule and port not in [p["port"] for p in rule["ports"]]:
            continue
        for peer in rule.get("from", []):
            if "namespaceSelector" in peer:
                if _selects(peer["namespaceSelector"], {"kubernetes.io/metadata.name": namespace}):
                    return True
            elif namespace == NAMESPACE and _selects(peer["podSelector"], pod_labels):
                return True
    return False


def test_network_policies_admit_the_release_and_the_operator_only() -> None:
    objs = objects("everything")
    policies = {p["metadata"]["name"]: p for p in by_kind(objs, "NetworkPolicy")}
    assert set(policies) == {"telemetry-scheduler", "telemetry-workers", "telemetry-run"}
    deployment, _, worker_deployment = operator_objects(one(objs, "DaskCluster"), NAMESPACE)
    scheduler_pod = deployment["spec"]["template"]["metadata"]["labels"]
    worker_pod = worker_deployment["spec"]["template"]["metadata"]["labels"]
    run_labels = one(objs, "CronJob")["spec"]["jobTemplate"]["spec"]["template"]["metadata"]["labels"]
    test_labels = one(objs, "Pod")["metadata"]["labels"]
    stranger = {"app": "something-else"}
    scheduler, workers, run = (policies[f"telemetry-{n}"] for n in ("scheduler", "workers", "run"))

    assert _selects(scheduler["spec"]["podSelector"], scheduler_pod)
    assert not _selects(scheduler["spec"]["podSelector"], worker_pod)
    for labels in (worker_pod, run_labels, test_labels):
        assert _allowed(scheduler, 8786, labels, NAMESPACE)
    assert _allowed(scheduler, 8786, {}, "dask-operator") and _allowed(scheduler, 8787, {}, "dask-operator")
    assert _allowed(scheduler, 8787, {}, "ingress")
    assert not _allowed(scheduler, 8786, stranger, NAMESPACE)
    assert not _allowed(scheduler, 8787, run_labels, NAMESPACE)
    assert not _allowed(scheduler, 8786, {}, "ingress")

    assert _selects(workers["spec"]["podSelector"], worker_pod)
    assert not _selects(workers["spec"]["podSelector"], scheduler_pod)
    for labels in (scheduler_pod, worker_pod):
        assert _allowed(workers, 40123, labels, NAMESPACE)  # workers listen on random ports
    assert not _allowed(workers, 40123, stranger, NAMESPACE)

    assert _selects(run["spec"]["podSelector"], run_labels)
    assert not _selects(run["spec"]["podSelector"], worker_pod)
    assert run["spec"]["ingress"] == [] and run["spec"]["policyTypes"] == ["Ingress"]
    assert by_kind(objects("default"), "NetworkPolicy") == []


# ---------------------------------------------------------------------------------- NOTES and helm test


def _notes(values: Obj, tmp_path: Path, release: str = "telemetry") -> str:
    """NOTES.txt as `helm install` prints it (helm template skips NOTES, so a copy of the chart renders it
    through `tpl` into a ConfigMap)."""
    chart = tmp_path / "chart"
    shutil.copytree(CHART, chart)
    (chart / "notes.txt").write_text((CHART / "templates" / "NOTES.txt").read_text())
    (chart / "templates" / "zz-notes.yaml").write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: notes\n"
        'data:\n  notes: {{ tpl (.Files.Get "notes.txt") . | toJson }}\n'
    )
    values_file = tmp_path / "values.json"
    values_file.write_text(json.dumps(values))
    done = helm(
        "template",
        release,
        str(chart),
        "-n",
        NAMESPACE,
        "-f",
        str(values_file),
        "--show-only",
        "templates/zz-notes.yaml",
    )
    return str(yaml.safe_load(done.stdout)["data"]["notes"])


def test_notes_print_working_commands(tmp_path: Path) -> None:
    notes = _notes({}, tmp_path)
    objs = objects("default")
    (forward,) = re.findall(r"kubectl port-forward -n (\S+) svc/(\S+) (\d+):(\d+)", notes)
    service = one(objs, "Service")
    assert forward == (
        NAMESPACE,
        service["metadata"]["name"],
        "8787",
        str(service["spec"]["ports"][0]["port"]),
    )
    assert "http://localhost:8787/status" in notes
    (cron,) = re.findall(r"--from=cronjob/(\S+) (\S+)-\$\(date \+%s\)", notes)
    assert cron[0] == one(objs, "CronJob")["metadata"]["name"]
    assert len(cron[1]) + len("-1700000000") <= 63  # a valid Job name
    assert f"kubectl get daskcluster {one(objs, 'DaskCluster')['metadata']['name']} -n {NAMESPACE}" in notes
    assert f"helm test telemetry -n {NAMESPACE}" in notes
    assert "-l app.kubernetes.io/instance=telemetry,app.kubernetes.io/component=run" in notes
    # the selector of the runs selects the run pods
    labels = one(objs, "CronJob")["spec"]["jobTemplate"]["spec"]["template"]["metadata"]["labels"]
    assert (
        labels["app.kubernetes.io/instance"] == "telemetry" and labels["app.kubernetes.io/component"] == "run"
    )


def test_notes_follow_the_mode_and_the_exposure(tmp_path: Path) -> None:
    once = _notes(VALUE_SETS["once"], tmp_path / "once")
    assert "kubectl logs -n telemetry -f job/telemetry-run-1" in once and "cronjob" not in once
    assert "days 2026-11-01..2026-11-30" in once
    published = _notes({"dashboard": {"service": {"type": "LoadBalancer", "port": 80}}}, tmp_path / "lb")
    assert "kubectl port-forward -n telemetry svc/telemetry-dashboard 8787:80" in published
    assert "published by a load balancer (it has no login" in published


def test_alert_webhook_url_reaches_the_run_pod_only_from_its_secret(tmp_path: Path) -> None:
    objs = objects("everything")
    run = container(run_pod(objs), "run")
    hook = env_names(run)["TELEMETRY__ALERTS__WEBHOOK_URL"]
    assert hook["valueFrom"]["secretKeyRef"] == {"name": "oncall-webhook", "key": "hook"}
    assert "oncall-webhook" not in one(objs, "ConfigMap")["data"]["telemetry.yaml"]
    for obj in by_kind(objs, "DaskCluster"):  # workers never see it
        assert "TELEMETRY__ALERTS__WEBHOOK_URL" not in json.dumps(obj)
    assert "TELEMETRY__ALERTS__WEBHOOK_URL" not in json.dumps(run_pod(objects("default")))
    # the loader turns the variable into the alerts.webhook_url secret
    config = load_config(
        rendered_config(objs, tmp_path), env={"TELEMETRY__ALERTS__WEBHOOK_URL": "https://hooks.example/T0K"}
    )
    assert config.alerts.webhook_url is not None and config.alerts.webhook_url.reveal().endswith("/T0K")


def test_notes_show_where_todays_alerts_are(tmp_path: Path) -> None:
    notes = _notes({}, tmp_path / "default")
    assert "aws s3 cp s3://telemetry/out/alerts/fleet=acme-dc3/date=$(date -u +%F)/alerts.jsonl -" in notes
    assert "telemetry models show --out s3://telemetry/out" in notes
    hooked = _notes(VALUE_SETS["everything"], tmp_path / "everything")
    assert "POSTs the new ones to the webhook of Secret oncall-webhook" in hooked
    quiet = _notes({"run": {"stages": ["features"]}}, tmp_path / "features")
    assert "alerts.jsonl" not in quiet


def test_helm_test_hook_runs_config_show_on_the_rendered_config(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in [n for n in os.environ if n.startswith("TELEMETRY__")]:
        monkeypatch.delenv(name)
    objs = objects("everything")
    pod = one(objs, "Pod")
    assert pod["metadata"]["annotations"]["helm.sh/hook"] == "test"
    config = container(pod["spec"], "config")
    assert "command" not in config  # the image's entry point runs telemetry
    assert config["args"] == ["config", "show", "--config", "/etc/telemetry/telemetry.yaml"]
    assert {m["mountPath"] for m in config["volumeMounts"]} == {"/etc/telemetry", "/tmp"}
    path = rendered_config(objs, tmp_path)
    assert main([*config["args"][:3], str(path)]) == 0  # what the console script `telemetry` calls
    assert yaml.safe_load(capsys.readouterr().out) == config_to_dict(load_config(path, env={}))


def test_helm_test_hook_reaches_a_scheduler(dask_cluster_address: DaskProcesses, tmp_path: Path) -> None:
    """The hook's scheduler check, run against a real scheduler (the conftest's processes)."""
    pod = one(objects("default"), "Pod")
    check = container(pod["spec"], "scheduler")
    assert check["command"][:2] == ["python", "-c"]
    code, address, timeout = check["command"][2:]
    cluster = one(objects("default"), "DaskCluster")["metadata"]["name"]
    assert address == f"tcp://{cluster}-scheduler.telemetry.svc:8786" and float(timeout) == 300
    env = {"HOME": str(tmp_path), "PATH": "/usr/bin:/bin"}
    answered, refused = (
        subprocess.Popen(
            [sys.executable, "-c", code, target, wait],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        for target, wait in ((dask_cluster_address.address, "30"), ("tcp://127.0.0.1:9", "1"))
    )
    out, err = answered.communicate(timeout=120)
    assert answered.returncode == 0, err
    assert re.fullmatch(rf"scheduler {re.escape(dask_cluster_address.address)} answered; \d+ workers\n", out)
    refused.communicate(timeout=120)
    assert refused.returncode != 0  # `helm test` fails when the scheduler does not answer
