"""``make demo`` / ``hodegos demo``: the seed's getting-started, whole, on the local cluster's real nodes.

Steps, each timed and reported: (1) the cluster up with a real node; (2) the images — Hodegos's own, the
language agents', the shop's and the backend's — written and loaded; (3) ``hodegos install``; (4) the
backend and the shop; (5) the onboarding in the UI with a real browser (opt-out, Jaeger, the sink);
(6) the first complete trace at Jaeger; (7) a live summary and where to look.

Run twice, it reuses everything: the cluster stays up, images and builds are cached, the install is an
upgrade that changes nothing, the onboarding sees the Destinations exist.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from api import constants
from journey import backend, estimate, summary
from journey import images as demo_images
from journey.backend import DemoError, Progress
from kube import Api
from kube import resources as res

DEFAULT_CLUSTER = "hodegos"
FIRST_TRACE_TIMEOUT = 300.0


@dataclass
class Timings:
    """Seconds per step, and the moments the benchmark and the README figures use."""

    steps: dict[str, float] = field(default_factory=dict)
    installed_at: float = 0.0
    installed_wall: float | None = None  # epoch seconds, for "a trace that began after the install"
    first_trace_after_install: float | None = None


@dataclass
class Seen:
    """What the backend holds: the summary ``make demo`` prints."""

    services: list[str]
    traces: int
    sample: summary.Trace | None
    sink: dict[str, Any]
    runtimes: dict[str, list[dict[str, Any]]]


def step(timings: Timings, name: str, say: Progress) -> Callable[[Callable[[], Any]], Any]:
    """Run the decorated function now as step ``name``, timed, with a header line."""

    def run(fn: Callable[[], Any]) -> Any:
        say(f"==> {name}")
        started = time.monotonic()
        result = fn()
        timings.steps[name] = round(time.monotonic() - started, 1)
        say(f"    done in {timings.steps[name]:.1f} s")
        return result

    return run


def wait_first_trace(
    jaeger: backend.Jaeger,
    timeout: float = FIRST_TRACE_TIMEOUT,
    progress: Progress | None = None,
    since: float | None = None,
) -> summary.Trace:
    """The first complete trace crossing every shop service, polled from Jaeger; with ``since`` (epoch
    seconds), only a trace that began after it (Jaeger may still hold traces of an earlier install)."""
    say = progress or (lambda _m: None)
    deadline = time.monotonic() + timeout
    wanted = set(backend.SHOP_SERVICES)
    last = ""
    while True:
        seen = set()
        try:
            traces = jaeger.traces("frontend", limit=50, lookback="10m")
            seen = set(jaeger.services())
        except DemoError as exc:
            traces, note = [], f"Jaeger not answering yet ({exc})"
        else:
            note = f"services at Jaeger so far: {', '.join(sorted(seen)) or 'none'}"
        whole = [
            t for t in traces
            if t.complete and wanted <= set(t.services)
            and (since is None or min(s.start_us for s in t.spans) >= since * 1e6)
        ]  # fmt: skip
        if whole:
            return max(whole, key=lambda t: len(t.spans))
        if note != last:
            say(f"    {note}")
            last = note
        if time.monotonic() > deadline:
            raise DemoError(
                f"no complete trace crossing {', '.join(sorted(wanted))} within {timeout:.0f} s; {note}"
            )
        time.sleep(2)


def runtimes(api: Api, namespace: str = backend.SHOP_NAMESPACE) -> dict[str, list[dict[str, Any]]]:
    """Workload -> the containers the node agent recorded (language, version, libc, other agents)."""
    out: dict[str, list[dict[str, Any]]] = {}
    records, _ = api.list(res.RECORDS, namespace)
    for record in records:
        workload = (record.get("spec") or {}).get("workload") or {}
        out[str(workload.get("name"))] = list((record.get("status") or {}).get("containers") or [])
    return dict(sorted(out.items()))


def look(api: Api) -> Seen:
    jaeger, sink = backend.Jaeger(api), backend.Sink(api)
    services = jaeger.services()
    traces = jaeger.traces("frontend", limit=100, lookback="1h") if "frontend" in services else []
    return Seen(
        services=services, traces=len(traces), sample=summary.best(traces), sink=sink.summary(),
        runtimes=runtimes(api),
    )  # fmt: skip


def _span_dict(span: summary.Span) -> dict[str, Any]:
    return {
        "name": span.name, "service": span.service, "language": span.language, "spanID": span.span_id,
        "parentID": span.parent_id, "durationMicros": span.duration_us,
    }  # fmt: skip


def as_dict(seen: Seen, timings: Timings | None = None) -> dict[str, Any]:
    """What was seen, for ``-o json|yaml``."""
    sample = seen.sample
    out: dict[str, Any] = {
        "services": seen.services,
        "traces": seen.traces,
        "sampleTrace": None
        if sample is None
        else {
            "traceID": sample.trace_id,
            "services": sample.services,
            "languages": sample.languages,
            "spans": [_span_dict(s) for s in sample.spans],
        },
        "sink": seen.sink,
        "runtimes": seen.runtimes,
    }
    if timings is not None:
        out["timings"] = {"steps": timings.steps, "firstTraceAfterInstall": timings.first_trace_after_install}
    return out


def report(seen: Seen) -> list[str]:
    """The live summary as lines (pure: from what was seen)."""
    lines = [f"services at Jaeger: {', '.join(s for s in seen.services if s != 'jaeger') or 'none'}"]
    lines.append(f"traces from the front end in the last hour (up to 100 read): {seen.traces}")
    for name, containers in seen.runtimes.items():
        for c in containers:
            lines.append(
                f"  {name}/{c.get('name')}: {c.get('language', '?')} {c.get('runtimeVersion', '')}"
                f" ({c.get('libc') or 'static'})"
            )
    if seen.sample is not None:
        lines.append(f"a sample trace ({seen.sample.trace_id}, {len(seen.sample.spans)} spans):")
        lines += [f"  {line}" for line in summary.tree(seen.sample)]
    metrics, logs = seen.sink.get("metrics") or {}, seen.sink.get("logs") or {}
    lines.append(f"metrics received by the sink: {metrics.get('received', 0)} series points batches")
    for service, names in (metrics.get("services") or {}).items():
        lines.append(f"  {service or '(no service.name)'}: {len(names)} metrics, e.g. {', '.join(names[:3])}")
    lines.append(f"log records received by the sink: {logs.get('received', 0)}")
    for service, count in (logs.get("services") or {}).items():
        lines.append(f"  {service or '(no service.name)'}: {count} lines")
    return lines


def where_to_look(cluster: str, kubeconfig: Path, kubectl: Path) -> list[str]:
    k = f"{kubectl} --kubeconfig {kubeconfig}"
    return [
        "Look around:",
        f"  hodegos ui --kubeconfig {kubeconfig}                   # the web UI, through a port-forward",
        f"  {k} -n observability port-forward svc/jaeger 16686:16686",
        "      then: curl 'http://127.0.0.1:16686/api/traces?service=frontend&limit=1'  (Jaeger's query API)",
        f"  hodegos demo summary --name {cluster}                  # this summary again",
        f"  {k} get pods -A -o wide",
        f"  {k} -n shop get instrumentedapplications -o wide",
        f"  {k} -n {constants.NAMESPACE} get destinations,collectorsgroups",
        f"  {k} top pods -A",
        "Tear down:",
        f"  hodegos cluster down --name {cluster}",
    ]


def shop_and_backend(api: Api, say: Progress) -> None:
    for path in (backend.BACKEND_FILE, backend.SHOP_FILE):
        applied = backend.apply_file(api, path)
        say(f"    applied {len(applied)} objects from demo/{path.name}")
    backend.wait_available(api, backend.BACKEND_NAMESPACE, ("jaeger", "sink"), progress=say)
    backend.wait_available(api, backend.SHOP_NAMESPACE, (*backend.SHOP_SERVICES, "loadgen"), progress=say)


def demo_archives(say: Progress) -> list[Path]:
    return list(demo_images.archives(progress=lambda m: say(f"    {m}")).values())


@dataclass
class Options:
    cluster: str = DEFAULT_CLUSTER
    nodes: int = 1
    port: int | None = None
    screenshots: Path | None = None


def _kubectl() -> Path:
    from toolchain import cluster as tools

    return tools.KUBERNETES.path("kubectl")


def _rolled_out(api: Api, namespace: str) -> bool:
    """Every Deployment of ``namespace`` has as many updated, available pods as it wants, and no others."""
    deployments, _ = api.list(res.DEPLOYMENTS, namespace)
    for deployment in deployments:
        want = int((deployment.get("spec") or {}).get("replicas", 1))
        status = deployment.get("status") or {}
        counts = (
            status.get("replicas", 0),
            status.get("updatedReplicas", 0),
            status.get("availableReplicas", 0),
        )
        if counts != (want, want, want):
            return False
    return True


def run(options: Options, say: Progress) -> tuple[Timings, Seen]:
    """The whole journey; raises :class:`DemoError` (or a cluster/install error) saying what failed."""
    from installer import install as installing
    from installer.helm import Helm
    from journey import restarts
    from kube.portforward import forward, service_target
    from localcluster import lifecycle
    from localcluster.layout import Layout
    from toolchain import cluster as tools
    from toolchain import productimages

    timings = Timings()
    todo = estimate.message(estimate.pieces())
    if todo:
        say(f"    {todo}")

    def up() -> Path:
        result = lifecycle.up(
            options.cluster, nodes=options.nodes, port=options.port, progress=lambda m: say(f"    {m}")
        )
        if result.already_up:
            say(f"    cluster {options.cluster!r} was already up")
        return Layout.for_name(options.cluster).admin_kubeconfig

    kubeconfig: Path = step(
        timings, f"the local cluster {options.cluster!r} with {options.nodes} real node(s)", say
    )(up)
    api = lifecycle.admin_api(Layout.for_name(options.cluster))

    loaded: list[Path] = []  # the archives of this run: pods running older builds of them are restarted

    def load() -> None:
        archives = [b.archive for b in productimages.build(progress=lambda m: say(f"    {m}"))]
        archives += list(productimages.agent_archives().values())
        archives += demo_archives(say)
        lifecycle.load(options.cluster, archives, progress=lambda m: say(f"    {m}"))
        loaded.extend(archives)

    def restart(namespaces: list[str]) -> None:
        for kind, namespace, name in restarts.restart(api, loaded, namespaces):
            say(f"    restarting {kind} {namespace}/{name}: its pods run an older build of their images")

    step(
        timings, "images: Hodegos, the language agents, the shop and the backend (OCI archives, loaded)", say
    )(load)

    def install() -> None:
        helm = Helm(tools.HELM.path("helm"), kubeconfig)
        restart([constants.NAMESPACE])
        timings.installed_at, timings.installed_wall = time.monotonic(), time.time()
        installing.install(api, helm, wait=True, timeout="5m", progress=lambda m: say(f"    {m}"))

    step(timings, "hodegos install (the chart, waiting for every pod)", say)(install)

    def shop() -> None:
        restart([backend.BACKEND_NAMESPACE, backend.SHOP_NAMESPACE])
        shop_and_backend(api, say)

    step(timings, "the backend (Jaeger, the sink) and the shop", say)(shop)

    def onboard() -> None:
        from journey import onboarding

        target = service_target(api, constants.NAMESPACE, "hodegos-ui", "http")
        with forward(api, target) as port:
            onboarding.run(f"http://127.0.0.1:{port}", options.screenshots, say)

    step(timings, "onboarding in the UI (Chromium): opt-out, Jaeger, the sink", say)(onboard)

    def first_trace() -> summary.Trace:
        trace = wait_first_trace(backend.Jaeger(api), progress=say, since=timings.installed_wall)
        timings.first_trace_after_install = round(time.monotonic() - timings.installed_at, 1)
        return trace

    trace: summary.Trace = step(timings, "the first complete trace at Jaeger", say)(first_trace)
    say(f"    trace {trace.trace_id}: {len(trace.spans)} spans across {', '.join(trace.services)}")
    say(f"    {timings.first_trace_after_install:.0f} s after `hodegos install` started")
    time.sleep(5)  # a few more exports, so metrics and logs have arrived too
    if options.screenshots:
        from journey import onboarding

        # Pictures of the shop flowing, not of its rollouts: wait for every shop Deployment to settle, then
        # for the rates on the overview to cover a few seconds of steady traffic.
        deadline = time.monotonic() + 180
        while not _rolled_out(api, backend.SHOP_NAMESPACE) and time.monotonic() < deadline:
            time.sleep(2)
        time.sleep(15)
        with forward(api, service_target(api, constants.NAMESPACE, "hodegos-ui", "http")) as port:
            pages = (("flowing-overview", "/overview"), ("flowing-sources", "/sources"))
            for path in onboarding.capture(f"http://127.0.0.1:{port}", options.screenshots, pages):
                say(f"    screenshot {path}")
    seen = look(api)
    say("==> what arrived")
    for line in report(seen):
        say(f"    {line}")
    for line in where_to_look(options.cluster, kubeconfig, _kubectl()):
        say(line)
    return timings, seen


__all__ = [
    "DEFAULT_CLUSTER",
    "Options",
    "Seen",
    "Timings",
    "as_dict",
    "demo_archives",
    "estimate",
    "look",
    "report",
    "run",
    "runtimes",
    "shop_and_backend",
    "step",
    "wait_first_trace",
    "where_to_look",
]
