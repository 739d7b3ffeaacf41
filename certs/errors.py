"""Errors raised by :mod:`certs`.

- :class:`CertError`: base.
  - :class:`MaterialError`: PEM files or Secret data are missing, unreadable or do not belong together.
  - :class:`SecretError`: reading or writing the Secret failed; carries the Kubernetes status code.
"""

from __future__ import annotations


class CertError(Exception):
    """Base of every certificate error."""


class MaterialError(CertError):
    """Certificate material is missing, unparsable, or the key does not match the certificate."""


class SecretError(CertError):
    """The Kubernetes API refused to read or write the certificate Secret."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status
