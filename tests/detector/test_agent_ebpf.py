"""End to end on one node: a labelled Go pod is detected, traced with real BPF, spans reach OTLP with the pod.

The real pieces: the control plane, the agent loop, cgroup discovery, the eBPF tracer (``ebpf/``) as
``hodegos agent run`` wires it, an OTLP/HTTP receiver decoding what arrives, and the span-loss report
written to the record on the real API server. The test plays kubelet
(cgroups and pod status), as in ``test_agent_cluster.py``.
"""

from __future__ import annotations

import http.client
import http.server
import os
import re
import secrets
import shutil
import subprocess
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from api import constants
from cli.agent import _go_tracing
from detector.node import NodeAgent
from kube import Api
from kube.resources import RECORDS
from tests.cgroups import join
from tests.detector.conftest import GO, Started, _build
from tests.detector.test_agent_cluster import containers_of, get_record, make_record
from tests.support import bpf_ready, require, wait

pytestmark = [pytest.mark.cluster, pytest.mark.bpf]

HTTP_SERVER = """
package main

import (
\t"fmt"
\t"net"
\t"net/http"
)

func main() {
\tlistener, err := net.Listen("tcp", "127.0.0.1:0")
\tif err != nil {
\t\tpanic(err)
\t}
\tfmt.Println("READY", listener.Addr().String())
\thttp.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
\t\tw.WriteHeader(http.StatusTeapot)
\t})
\thttp.Serve(listener, nil)
}
"""


@pytest.fixture(scope="module")
def go_http_server(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("go-http")
    (root / "go.mod").write_text("module example.com/web\n\ngo 1.21\n")
    (root / "main.go").write_text(HTTP_SERVER)
    _build([GO, "build", "-o", "web", "."], root, {**os.environ, "GOTOOLCHAIN": "local"})
    return root / "web"


@pytest.fixture
def otlp_receiver() -> Iterator[tuple[str, list[ExportTraceServiceRequest]]]:
    received: list[ExportTraceServiceRequest] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            request = ExportTraceServiceRequest()
            request.ParseFromString(body)
            received.append(request)
            self.send_response(200)
            self.send_header("Content-Type", "application/x-protobuf")
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", received
    server.shutdown()


def running_go_pod(
    core: Any,
    namespace: str,
    node: str,
    name: str,
    binary: Path,
    start: Callable[..., Started],
    pod_cgroups: Callable[[str, str], Path],
) -> tuple[str, Started]:
    """A labelled pod whose one container runs ``binary`` here, in the pod's cgroups, reported Running."""
    pod = core.create_namespaced_pod(
        namespace,
        {
            "metadata": {"name": name, "labels": {constants.LABEL_EBPF_GO: "true"}},
            "spec": {"nodeName": node, "containers": [{"name": name, "image": f"{name}:1"}]},
        },
    )
    uid: str = pod.metadata.uid
    cid = secrets.token_hex(32)
    server = start([str(binary)], preexec=join(pod_cgroups(uid, cid)))
    core.patch_namespaced_pod_status(
        name,
        namespace,
        {
            "status": {
                "phase": "Running",
                "containerStatuses": [
                    {
                        "name": name,
                        "image": f"{name}:1",
                        "imageID": "",
                        "ready": True,
                        "restartCount": 0,
                        "containerID": f"containerd://{cid}",
                        "state": {"running": {"startedAt": "2026-01-01T00:00:00Z"}},
                    }
                ],
            }
        },
    )
    return uid, server


def test_labelled_go_pod_is_traced_with_its_pod_resource(
    kube_api: Any,
    admin_api: Api,
    hodegos_crds: list[str],
    kube_namespace: str,
    node_name: str,
    go_http_server: Path,
    start: Callable[..., Started],
    pod_cgroups: Callable[[str, str], Path],
    otlp_receiver: tuple[str, list[ExportTraceServiceRequest]],
) -> None:
    ok, why = bpf_ready()
    require(ok, why)
    from kubernetes import client

    endpoint, received = otlp_receiver
    core: Any = client.CoreV1Api(kube_api)
    custom: Any = client.CustomObjectsApi(kube_api)
    traced = _go_tracing(endpoint)
    assert traced is not None
    tracing = traced.tracing
    agent = NodeAgent(admin_api, node_name, tracing=tracing)

    record = make_record(custom, kube_namespace, "Pod", "web")
    uid, server = running_go_pod(core, kube_namespace, node_name, "web", go_http_server, start, pod_cgroups)
    try:
        outcomes = agent.run_once()
        assert any(f"tracing web (pid {server.pid})" in o for o in outcomes), outcomes
        assert containers_of(get_record(custom, kube_namespace, record))["web"]["language"] == "go"

        for path in ("/a", "/b"):
            try:
                urllib.request.urlopen(f"http://{server.ready}{path}", timeout=10)
            except urllib.error.HTTPError as exc:
                assert exc.code == 418

        deadline = time.monotonic() + 30
        spans: list[tuple[dict[str, str], Any]] = []
        while time.monotonic() < deadline and len(spans) < 2:
            spans = [
                ({a.key: a.value.string_value for a in rs.resource.attributes}, span)
                for request in list(received)
                for rs in request.resource_spans
                for ss in rs.scope_spans
                for span in ss.spans
            ]
            time.sleep(0.2)
        assert len(spans) == 2, f"spans received: {len(spans)}"
        for resource, _ in spans:
            assert resource[constants.ATTR_POD_UID] == uid
            assert resource[constants.ATTR_POD_NAME] == "web"
            assert resource[constants.ATTR_NAMESPACE] == kube_namespace
            assert resource[constants.ATTR_CONTAINER_NAME] == "web"
            assert resource[constants.ATTR_NODE_NAME] == node_name
            assert resource[constants.ATTR_SERVICE_NAME] == "web"
    finally:
        core.delete_namespaced_pod("web", kube_namespace, grace_period_seconds=0)
        agent.run_once()  # the pod is gone: its tracer is closed
    assert tracing.active == {}


def test_dropped_spans_reach_the_record_without_erasing_anyone_elses_status(
    kube_api: Any,
    admin_api: Api,
    hodegos_crds: list[str],
    kube_namespace: str,
    node_name: str,
    go_http_server: Path,
    start: Callable[..., Started],
    pod_cgroups: Callable[[str, str], Path],
    otlp_receiver: tuple[str, list[ExportTraceServiceRequest]],
) -> None:
    """A ring buffer of one page overflows under a burst: the loss is counted, written to this node's
    ``status.spanLoss`` entry by a merge patch that leaves the containers and the controllers'
    conditions alone (and theirs leave it alone), and the controllers' rule reads it."""
    ok, why = bpf_ready()
    require(ok, why)
    from kubernetes import client

    import ebpf
    from controllers.instrumentor import _span_loss_condition
    from detector.tracing import GoTracing, LossReporter

    endpoint, received = otlp_receiver
    core: Any = client.CoreV1Api(kube_api)
    custom: Any = client.CustomObjectsApi(kube_api)
    runtime = ebpf.TracerRuntime(ring_pages=1)  # its own runtime, so the ring buffer is tiny
    exporter = ebpf.OtlpHttpExporter(endpoint)
    tracing = GoTracing(lambda pid, resource: runtime.attach(pid, resource, exporter))
    agent = NodeAgent(admin_api, node_name, tracing=tracing)
    record = make_record(custom, kube_namespace, "Pod", "burst")
    _, server = running_go_pod(core, kube_namespace, node_name, "burst", go_http_server, start, pod_cgroups)

    def patch(namespace: str, name: str, body: dict[str, Any]) -> None:
        admin_api.merge_patch(RECORDS, namespace, name, body, sub="status")

    def status() -> dict[str, Any]:
        found: dict[str, Any] = get_record(custom, kube_namespace, record).get("status") or {}
        return found

    try:
        outcomes = agent.run_once()
        assert any(f"tracing burst (pid {server.pid})" in o for o in outcomes), outcomes
        host, port = server.ready.rsplit(":", 1)
        conn = http.client.HTTPConnection(host, int(port), timeout=10)
        sent = 0
        for _ in range(400):
            conn.request("GET", "/burst")
            reply = conn.getresponse()
            reply.read()
            sent += reply.status == 418
        conn.close()
        (tracer,) = runtime.tracers()

        def settled() -> bool:
            runtime.flush()
            tracer._refresh_losses()
            return tracer.spans_exported + tracer.spans_lost >= sent

        wait("every request a span or a counted loss", settled, timeout=30)
        lost = tracer.lost["ring_buffer_full"]
        assert lost > 0 and tracer.spans_exported + lost == sent
        spans = wait(
            "the exported spans at the receiver",
            lambda: (n := sum(len(ss.spans) for r in list(received) for rs in r.resource_spans
                              for ss in rs.scope_spans)) >= tracer.spans_exported and n,
        )  # fmt: skip
        assert spans == sent - lost

        reporter = LossReporter(tracing, node_name, patch, lambda ns, name: status())
        now = datetime.now(UTC)
        assert reporter.tick(now) == [f"{kube_namespace}/{record}"]
        entry = status()["spanLoss"][node_name]
        assert entry["dropping"] is True and entry["spansLost"] == lost
        assert entry["reasons"] == {"ring_buffer_full": lost}
        assert containers_of(get_record(custom, kube_namespace, record))["burst"]["language"] == "go"
        assert _span_loss_condition(status()["spanLoss"], None)["status"] == "True"

        # The instrumentor writes its whole conditions list with a merge patch: the entry stays.
        condition = {
            "type": "OptedIn", "status": "True", "reason": "Test", "message": "",
            "lastTransitionTime": "2026-01-01T00:00:00Z",
        }  # fmt: skip
        patch(kube_namespace, record, {"status": {"conditions": [condition]}})
        assert status()["spanLoss"][node_name]["spansLost"] == lost
        # Another node's agent writes its own key: both entries stay.
        patch(kube_namespace, record, {"status": {"spanLoss": {"other-node": {"dropping": False}}}})
        assert set(status()["spanLoss"]) == {node_name, "other-node"}
        # A quiet minute later this agent says it stopped, and touches nothing else.
        assert reporter.tick(now + timedelta(seconds=90)) == [f"{kube_namespace}/{record}"]
        after = status()
        assert after["spanLoss"][node_name]["dropping"] is False
        assert after["spanLoss"][node_name]["spansLost"] == lost
        assert after["conditions"] == [condition] and "burst" in containers_of({"status": after})
        assert _span_loss_condition(after["spanLoss"], None)["reason"] == "NoRecentLoss"
    finally:
        core.delete_namespaced_pod("burst", kube_namespace, grace_period_seconds=0)
        agent.run_once()
        runtime.close()
        exporter.close()


def test_agent_run_serves_the_tracer_metrics_and_never_maps_llvm(
    kube_api: Any,
    admin_api: Api,
    kubeconfig: Path,
    hodegos_crds: list[str],
    kube_namespace: str,
    node_name: str,
    go_http_server: Path,
    start: Callable[..., Started],
    pod_cgroups: Callable[[str, str], Path],
    otlp_receiver: tuple[str, list[ExportTraceServiceRequest]],
) -> None:
    """``hodegos agent run`` as a process: it re-executes lean, traces the labelled pod, and its /metrics
    listener counts the spans; the long-lived agent maps no LLVM."""
    ok, why = bpf_ready()
    require(ok, why)
    from kubernetes import client

    endpoint, _ = otlp_receiver
    core: Any = client.CoreV1Api(kube_api)
    custom: Any = client.CustomObjectsApi(kube_api)
    make_record(custom, kube_namespace, "Pod", "metered")
    _, server = running_go_pod(core, kube_namespace, node_name, "metered", go_http_server, start, pod_cgroups)
    hodegos = shutil.which("hodegos") or str(Path(__file__).resolve().parents[2] / ".venv/bin/hodegos")
    command = [
        hodegos, "agent", "run", "--node", node_name, "--kubeconfig", str(kubeconfig), "--resync", "2",
        "--otlp-endpoint", endpoint, "--metrics-address", "127.0.0.1:0",
    ]  # fmt: skip
    agent = subprocess.Popen(command, stderr=subprocess.PIPE, text=True)
    assert agent.stderr is not None
    logs: list[str] = []
    threading.Thread(target=lambda: logs.extend(agent.stderr or []), daemon=True).start()
    try:
        found = wait(
            "the metrics listener", lambda: re.search(r"metrics on http://(\S+)/metrics", "".join(logs))
        )
        url = f"http://{found.group(1)}/metrics"
        wait("the pod traced", lambda: f"tracing metered (pid {server.pid})" in "".join(logs), timeout=90)
        for _ in range(3):
            try:
                urllib.request.urlopen(f"http://{server.ready}/m", timeout=10)
            except urllib.error.HTTPError as exc:
                assert exc.code == 418

        def scraped() -> str | None:
            page: str = urllib.request.urlopen(url, timeout=10).read().decode()
            return page if "hodegos_ebpf_spans_exported_total 3\n" in page else None

        page = wait("3 spans counted on /metrics", scraped, timeout=30)
        assert "hodegos_ebpf_traced_processes 1\n" in page
        assert 'hodegos_ebpf_spans_lost_total{reason="ring_buffer_full"} 0\n' in page
        assert re.search(r'^hodegos_ebpf_program_info\{source="(cache|compiled)"\} 1$', page, re.M)
        assert f'pod="metered",container="metered",service="metered",pid="{server.pid}"' in page
        assert re.search(r"^process_resident_memory_bytes \d+$", page, re.M)
        cmdline = Path(f"/proc/{agent.pid}/cmdline").read_bytes().split(b"\0")
        assert cmdline[1:4] == [b"-m", b"cli.agent", b"run"]  # re-executed without the other groups
        maps = Path(f"/proc/{agent.pid}/maps").read_text()
        assert not re.search(r"libLLVM|libclang|libbcc\.so", maps)
    finally:
        agent.terminate()
        agent.wait(timeout=30)
        core.delete_namespaced_pod("metered", kube_namespace, grace_period_seconds=0)
    assert agent.returncode in (0, -15), "".join(logs[-20:])
