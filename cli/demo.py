"""`hodegos demo up | summary`: the seed's getting-started on the local cluster (what `make demo` runs)."""

from __future__ import annotations

import time
from pathlib import Path

import typer

from cli.output import Format, emit, fail, stderr

app = typer.Typer(
    help="The demo shop, instrumented with no code change, on the local cluster.", no_args_is_help=True
)
NameOpt = typer.Option("hodegos", "--name", help="The local cluster's name.")


def _say(message: str) -> None:
    stderr.print(f"[dim]{time.strftime('%H:%M:%S')}[/dim] {message}", highlight=False)


@app.command("up")
def up(
    name: str = NameOpt,
    nodes: int = typer.Option(1, "--nodes", "-n", help="Real nodes."),
    port: int | None = typer.Option(None, "--port", help="API server port (default: the cluster's)."),
    screenshots: Path | None = typer.Option(None, "--screenshots", help="Save the onboarding's screenshots."),
    output: Format = typer.Option(Format.table, "--output", "-o", help="table, json or yaml (the summary)."),
) -> None:
    """Cluster, images, `hodegos install`, the shop and its backend, onboarding in the UI, first trace."""
    from journey import run
    from journey.backend import DemoError
    from kube import KubeError
    from localcluster.errors import ClusterError

    try:
        timings, seen = run.run(
            run.Options(cluster=name, nodes=nodes, port=port, screenshots=screenshots), _say
        )
    except (DemoError, KubeError, ClusterError, OSError) as exc:
        fail(str(exc))
    if output in (Format.json, Format.yaml):
        emit(run.as_dict(seen, timings), output)


@app.command("summary")
def summary(
    name: str = NameOpt,
    output: Format = typer.Option(Format.table, "--output", "-o", help="table, json or yaml."),
) -> None:
    """What has arrived at the demo's backend: services, traces, a sample trace, metrics, logs, runtimes."""
    from journey import run
    from journey.backend import DemoError
    from kube import KubeError
    from localcluster import lifecycle
    from localcluster.errors import ClusterError
    from localcluster.layout import Layout

    try:
        seen = run.look(lifecycle.admin_api(Layout.for_name(name)))
    except (DemoError, KubeError, ClusterError, OSError) as exc:
        fail(str(exc))
    if output in (Format.json, Format.yaml):
        emit(run.as_dict(seen), output)
    else:
        typer.echo("\n".join(run.report(seen)))
