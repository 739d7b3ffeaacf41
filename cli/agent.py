"""`hodegos agent ...` commands: the node agent.

- ``detect``: print what runs in one process (``--pid``) or every process (``--all``), as JSON or YAML.
- ``run``: the node agent loop: watch this node's pods and record detections in InstrumentedApplications.
- ``trace``: lives with the eBPF tracer (see ``ebpf/``).
"""

from __future__ import annotations

import logging
import os
import signal
import threading
from pathlib import Path
from typing import Any

import typer

from api import constants
from cli.output import Format, emit, fail

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
    output: Format = typer.Option(Format.yaml, "--output", "-o", help="json or yaml."),
    proc: Path = typer.Option(Path("/proc"), "--proc", help="The /proc root to read.", hidden=True),
) -> None:
    """Print language, runtime version, libc, other APM agents and pod/container of processes."""
    from detector import DetectorError, ElfCache, inspect
    from detector.procfs import list_pids

    if output not in (Format.json, Format.yaml):
        fail("--output must be json or yaml")
    if bool(pid) == all_processes:
        fail("give either --pid N (repeatable) or --all")
    cache = ElfCache()
    if all_processes:
        rows = [row for p in list_pids(proc) if p != os.getpid() and (row := _detection_row(p, proc, cache))]
        emit(rows, output)
        return
    results = []
    for one in pid:
        try:
            results.append(inspect(one, proc, cache).to_dict())
        except DetectorError as exc:
            fail(str(exc))
    emit(results[0] if len(results) == 1 else results, output)


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
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Log debug details."),
) -> None:
    """Watch this node's pods; record each opted-in container's runtime in its InstrumentedApplication."""
    from kubernetes import client, config

    from detector.node import NodeAgent
    from detector.writer import RecordStore

    if not node:
        fail(f"--node is required (or set {constants.ENV_NODE_NAME})")
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO, format="%(asctime)s %(levelname)s %(message)s"
    )
    load: Any = config.load_kube_config if kubeconfig is not None else config.load_incluster_config
    try:
        load(config_file=str(kubeconfig)) if kubeconfig is not None else load()
    except (config.ConfigException, OSError) as exc:
        fail(f"cannot load Kubernetes configuration: {exc}")
    api = client.ApiClient()
    agent = NodeAgent(client.CoreV1Api(api), RecordStore(client.CustomObjectsApi(api)), node, proc)
    if once:
        outcomes, _ = agent.run_once()
        for outcome in outcomes:
            typer.echo(outcome)
        return
    stop = threading.Event()

    def terminate(signum: int, frame: object) -> None:
        stop.set()
        raise SystemExit(0)  # also interrupts a blocking watch read

    signal.signal(signal.SIGTERM, terminate)
    agent.run(resync, stop)
