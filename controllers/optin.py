"""Who is opted in, and which InstrumentedApplications should exist.

Precedence (first that says something wins):

0. the cluster mode is ``off`` (uninstalling) -> never;
1. the namespace is ignored (configuration ``ignoredNamespaces``) -> never;
2. the workload annotation ``hodegos.io/instrumentation`` (on the workload, else on its pod template);
3. the namespace annotation;
4. the cluster default: ``mode: opt-out`` instruments everything, ``opt-in`` nothing.

A pod's own ``disabled`` annotation is honoured by the webhook, pod by pod; records are per workload.
Everything here is a pure function of wire-form dicts (as the API server returns them).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from api import constants
from api.config import HodegosConfig
from api.models import Sampler

# Kinds whose records the instrumentor keeps (Jobs, ReplicaSets and bare Pods belong to these or are
# left to the webhook).
WATCHED_KINDS: tuple[str, ...] = ("Deployment", "StatefulSet", "DaemonSet", "CronJob")
API_VERSIONS: dict[str, str] = {
    "Deployment": "apps/v1",
    "StatefulSet": "apps/v1",
    "DaemonSet": "apps/v1",
    "CronJob": "batch/v1",
}


@dataclass(frozen=True)
class OptIn:
    """The decision for one workload and why (``reason`` is a CamelCase condition reason)."""

    enabled: bool
    reason: str
    message: str


def _annotation(obj: Mapping[str, Any] | None) -> str | None:
    if not obj:
        return None
    value = (obj.get("metadata", {}).get("annotations") or {}).get(constants.ANNOTATION_INSTRUMENTATION)
    if value is None:
        return None
    value = str(value).strip().lower()
    return value if value in (constants.INSTRUMENTATION_ENABLED, constants.INSTRUMENTATION_DISABLED) else None


def pod_template(workload: Mapping[str, Any]) -> Mapping[str, Any]:
    """The pod template of any watched kind (CronJobs nest it in ``jobTemplate``)."""
    spec = workload.get("spec") or {}
    if workload.get("kind") == "CronJob":
        spec = (spec.get("jobTemplate") or {}).get("spec") or {}
    return spec.get("template") or {}


def template_path(kind: str) -> tuple[str, ...]:
    """Path from the object root to the pod template, for patches."""
    return ("spec", "jobTemplate", "spec", "template") if kind == "CronJob" else ("spec", "template")


def decide(workload: Mapping[str, Any], namespace: Mapping[str, Any] | None, config: HodegosConfig) -> OptIn:
    """Is ``workload`` opted in? ``namespace`` is its Namespace object (``None`` if not seen yet)."""
    ns_name = workload.get("metadata", {}).get("namespace", "")
    if config.mode == "off":
        return OptIn(False, "InstrumentationOff", "instrumentation is off cluster-wide (mode: off)")
    if ns_name in config.ignored_namespaces:
        return OptIn(False, "IgnoredNamespace", f"namespace {ns_name} is ignored by the configuration")
    for where, obj in (("workload", workload), ("pod template", pod_template(workload))):
        value = _annotation(obj)
        if value is not None:
            return OptIn(
                value == constants.INSTRUMENTATION_ENABLED,
                "WorkloadAnnotation",
                f"{where} annotation {constants.ANNOTATION_INSTRUMENTATION}={value}",
            )
    value = _annotation(namespace)
    if value is not None:
        return OptIn(
            value == constants.INSTRUMENTATION_ENABLED,
            "NamespaceAnnotation",
            f"namespace {ns_name} annotation {constants.ANNOTATION_INSTRUMENTATION}={value}",
        )
    return OptIn(config.mode == "opt-out", "ClusterDefault", f"cluster mode is {config.mode}")


def record_labels(kind: str, name: str) -> dict[str, str]:
    return {
        constants.LABEL_MANAGED_BY: constants.PRODUCT,
        constants.LABEL_PART_OF: constants.PRODUCT,
        constants.LABEL_COMPONENT: "instrumented-application",
        constants.LABEL_INSTANCE: name[:63],
        constants.LABEL_NAME: kind.lower(),
    }


def owner_reference(obj: Mapping[str, Any]) -> dict[str, Any]:
    """A controller owner reference to ``obj`` (garbage collection deletes the dependent with it)."""
    meta = obj["metadata"]
    return {
        "apiVersion": obj.get("apiVersion") or API_VERSIONS[obj["kind"]],
        "kind": obj["kind"],
        "name": meta["name"],
        "uid": meta["uid"],
        "controller": True,
        "blockOwnerDeletion": True,
    }


def desired_record(
    workload: Mapping[str, Any], config: HodegosConfig, sampler: Sampler | None = None
) -> dict[str, Any]:
    """The InstrumentedApplication (spec and metadata only) for an opted-in workload.

    ``sampler`` is the head sampler of the SamplingRules in scope (:func:`pipelines.sampling.head_sampler`);
    without one, the configuration's default.
    """
    kind = workload["kind"]
    meta = workload["metadata"]
    spec: dict[str, Any] = {
        "workload": {"kind": kind, "name": meta["name"]},
        "options": {"sampler": (sampler or config.default_sampler).to_dict()},
    }
    annotations = dict(meta.get("annotations") or {})
    annotations.update(pod_template(workload).get("metadata", {}).get("annotations") or {})
    service_name = annotations.get(constants.ANNOTATION_SERVICE_NAME)
    if service_name:
        spec["serviceName"] = service_name
    return {
        "apiVersion": constants.API_VERSION,
        "kind": "InstrumentedApplication",
        "metadata": {
            "name": constants.record_name(kind, meta["name"]),
            "namespace": meta["namespace"],
            "labels": record_labels(kind, meta["name"]),
            "ownerReferences": [owner_reference(workload)],
        },
        "spec": spec,
    }


Key = tuple[str, str]  # (namespace, name)


def desired_records(
    namespaces: Mapping[str, Mapping[str, Any]],
    workloads: Iterable[Mapping[str, Any]],
    config: HodegosConfig,
) -> dict[Key, dict[str, Any]]:
    """Every record that should exist, keyed by (namespace, record name)."""
    out: dict[Key, dict[str, Any]] = {}
    for workload in workloads:
        if workload.get("kind") not in WATCHED_KINDS or workload["metadata"].get("deletionTimestamp"):
            continue
        ns = workload["metadata"]["namespace"]
        if decide(workload, namespaces.get(ns), config).enabled:
            record = desired_record(workload, config)
            out[(ns, record["metadata"]["name"])] = record
    return out


def is_managed_record(record: Mapping[str, Any]) -> bool:
    labels = record.get("metadata", {}).get("labels") or {}
    return labels.get(constants.LABEL_MANAGED_BY) == constants.PRODUCT


def stale_records(existing: Iterable[Mapping[str, Any]], desired: Mapping[Key, Any]) -> list[Key]:
    """Records Hodegos made that should no longer exist (opted out, or the workload is gone)."""
    out = []
    for record in existing:
        meta = record["metadata"]
        key = (meta["namespace"], meta["name"])
        if is_managed_record(record) and key not in desired:
            out.append(key)
    return sorted(out)
