"""Errors raised by the webhook's shell (the core's own :class:`~webhook.admission.AdmissionRequestError` is
re-exported here so callers need one import).

- :class:`WebhookError`: base.
  - :class:`BadRequest`: the HTTP request cannot be reviewed; carries the 4xx status the server answers.
  - :class:`ViewError`: a Namespace or InstrumentedApplication (file or watch event) cannot be read.
  - :class:`RegistrationError`: applying the MutatingWebhookConfiguration failed; carries the Kubernetes status.
"""

from __future__ import annotations

from webhook.admission import AdmissionRequestError

__all__ = ["AdmissionRequestError", "BadRequest", "RegistrationError", "ViewError", "WebhookError"]


class WebhookError(Exception):
    """Base of the webhook shell's errors."""


class BadRequest(WebhookError):
    """Not a reviewable request: answered with ``status`` (400, 413, 415) and a JSON body naming the reason."""

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
