"""Webhook replicas sharing one certificate Secret, against the real API server."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from certs import storing
from certs.rotation import Policy
from certs.shared import sync
from kube import Api
from kube.resources import SECRETS

pytestmark = pytest.mark.cluster
HOSTS = ["hodegos-webhook.ns.svc"]


def test_replicas_starting_together_agree_on_one_certificate(
    admin_api: Api, kube_namespace: str, tmp_path: Path
) -> None:
    bundles: list[bytes] = []
    results: dict[int, bytes] = {}
    start = threading.Barrier(3)

    def replica(index: int) -> None:
        start.wait()
        _, material = sync(
            admin_api,
            tmp_path / str(index),
            HOSTS,
            namespace=kube_namespace,
            name="certs",
            publish_bundle=bundles.append,
        )
        results[index] = material.cert

    threads = [threading.Thread(target=replica, args=(i,)) for i in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    secret = admin_api.get(SECRETS, kube_namespace, "certs")
    assert secret is not None
    shared = storing.from_secret_data(secret["data"])
    assert shared is not None
    assert set(results.values()) == {shared.cert}, "every replica serves the Secret's certificate"
    for index in range(3):
        assert storing.read_directory(tmp_path / str(index)) == shared
    assert all(shared.ca_cert.strip() in bundle for bundle in bundles), "only the served CA registered"


def test_a_rotation_by_one_replica_reaches_the_others(
    admin_api: Api, kube_namespace: str, tmp_path: Path
) -> None:
    short = Policy(validity=timedelta(days=3))
    _, first = sync(admin_api, tmp_path / "a", HOSTS, namespace=kube_namespace, name="certs", policy=short)
    later = datetime.now(UTC) + timedelta(days=2, hours=12)  # less than a third of the validity left
    decision, renewed = sync(
        admin_api, tmp_path / "a", HOSTS, namespace=kube_namespace, name="certs", policy=short, now=later
    )
    assert decision.action == "renew-serving" and renewed.cert != first.cert
    decision, seen = sync(
        admin_api, tmp_path / "b", HOSTS, namespace=kube_namespace, name="certs", policy=short, now=later
    )
    assert decision.action == "none" and seen == renewed
