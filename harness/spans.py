"""OTLP trace requests built by hand, for driving a real collector: exact trace IDs, errors, durations."""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import httpx
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span, Status

START = 1_700_000_000_000_000_000  # ns


@dataclass
class SpanSpec:
    trace_id: bytes
    span_id: bytes
    name: str = "GET /"
    parent: bytes = b""
    error: bool = False
    duration_ms: float = 5.0
    attributes: dict[str, str] = field(default_factory=dict)


def new_id(size: int) -> bytes:
    return os.urandom(size)


def _attrs(values: Mapping[str, str]) -> list[KeyValue]:
    return [KeyValue(key=k, value=AnyValue(string_value=v)) for k, v in values.items()]


def request(spans: Iterable[SpanSpec], resource: Mapping[str, str]) -> ExportTraceServiceRequest:
    """One request with one resource holding ``spans``."""
    out = []
    for s in spans:
        out.append(
            Span(
                trace_id=s.trace_id,
                span_id=s.span_id,
                parent_span_id=s.parent,
                name=s.name,
                kind=Span.SPAN_KIND_SERVER,
                start_time_unix_nano=START,
                end_time_unix_nano=START + int(s.duration_ms * 1_000_000),
                attributes=_attrs(s.attributes),
                status=Status(code=Status.STATUS_CODE_ERROR if s.error else Status.STATUS_CODE_OK),
            )
        )
    resource_spans = ResourceSpans(scope_spans=[ScopeSpans(spans=out)])
    resource_spans.resource.attributes.extend(_attrs(resource))
    return ExportTraceServiceRequest(resource_spans=[resource_spans])


def send(base_url: str, message: ExportTraceServiceRequest, client: httpx.Client | None = None) -> None:
    """POST to ``<base_url>/v1/traces`` (OTLP/HTTP protobuf); raises on a non-2xx answer."""
    body = message.SerializeToString()
    headers = {"Content-Type": "application/x-protobuf"}
    if client is None:
        httpx.post(f"{base_url}/v1/traces", content=body, headers=headers, timeout=10).raise_for_status()
    else:
        client.post(f"{base_url}/v1/traces", content=body, headers=headers, timeout=10).raise_for_status()


def spans_of(messages: Iterable[ExportTraceServiceRequest]) -> list[tuple[dict[str, str], Span]]:
    """Every span received, with its resource attributes (string values)."""
    found = []
    for message in messages:
        for rs in message.resource_spans:
            resource = {a.key: a.value.string_value for a in rs.resource.attributes}
            for ss in rs.scope_spans:
                found += [(resource, span) for span in ss.spans]
    return found


def attributes(span: Span) -> dict[str, str]:
    return {a.key: a.value.string_value for a in span.attributes}
