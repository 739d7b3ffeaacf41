"""The UI's view of the cluster: shared informers, started once, read by every request.

No request lists anything: pages read these caches, so a page over 1,000 workloads costs what rendering
it costs. Writes go through :mod:`ui.writing`; an object the UI just wrote is put into its cache at once
(``remember``), so the page rendered after a write already shows it.

What is cached: Namespaces and the four workload kinds Hodegos keeps records for, every Pod (indexed by
workload, with the rule the controllers use), every InstrumentedApplication; in the Hodegos namespace only,
Destinations, Actions, SamplingRules, CollectorsGroups, Secrets (read for which keys they hold; values never
leave the server), ConfigMaps (the collectors' rendered configurations) and HorizontalPodAutoscalers; and
``hodegos-config`` through :class:`kube.LiveConfig`.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from api import constants
from api.config import HodegosConfig
from controllers import optin
from controllers.context import WORKLOAD_INDEX, workload_index, workload_key
from kube import Api, Informer, LiveConfig, Resource, wait_synced
from kube.resources import (
    ACTIONS,
    CONFIGMAPS,
    CRONJOBS,
    DAEMONSETS,
    DEPLOYMENTS,
    DESTINATIONS,
    GROUPS,
    HPAS,
    NAMESPACES,
    PODS,
    RECORDS,
    SAMPLING_RULES,
    SECRETS,
    STATEFULSETS,
)

T = TypeVar("T")
WORKLOAD_RESOURCES: dict[str, Resource] = {
    "Deployment": DEPLOYMENTS,
    "StatefulSet": STATEFULSETS,
    "DaemonSet": DAEMONSETS,
    "CronJob": CRONJOBS,
}


class Cluster:
    """Informers for everything the UI shows; :meth:`start` them once, then read."""

    def __init__(self, api: Api, namespace: str = constants.NAMESPACE) -> None:
        self.api = api
        self.namespace = namespace
        self.stop = threading.Event()
        self.started = False
        self.live_config = LiveConfig(api, namespace)
        self.namespaces = Informer(api, NAMESPACES)
        self.workloads = {kind: Informer(api, res) for kind, res in WORKLOAD_RESOURCES.items()}
        self.pods = Informer(api, PODS, indexers={WORKLOAD_INDEX: workload_index})
        self.records = Informer(api, RECORDS)
        self.destinations = Informer(api, DESTINATIONS, namespace=namespace)
        self.actions = Informer(api, ACTIONS, namespace=namespace)
        self.sampling_rules = Informer(api, SAMPLING_RULES, namespace=namespace)
        self.groups = Informer(api, GROUPS, namespace=namespace)
        self.secrets = Informer(api, SECRETS, namespace=namespace)
        self.configmaps = Informer(api, CONFIGMAPS, namespace=namespace)
        self.hpas = Informer(api, HPAS, namespace=namespace)
        # Bumped on every change any informer sees (and every write of ours): views computed from the caches
        # are kept until it moves (:meth:`memo`), so a page over 1,000 workloads does not recompute them.
        self.generation = 0
        self._memo: dict[str, tuple[int, Any]] = {}
        self._memo_lock = threading.Lock()
        for informer in self.informers:
            informer.add_handler(self._changed)

    def _changed(self, *_args: object) -> None:
        self.generation += 1

    def touch(self) -> None:
        """Our own write went into a cache (``remember``), which notifies no handler."""
        self.generation += 1

    def memo(self, key: str, build: Callable[[], T]) -> T:
        """``build()``, reused until the next change to any cache."""
        generation = self.generation
        with self._memo_lock:
            hit = self._memo.get(key)
        if hit is not None and hit[0] == generation:
            return hit[1]  # type: ignore[no-any-return]
        value = build()
        with self._memo_lock:
            self._memo[key] = (generation, value)
        return value

    # -- lifecycle -------------------------------------------------------------------------------------

    @property
    def informers(self) -> list[Informer]:
        return [
            self.live_config.informer, self.namespaces, *self.workloads.values(), self.pods, self.records,
            self.destinations, self.actions, self.sampling_rules, self.groups, self.secrets, self.configmaps,
            self.hpas,
        ]  # fmt: skip

    def start(self) -> Cluster:
        if not self.started:
            self.started = True
            for informer in self.informers:
                informer.start(self.stop)
        return self

    def wait_synced(self, timeout: float = 60.0) -> bool:
        return wait_synced(self.informers, self.stop, timeout)

    @property
    def synced(self) -> bool:
        return all(i.synced.is_set() for i in self.informers)

    def shutdown(self) -> None:
        self.stop.set()

    # -- configuration ---------------------------------------------------------------------------------

    @property
    def config(self) -> HodegosConfig:
        return self.live_config.current

    @property
    def config_error(self) -> str | None:
        return self.live_config.error

    def config_map(self) -> dict[str, Any] | None:
        return self.live_config.informer.get(self.namespace, self.live_config.name)

    # -- reads -----------------------------------------------------------------------------------------

    def namespace_obj(self, name: str) -> dict[str, Any] | None:
        return self.namespaces.get(None, name)

    def workload(self, kind: str, namespace: str, name: str) -> dict[str, Any] | None:
        informer = self.workloads.get(kind)
        return informer.get(namespace, name) if informer is not None else None

    def all_workloads(self) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for kind in optin.WATCHED_KINDS:
            out.extend(self.workloads[kind].items())
        return out

    def record(self, kind: str, namespace: str, name: str) -> dict[str, Any] | None:
        return self.records.get(namespace, constants.record_name(kind, name))

    def pods_of(self, kind: str, namespace: str, name: str) -> list[dict[str, Any]]:
        return self.pods.by_index(WORKLOAD_INDEX, workload_key(namespace, kind, name))

    def destination_list(self) -> list[dict[str, Any]]:
        return sorted(self.destinations.items(), key=lambda d: d["metadata"]["name"])

    def destination(self, name: str) -> dict[str, Any] | None:
        return self.destinations.get(self.namespace, name)

    def rule_informer(self, kind: str) -> Informer:
        """The cache of Actions (``kind`` "Action") or of SamplingRules."""
        return self.actions if kind == "Action" else self.sampling_rules

    def rule_list(self, kind: str) -> list[dict[str, Any]]:
        return sorted(self.rule_informer(kind).items(), key=lambda o: o["metadata"]["name"])

    def secret_keys(self, name: str) -> set[str]:
        """The keys a Secret in the Hodegos namespace holds (never its values)."""
        secret = self.secrets.get(self.namespace, name)
        return set((secret or {}).get("data") or {})

    def secret_data(self, name: str) -> dict[str, str]:
        """A Secret's raw (base64) data, for writes that keep values; never rendered."""
        secret = self.secrets.get(self.namespace, name)
        return dict((secret or {}).get("data") or {})

    def all_secret_keys(self) -> dict[str, list[str]]:
        return {s["metadata"]["name"]: list((s.get("data") or {}).keys()) for s in self.secrets.items()}

    def group_list(self) -> list[dict[str, Any]]:
        return sorted(self.groups.items(), key=lambda g: g["metadata"]["name"])

    def collector_workload(self, group: Mapping[str, Any]) -> dict[str, Any] | None:
        kind = "DaemonSet" if (group.get("spec") or {}).get("role") == "node" else "Deployment"
        return self.workload(kind, self.namespace, group["metadata"]["name"])

    def collector_pods(self, group: Mapping[str, Any]) -> list[dict[str, Any]]:
        kind = "DaemonSet" if (group.get("spec") or {}).get("role") == "node" else "Deployment"
        return self.pods_of(kind, self.namespace, group["metadata"]["name"])

    def hpa(self, name: str) -> dict[str, Any] | None:
        return self.hpas.get(self.namespace, name)

    def rendered_config(self, name: str) -> str | None:
        cm = self.configmaps.get(self.namespace, name)
        return ((cm or {}).get("data") or {}).get("config.yaml")


def settle() -> None:
    """Once the caches are synced: move what is alive now out of the cyclic collector's scans.

    The caches hold hundreds of thousands of small objects (a pod is ~100 dicts and strings); every full
    collection would walk them all and pause a request for tens of milliseconds. Cached objects are plain
    JSON trees (no cycles), so reference counting frees the ones a watch event replaces; the collector still
    runs for everything created afterwards.
    """
    gc.collect()
    gc.freeze()
