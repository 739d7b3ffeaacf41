"""``SpansDropped`` end to end: a node agent's ``status.spanLoss`` entry becomes the instrumentor's condition.

The real control plane and the real controller Manager; the node agent is played by the merge patch it
sends (``detector.tracing.LossReporter``'s, whose writing against the API server with a real tracer is
``tests/detector/test_agent_ebpf.py``). Checks that the controllers' status writes (whole conditions
list) and the agent's (its own key of a map) never erase each other.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from api import constants
from controllers.conditions import find
from controllers.manager import Manager
from kube import Api
from kube.resources import DEPLOYMENTS, RECORDS
from tests.controllers.cluster_support import Switch, create, wait, workload_body
from tests.controllers.conftest import api_for
from tests.kube import KubeCluster

pytestmark = pytest.mark.cluster


@pytest.fixture(scope="module")
def manager(kube_cluster: KubeCluster, system_namespace: str) -> Iterator[Manager]:
    m = Manager(
        api_for(kube_cluster, "hodegos-controllers-span-loss"),
        identity="span-loss-leader",
        workers=2,
        resync=30,
        lease_duration=6,
        webhook_healthy=Switch(True),
    )
    m.start()
    assert m.elector is not None
    wait("leadership", m.elector.leading.is_set, timeout=60)
    yield m
    m.shutdown()


def test_agent_loss_report_becomes_spans_dropped_and_nothing_is_erased(
    manager: Manager, admin: Api, make_namespace: Any
) -> None:
    ns = make_namespace(annotations={constants.ANNOTATION_INSTRUMENTATION: "enabled"})
    create(admin, DEPLOYMENTS, workload_body("Deployment", "web", ns))
    name = "deployment-web"

    def conditions() -> list[dict[str, Any]]:
        record = admin.get(RECORDS, ns, name) or {}
        found: list[dict[str, Any]] = (record.get("status") or {}).get("conditions") or []
        return found

    wait("the OptedIn condition", lambda: find(conditions(), "OptedIn"))
    assert find(conditions(), "SpansDropped") is None  # nothing lost: no condition at all

    entry = {
        "dropping": True,
        "spansLost": 150,
        "reasons": {"ring_buffer_full": 150},
        "lastLossTime": "2026-12-02T01:30:15Z",
        "message": "150 spans lost since the agent started (ring buffer full: 150)",
    }
    admin.merge_patch(RECORDS, ns, name, {"status": {"spanLoss": {"node-a": entry}}}, sub="status")
    dropped = wait(
        "SpansDropped True",
        lambda: (c := find(conditions(), "SpansDropped")) and c["status"] == "True" and c,
    )
    assert dropped["reason"] == "TracerLosingSpans"
    assert dropped["message"] == f"node-a: {entry['message']}"
    status = (admin.get(RECORDS, ns, name) or {})["status"]
    assert status["spanLoss"]["node-a"]["spansLost"] == 150  # the controllers' write kept the entry
    assert find(status["conditions"], "OptedIn") is not None

    quiet = {**entry, "dropping": False, "message": "no spans lost for 60s; 150 lost before"}
    admin.merge_patch(RECORDS, ns, name, {"status": {"spanLoss": {"node-a": quiet}}}, sub="status")
    recovered = wait(
        "SpansDropped False",
        lambda: (c := find(conditions(), "SpansDropped")) and c["status"] == "False" and c,
    )
    assert recovered["reason"] == "NoRecentLoss" and "150 lost earlier" in recovered["message"]
    assert find(conditions(), "OptedIn") is not None
