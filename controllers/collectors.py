"""The objects behind each CollectorsGroup (the autoscaler's decision), as pure functions.

Gateway: ConfigMap + Deployment + Service (OTLP gRPC/HTTP) + HorizontalPodAutoscaler. While tail sampling
is on, the gateway is a StatefulSet instead, with a headless Service giving each pod a stable DNS name, so
node collectors can send each trace to the pod that owns it (:mod:`pipelines.affinity`). Node collector:
ConfigMap + DaemonSet with host ports, so agents export to ``$(HODEGOS_HOST_IP):4317/4318``.

Memory sizing (limiter, ``GOMEMLIMIT``, tail sampling's buffer) is :mod:`pipelines.sizing`; the rendered
config already carries it. The HPA targets 75 % CPU utilisation and 75 % of GOMEMLIMIT as average memory;
it scales up by up to 2 pods every 15 s with no stabilisation and down by 1 pod a minute after 15 minutes
of calm.

A hash of the rendered configuration and of the referenced Secrets' data sits on the pod template
(``hodegos.io/config-hash``), so a change to either rolls the collectors and nothing else does.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from typing import Any

import yaml

from api import constants
from api.models import CollectorResources
from pipelines.sizing import Sizing, sizing

CONFIG_KEY = "config.yaml"
CONFIG_DIR = "/conf"
PODS_SERVICE = f"{constants.GATEWAY_NAME}-pods"  # headless: <gateway>-<i>.<this>.<ns>.svc per pod


def config_text(config: Mapping[str, Any]) -> str:
    return yaml.safe_dump(config, sort_keys=True, default_flow_style=False)


def config_hash(text: str, secrets: Mapping[str, Mapping[str, str] | None]) -> str:
    """sha256 over the config and every referenced Secret's data (a missing Secret hashes as absent)."""
    digest = hashlib.sha256(text.encode())
    for name in sorted(secrets):
        digest.update(json.dumps([name, secrets[name]], sort_keys=True).encode())
    return digest.hexdigest()[:16]


def _labels(name: str, role: str) -> dict[str, str]:
    return {
        constants.LABEL_NAME: name,
        constants.LABEL_COMPONENT: f"{role}-collector",
        constants.LABEL_PART_OF: constants.PRODUCT,
        constants.LABEL_MANAGED_BY: constants.PRODUCT,
    }


def _owner(group: Mapping[str, Any]) -> list[dict[str, Any]]:
    meta = group["metadata"]
    return [
        {
            "apiVersion": constants.API_VERSION,
            "kind": "CollectorsGroup",
            "name": meta["name"],
            "uid": meta["uid"],
            "controller": True,
            "blockOwnerDeletion": True,
        }
    ]


def _meta(group: Mapping[str, Any], name: str, role: str) -> dict[str, Any]:
    return {
        "name": name,
        "namespace": group["metadata"]["namespace"],
        "labels": _labels(group["metadata"]["name"], role),
        "ownerReferences": _owner(group),
    }


ROOT_USER = {"runAsUser": 0, "runAsGroup": 0, "runAsNonRoot": False}


def _container(
    image: str,
    resources: CollectorResources,
    size: Sizing,
    env: Sequence[Mapping[str, Any]],
    host_ports: bool,
) -> dict[str, Any]:
    limits = {"memory": f"{resources.memory_limit_mib}Mi"}
    if resources.cpu_limit_millis:
        limits["cpu"] = f"{resources.cpu_limit_millis}m"
    ports = []
    for pname, port in (("otlp-grpc", constants.OTLP_GRPC_PORT), ("otlp-http", constants.OTLP_HTTP_PORT)):
        entry: dict[str, Any] = {"name": pname, "containerPort": port, "protocol": "TCP"}
        if host_ports:
            entry["hostPort"] = port
        ports.append(entry)
    ports.append({"name": "metrics", "containerPort": constants.COLLECTOR_METRICS_PORT, "protocol": "TCP"})
    container: dict[str, Any] = {
        "name": "collector",
        "image": image,
        "args": [f"--config={CONFIG_DIR}/{CONFIG_KEY}"],
        "env": [
            {"name": "GOMEMLIMIT", "value": f"{size.gomemlimit_mib}MiB"},
            {"name": constants.ENV_NODE_IP, "valueFrom": {"fieldRef": {"fieldPath": "status.hostIP"}}},
            {"name": constants.ENV_NODE_NAME, "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}},
            *[dict(e) for e in env],
        ],
        "ports": ports,
        "resources": {
            "requests": {
                "memory": f"{resources.memory_request_mib}Mi",
                "cpu": f"{resources.cpu_request_millis}m",
            },
            "limits": limits,
        },
        "readinessProbe": {"httpGet": {"path": "/", "port": constants.COLLECTOR_HEALTH_PORT}},
        "livenessProbe": {"httpGet": {"path": "/", "port": constants.COLLECTOR_HEALTH_PORT}},
        "volumeMounts": [{"name": "config", "mountPath": CONFIG_DIR, "readOnly": True}],
    }
    # Restricted everywhere but in the user: the node collector reads pod logs, which the kubelet writes
    # as root with mode 0640, so it runs as uid 0 (owner access only: every capability is dropped); the
    # gateway runs as the image's non-root user.
    container["securityContext"] = {
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "capabilities": {"drop": ["ALL"]},
        "seccompProfile": {"type": "RuntimeDefault"},
        **(ROOT_USER if host_ports else {"runAsNonRoot": True}),
    }
    if host_ports:  # the node collector reads pod logs and host metrics
        container["volumeMounts"] += [
            {"name": "pod-logs", "mountPath": "/var/log/pods", "readOnly": True},
            {
                "name": "hostfs",
                "mountPath": "/hostfs",
                "readOnly": True,
                "mountPropagation": "HostToContainer",
            },
        ]
    return container


def _pod_template(
    group: Mapping[str, Any], container: dict[str, Any], config_map: str, digest: str, service_account: bool
) -> dict[str, Any]:
    labels = _labels(group["metadata"]["name"], group["spec"]["role"])
    volumes: list[dict[str, Any]] = [{"name": "config", "configMap": {"name": config_map}}]
    if group["spec"]["role"] == "node":
        volumes += [
            {"name": "pod-logs", "hostPath": {"path": "/var/log/pods", "type": "Directory"}},
            {"name": "hostfs", "hostPath": {"path": "/", "type": "Directory"}},
        ]
    spec: dict[str, Any] = {"containers": [container], "volumes": volumes}
    if service_account:
        # The chart's ServiceAccounts are named after the groups (the node collector's reads pods for
        # k8s_attributes; the gateway's mounts no token).
        spec["serviceAccountName"] = group["metadata"]["name"]
        spec["automountServiceAccountToken"] = group["spec"]["role"] == "node"
    return {
        "metadata": {"labels": labels, "annotations": {constants.ANNOTATION_CONFIG_HASH: digest}},
        "spec": spec,
    }


def resources_of(group: Mapping[str, Any]) -> CollectorResources:
    return CollectorResources.model_validate((group.get("spec") or {}).get("resources") or {})


def desired_objects(
    group: Mapping[str, Any],
    config: Mapping[str, Any],
    secrets: Mapping[str, Mapping[str, str] | None],
    image: str,
    env: Sequence[Mapping[str, Any]] = (),
    *,
    stateful: bool = False,
    service_account: bool = False,
) -> tuple[list[dict[str, Any]], str]:
    """Every object the group owns, and the config hash.

    ``secrets`` maps each Secret the config reads to its data (``None`` when missing) for the hash; ``env``
    is the container env feeding secret fields (``secretKeyRef`` entries from the renderer); ``stateful``
    makes the gateway a StatefulSet with per-pod DNS names (tail sampling's trace affinity).
    """
    role = group["spec"]["role"]
    name = group["metadata"]["name"]
    resources = resources_of(group)
    size = sizing(resources)
    text = config_text(config)
    digest = config_hash(text, secrets)
    config_map = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": _meta(group, name, role),
        "data": {CONFIG_KEY: text},
    }
    selector = {"matchLabels": {constants.LABEL_NAME: name, constants.LABEL_PART_OF: constants.PRODUCT}}
    container = _container(image, resources, size, env, host_ports=role == "node")
    template = _pod_template(group, container, name, digest, service_account)
    if role == "node":
        daemonset = {
            "apiVersion": "apps/v1",
            "kind": "DaemonSet",
            "metadata": _meta(group, name, role),
            "spec": {"selector": selector, "template": template},
        }
        return [config_map, daemonset], digest
    workload: dict[str, Any] = {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet" if stateful else "Deployment",
        "metadata": _meta(group, name, role),
        "spec": {"selector": selector, "template": template},
    }
    if stateful:
        # Pods start and stop in parallel: ordering buys nothing here, and a scale-up should be quick.
        workload["spec"].update(serviceName=PODS_SERVICE, podManagementPolicy="Parallel")
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": _meta(group, name, role),
        "spec": {
            "selector": selector["matchLabels"],
            "ports": [
                {
                    "name": "otlp-grpc",
                    "port": constants.OTLP_GRPC_PORT,
                    "targetPort": constants.OTLP_GRPC_PORT,
                },
                {
                    "name": "otlp-http",
                    "port": constants.OTLP_HTTP_PORT,
                    "targetPort": constants.OTLP_HTTP_PORT,
                },
            ],
        },
    }
    objects = [config_map, workload, service, hpa(group, resources, size, workload["kind"])]
    if stateful:
        headless = {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": _meta(group, PODS_SERVICE, role),
            "spec": {
                "clusterIP": "None",
                "publishNotReadyAddresses": True,
                "selector": selector["matchLabels"],
                "ports": [
                    {
                        "name": "otlp-grpc",
                        "port": constants.OTLP_GRPC_PORT,
                        "targetPort": constants.OTLP_GRPC_PORT,
                    }
                ],
            },
        }
        objects.insert(3, headless)
    return objects, digest


def hpa(
    group: Mapping[str, Any], resources: CollectorResources, size: Sizing, kind: str = "Deployment"
) -> dict[str, Any]:
    name = group["metadata"]["name"]
    return {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": _meta(group, name, "gateway"),
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": kind, "name": name},
            "minReplicas": resources.min_replicas,
            "maxReplicas": max(resources.min_replicas, resources.max_replicas),
            "metrics": [
                {
                    "type": "Resource",
                    "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 75}},
                },
                {
                    "type": "Resource",
                    "resource": {
                        "name": "memory",
                        "target": {
                            "type": "AverageValue",
                            "averageValue": f"{size.gomemlimit_mib * 3 // 4}Mi",
                        },
                    },
                },
            ],
            "behavior": {
                "scaleUp": {
                    "stabilizationWindowSeconds": 0,
                    "selectPolicy": "Max",
                    "policies": [{"type": "Pods", "value": 2, "periodSeconds": 15}],
                },
                "scaleDown": {
                    "stabilizationWindowSeconds": resources.scale_down_window_seconds,
                    "selectPolicy": "Min",
                    "policies": [
                        {"type": "Pods", "value": 1, "periodSeconds": 60},
                        {"type": "Percent", "value": 25, "periodSeconds": 60},
                    ],
                },
            },
        },
    }


def gateway_endpoint(namespace: str) -> str:
    return f"{constants.GATEWAY_NAME}.{namespace}.svc.cluster.local:{constants.OTLP_GRPC_PORT}"


def gateway_pod_endpoints(namespace: str, replicas: int) -> list[str]:
    """The stable per-pod OTLP endpoints of a StatefulSet gateway with ``replicas`` pods, in pod order."""
    return [
        f"{constants.GATEWAY_NAME}-{i}.{PODS_SERVICE}.{namespace}.svc.cluster.local:{constants.OTLP_GRPC_PORT}"
        for i in range(replicas)
    ]


def workload_ready(obj: Mapping[str, Any] | None) -> tuple[bool, str, str]:
    """``(ready, reason, message)`` for the group's Deployment or DaemonSet."""
    if obj is None:
        return False, "Creating", "the collector workload does not exist yet"
    status = obj.get("status") or {}
    if obj.get("kind") == "DaemonSet":
        want, have = status.get("desiredNumberScheduled", 0), status.get("numberAvailable", 0)
        if want and have >= want:
            return True, "AllPodsAvailable", f"{have}/{want} node collectors available"
        return False, "PodsUnavailable", f"{have}/{want} node collectors available"
    have = status.get("availableReplicas", 0)
    want = (obj.get("spec") or {}).get("replicas", 1)
    if have >= 1:
        return True, "Available", f"{have}/{want} gateway replicas available"
    return False, "NoAvailableReplicas", f"0/{want} gateway replicas available"
