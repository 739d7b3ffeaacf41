"""`hodegos cluster up|status|kubeconfig|down` end to end, through the CLI, on a cluster of its own."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from localcluster import processes
from localcluster.layout import Layout
from tests.kube import KubeCluster
from tests.support import require
from toolchain import cluster as tools

pytestmark = pytest.mark.cluster

NAME = "hodegos-pytest-life"
# A free block of six ports, so parallel sessions and other clusters on this machine do not collide.
PORT = processes.free_block(int(os.environ.get("HODEGOS_TEST_LIFECYCLE_PORT", "28443")))


def hodegos(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "cli.main", "cluster", *args], capture_output=True, text=True, timeout=600
    )


def _status() -> tuple[int, dict[str, object]]:
    out = hodegos("status", "--name", NAME, "-o", "json")
    return out.returncode, json.loads(out.stdout)


def _pids(report: dict[str, object]) -> dict[str, int]:
    rows = report["components"]
    assert isinstance(rows, list)
    return {row["name"]: row["pid"] for row in rows}


@pytest.fixture
def life_cluster() -> Iterator[Layout]:
    require(not tools.missing(), "local control plane binaries not built: run `make setup`")
    lay = Layout.for_name(NAME)
    yield lay
    if lay.root.exists():
        hodegos("down", "--name", NAME, "-q")


def test_up_status_idempotence_restart_and_down(life_cluster: Layout) -> None:
    started = hodegos(
        "up", "--name", NAME, "--port", str(PORT), "--nodes", "0", "--fake-nodes", "1", "--no-build", "-q"
    )
    assert started.returncode == 0, started.stderr
    assert Path(started.stdout.strip()) == life_cluster.admin_kubeconfig
    code, report = _status()
    assert code == 0 and report["phase"] == "Running", report
    first = _pids(report)
    assert set(first) == {"etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok"}

    # Starting twice is harmless: nothing is restarted.
    again = hodegos("up", "--name", NAME, "--no-build", "-q")
    assert again.returncode == 0 and "already up" in again.stderr
    assert _pids(_status()[1]) == first

    # --fake-nodes is reconciled on a running cluster, both ways.
    kubectl = [str(tools.KUBERNETES.path("kubectl")), f"--kubeconfig={life_cluster.admin_kubeconfig}"]

    def node_names() -> list[str]:
        listed = subprocess.run(
            [*kubectl, "get", "nodes", "-o", "name"], capture_output=True, text=True, check=True
        )
        return listed.stdout.split()

    assert hodegos("up", "--name", NAME, "--fake-nodes", "2", "--no-build", "-q").returncode == 0
    assert node_names() == [f"node/{NAME}-node-1", f"node/{NAME}-node-2"]
    report = _status()[1]
    assert (report["fakeNodes"], report["realNodes"]) == (2, 0)
    rows: list[dict[str, object]] = report["nodes"]  # type: ignore[assignment]
    assert [(n["name"], n["type"], n["ready"]) for n in rows] == [
        (f"{NAME}-node-1", "fake", True),
        (f"{NAME}-node-2", "fake", True),
    ]
    assert hodegos("up", "--name", NAME, "--fake-nodes", "1", "--no-build", "-q").returncode == 0
    assert node_names() == [f"node/{NAME}-node-1"]
    assert _pids(_status()[1]) == first

    # The path, or the whole kubeconfig with inline credentials.
    assert hodegos("kubeconfig", "--name", NAME).stdout.strip() == str(life_cluster.admin_kubeconfig)
    assert "client-key-data" in hodegos("kubeconfig", "--name", NAME, "--content").stdout

    # One component dies: status says so (exit 1), and `up` repairs the cluster.
    os.kill(first["kube-scheduler"], signal.SIGKILL)
    code, report = _status()
    assert code == 1 and report["phase"] == "Degraded"
    repaired = hodegos("up", "--name", NAME, "--no-build", "-q")
    assert repaired.returncode == 0, repaired.stderr
    assert "kube-scheduler was not running" in " ".join(repaired.stderr.split())
    code, report = _status()
    assert code == 0 and report["phase"] == "Running"
    second = _pids(report)
    assert not set(second.values()) & set(first.values())

    # `down --keep` stops the processes but keeps data and credentials: the next `up` resumes on them.
    subprocess.run(
        [*kubectl, "create", "configmap", "survivor", "--from-literal=k=v"], check=True, capture_output=True
    )
    kept = hodegos("down", "--name", NAME, "--keep", "-q")
    assert kept.returncode == 0 and life_cluster.root.exists()
    assert not any(
        processes.alive(processes.Started.from_json(p))
        for p in json.loads(life_cluster.state_file.read_text())["processes"]
    )
    assert _status()[1]["phase"] == "Stopped"
    resumed = hodegos("up", "--name", NAME, "--no-build", "-q")
    assert resumed.returncode == 0, resumed.stderr
    got = subprocess.run(
        [*kubectl, "get", "configmap", "survivor", "-o", "jsonpath={.data.k}"], capture_output=True, text=True
    )
    assert got.stdout == "v", got.stderr

    # The hosted webhook is recorded with the cluster, shown by status and stopped by `down`.
    webhook_port = processes.free_block(PORT + 6, size=1)
    hosted = hodegos("webhook", "--name", NAME, "--port", str(webhook_port))
    assert hosted.returncode == 0, hosted.stderr
    code, report = _status()
    assert code == 0 and "hodegos-webhook" in _pids(report)
    configuration = subprocess.run(
        [*kubectl, "get", "mutatingwebhookconfiguration", "-o", "name"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "hodegos-pod-injection" in configuration

    # Repairing the control plane leaves the running webhook alone (it reconnects by itself).
    webhook_pid = _pids(report)["hodegos-webhook"]
    os.kill(_pids(report)["kwok"], signal.SIGKILL)
    repaired = hodegos("up", "--name", NAME, "--no-build", "-q")
    assert repaired.returncode == 0, repaired.stderr
    assert "kwok was not running" in " ".join(repaired.stderr.split())
    code, report = _status()
    assert code == 0 and _pids(report)["hodegos-webhook"] == webhook_pid

    # `down` stops exactly what it started and removes the state.
    record = json.loads(life_cluster.state_file.read_text())
    started_procs = [processes.Started.from_json(p) for p in record["processes"]]
    stopped = hodegos("down", "--name", NAME)
    assert stopped.returncode == 0, stopped.stderr
    assert not any(processes.alive(p) for p in started_procs)
    assert not life_cluster.root.exists()
    assert hodegos("down", "--name", NAME).returncode == 0  # a second down is harmless too
    code, _ = hodegos("status", "--name", NAME).returncode, None
    assert code == 1


def test_port_in_use_is_named_and_nothing_starts(kube_cluster: KubeCluster) -> None:
    other = "hodegos-pytest-clash"
    refused = hodegos("up", "--name", other, "--port", str(kube_cluster.ports.apiserver), "--no-build", "-q")
    assert refused.returncode == 1
    message = " ".join(refused.stderr.split())
    found = re.search(r"port (\d+) needed by (\S+) is already in use by pid (\d+) \((.+?)\)", message)
    assert found, message
    port, component, pid, cmdline = int(found[1]), found[2], int(found[3]), found[4]
    assert port in kube_cluster.ports.by_component().values()
    # The holder named is the session cluster's own process on that port.
    record = json.loads(kube_cluster.layout.state_file.read_text())
    holder = next(p for p in record["processes"] if p["pid"] == pid)
    assert holder["component"] == component and holder["argv"][0] in cmdline
    assert not Layout.for_name(other).root.exists()
