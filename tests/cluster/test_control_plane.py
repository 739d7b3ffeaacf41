"""The local control plane is real: the API server validates and stores, controllers act, kwok runs pods."""

from __future__ import annotations

from typing import Any

import pytest

from api import constants
from tests.kube import KubeCluster
from tests.support import wait

pytestmark = pytest.mark.cluster


def _wait(what: str, check: Any, timeout: float = 90.0) -> Any:
    return wait(what, check, timeout=timeout)


def test_version_and_nodes(kube_cluster: KubeCluster) -> None:
    version = kube_cluster.kubectl("version", "-o", "json").stdout
    assert '"gitVersion": "v1.37.2"' in version
    nodes = kube_cluster.kubectl("get", "nodes", "-o", "name").stdout.split()
    assert nodes == [f"node/{kube_cluster.name}-node-1", f"node/{kube_cluster.name}-node-2"]


def test_crds_are_accepted(kube_api: Any, hodegos_crds: list[str]) -> None:
    from kubernetes import client

    assert f"instrumentedapplications.{constants.GROUP}" in hodegos_crds
    ext: Any = client.ApiextensionsV1Api(kube_api)
    for name in hodegos_crds:
        crd = ext.read_custom_resource_definition(name)
        assert crd.spec.group == constants.GROUP
        assert any(c.type == "Established" and c.status == "True" for c in crd.status.conditions)


def test_valid_record_is_stored_and_defaulted(
    kube_api: Any, hodegos_crds: list[str], kube_namespace: str
) -> None:
    from kubernetes import client

    custom: Any = client.CustomObjectsApi(kube_api)
    body = {
        "apiVersion": constants.API_VERSION,
        "kind": "InstrumentedApplication",
        "metadata": {"name": constants.record_name("Deployment", "shop")},
        "spec": {"workload": {"kind": "Deployment", "name": "shop"}, "options": {"sampler": {}}},
    }
    stored = custom.create_namespaced_custom_object(
        constants.GROUP, constants.VERSION, kube_namespace, "instrumentedapplications", body
    )
    # The schema's defaults are applied by the API server itself.
    assert stored["spec"]["options"]["sampler"]["name"] == constants.DEFAULT_SAMPLER


def test_invalid_record_is_rejected_with_a_clear_message(
    kube_api: Any, hodegos_crds: list[str], kube_namespace: str
) -> None:
    from kubernetes import client
    from kubernetes.client.exceptions import ApiException

    custom: Any = client.CustomObjectsApi(kube_api)
    body = {
        "apiVersion": constants.API_VERSION,
        "kind": "InstrumentedApplication",
        "metadata": {"name": "bad"},
        "spec": {"workload": {"kind": "Spaceship", "name": "shop"}},
    }
    with pytest.raises(ApiException) as caught:
        custom.create_namespaced_custom_object(
            constants.GROUP, constants.VERSION, kube_namespace, "instrumentedapplications", body
        )
    assert caught.value.status == 422
    message = caught.value.body
    assert message is not None
    assert "spec.workload.kind" in message and "Unsupported value" in message and "Spaceship" in message
    # Nothing was stored.
    listed = custom.list_namespaced_custom_object(
        constants.GROUP, constants.VERSION, kube_namespace, "instrumentedapplications"
    )
    assert listed["items"] == []


def test_deployment_pods_run_on_kwok_nodes(
    kube_cluster: KubeCluster, kube_api: Any, kube_namespace: str
) -> None:
    from kubernetes import client

    apps: Any = client.AppsV1Api(kube_api)
    core: Any = client.CoreV1Api(kube_api)
    labels = {"app": "web"}
    apps.create_namespaced_deployment(
        kube_namespace,
        {
            "metadata": {"name": "web"},
            "spec": {
                "replicas": 3,
                "selector": {"matchLabels": labels},
                "template": {
                    "metadata": {"labels": labels},
                    "spec": {"containers": [{"name": "app", "image": "registry.example/web:1"}]},
                },
            },
        },
    )

    def running() -> list[Any]:
        pods = core.list_namespaced_pod(kube_namespace, label_selector="app=web").items
        return pods if len(pods) == 3 and all(p.status.phase == "Running" for p in pods) else []

    pods = _wait("3 Running pods", running)
    nodes = {f"{kube_cluster.name}-node-1", f"{kube_cluster.name}-node-2"}
    for pod in pods:
        # Made by the ReplicaSet controller (controller-manager), placed by the scheduler, run by kwok.
        owner = pod.metadata.owner_references[0]
        assert owner.kind == "ReplicaSet" and owner.name.startswith("web-")
        assert pod.spec.node_name in nodes
        assert pod.status.pod_ip and pod.status.container_statuses[0].ready
    _wait(
        "the Deployment to report 3 available replicas",
        lambda: (
            (apps.read_namespaced_deployment_status("web", kube_namespace).status.available_replicas or 0)
            == 3
        ),
    )
    # Garbage collection: deleting the Deployment removes its ReplicaSet and pods.
    apps.delete_namespaced_deployment("web", kube_namespace, propagation_policy="Foreground")
    _wait("pods to be garbage-collected", lambda: not core.list_namespaced_pod(kube_namespace).items)


def test_job_pods_complete(kube_api: Any, kube_namespace: str) -> None:
    from kubernetes import client

    batch: Any = client.BatchV1Api(kube_api)
    batch.create_namespaced_job(
        kube_namespace,
        {
            "metadata": {"name": "once"},
            "spec": {
                "template": {
                    "spec": {
                        "restartPolicy": "Never",
                        "containers": [{"name": "task", "image": "registry.example/task:1"}],
                    }
                }
            },
        },
    )
    _wait(
        "the Job to succeed",
        lambda: (batch.read_namespaced_job_status("once", kube_namespace).status.succeeded or 0) == 1,
    )


def test_service_account_tokens_are_issued(kube_api: Any, kube_namespace: str) -> None:
    from kubernetes import client

    core: Any = client.CoreV1Api(kube_api)
    _wait("the default ServiceAccount", lambda: core.list_namespaced_service_account(kube_namespace).items)
    token = core.create_namespaced_service_account_token(
        "default", kube_namespace, {"spec": {"audiences": ["https://kubernetes.default.svc.cluster.local"]}}
    )
    assert token.status.token.count(".") == 2  # a signed JWT from the service-account signing key


def test_rbac_is_enforced(kube_cluster: KubeCluster, kube_namespace: str) -> None:
    kubeconfig = kube_cluster.issue_kubeconfig("nobody-in-particular")
    denied = kube_cluster.kubectl(
        f"--kubeconfig={kubeconfig}", "get", "pods", "-n", kube_namespace, check=False
    )
    assert denied.returncode != 0 and "forbidden" in denied.stderr.lower()
    allowed = kube_cluster.kubectl(
        "auth", "can-i", "list", "pods", "-n", kube_namespace, "--as=nobody-in-particular", check=False
    )
    assert allowed.stdout.strip() == "no"
