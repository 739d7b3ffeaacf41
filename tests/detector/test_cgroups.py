"""Pod UID and container ID from cgroup paths: every runtime and driver shape, then real cgroups."""

from __future__ import annotations

import json
import secrets
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cli.main import app as hodegos
from detector import parse_cgroup_file, parse_cgroup_path, pod_processes, read_cgroup
from detector.node import detect_pod
from tests.cgroups import join
from tests.detector.conftest import PYTHON_PROGRAM, Started

UID = "8d2b4c1e-5f3a-4b7c-9d2e-1a2b3c4d5e6f"
SLICE_UID = UID.replace("-", "_")
STATIC = "ab" * 16
CID = "3f1a9c0b7e2d4a6f8b1c5d9e0f2a4b6c8d0e1f3a5b7c9d1e3f5a7b9c1d3e5f7a"

# (description, /proc/<pid>/cgroup text, pod UID, container ID, runtime)
SHAPES = [
    (
        "containerd, systemd driver, cgroup v2",
        f"0::/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod{SLICE_UID}.slice/cri-containerd-{CID}.scope\n",
        UID,
        CID,
        "containerd",
    ),
    (
        "containerd, cgroupfs driver, cgroup v2",
        f"0::/kubepods/besteffort/pod{UID}/{CID}\n",
        UID,
        CID,
        None,
    ),
    (
        "containerd, cgroupfs driver, cgroup v1 (every controller line)",
        "".join(
            f"{n}:{c}:/kubepods/burstable/pod{UID}/{CID}\n"
            for n, c in [(12, "pids"), (11, "memory"), (4, "cpu,cpuacct"), (1, "name=systemd")]
        )
        + "0::/\n",
        UID,
        CID,
        None,
    ),
    (
        "containerd, cgroup v1 with the colon form",
        f"1:name=systemd:/system.slice/containerd.service/kubepods-burstable-pod{SLICE_UID}.slice:cri-containerd:{CID}\n",
        UID,
        CID,
        "containerd",
    ),
    (
        "CRI-O, systemd driver, guaranteed QoS, cgroup v2",
        f"0::/kubepods.slice/kubepods-pod{SLICE_UID}.slice/crio-{CID}.scope\n",
        UID,
        CID,
        "cri-o",
    ),
    (
        "CRI-O with crun's container sub-cgroup",
        f"0::/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod{SLICE_UID}.slice/crio-{CID}.scope/container\n",
        UID,
        CID,
        "cri-o",
    ),
    (
        "CRI-O, systemd driver, cgroup v1",
        f"10:memory:/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod{SLICE_UID}.slice/crio-{CID}.scope\n"
        f"1:name=systemd:/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod{SLICE_UID}.slice/crio-{CID}.scope\n",
        UID,
        CID,
        "cri-o",
    ),
    (
        "Docker (cri-dockerd), systemd driver, cgroup v1",
        f"9:pids:/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod{SLICE_UID}.slice/docker-{CID}.scope\n",
        UID,
        CID,
        "docker",
    ),
    (
        "Docker (cri-dockerd), cgroupfs driver, cgroup v1",
        f"7:devices:/kubepods/pod{UID}/{CID}\n",
        UID,
        CID,
        None,
    ),
    (
        "kind: kubelet cgroup root nested in a node container",
        "0::/kubelet.slice/kubelet-kubepods.slice/kubelet-kubepods-besteffort.slice/"
        f"kubelet-kubepods-besteffort-pod{SLICE_UID}.slice/cri-containerd-{CID}.scope\n",
        UID,
        CID,
        "containerd",
    ),
    (
        "static pod (32-hex UID)",
        f"0::/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod{STATIC}.slice/cri-containerd-{CID}.scope\n",
        STATIC,
        CID,
        "containerd",
    ),
    (
        "CRI-O's conmon monitor: the pod, not a container",
        f"0::/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod{SLICE_UID}.slice/crio-conmon-{CID}.scope\n",
        UID,
        None,
        None,
    ),
    (
        "plain Docker, systemd driver, cgroup v2 (no pod)",
        f"0::/system.slice/docker-{CID}.scope\n",
        None,
        CID,
        "docker",
    ),
    (
        "plain Docker, cgroupfs driver, cgroup v1 (no pod)",
        f"4:memory:/docker/{CID}\n0::/\n",
        None,
        CID,
        "docker",
    ),
    (
        "hybrid host: v1 controllers at the root, the pod on the unified line",
        f"4:memory:/system.slice/agent\n1:name=systemd:/\n0::/kubepods.slice/kubepods-pod{SLICE_UID}.slice/cri-containerd-{CID}.scope\n",
        UID,
        CID,
        "containerd",
    ),
]


@pytest.mark.parametrize(
    ("text", "pod_uid", "container_id", "runtime"), [s[1:] for s in SHAPES], ids=[s[0] for s in SHAPES]
)
def test_cgroup_shapes(text: str, pod_uid: str | None, container_id: str | None, runtime: str | None) -> None:
    identity = parse_cgroup_file(text)
    assert identity is not None
    assert (identity.pod_uid, identity.container_id, identity.runtime) == (pod_uid, container_id, runtime)


@pytest.mark.parametrize(
    "path",
    [
        "/",
        "/user.slice/user-1000.slice/session-3.scope",
        "/system.slice/containerd.service",
        "/kubepods.slice/kubepods-burstable.slice",  # the QoS level, above any pod
        "/process_api/cab25ecd6f4614648a5c183ed2851caa",  # 32 hex, but not after "pod"
    ],
)
def test_paths_naming_no_pod_or_container(path: str) -> None:
    assert parse_cgroup_path(path) is None


def test_unreadable_process_has_no_identity(tmp_path: Path) -> None:
    assert read_cgroup(2**22 + 7) is None  # above pid_max's default: never a live PID
    (tmp_path / "42").mkdir()
    (tmp_path / "42" / "cgroup").write_text(SHAPES[0][1])
    assert read_cgroup(42, tmp_path) == parse_cgroup_file(SHAPES[0][1])


# -- Real cgroups --------------------------------------------------------------------------------------


def test_real_pod_processes_found_and_application_picked(
    programs: dict[str, list[str]], start: Callable[..., Started], pod_cgroups: Callable[[str, str], Path]
) -> None:
    pod_uid = str(uuid.uuid4())
    app_cid, side_cid = secrets.token_hex(32), secrets.token_hex(32)
    # Container "app": a shell start script that forks the interpreter (no exec: the shell stays).
    wrapper = [
        "/bin/sh",
        "-c",
        f'/usr/bin/python3 -c "{PYTHON_PROGRAM}"; true',
    ]
    app = start(wrapper, preexec=join(pod_cgroups(pod_uid, app_cid)))
    sidecar = start(programs["go-static"], preexec=join(pod_cgroups(pod_uid, side_cid)))

    found = pod_processes(pod_uid)
    assert set(found) == {app_cid, side_cid}
    assert app.pid in found[app_cid] and len(found[app_cid]) == 2  # the shell and its python child
    assert found[side_cid] == [sidecar.pid]
    identity = read_cgroup(sidecar.pid)
    assert identity is not None and identity.runtime == "containerd" and identity.pod_uid == pod_uid

    detections = detect_pod(pod_uid)
    assert detections[app_cid].language == "python"
    assert detections[app_cid].pid != app.pid and detections[app_cid].ppid == app.pid
    assert detections[app_cid].runtime_version == app.ready
    assert detections[app_cid].pod_uid == pod_uid and detections[app_cid].container_id == app_cid
    assert detections[side_cid].language == "go"

    result = CliRunner().invoke(hodegos, ["agent", "detect", "--pod", pod_uid, "-o", "json"])
    assert result.exit_code == 0, result.output
    rows = {row["containerId"]: row for row in json.loads(result.stdout)}
    assert rows[app_cid]["language"] == "python" and rows[app_cid]["ppid"] == app.pid
    assert rows[side_cid]["pid"] == sidecar.pid
    missing = CliRunner().invoke(hodegos, ["agent", "detect", "--pod", str(uuid.uuid4())])
    assert missing.exit_code == 1 and "no process of pod" in missing.stderr
