"""An OTLP/HTTP receiver for the tests: ``POST /v1/traces`` (protobuf or JSON, optionally gzip) decoded with
``opentelemetry-proto`` into flat :class:`ReceivedSpan` records; ``/v1/metrics`` and ``/v1/logs`` are
accepted and counted, so agents exporting every signal see a well-behaved endpoint.
"""

from __future__ import annotations

import gzip
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from google.protobuf import json_format
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceResponse
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceResponse
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span

SPAN_KINDS = {v: k.removeprefix("SPAN_KIND_") for k, v in Span.SpanKind.items()}


def _value(value: AnyValue) -> Any:
    which = value.WhichOneof("value")
    if which is None:
        return None
    if which == "array_value":
        return [_value(v) for v in value.array_value.values]
    if which == "kvlist_value":
        return _attributes(value.kvlist_value.values)
    return getattr(value, which)


def _attributes(pairs: Any) -> dict[str, Any]:
    return {kv.key: _value(kv.value) for kv in pairs if isinstance(kv, KeyValue)}


@dataclass(frozen=True)
class ReceivedSpan:
    name: str
    kind: str  # SERVER, CLIENT, INTERNAL, ...
    trace_id: str
    span_id: str
    parent_span_id: str
    scope: str
    resource: dict[str, Any]
    attributes: dict[str, Any]


@dataclass
class Received:
    spans: list[ReceivedSpan] = field(default_factory=list)
    requests: dict[str, int] = field(default_factory=dict)  # path -> count
    errors: list[str] = field(default_factory=list)


class OtlpReceiver:
    """Listens on ``host:port`` in a daemon thread; :meth:`wait_for` polls the received spans."""

    def __init__(self, host: str, port: int) -> None:
        self.received = Received()
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def _body(self) -> bytes:
                if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
                    chunks: list[bytes] = []  # the Node.js exporter streams its body
                    while True:
                        size = int(self.rfile.readline().split(b";", 1)[0].strip() or b"0", 16)
                        if size == 0:
                            while self.rfile.readline().strip():
                                pass  # trailers, then the blank line
                            return b"".join(chunks)
                        chunks.append(self.rfile.read(size))
                        self.rfile.readline()
                return self.rfile.read(int(self.headers.get("Content-Length") or 0))

            def do_POST(self) -> None:
                body = self._body()
                if self.headers.get("Content-Encoding", "").lower() == "gzip":
                    body = gzip.decompress(body)
                json_body = "json" in self.headers.get("Content-Type", "")
                status, reply = receiver._handle(self.path, body, json_body)
                payload = (
                    json_format.MessageToJson(reply).encode() if json_body else reply.SerializeToString()
                )
                self.send_response(status)
                self.send_header(
                    "Content-Type", "application/json" if json_body else "application/x-protobuf"
                )
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

        self.server = ThreadingHTTPServer((host, port), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, name="otlp-receiver", daemon=True)

    def _handle(self, path: str, body: bytes, json_body: bool) -> tuple[int, Any]:
        with self._lock:
            self.received.requests[path] = self.received.requests.get(path, 0) + 1
        if path == "/v1/metrics":
            return 200, ExportMetricsServiceResponse()
        if path == "/v1/logs":
            return 200, ExportLogsServiceResponse()
        if path != "/v1/traces":
            return 404, ExportTraceServiceResponse()
        request = ExportTraceServiceRequest()
        try:
            if json_body:
                json_format.Parse(body, request)
            else:
                request.ParseFromString(body)
        except Exception as exc:  # a malformed export is recorded, and the test reports it
            with self._lock:
                self.received.errors.append(f"{path}: {exc}")
            return 400, ExportTraceServiceResponse()
        spans = []
        for resource_spans in request.resource_spans:
            resource = _attributes(resource_spans.resource.attributes)
            for scope_spans in resource_spans.scope_spans:
                for span in scope_spans.spans:
                    spans.append(
                        ReceivedSpan(
                            name=span.name,
                            kind=SPAN_KINDS.get(span.kind, str(span.kind)),
                            trace_id=span.trace_id.hex(),
                            span_id=span.span_id.hex(),
                            parent_span_id=span.parent_span_id.hex(),
                            scope=scope_spans.scope.name,
                            resource=resource,
                            attributes=_attributes(span.attributes),
                        )
                    )
        with self._lock:
            self.received.spans.extend(spans)
        return 200, ExportTraceServiceResponse()

    def start(self) -> OtlpReceiver:
        self.thread.start()
        return self

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def spans(self, where: Callable[[ReceivedSpan], bool] = lambda _s: True) -> list[ReceivedSpan]:
        with self._lock:
            return [s for s in self.received.spans if where(s)]

    def wait_for(
        self, where: Callable[[list[ReceivedSpan]], bool], timeout: float, alive: Callable[[], bool]
    ) -> list[ReceivedSpan]:
        """Poll until ``where(spans)`` holds (returns the spans), ``alive()`` is false, or ``timeout``."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and alive():
            spans = self.spans()
            if where(spans):
                return spans
            time.sleep(0.2)
        return self.spans()
