"""The whole story of one workload, for ``hodegos describe workload``: a pure function of what was read.

Opted in and why; detected runtimes; injection status of running pods; rollout and rollback state; and the
collectors its telemetry goes through.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from api import constants
from api.config import HodegosConfig
from api.models import Action, SamplingRule
from controllers import optin, rollouts
from pipelines import scope


def story(
    workload: Mapping[str, Any],
    namespace: Mapping[str, Any] | None,
    record: Mapping[str, Any] | None,
    pods: Sequence[Mapping[str, Any]],
    groups: Sequence[Mapping[str, Any]],
    config: HodegosConfig,
    webhook_healthy: bool | None = None,
    actions: Sequence[Mapping[str, Any]] = (),
    rules: Sequence[Mapping[str, Any]] = (),
) -> dict[str, Any]:
    meta = workload["metadata"]
    decision = optin.decide(workload, namespace, config)
    status = (record or {}).get("status") or {}
    when, target = rollouts.last_rollout(workload)
    plan = rollouts.plan(
        workload,
        pods,
        record,
        config,
        webhook_healthy=bool(webhook_healthy) if webhook_healthy is not None else True,
        now=_now(),
    )
    pod_rows = []
    for pod in pods:
        pmeta = pod.get("metadata") or {}
        annotations = pmeta.get("annotations") or {}
        failing = rollouts.failure(pod)
        pod_rows.append(
            {
                "name": pmeta.get("name"),
                "phase": (pod.get("status") or {}).get("phase"),
                "injected": rollouts.is_instrumented(pod),
                "rulesVersion": rollouts.marker(pod),
                "injectionStatus": annotations.get(constants.ANNOTATION_INJECTION_STATUS),
                "failing": failing[1] if failing else None,
            }
        )
    return {
        "workload": {"kind": workload["kind"], "namespace": meta["namespace"], "name": meta["name"]},
        "optIn": {"enabled": decision.enabled, "reason": decision.reason, "message": decision.message},
        "record": (record or {}).get("metadata", {}).get("name"),
        "runtimes": [
            {k: c.get(k) for k in ("name", "language", "runtimeVersion", "libc", "otherAgents") if c.get(k)}
            for c in status.get("containers") or []
        ],
        "pods": pod_rows,
        "rollout": {
            "target": plan.target,
            "next": plan.action,
            "reason": plan.reason,
            "message": plan.message,
            "lastRolloutAt": when.isoformat() if when else None,
            "lastRolloutTarget": target,
            "webhookHealthy": webhook_healthy,
        },
        "rollback": status.get("rollback"),
        "conditions": status.get("conditions") or [],
        "pipeline": _pipeline(workload, actions, rules),
        "collectors": [
            {
                "name": g["metadata"]["name"],
                "role": (g.get("spec") or {}).get("role"),
                "signals": (g.get("spec") or {}).get("signals") or [],
                "ready": (g.get("status") or {}).get("ready", False),
            }
            for g in groups
        ],
    }


def _now() -> datetime:
    return datetime.now(UTC)


def _pipeline(
    workload: Mapping[str, Any], actions: Sequence[Mapping[str, Any]], rules: Sequence[Mapping[str, Any]]
) -> dict[str, Any]:
    """The Actions and SamplingRules whose scope covers this workload, with whether each is applied."""
    meta = workload["metadata"]
    where = (meta.get("namespace", ""), workload["kind"], meta["name"])
    out: dict[str, list[dict[str, Any]]] = {"actions": [], "samplingRules": []}
    for key, model, objs in (("actions", Action, actions), ("samplingRules", SamplingRule, rules)):
        for obj in objs:
            try:
                parsed = model.model_validate({k: v for k, v in obj.items() if k != "status"})
            except ValueError:
                continue
            if parsed.spec.disabled or not scope.applies(parsed.spec.scope, *where):
                continue
            conds = (obj.get("status") or {}).get("conditions") or []
            applied: Mapping[str, Any] = next((c for c in conds if c.get("type") == "Applied"), {})
            out[key].append(
                {
                    "name": parsed.metadata.name,
                    "kind": parsed.spec.kind,
                    "applied": applied.get("status") == "True",
                    "reason": applied.get("reason"),
                }
            )
    return out
