"""Helpers for the controllers' tests on the real local control plane."""

from __future__ import annotations

from typing import Any

from api import constants
from kube import Api, Resource
from kube.resources import DEPLOYMENTS
from tests.support import wait

__all__ = ["wait"]  # re-exported: the controllers tests import it from here


class Switch:
    """A webhook-health answer the test controls (the boundary where no webhook runs in these tests)."""

    def __init__(self, value: bool = True) -> None:
        self.value = value

    def __call__(self) -> bool:
        return self.value


def workload_body(
    kind: str,
    name: str,
    namespace: str,
    annotations: dict[str, str] | None = None,
    template_annotations: dict[str, str] | None = None,
    replicas: int = 1,
    containers: tuple[str, ...] = ("app",),
) -> dict[str, Any]:
    template: dict[str, Any] = {
        "metadata": {"labels": {"app": name}, "annotations": template_annotations or {}},
        "spec": {"containers": [{"name": c, "image": f"example.invalid/{c}:1"} for c in containers]},
    }
    meta = {"name": name, "namespace": namespace, "annotations": annotations or {}}
    if kind == "CronJob":
        template["spec"]["restartPolicy"] = "Never"
        return {
            "apiVersion": "batch/v1",
            "kind": "CronJob",
            "metadata": meta,
            "spec": {"schedule": "0 0 1 1 *", "jobTemplate": {"spec": {"template": template}}},
        }
    spec: dict[str, Any] = {"selector": {"matchLabels": {"app": name}}, "template": template}
    if kind != "DaemonSet":
        spec["replicas"] = replicas
    if kind == "StatefulSet":
        spec["serviceName"] = name
    return {"apiVersion": "apps/v1", "kind": kind, "metadata": meta, "spec": spec}


def create(api: Api, res: Resource, body: dict[str, Any]) -> dict[str, Any]:
    return api.create(res, body["metadata"].get("namespace"), body)


def record_names(api: Api, res: Resource, namespace: str) -> set[str]:
    items, _ = api.list(res, namespace)
    return {i["metadata"]["name"] for i in items}


def deployment_rolled(api: Api, namespace: str, name: str) -> dict[str, str]:
    obj = api.get(DEPLOYMENTS, namespace, name) or {}
    return ((obj.get("spec") or {}).get("template") or {}).get("metadata", {}).get("annotations") or {}


RESTARTED = constants.ANNOTATION_RESTARTED_AT
