"""End to end: SDK -> real node collector -> real gateway -> an OTLP destination, with generated configs.

The node config is rendered with ``kubernetes="passthrough"``: the k8sattributes processor is in the
pipeline but, without a cluster to watch, only tags the sender's address (``k8s.pod.ip``); the workload's
own k8s resource attributes (set by the injected OTEL_RESOURCE_ATTRIBUTES) must survive both hops. The
destination is a local OTLP/HTTP receiver that demands basic auth, whose password reaches the gateway only
as an environment variable from the destination's Secret.
"""

from __future__ import annotations

import base64
import time
from pathlib import Path
from typing import Any

import pytest
from opentelemetry._logs import LogRecord, SeverityNumber
from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import SimpleLogRecordProcessor
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor

from harness.collectors import running
from harness.otlp import Recorder, free_port, http_receiver
from pipelines import GatewayOptions, Listen, LogSource, NodeOptions, render_gateway, render_node

pytestmark = pytest.mark.collector

CANARY = "canary-e2e-4d1f0b-secret"
POD = {
    "service.name": "checkout",
    "k8s.namespace.name": "shop",
    "k8s.pod.name": "checkout-7d9f-abcde",
    "k8s.pod.uid": "0f6c1a52-1111-2222-3333-444455556666",
    "k8s.deployment.name": "checkout",
    "k8s.container.name": "app",
}


def listen() -> Listen:
    return Listen(
        host="127.0.0.1",
        otlp_grpc_port=free_port(),
        otlp_http_port=free_port(),
        health_port=free_port(),
        metrics_port=free_port(),
    )


def wait_for(recorder: Recorder, path: str, predicate: Any, timeout: float = 45) -> list[dict[str, str]]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = [attrs for attrs in recorder.resource_attributes(path) if predicate(attrs)]
        if found:
            return found
        time.sleep(0.3)
    raise AssertionError(f"nothing matching arrived at {path}; got {recorder.resource_attributes(path)}")


def send_telemetry(node_http: int) -> None:
    resource = Resource.create(POD)
    base = f"http://127.0.0.1:{node_http}"
    tracer_provider = TracerProvider(resource=resource)
    tracer_provider.add_span_processor(SimpleSpanProcessor(OTLPSpanExporter(endpoint=f"{base}/v1/traces")))
    with tracer_provider.get_tracer("e2e").start_as_current_span("GET /cart"):
        pass
    tracer_provider.shutdown()
    reader = PeriodicExportingMetricReader(
        OTLPMetricExporter(endpoint=f"{base}/v1/metrics"), export_interval_millis=3_600_000
    )
    meter_provider = MeterProvider(resource=resource, metric_readers=[reader])
    meter_provider.get_meter("e2e").create_counter("orders").add(3)
    meter_provider.force_flush()
    meter_provider.shutdown()
    logger_provider = LoggerProvider(resource=resource)
    logger_provider.add_log_record_processor(
        SimpleLogRecordProcessor(OTLPLogExporter(endpoint=f"{base}/v1/logs"))
    )
    logger_provider.get_logger("e2e").emit(
        LogRecord(body="order placed", severity_number=SeverityNumber.WARN)
    )
    logger_provider.shutdown()


def span_metrics(recorder: Recorder) -> list[tuple[set[str], dict[str, str]]]:
    """(metric names, resource attributes) of each resource whose metrics came from the span connector."""
    found = []
    for item in recorder.of("/v1/metrics"):
        for res in item.message.resource_metrics:
            names = {m.name for scope in res.scope_metrics for m in scope.metrics}
            if any(n.startswith("traces.span.metrics.") for n in names):
                found.append((names, {a.key: a.value.string_value for a in res.resource.attributes}))
    return found


@pytest.mark.timeout(240)
def test_sdk_to_node_to_gateway_to_destination(otelcol: Path, tmp_path: Path) -> None:
    expected_auth = "Basic " + base64.b64encode(f"hodegos:{CANARY}".encode()).decode()
    with http_receiver(require_header=("Authorization", expected_auth)) as (url, recorder):
        destination = {
            "metadata": {"name": "local-otlp"},
            "spec": {
                "type": "otlphttp",
                "signals": ["traces", "metrics", "logs"],
                "data": {"OTLP_HTTP_ENDPOINT": url, "OTLP_HTTP_BASIC_AUTH_USERNAME": "hodegos"},
                "secretRef": {"name": "local-otlp-auth"},
            },
        }
        gw_listen, node_listen = listen(), listen()
        gateway = render_gateway(
            [destination],
            options=GatewayOptions(listen=gw_listen),
            secret_keys={"local-otlp-auth": {"OTLP_HTTP_BASIC_AUTH_PASSWORD"}},
        )
        assert gateway.results["local-otlp"].configured
        pod_logs = tmp_path / "pods"
        node = render_node(
            [destination],
            options=NodeOptions(
                listen=node_listen,
                gateway_endpoint=f"127.0.0.1:{gw_listen.otlp_grpc_port}",
                kubernetes="passthrough",
                log_sources=(
                    LogSource("shop", "checkout-", "checkout"),
                    LogSource("shop", "checkout-v2-", "v2"),
                ),
                pod_log_root=str(pod_logs),
                host_root=None,
                span_metrics_flush="1s",
            ),
        )
        # an OTLP destination does not derive request metrics from spans: the node does
        assert "connectors" in node.config
        for text in (gateway.yaml(), node.yaml()):
            assert CANARY not in text
        gateway_env = {name: CANARY for name in gateway.secret_env}
        with (
            running(
                otelcol,
                gateway.config,
                health_port=gw_listen.health_port,
                workdir=tmp_path,
                name="gateway",
                env=gateway_env,
            ) as gateway_log,
            running(
                otelcol,
                node.config,
                health_port=node_listen.health_port,
                workdir=tmp_path,
                name="node",
                env={"HODEGOS_NODE_NAME": "kind-worker-1"},
            ) as node_log,
        ):
            send_telemetry(node_listen.otlp_http_port)
            # a container log line, written the way the kubelet does, picked up by filelog
            container_dir = pod_logs / f"shop_{POD['k8s.pod.name']}_{POD['k8s.pod.uid']}" / "app"
            container_dir.mkdir(parents=True)
            log_file = container_dir / "0.log"
            log_file.write_text("")
            time.sleep(2)
            with log_file.open("a") as handle:
                handle.write("2026-11-24T00:00:00.000000000Z stdout F hello from the container log\n")

            def from_pod(attrs: dict[str, str]) -> bool:
                return all(attrs.get(k) == v for k, v in POD.items())

            for path in ("/v1/traces", "/v1/metrics", "/v1/logs"):
                arrived = wait_for(recorder, path, from_pod)
                attrs = arrived[0]
                assert attrs["k8s.node.name"] == "kind-worker-1"  # the node's resource processor
                assert attrs["k8s.pod.ip"] == "127.0.0.1"  # k8sattributes (passthrough) ran on the node
            # request metrics derived on the node from the span, carrying the span's pod resource
            deadline = time.monotonic() + 45
            while not (derived := span_metrics(recorder)) and time.monotonic() < deadline:
                time.sleep(0.3)
            assert derived, "no span metrics arrived"
            names, attrs = derived[0]
            assert {"traces.span.metrics.calls", "traces.span.metrics.duration"} <= names
            assert all(attrs.get(k) == v for k, v in POD.items())
            file_logs = wait_for(
                recorder,
                "/v1/logs",
                lambda a: a.get("k8s.pod.name") == POD["k8s.pod.name"] and "k8s.deployment.name" not in a,
            )
            # the workload's service name, as its agent names its traces (the longer prefix did not match)
            assert file_logs[0]["service.name"] == "checkout"
            assert file_logs[0]["k8s.namespace.name"] == "shop"
            assert file_logs[0]["k8s.container.name"] == "app"
            assert all(r.headers.get("Authorization") == expected_auth for r in recorder.received)
        for log in (gateway_log, node_log):
            assert CANARY not in log.read_text()


@pytest.mark.cluster
@pytest.mark.timeout(300)
def test_node_k8sattributes_enriches_from_the_real_api_server(
    otelcol: Path, tmp_path: Path, kube_cluster: Any, kube_api: Any, kube_namespace: str
) -> None:
    """Cluster mode against the local kube-apiserver: the SDK sends only the pod UID; k8sattributes on the
    node collector adds the pod's name, namespace and node from the API (auth via kubeconfig, as a collector
    outside a pod would; in a pod it is the service account)."""
    from kubernetes import client

    core: Any = client.CoreV1Api(kube_api)
    node_name: str = core.list_node().items[0].metadata.name
    pod = core.create_namespaced_pod(
        kube_namespace,
        {
            "metadata": {"name": "checkout-0", "labels": {"app": "checkout"}},
            "spec": {
                "nodeName": node_name,
                "containers": [{"name": "app", "image": "example.invalid/app:1"}],
            },
        },
    )
    uid: str = pod.metadata.uid
    with http_receiver() as (url, recorder):
        destination = {
            "metadata": {"name": "local"},
            "spec": {"type": "otlphttp", "signals": ["traces"], "data": {"OTLP_HTTP_ENDPOINT": url}},
        }
        gw_listen, node_listen = listen(), listen()
        gateway = render_gateway([destination], options=GatewayOptions(listen=gw_listen))
        node = render_node(
            [destination],
            options=NodeOptions(
                listen=node_listen,
                gateway_endpoint=f"127.0.0.1:{gw_listen.otlp_grpc_port}",
                kubernetes="cluster",
                kube_auth="kubeConfig",
                host_root=None,
            ),
        )
        node_env = {"HODEGOS_NODE_NAME": node_name, "KUBECONFIG": str(kube_cluster.kubeconfig)}
        with (
            running(
                otelcol,
                gateway.config,
                health_port=gw_listen.health_port,
                workdir=tmp_path,
                name="gateway",
                env={},
            ),
            running(
                otelcol,
                node.config,
                health_port=node_listen.health_port,
                workdir=tmp_path,
                name="node",
                env=node_env,
            ),
        ):
            resource = Resource.create({"service.name": "checkout", "k8s.pod.uid": uid})
            deadline = time.monotonic() + 60
            enriched = False
            while not enriched and time.monotonic() < deadline:
                # the pod informer syncs asynchronously after start: send until an enriched span arrives
                provider = TracerProvider(resource=resource)
                provider.add_span_processor(
                    SimpleSpanProcessor(
                        OTLPSpanExporter(endpoint=f"http://127.0.0.1:{node_listen.otlp_http_port}/v1/traces")
                    )
                )
                with provider.get_tracer("e2e").start_as_current_span("GET /cart"):
                    pass
                provider.shutdown()
                time.sleep(1)
                enriched = any(
                    a.get("k8s.pod.name") == "checkout-0" for a in recorder.resource_attributes("/v1/traces")
                )
            arrived = wait_for(recorder, "/v1/traces", lambda a: a.get("k8s.pod.name") == "checkout-0")
    attrs = arrived[0]
    assert attrs["k8s.namespace.name"] == kube_namespace
    assert attrs["k8s.node.name"] == node_name
    assert attrs["k8s.pod.uid"] == uid
