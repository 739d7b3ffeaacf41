"""Real cgroups for tests: a process placed where the kubelet and containerd would put a container.

A pytest plugin (``tests/conftest.py``): the ``pod_cgroups`` fixture, and :func:`join` to start a process
inside one of its cgroups.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.support import require


def cgroup2_root() -> Path | None:
    """Where cgroup v2 is mounted (``/sys/fs/cgroup`` on a v2 host, ``.../unified`` on a hybrid one)."""
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        fields = line.split()
        separator = fields.index("-")
        if fields[separator + 1] == "cgroup2":
            return Path(fields[4])
    return None


@pytest.fixture
def pod_cgroups() -> Iterator[Callable[[str, str], Path]]:
    """``make(pod_uid, container_id)``: a containerd-style container cgroup (systemd driver) to run in."""
    root = cgroup2_root()
    require(
        root is not None and os.geteuid() == 0 and os.access(root, os.W_OK), "root and a writable cgroup v2"
    )
    assert root is not None
    created: list[Path] = []

    def make(pod_uid: str, container_id: str) -> Path:
        pod_slice = f"kubepods-besteffort-pod{pod_uid.replace('-', '_')}.slice"
        path = (
            root
            / "kubepods.slice"
            / "kubepods-besteffort.slice"
            / pod_slice
            / f"cri-containerd-{container_id}.scope"
        )
        for level in [*reversed(path.relative_to(root).parents[:-1]), path.relative_to(root)]:
            if not (root / level).exists():
                (root / level).mkdir()
                created.append(root / level)
        return path

    yield make
    for path in reversed(created):
        # Only this test's processes are in these cgroups; stop any still running before removing them.
        for pid in (path / "cgroup.procs").read_text().split():
            try:
                os.kill(int(pid), signal.SIGKILL)
            except ProcessLookupError:
                pass
        for _ in range(50):  # the kernel empties a cgroup shortly after its processes exit
            try:
                path.rmdir()
                break
            except OSError:
                time.sleep(0.1)


def join(path: Path) -> Callable[[], None]:
    def preexec() -> None:
        (path / "cgroup.procs").write_text(str(os.getpid()))

    return preexec
