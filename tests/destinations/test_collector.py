"""Every rendered config is loaded by the real, pinned OpenTelemetry Collector (`otelcol validate`)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from api.models import SIGNALS
from destinations import catalogue, collector, components
from destinations.errors import CollectorError
from pipelines import GatewayOptions, LogSource, NodeOptions, render_gateway, render_node
from tests.destinations.conftest import sample_destination

pytestmark = pytest.mark.collector

# Types the pinned build cannot carry: their exporter (or auth extension) is not on the module proxy this
# project builds from, or they need the profiles signal. Rendering reports them; this list is the contract.
NOT_RENDERABLE = {
    "azureblob": "ComponentUnavailable",
    "azuremonitor": "ComponentUnavailable",
    "elasticsearch": "ComponentUnavailable",
    "googlecloudotlp": "ComponentUnavailable",
    "s3": "ComponentUnavailable",
    "pyroscope": "UnsupportedSignal",
}


def every_sample() -> tuple[list[dict[str, Any]], dict[str, str]]:
    """For each renderable type: all signals with every sample value, each signal alone, required-only."""
    dests: list[dict[str, Any]] = []
    secrets: dict[str, str] = {}
    for t in catalogue.all_types():
        if t.type in NOT_RENDERABLE:
            continue
        signals = [s for s in SIGNALS if s in t.signals]
        variants = [(f"{t.type}-all", signals, False), (f"{t.type}-min", signals, True)]
        variants += [(f"{t.type}-{s}", [s], False) for s in signals]
        for name, wanted, minimal in variants:
            dest, values = sample_destination(t.type, name, signals=wanted, required_only=minimal)
            dests.append(dest)
            secrets.update({f"{name}/{k}": v for k, v in values.items()})
        # every dropdown option and both checkbox states, so every template branch is loaded once
        for f in t.fields:
            choices = (
                f.values() if f.kind == "dropdown" else ["true", "false"] if f.kind == "checkbox" else []
            )
            for index, choice in enumerate(choices):
                name = f"{t.type}-{f.name.lower().replace('_', '-')}-{index}"
                dest, values = sample_destination(t.type, name, signals=signals)
                if t.type == "dynamic" and f.name == "DYNAMIC_DESTINATION_TYPE":
                    continue  # its configuration text is written for one exporter; see test_dynamic_*
                dest["spec"]["data"][f.name] = choice
                dests.append(dest)
                secrets.update({f"{name}/{k}": v for k, v in values.items()})
    return dests, secrets


def secret_keys(secrets: dict[str, str]) -> dict[str, set[str]]:
    keys: dict[str, set[str]] = {}
    for item in secrets:
        name, key = item.split("/")
        keys.setdefault(f"{name}-secret", set()).add(key)
    return keys


def env_for(rendered: Any, secrets: dict[str, str]) -> dict[str, str]:
    return {
        env: secrets[f"{ref.secret.removesuffix('-secret')}/{ref.key}"]
        for env, ref in rendered.secret_env.items()
    }


def test_every_destination_type_renders_a_config_the_collector_accepts(otelcol: Path) -> None:
    dests, secrets = every_sample()
    rendered = render_gateway(dests, secret_keys=secret_keys(secrets))
    problems = {n: r.message for n, r in rendered.results.items() if not r.configured}
    assert problems == {}
    text = rendered.yaml()
    for value in secrets.values():
        assert value not in text  # secrets only as ${env:...}
    collector.validate(rendered.config, binary=otelcol, env=env_for(rendered, secrets))
    configured_types = {d["spec"]["type"] for d in dests}
    assert configured_types | set(NOT_RENDERABLE) == set(catalogue.catalogue())


def test_each_type_alone_validates(otelcol: Path) -> None:
    """One config per type, so a failure names the type even if the collector stops at the first error."""
    dests, secrets = every_sample()
    failures = {}
    for t in sorted({d["spec"]["type"] for d in dests}):
        rendered = render_gateway(
            [d for d in dests if d["spec"]["type"] == t], secret_keys=secret_keys(secrets)
        )
        try:
            collector.validate(rendered.config, binary=otelcol, env=env_for(rendered, secrets))
        except CollectorError as exc:
            failures[t] = str(exc)
    assert failures == {}


def test_types_the_build_cannot_carry_are_reported(otelcol: Path) -> None:
    for type_name, reason in NOT_RENDERABLE.items():
        dest, _ = sample_destination(type_name, signals=["traces"] if type_name == "pyroscope" else None)
        result = render_gateway([dest]).results[dest["metadata"]["name"]]
        assert (result.configured, result.reason) == (False, reason), type_name


def test_the_collector_rejects_a_wrong_key(otelcol: Path) -> None:
    """The judge can fail: an exporter key the collector does not know is an error."""
    dest, _ = sample_destination("tempo")
    rendered = render_gateway([dest])
    rendered.config["exporters"]["otlp_grpc/tempo-sample"]["endpointt"] = "x"
    with pytest.raises(CollectorError, match="endpointt"):
        collector.validate(rendered.config, binary=otelcol)


def test_every_built_component_name_is_accepted(otelcol: Path) -> None:
    """The logical -> pinned name table matches the binary: a config using each built component loads."""
    cases: dict[str, dict[str, dict[str, Any]]] = {
        "exporters": {
            "otlp_grpc": {"endpoint": "x:4317"},
            "otlp_http": {"endpoint": "http://x:4318"},
            "debug": {},
            "nop": {},
            "googlecloud": {"project": "p"},
            "prometheusremotewrite": {"endpoint": "http://x"},
            "clickhouse": {"endpoint": "tcp://x:9000"},
            "kafka": {"brokers": ["x:9092"]},
            "datadog": {"api": {"key": "k", "site": "datadoghq.eu"}},
        },
        "processors": {
            "memory_limiter": {"check_interval": "1s", "limit_percentage": 80, "spike_limit_percentage": 20},
            "batch": {},
            "k8sattributes": {"passthrough": True},
            "resourcedetection": {"detectors": ["env"]},
            "resource": {"attributes": [{"key": "a", "value": "b", "action": "insert"}]},
            "tailsampling": {"policies": [{"name": "p", "type": "always_sample"}]},
            "probabilisticsampler": {"sampling_percentage": 10},
            "groupbytrace": {},
            "transform": {
                "error_mode": "ignore",
                "metric_statements": ['set(resource.attributes["a"], "b")'],
            },
            "attributes": {"actions": [{"key": "a", "action": "delete"}]},
            "redaction": {"allow_all_keys": True},
            "filter": {"error_mode": "ignore", "metrics": {"metric": ['name == "x"']}},
        },
        "receivers": {
            "otlp": {"protocols": {"grpc": {"endpoint": "127.0.0.1:0"}}},
            "filelog": {"include": ["/x"]},
            "hostmetrics": {"scrapers": {"cpu": {}}},
            "nop": {},
        },
        "extensions": {
            "health_check": {},
            "basicauth": {"client_auth": {"username": "u", "password": "p"}},
            "bearertokenauth": {"token": "t"},
            "sigv4auth": {"region": "us-east-1", "service": "xray"},
        },
        "connectors": {"spanmetrics": {}, "forward": {}},
    }
    built = {kind: {k for k, c in table.items() if c.built} for kind, table in components.KINDS.items()}
    assert {kind: set(v) for kind, v in cases.items()} == {k: v for k, v in built.items() if k in cases}
    config: dict[str, Any] = {kind: {} for kind in cases}
    for kind, entries in cases.items():
        for logical, cfg in entries.items():
            config[kind][f"{components.name(kind, logical)}/probe"] = cfg
    filelog = f"{components.name('receivers', 'filelog')}/probe"
    spans = f"{components.name('connectors', 'spanmetrics')}/probe"
    receivers = [r for r in config["receivers"] if r != filelog]
    forward = f"{components.name('connectors', 'forward')}/probe"
    traces_only = [
        f"{components.name('processors', p)}/probe"
        for p in ("tailsampling", "probabilisticsampler", "groupbytrace", "redaction")
    ]
    pipelines = {
        "traces": {"receivers": ["otlp/probe"], "exporters": [spans]},
        "traces/forwarded": {"receivers": ["otlp/probe"], "exporters": [forward]},
        "traces/sampled": {
            "receivers": [forward],
            "processors": [
                f"{components.name('processors', p)}/probe"
                for p in ("tailsampling", "probabilisticsampler", "groupbytrace", "redaction")
            ],
            "exporters": ["otlp_grpc/probe"],
        },
        "metrics": {
            "receivers": [*receivers, spans],
            "processors": [p for p in config["processors"] if p not in traces_only],
            "exporters": list(config["exporters"]),
        },
        "logs": {"receivers": ["otlp/probe", filelog], "exporters": ["otlp_grpc/probe"]},
    }
    config["service"] = {"extensions": ["health_check/probe"], "pipelines": pipelines}
    collector.validate(config, binary=otelcol)


MIXES: dict[str, Callable[[], list[dict[str, Any]]]] = {
    "all-signals": lambda: [
        sample_destination(t)[0] for t in ("otlp", "honeycomb", "logzio", "prometheus", "loki")
    ],
    "only-logs": lambda: [sample_destination("loki")[0], sample_destination("otlphttp", signals=["logs"])[0]],
    "no-destinations": list,
}


@pytest.mark.parametrize("mix", sorted(MIXES))
@pytest.mark.parametrize("kubernetes", ["cluster", "passthrough", "off"])
def test_node_and_gateway_configs_for_mixed_sets_validate(otelcol: Path, mix: str, kubernetes: str) -> None:
    dests = MIXES[mix]()
    node = render_node(
        dests,
        options=NodeOptions(kubernetes=kubernetes, log_sources=(LogSource("shop", "web-"),), host_root=None),  # type: ignore[arg-type]
    )
    collector.validate(node.config, binary=otelcol, env={"HODEGOS_NODE_NAME": "node-1"})
    gateway = render_gateway(dests, options=GatewayOptions())
    collector.validate(gateway.config, binary=otelcol, env={name: "x" for name in gateway.secret_env})
    if mix == "only-logs":
        assert list(node.config["service"]["pipelines"]) == ["logs"]
        logs = node.config["service"]["pipelines"]["logs"]["receivers"]
        assert components.name("receivers", "filelog") in logs
    if mix == "all-signals":
        metrics = node.config["service"]["pipelines"]["metrics"]["receivers"]
        assert "hostmetrics" in metrics and components.name("connectors", "spanmetrics") in metrics


@pytest.mark.parametrize(
    ("exporter", "config"),
    [
        ("prometheusremotewrite", "endpoint: http://prom:9090/api/v1/write\n"),
        ("otlp_grpc", "endpoint: c:4317\ntls: {insecure: true}\n"),
        ("debug", "verbosity: detailed\n"),
    ],
)
def test_dynamic_destination_with_user_written_config_validates(
    otelcol: Path, exporter: str, config: str
) -> None:
    signals = ["metrics"] if exporter == "prometheusremotewrite" else ["traces", "logs"]
    dest = {
        "metadata": {"name": "dyn"},
        "spec": {
            "type": "dynamic",
            "signals": signals,
            "data": {"DYNAMIC_DESTINATION_TYPE": exporter, "DYNAMIC_CONFIGURATION_DATA": config},
        },
    }
    rendered = render_gateway([dest])
    assert rendered.results["dyn"].configured, rendered.results["dyn"].message
    collector.validate(rendered.config, binary=otelcol)


def test_dynamic_destination_errors_name_the_field() -> None:
    base = {"DYNAMIC_DESTINATION_TYPE": "otlp_http", "DYNAMIC_CONFIGURATION_DATA": "endpoint: [unclosed\n"}
    bad_yaml = {"metadata": {"name": "a"}, "spec": {"type": "dynamic", "signals": ["traces"], "data": base}}
    result = render_gateway([bad_yaml]).results["a"]
    assert (result.configured, result.field) == (False, "spec.data.DYNAMIC_CONFIGURATION_DATA")
    not_a_map = {**base, "DYNAMIC_CONFIGURATION_DATA": "- a\n- b\n"}
    bad_shape = {
        "metadata": {"name": "b"},
        "spec": {"type": "dynamic", "signals": ["traces"], "data": not_a_map},
    }
    assert render_gateway([bad_shape]).results["b"].field == "spec.data.DYNAMIC_CONFIGURATION_DATA"
