"""The catalogue: every type loads, covers Odigos's list, and malformed files are clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from destinations import catalogue, components
from destinations.errors import CatalogueError, UnknownTypeError

ISSUE_TYPES = """
alibabacloud appdynamics cloudwatch s3 xray axiom azureblob azuremonitor betterstack bonree causely
checkly chronosphere clickhouse coralogix dash0 datadog dynamic dynatrace elasticapm elasticsearch
qryn googlecloud googlecloudotlp grafanacloudloki grafanacloudprometheus grafanacloudtempo greptime
groundcover honeycomb hyperdx instana jaeger kafka kloudmate last9 lightstep logzio loki lumigo
middleware newrelic observe oneuptime openobserve oracle otlp otlphttp prometheus pyroscope qryn-oss
quickwit seq signalfx signoz splunk sumologic telemetryhub tempo tingyun traceloop uptrace
victoriametricscloud debug
""".split()

GOOD = """\
type: sample
displayName: Sample
category: managed
signals: [traces]
docs: https://example.com/docs
fields:
  - name: SAMPLE_ENDPOINT
    label: Endpoint
    required: true
    example: collector:4317
exporters:
  - component: otlp_grpc
    config:
      endpoint: "{{ SAMPLE_ENDPOINT }}"
"""


def write(tmp_path: Path, text: str, name: str = "sample") -> Path:
    path = tmp_path / f"{name}.yaml"
    path.write_text(text)
    return path


def test_every_type_of_the_issue_is_in_the_catalogue() -> None:
    missing = sorted(set(ISSUE_TYPES) - set(catalogue.catalogue()))
    assert missing == []
    assert len(catalogue.all_types()) >= 64


def test_secret_fields_are_never_plain_text_inputs() -> None:
    for t in catalogue.all_types():
        for f in t.fields:
            if f.kind == "password":
                assert f.secret, f"{t.type}.{f.name}"
            if f.name.endswith(("_TOKEN", "_PASSWORD", "_SECRET")):
                assert f.secret, f"{t.type}.{f.name} looks like a credential but is not secret"


def test_every_exporter_component_is_known_to_the_component_table() -> None:
    for t in catalogue.all_types():
        for entry in t.exporters:
            assert entry.component in components.EXPORTERS


def test_a_good_file_loads(tmp_path: Path) -> None:
    loaded = catalogue.load_file(write(tmp_path, GOOD))
    assert loaded.type == "sample"
    assert loaded.fields[0].required


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (("category: managed", "category: cloud"), "category"),
        (("    label: Endpoint\n", ""), "fields.0.label"),
        (('"{{ SAMPLE_ENDPOINT }}"', '"{{ SAMPLE_ENDPONT }}"'), "SAMPLE_ENDPONT"),
        (("component: otlp_grpc", "component: zipkin"), "exporters[0].component"),
        (
            ("  - component: otlp_grpc\n", "  - component: otlp_grpc\n    signals: [logs]\n"),
            "exporters[0].signals",
        ),
        (("    example: collector:4317\n", ""), "needs an example"),
        (("  - name: SAMPLE_ENDPOINT", "  - name: sample-endpoint"), "fields.0.name"),
        (("docs: https://example.com/docs", "docs: ftp://example.com"), "docs"),
        (("type: sample", "type: other"), "does not match the file name"),
        (("displayName: Sample\n", "displayName: Sample\nbogus: 1\n"), "bogus"),
    ],
)
def test_a_malformed_file_names_the_file_and_the_field(
    tmp_path: Path, change: tuple[str, str], expected: str
) -> None:
    text = GOOD.replace(*change)
    assert text != GOOD
    with pytest.raises(CatalogueError) as info:
        catalogue.load_file(write(tmp_path, text))
    assert "sample.yaml" in str(info.value)
    assert expected in str(info.value)


def test_invalid_yaml_is_a_catalogue_error(tmp_path: Path) -> None:
    with pytest.raises(CatalogueError, match=r"sample.yaml: not valid YAML"):
        catalogue.load_file(write(tmp_path, "type: [unclosed\n"))


def test_a_secret_cannot_go_through_a_filter(tmp_path: Path) -> None:
    text = GOOD.replace(
        "exporters:",
        "  - name: SAMPLE_KEY\n    label: Key\n    kind: password\n    secret: true\nexporters:",
    ).replace(
        'endpoint: "{{ SAMPLE_ENDPOINT }}"',
        'endpoint: "{{ SAMPLE_ENDPOINT }}"\n      headers: {k: "{{ SAMPLE_KEY | lower }}"}',
    )
    with pytest.raises(CatalogueError, match="secret field SAMPLE_KEY cannot go through filters"):
        catalogue.load_file(write(tmp_path, text))


def test_unknown_type_is_a_clear_error() -> None:
    with pytest.raises(UnknownTypeError, match="unknown destination type 'nope'"):
        catalogue.get_type("nope")


def test_the_builder_manifest_lists_exactly_the_built_components() -> None:
    """The manifest and the component table agree, and every built component is used by some config."""
    import yaml

    from toolchain.otelcol import MANIFEST

    modules = {
        "otlpreceiver": ("receivers", "otlp"),
        "filelogreceiver": ("receivers", "filelog"),
        "hostmetricsreceiver": ("receivers", "hostmetrics"),
        "nopreceiver": ("receivers", "nop"),
        "memorylimiterprocessor": ("processors", "memory_limiter"),
        "batchprocessor": ("processors", "batch"),
        "k8sattributesprocessor": ("processors", "k8sattributes"),
        "resourcedetectionprocessor": ("processors", "resourcedetection"),
        "resourceprocessor": ("processors", "resource"),
        "otlpexporter": ("exporters", "otlp_grpc"),
        "otlphttpexporter": ("exporters", "otlp_http"),
        "debugexporter": ("exporters", "debug"),
        "nopexporter": ("exporters", "nop"),
        "googlecloudexporter": ("exporters", "googlecloud"),
        "prometheusremotewriteexporter": ("exporters", "prometheusremotewrite"),
        "clickhouseexporter": ("exporters", "clickhouse"),
        "kafkaexporter": ("exporters", "kafka"),
        "spanmetricsconnector": ("connectors", "spanmetrics"),
        "forwardconnector": ("connectors", "forward"),
        "datadogexporter": ("exporters", "datadog"),
        "tailsamplingprocessor": ("processors", "tailsampling"),
        "probabilisticsamplerprocessor": ("processors", "probabilisticsampler"),
        "groupbytraceprocessor": ("processors", "groupbytrace"),
        "transformprocessor": ("processors", "transform"),
        "attributesprocessor": ("processors", "attributes"),
        "redactionprocessor": ("processors", "redaction"),
        "filterprocessor": ("processors", "filter"),
        "healthcheckextension": ("extensions", "health_check"),
        "basicauthextension": ("extensions", "basicauth"),
        "bearertokenauthextension": ("extensions", "bearertokenauth"),
        "sigv4authextension": ("extensions", "sigv4auth"),
    }
    manifest = yaml.safe_load(MANIFEST.read_text())
    listed = set()
    for kind in ("receivers", "processors", "connectors", "exporters", "extensions"):
        for entry in manifest.get(kind) or []:
            module = entry["gomod"].split()[0].rsplit("/", 1)[-1]
            assert modules[module][0] == kind, module
            listed.add(modules[module])
    built = {(kind, name) for kind, table in components.KINDS.items() for name, c in table.items() if c.built}
    assert listed == built
    used_by_types = {("exporters", e.component) for t in catalogue.all_types() for e in t.exporters}
    used_by_types |= {("extensions", e.component) for t in catalogue.all_types() for e in t.extensions}
    used_by_types |= {("processors", e.component) for t in catalogue.all_types() for e in t.processors}
    used_by_configs = {
        ("receivers", "otlp"), ("receivers", "filelog"), ("receivers", "hostmetrics"), ("receivers", "nop"),
        ("processors", "memory_limiter"), ("processors", "batch"), ("processors", "k8sattributes"),
        ("processors", "resourcedetection"), ("exporters", "nop"), ("extensions", "health_check"),
        ("connectors", "spanmetrics"),
        # pipelines/: the shared stage and the Action / SamplingRule kinds
        ("connectors", "forward"), ("processors", "transform"), ("processors", "filter"),
        ("processors", "tailsampling"),
        # built for kind files to use (pipelines/kinds/ templates may name them)
        ("processors", "probabilisticsampler"), ("processors", "groupbytrace"), ("processors", "attributes"),
        ("processors", "redaction"),
    }  # fmt: skip
    assert built <= used_by_types | used_by_configs
