"""Fixtures for the controllers' real-control-plane tests."""

from __future__ import annotations

import pytest

from api import constants
from controllers.kube import NAMESPACES, Api
from tests.kube import KubeCluster


def api_for(kube_cluster: KubeCluster, user: str) -> Api:
    """An :class:`Api` authenticated as ``user`` (its own name in the audit log), with admin rights."""
    from kubernetes import config

    path = kube_cluster.issue_kubeconfig(user, ("system:masters",))
    return Api(config.new_client_from_config(config_file=str(path)))


@pytest.fixture(scope="session")
def system_namespace(kube_cluster: KubeCluster, hodegos_crds: list[str]) -> str:
    api = api_for(kube_cluster, "hodegos-test-setup")
    if api.get(NAMESPACES, None, constants.NAMESPACE) is None:
        api.create(NAMESPACES, None, {"metadata": {"name": constants.NAMESPACE}})
    return constants.NAMESPACE


@pytest.fixture
def admin(kube_cluster: KubeCluster, system_namespace: str) -> Api:
    return api_for(kube_cluster, "hodegos-test-setup")
