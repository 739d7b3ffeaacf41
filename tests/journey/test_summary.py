"""The trace summary core: Jaeger query documents into linked spans, completeness and the printed tree."""

from __future__ import annotations

from typing import Any

from journey import summary


def _process(service: str, language: str | None, **extra: str) -> dict[str, Any]:
    tags = {"service.name": service, "k8s.namespace.name": "shop", "k8s.pod.name": f"{service}-abc",
            "k8s.deployment.name": service, **extra}  # fmt: skip
    if language:
        tags["telemetry.sdk.language"] = language
    return {
        "serviceName": service,
        "tags": [{"key": k, "type": "string", "value": v} for k, v in tags.items()],
    }


def _span(span_id: str, parent: str | None, name: str, pid: str, start: int) -> dict[str, Any]:
    refs = [{"refType": "CHILD_OF", "traceID": "t1", "spanID": parent}] if parent else []
    return {"traceID": "t1", "spanID": span_id, "operationName": name, "references": refs,
            "startTime": start, "duration": 2000, "processID": pid, "tags": []}  # fmt: skip


def _shop_trace(drop: str | None = None) -> dict[str, Any]:
    spans = [
        _span("a", None, "GET /", "p1", 10),
        _span("b", "a", "GET", "p1", 11),
        _span("c", "b", "GET /items", "p2", 12),
        _span("d", "c", "GET", "p2", 13),
        _span("e", "d", "GET /prices", "p3", 14),
        _span("f", "a", "GET", "p1", 20),
        _span("g", "f", "GET /stock", "p4", 21),
    ]
    return {
        "traceID": "t1",
        "spans": [s for s in spans if s["spanID"] != drop],
        "processes": {
            "p1": _process("frontend", "nodejs"),
            "p2": _process("catalog", "python"),
            "p3": _process("pricing", "java"),
            "p4": _process("inventory", "go"),
        },
    }


def test_a_whole_trace_links_every_span_and_crosses_four_services() -> None:
    trace = summary.parse_trace(_shop_trace())
    assert trace.complete
    assert trace.services == ["catalog", "frontend", "inventory", "pricing"]
    assert trace.languages == ["go", "java", "nodejs", "python"]
    assert trace.edges() == {("frontend", "catalog"), ("catalog", "pricing"), ("frontend", "inventory")}
    assert summary.missing_resource(trace) == []
    assert [line.split("  [")[0] for line in summary.tree(trace)] == [
        "GET /", "  GET", "    GET /items", "      GET", "        GET /prices", "  GET", "    GET /stock",
    ]  # fmt: skip
    assert summary.tree(trace)[6].endswith("[inventory, go]  2.0 ms")


def test_a_lost_span_makes_the_trace_incomplete_and_names_the_missing_parent() -> None:
    trace = summary.parse_trace(_shop_trace(drop="d"))
    assert not trace.complete
    assert trace.missing_parents == ["d"]
    assert len(trace.roots) == 2  # the orphan is shown as a root of its own


def test_missing_resource_attributes_are_named_per_span() -> None:
    doc = _shop_trace()
    doc["processes"]["p4"] = {"serviceName": "inventory", "tags": [{"key": "k8s.pod.name", "value": "x"}]}
    problems = summary.missing_resource(summary.parse_trace(doc))
    assert "inventory/GET /stock: k8s.namespace.name" in problems
    assert "inventory/GET /stock: the workload name (k8s.<kind>.name)" in problems
    assert "inventory/GET /stock: telemetry.sdk.language" in problems
    assert not any(p.startswith("frontend/") for p in problems)


def test_best_prefers_the_complete_trace_with_most_services() -> None:
    whole = summary.parse_trace(_shop_trace())
    broken = summary.parse_trace(_shop_trace(drop="b"))
    small = summary.parse_trace({"traceID": "t2", "spans": [_span("x", None, "GET /", "p1", 1)],
                                 "processes": {"p1": _process("frontend", "nodejs")}})  # fmt: skip
    assert summary.best([broken, small, whole]) is whole
    assert summary.best([broken]) is None
