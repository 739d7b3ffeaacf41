"""Real-node pieces without a cluster: addresses, configuration as data, and how a failed part is reported."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from localcluster import fleet, nodeconfig, processes
from localcluster.errors import ComponentFailedError, NodePreflightError
from localcluster.layout import Layout


def test_nodes_get_their_own_addresses_and_pod_cidrs(tmp_path: Path) -> None:
    specs = nodeconfig.specs(Layout("c", tmp_path), 3)
    assert [(s.name, s.ip, s.pod_cidr) for s in specs] == [
        ("c-worker-1", "172.30.0.11", "10.244.1.0/24"),
        ("c-worker-2", "172.30.0.12", "10.244.2.0/24"),
        ("c-worker-3", "172.30.0.13", "10.244.3.0/24"),
    ]
    cni = nodeconfig.cni_config(specs[1])
    assert cni["plugins"][0]["ipam"]["ranges"] == [[{"subnet": "10.244.2.0/24"}]]
    assert nodeconfig.node_object(specs[1])["spec"]["podCIDR"] == "10.244.2.0/24"
    script = nodeconfig.network_script(specs[0], specs)
    assert "ip route add 10.244.2.0/24 via 172.30.0.12" in script and "10.244.1.0/24 via" not in script


def test_only_differing_kernel_values_are_shown_to_kubelet(tmp_path: Path) -> None:
    read = dict(nodeconfig.KUBELET_SYSCTLS, **{"vm/overcommit_memory": "0\n", "kernel/panic": "0"})
    overrides = nodeconfig.sysctl_overrides(read)
    assert overrides == {"vm/overcommit_memory": "1", "kernel/panic": "10"}
    spec = nodeconfig.specs(Layout("c", tmp_path), 1)[0]
    script = nodeconfig.setup_script(spec, overrides)
    # Bound read-only inside the node's own mount namespace; nothing is written to /proc/sys itself.
    assert "mount -o remount,bind,ro /proc/sys/kernel/panic" in script
    assert "> /proc/sys" not in script


def test_kubelet_and_kube_proxy_change_no_machine_setting(tmp_path: Path) -> None:
    spec = nodeconfig.specs(Layout("c", tmp_path), 1)[0]
    kubelet = nodeconfig.kubelet_config(spec, tmp_path / "ca", (tmp_path / "c", tmp_path / "k"))
    assert kubelet["makeIPTablesUtilChains"] is False and kubelet["oomScoreAdj"] == 0
    assert kubelet["resolvConf"] == "" and kubelet["cgroupRoot"] == "/hodegos/c/c-worker-1"
    proxy = nodeconfig.kube_proxy_config(spec, tmp_path / "kc")
    assert proxy["mode"] == "nftables" and set(proxy["conntrack"].values()) == {0, "0s"}


class _NoNodes:
    def list(self, *_args: Any, **_kwargs: Any) -> tuple[list[dict[str, Any]], str]:
        return [], ""


def test_a_node_part_that_exits_is_named_with_its_log(tmp_path: Path) -> None:
    spec = nodeconfig.specs(Layout("c", tmp_path), 1)[0]
    log = tmp_path / "kubelet.log"
    dead = processes.spawn(
        spec.component("kubelet"), ["sh", "-c", "echo 'E failed to run Kubelet: boom'"], log
    )
    with pytest.raises(ComponentFailedError) as caught:
        fleet.wait_ready(_NoNodes(), [spec], lambda _s: [dead], timeout=10)  # type: ignore[arg-type]
    assert caught.value.component == "c-worker-1/kubelet" and caught.value.log == log
    assert "boom" in str(caught.value) and str(log) in str(caught.value)


def test_missing_kernel_features_give_one_clear_message() -> None:
    error = NodePreflightError(["the kernel has no overlay filesystem"])
    assert "cannot run real nodes" in str(error) and "overlay" in str(error) and "--fake-nodes" in str(error)


def test_netproxy_accepts_only_connect_to_literal_addresses() -> None:
    from localcluster.netproxy import parse_connect

    assert parse_connect(b"CONNECT 172.30.0.11:10250 HTTP/1.1\r\nHost: x\r\n\r\n") == ("172.30.0.11", 10250)
    for bad in (
        b"GET / HTTP/1.1\r\n\r\n",
        b"CONNECT example.com:443 HTTP/1.1\r\n\r\n",
        b"CONNECT 1.2.3.4:0 HTTP/1.1",
    ):
        with pytest.raises(ValueError):
            parse_connect(bad)
