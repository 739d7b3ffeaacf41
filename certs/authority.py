"""Issuing certificates: a self-signed CA and a serving certificate for the webhook's DNS names.

Keys are ECDSA P-256 (fast handshakes, accepted by every supported API server). A :class:`Material` is the
whole set the webhook needs: the CA (certificate and key, to sign the next serving certificate), the serving
certificate and key, and the caBundle the API server trusts, which during a CA rotation holds the new CA
*and* the previous one so connections verify against either (see :mod:`certs.rotation`).

Everything here is pure computation on bytes; files and Secrets are :mod:`certs.storing`'s job.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cached_property

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from api import constants
from certs.errors import MaterialError

# Certificates start a little in the past so a node whose clock lags still accepts them.
CLOCK_SKEW = timedelta(minutes=5)
LOCAL_HOSTS: tuple[str, ...] = ("localhost", "127.0.0.1")


def leaf_key_usage() -> x509.KeyUsage:
    """Key usage of an end-entity (server or client) certificate: signatures only (ECDSA keys)."""
    return x509.KeyUsage(
        digital_signature=True,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=False,
        crl_sign=False,
        encipher_only=False,
        decipher_only=False,
    )


def service_hosts(
    service: str = constants.WEBHOOK_SERVICE,
    namespace: str = constants.NAMESPACE,
    *,
    local: bool = True,
) -> list[str]:
    """The names the API server may use to reach the webhook Service (plus loopback for local runs)."""
    hosts = [
        service,
        f"{service}.{namespace}",
        f"{service}.{namespace}.svc",
        f"{service}.{namespace}.svc.cluster.local",
    ]
    return hosts + list(LOCAL_HOSTS) if local else hosts


@dataclass(frozen=True)
class Material:
    """PEM bytes of one certificate generation, and the caBundle trusting it (and maybe its predecessor)."""

    ca_cert: bytes
    ca_key: bytes
    cert: bytes
    key: bytes
    ca_bundle: bytes

    @cached_property
    def ca(self) -> x509.Certificate:
        return _load_cert(self.ca_cert, "CA certificate")

    @cached_property
    def serving(self) -> x509.Certificate:
        return _load_cert(self.cert, "serving certificate")

    @cached_property
    def bundle(self) -> list[x509.Certificate]:
        try:
            return x509.load_pem_x509_certificates(self.ca_bundle)
        except ValueError as exc:
            raise MaterialError(f"caBundle is not PEM certificates: {exc}") from exc

    @property
    def hosts(self) -> list[str]:
        """DNS names and IP addresses the serving certificate is valid for."""
        try:
            san = self.serving.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        except x509.ExtensionNotFound:
            return []
        names: list[str] = list(san.get_values_for_type(x509.DNSName))
        names += [str(ip) for ip in san.get_values_for_type(x509.IPAddress)]
        return names

    def check(self) -> None:
        """Raise :class:`MaterialError` unless the keys match and the serving cert is signed by the CA."""
        for pem, cert, what in ((self.ca_key, self.ca, "CA"), (self.key, self.serving, "serving")):
            key = _load_key(pem, f"{what} key")
            if key.public_key().public_numbers() != _ec_public(cert, what).public_numbers():
                raise MaterialError(f"the {what} key does not belong to the {what} certificate")
        try:
            self.serving.verify_directly_issued_by(self.ca)
        except (ValueError, TypeError, InvalidSignature) as exc:
            raise MaterialError("the serving certificate is not signed by the CA") from exc
        if self.ca.fingerprint(hashes.SHA256()) not in {c.fingerprint(hashes.SHA256()) for c in self.bundle}:
            raise MaterialError("the caBundle does not contain the current CA")


def new_ca(
    now: datetime, validity: timedelta, common_name: str = "hodegos-webhook-ca"
) -> tuple[bytes, bytes]:
    """A self-signed CA certificate and key (PEM), valid from ``now - CLOCK_SKEW`` for ``validity``."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - CLOCK_SKEW)
        .not_valid_after(now + validity)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(ski, critical=False)
        .sign(key, hashes.SHA256())
    )
    return _cert_pem(cert), _key_pem(key)


def new_serving(
    ca_cert: bytes, ca_key: bytes, hosts: Sequence[str], now: datetime, validity: timedelta
) -> tuple[bytes, bytes]:
    """A serving certificate and key (PEM) for ``hosts``, signed by the CA; never outlives the CA."""
    if not hosts:
        raise MaterialError("a serving certificate needs at least one host name")
    ca = _load_cert(ca_cert, "CA certificate")
    signer = _load_key(ca_key, "CA key")
    key = ec.generate_private_key(ec.SECP256R1())
    not_after = min(now + validity, ca.not_valid_after_utc)
    names: list[x509.GeneralName] = []
    for host in hosts:
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            names.append(x509.DNSName(host))
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hosts[0])]))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - CLOCK_SKEW)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(leaf_key_usage(), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(_ec_public(ca, "CA")), critical=False
        )
        .sign(signer, hashes.SHA256())
    )
    return _cert_pem(cert), _key_pem(key)


def issue(hosts: Sequence[str], now: datetime, ca_validity: timedelta, validity: timedelta) -> Material:
    """A fresh generation: new CA, serving certificate for ``hosts``, a caBundle holding only the new CA."""
    ca_cert, ca_key = new_ca(now, ca_validity)
    cert, key = new_serving(ca_cert, ca_key, hosts, now, validity)
    return Material(ca_cert=ca_cert, ca_key=ca_key, cert=cert, key=key, ca_bundle=ca_cert)


def bundle_pem(certs: Sequence[x509.Certificate]) -> bytes:
    """Concatenate certificates as PEM, dropping duplicates (by SHA-256 fingerprint), order kept."""
    seen: set[bytes] = set()
    out: list[bytes] = []
    for cert in certs:
        fingerprint = cert.fingerprint(hashes.SHA256())
        if fingerprint not in seen:
            seen.add(fingerprint)
            out.append(_cert_pem(cert))
    return b"".join(out)


def _cert_pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _load_cert(pem: bytes, what: str) -> x509.Certificate:
    try:
        return x509.load_pem_x509_certificate(pem)
    except ValueError as exc:
        raise MaterialError(f"{what} is not a PEM certificate: {exc}") from exc


def _load_key(pem: bytes, what: str) -> ec.EllipticCurvePrivateKey:
    try:
        key = serialization.load_pem_private_key(pem, password=None)
    except (ValueError, TypeError) as exc:
        raise MaterialError(f"{what} is not an unencrypted PEM private key: {exc}") from exc
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise MaterialError(f"{what} must be an EC key, got {type(key).__name__}")
    return key


def _ec_public(cert: x509.Certificate, what: str) -> ec.EllipticCurvePublicKey:
    public = cert.public_key()
    if not isinstance(public, ec.EllipticCurvePublicKey):
        raise MaterialError(f"the {what} certificate must carry an EC key")
    return public
