"""Errors raised by the destinations package.

DestinationsError
 ├── CatalogueError      a destination type file is malformed (names the file and the field)
 ├── UnknownTypeError    no destination type with that name
 ├── DestinationInvalid  a Destination object does not fit its type (names the field)
 ├── RenderError         a type's exporter template could not be rendered
 └── CollectorError      the OpenTelemetry Collector binary failed (build, validate, run)
"""

from __future__ import annotations


class DestinationsError(Exception):
    """Base of every error raised by :mod:`destinations`."""


class CatalogueError(DestinationsError):
    """A destination type file is malformed; the message names the file and the field."""


class UnknownTypeError(DestinationsError, KeyError):
    """No destination type is registered under that name."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else "unknown destination type"


class DestinationInvalid(DestinationsError):
    """A Destination object does not fit its type; ``field`` names the offending field."""

    def __init__(self, message: str, *, field: str | None = None, reason: str = "InvalidDestination") -> None:
        super().__init__(message)
        self.field = field
        self.reason = reason


class RenderError(DestinationsError):
    """A destination type's exporter template could not be rendered."""


class CollectorError(DestinationsError):
    """The OpenTelemetry Collector binary failed: build, validate or run."""
