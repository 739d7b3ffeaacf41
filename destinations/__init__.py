"""Destinations: the catalogue of backends and the collector configurations that reach them.

Public API (what the controllers, CLI and UI call):

- :func:`catalogue.all_types`, :func:`catalogue.get_type` — the declarative destination types;
- :func:`check_destination` — hold a Destination against its type (errors name the field);
- :func:`render_gateway` / :func:`render_node` (or :func:`node_for_signals`) — pure functions from
  Destinations to collector configs, returning a :class:`CollectorConfig` with ``config``, ``results``
  (one :class:`DestinationResult` per destination, with ``condition()`` for its status), and
  ``secret_env`` / ``env()`` for the gateway container;
- :func:`test_connection` — try a destination's own endpoint with an empty export;
- :mod:`destinations.collector` — the pinned OpenTelemetry Collector binary (build, validate).
"""

from destinations.catalogue import DestinationType, FieldSpec, all_types, get_type
from destinations.configs import (
    CollectorConfig,
    GatewayOptions,
    Listen,
    LogSource,
    NodeOptions,
    node_for_signals,
    render_gateway,
    render_node,
)
from destinations.connection import ConnectionResult, test_connection
from destinations.errors import (
    CatalogueError,
    CollectorError,
    DestinationInvalid,
    DestinationsError,
    RenderError,
    UnknownTypeError,
)
from destinations.planning import DestinationResult, plan
from destinations.rendering import SecretKeyRef, check_destination, secret_env_name

__all__ = [
    "CatalogueError",
    "CollectorConfig",
    "CollectorError",
    "ConnectionResult",
    "DestinationInvalid",
    "DestinationResult",
    "DestinationType",
    "DestinationsError",
    "FieldSpec",
    "GatewayOptions",
    "Listen",
    "LogSource",
    "NodeOptions",
    "RenderError",
    "SecretKeyRef",
    "UnknownTypeError",
    "all_types",
    "check_destination",
    "get_type",
    "node_for_signals",
    "plan",
    "render_gateway",
    "render_node",
    "secret_env_name",
    "test_connection",
]
