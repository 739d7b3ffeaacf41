from __future__ import annotations

from typing import Any

import pytest
import yaml

import pipelines
from api import constants
from api.models import CollectorResources
from controllers import collectors, rendering
from destinations import components
from tests.controllers.factories import destination


def group(role: str = "gateway", **resources: int) -> dict[str, Any]:
    name = constants.GATEWAY_NAME if role == "gateway" else constants.NODE_COLLECTOR_NAME
    return {
        "apiVersion": constants.API_VERSION,
        "kind": "CollectorsGroup",
        "metadata": {"name": name, "namespace": constants.NAMESPACE, "uid": "g-uid", "generation": 1},
        "spec": {"role": role, "signals": ["traces"], "resources": resources},
    }


def by_kind(objs: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {o["kind"]: o for o in objs}


@pytest.mark.parametrize(
    ("limit", "hard", "spike", "gomem"), [(512, 462, 92, 369), (64, 32, 6, 25), (2048, 1998, 399, 1598)]
)
def test_sizing_follows_the_memory_limit(limit: int, hard: int, spike: int, gomem: int) -> None:
    size = pipelines.sizing(CollectorResources(memory_limit_mib=limit))
    assert (size.limiter_mib, size.spike_mib, size.gomemlimit_mib) == (hard, spike, gomem)
    assert size.gomemlimit_mib < size.limiter_mib < limit


def test_memory_limiter_is_sized_from_the_group_and_first_once_per_signal() -> None:
    rendered = rendering.render_gateway(
        [destination("a", signals=("traces", "metrics"), OTLP_GRPC_ENDPOINT="x:4317")],
        resources=CollectorResources(),
    )
    config = rendered.config
    pipelines_ = config["service"]["pipelines"]
    for signal in ("traces", "metrics"):
        assert pipelines_[f"{signal}/in"]["processors"][0] == "memory_limiter"
        assert "memory_limiter" not in pipelines_[f"{signal}/a"]["processors"]
    assert config["processors"]["memory_limiter"]["limit_mib"] == 462
    node = rendering.render_node(
        [destination("a", OTLP_GRPC_ENDPOINT="x:4317")], "gw:4317", resources=CollectorResources()
    )
    assert node.config["processors"]["memory_limiter"]["limit_mib"] == 462
    assert all(p["processors"][0] == "memory_limiter" for p in node.config["service"]["pipelines"].values())


def test_gateway_objects() -> None:
    rendered = rendering.render_gateway([destination("a", OTLP_GRPC_ENDPOINT="x:4317")])
    secret_env = [{"name": "TOKEN", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}}]
    objs, digest = collectors.desired_objects(
        group(memory_limit_mib=1024), rendered.config, {"s": {"k": "v"}}, "img", secret_env
    )
    kinds = by_kind(objs)
    assert set(kinds) == {"ConfigMap", "Deployment", "Service", "HorizontalPodAutoscaler"}
    for obj in objs:
        assert obj["metadata"]["ownerReferences"][0]["uid"] == "g-uid"
        assert obj["metadata"]["namespace"] == constants.NAMESPACE
    template = kinds["Deployment"]["spec"]["template"]
    assert template["metadata"]["annotations"][constants.ANNOTATION_CONFIG_HASH] == digest
    container = template["spec"]["containers"][0]
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert (
        env["GOMEMLIMIT"]
        == f"{pipelines.sizing(CollectorResources(memory_limit_mib=1024)).gomemlimit_mib}MiB"
    )
    assert container["resources"]["limits"]["memory"] == "1024Mi"
    assert secret_env[0] in container["env"]
    assert "replicas" not in kinds["Deployment"]["spec"]  # the HPA owns replicas
    ports = {p["port"] for p in kinds["Service"]["spec"]["ports"]}
    assert ports == {constants.OTLP_GRPC_PORT, constants.OTLP_HTTP_PORT}
    behavior = kinds["HorizontalPodAutoscaler"]["spec"]["behavior"]
    assert behavior["scaleUp"]["stabilizationWindowSeconds"] == 0
    assert behavior["scaleDown"]["stabilizationWindowSeconds"] == 900  # the default: no flapping
    metrics = {m["resource"]["name"] for m in kinds["HorizontalPodAutoscaler"]["spec"]["metrics"]}
    assert metrics == {"cpu", "memory"}
    text = kinds["ConfigMap"]["data"][collectors.CONFIG_KEY]
    assert yaml.safe_load(text)["service"]["pipelines"]["traces/in"]["processors"][0] == "memory_limiter"


def test_hash_changes_with_config_and_secret_only() -> None:
    cfg = rendering.render_gateway([destination("a", OTLP_GRPC_ENDPOINT="x:4317")]).config
    _, h1 = collectors.desired_objects(group(), cfg, {"s": {"k": "v"}}, "img")
    _, h1b = collectors.desired_objects(group(), cfg, {"s": {"k": "v"}}, "other-image")
    _, h2 = collectors.desired_objects(group(), cfg, {"s": {"k": "v2"}}, "img")
    cfg2 = rendering.render_gateway([destination("a", OTLP_GRPC_ENDPOINT="y:4317")]).config
    _, h3 = collectors.desired_objects(group(), cfg2, {"s": {"k": "v"}}, "img")
    _, h4 = collectors.desired_objects(group(), cfg, {"s": None}, "img")
    assert h1 == h1b
    assert len({h1, h2, h3, h4}) == 4


def test_node_collector_objects() -> None:
    dests = [
        destination("t", OTLP_GRPC_ENDPOINT="x:4317"),
        destination("l", signals=("logs",), OTLP_GRPC_ENDPOINT="y:4317"),
    ]
    rendered = rendering.render_node(dests, collectors.gateway_endpoint(constants.NAMESPACE), ["apps"])
    objs, _ = collectors.desired_objects(group("node"), rendered.config, {}, "img")
    kinds = by_kind(objs)
    assert set(kinds) == {"ConfigMap", "DaemonSet"}
    ports = kinds["DaemonSet"]["spec"]["template"]["spec"]["containers"][0]["ports"]
    assert {p.get("hostPort") for p in ports} >= {constants.OTLP_GRPC_PORT, constants.OTLP_HTTP_PORT}
    config = yaml.safe_load(kinds["ConfigMap"]["data"][collectors.CONFIG_KEY])
    assert set(config["service"]["pipelines"]) == {"traces", "logs"}
    gateway = next(v for k, v in config["exporters"].items() if k.endswith("/gateway"))
    assert gateway["endpoint"].startswith(constants.GATEWAY_NAME)
    assert components.name("receivers", "filelog") in config["service"]["pipelines"]["logs"]["receivers"]
    volumes = {v["name"] for v in kinds["DaemonSet"]["spec"]["template"]["spec"]["volumes"]}
    assert volumes == {"config", "pod-logs", "hostfs"}


def test_render_gateway_reports_bad_destinations_and_keeps_good_ones() -> None:
    good = destination("good", OTLP_GRPC_ENDPOINT="x:4317")
    good["spec"]["secretRef"] = {"name": "good-secret"}
    rendered = rendering.render_gateway(
        [good, destination("bad"), destination("weird", kind="nosuch")],
        secret_keys={"good-secret": ["OTLP_GRPC_BEARER_TOKEN"]},
    )
    assert rendered.configured == ["good"]
    assert set(rendered.problems) == {"bad", "weird"}
    assert "OTLP_GRPC_ENDPOINT" in rendered.problems["bad"]
    assert rendered.results["weird"].reason == "UnknownType"
    assert rendered.secrets == ["good-secret"]
    assert rendered.env[0]["valueFrom"]["secretKeyRef"] == {
        "name": "good-secret",
        "key": "OTLP_GRPC_BEARER_TOKEN",
    }
    exporters = [e for p in rendered.config["service"]["pipelines"].values() for e in p["exporters"]]
    assert [e for e in exporters if not e.startswith("forward/")] == ["otlp_grpc/good"]


def test_render_gateway_without_destinations_still_starts() -> None:
    rendered = rendering.render_gateway([])
    assert rendered.config["service"]["pipelines"]


def test_workload_ready() -> None:
    assert collectors.workload_ready(None)[0] is False
    assert collectors.workload_ready({"kind": "Deployment", "status": {"availableReplicas": 1}})[0]
    ds = {"kind": "DaemonSet", "status": {"desiredNumberScheduled": 2, "numberAvailable": 1}}
    assert collectors.workload_ready(ds)[1] == "PodsUnavailable"


@pytest.mark.collector
def test_the_real_collector_accepts_both_configs_with_our_memory_limiter() -> None:
    from destinations import collector
    from tests.support import require

    require(collector.is_built(), "the pinned OpenTelemetry Collector is not built: run `make setup`")
    good = destination("good", signals=("traces", "metrics", "logs"), OTLP_GRPC_ENDPOINT="x:4317")
    good["spec"]["secretRef"] = {"name": "tok"}
    gateway = rendering.render_gateway([good], secret_keys={"tok": ["OTLP_GRPC_BEARER_TOKEN"]})
    node = rendering.render_node([good], collectors.gateway_endpoint(constants.NAMESPACE), ["apps"])
    for role, rendered in (("gateway", gateway), ("node", node)):
        objs, _ = collectors.desired_objects(group(role), rendered.config, {}, "img", rendered.env)
        text = by_kind(objs)["ConfigMap"]["data"][collectors.CONFIG_KEY]
        env = {e["name"]: "x" for e in rendered.env} | {constants.ENV_NODE_NAME: "node-1"}
        collector.validate(text, env=env)


def test_the_node_collector_runs_as_root_with_no_capabilities_and_the_gateway_as_non_root() -> None:
    """The kubelet writes pod logs as root, mode 0640: owner access is all the node collector needs."""
    roles = (("node", {"runAsUser": 0, "runAsNonRoot": False}), ("gateway", {"runAsNonRoot": True}))
    for role, expected in roles:
        group = {
            "metadata": {"name": f"hodegos-{role}", "namespace": "hodegos-system", "uid": "u1"},
            "spec": {"role": role},
        }
        objects, _ = collectors.desired_objects(group, {"service": {}}, {}, "hodegos/hodegos-collector:0.1.0")
        workload = next(o for o in objects if o["kind"] != "ConfigMap")
        security = workload["spec"]["template"]["spec"]["containers"][0]["securityContext"]
        assert {k: security[k] for k in expected} == expected
        assert security["capabilities"] == {"drop": ["ALL"]} and security["allowPrivilegeEscalation"] is False


def test_the_gateways_scale_down_window_comes_from_the_groups_resources() -> None:
    resources = CollectorResources.model_validate({"scaleDownWindowSeconds": 30, "maxReplicas": 3})
    spec = collectors.hpa(group(), resources, pipelines.sizing(resources))["spec"]
    assert spec["behavior"]["scaleDown"]["stabilizationWindowSeconds"] == 30
    assert spec["maxReplicas"] == 3
    with pytest.raises(ValueError, match="less than or equal to 3600"):
        CollectorResources.model_validate({"scaleDownWindowSeconds": 7200})
