"""Errors raised by the node agent's detection and record writing.

``DetectorError`` is the root. ``ProcessGone`` means the process exited while being read (common and
harmless: callers skip it). ``NotInspectable`` means the process exists but cannot be read (permissions,
kernel thread). ``RecordWriteError`` wraps a Kubernetes API failure and keeps its HTTP status.
"""

from __future__ import annotations


class DetectorError(Exception):
    """Root of the detector's errors."""


class ProcessGone(DetectorError):
    """The process exited (or never existed) while it was being inspected."""

    def __init__(self, pid: int) -> None:
        super().__init__(f"process {pid} does not exist (it may have exited)")
        self.pid = pid


class NotInspectable(DetectorError):
    """The process exists but its /proc entries cannot be read (kernel thread, permissions)."""

    def __init__(self, pid: int, reason: str) -> None:
        super().__init__(f"process {pid} cannot be inspected: {reason}")
        self.pid = pid
        self.reason = reason


class RecordWriteError(DetectorError):
    """Writing an InstrumentedApplication's status failed; ``status`` is the HTTP status, if any."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status
