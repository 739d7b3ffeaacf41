"""The one place the controllers get collector configurations from: :mod:`pipelines`.

:func:`render_gateway` turns the Destinations, Actions and SamplingRules into the gateway configuration, the
container env that feeds secret fields from their Secret keys, and a result per object (configured or
applied, or the reason it is not), which becomes that object's condition. :func:`render_node` is the node
collector: OTLP in on the node (plus pod logs / host metrics when a destination wants them), Kubernetes
attributes (with the ``k8sAttributes`` Actions), OTLP out to the gateway; while tail sampling is on, traces
go to the gateway pod that owns their trace ID.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import pipelines
from api.models import CollectorResources


@dataclass(frozen=True)
class Result:
    configured: bool
    reason: str
    message: str


@dataclass
class Rendered:
    """A collector configuration and what became of each destination, action and rule."""

    config: dict[str, Any]
    env: list[dict[str, Any]] = field(default_factory=list)  # container env (secretKeyRef entries)
    secrets: list[str] = field(default_factory=list)  # Secret names the env reads (their data is hashed)
    results: dict[str, Result] = field(default_factory=dict)  # destination name -> result
    actions: dict[str, Result] = field(default_factory=dict)
    rules: dict[str, Result] = field(default_factory=dict)

    @property
    def configured(self) -> list[str]:
        return sorted(n for n, r in self.results.items() if r.configured)

    @property
    def problems(self) -> dict[str, str]:
        return {n: r.message for n, r in self.results.items() if not r.configured}


def _wrap(out: pipelines.CollectorConfig) -> Rendered:
    return Rendered(
        config=out.config,
        env=out.env(),
        secrets=out.secrets,
        results={n: Result(r.configured, r.reason, r.message) for n, r in out.results.items()},
        actions={n: Result(r.applied, r.reason, r.message) for n, r in out.actions.items()},
        rules={n: Result(r.applied, r.reason, r.message) for n, r in out.rules.items()},
    )


def _live(objects: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The parts the renderer validates (not uid, status, managedFields...); deleted ones left out."""
    out = []
    for obj in objects:
        meta = obj.get("metadata") or {}
        if meta.get("deletionTimestamp"):
            continue
        out.append(
            {
                "apiVersion": obj.get("apiVersion"),
                "kind": obj.get("kind"),
                "metadata": {k: meta[k] for k in ("name", "namespace") if k in meta},
                "spec": obj.get("spec") or {},
            }
        )
    return out


def tail_sampling(rules: Iterable[Mapping[str, Any]]) -> bool:
    """Is any tail SamplingRule applied (the gateway then needs trace affinity)?"""
    return pipelines.sampling.plan(_live(rules)).tail


def render_gateway(
    destinations: Iterable[Mapping[str, Any]],
    secret_keys: Mapping[str, Collection[str]] | None = None,
    *,
    actions: Iterable[Mapping[str, Any]] = (),
    rules: Iterable[Mapping[str, Any]] = (),
    resources: CollectorResources | None = None,
) -> Rendered:
    """``secret_keys``: Secret name -> its keys, so a missing Secret or key is reported per destination."""
    options = pipelines.GatewayOptions(sizing=pipelines.sizing(resources) if resources else None)
    return _wrap(
        pipelines.render_gateway(
            _live(destinations),
            actions=_live(actions),
            rules=_live(rules),
            options=options,
            secret_keys=secret_keys,
        )
    )


def render_node(
    destinations: Iterable[Mapping[str, Any]],
    gateway_endpoint: str,
    log_sources: Iterable[pipelines.LogSource | str] = (),
    *,
    actions: Iterable[Mapping[str, Any]] = (),
    gateway_pods: Iterable[str] = (),
    resources: CollectorResources | None = None,
) -> Rendered:
    live_actions = _live(actions)
    extract = pipelines.actions.plan(live_actions).kubernetes_extract()
    kubernetes: Literal["cluster", "passthrough"] = "cluster" if extract else "passthrough"
    options = pipelines.NodeOptions(
        gateway_endpoint=gateway_endpoint,
        kubernetes=kubernetes,
        # A namespace alone: every pod of it, with no service.name added.
        log_sources=tuple(
            sorted(
                {pipelines.LogSource(s) if isinstance(s, str) else s for s in log_sources},
                key=lambda s: (s.namespace, s.pod_prefix),
            )
        ),
        gateway_pods=tuple(gateway_pods),
        sizing=pipelines.sizing(resources) if resources else None,
    )
    return _wrap(pipelines.render_node(_live(destinations), actions=live_actions, options=options))
