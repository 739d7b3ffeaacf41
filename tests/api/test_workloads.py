"""Pod -> workload: one rule (api.workloads) that the webhook, the node agent and the controllers all use."""

from __future__ import annotations

from typing import Any

import pytest

from api.workloads import Workload, candidates, workload_of
from controllers.context import workload_index
from detector.writer import find_record


def pod(
    owner: dict[str, Any] | None = None, labels: dict[str, str] | None = None, **meta: Any
) -> dict[str, Any]:
    return {
        "metadata": {
            "name": "shop-5d8f7c9b4-x2x7k",
            "namespace": "prod",
            "labels": labels or {},
            "ownerReferences": [owner] if owner else [],
            **meta,
        }
    }


@pytest.mark.parametrize(
    ("owner", "labels", "expected"),
    [
        (
            {"kind": "ReplicaSet", "name": "shop-5d8f7c9b4", "controller": True},
            {"pod-template-hash": "5d8f7c9b4"},
            [Workload("Deployment", "shop"), Workload("ReplicaSet", "shop-5d8f7c9b4")],
        ),
        (
            {"kind": "ReplicaSet", "name": "legacy", "controller": True},
            {},
            [Workload("ReplicaSet", "legacy")],
        ),
        (
            {"kind": "Job", "name": "report-28930140", "controller": True},
            {},
            [Workload("CronJob", "report"), Workload("Job", "report-28930140")],
        ),
        # A Job whose name merely ends in a short number is not a CronJob's (the CronJob controller appends
        # minutes since the epoch: eight digits or more). The detector used to say CronJob "migrate-v".
        ({"kind": "Job", "name": "migrate-v2", "controller": True}, {}, [Workload("Job", "migrate-v2")]),
        ({"kind": "Job", "name": "backup-12", "controller": True}, {}, [Workload("Job", "backup-12")]),
        ({"kind": "StatefulSet", "name": "db", "controller": True}, {}, [Workload("StatefulSet", "db")]),
        ({"kind": "DaemonSet", "name": "fluent", "controller": True}, {}, [Workload("DaemonSet", "fluent")]),
        ({"kind": "Rollout", "name": "canary", "controller": True}, {}, [Workload("Rollout", "canary")]),
        (None, {}, [Workload("Pod", "shop-5d8f7c9b4-x2x7k")]),
    ],
)
def test_candidates(owner: dict[str, Any] | None, labels: dict[str, str], expected: list[Workload]) -> None:
    assert candidates(pod(owner, labels)) == expected


def test_a_pod_at_create_time_is_named_by_generate_name() -> None:
    p = {"metadata": {"generateName": "solo-", "namespace": "prod"}}
    assert candidates(p) == [Workload("Pod", "solo")]
    assert candidates({"metadata": {}}) == []


class Store:
    """The node agent's record reads, answered from a dict (the real store is tested on the cluster)."""

    def __init__(self, names: set[str]) -> None:
        self.names = names

    def get(self, namespace: str, name: str, *, fresh: bool = False) -> Any:
        from api.models import InstrumentedApplication

        if name not in self.names:
            return None
        kind, _, workload = name.partition("-")
        return InstrumentedApplication.model_validate(
            {
                "metadata": {"name": name, "namespace": namespace},
                "spec": {
                    "workload": {"kind": kind.capitalize().replace("Cronjob", "CronJob"), "name": workload}
                },
            }
        )


@pytest.mark.parametrize(
    ("job", "records", "expected"),
    [
        ("nightly-29000000", {"cronjob-nightly", "job-nightly-29000000"}, "cronjob-nightly"),
        ("nightly-29000000", {"job-nightly-29000000"}, "job-nightly-29000000"),
        ("migrate-7", {"cronjob-migrate", "job-migrate-7"}, "job-migrate-7"),
    ],
)
def test_webhook_agent_and_controllers_pick_the_same_workload(
    job: str, records: set[str], expected: str
) -> None:
    from api import constants

    p = pod({"kind": "Job", "name": job, "controller": True})
    webhook_pick = next(w.record_name for w in candidates(p) if w.record_name in records)
    found = find_record(Store(records), p)  # type: ignore[arg-type]
    assert found is not None and found[0] == webhook_pick == expected
    first = workload_of(p)
    assert first is not None
    assert list(workload_index(p)) == [f"prod/{first.kind}/{first.name}"]
    assert constants.record_name(first.kind, first.name) == candidates(p)[0].record_name
