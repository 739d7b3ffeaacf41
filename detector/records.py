"""From a pod and its detections to an InstrumentedApplication status patch: pure functions.

- Which workload (and so which record) a pod belongs to is :func:`api.workloads.candidates`, the rule the
  webhook uses too.
- :func:`container_names` maps runtime container IDs (from cgroups) to the pod's container names.
- :func:`status_patch` merges one pod's detections into the record's ``status.containers``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from api import constants
from api.models import ContainerRuntime, InstrumentedApplication
from detector.detection import Detection


def bare_container_id(container_id: str) -> str:
    """``containerd://abc`` -> ``abc`` (the form cgroup paths carry)."""
    return container_id.split("://", 1)[-1]


def container_names(pod: Mapping[str, Any]) -> dict[str, str]:
    """Bare container ID -> container name, for running app and sidecar containers of ``pod``."""
    status = pod.get("status") or {}
    statuses = list(status.get("containerStatuses") or []) + list(status.get("initContainerStatuses") or [])
    names: dict[str, str] = {}
    for entry in statuses:
        if entry.get("containerID") and (entry.get("state") or {}).get("running") is not None:
            names[bare_container_id(entry["containerID"])] = entry["name"]
    return names


def merge_containers(
    current: Iterable[ContainerRuntime], found: Iterable[ContainerRuntime]
) -> list[ContainerRuntime]:
    """Replace entries by name, keep the others (from pods on other nodes), append new names at the end."""
    merged = {entry.name: entry for entry in current}
    for entry in found:
        merged[entry.name] = entry
    return list(merged.values())


def status_patch(
    pod: Mapping[str, Any],
    detections: Mapping[str, Detection],
    record: InstrumentedApplication,
    ignored_containers: Iterable[str] = constants.DEFAULT_IGNORED_CONTAINERS,
) -> dict[str, Any] | None:
    """A JSON merge patch for the record's status, or ``None`` when it already says the same.

    ``detections`` maps bare container IDs to each container's application process. The patch carries
    the record's ``resourceVersion`` so a concurrent writer makes it fail (409) instead of being lost.
    """
    ignored = set(ignored_containers)
    names = container_names(pod)
    found: list[ContainerRuntime] = []
    for container_id, detection in detections.items():
        name = names.get(container_id)
        if name is None:
            continue  # the sandbox (pause) or a container that is no longer running
        runtime = detection.container_runtime(name)
        if name in ignored:
            runtime = runtime.model_copy(
                update={"language": "ignored", "evidence": "container name is ignored"}
            )
        found.append(runtime)
    current = record.status.containers if record.status else []
    merged = merge_containers(current, found)
    if merged == current:
        return None
    return {
        "metadata": {"resourceVersion": record.metadata.resource_version},
        "status": {"containers": [entry.to_dict() for entry in merged]},
    }
