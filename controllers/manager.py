"""Runs the controllers: caches, event routing, the work queue, workers, leader election, resync.

:class:`Manager` owns one :class:`controllers.kube.Informer` per resource, maps every change to the keys
it affects, and processes keys on worker threads:

- ``("workload", kind, namespace, name)`` -> :func:`controllers.instrumentor.reconcile`
- ``("collectors",)`` -> :func:`controllers.autoscaler.reconcile`
- ``("config",)`` -> re-read the Hodegos ConfigMap; on a change, every key is queued again

Nothing is reconciled before every cache has synced, and nothing is written unless this process holds the
Lease (standbys keep warm caches). Errors are retried with per-key backoff; every key is queued again each
``resync`` seconds as a safety net.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import uuid
from collections.abc import Hashable
from datetime import timedelta
from typing import Any

from api import constants
from api.config import HodegosConfig
from api.workloads import workload_of
from controllers import autoscaler, instrumentor, optin
from controllers.context import WORKLOAD_INDEX, Context, WebhookHealth, workload_index
from controllers.leader import LeaderElector
from kube import Api, Informer, LiveConfig, Recorder, Resource, WorkQueue, wait_synced
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
    SERVICES,
    STATEFULSETS,
)

log = logging.getLogger(__name__)
COLLECTORS: tuple[str] = ("collectors",)


def default_identity() -> str:
    return f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"


def _rules_version() -> str | None:
    try:
        from webhook import rules

        return str(rules.version())
    except Exception as exc:  # the controllers still work without the webhook package's rules
        log.warning("injection rules version unknown (%s); any injected marker counts as current", exc)
        return None


class Manager:
    def __init__(
        self,
        api: Api,
        namespace: str = constants.NAMESPACE,
        image: str = "hodegos/otelcol:latest",
        identity: str | None = None,
        workers: int = 2,
        resync: float = 300.0,
        leader_election: bool = True,
        lease_duration: int = 15,
        webhook_healthy: Any = None,
        rollout_cooldown: float = 300.0,
        collector_service_accounts: bool = False,
    ) -> None:
        self.api = api
        self.namespace = namespace
        self.identity = identity or default_identity()
        self.queue = WorkQueue()
        self.workers = workers
        self.resync = resync
        self.stop = threading.Event()
        self.reconciles = 0
        self.errors = 0
        recorder = Recorder(api, "hodegos-controllers")
        self.live_config = LiveConfig(api, namespace, recorder=recorder, on_change=self._config_changed)
        self.ctx = Context(
            api=api,
            caches={},
            namespace=namespace,
            image=image,
            settings=self.live_config,
            webhook_healthy=webhook_healthy or WebhookHealth(api),
            rules_version=_rules_version(),
            rollout_cooldown=timedelta(seconds=rollout_cooldown),
            recorder=recorder,
            collector_service_accounts=collector_service_accounts,
        )
        self._elector_thread: threading.Thread | None = None
        self.elector = (
            LeaderElector(
                api,
                self.identity,
                namespace,
                lease_duration=lease_duration,
                renew_deadline=lease_duration * 2 / 3,
            )
            if leader_election
            else None
        )
        add = self._add_informer
        add(NAMESPACES, self._on_namespace)
        for res in (DEPLOYMENTS, STATEFULSETS, DAEMONSETS, CRONJOBS):
            add(res, self._on_workload)
        self.ctx.caches[PODS.kind] = Informer(
            api, PODS, self._on_pod, indexers={WORKLOAD_INDEX: workload_index}
        )
        add(RECORDS, self._on_record)
        add(DESTINATIONS, self._on_collectors, namespace)
        add(GROUPS, self._on_collectors, namespace)
        add(ACTIONS, self._on_collectors, namespace)
        add(SAMPLING_RULES, self._on_sampling_rule, namespace)
        add(SECRETS, self._on_collectors, namespace)
        add(SERVICES, self._on_collectors, namespace)
        add(HPAS, self._on_collectors, namespace)
        add(CONFIGMAPS, self._on_collectors, namespace)

    # -- wiring ----------------------------------------------------------------------------------------

    def _add_informer(self, res: Resource, handler: Any, namespace: str | None = None) -> None:
        self.ctx.caches[res.kind] = Informer(self.api, res, handler, namespace=namespace)

    @property
    def config_error(self) -> str | None:
        """What is wrong with ``hodegos-config`` right now (the previous configuration is in force)."""
        return self.live_config.error

    def _workload_keys(self, namespace: str | None = None) -> list[Hashable]:
        keys: list[Hashable] = []
        for kind in optin.WATCHED_KINDS:
            for w in self.ctx.cache(kind).items():
                meta = w["metadata"]
                if namespace is None or meta.get("namespace") == namespace:
                    keys.append(("workload", kind, meta.get("namespace", ""), meta["name"]))
        return keys

    def _on_namespace(self, _type: str, new: dict[str, Any] | None, old: dict[str, Any] | None) -> None:
        obj = new or old
        if obj is None or (_type == "SYNC" and old is not None and _same(new, old)):
            return
        for key in self._workload_keys(obj["metadata"]["name"]):
            self.queue.add(key)

    def _on_workload(self, _type: str, new: dict[str, Any] | None, old: dict[str, Any] | None) -> None:
        obj = new or old
        if obj is None:
            return
        meta = obj["metadata"]
        self.queue.add(("workload", obj["kind"], meta.get("namespace", ""), meta["name"]))
        if meta.get("namespace") == self.namespace:
            self.queue.add(COLLECTORS)

    def _on_pod(self, _type: str, new: dict[str, Any] | None, old: dict[str, Any] | None) -> None:
        obj = new or old
        workload = workload_of(obj) if obj is not None else None
        if obj is not None and workload is not None and workload.kind in optin.WATCHED_KINDS:
            self.queue.add(("workload", workload.kind, obj["metadata"].get("namespace", ""), workload.name))

    def _on_record(self, _type: str, new: dict[str, Any] | None, old: dict[str, Any] | None) -> None:
        obj = new or old
        if obj is None:
            return
        workload = (obj.get("spec") or {}).get("workload") or {}
        if workload.get("kind") in optin.WATCHED_KINDS:
            self.queue.add(
                ("workload", workload["kind"], obj["metadata"].get("namespace", ""), workload["name"])
            )
        if (
            new is None
            or old is None
            or (new.get("status") or {}).get("containers") != (old.get("status") or {}).get("containers")
            or bool((new.get("status") or {}).get("rollback"))
            != bool((old.get("status") or {}).get("rollback"))
        ):
            self.queue.add(COLLECTORS)

    def _on_collectors(self, _type: str, new: dict[str, Any] | None, old: dict[str, Any] | None) -> None:
        self.queue.add(COLLECTORS)

    def _on_sampling_rule(self, _type: str, new: dict[str, Any] | None, old: dict[str, Any] | None) -> None:
        # Tail rules shape the collectors; head rules the records' samplers, so every workload too.
        self.queue.add(COLLECTORS)
        if (new or {}).get("spec") != (old or {}).get("spec"):
            for key in self._workload_keys():
                self.queue.add(key)

    # -- reconciling -----------------------------------------------------------------------------------

    def _config_changed(self, config: HodegosConfig) -> None:
        self.enqueue_all()

    def enqueue_all(self) -> None:
        for key in self._workload_keys():
            self.queue.add(key)
        self.queue.add(COLLECTORS)

    def process(self, key: Hashable) -> float | None:
        assert isinstance(key, tuple)
        if key[0] == "workload":
            return instrumentor.reconcile(self.ctx, key[1], key[2], key[3])
        if key == COLLECTORS:
            return autoscaler.reconcile(self.ctx)
        return None

    def _worker(self) -> None:
        while not self.stop.is_set():
            key = self.queue.get(timeout=0.5)
            if key is None:
                continue
            if self.elector is not None and not self.elector.leading.is_set():
                self.queue.done(key)
                self.queue.add(key, after=1.0)
                continue
            try:
                again = self.process(key)
                log.debug("reconciled %s (again in %s)", key, again)
                self.queue.forget(key)
                if again is not None:
                    self.queue.add(key, after=again)
            except Exception as exc:
                self.errors += 1
                delay = self.queue.retry(key)
                log.warning("reconcile %s failed (%s); retrying in %.1fs", key, exc, delay)
            finally:
                self.reconciles += 1
                self.queue.done(key)

    def start(self) -> None:
        informers = [*self.ctx.caches.values(), self.live_config.informer]
        for informer in informers:
            informer.start(self.stop)
        if not wait_synced(informers, self.stop):  # the configuration too, before any key runs
            raise TimeoutError("caches did not sync")
        if self.elector is not None:
            self._elector_thread = threading.Thread(
                target=self.elector.run, args=(self.stop,), name="leader", daemon=True
            )
            self._elector_thread.start()
        self.enqueue_all()
        for i in range(self.workers):
            threading.Thread(target=self._worker, name=f"worker-{i}", daemon=True).start()
        threading.Thread(target=self._resync, name="resync", daemon=True).start()

    def _resync(self) -> None:
        while not self.stop.wait(self.resync):
            self.enqueue_all()

    def run_forever(self) -> None:
        self.start()
        try:
            while not self.stop.wait(0.5):
                if self.elector is not None and self.elector.lost.is_set():
                    log.error("leadership lost; exiting so a fresh process starts clean")
                    break
        finally:
            self.shutdown()

    def shutdown(self) -> None:
        self.stop.set()
        self.queue.shutdown()
        if self._elector_thread is not None:
            self._elector_thread.join(10)  # its loop releases the Lease on the way out
        elif self.elector is not None:
            self.elector.release()

    def idle(self) -> bool:
        return len(self.queue) == 0

    @property
    def config(self) -> HodegosConfig:
        return self.ctx.config


def _same(new: dict[str, Any] | None, old: dict[str, Any] | None) -> bool:
    rv = (new or {}).get("metadata", {}).get("resourceVersion")
    return rv is not None and rv == (old or {}).get("metadata", {}).get("resourceVersion")
