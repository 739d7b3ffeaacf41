"""``metav1.Condition`` bookkeeping and Kubernetes Events, as pure functions on wire-form dicts.

:func:`set_condition` follows the API conventions: ``lastTransitionTime`` changes only when ``status``
changes, so re-asserting the same condition leaves the list byte-identical (and the reconciler writes
nothing). :func:`event` builds an ``events.k8s.io/v1`` Event for what a user should notice.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from api import constants


def timestamp(now: datetime) -> str:
    """RFC 3339 with second precision and a ``Z``, the form the API server stores."""
    return now.strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_timestamp(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


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


def event(
    regarding: Mapping[str, Any],
    *,
    reason: str,
    note: str,
    action: str,
    now: datetime,
    type_: str = "Normal",
    controller: str = "hodegos-controllers",
) -> dict[str, Any]:
    """An ``events.k8s.io/v1`` Event about ``regarding`` (a full object as a dict).

    The name is derived from the object, reason and note, so re-emitting the same event is one object.
    """
    meta = regarding.get("metadata", {})
    namespace = meta.get("namespace") or "default"
    digest = hashlib.sha256(f"{meta.get('uid')}/{reason}/{note}".encode()).hexdigest()[:10]
    return {
        "apiVersion": "events.k8s.io/v1",
        "kind": "Event",
        "metadata": {"name": f"{meta.get('name', 'object')[:200]}.{digest}", "namespace": namespace},
        "eventTime": now.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        "reportingController": f"{constants.GROUP}/{controller}",
        "reportingInstance": controller,
        "action": action,
        "reason": reason,
        "note": note[:1024],
        "type": type_,
        "regarding": {
            "apiVersion": regarding.get("apiVersion"),
            "kind": regarding.get("kind"),
            "name": meta.get("name"),
            "namespace": meta.get("namespace"),
            "uid": meta.get("uid"),
        },
    }
