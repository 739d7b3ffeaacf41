"""Examples of the injection decision, language by language, through the pure admission core."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonpatch
import pytest

from api import constants
from api.config import HodegosConfig
from api.models import Rollback
from webhook import admission, rules
from webhook.errors import AdmissionRequestError, RulesError

from .factories import DictView, admission_review, deployment_pod, env_of, record

CONFIG = HodegosConfig()


def run(
    pod: dict[str, Any], *records: Any, config: HodegosConfig = CONFIG
) -> tuple[admission.Outcome, dict[str, Any]]:
    outcome = admission.review(admission_review(pod), DictView(*records), config)
    mutated = jsonpatch.apply_patch(pod, outcome.patch) if outcome.patch else pod
    return outcome, mutated


def container(mutated: dict[str, Any], name: str) -> dict[str, Any]:
    return next(c for c in mutated["spec"]["containers"] if c["name"] == name)


def test_python_composes_pythonpath_around_the_users_value() -> None:
    pod = deployment_pod([{"name": "app", "image": "a", "env": [{"name": "PYTHONPATH", "value": "/srv"}]}])
    outcome, mutated = run(pod, record([{"name": "app", "language": "python"}]))
    assert outcome.result == "injected"
    env = env_of(container(mutated, "app"))
    assert env["PYTHONPATH"] == (
        "/hodegos/python/opentelemetry/instrumentation/auto_instrumentation:/srv:/hodegos/python"
    )
    init = mutated["spec"]["initContainers"][0]
    assert init["command"] == ["cp", "-r", "/autoinstrumentation/glibc/.", "/hodegos/python"]
    assert init["image"].startswith("hodegos/agent-python:")


def test_python_musl_uses_the_musl_agent_build() -> None:
    pod = deployment_pod([{"name": "app", "image": "a"}])
    _, mutated = run(pod, record([{"name": "app", "language": "python", "libc": "musl"}]))
    init = mutated["spec"]["initContainers"][0]
    assert init["command"][2] == "/autoinstrumentation/musl/."
    assert init["name"] == "hodegos-agent-python-musl"


def test_nodejs_appends_require_to_node_options() -> None:
    pod = deployment_pod(
        [{"name": "app", "image": "a", "env": [{"name": "NODE_OPTIONS", "value": "--inspect"}]}]
    )
    _, mutated = run(pod, record([{"name": "app", "language": "nodejs"}]))
    assert env_of(container(mutated, "app"))["NODE_OPTIONS"] == (
        "--inspect --require /hodegos/nodejs/autoinstrumentation.js"
    )


def test_java_without_user_value_gets_the_agent_alone() -> None:
    pod = deployment_pod([{"name": "app", "image": "a"}])
    _, mutated = run(pod, record([{"name": "app", "language": "java"}]))
    assert env_of(container(mutated, "app"))["JAVA_TOOL_OPTIONS"] == "-javaagent:/hodegos/java/javaagent.jar"


def test_launcher_from_value_from_skips_the_container_visibly() -> None:
    user = {"name": "JAVA_TOOL_OPTIONS", "valueFrom": {"configMapKeyRef": {"name": "jvm", "key": "opts"}}}
    pod = deployment_pod([{"name": "app", "image": "a", "env": [user]}])
    outcome, mutated = run(pod, record([{"name": "app", "language": "java"}]))
    assert outcome.patch == []
    assert outcome.containers[0].action == "skipped"
    assert "JAVA_TOOL_OPTIONS is set with valueFrom" in outcome.containers[0].reason
    assert container(mutated, "app")["env"] == [user]


def test_dotnet_keeps_user_profiler_values_and_composes_hooks() -> None:
    env = [
        {"name": "CORECLR_PROFILER", "value": "{USER}"},
        {"name": "DOTNET_STARTUP_HOOKS", "value": "/app/Hook.dll"},
    ]
    pod = deployment_pod([{"name": "app", "image": "a", "env": env}])
    _, mutated = run(pod, record([{"name": "app", "language": "dotnet", "libc": "musl"}]))
    got = env_of(container(mutated, "app"))
    assert got["CORECLR_PROFILER"] == "{USER}"
    assert got["DOTNET_STARTUP_HOOKS"] == (
        "/app/Hook.dll:/hodegos/dotnet/net/OpenTelemetry.AutoInstrumentation.StartupHook.dll"
    )
    assert got["CORECLR_PROFILER_PATH"] == (
        "/hodegos/dotnet/linux-musl-x64/OpenTelemetry.AutoInstrumentation.Native.so"
    )
    assert got["CORECLR_ENABLE_PROFILING"] == "1"
    assert got["OTEL_DOTNET_AUTO_HOME"] == "/hodegos/dotnet"


def test_go_gets_the_label_and_nothing_else() -> None:
    pod = deployment_pod([{"name": "app", "image": "a"}])
    _, mutated = run(pod, record([{"name": "app", "language": "go"}]))
    assert mutated["metadata"]["labels"][constants.LABEL_EBPF_GO] == "true"
    assert "initContainers" not in mutated["spec"]
    assert "env" not in container(mutated, "app")
    status = json.loads(mutated["metadata"]["annotations"][constants.ANNOTATION_INJECTION_STATUS])
    assert status == {"app": "labelled:go"}


def test_common_env_service_name_resources_endpoint_and_sampler() -> None:
    user_attrs = {"name": "OTEL_RESOURCE_ATTRIBUTES", "value": "team=pay"}
    pod = deployment_pod([{"name": "app", "image": "a", "env": [user_attrs]}])
    rec = record(
        [{"name": "app", "language": "python"}],
        options={"sampler": {"name": "parentbased_traceidratio", "argument": "0.25"}},
    )
    _, mutated = run(pod, rec)
    c = container(mutated, "app")
    env = env_of(c)
    assert env["OTEL_SERVICE_NAME"] == "web"
    attrs = env["OTEL_RESOURCE_ATTRIBUTES"]
    for part in (
        "k8s.namespace.name=shop",
        "k8s.pod.name=$(HODEGOS_POD_NAME)",
        "k8s.node.name=$(HODEGOS_NODE_NAME)",
        "k8s.deployment.name=web",
        "k8s.container.name=app",
        "service.instance.id=shop.$(HODEGOS_POD_NAME).app",
    ):
        assert part in attrs
    assert attrs.endswith(",team=pay"), "the user's attributes come last so they win per key"
    assert env["OTEL_EXPORTER_OTLP_ENDPOINT"] == "http://$(HODEGOS_HOST_IP):4318"
    assert env["OTEL_TRACES_SAMPLER"] == "parentbased_traceidratio"
    assert env["OTEL_TRACES_SAMPLER_ARG"] == "0.25"
    assert env["OTEL_PROPAGATORS"] == "tracecontext,baggage"
    names = [e["name"] for e in c["env"]]
    assert names.index("HODEGOS_HOST_IP") < names.index("OTEL_EXPORTER_OTLP_ENDPOINT")
    assert names.index("HODEGOS_POD_NAME") < names.index("OTEL_RESOURCE_ATTRIBUTES")


def test_user_set_otel_variables_are_never_overridden() -> None:
    env = [
        {"name": "OTEL_SERVICE_NAME", "value": "mine"},
        {"name": "OTEL_TRACES_SAMPLER", "value": "always_off"},
    ]
    pod = deployment_pod([{"name": "app", "image": "a", "env": env}])
    _, mutated = run(pod, record([{"name": "app", "language": "nodejs"}]))
    got = env_of(container(mutated, "app"))
    assert got["OTEL_SERVICE_NAME"] == "mine"
    assert got["OTEL_TRACES_SAMPLER"] == "always_off"


@pytest.mark.parametrize(
    ("annotations", "spec", "expected"),
    [
        ({constants.ANNOTATION_SERVICE_NAME: "checkout"}, {"serviceName": "from-record"}, "checkout"),
        ({}, {"serviceName": "from-record"}, "from-record"),
        ({}, {}, "web"),
    ],
)
def test_service_name_precedence(annotations: dict[str, str], spec: dict[str, str], expected: str) -> None:
    pod = deployment_pod([{"name": "app", "image": "a"}], annotations=annotations)
    _, mutated = run(pod, record([{"name": "app", "language": "python"}], **spec))
    assert env_of(container(mutated, "app"))["OTEL_SERVICE_NAME"] == expected


def test_bare_pod_is_its_own_workload_named_after_the_pod() -> None:
    pod = {
        "metadata": {"name": "solo", "namespace": "shop"},
        "spec": {"containers": [{"name": "app", "image": "a"}]},
    }
    _, mutated = run(pod, record([{"name": "app", "language": "python"}], kind="Pod", name="solo"))
    env = env_of(container(mutated, "app"))
    assert env["OTEL_SERVICE_NAME"] == "solo"
    assert "k8s.pod.name=$(HODEGOS_POD_NAME)" in env["OTEL_RESOURCE_ATTRIBUTES"]


def test_cronjob_pod_maps_to_its_cronjob_record() -> None:
    pod = {
        "metadata": {
            "generateName": "nightly-29001440-",
            "ownerReferences": [
                {"apiVersion": "batch/v1", "kind": "Job", "name": "nightly-29001440", "uid": "u"}
            ],
        },
        "spec": {"containers": [{"name": "job", "image": "a"}]},
    }
    outcome, mutated = run(
        pod, record([{"name": "job", "language": "python"}], kind="CronJob", name="nightly")
    )
    assert outcome.workload is not None and outcome.workload.kind == "CronJob"
    assert "k8s.cronjob.name=nightly" in env_of(container(mutated, "job"))["OTEL_RESOURCE_ATTRIBUTES"]


def test_sidecars_other_agents_and_undetected_containers_are_skipped() -> None:
    pod = deployment_pod(
        [
            {"name": "istio-proxy", "image": "p"},
            {"name": "dd", "image": "a"},
            {"name": "new", "image": "a"},
            {"name": "rb", "image": "a"},
        ]
    )
    rec = record(
        [
            {"name": "istio-proxy", "language": "go"},
            {"name": "dd", "language": "java", "otherAgents": ["datadog"]},
            {"name": "rb", "language": "ruby"},
        ]
    )
    outcome, _ = run(pod, rec)
    assert outcome.patch == []
    reasons = {d.container: d.reason for d in outcome.containers}
    assert "known sidecar" in reasons["istio-proxy"]
    assert "datadog" in reasons["dd"]
    assert "waiting for detection" in reasons["new"]
    assert "no injection rules" in reasons["rb"]


def test_ignored_containers_are_configurable() -> None:
    pod = deployment_pod([{"name": "app", "image": "a"}])
    config = HodegosConfig(ignored_containers=["app"])
    outcome, _ = run(pod, record([{"name": "app", "language": "python"}]), config=config)
    assert outcome.patch == [] and "known sidecar" in outcome.containers[0].reason


def test_one_init_container_per_language_after_the_users_own() -> None:
    pod = deployment_pod([{"name": "a", "image": "a"}, {"name": "b", "image": "b"}])
    pod["spec"]["initContainers"] = [{"name": "migrate", "image": "m"}]
    _, mutated = run(pod, record([{"name": "a", "language": "python"}, {"name": "b", "language": "python"}]))
    inits = [c["name"] for c in mutated["spec"]["initContainers"]]
    assert inits == ["migrate", "hodegos-agent-python"]
    assert [v["name"] for v in mutated["spec"]["volumes"]] == ["hodegos-agent-python"]
    assert mutated["spec"]["volumes"][0]["emptyDir"]["sizeLimit"]


def test_init_container_is_restricted_by_itself_with_resources() -> None:
    pod = deployment_pod(
        [{"name": "app", "image": "a", "securityContext": {"runAsUser": 0, "privileged": True}}]
    )
    _, mutated = run(pod, record([{"name": "app", "language": "python"}]))
    init = mutated["spec"]["initContainers"][0]
    sc = init["securityContext"]
    assert sc["runAsNonRoot"] is True and sc["runAsUser"] > 0
    assert sc["allowPrivilegeEscalation"] is False and sc["privileged"] is False
    assert sc["capabilities"] == {"drop": ["ALL"]}
    assert sc["seccompProfile"] == {"type": "RuntimeDefault"}
    assert sc["readOnlyRootFilesystem"] is True
    assert init["resources"]["limits"] and init["resources"]["requests"]


def test_second_pass_is_empty_and_marker_carries_rules_version() -> None:
    pod = deployment_pod([{"name": "app", "image": "a"}])
    rec = record([{"name": "app", "language": "nodejs"}])
    _, mutated = run(pod, rec)
    assert mutated["metadata"]["annotations"][constants.ANNOTATION_INJECTED] == rules.version()
    again, _ = run(mutated, rec)
    assert again.patch == [] and "already injected" in again.reason


@pytest.mark.parametrize(
    ("pod_annotations", "namespace", "rollback", "reason"),
    [
        ({constants.ANNOTATION_INSTRUMENTATION: "disabled"}, "shop", False, "opts out"),
        ({}, "kube-system", False, "ignored"),
        ({"kubernetes.io/config.mirror": "x"}, "shop", False, "mirror"),
        ({}, "shop", True, "rolled back"),
    ],
)
def test_gates_leave_the_pod_untouched(
    pod_annotations: dict[str, str], namespace: str, rollback: bool, reason: str
) -> None:
    pod = deployment_pod([{"name": "app", "image": "a"}], annotations=pod_annotations)
    rec = record([{"name": "app", "language": "python"}], namespace=namespace)
    if rollback:
        assert rec.status is not None
        rec.status.rollback = Rollback(reason="CrashLoopBackOff")
    outcome = admission.review(admission_review(pod, namespace=namespace), DictView(rec), CONFIG)
    assert outcome.patch == [] and reason in outcome.reason
    assert outcome.response["response"] == {"uid": "705ab4f5-6393-11e8-b7cc-42010a800002", "allowed": True}


def test_no_record_means_no_injection() -> None:
    outcome, _ = run(deployment_pod([{"name": "app", "image": "a"}]))
    assert outcome.patch == [] and "no InstrumentedApplication for Deployment/web" in outcome.reason


@pytest.mark.parametrize(
    "extra",
    [{"operation": "UPDATE"}, {"operation": "DELETE"}, {"dryRun": True}],
)
def test_update_delete_and_dry_run_are_allowed_without_patch(extra: dict[str, Any]) -> None:
    pod = deployment_pod([{"name": "app", "image": "a"}])
    body = admission_review(pod)
    body["request"].update(extra)
    outcome = admission.review(body, DictView(record([{"name": "app", "language": "python"}])), CONFIG)
    assert outcome.patch == [] and outcome.response["response"]["allowed"] is True


def test_non_pod_objects_are_ignored() -> None:
    body = admission_review({"metadata": {"name": "cm"}, "data": {}})
    body["request"]["kind"] = {"group": "", "version": "v1", "kind": "ConfigMap"}
    body["request"]["resource"] = {"group": "", "version": "v1", "resource": "configmaps"}
    assert admission.review(body, DictView(), CONFIG).result == "ignored"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ([], "JSON object"),
        ({"apiVersion": "admission.k8s.io/v1beta1", "kind": "AdmissionReview"}, "expected apiVersion"),
        ({"apiVersion": "admission.k8s.io/v1", "kind": "Pod"}, "expected apiVersion"),
        ({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview"}, "no request"),
        ({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": {}}, "no uid"),
    ],
)
def test_malformed_reviews_raise_clear_errors(body: Any, message: str) -> None:
    with pytest.raises(AdmissionRequestError, match=message):
        admission.review(body, DictView(), CONFIG)


def test_pod_without_spec_is_a_clear_error() -> None:
    with pytest.raises(AdmissionRequestError, match="not a pod with a spec"):
        admission.review(admission_review({"metadata": {}}), DictView(), CONFIG)


def test_a_bad_rules_file_names_the_file_and_field(tmp_path: Path) -> None:
    (tmp_path / "python.yaml").write_text(
        "language: python\nagent: {image: x, version: '1', source: {glibc: /a}}\n"
    )
    with pytest.raises(RulesError, match=r"python.yaml: .*agent.*musl"):
        rules.load_dir(tmp_path)
    (tmp_path / "python.yaml").write_text("language: nodejs\nebpf: true\n")
    with pytest.raises(RulesError, match="must be named after it"):
        rules.load_dir(tmp_path)


def test_every_shipped_language_has_rules() -> None:
    assert set(rules.all_rules()) == {"python", "nodejs", "java", "dotnet", "go"}


def test_user_attributes_that_are_a_substring_of_ours_stay_after_ours() -> None:
    # Found by the property test: a one-letter user value also occurs inside our own references.
    pod = deployment_pod(
        [{"name": "app", "image": "a", "env": [{"name": "OTEL_RESOURCE_ATTRIBUTES", "value": "D"}]}]
    )
    _, mutated = run(pod, record([{"name": "app", "language": "python"}]))
    attrs = env_of(container(mutated, "app"))["OTEL_RESOURCE_ATTRIBUTES"]
    assert attrs.startswith("k8s.namespace.name=shop,k8s.pod.name=$(HODEGOS_POD_NAME),") and attrs.endswith(
        ",D"
    )
