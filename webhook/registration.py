"""The MutatingWebhookConfiguration that sends pod CREATEs to the webhook: a pure builder, and a thin apply.

:func:`build_configuration` returns the manifest; every choice in it is a reliability rule
(see docs/webhook.md):

- pods, ``CREATE`` only, ``admissionReviewVersions: [v1]``, ``matchPolicy: Equivalent``;
- ``failurePolicy: Ignore`` (a down webhook never blocks a pod) and ``sideEffects: None``;
- ``timeoutSeconds`` 3 (at most 5); the server answers by its own deadline before that;
- ``namespaceSelector`` leaves out kube-system, kube-public, kube-node-lease and Hodegos' own namespace by the
  immutable ``kubernetes.io/metadata.name`` label, so the webhook never admits its own pods;
- ``matchConditions`` skip mirror pods and pods opted out with ``hodegos.io/instrumentation: disabled`` before
  any HTTP call is made;
- ``clientConfig``: a URL (local runs: ``https://127.0.0.1:9443/mutate``) or the Service (the chart), with the
  caBundle that trusts the serving certificate (during a CA rotation: both CAs).

:func:`apply_configuration` server-side applies it with field manager ``hodegos``; :func:`apply_ca_bundle`
replaces only the caBundle (what a running rotation needs).
"""

from __future__ import annotations

import base64
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit

from api import constants
from kube import Api, KubeError
from kube.resources import MUTATING_WEBHOOKS
from webhook.errors import RegistrationError

TIMEOUT_SECONDS = 3
MAX_TIMEOUT_SECONDS = 5
SERVICE_PORT = 443
EXCLUDED_NAMESPACES: tuple[str, ...] = ("kube-system", "kube-public", "kube-node-lease", constants.NAMESPACE)
MIRROR_ANNOTATION = "kubernetes.io/config.mirror"

MATCH_CONDITIONS: tuple[dict[str, str], ...] = (
    {
        "name": "not-a-mirror-pod",
        "expression": (
            f"!has(object.metadata.annotations) || !('{MIRROR_ANNOTATION}' in object.metadata.annotations)"
        ),
    },
    {
        "name": "not-opted-out",
        "expression": (
            "!has(object.metadata.annotations)"
            f" || !('{constants.ANNOTATION_INSTRUMENTATION}' in object.metadata.annotations)"
            f" || object.metadata.annotations['{constants.ANNOTATION_INSTRUMENTATION}']"
            f" != '{constants.INSTRUMENTATION_DISABLED}'"
        ),
    },
)


def url_client_config(url: str) -> dict[str, Any]:
    """``clientConfig`` for a webhook reached by URL (must be https, no user info, query or fragment)."""
    parts = urlsplit(url)
    if parts.scheme != "https" or not parts.hostname:
        raise RegistrationError(f"webhook URL must be https://host[:port]/path, got {url!r}")
    if parts.username or parts.password or parts.query or parts.fragment:
        raise RegistrationError(f"webhook URL must not carry user info, a query or a fragment: {url!r}")
    return {"url": url}


def service_client_config(
    name: str = constants.WEBHOOK_SERVICE,
    namespace: str = constants.NAMESPACE,
    port: int = SERVICE_PORT,
    path: str = constants.WEBHOOK_PATH,
) -> dict[str, Any]:
    """``clientConfig`` for the webhook Service (what the chart installs)."""
    return {"service": {"name": name, "namespace": namespace, "port": port, "path": path}}


def build_configuration(
    ca_bundle: bytes,
    client_config: Mapping[str, Any],
    *,
    timeout_seconds: int = TIMEOUT_SECONDS,
    excluded_namespaces: Sequence[str] = EXCLUDED_NAMESPACES,
    name: str = constants.WEBHOOK_CONFIGURATION,
    owner: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The MutatingWebhookConfiguration manifest (pure).

    ``owner`` (a cluster-scoped object, e.g. the webhook's ClusterRole from the chart) becomes its owner
    reference, so uninstalling the chart garbage-collects the configuration the webhook registered itself.
    """
    if not 1 <= timeout_seconds <= MAX_TIMEOUT_SECONDS:
        raise RegistrationError(f"timeoutSeconds must be 1..{MAX_TIMEOUT_SECONDS}, got {timeout_seconds}")
    if b"-----BEGIN CERTIFICATE-----" not in ca_bundle:
        raise RegistrationError("caBundle must hold PEM certificates")
    if ("url" in client_config) == ("service" in client_config):
        raise RegistrationError("clientConfig needs exactly one of url or service")
    excluded = list(dict.fromkeys(excluded_namespaces))
    metadata: dict[str, Any] = {
        "name": name,
        "labels": {
            constants.LABEL_NAME: constants.WEBHOOK_SERVICE,
            constants.LABEL_PART_OF: constants.PRODUCT,
            constants.LABEL_MANAGED_BY: constants.PRODUCT,
        },
    }
    if owner is not None:
        meta = owner.get("metadata") or {}
        metadata["ownerReferences"] = [
            {
                "apiVersion": owner.get("apiVersion"),
                "kind": owner.get("kind"),
                "name": meta.get("name"),
                "uid": meta.get("uid"),
            }
        ]
    return {
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "MutatingWebhookConfiguration",
        "metadata": metadata,
        "webhooks": [
            {
                "name": constants.WEBHOOK_NAME,
                "admissionReviewVersions": ["v1"],
                "clientConfig": {**client_config, "caBundle": base64.b64encode(ca_bundle).decode()},
                "rules": [
                    {
                        "operations": ["CREATE"],
                        "apiGroups": [""],
                        "apiVersions": ["v1"],
                        "resources": ["pods"],
                        "scope": "Namespaced",
                    }
                ],
                "failurePolicy": "Ignore",
                "matchPolicy": "Equivalent",
                "sideEffects": "None",
                "timeoutSeconds": timeout_seconds,
                "reinvocationPolicy": "Never",
                "namespaceSelector": {
                    "matchExpressions": [
                        {"key": constants.LABEL_NAMESPACE_NAME, "operator": "NotIn", "values": excluded}
                    ]
                },
                "matchConditions": [dict(c) for c in MATCH_CONDITIONS],
            }
        ],
    }


def apply_configuration(api: Api, manifest: Mapping[str, Any]) -> dict[str, Any]:
    """Server-side apply ``manifest`` (field manager ``hodegos``, forced); returns the stored object."""
    name = manifest["metadata"]["name"]
    try:
        return api.apply(MUTATING_WEBHOOKS, manifest)
    except KubeError as exc:
        raise RegistrationError(
            f"applying MutatingWebhookConfiguration {name}: {exc}", getattr(exc, "code", None)
        ) from exc


def apply_ca_bundle(api: Api, ca_bundle: bytes, name: str = constants.WEBHOOK_CONFIGURATION) -> None:
    """Replace only our webhook entry's caBundle (a JSON patch guarded by a ``test`` of the entry's name).

    Not an apply: a partial apply by the same field manager would drop every field it no longer lists.
    """
    try:
        current = api.get(MUTATING_WEBHOOKS, None, name)
        if current is None:
            raise RegistrationError(f"MutatingWebhookConfiguration {name} does not exist", 404)
        names = [webhook.get("name") for webhook in current.get("webhooks") or []]
        if constants.WEBHOOK_NAME not in names:
            raise RegistrationError(
                f"MutatingWebhookConfiguration {name} has no webhook {constants.WEBHOOK_NAME}"
            )
        index = names.index(constants.WEBHOOK_NAME)
        api.json_patch(
            MUTATING_WEBHOOKS,
            None,
            name,
            [
                {"op": "test", "path": f"/webhooks/{index}/name", "value": constants.WEBHOOK_NAME},
                {
                    "op": "replace",
                    "path": f"/webhooks/{index}/clientConfig/caBundle",
                    "value": base64.b64encode(ca_bundle).decode(),
                },
            ],
        )
    except KubeError as exc:
        raise RegistrationError(
            f"updating the caBundle of {name}: {exc}", getattr(exc, "code", None)
        ) from exc


def unregister(api: Api, name: str = constants.WEBHOOK_CONFIGURATION) -> bool:
    """Delete the MutatingWebhookConfiguration (the emergency stop); ``False`` when it did not exist."""
    try:
        return api.delete(MUTATING_WEBHOOKS, None, name)
    except KubeError as exc:
        raise RegistrationError(f"deleting {name}: {exc}", getattr(exc, "code", None)) from exc
