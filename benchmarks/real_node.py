"""Real nodes: how fast a node is Ready and pods start, what a node costs in memory, what the build costs.

What it does, on a cluster of its own (``hodegos-bench-nodes``, one real node, port 27643 by default):

1. ``hodegos cluster up`` from nothing, timing each phase from its progress messages: the whole ``up``,
   the node from namespace creation to kubelet started, and kubelet started to the Node ``Ready``;
2. 50 pods (busybox ``sleep``), created one after another, each timed from create to ``Running``
   (the client's clock; p50 / p99 / max);
3. a 30-replica Deployment, timed from create to ``availableReplicas == 30``;
4. the resident memory (``VmRSS``) of containerd and kubelet on each node, idle and with the 30 pods, plus
   the shims (one per pod);
5. the one-time build cost of the node parts, from the ``build.json`` each cached build wrote (wall and CPU
   seconds), where the build happened with this code.

Usage: ``python benchmarks/real_node.py [--pods 50] [--replicas 30] [--port 27643] [--keep]``.
The peer the issue names, kind, cannot run here (no container engine); its published figure is a node
Ready in 20-30 s on a laptop. Everything shares this machine's 2 cores with whatever else runs.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from kube.resources import DEPLOYMENTS, NAMESPACES, PODS, SERVICEACCOUNTS
from localcluster import lifecycle, nodeconfig
from localcluster import state as records
from localcluster.layout import Layout
from toolchain import cluster as tools
from toolchain import nodes as node_tools


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def node_memory(name: str) -> dict[str, dict[str, float]]:
    lay = Layout.for_name(name)
    current = records.load(lay)
    assert current is not None
    found: dict[str, dict[str, float]] = {}
    for spec in nodeconfig.specs(lay, current.nodes):
        parts = {p.component.rsplit("/", 1)[1]: p.pid for p in current.node_processes(spec.name)}
        shims = [
            pid
            for pid in _pids()
            if "containerd-shim-runc-v2" in _cmd(pid) and _same_mnt(pid, parts["namespaces"])
        ]
        found[spec.name] = {
            "containerd MiB": rss_kib(parts["containerd"]) / 1024,
            "kubelet MiB": rss_kib(parts["kubelet"]) / 1024,
            "kube-proxy MiB": rss_kib(parts["kube-proxy"]) / 1024,
            "shims": len(shims),
            "shims MiB": sum(rss_kib(pid) for pid in shims) / 1024,
        }
    return found


def _cmd(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def _pids() -> list[int]:
    return [int(p.name) for p in Path("/proc").iterdir() if p.name.isdigit()]


def _same_mnt(pid: int, holder: int) -> bool:
    """True if ``pid`` is inside the node's mount namespace (its shims are; containers have their own)."""
    try:
        return os.readlink(f"/proc/{pid}/ns/mnt") == os.readlink(f"/proc/{holder}/ns/mnt")
    except OSError:
        return False


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def pod_body(ns: str, name: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": ns},
        "spec": {
            "terminationGracePeriodSeconds": 0,
            "containers": [
                {
                    "name": "main",
                    "image": node_tools.BUSYBOX_IMAGE,
                    "imagePullPolicy": "Never",
                    "command": ["sleep", "3600"],
                    "resources": {"requests": {"cpu": "1m", "memory": "4Mi"}},
                }
            ],
        },
    }


def build_costs() -> dict[str, dict[str, float]]:
    costs: dict[str, dict[str, float]] = {}
    for tool in (*node_tools.NODE_TOOLS, *node_tools.ADDON_TOOLS, tools.KUBERNETES):
        meta = tool.directory / "build.json"
        if meta.is_file():
            costs[tool.name] = json.loads(meta.read_text())
    return costs


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--cluster", default="hodegos-bench-nodes")
    parser.add_argument("--port", type=int, default=27643)
    parser.add_argument("--pods", type=int, default=50)
    parser.add_argument("--replicas", type=int, default=30)
    parser.add_argument("--keep", action="store_true", help="leave the cluster up afterwards")
    args = parser.parse_args()

    marks: list[tuple[float, str]] = []
    start = time.monotonic()
    lifecycle.up(
        args.cluster, nodes=1, fake_nodes=0, port=args.port, build=False,
        progress=lambda m: marks.append((time.monotonic() - start, m)),
    )  # fmt: skip
    total = time.monotonic() - start

    def mark(prefix: str) -> float:
        return next(t for t, m in marks if m.startswith(prefix))

    node_start, node_wait, addons = (
        mark("starting node"),
        mark("waiting for 1 real"),
        mark("starting CoreDNS"),
    )
    api = lifecycle.admin_api(Layout.for_name(args.cluster))
    try:
        print(f"cluster up (control plane + 1 real node + CoreDNS + metrics-server): {total:.1f} s")
        print(f"  namespaces -> kubelet started (containerd, image imports): {node_wait - node_start:.1f} s")
        print(f"  kubelet started -> Node Ready: {addons - node_wait:.1f} s")
        print(f"  CoreDNS and metrics-server available: {total - addons:.1f} s")
        idle = node_memory(args.cluster)

        ns = f"bench-{int(time.time())}"
        api.create(NAMESPACES, None, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}})
        while api.get(SERVICEACCOUNTS, ns, "default") is None:
            time.sleep(0.1)
        latencies: list[float] = []
        for index in range(args.pods):
            name = f"p{index}"
            began = time.monotonic()
            api.create(PODS, ns, pod_body(ns, name))
            while ((api.get(PODS, ns, name) or {}).get("status") or {}).get("phase") != "Running":
                time.sleep(0.05)
            latencies.append(time.monotonic() - began)
        print(
            f"pod start, create -> Running, {args.pods} pods one after another: "
            f"p50 {statistics.median(latencies):.2f} s, p99 {percentile(latencies, 0.99):.2f} s, "
            f"max {max(latencies):.2f} s"
        )
        for index in range(args.pods):
            api.delete(PODS, ns, f"p{index}")
        deployment = {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "wide", "namespace": ns},
            "spec": {
                "replicas": args.replicas,
                "selector": {"matchLabels": {"app": "wide"}},
                "template": {
                    "metadata": {"labels": {"app": "wide"}},
                    "spec": {
                        "terminationGracePeriodSeconds": 0,
                        "containers": pod_body(ns, "x")["spec"]["containers"],
                    },
                },
            },
        }
        began = time.monotonic()
        api.create(DEPLOYMENTS, ns, deployment)
        while (
            int(((api.get(DEPLOYMENTS, ns, "wide") or {}).get("status") or {}).get("availableReplicas") or 0)
            < args.replicas
        ):
            time.sleep(0.1)
        print(f"{args.replicas}-replica Deployment, create -> available: {time.monotonic() - began:.1f} s")
        busy = node_memory(args.cluster)
        for node, values in idle.items():
            print(f"{node} idle: " + ", ".join(f"{k} {v:.0f}" for k, v in values.items()))
            print(
                f"{node} with {args.replicas} pods: "
                + ", ".join(f"{k} {v:.0f}" for k, v in busy[node].items())
            )
        costs = build_costs()
        if costs:
            print("one-time build (cached afterwards), wall / CPU seconds:")
            for name, cost in costs.items():
                print(f"  {name}: {cost.get('seconds', '?')} s / {cost.get('cpuSeconds', '?')} s")
        else:
            print("one-time build: no build.json in the cache (built before build costs were recorded)")
    finally:
        if not args.keep:
            lifecycle.down(args.cluster)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
