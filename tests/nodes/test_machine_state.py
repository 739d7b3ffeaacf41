"""`up` then `down` of a cluster with real nodes leaves the machine as it was: sysctls, mounts, network links,
nftables and iptables rules, cgroups, and the fixed paths kubelet and containerd would otherwise use."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from localcluster import lifecycle
from tests.kube import TEST_CLUSTER, TEST_PORT
from tests.nodes.conftest import require_real_nodes

pytestmark = pytest.mark.cluster

SYSCTL_TREES = ("net/ipv4", "net/ipv6/conf", "net/bridge", "net/netfilter", "net/core")
SYSCTLS = (
    "vm/overcommit_memory",
    "vm/panic_on_oom",
    "kernel/panic",
    "kernel/panic_on_oops",
    "kernel/keys/root_maxkeys",
    "kernel/keys/root_maxbytes",
)
VOLATILE = (
    "count",
    "_stat",
    "random",
    "rt_cache_rebuild_count",
    "tcp_mem",
    "udp_mem",
    "nf_conntrack_buckets",
)
PATHS = ("/var/lib/kubelet", "/var/lib/containerd", "/run/containerd", "/etc/cni", "/opt/cni", "/var/lib/cni")


def _sysctls() -> dict[str, str]:
    values: dict[str, str] = {}
    paths = [Path("/proc/sys", p) for p in SYSCTLS]
    for tree in SYSCTL_TREES:
        root = Path("/proc/sys", tree)
        if root.is_dir():
            paths += sorted(p for p in root.rglob("*") if p.is_file())
    for path in paths:
        if any(word in path.name for word in VOLATILE):
            continue
        try:
            values[str(path)] = path.read_text().strip()
        except OSError:
            continue
    return values


def _run(*argv: str) -> str:
    done = subprocess.run(argv, capture_output=True, text=True, check=False)
    return done.stdout


def snapshot(cluster: str) -> dict[str, object]:
    mounts = [
        " ".join(line.split()[3:5]) + " " + line.split(" - ")[1].split()[0]
        for line in Path("/proc/self/mountinfo").read_text().splitlines()
    ]
    return {
        "sysctls": _sysctls(),
        "mounts": sorted(mounts),
        "links": sorted(line.split(":")[1].strip() for line in _run("ip", "-o", "link").splitlines()),
        "addresses": sorted(_run("ip", "-o", "addr").splitlines()),
        "routes": sorted(_run("ip", "route", "show", "table", "all").splitlines()),
        "nft": _run("nft", "list", "ruleset"),
        "iptables": [line for line in _run("iptables-save").splitlines() if not line.startswith("#")],
        "cgroups": sorted(str(p) for p in Path("/sys/fs/cgroup").glob(f"*/hodegos/{cluster}")),
        "paths": {path: Path(path).exists() for path in PATHS},
    }


def test_machine_state_is_identical_before_up_and_after_down() -> None:
    require_real_nodes()
    name = f"{TEST_CLUSTER[:30]}-state"
    before = snapshot(name)
    lifecycle.up(name, nodes=2, fake_nodes=0, port=TEST_PORT + 120, build=False)
    try:
        during = snapshot(name)
        # The cluster really ran where it says: its cgroups exist while it is up, the host's links do not
        # change even then (every veth, bridge and address is inside the cluster's own namespaces).
        assert during["cgroups"], "no cgroup of the cluster while it is up"
        assert during["links"] == before["links"]
        assert during["nft"] == before["nft"] and during["iptables"] == before["iptables"]
    finally:
        lifecycle.down(name)
    after = snapshot(name)
    for key in before:
        assert after[key] == before[key], key
