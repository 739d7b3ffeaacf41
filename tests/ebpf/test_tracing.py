"""The tracer against real Go HTTP servers built with six Go versions, plain, stripped and PIE (real BPF)."""

from __future__ import annotations

import http.client
import shutil
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

import ebpf
from ebpf.spans import Span
from harness import gobuilds
from tests.ebpf import load

pytestmark = pytest.mark.bpf

MATRIX = [(label, mode) for label in gobuilds.expected_labels() for mode in gobuilds.MODES]


def wait_for(exporter: ebpf.MemoryExporter, runtime: Any, count: int, timeout: float = 15.0) -> list[Span]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        runtime.flush()
        if len(exporter.snapshot()) >= count:
            break
        time.sleep(0.05)
    time.sleep(0.2)  # anything beyond `count` would show up now
    runtime.flush()
    return exporter.snapshot()


def get(address: str, path: str, headers: dict[str, str] | None = None) -> int:
    host, port = address.rsplit(":", 1)
    conn = http.client.HTTPConnection(host, int(port), timeout=10)
    conn.request("GET", path, headers=headers or {})
    status = conn.getresponse().status
    conn.close()
    return status


@pytest.mark.parametrize(("label", "mode"), MATRIX, ids=[f"{label}-{mode}" for label, mode in MATRIX])
def test_thousand_requests(
    bpf_runtime: Any, toolchains: dict[str, Path], start_server: Callable[[Path], Any], label: str, mode: str
) -> None:
    built = gobuilds.build(label, toolchains[label], mode)
    server = start_server(built.path)
    exporter = ebpf.MemoryExporter()
    tracer = ebpf.attach(server.pid, {"service.name": "goserver"}, exporter)
    assert tracer.plan.go_version == built.go_version
    assert tracer.plan.stripped == (mode == "stripped")
    assert tracer.plan.offsets_source == ("dwarf" if mode != "stripped" else f"table:{built.go_version}")
    try:
        sent = load.mixed(server.address, 1000)
        assert not sent.failures, sent.failures[:5]
        spans = wait_for(exporter, bpf_runtime, 1000)
    finally:
        tracer.close()

    assert len(spans) == 1000
    assert bpf_runtime.program.lost_records() == 0
    assert all(s.kind == "server" for s in spans)
    got = Counter(
        (
            s.attributes["http.request.method"],
            s.attributes["url.path"],
            s.attributes["http.response.status_code"],
        )
        for s in spans
    )
    assert got == sent.requests
    durations = {
        path: [s.duration_ns for s in spans if s.attributes["url.path"] == path] for path, _ in load.ROUTES
    }
    assert all(0 < d < 5e9 for ds in durations.values() for d in ds)
    assert min(durations["/created"]) >= 2_000_000  # the handler sleeps 2 ms
    assert sorted(durations["/hello"])[len(durations["/hello"]) // 2] < 2_000_000
    assert all(s.attributes["client.address"] == "127.0.0.1" for s in spans)
    # /deep grew the goroutine stack 200 times under RET probes: the target lives on and still serves.
    assert server.alive()
    assert get(server.address, "/hello") == 200
    # Every request that carried a traceparent got a span parented to it; the others have fresh roots.
    by_trace = {s.trace_id: s for s in spans}
    assert len(sent.traceparents) == 100
    for trace_id, (parent_id, method, path) in sent.traceparents.items():
        span = by_trace[trace_id]
        assert (span.parent_span_id, span.name, span.attributes["url.path"]) == (parent_id, method, path)
    assert sum(1 for s in spans if s.parent_span_id is None) == 900
    assert len({s.span_id for s in spans}) == 1000


def test_client_span_is_child_of_server_span(
    bpf_runtime: Any, toolchains: dict[str, Path], start_server: Callable[[Path], Any]
) -> None:
    built = gobuilds.build("machine", toolchains["machine"], "stripped")
    server = start_server(built.path)
    exporter = ebpf.MemoryExporter()
    tracer = ebpf.attach(server.pid, {"service.name": "goserver"}, exporter)
    tp, trace_id, parent = load.traceparent(7)
    try:
        assert get(server.address, f"/call?url=http://{server.address}/missing", {"traceparent": tp}) == 200
        spans = wait_for(exporter, bpf_runtime, 3)
    finally:
        tracer.close()
    assert len(spans) == 3
    client = next(s for s in spans if s.kind == "client")
    outer = next(s for s in spans if s.kind == "server" and s.attributes["url.path"] == "/call")
    inner = next(s for s in spans if s.kind == "server" and s.attributes["url.path"] == "/missing")
    assert outer.parent_span_id == parent and outer.trace_id == trace_id
    assert client.parent_span_id == outer.span_id and client.trace_id == trace_id
    assert client.attributes["url.full"] == f"http://{server.address}/missing"
    assert client.attributes["http.response.status_code"] == 404
    assert client.error
    assert outer.start_time_ns <= client.start_time_ns <= client.end_time_ns <= outer.end_time_ns
    # lockdown forbids writing user memory: no traceparent reached the inner request
    assert inner.parent_span_id is None
    assert tracer.propagation.mode in {"read-only", "read-write"}


class _Receiver(BaseHTTPRequestHandler):
    requests: list[ExportTraceServiceRequest] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        assert self.path == "/v1/traces" and self.headers["Content-Type"] == "application/x-protobuf"
        request = ExportTraceServiceRequest()
        request.ParseFromString(body)
        type(self).requests.append(request)
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


def test_spans_reach_otlp_receiver_with_resource(
    bpf_runtime: Any, toolchains: dict[str, Path], start_server: Callable[[Path], Any]
) -> None:
    receiver = HTTPServer(("127.0.0.1", 0), _Receiver)
    threading.Thread(target=receiver.serve_forever, daemon=True).start()
    built = gobuilds.build("go1.27.4", toolchains["go1.27.4"], "pie")
    server = start_server(built.path)
    exporter = ebpf.OtlpHttpExporter(f"http://127.0.0.1:{receiver.server_port}")
    resource = {
        "service.name": "checkout",
        "k8s.namespace.name": "shop",
        "k8s.pod.name": "checkout-7d9f-abcde",
        "k8s.pod.uid": "0b6c1b3e-0000-4000-8000-000000000001",
        "k8s.container.name": "app",
        "k8s.deployment.name": "checkout",
        "k8s.node.name": "node-1",
    }
    tracer = ebpf.attach(server.pid, resource, exporter)
    try:
        sent = load.mixed(server.address, 50, workers=2)
        deadline = time.monotonic() + 15
        while tracer.spans_exported < 50 and time.monotonic() < deadline:
            bpf_runtime.flush()
            time.sleep(0.05)
    finally:
        tracer.close()
        exporter.close()
        receiver.shutdown()
    assert exporter.failed == 0 and exporter.dropped == 0, exporter.last_error
    received = [
        s for r in _Receiver.requests for rs in r.resource_spans for ss in rs.scope_spans for s in ss.spans
    ]
    assert len(received) == 50
    attrs = {kv.key: kv.value for r in _Receiver.requests for kv in r.resource_spans[0].resource.attributes}
    for key, value in resource.items():
        assert attrs[key].string_value == value
    assert attrs["process.runtime.version"].string_value == built.go_version
    statuses = Counter(
        next(a.value.int_value for a in s.attributes if a.key == "http.response.status_code")
        for s in received
    )
    assert statuses == Counter(status for (_m, _p, status), n in sent.requests.items() for _ in range(n))
    assert all(
        len(s.trace_id) == 16 and len(s.span_id) == 8 and s.end_time_unix_nano > s.start_time_unix_nano
        for s in received
    )


def test_process_exiting_mid_run_is_reported(
    bpf_runtime: Any, toolchains: dict[str, Path], start_server: Callable[[Path], Any]
) -> None:
    built = gobuilds.build("debian", toolchains["debian"], "plain")
    server = start_server(built.path)
    exited: list[ebpf.Tracer] = []
    tracer = ebpf.attach(server.pid, None, ebpf.MemoryExporter(), on_exit=exited.append)
    load.mixed(server.address, 20, workers=1)
    server.process.kill()
    server.process.wait()
    deadline = time.monotonic() + 10
    while not exited and time.monotonic() < deadline:
        time.sleep(0.1)
    assert tracer.state == "exited"
    assert f"process {server.pid} exited" in tracer.reason
    assert exited == [tracer]
    assert tracer.spans_exported == 20
    tracer.close()  # idempotent after exit
    with pytest.raises(ebpf.ProcessGone, match="does not exist"):
        ebpf.attach(server.pid)
    # the runtime is unharmed: another target traces fine
    again = start_server(built.path)
    exporter = ebpf.MemoryExporter()
    other = ebpf.attach(again.pid, None, exporter)
    assert get(again.address, "/hello") == 200
    assert len(wait_for(exporter, bpf_runtime, 1)) == 1
    other.close()


def test_non_go_process_is_refused(bpf_runtime: Any) -> None:
    sleeper = subprocess.Popen(["sleep", "30"])
    try:
        with pytest.raises(ebpf.NotGoBinary, match="not a Go program"):
            ebpf.attach(sleeper.pid)
        assert sleeper.poll() is None
    finally:
        sleeper.kill()
        sleeper.wait()


def test_unknown_layout_is_refused(
    bpf_runtime: Any, toolchains: dict[str, Path], start_server: Callable[[Path], Any], tmp_path: Path
) -> None:
    """A stripped binary whose Go version has no generated offsets: refuse, never guess."""
    built = gobuilds.build("debian", toolchains["debian"], "stripped")
    data = bytearray(built.path.read_bytes())
    old = built.go_version.encode()
    new = b"go9" + old[3:]  # same length: the build info stays well-formed
    index = data.index(old, data.index(b"\xff Go buildinf:"))
    data[index : index + len(old)] = new
    patched = tmp_path / "goserver-unknown"
    patched.write_bytes(bytes(data))
    patched.chmod(0o755)
    server = start_server(patched)
    with pytest.raises(ebpf.OffsetUnknown, match="not in the generated offset table") as info:
        ebpf.attach(server.pid)
    assert new.decode() in str(info.value)
    assert server.alive() and get(server.address, "/hello") == 200
    assert not [t for t in bpf_runtime.tracers() if t.pid == server.pid]


def test_trace_command_prints_spans(
    bpf_runtime: Any, toolchains: dict[str, Path], start_server: Callable[[Path], Any]
) -> None:
    built = gobuilds.build("machine", toolchains["machine"], "pie")
    server = start_server(built.path)
    hodegos = shutil.which("hodegos") or str(Path(__file__).resolve().parents[2] / ".venv/bin/hodegos")
    command = [
        hodegos,
        "agent",
        "trace",
        "--pid",
        str(server.pid),
        "--count",
        "5",
        "--timeout",
        "60",
        "-o",
        "json",
    ]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stderr is not None
    line = proc.stderr.readline()
    assert "attached" in line, line + proc.stderr.read()
    for _ in range(5):
        assert get(server.address, "/missing") == 404
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    import json

    spans = [json.loads(x) for x in out.splitlines() if x.strip()]
    assert len(spans) == 5
    assert {
        (s["name"], s["attributes"]["url.path"], s["attributes"]["http.response.status_code"]) for s in spans
    } == {("GET", "/missing", 404)}
    assert spans[0]["resource"]["process.pid"] == server.pid


def test_trace_command_refuses_non_go_with_reason(bpf_runtime: Any) -> None:
    sleeper = subprocess.Popen(["sleep", "30"])
    hodegos = shutil.which("hodegos") or str(Path(__file__).resolve().parents[2] / ".venv/bin/hodegos")
    try:
        done = subprocess.run(
            [hodegos, "agent", "trace", "--pid", str(sleeper.pid), "--timeout", "5"],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 1
        assert "error:" in done.stderr and "not a Go program" in done.stderr
        assert "Traceback" not in done.stderr
        assert sleeper.poll() is None
    finally:
        sleeper.kill()
        sleeper.wait()
