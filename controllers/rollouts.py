"""When to roll a workload so its pods get (or lose) injection, and when to roll back.

All functions are pure: they read wire-form dicts (workload, its pods, its InstrumentedApplication) and the
time, and return a decision. The instrumentor applies them.

Rules, in order, for :func:`plan`:

- The target is ``inject`` when no rollback is recorded and :func:`webhook.eligibility.decide` (the webhook's
  own rule) says the webhook will instrument at least one container of the workload's pod template, given
  what the node agent recorded; otherwise ``clean``. So a workload the webhook would leave alone (a language
  without rules, another APM agent, a clobbering ``valueFrom``) is never rolled for nothing.
- Nothing to do when every pod already matches the target (an injected pod carries
  ``hodegos.io/injected``, or the eBPF Go label; a clean pod carries neither).
- CronJobs are never rolled: each run makes new pods, which the webhook handles.
- Wait while the workload is still rolling, or while the webhook is not healthy (pods created now would be
  fail-open and uninjected; this is also how pods created while the webhook was down get fixed later).
- Never roll a workload into injection while its uninstrumented pods are already failing.
- A completed Hodegos rollout for the same target whose pods still miss the target (they came up while the
  webhook was down, or the webhook skipped them) is repeated no sooner than ``cooldown`` after the last one.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from api import constants
from api.config import HodegosConfig
from controllers.optin import pod_template, template_path
from kube.timestamps import parse_timestamp, timestamp
from webhook import eligibility
from webhook.eligibility import Eligibility

Target = Literal["inject", "clean"]
Action = Literal["none", "rollout", "wait", "blocked"]

DEFAULT_COOLDOWN = timedelta(minutes=5)


@dataclass(frozen=True)
class Decision:
    action: Action
    target: Target
    reason: str
    message: str


# -- pods --------------------------------------------------------------------------------------------------


def selector_matches(selector: Mapping[str, Any] | None, labels: Mapping[str, str] | None) -> bool:
    """``metav1.LabelSelector`` semantics; an empty or missing selector matches nothing (as workloads do)."""
    if not selector:
        return False
    labels = labels or {}
    match_labels = selector.get("matchLabels") or {}
    expressions = selector.get("matchExpressions") or []
    if not match_labels and not expressions:
        return False
    if any(labels.get(k) != v for k, v in match_labels.items()):
        return False
    for expr in expressions:
        key, op, values = expr.get("key"), expr.get("operator"), expr.get("values") or []
        if op == "In" and labels.get(key) not in values:
            return False
        if op == "NotIn" and key in labels and labels[key] in values:
            return False
        if op == "Exists" and key not in labels:
            return False
        if op == "DoesNotExist" and key in labels:
            return False
    return True


def pods_of(workload: Mapping[str, Any], pods: Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """Live pods selected by ``workload`` in its namespace (terminating and finished pods excluded)."""
    ns = workload["metadata"]["namespace"]
    selector = (workload.get("spec") or {}).get("selector")
    out = []
    for pod in pods:
        meta = pod.get("metadata", {})
        if meta.get("namespace") != ns or meta.get("deletionTimestamp"):
            continue
        if (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed"):
            continue
        if selector_matches(selector, meta.get("labels")):
            out.append(pod)
    return out


def marker(pod: Mapping[str, Any]) -> str | None:
    return (pod.get("metadata", {}).get("annotations") or {}).get(constants.ANNOTATION_INJECTED)


def is_instrumented(pod: Mapping[str, Any]) -> bool:
    meta = pod.get("metadata", {})
    return marker(pod) is not None or constants.LABEL_EBPF_GO in (meta.get("labels") or {})


def matches_target(pod: Mapping[str, Any], target: Target, rules_version: str | None = None) -> bool:
    if target == "clean":
        return not is_instrumented(pod)
    if not is_instrumented(pod):
        return False
    found = marker(pod)
    return rules_version is None or found is None or found == rules_version


def failure(pod: Mapping[str, Any]) -> tuple[str, str] | None:
    """``(reason, message)`` when the pod is failing: crash loop, OOM kill, or a failing init container."""
    status = pod.get("status") or {}
    for cs in status.get("initContainerStatuses") or []:
        state, last = cs.get("state") or {}, cs.get("lastState") or {}
        waiting = state.get("waiting") or {}
        terminated = state.get("terminated") or last.get("terminated") or {}
        if waiting.get("reason") == "CrashLoopBackOff" or (terminated and terminated.get("exitCode", 0) != 0):
            detail = waiting.get("reason") or terminated.get("reason") or "Error"
            return "InitContainerFailed", f"init container {cs.get('name')}: {detail}"
    for cs in status.get("containerStatuses") or []:
        state, last = cs.get("state") or {}, cs.get("lastState") or {}
        for term in (state.get("terminated") or {}, last.get("terminated") or {}):
            if term.get("reason") == "OOMKilled":
                return "OOMKilled", f"container {cs.get('name')} was OOMKilled"
        if (state.get("waiting") or {}).get("reason") == "CrashLoopBackOff":
            return "CrashLoopBackOff", f"container {cs.get('name')} is in CrashLoopBackOff"
    return None


# -- workloads ---------------------------------------------------------------------------------------------


def is_rolling(workload: Mapping[str, Any]) -> bool:
    """Is the workload controller still replacing pods (or has it not yet seen the latest spec)?"""
    kind = workload.get("kind")
    meta, spec, status = workload["metadata"], workload.get("spec") or {}, workload.get("status") or {}
    if kind == "CronJob":
        return False
    if status.get("observedGeneration", 0) < meta.get("generation", 0):
        return True
    if kind == "Deployment":
        want = spec.get("replicas", 1)
        updated = status.get("updatedReplicas", 0)
        return bool(
            updated < want
            or status.get("replicas", 0) > updated
            or status.get("availableReplicas", 0) < updated
        )
    if kind == "StatefulSet":
        want = spec.get("replicas", 1)
        revision_pending = status.get("updateRevision") not in (None, status.get("currentRevision"))
        return bool(status.get("updatedReplicas", 0) < want or revision_pending)
    if kind == "DaemonSet":
        want = status.get("desiredNumberScheduled", 0)
        return bool(status.get("updatedNumberScheduled", 0) < want or status.get("numberAvailable", 0) < want)
    return False


def last_rollout(workload: Mapping[str, Any]) -> tuple[datetime | None, str | None]:
    """When Hodegos last rolled the workload, and for which target."""
    annotations = pod_template(workload).get("metadata", {}).get("annotations") or {}
    return (
        parse_timestamp(annotations.get(constants.ANNOTATION_RESTARTED_AT)),
        annotations.get(constants.ANNOTATION_ROLLOUT_TARGET),
    )


def injection(
    record: Mapping[str, Any] | None, config: HodegosConfig, workload: Mapping[str, Any] | None = None
) -> list[Eligibility]:
    """The webhook's per-container decision: for the workload's pod template when given, else the record's."""
    containers = None
    if workload is not None:
        containers = [c for c in (pod_template(workload).get("spec") or {}).get("containers") or [] if c]
    return eligibility.decide_all(record, config, containers)


def wants_injection(
    record: Mapping[str, Any] | None, config: HodegosConfig, workload: Mapping[str, Any] | None = None
) -> bool:
    """Will the webhook instrument this workload's pods (no rollback, at least one container it acts on)?"""
    if not record or (record.get("status") or {}).get("rollback"):
        return False
    return any(d.acts for d in injection(record, config, workload))


def template_disabled(workload: Mapping[str, Any]) -> bool:
    """The pod template opts its pods out; the webhook will never inject them."""
    annotations = pod_template(workload).get("metadata", {}).get("annotations") or {}
    return annotations.get(constants.ANNOTATION_INSTRUMENTATION) == constants.INSTRUMENTATION_DISABLED


def plan(
    workload: Mapping[str, Any],
    pods: Sequence[Mapping[str, Any]],
    record: Mapping[str, Any] | None,
    config: HodegosConfig,
    *,
    webhook_healthy: bool,
    now: datetime,
    rules_version: str | None = None,
    cooldown: timedelta = DEFAULT_COOLDOWN,
) -> Decision:
    """Decide whether to roll ``workload``; ``pods`` are its own pods (see :func:`pods_of`)."""
    target: Target = (
        "inject" if wants_injection(record, config, workload) and not template_disabled(workload) else "clean"
    )
    mismatched = [p for p in pods if not matches_target(p, target, rules_version)]
    if not mismatched:
        return Decision("none", target, "UpToDate", f"all {len(pods)} pods match target {target}")
    if workload.get("kind") == "CronJob":
        return Decision("none", target, "NextRun", "the next CronJob run creates pods with the new setting")
    if not config.rollout.automatic:
        return Decision("blocked", target, "AutomaticRolloutDisabled", "automatic rollouts are disabled")
    when, last_target = last_rollout(workload)
    # Our own rollout to inject that is still going (its new pods may never become Ready: a crash loop the
    # rollback just caught) is superseded by a rollout to clean at once; any other rollout is waited for.
    if is_rolling(workload) and not (target == "clean" and last_target == "inject"):
        return Decision("wait", target, "RolloutInProgress", "the workload is still rolling out")
    if target == "inject" and not webhook_healthy:
        return Decision(
            "wait", target, "WebhookUnavailable", "waiting for the injection webhook to be healthy"
        )
    if target == "inject":
        failing = [f for p in pods if not is_instrumented(p) and (f := failure(p))]
        if failing:
            return Decision(
                "blocked",
                target,
                "UninstrumentedPodsFailing",
                f"pods already fail without instrumentation ({failing[0][1]}); not rolling out",
            )
    if when is not None and last_target == target and now - when < cooldown:
        # Our last rollout already aimed at this target and finished, yet pods still miss it: they came up
        # while the webhook was down (fail-open), or the webhook skipped them. Retry, but not in a loop.
        return Decision(
            "wait",
            target,
            "Cooldown",
            f"pods still lack target {target} after the rollout at {when}; retrying later",
        )
    return Decision(
        "rollout", target, "PodsOutOfDate", f"{len(mismatched)}/{len(pods)} pods lack target {target}"
    )


def created(pod: Mapping[str, Any]) -> datetime | None:
    return parse_timestamp(pod.get("metadata", {}).get("creationTimestamp"))


def restart_patch(workload: Mapping[str, Any], target: Target, now: datetime) -> dict[str, Any]:
    """A server-side-apply body that sets the restart annotations on the pod template."""
    body: dict[str, Any] = {
        "metadata": {
            "annotations": {
                constants.ANNOTATION_RESTARTED_AT: timestamp(now),
                constants.ANNOTATION_ROLLOUT_TARGET: target,
            }
        }
    }
    for key in reversed(template_path(workload["kind"])):
        body = {key: body}
    meta = workload["metadata"]
    return {
        "apiVersion": workload["apiVersion"],
        "kind": workload["kind"],
        "metadata": {"name": meta["name"], "namespace": meta["namespace"]},
        **body,
    }


def admit(candidates: Sequence[str], in_flight: int, max_concurrent: int) -> list[str]:
    """Which of ``candidates`` (sorted keys) may start now, given ``in_flight`` running rollouts."""
    room = max(0, max_concurrent - in_flight)
    return sorted(candidates)[:room]


def hodegos_rolling(workload: Mapping[str, Any]) -> bool:
    """A rollout Hodegos started is still running (counts against ``rollout.maxConcurrent``)."""
    when, _ = last_rollout(workload)
    return when is not None and is_rolling(workload)


# -- rollback ----------------------------------------------------------------------------------------------


def rollback_needed(
    workload: Mapping[str, Any],
    pods: Sequence[Mapping[str, Any]],
    config: HodegosConfig,
    now: datetime,
) -> dict[str, Any] | None:
    """A ``status.rollback`` body when injected pods fail within the stability window, else ``None``."""
    if not config.rollback.enabled:
        return None
    window = timedelta(seconds=config.rollback.stability_window_seconds)
    when, _ = last_rollout(workload)
    for pod in pods:
        # A pod being deleted belongs to a replaced revision (or a scale-down): its old failure says nothing
        # about the pods to come, and counting it right after a recovery would roll back again at once.
        if not is_instrumented(pod) or (pod.get("metadata") or {}).get("deletionTimestamp"):
            continue
        found = failure(pod)
        if not found:
            continue
        start = when or created(pod)
        if start is not None and now - start > window:
            continue
        reason, message = found
        name = pod.get("metadata", {}).get("name")
        return {"reason": reason, "message": f"pod {name}: {message}", "time": timestamp(now)}
    return None


def recover_requested(workload: Mapping[str, Any]) -> bool:
    annotations = workload.get("metadata", {}).get("annotations") or {}
    return str(annotations.get(constants.ANNOTATION_RECOVER, "")).lower() == "true"
