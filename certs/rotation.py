"""When to rotate the webhook's certificates, and what the caBundle holds while they switch. Pure.

:func:`decide` looks at the current :class:`~certs.authority.Material` (or none) and the clock, and returns a
:class:`Decision`; :func:`rotate` turns a decision into the next Material. Nothing here reads files or talks
to Kubernetes, so every case is a unit test.

The switch is safe because the API server trusts the caBundle, not one CA: when the CA is renewed, the next
caBundle holds the new CA *and* the old one. Whoever applies a rotation writes the caBundle into the
MutatingWebhookConfiguration first, then the serving certificate (Secret/files); the running server reloads it
for new handshakes. Connections verify against either CA during the overlap. Once the new CA has been in use
for ``Policy.overlap``, the old CA is trimmed from the bundle (action ``trim-bundle``).

Actions, in order of precedence:

- ``issue``: nothing usable exists (no material, or it does not verify): a fresh CA and serving certificate.
- ``renew-ca``: the CA has less than ``renew_fraction`` of its lifetime left (or has expired).
- ``renew-serving``: the serving certificate has less than ``renew_fraction`` left, or misses a host name.
- ``trim-bundle``: the bundle still holds CAs other than the current one after the overlap.
- ``none``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from cryptography import x509
from cryptography.hazmat.primitives import hashes

from certs.authority import Material, bundle_pem, issue, new_ca, new_serving
from certs.errors import MaterialError

Action = Literal["issue", "renew-ca", "renew-serving", "trim-bundle", "none"]


@dataclass(frozen=True)
class Policy:
    """Lifetimes and thresholds. Defaults: CA 5 years, serving certificate 1 year, renew with 1/3 left."""

    ca_validity: timedelta = timedelta(days=5 * 365)
    validity: timedelta = timedelta(days=365)
    renew_fraction: float = 1 / 3
    # How long the previous CA stays in the caBundle after a CA renewal.
    overlap: timedelta = timedelta(hours=24)


@dataclass(frozen=True)
class Decision:
    action: Action
    reason: str

    @property
    def changes(self) -> bool:
        return self.action != "none"


def decide(material: Material | None, hosts: Sequence[str], now: datetime, policy: Policy) -> Decision:
    """What to do with ``material`` at ``now`` so that it stays valid for ``hosts``."""
    if material is None:
        return Decision("issue", "no certificate yet")
    try:
        material.check()
    except MaterialError as exc:
        return Decision("issue", f"existing certificate is unusable: {exc}")
    if _nearly_expired(material.ca, now, policy.renew_fraction):
        return Decision("renew-ca", f"CA expires at {material.ca.not_valid_after_utc.isoformat()}")
    if _nearly_expired(material.serving, now, policy.renew_fraction):
        return Decision(
            "renew-serving",
            f"serving certificate expires at {material.serving.not_valid_after_utc.isoformat()}",
        )
    missing = sorted(set(hosts) - set(material.hosts))
    if missing:
        return Decision("renew-serving", f"serving certificate does not cover {', '.join(missing)}")
    if len(material.bundle) > 1 and now - material.ca.not_valid_before_utc >= policy.overlap:
        return Decision("trim-bundle", "the previous CA's overlap period is over")
    return Decision("none", "certificates are valid")


def rotate(
    material: Material | None, decision: Decision, hosts: Sequence[str], now: datetime, policy: Policy
) -> Material:
    """The next Material for ``decision``; ``material`` itself when the action is ``none``."""
    if decision.action == "issue" or material is None:
        return issue(hosts, now, policy.ca_validity, policy.validity)
    if decision.action == "renew-ca":
        ca_cert, ca_key = new_ca(now, policy.ca_validity)
        cert, key = new_serving(ca_cert, ca_key, hosts, now, policy.validity)
        fresh = x509.load_pem_x509_certificate(ca_cert)
        # New CA first, then every still-valid CA of the old bundle: the API server trusts both meanwhile.
        bundle = bundle_pem([fresh, *_unexpired(material.bundle, now)])
        return Material(ca_cert=ca_cert, ca_key=ca_key, cert=cert, key=key, ca_bundle=bundle)
    if decision.action == "renew-serving":
        cert, key = new_serving(material.ca_cert, material.ca_key, hosts, now, policy.validity)
        bundle = bundle_pem([material.ca, *_unexpired(material.bundle, now)])
        return Material(material.ca_cert, material.ca_key, cert, key, bundle)
    if decision.action == "trim-bundle":
        return Material(material.ca_cert, material.ca_key, material.cert, material.key, material.ca_cert)
    return material


def _nearly_expired(cert: x509.Certificate, now: datetime, fraction: float) -> bool:
    lifetime = cert.not_valid_after_utc - cert.not_valid_before_utc
    return cert.not_valid_after_utc - now <= lifetime * fraction


def _unexpired(certs: Sequence[x509.Certificate], now: datetime) -> list[x509.Certificate]:
    return [c for c in certs if c.not_valid_after_utc > now]


def fingerprints(pem: bytes) -> list[str]:
    """SHA-256 fingerprints (hex) of the certificates in a PEM bundle, for logs and status output."""
    return [c.fingerprint(hashes.SHA256()).hex() for c in x509.load_pem_x509_certificates(pem)]
