"""The whole controller loop on the local control plane, with every real part that runs here.

Real: kube-apiserver, etcd, controller-manager, scheduler and kwok nodes; the controllers (in-process, as
their own user); the injection webhook (``hodegos webhook serve`` on the host, registered by URL, reading
``hodegos-config`` live); the OpenTelemetry Collector binary, which validates every rendered config. The
node agent's part, writing what runs in each container into the record, is played by the test with the
agent's own writer (:func:`detector.writer.record_detections`): kwok nodes run no processes to inspect.
The agent itself is covered for real in ``tests/detector``.

Destinations (valid, invalid, disabled, a Secret edited) and workloads (Python, Node.js, Go, a ``ruby``
container, a container with another APM agent, an app beside an ignored sidecar) -> records -> collector
groups, gateway and node objects and configs -> Destination and record conditions -> rollouts; then the
configuration is edited and the webhook follows it without a restart.
"""

from __future__ import annotations

import secrets
import time
from functools import partial
from typing import Any

import pytest
import yaml

from api import constants
from api.models import InstrumentedApplication
from controllers import rollouts
from controllers.manager import Manager
from detector import Detection
from detector.writer import RecordStore, record_detections
from kube import Api
from kube.resources import CONFIGMAPS, DAEMONSETS, DEPLOYMENTS, DESTINATIONS, GROUPS, PODS, RECORDS, SECRETS
from localcluster.webhook_host import HostedWebhook
from tests.controllers.cluster_support import RESTARTED, create, deployment_rolled, wait, workload_body
from tests.support import require

pytestmark = [pytest.mark.cluster, pytest.mark.collector]

# workload -> (containers, {container: (language, other agents)}) as the node agent would record them
WORKLOADS: dict[str, tuple[tuple[str, ...], dict[str, tuple[str, tuple[str, ...]]]]] = {
    "py": (("app",), {"app": ("python", ())}),
    "node": (("app",), {"app": ("nodejs", ())}),
    "gosvc": (("app",), {"app": ("go", ())}),
    "rb": (("app",), {"app": ("ruby", ())}),
    "apm": (("app",), {"app": ("java", ("newrelic",))}),
    "mesh": (("app", "istio-proxy"), {"app": ("python", ()), "istio-proxy": ("go", ())}),
}
INSTRUMENTED = {"py", "node", "gosvc", "mesh"}


def _play_node_agent(admin: Api, ns: str, name: str) -> None:
    """Write the record's ``status.containers`` with the node agent's own writer (conflicts retried)."""
    raw = wait(f"record of {name}", lambda: admin.get(RECORDS, ns, f"deployment-{name}"))
    record = InstrumentedApplication.model_validate(raw)
    pod: dict[str, Any] = {
        "metadata": {"name": f"{name}-x", "namespace": ns},
        "status": {"containerStatuses": []},
    }
    detections: dict[str, Detection] = {}
    for container, (language, agents) in WORKLOADS[name][1].items():
        cid = secrets.token_hex(32)
        pod["status"]["containerStatuses"].append(
            {"name": container, "containerID": f"containerd://{cid}", "state": {"running": {}}}
        )
        detections[cid] = Detection(pid=1, language=language, libc="glibc", other_agents=list(agents))
    outcome = record_detections(RecordStore(admin), pod, detections, found=(record.metadata.name, record))
    assert outcome.startswith("updated"), outcome


def _condition(admin: Api, res: Any, ns: str, name: str, type_: str) -> dict[str, Any] | None:
    obj = admin.get(res, ns, name) or {}
    for cond in (obj.get("status") or {}).get("conditions") or []:
        if cond["type"] == type_:
            return dict(cond)
    return None


def _decided(admin: Api, ns: str, name: str) -> dict[str, Any] | None:
    """The record's Injectable condition once the webhook's answer is known (not waiting for detection)."""
    cond = _condition(admin, RECORDS, ns, f"deployment-{name}", "Injectable")
    return cond if cond and cond["reason"] != "WaitingForDetection" else None


def _pods(admin: Api, ns: str, app: str) -> list[dict[str, Any]]:
    items, _ = admin.list(PODS, ns, f"app={app}")
    return [p for p in items if not p["metadata"].get("deletionTimestamp")]


def _instrumented_pods(admin: Api, ns: str, app: str) -> list[dict[str, Any]]:
    pods = _pods(admin, ns, app)
    ok = pods and all(
        rollouts.is_instrumented(p) and (p.get("status") or {}).get("phase") == "Running" for p in pods
    )
    return pods if ok else []


def _destination(name: str, kind: str, signals: list[str], **data: Any) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "type": kind,
        "signals": signals,
        "data": {k: v for k, v in data.items() if k != "spec"},
    }
    spec.update(data.get("spec") or {})
    return {
        "apiVersion": constants.API_VERSION,
        "kind": "Destination",
        "metadata": {"name": name, "namespace": constants.NAMESPACE},
        "spec": spec,
    }


def _config_text(admin: Api, name: str) -> str:
    cm = admin.get(CONFIGMAPS, constants.NAMESPACE, name) or {}
    return str((cm.get("data") or {}).get("config.yaml") or "")


def _validate(text: str, secret_env: list[dict[str, Any]]) -> None:
    from destinations import collector

    require(collector.is_built(), "the pinned OpenTelemetry Collector is not built: run `make setup`")
    env = {e["name"]: "validate-only" for e in secret_env}
    env |= {constants.ENV_NODE_NAME: "node-1", constants.ENV_NODE_IP: "127.0.0.1", "GOMEMLIMIT": "100MiB"}
    collector.validate(text, env=env)


def _set_config(admin: Api, text: str) -> None:
    admin.apply(
        CONFIGMAPS,
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": constants.CONFIG_MAP, "namespace": constants.NAMESPACE},
            "data": {"config.yaml": text},
        },
    )


def test_destinations_and_workloads_through_the_whole_loop(
    controllers: Manager, webhook: HostedWebhook, admin: Api, make_namespace: Any
) -> None:
    ns = make_namespace(annotations={constants.ANNOTATION_INSTRUMENTATION: "enabled"})
    secret = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "loop-token", "namespace": constants.NAMESPACE},
        "stringData": {"OTLP_GRPC_BEARER_TOKEN": "first"},
    }
    good = _destination(
        "loop-good", "otlp", ["traces", "metrics", "logs"], OTLP_GRPC_ENDPOINT="b.invalid:4317"
    )
    good["spec"]["secretRef"] = {"name": "loop-token"}
    off = _destination("loop-off", "otlp", ["traces"], OTLP_GRPC_ENDPOINT="off.invalid:4317")
    off["spec"]["disabled"] = True
    invalid = _destination("loop-invalid", "otlp", ["traces"])  # its required endpoint is missing
    destinations = [good, invalid, off]
    admin.apply(SECRETS, secret)
    try:
        for body in destinations:
            admin.apply(DESTINATIONS, body)
        for name, (containers, _) in WORKLOADS.items():
            create(admin, DEPLOYMENTS, workload_body("Deployment", name, ns, containers=containers))
        for name in WORKLOADS:
            _play_node_agent(admin, ns, name)

        # Records say, container by container, what the webhook will do, and why not.
        injectable: dict[str, dict[str, Any]] = {}
        for name in WORKLOADS:
            injectable[name] = wait(f"Injectable on {name}", partial(_decided, admin, ns, name))
            assert (injectable[name]["status"] == "True") == (name in INSTRUMENTED), (name, injectable[name])
        assert "no injection rules" in injectable["rb"]["message"]
        assert "newrelic" in injectable["apm"]["message"]

        # Rollouts: the instrumented workloads' pods come back injected (Go: labelled for eBPF).
        for name in INSTRUMENTED:
            wait(f"{name} pods instrumented", partial(_instrumented_pods, admin, ns, name), timeout=150)
        py = _pods(admin, ns, "py")[0]
        assert [c["name"] for c in py["spec"]["initContainers"]] == ["hodegos-agent-python"]
        gosvc = _pods(admin, ns, "gosvc")[0]
        assert gosvc["metadata"]["labels"][constants.LABEL_EBPF_GO] == "true"
        assert not gosvc["spec"].get("initContainers")
        mesh = _pods(admin, ns, "mesh")[0]
        status = yaml.safe_load(mesh["metadata"]["annotations"][constants.ANNOTATION_INJECTION_STATUS])
        assert status == {"app": "injected:python"}, status  # the sidecar is left alone

        # Collector groups and their objects, each config accepted by the real collector.
        gateway = wait(
            "gateway group", lambda: admin.get(GROUPS, constants.NAMESPACE, constants.GATEWAY_NAME)
        )
        node = wait(
            "node group", lambda: admin.get(GROUPS, constants.NAMESPACE, constants.NODE_COLLECTOR_NAME)
        )
        assert gateway["spec"]["signals"] == node["spec"]["signals"] == ["traces", "metrics", "logs"]
        deployment = wait(
            "gateway Deployment", lambda: admin.get(DEPLOYMENTS, constants.NAMESPACE, constants.GATEWAY_NAME)
        )
        daemonset = wait(
            "node DaemonSet",
            lambda: admin.get(DAEMONSETS, constants.NAMESPACE, constants.NODE_COLLECTOR_NAME),
        )
        gateway_text = _config_text(admin, constants.GATEWAY_NAME)
        node_text = _config_text(admin, constants.NODE_COLLECTOR_NAME)
        _validate(gateway_text, deployment["spec"]["template"]["spec"]["containers"][0]["env"])
        _validate(node_text, daemonset["spec"]["template"]["spec"]["containers"][0]["env"])
        gateway_config = yaml.safe_load(gateway_text)
        assert "otlp_grpc/loop-good" in gateway_config["exporters"]
        assert not any("loop-invalid" in k or "loop-off" in k for k in gateway_config["exporters"])
        node_config = yaml.safe_load(node_text)
        filelog = node_config["receivers"]["file_log"]["include"]
        assert any(f"/{ns}_" in path for path in filelog), filelog  # the instrumented namespace's pod logs

        # Each Destination says whether it made it into the gateway, and why not.
        def configured(name: str) -> dict[str, Any]:
            found: dict[str, Any] = wait(
                f"Configured on {name}",
                lambda: _condition(admin, DESTINATIONS, constants.NAMESPACE, name, "Configured"),
            )
            return found

        assert configured("loop-good")["status"] == "True"
        refused = configured("loop-invalid")
        assert (refused["status"], refused["reason"]) == ("False", "MissingField")
        assert "OTLP_GRPC_ENDPOINT" in refused["message"]
        assert (configured("loop-off")["status"], configured("loop-off")["reason"]) == ("False", "Disabled")

        # A Secret edit rolls the gateway (its config hash covers the Secret's data) and nothing else.
        def gateway_hash() -> str:
            obj = admin.get(DEPLOYMENTS, constants.NAMESPACE, constants.GATEWAY_NAME) or {}
            return str(obj["spec"]["template"]["metadata"]["annotations"][constants.ANNOTATION_CONFIG_HASH])

        before = gateway_hash()
        admin.apply(SECRETS, {**secret, "stringData": {"OTLP_GRPC_BEARER_TOKEN": "second"}})
        wait("the gateway's hash after the Secret edit", lambda: gateway_hash() != before)

        # Workloads the webhook leaves alone are never rolled, even after the rollout cooldown (15 s here).
        time.sleep(controllers.ctx.rollout_cooldown.total_seconds() + 5)
        for name in ("rb", "apm"):
            assert RESTARTED not in deployment_rolled(admin, ns, name), name
            rollout = _condition(admin, RECORDS, ns, f"deployment-{name}", "WorkloadRollout")
            assert rollout is not None and rollout["reason"] == "UpToDate", rollout

        # The configuration, edited live: the webhook takes the new image registry for the next pod,
        # without a restart.
        _set_config(admin, "imageRegistry: registry.example.invalid/hodegos\n")
        wait(
            "the controllers' new configuration",
            lambda: controllers.config.image_registry.startswith("registry."),
        )
        admin.merge_patch(DEPLOYMENTS, ns, "py", {"spec": {"replicas": 2}})

        def new_registry_pod() -> dict[str, Any] | None:
            for pod in _pods(admin, ns, "py"):
                images = [c["image"] for c in pod["spec"].get("initContainers") or []]
                if images and images[0].startswith("registry.example.invalid/hodegos/agent-python:"):
                    return pod
            return None

        wait("a pod injected with the new registry", new_registry_pod, timeout=60)

        # The cluster mode flipped to opt-out: a namespace nobody annotated is instrumented too.
        _set_config(admin, "mode: opt-out\n")
        plain = make_namespace()
        create(admin, DEPLOYMENTS, workload_body("Deployment", "py", plain, containers=("app",)))
        _play_node_agent(admin, plain, "py")
        wait("opt-out pods injected", lambda: _instrumented_pods(admin, plain, "py"), timeout=150)
        # And a bad edit keeps the last good configuration, reported on the ConfigMap.
        _set_config(admin, "mode: sometimes\n")
        wait("the controllers report the bad edit", lambda: controllers.config_error)
        assert "mode" in str(controllers.config_error) and controllers.config.mode == "opt-out"
    finally:
        admin.delete(CONFIGMAPS, constants.NAMESPACE, constants.CONFIG_MAP)
        for body in destinations:
            admin.delete(DESTINATIONS, constants.NAMESPACE, body["metadata"]["name"])
        admin.delete(SECRETS, constants.NAMESPACE, "loop-token")
