"""`hodegos agent ...` commands: the node agent.

- ``detect``: print what runs in one process (``--pid``) or every process (``--all``), as JSON or YAML.
- ``run``: the node agent loop: watch this node's pods and record detections in InstrumentedApplications.
- ``trace``: lives with the eBPF tracer (see ``ebpf/``).
"""

from __future__ import annotations

import importlib
import logging
import os
import signal
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from api import constants
from cli.output import Format, connect, emit, fail

if TYPE_CHECKING:
    from detector.tracing import GoTracing, Handle

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


def _go_tracing(endpoint: str) -> GoTracing | None:
    """The eBPF tracer as the node agent uses it; ``None`` (detection only) when it cannot be loaded.

    Imported by name: ``ebpf`` is optional at run time (BCC comes from the distribution), and the BPF
    program is compiled on the first attach, whose errors are logged per container.
    """
    from detector.tracing import GoTracing

    try:
        ebpf: Any = importlib.import_module("ebpf")
    except ImportError as exc:
        logging.getLogger("hodegos.agent").warning("Go tracing disabled: %s", exc)
        return None
    exporter = ebpf.OtlpHttpExporter(endpoint)

    def attach(pid: int, resource: Mapping[str, str | int]) -> Handle:
        handle: Handle = ebpf.attach(pid, resource, exporter)
        return handle

    return GoTracing(attach, on_close=exporter.close)


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
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Log debug details."),
) -> None:
    """Follow this node's pods; record each opted-in container's runtime in its InstrumentedApplication."""
    from detector.node import NodeAgent

    if not node:
        fail(f"--node is required (or set {constants.ENV_NODE_NAME})")
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO, format="%(asctime)s %(levelname)s %(message)s"
    )
    api = connect(kubeconfig, in_cluster=None if kubeconfig else True)
    endpoint = (
        otlp_endpoint
        or f"http://{os.environ.get(constants.ENV_NODE_IP, '127.0.0.1')}:{constants.OTLP_HTTP_PORT}"
    )
    tracing = _go_tracing(endpoint) if trace_go else None
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
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        agent.run(resync, stop)
    except KeyboardInterrupt:
        stop.set()
    except TimeoutError as exc:
        fail(str(exc))
    finally:
        if tracing is not None:
            tracing.close()  # detach probes, send the spans already queued


@app.command("trace")
def trace(
    pid: int = typer.Option(..., "--pid", "-p", help="The Go process to trace."),
    otlp_endpoint: str = typer.Option(
        None, "--otlp-endpoint", help="Export OTLP/HTTP to this collector (e.g. http://127.0.0.1:4318)."
    ),
    service_name: str = typer.Option(None, "--service-name", help="service.name (default: the executable)."),
    resource: list[str] = typer.Option(None, "--resource", "-r", help="Extra resource attribute key=value."),
    output: str = typer.Option("text", "--output", "-o", help="Console format: text or json (one per line)."),
    count: int = typer.Option(0, "--count", min=0, help="Stop after this many spans (0: no limit)."),
    timeout: float = typer.Option(0, "--timeout", min=0, help="Stop after this many seconds (0: no limit)."),
) -> None:
    """Trace one Go process's net/http server and client in the foreground (eBPF uprobes)."""
    import time

    import ebpf

    if output not in ("text", "json"):
        fail("--output must be text or json")
    attributes: dict[str, str | int] = {}
    for item in resource or []:
        key, sep, value = item.partition("=")
        if not sep or not key:
            fail(f"--resource expects key=value, got {item!r}")
        attributes[key] = value
    if service_name:
        attributes[constants.ATTR_SERVICE_NAME] = service_name
    sink: ebpf.Exporter = (
        ebpf.OtlpHttpExporter(otlp_endpoint)
        if otlp_endpoint
        else ebpf.ConsoleExporter(as_json=output == "json")
    )
    done = threading.Event()
    seen = 0

    class Counting:
        def export(self, spans: list[ebpf.Span], res: Mapping[str, str | int]) -> None:
            nonlocal seen
            if count:
                spans = spans[: max(0, count - seen)]
            sink.export(spans, res)
            seen += len(spans)
            if count and seen >= count:
                done.set()

        def close(self) -> None:
            sink.close()

    try:
        tracer = ebpf.attach(pid, attributes, Counting(), on_exit=lambda _t: done.set())
    except ebpf.TracerError as exc:
        fail(str(exc))
    plan = tracer.plan
    typer.echo(
        f"attached to pid {pid}: {plan.go_version}, {'stripped' if plan.stripped else 'symbols'}"
        f"{', PIE' if plan.pie else ''}, offsets from {plan.offsets_source}, {plan.probe_sites} probe sites; "
        f"propagation {tracer.propagation.mode}: {tracer.propagation.reason}",
        err=True,
    )
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    deadline = time.monotonic() + timeout if timeout else None
    try:
        while not done.wait(0.2):
            if deadline is not None and time.monotonic() >= deadline:
                break
    except KeyboardInterrupt:
        pass
    state = tracer.state
    tracer.close()
    sink.close()
    if state == "exited":
        typer.echo(f"process {pid} exited; {seen} spans", err=True)
    if isinstance(sink, ebpf.OtlpHttpExporter) and (sink.failed or sink.dropped):
        fail(f"{sink.failed} spans failed and {sink.dropped} were dropped: {sink.last_error}")
