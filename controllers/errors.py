"""Errors raised by the controllers.

- :class:`ControllerError`: base class.
  - :class:`ApiError`: the API server answered with an error; keeps the HTTP status and the Kubernetes
    ``Status`` object (``reason``, ``message``) so callers can branch on ``Conflict``, ``NotFound``, ``Gone``.
  - :class:`RenderError`: a collector configuration could not be rendered.
"""

from __future__ import annotations

from typing import Any


class ControllerError(Exception):
    """Base class for controller errors."""


class ApiError(ControllerError):
    """An error answer from the API server, with its status code and ``Status`` body."""

    def __init__(self, status: int, reason: str, message: str, body: dict[str, Any] | None = None) -> None:
        super().__init__(f"{status} {reason}: {message}")
        self.status = status
        self.reason = reason
        self.message = message
        self.body = body or {}

    @property
    def not_found(self) -> bool:
        return self.status == 404

    @property
    def conflict(self) -> bool:
        return self.status == 409

    @property
    def gone(self) -> bool:
        return self.status == 410


class RenderError(ControllerError):
    """A collector configuration could not be rendered."""
