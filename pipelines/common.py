"""What both collector roles share: where they listen, the OTLP receiver, self-telemetry, health, and the
rendered result (:class:`CollectorConfig`)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import yaml

from api import constants
from api.models import SIGNALS, Signal
from destinations import components
from destinations.planning import DestinationResult
from destinations.rendering import SecretKeyRef
from pipelines.results import Result

NOP = "nop"


@dataclass(frozen=True)
class Listen:
    """Where a collector listens; ``host`` 0.0.0.0 inside pods, loopback for local runs."""

    host: str = "0.0.0.0"
    otlp_grpc_port: int = constants.OTLP_GRPC_PORT
    otlp_http_port: int = constants.OTLP_HTTP_PORT
    health_port: int = constants.COLLECTOR_HEALTH_PORT
    metrics_port: int = constants.COLLECTOR_METRICS_PORT


DEFAULT_LISTEN = Listen()


@dataclass
class CollectorConfig:
    """A rendered collector config and what became of each destination, action and sampling rule."""

    config: dict[str, Any]
    results: dict[str, DestinationResult] = field(default_factory=dict)
    secret_env: dict[str, SecretKeyRef] = field(default_factory=dict)
    signals: list[Signal] = field(default_factory=list)
    actions: dict[str, Result] = field(default_factory=dict)
    rules: dict[str, Result] = field(default_factory=dict)

    def yaml(self) -> str:
        return yaml.safe_dump(self.config, sort_keys=False, width=1000)

    def env(self) -> list[dict[str, Any]]:
        """Container ``env`` entries feeding every secret field from its Secret key."""
        return [
            {"name": name, "valueFrom": {"secretKeyRef": {"name": ref.secret, "key": ref.key}}}
            for name, ref in sorted(self.secret_env.items())
        ]

    @property
    def secrets(self) -> list[str]:
        """Names of the Secrets the collector reads (feed them with :meth:`env`, not ``envFrom``)."""
        return sorted({ref.secret for ref in self.secret_env.values()})

    @property
    def configured(self) -> list[str]:
        return sorted(name for name, r in self.results.items() if r.configured)

    @property
    def problems(self) -> dict[str, str]:
        """Destination name -> why it is not in the config."""
        return {name: r.message for name, r in self.results.items() if not r.configured}


def otlp_receiver(listen: Listen, *, max_recv_mib: int | None = None) -> dict[str, Any]:
    grpc: dict[str, Any] = {"endpoint": f"{listen.host}:{listen.otlp_grpc_port}"}
    if max_recv_mib:
        grpc["max_recv_msg_size_mib"] = max_recv_mib
        # node collectors hold one long-lived connection each: ageing it out makes them reconnect, so
        # new gateway replicas get their share after a scale-up
        grpc["keepalive"] = {
            "server_parameters": {"max_connection_age": "60s", "max_connection_age_grace": "10s"}
        }
    return {"protocols": {"grpc": grpc, "http": {"endpoint": f"{listen.host}:{listen.otlp_http_port}"}}}


def telemetry(listen: Listen, level: str) -> dict[str, Any]:
    reader = {"pull": {"exporter": {"prometheus": {"host": listen.host, "port": listen.metrics_port}}}}
    return {"logs": {"level": level}, "metrics": {"level": "normal", "readers": [reader]}}


def health(listen: Listen) -> dict[str, Any]:
    return {"endpoint": f"{listen.host}:{listen.health_port}"}


def discard_pipelines(receiver: str) -> dict[str, Any]:
    """With nothing to export, keep the receiver up and drop what arrives (the collector needs a pipeline)."""
    return {
        f"{s}/discard": {"receivers": [receiver], "exporters": [components.name("exporters", NOP)]}
        for s in SIGNALS
    }


def service(
    extensions: Mapping[str, Any], pipelines: dict[str, Any], listen: Listen, level: str
) -> dict[str, Any]:
    return {"extensions": list(extensions), "pipelines": pipelines, "telemetry": telemetry(listen, level)}
