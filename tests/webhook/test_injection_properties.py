"""Property tests of the admission core over generated pods (hypothesis, 2,000 examples per run).

For every pod: the answer is allowed; the patch applies; the result validates against the Kubernetes 1.37
OpenAPI schema; a second pass is empty; every user env value survives; values we add only reference
variables defined before them; init containers we add are restricted by themselves.
"""

from __future__ import annotations

import functools
import re
import string
from collections import Counter
from typing import Any

import jsonpatch
import jsonschema
import kubernetes_validate
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from kubernetes_validate import utils as kv_utils
from referencing import Registry, Resource

from api import constants
from api.config import HodegosConfig
from api.models import InstrumentedApplication
from webhook import admission, rules

from .factories import DictView, admission_review

K8S_VERSION = "1.37.0"
LANGUAGES = ["python", "nodejs", "java", "dotnet", "go", "ruby", "unknown", "ignored"]
LAUNCHERS = [rule.name for lang in rules.all_rules().values() for rule in lang.env]
SPECIAL = [
    *LAUNCHERS,
    "OTEL_SERVICE_NAME",
    "OTEL_RESOURCE_ATTRIBUTES",
    "OTEL_TRACES_SAMPLER",
    "HODEGOS_POD_NAME",
]
REF = re.compile(r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)")

names = st.from_regex(r"[a-z]([a-z0-9-]{0,10}[a-z0-9])?", fullmatch=True)
env_names = st.one_of(st.sampled_from(SPECIAL), st.from_regex(r"[A-Z_][A-Z0-9_]{0,12}", fullmatch=True))
values = st.text(alphabet=string.ascii_letters + string.digits + " =,:/.-_$(){}", max_size=24)
value_from = st.sampled_from(
    [
        {"fieldRef": {"fieldPath": "metadata.name"}},
        {"configMapKeyRef": {"name": "cfg", "key": "k"}},
        {"secretKeyRef": {"name": "sec", "key": "k", "optional": True}},
    ]
)


@st.composite
def env_lists(draw: st.DrawFn) -> list[dict[str, Any]]:
    keys = draw(st.lists(env_names, max_size=6, unique=True))
    out = []
    for key in keys:
        if draw(st.booleans()) and draw(st.booleans()):
            out.append({"name": key, "valueFrom": draw(value_from)})
        else:
            out.append({"name": key, "value": draw(values)})
    return out


security_contexts = st.one_of(
    st.none(),
    st.fixed_dictionaries(
        {},
        optional={
            "runAsUser": st.integers(0, 70000),
            "runAsNonRoot": st.booleans(),
            "readOnlyRootFilesystem": st.booleans(),
            "allowPrivilegeEscalation": st.booleans(),
            "capabilities": st.just({"drop": ["ALL"]}),
        },
    ),
)


@st.composite
def containers(draw: st.DrawFn, name: str) -> dict[str, Any]:
    c: dict[str, Any] = {"name": name, "image": f"registry.local/{name}:1"}
    env = draw(env_lists())
    if env:
        c["env"] = env
    if draw(st.integers(0, 4)) == 0:
        c["envFrom"] = [{"configMapRef": {"name": "common"}}]
    mounts = []
    if draw(st.booleans()):
        mounts.append({"name": "data", "mountPath": "/data"})
    if draw(st.integers(0, 9)) == 0:
        mounts.append(
            {"name": "data", "mountPath": draw(st.sampled_from(["/hodegos/python", "/hodegos/java"]))}
        )
    if mounts:
        c["volumeMounts"] = mounts
    sc = draw(security_contexts)
    if sc is not None:
        c["securityContext"] = sc
    return c


@st.composite
def cases(draw: st.DrawFn) -> tuple[dict[str, Any], InstrumentedApplication | None]:
    container_names = draw(
        st.lists(st.one_of(names, st.just("istio-proxy")), min_size=1, max_size=4, unique=True)
    )
    spec: dict[str, Any] = {"containers": [draw(containers(n)) for n in container_names]}
    if any("volumeMounts" in c for c in spec["containers"]):
        spec["volumes"] = [{"name": "data", "emptyDir": {}}]
    inits = draw(st.lists(names.filter(lambda n: n not in container_names), max_size=2, unique=True))
    if inits:
        spec["initContainers"] = [{"name": n, "image": "busybox", "command": ["true"]} for n in inits]
    if draw(st.booleans()):
        spec["securityContext"] = {"runAsNonRoot": True, "runAsUser": 1000, "fsGroup": 2000}

    owner = draw(st.sampled_from(["Deployment", "StatefulSet", "DaemonSet", "CronJob", "Pod"]))
    workload = draw(names)
    meta: dict[str, Any] = {"namespace": "shop", "labels": {"app": workload}}
    if owner == "Deployment":
        meta["labels"]["pod-template-hash"] = "7c9f8d6b5"
        meta["generateName"] = f"{workload}-7c9f8d6b5-"
        refs = [("apps/v1", "ReplicaSet", f"{workload}-7c9f8d6b5")]
    elif owner == "CronJob":
        meta["generateName"] = f"{workload}-29001440-"
        refs = [("batch/v1", "Job", f"{workload}-29001440")]
    elif owner == "Pod":
        meta["name"] = workload
        refs = []
    else:
        meta["generateName"] = f"{workload}-"
        refs = [("apps/v1", owner, workload)]
    if refs:
        meta["ownerReferences"] = [
            {"apiVersion": a, "kind": k, "name": n, "uid": "0b7f", "controller": True} for a, k, n in refs
        ]
    if draw(st.integers(0, 9)) == 0:
        meta["annotations"] = {constants.ANNOTATION_INSTRUMENTATION: "disabled"}
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": spec}

    if draw(st.integers(0, 9)) == 0:
        return pod, None
    runtimes = []
    for n in container_names:
        if draw(st.integers(0, 5)) == 0:
            continue
        runtime: dict[str, Any] = {"name": n, "language": draw(st.sampled_from(LANGUAGES))}
        runtime["libc"] = draw(st.sampled_from(["glibc", "musl"]))
        if draw(st.integers(0, 9)) == 0:
            runtime["otherAgents"] = ["newrelic"]
        runtimes.append(runtime)
    status: dict[str, Any] = {"containers": runtimes}
    if draw(st.integers(0, 19)) == 0:
        status["rollback"] = {"reason": "CrashLoopBackOff"}
    options: dict[str, Any] = {}
    if draw(st.booleans()):
        options["sampler"] = {"name": "parentbased_traceidratio", "argument": "0.1"}
    rec = InstrumentedApplication.model_validate(
        {
            "metadata": {"name": constants.record_name(owner, workload), "namespace": "shop"},
            "spec": {"workload": {"kind": owner, "name": workload}, "options": options},
            "status": status,
        }
    )
    return pod, rec


@functools.cache
def _pod_validator() -> jsonschema.protocols.Validator:
    """The strict Pod schema of the pinned Kubernetes version, shipped by kubernetes-validate, built once.

    ``kubernetes_validate.validate`` re-reads the whole definitions file on every call; the schema and the
    checks are the same, only loaded once here.
    """
    directory = f"kubernetes-json-schema/v{K8S_VERSION}-local-strict"
    schema = kv_utils.schema_contents(f"{directory}/pod-v1.json", K8S_VERSION)
    definitions = kv_utils.schema_contents(f"{directory}/_definitions.json", K8S_VERSION)
    registry = Resource.from_contents(definitions) @ (Resource.from_contents(schema) @ Registry())
    return jsonschema.validators.Draft202012Validator(schema, registry=registry)


def _validate(pod: dict[str, Any]) -> None:
    named = {**pod, "metadata": {**pod["metadata"], "name": pod["metadata"].get("name", "generated-x1")}}
    _pod_validator().validate(named)


def test_schema_check_rejects_an_invalid_pod() -> None:
    bad = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "x"},
        "spec": {"containers": [{"name": 1}]},
    }
    with pytest.raises(jsonschema.ValidationError):
        _validate(bad)
    kubernetes_validate.validate(_example_pod(), K8S_VERSION, strict=True)
    _validate(_example_pod())


def _example_pod() -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "x"},
        "spec": {"containers": [{"name": "a"}]},
    }


def _entries(container: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {e["name"]: e for e in container.get("env") or []}


@settings(max_examples=2000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cases())
def test_generated_pods(case: tuple[dict[str, Any], InstrumentedApplication | None]) -> None:
    pod, rec = case
    view = DictView(*([rec] if rec else []))
    _validate(pod)
    outcome = admission.review(admission_review(pod), view, HodegosConfig())
    assert outcome.response["response"]["allowed"] is True
    assert outcome.response["response"]["uid"] == "705ab4f5-6393-11e8-b7cc-42010a800002"

    mutated = jsonpatch.apply_patch(pod, outcome.patch)
    _validate(mutated)

    # Idempotent: the webhook run on its own output changes nothing.
    again = admission.review(admission_review(mutated), view, HodegosConfig())
    assert again.patch == []

    injected = {d.container for d in outcome.containers if d.action == "injected"}
    for before, after in zip(pod["spec"]["containers"], mutated["spec"]["containers"], strict=True):
        old, new = _entries(before), _entries(after)
        for name, entry in old.items():
            assert name in new, f"user env {name} was dropped"
            if "valueFrom" in entry:
                assert new[name] == entry
            elif name in LAUNCHERS or name == constants.ENV_RESOURCE_ATTRIBUTES:
                assert entry["value"] in new[name]["value"]
            else:
                assert new[name] == entry
        names_after = [e["name"] for e in after.get("env") or []]
        assert len(names_after) == len(set(names_after)), "no duplicate env names are introduced"
        if before["name"] not in injected:
            assert before == after, "a container that was not injected is untouched"
            continue
        # References in what we wrote point only at variables defined earlier in the list.
        for index, entry in enumerate(after["env"]):
            if entry["name"] in old and old[entry["name"]] == entry:
                continue
            # Our references are the ones not already in the user's value (a composed value contains it).
            theirs = (
                Counter(REF.findall(old[entry["name"]].get("value", "")))
                if entry["name"] in old
                else Counter()
            )
            for ref in Counter(REF.findall(entry.get("value", ""))) - theirs:
                assert ref in names_after[:index], f"{entry['name']} references {ref} before it is defined"

    user_inits = len(pod["spec"].get("initContainers") or [])
    for init in (mutated["spec"].get("initContainers") or [])[user_inits:]:
        sc = init["securityContext"]
        assert sc["runAsNonRoot"] and sc["runAsUser"] > 0 and not sc["allowPrivilegeEscalation"]
        assert sc["capabilities"] == {"drop": ["ALL"]} and sc["seccompProfile"]["type"] == "RuntimeDefault"
        assert init["resources"]["limits"]
