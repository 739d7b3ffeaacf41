"""Which workload a pod belongs to, from its owner reference and labels alone: one rule for every component.

The webhook (which record applies to a pod it admits), the node agent (which record a running pod's
detections go into) and the controllers (which workload's pods these are) all call :func:`candidates`, so
they can never pick different records for one pod.

- A pod with no controller owner is its own workload (``Pod``, named by ``name``, else ``generateName``).
- A ReplicaSet named ``<deployment>-<pod-template-hash>`` whose pods carry that hash maps to its Deployment.
- A Job named ``<cronjob>-<scheduled time>`` maps to its CronJob: the CronJob controller names each Job
  with the scheduled time in minutes since the epoch (eight or more digits for any time after 1973).
- Any other owner (StatefulSet, DaemonSet, a Job, a custom controller's kind) is taken literally.

The Deployment and CronJob steps are guesses from naming conventions, so a guess comes first and the
literal owner second; a caller keeps the first candidate that has an InstrumentedApplication.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from api import constants

CRONJOB_JOB = re.compile(r"^(?P<cronjob>.+)-\d{8,}$")


@dataclass(frozen=True)
class Workload:
    kind: str
    name: str

    @property
    def record_name(self) -> str:
        """The name of this workload's InstrumentedApplication."""
        return constants.record_name(self.kind, self.name)


def controller_owner(pod: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The owner reference marked ``controller`` (else the first one), or ``None``."""
    owners = (pod.get("metadata") or {}).get("ownerReferences") or []
    for ref in owners:
        if isinstance(ref, Mapping) and ref.get("controller"):
            return ref
    first = owners[0] if owners else None
    return first if isinstance(first, Mapping) else None


def pod_name(pod: Mapping[str, Any]) -> str:
    """The pod's name, or its ``generateName`` prefix at CREATE time (the API server has not named it yet)."""
    meta = pod.get("metadata") or {}
    return str(meta.get("name") or meta.get("generateName") or "").rstrip("-")


def candidates(pod: Mapping[str, Any]) -> list[Workload]:
    """Workloads the pod may belong to, most specific first. A bare pod is its own workload."""
    owner = controller_owner(pod)
    if owner is None:
        name = pod_name(pod)
        return [Workload("Pod", name)] if name else []
    kind, name = str(owner.get("kind", "")), str(owner.get("name", ""))
    if kind == "ReplicaSet":
        labels = (pod.get("metadata") or {}).get("labels") or {}
        template_hash = labels.get(constants.POD_TEMPLATE_HASH)
        if template_hash and name.endswith(f"-{template_hash}"):
            return [Workload("Deployment", name[: -len(template_hash) - 1]), Workload(kind, name)]
    if kind == "Job":
        match = CRONJOB_JOB.match(name)
        if match:
            return [Workload("CronJob", match["cronjob"]), Workload(kind, name)]
    return [Workload(kind, name)]


def workload_of(pod: Mapping[str, Any]) -> Workload | None:
    """The most likely workload (the first candidate), or ``None`` for a pod with neither owner nor name."""
    found = candidates(pod)
    return found[0] if found else None
