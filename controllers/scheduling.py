"""Which CollectorsGroups should exist, and which signals each carries (the scheduler's decision).

- The gateway exists when at least one enabled Destination exists; it carries the union of their signals.
- The node collector exists when at least one workload is instrumented (a record whose runtime details call
  for injection and that is not rolled back), when a Go container is traced with eBPF, or when a
  destination wants logs (the node collector tails container logs). It carries the gateway's signals; with
  no gateway it still runs, receiving and dropping nothing, so agents never export into a void.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from api import constants
from api.config import HodegosConfig
from api.models import SIGNALS
from controllers.rollouts import injection, wants_injection


def enabled_destinations(destinations: Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    return [
        d
        for d in destinations
        if not (d.get("spec") or {}).get("disabled") and not d.get("metadata", {}).get("deletionTimestamp")
    ]


def destination_signals(destinations: Iterable[Mapping[str, Any]]) -> list[str]:
    wanted = {
        s for d in enabled_destinations(destinations) for s in (d.get("spec") or {}).get("signals") or []
    }
    return [s for s in SIGNALS if s in wanted]


def uses_ebpf(records: Iterable[Mapping[str, Any]], config: HodegosConfig) -> bool:
    """A record names a container the node agent traces with eBPF (Go), and was not rolled back."""
    return any(
        d.action == "label"
        for r in records
        if not (r.get("status") or {}).get("rollback")
        for d in injection(r, config)
    )


def desired_groups(
    destinations: Iterable[Mapping[str, Any]],
    records: Iterable[Mapping[str, Any]],
    config: HodegosConfig,
    namespace: str = constants.NAMESPACE,
) -> dict[str, dict[str, Any]]:
    """CollectorsGroup objects keyed by name (spec and metadata only; status belongs to the autoscaler)."""
    destinations = list(destinations)
    records = list(records)
    signals = destination_signals(destinations)
    groups: dict[str, dict[str, Any]] = {}
    if enabled_destinations(destinations):
        groups[constants.GATEWAY_NAME] = _group(constants.GATEWAY_NAME, "gateway", signals, namespace)
    instrumented = any(wants_injection(r, config) for r in records)
    if instrumented or uses_ebpf(records, config) or "logs" in signals:
        groups[constants.NODE_COLLECTOR_NAME] = _group(
            constants.NODE_COLLECTOR_NAME, "node", signals, namespace
        )
    return groups


def _group(name: str, role: str, signals: list[str], namespace: str) -> dict[str, Any]:
    return {
        "apiVersion": constants.API_VERSION,
        "kind": "CollectorsGroup",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": {
                constants.LABEL_MANAGED_BY: constants.PRODUCT,
                constants.LABEL_PART_OF: constants.PRODUCT,
                constants.LABEL_COMPONENT: f"{role}-collector",
            },
        },
        "spec": {"role": role, "signals": signals},
    }
