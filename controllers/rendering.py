"""The one place the controllers get collector configurations from: the ``destinations`` package.

:func:`render_gateway` turns the Destinations into the gateway configuration, the container env that feeds
secret fields from their Secret keys, and a result per destination (configured, or the reason it is not),
which becomes that Destination's ``Configured`` condition. :func:`render_node` is the node collector:
OTLP in on the node (plus pod logs / host metrics when a destination wants them), OTLP out to the gateway.

``memory_limiter`` values are overridden by :mod:`controllers.collectors`, which knows the container limit.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from destinations import configs


@dataclass(frozen=True)
class Result:
    configured: bool
    reason: str
    message: str


@dataclass
class Rendered:
    """A collector configuration and what became of each destination."""

    config: dict[str, Any]
    env: list[dict[str, Any]] = field(default_factory=list)  # container env (secretKeyRef entries)
    secrets: list[str] = field(default_factory=list)  # Secret names the env reads (their data is hashed)
    results: dict[str, Result] = field(default_factory=dict)  # destination name -> result

    @property
    def configured(self) -> list[str]:
        return sorted(n for n, r in self.results.items() if r.configured)

    @property
    def problems(self) -> dict[str, str]:
        return {n: r.message for n, r in self.results.items() if not r.configured}


def _wrap(out: configs.CollectorConfig) -> Rendered:
    return Rendered(
        config=out.config,
        env=out.env(),
        secrets=out.secrets,
        results={n: Result(r.configured, r.reason, r.message) for n, r in out.results.items()},
    )


def render_gateway(
    destinations: Iterable[Mapping[str, Any]], secret_keys: Mapping[str, Collection[str]] | None = None
) -> Rendered:
    """``secret_keys``: Secret name -> its keys, so a missing Secret or key is reported per destination."""
    clean = [_spec_and_meta(d) for d in destinations if not d.get("metadata", {}).get("deletionTimestamp")]
    return _wrap(configs.render_gateway(clean, secret_keys=secret_keys))


def render_node(
    destinations: Iterable[Mapping[str, Any]], gateway_endpoint: str, log_namespaces: Iterable[str] = ()
) -> Rendered:
    clean = [_spec_and_meta(d) for d in destinations if not d.get("metadata", {}).get("deletionTimestamp")]
    options = configs.NodeOptions(
        gateway_endpoint=gateway_endpoint,
        kubernetes="passthrough",
        log_sources=tuple(configs.LogSource(ns) for ns in sorted(set(log_namespaces))),
    )
    return _wrap(configs.render_node(clean, options=options))


def _spec_and_meta(dest: Mapping[str, Any]) -> dict[str, Any]:
    """The parts of a Destination the renderer validates (the server adds uid, status, managedFields...)."""
    meta = dest.get("metadata") or {}
    return {
        "apiVersion": dest.get("apiVersion"),
        "kind": "Destination",
        "metadata": {k: meta[k] for k in ("name", "namespace") if k in meta},
        "spec": dest.get("spec") or {},
    }
