"""Collector component names: the logical names type files use -> the names the pinned collector accepts.

The collector renamed ``otlp`` to ``otlp_grpc`` and ``otlphttp`` to ``otlp_http`` (v0.144.0), and later gave
multi-word contrib components snake-case ids (``file_log``, ``k8s_attributes``, ``resource_detection``,
``prometheus_remote_write``, ``span_metrics``), the old names kept as deprecated aliases. Type files use
the logical names; this table maps each one to the id the pinned build registers, and says whether the
component is in the build at all
(``toolchain/pins/otelcol/manifest.yaml``). A test compares this table with ``otelcol components`` of the real
binary, so a version bump that renames or drops a component fails loudly.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Component:
    name: str  # the id the pinned collector accepts
    built: bool = True  # present in toolchain/pins/otelcol/manifest.yaml
    queue_batching: bool = False  # supports exporterhelper `sending_queue.batch` (preferred over `batch`)


EXPORTERS: dict[str, Component] = {
    "otlp_grpc": Component("otlp_grpc", queue_batching=True),
    "otlp_http": Component("otlp_http", queue_batching=True),
    "debug": Component("debug"),
    "nop": Component("nop"),
    "googlecloud": Component("googlecloud"),
    "prometheusremotewrite": Component("prometheus_remote_write"),
    "clickhouse": Component("clickhouse"),
    "kafka": Component("kafka"),
    "datadog": Component("datadog"),
    # Types whose native exporter the Go module proxy this project builds from does not carry. Their
    # templates follow the exporter docs; rendering them reports ComponentUnavailable until they are built.
    "awss3": Component("awss3", built=False),
    "azureblob": Component("azureblob", built=False),
    "azuremonitor": Component("azuremonitor", built=False),
    "elasticsearch": Component("elasticsearch", built=False),
}
EXTENSIONS: dict[str, Component] = {
    "health_check": Component("health_check"),
    "basicauth": Component("basicauth"),
    "bearertokenauth": Component("bearertokenauth"),
    "sigv4auth": Component("sigv4auth"),
    "googleclientauth": Component("googleclientauth", built=False),
}
PROCESSORS: dict[str, Component] = {
    "memory_limiter": Component("memory_limiter"),
    "batch": Component("batch"),
    "k8sattributes": Component("k8s_attributes"),
    "resourcedetection": Component("resource_detection"),
    "resource": Component("resource"),
    # pipelines/: sampling and actions
    "tailsampling": Component("tail_sampling"),
    "probabilisticsampler": Component("probabilistic_sampler"),
    "groupbytrace": Component("groupbytrace"),
    "transform": Component("transform"),
    "attributes": Component("attributes"),
    "redaction": Component("redaction"),
    "filter": Component("filter"),
}
RECEIVERS: dict[str, Component] = {
    "otlp": Component("otlp"),
    "filelog": Component("file_log"),
    "hostmetrics": Component("hostmetrics"),
    "nop": Component("nop"),
}
CONNECTORS: dict[str, Component] = {
    "spanmetrics": Component("span_metrics"),
    "forward": Component("forward"),
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
