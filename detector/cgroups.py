"""Which pod and container a process belongs to, from ``/proc/<pid>/cgroup``.

Kubelet puts every container in a cgroup below the pod's cgroup. The shapes differ by cgroup driver and
runtime, but the pod component always carries ``pod<uid>`` (dashes become underscores under the systemd
driver) and the next component carries the 64-hex container ID:

    systemd driver   kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod<u_i_d>.slice/
                     cri-containerd-<id>.scope | crio-<id>.scope | docker-<id>.scope
    cgroupfs driver  kubepods/burstable/pod<uid>/<id>

They appear on the unified line (``0::``) under cgroup v2 and on each controller's line under v1; some
runtimes add a level below the container (crun's ``.../crio-<id>.scope/container``) or a prefix above the
kubepods root (kind, nested runtimes). ``crio-conmon-<id>.scope`` holds CRI-O's monitor, not the
container, and is ignored. Plain Docker (``/docker/<id>``, ``system.slice/docker-<id>.scope``) yields a
container ID with no pod. The agent must run in the host's cgroup namespace to see full paths.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from detector.procfs import DEFAULT_PROC

_UID = r"[0-9a-f]{8}[-_][0-9a-f]{4}[-_][0-9a-f]{4}[-_][0-9a-f]{4}[-_][0-9a-f]{12}|[0-9a-f]{32}"
_POD = re.compile(rf"^(?:[\w-]*-)?pod({_UID})(?:\.slice)?$")
_CONTAINER = re.compile(r"^(?:(cri-containerd|crio|cri-o|docker|containerd)-)?([0-9a-f]{64})(?:\.scope)?$")
# cgroup v1 with containerd's systemd integration shows "<pod slice>:cri-containerd:<id>" in one component.
_COLON_FORM = re.compile(rf"^(?:[\w-]*-)?pod({_UID})\.slice:(cri-containerd|crio|docker):([0-9a-f]{{64}})$")
_RUNTIME_NAMES = {
    "cri-containerd": "containerd",
    "containerd": "containerd",
    "crio": "cri-o",
    "cri-o": "cri-o",
    "docker": "docker",
}


@dataclass(frozen=True)
class CgroupIdentity:
    """A process's pod and container, as its cgroup path names them."""

    pod_uid: str | None  # with dashes, as in the Pod's metadata.uid
    container_id: str | None  # bare 64-hex ID, as in containerStatuses[].containerID after "<runtime>://"
    runtime: str | None  # containerd | cri-o | docker, when the path says (the cgroupfs driver does not)
    path: str


def normalize_uid(raw: str) -> str:
    """Systemd slice names spell the UID with underscores; static pods' UIDs are 32-hex hashes (kept)."""
    return raw.replace("_", "-")


def parse_cgroup_path(path: str) -> CgroupIdentity | None:
    """Pod UID and container ID from one cgroup path; ``None`` if it names neither."""
    components = [c for c in path.split("/") if c]
    for index, component in enumerate(components):
        colon = _COLON_FORM.match(component)
        if colon:
            return CgroupIdentity(
                normalize_uid(colon.group(1)), colon.group(3), _RUNTIME_NAMES[colon.group(2)], path
            )
        pod = _POD.match(component)
        if not pod:
            continue
        uid = normalize_uid(pod.group(1))
        following = components[index + 1] if index + 1 < len(components) else ""
        container = _CONTAINER.match(following)
        if container:
            runtime = _RUNTIME_NAMES.get(container.group(1) or "")
            return CgroupIdentity(uid, container.group(2), runtime, path)
        return CgroupIdentity(uid, None, None, path)  # the pod's own cgroup, or conmon
    for component in reversed(components):  # a container outside Kubernetes
        container = _CONTAINER.match(component)
        if container and (container.group(1) or "docker" in components or "containerd" in path):
            return CgroupIdentity(
                None, container.group(2), _RUNTIME_NAMES.get(container.group(1) or "docker"), path
            )
    return None


def parse_cgroup_file(text: str) -> CgroupIdentity | None:
    """The best identity in a ``/proc/<pid>/cgroup`` file: one with pod and container beats a partial one.

    The unified (``0::``) line is tried first, then v1 controller lines in file order.
    """
    lines = [line.split(":", 2) for line in text.splitlines() if line.count(":") >= 2]
    lines.sort(key=lambda parts: parts[0] != "0")
    best: CgroupIdentity | None = None
    for parts in lines:
        identity = parse_cgroup_path(parts[2])
        if identity is None:
            continue
        if identity.pod_uid and identity.container_id:
            return identity
        if best is None or (identity.pod_uid and not best.pod_uid):
            best = identity
    return best


def read_cgroup(pid: int, proc: Path = DEFAULT_PROC) -> CgroupIdentity | None:
    try:
        text = (proc / str(pid) / "cgroup").read_text(errors="replace")
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    return parse_cgroup_file(text)


def pod_processes(pod_uid: str, proc: Path = DEFAULT_PROC) -> dict[str, list[int]]:
    """Container ID -> PIDs (ascending) of every process in the pod; found by scanning ``<proc>/*/cgroup``."""
    wanted = pod_uid.lower()
    containers: dict[str, list[int]] = defaultdict(list)
    for pid, identity in scan(proc).items():
        if identity.pod_uid == wanted and identity.container_id:
            containers[identity.container_id].append(pid)
    return {cid: sorted(pids) for cid, pids in containers.items()}


def scan(proc: Path = DEFAULT_PROC) -> dict[int, CgroupIdentity]:
    """PID -> identity for every process whose cgroup names a pod or a container."""
    found: dict[int, CgroupIdentity] = {}
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            text = (entry / "cgroup").read_text(errors="replace")
        except (FileNotFoundError, ProcessLookupError, PermissionError, NotADirectoryError):
            continue
        # Cheap pre-filter: most host processes are in neither a pod nor a container.
        if not any(word in text for word in ("pod", "docker", "containerd", "crio")):
            continue
        identity = parse_cgroup_file(text)
        if identity is not None:
            found[int(entry.name)] = identity
    return found
