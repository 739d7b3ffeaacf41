"""`hodegos explain` on the shipped examples: the same decision the webhook makes, printed several ways."""

from __future__ import annotations

import json
from pathlib import Path

import yaml
from typer.testing import CliRunner

from api import constants
from cli.main import app

EXAMPLES = Path(__file__).resolve().parents[2] / "docs" / "examples"
runner = CliRunner()


def invoke(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, ["explain", *args])
    return result.exit_code, result.stdout, result.stderr


def test_table_lists_every_container_with_its_reason() -> None:
    code, out, _ = invoke(
        "-f", str(EXAMPLES / "web-deployment.yaml"), "--record", str(EXAMPLES / "shop.yaml")
    )
    assert code == 0
    assert "Deployment/web): injected" in out
    for line in ("app", "injected", "worker", "proxy", "labelled", "istio-proxy", "known sidecar"):
        assert line in out


def test_yaml_output_has_decision_patch_and_mutated_pod() -> None:
    code, out, _ = invoke(
        "-f", str(EXAMPLES / "web-deployment.yaml"), "--record", str(EXAMPLES / "shop.yaml"), "-o", "yaml"
    )
    assert code == 0
    doc = yaml.safe_load(out)
    assert doc["decision"]["result"] == "injected"
    assert doc["decision"]["workload"] == {"kind": "Deployment", "name": "web"}
    pod = doc["pod"]
    assert pod["metadata"]["annotations"][constants.ANNOTATION_INJECTED]
    inits = [c["name"] for c in pod["spec"]["initContainers"]]
    assert inits == ["hodegos-agent-python", "hodegos-agent-nodejs"]
    worker = next(c for c in pod["spec"]["containers"] if c["name"] == "worker")
    node_options = next(e["value"] for e in worker["env"] if e["name"] == "NODE_OPTIONS")
    assert node_options == "--max-old-space-size=256 --require /hodegos/nodejs/autoinstrumentation.js"


def test_patch_output_is_a_json_patch() -> None:
    code, out, _ = invoke(
        "-f", str(EXAMPLES / "web-deployment.yaml"), "--record", str(EXAMPLES / "shop.yaml"), "-o", "patch"
    )
    assert code == 0
    ops = json.loads(out)
    assert ops and all(op["op"] in {"add", "replace"} for op in ops)


def test_opted_out_pod_is_left_alone() -> None:
    code, out, _ = invoke(
        "-f", str(EXAMPLES / "optout-pod.yaml"), "--record", str(EXAMPLES / "shop.yaml"), "-o", "json"
    )
    assert code == 0
    doc = json.loads(out)
    assert doc["patch"] == [] and "opts out" in doc["decision"]["reason"]


def test_bad_inputs_are_clear_errors(tmp_path: Path) -> None:
    missing = tmp_path / "nope.yaml"
    code, _, err = invoke("-f", str(missing))
    assert code == 1 and "cannot read" in err
    broken = tmp_path / "broken.yaml"
    broken.write_text("kind: [unclosed")
    code, _, err = invoke("-f", str(broken))
    assert code == 1 and "not valid YAML" in err
    service = tmp_path / "svc.yaml"
    service.write_text("apiVersion: v1\nkind: Service\nmetadata: {name: s}\n")
    code, _, err = invoke("-f", str(service))
    assert code == 1 and "must be a Pod or one of" in err
    bad_record = tmp_path / "rec.yaml"
    bad_record.write_text(
        "apiVersion: hodegos.io/v1alpha1\nkind: InstrumentedApplication\nmetadata: {name: r}\n"
        "spec: {workload: {kind: Deployment, name: w}, bogus: 1}\n"
    )
    code, _, err = invoke("-f", str(EXAMPLES / "optout-pod.yaml"), "--record", str(bad_record))
    assert code == 1 and "spec.bogus" in err
