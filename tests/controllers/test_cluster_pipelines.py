"""Actions and SamplingRules on the local control plane: the controllers render them into the collectors'
ConfigMaps, report each object's Applied condition, keep an invalid one out while the others apply, and
switch the gateway to a StatefulSet (trace affinity) while tail sampling is on."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import yaml

from api import constants
from controllers.manager import Manager
from kube import Api
from kube.resources import (
    ACTIONS,
    CONFIGMAPS,
    DEPLOYMENTS,
    DESTINATIONS,
    RECORDS,
    SAMPLING_RULES,
    SERVICES,
    STATEFULSETS,
)
from tests.controllers.cluster_support import Switch, create, wait, workload_body
from tests.controllers.conftest import api_for
from tests.kube import KubeCluster

pytestmark = pytest.mark.cluster


@pytest.fixture(scope="module")
def manager(kube_cluster: KubeCluster, system_namespace: str) -> Iterator[Manager]:
    m = Manager(
        api_for(kube_cluster, "hodegos-controllers-pipelines"),
        identity="pipelines",
        lease_duration=6,
        webhook_healthy=Switch(True),
    )
    m.start()
    assert m.elector is not None
    wait("leadership", m.elector.leading.is_set, timeout=30)
    yield m
    m.shutdown()


def _obj(kind: str, name: str, spec: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": constants.API_VERSION,
        "kind": kind,
        "metadata": {"name": name, "namespace": constants.NAMESPACE},
        "spec": spec,
    }


def _applied(admin: Api, res: Any, name: str) -> dict[str, Any] | None:
    obj = admin.get(res, constants.NAMESPACE, name) or {}
    for cond in (obj.get("status") or {}).get("conditions") or []:
        if cond["type"] == "Applied" and cond.get("observedGeneration") == obj["metadata"].get("generation"):
            return dict(cond)
    return None


def _config(admin: Api, name: str) -> dict[str, Any]:
    cm = admin.get(CONFIGMAPS, constants.NAMESPACE, name) or {}
    return yaml.safe_load((cm.get("data") or {}).get("config.yaml") or "{}") or {}


def test_actions_and_rules_reach_the_collectors_with_their_conditions(
    manager: Manager, admin: Api, make_namespace: Any
) -> None:
    destination = _obj(
        "Destination",
        "pl-backend",
        {"type": "otlp", "signals": ["traces", "logs"], "data": {"OTLP_GRPC_ENDPOINT": "x.invalid:4317"}},
    )
    objects = [
        (ACTIONS, _obj("Action", "pl-rename", {"renameAttribute": {"from": "a", "to": "b"}})),
        (ACTIONS, _obj("Action", "pl-broken", {"renameAttribute": {"from": "a"}})),
        (ACTIONS, _obj("Action", "pl-labels", {"k8sAttributes": {"podLabels": "team"}})),
        (SAMPLING_RULES, _obj("SamplingRule", "pl-errors", {"errors": {}})),
        (SAMPLING_RULES, _obj("SamplingRule", "pl-head", {"head": {"ratio": 0.25}})),
    ]
    ns = make_namespace(annotations={constants.ANNOTATION_INSTRUMENTATION: "enabled"})
    try:
        admin.apply(DESTINATIONS, destination)
        for res, body in objects:
            admin.apply(res, body)
        create(admin, DEPLOYMENTS, workload_body("Deployment", "web", ns))

        assert wait("rename applied", lambda: _applied(admin, ACTIONS, "pl-rename"))["status"] == "True"
        broken = wait("broken reported", lambda: _applied(admin, ACTIONS, "pl-broken"))
        assert (broken["status"], broken["reason"]) == ("False", "MissingField") and "to" in broken["message"]
        assert wait("rule applied", lambda: _applied(admin, SAMPLING_RULES, "pl-errors"))["status"] == "True"
        gateway = wait(
            "gateway config with the action",
            lambda: (
                (c := _config(admin, constants.GATEWAY_NAME))
                and "transform/action-pl-rename" in c.get("processors", {})
                and c
            ),
        )
        assert "transform/action-pl-broken" not in gateway["processors"]
        assert gateway["service"]["pipelines"]["traces/in"]["processors"][1:] == [
            "tail_sampling",
            "transform/action-pl-rename",
        ]

        # Tail sampling is on: the gateway is a StatefulSet behind a headless Service; the node collector
        # sends each trace to the pod that owns it.
        wait(
            "gateway StatefulSet",
            lambda: admin.get(STATEFULSETS, constants.NAMESPACE, constants.GATEWAY_NAME),
        )
        wait(
            "headless Service",
            lambda: admin.get(SERVICES, constants.NAMESPACE, f"{constants.GATEWAY_NAME}-pods"),
        )
        wait(
            "gateway Deployment gone",
            lambda: admin.get(DEPLOYMENTS, constants.NAMESPACE, constants.GATEWAY_NAME) is None,
        )
        node = wait(
            "node config",
            lambda: (
                (c := _config(admin, constants.NODE_COLLECTOR_NAME))
                and "traces/gateway-0" in c.get("service", {}).get("pipelines", {})
                and c
            ),
        )
        endpoint = node["exporters"]["otlp_grpc/gateway-0"]["endpoint"]
        assert endpoint.startswith(
            f"{constants.GATEWAY_NAME}-0.{constants.GATEWAY_NAME}-pods.{constants.NAMESPACE}.svc"
        )
        assert {"tag_name": "k8s.pod.labels.team", "key": "team", "from": "pod"} in node["processors"][
            "k8s_attributes"
        ]["extract"]["labels"]

        # Head sampling: the record's sampler is the rule's.
        record = wait("record", lambda: admin.get(RECORDS, ns, "deployment-web"))
        sampler = wait(
            "head sampler on the record",
            lambda: (
                ((admin.get(RECORDS, ns, "deployment-web") or {}).get("spec") or {})
                .get("options", {})
                .get("sampler", {})
                .get("name")
                == "parentbased_traceidratio"
                and admin.get(RECORDS, ns, "deployment-web")
            ),
        )
        assert sampler["spec"]["options"]["sampler"]["argument"] == "0.25"
        assert record is not None

        # Edits and deletions follow; the gateway goes back to a Deployment when no tail rule is left.
        admin.apply(ACTIONS, _obj("Action", "pl-broken", {"renameAttribute": {"from": "a", "to": "c"}}))
        assert wait(
            "fixed", lambda: (c := _applied(admin, ACTIONS, "pl-broken")) and c["status"] == "True" and c
        )
        wait(
            "fixed action rendered",
            lambda: (
                "transform/action-pl-broken" in _config(admin, constants.GATEWAY_NAME).get("processors", {})
            ),
        )
        admin.delete(SAMPLING_RULES, constants.NAMESPACE, "pl-errors")
        wait(
            "tail sampling off",
            lambda: "tail_sampling" not in _config(admin, constants.GATEWAY_NAME).get("processors", {}),
        )
        wait(
            "gateway Deployment again",
            lambda: admin.get(DEPLOYMENTS, constants.NAMESPACE, constants.GATEWAY_NAME),
        )
        wait(
            "StatefulSet gone",
            lambda: admin.get(STATEFULSETS, constants.NAMESPACE, constants.GATEWAY_NAME) is None,
        )
        wait(
            "node back to one gateway exporter",
            lambda: (
                "traces"
                in _config(admin, constants.NODE_COLLECTOR_NAME).get("service", {}).get("pipelines", {})
            ),
        )
    finally:
        for res, body in objects:
            admin.delete(res, constants.NAMESPACE, body["metadata"]["name"])
        admin.delete(DESTINATIONS, constants.NAMESPACE, "pl-backend")
