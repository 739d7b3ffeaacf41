"""The certificate Secret against the real API server: server-side apply, read back, CLI."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from api import constants
from certs import authority, storing
from cli.main import app as cli
from kube import Api


@pytest.fixture
def system_namespace(kube_api: Any) -> Iterator[str]:
    from kubernetes import client
    from kubernetes.client.exceptions import ApiException

    core: Any = client.CoreV1Api(kube_api)
    created = False
    try:
        core.create_namespace({"metadata": {"name": constants.NAMESPACE}})
        created = True
    except ApiException as exc:
        if exc.status != 409:
            raise
    yield constants.NAMESPACE
    try:
        core.delete_namespaced_secret(constants.WEBHOOK_CERT_SECRET, constants.NAMESPACE)
    except ApiException as exc:
        if exc.status != 404:
            raise
    if created:
        core.delete_namespace(constants.NAMESPACE)


@pytest.mark.cluster
def test_secret_round_trip_and_cli(
    kube_api: Any, admin_api: Api, kubeconfig: Path, system_namespace: str, tmp_path: Path
) -> None:
    from kubernetes import client

    core: Any = client.CoreV1Api(kube_api)
    assert storing.read_secret(admin_api) is None
    material = authority.issue(
        authority.service_hosts(), datetime.now(UTC), timedelta(days=30), timedelta(days=10)
    )
    storing.apply_secret(admin_api, material)
    assert storing.read_secret(admin_api) == material
    secret = core.read_namespaced_secret(constants.WEBHOOK_CERT_SECRET, system_namespace)
    assert secret.type == "kubernetes.io/tls"
    assert {f.manager for f in secret.metadata.managed_fields or []} == {constants.FIELD_MANAGER}

    result = CliRunner().invoke(
        cli,
        [
            "webhook",
            "certs",
            "--cert-dir",
            str(tmp_path),
            "--to-secret",
            "--kubeconfig",
            str(kubeconfig),
            "-o",
            "json",
        ],
    )
    assert result.exit_code == 0, result.output
    assert storing.read_secret(admin_api) == storing.read_directory(tmp_path) != material
