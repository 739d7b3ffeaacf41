"""The collectors page: each CollectorsGroup with its workload, replicas, autoscaler and rendered config.

The configuration shown is the ConfigMap the controllers rendered for the group, as the collector reads
it: secret fields appear only as the ``${env:...}`` references the renderer wrote.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from controllers import collectors
from ui.cluster import Cluster


@dataclass
class GroupView:
    name: str
    role: str
    signals: list[str]
    ready: bool
    ready_message: str
    desired: int
    available: int
    config_hash: str | None
    conditions: list[dict[str, Any]] = field(default_factory=list)
    hpa: dict[str, Any] | None = None
    config: str | None = None
    pods: list[dict[str, Any]] = field(default_factory=list)


def _replicas(workload: dict[str, Any] | None) -> tuple[int, int]:
    status = (workload or {}).get("status") or {}
    if (workload or {}).get("kind") == "DaemonSet":
        return int(status.get("desiredNumberScheduled", 0)), int(status.get("numberAvailable", 0))
    spec = (workload or {}).get("spec") or {}
    return int(spec.get("replicas", 0) if workload else 0), int(status.get("availableReplicas", 0))


def _hpa(obj: dict[str, Any] | None) -> dict[str, Any] | None:
    if obj is None:
        return None
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    metrics = []
    for current in status.get("currentMetrics") or []:
        resource = current.get("resource") or {}
        if not resource.get("name"):
            continue  # the HPA has no reading for this metric yet
        value = resource.get("current") or {}
        shown = value.get("averageUtilization")
        metrics.append(
            f"{resource.get('name')}: "
            + (f"{shown}%" if shown is not None else str(value.get("averageValue", "unknown")))
        )
    return {
        "min": spec.get("minReplicas", 1),
        "max": spec.get("maxReplicas"),
        "current": status.get("currentReplicas", 0),
        "desired": status.get("desiredReplicas", 0),
        "metrics": metrics or ["no metrics reported yet"],
        "conditions": status.get("conditions") or [],
    }


def groups(cluster: Cluster) -> list[GroupView]:
    out = []
    for group in cluster.group_list():
        name = group["metadata"]["name"]
        workload = cluster.collector_workload(group)
        ready, _reason, message = collectors.workload_ready(workload)
        desired, available = _replicas(workload)
        status = group.get("status") or {}
        role = (group.get("spec") or {}).get("role", "")
        pods = [
            {
                "name": p["metadata"]["name"],
                "node": (p.get("spec") or {}).get("nodeName"),
                "phase": (p.get("status") or {}).get("phase"),
            }
            for p in cluster.collector_pods(group)
        ]
        out.append(
            GroupView(
                name=name,
                role=role,
                signals=list((group.get("spec") or {}).get("signals") or []),
                ready=ready,
                ready_message=message,
                desired=desired,
                available=available,
                config_hash=status.get("configHash"),
                conditions=list(status.get("conditions") or []),
                hpa=_hpa(cluster.hpa(name)) if role == "gateway" else None,
                config=cluster.rendered_config(name),
                pods=sorted(pods, key=lambda p: p["name"]),
            )
        )
    return out
