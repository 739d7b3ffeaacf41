"""`hodegos webhook ...`: serve the injection webhook, register it with an API server, manage certificates.

- ``serve``: HTTPS on ``--port`` (9443) from ``--cert-dir``; the cluster view comes from ``--records DIR``
  (files, no cluster) or a watch cache (``--kubeconfig``/``--in-cluster``). With ``--manage-certs`` (default)
  a missing or expiring certificate is issued/rotated in the directory; with ``--register-url`` the
  MutatingWebhookConfiguration is applied at start and its caBundle follows rotations.
- ``register``: apply the MutatingWebhookConfiguration (URL or Service clientConfig) with the directory's
  caBundle; ``--dry-run -o yaml`` prints it instead.
- ``certs``: issue or rotate the certificates in a directory (and the Secret) and print what is in force.
- ``unregister``: the emergency stop, deleting the MutatingWebhookConfiguration.
"""

from __future__ import annotations

import enum
import logging
from pathlib import Path
from typing import Annotated, Any

import typer

from api import constants
from api.config import ConfigError, HodegosConfig
from certs import authority, keeping, storing
from certs.errors import CertError
from certs.reloading import ReloadingContext
from cli.output import connect, dump, emit, fail, stderr
from webhook.errors import RegistrationError, ViewError

app = typer.Typer(help="Serve and register the pod injection webhook.", no_args_is_help=True)

DEFAULT_CERT_DIR = Path("~/.cache/hodegos/webhook-certs")


class Output(enum.StrEnum):
    yaml = "yaml"
    json = "json"


KubeconfigOpt = Annotated[Path | None, typer.Option("--kubeconfig", help="kubeconfig of the cluster to use")]
InClusterOpt = Annotated[bool, typer.Option("--in-cluster", help="use the pod's service account")]
CertDirOpt = Annotated[
    Path,
    typer.Option("--cert-dir", help="directory with tls.crt, tls.key, ca.crt, ca.key, ca-bundle.crt"),
]
HostOpt = Annotated[
    list[str] | None, typer.Option("--host-name", help="extra DNS name or IP for the serving certificate")
]


def _hosts(extra: list[str] | None) -> list[str]:
    return list(dict.fromkeys([*authority.service_hosts(), *(extra or [])]))


def _client_config(url: str | None, service_port: int) -> dict[str, Any]:
    from webhook import registration

    return (
        registration.url_client_config(url) if url else registration.service_client_config(port=service_port)
    )


@app.command()
def serve(
    port: Annotated[int, typer.Option("--port", help="HTTPS port")] = constants.WEBHOOK_PORT,
    host: Annotated[str, typer.Option("--host", help="address to listen on")] = "0.0.0.0",
    cert_dir: CertDirOpt = DEFAULT_CERT_DIR,
    kubeconfig: KubeconfigOpt = None,
    in_cluster: InClusterOpt = False,
    records: Annotated[
        Path | None,
        typer.Option("--records", help="serve from Namespace/InstrumentedApplication files, no cluster"),
    ] = None,
    config_file: Annotated[
        Path | None,
        typer.Option("--config", help="Hodegos config.yaml (default: the hodegos-config ConfigMap, live)"),
    ] = None,
    namespace: Annotated[
        str,
        typer.Option("--namespace", envvar="HODEGOS_NAMESPACE", help="where Hodegos runs (never injected)"),
    ] = constants.NAMESPACE,
    config_namespace: Annotated[
        str | None,
        typer.Option(
            "--config-namespace", help="where the hodegos-config ConfigMap is (default: --namespace)"
        ),
    ] = None,
    cert_secret: Annotated[
        str | None,
        typer.Option(
            "--cert-secret",
            help="keep the certificates in this Secret of --namespace, shared by every replica (in-cluster)",
        ),
    ] = None,
    register_service: Annotated[
        str | None,
        typer.Option(
            "--register-service",
            help="apply the MutatingWebhookConfiguration pointing at this Service of --namespace (port 443)",
        ),
    ] = None,
    timeout_seconds: Annotated[
        int, typer.Option("--timeout-seconds", help="timeoutSeconds of the registration (1..5)")
    ] = 3,
    owner_clusterrole: Annotated[
        str | None,
        typer.Option("--owner-clusterrole", help="ClusterRole owning the registration (removed with it)"),
    ] = None,
    manage_certs: Annotated[
        bool,
        typer.Option("--manage-certs/--no-manage-certs", help="issue and rotate certificates in --cert-dir"),
    ] = True,
    register_url: Annotated[
        str | None,
        typer.Option(
            "--register-url", help="apply the MutatingWebhookConfiguration pointing at this https URL"
        ),
    ] = None,
    host_names: HostOpt = None,
    deadline: Annotated[
        float, typer.Option("--deadline", help="seconds before answering allow-unchanged")
    ] = 2.0,
    log_level: Annotated[str, typer.Option("--log-level", help="debug, info, warning, error")] = "info",
) -> None:
    """Serve POST /mutate, /healthz, /readyz and /metrics over HTTPS."""
    from kube import Recorder, StaticConfig
    from kube.liveconfig import ConfigSource
    from webhook import registration
    from webhook.caches import ClusterCache, StaticView
    from webhook.server import Settings, create_app
    from webhook.server import serve as run

    logging.basicConfig(level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if records is not None and (kubeconfig is not None or in_cluster):
        fail("--records serves from files; do not combine it with --kubeconfig/--in-cluster")
    file_config: HodegosConfig | None = None
    try:
        file_config = HodegosConfig.parse_text(config_file.read_text()) if config_file else None
    except (OSError, ConfigError) as exc:
        fail(str(exc))
    if not 1 <= timeout_seconds <= registration.MAX_TIMEOUT_SECONDS:
        fail(f"--timeout-seconds must be 1..{registration.MAX_TIMEOUT_SECONDS}, got {timeout_seconds}")
    if not 0 < deadline < timeout_seconds:
        fail(f"--deadline must be between 0 and the webhook timeout ({timeout_seconds}s)")
    cert_dir = cert_dir.expanduser()

    api = None
    view: StaticView | ClusterCache
    config: ConfigSource = StaticConfig(file_config)
    if records is not None:
        try:
            view = StaticView.from_path(records)
        except ViewError as exc:
            fail(str(exc))
    elif kubeconfig is not None or in_cluster:
        api = connect(kubeconfig, in_cluster=in_cluster or None)
        view = ClusterCache(
            api, config_namespace or namespace, recorder=Recorder(api, "hodegos-webhook")
        ).start()
        if file_config is None:
            config = view.config  # hodegos-config, followed live
    else:
        fail("give --records DIR (files) or --kubeconfig FILE / --in-cluster (watch the cluster)")
    if (register_url or register_service or cert_secret) and api is None:
        fail("--register-url, --register-service and --cert-secret need --kubeconfig or --in-cluster")
    if register_url and register_service:
        fail("give --register-url or --register-service, not both")

    client_config: dict[str, Any] | None = None
    if register_url:
        client_config = _client_config(register_url, registration.SERVICE_PORT)
    elif register_service:
        client_config = registration.service_client_config(register_service, namespace)
    registered = False
    owner = None
    if owner_clusterrole and api is not None:
        from kube.resources import CLUSTERROLES

        owner = api.get(CLUSTERROLES, None, owner_clusterrole)
        if owner is None:
            fail(f"ClusterRole {owner_clusterrole} (--owner-clusterrole) does not exist")
    excluded = [*registration.EXCLUDED_NAMESPACES, namespace]

    def publish(bundle: bytes) -> None:
        nonlocal registered
        if api is None or client_config is None:
            return
        if registered:
            registration.apply_ca_bundle(api, bundle)
        else:
            manifest = registration.build_configuration(
                bundle,
                client_config,
                excluded_namespaces=excluded,
                owner=owner,
                timeout_seconds=timeout_seconds,
            )
            registration.apply_configuration(api, manifest)
            registered = True

    keeper: Any = None
    try:
        if cert_secret is not None and api is not None:
            from certs.shared import SharedKeeper

            hosts = _hosts(
                [
                    *(host_names or []),
                    *authority.service_hosts(register_service or constants.WEBHOOK_SERVICE, namespace),
                ]
            )
            keeper = SharedKeeper(
                api, cert_dir, hosts, namespace=namespace, name=cert_secret, publish_bundle=publish
            )
            decision, _ = keeper.sync()
            stderr.print(
                f"certificates in Secret {namespace}/{cert_secret}: {decision.action} ({decision.reason})",
                highlight=False,
            )
            keeper.start()
        elif manage_certs:
            decision, material = keeping.keep(
                cert_dir, _hosts(host_names), publish_bundle=publish, settle=10.0
            )
            stderr.print(
                f"certificates in {cert_dir}: {decision.action} ({decision.reason})", highlight=False
            )
            if not registered:
                publish(material.ca_bundle)
            keeper = keeping.Keeper(cert_dir, _hosts(host_names), publish_bundle=publish).start()
        elif client_config is not None:
            existing = storing.read_directory(cert_dir)
            if existing is None:
                fail(f"{cert_dir} holds no certificate (and --no-manage-certs was given)")
                return
            publish(existing.ca_bundle)
    except (CertError, RegistrationError) as exc:
        fail(str(exc))
    if client_config is not None:
        target = register_url or f"service {namespace}/{register_service}"
        stderr.print(f"registered {constants.WEBHOOK_CONFIGURATION} -> {target}", highlight=False)

    tls = ReloadingContext(cert_dir / storing.CERT_FILE, cert_dir / storing.KEY_FILE)
    app_ = create_app(view, config, settings=Settings(deadline=deadline), tls=tls)
    stderr.print(f"serving https://{host}:{port}{constants.WEBHOOK_PATH}", highlight=False)
    try:
        run(app_, host, port, tls, log_level=log_level.lower())
    finally:
        if keeper is not None:
            keeper.stop()
        if isinstance(view, ClusterCache):
            view.stop()


@app.command()
def register(
    url: Annotated[str | None, typer.Option("--url", help="https URL of the webhook (local runs)")] = None,
    service_port: Annotated[
        int, typer.Option("--service-port", help="Service port, when no --url is given")
    ] = 443,
    cert_dir: CertDirOpt = DEFAULT_CERT_DIR,
    ca_bundle: Annotated[
        Path | None, typer.Option("--ca-bundle", help="PEM file instead of --cert-dir")
    ] = None,
    timeout: Annotated[int, typer.Option("--timeout", help="timeoutSeconds (1..5)")] = 3,
    kubeconfig: KubeconfigOpt = None,
    in_cluster: InClusterOpt = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="print the manifest, apply nothing")] = False,
    output: Annotated[Output, typer.Option("--output", "-o", help="format of --dry-run")] = Output.yaml,
) -> None:
    """Apply the MutatingWebhookConfiguration (server-side apply, field manager hodegos)."""
    from webhook import registration

    try:
        if ca_bundle is not None:
            bundle = ca_bundle.read_bytes()
        else:
            material = storing.read_directory(cert_dir.expanduser())
            if material is None:
                fail(f"{cert_dir} holds no certificate: run `hodegos webhook certs --cert-dir {cert_dir}`")
                return
            bundle = material.ca_bundle
        manifest = registration.build_configuration(
            bundle, _client_config(url, service_port), timeout_seconds=timeout
        )
    except (OSError, CertError, RegistrationError) as exc:
        fail(str(exc))
        return
    if dry_run:
        emit(manifest, output.value)
        return
    try:
        registration.apply_configuration(connect(kubeconfig, in_cluster=in_cluster or None), manifest)
    except RegistrationError as exc:
        fail(str(exc))
    target = url or f"service {constants.NAMESPACE}/{constants.WEBHOOK_SERVICE}:{service_port}"
    stderr.print(f"mutatingwebhookconfiguration/{constants.WEBHOOK_CONFIGURATION} applied -> {target}")


@app.command()
def unregister(
    kubeconfig: KubeconfigOpt = None,
    in_cluster: InClusterOpt = False,
) -> None:
    """Emergency stop: delete the MutatingWebhookConfiguration; pods are then created without injection."""
    from webhook import registration

    try:
        deleted = registration.unregister(connect(kubeconfig, in_cluster=in_cluster or None))
    except RegistrationError as exc:
        fail(str(exc))
    if not deleted:
        stderr.print(f"mutatingwebhookconfiguration/{constants.WEBHOOK_CONFIGURATION} not found")
        return
    stderr.print(f"mutatingwebhookconfiguration/{constants.WEBHOOK_CONFIGURATION} deleted")


@app.command()
def certs(
    cert_dir: CertDirOpt = DEFAULT_CERT_DIR,
    host_names: HostOpt = None,
    to_secret: Annotated[
        bool, typer.Option("--to-secret", help=f"also apply the Secret {constants.WEBHOOK_CERT_SECRET}")
    ] = False,
    kubeconfig: KubeconfigOpt = None,
    in_cluster: InClusterOpt = False,
    output: Annotated[Output | None, typer.Option("--output", "-o", help="json or yaml")] = None,
) -> None:
    """Issue or rotate the webhook certificates in --cert-dir, and print what is in force."""
    store = None
    if to_secret:
        api = connect(kubeconfig, in_cluster=in_cluster or None)

        def store(material: authority.Material) -> None:
            storing.apply_secret(api, material)

    try:
        decision, material = keeping.keep(cert_dir.expanduser(), _hosts(host_names), store=store)
    except CertError as exc:
        fail(str(exc))
        return
    summary = {
        "directory": str(cert_dir.expanduser()),
        "action": decision.action,
        "reason": decision.reason,
        "hosts": material.hosts,
        "notAfter": material.serving.not_valid_after_utc.isoformat(),
        "caNotAfter": material.ca.not_valid_after_utc.isoformat(),
        "caBundle": [
            c.subject.rfc4514_string() + " " + c.not_valid_after_utc.isoformat() for c in material.bundle
        ],
    }
    if output is not None:
        emit(summary, output.value)
    else:
        print(dump(summary, "yaml"))
