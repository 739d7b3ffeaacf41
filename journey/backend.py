"""The demo's objects in the cluster and the backend's query APIs, through the Kubernetes API server.

- :func:`apply_file`: server-side apply every document of ``demo/shop.yaml`` or ``demo/backend.yaml``;
- :func:`wait_available`: wait for Deployments to have every replica available, with progress;
- :class:`Jaeger` and :class:`Sink`: the backend's query endpoints, reached through the API server's service
  proxy (``/api/v1/namespaces/<ns>/services/<name>:<port>/proxy/...``), so nothing on this host needs a
  route into the cluster and the same code works from a test, the CLI and a benchmark.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import yaml

from journey import summary
from kube import Api, ApiError, Unreachable
from kube import resources as res

DEMO_DIR = Path(__file__).resolve().parent.parent / "demo"
SHOP_FILE = DEMO_DIR / "shop.yaml"
BACKEND_FILE = DEMO_DIR / "backend.yaml"
SHOP_NAMESPACE = "shop"
BACKEND_NAMESPACE = "observability"
SHOP_SERVICES = ("frontend", "catalog", "pricing", "inventory")
#: What each shop service is written in (what the records and spans must say).
LANGUAGES = {"frontend": "nodejs", "catalog": "python", "pricing": "java", "inventory": "go"}

FIELD_MANAGER = "hodegos-demo"

Progress = Callable[[str], None]


class DemoError(RuntimeError):
    """The demo could not go on; the message says what was waited for and what was seen."""


def documents(path: Path) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(path.read_text(encoding="utf-8")) if d]


def apply_file(api: Api, path: Path) -> list[str]:
    """Apply each object of ``path`` (namespaces first, as written); ``Kind/namespace/name`` of each.

    Applied as a user would with ``kubectl apply --server-side``: under a field manager of its own, never
    Hodegos's. The controllers' own applies (a rollout's template annotation) then leave the user's
    fields alone; under one shared manager, a later apply that omits them would remove them.
    """
    user = Api(api.client, field_manager=FIELD_MANAGER)
    applied = []
    for doc in documents(path):
        user.apply(res.of(doc), doc)
        meta = doc["metadata"]
        applied.append("/".join(p for p in (doc["kind"], meta.get("namespace", ""), meta["name"]) if p))
    return applied


def wait_available(
    api: Api, namespace: str, names: Sequence[str], timeout: float = 300, progress: Progress | None = None
) -> None:
    """Wait until each Deployment of ``names`` has all replicas updated and available."""
    say = progress or (lambda _m: None)
    deadline = time.monotonic() + timeout
    waiting = list(names)
    last = ""
    while waiting:
        for name in list(waiting):
            obj = api.get(res.DEPLOYMENTS, namespace, name) or {}
            spec, status = obj.get("spec") or {}, obj.get("status") or {}
            want = int(spec.get("replicas", 1))
            ready = (
                status.get("observedGeneration", 0) >= obj.get("metadata", {}).get("generation", 1)
                and status.get("updatedReplicas", 0) == want
                and status.get("availableReplicas", 0) == want
                and status.get("replicas", 0) == want
            )
            if ready:
                waiting.remove(name)
        line = f"waiting for {namespace}: {', '.join(waiting)}" if waiting else ""
        if line and line != last:
            say(line)
            last = line
        if waiting and time.monotonic() > deadline:
            raise DemoError(f"{namespace}: {', '.join(waiting)} not available after {timeout:.0f} s")
        if waiting:
            time.sleep(1)


def _proxy(namespace: str, service: str, port: str, path: str) -> str:
    return f"/api/v1/namespaces/{namespace}/services/{service}:{port}/proxy/{path.lstrip('/')}"


class Jaeger:
    """Jaeger's query API (``:16686``) and its own counters (``:8888``), through the service proxy."""

    def __init__(self, api: Api, namespace: str = BACKEND_NAMESPACE, name: str = "jaeger") -> None:
        self.api, self.namespace, self.name = api, namespace, name

    def _get(self, path: str, query: Sequence[tuple[str, str]] = ()) -> dict[str, Any]:
        try:
            text = self.api.text(_proxy(self.namespace, self.name, "query", path), query)
        except (ApiError, Unreachable) as exc:
            raise DemoError(f"Jaeger's query API ({path}): {exc}") from exc
        reply: dict[str, Any] = json.loads(text)
        return reply

    def services(self) -> list[str]:
        return sorted(self._get("/api/services").get("data") or [])

    def traces(self, service: str, limit: int = 20, lookback: str = "1h") -> list[summary.Trace]:
        reply = self._get(
            "/api/traces", [("service", service), ("limit", str(limit)), ("lookback", lookback)]
        )
        return summary.parse_traces(reply)

    def trace(self, trace_id: str) -> summary.Trace | None:
        traces = summary.parse_traces(self._get(f"/api/traces/{trace_id}"))
        return traces[0] if traces else None

    def accepted_spans(self) -> int:
        """Spans Jaeger's OTLP receiver accepted since it started (``otelcol_receiver_accepted_spans``)."""
        text = self.api.text(_proxy(self.namespace, self.name, "metrics", "/metrics"))
        return counter(text, "otelcol_receiver_accepted_spans")


def counter(metrics_text: str, name: str) -> int:
    """The sum over labels of a Prometheus counter (``<name>_total`` or ``<name>``) in ``metrics_text``."""
    total = 0.0
    pattern = re.compile(rf"^{re.escape(name)}(?:_total)?(?:\{{[^}}]*\}})?\s+(\S+)$")
    for line in metrics_text.splitlines():
        match = pattern.match(line)
        if match:
            total += float(match.group(1))
    return int(total)


class Sink:
    """The metrics-and-logs sink's query API (``:8080``), through the service proxy."""

    def __init__(self, api: Api, namespace: str = BACKEND_NAMESPACE, name: str = "sink") -> None:
        self.api, self.namespace, self.name = api, namespace, name

    def _get(self, path: str, query: Sequence[tuple[str, str]] = ()) -> Any:
        try:
            return json.loads(self.api.text(_proxy(self.namespace, self.name, "query", path), query))
        except (ApiError, Unreachable) as exc:
            raise DemoError(f"the sink's query API ({path}): {exc}") from exc

    def summary(self) -> dict[str, Any]:
        reply: dict[str, Any] = self._get("/summary")
        return reply

    def records(self, signal: str, service: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
        query = [("signal", signal), ("limit", str(limit))] + ([("service", service)] if service else [])
        reply: list[dict[str, Any]] = self._get("/records", query)
        return reply
