"""The kind files: they load, agree with the CRD model, and check settings with errors that name the field."""

from __future__ import annotations

from pathlib import Path

import pytest

from api.models import ACTION_KINDS, SAMPLING_KINDS, Action
from pipelines import kinds
from pipelines.errors import KindFileError, RuleInvalid


def test_every_kind_of_the_model_has_one_file_and_back() -> None:
    found = kinds.catalogue()
    assert sorted(k for k, v in found.items() if v.family == "action") == sorted(ACTION_KINDS)
    assert sorted(k for k, v in found.items() if v.family == "sampling") == sorted(SAMPLING_KINDS)
    for kind in found.values():
        assert kind.display_name and kind.description
        for field in kind.fields:
            assert field.label  # the UI's accessible name


def test_a_bad_kind_file_names_the_file_and_field(tmp_path: Path) -> None:
    path = tmp_path / "renameAttribute.yaml"
    path.write_text("kind: renameAttribute\nfamily: action\ndisplayName: x\nstage: actions\nstatements: {}\n")
    with pytest.raises(KindFileError, match=r"renameAttribute\.yaml.*statements"):
        kinds.load_file(path)
    path.write_text(
        "kind: renameAttribute\nfamily: action\ndisplayName: x\nstage: actions\n"
        "statements: {traces: {context: span, statements: ['set(attributes[\"{{ nosuch }}\"], 1)']}}\n"
    )
    with pytest.raises(KindFileError, match="unknown field 'nosuch'"):
        kinds.load_file(path)


def test_settings_are_typed_defaulted_and_checked() -> None:
    pii = kinds.get_kind("piiMasking")
    assert kinds.check_settings(pii, {}) == {"creditCard": True, "email": True, "jwt": True, "ipv4": False}
    latency = kinds.get_kind("latency")
    assert kinds.check_settings(latency, {"thresholdMs": "500"}) == {"thresholdMs": 500}
    with pytest.raises(RuleInvalid, match=r"latency.thresholdMs: required") as missing:
        kinds.check_settings(latency, {})
    assert missing.value.reason == "MissingField" and missing.value.field == "thresholdMs"
    with pytest.raises(RuleInvalid, match="must be a number"):
        kinds.check_settings(latency, {"thresholdMs": "soon"})
    with pytest.raises(RuleInvalid, match="not a field") as unknown:
        kinds.check_settings(latency, {"thresholdMs": 1, "threshold": 2})
    assert unknown.value.reason == "UnknownField"


def test_exactly_one_kind_per_object() -> None:
    with pytest.raises(ValueError, match="exactly one of"):
        Action.model_validate({"metadata": {"name": "x"}, "spec": {}})
    with pytest.raises(ValueError, match="got renameAttribute, piiMasking"):
        Action.model_validate({"metadata": {"name": "x"}, "spec": {"renameAttribute": {}, "piiMasking": {}}})
    action = Action.model_validate({"metadata": {"name": "x"}, "spec": {"k8sAttributes": {"podLabels": "a"}}})
    assert action.spec.kind == "k8sAttributes" and action.to_dict()["spec"]["k8sAttributes"] == {
        "podLabels": "a"
    }


def test_ottl_strings_are_escaped() -> None:
    assert kinds.ottl_string('a"b\\c') == 'a\\"b\\\\c'
    rename = kinds.get_kind("renameAttribute")
    out = kinds.expand(rename.statements["traces"].statements, rename, {"from": 'x"]', "to": "y"})
    assert out[0].startswith('set(attributes["y"], attributes["x\\"]"])')
