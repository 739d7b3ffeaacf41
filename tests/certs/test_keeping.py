"""Applying rotation decisions: the caBundle is published before the new certificate reaches the files."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from certs import keeping, storing
from certs.authority import Material
from certs.rotation import Policy

HOSTS = ["localhost", "127.0.0.1"]


def test_keep_issues_then_leaves_valid_material_alone(tmp_path: Path) -> None:
    published: list[bytes] = []
    decision, material = keeping.keep(tmp_path, HOSTS, publish_bundle=published.append)
    assert decision.action == "issue" and published == [material.ca_bundle]
    assert storing.read_directory(tmp_path) == material
    decision, again = keeping.keep(tmp_path, HOSTS, publish_bundle=published.append)
    assert decision.action == "none" and again == material and len(published) == 1


def test_ca_renewal_publishes_both_cas_before_writing_the_new_certificate(tmp_path: Path) -> None:
    now = datetime.now(UTC)
    _, first = keeping.keep(tmp_path, HOSTS, now=now)
    seen_on_disk_at_publish: list[Material | None] = []
    stored: list[Material] = []

    def publish(bundle: bytes) -> None:
        seen_on_disk_at_publish.append(storing.read_directory(tmp_path))
        assert first.ca_cert in bundle  # the old CA is still trusted

    decision, second = keeping.keep(
        tmp_path,
        HOSTS,
        policy=Policy(renew_fraction=1.0),
        now=now,
        publish_bundle=publish,
        store=stored.append,
    )
    assert decision.action == "renew-ca"
    assert seen_on_disk_at_publish == [first]  # files still old when the bundle went out
    assert stored == [second] and storing.read_directory(tmp_path) == second
    assert second.ca_cert in second.ca_bundle and first.ca_cert in second.ca_bundle


def test_the_secret_copy_wins_over_the_directory(tmp_path: Path) -> None:
    _, local = keeping.keep(tmp_path / "a", HOSTS)
    _, shared = keeping.keep(tmp_path / "b", HOSTS)
    decision, material = keeping.keep(tmp_path / "a", HOSTS, current=shared)
    assert decision.action == "none" and material == shared != local
    assert storing.read_directory(tmp_path / "a") == shared


def test_keeper_runs_periodically(tmp_path: Path) -> None:
    keeper = keeping.Keeper(tmp_path, HOSTS, interval=0.05, policy=Policy(validity=timedelta(days=1))).start()
    try:
        deadline = datetime.now(UTC) + timedelta(seconds=10)
        while keeper.last is None:
            assert datetime.now(UTC) < deadline
            time.sleep(0.01)
        assert keeper.last.action == "issue"
    finally:
        keeper.stop()
