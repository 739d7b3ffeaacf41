"""The injection webhook admitting pods created by the real API server of the local cluster.

The webhook runs on the host as ``hodegos webhook serve`` with its own identity (``hodegos-webhook``,
read-only RBAC), registered by URL with the caBundle from its certificate directory.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any, cast

import pytest

from api import constants
from localcluster import lifecycle, webhook_host
from localcluster.webhook_host import HostedWebhook
from tests.kube import KubeCluster, hosted_webhook
from tests.support import wait
from webhook.injecting import INIT_PREFIX

pytestmark = pytest.mark.cluster

RECORDS = "instrumentedapplications"


@pytest.fixture(scope="module")
def webhook(kube_cluster: KubeCluster, kube_api: Any, hodegos_crds: list[str]) -> Iterator[HostedWebhook]:
    with hosted_webhook(kube_cluster, kube_api, 29443) as hosted:
        yield hosted


def _cache_settled(hosted: HostedWebhook, kube_api: Any) -> bool:
    """The webhook's cache holds as many records and namespaces as the API server does."""
    from kubernetes import client

    records = len(
        cast(Any, client.CustomObjectsApi(kube_api)).list_cluster_custom_object(
            constants.GROUP, constants.VERSION, RECORDS
        )["items"]
    )
    namespaces = len(cast(Any, client.CoreV1Api(kube_api)).list_namespace().items)
    samples = hosted.metrics()
    cached_records = samples.get('hodegos_webhook_cache_objects{kind="records"}')
    cached_namespaces = samples.get('hodegos_webhook_cache_objects{kind="namespaces"}')
    return cached_records == records and cached_namespaces == namespaces


def _record(kube_api: Any, namespace: str, kind: str, name: str, containers: dict[str, str]) -> None:
    from kubernetes import client

    custom: Any = client.CustomObjectsApi(kube_api)
    record_name = constants.record_name(kind, name)
    custom.create_namespaced_custom_object(
        constants.GROUP,
        constants.VERSION,
        namespace,
        RECORDS,
        {
            "apiVersion": constants.API_VERSION,
            "kind": "InstrumentedApplication",
            "metadata": {"name": record_name},
            "spec": {"workload": {"kind": kind, "name": name}},
        },
    )
    # What the node agent would write: the language found in each container.
    custom.patch_namespaced_custom_object_status(
        constants.GROUP,
        constants.VERSION,
        namespace,
        RECORDS,
        record_name,
        {"status": {"containers": [{"name": c, "language": lang} for c, lang in containers.items()]}},
    )


def _pod(
    name: str, annotations: dict[str, str] | None = None, owner: dict[str, Any] | None = None
) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "annotations": annotations or {}}
    if owner:
        meta["ownerReferences"] = [owner]
    return {"metadata": meta, "spec": {"containers": [{"name": "app", "image": "registry.example/app:1"}]}}


def _injected(pod: Any) -> bool:
    init = [c.name for c in pod.spec.init_containers or []]
    return any(name.startswith(INIT_PREFIX) for name in init)


def _env(container: Any) -> dict[str, str]:
    return {e.name: e.value for e in container.env or [] if e.value is not None}


def test_deployment_pods_are_injected_and_run(
    webhook: HostedWebhook, kube_cluster: KubeCluster, kube_api: Any, make_namespace: Callable[..., str]
) -> None:
    from kubernetes import client

    namespace = make_namespace(annotations={constants.ANNOTATION_INSTRUMENTATION: "enabled"})
    _record(kube_api, namespace, "Deployment", "shop", {"app": "python"})
    wait("the webhook cache to catch up", lambda: _cache_settled(webhook, kube_api))
    cast(Any, client.AppsV1Api(kube_api)).create_namespaced_deployment(
        namespace,
        {
            "metadata": {"name": "shop"},
            "spec": {
                "replicas": 2,
                "selector": {"matchLabels": {"app": "shop"}},
                "template": {
                    "metadata": {"labels": {"app": "shop"}},
                    "spec": {
                        "containers": [
                            {
                                "name": "app",
                                "image": "registry.example/shop:1",
                                "env": [{"name": "PYTHONPATH", "value": "/srv/lib"}],
                            }
                        ]
                    },
                },
            },
        },
    )
    core: Any = client.CoreV1Api(kube_api)

    def running() -> list[Any]:
        pods = core.list_namespaced_pod(namespace).items
        return pods if len(pods) == 2 and all(p.status.phase == "Running" for p in pods) else []

    pods = wait("2 Running pods", running)
    nodes = {f"{kube_cluster.name}-node-1", f"{kube_cluster.name}-node-2"}
    for pod in pods:
        assert pod.metadata.owner_references[0].kind == "ReplicaSet"  # made by the controller-manager
        assert pod.spec.node_name in nodes
        assert constants.ANNOTATION_INJECTED in pod.metadata.annotations
        assert _injected(pod), pod.spec.init_containers
        # The agent arrives through an emptyDir the init container fills and the app mounts.
        volumes = {v.name: v for v in pod.spec.volumes}
        agent_mounts = [
            m
            for m in pod.spec.containers[0].volume_mounts or []
            if m.name in volumes and volumes[m.name].empty_dir is not None
        ]
        assert agent_mounts
        env = _env(pod.spec.containers[0])
        assert env[constants.ENV_SERVICE_NAME] == "shop"
        path = env["PYTHONPATH"].split(":")
        assert "/srv/lib" in path and len(path) > 1  # the agent's dirs added, the user's value kept
        assert f"{constants.ATTR_NAMESPACE}={namespace}" in env[constants.ENV_RESOURCE_ATTRIBUTES]
        # kwok reported the injected init container as completed before the app started.
        assert pod.status.init_container_statuses[-1].state.terminated.reason == "Completed"


def test_opt_out_and_excluded_namespace_are_untouched(
    webhook: HostedWebhook, kube_api: Any, make_namespace: Callable[..., str]
) -> None:
    from kubernetes import client
    from kubernetes.client.exceptions import ApiException

    core: Any = client.CoreV1Api(kube_api)
    namespace = make_namespace(annotations={constants.ANNOTATION_INSTRUMENTATION: "enabled"})
    for name in ("kept", "opted-out"):
        _record(kube_api, namespace, "Pod", name, {"app": "python"})
    try:
        core.create_namespace({"metadata": {"name": constants.NAMESPACE}})
    except ApiException as exc:
        if exc.status != 409:
            raise
    own_name = f"own-{uuid.uuid4().hex[:8]}"  # hodegos-system outlives the test: names must not repeat
    _record(kube_api, constants.NAMESPACE, "Pod", own_name, {"app": "python"})
    wait("the webhook cache to catch up", lambda: _cache_settled(webhook, kube_api))
    before = webhook.metrics()

    kept = core.create_namespaced_pod(namespace, _pod("kept"))
    opted_out = core.create_namespaced_pod(
        namespace,
        _pod("opted-out", {constants.ANNOTATION_INSTRUMENTATION: constants.INSTRUMENTATION_DISABLED}),
    )
    own = core.create_namespaced_pod(constants.NAMESPACE, _pod(own_name))
    try:
        assert _injected(kept)  # the control: same record shape, injected
        for untouched in (opted_out, own):
            assert not _injected(untouched)
            assert constants.ANNOTATION_INJECTED not in (untouched.metadata.annotations or {})
            assert not untouched.spec.containers[0].env
        # The opted-out and excluded pods never reached the webhook (matchConditions, namespaceSelector).
        after = webhook.metrics()
        key = 'hodegos_webhook_admissions_total{result="injected"}'
        assert after[key] - before.get(key, 0) == 1
        total = sum(v for k, v in after.items() if k.startswith("hodegos_webhook_admissions_total"))
        total_before = sum(v for k, v in before.items() if k.startswith("hodegos_webhook_admissions_total"))
        assert total - total_before == 1
    finally:
        core.delete_namespaced_pod(own_name, constants.NAMESPACE, grace_period_seconds=0)
        cast(Any, client.CustomObjectsApi(kube_api)).delete_namespaced_custom_object(
            constants.GROUP,
            constants.VERSION,
            constants.NAMESPACE,
            RECORDS,
            constants.record_name("Pod", own_name),
        )


def test_admission_makes_no_api_calls(
    webhook: HostedWebhook, kube_cluster: KubeCluster, kube_api: Any, make_namespace: Callable[..., str]
) -> None:
    from kubernetes import client

    user = webhook_host.IDENTITY.user
    # The identity is right: the cache's initial lists are in the audit log under the webhook's name.
    listed = [e for e in kube_cluster.audit_events(user) if e.get("verb") == "list"]
    assert listed, "no list request from the webhook's identity in the audit log"
    namespace = make_namespace(annotations={constants.ANNOTATION_INSTRUMENTATION: "enabled"})
    names = [f"p-{i}" for i in range(20)]
    for name in names:
        _record(kube_api, namespace, "Pod", name, {"app": "python"})
    wait("the webhook cache to catch up", lambda: _cache_settled(webhook, kube_api))
    time.sleep(2.5)  # the audit log is written in batches of up to 1 s

    def calls() -> list[str]:
        return [
            f"{e['verb']} {e['requestURI']}" for e in kube_cluster.audit_events(user) if e["verb"] != "watch"
        ]

    before = calls()
    admitted_before = webhook.metrics().get('hodegos_webhook_admissions_total{result="injected"}', 0)
    core: Any = client.CoreV1Api(kube_api)
    created = [core.create_namespaced_pod(namespace, _pod(name)) for name in names]
    assert all(_injected(pod) for pod in created)
    assert webhook.metrics()['hodegos_webhook_admissions_total{result="injected"}'] - admitted_before == 20
    time.sleep(2.5)
    assert calls() == before


def test_webhook_down_fails_open_then_restart_resyncs(
    webhook: HostedWebhook, kube_cluster: KubeCluster, kube_api: Any, make_namespace: Callable[..., str]
) -> None:
    from kubernetes import client

    core: Any = client.CoreV1Api(kube_api)
    namespace = make_namespace(annotations={constants.ANNOTATION_INSTRUMENTATION: "enabled"})

    def fail_opens() -> float:
        samples = webhook_host.parse_metrics(
            lifecycle.apiserver_get(kube_cluster.layout, kube_cluster.ports, "/metrics")
        )
        return sum(
            v
            for k, v in samples.items()
            if k.startswith("apiserver_admission_webhook_fail_open_count") and constants.WEBHOOK_NAME in k
        )

    opened_before = fail_opens()
    assert webhook.stop() == "stopped"
    # Created while the webhook is down: a record the restarted webhook has never seen.
    _record(kube_api, namespace, "Pod", "late", {"app": "nodejs"})
    _record(kube_api, namespace, "Pod", "while-down", {"app": "python"})
    started = time.monotonic()
    pod = core.create_namespaced_pod(namespace, _pod("while-down"))
    assert time.monotonic() - started < 10  # refused connection: no wait for the timeout
    assert not _injected(pod)  # failurePolicy Ignore: created, untouched
    assert fail_opens() == opened_before + 1

    webhook.start()
    late = core.create_namespaced_pod(namespace, _pod("late"))
    assert _injected(late)  # the restarted webhook listed the records again before being ready
    env = _env(late.spec.containers[0])
    assert "--require" in env.get("NODE_OPTIONS", "")
