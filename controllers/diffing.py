"""Is an object already as we want it? The check that keeps the steady state free of writes.

:func:`covers` answers whether ``observed`` already contains every field of ``desired`` (fields the server
or other managers added are ignored). Quantities compare by value, because the API server rewrites
``1024Mi`` as ``1Gi``. Removing a field we used to set is caught by :data:`APPLIED_HASH`: a digest of the
last applied body kept as an annotation on objects Hodegos owns outright.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

APPLIED_HASH = "hodegos.io/applied-hash"

_SUFFIX = {
    "Ki": Decimal(2) ** 10,
    "Mi": Decimal(2) ** 20,
    "Gi": Decimal(2) ** 30,
    "Ti": Decimal(2) ** 40,
    "Pi": Decimal(2) ** 50,
    "Ei": Decimal(2) ** 60,
    "n": Decimal("1e-9"),
    "u": Decimal("1e-6"),
    "m": Decimal("1e-3"),
    "": Decimal(1),
    "k": Decimal("1e3"),
    "M": Decimal("1e6"),
    "G": Decimal("1e9"),
    "T": Decimal("1e12"),
    "P": Decimal("1e15"),
    "E": Decimal("1e18"),
}
_QUANTITY = re.compile(r"^([+-]?[0-9.]+)(Ki|Mi|Gi|Ti|Pi|Ei|n|u|m|k|M|G|T|P|E|[eE][+-]?[0-9]+)?$")


def quantity(text: str) -> Decimal | None:
    """The value of a Kubernetes quantity string, or ``None`` when it is not one."""
    match = _QUANTITY.match(text)
    if not match:
        return None
    number, suffix = match.group(1), match.group(2) or ""
    try:
        value = Decimal(number)
        if suffix[:1] in ("e", "E"):
            return value * (Decimal(10) ** int(suffix[1:]))
        return value * _SUFFIX[suffix]
    except (InvalidOperation, KeyError):
        return None


def _equal_scalars(desired: Any, observed: Any) -> bool:
    if desired == observed:
        return True
    if isinstance(desired, str) and isinstance(observed, str):
        a, b = quantity(desired), quantity(observed)
        return a is not None and a == b
    return False


def covers(observed: Any, desired: Any) -> bool:
    """Does ``observed`` contain ``desired``? Maps: subset; lists: same length, item by item."""
    if isinstance(desired, Mapping):
        if not isinstance(observed, Mapping):
            return False
        return all(k in observed and covers(observed[k], v) for k, v in desired.items())
    if isinstance(desired, list):
        if not isinstance(observed, list) or len(observed) != len(desired):
            return False
        return all(covers(o, d) for o, d in zip(observed, desired, strict=True))
    return _equal_scalars(desired, observed)


def digest(body: Mapping[str, Any]) -> str:
    return hashlib.sha256(json.dumps(body, sort_keys=True, default=str).encode()).hexdigest()[:16]


def stamp(body: dict[str, Any]) -> dict[str, Any]:
    """``body`` with :data:`APPLIED_HASH` set to the digest of the body without it."""
    clean: dict[str, Any] = json.loads(json.dumps(body))
    annotations = clean.setdefault("metadata", {}).setdefault("annotations", {})
    annotations.pop(APPLIED_HASH, None)
    value = digest(clean)
    annotations[APPLIED_HASH] = value
    return clean


def up_to_date(observed: Mapping[str, Any] | None, stamped: Mapping[str, Any]) -> bool:
    """Is the stamped desired body already applied, with nothing drifted?"""
    if observed is None:
        return False
    want = (stamped.get("metadata", {}).get("annotations") or {}).get(APPLIED_HASH)
    have = (observed.get("metadata", {}).get("annotations") or {}).get(APPLIED_HASH)
    return want == have and covers(observed, stamped)
