"""Which Go containers the node agent hands to the eBPF tracer, with which resource, and for how long."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from api import constants
from api.models import InstrumentedApplication, InstrumentedApplicationStatus
from api.workloads import Workload
from detector import Detection
from detector.tracing import GoTracing, LossReporter, go_resource, go_targets, service_name
from webhook import injecting

GO_ID, PY_ID, SIDE_ID = "a" * 64, "b" * 64, "c" * 64


def pod(label: str | None, annotations: dict[str, str] | None = None) -> dict[str, Any]:
    return {
        "metadata": {
            "name": "api-5d8f7c9b4-x2x7k",
            "namespace": "shop",
            "uid": "8d2b4c1e-5f3a-4b7c-9d2e-1a2b3c4d5e6f",
            "labels": {constants.LABEL_EBPF_GO: label} if label else {},
            "annotations": annotations or {},
        },
        "spec": {"nodeName": "node-1"},
        "status": {
            "containerStatuses": [
                {"name": name, "containerID": f"containerd://{cid}", "state": {"running": {}}}
                for name, cid in (("api", GO_ID), ("worker", PY_ID), ("proxy", SIDE_ID))
            ]
        },
    }


def record(
    kind: str = "Deployment", name: str = "api", service: str | None = None
) -> InstrumentedApplication:
    spec: dict[str, Any] = {"workload": {"kind": kind, "name": name}}
    if service:
        spec["serviceName"] = service
    return InstrumentedApplication.model_validate(
        {"metadata": {"name": constants.record_name(kind, name), "namespace": "shop"}, "spec": spec}
    )


DETECTIONS = {
    GO_ID: Detection(pid=101, language="go", runtime_version="1.22.3"),
    PY_ID: Detection(pid=202, language="python"),
    SIDE_ID: Detection(pid=303, language="go"),
}


def test_only_go_containers_of_labelled_pods() -> None:
    assert go_targets(pod(None), record(), DETECTIONS) == {}
    assert set(go_targets(pod("true"), record(), DETECTIONS)) == {"api", "proxy"}
    only_api = go_targets(pod("api"), record(), DETECTIONS)
    assert list(only_api) == ["api"] and only_api["api"][0] == 101
    assert set(go_targets(pod("api, proxy,"), record(), DETECTIONS)) == {"api", "proxy"}


@pytest.mark.parametrize(
    ("kind", "name", "service", "annotations"),
    [
        ("Deployment", "api", None, {}),
        ("StatefulSet", "db", "database", {}),
        ("Pod", "api-5d8f7c9b4-x2x7k", None, {}),
        ("DaemonSet", "agent", "from-record", {constants.ANNOTATION_SERVICE_NAME: "from-annotation"}),
    ],
)
def test_resource_matches_what_the_webhook_gives_injected_languages(
    kind: str, name: str, service: str | None, annotations: dict[str, str]
) -> None:
    the_pod, the_record = pod("true", annotations), record(kind, name, service)
    resource = go_resource(the_pod, the_record, "api")
    downward = {
        f"$({constants.ENV_POD_NAME})": the_pod["metadata"]["name"],
        f"$({constants.ENV_POD_UID})": the_pod["metadata"]["uid"],
        f"$({constants.ENV_NODE_NAME})": "node-1",
    }
    webhook_attributes = injecting.resource_attributes("shop", Workload(kind, name), "api")
    for ref, value in downward.items():
        webhook_attributes = webhook_attributes.replace(ref, value)
    expected: dict[str, str | int] = {}
    for pair in webhook_attributes.split(","):
        key, _, value = pair.partition("=")
        expected[key] = value
    expected[constants.ATTR_SERVICE_NAME] = injecting.service_name(the_pod, the_record, Workload(kind, name))
    assert resource == expected
    assert service_name(the_pod, the_record) == expected[constants.ATTR_SERVICE_NAME]


class Recorder:
    """Stands in for ``ebpf.tracer.attach`` (tested in tests/ebpf): records attaches and closes."""

    def __init__(self, fail_for: int | None = None) -> None:
        self.attached: list[tuple[int, dict[str, str | int]]] = []
        self.closed: list[int] = []
        self.fail_for = fail_for

    def __call__(self, pid: int, resource: Mapping[str, str | int]) -> Any:
        if pid == self.fail_for:
            raise RuntimeError(f"process {pid}: not a Go binary")
        self.attached.append((pid, dict(resource)))
        recorder = self

        class Handle:
            def close(self) -> None:
                recorder.closed.append(pid)

        return Handle()


def test_registry_attaches_once_replaces_on_restart_and_forgets() -> None:
    recorder = Recorder(fail_for=303)
    tracing = GoTracing(recorder)
    targets = go_targets(pod("true"), record(), DETECTIONS)
    outcomes = tracing.sync("uid-1", targets)
    assert outcomes == ["tracing api (pid 101)", "not tracing proxy: process 303: not a Go binary"]
    assert tracing.sync("uid-1", targets) == ["not tracing proxy: process 303: not a Go binary"]
    assert [pid for pid, _ in recorder.attached] == [101]
    restarted = {"api": (111, targets["api"][1])}
    assert tracing.sync("uid-1", restarted) == ["tracing api (pid 111)"]
    assert recorder.closed == [101]
    tracing.forget("uid-1")
    assert recorder.closed == [101, 111] and tracing.active == {}
    stopped: list[bool] = []
    tracing = GoTracing(recorder, on_close=lambda: stopped.append(True))
    tracing.sync("uid-2", targets)
    tracing.close()
    assert recorder.closed == [101, 111, 101] and stopped == [True] and tracing.active == {}


class Counted:
    """A tracer handle that counts losses, as ``ebpf.Tracer`` does (``lost``: reason -> spans)."""

    def __init__(self) -> None:
        self.lost: dict[str, int] = {}
        self.closed = False

    def close(self) -> None:
        self.closed = True


def test_losses_add_up_per_record_across_restarts_and_pods() -> None:
    handles: list[Counted] = []

    def attach(pid: int, resource: Mapping[str, str | int]) -> Counted:
        handles.append(Counted())
        return handles[-1]

    tracing = GoTracing(attach)
    targets = go_targets(pod("true"), record(), DETECTIONS)
    tracing.sync("uid-1", targets, record=("shop", "deployment-api"))
    tracing.sync("uid-2", targets, record=("shop", "deployment-api"))
    tracing.sync("uid-3", targets, record=("shop", "deployment-web"))
    handles[0].lost["ring_buffer_full"] = 5
    handles[1].lost["export_failed"] = 2
    # the first pod's container restarts: its old tracer's losses stay counted
    tracing.sync("uid-1", {"api": (111, targets["api"][1])}, record=("shop", "deployment-api"))
    handles[3].lost["ring_buffer_full"] = 1
    assert handles[0].closed
    assert tracing.losses() == {
        ("shop", "deployment-api"): Counter({"ring_buffer_full": 6, "export_failed": 2}),
        ("shop", "deployment-web"): Counter(),
    }
    tracing.forget("uid-3")
    assert ("shop", "deployment-web") not in tracing.losses()  # nothing lost there, nothing kept


def test_reporter_writes_only_changes_and_clears_after_quiet() -> None:
    handle = Counted()
    tracing = GoTracing(lambda pid, resource: handle)
    tracing.sync("uid-1", {"api": (101, {})}, record=("shop", "deployment-api"))
    patches: list[tuple[str, str, dict[str, Any]]] = []
    reporter = LossReporter(tracing, "node-1", lambda ns, name, body: patches.append((ns, name, body)))
    start = datetime(2026, 1, 1, tzinfo=UTC)
    assert reporter.tick(start) == [] and patches == []  # nothing lost: nothing written
    handle.lost["ring_buffer_full"] = 150
    assert reporter.tick(start + timedelta(seconds=15)) == ["shop/deployment-api"]
    entry = patches[-1][2]["status"]["spanLoss"]["node-1"]
    assert entry["dropping"] is True and entry["spansLost"] == 150
    assert entry["reasons"] == {"ring_buffer_full": 150}
    assert entry["lastLossTime"] == "2026-01-01T00:00:15Z"
    assert "150 spans lost" in entry["message"] and "ring buffer full" in entry["message"]
    InstrumentedApplicationStatus.model_validate({"spanLoss": {"node-1": entry}})  # the CRD's shape
    assert reporter.tick(start + timedelta(seconds=30)) == []  # no new loss, still within a minute
    assert reporter.tick(start + timedelta(seconds=80)) == ["shop/deployment-api"]
    cleared = patches[-1][2]["status"]["spanLoss"]["node-1"]
    assert cleared["dropping"] is False and cleared["spansLost"] == 150
    assert reporter.tick(start + timedelta(seconds=200)) == [] and len(patches) == 2


def test_reporter_clears_what_an_earlier_agent_left_dropping() -> None:
    tracing = GoTracing(lambda pid, resource: Counted())
    tracing.sync("uid-1", {"api": (101, {})}, record=("shop", "deployment-api"))
    left = {"spanLoss": {"node-1": {"dropping": True, "spansLost": 9, "message": "9 spans lost"}}}
    patches: list[dict[str, Any]] = []
    reporter = LossReporter(
        tracing, "node-1", lambda ns, name, body: patches.append(body), lambda ns, name: left
    )
    assert reporter.tick(datetime(2026, 1, 1, tzinfo=UTC)) == ["shop/deployment-api"]
    assert patches[0]["status"]["spanLoss"]["node-1"]["dropping"] is False
