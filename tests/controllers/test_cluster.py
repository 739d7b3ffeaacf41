"""The controllers against the real local control plane (kube-apiserver + etcd + controller-manager + kwok).

One controller Manager runs in-process for the module, as its own user (so the audit log tells its requests
apart). The webhook is not part of these tests: its health is a :class:`Switch` the test sets, and the
injection marker is put on pods by the test where a scenario needs injected pods.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from functools import partial
from typing import Any

import pytest
import yaml

from api import constants
from controllers.manager import Manager
from kube import Api
from kube import resources as kube
from kube.resources import (
    CONFIGMAPS,
    CRONJOBS,
    DAEMONSETS,
    DEPLOYMENTS,
    DESTINATIONS,
    GROUPS,
    NAMESPACES,
    PODS,
    RECORDS,
    SECRETS,
    STATEFULSETS,
)
from tests.controllers.cluster_support import RESTARTED, Switch, create, record_names, wait, workload_body
from tests.controllers.conftest import api_for
from tests.kube import KubeCluster
from tests.support import require

pytestmark = pytest.mark.cluster
USER = "hodegos-controllers-test"


def _api(kube_cluster: KubeCluster, user: str = USER) -> Api:
    return api_for(kube_cluster, user)


@pytest.fixture(scope="module")
def webhook_switch() -> Switch:
    return Switch(True)


@pytest.fixture(scope="module")
def manager(kube_cluster: KubeCluster, system_namespace: str, webhook_switch: Switch) -> Iterator[Manager]:
    m = Manager(
        _api(kube_cluster),
        identity="test-leader",
        workers=2,
        resync=30,
        lease_duration=6,
        webhook_healthy=webhook_switch,
    )
    m.start()
    assert m.elector is not None
    wait("leadership", m.elector.leading.is_set, timeout=30)
    yield m
    m.shutdown()


def _set_config(admin: Api, text: str | None) -> None:
    if text is None:
        admin.delete(CONFIGMAPS, constants.NAMESPACE, constants.CONFIG_MAP)
        return
    body = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": constants.CONFIG_MAP, "namespace": constants.NAMESPACE},
        "data": {"config.yaml": text},
    }
    admin.apply(CONFIGMAPS, body)


def _annotate(admin: Api, res: kube.Resource, ns: str | None, name: str, value: str | None) -> None:
    admin.merge_patch(
        res, ns, name, {"metadata": {"annotations": {constants.ANNOTATION_INSTRUMENTATION: value}}}
    )


def test_opt_in_matrix(manager: Manager, admin: Api, make_namespace: Any) -> None:
    enabled_ns = make_namespace(annotations={constants.ANNOTATION_INSTRUMENTATION: "enabled"})
    plain_ns = make_namespace()
    create(admin, DEPLOYMENTS, workload_body("Deployment", "web", enabled_ns))
    create(
        admin,
        DEPLOYMENTS,
        workload_body(
            "Deployment", "off", enabled_ns, annotations={constants.ANNOTATION_INSTRUMENTATION: "disabled"}
        ),
    )
    create(admin, STATEFULSETS, workload_body("StatefulSet", "db", enabled_ns))
    create(admin, CRONJOBS, workload_body("CronJob", "nightly", enabled_ns))
    create(
        admin,
        DAEMONSETS,
        workload_body(
            "DaemonSet",
            "agent",
            enabled_ns,
            template_annotations={constants.ANNOTATION_INSTRUMENTATION: "disabled"},
        ),
    )
    create(admin, DEPLOYMENTS, workload_body("Deployment", "api", plain_ns))
    create(
        admin,
        DEPLOYMENTS,
        workload_body(
            "Deployment", "pick", plain_ns, annotations={constants.ANNOTATION_INSTRUMENTATION: "enabled"}
        ),
    )

    expected = {"deployment-web", "statefulset-db", "cronjob-nightly"}
    wait("namespace opt-in records", lambda: record_names(admin, RECORDS, enabled_ns) == expected)
    wait("workload opt-in record", lambda: record_names(admin, RECORDS, plain_ns) == {"deployment-pick"})
    record = admin.get(RECORDS, enabled_ns, "deployment-web")
    assert record is not None
    owner = record["metadata"]["ownerReferences"][0]
    assert (owner["kind"], owner["name"], owner["controller"]) == ("Deployment", "web", True)
    assert record["metadata"]["labels"][constants.LABEL_MANAGED_BY] == "hodegos"
    wait(
        "OptedIn condition",
        lambda: any(
            c["type"] == "OptedIn" and c["reason"] == "NamespaceAnnotation"
            for c in ((admin.get(RECORDS, enabled_ns, "deployment-web") or {}).get("status") or {}).get(
                "conditions", []
            )
        ),
    )

    # Cluster mode opt-out: the plain namespace's unannotated workload joins; explicit "disabled" stays out.
    try:
        _set_config(admin, "mode: opt-out\n")
        wait(
            "opt-out mode",
            lambda: record_names(admin, RECORDS, plain_ns) == {"deployment-api", "deployment-pick"},
        )
        assert "deployment-off" not in record_names(admin, RECORDS, enabled_ns)
        # A bad value keeps the last good configuration and is reported.
        _set_config(admin, "mode: sometimes\n")
        time.sleep(2)
        assert manager.config.mode == "opt-out" and manager.config_error and "mode" in manager.config_error
        assert record_names(admin, RECORDS, plain_ns) == {"deployment-api", "deployment-pick"}
        # ... and back to opt-in.
        _set_config(admin, "mode: opt-in\n")
        wait("opt-in mode again", lambda: record_names(admin, RECORDS, plain_ns) == {"deployment-pick"})
    finally:
        _set_config(admin, None)

    # Namespace annotation flips: records vanish, then come back.
    _annotate(admin, NAMESPACES, None, enabled_ns, "disabled")
    wait("namespace opt-out", lambda: record_names(admin, RECORDS, enabled_ns) == set())
    _annotate(admin, NAMESPACES, None, enabled_ns, None)
    time.sleep(1)
    assert record_names(admin, RECORDS, enabled_ns) == set()
    _annotate(admin, NAMESPACES, None, enabled_ns, "enabled")
    wait("namespace opt-in again", lambda: record_names(admin, RECORDS, enabled_ns) == expected)

    # Workload annotation beats the namespace; deleting the workload removes its record.
    _annotate(admin, DEPLOYMENTS, enabled_ns, "web", "disabled")
    wait("workload opt-out", lambda: "deployment-web" not in record_names(admin, RECORDS, enabled_ns))
    admin.delete(STATEFULSETS, enabled_ns, "db")
    wait("deleted workload", lambda: record_names(admin, RECORDS, enabled_ns) == {"cronjob-nightly"})


def _pods(admin: Api, ns: str, app: str) -> list[dict[str, Any]]:
    items, _ = admin.list(PODS, ns, f"app={app}")
    return [p for p in items if not p["metadata"].get("deletionTimestamp")]


def _running(admin: Api, ns: str, app: str, count: int = 1) -> list[dict[str, Any]]:
    def check() -> list[dict[str, Any]] | None:
        pods = _pods(admin, ns, app)
        ok = len(pods) == count and all((p.get("status") or {}).get("phase") == "Running" for p in pods)
        return pods if ok else None

    result: list[dict[str, Any]] = wait(f"{count} running pod(s) of {app}", check, timeout=90)
    return result


def _set_runtime(admin: Api, ns: str, record: str, language: str) -> None:
    wait(f"record {record}", lambda: admin.get(RECORDS, ns, record))
    admin.merge_patch(
        RECORDS, ns, record, {"status": {"containers": [{"name": "app", "language": language}]}}, sub="status"
    )


def _restarted(admin: Api, ns: str, name: str) -> dict[str, str]:
    obj = admin.get(DEPLOYMENTS, ns, name) or {}
    return obj["spec"]["template"]["metadata"].get("annotations") or {}


def test_rollout_on_runtime_waits_for_webhook_and_rolls_once(
    manager: Manager, admin: Api, make_namespace: Any, webhook_switch: Switch
) -> None:
    ns = make_namespace(annotations={constants.ANNOTATION_INSTRUMENTATION: "enabled"})
    create(admin, DEPLOYMENTS, workload_body("Deployment", "shop", ns))
    _running(admin, ns, "shop")
    webhook_switch.value = False
    try:
        _set_runtime(admin, ns, "deployment-shop", "python")
        time.sleep(3)
        assert RESTARTED not in _restarted(admin, ns, "shop"), "rolled out while the webhook was down"
    finally:
        webhook_switch.value = True
    wait(
        "rollout for injection",
        lambda: _restarted(admin, ns, "shop").get(constants.ANNOTATION_ROLLOUT_TARGET) == "inject",
    )
    first = _restarted(admin, ns, "shop")[RESTARTED]
    # The new pod comes up; without a webhook in this test it is uninjected, as a fail-open pod would be.
    # It was created after our rollout, so it is rolled once more, but not before the cooldown.
    time.sleep(4)
    assert _restarted(admin, ns, "shop")[RESTARTED] == first
    # Opt-out with injected pods rolls back to clean.
    pods = _running(admin, ns, "shop")
    admin.merge_patch(
        PODS,
        ns,
        pods[0]["metadata"]["name"],
        {"metadata": {"annotations": {constants.ANNOTATION_INJECTED: "test"}}},
    )
    _annotate(admin, DEPLOYMENTS, ns, "shop", "disabled")
    wait(
        "rollout to clean",
        lambda: _restarted(admin, ns, "shop").get(constants.ANNOTATION_ROLLOUT_TARGET) == "clean",
    )
    wait("record removed", lambda: admin.get(RECORDS, ns, "deployment-shop") is None)


def test_rollback_on_crash_loop_and_recover(manager: Manager, admin: Api, make_namespace: Any) -> None:
    ns = make_namespace(annotations={constants.ANNOTATION_INSTRUMENTATION: "enabled"})
    create(admin, DEPLOYMENTS, workload_body("Deployment", "fragile", ns))
    _running(admin, ns, "fragile")
    _set_runtime(admin, ns, "deployment-fragile", "java")
    wait(
        "rollout",
        lambda: _restarted(admin, ns, "fragile").get(constants.ANNOTATION_ROLLOUT_TARGET) == "inject",
    )
    wait(
        "new pod",
        lambda: [
            p for p in _running(admin, ns, "fragile") if RESTARTED in (p["metadata"].get("annotations") or {})
        ],
    )
    pod = _running(admin, ns, "fragile")[0]
    name = pod["metadata"]["name"]
    # Make the injected pod crash-loop, as the kubelet would report it.
    admin.merge_patch(PODS, ns, name, {"metadata": {"annotations": {constants.ANNOTATION_INJECTED: "test"}}})
    status = {
        "containerStatuses": [
            {
                "name": "app",
                "image": "example.invalid/app:1",
                "imageID": "",
                "ready": False,
                "restartCount": 5,
                "state": {
                    "waiting": {
                        "reason": "CrashLoopBackOff",
                        "message": "back-off restarting failed container",
                    }
                },
                "lastState": {
                    "terminated": {"exitCode": 1, "reason": "Error", "startedAt": None, "finishedAt": None}
                },
            }
        ]
    }
    admin.merge_patch(PODS, ns, name, {"status": status}, sub="status")

    def rolled_back() -> dict[str, Any] | None:
        rec = admin.get(RECORDS, ns, "deployment-fragile") or {}
        return (rec.get("status") or {}).get("rollback")

    rollback = wait("rollback recorded", rolled_back)
    assert rollback["reason"] == "CrashLoopBackOff" and name in rollback["message"]
    rec = admin.get(RECORDS, ns, "deployment-fragile") or {}
    cond = next(c for c in rec["status"]["conditions"] if c["type"] == "RolledBack")
    assert cond["status"] == "True" and cond["reason"] == "CrashLoopBackOff"
    wait(
        "rolled out clean",
        lambda: _restarted(admin, ns, "fragile").get(constants.ANNOTATION_ROLLOUT_TARGET) == "clean",
    )
    events, _ = admin.list(kube.EVENTS, ns)
    assert any(e.get("reason") == "RolledBack" and e.get("type") == "Warning" for e in events)

    # Recovery by annotation clears the rollback and removes the annotation.
    admin.merge_patch(
        DEPLOYMENTS, ns, "fragile", {"metadata": {"annotations": {constants.ANNOTATION_RECOVER: "true"}}}
    )
    wait("rollback cleared", lambda: rolled_back() is None)
    wait(
        "annotation removed",
        lambda: (
            constants.ANNOTATION_RECOVER
            not in ((admin.get(DEPLOYMENTS, ns, "fragile") or {})["metadata"].get("annotations") or {})
        ),
    )


def _group(admin: Api, name: str) -> dict[str, Any] | None:
    return admin.get(GROUPS, constants.NAMESPACE, name)


def _destination(
    name: str, kind: str = "otlp", signals: tuple[str, ...] = ("traces",), **data: str
) -> dict[str, Any]:
    return {
        "apiVersion": constants.API_VERSION,
        "kind": "Destination",
        "metadata": {"name": name, "namespace": constants.NAMESPACE},
        "spec": {"type": kind, "signals": list(signals), "data": data},
    }


def _gateway_hash(admin: Api) -> str | None:
    dep = admin.get(DEPLOYMENTS, constants.NAMESPACE, constants.GATEWAY_NAME)
    if dep is None:
        return None
    value = dep["spec"]["template"]["metadata"]["annotations"].get(constants.ANNOTATION_CONFIG_HASH)
    return str(value) if value else None


def _configured(admin: Api, name: str) -> dict[str, Any] | None:
    dest = admin.get(DESTINATIONS, constants.NAMESPACE, name) or {}
    for cond in (dest.get("status") or {}).get("conditions") or []:
        if cond["type"] == "Configured" and cond.get("observedGeneration") == dest["metadata"]["generation"]:
            return dict(cond)
    return None


def test_collectors_follow_destinations_and_secrets(manager: Manager, admin: Api) -> None:
    secret = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "backend-token", "namespace": constants.NAMESPACE},
        "stringData": {"OTLP_GRPC_BEARER_TOKEN": "one"},
    }
    admin.apply(SECRETS, secret)
    good = _destination("backend", OTLP_GRPC_ENDPOINT="backend.example.invalid:4317")
    good["spec"]["secretRef"] = {"name": "backend-token"}
    try:
        admin.apply(DESTINATIONS, good)
        wait("gateway group", lambda: _group(admin, constants.GATEWAY_NAME))
        first = wait("gateway deployment", lambda: _gateway_hash(admin))
        for res, name in (
            (kube.SERVICES, constants.GATEWAY_NAME),
            (kube.HPAS, constants.GATEWAY_NAME),
            (CONFIGMAPS, constants.GATEWAY_NAME),
        ):
            obj = wait(f"{res.kind}", partial(admin.get, res, constants.NAMESPACE, name))
            assert obj["metadata"]["ownerReferences"][0]["kind"] == "CollectorsGroup"
        cm = admin.get(CONFIGMAPS, constants.NAMESPACE, constants.GATEWAY_NAME) or {}
        config = yaml.safe_load(cm["data"]["config.yaml"])
        assert "otlp_grpc/backend" in config["exporters"]
        assert config["service"]["pipelines"]["traces/in"]["processors"][0] == "memory_limiter"
        assert config["service"]["pipelines"]["traces/backend"]["exporters"] == ["otlp_grpc/backend"]
        env = (admin.get(DEPLOYMENTS, constants.NAMESPACE, constants.GATEWAY_NAME) or {})["spec"]["template"][
            "spec"
        ]["containers"][0]["env"]
        assert any(
            (e.get("valueFrom") or {}).get("secretKeyRef", {}).get("name") == "backend-token" for e in env
        )
        cond = wait("Configured condition", lambda: _configured(admin, "backend"))
        assert cond["status"] == "True"

        # A Secret edit changes the hash (and so rolls the gateway).
        admin.apply(SECRETS, {**secret, "stringData": {"OTLP_GRPC_BEARER_TOKEN": "two"}})
        second = wait("hash after secret edit", lambda: (h := _gateway_hash(admin)) != first and h)
        # Editing the destination changes config and hash.
        admin.apply(DESTINATIONS, _destination("backend", OTLP_GRPC_ENDPOINT="other.example.invalid:4317"))
        wait("hash after edit", lambda: (h := _gateway_hash(admin)) not in (first, second) and h)

        # An invalid second destination leaves the first working and says why.
        admin.apply(DESTINATIONS, _destination("broken", kind="otlp"))
        cond = wait(
            "broken status", lambda: (c := _configured(admin, "broken")) and c["status"] == "False" and c
        )
        assert cond["reason"] == "MissingField" and "OTLP_GRPC_ENDPOINT" in cond["message"]
        assert (_configured(admin, "backend") or {}).get("status") == "True"
        cm = admin.get(CONFIGMAPS, constants.NAMESPACE, constants.GATEWAY_NAME) or {}
        assert "otlp_grpc/backend" in yaml.safe_load(cm["data"]["config.yaml"])["exporters"]
    finally:
        admin.delete(DESTINATIONS, constants.NAMESPACE, "backend")
        admin.delete(DESTINATIONS, constants.NAMESPACE, "broken")
        admin.delete(SECRETS, constants.NAMESPACE, "backend-token")
    wait("gateway group removed", lambda: _group(admin, constants.GATEWAY_NAME) is None)


def _validate_with_collector(text: str, env: dict[str, str]) -> None:
    from destinations import collector

    require(collector.is_built(), "the pinned OpenTelemetry Collector is not built: run `make setup`")
    collector.validate(text, env=env)


def _writes(m: Manager) -> dict[str, int]:
    return {k: v for k, v in m.api.writes.items() if "leases" not in k and "events" not in k}


def test_steady_state_makes_zero_writes(
    manager: Manager, admin: Api, kube_cluster: KubeCluster, make_namespace: Any
) -> None:
    """Converged with records, runtimes, a destination, and both collector groups: a minute of nothing."""
    ns = make_namespace(annotations={constants.ANNOTATION_INSTRUMENTATION: "enabled"})
    for i in range(3):
        create(admin, DEPLOYMENTS, workload_body("Deployment", f"idle-{i}", ns))
    wait("records", lambda: len(record_names(admin, RECORDS, ns)) == 3)
    for i in range(3):  # the node agent's write: languages the webhook leaves alone, so nothing rolls
        body = {"status": {"containers": [{"name": "app", "language": "ruby"}]}}
        admin.merge_patch(RECORDS, ns, f"deployment-idle-{i}", body, sub="status")
    backend = _destination(
        "idle-backend", signals=("traces", "logs"), OTLP_GRPC_ENDPOINT="x.example.invalid:4317"
    )
    admin.apply(DESTINATIONS, backend)
    try:
        wait("gateway", lambda: _gateway_hash(admin))
        wait(
            "node collector",
            lambda: admin.get(DAEMONSETS, constants.NAMESPACE, constants.NODE_COLLECTOR_NAME),
        )
        wait("Configured", lambda: (_configured(admin, "idle-backend") or {}).get("status") == "True")
        # Converged: namespaces of earlier tests are gone, and the controller has written nothing for 10 s.
        wait("earlier namespaces gone", lambda: not _terminating(admin), timeout=120)
        wait("quiet", lambda: _quiet(manager, 10), timeout=120)
        before = _writes(manager)
        audit_before = len(_audit_writes(kube_cluster))
        assert audit_before > 0, "the audit log must show the controller's earlier writes"
        manager.enqueue_all()  # a full resync must not write either
        time.sleep(60)
        assert _writes(manager) == before
        assert len(_audit_writes(kube_cluster)) == audit_before
    finally:
        admin.delete(DESTINATIONS, constants.NAMESPACE, "idle-backend")


def _terminating(admin: Api) -> list[str]:
    items, _ = admin.list(NAMESPACES)
    return [n["metadata"]["name"] for n in items if (n.get("status") or {}).get("phase") == "Terminating"]


def _quiet(m: Manager, seconds: float) -> bool:
    before = _writes(m)
    time.sleep(seconds)
    return m.idle() and _writes(m) == before


def _audit_writes(kube_cluster: KubeCluster) -> list[dict[str, Any]]:
    return [
        e
        for e in kube_cluster.audit_events(USER)
        if e.get("verb") not in ("get", "list", "watch")
        and (e.get("objectRef") or {}).get("resource") not in ("leases", "events")
    ]


def test_only_the_leader_writes(
    manager: Manager, kube_cluster: KubeCluster, admin: Api, make_namespace: Any
) -> None:
    standby = Manager(
        _api(kube_cluster, "hodegos-controllers-standby"),
        identity="test-standby",
        lease_duration=6,
        resync=5,
        webhook_healthy=Switch(True),
    )
    standby.start()
    try:
        ns = make_namespace(annotations={constants.ANNOTATION_INSTRUMENTATION: "enabled"})
        create(admin, DEPLOYMENTS, workload_body("Deployment", "both", ns))
        wait("record by the leader", lambda: "deployment-both" in record_names(admin, RECORDS, ns))
        time.sleep(6)
        assert standby.elector is not None and not standby.elector.leading.is_set()
        assert _writes(standby) == {}
        assert standby.reconciles == 0
    finally:
        standby.shutdown()
