"""Certificates shared by every webhook replica through one Secret, the source of truth.

Several replicas start at once and each may find no certificate. :func:`sync` makes them agree: it reads
the Secret, decides (:func:`certs.rotation.decide`), and writes a new one only with optimistic concurrency
(create when absent, replace with the resourceVersion it read). A replica that loses the race re-reads and
takes the winner's material, so all replicas serve one certificate and trust one CA. The first
certificate is registered (the caBundle published) only after it won the Secret; on a rotation, as in
:mod:`certs.keeping`, a bundle trusting the old and the new CA goes first, then the Secret, then the local
files the server reloads. Two replicas rotating in the same instant (once a year) could publish each
other's bundle for the moment it takes the loser to re-read; the loser then publishes the winner's.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path

from api import constants
from certs import rotation, storing
from certs.authority import Material
from certs.errors import SecretError
from certs.rotation import Decision, Policy
from kube import Api, ApiError, KubeError
from kube.resources import SECRETS

log = logging.getLogger(__name__)
Publish = Callable[[bytes], None]
ATTEMPTS = 5


def sync(
    api: Api,
    directory: Path,
    hosts: Sequence[str],
    *,
    namespace: str = constants.NAMESPACE,
    name: str = constants.WEBHOOK_CERT_SECRET,
    policy: Policy | None = None,
    now: datetime | None = None,
    publish_bundle: Publish | None = None,
) -> tuple[Decision, Material]:
    """Agree on the shared certificate and put it in ``directory``; returns the decision and the material."""
    policy = policy or Policy()
    for _ in range(ATTEMPTS):
        when = now or datetime.now(UTC)
        try:
            secret = api.get(SECRETS, namespace, name)
        except KubeError as exc:
            raise SecretError(
                f"reading Secret {namespace}/{name}: {exc}", getattr(exc, "code", None)
            ) from exc
        current = storing.from_secret_data((secret or {}).get("data")) if secret else None
        decision = rotation.decide(current, hosts, when, policy)
        material = rotation.rotate(current, decision, hosts, when, policy)
        if decision.changes:
            if publish_bundle is not None and current is not None:
                # A rotation: trust old and new before anyone serves under the new CA.
                publish_bundle(_union(current, material))
            body = storing.secret_manifest(material, name, namespace)
            try:
                if secret is None:
                    api.create(SECRETS, namespace, body)
                else:
                    body["metadata"]["resourceVersion"] = secret["metadata"]["resourceVersion"]
                    api.replace(SECRETS, namespace, name, body)
            except ApiError as exc:
                if exc.conflict:
                    log.info("another replica wrote the certificate Secret first; taking its material")
                    continue
                raise SecretError(f"writing Secret {namespace}/{name}: {exc}", exc.code) from exc
            except KubeError as exc:
                raise SecretError(f"writing Secret {namespace}/{name}: {exc}") from exc
            log.info("certificates: %s (%s)", decision.action, decision.reason)
        if publish_bundle is not None:
            # The first certificate is registered only once it won the Secret, so no replica ever
            # registers a CA nobody serves under; afterwards this keeps an earlier registration true.
            publish_bundle(material.ca_bundle)
        if storing.read_directory(directory) != material:
            storing.write_directory(material, directory)
        return decision, material
    raise SecretError(f"Secret {namespace}/{name}: still conflicting after {ATTEMPTS} attempts", 409)


def _union(old: Material, new: Material) -> bytes:
    pem = new.ca_bundle
    for line in old.ca_bundle.split(b"-----END CERTIFICATE-----"):
        block = line.strip()
        if block and block + b"\n-----END CERTIFICATE-----" not in pem:
            pem += b"\n" + block + b"\n-----END CERTIFICATE-----\n"
    return pem


class SharedKeeper:
    """Runs :func:`sync` every ``interval`` seconds (and picks up another replica's rotation)."""

    def __init__(
        self,
        api: Api,
        directory: Path,
        hosts: Sequence[str],
        interval: float = 300.0,
        *,
        namespace: str = constants.NAMESPACE,
        name: str = constants.WEBHOOK_CERT_SECRET,
        policy: Policy | None = None,
        publish_bundle: Publish | None = None,
    ) -> None:
        self.api, self.directory, self.hosts, self.interval = api, directory, list(hosts), interval
        self.namespace, self.name, self.policy, self.publish_bundle = namespace, name, policy, publish_bundle
        self.last: Decision | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="cert-keeper", daemon=True)

    def sync(self) -> tuple[Decision, Material]:
        self.last, material = sync(
            self.api,
            self.directory,
            self.hosts,
            namespace=self.namespace,
            name=self.name,
            policy=self.policy,
            publish_bundle=self.publish_bundle,
        )
        return self.last, material

    def start(self) -> SharedKeeper:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.sync()
            except Exception:
                log.exception("certificate check failed; retrying in %.0fs", self.interval)
