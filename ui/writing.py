"""Every write the UI makes, in one place: what it changes and how.

Objects Hodegos owns whole — a Destination, its Secret, ``hodegos-config`` — are written with server-side
apply under the one field manager, so the UI, the CLI and ``kubectl apply`` of the same object agree on
who owns which field. The answer goes into the informer cache at once, so the next page shows it.

Actions and SamplingRules are applied whole too (what the form shows is what is stored: see
:func:`apply_rule`).

A user's own Namespace or workload gets exactly one annotation changed, with a JSON merge patch (what
``kubectl annotate`` does): an apply from the same field manager would have to restate every field that
manager owns there, and the controllers own the pod template's rollout annotations under it, so a partial
apply would remove them and roll the workload.

A refused write raises :class:`ui.errors.WriteFailed` with the server's message (never a secret value:
bodies with secrets are never put in a message).
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from typing import Any

import yaml

from api import constants
from api.config import CONFIG_KEY, raw_mapping
from kube import ApiError, Informer, KubeError, Resource
from kube.resources import CONFIGMAPS, DESTINATIONS, NAMESPACES, SECRETS
from ui.cluster import WORKLOAD_RESOURCES, Cluster
from ui.errors import WriteFailed

ANNOTATION_STATES = ("enabled", "disabled", "inherit")
SECRET_COMPONENT = "destination-secret"


def _failed(exc: KubeError, what: str) -> WriteFailed:
    if isinstance(exc, ApiError):
        code = exc.code if exc.code in (403, 404, 409, 422) else 502
        return WriteFailed(f"{what}: {exc.message or exc.reason}", code)
    return WriteFailed(f"{what}: the API server did not answer ({exc})")


def _remember(cluster: Cluster, informer: Informer, obj: dict[str, Any]) -> dict[str, Any]:
    informer.remember(obj)
    cluster.touch()
    return obj


# -- annotations on the user's objects -------------------------------------------------------------------


def _annotation_patch(key: str, value: str | None) -> dict[str, Any]:
    return {"metadata": {"annotations": {key: value}}}


def _patch(cluster: Cluster, res: Resource, informer: Informer, namespace: str | None, name: str,
           patch: Mapping[str, Any], what: str) -> dict[str, Any]:  # fmt: skip
    try:
        return _remember(cluster, informer, cluster.api.merge_patch(res, namespace, name, patch))
    except KubeError as exc:
        raise _failed(exc, what) from exc


def instrumentation_value(state: str) -> str | None:
    """The annotation value for a toggle state (``inherit`` removes it)."""
    if state not in ANNOTATION_STATES:
        raise ValueError(f"state must be one of {', '.join(ANNOTATION_STATES)}, not {state!r}")
    return None if state == "inherit" else state


def set_namespace_instrumentation(cluster: Cluster, namespace: str, state: str) -> dict[str, Any]:
    value = instrumentation_value(state)
    patch = _annotation_patch(constants.ANNOTATION_INSTRUMENTATION, value)
    return _patch(cluster, NAMESPACES, cluster.namespaces, None, namespace, patch, f"namespace {namespace}")


def set_workload_instrumentation(
    cluster: Cluster, kind: str, namespace: str, name: str, state: str
) -> dict[str, Any]:
    value = instrumentation_value(state)
    patch = _annotation_patch(constants.ANNOTATION_INSTRUMENTATION, value)
    return _patch(
        cluster, WORKLOAD_RESOURCES[kind], cluster.workloads[kind], namespace, name, patch,
        f"{kind.lower()} {namespace}/{name}",
    )  # fmt: skip


def recover_from_rollback(cluster: Cluster, kind: str, namespace: str, name: str) -> dict[str, Any]:
    """Ask the instrumentor to clear the workload's rollback (it removes the annotation when done)."""
    patch = _annotation_patch(constants.ANNOTATION_RECOVER, "true")
    return _patch(
        cluster, WORKLOAD_RESOURCES[kind], cluster.workloads[kind], namespace, name, patch,
        f"{kind.lower()} {namespace}/{name}",
    )  # fmt: skip


# -- hodegos-config --------------------------------------------------------------------------------------


def config_mapping(cluster: Cluster) -> dict[str, Any]:
    """The YAML mapping now in ``hodegos-config`` (empty when missing or not a mapping)."""
    return raw_mapping(cluster.config_map())


def apply_config(cluster: Cluster, mapping: Mapping[str, Any]) -> dict[str, Any]:
    """Apply ``config.yaml`` = ``mapping``; conditional on the version read, so a concurrent edit wins."""
    current = cluster.config_map()
    meta: dict[str, Any] = {
        "name": constants.CONFIG_MAP,
        "namespace": cluster.namespace,
        "labels": {constants.LABEL_PART_OF: constants.PRODUCT},
    }
    if current is not None:
        meta["resourceVersion"] = current["metadata"].get("resourceVersion")
    body = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": meta,
        "data": {CONFIG_KEY: yaml.safe_dump(dict(mapping), sort_keys=False, default_flow_style=False)},
    }
    try:
        obj = cluster.api.apply(CONFIGMAPS, body)
    except KubeError as exc:
        raise _failed(exc, f"configmap {constants.CONFIG_MAP}") from exc
    return _remember(cluster, cluster.live_config.informer, obj)


# -- destinations ----------------------------------------------------------------------------------------


def secret_name(destination: str) -> str:
    return f"hodegos-destination-{destination}"


def destination_body(
    cluster: Cluster,
    name: str,
    type_name: str,
    signals: list[str],
    data: Mapping[str, str],
    has_secret: bool,
    disabled: bool = False,
) -> dict[str, Any]:
    spec: dict[str, Any] = {"type": type_name, "signals": signals, "data": dict(data), "disabled": disabled}
    if has_secret:
        spec["secretRef"] = {"name": secret_name(name)}
    return {
        "apiVersion": constants.API_VERSION,
        "kind": "Destination",
        "metadata": {
            "name": name,
            "namespace": cluster.namespace,
            "labels": {constants.LABEL_PART_OF: constants.PRODUCT},
        },
        "spec": spec,
    }


def apply_destination(
    cluster: Cluster, body: dict[str, Any], secret_values: Mapping[str, str] | None
) -> dict[str, Any]:
    """Apply the Destination, then its Secret (owned by it, so deleting one deletes both).

    ``secret_values`` is the Secret's whole content (field -> value); ``None`` leaves the Secret as is.
    """
    name = body["metadata"]["name"]
    try:
        dest = cluster.api.apply(DESTINATIONS, body)
    except KubeError as exc:
        raise _failed(exc, f"destination {name}") from exc
    _remember(cluster, cluster.destinations, dest)
    if secret_values is not None:
        _apply_secret(cluster, dest, secret_values)
    return dest


def _apply_secret(cluster: Cluster, dest: Mapping[str, Any], values: Mapping[str, str]) -> None:
    meta = dest["metadata"]
    body = {
        "apiVersion": "v1",
        "kind": "Secret",
        "type": "Opaque",
        "metadata": {
            "name": secret_name(meta["name"]),
            "namespace": cluster.namespace,
            "labels": {
                constants.LABEL_PART_OF: constants.PRODUCT,
                constants.LABEL_MANAGED_BY: constants.PRODUCT,
                constants.LABEL_COMPONENT: SECRET_COMPONENT,
            },
            "ownerReferences": [
                {
                    "apiVersion": constants.API_VERSION,
                    "kind": "Destination",
                    "name": meta["name"],
                    "uid": meta["uid"],
                    "blockOwnerDeletion": False,
                }
            ],
        },
        "data": dict(values),
    }
    try:
        secret = cluster.api.apply(SECRETS, body)
    except KubeError as exc:
        # NB: the message names the Secret only; the body (with the values) is never put into it
        raise _failed(exc, f"secret {secret_name(meta['name'])}") from exc
    _remember(cluster, cluster.secrets, secret)


def encode(value: str) -> str:
    return base64.b64encode(value.encode()).decode()


def set_destination_disabled(cluster: Cluster, name: str, disabled: bool) -> dict[str, Any]:
    """Apply the destination's current spec with ``disabled`` changed (the rest restated as it is)."""
    current = cluster.destination(name)
    if current is None:
        raise WriteFailed(f"destination {name} does not exist", 404)
    spec = dict(current.get("spec") or {})
    spec["disabled"] = disabled
    body = {
        "apiVersion": constants.API_VERSION,
        "kind": "Destination",
        "metadata": {"name": name, "namespace": cluster.namespace},
        "spec": spec,
    }
    return apply_destination(cluster, body, None)


def delete_destination(cluster: Cluster, name: str) -> None:
    """Delete the Destination and the Secret the UI made for it (the owner reference would, later)."""
    current = cluster.destination(name)
    try:
        cluster.api.delete(DESTINATIONS, cluster.namespace, name)
        cluster.destinations.forget(cluster.namespace, name)
        cluster.touch()
        ref = ((current or {}).get("spec") or {}).get("secretRef") or {}
        secret = cluster.secrets.get(cluster.namespace, ref.get("name", ""))
        labels = ((secret or {}).get("metadata") or {}).get("labels") or {}
        if secret is not None and labels.get(constants.LABEL_COMPONENT) == SECRET_COMPONENT:
            cluster.api.delete(SECRETS, cluster.namespace, ref["name"])
            cluster.secrets.forget(cluster.namespace, ref["name"])
    except KubeError as exc:
        raise _failed(exc, f"destination {name}") from exc


# -- actions and sampling rules --------------------------------------------------------------------------


def _leftovers(have: Any, want: Any) -> Any:
    """A merge patch removing what ``have`` holds beyond ``want`` (mappings compared key by key)."""
    if not isinstance(have, Mapping) or not isinstance(want, Mapping):
        return None
    patch: dict[str, Any] = {}
    for key, value in have.items():
        if key not in want:
            patch[key] = None
        else:
            inner = _leftovers(value, want[key])
            if inner:
                patch[key] = inner
    return patch or None


def apply_rule(cluster: Cluster, res: Resource, body: dict[str, Any]) -> dict[str, Any]:
    """Apply an Action or SamplingRule as the form describes it, whole.

    Server-side apply removes what the UI wrote before and left out now; a field another manager wrote (an
    object made with ``kubectl``, say) stays, so whatever the stored spec still holds beyond the form is
    removed with a merge patch conditional on the version just written: saved is what the form showed.
    """
    meta = body["metadata"]
    what = f"{res.kind.lower()} {meta['name']}"
    informer = cluster.rule_informer(res.kind)
    try:
        obj = cluster.api.apply(res, body)
        extra = _leftovers(obj.get("spec") or {}, body["spec"])
        if extra:
            patch = {"metadata": {"resourceVersion": obj["metadata"]["resourceVersion"]}, "spec": extra}
            obj = cluster.api.merge_patch(res, meta["namespace"], meta["name"], patch)
    except KubeError as exc:
        raise _failed(exc, what) from exc
    return _remember(cluster, informer, obj)


def set_rule_disabled(cluster: Cluster, res: Resource, name: str, disabled: bool) -> dict[str, Any]:
    """Apply the object's current spec with ``disabled`` changed (the rest restated as it is)."""
    current = cluster.rule_informer(res.kind).get(cluster.namespace, name)
    if current is None:
        raise WriteFailed(f"{res.kind} {name} does not exist", 404)
    spec = dict(current.get("spec") or {})
    spec["disabled"] = disabled
    body = {
        "apiVersion": constants.API_VERSION,
        "kind": res.kind,
        "metadata": {"name": name, "namespace": cluster.namespace},
        "spec": spec,
    }
    try:
        obj = cluster.api.apply(res, body)
    except KubeError as exc:
        raise _failed(exc, f"{res.kind.lower()} {name}") from exc
    return _remember(cluster, cluster.rule_informer(res.kind), obj)


def delete_rule(cluster: Cluster, res: Resource, name: str) -> None:
    try:
        cluster.api.delete(res, cluster.namespace, name)
    except KubeError as exc:
        raise _failed(exc, f"{res.kind.lower()} {name}") from exc
    cluster.rule_informer(res.kind).forget(cluster.namespace, name)
    cluster.touch()
