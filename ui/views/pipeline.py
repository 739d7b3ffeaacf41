"""The overview's picture: sources (by namespace) -> node collectors -> gateway -> destinations.

Each box has a health (``ok``, ``warn``, ``error``, ``off``), a line saying why, and its live throughput
from :mod:`ui.telemetry` (``None`` when there is no data, which the page says as such), and a link to its
details.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from api import constants
from api.models import SIGNALS
from controllers import collectors
from ui.cluster import Cluster
from ui.telemetry import GroupRates, destination_of
from ui.views import conditions
from ui.views.sources import SourceRow

MAX_NAMESPACES = 8  # namespaces drawn; the rest are summed into one "more" box


@dataclass
class Box:
    title: str
    health: str
    detail: str
    href: str
    rates: dict[str, float] | None = None  # signal -> per second; None: no data
    subtitle: str = ""


@dataclass
class Pipeline:
    sources: list[Box] = field(default_factory=list)
    node: Box | None = None
    gateway: Box | None = None
    destinations: list[Box] = field(default_factory=list)
    instrumented: int = 0
    enabled: int = 0
    metrics_note: str = ""


def _group_box(
    title: str, group: Mapping[str, Any] | None, workload: Mapping[str, Any] | None, rates: GroupRates | None,
    href: str,
) -> Box:  # fmt: skip
    if group is None:
        return Box(title, "off", "not running (nothing needs it yet)", href)
    ready, _reason, message = collectors.workload_ready(workload)
    box = Box(title, "ok" if ready else "warn", message, href)
    if rates is not None and rates.rates is not None:
        box.rates = {s: rates.rates.received.get(s, 0.0) for s in SIGNALS}
    return box


def build(
    cluster: Cluster, rows: Sequence[SourceRow], rates: Mapping[str, GroupRates], scraping: bool
) -> Pipeline:
    out = Pipeline()
    per_ns: dict[str, list[SourceRow]] = {}
    for r in rows:
        if r.enabled:
            per_ns.setdefault(r.namespace, []).append(r)
    out.enabled = sum(len(v) for v in per_ns.values())
    out.instrumented = sum(1 for v in per_ns.values() for r in v if r.state == "instrumented")
    ordered = sorted(per_ns.items(), key=lambda kv: (-len(kv[1]), kv[0]))
    for ns, mine in ordered[:MAX_NAMESPACES]:
        done = sum(1 for r in mine if r.state == "instrumented")
        rolled = sum(1 for r in mine if r.state == "rolled-back")
        health = "error" if rolled else "ok" if done == len(mine) else "warn"
        detail = f"{done}/{len(mine)} instrumented" + (f", {rolled} rolled back" if rolled else "")
        out.sources.append(Box(ns, health, detail, f"/sources?namespace={ns}", subtitle="namespace"))
    rest = ordered[MAX_NAMESPACES:]
    if rest:
        count = sum(len(v) for _, v in rest)
        out.sources.append(Box(f"{len(rest)} more namespaces", "ok", f"{count} workloads", "/sources"))
    groups = {g["metadata"]["name"]: g for g in cluster.group_list()}
    node = groups.get(constants.NODE_COLLECTOR_NAME)
    gateway = groups.get(constants.GATEWAY_NAME)
    out.node = _group_box(
        "Node collectors", node, cluster.collector_workload(node) if node else None,
        rates.get(constants.NODE_COLLECTOR_NAME), "/collectors#node",
    )  # fmt: skip
    out.gateway = _group_box(
        "Gateway", gateway, cluster.collector_workload(gateway) if gateway else None,
        rates.get(constants.GATEWAY_NAME), "/collectors#gateway",
    )  # fmt: skip
    if gateway is not None:
        hpa = cluster.hpa(constants.GATEWAY_NAME)
        if hpa is not None:
            status = hpa.get("status") or {}
            current = status.get("currentReplicas", 0)
            out.gateway.subtitle = (
                f"{current} replica{'' if current == 1 else 's'} "
                f"(autoscaled {hpa['spec'].get('minReplicas', 1)}-{hpa['spec'].get('maxReplicas')})"
            )
    names = [d["metadata"]["name"] for d in cluster.destination_list()]
    sent: dict[str, dict[str, float]] = {}
    gateway_rates = rates.get(constants.GATEWAY_NAME)
    if gateway_rates is not None and gateway_rates.rates is not None:
        for exporter, per in gateway_rates.rates.sent.items():
            owner = destination_of(exporter, names)
            if owner is not None:
                row = sent.setdefault(owner, {s: 0.0 for s in SIGNALS})
                for signal, value in per.items():
                    row[signal] += value
    for dest in cluster.destination_list():
        name = dest["metadata"]["name"]
        spec = dest.get("spec") or {}
        cond = conditions.current(dest, "Configured")
        if spec.get("disabled"):
            health, detail = "off", "disabled"
        elif cond is None:
            health, detail = "warn", "waiting for the controllers"
        elif cond.get("status") == "True":
            health, detail = "ok", str(cond.get("message") or "configured")
        else:
            health, detail = "error", f"{cond.get('reason')}: {cond.get('message')}"
        box = Box(name, health, detail, f"/destinations/{name}/edit", subtitle=str(spec.get("type", "")))
        box.rates = sent.get(name) if gateway_rates is not None and gateway_rates.rates is not None else None
        out.destinations.append(box)
    if not scraping:
        out.metrics_note = (
            "No data: throughput comes from the collectors' own metrics, which this UI can read only when it "
            "runs inside the cluster."
        )
    elif not any(r.rates is not None for r in rates.values()):
        out.metrics_note = "No data yet: no collector pod has answered twice on its metrics port."
    return out
