"""Where spans go: the console, memory (tests, embedding), or OTLP/HTTP protobuf to a collector.

An exporter takes batches from the drain thread (``export``) and must not block it for long: the OTLP
exporter queues batches and posts them from its own thread, dropping (and counting) on overflow rather than
growing without bound when the collector is down. Whoever hands over a batch may pass ``on_lost``; an
exporter that loses spans of that batch calls it with the count and a reason (``export_queue_full``,
``export_failed``), so each traced workload learns about its own losses.

The OTLP exporter speaks HTTP/1.1 with the standard library (one keep-alive connection): an HTTP client
library would cost the node agent more resident memory than everything else the tracer holds.
"""

from __future__ import annotations

import http.client
import json
import queue
import sys
import threading
import urllib.parse
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Protocol, TextIO

from ebpf import otlpwire
from ebpf.losses import EXPORT_FAILED, QUEUE_FULL
from ebpf.spans import Span

if TYPE_CHECKING:
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

SCOPE_NAME = "hodegos.ebpf.go.net/http"
SCOPE_VERSION = "0.1.0"


OnLost = Callable[[int, str], None]


class Exporter(Protocol):
    def export(
        self, spans: list[Span], resource: Mapping[str, str | int], on_lost: OnLost | None = None
    ) -> None: ...

    def close(self) -> None: ...


class MemoryExporter:
    """Keeps every span with its resource; thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.spans: list[tuple[Span, dict[str, str | int]]] = []

    def export(
        self, spans: list[Span], resource: Mapping[str, str | int], on_lost: OnLost | None = None
    ) -> None:
        with self._lock:
            self.spans.extend((s, dict(resource)) for s in spans)

    def snapshot(self) -> list[Span]:
        with self._lock:
            return [s for s, _ in self.spans]

    def close(self) -> None:
        pass


class ConsoleExporter:
    """One line per span: human-readable, or JSON lines with ``as_json``."""

    def __init__(self, stream: TextIO | None = None, as_json: bool = False) -> None:
        self.stream = stream or sys.stdout
        self.as_json = as_json

    def export(
        self, spans: list[Span], resource: Mapping[str, str | int], on_lost: OnLost | None = None
    ) -> None:
        for s in spans:
            if self.as_json:
                line = json.dumps(
                    {
                        "name": s.name,
                        "kind": s.kind,
                        "trace_id": s.trace_id,
                        "span_id": s.span_id,
                        "parent_span_id": s.parent_span_id,
                        "start_time_unix_nano": s.start_time_ns,
                        "duration_ns": s.duration_ns,
                        "attributes": s.attributes,
                        "resource": dict(resource),
                    }
                )
            else:
                target = s.attributes.get("url.path") if s.kind == "server" else s.attributes.get("url.full")
                status = s.attributes.get("http.response.status_code", "-")
                parent = s.parent_span_id or "-"
                line = (
                    f"{s.kind:6} {s.name:7} {target} {status} {s.duration_ns / 1e6:.3f}ms "
                    f"trace={s.trace_id} span={s.span_id} parent={parent}"
                )
            print(line, file=self.stream, flush=True)

    def close(self) -> None:
        pass


def to_request(spans: list[Span], resource: Mapping[str, str | int]) -> ExportTraceServiceRequest:
    """The OTLP request for one resource's spans, as protobuf objects (pure; the reference that
    :func:`ebpf.otlpwire.encode`, which the exporter sends, is tested against)."""
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
    from opentelemetry.proto.common.v1.common_pb2 import AnyValue, InstrumentationScope, KeyValue
    from opentelemetry.proto.resource.v1.resource_pb2 import Resource
    from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Status
    from opentelemetry.proto.trace.v1.trace_pb2 import Span as PbSpan

    def _value(value: str | int) -> AnyValue:
        return AnyValue(int_value=value) if isinstance(value, int) else AnyValue(string_value=str(value))

    def _attributes(attrs: Mapping[str, str | int]) -> list[KeyValue]:
        return [KeyValue(key=k, value=_value(v)) for k, v in attrs.items()]

    pb_spans = []
    for s in spans:
        pb = PbSpan(
            trace_id=bytes.fromhex(s.trace_id),
            span_id=bytes.fromhex(s.span_id),
            name=s.name,
            kind=PbSpan.SPAN_KIND_SERVER if s.kind == "server" else PbSpan.SPAN_KIND_CLIENT,
            start_time_unix_nano=s.start_time_ns,
            end_time_unix_nano=s.end_time_ns,
            attributes=_attributes(s.attributes),
            status=Status(code=Status.STATUS_CODE_ERROR if s.error else Status.STATUS_CODE_UNSET),
        )
        if s.parent_span_id:
            pb.parent_span_id = bytes.fromhex(s.parent_span_id)
        pb_spans.append(pb)
    return ExportTraceServiceRequest(
        resource_spans=[
            ResourceSpans(
                resource=Resource(attributes=_attributes(resource)),
                scope_spans=[
                    ScopeSpans(
                        scope=InstrumentationScope(name=SCOPE_NAME, version=SCOPE_VERSION), spans=pb_spans
                    )
                ],
            )
        ]
    )


class OtlpHttpExporter:
    """OTLP/HTTP protobuf to ``<endpoint>/v1/traces`` (the collector's 4318 receiver)."""

    def __init__(self, endpoint: str, *, timeout: float = 10.0, max_queue: int = 256) -> None:
        base = endpoint.rstrip("/")
        self.url = base if base.endswith("/v1/traces") else f"{base}/v1/traces"
        parsed = urllib.parse.urlsplit(self.url)
        if parsed.scheme not in ("http", "https") or not parsed.hostname:
            raise ValueError(f"OTLP endpoint must be an http:// or https:// URL, not {endpoint!r}")
        self._scheme, self._host, self._port = parsed.scheme, parsed.hostname, parsed.port
        self._path = parsed.path or "/v1/traces"
        self._timeout = timeout
        self._conn: http.client.HTTPConnection | None = None
        self._queue: queue.Queue[tuple[list[Span], dict[str, str | int], OnLost | None] | None] = queue.Queue(
            max_queue
        )
        self.sent = 0
        self.dropped = 0
        self.failed = 0
        self.last_error: str | None = None
        self._thread = threading.Thread(target=self._run, name="hodegos-otlp", daemon=True)
        self._thread.start()

    def export(
        self, spans: list[Span], resource: Mapping[str, str | int], on_lost: OnLost | None = None
    ) -> None:
        if not spans:
            return
        try:
            self._queue.put_nowait((spans, dict(resource), on_lost))
        except queue.Full:
            self.dropped += len(spans)
            if on_lost:
                on_lost(len(spans), QUEUE_FULL)

    def _connection(self) -> http.client.HTTPConnection:
        if self._conn is None:
            if self._scheme == "https":
                self._conn = http.client.HTTPSConnection(self._host, self._port, timeout=self._timeout)
            else:
                self._conn = http.client.HTTPConnection(self._host, self._port, timeout=self._timeout)
        return self._conn

    def _post(self, body: bytes) -> int:
        """POST once, again on a fresh connection if the kept-alive one was closed by the server."""
        headers = {"Content-Type": "application/x-protobuf"}
        for attempt in (1, 2):
            conn = self._connection()
            try:
                conn.request("POST", self._path, body=body, headers=headers)
                response = conn.getresponse()
                response.read()
                return response.status
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
                conn.close()
                self._conn = None
                if attempt == 2:
                    raise
            except (OSError, http.client.HTTPException):
                conn.close()
                self._conn = None
                raise
        raise AssertionError("unreachable")

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            spans, resource, on_lost = item
            body = otlpwire.encode(spans, resource, SCOPE_NAME, SCOPE_VERSION)
            error = None
            try:
                status = self._post(body)
                if status >= 300:
                    error = f"{self.url}: HTTP {status}"
            except (OSError, http.client.HTTPException) as exc:
                error = f"{self.url}: {exc}"
            if error is None:
                self.sent += len(spans)
                continue
            self.failed += len(spans)
            self.last_error = error
            if on_lost:
                on_lost(len(spans), EXPORT_FAILED)

    def close(self) -> None:
        """Send what is queued, then stop."""
        self._queue.put(None)
        self._thread.join(timeout=30)
        if self._conn is not None:
            self._conn.close()
