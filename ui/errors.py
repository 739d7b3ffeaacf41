"""Errors raised by the UI package.

UiError
 ├── NotFound        the page's object does not exist (404)
 ├── BadRequest      a form or query the UI cannot use (422)
 ├── Forbidden       read-only mode, or a missing or wrong CSRF token (403)
 └── WriteFailed     the API server refused a write; carries the server's message (409/422/502)
"""

from __future__ import annotations


class UiError(Exception):
    """Base of every error raised by :mod:`ui`."""

    status_code = 500


class NotFound(UiError):
    status_code = 404


class BadRequest(UiError):
    status_code = 422


class Forbidden(UiError):
    status_code = 403


class WriteFailed(UiError):
    """The API server refused a write; ``status_code`` follows the server's answer."""

    def __init__(self, message: str, status_code: int = 502) -> None:
        super().__init__(message)
        self.status_code = status_code
