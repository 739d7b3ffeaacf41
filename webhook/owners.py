"""Which workload a pod belongs to, from its owner reference and labels alone (no API call).

A ReplicaSet named ``<deployment>-<pod-template-hash>`` maps to its Deployment, and a Job named
``<cronjob>-<scheduled minute>`` to its CronJob. Those are guesses from naming conventions, so
:func:`candidates` returns the guess first and the literal owner second; the caller keeps the first one that
has an InstrumentedApplication.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from api import constants

_CRONJOB_JOB = re.compile(r"^(?P<cronjob>.+)-\d{8,}$")


@dataclass(frozen=True)
class Workload:
    kind: str
    name: str


def controller_owner(pod: Mapping[str, Any]) -> Mapping[str, Any] | None:
    owners = (pod.get("metadata") or {}).get("ownerReferences") or []
    for ref in owners:
        if isinstance(ref, Mapping) and ref.get("controller"):
            return ref
    first = owners[0] if owners else None
    return first if isinstance(first, Mapping) else None


def pod_name(pod: Mapping[str, Any]) -> str:
    meta = pod.get("metadata") or {}
    return str(meta.get("name") or meta.get("generateName") or "").rstrip("-")


def candidates(pod: Mapping[str, Any]) -> list[Workload]:
    """Workloads the pod may belong to, most specific first. A bare pod is its own workload."""
    owner = controller_owner(pod)
    if owner is None:
        name = pod_name(pod)
        return [Workload("Pod", name)] if name else []
    kind, name = str(owner.get("kind", "")), str(owner.get("name", ""))
    labels = (pod.get("metadata") or {}).get("labels") or {}
    if kind == "ReplicaSet":
        template_hash = labels.get(constants.POD_TEMPLATE_HASH)
        if template_hash and name.endswith(f"-{template_hash}"):
            return [Workload("Deployment", name[: -len(template_hash) - 1]), Workload(kind, name)]
    if kind == "Job":
        match = _CRONJOB_JOB.match(name)
        if match:
            return [Workload("CronJob", match["cronjob"]), Workload(kind, name)]
    return [Workload(kind, name)]
