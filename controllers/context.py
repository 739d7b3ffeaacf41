"""What a reconciler works with: the API, the caches, the current configuration, the clock.

:class:`Context` is built by :mod:`controllers.manager`; reconcilers only read caches and write through
``ctx.api`` (never by mutating cached objects). :class:`PodIndex` answers "the pods of this workload"
without scanning every pod.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from api import constants
from api.config import HodegosConfig
from controllers import conditions, rollouts
from controllers.errors import ApiError
from controllers.kube import EVENTS, Api, Informer, Resource

log = logging.getLogger(__name__)
WEBHOOK_CONFIGS = Resource(
    "admissionregistration.k8s.io",
    "v1",
    "mutatingwebhookconfigurations",
    "MutatingWebhookConfiguration",
    False,
)


class PodIndex:
    """Pods grouped by the workload that owns them: ``(namespace, kind, name) -> {pod name: pod}``."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_owner: dict[tuple[str, str, str], dict[str, dict[str, Any]]] = {}

    @staticmethod
    def owner_key(pod: Mapping[str, Any]) -> tuple[str, str, str] | None:
        owner = rollouts.owner_workload(pod)
        if owner is None:
            return None
        return pod["metadata"].get("namespace", ""), owner[0], owner[1]

    def update(self, new: dict[str, Any] | None, old: dict[str, Any] | None) -> tuple[str, str, str] | None:
        with self._lock:
            if old is not None and (key := self.owner_key(old)):
                self._by_owner.get(key, {}).pop(old["metadata"]["name"], None)
            if new is not None and (key := self.owner_key(new)):
                self._by_owner.setdefault(key, {})[new["metadata"]["name"]] = new
                return key
        return self.owner_key(old) if old is not None else None

    def pods(self, namespace: str, kind: str, name: str) -> list[dict[str, Any]]:
        with self._lock:
            return list(self._by_owner.get((namespace, kind, name), {}).values())


class WebhookHealth:
    """Is the injection webhook able to inject right now? Cached for a few seconds.

    Healthy means: the MutatingWebhookConfiguration exists, and its backend is ready (a ready endpoint of
    its Service, or ``/readyz`` answering 200 for a URL-configured webhook).
    """

    def __init__(self, api: Api, ttl: float = 5.0) -> None:
        self.api, self.ttl = api, ttl
        self._checked = 0.0
        self._value = False
        self._lock = threading.Lock()

    def __call__(self) -> bool:
        with self._lock:
            if time.monotonic() - self._checked < self.ttl:
                return self._value
            self._value = self._check()
            self._checked = time.monotonic()
            return self._value

    def _check(self) -> bool:
        try:
            config = self.api.get(WEBHOOK_CONFIGS, None, constants.WEBHOOK_CONFIGURATION)
        except Exception as exc:
            log.debug("webhook health: %s", exc)
            return False
        if not config or not config.get("webhooks"):
            return False
        client_config = config["webhooks"][0].get("clientConfig") or {}
        if client_config.get("url"):
            base = client_config["url"].rsplit("/", 1)[0]
            try:
                return httpx.get(f"{base}/readyz", verify=False, timeout=2.0).status_code == 200
            except httpx.HTTPError:
                return False
        service = client_config.get("service") or {}
        from controllers.kube import ENDPOINTSLICES

        try:
            slices, _ = self.api.list(
                ENDPOINTSLICES, service.get("namespace"), f"kubernetes.io/service-name={service.get('name')}"
            )
        except ApiError:
            return False
        return any(
            (ep.get("conditions") or {}).get("ready", True) for s in slices for ep in s.get("endpoints") or []
        )


@dataclass
class Context:
    api: Api
    caches: dict[str, Informer]
    namespace: str = constants.NAMESPACE
    image: str = "hodegos/otelcol:latest"
    config: HodegosConfig = field(default_factory=HodegosConfig)
    clock: Callable[[], datetime] = lambda: datetime.now(UTC)
    pods: PodIndex = field(default_factory=PodIndex)
    webhook_healthy: Callable[[], bool] = lambda: True
    rules_version: str | None = None
    rollout_cooldown: timedelta = rollouts.DEFAULT_COOLDOWN

    def cache(self, kind: str) -> Informer:
        return self.caches[kind]

    def emit(
        self, regarding: Mapping[str, Any], reason: str, note: str, action: str, type_: str = "Normal"
    ) -> None:
        """Record an Event; best effort (an Event that cannot be written is logged, never fatal)."""
        body = conditions.event(
            regarding, reason=reason, note=note, action=action, now=self.clock(), type_=type_
        )
        try:
            self.api.create(EVENTS, body["metadata"]["namespace"], body)
        except ApiError as exc:
            if not exc.conflict:
                log.warning("event %s on %s: %s", reason, body["regarding"].get("name"), exc)
        log.info("%s %s/%s: %s", reason, body["regarding"].get("kind"), body["regarding"].get("name"), note)
