"""The Helm chart: lint, render with default and other values, every object valid for Kubernetes 1.37, the
values schema generated from the models, least privilege, and Pod Security judged by a real API server."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from api import chart as chart_model
from api import constants
from tests.support import require
from toolchain import cluster as tools

CHART = Path(__file__).resolve().parents[2] / "chart"
OTHER = ["--set", "webhook.replicas=3", "--set", "ui.readOnly=true", "--set", "nodeAgent.traceGo=false",
         "--set", "image.registry=registry.example.invalid/hodegos", "--set", "image.tag=9.9.9",
         "--set", "config.mode=opt-out", "--set", "imagePullSecrets[0].name=regcred"]  # fmt: skip


def helm(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    binary = tools.HELM.path("helm")
    require(binary.is_file(), "helm is not built: run make setup")
    return subprocess.run([str(binary), *args], capture_output=True, text=True, check=check, timeout=120)


def render(*args: str, namespace: str = constants.NAMESPACE) -> list[dict[str, Any]]:
    out = helm("template", "hodegos", str(CHART), "-n", namespace, *args).stdout
    return [d for d in yaml.safe_load_all(out) if d]


def by(objects: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    return next(o for o in objects if o["kind"] == kind and o["metadata"]["name"] == name)


def test_values_yaml_and_schema_are_the_models() -> None:
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    assert chart_model.Values.model_validate(values).to_dict() == chart_model.Values().to_dict()
    assert (CHART / "values.schema.json").read_text() == chart_model.render(), "run `python -m api.chart`"


def test_lint_with_default_and_other_values() -> None:
    assert "0 chart(s) failed" in helm("lint", str(CHART)).stdout
    assert "0 chart(s) failed" in helm("lint", str(CHART), *OTHER).stdout


@pytest.mark.parametrize("values", [[], OTHER], ids=["default", "other"])
def test_every_object_is_valid_for_kubernetes(values: list[str]) -> None:
    objects = render(*values)
    kinds = {"Deployment", "DaemonSet", "Service", "ConfigMap", "ServiceAccount", "ClusterRole", "Role"}
    assert {o["kind"] for o in objects} >= kinds | {
        "ClusterRoleBinding",
        "RoleBinding",
        "PodDisruptionBudget",
    }
    for obj in objects:
        kubernetes_validate.validate(obj, "1.37", strict=True)
        assert obj["metadata"]["labels"]["app.kubernetes.io/part-of"] == "hodegos"


def test_bad_values_are_refused_naming_the_field() -> None:
    result = helm("template", "h", str(CHART), "--set", "webhook.replicas=zero", check=False)
    assert result.returncode != 0 and "webhook" in result.stderr and "replicas" in result.stderr
    result = helm("template", "h", str(CHART), "--set", "config.mod=opt-out", check=False)
    assert result.returncode != 0 and "mod" in result.stderr


def test_values_reach_the_objects() -> None:
    objects = render(*OTHER, namespace="observability")
    webhook = by(objects, "Deployment", "hodegos-webhook")
    assert webhook["spec"]["replicas"] == 3
    container = webhook["spec"]["template"]["spec"]["containers"][0]
    assert container["image"] == "registry.example.invalid/hodegos/hodegos:9.9.9"
    assert "--namespace=observability" in container["args"]
    assert webhook["spec"]["template"]["spec"]["imagePullSecrets"] == [{"name": "regcred"}]
    config = yaml.safe_load(by(objects, "ConfigMap", "hodegos-config")["data"]["config.yaml"])
    assert config["mode"] == "opt-out" and "observability" in config["ignoredNamespaces"]
    ui = by(objects, "Deployment", "hodegos-ui")["spec"]["template"]["spec"]["containers"][0]
    assert "--read-only" in ui["args"]
    ui_rules = by(objects, "Role", "hodegos-ui")["rules"] + by(objects, "ClusterRole", "hodegos-ui")["rules"]
    assert all(
        set(r["verbs"]) <= {"get", "list", "watch"} for r in ui_rules if "events" not in r["resources"]
    )
    agent = by(objects, "DaemonSet", "hodegos-node-agent")["spec"]["template"]["spec"]["containers"][0]
    assert "--no-trace-go" in agent["args"]
    controllers = by(objects, "Deployment", "hodegos-controllers")["spec"]["template"]["spec"]["containers"][
        0
    ]
    assert "--collector-image=registry.example.invalid/hodegos/hodegos-collector:9.9.9" in controllers["args"]


AGENT = "hodegos-node-agent"


def test_the_node_agent_is_not_privileged_and_names_its_capabilities() -> None:
    agent = by(render(), "DaemonSet", "hodegos-node-agent")["spec"]["template"]
    security = agent["spec"]["containers"][0]["securityContext"]
    assert security["privileged"] is False and security["capabilities"]["drop"] == ["ALL"]
    assert set(security["capabilities"]["add"]) == {
        "BPF",
        "PERFMON",
        "SYS_PTRACE",
        "DAC_READ_SEARCH",
        "SYS_ADMIN",  # uprobes (Go tracing); without it, the agent detects but cannot trace
    }
    detecting = by(render("--set", "nodeAgent.traceGo=false"), "DaemonSet", AGENT)["spec"]["template"]
    assert "SYS_ADMIN" not in detecting["spec"]["containers"][0]["securityContext"]["capabilities"]["add"]
    older = by(render("--set", "nodeAgent.extraCapabilities={SYS_RESOURCE}"), "DaemonSet", AGENT)
    added = older["spec"]["template"]["spec"]["containers"][0]["securityContext"]["capabilities"]["add"]
    assert added[-1] == "SYS_RESOURCE" and len(added) == 6


def _pods(objects: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    pods = {}
    for obj in objects:
        if obj["kind"] in ("Deployment", "DaemonSet"):
            template = obj["spec"]["template"]
            pods[obj["metadata"]["name"]] = {
                "apiVersion": "v1",
                "kind": "Pod",
                "metadata": {"name": obj["metadata"]["name"], "labels": template["metadata"]["labels"]},
                "spec": template["spec"],
            }
    return pods


@pytest.mark.cluster
def test_pod_security_as_the_api_server_judges_it(kube_cluster: Any, make_namespace: Any) -> None:
    """Every pod but the node agent's is admitted under "restricted"; the node agent needs the host's PIDs,
    which no Pod Security level but "privileged" allows (hostPID is outside "baseline" by definition)."""
    levels = {
        level: make_namespace(labels={"pod-security.kubernetes.io/enforce": level})
        for level in ("restricted", "baseline")
    }
    for name, pod in _pods(render()).items():
        for level, ns in levels.items():
            pod["spec"] = {**pod["spec"], "serviceAccountName": "default"}
            result = kube_cluster.kubectl(
                "create",
                "--dry-run=server",
                "-n",
                ns,
                "-f",
                "-",
                "-o",
                "name",
                input=json.dumps(pod),
                check=False,
            )
            admitted = result.returncode == 0
            if name == "hodegos-node-agent":
                assert not admitted and "hostPID" in result.stderr, (level, result.stderr)
            else:
                assert admitted, (name, level, result.stderr)
