"""Conditions as pages show them: only one written for the object's current generation counts."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def current(obj: Mapping[str, Any], type_: str) -> dict[str, Any] | None:
    """The condition, if written for the object's current generation (an older one would mislead)."""
    generation = (obj.get("metadata") or {}).get("generation")
    for cond in (obj.get("status") or {}).get("conditions") or []:
        if cond.get("type") == type_ and cond.get("observedGeneration") in (None, generation):
            return dict(cond)
    return None
