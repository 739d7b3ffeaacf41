"""What a real node is, as data: its addresses, and the configuration of containerd, kubelet, kube-proxy, CNI.

Pure: from a :class:`NodeSpec` (name, index, addresses, directories) and the binary paths to config
documents and command lines. :mod:`localcluster.nodes` writes them and starts the processes inside the
node's own mount, network and UTS namespaces.

The settings answer the walls of this kind of machine (see docs/cluster.md, "Real nodes"): root without
``CAP_SYS_RESOURCE`` (``restrict_oom_score_adj``, ``oomScoreAdj: 0``, ``maxOpenFiles``), cgroup v1
(``failCgroupV1: false``, ``cgroupfs``), the machine's kernel sysctls that must not change (kubelet is shown
the values it wants by read-only bind mounts inside the node's mount namespace), no sysctl or firewall
change outside the node (``makeIPTablesUtilChains: false``, kube-proxy in nftables mode with conntrack
values 0, inside the node's network namespace).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from localcluster import layout
from localcluster.layout import Layout

# Kernel tunables kubelet sets unless they already hold these values (pkg/kubelet/cm: setupKernelTunables).
KUBELET_SYSCTLS: dict[str, str] = {
    "vm/overcommit_memory": "1",
    "vm/panic_on_oom": "0",
    "kernel/panic": "10",
    "kernel/panic_on_oops": "1",
    "kernel/keys/root_maxkeys": "1000000",
    "kernel/keys/root_maxbytes": "25000000",
}
KUBELET_PORT = 10250
CGROUP_PARENT = "hodegos"  # /sys/fs/cgroup/<controller>/hodegos/<cluster>/<node>/kubepods/...
CONTAINERD_SOCKET = "/run/containerd/containerd.sock"  # inside the node's private /run


@dataclass(frozen=True)
class NodeSpec:
    cluster: str
    index: int  # 1-based
    directory: Path  # <state>/nodes/<name>

    @property
    def name(self) -> str:
        return f"{self.cluster}-worker-{self.index}"

    @property
    def ip(self) -> str:
        return layout.node_ip(self.index)

    @property
    def pod_cidr(self) -> str:
        return layout.node_pod_cidr(self.index)

    @property
    def cgroup(self) -> str:
        """The kubelet's cgroup root (cgroupfs path) for this node's pods."""
        return f"/{CGROUP_PARENT}/{self.cluster}/{self.name}"

    @property
    def var_lib(self) -> Path:
        return self.directory / "var-lib"  # the node's /var/lib

    @property
    def var_log(self) -> Path:
        return self.directory / "var-log"  # the node's /var/log

    @property
    def config(self) -> Path:
        return self.directory / "config"

    @property
    def cni_conf_dir(self) -> Path:
        return self.directory / "cni"

    def log(self, part: str) -> Path:
        return self.directory / "logs" / f"{part}.log"

    def component(self, part: str) -> str:
        """The name a process of this node is recorded under in the cluster state."""
        return f"{self.name}/{part}"


def specs(lay: Layout, count: int) -> list[NodeSpec]:
    return [
        NodeSpec(lay.name, index, lay.node_dir(f"{lay.name}-worker-{index}")) for index in range(1, count + 1)
    ]


def node_object(spec: NodeSpec) -> dict[str, Any]:
    """The Node, created before its kubelet registers, so its pod CIDR is the one its CNI config uses."""
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": spec.name,
            "labels": {
                "kubernetes.io/hostname": spec.name,
                "kubernetes.io/os": "linux",
                "kubernetes.io/arch": "amd64",
                "app.kubernetes.io/managed-by": "hodegos",
                "node.hodegos.io/runtime": "containerd",
            },
        },
        "spec": {"podCIDR": spec.pod_cidr, "podCIDRs": [spec.pod_cidr]},
    }


def containerd_config(spec: NodeSpec, bins: Mapping[str, Path], pause_image: str) -> str:
    """containerd's config (version 3): its own CNI, runc by path, no OOM-score raise, overlayfs."""
    cni_bin = bins["bridge"].parent
    lines = [
        "version = 3",
        'root = "/var/lib/containerd"',
        'state = "/run/containerd"',
        'disabled_plugins = ["io.containerd.nri.v1.nri", "io.containerd.tracing.processor.v1.otlp"]',
        "",
        "[grpc]",
        f'  address = "{CONTAINERD_SOCKET}"',
        "",
        "[plugins.'io.containerd.cri.v1.runtime']",
        "  enable_selinux = false",
        # root here lacks CAP_SYS_RESOURCE: never ask runc to raise a container's oom_score_adj.
        "  restrict_oom_score_adj = true",
        "  enable_unprivileged_ports = true",
        "  enable_unprivileged_icmp = true",
        "  [plugins.'io.containerd.cri.v1.runtime'.containerd]",
        "    default_runtime_name = 'runc'",
        "    [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc]",
        "      runtime_type = 'io.containerd.runc.v2'",
        "      [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc.options]",
        f"        BinaryName = '{bins['runc']}'",
        "        SystemdCgroup = false",
        "  [plugins.'io.containerd.cri.v1.runtime'.cni]",
        f"    bin_dirs = ['{cni_bin}']",
        f"    conf_dir = '{spec.cni_conf_dir}'",
        "    max_conf_num = 1",
        "",
        "[plugins.'io.containerd.cri.v1.images']",
        "  snapshotter = 'overlayfs'",
        "  [plugins.'io.containerd.cri.v1.images'.pinned_images]",
        f"    sandbox = '{pause_image}'",
        "",
        "[plugins.'io.containerd.grpc.v1.cri']",
        "  stream_server_address = '127.0.0.1'",
        "  stream_server_port = '0'",
        "",
    ]
    return "\n".join(lines)


def cni_config(spec: NodeSpec) -> dict[str, Any]:
    """Point-to-point veths routed by the node (no bridge: every packet is routed, so conntrack sees the
    replies of same-node Service traffic without bridge netfilter), addresses from the node's pod CIDR."""
    return {
        "cniVersion": "1.0.0",
        "name": "hodegos",
        "plugins": [
            {
                "type": "ptp",
                "ipMasq": False,
                "mtu": 1500,
                "ipam": {
                    "type": "host-local",
                    "ranges": [[{"subnet": spec.pod_cidr}]],
                    "routes": [{"dst": "0.0.0.0/0"}],
                    "dataDir": "/var/lib/cni/networks",
                },
            },
            {"type": "portmap", "capabilities": {"portMappings": True}, "backend": "nftables"},
        ],
    }


def kubelet_config(spec: NodeSpec, ca_cert: Path, serving: tuple[Path, Path]) -> dict[str, Any]:
    return {
        "apiVersion": "kubelet.config.k8s.io/v1beta1",
        "kind": "KubeletConfiguration",
        "address": spec.ip,
        "port": KUBELET_PORT,
        "readOnlyPort": 0,
        "healthzBindAddress": "127.0.0.1",
        "healthzPort": 10248,
        "tlsCertFile": str(serving[0]),
        "tlsPrivateKeyFile": str(serving[1]),
        "rotateCertificates": False,
        "serverTLSBootstrap": False,
        "authentication": {
            "anonymous": {"enabled": False},
            "webhook": {"enabled": True},
            "x509": {"clientCAFile": str(ca_cert)},
        },
        "authorization": {"mode": "Webhook"},
        "containerRuntimeEndpoint": f"unix://{CONTAINERD_SOCKET}",
        "cgroupDriver": "cgroupfs",
        "cgroupRoot": spec.cgroup,
        "failCgroupV1": False,
        "failSwapOn": False,
        "makeIPTablesUtilChains": False,
        "protectKernelDefaults": False,
        "oomScoreAdj": 0,
        "maxOpenFiles": 20000,
        "clusterDomain": layout.CLUSTER_DOMAIN,
        "clusterDNS": [layout.DNS_IP],
        # Pods must never get the machine's nameserver: cluster DNS comes from the cluster.
        "resolvConf": "",
        "hairpinMode": "hairpin-veth",
        "volumePluginDir": "/var/lib/kubelet/volume-plugins",
        # Loaded images have no registry to come back from: never collect them.
        "imageGCHighThresholdPercent": 100,
        "imageGCLowThresholdPercent": 99,
        "evictionHard": {
            "memory.available": "100Mi",
            "nodefs.available": "2%",
            "nodefs.inodesFree": "2%",
            "imagefs.available": "2%",
        },
        "serializeImagePulls": False,
        "registerNode": True,
        "nodeStatusReportFrequency": "10s",
        "shutdownGracePeriod": "0s",
        "featureGates": {},
    }


def kube_proxy_config(spec: NodeSpec, kubeconfig: Path) -> dict[str, Any]:
    return {
        "apiVersion": "kubeproxy.config.k8s.io/v1alpha1",
        "kind": "KubeProxyConfiguration",
        "mode": "nftables",
        "clientConnection": {"kubeconfig": str(kubeconfig)},
        "hostnameOverride": spec.name,
        "bindAddress": spec.ip,
        "clusterCIDR": layout.POD_CIDR,
        "healthzBindAddress": "127.0.0.1:10256",
        "metricsBindAddress": "127.0.0.1:10249",
        "oomScoreAdj": 0,
        # 0 = leave the kernel's conntrack values alone (some are global, not per network namespace).
        "conntrack": {
            "maxPerCore": 0,
            "min": 0,
            "tcpEstablishedTimeout": "0s",
            "tcpCloseWaitTimeout": "0s",
        },
        "iptables": {"localhostNodePorts": False},
        "nodePortAddresses": [f"{spec.ip}/32"],
    }


def kubelet_argv(spec: NodeSpec, bins: Mapping[str, Path], kubeconfig: Path) -> list[str]:
    return [
        str(bins["kubelet"]),
        f"--config={spec.config / 'kubelet.yaml'}",
        f"--kubeconfig={kubeconfig}",
        f"--hostname-override={spec.name}",
        f"--node-ip={spec.ip}",
        "--root-dir=/var/lib/kubelet",
        "--v=1",
    ]


def containerd_argv(spec: NodeSpec, bins: Mapping[str, Path]) -> list[str]:
    return [str(bins["containerd"]), f"--config={spec.config / 'containerd.toml'}", "--log-level=warn"]


def kube_proxy_argv(spec: NodeSpec, bins: Mapping[str, Path]) -> list[str]:
    return [str(bins["kube-proxy"]), f"--config={spec.config / 'kube-proxy.yaml'}", "--v=1"]


def sysctl_overrides(read: Mapping[str, str]) -> dict[str, str]:
    """The tunables whose machine value (``read``: path -> value) differs from what kubelet wants."""
    return {path: want for path, want in KUBELET_SYSCTLS.items() if read.get(path, "").strip() != want}


def setup_script(spec: NodeSpec, overrides: Mapping[str, str]) -> str:
    """Run once inside the node's fresh mount namespace (private propagation): its own /run, /var/lib,
    /var/log, hostname, and the kernel values kubelet wants to see, bound read-only over /proc/sys."""
    lines = [
        "set -eu",
        "mount -t tmpfs -o mode=0755,size=256m hodegos-run /run",
        f"mkdir -p {spec.var_lib} {spec.var_log} {spec.directory / 'sysctl'}",
        f"mount --bind {spec.var_lib} /var/lib",
        f"mount --bind {spec.var_log} /var/log",
        "mkdir -p /var/lib/kubelet /var/lib/containerd /var/lib/cni /var/log/pods /var/log/containers",
        f"hostname {spec.name}",
    ]
    for path, value in sorted(overrides.items()):
        holder = spec.directory / "sysctl" / path.replace("/", ".")
        lines += [
            f"printf '%s\\n' {value} > {holder}",
            f"mount --bind {holder} /proc/sys/{path}",
            f"mount -o remount,bind,ro /proc/sys/{path}",
        ]
    return "\n".join(lines) + "\n"


def network_script(spec: NodeSpec, peers: list[NodeSpec]) -> str:
    """Inside the node's network namespace: loopback, its switch address, routes to the other nodes' pods,
    forwarding for its pods (a per-namespace setting of this namespace only)."""
    lines = [
        "set -eu",
        "ip link set lo up",
        f"ip addr add {spec.ip}/{layout.SWITCH_MASK} dev eth0",
        "ip link set eth0 up",
        f"ip route add default via {layout.GATEWAY_IP}",
        "echo 1 > /proc/sys/net/ipv4/ip_forward",
    ]
    lines += [f"ip route add {peer.pod_cidr} via {peer.ip}" for peer in peers if peer.index != spec.index]
    return "\n".join(lines) + "\n"


def to_json(data: Any) -> str:
    return json.dumps(data, indent=2) + "\n"
