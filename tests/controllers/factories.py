"""Wire-form Kubernetes objects for the controllers' pure-core tests."""

from __future__ import annotations

from typing import Any

from api import constants


def namespace(name: str, value: str | None = None) -> dict[str, Any]:
    annotations = {constants.ANNOTATION_INSTRUMENTATION: value} if value else {}
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "annotations": annotations}}


def workload(
    kind: str = "Deployment",
    name: str = "shop",
    ns: str = "apps",
    value: str | None = None,
    template_value: str | None = None,
    template_annotations: dict[str, str] | None = None,
    status: dict[str, Any] | None = None,
    generation: int = 1,
    containers: tuple[str, ...] = ("app",),
) -> dict[str, Any]:
    annotations = {constants.ANNOTATION_INSTRUMENTATION: value} if value else {}
    tpl_ann = dict(template_annotations or {})
    if template_value:
        tpl_ann[constants.ANNOTATION_INSTRUMENTATION] = template_value
    template = {
        "metadata": {"labels": {"app": name}, "annotations": tpl_ann},
        "spec": {"containers": [{"name": c, "image": f"{c}:1"} for c in containers]},
    }
    spec: dict[str, Any] = {"replicas": 2, "selector": {"matchLabels": {"app": name}}}
    if kind == "CronJob":
        spec = {"schedule": "* * * * *", "jobTemplate": {"spec": {"template": template}}}
    else:
        spec["template"] = template
    return {
        "apiVersion": "batch/v1" if kind == "CronJob" else "apps/v1",
        "kind": kind,
        "metadata": {
            "name": name,
            "namespace": ns,
            "uid": f"uid-{kind}-{name}",
            "generation": generation,
            "annotations": annotations,
        },
        "spec": spec,
        "status": status
        if status is not None
        else {
            "observedGeneration": generation,
            "replicas": 2,
            "updatedReplicas": 2,
            "availableReplicas": 2,
        },
    }


def pod(
    name: str = "shop-1",
    ns: str = "apps",
    app: str = "shop",
    injected: str | None = None,
    created: str = "2026-01-01T00:00:00Z",
    container_status: dict[str, Any] | None = None,
    init_status: dict[str, Any] | None = None,
    phase: str = "Running",
) -> dict[str, Any]:
    annotations = {constants.ANNOTATION_INJECTED: injected} if injected else {}
    status: dict[str, Any] = {"phase": phase}
    if container_status:
        status["containerStatuses"] = [{"name": "app", **container_status}]
    if init_status:
        status["initContainerStatuses"] = [{"name": "hodegos-agent", **init_status}]
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name,
            "namespace": ns,
            "labels": {"app": app},
            "annotations": annotations,
            "creationTimestamp": created,
        },
        "status": status,
    }


def record(
    language: str | None = "python",
    rollback: dict[str, Any] | None = None,
    container: str = "app",
    other_agents: tuple[str, ...] = (),
) -> dict[str, Any]:
    status: dict[str, Any] = {"containers": []}
    if language:
        entry: dict[str, Any] = {"name": container, "language": language}
        if other_agents:
            entry["otherAgents"] = list(other_agents)
        status["containers"].append(entry)
    if rollback:
        status["rollback"] = rollback
    return {
        "apiVersion": constants.API_VERSION,
        "kind": "InstrumentedApplication",
        "metadata": {"name": "deployment-shop", "namespace": "apps"},
        "spec": {"workload": {"kind": "Deployment", "name": "shop"}},
        "status": status,
    }


def destination(
    name: str, kind: str = "otlp", signals: tuple[str, ...] = ("traces",), **data: str
) -> dict[str, Any]:
    return {
        "apiVersion": constants.API_VERSION,
        "kind": "Destination",
        "metadata": {"name": name, "namespace": constants.NAMESPACE, "generation": 1},
        "spec": {"type": kind, "signals": list(signals), "data": data},
    }
