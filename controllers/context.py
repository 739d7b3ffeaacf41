"""What a reconciler works with: the API, the caches, the current configuration, the clock.

:class:`Context` is built by :mod:`controllers.manager`; reconcilers only read caches and write through
``ctx.api`` (never by mutating cached objects). The pod cache is indexed by workload
(:func:`workload_index`, from :func:`api.workloads.workload_of`), so "the pods of this workload" is a
lookup, not a scan.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from api import constants
from api.config import HodegosConfig
from api.workloads import workload_of
from controllers import rollouts
from kube import Api, Informer, KubeError, Recorder
from kube.liveconfig import ConfigSource, StaticConfig
from kube.resources import ENDPOINTSLICES, MUTATING_WEBHOOKS

log = logging.getLogger(__name__)
WORKLOAD_INDEX = "workload"


def workload_key(namespace: str, kind: str, name: str) -> str:
    return f"{namespace}/{kind}/{name}"


def workload_index(pod: Mapping[str, Any]) -> Iterable[str]:
    """The index value of a pod: its most likely workload (the rule the webhook and node agent use)."""
    workload = workload_of(pod)
    if workload is None:
        return ()
    return (
        workload_key(str((pod.get("metadata") or {}).get("namespace") or ""), workload.kind, workload.name),
    )


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
        return self.fresh()

    def fresh(self) -> bool:
        """Ask now, whatever the cache holds (and keep the answer): for the moment before a rollout."""
        value = self._check()
        with self._lock:
            self._value, self._checked = value, time.monotonic()
        return value

    def _check(self) -> bool:
        try:
            config = self.api.get(MUTATING_WEBHOOKS, None, constants.WEBHOOK_CONFIGURATION)
        except KubeError as exc:
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
        try:
            slices, _ = self.api.list(
                ENDPOINTSLICES, service.get("namespace"), f"kubernetes.io/service-name={service.get('name')}"
            )
        except KubeError:
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
    settings: ConfigSource = field(default_factory=StaticConfig)
    clock: Callable[[], datetime] = lambda: datetime.now(UTC)
    webhook_healthy: Callable[[], bool] = lambda: True
    rules_version: str | None = None
    rollout_cooldown: timedelta = rollouts.DEFAULT_COOLDOWN
    recorder: Recorder | None = None
    collector_service_accounts: bool = False  # the chart made ServiceAccounts named after the groups

    def __post_init__(self) -> None:
        if self.recorder is None:
            self.recorder = Recorder(self.api, "hodegos-controllers", lambda: self.clock())

    @property
    def config(self) -> HodegosConfig:
        return self.settings.current

    def webhook_confirmed(self) -> bool:
        """The webhook's health asked now, not the few-seconds-old cached answer: a rollout to inject
        started just after the webhook went down would only make pods it never sees (and a retry later)."""
        check = self.webhook_healthy
        return check.fresh() if isinstance(check, WebhookHealth) else check()

    def cache(self, kind: str) -> Informer:
        return self.caches[kind]

    def pods(self, namespace: str, kind: str, name: str) -> list[dict[str, Any]]:
        """The pods of one workload, from the pod cache's workload index."""
        return self.cache("Pod").by_index(WORKLOAD_INDEX, workload_key(namespace, kind, name))

    def emit(
        self, regarding: Mapping[str, Any], reason: str, note: str, action: str, type_: str = "Normal"
    ) -> None:
        """Record an Event; best effort (an Event that cannot be written is logged, never fatal)."""
        assert self.recorder is not None
        self.recorder.emit(regarding, reason, note, action, type_)
