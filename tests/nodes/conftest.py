"""Clusters with real nodes (containerd + kubelet + kube-proxy) of their own, for the tests in this folder.

The session's shared cluster (``tests/kube.py``) runs kwok nodes; these tests need pods that actually run,
so they bring up their own clusters on their own ports: ``<base>-one`` (one real node) and ``<base>-two``
(two), where ``<base>`` is ``$HODEGOS_TEST_CLUSTER`` (default ``hodegos-pytest``) and the ports follow
``$HODEGOS_TEST_CLUSTER_PORT`` + 100 / + 110. Both are session-scoped and run at the same time (which is
itself one of the checks). Missing binaries or kernel features skip locally and fail under ``CI=true``.
"""

from __future__ import annotations

import json
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from kube import Api, connect
from localcluster import lifecycle
from localcluster import nodes as nodeshell
from localcluster.layout import Layout
from tests.kube import TEST_CLUSTER, TEST_PORT
from tests.support import require
from toolchain import cluster as tools
from toolchain import localimages
from toolchain import nodes as node_tools

BASE = TEST_CLUSTER[:30]
PROBE_APP = Path(__file__).with_name("apps") / "probe.py"
PROBE_IMAGE = "localhost/hodegos-test/probe:1"
BUSYBOX = node_tools.BUSYBOX_IMAGE


def require_real_nodes() -> None:
    missing = tools.missing() + node_tools.missing()
    require(not missing, f"real node parts not built ({', '.join(missing)}): run `make setup`")
    problems = nodeshell.preflight()
    require(not problems, f"this machine cannot run real nodes: {'; '.join(problems)}")


@dataclass
class RealCluster:
    name: str
    port: int
    layout: Layout

    @property
    def kubeconfig(self) -> Path:
        return self.layout.admin_kubeconfig

    def api(self) -> Api:
        return connect(self.kubeconfig)

    def kubectl(
        self, *args: str, check: bool = True, input: str | None = None, timeout: float = 120
    ) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            [str(tools.KUBERNETES.path("kubectl")), f"--kubeconfig={self.kubeconfig}", *args],
            capture_output=True,
            text=True,
            input=input,
            timeout=timeout,
            check=False,
        )
        if check and done.returncode != 0:
            raise AssertionError(
                f"kubectl {' '.join(args)} exited {done.returncode}: {done.stderr}{done.stdout}"
            )
        return done

    def apply(self, manifest: str) -> None:
        self.kubectl("apply", "-f", "-", input=manifest)

    def namespace(self, prefix: str = "t") -> str:
        name = f"{prefix}-{uuid.uuid4().hex[:8]}"
        self.kubectl("create", "namespace", name)
        return name

    def pod(self, namespace: str, name: str) -> dict[str, Any]:
        out = self.kubectl("-n", namespace, "get", "pod", name, "-o", "json", check=False)
        return json.loads(out.stdout) if out.returncode == 0 else {}

    def wait_phase(self, namespace: str, name: str, phases: set[str], timeout: float = 90) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            pod = self.pod(namespace, name)
            status = pod.get("status") or {}
            if status.get("phase") in phases:
                return pod
            if time.monotonic() > deadline:
                raise AssertionError(f"pod {namespace}/{name} not {phases} after {timeout}s: {status}")
            time.sleep(0.3)

    def wait_ready(self, namespace: str, name: str, timeout: float = 90) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            pod = self.pod(namespace, name)
            conditions = (pod.get("status") or {}).get("conditions") or []
            if any(c["type"] == "Ready" and c["status"] == "True" for c in conditions):
                return pod
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"pod {namespace}/{name} not Ready after {timeout}s: {pod.get('status')}"
                )
            time.sleep(0.3)


def _bring_up(name: str, port: int, nodes: int) -> Iterator[RealCluster]:
    require_real_nodes()
    lifecycle.up(name, nodes=nodes, fake_nodes=0, port=port, build=False)
    cluster = RealCluster(name, port, Layout.for_name(name))
    try:
        lifecycle.load(name, [_probe_archive()])
        yield cluster
    finally:
        lifecycle.down(name)


def _probe_archive() -> Path:
    return localimages.app_image(PROBE_IMAGE, {"/app/probe.py": PROBE_APP}, cmd=["python3", "/app/probe.py"])


@pytest.fixture(scope="session")
def one_node() -> Iterator[RealCluster]:
    """A cluster with one real node (and the probe app image loaded)."""
    yield from _bring_up(f"{BASE}-one", TEST_PORT + 100, 1)


@pytest.fixture(scope="session")
def two_nodes() -> Iterator[RealCluster]:
    """A cluster with two real nodes (and the probe app image loaded)."""
    yield from _bring_up(f"{BASE}-two", TEST_PORT + 110, 2)
