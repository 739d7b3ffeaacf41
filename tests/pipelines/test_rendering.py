"""Rendering Actions and SamplingRules: the stage order, invalid objects left out with a reason, and every
kind alone and all together accepted by the real collector in both roles."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from destinations import collector
from pipelines import NodeOptions, affinity, render_gateway, render_node
from tests.pipelines.conftest import ACTIONS, RULES, obj, otlp_http

DESTS = [
    otlp_http("backend", "http://127.0.0.1:9", ("traces", "metrics", "logs")),
    obj("Destination", "dbg", {"type": "debug", "signals": ["traces"], "data": {}}),
]
NODE = NodeOptions(kubernetes="cluster", kube_auth="kubeConfig", host_root=None)
ENV = {"HODEGOS_NODE_NAME": "node-1", "KUBECONFIG": "/dev/null"}


def test_gateway_stage_order() -> None:
    config = render_gateway(DESTS, actions=ACTIONS, rules=RULES).config
    pipelines = config["service"]["pipelines"]
    assert pipelines["traces/in"]["processors"] == [
        "memory_limiter",
        "filter/drop-operations",
        "tail_sampling",
        "transform/action-a-cluster",
        "transform/action-b-rename",
        "transform/action-c-delete",
        "transform/action-d-mask",
    ]
    assert pipelines["metrics/in"]["processors"][0] == "memory_limiter"
    assert "tail_sampling" not in pipelines["metrics/in"]["processors"]
    for name in ("traces/backend", "traces/dbg"):
        assert pipelines[name]["receivers"] == ["forward/traces"]
        assert "memory_limiter" not in pipelines[name]["processors"]
    # batching last: exporter-side for OTLP, the batch processor for the others
    assert config["exporters"]["otlp_http/backend"]["sending_queue"] == {"batch": {}}
    assert pipelines["traces/dbg"]["processors"][-1:] == ["batch"]


def test_the_node_gets_the_kubernetes_actions_and_nothing_else() -> None:
    config = render_node(DESTS, actions=ACTIONS, options=NODE).config
    extract = config["processors"]["k8s_attributes"]["extract"]
    assert {"tag_name": "k8s.pod.labels.team", "key": "team", "from": "pod"} in extract["labels"]
    assert {"tag_name": "k8s.namespace.labels.tier", "key": "tier", "from": "namespace"} in extract["labels"]
    assert extract["annotations"] == [
        {"tag_name": "k8s.pod.annotations.owner", "key": "owner", "from": "pod"}
    ]
    assert not any(p.startswith("transform") for p in config["processors"])
    assert config["service"]["pipelines"]["traces"]["processors"][:2] == ["memory_limiter", "k8s_attributes"]


def test_an_invalid_object_is_reported_and_the_others_apply() -> None:
    bad = [
        obj("Action", "no-target", {"renameAttribute": {"from": "a"}}),
        obj(
            "Action",
            "two-kinds",
            {"renameAttribute": {"from": "a", "to": "b"}, "deleteAttribute": {"names": "x"}},
        ),
        obj("Action", "scoped-k8s", {"k8sAttributes": {"podLabels": "a"}, "scope": {"namespaces": ["x"]}}),
        obj("Action", "bad-regex", {"piiMasking": {"customPatterns": "(unclosed"}}),
        obj("Action", "off", {"deleteAttribute": {"names": "x"}, "disabled": True}),
        obj("SamplingRule", "too-much", {"percentage": {"percent": 150}}),
        obj("SamplingRule", "ratio", {"head": {"ratio": 2}}),
        obj(
            "SamplingRule",
            "one-workload",
            {"errors": {}, "scope": {"workloads": [{"namespace": "a", "kind": "Deployment", "name": "b"}]}},
        ),
    ]
    rendered = render_gateway(DESTS, actions=[*ACTIONS, *bad[:5]], rules=[*RULES, *bad[5:]])
    reasons = {n: (r.applied, r.reason) for n, r in {**rendered.actions, **rendered.rules}.items()}
    assert reasons["no-target"] == (False, "MissingField")
    assert reasons["two-kinds"] == (False, "InvalidSpec")
    assert reasons["scoped-k8s"] == (False, "ScopeNotSupported")
    assert reasons["bad-regex"] == (False, "InvalidField")
    assert reasons["off"] == (False, "Disabled")
    assert reasons["too-much"] == (False, "InvalidField")
    assert reasons["ratio"] == (False, "InvalidField")
    assert reasons["one-workload"] == (False, "ScopeNotSupported")
    assert all(reasons[o["metadata"]["name"]] == (True, "AppliedToCollectors") for o in [*ACTIONS, *RULES])
    assert "transform/action-b-rename" in rendered.config["processors"]


def test_percentages_per_service_override_the_cluster_wide_rate() -> None:
    rules = [
        obj("SamplingRule", "all", {"percentage": {"percent": 10}}),
        obj("SamplingRule", "cart", {"percentage": {"percent": 50, "service": "cart"}}),
    ]
    policies = render_gateway(DESTS, rules=rules).config["processors"]["tail_sampling"]["policies"]
    by_name = {p["name"]: p for p in policies}
    cluster = by_name["all"]["and"]["and_sub_policy"]
    assert {
        "type": "string_attribute",
        "string_attribute": {"key": "service.name", "values": ["cart"], "invert_match": True},
    } in cluster
    assert "hodegos-keep-the-rest" not in by_name
    # without a cluster-wide rate, the services nobody wrote a rule for are kept in full
    only_cart = render_gateway(DESTS, rules=rules[1:]).config["processors"]["tail_sampling"]["policies"]
    assert [p["name"] for p in only_cart] == ["cart", "hodegos-keep-the-rest"]


def test_affinity_buckets_cover_every_trace_once() -> None:
    for replicas in (1, 2, 3, 5, 7):
        ranges = affinity.buckets(replicas)
        assert sorted(b for r in ranges for b in r) == list(range(256))
    import re

    for replicas in (2, 3, 5):
        patterns = [re.compile(affinity.prefix_pattern(b)) for b in affinity.buckets(replicas)]
        for value in range(256):
            trace = f"{value:02x}" + "0" * 30
            owners = [i for i, p in enumerate(patterns) if p.match(trace)]
            assert owners == [affinity.owner(trace, replicas)]


@pytest.mark.collector
@pytest.mark.parametrize("kind", [o["metadata"]["name"] for o in [*ACTIONS, *RULES]] + ["everything"])
def test_collector_accepts_each_kind_and_all_together(otelcol: Path, kind: str) -> None:
    chosen: dict[str, list[dict[str, Any]]] = {
        "actions": [a for a in ACTIONS if kind in (a["metadata"]["name"], "everything")],
        "rules": [r for r in RULES if kind in (r["metadata"]["name"], "everything")],
    }
    gateway = render_gateway(DESTS, actions=chosen["actions"], rules=chosen["rules"])
    assert all(r.applied for r in {**gateway.actions, **gateway.rules}.values())
    collector.validate(gateway.config, binary=otelcol)
    pods = NodeOptions(**{**NODE.__dict__, "gateway_pods": ("gw-0:4317", "gw-1:4317", "gw-2:4317")})
    for options in (NODE, pods):
        node = render_node(DESTS, actions=chosen["actions"], options=options)
        collector.validate(node.config, binary=otelcol, env=ENV)
