"""Rule drafts as pure functions: forms of every kind read, checked by the controllers' own code, written and
read back; every problem reported beside its field."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest
from starlette.datastructures import FormData, UploadFile

from api.models import ACTION_KINDS, SAMPLING_KINDS
from pipelines import kinds
from ui import rules
from ui.rules import ACTION_FAMILY, FORM, NAME, NAMESPACES, SAMPLING_FAMILY, SIGNALS_KEY, WORKLOADS

FAMILIES = {"action": ACTION_FAMILY, "sampling": SAMPLING_FAMILY}
ALL_KINDS = [(FAMILIES[k.family], k) for k in kinds.catalogue().values()]


def _form(pairs: Sequence[tuple[str, str]]) -> FormData:
    items: list[tuple[str, str | UploadFile]] = list(pairs)
    return FormData(items)


def _sample_form(family: rules.Family, kind: kinds.KindFile, name: str = "sample") -> list[tuple[str, str]]:
    """What a browser posts for the kind's sample values (checkboxes only when checked)."""
    pairs = [("name", name)] + [("signals", s) for s in rules.signal_choices(family, kind)]
    for f in kind.fields:
        value = f.sample()
        if value is None:
            continue
        if f.kind == "checkbox":
            if value == "true":
                pairs.append((f"f.{f.name}", "true"))
        elif f.kind == "keyValue":
            for k, v in rules.settings_input(kind, {f.name: value})[f.name].items():
                pairs += [(f"f.{f.name}.k", k), (f"f.{f.name}.v", v)]
        else:
            pairs.append((f"f.{f.name}", value))
    return pairs


@pytest.mark.parametrize(("family", "kind"), ALL_KINDS, ids=[k.kind for _, k in ALL_KINDS])
def test_every_kind_with_its_samples_is_accepted_and_reads_back(
    family: rules.Family, kind: kinds.KindFile
) -> None:
    draft = rules.check(rules.read_draft(family, kind, _form(_sample_form(family, kind))))
    assert not draft.errors, draft.errors
    body = draft.body("hodegos-system")
    assert body["kind"] == family.kind and set(body["spec"]) >= {kind.kind, "disabled"}
    assert ("signals" in body["spec"]) == family.has_signals
    # the controllers apply it as written
    result = family.plan([body])["sample"]
    assert result.applied, result
    # and the edit form shows what is stored, which saves to the same spec
    again = rules.from_object(family, kind, body)
    assert again.spec() == body["spec"]


def test_typed_settings_are_what_a_user_would_write() -> None:
    kind = rules.kind_of(ACTION_FAMILY, "addClusterInfo")
    assert kind is not None
    form = [("name", "info"), ("signals", "traces"), ("f.clusterName", "prod"),
            ("f.attributes.k", "env"), ("f.attributes.v", "production"), ("f.attributes.k", ""),
            ("f.attributes.v", "")]  # fmt: skip
    draft = rules.check(rules.read_draft(ACTION_FAMILY, kind, _form(form)))
    assert draft.spec() == {
        "addClusterInfo": {"clusterName": "prod", "attributes": {"env": "production"}},
        "signals": ["traces"],
        "disabled": False,
    }
    latency = rules.kind_of(SAMPLING_FAMILY, "latency")
    assert latency is not None
    form = [("name", "slow"), ("f.thresholdMs", "500"), ("namespaces", "shop"), ("namespaces", "billing")]
    spec = rules.check(rules.read_draft(SAMPLING_FAMILY, latency, _form(form))).spec()
    assert spec == {"latency": {"thresholdMs": 500}, "disabled": False,
                    "scope": {"namespaces": ["billing", "shop"]}}  # fmt: skip


def test_every_problem_is_reported_beside_its_field() -> None:
    kind = rules.kind_of(ACTION_FAMILY, "renameAttribute")
    assert kind is not None
    form = [("name", "Not A Name"), ("signals", "profiles"), ("workloads", "shop/web"),
            ("namespaces", "Bad_NS")]  # fmt: skip
    errors = rules.check(rules.read_draft(ACTION_FAMILY, kind, _form(form))).errors
    assert set(errors) == {NAME, SIGNALS_KEY, WORKLOADS, NAMESPACES, "from", "to"}
    assert errors["from"] == errors["to"] == "Required."
    assert "profiles" in errors[SIGNALS_KEY] and "namespace/Kind/name" in errors[WORKLOADS]


@pytest.mark.parametrize(
    ("family", "kind", "form", "where", "says"),
    [
        (ACTION_FAMILY, "piiMasking", [("signals", "traces"), ("f.customPatterns", "(unclosed")],
         "customPatterns", "not a regular expression"),
        (SAMPLING_FAMILY, "percentage", [("f.percent", "250")], "percent", "between 0 and 100"),
        (SAMPLING_FAMILY, "latency", [("f.thresholdMs", "soon")], "thresholdMs", "must be a number"),
        (SAMPLING_FAMILY, "head", [("f.ratio", "2")], "ratio", "ratio from 0 to 1"),
        (SAMPLING_FAMILY, "latency", [("f.thresholdMs", "5"), ("workloads", "shop/Deployment/web")],
         WORKLOADS, "service name"),
        (SAMPLING_FAMILY, "dropOperations", [], FORM, "at least one route or span name"),
        (SAMPLING_FAMILY, "errors", [("signals", "traces")], SIGNALS_KEY, "no signals"),
        (ACTION_FAMILY, "deleteAttribute", [("signals", "traces"), ("f.names", "x"),
         ("workloads", "shop/Pipeline/web")],
         WORKLOADS, "the kind must be one of"),
        (ACTION_FAMILY, "k8sAttributes", [("signals", "traces")], FORM, "at least one label or annotation"),
    ],
)  # fmt: skip
def test_the_controllers_checks_are_reported_in_the_form(
    family: rules.Family, kind: str, form: list[tuple[str, str]], where: str, says: str
) -> None:
    known = rules.kind_of(family, kind)
    assert known is not None
    errors = rules.check(rules.read_draft(family, known, _form([("name", "x1"), *form]))).errors
    assert where in errors and says.lower() in errors[where].lower(), errors
    assert set(errors) == {where}


def test_a_taken_or_reserved_name_is_refused() -> None:
    kind = rules.kind_of(SAMPLING_FAMILY, "errors")
    assert kind is not None
    taken = rules.check(rules.read_draft(SAMPLING_FAMILY, kind, _form([("name", "keep")])), taken=True)
    assert "already exists" in taken.errors[NAME]
    reserved = rules.check(rules.read_draft(SAMPLING_FAMILY, kind, _form([("name", "new")])))
    assert "reserved" in reserved.errors[NAME]
    empty = rules.check(rules.read_draft(SAMPLING_FAMILY, kind, _form([])))
    assert empty.errors == {NAME: "Required."}


def test_kinds_belong_to_their_family() -> None:
    assert rules.kind_of(ACTION_FAMILY, "latency") is None
    assert rules.kind_of(SAMPLING_FAMILY, "piiMasking") is None
    assert rules.kind_of(ACTION_FAMILY, "nope") is None
    assert [k.kind for k in ACTION_FAMILY.kinds()] == list(ACTION_KINDS)
    assert [k.kind for k in SAMPLING_FAMILY.kinds()] == list(SAMPLING_KINDS)


def test_the_workload_editor_is_offered_where_the_controllers_take_workloads() -> None:
    offered = {k.kind: rules.workload_scope_supported(f, k.kind) for f, k in ALL_KINDS}
    # tail sampling on the gateway is limited by namespace only; k8sAttributes has no scope at all
    assert offered == {
        "addClusterInfo": True, "renameAttribute": True, "deleteAttribute": True, "piiMasking": True,
        "k8sAttributes": False, "errors": False, "latency": False, "percentage": False,
        "dropOperations": True, "head": True,
    }  # fmt: skip


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("shop/Deployment/cart", {"namespace": "shop", "kind": "Deployment", "name": "cart"}),
        (" shop / deployment / cart ", {"namespace": "shop", "kind": "Deployment", "name": "cart"}),
        ("", None),
        ("shop/cart", "is not namespace/Kind/name"),
        ("shop/Widget/cart", "the kind must be one of"),
        ("Shop!/Deployment/cart", "is not a namespace name"),
    ],
)
def test_workload_lines(line: str, expected: Any) -> None:
    parsed = rules.parse_workload(line)
    if isinstance(expected, str):
        assert isinstance(parsed, str) and expected in parsed
    else:
        assert parsed == expected


def test_stored_values_show_as_the_form_writes_them() -> None:
    assert rules.as_text(True) == "true" and rules.as_text(False) == "false"
    assert rules.as_text(500.0) == "500" and rules.as_text(0.25) == "0.25"
    assert rules.as_text(["a", "b"]) == "a\nb" and rules.as_text({"k": "v", "x": "y"}) == "k=v\nx=y"
    assert rules.scope_text(None) == "every source"
    scope = {"namespaces": ["shop"], "workloads": [{"namespace": "a", "kind": "Deployment", "name": "b"}]}
    assert rules.scope_text(scope) == "namespace shop; workload a/Deployment/b"
    assert rules.namespace_choices(["b", "a"], ["gone", "a"]) == [("a", True), ("b", True), ("gone", False)]
