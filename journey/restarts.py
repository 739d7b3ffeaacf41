"""Rolling the workloads whose pods run an older build of an image than the node now holds.

Hodegos's images and the demo's are tagged with a fixed version (``hodegos/hodegos:0.1.0``,
``hodegos-demo/catalog:1``) and run with ``imagePullPolicy: IfNotPresent``/``Never``. After a rebuild the
node holds new bytes under the old name, but a running pod keeps the image it started with, and an
unchanged pod template is not rolled. So the demo compares each pod's image IDs (the image config digests
the kubelet reports, init containers included: an injected pod's agent image counts) with those of the
archives it just loaded, and restarts the owning Deployments and DaemonSets (as ``kubectl rollout
restart`` does: an annotation on the pod template). Deciding from what the pods run, not from what this
run loaded, means a run interrupted between loading and restarting is put right by the next one.
"""

from __future__ import annotations

import json
import tarfile
import time
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from api.workloads import workload_of
from kube import Api
from kube import resources as res

RESTARTED_AT = "kubectl.kubernetes.io/restartedAt"
REF_NAMES = ("io.containerd.image.name", "org.opencontainers.image.ref.name")


def normalized(ref: str) -> str:
    """``docker.io/hodegos/x:1`` and ``hodegos/x:1`` are one image to the runtime."""
    for prefix in ("docker.io/library/", "docker.io/"):
        if ref.startswith(prefix):
            return ref[len(prefix) :]
    return ref


def image_ids(archive: Path) -> dict[str, str]:
    """Reference -> image ID (the config's digest, as the kubelet reports it) of an OCI-layout archive."""
    out: dict[str, str] = {}
    with tarfile.open(archive) as tar:

        def read(name: str) -> dict[str, Any]:
            try:
                member = tar.extractfile(name)
            except KeyError:  # not an OCI layout (a docker-archive): no IDs to compare
                return {}
            return dict(json.loads(member.read())) if member else {}

        for desc in read("index.json").get("manifests") or []:
            notes = desc.get("annotations") or {}
            ref = next((notes[k] for k in REF_NAMES if notes.get(k)), None)
            if ref:
                manifest = read(f"blobs/{str(desc['digest']).replace(':', '/', 1)}")
                out[normalized(str(ref))] = str((manifest.get("config") or {}).get("digest"))
    return out


def stale(pods: Iterable[Mapping[str, Any]], ids: Mapping[str, str]) -> list[tuple[str, str, str]]:
    """(kind, namespace, name) of the Deployments and DaemonSets with a pod running an image of ``ids``
    under another image ID than the one loaded."""
    found: set[tuple[str, str, str]] = set()
    for pod in pods:
        meta, status = pod.get("metadata") or {}, pod.get("status") or {}
        statuses = [*(status.get("initContainerStatuses") or []), *(status.get("containerStatuses") or [])]
        running = [(ids.get(normalized(str(s.get("image", "")))), s.get("imageID")) for s in statuses]
        behind = any(want and have and have != want for want, have in running)
        owner = workload_of(pod) if behind and not meta.get("deletionTimestamp") else None
        if owner is not None and owner.kind in ("Deployment", "DaemonSet"):
            found.add((owner.kind, str(meta.get("namespace")), owner.name))
    return sorted(found)


def restart(api: Api, archives: Sequence[Path], namespaces: Sequence[str]) -> list[tuple[str, str, str]]:
    """Restart the workloads in ``namespaces`` whose pods run an older build of one of ``archives``."""
    ids: dict[str, str] = {}
    for archive in archives:
        ids.update(image_ids(archive))
    pods: list[dict[str, Any]] = []
    for namespace in namespaces:
        items, _ = api.list(res.PODS, namespace)
        pods += items
    kinds = {"Deployment": res.DEPLOYMENTS, "DaemonSet": res.DAEMONSETS}
    stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    found = stale(pods, ids)
    for kind, namespace, name in found:
        patch = {"spec": {"template": {"metadata": {"annotations": {RESTARTED_AT: stamp}}}}}
        api.merge_patch(kinds[kind], namespace, name, patch)
    return found
