"""The pure rotation decision and the certificates it produces."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from cryptography import x509

from certs import authority, rotation
from certs.authority import Material
from certs.errors import MaterialError

NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
HOSTS = authority.service_hosts()
POLICY = rotation.Policy(
    ca_validity=timedelta(days=300), validity=timedelta(days=90), overlap=timedelta(hours=24)
)


@pytest.fixture(scope="module")
def fresh() -> Material:
    return rotation.rotate(None, rotation.Decision("issue", "test"), HOSTS, NOW, POLICY)


def test_service_hosts_cover_every_service_form_and_loopback() -> None:
    assert authority.service_hosts("wh", "ns") == [
        "wh",
        "wh.ns",
        "wh.ns.svc",
        "wh.ns.svc.cluster.local",
        "localhost",
        "127.0.0.1",
    ]
    assert "localhost" not in authority.service_hosts("wh", "ns", local=False)


def test_nothing_yet_means_issue() -> None:
    assert rotation.decide(None, HOSTS, NOW, POLICY).action == "issue"


def test_fresh_material_is_consistent_and_needs_nothing(fresh: Material) -> None:
    fresh.check()
    assert sorted(fresh.hosts) == sorted(HOSTS)
    assert fresh.ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is True
    assert fresh.serving.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is False
    assert rotation.decide(fresh, HOSTS, NOW, POLICY) == rotation.Decision("none", "certificates are valid")
    assert rotation.rotate(fresh, rotation.decide(fresh, HOSTS, NOW, POLICY), HOSTS, NOW, POLICY) is fresh


def test_serving_certificate_renewed_when_a_third_of_its_life_is_left(fresh: Material) -> None:
    assert rotation.decide(fresh, HOSTS, NOW + timedelta(days=59), POLICY).action == "none"
    later = NOW + timedelta(days=61)
    decision = rotation.decide(fresh, HOSTS, later, POLICY)
    assert decision.action == "renew-serving"
    renewed = rotation.rotate(fresh, decision, HOSTS, later, POLICY)
    renewed.check()
    assert renewed.ca_cert == fresh.ca_cert and renewed.ca_bundle == fresh.ca_bundle
    assert renewed.serving.serial_number != fresh.serving.serial_number
    assert renewed.serving.not_valid_after_utc == later + POLICY.validity


def test_serving_certificate_never_outlives_its_ca(fresh: Material) -> None:
    late = NOW + timedelta(days=250)  # CA has 50 days left, the serving cert would want 90
    cert, _ = authority.new_serving(fresh.ca_cert, fresh.ca_key, HOSTS, late, POLICY.validity)
    assert x509.load_pem_x509_certificate(cert).not_valid_after_utc == fresh.ca.not_valid_after_utc


def test_ca_renewal_keeps_the_old_ca_in_the_bundle_until_the_overlap_ends(fresh: Material) -> None:
    later = NOW + timedelta(days=201)
    decision = rotation.decide(fresh, HOSTS, later, POLICY)
    assert decision.action == "renew-ca"
    renewed = rotation.rotate(fresh, decision, HOSTS, later, POLICY)
    renewed.check()
    assert renewed.ca_cert != fresh.ca_cert
    assert [c.serial_number for c in renewed.bundle] == [renewed.ca.serial_number, fresh.ca.serial_number]
    renewed.serving.verify_directly_issued_by(renewed.ca)
    # During the overlap nothing changes; afterwards the old CA is trimmed.
    assert rotation.decide(renewed, HOSTS, later + timedelta(hours=23), POLICY).action == "none"
    after = later + timedelta(hours=25)
    decision = rotation.decide(renewed, HOSTS, after, POLICY)
    assert decision.action == "trim-bundle"
    trimmed = rotation.rotate(renewed, decision, HOSTS, after, POLICY)
    assert trimmed.ca_bundle == renewed.ca_cert and trimmed.cert == renewed.cert


def test_expired_cas_are_dropped_from_the_bundle(fresh: Material) -> None:
    after_expiry = NOW + timedelta(days=301)
    decision = rotation.decide(fresh, HOSTS, after_expiry, POLICY)
    assert decision.action == "renew-ca"
    renewed = rotation.rotate(fresh, decision, HOSTS, after_expiry, POLICY)
    assert [c.serial_number for c in renewed.bundle] == [renewed.ca.serial_number]


def test_a_missing_host_renews_the_serving_certificate(fresh: Material) -> None:
    hosts = [*HOSTS, "webhook.example.internal"]
    decision = rotation.decide(fresh, hosts, NOW, POLICY)
    assert decision.action == "renew-serving" and "webhook.example.internal" in decision.reason
    assert "webhook.example.internal" in rotation.rotate(fresh, decision, hosts, NOW, POLICY).hosts


def test_mismatched_material_is_reissued(fresh: Material) -> None:
    other = authority.issue(HOSTS, NOW, POLICY.ca_validity, POLICY.validity)
    broken = Material(fresh.ca_cert, fresh.ca_key, fresh.cert, other.key, fresh.ca_bundle)
    with pytest.raises(MaterialError, match="serving key does not belong"):
        broken.check()
    decision = rotation.decide(broken, HOSTS, NOW, POLICY)
    assert decision.action == "issue" and "unusable" in decision.reason
    foreign = Material(fresh.ca_cert, fresh.ca_key, other.cert, other.key, fresh.ca_bundle)
    assert rotation.decide(foreign, HOSTS, NOW, POLICY).action == "issue"


def test_garbage_is_a_material_error() -> None:
    with pytest.raises(MaterialError, match="not a PEM certificate"):
        Material(b"nope", b"", b"", b"", b"").check()
