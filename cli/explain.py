"""`hodegos explain`: the webhook's decision for a pod, from files, with no cluster."""

from __future__ import annotations


def explain() -> None:
    """Explain what the webhook would do to a pod."""
