from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from api import constants
from api.config import HodegosConfig
from api.models import InstrumentedApplication
from controllers import optin
from tests.controllers.factories import namespace, workload

OPT_IN = HodegosConfig()
OPT_OUT = HodegosConfig(mode="opt-out")
values = st.sampled_from([None, "enabled", "disabled"])


def test_cluster_default_follows_mode() -> None:
    assert not optin.decide(workload(), namespace("apps"), OPT_IN).enabled
    decision = optin.decide(workload(), namespace("apps"), OPT_OUT)
    assert decision.enabled and decision.reason == "ClusterDefault"


def test_namespace_annotation_beats_mode() -> None:
    assert optin.decide(workload(), namespace("apps", "enabled"), OPT_IN).enabled
    decision = optin.decide(workload(), namespace("apps", "disabled"), OPT_OUT)
    assert not decision.enabled and decision.reason == "NamespaceAnnotation"


def test_workload_annotation_beats_namespace() -> None:
    decision = optin.decide(workload(value="disabled"), namespace("apps", "enabled"), OPT_OUT)
    assert not decision.enabled and decision.reason == "WorkloadAnnotation"
    assert optin.decide(workload(value="enabled"), namespace("apps", "disabled"), OPT_IN).enabled


def test_pod_template_annotation_counts_as_workload() -> None:
    assert optin.decide(workload(template_value="enabled"), namespace("apps"), OPT_IN).enabled
    cron = workload(kind="CronJob", template_value="enabled")
    assert optin.decide(cron, namespace("apps"), OPT_IN).enabled


def test_ignored_namespace_wins_over_everything() -> None:
    w = workload(ns="kube-system", value="enabled")
    decision = optin.decide(w, namespace("kube-system", "enabled"), OPT_OUT)
    assert not decision.enabled and decision.reason == "IgnoredNamespace"


def test_unknown_annotation_value_is_ignored() -> None:
    w = workload(value="yes-please")
    assert optin.decide(w, namespace("apps", "enabled"), OPT_IN).enabled
    assert optin.decide(workload(value=" Enabled "), None, OPT_IN).enabled


@given(wl=values, ns=values, mode=st.sampled_from(["opt-in", "opt-out"]))
def test_precedence_property(wl: str | None, ns: str | None, mode: Any) -> None:
    expected = (wl or ns or ("enabled" if mode == "opt-out" else "disabled")) == "enabled"
    config = HodegosConfig(mode=mode)
    assert optin.decide(workload(value=wl), namespace("apps", ns), config).enabled is expected


def test_desired_record_is_a_valid_model_with_owner_and_labels() -> None:
    w = workload(template_annotations={constants.ANNOTATION_SERVICE_NAME: "checkout"})
    record = optin.desired_record(w, OPT_IN)
    model = InstrumentedApplication.model_validate(record)
    assert model.metadata.name == constants.record_name("Deployment", "shop") == "deployment-shop"
    assert model.spec.service_name == "checkout"
    owner = record["metadata"]["ownerReferences"][0]
    assert owner == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": "shop",
        "uid": "uid-Deployment-shop",
        "controller": True,
        "blockOwnerDeletion": True,
    }
    assert record["metadata"]["labels"][constants.LABEL_MANAGED_BY] == "hodegos"


def test_desired_records_and_stale() -> None:
    namespaces = {"apps": namespace("apps", "enabled"), "other": namespace("other")}
    workloads = [
        workload(name="a"),
        workload(kind="StatefulSet", name="b"),
        workload(kind="DaemonSet", name="c", value="disabled"),
        workload(kind="CronJob", name="d"),
        workload(name="e", ns="other"),
        {**workload(name="f"), "kind": "ReplicaSet"},
    ]
    deleting = workload(name="g")
    deleting["metadata"]["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    desired = optin.desired_records(namespaces, [*workloads, deleting], OPT_IN)
    assert sorted(desired) == [("apps", "cronjob-d"), ("apps", "deployment-a"), ("apps", "statefulset-b")]
    existing = [
        {"metadata": {"namespace": "apps", "name": "deployment-a", "labels": optin.record_labels("D", "a")}},
        {"metadata": {"namespace": "apps", "name": "daemonset-c", "labels": optin.record_labels("D", "c")}},
        {"metadata": {"namespace": "apps", "name": "hand-made", "labels": {}}},
    ]
    assert optin.stale_records(existing, desired) == [("apps", "daemonset-c")]


def test_mode_off_wins_over_every_annotation() -> None:
    from api.config import HodegosConfig
    from controllers import optin
    from tests.controllers.factories import namespace, workload

    off = HodegosConfig(mode="off")
    decision = optin.decide(workload(value="enabled"), namespace("apps", "enabled"), off)
    assert (decision.enabled, decision.reason) == (False, "InstrumentationOff")
