"""Local OTLP receivers for tests: OTLP/HTTP and OTLP/gRPC servers on loopback that record what arrives.

They are the "destination" end of the end-to-end tests and the targets of test connection. They can
demand a header (to be refused with 401 / UNAUTHENTICATED) and serve TLS with a throwaway certificate.
"""

from __future__ import annotations

import datetime
import gzip
import ipaddress
import socket
import ssl
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

REQUESTS: dict[str, Any] = {
    "/v1/traces": ExportTraceServiceRequest,
    "/v1/metrics": ExportMetricsServiceRequest,
    "/v1/logs": ExportLogsServiceRequest,
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    message: Any


@dataclass
class Recorder:
    received: list[Received] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def of(self, path: str) -> list[Received]:
        with self.lock:
            return [r for r in self.received if r.path == path]

    def resource_attributes(self, path: str) -> list[dict[str, str]]:
        found = []
        for item in self.of(path):
            resources = (
                getattr(item.message, "resource_spans", None)
                or getattr(item.message, "resource_metrics", None)
                or getattr(item.message, "resource_logs", None)
                or []
            )
            for res in resources:
                found.append({a.key: a.value.string_value for a in res.resource.attributes})
        return found


def self_signed(directory: Path) -> tuple[Path, Path, str]:
    """A throwaway certificate for 127.0.0.1/localhost: (cert path, key path, cert PEM)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    pem = cert.public_bytes(serialization.Encoding.PEM).decode()
    cert_path, key_path = directory / "tls.crt", directory / "tls.key"
    cert_path.write_text(pem)
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return cert_path, key_path, pem


@contextmanager
def http_receiver(
    *, require_header: tuple[str, str] | None = None, tls: tuple[Path, Path] | None = None
) -> Iterator[tuple[str, Recorder]]:
    """An OTLP/HTTP receiver on 127.0.0.1; yields (base URL, recorder)."""
    recorder = Recorder()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            if require_header and self.headers.get(require_header[0]) != require_header[1]:
                self.send_response(401)
                self.end_headers()
                return
            if self.headers.get("Content-Encoding") == "gzip":
                body = gzip.decompress(body)
            kind = REQUESTS.get(self.path)
            if kind is None:
                self.send_response(404)
                self.end_headers()
                return
            message = kind()
            message.ParseFromString(body)
            with recorder.lock:
                recorder.received.append(Received(self.path, dict(self.headers), message))
            self.send_response(200)
            self.send_header("Content-Type", "application/x-protobuf")
            self.send_header("Content-Length", "0")
            self.end_headers()

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    scheme = "http"
    if tls:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(str(tls[0]), str(tls[1]))
        server.socket = context.wrap_socket(server.socket, server_side=True)
        scheme = "https"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"{scheme}://127.0.0.1:{server.server_address[1]}", recorder
    finally:
        server.shutdown()
        server.server_close()


@contextmanager
def grpc_receiver(
    *, require_header: tuple[str, str] | None = None, tls: tuple[Path, Path] | None = None
) -> Iterator[tuple[str, Recorder]]:
    """An OTLP/gRPC trace receiver on 127.0.0.1; yields (host:port, recorder)."""
    from concurrent import futures

    import grpc  # type: ignore[import-untyped]

    recorder = Recorder()

    def export(request: bytes, context: Any) -> bytes:
        metadata = dict(context.invocation_metadata())
        if require_header and metadata.get(require_header[0].lower()) != require_header[1]:
            context.abort(grpc.StatusCode.UNAUTHENTICATED, "missing or wrong credentials")
        message = ExportTraceServiceRequest()
        message.ParseFromString(request)
        with recorder.lock:
            recorder.received.append(Received("/v1/traces", metadata, message))
        return b""

    handler = grpc.method_handlers_generic_handler(
        "opentelemetry.proto.collector.trace.v1.TraceService",
        {
            "Export": grpc.unary_unary_rpc_method_handler(
                export, request_deserializer=lambda b: b, response_serializer=lambda b: b
            )
        },
    )
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    server.add_generic_rpc_handlers((handler,))
    if tls:
        creds = grpc.ssl_server_credentials([(tls[1].read_bytes(), tls[0].read_bytes())])
        port = server.add_secure_port("127.0.0.1:0", creds)
    else:
        port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        yield f"127.0.0.1:{port}", recorder
    finally:
        server.stop(grace=None)
