"""`hodegos cluster ...`: a real Kubernetes control plane on this machine (etcd, kube-apiserver,
controller-manager, scheduler and kwok's fake nodes), built from pinned sources. See docs/cluster.md."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager

import typer
from rich.table import Table

from api import constants
from cli.output import Format, emit, fail, stderr
from localcluster import lifecycle, pki
from localcluster import state as records
from localcluster.errors import ClusterError
from localcluster.layout import DEFAULT_NAME, DEFAULT_NODES, Layout
from toolchain import cluster as tools
from toolchain.cache import Progress, ToolBuildError

app = typer.Typer(
    help="A local Kubernetes control plane with fake nodes (no Docker needed).", no_args_is_help=True
)

NameOption = typer.Option(DEFAULT_NAME, "--name", help="Cluster name; each name has its own state and ports.")


@contextmanager
def _progress(quiet: bool = False) -> Iterator[Progress]:
    if quiet:
        yield lambda _msg: None
        return
    with stderr.status("working...") as spinner:

        def say(message: str) -> None:
            stderr.print(f"[dim]{time.strftime('%H:%M:%S')}[/dim] {message}", highlight=False)
            spinner.update(message)

        yield say


@contextmanager
def _errors() -> Iterator[None]:
    from kube import KubeError
    from webhook.errors import WebhookError

    try:
        yield
    except (ClusterError, ToolBuildError, WebhookError) as exc:
        fail(str(exc))
    except KubeError as exc:
        fail(f"the API server: {exc}")


@app.command()
def build(
    helm: bool = typer.Option(True, "--helm/--no-helm", help="Also build helm."),
    quiet: bool = typer.Option(False, "--quiet", "-q"),
) -> None:
    """Build the pinned Kubernetes, etcd, kwok (and helm) binaries into the cache, if not built yet."""
    selected = tools.ALL if helm else tools.CONTROL_PLANE
    with _errors(), _progress(quiet) as say:
        built = tools.build(selected, say)
    for name, path in built.items():
        sys.stdout.write(f"{name}\t{path}\n")


@app.command()
def up(
    name: str = NameOption,
    nodes: int | None = typer.Option(
        None,
        "--nodes",
        "-n",
        help=f"Number of kwok fake nodes (default {DEFAULT_NODES}); changes a running cluster.",
    ),
    port: int | None = typer.Option(
        None, "--port", help="API server port (default 16443); the other components use the next five ports."
    ),
    build_missing: bool = typer.Option(True, "--build/--no-build", help="Build missing binaries first."),
    quiet: bool = typer.Option(False, "--quiet", "-q"),
) -> None:
    """Start the cluster (harmless if it is already up) and print where its kubeconfig is."""
    with _errors(), _progress(quiet) as say:
        result = lifecycle.up(name, nodes=nodes, port=port, build=build_missing, progress=say)
    kubeconfig = result.status["kubeconfig"]
    if result.already_up:
        stderr.print(
            f"cluster [bold]{name}[/bold] is already up at {result.status['server']} "
            f"with {result.status['nodes']} kwok node(s)"
        )
    else:
        if result.restarted:
            stderr.print(
                f"{', '.join(result.restarted)} was not running: restarted the control plane on its data",
                highlight=False,
            )
        stderr.print(
            f"cluster [bold]{name}[/bold] is up at {result.status['server']} "
            f"with {result.status['nodes']} kwok node(s)"
        )
    stderr.print(
        f"  kubectl --kubeconfig {kubeconfig} get nodes\n  hodegos cluster down --name {name}",
        highlight=False,
    )
    sys.stdout.write(f"{kubeconfig}\n")


@app.command()
def down(
    name: str = NameOption,
    keep: bool = typer.Option(False, "--keep", help="Keep the state directory (data, certificates, logs)."),
    quiet: bool = typer.Option(False, "--quiet", "-q"),
) -> None:
    """Stop exactly the processes `up` started (by PID) and remove the cluster's state."""
    with _errors():
        lay = Layout.for_name(name)
    if not lay.root.exists():
        stderr.print(f"cluster [bold]{name}[/bold] is not up (nothing in {lay.root})")
        return
    with _errors(), _progress(quiet) as say:
        outcome = lifecycle.down(name, keep=keep, progress=say)
    for component, what in outcome.items():
        stderr.print(f"{component}: {what}")
    stderr.print(f"cluster [bold]{name}[/bold] is down" + (" (state kept)" if keep else ""))


@app.command()
def status(
    name: str = NameOption,
    output: Format = typer.Option(Format.table, "--output", "-o", help="table, json or yaml."),
) -> None:
    """Show each component's PID, port, and health. Exits 1 unless every component is healthy."""
    with _errors():
        report = lifecycle.status(name)
    if output in (Format.json, Format.yaml):
        emit(report, output)
    else:
        table = Table(title=f"cluster {name}: {report['phase']} at {report['server']}", title_justify="left")
        for column in ("COMPONENT", "PID", "PORT", "RUNNING", "HEALTHY"):
            table.add_column(column)
        for row in report["components"]:
            table.add_row(
                row["name"],
                str(row["pid"] or "-"),
                str(row["port"] or "-"),
                "yes" if row["running"] else "no",
                "yes" if row["healthy"] else "no",
            )
        from rich.console import Console

        Console().print(table)
        Console().print(f"kubeconfig: {report['kubeconfig']}", highlight=False)
    if report["phase"] != "Running":
        raise typer.Exit(1)


@app.command("list")
def list_clusters(
    output: Format = typer.Option(Format.table, "--output", "-o", help="table, json or yaml."),
) -> None:
    """List the local clusters (every name with a state directory) and their phase."""
    from localcluster.errors import ClusterNotFoundError

    rows = []
    for name in lifecycle.names():
        try:
            report = lifecycle.status(name)
        except ClusterNotFoundError:
            continue
        rows.append({key: report[key] for key in ("name", "phase", "server", "nodes", "kubeconfig")})
    if output in (Format.json, Format.yaml):
        emit(rows, output)
        return
    table = Table(box=None)
    for column in ("NAME", "PHASE", "SERVER", "NODES", "KUBECONFIG"):
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(row["name"], row["phase"], row["server"], str(row["nodes"]), row["kubeconfig"])
    from rich.console import Console

    Console().print(table)


@app.command()
def kubeconfig(
    name: str = NameOption,
    content: bool = typer.Option(False, "--content", help="Print the kubeconfig itself, not its path."),
    user: str | None = typer.Option(
        None,
        "--user",
        help="Issue a kubeconfig for this user instead (a client certificate from the cluster CA).",
    ),
    group: list[str] = typer.Option([], "--group", help="Group of --user (repeatable)."),
) -> None:
    """Print the path of the cluster's admin kubeconfig (or its content), or issue one for another user."""
    with _errors():
        lay = Layout.for_name(name)
    if not lay.admin_kubeconfig.is_file():
        fail(f"no kubeconfig for cluster {name!r}: start it with `hodegos cluster up --name {name}`")
    path = lay.admin_kubeconfig
    if user is not None:
        current = records.load(lay)
        if current is None:
            fail(f"cluster {name!r} has no record: start it with `hodegos cluster up --name {name}`")
            return
        path = lifecycle.issue_kubeconfig(lay, current.ports, pki.Identity(user, tuple(group)))
    sys.stdout.write(path.read_text() if content else f"{path}\n")


@app.command()
def webhook(
    name: str = NameOption,
    port: int = typer.Option(
        constants.WEBHOOK_PORT, "--port", help="HTTPS port of the webhook on 127.0.0.1."
    ),
) -> None:
    """Run `hodegos webhook serve` for this cluster and register it (CRDs and read-only RBAC applied first).

    The webhook authenticates as `hodegos-webhook`; `hodegos cluster down` stops it with the cluster.
    Running it again restarts it.
    """
    from localcluster import webhook_host

    with _errors():
        hosted = webhook_host.up(name, port)
    stderr.print(f"webhook serving {hosted.url}{constants.WEBHOOK_PATH} (log: {hosted.log})", highlight=False)
    stderr.print(
        f"registered mutatingwebhookconfiguration/{constants.WEBHOOK_CONFIGURATION}; "
        f"it stops with `hodegos cluster down --name {name}`",
        highlight=False,
    )
