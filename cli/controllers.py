"""`hodegos controllers run`: the instrumentor, scheduler and autoscaler in one process."""

from __future__ import annotations

import logging
import signal
from pathlib import Path

import typer

from api import constants
from cli.output import connect, fail

app = typer.Typer(help="Run the Hodegos controllers.", no_args_is_help=True)


@app.command("run")
def run(
    kubeconfig: Path | None = typer.Option(
        None, "--kubeconfig", help="Kubeconfig file (default: in-cluster)."
    ),
    namespace: str = typer.Option(constants.NAMESPACE, "--namespace", "-n", help="Where Hodegos runs."),
    image: str = typer.Option("hodegos/otelcol:latest", "--collector-image", help="Collector image."),
    workers: int = typer.Option(2, "--workers", min=1, max=32, help="Reconcile worker threads."),
    resync: float = typer.Option(
        300.0, "--resync-seconds", min=5.0, help="Queue everything again every N s."
    ),
    leader_elect: bool = typer.Option(
        True, "--leader-elect/--no-leader-elect", help="Lease leader election."
    ),
    identity: str | None = typer.Option(None, "--identity", help="Leader election identity."),
    log_level: str = typer.Option("info", "--log-level", help="debug, info, warning or error."),
    cooldown: float = typer.Option(
        300.0,
        "--rollout-cooldown-seconds",
        min=5.0,
        help="Least time between two rollouts to the same target.",
    ),
    collector_service_accounts: bool = typer.Option(
        False,
        "--collector-service-accounts",
        help="Run the collectors as the chart's ServiceAccounts (hodegos-gateway, hodegos-node-collector).",
    ),
    webhook_check: bool = typer.Option(
        True,
        "--webhook-check/--no-webhook-check",
        help="Hold injection rollouts until the webhook is healthy (off: assume it is, e.g. benchmarks).",
    ),
) -> None:
    """Run the controllers until interrupted (SIGINT/SIGTERM release the Lease on the way out)."""
    from controllers.manager import Manager

    logging.basicConfig(
        level=getattr(logging, log_level.upper(), logging.INFO),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    manager = Manager(
        connect(kubeconfig),
        namespace=namespace,
        image=image,
        identity=identity,
        workers=workers,
        resync=resync,
        leader_election=leader_elect,
        webhook_healthy=None if webhook_check else (lambda: True),
        rollout_cooldown=cooldown,
        collector_service_accounts=collector_service_accounts,
    )
    signal.signal(signal.SIGTERM, lambda *_: manager.stop.set())
    try:
        manager.run_forever()
    except KeyboardInterrupt:
        manager.shutdown()
    except TimeoutError as exc:
        fail(str(exc))
