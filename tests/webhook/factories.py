"""Builders for AdmissionReviews, pods and records used by the webhook core tests."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from api.models import InstrumentedApplication


class DictView:
    """A ClusterView over a dict of records (a test double of the watch cache, which is tested elsewhere)."""

    def __init__(self, *records: InstrumentedApplication) -> None:
        self.records = {(r.metadata.namespace, r.metadata.name): r for r in records}
        self.calls = 0

    def namespace(self, name: str) -> Mapping[str, Any] | None:
        self.calls += 1
        return {"metadata": {"name": name}}

    def record(self, namespace: str, name: str) -> InstrumentedApplication | None:
        self.calls += 1
        return self.records.get((namespace, name))


def record(
    containers: list[dict[str, Any]],
    *,
    kind: str = "Deployment",
    name: str = "web",
    namespace: str = "shop",
    **spec: Any,
) -> InstrumentedApplication:
    from api.constants import record_name

    return InstrumentedApplication.model_validate(
        {
            "metadata": {"name": record_name(kind, name), "namespace": namespace},
            "spec": {"workload": {"kind": kind, "name": name}, **spec},
            "status": {"containers": containers},
        }
    )


def deployment_pod(containers: list[dict[str, Any]], *, name: str = "web", **meta: Any) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "generateName": f"{name}-5d8f7c9b4-",
            "namespace": "shop",
            "labels": {"app": name, "pod-template-hash": "5d8f7c9b4"},
            "ownerReferences": [
                {
                    "apiVersion": "apps/v1",
                    "kind": "ReplicaSet",
                    "name": f"{name}-5d8f7c9b4",
                    "uid": "2f0c",
                    "controller": True,
                    "blockOwnerDeletion": True,
                }
            ],
            **meta,
        },
        "spec": {"containers": containers},
    }


def admission_review(
    pod: Mapping[str, Any], *, operation: str = "CREATE", namespace: str = "shop", **extra: Any
) -> dict[str, Any]:
    return {
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "request": {
            "uid": "705ab4f5-6393-11e8-b7cc-42010a800002",
            "kind": {"group": "", "version": "v1", "kind": "Pod"},
            "resource": {"group": "", "version": "v1", "resource": "pods"},
            "operation": operation,
            "namespace": namespace,
            "object": pod,
            **extra,
        },
    }


def env_of(container: Mapping[str, Any]) -> dict[str, Any]:
    """name -> value (or valueFrom) of the last entry of each name, as the kubelet resolves duplicates."""
    out: dict[str, Any] = {}
    for entry in container.get("env") or []:
        out[entry["name"]] = entry.get("value", entry.get("valueFrom"))
    return out
