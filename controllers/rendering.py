"""The one place the controllers get a collector configuration from.

:func:`render_gateway` turns Destinations into a gateway configuration plus, per destination, whether it is
configured and why not. Until the ``destinations`` package exposes its catalogue renderer, this module
renders the generic OTLP types itself (``otlp``, ``otlphttp``, ``debug``) and reports every other type as not
configured; swapping in the catalogue renderer changes only :func:`_exporters_for`.

:func:`render_node` is the node collector: OTLP in on the node, OTLP out to the gateway Service.
Processors ``memory_limiter`` (first) and ``batch`` are added by :mod:`controllers.collectors`, which knows
the container memory limit.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from api import constants
from api.models import SIGNALS
from controllers.scheduling import enabled_destinations


@dataclass
class Rendered:
    """A collector configuration and what became of each destination."""

    config: dict[str, Any]
    secrets: list[str] = field(default_factory=list)  # Secret names to expose to the collector as env
    configured: list[str] = field(default_factory=list)  # destination names that made it into the config
    problems: dict[str, str] = field(default_factory=dict)  # destination name -> why it is not configured


def _receivers() -> dict[str, Any]:
    return {
        "otlp": {
            "protocols": {
                "grpc": {"endpoint": f"0.0.0.0:{constants.OTLP_GRPC_PORT}"},
                "http": {"endpoint": f"0.0.0.0:{constants.OTLP_HTTP_PORT}"},
            }
        }
    }


def _extensions() -> dict[str, Any]:
    return {"health_check": {"endpoint": f"0.0.0.0:{constants.COLLECTOR_HEALTH_PORT}"}}


def _exporters_for(name: str, spec: Mapping[str, Any]) -> dict[str, Any]:
    """Exporters for one destination; raises ``ValueError`` with a user-facing reason when it can't."""
    kind, data = spec.get("type"), spec.get("data") or {}
    if kind in ("otlp", "otlphttp"):
        endpoint = data.get("endpoint") or data.get("OTLP_ENDPOINT")
        if not endpoint:
            raise ValueError(f"destination type {kind} needs data.endpoint")
        exporter: dict[str, Any] = {"endpoint": endpoint}
        if str(data.get("insecure", "")).lower() == "true":
            exporter["tls"] = {"insecure": True}
        return {f"{kind}/{name}": exporter}
    if kind == "debug":
        return {f"debug/{name}": {"verbosity": data.get("verbosity", "basic")}}
    raise ValueError(f"unknown destination type {kind!r}")


def render_gateway(destinations: Iterable[Mapping[str, Any]]) -> Rendered:
    exporters: dict[str, Any] = {}
    by_signal: dict[str, list[str]] = {s: [] for s in SIGNALS}
    out = Rendered(config={})
    for dest in sorted(enabled_destinations(destinations), key=lambda d: d["metadata"]["name"]):
        name, spec = dest["metadata"]["name"], dest.get("spec") or {}
        try:
            made = _exporters_for(name, spec)
        except ValueError as exc:
            out.problems[name] = str(exc)
            continue
        exporters.update(made)
        for signal in spec.get("signals") or []:
            by_signal.setdefault(signal, []).extend(made)
        out.configured.append(name)
        secret = (spec.get("secretRef") or {}).get("name")
        if secret and secret not in out.secrets:
            out.secrets.append(secret)
    pipelines = {
        s: {"receivers": ["otlp"], "processors": ["batch"], "exporters": sorted(names)}
        for s, names in by_signal.items()
        if names
    }
    if not pipelines:  # a collector needs one pipeline to start; keep it alive with a quiet sink
        exporters["debug/none"] = {"verbosity": "basic", "sampling_initial": 1, "sampling_thereafter": 1000}
        pipelines = {"traces": {"receivers": ["otlp"], "processors": ["batch"], "exporters": ["debug/none"]}}
    out.config = {
        "receivers": _receivers(),
        "processors": {"batch": {}},
        "exporters": exporters,
        "extensions": _extensions(),
        "service": {"extensions": ["health_check"], "pipelines": pipelines},
    }
    return out


def render_node(signals: Iterable[str], gateway_endpoint: str) -> Rendered:
    wanted = [s for s in SIGNALS if s in set(signals)] or ["traces"]
    exporters = {"otlp/gateway": {"endpoint": gateway_endpoint, "tls": {"insecure": True}}}
    pipelines = {
        s: {"receivers": ["otlp"], "processors": ["batch"], "exporters": ["otlp/gateway"]} for s in wanted
    }
    return Rendered(
        config={
            "receivers": _receivers(),
            "processors": {"batch": {}},
            "exporters": exporters,
            "extensions": _extensions(),
            "service": {"extensions": ["health_check"], "pipelines": pipelines},
        }
    )
