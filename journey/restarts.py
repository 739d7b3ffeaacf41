"""Rolling the workloads whose image changed under the same tag.

Hodegos's images and the demo's are tagged with a fixed version (``hodegos/hodegos:0.1.0``,
``hodegos-demo/catalog:1``) and run with ``imagePullPolicy: IfNotPresent``/``Never``. After a rebuild the
node holds new bytes under the old name, but a running pod keeps the image it started with, and an
unchanged pod template is not rolled. So the demo remembers which archives each load brought that the node
did not have before, and restarts (as ``kubectl rollout restart`` does: an annotation on the pod template)
the Deployments and DaemonSets whose containers name one of their references.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from kube import Api
from kube import resources as res

RESTARTED_AT = "kubectl.kubernetes.io/restartedAt"


def normalized(ref: str) -> str:
    """``docker.io/hodegos/x:1`` and ``hodegos/x:1`` are one image to the runtime."""
    for prefix in ("docker.io/library/", "docker.io/"):
        if ref.startswith(prefix):
            return ref[len(prefix) :]
    return ref


def new_archives(before: Iterable[Path], now: Sequence[Path]) -> list[Path]:
    """Archives of ``now`` the node had not been loaded with (an archive's name carries its digest)."""
    known = {p.resolve() for p in before}
    return [p for p in now if p.resolve() not in known]


def users(workloads: Iterable[Mapping[str, Any]], refs: Iterable[str]) -> list[tuple[str, str, str]]:
    """(kind, namespace, name) of the workloads whose pod template runs one of ``refs``."""
    wanted = {normalized(r) for r in refs}
    out = []
    for w in workloads:
        spec = ((w.get("spec") or {}).get("template") or {}).get("spec") or {}
        containers = [*(spec.get("initContainers") or []), *(spec.get("containers") or [])]
        if any(normalized(str(c.get("image", ""))) in wanted for c in containers):
            meta = w.get("metadata") or {}
            out.append((str(w.get("kind")), str(meta.get("namespace")), str(meta.get("name"))))
    return sorted(out)


def restart(api: Api, refs: Iterable[str], namespaces: Sequence[str]) -> list[tuple[str, str, str]]:
    """Restart every Deployment and DaemonSet in ``namespaces`` running one of ``refs``; returns them."""
    refs = list(refs)
    if not refs:
        return []
    kinds = {"Deployment": res.DEPLOYMENTS, "DaemonSet": res.DAEMONSETS}
    workloads: list[dict[str, Any]] = []
    for kind, resource in kinds.items():
        for namespace in namespaces:
            items, _ = api.list(resource, namespace)
            workloads += [{**w, "kind": kind} for w in items]
    stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    found = users(workloads, refs)
    for kind, namespace, name in found:
        patch = {"spec": {"template": {"metadata": {"annotations": {RESTARTED_AT: stamp}}}}}
        api.merge_patch(kinds[kind], namespace, name, patch)
    return found
