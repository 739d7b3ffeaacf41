"""`hodegos install | uninstall | diagnose | version`: Hodegos in a cluster, through its Helm chart."""

from __future__ import annotations

import time
from pathlib import Path

import typer

from api import constants
from cli.output import Format, connect, emit, fail, stderr

NamespaceOpt = typer.Option(constants.NAMESPACE, "--namespace", "-n", help="Where Hodegos runs.")
KubeconfigOpt = typer.Option(None, "--kubeconfig", help="Kubeconfig (default: $KUBECONFIG, ~/.kube/config).")


def _helm(kubeconfig: Path | None) -> object:
    from installer.errors import InstallError
    from installer.helm import Helm
    from toolchain import cluster as tools

    try:
        return Helm(tools.HELM.path("helm"), kubeconfig)
    except InstallError as exc:
        fail(str(exc))


def _say(message: str) -> None:
    stderr.print(f"[dim]{time.strftime('%H:%M:%S')}[/dim] {message}", highlight=False)


def install(
    namespace: str = NamespaceOpt,
    kubeconfig: Path | None = KubeconfigOpt,
    set_: list[str] = typer.Option([], "--set", help="A chart value, key=value (repeatable)."),
    values: list[Path] = typer.Option([], "--values", "-f", help="A values file (repeatable)."),
    wait: bool = typer.Option(False, "--wait", help="Wait until every Hodegos pod is Ready."),
    timeout: str = typer.Option("5m", "--timeout", help="How long --wait waits (Helm duration)."),
) -> None:
    """Install Hodegos, or upgrade it in place (values not given keep their defaults)."""
    from installer import install as installing
    from installer.errors import InstallError
    from installer.helm import Helm
    from kube import KubeError

    helm = _helm(kubeconfig)
    assert isinstance(helm, Helm)
    try:
        notes = installing.install(
            connect(kubeconfig), helm, namespace, sets=set_, values_files=values, wait=wait, timeout=timeout,
            progress=_say,
        )  # fmt: skip
    except (InstallError, KubeError) as exc:
        fail(str(exc))
    typer.echo(notes.strip())
    stderr.print(f"Hodegos is installed in {namespace}; open the UI with `hodegos ui`", highlight=False)


def uninstall(
    namespace: str = NamespaceOpt,
    kubeconfig: Path | None = KubeconfigOpt,
    purge: bool = typer.Option(
        False, "--purge", help="Also the CRDs, records, annotations and the namespace."
    ),
    timeout: float = typer.Option(
        300.0, "--timeout", help="Seconds to wait for workloads to roll back clean."
    ),
    output: Format = typer.Option(Format.table, "--output", "-o", help="table, json or yaml."),
) -> None:
    """Take instrumentation out of every workload (rolled back clean), then uninstall the release."""
    from installer import removal
    from installer.errors import InstallError
    from installer.helm import Helm
    from kube import KubeError

    helm = _helm(kubeconfig)
    assert isinstance(helm, Helm)
    try:
        report = removal.uninstall(
            connect(kubeconfig), helm, namespace, purge=purge, timeout=timeout, progress=_say
        )
    except (InstallError, KubeError) as exc:
        fail(str(exc))
    if output in (Format.json, Format.yaml):
        emit(report, output)
        return
    for pod in report.get("leftInstrumented") or []:
        stderr.print(
            f"[yellow]warning:[/yellow] {pod} keeps its agent until it ends (no rollout replaces it)"
        )
    stderr.print("Hodegos is uninstalled" + (" and purged" if purge else ""), highlight=False)


def diagnose(
    namespace: str = NamespaceOpt,
    kubeconfig: Path | None = KubeconfigOpt,
    out: Path = typer.Option(
        None, "--out", help="Archive to write (default: hodegos-diagnose-<time>.tar.gz)."
    ),
) -> None:
    """Write a .tar.gz of every Hodegos object, config, log and metric, with Secret values redacted."""
    from installer.diagnose import collect

    path = out or Path(f"hodegos-diagnose-{time.strftime('%Y%m%d-%H%M%S')}.tar.gz")
    counts = collect(connect(kubeconfig), namespace, path)
    stderr.print(
        f"{path}: {counts['objects']} object lists, {counts['logs']} logs, {counts['metrics']} metrics"
        + (f", {counts['errors']} errors (inside the archive)" if counts["errors"] else ""),
        highlight=False,
    )
    typer.echo(str(path))


def version(
    namespace: str = NamespaceOpt,
    kubeconfig: Path | None = KubeconfigOpt,
    client_only: bool = typer.Option(False, "--client", help="Only the CLI's version."),
    output: Format = typer.Option(Format.table, "--output", "-o", help="table, json or yaml."),
) -> None:
    """The CLI's version and the versions running in the cluster."""
    from installer.versions import cli_version, cluster_versions

    report: dict[str, object] = {"cli": cli_version()}
    if not client_only:
        report["cluster"] = cluster_versions(connect(kubeconfig), namespace)
    if output in (Format.json, Format.yaml):
        emit(report, output)
        return
    typer.echo(f"hodegos CLI {report['cli']}")
    cluster = report.get("cluster")
    if isinstance(cluster, dict):
        for name, value in cluster.items():
            if isinstance(value, dict):
                typer.echo(f"{name}: {value.get('version')} ({', '.join(value.get('images') or [])})")
            else:
                typer.echo(f"{name}: {value}")
