"""End-to-end scenarios on the installed product: the demo shop on a real node, Hodegos installed by its
chart, data at a real backend (Jaeger for traces, the sink for metrics and logs). In file order; the last
one uninstalls. The fixture (conftest.py) is ``make demo`` itself."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, TypeVar

import pytest
from typer.testing import CliRunner

from api import constants
from cli.main import app
from controllers.rollouts import is_instrumented
from journey import backend, run, summary, traffic
from kube import Api, ApiError
from kube import resources as res
from tests.journey.conftest import Demo

# The first test also pays for the fixture: the whole demo, from cluster up to the first trace.
pytestmark = [
    pytest.mark.cluster,
    pytest.mark.agents,
    pytest.mark.bpf,
    pytest.mark.collector,
    pytest.mark.timeout(1800),
]
T = TypeVar("T")
SHOP = backend.SHOP_NAMESPACE


def eventually(what: str, check: Callable[[], T | None], timeout: float = 180, every: float = 2) -> T:
    """``check()``'s first truthy value; fails with ``what`` and the last value after ``timeout``."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while True:
        try:
            last = check()
        except AssertionError as exc:
            last = exc
        else:
            if last:
                found: T = last
                return found
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout:.0f} s (last: {last!r})")
        time.sleep(every)


# -- traces -------------------------------------------------------------------------------------------------


def _whole_trace(api: Api) -> summary.Trace | None:
    traces = backend.Jaeger(api).traces("frontend", limit=50, lookback="5m")
    wanted = set(backend.SHOP_SERVICES)
    whole = [t for t in traces if t.complete and wanted <= set(t.services)]
    return max(whole, key=lambda t: len(t.spans), default=None)


def test_one_trace_crosses_four_services_in_four_languages_with_the_pod_on_every_span(demo: Demo) -> None:
    trace = eventually("a complete trace through the whole shop at Jaeger", lambda: _whole_trace(demo.api))
    assert set(trace.services) >= {"frontend", "catalog", "pricing", "inventory"}
    assert set(trace.languages) >= {"nodejs", "python", "java", "go"}, summary.tree(trace)
    # Parent/child links cross the services the way the shop calls them.
    assert {("frontend", "catalog"), ("catalog", "pricing"), ("frontend", "inventory")} <= trace.edges()
    assert trace.complete and len(trace.roots) == 1 and trace.roots[0].service == "frontend"
    assert summary.missing_resource(trace) == []
    for span in trace.spans:
        assert span.resource["k8s.namespace.name"] == SHOP
        assert span.resource["k8s.pod.name"].startswith(f"{span.workload}-")
        assert span.workload == span.service  # the service name is the workload's name


# -- metrics and logs ---------------------------------------------------------------------------------------


def _metrics(api: Api) -> dict[str, list[str]]:
    return dict((backend.Sink(api).summary().get("metrics") or {}).get("services") or {})


# Runtime metrics of each agent: the JVM's, Node.js's event loop, CPython's (the system-metrics
# instrumentation, limited to the process and interpreter by the injected environment).
RUNTIME_METRICS = {"pricing": "jvm.", "frontend": "nodejs.", "catalog": "process.runtime.cpython."}


def test_request_runtime_and_host_metrics_arrive_at_the_sink(demo: Demo) -> None:
    def complete() -> dict[str, list[str]] | None:
        seen = _metrics(demo.api)
        ok = all(
            any(n.startswith(prefix) for n in seen.get(service, []))
            for service, prefix in RUNTIME_METRICS.items()
        )
        host = any(n.startswith("system.") for names in seen.values() for n in names)
        assert ok and host, {k: sorted({n.split(".")[0] + "." for n in v}) for k, v in seen.items()}
        return seen

    seen = eventually("runtime metrics of every agent and host metrics", complete, timeout=120)
    # The machine's own figures come once per node from the node collector, never from each Python app.
    assert not [n for n in seen.get("catalog", []) if n.startswith("system.")], seen["catalog"]
    # Request metrics: derived from spans on the node (the OTLP destination does not derive them itself).
    for service in backend.SHOP_SERVICES:
        assert "traces.span.metrics.calls" in seen.get(service, []), (service, seen.get(service))
    records = backend.Sink(demo.api).records("metrics", limit=2000)
    host = [r for r in records if r["name"].startswith("system.")]
    assert host and all(r["resource"].get("k8s.node.name") for r in host)


def test_every_services_stdout_lines_arrive_with_the_pods_attributes(demo: Demo) -> None:
    sink = backend.Sink(demo.api)

    def logged(service: str) -> list[dict[str, Any]]:
        return sink.records("logs", service=service, limit=20)

    for service in backend.SHOP_SERVICES:
        records = eventually(f"log lines of {service}", lambda s=service: logged(s), timeout=120)  # type: ignore[misc]
        for record in records:
            resource = record["resource"]
            assert resource["k8s.namespace.name"] == SHOP
            assert str(resource["k8s.pod.name"]).startswith(f"{service}-")
            assert resource.get("k8s.container.name")
        assert any(service in str(r["body"]) or "GET" in str(r["body"]) for r in records), records[:3]


# -- runtime detection --------------------------------------------------------------------------------------


def test_the_records_show_language_version_and_libc_of_every_service(demo: Demo) -> None:
    expected = {
        "frontend": ("nodejs", "20.", "glibc"),
        "catalog": ("python", "3.11.", "glibc"),
        "pricing": ("java", "17.", "glibc"),
        "inventory": ("go", "1.", None),
    }
    runtimes = run.runtimes(demo.api)
    assert "loadgen" not in runtimes  # opted out by its pod template's annotation
    for workload, (language, version, libc) in expected.items():
        (container,) = runtimes[workload]
        assert container["language"] == language, (workload, container)
        assert str(container["runtimeVersion"]).startswith(version), (workload, container)
        assert container.get("libc") == libc, (workload, container)


# -- opt-out and opt-in -------------------------------------------------------------------------------------


def _pods(api: Api, namespace: str, app_label: str) -> list[dict[str, Any]]:
    pods, _ = api.list(res.PODS, namespace, label_selector=f"app={app_label}")
    return [p for p in pods if not (p.get("metadata") or {}).get("deletionTimestamp")]


def _ready(pod: dict[str, Any]) -> bool:
    conditions = (pod.get("status") or {}).get("conditions") or []
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)


def _settled(api: Api, namespace: str, name: str, instrumented: bool) -> list[dict[str, Any]] | None:
    """The Deployment's pods when every one is Ready and (not) instrumented, and the rollout is done."""
    deployment = api.get(res.DEPLOYMENTS, namespace, name) or {}
    status = deployment.get("status") or {}
    want = int((deployment.get("spec") or {}).get("replicas", 1))
    pods = _pods(api, namespace, name)
    done = (
        status.get("updatedReplicas") == want
        and status.get("availableReplicas") == want
        and len(pods) == want
        and all(_ready(p) and is_instrumented(p) == instrumented for p in pods)
    )
    return pods if done else None


def _deployment(
    namespace: str,
    name: str,
    image: str,
    env: dict[str, str] | None = None,
    memory: str | None = None,
    command: list[str] | None = None,
) -> dict[str, Any]:
    container: dict[str, Any] = {
        "name": "app", "image": image, "imagePullPolicy": "Never",
        "env": [{"name": k, "value": v} for k, v in (env or {}).items()],
        "readinessProbe": {"tcpSocket": {"port": 8080}, "periodSeconds": 2},
    }  # fmt: skip
    if memory:
        container["resources"] = {"requests": {"memory": memory}, "limits": {"memory": memory}}
    if command:
        container["command"] = command
    return {
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "replicas": 1, "selector": {"matchLabels": {"app": name}},
            "template": {"metadata": {"labels": {"app": name}}, "spec": {"containers": [container]}},
        },
    }  # fmt: skip


def _user(api: Api) -> Api:
    """The API as a user's kubectl would act: a field manager of its own, not Hodegos's."""
    return Api(api.client, field_manager="hodegos-e2e")


def _namespace(api: Api, name: str, annotations: dict[str, str] | None = None) -> None:
    body = {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {"name": name, "annotations": annotations or {}},
    }
    _user(api).apply(res.NAMESPACES, body)


def test_a_namespace_opted_out_loses_instrumentation_and_gets_it_back_when_opted_in(demo: Demo) -> None:
    api, namespace = demo.api, "e2e-toggle"
    _namespace(api, namespace)
    body = _deployment(
        namespace, "toggle", "hodegos-demo/catalog:1", {"PRICING_URL": "http://pricing.shop:8080"}
    )
    _user(api).apply(res.DEPLOYMENTS, body)
    # Opt-out mode: a new namespace is instrumented once the node agent has seen its Python process.
    eventually(
        "toggle instrumented (detected, then rolled)", lambda: _settled(api, namespace, "toggle", True), 240
    )
    _namespace(api, namespace, {constants.ANNOTATION_INSTRUMENTATION: constants.INSTRUMENTATION_DISABLED})
    eventually(
        "toggle rolled to clean pods after opt-out", lambda: _settled(api, namespace, "toggle", False), 180
    )
    eventually(
        "the record deleted after opt-out", lambda: not api.list(res.RECORDS, namespace)[0], timeout=60
    )
    _namespace(api, namespace, {constants.ANNOTATION_INSTRUMENTATION: constants.INSTRUMENTATION_ENABLED})
    pods = eventually(
        "toggle instrumented again after opt-in", lambda: _settled(api, namespace, "toggle", True), 240
    )
    annotations = pods[0]["metadata"]["annotations"]
    assert "injected:python" in annotations[constants.ANNOTATION_INJECTION_STATUS]
    api.delete(res.NAMESPACES, None, namespace)


# -- rollback -----------------------------------------------------------------------------------------------


def _record(api: Api, namespace: str, name: str) -> dict[str, Any] | None:
    return api.get(res.RECORDS, namespace, f"deployment-{name}")


def _diagnosis(api: Api, namespace: str, name: str) -> str:
    """What a failed rollback scenario left: the record's status, each pod's state, the namespace's events."""
    status = (_record(api, namespace, name) or {}).get("status") or {}
    pods, _ = api.list(res.PODS, namespace, label_selector=f"app={name}")
    lines = [f"record: rollback={status.get('rollback')} conditions={status.get('conditions')}"]
    for pod in pods:
        meta, pod_status = pod["metadata"], pod.get("status") or {}
        states = [
            (
                c.get("name"),
                c.get("restartCount"),
                c.get("state"),
                (c.get("lastState") or {}).get("terminated"),
            )
            for c in pod_status.get("containerStatuses") or []
        ]
        deleting = bool(meta.get("deletionTimestamp"))
        lines.append(f"pod {meta['name']} instrumented={is_instrumented(pod)} deleting={deleting} {states}")
    events, _ = api.list(res.EVENTS, namespace)
    lines += [f"event {e.get('reason')}: {e.get('note') or e.get('message')}" for e in events[-30:]]
    return "\n".join(lines)


def test_an_instrumented_java_app_that_crash_loops_is_rolled_back_then_recovered_by_annotation(
    demo: Demo,
) -> None:
    api, namespace, name = demo.api, "e2e-rollback", "ledger"
    _namespace(api, namespace)
    # Fine on its own (the JVM peaks near 45 MiB with -Xmx48m); with the Java agent loaded it needs about
    # 180 MiB, so instrumented pods are OOM-killed at start-up, again and again: a crash loop.
    java = ["java", "-Xmx48m", "-cp", "/app/classes", "Pricing"]
    body = _deployment(
        namespace, name, "hodegos-demo/pricing:1", {"PORT": "8080"}, memory="112Mi", command=java
    )
    _user(api).apply(res.DEPLOYMENTS, body)

    def rolled_back() -> dict[str, Any] | None:
        record = _record(api, namespace, name) or {}
        return record if (record.get("status") or {}).get("rollback") else None

    record = eventually("the record reports a rollback", rolled_back, timeout=300)
    condition = {c["type"]: c for c in record["status"]["conditions"]}["RolledBack"]
    assert (
        condition["status"] == "True" and condition["observedGeneration"] == record["metadata"]["generation"]
    )
    assert "ledger" in record["status"]["rollback"]["message"]
    eventually("ledger back on clean, Ready pods", lambda: _settled(api, namespace, name, False), 180)
    events, _ = api.list(res.EVENTS, namespace)
    assert any(e.get("reason") == "RolledBack" and e.get("type") == "Warning" for e in events)

    # The user gives it room for the agent and asks for instrumentation again.
    fixed = _deployment(
        namespace, name, "hodegos-demo/pricing:1", {"PORT": "8080"}, memory="400Mi", command=java
    )
    fixed["metadata"]["annotations"] = {constants.ANNOTATION_RECOVER: "true"}
    _user(api).apply(res.DEPLOYMENTS, fixed)
    try:
        eventually(
            "ledger instrumented again after recovery", lambda: _settled(api, namespace, name, True), 300
        )
    except AssertionError as exc:
        raise AssertionError(f"{exc}\n{_diagnosis(api, namespace, name)}") from exc
    record = _record(api, namespace, name) or {}
    assert not (record.get("status") or {}).get("rollback")
    api.delete(res.NAMESPACES, None, namespace)


# -- hodegos ui ----------------------------------------------------------------------------------------------


def test_hodegos_ui_port_forwards_to_the_in_cluster_ui(demo: Demo) -> None:
    import socket
    import subprocess
    import sys
    from pathlib import Path

    import httpx

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    hodegos = str(Path(sys.executable).with_name("hodegos"))
    proc = subprocess.Popen(
        [hodegos, "ui", "--kubeconfig", str(demo.kubeconfig), "--port", str(port)],
        stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert proc.stderr is not None
        line = ""
        while "Ctrl-C" not in line:  # the message may be wrapped over lines
            more = proc.stderr.readline()
            assert more, f"hodegos ui exited: {line}"
            line += more.replace("\n", "")
        assert (
            f"http://127.0.0.1:{port}" in line and "forwarding to pod hodegos-system/hodegos-ui-" in line
        ), line
        page = httpx.get(f"http://127.0.0.1:{port}/sources", timeout=30)
        assert page.status_code == 200 and "frontend" in page.text
    finally:
        proc.terminate()
        proc.wait(timeout=30)


# -- the gateway scales with traffic ------------------------------------------------------------------------


def test_the_gateway_scales_out_under_load_and_back_in_after_calm_with_no_span_lost(demo: Demo) -> None:
    api = demo.api
    # A small CPU request, so the shop's load on this 2-core machine is over the HPA's 75 % target, yet an
    # idle gateway (4-5m) is well under it: two pods at 10m would stay two (ceil(2 x 0.45/0.75) = 2).
    tuned = {"maxReplicas": 3, "cpuRequestMillis": 15, "scaleDownWindowSeconds": 30}
    group = {"spec": {"resources": tuned}}
    api.merge_patch(res.GROUPS, constants.NAMESPACE, constants.GATEWAY_NAME, group)
    try:

        def hpa_tuned() -> bool:
            spec = (api.get(res.HPAS, constants.NAMESPACE, constants.GATEWAY_NAME) or {}).get("spec") or {}
            return spec.get("maxReplicas") == 3 and (
                spec["behavior"]["scaleDown"]["stabilizationWindowSeconds"] == 30
            )

        eventually("the HPA follows the group's resources", hpa_tuned, timeout=60)
        eventually("one gateway pod before the load", lambda: traffic.gateway_size(api)[1] == 1, timeout=180)
        traffic.set_load(api, 0, 2)  # quiet: only readiness probes make spans now
        time.sleep(15)
        received_before, sent_before = traffic.spans_received(api), traffic.spans_sent(api)

        traffic.set_load(api, 2, 40)
        started = time.monotonic()
        eventually("the gateway scaled out", lambda: traffic.gateway_size(api)[1] >= 2, timeout=420, every=5)
        out_after = time.monotonic() - started
        peak = traffic.gateway_size(api)[1]
        time.sleep(30)  # a while at the larger size, spans spread over every gateway pod

        traffic.set_load(api, 0, 2)
        calm = time.monotonic()
        eventually(
            "the gateway back to one pod", lambda: traffic.gateway_size(api) == (1, 1), timeout=600, every=5
        )
        in_after = time.monotonic() - calm
        sent = traffic.spans_sent(api) - sent_before
        time.sleep(20)  # what the node collectors had accepted is at Jaeger by now, if nothing was lost
        received = traffic.spans_received(api) - received_before
        print(
            f"gateway: out to {peak} pods {out_after:.0f} s into the load, "
            f"back to 1 {in_after:.0f} s after it; "
            f"spans accepted by the node collectors {sent}, by Jaeger {received}"
        )
        assert sent > 5000, "the load made too few spans to mean anything"
        assert received >= sent, f"{sent - received} spans lost between the node collectors and Jaeger"
    finally:
        traffic.set_load(api, 1, 2)
        reset = {"spec": {"resources": {k: None for k in tuned}}}
        api.merge_patch(res.GROUPS, constants.NAMESPACE, constants.GATEWAY_NAME, reset)


# -- uninstall ----------------------------------------------------------------------------------------------


def test_uninstall_takes_instrumentation_out_and_leaves_nothing_behind(demo: Demo) -> None:
    api = demo.api
    result = CliRunner().invoke(
        app, ["uninstall", "--purge", "--kubeconfig", str(demo.kubeconfig), "--timeout", "300"]
    )
    assert result.exit_code == 0, result.output
    for name in (*backend.SHOP_SERVICES, "loadgen"):
        pods = eventually(f"{name} on clean, Ready pods", lambda n=name: _settled(api, SHOP, n, False), 120)  # type: ignore[misc]
        for pod in pods:
            spec = pod["spec"]
            assert not [c for c in spec.get("initContainers") or [] if c["name"].startswith("hodegos")]
            env = {e["name"] for c in spec["containers"] for e in c.get("env") or []}
            assert not {n for n in env if n.startswith("OTEL_")}, env
    hooks, _ = api.list(res.MUTATING_WEBHOOKS)
    assert not [h for h in hooks if h["metadata"]["name"].startswith("hodegos")]
    eventually(
        "the release namespace gone", lambda: api.get(res.NAMESPACES, None, constants.NAMESPACE) is None, 180
    )
    crds, _ = api.list(res.CRDS)
    assert not [c for c in crds if c["spec"]["group"] == constants.GROUP]
    # The shop still serves: the front end answers through the API server's service proxy.
    front = f"/api/v1/namespaces/{SHOP}/services/frontend:8080/proxy/"

    def serves() -> bool:
        try:
            return "inStock" in api.text(front)
        except ApiError as exc:  # 502 while the proxy still knows a pod that just went
            raise AssertionError(str(exc)) from exc

    eventually("the front end serving on clean pods", serves, timeout=120)
