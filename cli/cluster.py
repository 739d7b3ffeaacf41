"""`hodegos cluster ...`: a real Kubernetes cluster on this machine (etcd, kube-apiserver, controller-manager,
scheduler; real nodes running containerd + kubelet + kube-proxy in namespaces of their own, and/or kwok's
fake nodes), built from pinned sources. See docs/cluster.md."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import typer
from rich.table import Table

from api import constants
from cli.output import Format, emit, fail, stderr
from localcluster import lifecycle, pki
from localcluster import state as records
from localcluster.errors import ClusterError
from localcluster.layout import DEFAULT_NAME, DEFAULT_NODES, MAX_NODES, Layout
from toolchain import cluster as tools
from toolchain import nodes as node_tools
from toolchain.cache import Progress, ToolBuildError

app = typer.Typer(
    help="A local Kubernetes cluster with real (containerd) or fake (kwok) nodes; no Docker needed.",
    no_args_is_help=True,
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
    from toolchain.images import ImageError
    from webhook.errors import WebhookError

    try:
        yield
    except (ClusterError, ToolBuildError, WebhookError, ImageError) as exc:
        fail(str(exc))
    except KubeError as exc:
        fail(f"the API server: {exc}")


@app.command()
def build(
    helm: bool = typer.Option(True, "--helm/--no-helm", help="Also build helm."),
    node_parts: bool = typer.Option(
        True, "--nodes/--no-nodes", help="Also build the real nodes' parts and images."
    ),
    quiet: bool = typer.Option(False, "--quiet", "-q"),
) -> None:
    """Build the pinned control plane, node parts (containerd, runc, CNI, kubelet, kube-proxy, CoreDNS,
    metrics-server, pause) and helm into the cache, if not built yet. Prints each binary and image."""
    selected = tools.ALL if helm else tools.CONTROL_PLANE
    with _errors(), _progress(quiet) as say:
        built = tools.build(selected, say)
        if node_parts:
            built.update(node_tools.build(say))
    for name, path in built.items():
        sys.stdout.write(f"{name}\t{path}\n")


@app.command()
def up(
    name: str = NameOption,
    nodes: int | None = typer.Option(
        None,
        "--nodes",
        "-n",
        help=f"Real nodes: containerd + kubelet + kube-proxy (default {DEFAULT_NODES}, at most {MAX_NODES}); "
        "changes a running cluster.",
    ),
    fake_nodes: int | None = typer.Option(
        None, "--fake-nodes", help="kwok fake nodes (default 0): pods go Running but nothing runs."
    ),
    port: int | None = typer.Option(
        None, "--port", help="API server port (default 16443); the other components use the next five ports."
    ),
    build_missing: bool = typer.Option(True, "--build/--no-build", help="Build missing binaries first."),
    quiet: bool = typer.Option(False, "--quiet", "-q"),
) -> None:
    """Start the cluster (harmless if it is already up) and print where its kubeconfig is."""
    with _errors(), _progress(quiet) as say:
        result = lifecycle.up(
            name, nodes=nodes, fake_nodes=fake_nodes, port=port, build=build_missing, progress=say
        )
    kubeconfig = result.status["kubeconfig"]
    counts = f"{result.status['realNodes']} real and {result.status['fakeNodes']} kwok node(s)"
    if result.already_up:
        stderr.print(f"cluster [bold]{name}[/bold] is already up at {result.status['server']} with {counts}")
    else:
        if result.restarted:
            stderr.print(
                f"{', '.join(result.restarted)} was not running: restarted the control plane on its data",
                highlight=False,
            )
        stderr.print(f"cluster [bold]{name}[/bold] is up at {result.status['server']} with {counts}")
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
    """Show each component's PID, port and health, and each node's type, runtime, readiness and pods.

    Exits 1 unless every component is healthy."""
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
        if report["nodes"]:
            nodes_table = Table(title="nodes", title_justify="left")
            for column in ("NODE", "TYPE", "RUNTIME", "ADDRESS", "READY", "PODS"):
                nodes_table.add_column(column)
            for node in report["nodes"]:
                nodes_table.add_row(
                    node["name"],
                    node["type"],
                    node["runtime"],
                    node["address"] or "-",
                    "yes" if node["ready"] else ("no" if node["registered"] else "not registered"),
                    str(node["pods"]),
                )
            Console().print(nodes_table)
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
        rows.append(
            {key: report[key] for key in ("name", "phase", "server", "realNodes", "fakeNodes", "kubeconfig")}
        )
    if output in (Format.json, Format.yaml):
        emit(rows, output)
        return
    table = Table(box=None)
    for column in ("NAME", "PHASE", "SERVER", "NODES", "FAKE", "KUBECONFIG"):
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(
            row["name"],
            row["phase"],
            row["server"],
            str(row["realNodes"]),
            str(row["fakeNodes"]),
            row["kubeconfig"],
        )
    from rich.console import Console

    Console().print(table)


@app.command()
def load(
    archives: list[Path] = typer.Argument(..., help="OCI image-layout or docker-archive tar files."),
    name: str = NameOption,
    quiet: bool = typer.Option(False, "--quiet", "-q"),
) -> None:
    """Import image archives into every real node (like `kind load image-archive`).

    Pods then use the images with `imagePullPolicy: IfNotPresent` or `Never`. See docs/images.md for how to
    make an archive.
    """
    with _errors(), _progress(quiet) as say:
        refs = lifecycle.load(name, archives, progress=say)
    for archive, names in refs.items():
        for ref in names:
            sys.stdout.write(f"{ref}\t{archive}\n")


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
