"""The pure admission core: an AdmissionReview (as parsed JSON) in, an :class:`Outcome` out.

No I/O happens here. Everything about the cluster comes through a :class:`ClusterView`, which the server
answers from an in-memory cache fed by watches, and the CLI answers from files.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from api.config import HodegosConfig
from api.models import InstrumentedApplication


class AdmissionRequestError(ValueError):
    """The body is not a usable admission.k8s.io/v1 AdmissionReview; the server answers 400 with this text."""


class ClusterView(Protocol):
    """Read-only answers the core needs; implementations must not call the API server."""

    def namespace(self, name: str) -> Mapping[str, Any] | None: ...

    def record(self, namespace: str, name: str) -> InstrumentedApplication | None: ...


@dataclass(frozen=True)
class ContainerDecision:
    """What happened to one container, and why."""

    container: str
    action: str  # "injected", "labelled" (go), "skipped"
    language: str | None
    reason: str


@dataclass
class Outcome:
    """The response AdmissionReview to send, and why it says what it says.

    ``result`` is one label for metrics: ``injected``, ``unchanged``, ``skipped`` or ``ignored``.
    ``patch`` is the JSONPatch operation list (empty when nothing changes).
    """

    response: dict[str, Any]
    result: str
    reason: str
    patch: list[dict[str, Any]] = field(default_factory=list)
    containers: list[ContainerDecision] = field(default_factory=list)


def review(body: Mapping[str, Any], view: ClusterView, config: HodegosConfig) -> Outcome:
    """Decide the admission for ``body``. Raises :class:`AdmissionRequestError` for malformed reviews.

    Always ``allowed: true``: the webhook never blocks a pod.
    """
    raise NotImplementedError("being written")


def allow_unchanged(uid: str, reason: str) -> Outcome:
    """An allowed response with no patch; what the server answers when the core is late or fails."""
    return Outcome(
        response={
            "apiVersion": "admission.k8s.io/v1",
            "kind": "AdmissionReview",
            "response": {"uid": uid, "allowed": True},
        },
        result="unchanged",
        reason=reason,
    )
