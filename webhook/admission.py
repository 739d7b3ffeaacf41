"""The pure admission core: an AdmissionReview (as parsed JSON) in, an :class:`Outcome` out.

No I/O happens here. Everything about the cluster comes through a :class:`ClusterView`, which the server
answers from an in-memory cache fed by watches, and ``hodegos explain`` answers from files.

The gates, in order (each one answers ``allowed`` with no patch and says why):

- not a CREATE of a Pod, a subresource, or a dry run;
- a mirror (static) pod, or a namespace in ``ignoredNamespaces``;
- the pod's own ``hodegos.io/instrumentation: disabled`` (it always wins);
- the pod already carries the injection marker (the webhook run on its own output is a no-op);
- no InstrumentedApplication for the pod's workload, or the record was rolled back.

Then :func:`webhook.injecting.plan` decides per container. The answer is always ``allowed: true``.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import orjson

from api import constants, workloads
from api.config import HodegosConfig
from api.models import InstrumentedApplication
from webhook import injecting
from webhook.errors import AdmissionRequestError
from webhook.injecting import ContainerDecision

API_VERSION = "admission.k8s.io/v1"
MIRROR_ANNOTATION = "kubernetes.io/config.mirror"


class ClusterView(Protocol):
    """Read-only answers the core needs; implementations must not call the API server."""

    def namespace(self, name: str) -> Mapping[str, Any] | None: ...

    def record(self, namespace: str, name: str) -> InstrumentedApplication | None: ...


@dataclass
class Outcome:
    """The response AdmissionReview to send, and why it says what it says.

    ``result`` is one label for metrics: ``injected`` (a patch), ``skipped`` (a pod Hodegos looked at and
    left alone, see ``reason``), or ``ignored`` (not a pod CREATE). ``patch`` is the JSONPatch operation list;
    ``pod`` the mutated pod the core built it from (``None`` when no plan was made).
    """

    response: dict[str, Any]
    result: str
    reason: str
    patch: list[dict[str, Any]] = field(default_factory=list)
    containers: list[ContainerDecision] = field(default_factory=list)
    workload: workloads.Workload | None = None
    pod: dict[str, Any] | None = None


def _envelope(uid: str, patch: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    response: dict[str, Any] = {"uid": uid, "allowed": True}
    if patch:
        response["patchType"] = "JSONPatch"
        response["patch"] = base64.b64encode(orjson.dumps(patch)).decode()
    return {"apiVersion": API_VERSION, "kind": "AdmissionReview", "response": response}


def allow_unchanged(uid: str, reason: str, result: str = "skipped") -> Outcome:
    """An allowed response with no patch; also what the server answers when the core is late or fails."""
    return Outcome(response=_envelope(uid), result=result, reason=reason)


def _request(body: Mapping[str, Any]) -> Mapping[str, Any]:
    if not isinstance(body, Mapping):
        raise AdmissionRequestError("the body must be a JSON object (an AdmissionReview)")
    if body.get("apiVersion") != API_VERSION or body.get("kind") != "AdmissionReview":
        raise AdmissionRequestError(
            f"expected apiVersion {API_VERSION} and kind AdmissionReview, "
            f"got {body.get('apiVersion')!r} and {body.get('kind')!r}"
        )
    request = body.get("request")
    if not isinstance(request, Mapping):
        raise AdmissionRequestError("the AdmissionReview has no request object")
    uid = request.get("uid")
    if not isinstance(uid, str) or not uid:
        raise AdmissionRequestError("the AdmissionReview request has no uid")
    return request


def _is_pod(request: Mapping[str, Any]) -> bool:
    kind = request.get("kind") or {}
    resource = request.get("resource") or {}
    return (kind.get("group", "") == "" and kind.get("kind") == "Pod") or (
        resource.get("group", "") == "" and resource.get("resource") == "pods"
    )


def review(body: Mapping[str, Any], view: ClusterView, config: HodegosConfig) -> Outcome:
    """Decide the admission for ``body``. Raises :class:`AdmissionRequestError` for malformed reviews."""
    request = _request(body)
    uid: str = request["uid"]
    operation = request.get("operation")
    if operation != "CREATE":
        return allow_unchanged(uid, f"{operation} requests are not mutated", "ignored")
    if not _is_pod(request) or request.get("subResource"):
        return allow_unchanged(uid, "not a pod", "ignored")
    if request.get("dryRun"):
        return allow_unchanged(uid, "dry run: nothing is injected", "ignored")
    pod = request.get("object")
    if not isinstance(pod, Mapping) or not isinstance(pod.get("spec"), Mapping):
        raise AdmissionRequestError("the request object is not a pod with a spec")
    if not isinstance(pod["spec"].get("containers", []), list):
        raise AdmissionRequestError("spec.containers must be a list")

    meta = pod.get("metadata") or {}
    annotations = meta.get("annotations") or {}
    namespace = str(request.get("namespace") or meta.get("namespace") or "")
    if MIRROR_ANNOTATION in annotations:
        return allow_unchanged(uid, "mirror pods are never mutated")
    if namespace in config.ignored_namespaces:
        return allow_unchanged(uid, f"namespace {namespace} is ignored")
    if annotations.get(constants.ANNOTATION_INSTRUMENTATION) == constants.INSTRUMENTATION_DISABLED:
        return allow_unchanged(uid, f"the pod opts out ({constants.ANNOTATION_INSTRUMENTATION}: disabled)")
    if constants.ANNOTATION_INJECTED in annotations:
        return allow_unchanged(uid, f"already injected (rules {annotations[constants.ANNOTATION_INJECTED]})")
    if any(
        isinstance(c, Mapping) and str(c.get("name", "")).startswith(injecting.INIT_PREFIX)
        for c in pod["spec"].get("initContainers") or []
    ):
        return allow_unchanged(uid, "already injected (a Hodegos init container is present)")

    candidates = workloads.candidates(pod)
    for workload in candidates:
        record = view.record(namespace, constants.record_name(workload.kind, workload.name))
        if record is None:
            continue
        if record.status and record.status.rollback:
            outcome = allow_unchanged(uid, f"injection rolled back: {record.status.rollback.reason}")
            outcome.workload = workload
            return outcome
        plan = injecting.plan(pod, namespace=namespace, record=record, workload=workload, config=config)
        reason = (
            "; ".join(f"{d.container}: {d.action} ({d.reason})" for d in plan.containers) or "no containers"
        )
        return Outcome(
            response=_envelope(uid, plan.patch),
            result="injected" if plan.patch else "skipped",
            reason=reason,
            patch=plan.patch,
            containers=plan.containers,
            workload=workload,
            pod=plan.pod,
        )
    names = ", ".join(f"{w.kind}/{w.name}" for w in candidates) or "an unnamed pod"
    return allow_unchanged(uid, f"no InstrumentedApplication for {names}")


__all__ = [
    "API_VERSION",
    "AdmissionRequestError",
    "ClusterView",
    "ContainerDecision",
    "Outcome",
    "allow_unchanged",
    "review",
]
