"""``hodegos agent run``: watch this node's pods, detect what their containers run, record it.

Loop: list the node's pods (field selector ``spec.nodeName``), reconcile each, then watch from the list's
resourceVersion until the resync period ends, reconciling on every added or modified pod; repeat. A pod
is reconciled when it is Running: its processes are found by scanning ``/proc/*/cgroup`` for its UID,
grouped by container ID, the application process of each container is detected, and the result is
merged into its workload's InstrumentedApplication (:mod:`detector.writer`); Go containers of pods the
webhook labelled are handed to the eBPF tracer (:mod:`detector.tracing`), and let go when the pod goes.
Containers already recorded (by ID) with a known language are not inspected again; containers with no
process yet, or whose process is still unknown (a start script about to exec its runtime), are looked at
again at the next event or resync.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from kubernetes import watch
from kubernetes.client import ApiClient, CoreV1Api
from kubernetes.client.exceptions import ApiException

from api import constants
from api.config import HodegosConfig
from controllers import configuration
from detector.cgroups import pod_processes
from detector.detection import Detection, ElfCache, inspect
from detector.errors import DetectorError
from detector.picking import pick_application
from detector.procfs import DEFAULT_PROC
from detector.records import container_names
from detector.tracing import GoTracing, go_targets
from detector.writer import RecordStore, find_record, record_detections

log = logging.getLogger("hodegos.agent")


def detect_pod(
    pod_uid: str, proc: Path = DEFAULT_PROC, cache: ElfCache | None = None
) -> dict[str, Detection]:
    """Container ID -> the detection of its application process, for every container of the pod found here."""
    cache = cache or ElfCache()
    result: dict[str, Detection] = {}
    for container_id, pids in pod_processes(pod_uid, proc).items():
        detections = []
        for pid in pids:
            try:
                detections.append(inspect(pid, proc, cache))
            except DetectorError as exc:
                log.debug("skipping pid %d: %s", pid, exc)
        choice = pick_application(detections)
        if choice is not None:
            result[container_id] = choice.detection
    return result


class NodeAgent:
    """Per-node detection loop. ``reconcile`` is one pass over a pod; ``run`` keeps watching."""

    def __init__(
        self,
        core: CoreV1Api,
        store: RecordStore,
        node: str,
        proc: Path = DEFAULT_PROC,
        ignored_namespaces: Iterable[str] = constants.DEFAULT_IGNORED_NAMESPACES,
        ignored_containers: Iterable[str] = constants.DEFAULT_IGNORED_CONTAINERS,
        tracing: GoTracing | None = None,
        config_namespace: str | None = constants.NAMESPACE,
    ) -> None:
        self.core = core
        self.store = store
        self.node = node
        self.proc = proc
        self.ignored_namespaces = set(ignored_namespaces)
        self.ignored_containers = list(ignored_containers)
        self.tracing = tracing  # None: detection only, no eBPF tracing of Go containers
        self.config_namespace = config_namespace  # where hodegos-config lives; None: use the lists given
        self.config: HodegosConfig | None = None
        self.cache = ElfCache()
        self.recorded: dict[str, set[str]] = {}  # pod UID -> container IDs already recorded
        self._serializer = ApiClient()

    def _as_dict(self, pod: Any) -> dict[str, Any]:
        if isinstance(pod, dict):
            return pod
        serialize: Any = self._serializer.sanitize_for_serialization  # untyped in the client
        return dict(serialize(pod))

    def reconcile(self, pod_obj: Any) -> str:
        pod = self._as_dict(pod_obj)
        metadata = pod["metadata"]
        where = f"{metadata['namespace']}/{metadata['name']}"
        if metadata["namespace"] in self.ignored_namespaces:
            return f"{where}: ignored namespace"
        if (pod.get("status") or {}).get("phase") != "Running":
            return f"{where}: not running"
        uid = metadata["uid"]
        running = set(container_names(pod))
        pending = running - self.recorded.get(uid, set())
        if not pending:
            return f"{where}: up to date"
        try:
            # The record first: pods of workloads that are not opted in cost one GET, no /proc scan.
            found = find_record(self.store, pod)
            if found is None:
                return f"{where}: not opted in (no InstrumentedApplication)"
            detections = {
                cid: d for cid, d in detect_pod(uid, self.proc, self.cache).items() if cid in running
            }
            if not detections:
                return f"{where}: no processes found for its containers"
            outcome = record_detections(self.store, pod, detections, self.ignored_containers, found=found)
        except DetectorError as exc:
            log.warning("%s: %s", where, exc)
            return f"{where}: error {exc}"
        if outcome == "no-record":
            return f"{where}: not opted in (record deleted)"
        # An unknown result may be a start script that has not exec'd its runtime yet: look again later.
        settled = {cid for cid, d in detections.items() if d.language != "unknown"}
        self.recorded.setdefault(uid, set()).update(settled)
        traced = self.tracing.sync(uid, go_targets(pod, found[1], detections)) if self.tracing else []
        return f"{where}: {outcome} ({len(detections)}/{len(running)} containers)" + "".join(
            f"; {t}" for t in traced
        )

    def forget(self, pod_obj: Any) -> None:
        self._forget_uid(self._as_dict(pod_obj)["metadata"]["uid"])

    def _forget_uid(self, uid: str) -> None:
        self.recorded.pop(uid, None)
        if self.tracing:
            self.tracing.forget(uid)

    def refresh_config(self) -> None:
        """Take the ignored namespaces and containers from ``hodegos-config`` (kept as-is if unreadable)."""
        if self.config_namespace is None:
            return
        try:
            raw = self.core.read_namespaced_config_map(constants.CONFIG_MAP, self.config_namespace)
            config_map: dict[str, Any] | None = self._as_dict(raw)
        except ApiException as exc:
            if exc.status != 404:
                log.warning("reading %s/%s: %s", self.config_namespace, constants.CONFIG_MAP, exc.reason)
                return
            config_map = None
        config, error = configuration.load(config_map, self.config)
        if error:
            log.warning("%s/%s: %s", self.config_namespace, constants.CONFIG_MAP, error)
        self.config = config
        self.ignored_namespaces = set(config.ignored_namespaces)
        self.ignored_containers = list(config.ignored_containers)

    def run_once(self) -> tuple[list[str], str]:
        """Reconcile every pod on the node; returns the outcomes and the list's resourceVersion."""
        self.refresh_config()
        listed = self.core.list_pod_for_all_namespaces(field_selector=f"spec.nodeName={self.node}")
        pods = [self._as_dict(pod) for pod in listed.items]
        live = {pod["metadata"]["uid"] for pod in pods}
        for uid in set(self.recorded) | set(self.tracing.active if self.tracing else ()):
            if uid not in live:
                self._forget_uid(uid)
        version = listed.metadata.resource_version if listed.metadata else None
        return [self.reconcile(pod) for pod in pods], version or ""

    def run(self, resync_seconds: int = 60, stop: threading.Event | None = None) -> None:
        stop = stop or threading.Event()
        while not stop.is_set():
            try:
                outcomes, version = self.run_once()
                for outcome in outcomes:
                    log.info("%s", outcome)
                watcher: Any = watch.Watch  # untyped in the client
                stream = watcher().stream(
                    self.core.list_pod_for_all_namespaces,
                    field_selector=f"spec.nodeName={self.node}",
                    resource_version=version,
                    timeout_seconds=resync_seconds,
                )
                for event in stream:
                    if stop.is_set():
                        break
                    if event["type"] == "DELETED":
                        self.forget(event["object"])
                    elif event["type"] in ("ADDED", "MODIFIED"):
                        log.info("%s", self.reconcile(event["object"]))
            except ApiException as exc:
                if exc.status != 410:  # 410 Gone: our resourceVersion is too old; relist
                    log.warning("watching pods on %s: %s %s", self.node, exc.status, exc.reason)
                    stop.wait(5)
            except Exception as exc:  # the API server restarting, a dropped connection: keep the agent up
                log.warning("watching pods on %s: %s: %s", self.node, type(exc).__name__, exc)
                stop.wait(5)
