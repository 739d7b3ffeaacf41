"""``metav1.Condition`` bookkeeping, as pure functions on wire-form dicts.

:func:`set_condition` follows the API conventions: ``lastTransitionTime`` changes only when ``status``
changes, so re-asserting the same condition leaves the list byte-identical (and the reconciler writes
nothing). Events are :mod:`kube.events`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from kube.timestamps import timestamp


def condition(
    type_: str, status: bool | str, reason: str, message: str = "", generation: int | None = None
) -> dict[str, Any]:
    """A condition without ``lastTransitionTime`` (``set_condition`` fills it in)."""
    text = status if isinstance(status, str) else ("True" if status else "False")
    out: dict[str, Any] = {"type": type_, "status": text, "reason": reason, "message": message}
    if generation is not None:
        out["observedGeneration"] = generation
    return out


def find(conditions: Sequence[Mapping[str, Any]] | None, type_: str) -> Mapping[str, Any] | None:
    for cond in conditions or ():
        if cond.get("type") == type_:
            return cond
    return None


def set_condition(
    conditions: Sequence[Mapping[str, Any]] | None, new: Mapping[str, Any], now: datetime
) -> list[dict[str, Any]]:
    """Return a new list with ``new`` set; other types keep their order, a new type is appended."""
    out: list[dict[str, Any]] = []
    replaced = False
    for cond in conditions or ():
        if cond.get("type") != new["type"]:
            out.append(dict(cond))
            continue
        merged = dict(new)
        if cond.get("status") == new["status"] and cond.get("lastTransitionTime"):
            merged["lastTransitionTime"] = cond["lastTransitionTime"]
        else:
            merged["lastTransitionTime"] = timestamp(now)
        out.append(merged)
        replaced = True
    if not replaced:
        out.append({**new, "lastTransitionTime": timestamp(now)})
    return out


def remove_condition(conditions: Sequence[Mapping[str, Any]] | None, type_: str) -> list[dict[str, Any]]:
    return [dict(c) for c in conditions or () if c.get("type") != type_]


def is_true(conditions: Sequence[Mapping[str, Any]] | None, type_: str) -> bool:
    cond = find(conditions, type_)
    return cond is not None and cond.get("status") == "True"
