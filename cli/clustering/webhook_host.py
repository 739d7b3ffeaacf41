"""The Hodegos webhook running on the host for a local cluster: its identity, its RBAC, its process.

The API server reaches it through a URL (``https://127.0.0.1:<port>/mutate``) with the caBundle from the
certificate directory ``hodegos webhook serve`` manages. The webhook authenticates as its own user
(:data:`IDENTITY`, a client certificate from the cluster CA) with read-only RBAC on what its cache watches,
so the API server's audit log shows exactly what the webhook asked for. Used by the tests, ``make demo`` and
``benchmarks/admission_burst.py``.
"""

from __future__ import annotations

import re
import ssl
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import yaml

from api import constants
from certs import storing
from cli.clustering import lifecycle, pki, processes
from cli.clustering import state as records
from cli.clustering.errors import ClusterNotFoundError, ComponentFailedError, PortInUseError
from cli.clustering.layout import Layout, Ports

IDENTITY = pki.Identity("hodegos-webhook", ("hodegos:webhook",))
ROLE = "hodegos:webhook-reader"
COMPONENT = "hodegos-webhook"
CRD_DIR = Path(__file__).resolve().parents[2] / "chart" / "crds"


def apply_crds(api_client: Any, directory: Path = CRD_DIR, timeout: float = 60.0) -> list[str]:
    """Create or replace every CRD in ``directory`` and wait until each is Established."""
    from kubernetes import client
    from kubernetes.client.exceptions import ApiException

    ext: Any = client.ApiextensionsV1Api(api_client)
    names: list[str] = []
    for path in sorted(directory.glob("*.yaml")):
        body = yaml.safe_load(path.read_text())
        name = body["metadata"]["name"]
        names.append(name)
        try:
            ext.create_custom_resource_definition(body)
        except ApiException as exc:
            if exc.status != 409:
                raise
            current = ext.read_custom_resource_definition(name)
            body["metadata"]["resourceVersion"] = current.metadata.resource_version
            ext.replace_custom_resource_definition(name, body)
    deadline = time.monotonic() + timeout
    for name in names:
        while True:
            crd = ext.read_custom_resource_definition(name)
            conditions = (crd.status.conditions or []) if crd.status else []
            if any(c.type == "Established" and c.status == "True" for c in conditions):
                break
            if time.monotonic() > deadline:
                raise ComponentFailedError("kube-apiserver", f"CRD {name} not Established after {timeout}s")
            time.sleep(0.2)
    return names


def grant_read_access(api_client: Any, user: str = IDENTITY.user) -> None:
    """ClusterRole + binding: get/list/watch Namespaces and InstrumentedApplications (nothing else)."""
    from kubernetes import client
    from kubernetes.client.exceptions import ApiException

    rbac: Any = client.RbacAuthorizationV1Api(api_client)
    role = {
        "metadata": {"name": ROLE, "labels": {constants.LABEL_PART_OF: constants.PRODUCT}},
        "rules": [
            {"apiGroups": [""], "resources": ["namespaces"], "verbs": ["get", "list", "watch"]},
            {
                "apiGroups": [constants.GROUP],
                "resources": ["instrumentedapplications"],
                "verbs": ["get", "list", "watch"],
            },
        ],
    }
    binding = {
        "metadata": {"name": ROLE, "labels": {constants.LABEL_PART_OF: constants.PRODUCT}},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": ROLE},
        "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": user}],
    }
    for create, body in ((rbac.create_cluster_role, role), (rbac.create_cluster_role_binding, binding)):
        try:
            create(body)
        except ApiException as exc:
            if exc.status != 409:
                raise


@dataclass
class HostedWebhook:
    """One ``hodegos webhook serve`` process for cluster ``layout``, listening on ``127.0.0.1:port``."""

    layout: Layout
    ports: Ports
    port: int
    proc: processes.Started | None = None

    @property
    def cert_dir(self) -> Path:
        return self.layout.root / "webhook-certs"

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    @property
    def log(self) -> Path:
        return self.layout.log("hodegos-webhook")

    def kubeconfig(self) -> Path:
        return lifecycle.issue_kubeconfig(self.layout, self.ports, IDENTITY)

    def start(self, timeout: float = 60.0) -> None:
        """Start serving and wait until ``/readyz`` (certificate loaded, watch cache synced)."""
        argv = [
            sys.executable,
            "-m",
            "cli.main",
            "webhook",
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--cert-dir",
            str(self.cert_dir),
            "--kubeconfig",
            str(self.kubeconfig()),
            "--log-level",
            "warning",
        ]
        self.proc = processes.spawn(COMPONENT, argv, self.log)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            processes.reap()
            if not processes.alive(self.proc):
                raise ComponentFailedError(
                    "hodegos webhook", "exited during start-up", self.log, processes.log_tail(self.log)
                )
            if self.ready():
                return
            time.sleep(0.2)
        raise ComponentFailedError(
            "hodegos webhook", f"not ready after {timeout:.0f}s", self.log, processes.log_tail(self.log)
        )

    def stop(self) -> str:
        return processes.stop(self.proc) if self.proc else "not running"

    def _tls(self) -> ssl.SSLContext | None:
        bundle = self.cert_dir / storing.BUNDLE_FILE
        ca = bundle if bundle.is_file() else self.cert_dir / storing.CA_FILE
        return ssl.create_default_context(cafile=str(ca)) if ca.is_file() else None

    def ready(self) -> bool:
        tls = self._tls()
        if tls is None:
            return False
        try:
            return httpx.get(f"{self.url}/readyz", verify=tls, timeout=2.0).status_code == 200
        except httpx.HTTPError:
            return False

    def ca_bundle(self) -> bytes:
        material = storing.read_directory(self.cert_dir)
        if material is None:
            raise ComponentFailedError("hodegos webhook", f"no certificate in {self.cert_dir}")
        return material.ca_bundle

    def register(self, admin_client: Any) -> dict[str, Any]:
        """Apply the MutatingWebhookConfiguration pointing at this process (as the admin)."""
        from webhook import registration

        manifest = registration.build_configuration(
            self.ca_bundle(), registration.url_client_config(f"{self.url}{constants.WEBHOOK_PATH}")
        )
        return registration.apply_configuration(admin_client, manifest)

    def metrics(self) -> dict[str, float]:
        """The webhook's own Prometheus samples, ``name{labels}`` -> value."""
        text = httpx.get(f"{self.url}/metrics", verify=self._tls() or False, timeout=5.0).text
        return parse_metrics(text)


def up(name: str, port: int = constants.WEBHOOK_PORT) -> HostedWebhook:
    """Run the webhook for cluster ``name``: CRDs, RBAC, process, registration; recorded for ``down``.

    A webhook already running for this cluster is restarted (new code, same certificates).
    """
    from kubernetes import config

    lay = Layout.for_name(name)
    with records.locked(lay):
        current = records.load(lay)
        if current is None:
            raise ClusterNotFoundError(name, lay.root)
        previous = current.process(COMPONENT)
        if previous is not None:
            processes.stop(previous)
        if not processes.port_free(port):
            holder = processes.port_holder(port)
            raise PortInUseError(port, "hodegos webhook", processes.describe(holder) if holder else None)
        admin = config.new_client_from_config(config_file=str(lay.admin_kubeconfig))  # type: ignore[no-untyped-call]
        apply_crds(admin)
        grant_read_access(admin)
        hosted = HostedWebhook(lay, current.ports, port)
        try:
            hosted.start()
            hosted.register(admin)
        finally:
            if hosted.proc is not None:
                current.record(hosted.proc)
                records.save(lay, current)
    return hosted


_SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*(?:\{[^}]*\})?)\s+(\S+)")


def parse_metrics(text: str) -> dict[str, float]:
    """Prometheus text exposition -> ``{'name{labels}': value}`` (comments dropped)."""
    samples: dict[str, float] = {}
    for line in text.splitlines():
        if line.startswith("#"):
            continue
        match = _SAMPLE.match(line)
        if match:
            try:
                samples[match[1]] = float(match[2])
            except ValueError:
                continue
    return samples
