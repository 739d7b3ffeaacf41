"""The CLI: list, show, collector-config; secrets in the input file never reach the output."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from cli.main import app
from destinations import catalogue, collector, components
from tests.support import require

CANARY = "canary-cli-91b2-secret"
FILE = f"""\
apiVersion: hodegos.io/v1alpha1
kind: Destination
metadata: {{name: honey}}
spec:
  type: honeycomb
  signals: [traces, metrics]
  secretRef: {{name: honey-key}}
---
apiVersion: v1
kind: Secret
metadata: {{name: honey-key}}
stringData: {{HONEYCOMB_API_KEY: {CANARY}}}
---
apiVersion: hodegos.io/v1alpha1
kind: Destination
metadata: {{name: broken}}
spec:
  type: jaeger
  signals: [logs]
  data: {{JAEGER_URL: "jaeger:4317"}}
"""

runner = CliRunner()


def test_list_formats() -> None:
    table = runner.invoke(app, ["destinations", "list"])
    assert table.exit_code == 0
    assert "honeycomb" in table.stdout and "Honeycomb" in table.stdout
    wide = runner.invoke(app, ["destinations", "list", "-o", "wide"])
    assert "AVAILABLE" in wide.stdout
    as_json = json.loads(runner.invoke(app, ["destinations", "list", "-o", "json"]).stdout)
    assert {t["type"] for t in as_json} == set(catalogue.catalogue())
    as_yaml = yaml.safe_load(runner.invoke(app, ["destinations", "list", "-o", "yaml"]).stdout)
    assert len(as_yaml) == len(as_json)


def test_show_type() -> None:
    shown = runner.invoke(app, ["destinations", "show", "honeycomb"])
    assert shown.exit_code == 0
    assert "HONEYCOMB_API_KEY" in shown.stdout and "traces, metrics, logs" in shown.stdout
    data = json.loads(runner.invoke(app, ["destinations", "show", "honeycomb", "-o", "json"]).stdout)
    assert data["testConnection"] is True
    missing = runner.invoke(app, ["destinations", "show", "nope"])
    assert missing.exit_code == 1
    assert "unknown destination type 'nope'" in missing.stderr


def test_collector_config_gateway_keeps_secrets_out_and_reports_bad_destinations(tmp_path: Path) -> None:
    path = tmp_path / "dests.yaml"
    path.write_text(FILE)
    result = runner.invoke(app, ["collector-config", "--role", "gateway", "-f", str(path)])
    assert result.exit_code == 0, result.stderr
    config = yaml.safe_load(result.stdout)
    assert config["exporters"]["otlp_grpc/honey"]["headers"]["x-honeycomb-team"] == (
        "${env:HODEGOS_HONEY_HONEYCOMB_API_KEY}"
    )
    assert "traces/honey" in config["service"]["pipelines"]
    assert "destination broken: spec.signals[0]" in result.stderr
    assert CANARY not in result.stdout and CANARY not in result.stderr
    strict = runner.invoke(app, ["collector-config", "--role", "gateway", "-f", str(path), "--strict"])
    assert strict.exit_code == 2


def test_collector_config_node_json(tmp_path: Path) -> None:
    path = tmp_path / "dests.yaml"
    path.write_text(FILE)
    result = runner.invoke(app, ["collector-config", "--role", "node", "-f", str(path), "-o", "json"])
    assert result.exit_code == 0
    config = json.loads(result.stdout)
    assert set(config["service"]["pipelines"]) == {"traces", "metrics"}
    assert CANARY not in result.stdout
    loki = tmp_path / "loki.yaml"
    loki.write_text(
        "metadata: {name: l}\nspec: {type: loki, signals: [logs], data: {LOKI_URL: 'http://l:3100'}}\n"
    )
    args = ["--log-source", "shop/web-", "--log-source", "jobs", "--gateway-endpoint", "gw.example:4317"]
    logs = runner.invoke(app, ["collector-config", "--role", "node", "-f", str(loki), *args])
    assert logs.exit_code == 0, logs.stderr
    node = yaml.safe_load(logs.stdout)
    assert node["receivers"][components.name("receivers", "filelog")]["include"] == [
        "/var/log/pods/shop_web-*/*/*.log",
        "/var/log/pods/jobs_*/*/*.log",
    ]
    assert node["exporters"]["otlp_grpc/gateway"]["endpoint"] == "gw.example:4317"


@pytest.mark.collector
def test_collector_config_validate_with_the_real_collector(tmp_path: Path) -> None:
    require(collector.is_built(), "the pinned collector is not built; run make setup")
    path = tmp_path / "dests.yaml"
    path.write_text(FILE)
    result = runner.invoke(app, ["collector-config", "--role", "gateway", "-f", str(path), "--validate"])
    assert result.exit_code == 0, result.stderr
    assert "valid" in result.stderr


def test_collector_config_bad_input(tmp_path: Path) -> None:
    missing = runner.invoke(app, ["collector-config", "--role", "gateway", "-f", str(tmp_path / "nope.yaml")])
    assert missing.exit_code == 1 and "no such file" in missing.stderr
    bad = tmp_path / "bad.yaml"
    bad.write_text("kind: [unclosed\n")
    result = runner.invoke(app, ["collector-config", "--role", "gateway", "-f", str(bad)])
    assert result.exit_code == 1 and "not valid YAML" in result.stderr


def test_destination_test_command(tmp_path: Path) -> None:
    import base64

    from harness.otlp import free_port, http_receiver

    expected = "Basic " + base64.b64encode(f"u:{CANARY}".encode()).decode()
    with http_receiver(require_header=("Authorization", expected)) as (url, _):
        path = tmp_path / "dest.yaml"
        path.write_text(
            f"""\
kind: Destination
metadata: {{name: t}}
spec:
  type: otlphttp
  signals: [traces]
  data: {{OTLP_HTTP_ENDPOINT: "{url}", OTLP_HTTP_BASIC_AUTH_USERNAME: u}}
  secretRef: {{name: t-auth}}
---
kind: Secret
metadata: {{name: t-auth}}
data: {{OTLP_HTTP_BASIC_AUTH_PASSWORD: {base64.b64encode(CANARY.encode()).decode()}}}
"""
        )
        ok = runner.invoke(app, ["destinations", "test", "-f", str(path), "-o", "json"])
        assert ok.exit_code == 0, ok.stderr
        assert json.loads(ok.stdout)["status"] == "ok"
        assert CANARY not in ok.stdout + ok.stderr
    closed = path.read_text().replace(url, f"http://127.0.0.1:{free_port()}")
    path.write_text(closed)
    down = runner.invoke(app, ["destinations", "test", "-f", str(path), "--timeout", "2"])
    assert down.exit_code == 1
    assert "unreachable" in down.stderr
