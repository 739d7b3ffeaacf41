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

from api import constants, crds
from certs import storing
from kube import Api
from kube.resources import CLUSTERROLEBINDINGS, CLUSTERROLES, CRDS
from localcluster import lifecycle, pki, processes
from localcluster import state as records
from localcluster.errors import ClusterNotFoundError, ComponentFailedError, PortInUseError
from localcluster.layout import Layout, Ports

IDENTITY = pki.Identity("hodegos-webhook", ("hodegos:webhook",))
ROLE = "hodegos:webhook-reader"
COMPONENT = "hodegos-webhook"
CRD_DIR = crds.CRD_DIR


def apply_crds(api: Api, directory: Path = CRD_DIR, timeout: float = 60.0) -> list[str]:
    """Apply every CRD in ``directory`` (server-side) and wait until each is Established."""
    names: list[str] = []
    for path in sorted(directory.glob("*.yaml")):
        body = yaml.safe_load(path.read_text())
        names.append(body["metadata"]["name"])
        api.apply(CRDS, body)
    deadline = time.monotonic() + timeout
    for name in names:
        while True:
            crd = api.get(CRDS, None, name) or {}
            conditions = (crd.get("status") or {}).get("conditions") or []
            if any(c.get("type") == "Established" and c.get("status") == "True" for c in conditions):
                break
            if time.monotonic() > deadline:
                raise ComponentFailedError("kube-apiserver", f"CRD {name} not Established after {timeout}s")
            time.sleep(0.2)
    return names


def grant_read_access(api: Api, user: str = IDENTITY.user) -> None:
    """What the webhook needs: watch Namespaces, InstrumentedApplications and hodegos-config; write Events."""
    labels = {constants.LABEL_PART_OF: constants.PRODUCT}
    role = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRole",
        "metadata": {"name": ROLE, "labels": labels},
        "rules": [
            {"apiGroups": [""], "resources": ["namespaces"], "verbs": ["get", "list", "watch"]},
            {
                "apiGroups": [constants.GROUP],
                "resources": ["instrumentedapplications"],
                "verbs": ["get", "list", "watch"],
            },
            {"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get", "list", "watch"]},
            {"apiGroups": ["events.k8s.io"], "resources": ["events"], "verbs": ["create"]},
        ],
    }
    binding = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRoleBinding",
        "metadata": {"name": ROLE, "labels": labels},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": ROLE},
        "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": user}],
    }
    api.apply(CLUSTERROLES, role)
    api.apply(CLUSTERROLEBINDINGS, binding)


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

    def register(self, admin: Api) -> dict[str, Any]:
        """Apply the MutatingWebhookConfiguration pointing at this process (as the admin)."""
        from webhook import registration

        manifest = registration.build_configuration(
            self.ca_bundle(), registration.url_client_config(f"{self.url}{constants.WEBHOOK_PATH}")
        )
        return registration.apply_configuration(admin, manifest)

    def metrics(self) -> dict[str, float]:
        """The webhook's own Prometheus samples, ``name{labels}`` -> value."""
        text = httpx.get(f"{self.url}/metrics", verify=self._tls() or False, timeout=5.0).text
        return parse_metrics(text)


def up(name: str, port: int = constants.WEBHOOK_PORT) -> HostedWebhook:
    """Run the webhook for cluster ``name``: CRDs, RBAC, process, registration; recorded for ``down``.

    A webhook already running for this cluster is restarted (new code, same certificates).
    """
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
        admin = lifecycle.admin_api(lay)
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
