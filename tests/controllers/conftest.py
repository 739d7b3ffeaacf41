"""Fixtures for the controllers' real-control-plane tests."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from api import constants
from controllers.manager import Manager
from kube import Api, connect
from kube.resources import NAMESPACES
from localcluster.webhook_host import HostedWebhook
from tests.controllers.cluster_support import wait
from tests.kube import KubeCluster, hosted_webhook


def api_for(kube_cluster: KubeCluster, user: str) -> Api:
    """An :class:`Api` authenticated as ``user`` (its own name in the audit log), with admin rights."""

    path = kube_cluster.issue_kubeconfig(user, ("system:masters",))
    return connect(path)


@pytest.fixture(scope="session")
def system_namespace(kube_cluster: KubeCluster, hodegos_crds: list[str]) -> str:
    api = api_for(kube_cluster, "hodegos-test-setup")
    if api.get(NAMESPACES, None, constants.NAMESPACE) is None:
        api.create(NAMESPACES, None, {"metadata": {"name": constants.NAMESPACE}})
    return constants.NAMESPACE


@pytest.fixture
def admin(kube_cluster: KubeCluster, system_namespace: str) -> Api:
    return api_for(kube_cluster, "hodegos-test-setup")


@pytest.fixture(scope="module")
def webhook(kube_cluster: KubeCluster, kube_api: Any, hodegos_crds: list[str]) -> Iterator[HostedWebhook]:
    """The real webhook (``hodegos webhook serve``) on the host, registered by URL, for one test module."""
    with hosted_webhook(kube_cluster, kube_api, 29543) as hosted:
        yield hosted


@pytest.fixture(scope="module")
def controllers(
    request: pytest.FixtureRequest, kube_cluster: KubeCluster, system_namespace: str, webhook: HostedWebhook
) -> Iterator[Manager]:
    """The controllers, leading, beside the real webhook; the identity is named after the test module."""
    name = request.module.__name__.rsplit(".", 1)[-1].removeprefix("test_").replace("_", "-")
    m = Manager(
        api_for(kube_cluster, f"hodegos-controllers-{name}"),
        identity=name,
        lease_duration=6,
        rollout_cooldown=15,
    )
    m.start()
    assert m.elector is not None
    wait("leadership", m.elector.leading.is_set, timeout=30)
    yield m
    m.shutdown()
