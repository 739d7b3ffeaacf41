"""What a cluster with real nodes runs in ``kube-system``: CoreDNS behind ``kube-dns``, and metrics-server.

Manifests are data (functions returning objects), applied server-side by :func:`apply`. Images are the ones
:mod:`toolchain.nodes` builds and every node imports at start (``imagePullPolicy: Never``: there is no
registry to pull from).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from kube import Api
from kube.resources import (
    CLUSTERROLEBINDINGS,
    CLUSTERROLES,
    CONFIGMAPS,
    DEPLOYMENTS,
    ROLEBINDINGS,
    SERVICEACCOUNTS,
    SERVICES,
    Resource,
)
from localcluster import layout

APISERVICES = Resource("apiregistration.k8s.io", "v1", "apiservices", "APIService", namespaced=False)
NAMESPACE = "kube-system"
LABELS = {"app.kubernetes.io/managed-by": "hodegos"}
COREFILE = f"""\
.:53 {{
    errors
    health :8080
    ready :8181
    kubernetes {layout.CLUSTER_DOMAIN} in-addr.arpa ip6.arpa {{
        pods insecure
        fallthrough in-addr.arpa ip6.arpa
        ttl 30
    }}
    prometheus :9153
    cache 30
    loop
    reload
    loadbalance
}}
"""
SA_CA = "/var/run/secrets/kubernetes.io/serviceaccount/ca.crt"


def _meta(name: str, namespace: str | None = NAMESPACE, **labels: str) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "labels": {**LABELS, **labels}}
    if namespace:
        meta["namespace"] = namespace
    return meta


def _binding(
    kind: str, name: str, role_kind: str, role: str, sa: str, namespace: str | None = None
) -> dict[str, Any]:
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": kind,
        "metadata": _meta(name, namespace),
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": role_kind, "name": role},
        "subjects": [{"kind": "ServiceAccount", "name": sa, "namespace": NAMESPACE}],
    }


def coredns(image: str) -> list[tuple[Any, dict[str, Any]]]:
    labels = {"k8s-app": "kube-dns"}
    return [
        (SERVICEACCOUNTS, {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": _meta("coredns")}),
        (
            CLUSTERROLES,
            {
                "apiVersion": "rbac.authorization.k8s.io/v1",
                "kind": "ClusterRole",
                "metadata": _meta("system:coredns", None),
                "rules": [
                    {
                        "apiGroups": [""],
                        "resources": ["endpoints", "services", "pods", "namespaces"],
                        "verbs": ["list", "watch"],
                    },
                    {
                        "apiGroups": ["discovery.k8s.io"],
                        "resources": ["endpointslices"],
                        "verbs": ["list", "watch"],
                    },
                ],
            },
        ),
        (
            CLUSTERROLEBINDINGS,
            _binding("ClusterRoleBinding", "system:coredns", "ClusterRole", "system:coredns", "coredns"),
        ),
        (
            CONFIGMAPS,
            {
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": _meta("coredns"),
                "data": {"Corefile": COREFILE},
            },
        ),
        (
            DEPLOYMENTS,
            {
                "apiVersion": "apps/v1",
                "kind": "Deployment",
                "metadata": _meta("coredns", **labels),
                "spec": {
                    "replicas": 1,
                    "selector": {"matchLabels": labels},
                    "template": {
                        "metadata": {"labels": labels},
                        "spec": {
                            "serviceAccountName": "coredns",
                            "priorityClassName": "system-cluster-critical",
                            "dnsPolicy": "Default",
                            "containers": [
                                {
                                    "name": "coredns",
                                    "image": image,
                                    "imagePullPolicy": "Never",
                                    "args": ["-conf", "/etc/coredns/Corefile"],
                                    "ports": [
                                        {"name": "dns", "containerPort": 53, "protocol": "UDP"},
                                        {"name": "dns-tcp", "containerPort": 53, "protocol": "TCP"},
                                        {"name": "metrics", "containerPort": 9153, "protocol": "TCP"},
                                    ],
                                    "resources": {
                                        "requests": {"cpu": "10m", "memory": "32Mi"},
                                        "limits": {"memory": "128Mi"},
                                    },
                                    "readinessProbe": {
                                        "httpGet": {"path": "/ready", "port": 8181},
                                        "periodSeconds": 2,
                                    },
                                    "livenessProbe": {
                                        "httpGet": {"path": "/health", "port": 8080},
                                        "periodSeconds": 10,
                                    },
                                    "volumeMounts": [
                                        {"name": "config", "mountPath": "/etc/coredns", "readOnly": True}
                                    ],
                                }
                            ],
                            "volumes": [{"name": "config", "configMap": {"name": "coredns"}}],
                        },
                    },
                },
            },
        ),
        (
            SERVICES,
            {
                "apiVersion": "v1",
                "kind": "Service",
                "metadata": _meta("kube-dns", **labels, **{"kubernetes.io/name": "CoreDNS"}),
                "spec": {
                    "selector": labels,
                    "clusterIP": layout.DNS_IP,
                    "ports": [
                        {"name": "dns", "port": 53, "protocol": "UDP"},
                        {"name": "dns-tcp", "port": 53, "protocol": "TCP"},
                        {"name": "metrics", "port": 9153, "protocol": "TCP"},
                    ],
                },
            },
        ),
    ]


def metrics_server(image: str) -> list[tuple[Any, dict[str, Any]]]:
    labels = {"k8s-app": "metrics-server"}
    return [
        (
            SERVICEACCOUNTS,
            {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": _meta("metrics-server")},
        ),
        (
            CLUSTERROLES,
            {
                "apiVersion": "rbac.authorization.k8s.io/v1",
                "kind": "ClusterRole",
                "metadata": _meta("system:metrics-server", None),
                "rules": [
                    {"apiGroups": [""], "resources": ["nodes/metrics"], "verbs": ["get"]},
                    {"apiGroups": [""], "resources": ["pods", "nodes"], "verbs": ["get", "list", "watch"]},
                ],
            },
        ),
        (
            CLUSTERROLES,
            {
                "apiVersion": "rbac.authorization.k8s.io/v1",
                "kind": "ClusterRole",
                "metadata": _meta(
                    "system:aggregated-metrics-reader",
                    None,
                    **{
                        "rbac.authorization.k8s.io/aggregate-to-view": "true",
                        "rbac.authorization.k8s.io/aggregate-to-edit": "true",
                        "rbac.authorization.k8s.io/aggregate-to-admin": "true",
                    },
                ),
                "rules": [
                    {
                        "apiGroups": ["metrics.k8s.io"],
                        "resources": ["pods", "nodes"],
                        "verbs": ["get", "list", "watch"],
                    }
                ],
            },
        ),
        (
            CLUSTERROLEBINDINGS,
            _binding(
                "ClusterRoleBinding",
                "system:metrics-server",
                "ClusterRole",
                "system:metrics-server",
                "metrics-server",
            ),
        ),
        (
            CLUSTERROLEBINDINGS,
            _binding(
                "ClusterRoleBinding",
                "metrics-server:system:auth-delegator",
                "ClusterRole",
                "system:auth-delegator",
                "metrics-server",
            ),
        ),
        (
            ROLEBINDINGS,
            _binding(
                "RoleBinding",
                "metrics-server-auth-reader",
                "Role",
                "extension-apiserver-authentication-reader",
                "metrics-server",
                NAMESPACE,
            ),
        ),
        (
            DEPLOYMENTS,
            {
                "apiVersion": "apps/v1",
                "kind": "Deployment",
                "metadata": _meta("metrics-server", **labels),
                "spec": {
                    "replicas": 1,
                    "selector": {"matchLabels": labels},
                    "template": {
                        "metadata": {"labels": labels},
                        "spec": {
                            "serviceAccountName": "metrics-server",
                            "priorityClassName": "system-cluster-critical",
                            "containers": [
                                {
                                    "name": "metrics-server",
                                    "image": image,
                                    "imagePullPolicy": "Never",
                                    "args": [
                                        "--cert-dir=/tmp",
                                        "--secure-port=10250",
                                        "--kubelet-preferred-address-types=InternalIP",
                                        "--kubelet-use-node-status-port",
                                        f"--kubelet-certificate-authority={SA_CA}",
                                        "--metric-resolution=15s",
                                    ],
                                    "ports": [{"name": "https", "containerPort": 10250, "protocol": "TCP"}],
                                    "readinessProbe": {
                                        "httpGet": {"path": "/readyz", "port": "https", "scheme": "HTTPS"},
                                        "periodSeconds": 5,
                                    },
                                    "resources": {"requests": {"cpu": "10m", "memory": "32Mi"}},
                                    "securityContext": {
                                        "runAsNonRoot": True,
                                        "runAsUser": 65534,
                                        "readOnlyRootFilesystem": True,
                                        "allowPrivilegeEscalation": False,
                                    },
                                    "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}],
                                }
                            ],
                            "volumes": [{"name": "tmp", "emptyDir": {}}],
                        },
                    },
                },
            },
        ),
        (
            SERVICES,
            {
                "apiVersion": "v1",
                "kind": "Service",
                "metadata": _meta("metrics-server", **labels),
                "spec": {
                    "selector": labels,
                    "ports": [{"name": "https", "port": 443, "targetPort": "https"}],
                },
            },
        ),
        (
            APISERVICES,
            {
                "apiVersion": "apiregistration.k8s.io/v1",
                "kind": "APIService",
                "metadata": _meta("v1beta1.metrics.k8s.io", None, **labels),
                "spec": {
                    "group": "metrics.k8s.io",
                    "version": "v1beta1",
                    "service": {"name": "metrics-server", "namespace": NAMESPACE, "port": 443},
                    # metrics-server serves a self-signed certificate (its --cert-dir); the aggregator
                    # authenticates itself with the front-proxy client certificate.
                    "insecureSkipTLSVerify": True,
                    "groupPriorityMinimum": 100,
                    "versionPriority": 100,
                },
            },
        ),
    ]


def apply(api: Api, coredns_image: str, metrics_image: str) -> None:
    for resource, body in [*coredns(coredns_image), *metrics_server(metrics_image)]:
        api.apply(resource, body)


def available(api: Api, name: str) -> bool:
    deployment = api.get(DEPLOYMENTS, NAMESPACE, name) or {}
    status = deployment.get("status") or {}
    return int(status.get("availableReplicas") or 0) >= 1


def wait_available(
    api: Api, names: tuple[str, ...], timeout: float, on_timeout: Callable[[str], Exception]
) -> None:
    deadline = time.monotonic() + timeout
    for name in names:
        while not available(api, name):
            if time.monotonic() > deadline:
                raise on_timeout(name)
            time.sleep(0.3)
