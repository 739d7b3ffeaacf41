"""The chart installed with `hodegos install` on the local control plane's fake (kwok) nodes, which mark pods
Ready without running them: what this checks is the install itself — objects, `--wait`, upgrades that
roll only what changed, the components' RBAC as the API server enforces it, `diagnose`, `uninstall`.
The install running for real on real nodes is tests/installer/test_in_cluster.py."""

from __future__ import annotations

import base64
import tarfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from cli.main import app
from installer.errors import HelmError
from installer.helm import Helm
from kube import Api, ApiError
from kube.api import Api as KubeApi
from kube.resources import DAEMONSETS, DEPLOYMENTS, NAMESPACES, PODS, SECRETS, SERVICEACCOUNTS
from localcluster.pki import Pki
from tests.kube import KubeCluster
from toolchain import cluster as tools

pytestmark = pytest.mark.cluster
CANARY = f"canary-{uuid.uuid4().hex}"


@pytest.fixture(scope="module")
def installed(kube_cluster: KubeCluster, admin_api: Api, hodegos_crds: list[str]) -> Iterator[str]:
    namespace = f"hodegos-it-{uuid.uuid4().hex[:6]}"
    runner = CliRunner()
    result = runner.invoke(
        app,
        [
            "install",
            "-n",
            namespace,
            "--kubeconfig",
            str(kube_cluster.kubeconfig),
            "--wait",
            "--timeout",
            "3m",
        ],
    )
    assert result.exit_code == 0, result.output
    try:
        yield namespace
    finally:
        runner.invoke(
            app,
            ["uninstall", "-n", namespace, "--kubeconfig", str(kube_cluster.kubeconfig), "--timeout", "60"],
        )
        admin_api.delete(NAMESPACES, None, namespace)


def test_install_makes_every_component_ready(installed: str, admin_api: Api) -> None:
    ns = admin_api.get(NAMESPACES, None, installed)
    assert ns is not None and ns["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "privileged"
    for name in ("hodegos-webhook", "hodegos-controllers", "hodegos-ui"):
        deployment = admin_api.get(DEPLOYMENTS, installed, name)
        assert (
            deployment is not None
            and deployment["status"].get("readyReplicas") == deployment["spec"]["replicas"]
        ), name
    agent = admin_api.get(DAEMONSETS, installed, "hodegos-node-agent")
    assert (
        agent is not None and agent["status"]["numberReady"] == agent["status"]["desiredNumberScheduled"] > 0
    )


def test_an_upgrade_rolls_only_what_changed(
    installed: str, admin_api: Api, kube_cluster: KubeCluster
) -> None:
    def generation(res: Any, name: str) -> int:
        obj = admin_api.get(res, installed, name)
        assert obj is not None, name
        return int(obj["metadata"]["generation"])

    def generations() -> dict[str, int]:
        out = {
            n: generation(DEPLOYMENTS, n) for n in ("hodegos-webhook", "hodegos-controllers", "hodegos-ui")
        }
        out["agent"] = generation(DAEMONSETS, "hodegos-node-agent")
        return out

    before = generations()
    helm = Helm(tools.HELM.path("helm"), kube_cluster.kubeconfig)
    helm.install(installed, sets=["ui.readOnly=true"], wait=True, timeout="3m")
    after = generations()
    assert after["hodegos-ui"] == before["hodegos-ui"] + 1
    assert {k: v for k, v in after.items() if k != "hodegos-ui"} == {
        k: v for k, v in before.items() if k != "hodegos-ui"
    }


def test_an_upgrade_keeps_the_configuration_edited_live(
    installed: str, admin_api: Api, kube_cluster: KubeCluster
) -> None:
    from api.config import CONFIG_KEY
    from installer import install as installing
    from kube.resources import CONFIGMAPS

    def config() -> dict[str, Any]:
        found = installing.live_config(admin_api.get(CONFIGMAPS, installed, "hodegos-config"))
        assert found is not None
        return found

    # As the UI's settings page writes it: its own formatting, under the Hodegos field manager.
    edited = {**config(), "mode": "opt-out", "ignoredContainers": ["sidecar"]}
    body = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "hodegos-config", "namespace": installed},
        "data": {CONFIG_KEY: yaml.safe_dump(edited, sort_keys=False, indent=4)},
    }
    admin_api.apply(CONFIGMAPS, body)
    helm = Helm(tools.HELM.path("helm"), kube_cluster.kubeconfig)
    # A plain Helm upgrade stops on the field the UI owns; `hodegos install` keeps the edit and lets an
    # explicit --set win.
    with pytest.raises(HelmError, match="conflict"):
        helm.install(installed, sets=["config.rollout.maxConcurrent=7"], timeout="3m")
    installing.install(admin_api, helm, installed, sets=["config.rollout.maxConcurrent=7"], timeout="3m")
    after = config()
    assert after["mode"] == "opt-out" and after["ignoredContainers"] == ["sidecar"]
    assert after["rollout"]["maxConcurrent"] == 7
    assert installed in after["ignoredNamespaces"]


def _as(admin_api: Api, kube_cluster: KubeCluster, namespace: str, account: str) -> Api:
    """An Api with the ServiceAccount's own token (a TokenRequest), as the component runs in its pod."""
    from kubernetes import client

    reply = admin_api.request(
        "POST",
        SERVICEACCOUNTS.path(namespace, account, "token"),
        what="token",
        body={"spec": {"expirationSeconds": 600}},
    )
    configuration = client.Configuration()
    configuration.host = admin_api.server
    configuration.ssl_ca_cert = str(Pki(kube_cluster.layout.pki).ca_cert)
    configuration.api_key = {"authorization": reply["status"]["token"]}
    configuration.api_key_prefix = {"authorization": "Bearer"}
    return KubeApi(client.ApiClient(configuration))


def test_each_component_can_do_what_it_needs_and_nothing_more(
    installed: str, admin_api: Api, kube_cluster: KubeCluster
) -> None:
    agent = _as(admin_api, kube_cluster, installed, "hodegos-node-agent")
    assert agent.list(PODS, field_selector="spec.nodeName=nowhere") is not None  # allowed: its node's pods
    with pytest.raises(ApiError) as denied:
        agent.delete(PODS, "default", "anything")
    assert denied.value.forbidden
    with pytest.raises(ApiError) as denied:
        agent.list(SECRETS, installed)
    assert denied.value.forbidden
    webhook = _as(admin_api, kube_cluster, installed, "hodegos-webhook")
    with pytest.raises(ApiError) as denied:
        webhook.get(SECRETS, installed, "some-other-secret")
    assert denied.value.forbidden
    gateway = _as(admin_api, kube_cluster, installed, "hodegos-gateway")
    with pytest.raises(ApiError) as denied:
        gateway.list(PODS, installed)
    assert denied.value.forbidden


def test_diagnose_holds_logs_and_objects_and_no_secret_value(
    installed: str, admin_api: Api, kube_cluster: KubeCluster, tmp_path: Path
) -> None:
    admin_api.create(
        SECRETS,
        installed,
        {"metadata": {"name": "canary"}, "data": {"key": base64.b64encode(CANARY.encode()).decode()}},
    )
    out = tmp_path / "d.tar.gz"
    result = CliRunner().invoke(
        app, ["diagnose", "-n", installed, "--kubeconfig", str(kube_cluster.kubeconfig), "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    with tarfile.open(out) as tar:
        names = tar.getnames()
        blob = b"".join(tar.extractfile(m).read() for m in tar.getmembers() if m.isfile())  # type: ignore[union-attr]
    assert "objects/instrumentedapplications.json" in names and "namespace/secrets.json" in names
    assert any(n.startswith("logs/hodegos-webhook-") for n in names)
    assert CANARY.encode() not in blob and base64.b64encode(CANARY.encode()) not in blob


def test_uninstall_leaves_no_release(installed: str, kube_cluster: KubeCluster, admin_api: Api) -> None:
    """Last: uninstalls the module's release (one Hodegos per cluster: its ClusterRoles have fixed names)."""
    kubeconfig = ["--kubeconfig", str(kube_cluster.kubeconfig)]
    result = CliRunner().invoke(
        app, ["uninstall", "-n", installed, *kubeconfig, "-o", "json", "--timeout", "60"]
    )
    assert result.exit_code == 0, result.output
    helm = Helm(tools.HELM.path("helm"), kube_cluster.kubeconfig)
    assert helm.status(installed) is None
    assert admin_api.get(DEPLOYMENTS, installed, "hodegos-webhook") is None
    assert admin_api.get(SECRETS, installed, "hodegos-webhook-cert") is None
