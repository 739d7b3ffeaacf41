"""Live throughput of the pipeline, from the collectors' own telemetry.

Every Hodegos collector serves its self-metrics in the Prometheus format on port 8888 (see
``destinations.configs``): counters of what its receivers accepted and its exporters sent, per signal.
:func:`parse` reads one scrape into :class:`Counts`; :func:`rates` turns two scrapes into per-second
rates; :class:`Scraper` scrapes every collector pod in the background (never during a request) and keeps
the latest rates per group and per destination.

A collector pod is reachable only from inside the cluster: the UI scrapes pod IPs only when it runs there
(``Scraper(targets=pod_targets(cluster))``). Run from a laptop against a kubeconfig it has no targets, and
the overview says "no data" rather than guess.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import httpx
from prometheus_client.parser import text_string_to_metric_families

from api import constants
from api.models import SIGNALS
from ui.cluster import Cluster

log = logging.getLogger(__name__)

# metric (without _total) -> signal
_ACCEPTED = {
    "otelcol_receiver_accepted_spans": "traces",
    "otelcol_receiver_accepted_metric_points": "metrics",
    "otelcol_receiver_accepted_log_records": "logs",
}
_SENT = {
    "otelcol_exporter_sent_spans": "traces",
    "otelcol_exporter_sent_metric_points": "metrics",
    "otelcol_exporter_sent_log_records": "logs",
}
_FAILED = {
    "otelcol_exporter_send_failed_spans": "traces",
    "otelcol_exporter_send_failed_metric_points": "metrics",
    "otelcol_exporter_send_failed_log_records": "logs",
}
UNITS = {"traces": "spans/s", "metrics": "points/s", "logs": "records/s"}


@dataclass
class Counts:
    """Cumulative counters of one collector at one moment."""

    received: dict[str, float] = field(default_factory=dict)  # signal -> count
    sent: dict[tuple[str, str], float] = field(default_factory=dict)  # (exporter id, signal) -> count
    failed: dict[tuple[str, str], float] = field(default_factory=dict)


def parse(text: str) -> Counts:
    """The receiver and exporter counters of one Prometheus scrape (other metrics are ignored)."""
    counts = Counts()
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            name = sample.name.removesuffix("_total")
            if name in _ACCEPTED:
                signal = _ACCEPTED[name]
                counts.received[signal] = counts.received.get(signal, 0.0) + sample.value
            elif name in _SENT or name in _FAILED:
                table, signal = (
                    (counts.sent, _SENT[name]) if name in _SENT else (counts.failed, _FAILED[name])
                )
                key = (str(sample.labels.get("exporter", "")), signal)
                table[key] = table.get(key, 0.0) + sample.value
    return counts


@dataclass
class Rates:
    """Per-second rates between two scrapes."""

    received: dict[str, float] = field(default_factory=dict)
    sent: dict[str, dict[str, float]] = field(default_factory=dict)  # exporter id -> signal -> rate
    failed: dict[str, dict[str, float]] = field(default_factory=dict)

    def add(self, other: Rates) -> None:
        for signal, value in other.received.items():
            self.received[signal] = self.received.get(signal, 0.0) + value
        for mine, theirs in ((self.sent, other.sent), (self.failed, other.failed)):
            for exporter, per in theirs.items():
                row = mine.setdefault(exporter, {})
                for signal, value in per.items():
                    row[signal] = row.get(signal, 0.0) + value


def _delta(new: float, old: float | None) -> float:
    # a counter that went down was reset (the collector restarted): everything since counts
    return new if old is None or new < old else new - old


def rates(before: Counts, after: Counts, seconds: float) -> Rates:
    if seconds <= 0:
        return Rates()
    out = Rates()
    for signal, value in after.received.items():
        out.received[signal] = _delta(value, before.received.get(signal)) / seconds
    for table, target in ((after.sent, out.sent), (after.failed, out.failed)):
        old = before.sent if table is after.sent else before.failed
        for (exporter, signal), value in table.items():
            target.setdefault(exporter, {})[signal] = _delta(value, old.get((exporter, signal))) / seconds
    return out


def destination_of(exporter: str, names: Sequence[str]) -> str | None:
    """The destination an exporter id belongs to (``<component>/<destination>[-<suffix>]``)."""
    _, _, rest = exporter.partition("/")
    best = None
    for name in names:
        if (rest == name or rest.startswith(f"{name}-")) and (best is None or len(name) > len(best)):
            best = name
    return best


@dataclass
class GroupRates:
    """The latest rates of one collector group (summed over its pods), or why there are none."""

    rates: Rates | None = None
    pods: int = 0
    scraped: int = 0
    at: float = 0.0
    error: str | None = None


Targets = Callable[[], Mapping[str, Sequence[str]]]  # group name -> metrics URLs


def no_targets() -> dict[str, list[str]]:
    return {}


class Scraper:
    """Scrapes ``targets()`` every ``interval`` seconds on a thread; :meth:`snapshot` reads the result."""

    def __init__(self, targets: Targets = no_targets, interval: float = 5.0, timeout: float = 2.0) -> None:
        self.targets, self.interval, self.timeout = targets, interval, timeout
        self._last: dict[str, tuple[float, Counts]] = {}  # url -> (time, counts)
        self._groups: dict[str, GroupRates] = {}
        self._lock = threading.Lock()
        self.stop = threading.Event()
        self.enabled = targets is not no_targets

    def snapshot(self) -> dict[str, GroupRates]:
        with self._lock:
            return dict(self._groups)

    def scrape_once(self, client: httpx.Client) -> None:
        groups: dict[str, GroupRates] = {}
        seen: set[str] = set()
        for group, urls in self.targets().items():
            result = GroupRates(pods=len(urls))
            total = Rates()
            for url in urls:
                seen.add(url)
                try:
                    response = client.get(url)
                    response.raise_for_status()
                    counts = parse(response.text)
                except (httpx.HTTPError, ValueError) as exc:
                    result.error = f"{url}: {exc}"
                    continue
                now = time.monotonic()
                previous = self._last.get(url)
                self._last[url] = (now, counts)
                if previous is not None:
                    total.add(rates(previous[1], counts, now - previous[0]))
                    result.scraped += 1
            if result.scraped:
                result.rates, result.at = total, time.time()
            groups[group] = result
        for url in set(self._last) - seen:
            del self._last[url]
        with self._lock:
            self._groups = groups

    def run(self) -> None:
        with httpx.Client(timeout=self.timeout, follow_redirects=False) as client:
            while not self.stop.is_set():
                try:
                    self.scrape_once(client)
                except Exception:  # the overview shows stale or no data; the UI keeps serving
                    log.exception("scraping collector metrics failed")
                self.stop.wait(self.interval)

    def start(self) -> Scraper:
        if self.enabled:
            threading.Thread(target=self.run, name="collector-metrics", daemon=True).start()
        return self

    def shutdown(self) -> None:
        self.stop.set()


def pod_targets(cluster: Cluster) -> Targets:
    """Metrics URLs of every running collector pod, by group (for a UI running inside the cluster)."""

    def targets() -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        for group in cluster.group_list():
            urls = []
            for pod in cluster.collector_pods(group):
                status = pod.get("status") or {}
                ip = status.get("podIP")
                if status.get("phase") == "Running" and ip:
                    host = f"[{ip}]" if ":" in ip else ip
                    urls.append(f"http://{host}:{constants.COLLECTOR_METRICS_PORT}/metrics")
            out[group["metadata"]["name"]] = urls
        return out

    return targets


def per_signal(values: Mapping[str, float] | None) -> list[tuple[str, float]]:
    return [(s, (values or {}).get(s, 0.0)) for s in SIGNALS]
