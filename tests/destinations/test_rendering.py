"""Pure rendering: Destination checks, gateway and node configs, per-destination results, secrets."""

from __future__ import annotations

import json
from typing import Any

import pytest

from api import constants
from destinations import DestinationInvalid, catalogue, check_destination, components
from destinations.rendering import render_destination
from pipelines import GatewayOptions, Listen, LogSource, NodeOptions, render_gateway, render_node
from tests.destinations.conftest import sample_destination

K8S = components.name("processors", "k8sattributes")
FILELOG = components.name("receivers", "filelog")
SPANS = components.name("connectors", "spanmetrics")

CANARY = "canary-7f3a9c-never-print-me"


def dest(
    name: str, type_: str, signals: list[str], data: dict[str, str], secret: str | None = None
) -> dict[str, Any]:
    spec: dict[str, Any] = {"type": type_, "signals": signals, "data": data}
    if secret:
        spec["secretRef"] = {"name": secret}
    return {"metadata": {"name": name}, "spec": spec}


def test_gateway_names_pipelines_and_exporters_per_destination_and_signal() -> None:
    rendered = render_gateway([dest("jaeger-prod", "jaeger", ["traces"], {"JAEGER_URL": "jaeger:4317"})])
    config = rendered.config
    assert config["exporters"]["otlp_grpc/jaeger-prod"]["endpoint"] == "jaeger:4317"
    assert config["exporters"]["otlp_grpc/jaeger-prod"]["tls"] == {"insecure": True}
    pipelines = config["service"]["pipelines"]
    # one shared stage per signal, then a fan-out to each destination's own pipeline
    assert pipelines["traces/in"] == {
        "receivers": ["otlp"],
        "processors": ["memory_limiter"],
        "exporters": ["forward/traces"],
    }
    assert pipelines["traces/jaeger-prod"] == {
        "receivers": ["forward/traces"],
        "processors": [],
        "exporters": ["otlp_grpc/jaeger-prod"],
    }
    # exporter-side batching where the exporter supports it, instead of the batch processor
    assert config["exporters"]["otlp_grpc/jaeger-prod"]["sending_queue"] == {"batch": {}}
    assert "batch" not in config["processors"]
    grpc = config["receivers"]["otlp"]["protocols"]["grpc"]["endpoint"]
    assert grpc.endswith(f":{constants.OTLP_GRPC_PORT}")
    assert config["extensions"]["health_check"]["endpoint"].endswith(f":{constants.COLLECTOR_HEALTH_PORT}")
    assert config["service"]["telemetry"]["metrics"]["readers"][0]["pull"]["exporter"]["prometheus"][
        "port"
    ] == (constants.COLLECTOR_METRICS_PORT)
    assert rendered.results["jaeger-prod"].configured


def test_memory_limiter_first_and_batch_last_for_exporters_without_queue_batching() -> None:
    rendered = render_gateway(
        [
            dest(
                "prom",
                "prometheus",
                ["metrics"],
                {"PROMETHEUS_REMOTEWRITE_URL": "http://prom:9090/api/v1/write"},
            )
        ]
    )
    pipelines = rendered.config["service"]["pipelines"]
    assert pipelines["metrics/in"]["processors"][0] == "memory_limiter"
    assert "memory_limiter" not in pipelines["metrics/prom"]["processors"]  # once, before the fan-out
    assert pipelines["metrics/prom"]["processors"][-1] == "batch"
    assert "sending_queue" not in rendered.config["exporters"]["prometheus_remote_write/prom"]


def test_secrets_render_as_env_references_only() -> None:
    d = dest("hc", "honeycomb", ["traces", "logs"], {}, secret="hc-secret")
    rendered = render_gateway([d], secret_keys={"hc-secret": {"HONEYCOMB_API_KEY"}})
    headers = rendered.config["exporters"]["otlp_grpc/hc"]["headers"]
    assert headers == {"x-honeycomb-team": "${env:HODEGOS_HC_HONEYCOMB_API_KEY}"}
    assert rendered.env() == [
        {
            "name": "HODEGOS_HC_HONEYCOMB_API_KEY",
            "valueFrom": {"secretKeyRef": {"name": "hc-secret", "key": "HONEYCOMB_API_KEY"}},
        }
    ]
    assert rendered.secrets == ["hc-secret"]


def test_a_secret_value_put_in_spec_data_is_refused_and_never_rendered() -> None:
    d = dest("hc", "honeycomb", ["traces"], {"HONEYCOMB_API_KEY": CANARY})
    ok = dest("tempo", "tempo", ["traces"], {"TEMPO_URL": "tempo:4317"})
    rendered = render_gateway([d, ok])
    result = rendered.results["hc"]
    assert not result.configured
    assert result.reason == "SecretInSpec"
    assert result.field == "spec.data.HONEYCOMB_API_KEY"
    assert CANARY not in rendered.yaml() and CANARY not in json.dumps(rendered.config)
    assert CANARY not in result.message
    assert rendered.results["tempo"].configured


@pytest.mark.parametrize(
    ("destination", "reason", "field"),
    [
        (dest("a", "jaeger", ["metrics"], {"JAEGER_URL": "j:4317"}), "UnsupportedSignal", "spec.signals[0]"),
        (dest("a", "jaeger", ["traces"], {}), "MissingField", "spec.data.JAEGER_URL"),
        (dest("a", "honeycomb", ["traces"], {}), "MissingField", "spec.secretRef"),
        (dest("a", "nosuch", ["traces"], {}), "UnknownType", "spec.type"),
        (
            dest("a", "jaeger", ["traces"], {"JAEGER_URL": "j:4317", "JAEGER_URI": "x"}),
            "InvalidDestination",
            "spec.data.JAEGER_URI",
        ),
        (
            dest("a", "debug", ["traces"], {"DEBUG_VERBOSITY": "loud"}),
            "InvalidDestination",
            "spec.data.DEBUG_VERBOSITY",
        ),
        (
            dest("a", "otlp", ["traces"], {"OTLP_GRPC_ENDPOINT": "c:4317", "OTLP_GRPC_TLS_ENABLED": "yes"}),
            "InvalidDestination",
            "spec.data.OTLP_GRPC_TLS_ENABLED",
        ),
        (
            dest("a", "otlp", ["traces"], {"OTLP_GRPC_ENDPOINT": "c:4317", "OTLP_GRPC_HEADERS": "novalue"}),
            "InvalidDestination",
            "spec.data.OTLP_GRPC_HEADERS",
        ),
        (dest("a", "logzio", ["traces"], {}, secret="s"), "MissingField", "secret key LOGZIO_TRACING_TOKEN"),
        (
            {"metadata": {"name": "a"}, "spec": {"type": "jaeger", "signals": ["spans"]}},
            "InvalidDestination",
            "spec.signals.0",
        ),
        (
            {"metadata": {"name": "a"}, "spec": {"type": "jaeger", "signals": []}},
            "InvalidDestination",
            "spec.signals",
        ),
    ],
)
def test_an_invalid_destination_is_left_out_with_a_reason_naming_the_field(
    destination: dict[str, Any], reason: str, field: str
) -> None:
    good = dest("good", "tempo", ["traces"], {"TEMPO_URL": "tempo:4317"})
    rendered = render_gateway([destination, good], secret_keys={"s": set()})
    result = rendered.results["a"]
    assert (result.configured, result.reason, result.field) == (False, reason, field)
    assert field.split(".")[-1].split("[")[0] in result.message
    assert result.condition(3) == {
        "type": "Configured",
        "status": "False",
        "reason": reason,
        "message": result.message,
        "observedGeneration": 3,
    }
    assert "traces/good" in rendered.config["service"]["pipelines"]
    assert not any(p.endswith("/a") for p in rendered.config["service"]["pipelines"])


def test_unbuilt_component_and_profiles_only_types_are_reported_not_rendered() -> None:
    s3, _ = sample_destination("s3")
    pyroscope = dest("pyro", "pyroscope", ["traces"], {"PYROSCOPE_URL": "p:4040"})
    rendered = render_gateway([s3, pyroscope])
    assert rendered.results["s3-sample"].reason == "ComponentUnavailable"
    assert rendered.results["pyro"].reason == "UnsupportedSignal"
    assert "pipelines" in rendered.config["service"]


def test_disabled_destination_is_skipped() -> None:
    d = dest("off", "tempo", ["traces"], {"TEMPO_URL": "t:4317"})
    d["spec"]["disabled"] = True
    rendered = render_gateway([d])
    assert rendered.results["off"].reason == "Disabled"
    assert set(rendered.config["service"]["pipelines"]) == {
        "traces/discard",
        "metrics/discard",
        "logs/discard",
    }


def test_check_destination_applies_defaults_and_show_conditions() -> None:
    from api.models import Destination

    d = Destination.model_validate(dest("o", "otlp", ["traces"], {"OTLP_GRPC_ENDPOINT": "c:4317"}))
    _, values = check_destination(d)
    assert values["OTLP_GRPC_COMPRESSION"] == "gzip"
    assert values["OTLP_GRPC_CA_PEM"] is None  # hidden: TLS is off
    with pytest.raises(DestinationInvalid) as info:
        check_destination(Destination.model_validate(dest("o", "otlp", ["traces"], {})))
    assert info.value.field == "spec.data.OTLP_GRPC_ENDPOINT"


def test_a_type_with_per_signal_exporters_gets_one_exporter_per_signal() -> None:
    d, _ = sample_destination("logzio", "lz")
    rendered = render_destination(
        __import__("api.models", fromlist=["Destination"]).Destination.model_validate(d)
    )
    assert set(rendered.exporters) == {
        "otlp_http/lz-traces",
        "otlp_http/lz-logs",
        "prometheus_remote_write/lz",
    }
    assert rendered.pipelines["metrics/lz"][1] == ["prometheus_remote_write/lz"]


def test_node_config_exports_only_the_signals_destinations_want() -> None:
    rendered = render_node([dest("t", "tempo", ["traces"], {"TEMPO_URL": "t:4317"})])
    config = rendered.config
    assert list(config["service"]["pipelines"]) == ["traces"]
    traces = config["service"]["pipelines"]["traces"]
    assert traces["processors"][0] == "memory_limiter"
    assert traces["processors"][1] == K8S
    assert components.name("processors", "resourcedetection") in traces["processors"]
    assert traces["exporters"] == ["otlp_grpc/gateway"]
    assert config["exporters"]["otlp_grpc/gateway"]["endpoint"] == (
        f"{constants.GATEWAY_NAME}.{constants.NAMESPACE}:{constants.OTLP_GRPC_PORT}"
    )
    assert config["receivers"]["otlp"]["protocols"]["http"]["endpoint"].endswith(
        f":{constants.OTLP_HTTP_PORT}"
    )
    assert FILELOG not in config["receivers"] and "hostmetrics" not in config["receivers"]
    assert "connectors" not in config  # no metrics destination, no span metrics


def test_node_reads_pod_logs_of_instrumented_workloads_only_with_a_logs_destination() -> None:
    sources = (LogSource("shop", "checkout-"), LogSource("payments"))
    logs = dest("l", "loki", ["logs"], {"LOKI_URL": "http://loki:3100"})
    with_logs = render_node([logs], options=NodeOptions(log_sources=sources)).config
    assert with_logs["receivers"][FILELOG]["include"] == [
        "/var/log/pods/shop_checkout-*/*/*.log",
        "/var/log/pods/payments_*/*/*.log",
    ]
    assert with_logs["service"]["pipelines"]["logs"]["receivers"] == ["otlp", FILELOG]
    traces_only = dest("t", "tempo", ["traces"], {"TEMPO_URL": "t:4317"})
    assert (
        FILELOG
        not in render_node([traces_only], options=NodeOptions(log_sources=sources)).config["receivers"]
    )


def test_node_adds_host_metrics_only_for_a_metrics_destination_that_wants_them() -> None:
    prom = dest("p", "prometheus", ["metrics"], {"PROMETHEUS_REMOTEWRITE_URL": "http://p/api/v1/write"})
    signoz = dest("s", "signoz", ["metrics"], {"SIGNOZ_URL": "s:4317"})
    assert "hostmetrics" in render_node([prom]).config["receivers"]
    assert "hostmetrics" not in render_node([signoz]).config["receivers"]


def test_node_without_destinations_still_accepts_and_discards() -> None:
    config = render_node([]).config
    assert set(config["service"]["pipelines"]) == {"traces/discard", "metrics/discard", "logs/discard"}
    assert config["exporters"] == {"nop": {}}


def test_listen_options_and_passthrough() -> None:
    listen = Listen(host="127.0.0.1", otlp_grpc_port=1, otlp_http_port=2, health_port=3, metrics_port=4)
    g = render_gateway([], options=GatewayOptions(listen=listen)).config
    assert g["receivers"]["otlp"]["protocols"]["grpc"]["endpoint"] == "127.0.0.1:1"
    n = render_node(
        [dest("t", "tempo", ["traces"], {"TEMPO_URL": "t:4317"})],
        options=NodeOptions(listen=listen, kubernetes="passthrough"),
    ).config
    assert n["processors"][K8S] == {"passthrough": True}
    off = render_node(
        [dest("t", "tempo", ["traces"], {"TEMPO_URL": "t:4317"})], options=NodeOptions(kubernetes="off")
    )
    assert K8S not in off.config["processors"]


def test_objects_read_from_the_api_server_render() -> None:
    """A Destination as the API returns it: server metadata, a status with fields this version lacks."""
    d = dest("t", "tempo", ["traces"], {"TEMPO_URL": "t:4317"})
    d["apiVersion"], d["kind"] = "hodegos.io/v1alpha1", "Destination"
    d["metadata"].update(
        {"namespace": "hodegos-system", "uid": "u-1", "resourceVersion": "42", "generation": 3,
         "managedFields": [{"manager": "hodegos"}]}
    )  # fmt: skip
    d["status"] = {"conditions": [], "observedGeneration": 2, "futureField": True}
    assert render_gateway([d]).results["t"].configured


def test_node_for_signals_matches_node_from_destinations() -> None:
    from pipelines import node_for_signals

    prom = dest("p", "prometheus", ["metrics"], {"PROMETHEUS_REMOTEWRITE_URL": "http://p/api/v1/write"})
    assert (
        node_for_signals(["metrics"], host_metrics=True, span_metrics=True).config
        == render_node([prom]).config
    )
    assert list(node_for_signals(["logs", "traces"]).config["service"]["pipelines"]) == ["traces", "logs"]


def test_node_derives_span_metrics_for_a_metrics_backend_that_does_not() -> None:
    prom = dest("p", "prometheus", ["metrics"], {"PROMETHEUS_REMOTEWRITE_URL": "http://p/api/v1/write"})
    config = render_node([prom]).config
    pipelines = config["service"]["pipelines"]
    # spans are received only to be counted: the traces pipeline feeds the connector, not the gateway
    assert pipelines["traces"]["exporters"] == [SPANS]
    assert pipelines["metrics"]["receivers"][:2] == ["otlp", SPANS]
    assert pipelines["metrics"]["exporters"] == ["otlp_grpc/gateway"]
    assert config["connectors"][SPANS]["add_resource_attributes"] is True
    tempo = dest("t", "tempo", ["traces"], {"TEMPO_URL": "t:4317"})
    both = render_node([prom, tempo]).config["service"]["pipelines"]
    assert both["traces"]["exporters"] == ["otlp_grpc/gateway", SPANS]


def test_node_leaves_span_metrics_to_backends_that_derive_them() -> None:
    honeycomb = dest("h", "honeycomb", ["traces", "metrics"], {}, secret="hc")
    config = render_node([honeycomb]).config
    assert catalogue.get_type("honeycomb").derives_request_metrics
    assert "connectors" not in config
    assert config["service"]["pipelines"]["traces"]["exporters"] == ["otlp_grpc/gateway"]


def test_kafka_has_a_topic_per_signal() -> None:
    kafka = dest("k", "kafka", ["traces", "logs"], {"KAFKA_BROKERS": "kafka:9092"})
    exporter = render_gateway([kafka]).config["exporters"]["kafka/k"]
    assert exporter["brokers"] == ["kafka:9092"]
    assert exporter["traces"] == {"topic": "otlp_spans", "encoding": "otlp_proto"}
    assert exporter["logs"] == {"topic": "otlp_logs", "encoding": "otlp_proto"}
    assert "auth" not in exporter  # no SASL user, no auth block


def test_aws_types_sign_each_service_with_its_own_sigv4_extension() -> None:
    cloudwatch = dest(
        "cw",
        "cloudwatch",
        ["metrics", "logs"],
        {
            "AWS_CLOUDWATCH_REGION": "eu-west-1",
            "AWS_CLOUDWATCH_LOG_GROUP_NAME": "/apps",
            "AWS_CLOUDWATCH_LOG_STREAM_NAME": "k8s",
            "AWS_CLOUDWATCH_ROLE_ARN": "arn:aws:iam::1:role/r",
        },
    )
    xray = dest("xr", "xray", ["traces"], {"AWS_XRAY_REGION": "eu-west-1"})
    config = render_gateway([cloudwatch, xray]).config
    ext = config["extensions"]
    assert ext["sigv4auth/cw-logs"]["service"] == "logs"
    assert ext["sigv4auth/cw-metrics"]["service"] == "monitoring"
    assert ext["sigv4auth/cw-logs"]["assume_role"] == {"arn": "arn:aws:iam::1:role/r"}
    assert ext["sigv4auth/xr"] == {"region": "eu-west-1", "service": "xray"}
    logs = config["exporters"]["otlp_http/cw-logs"]
    assert logs["logs_endpoint"] == "https://logs.eu-west-1.amazonaws.com/v1/logs"
    assert logs["headers"] == {"x-aws-log-group": "/apps", "x-aws-log-stream": "k8s"}
    assert logs["auth"] == {"authenticator": "sigv4auth/cw-logs"}
    assert config["exporters"]["otlp_http/cw-metrics"]["auth"] == {"authenticator": "sigv4auth/cw-metrics"}
    assert config["exporters"]["otlp_http/xr"]["traces_endpoint"] == (
        "https://xray.eu-west-1.amazonaws.com/v1/traces"
    )
    assert set(config["service"]["extensions"]) >= set(ext) - {"health_check"}
    # metrics only: the logs signer and exporter are not rendered, nor the logs-only required fields asked
    metrics_only = dest("m", "cloudwatch", ["metrics"], {"AWS_CLOUDWATCH_REGION": "eu-west-1"})
    only = render_gateway([metrics_only])
    assert only.results["m"].configured
    assert set(only.config["extensions"]) == {"health_check", "sigv4auth/m-metrics"}
