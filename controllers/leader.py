"""Leader election on a ``coordination.k8s.io/v1`` Lease, so only one controller process writes.

:func:`next_lease` is the pure rule: create the Lease if absent, renew it if we hold it, take it over only
when the holder let it expire, otherwise leave it alone. :class:`LeaderElector` runs it every
``retry_period`` with optimistic concurrency (a PUT with the observed resourceVersion: of two candidates
racing for an expired Lease, one gets ``409 Conflict`` and stays a follower). A leader that cannot renew
within ``renew_deadline`` stops leading; on shutdown it releases the Lease so a standby takes over at once.
Defaults follow controller-runtime: lease 15 s, renew deadline 10 s, retry 2 s.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from api import constants
from kube import Api, ApiError
from kube.resources import LEASES
from kube.timestamps import micro_time, parse_timestamp

log = logging.getLogger(__name__)


def holder(lease: Mapping[str, Any] | None) -> str | None:
    return ((lease or {}).get("spec") or {}).get("holderIdentity") or None


def expired(lease: Mapping[str, Any], now: datetime) -> bool:
    spec = lease.get("spec") or {}
    parse = parse_timestamp
    renewed = parse(spec.get("renewTime")) or parse(spec.get("acquireTime"))
    duration = int(spec.get("leaseDurationSeconds") or 0)
    return renewed is None or now >= renewed + timedelta(seconds=duration)


def next_lease(
    lease: Mapping[str, Any] | None,
    identity: str,
    now: datetime,
    duration: int,
    name: str = constants.CONTROLLERS_LEASE,
    namespace: str = constants.NAMESPACE,
) -> dict[str, Any] | None:
    """The Lease to write to be (or stay) leader, or ``None`` when another holder's Lease is still valid."""
    stamp = micro_time(now)
    if lease is None:
        return {
            "apiVersion": "coordination.k8s.io/v1",
            "kind": "Lease",
            "metadata": {"name": name, "namespace": namespace},
            "spec": {
                "holderIdentity": identity,
                "leaseDurationSeconds": duration,
                "acquireTime": stamp,
                "renewTime": stamp,
                "leaseTransitions": 0,
            },
        }
    spec = dict(lease.get("spec") or {})
    current = holder(lease)
    if current == identity:
        spec.update(renewTime=stamp, leaseDurationSeconds=duration)
    elif current is None or expired(lease, now):
        spec.update(
            holderIdentity=identity,
            leaseDurationSeconds=duration,
            acquireTime=stamp,
            renewTime=stamp,
            leaseTransitions=int(spec.get("leaseTransitions") or 0) + (1 if current else 0),
        )
    else:
        return None
    return {**lease, "spec": spec}


class LeaderElector:
    def __init__(
        self,
        api: Api,
        identity: str,
        namespace: str = constants.NAMESPACE,
        name: str = constants.CONTROLLERS_LEASE,
        lease_duration: int = 15,
        renew_deadline: float = 10,
        retry_period: float = 2,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.api, self.identity, self.namespace, self.name = api, identity, namespace, name
        self.lease_duration, self.renew_deadline, self.retry_period = (
            lease_duration,
            renew_deadline,
            retry_period,
        )
        self.clock = clock
        self.leading = threading.Event()
        self.lost = threading.Event()
        self._last_renew: datetime | None = None

    def try_once(self) -> bool:
        """One acquire-or-renew attempt; returns whether we lead afterwards."""
        now = self.clock()
        try:
            lease = self.api.get(LEASES, self.namespace, self.name)
            body = next_lease(lease, self.identity, now, self.lease_duration, self.name, self.namespace)
            if body is None:
                return self._follow(now)
            if lease is None:
                self.api.create(LEASES, self.namespace, body)
            else:
                self.api.replace(LEASES, self.namespace, self.name, body)
        except ApiError as exc:
            if not exc.conflict:
                log.warning("lease %s/%s: %s", self.namespace, self.name, exc)
            return self._follow(now)
        except Exception as exc:  # the API server may be down; keep trying, the deadline decides
            log.warning("lease %s/%s: %s", self.namespace, self.name, exc)
            return self._follow(now)
        self._last_renew = now
        if not self.leading.is_set():
            log.info("%s became the leader", self.identity)
        self.leading.set()
        return True

    def _follow(self, now: datetime) -> bool:
        if self.leading.is_set():
            deadline = (self._last_renew or now) + timedelta(seconds=self.renew_deadline)
            if now < deadline:
                return True  # still within the renew deadline: keep leading, retry soon
            log.warning("%s lost the lease", self.identity)
            self.leading.clear()
            self.lost.set()
        return False

    def run(self, stop: threading.Event) -> None:
        while not stop.is_set():
            self.try_once()
            stop.wait(self.retry_period)
        self.release()

    def release(self) -> None:
        if not self.leading.is_set():
            return
        try:
            lease = self.api.get(LEASES, self.namespace, self.name)
            if lease is not None and holder(lease) == self.identity:
                spec = {**lease["spec"], "holderIdentity": None, "leaseDurationSeconds": 1}
                self.api.replace(LEASES, self.namespace, self.name, {**lease, "spec": spec})
        except Exception as exc:
            log.warning("releasing lease: %s", exc)
        self.leading.clear()
