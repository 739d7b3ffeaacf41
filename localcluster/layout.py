"""A local cluster's identity: its name, its loopback ports and the files in its state directory.

Everything a cluster owns lives under one directory, ``<state root>/clusters/<name>/``. The state root is
``$HODEGOS_STATE`` if set, else ``$XDG_STATE_HOME/hodegos``, else ``~/.local/state/hodegos``. Ports are
derived from the API server port so two clusters (a developer's demo and the test suite's) never share one.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from localcluster.errors import ClusterConfigError

DEFAULT_NAME = "hodegos"
DEFAULT_API_PORT = 16443
DEFAULT_NODES = 1  # real nodes of a new cluster
DEFAULT_FAKE_NODES = 0  # kwok nodes of a new cluster
MAX_NODES = 20  # real nodes: one /24 of pod addresses each, addresses .11-.30 on the switch
HOST = "127.0.0.1"
SERVICE_CIDR = "10.96.0.0/16"
SERVICE_IP = "10.96.0.1"  # the first address of SERVICE_CIDR: the `kubernetes` Service
POD_CIDR = "10.244.0.0/16"
CLUSTER_DOMAIN = "cluster.local"
DNS_IP = "10.96.0.10"  # the kube-dns Service (CoreDNS)
# The cluster's private network, inside network namespaces Hodegos creates (never on the host): a switch
# namespace holding the bridge and the API server's address, one veth per node.
SWITCH_PREFIX = "172.30.0"
GATEWAY_IP = f"{SWITCH_PREFIX}.1"  # the switch: where nodes and pods reach the API server
SWITCH_MASK = 24


def node_ip(index: int) -> str:
    """Address of real node ``index`` (1-based) on the switch."""
    return f"{SWITCH_PREFIX}.{10 + index}"


def node_pod_cidr(index: int) -> str:
    """The pod addresses of real node ``index`` (a /24 of :data:`POD_CIDR`)."""
    return f"10.244.{index}.0/24"


_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]{0,38}[a-z0-9])?$")


def state_root() -> Path:
    if value := os.environ.get("HODEGOS_STATE"):
        return Path(value)
    if xdg := os.environ.get("XDG_STATE_HOME"):
        return Path(xdg) / "hodegos"
    return Path.home() / ".local" / "state" / "hodegos"


def validate_name(name: str) -> str:
    if not _NAME.match(name):
        raise ClusterConfigError(
            f"invalid cluster name {name!r}: use 1-40 lower-case letters, digits and '-', "
            "starting and ending with a letter or digit"
        )
    return name


@dataclass(frozen=True)
class Ports:
    """The loopback ports of one cluster, all derived from the API server's."""

    apiserver: int

    @property
    def etcd_client(self) -> int:
        return self.apiserver + 1

    @property
    def etcd_peer(self) -> int:
        return self.apiserver + 2

    @property
    def controller_manager(self) -> int:
        return self.apiserver + 3

    @property
    def scheduler(self) -> int:
        return self.apiserver + 4

    @property
    def kwok(self) -> int:
        return self.apiserver + 5

    def by_component(self) -> dict[str, int]:
        """Component name -> the port it listens on (etcd's peer port under ``etcd-peer``)."""
        return {
            "etcd": self.etcd_client,
            "etcd-peer": self.etcd_peer,
            "kube-apiserver": self.apiserver,
            "kube-controller-manager": self.controller_manager,
            "kube-scheduler": self.scheduler,
            "kwok": self.kwok,
        }

    @staticmethod
    def validate(apiserver: int) -> Ports:
        if not 1024 <= apiserver <= 65535 - 5:
            raise ClusterConfigError(f"API server port {apiserver} is outside 1024-65530")
        return Ports(apiserver)


@dataclass(frozen=True)
class Layout:
    """Paths inside one cluster's state directory."""

    name: str
    root: Path

    @staticmethod
    def for_name(name: str) -> Layout:
        return Layout(validate_name(name), state_root() / "clusters" / name)

    @property
    def state_file(self) -> Path:
        return self.root / "cluster.json"

    @property
    def lock_file(self) -> Path:
        return self.root.parent / f".{self.name}.lock"

    @property
    def pki(self) -> Path:
        return self.root / "pki"

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    @property
    def etcd_data(self) -> Path:
        return self.root / "etcd"

    @property
    def config(self) -> Path:
        return self.root / "config"

    @property
    def kubeconfigs(self) -> Path:
        return self.root / "kubeconfigs"

    @property
    def admin_kubeconfig(self) -> Path:
        """The kubeconfig handed to users (cluster-admin)."""
        return self.root / "kubeconfig"

    @property
    def audit_log(self) -> Path:
        return self.logs / "audit.log"

    @property
    def nodes_dir(self) -> Path:
        return self.root / "nodes"

    def node_dir(self, node: str) -> Path:
        return self.nodes_dir / node

    @property
    def loaded_images(self) -> Path:
        """The archives ``cluster load`` imported: a node added or restarted later imports them too."""
        return self.root / "loaded-images.json"

    @property
    def egress_socket(self) -> Path:
        """The API server's egress to the cluster network (``cluster`` egress selection)."""
        return self.root / "egress.sock"

    def log(self, component: str) -> Path:
        return self.logs / f"{component}.log"

    def kubeconfig_for(self, user: str) -> Path:
        return self.kubeconfigs / f"{user}.kubeconfig"
