from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from api import constants
from api.config import HodegosConfig
from controllers import rollouts
from tests.controllers.factories import pod, record, workload

NOW = datetime(2026, 1, 1, 1, 0, tzinfo=UTC)
CONFIG = HodegosConfig()
CRASH = {"state": {"waiting": {"reason": "CrashLoopBackOff"}}, "restartCount": 4}
OOM = {"state": {"running": {}}, "lastState": {"terminated": {"reason": "OOMKilled", "exitCode": 137}}}
INIT_FAIL = {"state": {"terminated": {"reason": "Error", "exitCode": 1}}}


def plan(
    w: dict[str, Any], pods: list[Any], rec: dict[str, Any] | None, healthy: bool = True, **kw: Any
) -> rollouts.Decision:
    return rollouts.plan(w, pods, rec, CONFIG, webhook_healthy=healthy, now=NOW, **kw)


def test_selector_semantics() -> None:
    sel = {
        "matchLabels": {"app": "a"},
        "matchExpressions": [
            {"key": "tier", "operator": "In", "values": ["web"]},
            {"key": "canary", "operator": "DoesNotExist"},
        ],
    }
    assert rollouts.selector_matches(sel, {"app": "a", "tier": "web"})
    assert not rollouts.selector_matches(sel, {"app": "a", "tier": "db"})
    assert not rollouts.selector_matches(sel, {"app": "a", "tier": "web", "canary": "1"})
    assert not rollouts.selector_matches({}, {"app": "a"})
    assert rollouts.selector_matches(
        {"matchExpressions": [{"key": "x", "operator": "NotIn", "values": ["1"]}]}, {}
    )


def test_pods_of_filters_namespace_selector_and_finished() -> None:
    pods = [pod("a"), pod("b", app="other"), pod("c", ns="x"), pod("d", phase="Succeeded")]
    assert [p["metadata"]["name"] for p in rollouts.pods_of(workload(), pods)] == ["a"]


def test_failure_classification() -> None:
    assert rollouts.failure(pod(container_status=CRASH)) == (
        "CrashLoopBackOff",
        "container app is in CrashLoopBackOff",
    )
    assert rollouts.failure(pod(container_status=OOM))[0] == "OOMKilled"  # type: ignore[index]
    assert rollouts.failure(pod(init_status=INIT_FAIL))[0] == "InitContainerFailed"  # type: ignore[index]
    assert rollouts.failure(pod(container_status={"state": {"running": {}}})) is None


def test_uninjected_pods_with_runtime_roll_out() -> None:
    decision = plan(workload(), [pod("a"), pod("b", injected="1")], record("python"))
    assert (decision.action, decision.target, decision.reason) == ("rollout", "inject", "PodsOutOfDate")


def test_up_to_date_does_nothing() -> None:
    assert plan(workload(), [pod("a", injected="1")], record("python")).action == "none"
    assert plan(workload(), [pod("a")], record(None)).action == "none"  # no runtime detected yet
    assert plan(workload(), [pod("a")], None).action == "none"


def test_rules_version_outdated_marker_rolls() -> None:
    assert plan(workload(), [pod("a", injected="1")], record(), rules_version="2").action == "rollout"
    assert plan(workload(), [pod("a", injected="2")], record(), rules_version="2").action == "none"


def test_opt_out_rolls_back_to_clean() -> None:
    decision = plan(workload(), [pod("a", injected="1")], None)
    assert (decision.action, decision.target) == ("rollout", "clean")
    # ... even while the webhook is down: removing injection needs no webhook.
    assert plan(workload(), [pod("a", injected="1")], None, healthy=False).action == "rollout"


def test_unknown_or_ignored_languages_do_not_inject() -> None:
    assert plan(workload(), [pod("a")], record("unknown")).action == "none"
    assert plan(workload(), [pod("a")], record("python", container="istio-proxy")).action == "none"


def test_rollback_recorded_means_clean() -> None:
    decision = plan(workload(), [pod("a", injected="1")], record(rollback={"reason": "CrashLoopBackOff"}))
    assert (decision.action, decision.target) == ("rollout", "clean")


def test_template_disabled_means_clean() -> None:
    w = workload(template_value="disabled")
    assert plan(w, [pod("a")], record()).action == "none"


def test_waits_for_webhook_and_running_rollouts() -> None:
    assert plan(workload(), [pod("a")], record(), healthy=False).reason == "WebhookUnavailable"
    rolling = workload(status={"observedGeneration": 1, "replicas": 3, "updatedReplicas": 1})
    assert plan(rolling, [pod("a")], record()).reason == "RolloutInProgress"
    stale = workload(generation=2)
    stale["status"]["observedGeneration"] = 1
    assert plan(stale, [pod("a")], record()).reason == "RolloutInProgress"


def test_never_rolls_into_injection_when_uninstrumented_pods_crash() -> None:
    decision = plan(workload(), [pod("a", container_status=CRASH)], record())
    assert (decision.action, decision.reason) == ("blocked", "UninstrumentedPodsFailing")


def test_cronjobs_are_never_rolled() -> None:
    assert plan(workload(kind="CronJob"), [pod("a")], record()).reason == "NextRun"


def test_automatic_rollout_disabled() -> None:
    config = HodegosConfig.model_validate({"rollout": {"automatic": False}})
    decision = rollouts.plan(workload(), [pod("a")], record(), config, webhook_healthy=True, now=NOW)
    assert decision.reason == "AutomaticRolloutDisabled"


def test_completed_rollout_is_retried_only_after_the_cooldown() -> None:
    def rolled(at: str, target: str = "inject") -> dict[str, Any]:
        return workload(
            template_annotations={
                constants.ANNOTATION_RESTARTED_AT: at,
                constants.ANNOTATION_ROLLOUT_TARGET: target,
            }
        )

    failed_open = pod("b", created="2026-01-01T00:58:00Z")  # came up uninjected after our rollout
    recent = plan(rolled("2026-01-01T00:58:00Z"), [failed_open], record())
    assert (recent.action, recent.reason) == ("wait", "Cooldown")
    assert plan(rolled("2026-01-01T00:30:00Z"), [failed_open], record()).action == "rollout"
    custom = plan(rolled("2026-01-01T00:58:00Z"), [failed_open], record(), cooldown=timedelta(seconds=30))
    assert custom.action == "rollout"
    # A different target is never held back by a previous rollout.
    assert plan(rolled("2026-01-01T00:59:59Z"), [pod("d", injected="1")], None).action == "rollout"
    assert plan(rolled("2026-01-01T00:59:59Z", "clean"), [pod("e")], record()).action == "rollout"


def test_restart_patch_paths() -> None:
    patch = rollouts.restart_patch(workload(), "inject", NOW)
    ann = patch["spec"]["template"]["metadata"]["annotations"]
    assert ann == {
        constants.ANNOTATION_RESTARTED_AT: "2026-01-01T01:00:00Z",
        constants.ANNOTATION_ROLLOUT_TARGET: "inject",
    }
    assert patch["metadata"] == {"name": "shop", "namespace": "apps"}
    assert set(patch) == {"apiVersion", "kind", "metadata", "spec"}
    cron = rollouts.restart_patch(workload(kind="CronJob"), "clean", NOW)
    assert "annotations" in cron["spec"]["jobTemplate"]["spec"]["template"]["metadata"]


def test_admit_respects_concurrency() -> None:
    assert rollouts.admit(["c", "a", "b"], in_flight=0, max_concurrent=2) == ["a", "b"]
    assert rollouts.admit(["a"], in_flight=2, max_concurrent=2) == []
    assert rollouts.admit(["a"], in_flight=5, max_concurrent=2) == []


def test_rollback_within_window_only() -> None:
    w = workload(
        template_annotations={
            constants.ANNOTATION_RESTARTED_AT: "2026-01-01T00:55:00Z",
            constants.ANNOTATION_ROLLOUT_TARGET: "inject",
        }
    )
    crashing = pod("a", injected="1", container_status=CRASH)
    found = rollouts.rollback_needed(w, [crashing], CONFIG, NOW)
    assert found is not None and found["reason"] == "CrashLoopBackOff" and "pod a" in found["message"]
    assert rollouts.rollback_needed(w, [pod("a", injected="1", init_status=INIT_FAIL)], CONFIG, NOW)
    # Uninstrumented crashing pods are not the injection's fault.
    assert rollouts.rollback_needed(w, [pod("a", container_status=CRASH)], CONFIG, NOW) is None
    later = NOW + timedelta(seconds=CONFIG.rollback.stability_window_seconds + 1)
    assert rollouts.rollback_needed(w, [crashing], CONFIG, later + timedelta(minutes=5)) is None
    disabled = HodegosConfig.model_validate({"rollback": {"enabled": False}})
    assert rollouts.rollback_needed(w, [crashing], disabled, NOW) is None
    # A crashing pod already being deleted (its revision replaced) is no reason for a rollback.
    leaving = pod("a", injected="1", container_status=CRASH)
    leaving["metadata"]["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    assert rollouts.rollback_needed(w, [leaving], CONFIG, NOW) is None


def test_recover_annotation() -> None:
    w = workload()
    assert not rollouts.recover_requested(w)
    w["metadata"]["annotations"][constants.ANNOTATION_RECOVER] = "True"
    assert rollouts.recover_requested(w)


def test_is_rolling_statefulset_and_daemonset() -> None:
    sts = workload(
        kind="StatefulSet",
        status={"observedGeneration": 1, "updatedReplicas": 2, "currentRevision": "a", "updateRevision": "b"},
    )
    assert rollouts.is_rolling(sts)
    sts["status"]["currentRevision"] = "b"
    assert not rollouts.is_rolling(sts)
    ds = workload(
        kind="DaemonSet",
        status={
            "observedGeneration": 1,
            "desiredNumberScheduled": 3,
            "updatedNumberScheduled": 3,
            "numberAvailable": 2,
        },
    )
    assert rollouts.is_rolling(ds)
    ds["status"]["numberAvailable"] = 3
    assert not rollouts.is_rolling(ds)


def test_a_workload_the_webhook_would_skip_is_never_rolled() -> None:
    """ruby has no rules file, and a container with another APM agent is left alone by the webhook: rolling
    them would restart the pods for nothing after every cooldown (the controllers used to)."""
    for rec in (record("ruby"), record("php"), record("java", other_agents=("newrelic",))):
        decision = plan(workload(), [pod("a")], rec)
        assert (decision.action, decision.target) == ("none", "clean"), rec
    # The same answer the webhook gives, container by container.
    (verdict,) = rollouts.injection(record("ruby"), CONFIG, workload())
    assert verdict.action == "skip" and "no injection rules" in verdict.reason


def test_a_container_the_webhook_would_not_clobber_is_not_a_reason_to_roll() -> None:
    w = workload()
    w["spec"]["template"]["spec"]["containers"][0]["env"] = [
        {"name": "PYTHONPATH", "valueFrom": {"configMapKeyRef": {"name": "c", "key": "k"}}}
    ]
    decision = plan(w, [pod("a")], record("python"))
    assert (decision.action, decision.target) == ("none", "clean")
    (verdict,) = rollouts.injection(record("python"), CONFIG, w)
    assert "valueFrom" in verdict.reason


def test_an_ignored_sidecar_beside_an_app_still_rolls_for_the_app() -> None:
    w = workload(containers=("app", "istio-proxy"))
    rec = record("python")
    rec["status"]["containers"].append({"name": "istio-proxy", "language": "ignored"})
    decision = plan(w, [pod("a")], rec)
    assert (decision.action, decision.target) == ("rollout", "inject")
    verdicts = {v.container: v.action for v in rollouts.injection(rec, CONFIG, w)}
    assert verdicts == {"app": "inject", "istio-proxy": "skip"}


def test_a_rollback_supersedes_our_own_inject_rollout_that_is_stuck() -> None:
    """A crash-looping rollout to inject never completes: the rollback's rollout to clean does not wait."""
    stuck_inject = workload(
        template_annotations={
            constants.ANNOTATION_RESTARTED_AT: "2026-01-01T00:00:00Z",
            constants.ANNOTATION_ROLLOUT_TARGET: "inject",
        },
        status={"observedGeneration": 1, "replicas": 3, "updatedReplicas": 1},
    )
    crashing = pod("b", injected="1")
    decision = plan(stuck_inject, [pod("a"), crashing], record(rollback={"reason": "OOMKilled"}))
    assert (decision.action, decision.target) == ("rollout", "clean")
    # Someone else's rollout (no target of ours) is still waited for, as is our own to clean.
    other = workload(status={"observedGeneration": 1, "replicas": 3, "updatedReplicas": 1})
    assert plan(other, [crashing], record(rollback={"reason": "OOMKilled"})).reason == "RolloutInProgress"
    own_clean = workload(
        template_annotations={
            constants.ANNOTATION_RESTARTED_AT: "2026-01-01T00:00:00Z",
            constants.ANNOTATION_ROLLOUT_TARGET: "clean",
        },
        status={"observedGeneration": 1, "replicas": 3, "updatedReplicas": 1},
    )
    assert plan(own_clean, [crashing], record(rollback={"reason": "OOMKilled"})).reason == "RolloutInProgress"
