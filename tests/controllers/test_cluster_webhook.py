"""Controllers and the real injection webhook together on the local control plane.

The webhook runs as ``hodegos webhook serve`` on the host (registered by URL); the controllers judge its
health for real (configuration present, ``/readyz`` answering). The test plays the node agent by writing
the detected runtime into the record, as ``hodegos agent`` does.
"""

from __future__ import annotations

from typing import Any

import pytest

from api import constants
from controllers import rollouts
from controllers.manager import Manager
from kube import Api
from kube.resources import DEPLOYMENTS, PODS, RECORDS
from localcluster.webhook_host import HostedWebhook
from tests.controllers.cluster_support import create, wait, workload_body

pytestmark = pytest.mark.cluster


def _pods(admin: Api, ns: str, app: str) -> list[dict[str, Any]]:
    items, _ = admin.list(PODS, ns, f"app={app}")
    return [p for p in items if not p["metadata"].get("deletionTimestamp")]


def _described(admin: Api, ns: str, app: str) -> list[tuple[Any, ...]]:
    return [
        (p["metadata"]["name"], p["metadata"].get("creationTimestamp"), rollouts.marker(p))
        for p in _pods(admin, ns, app)
    ]


def _all(admin: Api, ns: str, app: str, count: int, injected: bool) -> bool:
    pods = _pods(admin, ns, app)
    return len(pods) == count and all(
        rollouts.is_instrumented(p) == injected and (p.get("status") or {}).get("phase") == "Running"
        for p in pods
    )


def test_runtime_detected_rolls_pods_into_injection_and_opt_out_rolls_them_clean(
    controllers: Manager, webhook: HostedWebhook, admin: Api, make_namespace: Any
) -> None:
    assert controllers.ctx.webhook_healthy()
    ns = make_namespace(annotations={constants.ANNOTATION_INSTRUMENTATION: "enabled"})
    create(admin, DEPLOYMENTS, workload_body("Deployment", "shop", ns, replicas=2))
    wait(
        "uninjected pods (no runtime known yet)",
        lambda: _all(admin, ns, "shop", 2, injected=False),
        timeout=90,
    )
    wait("record", lambda: admin.get(RECORDS, ns, "deployment-shop"))
    body = {"status": {"containers": [{"name": "app", "language": "python", "libc": "glibc"}]}}
    admin.merge_patch(RECORDS, ns, "deployment-shop", body, sub="status")
    wait("injected pods after the rollout", lambda: _all(admin, ns, "shop", 2, injected=True), timeout=120)
    pod = _pods(admin, ns, "shop")[0]
    assert rollouts.marker(pod) == controllers.ctx.rules_version

    def rollout_condition() -> dict[str, Any] | None:
        rec = admin.get(RECORDS, ns, "deployment-shop") or {}
        for cond in (rec.get("status") or {}).get("conditions") or []:
            if cond["type"] == "WorkloadRollout" and cond["reason"] == "UpToDate":
                return dict(cond)
        return None

    assert wait("UpToDate", rollout_condition, timeout=60)["status"] == "True"

    admin.merge_patch(
        DEPLOYMENTS,
        ns,
        "shop",
        {"metadata": {"annotations": {constants.ANNOTATION_INSTRUMENTATION: "disabled"}}},
    )
    wait("clean pods after opt-out", lambda: _all(admin, ns, "shop", 2, injected=False), timeout=120)
    assert admin.get(RECORDS, ns, "deployment-shop") is None


def test_pods_created_while_the_webhook_was_down_are_rolled_once_it_is_back(
    controllers: Manager, webhook: HostedWebhook, admin: Api, make_namespace: Any
) -> None:
    ns = make_namespace(annotations={constants.ANNOTATION_INSTRUMENTATION: "enabled"})
    create(admin, DEPLOYMENTS, workload_body("Deployment", "late", ns, replicas=1))
    wait("record", lambda: admin.get(RECORDS, ns, "deployment-late"))
    body = {"status": {"containers": [{"name": "app", "language": "nodejs"}]}}
    admin.merge_patch(RECORDS, ns, "deployment-late", body, sub="status")
    wait("injected pod", lambda: _all(admin, ns, "late", 1, injected=True), timeout=120)

    assert webhook.stop() == "stopped"
    try:
        admin.merge_patch(DEPLOYMENTS, ns, "late", {"spec": {"replicas": 2}})  # fail-open: one pod uninjected
        # The controllers must not roll in the seconds their cached health still says "up": that rollout
        # would replace the injected pod with another the webhook never sees.
        try:
            wait(
                "a fail-open pod",
                lambda: len([p for p in _pods(admin, ns, "late") if not rollouts.is_instrumented(p)]) == 1,
                timeout=90,
            )
            wait(
                "controllers see the webhook down", lambda: not controllers.ctx.webhook_healthy(), timeout=30
            )
            assert (
                len(_pods(admin, ns, "late")) == 2
                and sum(map(rollouts.is_instrumented, _pods(admin, ns, "late"))) == 1
            )
        except AssertionError as exc:
            raise AssertionError(f"{exc}; pods={_described(admin, ns, 'late')}") from exc
    finally:
        webhook.start()
    try:
        wait("every pod injected again", lambda: _all(admin, ns, "late", 2, injected=True), timeout=180)
    except AssertionError as exc:
        conditions = (admin.get(RECORDS, ns, "deployment-late") or {}).get("status", {}).get("conditions")
        raise AssertionError(f"{exc}; conditions={conditions}; pods={_described(admin, ns, 'late')}") from exc
