"""`hodegos agent ...` commands: the node agent.

- ``detect``: print what runs in one process (``--pid``) or every process (``--all``), as JSON or YAML.
- ``run``: the node agent loop: watch this node's pods and record detections in InstrumentedApplications;
  trace labelled Go containers with eBPF, serve the tracer's counters on ``/metrics`` and report span
  losses in the records' ``status.spanLoss``.
- ``trace``: the eBPF tracer in the foreground for some processes, with its counters on stderr.
"""

from __future__ import annotations

import importlib
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from api import constants
from cli.output import Format, connect, emit, fail

if TYPE_CHECKING:
    from detector.tracing import GoTracing, Handle, LossReporter

LOSS_REPORT_SECONDS = 15.0  # how often span losses are looked at for the records' status.spanLoss

app = typer.Typer(help="Node agent: runtime detection and eBPF tracing.", no_args_is_help=True)


def _detection_row(pid: int, proc: Path, cache: Any) -> dict[str, Any] | None:
    from detector import DetectorError, inspect

    try:
        detection = inspect(pid, proc, cache)
    except DetectorError:
        return None
    if detection.exe is None:
        return None  # kernel threads
    return detection.to_dict()


@app.command("detect")
def detect(
    pid: list[int] = typer.Option(None, "--pid", "-p", help="Process to inspect (repeatable)."),
    all_processes: bool = typer.Option(
        False, "--all", help="Inspect every process (kernel threads skipped)."
    ),
    pod: str | None = typer.Option(
        None, "--pod", help="A pod UID: the application process of each of its containers on this node."
    ),
    output: Format = typer.Option(Format.table, "--output", "-o", help="table, wide, json or yaml."),
    proc: Path = typer.Option(Path("/proc"), "--proc", help="The /proc root to read.", hidden=True),
) -> None:
    """Print language, runtime version, libc, other APM agents and pod/container of processes."""
    from detector import DetectorError, ElfCache, inspect
    from detector.procfs import list_pids

    if sum((bool(pid), all_processes, pod is not None)) != 1:
        fail("give one of --pid N (repeatable), --pod UID or --all")
    cache = ElfCache()
    if all_processes:
        rows = [row for p in list_pids(proc) if p != os.getpid() and (row := _detection_row(p, proc, cache))]
    elif pod is not None:
        from detector.node import detect_pod

        found = detect_pod(pod.lower(), proc, cache)
        if not found:
            fail(f"no process of pod {pod} on this machine (is the agent in the host's cgroup namespace?)")
        rows = [detection.to_dict() for detection in found.values()]
    else:
        rows = []
        for one in pid:
            try:
                rows.append(inspect(one, proc, cache).to_dict())
            except DetectorError as exc:
                fail(str(exc))
    if output in (Format.table, Format.wide):
        typer.echo(detection_table(rows, wide=output == Format.wide))
    else:
        emit(rows[0] if len(rows) == 1 and pid else rows, output)


def detection_table(rows: list[dict[str, Any]], wide: bool = False) -> str:
    """kubectl-style columns; ``wide`` adds full container IDs and the command line."""
    headers = ["PID", "LANGUAGE", "VERSION", "LIBC", "AGENTS", "POD UID", "CONTAINER", "EXE"]
    if wide:
        headers.append("COMMAND")
    table = [headers]
    for row in rows:
        container = row.get("containerId") or ""
        line = [
            str(row["pid"]),
            row["language"],
            row.get("runtimeVersion") or "-",
            row.get("libc") or "-",
            ",".join(row.get("otherAgents") or []) or "-",
            row.get("podUid") or "-",
            (container if wide else container[:12]) or "-",
            row.get("exe") or "-",
        ]
        if wide:
            line.append(" ".join(row.get("cmdline") or []))
        table.append(line)
    widths = [max(len(r[i]) for r in table) for i in range(len(headers) - 1)]
    return "\n".join(
        "   ".join(cell.ljust(width) for cell, width in zip(r[:-1], widths, strict=True)) + "   " + r[-1]
        for r in table
    )


@dataclass
class AgentTracing:
    """The node agent's Go tracing: the registry of tracers, and its ``/metrics`` page."""

    tracing: GoTracing
    page: Callable[[], str]


def metrics_page(exporter: object) -> str:
    """The tracer's counters (and this process's memory and CPU) in the Prometheus text format."""
    from ebpf import metrics, tracer

    current = tracer.current()
    snapshot = current.snapshot() if current is not None else metrics.idle_snapshot()
    return metrics.render(snapshot, metrics.exporter_figures(exporter), metrics.process_figures())


def _go_tracing(
    endpoint: str, *, ring_pages: int | None = None, preload: bool = False
) -> AgentTracing | None:
    """The eBPF tracer as the node agent uses it; ``None`` (detection only) when it cannot be loaded.

    Imported by name: ``ebpf`` is optional at run time (BCC comes from the distribution). With
    ``preload`` the program is loaded (from the compile cache, or compiled by the helper process) in the
    background now, so the first Go pod does not wait for it; otherwise on the first attach. Either way
    its errors are logged, and each container that cannot be traced says why.
    """
    from detector.tracing import GoTracing

    log = logging.getLogger("hodegos.agent")
    try:
        ebpf: Any = importlib.import_module("ebpf")
    except ImportError as exc:
        log.warning("Go tracing disabled: %s", exc)
        return None
    exporter = ebpf.OtlpHttpExporter(endpoint)
    options = {"ring_pages": ring_pages} if ring_pages else {}
    ready = threading.Lock()

    def load() -> Any:
        with ready:
            current = importlib.import_module("ebpf.tracer").current()
            if current is not None:
                return current
            started = time.monotonic()
            runtime = ebpf.configure(**options)
            stats = runtime.stats
            log.info(
                "eBPF program ready in %.2fs (%s; %d compile(s)); ring buffer %d KiB",
                time.monotonic() - started, stats.program_source, stats.compiles,
                runtime.program.ring_bytes // 1024,
            )  # fmt: skip
            return runtime

    def preload_runtime() -> None:
        try:
            load()
        except Exception as exc:  # logged; each attach retries and reports it per container
            log.warning("eBPF program not loaded: %s", exc)

    if preload:
        threading.Thread(target=preload_runtime, name="hodegos-ebpf-load", daemon=True).start()

    def attach(pid: int, resource: Mapping[str, str | int]) -> Handle:
        handle: Handle = load().attach(pid, resource, exporter)
        return handle

    return AgentTracing(GoTracing(attach, on_close=exporter.close), lambda: metrics_page(exporter))


def _report_losses(reporter: LossReporter, stop: threading.Event, every: float) -> None:
    log = logging.getLogger("hodegos.agent")
    while not stop.wait(every):
        try:
            for written in reporter.tick(datetime.now(UTC)):
                log.info("span losses reported on %s", written)
        except Exception:  # never stops the agent; the next tick tries again
            log.exception("reporting span losses failed")


@app.command("run")
def run(
    node: str = typer.Option(
        None, "--node", envvar=constants.ENV_NODE_NAME, help="This node's name (default: $HODEGOS_NODE_NAME)."
    ),
    kubeconfig: Path | None = typer.Option(None, "--kubeconfig", help="Kubeconfig (default: in-cluster)."),
    proc: Path = typer.Option(Path("/proc"), "--proc", help="The host's /proc (mount it when in a pod)."),
    resync: int = typer.Option(
        60, "--resync", min=1, help="Seconds between full relists of the node's pods."
    ),
    once: bool = typer.Option(False, "--once", help="Reconcile every pod once, print the outcomes, exit."),
    trace_go: bool = typer.Option(
        True, "--trace-go/--no-trace-go", help="Trace Go containers of labelled pods with eBPF."
    ),
    otlp_endpoint: str = typer.Option(
        None, "--otlp-endpoint", help="Where Go spans go (default: the node collector, http://$NODE_IP:4318)."
    ),
    config_namespace: str = typer.Option(
        constants.NAMESPACE, "--config-namespace", help=f"Where the {constants.CONFIG_MAP} ConfigMap is."
    ),
    metrics_address: str = typer.Option(
        f"127.0.0.1:{constants.NODE_AGENT_METRICS_PORT}",
        "--metrics-address",
        help="Serve Prometheus /metrics (tracer spans, losses, compiles, attach times) on host:port; "
        "'off' disables. Loopback by default: use 0.0.0.0:PORT for a scrape from elsewhere.",
    ),
    ring_buffer_pages: int = typer.Option(
        0,
        "--ring-buffer-pages",
        min=0,
        help="eBPF ring buffer pages, a power of two (0: 512, 2 MiB).",
    ),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Log debug details."),
) -> None:
    """Follow this node's pods; record each opted-in container's runtime in its InstrumentedApplication."""
    if not once:
        _lean_reexec("run")  # the long-lived agent keeps only this command group's modules resident
    from detector.node import NodeAgent
    from detector.tracing import LossReporter
    from kube.resources import RECORDS

    if not node:
        fail(f"--node is required (or set {constants.ENV_NODE_NAME})")
    _check_pages(ring_buffer_pages)
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO, format="%(asctime)s %(levelname)s %(message)s"
    )
    api = connect(kubeconfig, in_cluster=None if kubeconfig else True)
    endpoint = (
        otlp_endpoint
        or f"http://{os.environ.get(constants.ENV_NODE_IP, '127.0.0.1')}:{constants.OTLP_HTTP_PORT}"
    )
    traced = (
        _go_tracing(endpoint, ring_pages=ring_buffer_pages or None, preload=not once) if trace_go else None
    )
    tracing = traced.tracing if traced else None
    agent = NodeAgent(api, node, proc, tracing=tracing, config_namespace=config_namespace)
    if once:
        try:
            for outcome in agent.run_once():
                typer.echo(outcome)
        except TimeoutError as exc:
            fail(str(exc))
        finally:
            agent.close()
        return
    server = None
    if metrics_address != "off":
        from ebpf.metrics import MetricsServer, idle_page

        try:
            server = MetricsServer(metrics_address, traced.page if traced else idle_page)
        except (OSError, ValueError) as exc:
            fail(f"cannot serve metrics on {metrics_address}: {exc}")
        logging.getLogger("hodegos.agent").info("metrics on http://%s/metrics", server.address)
    stop = threading.Event()
    if tracing is not None:

        def patch(namespace: str, name: str, body: dict[str, Any]) -> None:
            agent.records.remember(api.merge_patch(RECORDS, namespace, name, body, sub="status"))

        def current(namespace: str, name: str) -> Mapping[str, Any] | None:
            record = agent.records.get(namespace, name)
            return (record or {}).get("status")

        reporter = LossReporter(tracing, node, patch, current)
        threading.Thread(
            target=_report_losses, args=(reporter, stop, LOSS_REPORT_SECONDS), name="span-loss", daemon=True
        ).start()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        agent.run(resync, stop)
    except KeyboardInterrupt:
        stop.set()
    except TimeoutError as exc:
        fail(str(exc))
    finally:
        stop.set()
        if tracing is not None:
            tracing.close()  # detach probes, send the spans already queued
        if server is not None:
            server.close()


def _check_pages(pages: int) -> None:
    if pages & (pages - 1):
        fail(f"--ring-buffer-pages must be a power of two (64, 256, 1024...), not {pages}")


@app.command("trace")
def trace(
    pid: list[int] = typer.Option(..., "--pid", "-p", help="A Go process to trace (repeatable)."),
    otlp_endpoint: str = typer.Option(
        None, "--otlp-endpoint", help="Export OTLP/HTTP to this collector (e.g. http://127.0.0.1:4318)."
    ),
    service_name: str = typer.Option(None, "--service-name", help="service.name (default: the executable)."),
    resource: list[str] = typer.Option(None, "--resource", "-r", help="Extra resource attribute key=value."),
    output: str = typer.Option("text", "--output", "-o", help="Console format: text or json (one per line)."),
    count: int = typer.Option(0, "--count", min=0, help="Stop after this many spans (0: no limit)."),
    timeout: float = typer.Option(0, "--timeout", min=0, help="Stop after this many seconds (0: no limit)."),
    stats_every: float = typer.Option(
        10, "--stats-interval", min=0, help="Seconds between counter lines on stderr (0: only at exit)."
    ),
    ring_buffer_pages: int = typer.Option(
        0,
        "--ring-buffer-pages",
        min=0,
        help="eBPF ring buffer pages, a power of two (0: 512, 2 MiB).",
    ),
    metrics_address: str = typer.Option(
        None, "--metrics-address", help="Also serve Prometheus /metrics on host:port (e.g. 127.0.0.1:9470)."
    ),
) -> None:
    """Trace Go processes' net/http server and client in the foreground (eBPF uprobes).

    Spans go to stdout (or --otlp-endpoint); counters go to stderr every --stats-interval seconds and at
    exit, with every span lost and why (ring buffer full, export failures, undecodable records). Once
    the options are checked the command replaces itself (same pid) with the lean tracer process
    (``python -m ebpf.foreground``), which holds the tracer and none of the rest of the command line.
    """
    if output not in ("text", "json"):
        fail("--output must be text or json")
    _check_pages(ring_buffer_pages)
    attributes: dict[str, str | int] = {}
    for item in resource or []:
        key, sep, value = item.partition("=")
        if not sep or not key:
            fail(f"--resource expects key=value, got {item!r}")
        attributes[key] = value
    if service_name:
        attributes[constants.ATTR_SERVICE_NAME] = service_name
    if otlp_endpoint and not otlp_endpoint.startswith(("http://", "https://")):
        fail(f"--otlp-endpoint must be an http:// or https:// URL, not {otlp_endpoint!r}")
    if metrics_address and not metrics_address.rpartition(":")[2].isdigit():
        fail(f"--metrics-address must be host:port, not {metrics_address!r}")
    from ebpf.foreground import Options

    options = Options(
        pids=list(pid),
        otlp_endpoint=otlp_endpoint,
        attributes=attributes,
        output=output,
        count=count,
        timeout=timeout,
        stats_every=stats_every,
        ring_pages=ring_buffer_pages,
        metrics_address=metrics_address,
    )
    if _from_console("trace"):
        sys.stdout.flush()
        sys.stderr.flush()
        os.execv(sys.executable, [sys.executable, "-m", "ebpf.foreground", options.to_json()])
    from ebpf import foreground

    raise typer.Exit(foreground.run(options))  # called in-process (a test's CliRunner): no exec


LEAN_ENV = "HODEGOS_AGENT_LEAN"


def _from_console(command: str) -> bool:
    """Whether this process is ``hodegos agent <command>`` itself (so replacing its image is safe)."""
    argv = sys.argv
    return Path(argv[0]).name == "hodegos" and argv[1:3] == ["agent", command]


def _lean_reexec(command: str) -> None:
    """Replace ``hodegos agent <command> ...`` (same pid) by ``python -m cli.agent <command> ...``.

    ``hodegos`` imports every command group before it runs one (the local cluster tooling, the
    webhook, the UI...: about 14 MiB more resident than this group alone); a long-lived node agent
    should not carry them. Does nothing when called in-process or when already re-executed.
    """
    if os.environ.get(LEAN_ENV) == "1" or not _from_console(command):
        return
    os.environ[LEAN_ENV] = "1"
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(sys.executable, [sys.executable, "-m", "cli.agent", *sys.argv[2:]])


if __name__ == "__main__":
    app()  # ``python -m cli.agent run ...``: what ``hodegos agent run`` re-executes as
