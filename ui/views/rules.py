"""The Actions and Sampling tables: one row per object, as pure functions of the cached objects."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pipelines.results import CONDITION_TYPE
from ui.cluster import Cluster
from ui.rules import Family, kind_of, scope_text, spec_kind
from ui.views import conditions


@dataclass(frozen=True)
class RuleRow:
    name: str
    kind: str | None  # None: the spec sets no kind of this family
    kind_label: str
    scope: str
    signals: list[str]
    disabled: bool
    applied: dict[str, Any] | None  # the Applied condition of the current generation, if written yet


def row(family: Family, obj: Mapping[str, Any]) -> RuleRow:
    spec = obj.get("spec") or {}
    kind_name = spec_kind(family, spec)
    kind = kind_of(family, kind_name) if kind_name else None
    return RuleRow(
        name=obj["metadata"]["name"],
        kind=kind_name,
        kind_label=kind.display_name if kind else "no kind this UI knows",
        scope=scope_text(spec.get("scope")) if kind is None or kind.scoped else "every source",
        signals=[str(s) for s in spec.get("signals") or (kind.signals if kind else ())]
        if family.has_signals
        else [],
        disabled=bool(spec.get("disabled")),
        applied=conditions.current(obj, CONDITION_TYPE),
    )


def rows(cluster: Cluster, family: Family) -> list[RuleRow]:
    def build() -> list[RuleRow]:
        return [row(family, o) for o in cluster.rule_list(family.kind)]

    return cluster.memo(f"rules:{family.key}", build)
