"""Two real nodes: a DaemonSet runs one pod on each, pods reach each other across nodes, and two clusters
with real nodes run side by side."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.nodes.conftest import PROBE_IMAGE, RealCluster
from tests.support import wait

pytestmark = pytest.mark.cluster


def _pods(cluster: RealCluster, ns: str, selector: str) -> list[dict[str, Any]]:
    out = cluster.kubectl("-n", ns, "get", "pods", "-l", selector, "-o", "json")
    items: list[dict[str, Any]] = json.loads(out.stdout)["items"]
    return items


def test_daemonset_runs_one_pod_per_node_and_pods_talk_across_nodes(two_nodes: RealCluster) -> None:
    ns = two_nodes.namespace()
    two_nodes.apply(f"""
apiVersion: apps/v1
kind: DaemonSet
metadata: {{name: echo, namespace: {ns}}}
spec:
  selector: {{matchLabels: {{app: echo}}}}
  template:
    metadata: {{labels: {{app: echo}}}}
    spec:
      containers:
      - name: main
        image: {PROBE_IMAGE}
        imagePullPolicy: Never
        args: [python3, /app/probe.py, serve, "8080"]
        env:
        - {{name: POD_NAME, valueFrom: {{fieldRef: {{fieldPath: metadata.name}}}}}}
        - {{name: POD_IP, valueFrom: {{fieldRef: {{fieldPath: status.podIP}}}}}}
        readinessProbe: {{tcpSocket: {{port: 8080}}, periodSeconds: 1}}
""")

    def ready() -> list[dict[str, Any]]:
        pods = _pods(two_nodes, ns, "app=echo")
        conditions = [c for p in pods for c in p["status"].get("conditions", [])]
        ok = sum(1 for c in conditions if c["type"] == "Ready" and c["status"] == "True")
        return pods if len(pods) == 2 and ok == 2 else []

    pods = wait("one Ready echo pod per node", ready, timeout=120)
    placed = {p["spec"]["nodeName"]: p for p in pods}
    assert set(placed) == {f"{two_nodes.name}-worker-1", f"{two_nodes.name}-worker-2"}
    first = placed[f"{two_nodes.name}-worker-1"]
    second = placed[f"{two_nodes.name}-worker-2"]
    assert str(first["status"]["podIP"]).startswith("10.244.1.")
    assert str(second["status"]["podIP"]).startswith("10.244.2.")
    # From the pod on node 1 to the pod on node 2, and back: routed through the cluster's switch.
    for source, target in ((first, second), (second, first)):
        url = f"http://{target['status']['podIP']}:8080/"
        code = f"import urllib.request as u; print(u.urlopen('{url}', timeout=5).read().decode())"
        name = source["metadata"]["name"]
        out = two_nodes.kubectl("-n", ns, "exec", str(name), "--", "python3", "-c", code)
        assert out.stdout.split() == [target["metadata"]["name"], target["status"]["podIP"]]


def test_two_clusters_with_real_nodes_run_at_once(one_node: RealCluster, two_nodes: RealCluster) -> None:
    """Each cluster's network lives in its own namespaces: the same addresses, no clash."""
    from localcluster import lifecycle

    for cluster, count in ((one_node, 1), (two_nodes, 2)):
        report = lifecycle.status(cluster.name)
        assert report["phase"] == "Running"
        assert [n["ready"] for n in report["nodes"]] == [True] * count
        assert [n["address"] for n in report["nodes"]] == [f"172.30.0.{10 + i}" for i in range(1, count + 1)]


def test_scaling_adds_a_node_with_the_loaded_images_and_removes_it(two_nodes: RealCluster) -> None:
    from localcluster import lifecycle

    result = lifecycle.up(two_nodes.name, nodes=3, build=False)
    assert result.already_up and [n["ready"] for n in result.status["nodes"]] == [True, True, True]
    third = f"{two_nodes.name}-worker-3"
    ns = two_nodes.namespace()
    # The probe image was loaded before this node existed: the node imported it when it started.
    two_nodes.apply(f"""
apiVersion: v1
kind: Pod
metadata: {{name: on-third, namespace: {ns}}}
spec:
  nodeName: {third}
  restartPolicy: Never
  containers:
  - {{name: main, image: {PROBE_IMAGE}, imagePullPolicy: Never, command: [python3, -c, "print('third')"]}}
""")
    pod = two_nodes.wait_phase(ns, "on-third", {"Succeeded", "Failed"})
    assert pod["status"]["phase"] == "Succeeded" and pod["status"]["podIP"].startswith("10.244.3.")
    result = lifecycle.up(two_nodes.name, nodes=2, build=False)
    assert [n["name"] for n in result.status["nodes"]] == [f"{two_nodes.name}-worker-{i}" for i in (1, 2)]
    nodes = two_nodes.kubectl("get", "nodes", "-o", "name").stdout.split()
    assert f"node/{third}" not in nodes


def test_a_dead_node_part_degrades_status_and_up_repairs_it(two_nodes: RealCluster) -> None:
    import os
    import signal

    from localcluster import lifecycle

    kubelet = next(
        row
        for row in lifecycle.status(two_nodes.name)["components"]
        if row["name"] == f"{two_nodes.name}-worker-2/kubelet"
    )
    os.kill(kubelet["pid"], signal.SIGKILL)
    report = wait(
        "status to notice", lambda: (r := lifecycle.status(two_nodes.name))["phase"] == "Degraded" and r
    )
    assert not next(row for row in report["components"] if row["name"] == kubelet["name"])["running"]
    result = lifecycle.up(two_nodes.name, build=False)
    assert not result.already_up and f"{two_nodes.name}-worker-2" in result.restarted
    assert result.status["phase"] == "Running"
    assert [n["ready"] for n in result.status["nodes"]] == [True, True]
