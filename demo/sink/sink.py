"""The demo's metrics and logs store: an OTLP/HTTP receiver that keeps what arrives and answers queries.

Hodegos sends it metrics and logs as an ``otlphttp`` Destination (Jaeger holds the traces). It listens for
OTLP/HTTP protobuf on :4318 (``/v1/metrics``, ``/v1/logs``, ``/v1/traces``) and answers on :8080:

- ``GET /summary``: per signal, the number of records and, per ``service.name``, the metric names or the
  number of log lines;
- ``GET /records?signal=logs|metrics&service=NAME&limit=N``: the newest records, each with its resource
  attributes (what the end-to-end tests check);
- ``GET /healthz``.

At most ``SINK_KEEP`` records (default 20000) are kept per signal, oldest dropped first.
"""

from __future__ import annotations

import collections
import gzip
import json
import os
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse

from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue

KEEP = int(os.environ.get("SINK_KEEP", "20000"))
LOCK = threading.Lock()
RECORDS: dict[str, collections.deque[dict[str, Any]]] = {
    signal: collections.deque(maxlen=KEEP) for signal in ("metrics", "logs", "traces")
}
TOTALS: collections.Counter[str] = collections.Counter()


def value(v: AnyValue) -> Any:
    kind = v.WhichOneof("value")
    if kind is None:
        return None
    if kind == "array_value":
        return [value(x) for x in v.array_value.values]
    if kind == "kvlist_value":
        return {kv.key: value(kv.value) for kv in v.kvlist_value.values}
    if kind == "bytes_value":
        return v.bytes_value.hex()
    return getattr(v, kind)


def attributes(items: Any) -> dict[str, Any]:
    return {kv.key: value(kv.value) for kv in items}


def metric_records(body: bytes) -> list[dict[str, Any]]:
    request = ExportMetricsServiceRequest.FromString(body)
    out = []
    for rm in request.resource_metrics:
        resource = attributes(rm.resource.attributes)
        for sm in rm.scope_metrics:
            for metric in sm.metrics:
                kind = metric.WhichOneof("data") or ""
                points = len(getattr(metric, kind).data_points) if kind else 0
                out.append(
                    {"resource": resource, "scope": sm.scope.name, "name": metric.name, "type": kind,
                     "points": points}
                )  # fmt: skip
    return out


def log_records(body: bytes) -> list[dict[str, Any]]:
    request = ExportLogsServiceRequest.FromString(body)
    out = []
    for rl in request.resource_logs:
        resource = attributes(rl.resource.attributes)
        for sl in rl.scope_logs:
            for record in sl.log_records:
                out.append(
                    {"resource": resource, "scope": sl.scope.name, "body": value(record.body),
                     "severity": record.severity_text, "attributes": attributes(record.attributes)}
                )  # fmt: skip
    return out


def span_records(body: bytes) -> list[dict[str, Any]]:
    request = ExportTraceServiceRequest.FromString(body)
    out = []
    for rs in request.resource_spans:
        resource = attributes(rs.resource.attributes)
        for ss in rs.scope_spans:
            for span in ss.spans:
                out.append({"resource": resource, "name": span.name, "traceId": span.trace_id.hex()})
    return out


PARSERS = {"/v1/metrics": ("metrics", metric_records), "/v1/logs": ("logs", log_records),
           "/v1/traces": ("traces", span_records)}  # fmt: skip


def summary() -> dict[str, Any]:
    with LOCK:
        snapshot = {signal: list(items) for signal, items in RECORDS.items()}
        totals = dict(TOTALS)
    out: dict[str, Any] = {}
    for signal, items in snapshot.items():
        services: dict[str, Any] = {}
        for item in items:
            service = str(item["resource"].get("service.name", ""))
            if signal == "metrics":
                services.setdefault(service, set()).add(item["name"])
            else:
                services[service] = services.get(service, 0) + 1
        out[signal] = {
            "received": totals.get(signal, 0),
            "services": {k: sorted(v) if isinstance(v, set) else v for k, v in sorted(services.items())},
        }
    return out


class Handler(BaseHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # one line per export would drown the logs
        pass

    def reply(self, status: int, body: Any, content_type: str = "application/json") -> None:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self) -> None:
        path = urlparse(self.path).path
        if path not in PARSERS:
            self.reply(404, {"error": f"no OTLP endpoint {path}"})
            return
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if self.headers.get("Content-Encoding") == "gzip":
            body = gzip.decompress(body)
        signal, parse = PARSERS[path]
        try:
            records = parse(body)
        except Exception as exc:  # a bad body is the sender's error: say so, keep serving
            self.reply(400, {"error": f"cannot decode {signal}: {exc}"})
            return
        with LOCK:
            RECORDS[signal].extend(records)
            TOTALS[signal] += len(records)
        self.reply(200, b"", "application/x-protobuf")

    def do_GET(self) -> None:
        url = urlparse(self.path)
        query = {k: v[-1] for k, v in parse_qs(url.query).items()}
        if url.path == "/healthz":
            self.reply(200, b"ok\n", "text/plain")
        elif url.path == "/summary":
            self.reply(200, summary())
        elif url.path == "/records" and query.get("signal") in RECORDS:
            service = query.get("service")
            limit = int(query.get("limit", "100"))
            with LOCK:
                items = list(RECORDS[query["signal"]])
            chosen = [
                i for i in reversed(items) if service is None or i["resource"].get("service.name") == service
            ]
            self.reply(200, chosen[:limit])
        else:
            self.reply(404, {"error": "GET /summary, /records?signal=metrics|logs|traces, /healthz"})


def main() -> None:
    otlp = ThreadingHTTPServer(("0.0.0.0", int(os.environ.get("OTLP_PORT", "4318"))), Handler)
    query = ThreadingHTTPServer(("0.0.0.0", int(os.environ.get("QUERY_PORT", "8080"))), Handler)
    threading.Thread(target=otlp.serve_forever, daemon=True).start()
    print(f"sink: OTLP/HTTP on {otlp.server_port}, queries on {query.server_port}", flush=True)
    query.serve_forever()


if __name__ == "__main__":
    main()
