"""Destinations: the catalogue of backends and the collector configurations that reach them.

Public API (what the controllers, CLI and UI call):

- :func:`catalogue.all_types`, :func:`catalogue.get_type` — the declarative destination types;
- :func:`check_destination` — hold a Destination against its type (errors name the field);
- :func:`plan` — each Destination's exporters, extensions and own processors, and a
  :class:`DestinationResult` per destination (``condition()`` for its status); the whole collector
  configs are assembled by :mod:`pipelines` (``pipelines.render_gateway`` / ``render_node``);
- :func:`test_connection` — try a destination's own endpoint with an empty export;
- :mod:`destinations.collector` — the pinned OpenTelemetry Collector binary (build, validate).
"""

from destinations.catalogue import DestinationType, FieldSpec, all_types, get_type
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
    "CollectorError",
    "ConnectionResult",
    "DestinationInvalid",
    "DestinationResult",
    "DestinationType",
    "DestinationsError",
    "FieldSpec",
    "RenderError",
    "SecretKeyRef",
    "UnknownTypeError",
    "all_types",
    "check_destination",
    "get_type",
    "plan",
    "secret_env_name",
    "test_connection",
]
