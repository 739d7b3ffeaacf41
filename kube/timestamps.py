"""Kubernetes' wire forms of time: ``metav1.Time`` (seconds) and ``metav1.MicroTime``."""

from __future__ import annotations

from datetime import datetime


def timestamp(now: datetime) -> str:
    """RFC 3339 with second precision and a ``Z``, the form the API server stores for ``metav1.Time``."""
    return now.strftime("%Y-%m-%dT%H:%M:%SZ")


def micro_time(now: datetime) -> str:
    """``metav1.MicroTime`` (Leases' renewTime, Events' eventTime)."""
    return now.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_timestamp(value: str | None) -> datetime | None:
    """Either form back to an aware datetime; ``None`` for empty or malformed values."""
    if not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
