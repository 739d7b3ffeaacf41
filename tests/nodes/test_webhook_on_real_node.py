"""The injection webhook with a real node: an opted-in Deployment's pods are injected and actually start.

The agent image is built from the recipe in ``toolchain/recipes/python/`` and loaded with ``cluster load``;
the init container copies the agent into the pod's volume, the app process (Debian's CPython in the probe
image) starts with the injected environment, reads it from ``/proc/<pid>/environ`` and has loaded the
agent's ``sitecustomize`` at start-up. The webhook runs on the host (``hodegos webhook serve``) and the API
server calls it on loopback.
"""

from __future__ import annotations

import json
import time

import pytest

from api import constants
from localcluster import lifecycle, processes, webhook_host
from localcluster.layout import Ports
from localcluster.webhook_host import HostedWebhook
from tests.nodes.conftest import PROBE_IMAGE, RealCluster
from tests.support import require, wait
from toolchain import agents, localimages
from webhook import registration

pytestmark = pytest.mark.cluster


def test_injected_pod_starts_with_the_agent_and_the_injected_env(one_node: RealCluster) -> None:
    require(agents.is_built("python"), "the Python agent tree is not built: run `make setup`")
    lifecycle.load(one_node.name, [localimages.agent_archive("python")])
    admin = one_node.api()
    webhook_host.apply_crds(admin)
    webhook_host.grant_read_access(admin)
    hosted = HostedWebhook(one_node.layout, Ports(one_node.port), processes.free_block(29643, size=1))
    hosted.start()
    try:
        hosted.register(admin)
        ns = f"shop-{int(time.time())}"
        record = constants.record_name("Deployment", "checkout")
        one_node.apply(f"""
apiVersion: v1
kind: Namespace
metadata:
  name: {ns}
  annotations: {{{constants.ANNOTATION_INSTRUMENTATION}: enabled}}
---
apiVersion: {constants.API_VERSION}
kind: InstrumentedApplication
metadata: {{name: {record}, namespace: {ns}}}
spec:
  workload: {{kind: Deployment, name: checkout}}
""")
        status = {"status": {"containers": [{"name": "app", "language": "python", "libc": "glibc"}]}}
        one_node.kubectl(
            "-n", ns, "patch", "instrumentedapplication", record, "--subresource=status", "--type=merge",
            "-p", json.dumps(status),
        )  # fmt: skip
        time.sleep(1)  # the webhook's watch cache sees the record within milliseconds
        one_node.apply(f"""
apiVersion: apps/v1
kind: Deployment
metadata: {{name: checkout, namespace: {ns}}}
spec:
  replicas: 1
  selector: {{matchLabels: {{app: checkout}}}}
  template:
    metadata: {{labels: {{app: checkout}}}}
    spec:
      containers:
      - name: app
        image: {PROBE_IMAGE}
        imagePullPolicy: Never
        args: [python3, /app/probe.py, app]
        env: [{{name: PYTHONPATH, value: /srv/lib}}]
""")
        one_node.kubectl("-n", ns, "rollout", "status", "deployment/checkout", "--timeout=120s", timeout=150)
        pods = json.loads(
            one_node.kubectl("-n", ns, "get", "pods", "-l", "app=checkout", "-o", "json").stdout
        )
        (pod,) = pods["items"]
        name = pod["metadata"]["name"]
        assert pod["metadata"]["annotations"].get("hodegos.io/injected"), pod["metadata"]
        (init,) = pod["spec"]["initContainers"]
        assert init["image"] == localimages.agent_ref("python")
        assert pod["status"]["initContainerStatuses"][0]["state"]["terminated"]["exitCode"] == 0
        spec_env = {e["name"]: e.get("value") for e in pod["spec"]["containers"][0]["env"]}

        # The running process: its own environment, as the kernel holds it.
        raw = one_node.kubectl("-n", ns, "exec", name, "-c", "app", "--", "cat", "/proc/1/environ").stdout
        environ = dict(item.split("=", 1) for item in raw.split("\0") if "=" in item)
        assert environ["PYTHONPATH"] == spec_env["PYTHONPATH"]
        assert "/srv/lib" in environ["PYTHONPATH"] and "auto_instrumentation" in environ["PYTHONPATH"]
        assert environ.get("OTEL_SERVICE_NAME") == spec_env.get("OTEL_SERVICE_NAME") == "checkout"

        def started() -> str:
            out = one_node.kubectl("-n", ns, "logs", name, "-c", "app", check=False).stdout
            return out if "agent-loaded=" in out else ""

        logs = wait("the app to report its start-up", started, timeout=30)
        assert "agent-loaded=True pid=1" in logs, logs
    finally:
        hosted.stop()
        registration.unregister(admin, constants.WEBHOOK_CONFIGURATION)
