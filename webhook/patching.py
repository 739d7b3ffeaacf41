"""Building an RFC 6902 JSON Patch while mutating a copy of the object.

Every change is recorded as the smallest operation that makes it: ``add`` at ``/-`` to append to a list,
``add`` of a whole list or map only where none existed, ``replace`` of a single env value. The copy and the
patch therefore always agree, which the property tests check by applying the patch to the original.
"""

from __future__ import annotations

from typing import Any


def escape(token: str) -> str:
    return token.replace("~", "~0").replace("/", "~1")


class Patch:
    def __init__(self) -> None:
        self.ops: list[dict[str, Any]] = []

    def append(self, parent: dict[str, Any], key: str, path: str, item: Any) -> None:
        """Append ``item`` to ``parent[key]`` (``path`` points at that list), creating the list if absent."""
        current = parent.get(key)
        if current is None:
            parent[key] = [item]
            self.ops.append({"op": "add", "path": path, "value": [item]})
        else:
            current.append(item)
            self.ops.append({"op": "add", "path": f"{path}/-", "value": item})

    def prepend(self, parent: dict[str, Any], key: str, path: str, items: list[Any]) -> None:
        """Insert ``items`` at the front of ``parent[key]``, in order, creating the list if absent."""
        if not items:
            return
        current = parent.get(key)
        if current is None:
            parent[key] = list(items)
            self.ops.append({"op": "add", "path": path, "value": list(items)})
            return
        for item in reversed(items):
            current.insert(0, item)
            self.ops.append({"op": "add", "path": f"{path}/0", "value": item})

    def put(self, parent: dict[str, Any], key: str, path: str, value: Any) -> None:
        """Set ``parent[key]`` (``path`` points at it)."""
        self.ops.append({"op": "replace" if key in parent else "add", "path": path, "value": value})
        parent[key] = value

    def put_in_map(self, owner: dict[str, Any], map_key: str, path: str, key: str, value: str) -> None:
        """Set ``owner[map_key][key]``, creating the map if absent (``path`` points at the map)."""
        mapping = owner.get(map_key)
        if mapping is None:
            owner[map_key] = {key: value}
            self.ops.append({"op": "add", "path": path, "value": {key: value}})
        else:
            self.put(mapping, key, f"{path}/{escape(key)}", value)
