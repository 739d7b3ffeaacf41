"""The versions of the CLI and of what runs in the cluster (from the images and labels of its objects)."""

from __future__ import annotations

from importlib import metadata
from typing import Any

from kube import Api, KubeError
from kube.resources import DAEMONSETS, DEPLOYMENTS


def cli_version() -> str:
    try:
        return metadata.version("hodegos")
    except metadata.PackageNotFoundError:
        return "unknown"


def cluster_versions(api: Api, namespace: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    try:
        out["kubernetes"] = api.request("GET", "/version").get("gitVersion")
        for res in (DEPLOYMENTS, DAEMONSETS):
            items, _ = api.list(res, namespace, label_selector="app.kubernetes.io/part-of=hodegos")
            for item in items:
                labels = item["metadata"].get("labels") or {}
                images = [c.get("image") for c in item["spec"]["template"]["spec"].get("containers") or []]
                out[item["metadata"]["name"]] = {
                    "version": labels.get("app.kubernetes.io/version"),
                    "images": images,
                }
    except KubeError as exc:
        out["error"] = str(exc)
    return out
