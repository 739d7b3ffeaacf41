"""The node agent against the real control plane: records detections of real processes in real cgroups.

The container runtime is the one part that cannot run here: the test plays kubelet's role by putting
real processes in the cgroups containerd would use and writing the pod's status (Running, container
IDs) through the API. Everything else is real: the API server, the CRDs, the watch, the status patch.
"""

from __future__ import annotations

import secrets
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from api import constants
from cli.main import app
from detector import Detection
from detector.errors import RecordWriteError
from detector.node import NodeAgent
from detector.tracing import GoTracing
from detector.writer import RecordStore, record_detections
from kube import Api
from tests.cgroups import join
from tests.detector.conftest import PYTHON_PROGRAM, Started
from tests.detector.test_tracing import Recorder

pytestmark = pytest.mark.cluster
PLURAL = "instrumentedapplications"
MERGE = "application/merge-patch+json"


def make_record(custom: Any, namespace: str, kind: str, workload: str) -> str:
    name = constants.record_name(kind, workload)
    body = {
        "apiVersion": constants.API_VERSION,
        "kind": "InstrumentedApplication",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"workload": {"kind": kind, "name": workload}},
    }
    custom.create_namespaced_custom_object(constants.GROUP, constants.VERSION, namespace, PLURAL, body)
    return name


def get_record(custom: Any, namespace: str, name: str) -> dict[str, Any]:
    raw: dict[str, Any] = custom.get_namespaced_custom_object(
        constants.GROUP, constants.VERSION, namespace, PLURAL, name
    )
    return raw


def containers_of(record: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["name"]: c for c in (record.get("status") or {}).get("containers", [])}


def test_agent_watches_pods_and_records_runtimes(
    kube_api: Any,
    admin_api: Api,
    kubeconfig: Path,
    hodegos_crds: list[str],
    kube_namespace: str,
    node_name: str,
    programs: dict[str, list[str]],
    start: Callable[..., Started],
    pod_cgroups: Callable[[str, str], Path],
) -> None:
    from kubernetes import client

    core: Any = client.CoreV1Api(kube_api)
    custom: Any = client.CustomObjectsApi(kube_api)
    recorder = Recorder()  # stands in for ebpf.tracer.attach, which tests/ebpf covers with real BPF
    agent = NodeAgent(admin_api, node_name, tracing=GoTracing(recorder))
    stop = threading.Event()
    loop = threading.Thread(target=agent.run, args=(3, stop), daemon=True)
    loop.start()
    try:
        record = make_record(custom, kube_namespace, "Pod", "shop")
        pod = core.create_namespaced_pod(
            kube_namespace,
            {
                "metadata": {"name": "shop", "labels": {constants.LABEL_EBPF_GO: "proxy"}},
                "spec": {
                    "nodeName": node_name,
                    "containers": [{"name": "app", "image": "shop:1"}, {"name": "proxy", "image": "proxy:1"}],
                },
            },
        )
        uid: str = pod.metadata.uid
        app_cid, proxy_cid = secrets.token_hex(32), secrets.token_hex(32)
        python = start(
            ["/bin/sh", "-c", f'/usr/bin/python3 -c "{PYTHON_PROGRAM}"; true'],
            preexec=join(pod_cgroups(uid, app_cid)),
        )
        proxy = start(programs["go-static"], preexec=join(pod_cgroups(uid, proxy_cid)))
        core.patch_namespaced_pod_status(
            "shop", kube_namespace, running_status({"app": app_cid, "proxy": proxy_cid})
        )

        deadline = time.monotonic() + 60
        found: dict[str, dict[str, Any]] = {}
        while time.monotonic() < deadline and len(found) < 2:
            found = containers_of(get_record(custom, kube_namespace, record))
            time.sleep(0.3)
        # A fresh agent (a restart) finds the record already right and writes nothing.
        result = CliRunner().invoke(
            app,
            ["agent", "run", "--node", node_name, "--kubeconfig", str(kubeconfig), "--once", "--no-trace-go"],
        )
        assert result.exit_code == 0, result.output
        assert f"{kube_namespace}/shop: unchanged {record} (2/2 containers)" in result.stdout
        # The webhook labelled the pod for eBPF: its Go container went to the tracer, and is let go with it.
        assert [pid for pid, _ in recorder.attached] == [proxy.pid]
        resource = recorder.attached[0][1]
        assert resource[constants.ATTR_POD_UID] == uid and resource[constants.ATTR_CONTAINER_NAME] == "proxy"
        assert (
            resource[constants.ATTR_NODE_NAME] == node_name
            and resource[constants.ATTR_SERVICE_NAME] == "shop"
        )
        core.delete_namespaced_pod("shop", kube_namespace, grace_period_seconds=0)
        while time.monotonic() < deadline and not recorder.closed:
            time.sleep(0.2)
        assert recorder.closed == [proxy.pid]
    finally:
        stop.set()
        loop.join(timeout=10)
    assert found["app"]["language"] == "python" and found["app"]["runtimeVersion"] == python.ready
    assert found["app"]["libc"] == "glibc"
    assert found["proxy"]["language"] == "go"
    assert found["proxy"]["runtimeVersion"] == proxy.ready.removeprefix("go")


def test_concurrent_writers_lose_nothing(
    kube_api: Any, admin_api: Api, hodegos_crds: list[str], kube_namespace: str
) -> None:
    """Two node agents write the same Deployment's record at once: the 409 is retried on a fresh read."""
    from kubernetes import client

    custom: Any = client.CustomObjectsApi(kube_api)
    name = make_record(custom, kube_namespace, "Deployment", "shop")
    cid = "a" * 64
    pod: dict[str, Any] = {
        "metadata": {
            "name": "shop-5d8f7c9b4-x2x7k",
            "namespace": kube_namespace,
            "uid": str(uuid.uuid4()),
            "labels": {constants.POD_TEMPLATE_HASH: "5d8f7c9b4"},
            "ownerReferences": [{"kind": "ReplicaSet", "name": "shop-5d8f7c9b4", "controller": True}],
        },
        "status": {
            "phase": "Running",
            "containerStatuses": [{"name": "app", "containerID": f"cri-o://{cid}", "state": {"running": {}}}],
        },
    }
    found = Detection.model_validate(
        {"pid": 1, "language": "nodejs", "runtimeVersion": "22.4.1", "libc": "musl"}
    )

    class RacingStore(RecordStore):
        """Another node's agent writes between our read and our patch, once."""

        statuses: list[int | None] = []

        def get(self, namespace: str, record: str, *, fresh: bool = False) -> Any:
            current = super().get(namespace, record, fresh=fresh)
            if not self.statuses:
                other = {"status": {"containers": [{"name": "worker", "language": "java"}]}}
                custom.patch_namespaced_custom_object_status(
                    constants.GROUP, constants.VERSION, namespace, PLURAL, record, other, _content_type=MERGE
                )
            return current

        def patch_status(self, namespace: str, record: str, patch: Any) -> None:
            try:
                super().patch_status(namespace, record, patch)
                self.statuses.append(200)
            except RecordWriteError as exc:
                self.statuses.append(exc.status)
                raise

    store = RacingStore(admin_api)
    assert record_detections(store, pod, {cid: found}) == f"updated {name}"
    assert store.statuses == [409, 200]
    containers = containers_of(get_record(custom, kube_namespace, name))
    assert containers["worker"]["language"] == "java"  # the other agent's entry survived
    assert containers["app"]["language"] == "nodejs" and containers["app"]["libc"] == "musl"
    # Pods of workloads without a record are left alone.
    orphan = {**pod, "metadata": {**pod["metadata"], "ownerReferences": [], "name": "lonely"}}
    assert record_detections(RecordStore(admin_api), orphan, {cid: found}) == "no-record"


def test_agent_process_runs_until_sigterm(kubeconfig: Path, hodegos_crds: list[str], node_name: str) -> None:
    """The real command: starts, lists its node's pods, and exits 0 promptly on SIGTERM (pod shutdown)."""
    hodegos = Path(sys.executable).with_name("hodegos")
    process = subprocess.Popen(
        [
            str(hodegos),
            "agent",
            "run",
            "--node",
            node_name,
            "--kubeconfig",
            str(kubeconfig),
            "--resync",
            "30",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        time.sleep(3)
        assert process.poll() is None, process.communicate()
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=15) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    _, stderr = process.communicate()
    assert "Traceback" not in stderr, stderr


def running_status(containers: dict[str, str]) -> dict[str, Any]:
    """A pod status as kubelet writes it for running containers (name -> bare container ID)."""
    return {
        "status": {
            "phase": "Running",
            "containerStatuses": [
                {
                    "name": name,
                    "image": f"{name}:1",
                    "imageID": "",
                    "ready": True,
                    "restartCount": 0,
                    "containerID": f"containerd://{cid}",
                    "state": {"running": {"startedAt": "2026-01-01T00:00:00Z"}},
                }
                for name, cid in containers.items()
            ],
        }
    }


def test_configuration_ignored_containers_and_namespaces(
    kube_api: Any,
    admin_api: Api,
    hodegos_crds: list[str],
    kube_namespace: str,
    node_name: str,
    programs: dict[str, list[str]],
    start: Callable[..., Started],
    pod_cgroups: Callable[[str, str], Path],
) -> None:
    from kubernetes import client

    core: Any = client.CoreV1Api(kube_api)
    custom: Any = client.CustomObjectsApi(kube_api)
    record = make_record(custom, kube_namespace, "Pod", "batch")
    pod = core.create_namespaced_pod(
        kube_namespace,
        {
            "metadata": {"name": "batch"},
            "spec": {"nodeName": node_name, "containers": [{"name": "job", "image": "j"}]},
        },
    )
    cid = secrets.token_hex(32)
    start(programs["go-static"], preexec=join(pod_cgroups(pod.metadata.uid, cid)))
    core.patch_namespaced_pod_status("batch", kube_namespace, running_status({"job": cid}))
    config = {
        "metadata": {"name": constants.CONFIG_MAP},
        "data": {"config.yaml": "ignoredNamespaces: [nope]\n"},
    }
    core.create_namespaced_config_map(kube_namespace, config)

    # A broken configuration is reported and the previous (here: default) one kept.
    config["data"] = {"config.yaml": "ignoredContainers: 7\n"}
    core.replace_namespaced_config_map(constants.CONFIG_MAP, kube_namespace, config)
    agent = NodeAgent(admin_api, node_name, config_namespace=kube_namespace)
    outcomes = agent.run_once()
    assert outcomes == [f"{kube_namespace}/batch: updated {record} (1/1 containers)"]
    assert containers_of(get_record(custom, kube_namespace, record))["job"]["language"] == "go"

    config["data"] = {"config.yaml": "ignoredContainers: [job]\n"}
    core.replace_namespaced_config_map(constants.CONFIG_MAP, kube_namespace, config)
    agent = NodeAgent(admin_api, node_name, config_namespace=kube_namespace)
    agent.run_once()
    job = containers_of(get_record(custom, kube_namespace, record))["job"]
    assert job["language"] == "ignored" and job["evidence"] == "container name is ignored"

    config["data"] = {"config.yaml": f"ignoredNamespaces: [{kube_namespace}]\n"}
    core.replace_namespaced_config_map(constants.CONFIG_MAP, kube_namespace, config)
    agent = NodeAgent(admin_api, node_name, config_namespace=kube_namespace)
    assert agent.run_once() == [f"{kube_namespace}/batch: ignored namespace"]


def test_unknown_container_is_looked_at_again(
    kube_api: Any,
    admin_api: Api,
    hodegos_crds: list[str],
    kube_namespace: str,
    node_name: str,
    start: Callable[..., Started],
    pod_cgroups: Callable[[str, str], Path],
) -> None:
    """A start script that execs its runtime later: recorded unknown first, then python on the next pass."""
    from kubernetes import client

    core: Any = client.CoreV1Api(kube_api)
    custom: Any = client.CustomObjectsApi(kube_api)
    record = make_record(custom, kube_namespace, "Pod", "slow")
    pod = core.create_namespaced_pod(
        kube_namespace,
        {
            "metadata": {"name": "slow"},
            "spec": {"nodeName": node_name, "containers": [{"name": "app", "image": "a"}]},
        },
    )
    cid = secrets.token_hex(32)
    script = f'echo READY; read line; exec /usr/bin/python3 -c "{PYTHON_PROGRAM}"'
    started = start(["/bin/sh", "-c", script], preexec=join(pod_cgroups(pod.metadata.uid, cid)))
    core.patch_namespaced_pod_status("slow", kube_namespace, running_status({"app": cid}))
    agent = NodeAgent(admin_api, node_name, config_namespace=None)

    assert agent.run_once() == [f"{kube_namespace}/slow: updated {record} (1/1 containers)"]
    assert containers_of(get_record(custom, kube_namespace, record))["app"]["language"] == "unknown"

    stdin, stdout = started.process.stdin, started.process.stdout
    assert stdin is not None and stdout is not None
    stdin.write("go\n")
    stdin.flush()
    version = stdout.readline().removeprefix("READY").strip()  # the shell became python
    assert agent.run_once() == [f"{kube_namespace}/slow: updated {record} (1/1 containers)"]
    app_entry = containers_of(get_record(custom, kube_namespace, record))["app"]
    assert (app_entry["language"], app_entry["runtimeVersion"]) == ("python", version)
    assert agent.run_once() == [f"{kube_namespace}/slow: up to date"]
