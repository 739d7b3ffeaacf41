"""The cluster's PKI: one CA, serving certificates, client certificates per identity, service-account keys.

The CA and serving certificates come from :mod:`certs.authority` (the same code that issues the webhook's);
client certificates are made here, because Kubernetes reads a client's user name from the certificate's
CN and its groups from its O attributes. Files are PEM, keys ``0600``. :func:`ensure` only creates what is
missing or about to expire, so restarting a cluster keeps its identity (and its kubeconfigs keep working).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from certs import authority
from localcluster import layout

CA_VALIDITY = timedelta(days=3650)
LEAF_VALIDITY = timedelta(days=365)
RENEW_BEFORE = timedelta(days=14)


@dataclass(frozen=True)
class Identity:
    """A client of the API server: user name (certificate CN) and groups (O attributes)."""

    user: str
    groups: tuple[str, ...] = ()

    @property
    def file_stem(self) -> str:
        return self.user.replace(":", "-")


ADMIN = Identity("hodegos-admin", ("system:masters",))
CONTROLLER_MANAGER = Identity("system:kube-controller-manager")
SCHEDULER = Identity("system:kube-scheduler")
# kwok plays the kubelet of every fake node; the Node authorizer would confine one node identity to its
# own node, so it gets cluster-admin like the kubelet simulator it is.
KWOK = Identity("hodegos:kwok", ("system:masters",))
# Real nodes: kube-proxy's built-in identity (bound to system:node-proxier by default), the API server's
# client certificate towards kubelets, and the aggregator's front-proxy client (for metrics-server).
KUBE_PROXY = Identity("system:kube-proxy")
KUBELET_CLIENT = Identity("kube-apiserver-kubelet-client", ("system:masters",))
FRONT_PROXY = Identity("front-proxy-client")
APISERVER_CLIENTS: tuple[Identity, ...] = (
    ADMIN,
    CONTROLLER_MANAGER,
    SCHEDULER,
    KWOK,
    KUBE_PROXY,
    KUBELET_CLIENT,
    FRONT_PROXY,
)


def node_identity(node: str) -> Identity:
    """A kubelet's identity: the Node authorizer confines ``system:node:<name>`` to its own node."""
    return Identity(f"system:node:{node}", ("system:nodes",))


@dataclass(frozen=True)
class Pki:
    """Paths of the PKI files of one cluster."""

    root: Path

    @property
    def ca_cert(self) -> Path:
        return self.root / "ca.crt"

    @property
    def ca_key(self) -> Path:
        return self.root / "ca.key"

    @property
    def apiserver_cert(self) -> Path:
        return self.root / "apiserver.crt"

    @property
    def apiserver_key(self) -> Path:
        return self.root / "apiserver.key"

    @property
    def loopback_cert(self) -> Path:
        """Serving certificate of controller-manager and scheduler (127.0.0.1 and localhost)."""
        return self.root / "loopback.crt"

    @property
    def loopback_key(self) -> Path:
        return self.root / "loopback.key"

    @property
    def sa_key(self) -> Path:
        return self.root / "sa.key"

    @property
    def sa_pub(self) -> Path:
        return self.root / "sa.pub"

    def kubelet_cert(self, node: str) -> Path:
        """The kubelet's serving certificate (its node name and IP), signed by the cluster CA."""
        return self.root / "nodes" / f"{node}.crt"

    def kubelet_key(self, node: str) -> Path:
        return self.root / "nodes" / f"{node}.key"

    def client_cert(self, identity: Identity) -> Path:
        return self.root / f"{identity.file_stem}.crt"

    def client_key(self, identity: Identity) -> Path:
        return self.root / f"{identity.file_stem}.key"


def apiserver_hosts() -> list[str]:
    """Names and addresses the API server's certificate is valid for."""
    service = ["kubernetes", "kubernetes.default", "kubernetes.default.svc"]
    return [
        "localhost",
        *service,
        f"kubernetes.default.svc.{layout.CLUSTER_DOMAIN}",
        layout.HOST,
        layout.SERVICE_IP,
        layout.GATEWAY_IP,  # where nodes and pods reach it (localcluster.netproxy)
    ]


def covers(cert_path: Path, hosts: Sequence[str]) -> bool:
    """True if the certificate at ``cert_path`` names every one of ``hosts`` (a SAN added later renews it)."""
    try:
        cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except (OSError, ValueError, x509.ExtensionNotFound):
        return False
    names = set(san.get_values_for_type(x509.DNSName))
    names |= {str(ip) for ip in san.get_values_for_type(x509.IPAddress)}
    return set(hosts) <= names


def ensure_kubelet_serving(pki: Pki, node: str, ip: str, now: datetime | None = None) -> None:
    """Issue the kubelet serving certificate of ``node`` unless a valid one for ``ip`` exists."""
    now = now or datetime.now(UTC)
    hosts = [node, ip]
    cert_path, key_path = pki.kubelet_cert(node), pki.kubelet_key(node)
    if not needs_renewal(cert_path, now) and key_path.is_file() and covers(cert_path, hosts):
        return
    cert, key = authority.new_serving(
        pki.ca_cert.read_bytes(), pki.ca_key.read_bytes(), hosts, now, LEAF_VALIDITY
    )
    _write(key_path, key, private=True)
    _write(cert_path, cert)


def new_client(
    ca_cert: bytes, ca_key: bytes, identity: Identity, now: datetime, validity: timedelta
) -> tuple[bytes, bytes]:
    """A client certificate and key (PEM) for ``identity``, signed by the CA."""
    ca = x509.load_pem_x509_certificate(ca_cert)
    signer = serialization.load_pem_private_key(ca_key, password=None)
    if not isinstance(signer, ec.EllipticCurvePrivateKey):
        raise TypeError("the cluster CA key must be an EC key")
    key = ec.generate_private_key(ec.SECP256R1())
    attributes = [x509.NameAttribute(NameOID.ORGANIZATION_NAME, group) for group in identity.groups]
    attributes.append(x509.NameAttribute(NameOID.COMMON_NAME, identity.user))
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name(attributes))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - authority.CLOCK_SKEW)
        .not_valid_after(min(now + validity, ca.not_valid_after_utc))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(authority.leaf_key_usage(), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
        .sign(signer, hashes.SHA256())
    )
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return cert.public_bytes(serialization.Encoding.PEM), pem


def new_signing_key() -> tuple[bytes, bytes]:
    """The service-account token signing key pair (private PEM, public PEM)."""
    key = ec.generate_private_key(ec.SECP256R1())
    private = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    public = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return private, public


def needs_renewal(cert_path: Path, now: datetime) -> bool:
    """True if the certificate is missing, unreadable, or expires within :data:`RENEW_BEFORE`."""
    try:
        cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
    except (OSError, ValueError):
        return True
    return cert.not_valid_after_utc - now < RENEW_BEFORE


def _write(path: Path, data: bytes, private: bool = False) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600 if private else 0o644)
    with os.fdopen(fd, "wb") as out:
        out.write(data)
    tmp.replace(path)


def ensure_client(pki: Pki, identity: Identity, now: datetime | None = None) -> None:
    """Issue a client certificate for ``identity`` unless a valid one exists."""
    now = now or datetime.now(UTC)
    if not needs_renewal(pki.client_cert(identity), now) and pki.client_key(identity).is_file():
        return
    _issue_client(pki, identity, now)


def _issue_client(pki: Pki, identity: Identity, now: datetime) -> None:
    cert, key = new_client(pki.ca_cert.read_bytes(), pki.ca_key.read_bytes(), identity, now, LEAF_VALIDITY)
    _write(pki.client_key(identity), key, private=True)
    _write(pki.client_cert(identity), cert)


def ensure(pki: Pki, extra_clients: Sequence[Identity] = (), now: datetime | None = None) -> list[str]:
    """Create whatever PKI file is missing or expiring; return the names of the files (re)written."""
    now = now or datetime.now(UTC)
    written: list[str] = []
    pki.root.mkdir(parents=True, exist_ok=True)
    renew_all = needs_renewal(pki.ca_cert, now) or not pki.ca_key.is_file()
    if renew_all:
        ca_cert, ca_key = authority.new_ca(
            now, CA_VALIDITY, common_name=f"hodegos-cluster-ca-{pki.root.parent.name}"
        )
        _write(pki.ca_key, ca_key, private=True)
        _write(pki.ca_cert, ca_cert)
        written.append(pki.ca_cert.name)
    ca_cert, ca_key = pki.ca_cert.read_bytes(), pki.ca_key.read_bytes()
    serving = (
        (pki.apiserver_cert, pki.apiserver_key, apiserver_hosts()),
        (pki.loopback_cert, pki.loopback_key, ["localhost", layout.HOST]),
    )
    for cert_path, key_path, hosts in serving:
        if (
            renew_all
            or needs_renewal(cert_path, now)
            or not key_path.is_file()
            or not covers(cert_path, hosts)
        ):
            cert, key = authority.new_serving(ca_cert, ca_key, hosts, now, LEAF_VALIDITY)
            _write(key_path, key, private=True)
            _write(cert_path, cert)
            written.append(cert_path.name)
    for identity in (*APISERVER_CLIENTS, *extra_clients):
        if (
            renew_all
            or needs_renewal(pki.client_cert(identity), now)
            or not pki.client_key(identity).is_file()
        ):
            _issue_client(pki, identity, now)
            written.append(pki.client_cert(identity).name)
    if not (pki.sa_key.is_file() and pki.sa_pub.is_file()):
        private, public = new_signing_key()
        _write(pki.sa_key, private, private=True)
        _write(pki.sa_pub, public)
        written.append(pki.sa_key.name)
    return written
