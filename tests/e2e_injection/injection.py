"""The real injection core applied to test pods: AdmissionReview in, mutated pod out (with jsonpatch)."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import jsonpatch

from api import constants
from api.config import HodegosConfig
from api.models import InstrumentedApplication
from webhook import admission, rules
from webhook.caches import StaticView

NAMESPACE = "shop"


def deployment_pod(deployment: str, containers: list[dict[str, Any]]) -> dict[str, Any]:
    """A pod as a Deployment's ReplicaSet submits it: generateName, no name yet, owned by the ReplicaSet."""
    template_hash = "6b8d4f7c9"
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "generateName": f"{deployment}-{template_hash}-",
            "namespace": NAMESPACE,
            "labels": {"app": deployment, constants.POD_TEMPLATE_HASH: template_hash},
            "ownerReferences": [
                {
                    "apiVersion": "apps/v1",
                    "kind": "ReplicaSet",
                    "name": f"{deployment}-{template_hash}",
                    "uid": "8c2e1b7a-3f4d-4c55-9e61-0d2b7f9a1c3e",
                    "controller": True,
                    "blockOwnerDeletion": True,
                }
            ],
        },
        "spec": {"containers": containers},
    }


def record(deployment: str, containers: list[dict[str, Any]]) -> InstrumentedApplication:
    """The InstrumentedApplication the node agent would have written for the Deployment."""
    return InstrumentedApplication.model_validate(
        {
            "metadata": {
                "name": constants.record_name("Deployment", deployment),
                "namespace": NAMESPACE,
            },
            "spec": {"workload": {"kind": "Deployment", "name": deployment}},
            "status": {"containers": containers},
        }
    )


def inject(
    pod: dict[str, Any], rec: InstrumentedApplication, config: HodegosConfig | None = None
) -> tuple[dict[str, Any], admission.Outcome]:
    """Run the webhook core on ``pod`` at CREATE and apply its patch; returns the mutated pod and outcome."""
    namespace = {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {
            "name": NAMESPACE,
            "annotations": {constants.ANNOTATION_INSTRUMENTATION: constants.INSTRUMENTATION_ENABLED},
        },
    }
    review = {
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "request": {
            "uid": "3f7e0c1d-2b4a-4e8f-9a6b-5c1d2e3f4a5b",
            "kind": {"group": "", "version": "v1", "kind": "Pod"},
            "resource": {"group": "", "version": "v1", "resource": "pods"},
            "requestKind": {"group": "", "version": "v1", "kind": "Pod"},
            "requestResource": {"group": "", "version": "v1", "resource": "pods"},
            "namespace": NAMESPACE,
            "operation": "CREATE",
            "userInfo": {"username": "system:serviceaccount:kube-system:replicaset-controller"},
            "object": copy.deepcopy(pod),
            "dryRun": False,
        },
    }
    view = StaticView(namespaces=[namespace], records=[rec])
    outcome = admission.review(review, view, config or HodegosConfig())
    assert outcome.response["response"]["allowed"] is True
    mutated = jsonpatch.apply_patch(pod, outcome.patch)
    return mutated, outcome


def agent_images(
    trees: dict[str, Path], config: HodegosConfig | None = None, base: Path | None = None
) -> dict[str, list[Path]]:
    """Image reference the rules put in init containers -> the image's layers: ``base`` (busybox) and the
    agent tree, per language given."""
    registry = (config or HodegosConfig()).image_registry
    out = {}
    for language, tree in trees.items():
        agent = rules.all_rules()[language].agent
        assert agent is not None
        out[f"{registry}/{agent.image}:{agent.version}"] = [*([base] if base else []), tree]
    return out


def container(pod: dict[str, Any], name: str, init: bool = False) -> dict[str, Any]:
    key = "initContainers" if init else "containers"
    for entry in pod["spec"].get(key) or []:
        if entry["name"] == name:
            return dict(entry)
    raise AssertionError(f"no {key[:-1]} named {name!r} in {[c['name'] for c in pod['spec'].get(key) or []]}")
