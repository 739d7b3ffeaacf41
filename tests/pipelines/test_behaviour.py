"""Actions and tail sampling on real spans: an OTLP sender -> the real collector with the rendered gateway
config -> an OTLP receiver; the test asserts what arrives."""

from __future__ import annotations

import math
import time
from pathlib import Path

import httpx
import pytest
from opentelemetry.proto.trace.v1.trace_pb2 import Span

from harness import spans as otlp_spans
from harness.collectors import running
from harness.otlp import Recorder, http_receiver
from harness.spans import SpanSpec, new_id
from pipelines import GatewayOptions, render_gateway
from tests.pipelines.conftest import listen, obj, otlp_http

pytestmark = pytest.mark.collector

CARD, MAIL = "4111 1111 1111 1111", "bob@example.com"
JWT = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjMifQ.c2lnbmF0dXJl"


def _received(recorder: Recorder, count: int, timeout: float = 30) -> list[tuple[dict[str, str], Span]]:
    deadline = time.monotonic() + timeout
    while True:
        found = otlp_spans.spans_of(r.message for r in recorder.of("/v1/traces"))
        if len(found) >= count or time.monotonic() > deadline:
            return found
        time.sleep(0.2)


def test_actions_rename_delete_mask_and_add_cluster_info(otelcol: Path, tmp_path: Path) -> None:
    actions = [
        obj("Action", "cluster", {"addClusterInfo": {"clusterName": "prod-eu-1"}}),
        obj("Action", "rename", {"renameAttribute": {"from": "legacy.id", "to": "order.id"}}),
        obj("Action", "delete", {"deleteAttribute": {"names": "password"}}),
        obj("Action", "mask", {"piiMasking": {}, "scope": {"namespaces": ["shop"]}}),
    ]
    at = listen()
    with http_receiver() as (url, recorder):
        gateway = render_gateway([otlp_http("sink", url)], actions=actions, options=GatewayOptions(listen=at))
        assert all(r.applied for r in gateway.actions.values()), gateway.actions
        with running(
            otelcol, gateway.config, health_port=at.health_port, workdir=tmp_path, name="gateway", env={}
        ):
            values = {
                "legacy.id": "A-17",
                "password": "hunter2",
                "card": CARD,
                "mail": f"to {MAIL} now",
                "token": JWT,
                "plain": "order 42 shipped",
            }
            base = f"http://127.0.0.1:{at.otlp_http_port}"
            for namespace in ("shop", "other"):
                span = SpanSpec(new_id(16), new_id(8), name=f"charge {CARD}", attributes=dict(values))
                otlp_spans.send(
                    base, otlp_spans.request([span], {"service.name": "pay", "k8s.namespace.name": namespace})
                )
            found = _received(recorder, 2)
    assert len(found) == 2
    by_ns = {resource["k8s.namespace.name"]: (resource, span) for resource, span in found}
    for resource, got in by_ns.values():
        attrs = otlp_spans.attributes(got)
        assert resource["k8s.cluster.name"] == "prod-eu-1"
        assert attrs["order.id"] == "A-17" and "legacy.id" not in attrs
        assert "password" not in attrs
        assert attrs["plain"] == "order 42 shipped"  # other values untouched
    shop = otlp_spans.attributes(by_ns["shop"][1])
    assert (shop["card"], shop["mail"], shop["token"]) == ("****", "to **** now", "****")
    assert by_ns["shop"][1].name == "charge ****"
    other = otlp_spans.attributes(by_ns["other"][1])  # out of the masking action's scope
    assert (other["card"], other["mail"], other["token"]) == (CARD, f"to {MAIL} now", JWT)


def test_tail_sampling_keeps_errors_slow_traces_and_a_share_of_the_rest(
    otelcol: Path, tmp_path: Path
) -> None:
    rules = [
        obj("SamplingRule", "errors", {"errors": {}}),
        obj("SamplingRule", "slow", {"latency": {"thresholdMs": 500}}),
        obj("SamplingRule", "share", {"percentage": {"percent": 20}}),
        obj("SamplingRule", "probes", {"dropOperations": {"routes": "/healthz"}}),
    ]
    at = listen()
    traces = 2000
    kinds: dict[bytes, str] = {}
    with http_receiver() as (url, recorder):
        options = GatewayOptions(listen=at, decision_wait_seconds=2)
        gateway = render_gateway([otlp_http("sink", url)], rules=rules, options=options)
        with running(
            otelcol, gateway.config, health_port=at.health_port, workdir=tmp_path, name="gateway", env={}
        ):
            base = f"http://127.0.0.1:{at.otlp_http_port}"
            resource = {"service.name": "shop", "k8s.namespace.name": "shop"}
            with httpx.Client() as client:
                for index in range(traces):
                    trace = new_id(16)
                    kind = "error" if index % 20 == 0 else "slow" if index % 20 == 1 else "plain"
                    kinds[trace] = kind
                    root = SpanSpec(
                        trace, new_id(8), name="GET /checkout", duration_ms=800 if kind == "slow" else 20
                    )
                    child = SpanSpec(
                        trace, new_id(8), name="SELECT", parent=root.span_id, error=kind == "error"
                    )
                    probe = SpanSpec(
                        trace,
                        new_id(8),
                        name="GET /healthz",
                        parent=root.span_id,
                        attributes={"http.route": "/healthz"},
                    )
                    # the spans of one trace arrive in separate requests, as from different services
                    otlp_spans.send(base, otlp_spans.request([root, probe], resource), client)
                    otlp_spans.send(base, otlp_spans.request([child], resource), client)
            time.sleep(options.decision_wait_seconds + 3)
            found = _received(recorder, 0, timeout=1)
    kept: dict[bytes, list[str]] = {}
    for _, span in found:
        kept.setdefault(span.trace_id, []).append(span.name)
    assert all(sorted(names) == ["GET /checkout", "SELECT"] for names in kept.values()), (
        "kept traces are complete, probes dropped"
    )
    kept_kinds = [kinds[t] for t in kept]
    assert kept_kinds.count("error") == traces // 20
    assert kept_kinds.count("slow") == traces // 20
    plain = sum(1 for k in kinds.values() if k == "plain")
    expected, sd = plain * 0.2, math.sqrt(plain * 0.2 * 0.8)
    assert abs(kept_kinds.count("plain") - expected) <= 3.29 * sd, (kept_kinds.count("plain"), expected)
