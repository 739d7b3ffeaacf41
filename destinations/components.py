"""Collector component names: the logical names type files use -> the names the pinned collector accepts.

The collector renamed ``otlp`` to ``otlp_grpc`` and ``otlphttp`` to ``otlp_http`` (v0.144.0, the old names
kept as deprecated aliases). Type files always say ``otlp_grpc``/``otlp_http``; this table maps every logical
name to the id the pinned build registers, and says whether the component is in the build at all
(``cli/tools/otelcol/manifest.yaml``). A test compares this table with ``otelcol components`` of the real
binary, so a version bump that renames or drops a component fails loudly.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Component:
    name: str  # the id the pinned collector accepts
    built: bool = True  # present in cli/tools/otelcol/manifest.yaml
    queue_batching: bool = False  # supports exporterhelper `sending_queue.batch` (preferred over `batch`)


EXPORTERS: dict[str, Component] = {
    "otlp_grpc": Component("otlp_grpc", queue_batching=True),
    "otlp_http": Component("otlp_http", queue_batching=True),
    "debug": Component("debug"),
    "nop": Component("nop"),
    "googlecloud": Component("googlecloud"),
    "prometheusremotewrite": Component("prometheusremotewrite"),
    "clickhouse": Component("clickhouse"),
    # Types whose native exporter the Go module proxy this project builds from does not carry. Their
    # templates follow the exporter docs; rendering them reports ComponentUnavailable until they are built.
    "kafka": Component("kafka", built=False),
    "awss3": Component("awss3", built=False),
    "awsxray": Component("awsxray", built=False),
    "awsemf": Component("awsemf", built=False),
    "awscloudwatchlogs": Component("awscloudwatchlogs", built=False),
    "azureblob": Component("azureblob", built=False),
    "azuremonitor": Component("azuremonitor", built=False),
    "elasticsearch": Component("elasticsearch", built=False),
}
EXTENSIONS: dict[str, Component] = {
    "health_check": Component("health_check"),
    "basicauth": Component("basicauth"),
    "bearertokenauth": Component("bearertokenauth"),
    "googleclientauth": Component("googleclientauth", built=False),
}
PROCESSORS: dict[str, Component] = {
    "memory_limiter": Component("memory_limiter"),
    "batch": Component("batch"),
    "k8sattributes": Component("k8sattributes"),
    "resourcedetection": Component("resourcedetection"),
    "resource": Component("resource"),
}
RECEIVERS: dict[str, Component] = {
    "otlp": Component("otlp"),
    "filelog": Component("filelog"),
    "hostmetrics": Component("hostmetrics"),
    "nop": Component("nop"),
}
CONNECTORS: dict[str, Component] = {
    # Not in the build: no spanmetrics module of the pinned release line is on the module proxy.
    "spanmetrics": Component("spanmetrics", built=False),
}
KINDS: dict[str, dict[str, Component]] = {
    "exporters": EXPORTERS,
    "extensions": EXTENSIONS,
    "processors": PROCESSORS,
    "receivers": RECEIVERS,
    "connectors": CONNECTORS,
}


def name(kind: str, logical: str) -> str:
    return KINDS[kind][logical].name


def built(logical: str) -> bool:
    return all(table[logical].built for table in KINDS.values() if logical in table)
