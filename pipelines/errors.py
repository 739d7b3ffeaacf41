"""Errors of the pipelines package.

::

    PipelineError
    ├── KindFileError     a file in pipelines/kinds/ is malformed (names the file and field); fails at import
    └── RuleInvalid       one Action or SamplingRule cannot be applied; carries a condition reason and the
                          field, so the controllers report it and leave it out while the others apply
"""

from __future__ import annotations

__all__ = ["KindFileError", "PipelineError", "RuleInvalid"]


class PipelineError(Exception):
    """Base of every error raised by :mod:`pipelines`."""


class KindFileError(PipelineError):
    """A kind file is invalid."""


class RuleInvalid(PipelineError):
    """An Action or SamplingRule cannot be rendered; ``reason`` is CamelCase for its ``Applied`` condition."""

    def __init__(self, message: str, *, reason: str = "InvalidSettings", field: str | None = None) -> None:
        super().__init__(message)
        self.reason = reason
        self.field = field
