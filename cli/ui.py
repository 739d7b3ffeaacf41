"""``hodegos ui``: open the web UI.

Where the UI runs decides what the command does:

- ``--local`` (or no UI installed in the cluster): serve it from this machine on ``127.0.0.1:--port``,
  reading the cluster through ``--kubeconfig`` (the same informers the in-cluster UI uses);
- a UI installed in the cluster (the ``hodegos-ui`` Service): port-forward ``127.0.0.1:--port`` to it
  through the API server (:mod:`kube.portforward`, as ``kubectl port-forward svc/hodegos-ui`` does) until
  Ctrl-C; ``--read-only`` is then the in-cluster UI's own setting (``ui.readOnly`` in the chart);
- ``--in-cluster``: how the UI's own Deployment runs it (service-account credentials, collectors' metrics
  scraped from their pods, listening on ``--address``).

``--read-only`` hides and refuses every change.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from api import constants
from cli.output import connect, fail, stderr

if TYPE_CHECKING:
    from kube import Api

UI_SERVICE = "hodegos-ui"


def _in_cluster_ui(api: Api, namespace: str) -> bool:
    """Is the UI installed in the cluster (its Service exists)?"""
    from kube import KubeError
    from kube.resources import SERVICES

    try:
        return api.get(SERVICES, namespace, UI_SERVICE) is not None
    except KubeError as exc:
        fail(f"cannot reach the cluster: {exc}")


def _port_forward(api: Api, namespace: str, port: int, address: str) -> None:
    """Forward ``address:port`` to the in-cluster UI until interrupted."""
    import threading

    from kube import KubeError
    from kube.portforward import forward, service_target

    try:
        target = service_target(api, namespace, UI_SERVICE, "http")
        with forward(api, target, local_port=port, address=address) as local:
            where = f"http://{address}:{local}" if ":" not in address else f"http://[{address}]:{local}"
            stderr.print(
                f"Hodegos UI on [bold]{where}[/bold] (forwarding to pod {target.namespace}/{target.pod}; "
                "Ctrl-C to stop)",
                highlight=False,
            )
            threading.Event().wait()
    except KubeError as exc:
        fail(
            f"cannot port-forward to the in-cluster UI: {exc}. Serve it from here instead: hodegos ui --local"
        )
    except OSError as exc:
        fail(f"cannot listen on {address}:{port}: {exc}")
    except KeyboardInterrupt:
        sys.exit(0)


def ui(
    kubeconfig: Path | None = typer.Option(
        None, "--kubeconfig", help="Kubeconfig file (default: $KUBECONFIG)."
    ),
    port: int = typer.Option(constants.UI_PORT, "--port", min=1, max=65535, help="Local port."),
    address: str = typer.Option("127.0.0.1", "--address", help="Address to listen on (loopback by default)."),
    namespace: str = typer.Option(constants.NAMESPACE, "--namespace", "-n", help="Where Hodegos runs."),
    read_only: bool = typer.Option(False, "--read-only", help="Show everything, change nothing."),
    local: bool = typer.Option(
        False, "--local", help="Serve the UI from here even if one runs in the cluster."
    ),
    in_cluster: bool = typer.Option(
        False, "--in-cluster", help="Run as the in-cluster UI (service account)."
    ),
    log_level: str = typer.Option("info", "--log-level", help="debug, info, warning or error."),
) -> None:
    """Open the Hodegos web UI."""
    import uvicorn

    from ui import Cluster, Scraper, Settings, create_app, pod_targets, settle

    logging.basicConfig(
        level=getattr(logging, log_level.upper(), logging.INFO),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    api = connect(kubeconfig, in_cluster=True if in_cluster else None)
    if not local and not in_cluster and _in_cluster_ui(api, namespace):
        _port_forward(api, namespace, port, address)
        return
    cluster = Cluster(api, namespace).start()
    stderr.print("reading the cluster…", highlight=False)
    if not cluster.wait_synced(120):
        stderr.print("[yellow]warning:[/yellow] not every cache synced yet; serving anyway", highlight=False)
    settle()
    settings = Settings(namespace=namespace, read_only=read_only)
    scraper = (
        Scraper(pod_targets(cluster), settings.metrics_interval, settings.metrics_timeout)
        if in_cluster
        else None
    )
    app = create_app(settings, cluster, telemetry=scraper)
    where = f"http://{address}:{port}" if ":" not in address else f"http://[{address}]:{port}"
    stderr.print(f"Hodegos UI on [bold]{where}[/bold]{' (read-only)' if read_only else ''}", highlight=False)
    try:
        uvicorn.run(
            app, host=address, port=port, log_level=log_level.lower(), access_log=log_level == "debug"
        )
    except OSError as exc:  # port in use
        fail(f"cannot listen on {address}:{port}: {exc}")
    finally:
        cluster.shutdown()
    sys.exit(0)
