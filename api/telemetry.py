"""How a workload's telemetry is named: ``service.name`` and the resource attributes, for every agent.

The webhook writes them into an injected container's ``OTEL_SERVICE_NAME`` / ``OTEL_RESOURCE_ATTRIBUTES``;
the node agent gives the same ones to the eBPF tracer of a Go container. One rule, so a Go service looks
exactly like a Python one at the backend.

At admission the pod has no name, UID or node yet: the webhook passes Kubernetes ``$(VAR)`` references to
downward-API variables instead of values, which the kubelet expands when the container starts.
"""

from __future__ import annotations

from collections.abc import Mapping

from api import constants


def service_name(
    *,
    pod_annotations: Mapping[str, str] | None,
    record_service_name: str | None,
    workload_kind: str,
    workload_name: str,
    pod_name: str,
) -> str:
    """The pod's annotation, else the record's override, else the workload's name (a bare pod's own name)."""
    override = (pod_annotations or {}).get(constants.ANNOTATION_SERVICE_NAME) or record_service_name
    if override:
        return str(override)
    return workload_name if workload_kind != "Pod" else pod_name


def resource_attributes(
    *,
    namespace: str,
    workload_kind: str,
    workload_name: str,
    container: str,
    pod_name: str,
    pod_uid: str,
    node_name: str,
) -> list[tuple[str, str]]:
    """The ``k8s.*`` attributes and ``service.instance.id``, in a stable order."""
    pairs = [
        (constants.ATTR_NAMESPACE, namespace),
        (constants.ATTR_POD_NAME, pod_name),
        (constants.ATTR_POD_UID, pod_uid),
        (constants.ATTR_NODE_NAME, node_name),
    ]
    if workload_kind != "Pod" and workload_kind in constants.WORKLOAD_ATTRIBUTE:
        pairs.append((constants.WORKLOAD_ATTRIBUTE[workload_kind], workload_name))
    pairs += [
        (constants.ATTR_CONTAINER_NAME, container),
        (constants.ATTR_SERVICE_INSTANCE_ID, f"{namespace}.{pod_name}.{container}"),
    ]
    return pairs
