"""Live throughput from a real collector's own metrics: the scraper's parsing and rates, and the overview.

A real OpenTelemetry Collector (the pinned build) runs on loopback with its self-metrics on a Prometheus
port, exactly as the Hodegos collectors expose them; the test sends it real OTLP spans, metric points and
log records, and the UI's scraper turns two scrapes into per-second rates per signal and per destination.
"""

from __future__ import annotations

import os
import socket
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from fastapi.testclient import TestClient
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from api import constants
from destinations import collector
from kube import Api
from kube.resources import DESTINATIONS, GROUPS
from tests.support import require
from tests.ui.conftest import wait_for
from ui import Scraper, telemetry

pytestmark = pytest.mark.collector

SPANS, POINTS, RECORDS = 40, 12, 25


def _ports(count: int) -> list[int]:
    socks = [socket.socket() for _ in range(count)]
    try:
        for s in socks:
            s.bind(("127.0.0.1", 0))
        return [int(s.getsockname()[1]) for s in socks]
    finally:
        for s in socks:
            s.close()


@contextmanager
def running(binary: Path, config: dict[str, Any], *, health_port: int, workdir: Path) -> Iterator[None]:
    """The collector with ``config``, until the block ends; healthy before it starts."""
    path = workdir / "collector.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    log = workdir / "collector.log"
    with log.open("w") as out:
        process = subprocess.Popen([str(binary), f"--config={path}"], stdout=out, stderr=subprocess.STDOUT,
                                   env={"PATH": os.environ.get("PATH", "")})  # fmt: skip
    try:

        def healthy() -> bool:
            if process.poll() is not None:
                raise AssertionError(f"the collector exited {process.returncode}: {log.read_text()[-2000:]}")
            try:
                return httpx.get(f"http://127.0.0.1:{health_port}/", timeout=1).status_code == 200
            except httpx.HTTPError:
                return False

        wait_for("the collector's health check", healthy, 60)
        yield
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _config(otlp: int, health: int, metrics: int, destination: str) -> dict[str, Any]:
    exporter = f"debug/{destination}"
    return {
        "receivers": {"otlp": {"protocols": {"http": {"endpoint": f"127.0.0.1:{otlp}"}}}},
        "exporters": {exporter: {"verbosity": "basic"}},
        "extensions": {"health_check": {"endpoint": f"127.0.0.1:{health}"}},
        "service": {
            "extensions": ["health_check"],
            "pipelines": {
                f"{signal}/{destination}": {"receivers": ["otlp"], "exporters": [exporter]}
                for signal in ("traces", "metrics", "logs")
            },
            "telemetry": {
                "logs": {"level": "warn"},
                "metrics": {
                    "level": "normal",
                    "readers": [
                        {"pull": {"exporter": {"prometheus": {"host": "127.0.0.1", "port": metrics}}}}
                    ],
                },
            },
        },
    }


def _send(otlp: int) -> None:
    traces = ExportTraceServiceRequest()
    spans = traces.resource_spans.add().scope_spans.add()
    for i in range(SPANS):
        span = spans.spans.add()
        span.trace_id, span.span_id, span.name = uuid.uuid4().bytes, uuid.uuid4().bytes[:8], f"op-{i}"
        span.start_time_unix_nano, span.end_time_unix_nano = time.time_ns() - 1000, time.time_ns()
    metrics = ExportMetricsServiceRequest()
    scope = metrics.resource_metrics.add().scope_metrics.add()
    for i in range(POINTS):
        gauge = scope.metrics.add()
        gauge.name = f"gauge_{i}"
        point = gauge.gauge.data_points.add()
        point.as_double, point.time_unix_nano = float(i), time.time_ns()
    logs = ExportLogsServiceRequest()
    records = logs.resource_logs.add().scope_logs.add()
    for i in range(RECORDS):
        record = records.log_records.add()
        record.body.string_value, record.time_unix_nano = f"line {i}", time.time_ns()
    with httpx.Client(timeout=5) as client:
        for path, message in (("traces", traces), ("metrics", metrics), ("logs", logs)):
            response = client.post(
                f"http://127.0.0.1:{otlp}/v1/{path}",
                content=message.SerializeToString(),
                headers={"Content-Type": "application/x-protobuf"},
            )
            assert response.status_code == 200, response.text


@pytest.fixture(scope="module")
def real_collector(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[int, str, str]]:
    require(
        collector.is_built(), f"the pinned collector is not built ({collector.collector_path()}); make setup"
    )
    otlp, health, metrics = _ports(3)
    destination = f"tput-{uuid.uuid4().hex[:6]}"
    workdir: Path = tmp_path_factory.mktemp("collector")
    with running(
        collector.collector_path(),
        _config(otlp, health, metrics, destination),
        health_port=health,
        workdir=workdir,
    ):
        yield otlp, f"http://127.0.0.1:{metrics}/metrics", destination


def test_scraper_turns_two_scrapes_into_rates(real_collector: tuple[int, str, str]) -> None:
    otlp, url, destination = real_collector
    _send(otlp)
    counted = wait_for(
        "the collector's counters",
        lambda: (c := telemetry.parse(httpx.get(url).text)).received.get("logs") and c,
    )
    assert counted.received["traces"] >= SPANS and counted.received["metrics"] >= POINTS
    assert counted.sent[(f"debug/{destination}", "traces")] >= SPANS

    scraper = Scraper(lambda: {constants.GATEWAY_NAME: [url]}, interval=60)
    with httpx.Client(timeout=5) as client:
        scraper.scrape_once(client)
        assert scraper.snapshot()[constants.GATEWAY_NAME].rates is None  # one scrape: no rate yet
        start = time.monotonic()
        _send(otlp)
        before = counted.received["logs"]
        wait_for(
            "the second batch",
            lambda: telemetry.parse(httpx.get(url).text).received["logs"] >= before + RECORDS,
        )
        time.sleep(max(0.0, 1.0 - (time.monotonic() - start)))
        scraper.scrape_once(client)
    result = scraper.snapshot()[constants.GATEWAY_NAME]
    assert result.rates is not None and result.scraped == 1 and result.error is None
    elapsed = time.monotonic() - start
    # the second batch, spread over the seconds between the two scrapes
    assert SPANS / (elapsed + 1) <= result.rates.received["traces"] <= SPANS / 0.5
    assert result.rates.received["logs"] > 0 and result.rates.received["metrics"] > 0
    exporter = f"debug/{destination}"
    assert result.rates.sent[exporter]["traces"] > 0
    assert telemetry.destination_of(exporter, [destination, "tput"]) == destination


def test_an_unreachable_collector_is_no_data_not_zero() -> None:
    (port,) = _ports(1)
    scraper = Scraper(lambda: {constants.GATEWAY_NAME: [f"http://127.0.0.1:{port}/metrics"]}, interval=60)
    with httpx.Client(timeout=1) as client:
        scraper.scrape_once(client)
        scraper.scrape_once(client)
    result = scraper.snapshot()[constants.GATEWAY_NAME]
    assert result.rates is None and result.error and "127.0.0.1" in result.error


@pytest.mark.cluster
def test_the_overview_shows_the_gateway_and_destination_throughput(
    real_collector: tuple[int, str, str],
    make_client: Callable[..., TestClient],
    admin_api: Api,
    system_namespace: str,
) -> None:
    otlp, url, destination = real_collector
    group = {
        "apiVersion": constants.API_VERSION, "kind": "CollectorsGroup",
        "metadata": {"name": constants.GATEWAY_NAME, "namespace": system_namespace},
        "spec": {"role": "gateway", "signals": ["traces", "metrics", "logs"]},
    }  # fmt: skip
    dest = {
        "apiVersion": constants.API_VERSION, "kind": "Destination",
        "metadata": {"name": destination, "namespace": system_namespace},
        "spec": {"type": "debug", "signals": ["traces"]},
    }  # fmt: skip
    existed = admin_api.get(GROUPS, system_namespace, constants.GATEWAY_NAME) is not None
    if not existed:
        admin_api.apply(GROUPS, group)
    admin_api.apply(DESTINATIONS, dest)
    try:
        scraper = Scraper(lambda: {constants.GATEWAY_NAME: [url]}, interval=0.5)
        client = make_client(telemetry=scraper.start())
        _send(otlp)
        page = wait_for(
            "rates on the overview",
            lambda: (text := client.get("/overview/pipeline").text).count("spans/s") >= 2 and text,
            timeout=30,
        )
        assert "no data" not in page.split("Destinations")[0].split("Gateway")[-1]  # the gateway box has data
        assert destination in page
        assert "this UI can read only when it runs inside the cluster" not in page
        scraper.shutdown()
        assert "this UI can read only when it runs" in make_client().get("/overview/pipeline").text
    finally:
        admin_api.delete(DESTINATIONS, system_namespace, destination)
        if not existed:
            admin_api.delete(GROUPS, system_namespace, constants.GATEWAY_NAME)
