"""What arrived at the demo's backend, from Jaeger's query API documents: pure functions, no I/O.

Jaeger answers ``/api/traces/<id>`` and ``/api/traces?service=...`` with ``{"data": [trace, ...]}``; a trace
has ``spans`` (``traceID``, ``spanID``, ``operationName``, ``references`` with ``CHILD_OF``, ``startTime``
and ``duration`` in microseconds, ``processID``, ``tags``) and ``processes`` (``serviceName`` and the
resource attributes as ``tags``). These functions turn that into the checks the end-to-end tests make
(parent/child links, resource attributes per span) and the tree ``make demo`` prints.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

#: Resource attributes every span must carry (the workload name is checked separately: its key depends on
#: the workload's kind, ``k8s.deployment.name`` for the shop).
REQUIRED_RESOURCE = ("service.name", "k8s.namespace.name", "k8s.pod.name")
LANGUAGE = "telemetry.sdk.language"
NOT_WORKLOADS = frozenset(
    f"k8s.{what}.name" for what in ("namespace", "pod", "node", "container", "cluster", "replicaset")
)


@dataclass
class Span:
    span_id: str
    parent_id: str | None
    name: str
    service: str
    start_us: int
    duration_us: int
    resource: dict[str, Any]
    tags: dict[str, Any]
    children: list[Span] = field(default_factory=list)

    @property
    def language(self) -> str:
        return str(self.resource.get(LANGUAGE, "?"))

    @property
    def workload(self) -> str | None:
        for key, value in self.resource.items():
            if key.startswith("k8s.") and key.endswith(".name") and key not in NOT_WORKLOADS:
                return str(value)
        return None


@dataclass
class Trace:
    trace_id: str
    spans: list[Span]
    roots: list[Span]
    missing_parents: list[str]  # parent span ids referenced but not in the trace

    @property
    def services(self) -> list[str]:
        return sorted({s.service for s in self.spans})

    @property
    def languages(self) -> list[str]:
        return sorted({s.language for s in self.spans})

    @property
    def complete(self) -> bool:
        """One root, and every parent a span refers to is in the trace."""
        return len(self.roots) == 1 and not self.missing_parents

    def edges(self) -> set[tuple[str, str]]:
        """(parent service, child service) for every link that crosses a service."""
        by_id = {s.span_id: s for s in self.spans}
        return {
            (by_id[s.parent_id].service, s.service)
            for s in self.spans
            if s.parent_id in by_id and by_id[s.parent_id].service != s.service
        }


def _tags(items: Iterable[Mapping[str, Any]] | None) -> dict[str, Any]:
    return {str(t["key"]): t.get("value") for t in items or ()}


def parse_trace(doc: Mapping[str, Any]) -> Trace:
    """One trace of Jaeger's query API into linked spans."""
    processes = {pid: p for pid, p in (doc.get("processes") or {}).items()}
    spans: list[Span] = []
    for raw in doc.get("spans") or []:
        process = processes.get(raw.get("processID"), {})
        parent = next(
            (r["spanID"] for r in raw.get("references") or [] if r.get("refType") == "CHILD_OF"), None
        )
        resource = _tags(process.get("tags"))
        resource.setdefault("service.name", process.get("serviceName", ""))
        spans.append(
            Span(
                span_id=str(raw["spanID"]), parent_id=parent, name=str(raw.get("operationName", "")),
                service=str(process.get("serviceName", "")), start_us=int(raw.get("startTime", 0)),
                duration_us=int(raw.get("duration", 0)), resource=resource, tags=_tags(raw.get("tags")),
            )
        )  # fmt: skip
    by_id = {s.span_id: s for s in spans}
    roots, missing = [], []
    for span in sorted(spans, key=lambda s: (s.start_us, s.span_id)):
        if span.parent_id is None:
            roots.append(span)
        elif span.parent_id in by_id:
            by_id[span.parent_id].children.append(span)
        else:
            missing.append(span.parent_id)
            roots.append(span)
    trace_id = str(doc.get("traceID") or (spans[0].span_id if spans else ""))
    return Trace(trace_id=trace_id, spans=spans, roots=roots, missing_parents=sorted(set(missing)))


def parse_traces(reply: Mapping[str, Any]) -> list[Trace]:
    return [parse_trace(doc) for doc in reply.get("data") or []]


def missing_resource(trace: Trace) -> list[str]:
    """``"<service>/<span>: <attribute>"`` for every required resource attribute a span lacks."""
    problems = []
    for span in trace.spans:
        for key in REQUIRED_RESOURCE:
            if not span.resource.get(key):
                problems.append(f"{span.service}/{span.name}: {key}")
        if span.workload is None:
            problems.append(f"{span.service}/{span.name}: the workload name (k8s.<kind>.name)")
        if LANGUAGE not in span.resource:
            problems.append(f"{span.service}/{span.name}: {LANGUAGE}")
    return problems


def best(traces: Sequence[Trace]) -> Trace | None:
    """The complete trace crossing the most services (then the most spans), if any is complete."""
    complete = [t for t in traces if t.complete]
    return max(complete, key=lambda t: (len(t.services), len(t.spans)), default=None)


def tree(trace: Trace) -> list[str]:
    """The trace as indented lines: ``name  [service, language]  duration``."""
    lines: list[str] = []

    def walk(span: Span, depth: int) -> None:
        ms = span.duration_us / 1000
        lines.append(f"{'  ' * depth}{span.name}  [{span.service}, {span.language}]  {ms:.1f} ms")
        for child in sorted(span.children, key=lambda s: s.start_us):
            walk(child, depth + 1)

    for root in trace.roots:
        walk(root, 0)
    return lines
