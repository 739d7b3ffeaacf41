"""Errors of the Kubernetes edge: one shape for every API failure, whoever made the request.

::

    KubeError
    ├── CredentialsError   no usable kubeconfig or in-cluster service account
    ├── Unreachable        the API server could not be reached (refused, reset, timed out)
    └── ApiError           the API server answered with an error ``Status``

:class:`ApiError` carries the ``Status`` object the server sent (``code``, ``reason``, ``message``,
``details``), so callers branch on :attr:`ApiError.not_found`, :attr:`~ApiError.conflict`,
:attr:`~ApiError.gone` or :attr:`~ApiError.forbidden` instead of parsing text. Packages that wrap an API
failure in an error of their own do so with ``raise ... from`` and keep this one as the cause.
"""

from __future__ import annotations

from typing import Any

__all__ = ["ApiError", "CredentialsError", "KubeError", "Unreachable"]


class KubeError(Exception):
    """Base of every error raised by :mod:`kube`."""


class CredentialsError(KubeError):
    """No kubeconfig or in-cluster credentials could be loaded; the message says where it looked."""


class Unreachable(KubeError):
    """The request never got an answer (connection refused or reset, TLS failure, timeout)."""


class ApiError(KubeError):
    """An error answer from the API server: the HTTP code and the Kubernetes ``Status`` it sent."""

    def __init__(
        self, code: int, reason: str, message: str = "", status: dict[str, Any] | None = None
    ) -> None:
        super().__init__(f"{code} {reason}: {message}" if message else f"{code} {reason}")
        self.code = code
        self.reason = reason
        self.message = message
        self.status: dict[str, Any] = status or {}

    @property
    def details(self) -> dict[str, Any]:
        """``Status.details`` (name, kind, causes) when the server sent them."""
        details = self.status.get("details")
        return details if isinstance(details, dict) else {}

    @property
    def not_found(self) -> bool:
        return self.code == 404

    @property
    def conflict(self) -> bool:
        return self.code == 409

    @property
    def gone(self) -> bool:
        return self.code == 410

    @property
    def forbidden(self) -> bool:
        return self.code == 403

    @property
    def invalid(self) -> bool:
        return self.code == 422

    @classmethod
    def from_status(cls, status: dict[str, Any], fallback_code: int = 0) -> ApiError:
        """From a ``Status`` object (a response body or a watch ``ERROR`` event)."""
        code = status.get("code")
        return cls(
            int(code)
            if isinstance(code, int) or (isinstance(code, str) and code.isdigit())
            else fallback_code,
            str(status.get("reason") or "Error"),
            str(status.get("message") or ""),
            status,
        )
