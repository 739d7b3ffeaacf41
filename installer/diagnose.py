"""``hodegos diagnose``: one ``.tar.gz`` with what a maintainer needs to see, and no secret.

Inside: every Hodegos custom object (all namespaces), the objects of the Hodegos namespace (Deployments,
DaemonSets, StatefulSets, Services, ConfigMaps, HPAs, Events, Pods), the MutatingWebhookConfiguration,
each Hodegos pod's container logs (the last 2,000 lines, and the previous run's if it restarted), each
component's Prometheus metrics through the API server's pod proxy where it serves them, and the API
server's version. Secrets are listed with their keys only: every value is replaced by ``<redacted N bytes>``.
:func:`redact` is the pure rule; a test searches the archive for a canary value.
"""

from __future__ import annotations

import io
import json
import tarfile
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from api.crds import KINDS
from kube import Api, KubeError
from kube.resources import (
    BY_KIND,
    CONFIGMAPS,
    DAEMONSETS,
    DEPLOYMENTS,
    EVENTS,
    HPAS,
    MUTATING_WEBHOOKS,
    PODS,
    SECRETS,
    SERVICES,
    STATEFULSETS,
    Resource,
)

METRICS_PORTS = {"webhook": ("https", 9443), "collector": ("http", 8888), "node-agent": ("http", 9464)}


def redact(secret: Mapping[str, Any]) -> dict[str, Any]:
    """A Secret with each value replaced by its size; ``metadata.annotations`` that may hold a copy go too."""
    out: dict[str, Any] = json.loads(json.dumps(secret))
    for key in ("data", "stringData"):
        values = out.get(key) or {}
        out[key] = {k: f"<redacted {len(str(v))} bytes>" for k, v in values.items()}
    annotations = (out.get("metadata") or {}).get("annotations") or {}
    annotations.pop("kubectl.kubernetes.io/last-applied-configuration", None)
    return out


def _add(tar: tarfile.TarFile, name: str, data: bytes | str) -> None:
    raw = data.encode() if isinstance(data, str) else data
    info = tarfile.TarInfo(name)
    info.size, info.mtime = len(raw), int(time.time())
    tar.addfile(info, io.BytesIO(raw))


def _list(api: Api, res: Resource, namespace: str | None) -> list[dict[str, Any]] | str:
    try:
        items, _ = api.list(res, namespace)
        return items
    except KubeError as exc:
        return f"error: {exc}"


def collect(api: Api, namespace: str, out: Path) -> dict[str, int]:
    """Write the archive; returns how many entries of each part it holds."""
    counts = {"objects": 0, "logs": 0, "metrics": 0, "errors": 0}
    with tarfile.open(out, "w:gz") as tar:

        def dump(path: str, value: Any) -> None:
            counts["errors" if isinstance(value, str) else "objects"] += 1
            _add(tar, path, value if isinstance(value, str) else json.dumps(value, indent=2, default=str))

        try:
            _add(tar, "version.json", api.text("/version"))
        except KubeError as exc:
            _add(tar, "version.json", f"error: {exc}")
        for kind in KINDS:
            res = BY_KIND[kind.model.model_fields["kind"].default]
            dump(f"objects/{kind.plural}.json", _list(api, res, None))
        for res in (DEPLOYMENTS, DAEMONSETS, STATEFULSETS, SERVICES, CONFIGMAPS, HPAS, EVENTS, PODS):
            dump(f"namespace/{res.plural}.json", _list(api, res, namespace))
        secrets = _list(api, SECRETS, namespace)
        dump("namespace/secrets.json", secrets if isinstance(secrets, str) else [redact(s) for s in secrets])
        dump("cluster/mutatingwebhookconfigurations.json", _list(api, MUTATING_WEBHOOKS, None))
        pods = _list(api, PODS, namespace)
        for pod in pods if isinstance(pods, list) else []:
            name = pod["metadata"]["name"]
            for container in (pod.get("spec") or {}).get("containers") or []:
                for previous in (False, True):
                    query = [("container", container["name"]), ("tailLines", "2000")]
                    if previous:
                        query.append(("previous", "true"))
                    try:
                        text = api.text(PODS.path(namespace, name, "log"), query)
                    except KubeError as exc:
                        if previous:
                            continue  # no previous run
                        text = f"error: {exc}"
                    _add(tar, f"logs/{name}/{container['name']}{'.previous' if previous else ''}.log", text)
                    counts["logs"] += 1
            component = (pod["metadata"].get("labels") or {}).get("app.kubernetes.io/component", "")
            for key, (scheme, port) in METRICS_PORTS.items():
                if key in component:
                    try:
                        proxy = PODS.path(namespace, f"{scheme}:{name}:{port}", "proxy")
                        text = api.text(f"{proxy}/metrics", timeout=10)
                    except KubeError as exc:
                        text = f"error: {exc}"
                    _add(tar, f"metrics/{name}.txt", text)
                    counts["metrics"] += 1
    return counts
