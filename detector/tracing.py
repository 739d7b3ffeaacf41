"""Which Go processes of a pod the eBPF tracer should trace, with which resource: a pure core + a registry.

The webhook labels pods whose Go containers it cannot inject (``hodegos.io/ebpf-go``: ``true`` for every
Go container, or a comma-separated list of container names). For those containers the node agent hands
the application process to the tracer with the same resource attributes the webhook gives injected
languages (``service.name``, ``k8s.*``, ``service.instance.id``), so a Go service looks like any other.

The tracer itself lives in ``ebpf/``; this module only knows it as :class:`Attach`, a callable taking a
PID and a resource and returning something with ``close()``. Tracers detach by themselves when their
process exits; :meth:`GoTracing.forget` closes a deleted pod's tracers, and a new PID for a container
(a restart) replaces the old tracer.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any, Protocol

from api import constants, telemetry
from api.models import InstrumentedApplication
from detector.detection import Detection
from detector.records import container_names

log = logging.getLogger("hodegos.agent")
Resource = dict[str, str | int]


class Handle(Protocol):
    def close(self) -> None: ...


class Attach(Protocol):
    def __call__(self, pid: int, resource: Mapping[str, str | int]) -> Handle: ...


def service_name(pod: Mapping[str, Any], record: InstrumentedApplication) -> str:
    """As the webhook names injected services (:func:`api.telemetry.service_name`)."""
    metadata = pod.get("metadata") or {}
    workload = record.spec.workload
    return telemetry.service_name(
        pod_annotations=metadata.get("annotations"),
        record_service_name=record.spec.service_name,
        workload_kind=workload.kind,
        workload_name=workload.name,
        pod_name=str(metadata.get("name")),
    )


def go_resource(pod: Mapping[str, Any], record: InstrumentedApplication, container: str) -> Resource:
    """The resource of a Go container's spans: the webhook's attributes, with the pod's real values."""
    metadata = pod["metadata"]
    workload = record.spec.workload
    resource: Resource = {constants.ATTR_SERVICE_NAME: service_name(pod, record)}
    resource.update(
        telemetry.resource_attributes(
            namespace=metadata["namespace"],
            workload_kind=workload.kind,
            workload_name=workload.name,
            container=container,
            pod_name=metadata["name"],
            pod_uid=metadata["uid"],
            node_name=(pod.get("spec") or {}).get("nodeName") or "",
        )
    )
    return resource


def go_targets(
    pod: Mapping[str, Any], record: InstrumentedApplication, detections: Mapping[str, Detection]
) -> dict[str, tuple[int, Resource]]:
    """Container name -> (PID, resource) for each Go container of a labelled pod; empty when unlabelled."""
    label = ((pod.get("metadata") or {}).get("labels") or {}).get(constants.LABEL_EBPF_GO)
    if not label:
        return {}
    wanted = None if label == "true" else {name.strip() for name in label.split(",") if name.strip()}
    names = container_names(pod)
    targets: dict[str, tuple[int, Resource]] = {}
    for container_id, detection in detections.items():
        name = names.get(container_id)
        if name is None or detection.language != "go" or (wanted is not None and name not in wanted):
            continue
        targets[name] = (detection.pid, go_resource(pod, record, name))
    return targets


class GoTracing:
    """The tracers this agent holds, per pod UID and container name."""

    def __init__(self, attach: Attach, on_close: Callable[[], None] | None = None) -> None:
        self.attach = attach
        self.on_close = on_close  # e.g. flush and stop the exporter
        self.active: dict[str, dict[str, tuple[int, Handle]]] = {}

    def sync(self, pod_uid: str, targets: Mapping[str, tuple[int, Resource]]) -> list[str]:
        """Attach to new PIDs (replacing a container's previous tracer); returns what happened."""
        held = self.active.setdefault(pod_uid, {})
        outcomes = []
        for container, (pid, resource) in targets.items():
            if container in held and held[container][0] == pid:
                continue
            if container in held:
                held.pop(container)[1].close()
            try:
                held[container] = (pid, self.attach(pid, resource))
                outcomes.append(f"tracing {container} (pid {pid})")
            except Exception as exc:  # the tracer's errors carry the reason (not Go, unknown layout, gone)
                log.warning("cannot trace container %s pid %d: %s", container, pid, exc)
                outcomes.append(f"not tracing {container}: {exc}")
        return outcomes

    def forget(self, pod_uid: str) -> None:
        for _, handle in self.active.pop(pod_uid, {}).values():
            handle.close()

    def close(self) -> None:
        """Detach every tracer (the agent is stopping), then run ``on_close``."""
        for pod_uid in list(self.active):
            self.forget(pod_uid)
        if self.on_close:
            self.on_close()
