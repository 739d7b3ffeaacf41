"""The installer's pure rules: what still carries an agent, and what a diagnosis may hold of a Secret."""

from __future__ import annotations

from typing import Any

from api import constants
from installer.diagnose import redact
from installer.removal import left_alone, still_instrumented


def pod(
    name: str, owner: dict[str, Any] | None, injected: bool, phase: str = "Running", **labels: str
) -> dict[str, Any]:
    meta: dict[str, Any] = {
        "name": name,
        "namespace": "shop",
        "labels": {**labels},
        "ownerReferences": [owner] if owner else [],
    }
    if injected:
        meta["annotations"] = {constants.ANNOTATION_INJECTED: "v1-x"}
    return {"metadata": meta, "status": {"phase": phase}}


RS = {"kind": "ReplicaSet", "name": "web-5d8f", "controller": True}


def test_still_instrumented_counts_live_pods_of_rollable_workloads() -> None:
    pods = [
        pod("web-a", RS, True, **{constants.POD_TEMPLATE_HASH: "5d8f"}),
        pod("web-b", RS, False, **{constants.POD_TEMPLATE_HASH: "5d8f"}),
        pod(
            "db-0",
            {"kind": "StatefulSet", "name": "db", "controller": True},
            False,
            **{constants.LABEL_EBPF_GO: "true"},
        ),
        pod("done", RS, True, phase="Succeeded", **{constants.POD_TEMPLATE_HASH: "5d8f"}),
        pod("solo", None, True),
        pod("job-x", {"kind": "Job", "name": "report-29000000", "controller": True}, True),
    ]
    assert still_instrumented(pods) == ["shop/db-0", "shop/web-a"]
    assert left_alone(pods) == ["shop/job-x", "shop/solo"]


def test_a_secret_in_a_diagnosis_keeps_its_keys_and_loses_its_values() -> None:
    secret: dict[str, Any] = {
        "kind": "Secret",
        "metadata": {
            "name": "s",
            "annotations": {"kubectl.kubernetes.io/last-applied-configuration": "canary"},
        },
        "data": {"token": "Y2FuYXJ5"},
        "stringData": {"raw": "canary"},
    }
    out = redact(secret)
    assert out["data"] == {"token": "<redacted 8 bytes>"} and out["stringData"] == {
        "raw": "<redacted 6 bytes>"
    }
    assert "canary" not in str(out) and secret["data"]["token"] == "Y2FuYXJ5"
