"""Pytest fixtures for tests against the real local control plane (``hodegos cluster``).

Registered from ``tests/conftest.py``. The session brings one cluster up (a dedicated name and ports, so a
developer's demo cluster is never touched), and brings it down at the end unless another pytest session
still uses it or ``HODEGOS_TEST_KEEP_CLUSTER=1`` is set (fast reruns).

Fixtures:

- ``kube_cluster`` (session): a :class:`KubeCluster`: name, server URL, admin kubeconfig path, helpers to
  issue a kubeconfig for another identity, run the pinned kubectl, and read the API server's audit log.
- ``kubeconfig`` (session): path of the admin kubeconfig.
- ``kube_api`` (session): a ``kubernetes.client.ApiClient`` for the admin (tests that use typed clients).
- ``admin_api`` (session): a :class:`kube.Api` for the admin (what Hodegos components use).
- ``hodegos_crds`` (session): the CRDs of ``chart/crds/`` applied and Established.
- ``kube_namespace`` (function): a fresh namespace name, deleted after the test.
- ``make_namespace`` (function): ``make_namespace(labels=..., annotations=...) -> name``, all deleted after.

:func:`hosted_webhook` runs the real webhook (``hodegos webhook serve``) on the host, registered with the
cluster by URL, for as long as a ``with`` block lasts (test modules make it a module fixture).

Missing binaries skip locally and fail under CI (:func:`tests.support.require`).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from api.constants import WEBHOOK_CONFIGURATION
from kube import Api, api_client, connect
from localcluster import lifecycle, pki, processes, webhook_host
from localcluster import state as records
from localcluster.layout import Layout, Ports
from localcluster.webhook_host import HostedWebhook, apply_crds
from tests.support import require
from toolchain import cluster as tools
from webhook import registration

TEST_CLUSTER = os.environ.get("HODEGOS_TEST_CLUSTER", "hodegos-pytest")
TEST_PORT = int(os.environ.get("HODEGOS_TEST_CLUSTER_PORT", "26443"))


@dataclass
class KubeCluster:
    name: str
    server: str
    kubeconfig: Path
    ports: Ports
    layout: Layout

    def issue_kubeconfig(self, user: str, groups: tuple[str, ...] = ()) -> Path:
        """A kubeconfig for another identity (its own user name in RBAC and the audit log)."""
        return lifecycle.issue_kubeconfig(self.layout, self.ports, pki.Identity(user, groups))

    def kubectl(
        self, *args: str, check: bool = True, input: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        kubectl = tools.KUBERNETES.path("kubectl")
        return subprocess.run(
            [str(kubectl), f"--kubeconfig={self.kubeconfig}", *args],
            capture_output=True,
            text=True,
            check=check,
            input=input,
            timeout=120,
        )

    def audit_events(self, user: str | None = None) -> list[dict[str, Any]]:
        """Completed requests in the API server's audit log (metadata level), optionally for one user.

        The log is written in batches of at most one second; callers wait for it to settle.
        """
        events: list[dict[str, Any]] = []
        for path in sorted(self.layout.logs.glob("audit*.log")):
            for line in path.read_text(errors="replace").splitlines():
                try:
                    event = json.loads(line)
                except ValueError:
                    continue
                if user is None or event.get("user", {}).get("username") == user:
                    events.append(event)
        return events


def _sessions(lay: Layout) -> Path:
    return lay.root.parent / f".{lay.name}.sessions"


def _live_sessions(lay: Layout) -> list[Path]:
    """Session markers of test runs still alive (``<pid>-<start ticks>``); stale ones are removed."""
    live = []
    for marker in _sessions(lay).glob("*-*"):
        pid, _, ticks = marker.name.partition("-")
        if pid.isdigit() and ticks.isdigit() and processes.start_ticks(int(pid)) == int(ticks):
            live.append(marker)
        else:
            marker.unlink(missing_ok=True)
    return live


@pytest.fixture(scope="session")
def kube_cluster() -> Iterator[KubeCluster]:
    missing = tools.missing()
    require(not missing, f"local control plane binaries not built ({', '.join(missing)}): run `make setup`")
    lay = Layout.for_name(TEST_CLUSTER)
    # Several pytest sessions may share the cluster (parallel runs on one machine): each leaves a marker,
    # and the last one to finish brings the cluster down.
    marker = _sessions(lay) / f"{os.getpid()}-{processes.start_ticks(os.getpid())}"
    with records.locked(lay):
        marker.parent.mkdir(parents=True, exist_ok=True)
        marker.touch()
    # The suite needs many pods on cheap nodes: kwok (fake) nodes; real-node tests make clusters of their own.
    result = lifecycle.up(TEST_CLUSTER, nodes=0, fake_nodes=2, port=TEST_PORT, build=False)
    cluster = KubeCluster(
        name=TEST_CLUSTER,
        server=result.status["server"],
        kubeconfig=lay.admin_kubeconfig,
        ports=Ports(TEST_PORT),
        layout=lay,
    )
    try:
        yield cluster
    finally:
        with records.locked(lay):
            marker.unlink(missing_ok=True)
            last = not _live_sessions(lay)
        if last and not os.environ.get("HODEGOS_TEST_KEEP_CLUSTER"):
            lifecycle.down(TEST_CLUSTER)


@pytest.fixture(scope="session")
def kubeconfig(kube_cluster: KubeCluster) -> Path:
    return kube_cluster.kubeconfig


@pytest.fixture(scope="session")
def kube_api(kube_cluster: KubeCluster) -> Any:

    return api_client(kube_cluster.kubeconfig)


@pytest.fixture(scope="session")
def admin_api(kube_cluster: KubeCluster) -> Api:
    return connect(kube_cluster.kubeconfig)


@pytest.fixture(scope="session")
def hodegos_crds(admin_api: Api) -> list[str]:
    return apply_crds(admin_api)


def _namespace_name(request: pytest.FixtureRequest) -> str:
    base = re.sub(r"[^a-z0-9-]+", "-", request.node.name.lower()).strip("-")[:40].strip("-")
    return f"t-{base}-{uuid.uuid4().hex[:6]}"


@pytest.fixture
def make_namespace(kube_api: Any, request: pytest.FixtureRequest) -> Iterator[Callable[..., str]]:
    from kubernetes import client
    from kubernetes.client.exceptions import ApiException

    core: Any = client.CoreV1Api(kube_api)
    created: list[str] = []

    def make(labels: dict[str, str] | None = None, annotations: dict[str, str] | None = None) -> str:
        name = _namespace_name(request)
        core.create_namespace(
            {"metadata": {"name": name, "labels": labels or {}, "annotations": annotations or {}}}
        )
        created.append(name)
        return name

    yield make
    for name in created:
        try:
            core.delete_namespace(name)
        except ApiException as exc:
            if exc.status != 404:
                raise


@pytest.fixture
def kube_namespace(make_namespace: Callable[..., str]) -> str:
    return make_namespace()


@contextmanager
def hosted_webhook(kube_cluster: KubeCluster, kube_api: Any, first_port: int) -> Iterator[HostedWebhook]:
    """The real webhook on the host (first free port from ``first_port``), registered; removed after."""
    admin = connect(kube_cluster.kubeconfig)
    webhook_host.grant_read_access(admin)
    hosted = HostedWebhook(kube_cluster.layout, kube_cluster.ports, processes.free_block(first_port, size=1))
    hosted.start()
    hosted.register(admin)
    try:
        yield hosted
    finally:
        hosted.stop()
        registration.unregister(admin, WEBHOOK_CONFIGURATION)
