"""Which sources an Action or SamplingRule applies to, as OTTL conditions and as a pure match.

A scope names namespaces and workloads; empty (or absent) means every source. The telemetry says where it
came from in its resource: ``k8s.namespace.name`` and the workload attribute (``k8s.deployment.name``, ...),
which every Hodegos agent sets (:mod:`api.telemetry`).
"""

from __future__ import annotations

from api import constants
from api.models import Scope
from pipelines.kinds import ottl_string


def _attr(context: str, key: str) -> str:
    prefix = "attributes" if context == "resource" else "resource.attributes"
    return f'{prefix}["{ottl_string(key)}"]'


def condition(scope: Scope | None, context: str) -> str | None:
    """An OTTL condition true for telemetry from the scope's sources; ``None`` for every source."""
    if scope is None or scope.everything:
        return None
    ns = _attr(context, constants.ATTR_NAMESPACE)
    parts = [f'{ns} == "{ottl_string(name)}"' for name in scope.namespaces]
    for w in scope.workloads:
        workload = _attr(context, constants.WORKLOAD_ATTRIBUTE[w.kind])
        parts.append(f'({ns} == "{ottl_string(w.namespace)}" and {workload} == "{ottl_string(w.name)}")')
    return parts[0] if len(parts) == 1 else "(" + " or ".join(parts) + ")"


def scoped(statement: str, cond: str | None) -> str:
    """``statement`` limited to ``cond`` (joined to its own ``where`` clause, if it has one)."""
    if cond is None:
        return statement
    return f"{statement} and {cond}" if " where " in statement else f"{statement} where {cond}"


def applies(scope: Scope | None, namespace: str, kind: str, name: str) -> int:
    """How specifically ``scope`` names this workload: 0 not at all, 1 everything, 2 its namespace, 3 it."""
    if scope is None or scope.everything:
        return 1
    if any(w.namespace == namespace and w.kind == kind and w.name == name for w in scope.workloads):
        return 3
    return 2 if namespace in scope.namespaces else 0
