"""Fixtures for the pipelines tests: the built collector, loopback listen addresses, sample objects."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from destinations import collector
from harness.otlp import free_port
from pipelines import Listen
from tests.support import require


@pytest.fixture(scope="session")
def otelcol() -> Path:
    require(
        collector.is_built(),
        f"the pinned collector is not built ({collector.collector_path()}); run make setup",
    )
    return collector.collector_path()


def listen() -> Listen:
    return Listen(
        host="127.0.0.1",
        otlp_grpc_port=free_port(),
        otlp_http_port=free_port(),
        health_port=free_port(),
        metrics_port=free_port(),
    )


def obj(kind: str, name: str, spec: dict[str, Any]) -> dict[str, Any]:
    return {"apiVersion": "hodegos.io/v1alpha1", "kind": kind, "metadata": {"name": name}, "spec": spec}


def otlp_http(name: str, endpoint: str, signals: tuple[str, ...] = ("traces",)) -> dict[str, Any]:
    return obj(
        "Destination",
        name,
        {"type": "otlphttp", "signals": list(signals), "data": {"OTLP_HTTP_ENDPOINT": endpoint}},
    )


# One of every kind, with settings that exercise their templates; valid in both roles.
ACTIONS = [
    obj(
        "Action",
        "a-cluster",
        {"addClusterInfo": {"clusterName": "prod-eu-1", "attributes": {"deployment.environment": "prod"}}},
    ),
    obj("Action", "b-rename", {"renameAttribute": {"from": "legacy.id", "to": "order.id"}}),
    obj("Action", "c-delete", {"deleteAttribute": {"names": "password\nhttp.request.header.authorization"}}),
    obj(
        "Action",
        "d-mask",
        {"piiMasking": {"ipv4": True, "customPatterns": "secret-[0-9]+"}, "scope": {"namespaces": ["shop"]}},
    ),
    obj(
        "Action",
        "e-k8s",
        {"k8sAttributes": {"podLabels": "app\nteam", "podAnnotations": "owner", "namespaceLabels": "tier"}},
    ),
]
RULES = [
    obj("SamplingRule", "errors", {"errors": {}}),
    obj(
        "SamplingRule",
        "slow-checkout",
        {"latency": {"thresholdMs": 500, "service": "checkout", "route": "/pay"}},
    ),
    obj("SamplingRule", "slow", {"latency": {"thresholdMs": 500}}),
    obj("SamplingRule", "ten", {"percentage": {"percent": 10}, "scope": {"namespaces": ["shop"]}}),
    obj("SamplingRule", "cart", {"percentage": {"percent": 50, "service": "cart"}}),
    obj("SamplingRule", "probes", {"dropOperations": {"routes": "/healthz", "spanNames": "GET /readyz"}}),
    obj("SamplingRule", "head", {"head": {"ratio": 0.25}, "scope": {"namespaces": ["shop"]}}),
]
