"""The instrumentor: one InstrumentedApplication per opted-in workload, rollouts, rollback and recovery.

Reconciles one workload key ``(kind, namespace, name)`` at a time, from the caches:

1. opt-in decision -> apply the record (only if it differs) or delete a record Hodegos made;
2. injected pods failing inside the stability window -> ``status.rollback`` + ``RolledBack`` condition and
   a Warning event (the webhook then injects nothing); ``hodegos.io/recover-from-rollback: "true"`` on the
   workload clears it (and the annotation);
3. what the webhook will do with each container (:func:`controllers.rollouts.injection`, the webhook's own
   rule) -> the ``Injectable`` condition, with the reason for every container it will leave alone;
4. the rollout plan (:func:`controllers.rollouts.plan`) -> patch the pod template, within
   ``rollout.maxConcurrent``; the ``WorkloadRollout`` condition says why or why not.

Status is written with a JSON merge patch carrying the observed resourceVersion (a concurrent writer, such
as the node agent recording runtimes, makes it fail with 409 and the key is retried), and only when it
changes. Returns a delay after which the key should be looked at again, or ``None``.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from api import constants
from controllers import conditions, diffing, optin, rollouts
from controllers.context import Context
from kube.resources import BY_KIND, RECORDS
from pipelines import sampling
from webhook import eligibility

log = logging.getLogger(__name__)

WAIT_RETRY = 5.0  # seconds before looking again at a workload waiting for the webhook or a rollout slot


def in_flight(ctx: Context) -> int:
    return sum(
        1 for kind in ("Deployment", "StatefulSet", "DaemonSet") for w in ctx.cache(kind).items()
        if rollouts.hodegos_rolling(w)
    )  # fmt: skip


def _head_rules(ctx: Context) -> list[tuple[Any, Any]]:
    """The head samplers of the SamplingRules in the Hodegos namespace (invalid ones are reported there)."""
    rules = [r for r in ctx.cache("SamplingRule").items() if r["metadata"].get("namespace") == ctx.namespace]
    if not any("head" in (r.get("spec") or {}) for r in rules):
        return []
    return list(sampling.plan(rules).head)


def reconcile(ctx: Context, kind: str, namespace: str, name: str) -> float | None:
    now = ctx.clock()
    config = ctx.config
    workload = ctx.cache(kind).get(namespace, name)
    record_name = constants.record_name(kind, name)
    records = ctx.cache("InstrumentedApplication")
    record = records.get(namespace, record_name)

    if workload is None or workload["metadata"].get("deletionTimestamp"):
        if record is not None and optin.is_managed_record(record):
            ctx.api.delete(RECORDS, namespace, record_name)
            records.forget(namespace, record_name)
        return None

    decision = optin.decide(workload, ctx.cache("Namespace").get(None, namespace), config)
    if decision.enabled:
        sampler = sampling.head_sampler(_head_rules(ctx), namespace, kind, name)
        desired = diffing.stamp(optin.desired_record(workload, config, sampler))
        if not diffing.up_to_date(record, desired):
            record = ctx.api.apply(RECORDS, desired)
            records.remember(record)
            if decision.enabled and (record.get("metadata") or {}).get("generation") == 1:
                ctx.emit(workload, "Instrumented", f"opted in ({decision.message})", "Create")
    elif record is not None and optin.is_managed_record(record):
        ctx.api.delete(RECORDS, namespace, record_name)
        records.forget(namespace, record_name)
        ctx.emit(workload, "Uninstrumented", f"opted out ({decision.message})", "Delete")
        record = None

    pods = ctx.pods(namespace, kind, name)
    if record is not None:
        record = _reconcile_status(ctx, workload, record, pods, decision)

    plan = rollouts.plan(
        workload,
        pods,
        record,
        config,
        webhook_healthy=ctx.webhook_healthy(),
        now=now,
        rules_version=ctx.rules_version,
        cooldown=ctx.rollout_cooldown,
    )
    if plan.action == "rollout":
        if not rollouts.admit([name], in_flight(ctx), config.rollout.max_concurrent):
            return WAIT_RETRY
        if plan.target != "clean" and not (_record_is_current(ctx, record) and ctx.webhook_confirmed()):
            return WAIT_RETRY
        patched = ctx.api.apply(BY_KIND[kind], rollouts.restart_patch(workload, plan.target, now))
        ctx.cache(kind).remember(patched)
        ctx.emit(workload, "RolloutTriggered", f"rolling out to {plan.target}: {plan.message}", "Rollout")
        return None
    if plan.action == "wait":
        return WAIT_RETRY
    return None


def _record_is_current(ctx: Context, record: Mapping[str, Any] | None) -> bool:
    """Restarting pods to inject them is decided on the server's record, not only the cache's: right after
    an opt-out and an opt-in, a late watch event can bring a deleted record (with its detected languages)
    back into the cache, and a rollout then would restart pods the webhook leaves alone (the new record has
    no languages yet) and put the real rollout behind the cooldown."""
    if record is None:
        return False
    meta = record.get("metadata") or {}
    namespace, name = str(meta.get("namespace")), str(meta.get("name"))
    fresh = ctx.api.get(RECORDS, namespace, name)
    records = ctx.cache("InstrumentedApplication")
    if fresh is None:
        records.forget(namespace, name)
        return False
    if (fresh.get("metadata") or {}).get("uid") != meta.get("uid"):
        records.remember(fresh)
        return False
    return True


def _rollout_condition(plan: rollouts.Decision, generation: int | None) -> dict[str, Any]:
    return conditions.condition(
        "WorkloadRollout", plan.action == "none", plan.reason, plan.message, generation=generation
    )


def _injectable_condition(
    record: dict[str, Any], workload: dict[str, Any], ctx: Context, generation: int | None
) -> dict[str, Any]:
    """Will the webhook instrument this workload's pods, and why not for each container it leaves alone."""
    decisions = rollouts.injection(record, ctx.config, workload)
    message = eligibility.summary(decisions)
    if any(d.acts for d in decisions):
        return conditions.condition("Injectable", True, "AgentsApply", message, generation)
    if not ((record.get("status") or {}).get("containers")):
        return conditions.condition("Injectable", False, "WaitingForDetection", message, generation)
    return conditions.condition("Injectable", False, "NothingToInstrument", message, generation)


def _span_loss_condition(reports: dict[str, Any], generation: int | None) -> dict[str, Any]:
    """``SpansDropped`` from the node agents' ``status.spanLoss`` entries (the eBPF Go tracer's losses)."""
    dropping = sorted(node for node, report in reports.items() if report.get("dropping"))
    if dropping:
        message = "; ".join(f"{node}: {reports[node].get('message', '')}" for node in dropping)
        return conditions.condition("SpansDropped", True, "TracerLosingSpans", message, generation)
    total = sum(int(report.get("spansLost") or 0) for report in reports.values())
    message = f"no node is losing spans now ({total} lost earlier)"
    return conditions.condition("SpansDropped", False, "NoRecentLoss", message, generation)


def _reconcile_status(
    ctx: Context,
    workload: dict[str, Any],
    record: dict[str, Any],
    pods: list[dict[str, Any]],
    decision: optin.OptIn,
) -> dict[str, Any]:
    now = ctx.clock()
    status = record.get("status") or {}
    generation = record["metadata"].get("generation")
    rollback = status.get("rollback")
    recover = False
    if rollback and rollouts.recover_requested(workload):
        rollback, recover = None, True
    elif not rollback:
        rollback = rollouts.rollback_needed(workload, pods, ctx.config, now)
        if rollback:
            ctx.emit(
                workload,
                "RolledBack",
                f"injection disabled after {rollback['reason']}: {rollback['message']}",
                "Rollback",
                "Warning",
            )
    conds = conditions.set_condition(
        status.get("conditions"),
        conditions.condition("OptedIn", True, decision.reason, decision.message, generation),
        now,
    )
    if rollback:
        rolled = conditions.condition(
            "RolledBack", True, rollback["reason"], rollback.get("message", ""), generation
        )
    else:
        rolled = conditions.condition("RolledBack", False, "Healthy", "no rollback recorded", generation)
    conds = conditions.set_condition(conds, rolled, now)
    conds = conditions.set_condition(conds, _injectable_condition(record, workload, ctx, generation), now)
    if status.get("spanLoss"):
        conds = conditions.set_condition(conds, _span_loss_condition(status["spanLoss"], generation), now)
    view = {**record, "status": {**status, "rollback": rollback}}
    plan = rollouts.plan(
        workload, pods, view, ctx.config, webhook_healthy=ctx.webhook_healthy(), now=now,
        rules_version=ctx.rules_version, cooldown=ctx.rollout_cooldown,
    )  # fmt: skip
    conds = conditions.set_condition(conds, _rollout_condition(plan, generation), now)
    if conds == status.get("conditions") and rollback == status.get("rollback"):
        return record
    patch = {
        "metadata": {"resourceVersion": record["metadata"].get("resourceVersion")},
        "status": {"conditions": conds, "rollback": rollback, "observedGeneration": generation},
    }
    meta = record["metadata"]
    updated = ctx.api.merge_patch(RECORDS, meta["namespace"], meta["name"], patch, sub="status")
    ctx.cache("InstrumentedApplication").remember(updated)
    if recover:
        wmeta = workload["metadata"]
        ctx.api.merge_patch(
            BY_KIND[workload["kind"]],
            wmeta["namespace"],
            wmeta["name"],
            {"metadata": {"annotations": {constants.ANNOTATION_RECOVER: None}}},
        )
        ctx.emit(workload, "RecoveredFromRollback", "injection re-enabled by annotation", "Recover")
    return updated
