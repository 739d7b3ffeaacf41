"""What became of each Action and SamplingRule: applied, or why not. Becomes its ``Applied`` condition."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from pydantic import ValidationError

from api.models import Action, SamplingRule

CONDITION_TYPE = "Applied"
T = TypeVar("T", Action, SamplingRule)


@dataclass(frozen=True)
class Result:
    name: str
    applied: bool
    reason: str
    message: str
    field: str | None = None

    def condition(self, generation: int | None = None) -> dict[str, Any]:
        cond: dict[str, Any] = {
            "type": CONDITION_TYPE,
            "status": "True" if self.applied else "False",
            "reason": self.reason,
            "message": self.message,
        }
        if generation is not None:
            cond["observedGeneration"] = generation
        return cond


def parse(model: type[T], item: T | Mapping[str, Any], index: int) -> T | Result:
    """The object as a model, or a ``Result`` saying why it is invalid (status is never read)."""
    if isinstance(item, model):
        return item
    assert isinstance(item, Mapping)
    meta = item.get("metadata")
    name = str(meta.get("name")) if isinstance(meta, Mapping) and meta.get("name") else f"<#{index}>"
    try:
        return model.model_validate({k: v for k, v in item.items() if k != "status"})
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        return Result(name, False, "InvalidSpec", f"{where}: {first['msg']}", field=where)
