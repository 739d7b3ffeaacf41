"""Trace affinity: a node collector rendered as Hodegos renders it in front of two real gateway collectors.

Spans of one trace, sent in several requests over time, all land on the gateway that owns the trace ID;
traces spread over both gateways; and the tail decisions are the same as with a single gateway.
"""

from __future__ import annotations

import time
from contextlib import ExitStack
from pathlib import Path

import httpx
import pytest

from harness import spans as otlp_spans
from harness.collectors import running
from harness.otlp import Recorder, http_receiver
from harness.spans import SpanSpec, new_id
from pipelines import GatewayOptions, NodeOptions, affinity, render_gateway, render_node
from tests.pipelines.conftest import listen, obj, otlp_http

pytestmark = pytest.mark.collector
RULES = [
    obj("SamplingRule", "errors", {"errors": {}}),
    obj("SamplingRule", "share", {"percentage": {"percent": 40}}),
]
WAIT = 2


def _run(
    otelcol: Path, workdir: Path, gateways: int, traces: list[tuple[bytes, bool]]
) -> list[dict[bytes, int]]:
    """Send ``traces`` (id, has an error) through one node collector and ``gateways`` gateways; return, per
    gateway, trace id -> spans received."""
    with ExitStack() as stack:
        sinks: list[Recorder] = []
        endpoints = []
        for index in range(gateways):
            url, recorder = stack.enter_context(http_receiver())
            sinks.append(recorder)
            at = listen()
            options = GatewayOptions(listen=at, decision_wait_seconds=WAIT)
            config = render_gateway([otlp_http("sink", url)], rules=RULES, options=options).config
            stack.enter_context(
                running(
                    otelcol,
                    config,
                    health_port=at.health_port,
                    workdir=workdir,
                    name=f"gw{gateways}-{index}",
                    env={},
                )
            )
            endpoints.append(f"127.0.0.1:{at.otlp_grpc_port}")
        at = listen()
        node_options = NodeOptions(listen=at, kubernetes="off", host_root=None, gateway_pods=tuple(endpoints))
        node = render_node([otlp_http("sink", "http://127.0.0.1:9")], options=node_options).config
        stack.enter_context(
            running(
                otelcol,
                node,
                health_port=at.health_port,
                workdir=workdir,
                name=f"node{gateways}",
                env={"HODEGOS_NODE_NAME": "n1"},
            )
        )
        base = f"http://127.0.0.1:{at.otlp_http_port}"
        resource = {"service.name": "shop", "k8s.namespace.name": "shop"}
        roots = {trace: SpanSpec(trace, new_id(8), name="GET /") for trace, _ in traces}
        with httpx.Client() as client:
            for part in range(3):  # each trace in three requests, a while apart
                for trace, error in traces:
                    span = (
                        roots[trace]
                        if part == 0
                        else SpanSpec(
                            trace,
                            new_id(8),
                            name=f"step {part}",
                            parent=roots[trace].span_id,
                            error=error and part == 2,
                        )
                    )
                    otlp_spans.send(base, otlp_spans.request([span], resource), client)
                time.sleep(0.3)
        time.sleep(WAIT + 4)
        out = []
        for recorder in sinks:
            counts: dict[bytes, int] = {}
            for _, got in otlp_spans.spans_of(r.message for r in recorder.of("/v1/traces")):
                counts[got.trace_id] = counts.get(got.trace_id, 0) + 1
            out.append(counts)
        return out


def test_every_span_of_a_trace_reaches_one_gateway_and_decisions_match_one_gateway(
    otelcol: Path, tmp_path: Path
) -> None:
    traces = [(new_id(16), index % 10 == 0) for index in range(300)]
    two = _run(otelcol, tmp_path, 2, traces)
    one = _run(otelcol, tmp_path, 1, traces)
    assert all(count == 3 for gateway in two for count in gateway.values()), "no trace split or cut"
    assert not set(two[0]) & set(two[1])
    assert two[0] and two[1], "traces spread over both gateways"
    for index, gateway in enumerate(two):
        assert all(affinity.owner(trace.hex(), 2) == index for trace in gateway)
    kept_two = set(two[0]) | set(two[1])
    assert kept_two == set(one[0])  # the same tail decisions as with a single gateway
    assert {t for t, error in traces if error} <= kept_two
    assert 0 < len(kept_two) < len(traces)
