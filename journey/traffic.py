"""Driving and measuring the shop's traffic: the load generator's rate, spans counted at both ends of the
pipeline, the gateway's size, and what each Hodegos pod uses (metrics-server).

"Spans sent" are what the node collectors' receivers accepted (everything the agents and the eBPF tracer
exported); "spans received" are what Jaeger's OTLP receiver accepted. Both are the collectors' own
``otelcol_receiver_accepted_spans`` counters, read through the API server's pod and service proxies.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from api import constants
from journey import backend
from kube import Api
from kube import resources as res

LOADGEN = "loadgen"


def _ready(pod: dict[str, Any]) -> bool:
    conditions = (pod.get("status") or {}).get("conditions") or []
    running = not (pod.get("metadata") or {}).get("deletionTimestamp")
    return running and any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)


def _hodegos_pods(api: Api, prefix: str) -> list[dict[str, Any]]:
    pods, _ = api.list(res.PODS, constants.NAMESPACE)
    return [p for p in pods if p["metadata"]["name"].startswith(f"{prefix}-") and _ready(p)]


def spans_sent(api: Api) -> int:
    """Spans every node collector accepted since it started."""
    total = 0
    for pod in _hodegos_pods(api, constants.NODE_COLLECTOR_NAME):
        name = pod["metadata"]["name"]
        text = api.text(f"/api/v1/namespaces/{constants.NAMESPACE}/pods/{name}:8888/proxy/metrics")
        total += backend.counter(text, "otelcol_receiver_accepted_spans")
    return total


def spans_received(api: Api) -> int:
    """Spans Jaeger accepted since it started."""
    return backend.Jaeger(api).accepted_spans()


def set_load(api: Api, replicas: int, rate: float) -> None:
    """The load generator's replicas and requests per second (each), as one patch."""
    deployment = api.get(res.DEPLOYMENTS, backend.SHOP_NAMESPACE, LOADGEN) or {}
    containers = deployment["spec"]["template"]["spec"]["containers"]
    for container in containers:
        env = [e for e in container.get("env") or [] if e["name"] != "RATE"]
        container["env"] = [*env, {"name": "RATE", "value": f"{rate:g}"}]
    patch = {"spec": {"replicas": replicas, "template": {"spec": {"containers": containers}}}}
    api.merge_patch(res.DEPLOYMENTS, backend.SHOP_NAMESPACE, LOADGEN, patch)


def gateway_size(api: Api) -> tuple[int, int]:
    """(the HPA's current replicas, the gateway's Ready pods)."""
    hpa = api.get(res.HPAS, constants.NAMESPACE, constants.GATEWAY_NAME) or {}
    current = int((hpa.get("status") or {}).get("currentReplicas") or 0)
    return current, len(_hodegos_pods(api, constants.GATEWAY_NAME))


@dataclass(frozen=True)
class Usage:
    cpu_millis: float
    memory_mib: float


def _cpu_millis(quantity: str) -> float:
    units = {"n": 1e-6, "u": 1e-3, "m": 1.0}
    if quantity and quantity[-1] in units:
        return float(quantity[:-1]) * units[quantity[-1]]
    return float(quantity) * 1000


def _mib(quantity: str) -> float:
    units = {"Ki": 1 / 1024, "Mi": 1.0, "Gi": 1024.0, "k": 1000 / 2**20, "M": 1e6 / 2**20}
    for suffix, factor in units.items():
        if quantity.endswith(suffix):
            return float(quantity[: -len(suffix)]) * factor
    return float(quantity) / 2**20


def usage(api: Api, namespace: str = constants.NAMESPACE) -> dict[str, Usage]:
    """Component (the pods' ``app.kubernetes.io/name``) -> CPU and memory summed over its pods and
    containers, as metrics-server last measured them."""
    pods, _ = api.list(res.PODS, namespace)
    names = {
        p["metadata"]["name"]: (p["metadata"].get("labels") or {}).get(
            constants.LABEL_NAME, p["metadata"]["name"]
        )
        for p in pods
    }
    reply = json.loads(api.text(f"/apis/metrics.k8s.io/v1beta1/namespaces/{namespace}/pods"))
    cpu: dict[str, float] = {}
    memory: dict[str, float] = {}
    for item in reply.get("items") or []:
        component = names.get(item["metadata"]["name"], item["metadata"]["name"])
        for c in item.get("containers") or []:
            cpu[component] = cpu.get(component, 0.0) + _cpu_millis(str(c["usage"].get("cpu", "0")))
            memory[component] = memory.get(component, 0.0) + _mib(str(c["usage"].get("memory", "0")))
    return {k: Usage(round(cpu[k], 1), round(memory[k], 1)) for k in sorted(cpu)}
