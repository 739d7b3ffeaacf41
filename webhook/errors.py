"""Errors of the webhook package, core and shell.

::

    WebhookError
    ├── RulesError              a language rules file is malformed (names the file and field)
    ├── AdmissionRequestError   the body is not a usable AdmissionReview (the server answers 400)
    ├── BadRequest              the HTTP request cannot be reviewed; carries the 4xx status to answer
    ├── ViewError               a Namespace or InstrumentedApplication (file or watch event) cannot be read
    └── RegistrationError       applying the MutatingWebhookConfiguration failed; carries the status
"""

from __future__ import annotations

__all__ = [
    "AdmissionRequestError",
    "BadRequest",
    "RegistrationError",
    "RulesError",
    "ViewError",
    "WebhookError",
]


class WebhookError(Exception):
    """Base of every error raised by the webhook package."""


class RulesError(WebhookError):
    """A file in webhook/languages/ is invalid."""


class AdmissionRequestError(WebhookError, ValueError):
    """The body is not a usable admission.k8s.io/v1 AdmissionReview; the message says why."""


class BadRequest(WebhookError):
    """Not a reviewable request: answered with ``status`` (400, 413, 415) and a JSON body with the reason."""

    def __init__(self, status: int, reason: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.reason = reason
        self.message = message


class ViewError(WebhookError):
    """A record or namespace could not be parsed; the message names the file or object."""


class RegistrationError(WebhookError):
    """The API server refused the MutatingWebhookConfiguration."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status
