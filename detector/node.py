"""``hodegos agent run``: follow this node's pods, detect what their containers run, record it.

Three shared informers (:class:`kube.Informer`) feed one work queue: this node's pods (field selector
``spec.nodeName``), the InstrumentedApplications (a new record, i.e. a workload just opted in, queues its
namespace's pods at once instead of at the next resync) and ``hodegos-config`` (:class:`kube.LiveConfig`:
ignored namespaces and containers, live). One worker reconciles a pod at a time: when it is Running, its
processes are found by scanning ``/proc/*/cgroup`` for its UID, grouped by container ID, the application
process of each container is detected, and the result is merged into its workload's record
(:mod:`detector.writer`); Go containers of pods the webhook labelled are handed to the eBPF tracer
(:mod:`detector.tracing`), and let go when the pod goes. Containers already recorded (by ID) with a known
language are not inspected again; containers with no process yet, or whose process is still unknown (a
start script about to exec its runtime), are looked at again at the next event or resync.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Hashable, Mapping
from pathlib import Path
from typing import Any

from api import constants
from api.config import HodegosConfig
from detector.cgroups import pod_processes
from detector.detection import Detection, ElfCache, inspect
from detector.errors import DetectorError
from detector.picking import pick_application
from detector.procfs import DEFAULT_PROC
from detector.records import container_names
from detector.tracing import GoTracing, go_targets
from detector.writer import RecordStore, find_record, record_detections
from kube import Api, Informer, LiveConfig, Recorder, StaticConfig, WorkQueue, key_of
from kube.liveconfig import ConfigSource
from kube.resources import PODS, RECORDS

# Outcomes that change nothing (see :meth:`NodeAgent.reconcile`).
UNCHANGED = (
    ": ignored namespace",
    ": not running",
    ": up to date",
    ": not opted in (no InstrumentedApplication)",
)
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
    """Per-node detection. ``reconcile`` is one pass over a pod; ``run`` follows the node until stopped."""

    def __init__(
        self,
        api: Api,
        node: str,
        proc: Path = DEFAULT_PROC,
        *,
        tracing: GoTracing | None = None,
        config: ConfigSource | None = None,
        config_namespace: str | None = constants.NAMESPACE,
    ) -> None:
        self.api = api
        self.node = node
        self.proc = proc
        self.tracing = tracing  # None: detection only, no eBPF tracing of Go containers
        self.pods = Informer(api, PODS, self._on_pod, field_selector=f"spec.nodeName={node}")
        self.records = Informer(api, RECORDS, self._on_record)
        self.live: LiveConfig | None = None
        if config is None and config_namespace is None:
            config = StaticConfig()  # no hodegos-config: the defaults
        if config is None:
            assert config_namespace is not None
            self.live = LiveConfig(api, config_namespace, recorder=Recorder(api, "hodegos-node-agent"))
            config = self.live
        self.settings = config
        self.store = RecordStore(api, self.records)
        self.queue = WorkQueue()
        self.cache = ElfCache()
        self.recorded: dict[str, set[str]] = {}  # pod UID -> container IDs already recorded
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._started = False

    @property
    def config(self) -> HodegosConfig:
        return self.settings.current

    def informers(self) -> list[Informer]:
        return [self.pods, self.records, *([self.live.informer] if self.live else [])]

    # -- reconciling one pod ---------------------------------------------------------------------------

    def reconcile(self, pod: Mapping[str, Any]) -> str:
        with self._lock:
            return self._reconcile(pod)

    def _reconcile(self, pod: Mapping[str, Any]) -> str:
        metadata = pod["metadata"]
        where = f"{metadata['namespace']}/{metadata['name']}"
        config = self.config
        if metadata["namespace"] in config.ignored_namespaces:
            return f"{where}: ignored namespace"
        if (pod.get("status") or {}).get("phase") != "Running":
            return f"{where}: not running"
        uid = metadata["uid"]
        running = set(container_names(pod))
        pending = running - self.recorded.get(uid, set())
        if not pending:
            return f"{where}: up to date"
        try:
            # The record first: pods of workloads that are not opted in cost nothing more, no /proc scan.
            found = find_record(self.store, pod)
            if found is None:
                return f"{where}: not opted in (no InstrumentedApplication)"
            detections = {
                cid: d for cid, d in detect_pod(uid, self.proc, self.cache).items() if cid in running
            }
            if not detections:
                return f"{where}: no processes found for its containers"
            outcome = record_detections(self.store, pod, detections, config.ignored_containers, found=found)
        except DetectorError as exc:
            log.warning("%s: %s", where, exc)
            return f"{where}: error {exc}"
        if outcome == "no-record":
            return f"{where}: not opted in (record deleted)"
        # An unknown result may be a start script that has not exec'd its runtime yet: look again later.
        settled = {cid for cid, d in detections.items() if d.language != "unknown"}
        self.recorded.setdefault(uid, set()).update(settled)
        traced = (
            self.tracing.sync(
                uid, go_targets(pod, found[1], detections), record=(metadata["namespace"], found[0])
            )
            if self.tracing
            else []
        )
        return f"{where}: {outcome} ({len(detections)}/{len(running)} containers)" + "".join(
            f"; {t}" for t in traced
        )

    def forget(self, uid: str) -> None:
        """The pod is gone: drop what was recorded for it and detach its tracers."""
        with self._lock:
            self.recorded.pop(uid, None)
            if self.tracing:
                self.tracing.forget(uid)

    # -- informer callbacks (queue keys, never work on the watch threads) -------------------------------

    def _on_pod(self, kind: str, new: dict[str, Any] | None, old: dict[str, Any] | None) -> None:
        if new is None:
            if old is not None:
                self.queue.add(("gone", str(old["metadata"].get("uid"))))
            return
        if old is not None and old["metadata"].get("uid") != new["metadata"].get("uid"):
            self.queue.add(("gone", str(old["metadata"].get("uid"))))  # same name, a new pod
        self.queue.add(("pod", *key_of(new)))

    def _on_record(self, kind: str, new: dict[str, Any] | None, old: dict[str, Any] | None) -> None:
        if new is None or (old is not None and kind != "SYNC"):
            return  # deleted, or a status write (often ours): nothing new to detect
        if old is not None and old["metadata"].get("uid") == new["metadata"].get("uid"):
            return
        namespace = new["metadata"].get("namespace")
        for pod in self.pods.items():
            if pod["metadata"].get("namespace") == namespace:
                # A new record (opted in just now, or again): its pods are detected afresh.
                with self._lock:
                    self.recorded.pop(str(pod["metadata"].get("uid")), None)
                self.queue.add(("pod", *key_of(pod)))

    def enqueue_all(self) -> None:
        for pod in self.pods.items():
            self.queue.add(("pod", *key_of(pod)))

    def process(self, key: Hashable) -> str | None:
        assert isinstance(key, tuple)
        if key[0] == "gone":
            self.forget(key[1])
            return None
        pod = self.pods.get(key[1], key[2])
        return self.reconcile(pod) if pod is not None else None

    # -- running ---------------------------------------------------------------------------------------

    def start(self, timeout: float = 60.0) -> None:
        """Start the informers (once) and wait until each has listed."""
        informers = self.informers()
        if not self._started:
            self._started = True
            for informer in informers:
                informer.start(self._stop)
        for informer in informers:
            if not informer.synced.wait(timeout):
                raise TimeoutError(f"the {informer.res.kind} cache did not sync within {timeout:.0f}s")

    def close(self) -> None:
        """Stop the informers (their threads end with their current watch)."""
        self._stop.set()
        self.queue.shutdown()

    def run_once(self) -> list[str]:
        """One pass: list the node's pods afresh, let go of pods that are gone, reconcile every one."""
        self.start()
        pods, _ = self.api.list(PODS, field_selector=f"spec.nodeName={self.node}")
        live = {str(p["metadata"].get("uid")) for p in pods}
        with self._lock:
            gone = (set(self.recorded) | set(self.tracing.active if self.tracing else ())) - live
        for uid in gone:
            self.forget(uid)
        return [self.reconcile(pod) for pod in pods]

    def run(self, resync_seconds: float = 60, stop: threading.Event | None = None) -> None:
        """Follow the node until ``stop``; every ``resync_seconds`` each pod is looked at again."""
        stop = stop or threading.Event()
        self.start()
        resync = threading.Thread(
            target=self._resync, args=(resync_seconds, stop), daemon=True, name="resync"
        )
        resync.start()
        try:
            while not stop.is_set():
                key = self.queue.get(timeout=0.5)
                if key is None:
                    continue
                try:
                    outcome = self.process(key)
                    if outcome:
                        # What changed at INFO; a resync's "nothing to do" for every pod at DEBUG.
                        log.log(logging.DEBUG if outcome.endswith(UNCHANGED) else logging.INFO, "%s", outcome)
                except Exception:  # one pod's failure must not stop the agent; the resync retries it
                    log.exception("reconciling %s failed", key)
                finally:
                    self.queue.done(key)
        finally:
            self.close()

    def _resync(self, seconds: float, stop: threading.Event) -> None:
        while not stop.wait(seconds):
            live = {str(p["metadata"].get("uid")) for p in self.pods.items()}
            with self._lock:
                gone = (set(self.recorded) | set(self.tracing.active if self.tracing else ())) - live
            for uid in gone:
                self.queue.add(("gone", uid))
            self.enqueue_all()
