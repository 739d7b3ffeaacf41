"""Keeping a certificate directory (and maybe the Secret and the caBundle) current: the shell of rotation.

:func:`keep` reads what exists, asks :func:`certs.rotation.decide`, and applies the result in the order that
never breaks a handshake: first ``publish_bundle`` (the MutatingWebhookConfiguration's caBundle, so the API
server trusts the new CA), then ``store`` (the Secret, if any), then the files the running server reloads.
:class:`Keeper` does that periodically from a daemon thread for ``hodegos webhook serve --manage-certs``.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path

from certs import rotation, storing
from certs.authority import Material
from certs.rotation import Decision, Policy

log = logging.getLogger(__name__)

Publish = Callable[[bytes], None]
Store = Callable[[Material], None]


def keep(
    directory: Path,
    hosts: Sequence[str],
    *,
    policy: Policy | None = None,
    now: datetime | None = None,
    publish_bundle: Publish | None = None,
    store: Store | None = None,
    current: Material | None = None,
    settle: float = 0.0,
) -> tuple[Decision, Material]:
    """Bring ``directory`` up to date; returns the decision taken and the material now in force.

    ``current`` overrides what the directory holds (e.g. the Secret's copy, which is the source of truth
    when several replicas share it). ``settle`` is how long to wait after publishing a new caBundle before the
    new certificate is served: API servers pick up webhook configuration changes through a watch, not at once.
    """
    policy = policy or Policy()
    now = now or datetime.now(UTC)
    existing = current if current is not None else storing.read_directory(directory)
    decision = rotation.decide(existing, hosts, now, policy)
    material = rotation.rotate(existing, decision, hosts, now, policy)
    if decision.changes:
        log.info("certificates: %s (%s)", decision.action, decision.reason)
        if publish_bundle is not None:
            publish_bundle(material.ca_bundle)
            if settle > 0 and existing is not None and material.cert != existing.cert:
                time.sleep(settle)
        if store is not None:
            store(material)
    if decision.changes or storing.read_directory(directory) != material:
        storing.write_directory(material, directory)
    return decision, material


class Keeper:
    """Runs :func:`keep` every ``interval`` seconds in a daemon thread; errors are logged and retried."""

    def __init__(
        self,
        directory: Path,
        hosts: Sequence[str],
        interval: float = 3600.0,
        *,
        policy: Policy | None = None,
        publish_bundle: Publish | None = None,
        store: Store | None = None,
        settle: float = 10.0,
    ) -> None:
        self.directory = directory
        self.settle = settle
        self.hosts = list(hosts)
        self.interval = interval
        self.policy = policy or Policy()
        self.publish_bundle = publish_bundle
        self.store = store
        self.last: Decision | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="cert-keeper", daemon=True)

    def start(self) -> Keeper:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.last, _ = keep(
                    self.directory,
                    self.hosts,
                    policy=self.policy,
                    publish_bundle=self.publish_bundle,
                    store=self.store,
                    settle=self.settle,
                )
            except Exception:
                log.exception("certificate check failed; retrying in %.0fs", self.interval)
