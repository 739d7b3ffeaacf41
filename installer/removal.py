"""``hodegos uninstall``: instrumentation out first, then the release; with ``purge``, everything else.

1. ``hodegos-config`` gets ``mode: off`` (and automatic rollouts on): the controllers delete every record
   and roll every workload they instrumented back to clean pods, and the webhook injects nothing more;
2. wait until no pod of a rollable workload is instrumented (progress is shown; a timeout names the pods);
3. the CollectorsGroups are deleted (garbage collection removes the collectors), then the Helm release;
4. what the webhook made at run time: its certificate Secret, its MutatingWebhookConfiguration;
5. ``purge``: the pod-template annotations Hodegos set to roll workloads (removed by a server-side apply
   that drops the ``hodegos`` field manager's fields: one more clean rollout), the CRDs with every object
   of theirs, and the namespace if ``hodegos install`` made it.

:func:`still_instrumented` is the pure rule the wait uses.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import yaml

from api import constants
from api.config import CONFIG_KEY, load
from api.crds import KINDS
from api.workloads import workload_of
from controllers import optin, rollouts
from installer.errors import UninstallError
from installer.helm import Helm
from kube import Api
from kube.resources import (
    BY_KIND,
    CONFIGMAPS,
    CRDS,
    GROUPS,
    MUTATING_WEBHOOKS,
    NAMESPACES,
    PODS,
    RECORDS,
    SECRETS,
)

Progress = Callable[[str], None]
ROLLED_KINDS = ("Deployment", "StatefulSet", "DaemonSet")
TEMPLATE_ANNOTATIONS = (constants.ANNOTATION_RESTARTED_AT, constants.ANNOTATION_ROLLOUT_TARGET)


def still_instrumented(pods: Iterable[Mapping[str, Any]]) -> list[str]:
    """``namespace/name`` of live pods of rollable workloads that still carry an agent or the eBPF label."""
    out = []
    for pod in pods:
        meta = pod.get("metadata") or {}
        if meta.get("deletionTimestamp") or (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed"):
            continue
        workload = workload_of(pod)
        if workload is None or workload.kind not in ROLLED_KINDS or not rollouts.is_instrumented(pod):
            continue
        out.append(f"{meta.get('namespace')}/{meta.get('name')}")
    return sorted(out)


def left_alone(pods: Iterable[Mapping[str, Any]]) -> list[str]:
    """Instrumented pods no rollout can replace (bare pods, Jobs): they keep their agent until they end."""
    out = []
    for pod in pods:
        workload = workload_of(pod)
        if rollouts.is_instrumented(pod) and (workload is None or workload.kind not in ROLLED_KINDS):
            meta = pod.get("metadata") or {}
            out.append(f"{meta.get('namespace')}/{meta.get('name')}")
    return sorted(out)


def _turn_off(api: Api, namespace: str) -> None:
    current = api.get(CONFIGMAPS, namespace, constants.CONFIG_MAP)
    config, _ = load(current)
    off = config.model_copy(
        update={"mode": "off", "rollout": config.rollout.model_copy(update={"automatic": True})}
    )
    body = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": constants.CONFIG_MAP, "namespace": namespace},
        "data": {CONFIG_KEY: yaml.safe_dump(off.to_dict(), sort_keys=False)},
    }
    # Helm owns the ConfigMap's fields; forcing takes them over for the last minutes of the release.
    api.apply(CONFIGMAPS, body)


def _wait_clean(api: Api, timeout: float, say: Progress) -> list[str]:
    deadline = time.monotonic() + timeout
    last = None
    while True:
        records, _ = api.list(RECORDS)
        pods, _ = api.list(PODS)
        left = still_instrumented(pods)
        state = (len(records), len(left))
        if state != last:
            say(f"waiting: {len(records)} records, {len(left)} instrumented pods left")
            last = state
        if not records and not left:
            return left_alone(pods)
        if time.monotonic() > deadline:
            names = [f"{r['metadata']['namespace']}/{r['metadata']['name']}" for r in records[:10]]
            raise UninstallError(
                f"after {timeout:.0f}s, still instrumented: {', '.join(left[:10]) or 'none'}; records left: "
                f"{', '.join(names) or 'none'} (are the controllers running? "
                "`hodegos describe workload NS/KIND/NAME` says why)"
            )
        time.sleep(2)


def _strip_templates(api: Api, say: Progress) -> int:
    """Drop the restart annotations Hodegos set on pod templates (its field manager's fields)."""
    stripped = 0
    for kind in (*ROLLED_KINDS, "CronJob"):
        items, _ = api.list(BY_KIND[kind])
        for workload in items:
            annotations = optin.pod_template(workload).get("metadata", {}).get("annotations") or {}
            if not any(key in annotations for key in TEMPLATE_ANNOTATIONS):
                continue
            meta = workload["metadata"]
            body = {
                "apiVersion": workload["apiVersion"],
                "kind": kind,
                "metadata": {"name": meta["name"], "namespace": meta["namespace"]},
            }
            api.apply(BY_KIND[kind], body)
            stripped += 1
    if stripped:
        say(f"removed Hodegos's rollout annotations from {stripped} pod templates")
    return stripped


def uninstall(
    api: Api,
    helm: Helm,
    namespace: str = constants.NAMESPACE,
    *,
    purge: bool = False,
    timeout: float = 300.0,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Take Hodegos out; returns what was done (shaped for ``-o json|yaml``)."""
    say = progress or (lambda _m: None)
    report: dict[str, Any] = {"namespace": namespace, "purge": purge}
    installed = helm.status(namespace) is not None
    if installed and api.get(NAMESPACES, None, namespace) is not None:
        say("turning instrumentation off (hodegos-config mode: off)")
        _turn_off(api, namespace)
        report["leftInstrumented"] = _wait_clean(api, timeout, say)
    groups, _ = api.list(GROUPS, namespace)
    for group in groups:
        api.delete(GROUPS, namespace, group["metadata"]["name"])
    report["collectorsGroupsDeleted"] = len(groups)
    if installed:
        say("helm uninstall hodegos")
        helm.uninstall(namespace)
    report["releaseUninstalled"] = installed
    api.delete(SECRETS, namespace, constants.WEBHOOK_CERT_SECRET)
    api.delete(MUTATING_WEBHOOKS, None, constants.WEBHOOK_CONFIGURATION)
    if purge:
        report["templatesStripped"] = _strip_templates(api, say)
        for kind in KINDS:
            name = f"{kind.plural}.{constants.GROUP}"
            if api.delete(CRDS, None, name):
                say(f"deleted CRD {name}")
        ns = api.get(NAMESPACES, None, namespace)
        if ns is not None and optin.is_managed_record(ns):
            api.delete(NAMESPACES, None, namespace)
            say(f"deleted namespace {namespace}")
    return report
