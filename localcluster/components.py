"""What each control-plane process is: its command line, its port and how to ask it whether it is healthy.

Pure: from a :class:`~localcluster.layout.Layout`, the ports and the binary paths to a list of
:class:`Component` in start order. Config files the components read (kubeconfigs, the audit policy, kwok's
stages) are rendered here as data and written by :mod:`localcluster.lifecycle`.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from localcluster import layout
from localcluster.layout import Layout, Ports
from localcluster.pki import (
    ADMIN,
    CONTROLLER_MANAGER,
    FRONT_PROXY,
    KUBELET_CLIENT,
    KWOK,
    SCHEDULER,
    Identity,
    Pki,
)

# Admission plugins on top of the API server's defaults (which already include MutatingAdmissionWebhook,
# ValidatingAdmissionWebhook, ServiceAccount, ...): listed explicitly so a reader sees what runs.
ADMISSION_PLUGINS = (
    "NamespaceLifecycle",
    "LimitRanger",
    "ServiceAccount",
    "NodeRestriction",
    "PodSecurity",
    "DefaultTolerationSeconds",
    "MutatingAdmissionWebhook",
    "ValidatingAdmissionPolicy",
    "ValidatingAdmissionWebhook",
    "ResourceQuota",
)
# Controllers the cluster runs: the default set ("*": Deployment, ReplicaSet, DaemonSet, Job, CronJob,
# service-account tokens, GC, ...) minus node IPAM (kwok assigns pod IPs itself).
CONTROLLERS = ("*", "-node-ipam-controller")
# kwok manages only the nodes Hodegos creates, marked with this annotation.
KWOK_NODE_ANNOTATION = "kwok.x-k8s.io/node"
KWOK_NODE_VALUE = "fake"
NODE_SELECTOR = "type=kwok,app.kubernetes.io/managed-by=hodegos"


@dataclass(frozen=True)
class Component:
    """One process of the control plane."""

    name: str
    argv: tuple[str, ...]
    port: int
    health: str  # URL polled until it answers 200 ("ok" for the Kubernetes components)
    extra_ports: tuple[int, ...] = ()

    @property
    def ports(self) -> tuple[int, ...]:
        return (self.port, *self.extra_ports)


def kubeconfig(
    cluster: str, server: str, pki: Pki, identity: Identity, *, embed: bool = False
) -> dict[str, Any]:
    """A kubeconfig for ``identity``: file references by default, inline data with ``embed``."""
    if embed:

        def data(path: Path) -> str:
            return base64.b64encode(path.read_bytes()).decode()

        cluster_entry: dict[str, Any] = {"server": server, "certificate-authority-data": data(pki.ca_cert)}
        user_entry: dict[str, Any] = {
            "client-certificate-data": data(pki.client_cert(identity)),
            "client-key-data": data(pki.client_key(identity)),
        }
    else:
        cluster_entry = {"server": server, "certificate-authority": str(pki.ca_cert)}
        user_entry = {
            "client-certificate": str(pki.client_cert(identity)),
            "client-key": str(pki.client_key(identity)),
        }
    context = f"{identity.user}@{cluster}" if identity != ADMIN else cluster
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": cluster, "cluster": cluster_entry}],
        "users": [{"name": identity.user, "user": user_entry}],
        "contexts": [{"name": context, "context": {"cluster": cluster, "user": identity.user}}],
        "current-context": context,
        "preferences": {},
    }


def server_url(ports: Ports) -> str:
    return f"https://{layout.HOST}:{ports.apiserver}"


def audit_policy() -> dict[str, Any]:
    """Record who called what (metadata only), minus the heartbeat noise of leases and events."""
    return {
        "apiVersion": "audit.k8s.io/v1",
        "kind": "Policy",
        "omitStages": ["RequestReceived"],
        "rules": [
            {"level": "None", "resources": [{"group": "coordination.k8s.io", "resources": ["leases"]}]},
            {
                "level": "None",
                "resources": [
                    {"group": "", "resources": ["events"]},
                    {"group": "events.k8s.io", "resources": ["events"]},
                ],
            },
            {"level": "None", "nonResourceURLs": ["/healthz*", "/readyz*", "/livez*", "/metrics"]},
            {"level": "Metadata"},
        ],
    }


def node_server_url(ports: Ports) -> str:
    """The API server as real nodes and pods reach it: the switch address, spliced to loopback."""
    return f"https://{layout.GATEWAY_IP}:{ports.apiserver}"


def egress_selector(lay: Layout) -> dict[str, Any]:
    """``cluster`` traffic (kubelets, pods, aggregated APIs) through :mod:`localcluster.netproxy`.

    The control plane stays on the host's loopback (URL webhooks included: ``controlplane`` is direct);
    only what lives on the private cluster network goes through the proxy's Unix socket.
    """
    return {
        "apiVersion": "apiserver.k8s.io/v1beta1",
        "kind": "EgressSelectorConfiguration",
        "egressSelections": [
            {
                "name": "cluster",
                "connection": {
                    "proxyProtocol": "HTTPConnect",
                    "transport": {"uds": {"udsName": str(lay.egress_socket)}},
                },
            },
            {"name": "controlplane", "connection": {"proxyProtocol": "Direct"}},
            {"name": "etcd", "connection": {"proxyProtocol": "Direct"}},
        ],
    }


def _real_node_flags(lay: Layout) -> tuple[str, ...]:
    return (
        # The `kubernetes` Service's endpoint: the switch address pods route to (netproxy splices it).
        f"--advertise-address={layout.GATEWAY_IP}",
        "--endpoint-reconciler-type=lease",
        f"--egress-selector-config-file={lay.config / 'egress-selector.yaml'}",
        # Aggregated APIs (metrics-server) and service webhooks by endpoint IP: the proxy reaches pod IPs,
        # not ClusterIPs (kube-proxy's rules live on the nodes).
        "--enable-aggregator-routing=true",
    )


def _kwok_only_flags() -> tuple[str, ...]:
    return (
        f"--advertise-address={layout.HOST}",
        # Loopback is not a valid Endpoints address, so the `kubernetes` Service gets no endpoints.
        "--endpoint-reconciler-type=none",
    )


def components(
    lay: Layout, ports: Ports, bins: Mapping[str, Path], pki: Pki, *, real_nodes: bool = False
) -> list[Component]:
    """The control plane's processes, in start order (``real_nodes``: flags real kubelets need)."""
    host = layout.HOST
    kcfg = lay.kubeconfig_for
    etcd_url = f"http://{host}:{ports.etcd_client}"
    peer_url = f"http://{host}:{ports.etcd_peer}"
    etcd = Component(
        name="etcd",
        argv=(
            str(bins["etcd"]),
            f"--name={lay.name}",
            f"--data-dir={lay.etcd_data}",
            f"--listen-client-urls={etcd_url}",
            f"--advertise-client-urls={etcd_url}",
            f"--listen-peer-urls={peer_url}",
            f"--initial-advertise-peer-urls={peer_url}",
            f"--initial-cluster={lay.name}={peer_url}",
            "--initial-cluster-state=new",
            "--log-level=warn",
            # A throw-away local cluster: trade crash durability for speed on a shared disk.
            "--unsafe-no-fsync",
            "--quota-backend-bytes=4294967296",
            "--auto-compaction-retention=5m",
        ),
        port=ports.etcd_client,
        extra_ports=(ports.etcd_peer,),
        health=f"{etcd_url}/health",
    )
    apiserver = Component(
        name="kube-apiserver",
        argv=(
            str(bins["kube-apiserver"]),
            f"--etcd-servers={etcd_url}",
            f"--bind-address={host}",
            *(_real_node_flags(lay) if real_nodes else _kwok_only_flags()),
            f"--secure-port={ports.apiserver}",
            f"--tls-cert-file={pki.apiserver_cert}",
            f"--tls-private-key-file={pki.apiserver_key}",
            f"--client-ca-file={pki.ca_cert}",
            f"--service-account-issuer=https://kubernetes.default.svc.{layout.CLUSTER_DOMAIN}",
            f"--service-account-key-file={pki.sa_pub}",
            f"--service-account-signing-key-file={pki.sa_key}",
            f"--service-cluster-ip-range={layout.SERVICE_CIDR}",
            "--authorization-mode=Node,RBAC",
            f"--enable-admission-plugins={','.join(ADMISSION_PLUGINS)}",
            "--allow-privileged=true",
            # Towards kubelets (logs, exec, port-forward): its own client certificate, the kubelets'
            # serving certificates checked against the cluster CA, by node IP (never the machine's DNS).
            f"--kubelet-client-certificate={pki.client_cert(KUBELET_CLIENT)}",
            f"--kubelet-client-key={pki.client_key(KUBELET_CLIENT)}",
            f"--kubelet-certificate-authority={pki.ca_cert}",
            "--kubelet-preferred-address-types=InternalIP,Hostname",
            # The aggregator's identity towards extension API servers (metrics-server).
            f"--proxy-client-cert-file={pki.client_cert(FRONT_PROXY)}",
            f"--proxy-client-key-file={pki.client_key(FRONT_PROXY)}",
            f"--requestheader-client-ca-file={pki.ca_cert}",
            f"--requestheader-allowed-names={FRONT_PROXY.user}",
            "--requestheader-username-headers=X-Remote-User",
            "--requestheader-group-headers=X-Remote-Group",
            "--requestheader-extra-headers-prefix=X-Remote-Extra-",
            "--anonymous-auth=false",
            "--profiling=false",
            f"--audit-policy-file={lay.config / 'audit-policy.yaml'}",
            f"--audit-log-path={lay.audit_log}",
            "--audit-log-format=json",
            "--audit-log-maxsize=200",
            "--audit-log-maxbackup=1",
            "--audit-log-mode=batch",
            "--audit-log-batch-max-wait=1s",
        ),
        port=ports.apiserver,
        health=f"{server_url(ports)}/readyz",
    )

    def with_kubeconfig(identity: Identity) -> tuple[str, ...]:
        path = kcfg(identity.file_stem)
        return (
            f"--kubeconfig={path}",
            f"--authentication-kubeconfig={path}",
            f"--authorization-kubeconfig={path}",
        )

    controller_manager = Component(
        name="kube-controller-manager",
        argv=(
            str(bins["kube-controller-manager"]),
            *with_kubeconfig(CONTROLLER_MANAGER),
            f"--bind-address={host}",
            f"--secure-port={ports.controller_manager}",
            f"--tls-cert-file={pki.loopback_cert}",
            f"--tls-private-key-file={pki.loopback_key}",
            f"--controllers={','.join(CONTROLLERS)}",
            f"--service-account-private-key-file={pki.sa_key}",
            f"--root-ca-file={pki.ca_cert}",
            f"--cluster-signing-cert-file={pki.ca_cert}",
            f"--cluster-signing-key-file={pki.ca_key}",
            "--use-service-account-credentials=true",
            f"--service-cluster-ip-range={layout.SERVICE_CIDR}",
            "--leader-elect=false",
            # The defaults (20 QPS, 5 deployment syncs) are sized for a shared production apiserver; on this
            # private loopback one they made a 1,000-Deployment rollout wait minutes for the controller
            # manager (benchmarks/controllers_scale.py).
            "--kube-api-qps=200",
            "--kube-api-burst=400",
            "--concurrent-deployment-syncs=20",
            "--concurrent-replicaset-syncs=20",
        ),
        port=ports.controller_manager,
        health=f"https://{host}:{ports.controller_manager}/healthz",
    )
    scheduler = Component(
        name="kube-scheduler",
        argv=(
            str(bins["kube-scheduler"]),
            *with_kubeconfig(SCHEDULER),
            f"--bind-address={host}",
            f"--secure-port={ports.scheduler}",
            f"--tls-cert-file={pki.loopback_cert}",
            f"--tls-private-key-file={pki.loopback_key}",
            "--leader-elect=false",
        ),
        port=ports.scheduler,
        health=f"https://{host}:{ports.scheduler}/healthz",
    )
    kwok = Component(
        name="kwok",
        argv=(
            str(bins["kwok"]),
            f"--kubeconfig={kcfg(KWOK.file_stem)}",
            f"--config={lay.config / 'kwok.yaml'}",
            f"--manage-nodes-with-annotation-selector={KWOK_NODE_ANNOTATION}={KWOK_NODE_VALUE}",
            f"--server-address={host}:{ports.kwok}",
            f"--cidr={layout.POD_CIDR}",
            f"--node-ip={host}",
            "--node-lease-duration-seconds=40",
        ),
        port=ports.kwok,
        health=f"http://{host}:{ports.kwok}/healthz",
    )
    return [etcd, apiserver, controller_manager, scheduler, kwok]


#: The kubeconfig each component's process uses.
COMPONENT_IDENTITIES: tuple[Identity, ...] = (ADMIN, CONTROLLER_MANAGER, SCHEDULER, KWOK)


def node(name: str) -> dict[str, Any]:
    """A fake Node that kwok adopts (by annotation) and keeps Ready."""
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": name,
            "annotations": {KWOK_NODE_ANNOTATION: KWOK_NODE_VALUE, "node.alpha.kubernetes.io/ttl": "0"},
            "labels": {
                "kubernetes.io/hostname": name,
                "kubernetes.io/os": "linux",
                "kubernetes.io/arch": "amd64",
                "type": "kwok",
                "app.kubernetes.io/managed-by": "hodegos",
            },
        },
        "spec": {},
        "status": {
            "allocatable": {"cpu": "32", "memory": "256Gi", "pods": "1000"},
            "capacity": {"cpu": "32", "memory": "256Gi", "pods": "1000"},
        },
    }


def node_names(cluster: str, count: int) -> list[str]:
    return [f"{cluster}-node-{index}" for index in range(1, count + 1)]
