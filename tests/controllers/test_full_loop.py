"""The whole loop with a real process: opt-in, detection by the node agent, injection, opt-out.

Real: the API server, scheduler, controller-manager and kwok nodes; the controllers; the injection webhook
(``hodegos webhook serve`` on the host); the node agent's loop (the code ``hodegos agent run`` runs) and a
real Python process in a real cgroup. The container runtime is the one part that cannot run here: the
test plays it by putting the process in the cgroup containerd would use for the pod kwok "runs", and by
writing the container ID into the pod's status as kubelet would.
"""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import threading
from typing import Any

import pytest

from api import constants
from controllers import rollouts
from controllers.manager import Manager
from detector.node import NodeAgent
from kube import Api
from kube.resources import DEPLOYMENTS, NAMESPACES, PODS, RECORDS
from localcluster.webhook_host import HostedWebhook
from tests.cgroups import join
from tests.controllers.cluster_support import create, wait, workload_body
from tests.detector.conftest import PYTHON_PROGRAM
from tests.detector.test_agent_cluster import running_status

pytestmark = pytest.mark.cluster


def _pods(admin: Api, ns: str, app: str) -> list[dict[str, Any]]:
    items, _ = admin.list(PODS, ns, f"app={app}")
    return [p for p in items if not p["metadata"].get("deletionTimestamp")]


def _running(admin: Api, ns: str, app: str, injected: bool) -> list[dict[str, Any]]:
    pods = _pods(admin, ns, app)
    ok = len(pods) == 1 and all(
        rollouts.is_instrumented(p) == injected and (p.get("status") or {}).get("phase") == "Running"
        for p in pods
    )
    return pods if ok else []


def test_real_python_process_is_detected_injected_and_rolled_back_on_opt_out(
    controllers: Manager,
    webhook: HostedWebhook,
    admin: Api,
    kube_api: Any,
    admin_api: Api,
    make_namespace: Any,
    pod_cgroups: Any,
) -> None:
    from kubernetes import client

    ns = make_namespace(annotations={constants.ANNOTATION_INSTRUMENTATION: "enabled"})
    create(admin, DEPLOYMENTS, workload_body("Deployment", "shop", ns))
    pod = wait("a Running pod on a kwok node", lambda: _running(admin, ns, "shop", injected=False), 90)[0]
    node = pod["spec"].get("nodeName")
    assert node, "the scheduler bound the pod to a kwok node"
    record = "deployment-shop"
    wait("the instrumentor's record", lambda: admin.get(RECORDS, ns, record))

    # The container runtime's part: a real Python process in the pod's container cgroup, and its ID.
    cid = secrets.token_hex(32)
    process = subprocess.Popen(
        ["/usr/bin/python3", "-c", PYTHON_PROGRAM],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        preexec_fn=join(pod_cgroups(pod["metadata"]["uid"], cid)),
        start_new_session=True,
    )
    core: Any = client.CoreV1Api(kube_api)
    agent = NodeAgent(admin_api, node)
    stop = threading.Event()
    loop = threading.Thread(target=agent.run, args=(5, stop), daemon=True)
    try:
        assert process.stdout is not None
        version = process.stdout.readline().removeprefix("READY").strip()
        assert version, "the Python process started"
        core.patch_namespaced_pod_status(pod["metadata"]["name"], ns, running_status({"app": cid}))
        loop.start()

        def detected() -> dict[str, Any] | None:
            for entry in ((admin.get(RECORDS, ns, record) or {}).get("status") or {}).get("containers") or []:
                if entry["name"] == "app" and entry.get("language") == "python":
                    return dict(entry)
            return None

        found = wait("the agent's detection in the record", detected, timeout=30)
        assert found["runtimeVersion"] == version and found["libc"] == "glibc"

        injected = wait(
            "the Deployment rolled into injected pods",
            lambda: _running(admin, ns, "shop", injected=True),
            timeout=90,
        )[0]
        assert constants.ANNOTATION_INJECTED in injected["metadata"]["annotations"]
        assert rollouts.marker(injected) == controllers.ctx.rules_version
        init = [c["name"] for c in injected["spec"].get("initContainers") or []]
        assert "hodegos-agent-python" in init, init
        assert injected["metadata"]["uid"] != pod["metadata"]["uid"]

        admin.merge_patch(
            NAMESPACES,
            None,
            ns,
            {"metadata": {"annotations": {constants.ANNOTATION_INSTRUMENTATION: "disabled"}}},
        )
        clean = wait(
            "clean pods after the namespace opted out",
            lambda: _running(admin, ns, "shop", injected=False),
            timeout=90,
        )[0]
        assert constants.ANNOTATION_INJECTED not in (clean["metadata"].get("annotations") or {})
        assert not [c for c in clean["spec"].get("initContainers") or [] if c["name"].startswith("hodegos")]
        wait("the record removed", lambda: admin.get(RECORDS, ns, record) is None, timeout=30)
    finally:
        stop.set()
        if loop.is_alive():
            loop.join(timeout=10)
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        process.wait(timeout=10)
