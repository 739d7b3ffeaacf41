"""Entry point: ``hodegos <group> <command>``. Each command group lives in its own module."""

from __future__ import annotations

import typer

from cli import (
    agent,
    cluster,
    controllers,
    demo,
    describe,
    destinations,
    explain,
    images,
    install,
    pipelines,
    ui,
    webhook,
)

app = typer.Typer(
    name="hodegos",
    help="Zero-code OpenTelemetry for Kubernetes workloads.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)
app.add_typer(webhook.app, name="webhook")
app.add_typer(cluster.app, name="cluster")
app.add_typer(destinations.app, name="destinations")
app.add_typer(agent.app, name="agent")
app.add_typer(controllers.app, name="controllers")
app.add_typer(describe.app, name="describe")
app.add_typer(pipelines.app, name="pipelines")
app.add_typer(demo.app, name="demo")
app.add_typer(images.app, name="images")
app.command("explain")(explain.explain)
app.command("install")(install.install)
app.command("uninstall")(install.uninstall)
app.command("diagnose")(install.diagnose)
app.command("version")(install.version)
app.command("collector-config")(destinations.collector_config)
app.command("ui")(ui.ui)


if __name__ == "__main__":
    app()
