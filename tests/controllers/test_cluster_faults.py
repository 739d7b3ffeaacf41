"""Faults on the real control plane: controllers restarted mid-rollout, API server and etcd killed.

Everything must converge to the same state a calm run reaches, with nothing lost and nothing duplicated.
"""

from __future__ import annotations

import time
from functools import partial
from typing import Any

import pytest

from api import constants
from controllers.manager import Manager
from kube import Api, Unreachable
from kube.resources import DEPLOYMENTS, PODS, RECORDS
from localcluster import lifecycle, processes
from localcluster import state as cluster_state
from tests.controllers.cluster_support import Switch, create, record_names, wait, workload_body
from tests.controllers.conftest import api_for
from tests.kube import KubeCluster

pytestmark = pytest.mark.cluster


def _manager(kube_cluster: KubeCluster, identity: str) -> Manager:
    m = Manager(
        api_for(kube_cluster, f"hodegos-controllers-{identity}"),
        identity=identity,
        lease_duration=6,
        resync=10,
        webhook_healthy=Switch(True),
    )
    m.start()
    return m


def _runtime(admin: Api, ns: str, record: str) -> None:
    wait(f"record {record}", lambda: admin.get(RECORDS, ns, record), timeout=60)
    body = {"status": {"containers": [{"name": "app", "language": "python"}]}}
    admin.merge_patch(RECORDS, ns, record, body, sub="status")


def _target(admin: Api, ns: str, name: str) -> str | None:
    obj = admin.get(DEPLOYMENTS, ns, name) or {}
    annotations = obj.get("spec", {}).get("template", {}).get("metadata", {}).get("annotations") or {}
    return annotations.get(constants.ANNOTATION_ROLLOUT_TARGET)


def _targets(admin: Api, ns: str, name: str, target: str) -> bool:
    return _target(admin, ns, name) == target


def _running(admin: Api, ns: str, app: str) -> bool:
    items, _ = admin.list(PODS, ns, f"app={app}")
    return bool(items) and all((p.get("status") or {}).get("phase") == "Running" for p in items)


def test_restart_controllers_mid_rollout(
    kube_cluster: KubeCluster, admin: Api, make_namespace: Any, system_namespace: str
) -> None:
    ns = make_namespace(annotations={constants.ANNOTATION_INSTRUMENTATION: "enabled"})
    first = _manager(kube_cluster, "first")
    try:
        assert first.elector is not None
        wait("first leads", first.elector.leading.is_set, timeout=30)
        for name in ("a", "b", "c"):
            create(admin, DEPLOYMENTS, workload_body("Deployment", name, ns))
        for name in ("a", "b", "c"):
            wait(f"{name} running", partial(_running, admin, ns, name), timeout=90)
            _runtime(admin, ns, f"deployment-{name}")
        wait("a rollout started", lambda: _target(admin, ns, "a") == "inject", timeout=60)
    finally:
        first.shutdown()  # mid-rollout; releases the Lease
    # Edits while no controller runs.
    admin.merge_patch(
        DEPLOYMENTS,
        ns,
        "b",
        {"metadata": {"annotations": {constants.ANNOTATION_INSTRUMENTATION: "disabled"}}},
    )
    admin.delete(DEPLOYMENTS, ns, "c")
    create(admin, DEPLOYMENTS, workload_body("Deployment", "d", ns))
    second = _manager(kube_cluster, "second")
    try:
        assert second.elector is not None
        wait("second leads", second.elector.leading.is_set, timeout=30)
        wait(
            "records converge",
            lambda: record_names(admin, RECORDS, ns) == {"deployment-a", "deployment-d"},
            timeout=60,
        )
        wait("d running", lambda: _running(admin, ns, "d"), timeout=90)
        _runtime(admin, ns, "deployment-d")
        for name in ("a", "d"):
            wait(f"{name} rolled", partial(_targets, admin, ns, name, "inject"), timeout=60)

        # Kill etcd and the API server while a new record is being made; restart the control plane.
        create(admin, DEPLOYMENTS, workload_body("Deployment", "e", ns))
        record = cluster_state.load(kube_cluster.layout)
        assert record is not None
        killed = [p for p in record.processes if p.component in ("kube-apiserver", "etcd")]
        assert len(killed) == 2
        for proc in killed:
            assert processes.stop(proc, grace=2) != "not running"
        with pytest.raises(Unreachable):  # the API is really down
            admin.list(RECORDS, ns)
        time.sleep(3)
        result = lifecycle.up(kube_cluster.name, port=kube_cluster.ports.apiserver, build=False)
        assert not result.already_up
        wait("leader again", second.elector.leading.is_set, timeout=60)
        expected = {"deployment-a", "deployment-d", "deployment-e"}
        wait("records after outage", lambda: record_names(admin, RECORDS, ns) == expected, timeout=120)
        items, _ = admin.list(RECORDS, ns)
        assert sorted(i["metadata"]["name"] for i in items) == sorted(expected)  # nothing duplicated
    finally:
        second.shutdown()
