"""Prometheus metrics of the webhook, in a registry per server (so tests can run several side by side).

- ``hodegos_webhook_admissions_total{result}``: answered admissions by the core's result label
  (``injected``, ``skipped``, ``ignored``) or ``failsafe``.
- ``hodegos_webhook_admission_duration_seconds``: time from the body read to the answer.
- ``hodegos_webhook_failsafe_total{reason}``: admissions answered allowed-without-patch because the core
  was late (``deadline``) or raised (``error``). Under ``failurePolicy: Ignore`` these are silent to users,
  hence counted.
- ``hodegos_webhook_bad_requests_total{reason}``: bodies refused with a 4xx.
- ``hodegos_webhook_containers_total{action,language}``: per-container decisions of answered admissions.
- ``hodegos_webhook_cache_objects{kind}``, ``hodegos_webhook_cache_synced``: the watch cache.
- ``hodegos_webhook_certificate_reloads_total``, ``hodegos_webhook_certificate_expiry_timestamp_seconds``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
RESULTS = ("injected", "skipped", "ignored", "failsafe")


class Metrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.admissions = Counter(
            "hodegos_webhook_admissions", "Admissions answered, by result.", ["result"], registry=r
        )
        self.duration = Histogram(
            "hodegos_webhook_admission_duration_seconds",
            "Seconds from request body read to answer.",
            buckets=BUCKETS,
            registry=r,
        )
        self.failsafe = Counter(
            "hodegos_webhook_failsafe",
            "Admissions allowed without a patch because the core was late or failed.",
            ["reason"],
            registry=r,
        )
        self.bad_requests = Counter(
            "hodegos_webhook_bad_requests", "Requests refused with a 4xx, by reason.", ["reason"], registry=r
        )
        self.containers = Counter(
            "hodegos_webhook_containers",
            "Containers decided, by action (injected, labelled, skipped) and language.",
            ["action", "language"],
            registry=r,
        )
        self.cache_objects = Gauge(
            "hodegos_webhook_cache_objects", "Objects in the watch cache.", ["kind"], registry=r
        )
        self.cache_synced = Gauge(
            "hodegos_webhook_cache_synced", "1 once the watch cache has synced.", registry=r
        )
        self.cert_reloads = Gauge(
            "hodegos_webhook_certificate_reloads", "Serving certificate reloads since start.", registry=r
        )
        self.cert_expiry = Gauge(
            "hodegos_webhook_certificate_expiry_timestamp_seconds",
            "When the served certificate expires (Unix time).",
            registry=r,
        )
        # Resolve label children once: `.labels()` on the hot path costs a lock and a dict lookup.
        self._by_result = {result: self.admissions.labels(result) for result in RESULTS}
        for reason in ("deadline", "error"):
            self.failsafe.labels(reason)

    def admitted(
        self, result: str, seconds: float, containers: Iterable[tuple[str, str | None]] = ()
    ) -> None:
        child = self._by_result.get(result)
        if child is None:
            child = self._by_result[result] = self.admissions.labels(result)
        child.inc()
        self.duration.observe(seconds)
        for action, language in containers:
            self.containers.labels(action, language or "unknown").inc()

    def watch_cache(self, sizes: Callable[[], Mapping[str, int]], synced: Callable[[], bool]) -> None:
        """Read cache size and sync state at scrape time."""
        for kind in sizes():
            self.cache_objects.labels(kind).set_function(_size_of(sizes, kind))
        self.cache_synced.set_function(lambda: 1.0 if synced() else 0.0)


def _size_of(sizes: Callable[[], Mapping[str, int]], kind: str) -> Callable[[], float]:
    return lambda: float(sizes().get(kind, 0))
