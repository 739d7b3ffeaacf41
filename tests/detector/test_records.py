"""Container names and the status patch: pure functions from pod + detections + record to a patch."""

from __future__ import annotations

from typing import Any

from api.models import ContainerRuntime, InstrumentedApplication
from detector import Detection
from detector.records import container_names, status_patch

APP_ID, SIDE_ID, PAUSE_ID = "a" * 64, "b" * 64, "c" * 64


def pod(owner: dict[str, Any] | None = None, labels: dict[str, str] | None = None) -> dict[str, Any]:
    return {
        "metadata": {
            "name": "shop-5d8f7c9b4-x2x7k",
            "namespace": "prod",
            "uid": "8d2b4c1e-5f3a-4b7c-9d2e-1a2b3c4d5e6f",
            "labels": labels or {},
            "ownerReferences": [owner] if owner else [],
        },
        "status": {
            "phase": "Running",
            "containerStatuses": [
                {"name": "app", "containerID": f"containerd://{APP_ID}", "state": {"running": {}}},
                {"name": "istio-proxy", "containerID": f"containerd://{SIDE_ID}", "state": {"running": {}}},
                {"name": "done", "containerID": f"containerd://{'d' * 64}", "state": {"terminated": {}}},
            ],
            "initContainerStatuses": [
                {"name": "log-shipper", "containerID": f"cri-o://{'e' * 64}", "state": {"running": {}}},
            ],
        },
    }


def record(containers: list[ContainerRuntime] | None = None) -> InstrumentedApplication:
    return InstrumentedApplication.model_validate(
        {
            "metadata": {"name": "deployment-shop", "namespace": "prod", "resourceVersion": "417"},
            "spec": {"workload": {"kind": "Deployment", "name": "shop"}},
            "status": {"containers": [c.to_dict() for c in containers or []]},
        }
    )


def detection(language: str, version: str | None = None) -> Detection:
    return Detection.model_validate(
        {
            "pid": 4242,
            "language": language,
            "runtimeVersion": version,
            "libc": "glibc",
            "evidence": ["e1", "e2"],
        }
    )


def test_container_names_only_running_ones_with_ids() -> None:
    assert container_names(pod()) == {APP_ID: "app", SIDE_ID: "istio-proxy", "e" * 64: "log-shipper"}


def test_patch_for_a_fresh_record() -> None:
    patch = status_patch(
        pod(), {APP_ID: detection("python", "3.12.3"), PAUSE_ID: detection("unknown")}, record()
    )
    assert patch == {
        "metadata": {"resourceVersion": "417"},
        "status": {
            "containers": [
                {
                    "name": "app",
                    "language": "python",
                    "runtimeVersion": "3.12.3",
                    "libc": "glibc",
                    "otherAgents": [],
                    "evidence": "e1; e2",
                },
            ]
        },
    }


def test_patch_merges_and_marks_ignored_containers() -> None:
    other_node = ContainerRuntime(name="worker", language="java", runtime_version="21.0.3")
    stale = ContainerRuntime(name="app", language="unknown")
    patch = status_patch(
        pod(),
        {APP_ID: detection("python", "3.12.3"), SIDE_ID: detection("unknown")},
        record([other_node, stale]),
    )
    assert patch is not None
    containers = patch["status"]["containers"]
    assert [c["name"] for c in containers] == ["worker", "app", "istio-proxy"]
    assert containers[0] == other_node.to_dict()  # kept: written by the agent on another node
    assert containers[1]["language"] == "python"
    assert containers[2]["language"] == "ignored" and containers[2]["evidence"] == "container name is ignored"


def test_no_patch_when_the_record_already_says_so() -> None:
    found = detection("python", "3.12.3")
    current = record([found.container_runtime("app")])
    assert status_patch(pod(), {APP_ID: found}, current) is None
    # A new PID for the same runtime (a restarted pod) changes nothing either.
    assert status_patch(pod(), {APP_ID: found.model_copy(update={"pid": 1})}, current) is None
    # A new runtime version does.
    assert status_patch(pod(), {APP_ID: detection("python", "3.13.0")}, current) is not None


def test_no_patch_for_containers_the_pod_does_not_run() -> None:
    assert status_patch(pod(), {PAUSE_ID: detection("unknown")}, record()) is None
