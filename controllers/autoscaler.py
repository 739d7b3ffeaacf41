"""The scheduler and autoscaler, reconciled together under one key (``collectors``).

1. Scheduler: apply the CollectorsGroups :func:`controllers.scheduling.desired_groups` wants and delete the
   ones Hodegos made that are no longer wanted (garbage collection removes what they own).
2. Autoscaler: for each group, render its configuration, read the referenced Secrets, and apply the
   objects of :func:`controllers.collectors.desired_objects` that differ from the cache.
3. Status: CollectorsGroup ``ready``/``configHash``/``receiverSignals`` + ``Ready`` condition; each
   Destination gets a ``Configured`` condition saying whether it made it into the gateway and why not.

Everything is compared first; a reconcile of a converged system writes nothing.
"""

from __future__ import annotations

import base64
import logging
from collections.abc import Mapping
from typing import Any

import pipelines
from api import constants, telemetry
from controllers import collectors, conditions, diffing, optin, rendering, scheduling
from controllers.context import Context
from controllers.rollouts import wants_injection
from kube.resources import BY_KIND, DESTINATIONS, GROUPS

log = logging.getLogger(__name__)


def _secret_data(ctx: Context, name: str) -> dict[str, str] | None:
    secret = ctx.cache("Secret").get(ctx.namespace, name)
    if secret is None:
        return None
    return {k: base64.b64decode(v).decode(errors="replace") for k, v in (secret.get("data") or {}).items()}


def _in_namespace(ctx: Context, kind: str) -> list[dict[str, Any]]:
    return [d for d in ctx.cache(kind).items() if d["metadata"].get("namespace") == ctx.namespace]


def _gateway_replicas(ctx: Context, group: Mapping[str, Any] | None) -> int:
    """The gateway StatefulSet's replica count as the HPA set it (else the group's minimum)."""
    current = ctx.cache("StatefulSet").get(ctx.namespace, constants.GATEWAY_NAME)
    if current is not None and (current.get("spec") or {}).get("replicas"):
        return int(current["spec"]["replicas"])
    return collectors.resources_of(group or {}).min_replicas


def _remove(ctx: Context, kind: str, name: str) -> None:
    """Delete an object Hodegos made that a collector no longer wants (Deployment <-> StatefulSet)."""
    cache = ctx.cache(kind)
    found = cache.get(ctx.namespace, name)
    if found is not None and optin.is_managed_record(found):
        ctx.api.delete(BY_KIND[kind], ctx.namespace, name)
        cache.forget(ctx.namespace, name)


def reconcile(ctx: Context) -> float | None:
    destinations = _in_namespace(ctx, "Destination")
    actions = _in_namespace(ctx, "Action")
    rules = _in_namespace(ctx, "SamplingRule")
    records = ctx.cache("InstrumentedApplication").items()
    wanted = scheduling.desired_groups(destinations, records, ctx.config, ctx.namespace)
    groups = ctx.cache("CollectorsGroup")
    for existing in groups.items():
        meta = existing["metadata"]
        if (
            meta.get("namespace") == ctx.namespace
            and meta["name"] not in wanted
            and optin.is_managed_record(existing)
        ):
            ctx.api.delete(GROUPS, ctx.namespace, meta["name"])
            groups.forget(ctx.namespace, meta["name"])
            ctx.emit(existing, "Removed", "no longer needed", "Delete")
    secret_keys = {
        s["metadata"]["name"]: list((s.get("data") or {}).keys()) for s in ctx.cache("Secret").items()
    }
    tail = rendering.tail_sampling(rules)
    # Rendered again below with the gateway group's sizing; this one serves the statuses when none runs.
    gateway_render = rendering.render_gateway(destinations, secret_keys, actions=actions, rules=rules)
    for name, body in wanted.items():
        stamped = diffing.stamp(body)
        group = groups.get(ctx.namespace, name)
        if not diffing.up_to_date(group, stamped):
            group = ctx.api.apply(GROUPS, stamped)
            groups.remember(group)
        assert group is not None
        resources = collectors.resources_of(group)
        stateful = False
        if group["spec"]["role"] == "gateway":
            rendered = gateway_render = rendering.render_gateway(
                destinations, secret_keys, actions=actions, rules=rules, resources=resources
            )
            stateful = tail
        else:
            pods: list[str] = []
            if tail and constants.GATEWAY_NAME in wanted:
                replicas = _gateway_replicas(ctx, groups.get(ctx.namespace, constants.GATEWAY_NAME))
                pods = collectors.gateway_pod_endpoints(ctx.namespace, replicas)
            rendered = rendering.render_node(
                destinations,
                collectors.gateway_endpoint(ctx.namespace),
                _log_sources(records, ctx),
                actions=actions,
                gateway_pods=pods,
                resources=resources,
            )
        secrets = {s: _secret_data(ctx, s) for s in rendered.secrets}
        objects, digest = collectors.desired_objects(
            group,
            rendered.config,
            secrets,
            ctx.image,
            rendered.env,
            stateful=stateful,
            service_account=ctx.collector_service_accounts,
        )
        workload = None
        for obj in objects:
            stamped_obj = diffing.stamp(obj)
            cache = ctx.cache(obj["kind"])
            observed = cache.get(ctx.namespace, obj["metadata"]["name"])
            if not diffing.up_to_date(observed, stamped_obj):
                observed = ctx.api.apply(BY_KIND[obj["kind"]], stamped_obj)
                cache.remember(observed)
            if obj["kind"] in ("Deployment", "StatefulSet", "DaemonSet"):
                workload = observed
        if group["spec"]["role"] == "gateway":
            if stateful:
                _remove(ctx, "Deployment", constants.GATEWAY_NAME)
            else:
                _remove(ctx, "StatefulSet", constants.GATEWAY_NAME)
                _remove(ctx, "Service", collectors.PODS_SERVICE)
        _group_status(ctx, group, workload, digest)
    for dest in destinations:
        _destination_status(ctx, dest, gateway_render.results)
    no_gateway = constants.GATEWAY_NAME not in wanted
    checks = (("Action", actions, gateway_render.actions), ("SamplingRule", rules, gateway_render.rules))
    for kind, objs, results in checks:
        for obj in objs:
            result = results.get(obj["metadata"]["name"])
            if result is not None and result.configured and no_gateway:
                result = rendering.Result(
                    False, "NoGateway", "no destination is configured, so no gateway runs"
                )
            _applied_status(ctx, kind, obj, result)
    return None


def _log_sources(records: list[dict[str, Any]], ctx: Context) -> list[pipelines.LogSource]:
    """The instrumented workloads whose pod logs the node collector reads, each with its service name."""
    sources = []
    for r in records:
        namespace = r["metadata"]["namespace"]
        if not wants_injection(r, ctx.config) or namespace in ctx.config.ignored_namespaces:
            continue
        spec = r.get("spec") or {}
        workload = spec.get("workload") or {}
        name = str(workload.get("name") or "")
        if not name:
            continue
        service = telemetry.service_name(
            pod_annotations=None, record_service_name=spec.get("serviceName"),
            workload_kind=str(workload.get("kind") or ""), workload_name=name, pod_name="",
        )  # fmt: skip
        sources.append(pipelines.LogSource(namespace, f"{name}-", service))
    return sorted(sources, key=lambda s: (s.namespace, s.pod_prefix))


def _group_status(
    ctx: Context, group: dict[str, Any], workload: Mapping[str, Any] | None, digest: str
) -> None:
    now = ctx.clock()
    status = group.get("status") or {}
    generation = group["metadata"].get("generation")
    ready, reason, message = collectors.workload_ready(workload)
    conds = conditions.set_condition(
        status.get("conditions"), conditions.condition("Ready", ready, reason, message, generation), now
    )
    new = {
        "observedGeneration": generation,
        "ready": ready,
        "configHash": digest,
        "receiverSignals": list(group["spec"].get("signals") or []),
        "conditions": conds,
    }
    if all(status.get(k) == v for k, v in new.items()):
        return
    meta = group["metadata"]
    patch = {"metadata": {"resourceVersion": meta.get("resourceVersion")}, "status": new}
    ctx.cache("CollectorsGroup").remember(
        ctx.api.merge_patch(GROUPS, meta["namespace"], meta["name"], patch, sub="status")
    )


def _destination_status(ctx: Context, dest: dict[str, Any], results: Mapping[str, rendering.Result]) -> None:
    name = dest["metadata"]["name"]
    generation = dest["metadata"].get("generation")
    result = results.get(name) or rendering.Result(False, "NotRendered", "not seen by the renderer")
    cond = conditions.condition("Configured", result.configured, result.reason, result.message, generation)
    status = dest.get("status") or {}
    conds = conditions.set_condition(status.get("conditions"), cond, ctx.clock())
    if conds == status.get("conditions") and status.get("observedGeneration") == generation:
        return
    was = conditions.find(status.get("conditions"), "Configured")
    if cond["status"] == "False" and (was is None or was.get("message") != cond["message"]):
        severity = "Normal" if cond["reason"] == "Disabled" else "Warning"
        ctx.emit(dest, cond["reason"], cond["message"], "Configure", severity)
    patch = {
        "metadata": {"resourceVersion": dest["metadata"].get("resourceVersion")},
        "status": {"conditions": conds, "observedGeneration": generation},
    }
    meta = dest["metadata"]
    ctx.cache("Destination").remember(
        ctx.api.merge_patch(DESTINATIONS, meta["namespace"], name, patch, sub="status")
    )


def _applied_status(ctx: Context, kind: str, obj: dict[str, Any], result: rendering.Result | None) -> None:
    """The ``Applied`` condition of an Action or SamplingRule; a Warning event when it newly fails."""
    meta = obj["metadata"]
    generation = meta.get("generation")
    result = result or rendering.Result(False, "NotRendered", "not seen by the renderer")
    cond = conditions.condition("Applied", result.configured, result.reason, result.message, generation)
    status = obj.get("status") or {}
    conds = conditions.set_condition(status.get("conditions"), cond, ctx.clock())
    if conds == status.get("conditions") and status.get("observedGeneration") == generation:
        return
    was = conditions.find(status.get("conditions"), "Applied")
    if cond["status"] == "False" and (was is None or was.get("message") != cond["message"]):
        severity = "Normal" if cond["reason"] in ("Disabled", "NoGateway") else "Warning"
        ctx.emit(obj, cond["reason"], cond["message"], "Apply", severity)
    patch = {
        "metadata": {"resourceVersion": meta.get("resourceVersion")},
        "status": {"conditions": conds, "observedGeneration": generation},
    }
    updated = ctx.api.merge_patch(BY_KIND[kind], meta["namespace"], meta["name"], patch, sub="status")
    ctx.cache(kind).remember(updated)
