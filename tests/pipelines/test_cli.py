"""`hodegos pipelines` and `hodegos collector-config` with Actions and SamplingRules."""

from __future__ import annotations

import json
from pathlib import Path

import yaml
from typer.testing import CliRunner

from cli.main import app
from tests.pipelines.conftest import ACTIONS, RULES, otlp_http


def test_kinds_and_show() -> None:
    runner = CliRunner()
    listed = runner.invoke(app, ["pipelines", "kinds", "-o", "json"])
    assert listed.exit_code == 0, listed.output
    assert {k["kind"] for k in json.loads(listed.stdout)} >= {"piiMasking", "latency", "head"}
    shown = runner.invoke(app, ["pipelines", "show", "renameAttribute", "-o", "yaml"])
    assert shown.exit_code == 0
    assert (
        yaml.safe_load(shown.stdout)["example"]["spec"]["renameAttribute"]["to"]
        == "http.response.status_code"
    )
    unknown = runner.invoke(app, ["pipelines", "show", "nosuch"])
    assert unknown.exit_code == 1 and "unknown kind" in unknown.output


def test_collector_config_renders_actions_and_rules_and_warns_about_bad_ones(tmp_path: Path) -> None:
    bad = {
        "apiVersion": "hodegos.io/v1alpha1",
        "kind": "Action",
        "metadata": {"name": "bad"},
        "spec": {"renameAttribute": {"from": "x"}},
    }
    path = tmp_path / "all.yaml"
    path.write_text(yaml.safe_dump_all([otlp_http("sink", "http://127.0.0.1:9"), *ACTIONS, *RULES, bad]))
    result = CliRunner().invoke(app, ["collector-config", "--role", "gateway", "-f", str(path), "--strict"])
    assert result.exit_code == 2, result.output  # a refused action fails --strict
    config = yaml.safe_load(result.stdout)
    assert "tail_sampling" in config["processors"] and "transform/action-b-rename" in config["processors"]
    assert "action bad: renameAttribute.to: required" in " ".join(result.stderr.split())
