from __future__ import annotations

import pytest

from api.config import HodegosConfig
from cli.describe import parse_ref
from controllers import describing
from tests.controllers.factories import namespace, pod, record, workload


def test_story_tells_opt_in_runtimes_pods_and_next_step() -> None:
    s = describing.story(
        workload(),
        namespace("apps", "enabled"),
        record("python"),
        [pod("a"), pod("b", injected="1")],
        [{"metadata": {"name": "hodegos-gateway"}, "spec": {"role": "gateway", "signals": ["traces"]}}],
        HodegosConfig(),
        webhook_healthy=True,
    )
    assert s["optIn"] == {
        "enabled": True,
        "reason": "NamespaceAnnotation",
        "message": "namespace apps annotation hodegos.io/instrumentation=enabled",
    }
    assert s["runtimes"] == [{"name": "app", "language": "python"}]
    assert [p["injected"] for p in s["pods"]] == [False, True]
    assert s["rollout"]["next"] == "rollout" and s["rollout"]["target"] == "inject"
    assert s["collectors"][0]["role"] == "gateway" and s["collectors"][0]["ready"] is False


def test_parse_ref() -> None:
    assert parse_ref("apps/deployment/shop") == ("apps", "Deployment", "shop")
    assert parse_ref("apps/StatefulSets/db") == ("apps", "StatefulSet", "db")
    for bad in ("apps/shop", "apps/pod/x", "//"):
        with pytest.raises(ValueError):
            parse_ref(bad)


def test_story_lists_the_actions_and_rules_in_scope() -> None:
    from api.config import HodegosConfig
    from controllers import describing
    from tests.controllers.factories import workload

    def obj(kind: str, name: str, spec: dict[str, object], applied: str = "True") -> dict[str, object]:
        return {
            "kind": kind,
            "metadata": {"name": name},
            "spec": spec,
            "status": {"conditions": [{"type": "Applied", "status": applied, "reason": "R"}]},
        }

    actions = [
        obj("Action", "everywhere", {"deleteAttribute": {"names": "x"}}),
        obj("Action", "elsewhere", {"deleteAttribute": {"names": "x"}, "scope": {"namespaces": ["other"]}}),
        obj(
            "Action",
            "here",
            {
                "piiMasking": {},
                "scope": {"workloads": [{"namespace": "apps", "kind": "Deployment", "name": "shop"}]},
            },
            "False",
        ),
    ]
    rules = [obj("SamplingRule", "head", {"head": {"ratio": 0.5}, "scope": {"namespaces": ["apps"]}})]
    story = describing.story(
        workload(), None, None, [], [], HodegosConfig(), True, actions=actions, rules=rules
    )
    assert [(a["name"], a["applied"]) for a in story["pipeline"]["actions"]] == [
        ("everywhere", True),
        ("here", False),
    ]
    assert [r["name"] for r in story["pipeline"]["samplingRules"]] == ["head"]
