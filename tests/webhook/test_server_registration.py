"""The MutatingWebhookConfiguration, the CLI around the server, and a real API server calling the webhook."""

from __future__ import annotations

import base64
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

import httpx
import pytest
from typer.testing import CliRunner

from api import constants
from certs import storing
from certs.reloading import ReloadingContext
from cli.main import app as cli
from kube import Api
from tests.webhook import factories
from tests.webhook.server_support import CONTAINERS, HEADERS, client_context, issue, review_body
from webhook import registration
from webhook.caches import StaticView
from webhook.errors import RegistrationError
from webhook.server import create_app, running

ROOT = Path(__file__).resolve().parents[2]
BUNDLE = b"-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"


def test_configuration_follows_the_reliability_rules() -> None:
    manifest = registration.build_configuration(BUNDLE, registration.service_client_config())
    assert manifest["metadata"]["name"] == constants.WEBHOOK_CONFIGURATION
    [hook] = manifest["webhooks"]
    assert hook["name"] == constants.WEBHOOK_NAME
    assert hook["rules"] == [
        {
            "operations": ["CREATE"],
            "apiGroups": [""],
            "apiVersions": ["v1"],
            "resources": ["pods"],
            "scope": "Namespaced",
        }
    ]
    assert hook["failurePolicy"] == "Ignore" and hook["sideEffects"] == "None"
    assert hook["admissionReviewVersions"] == ["v1"] and hook["timeoutSeconds"] <= 5
    [selector] = hook["namespaceSelector"]["matchExpressions"]
    assert selector["key"] == "kubernetes.io/metadata.name" and selector["operator"] == "NotIn"
    assert set(selector["values"]) >= {"kube-system", "kube-public", "kube-node-lease", constants.NAMESPACE}
    assert hook["clientConfig"]["service"] == {
        "name": constants.WEBHOOK_SERVICE,
        "namespace": constants.NAMESPACE,
        "port": 443,
        "path": constants.WEBHOOK_PATH,
    }
    assert base64.b64decode(hook["clientConfig"]["caBundle"]) == BUNDLE


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: registration.url_client_config("http://127.0.0.1:9443/mutate"), "https"),
        (lambda: registration.url_client_config("https://u:p@127.0.0.1/mutate"), "user info"),
        (lambda: registration.build_configuration(BUNDLE, {"url": "https://x"}, timeout_seconds=10), "1..5"),
        (lambda: registration.build_configuration(b"nope", {"url": "https://x"}), "PEM"),
        (lambda: registration.build_configuration(BUNDLE, {}), "exactly one"),
    ],
)
def test_bad_registration_input_is_refused(call: Callable[[], Any], message: str) -> None:
    with pytest.raises(RegistrationError, match=message):
        call()


def test_cli_certs_then_register_dry_run(tmp_path: Path) -> None:
    runner = CliRunner()
    first = runner.invoke(cli, ["webhook", "certs", "--cert-dir", str(tmp_path), "-o", "json"])
    assert first.exit_code == 0, first.output
    assert json.loads(first.stdout)["action"] == "issue"
    again = runner.invoke(cli, ["webhook", "certs", "--cert-dir", str(tmp_path), "-o", "json"])
    assert json.loads(again.stdout)["action"] == "none"
    out = runner.invoke(
        cli,
        [
            "webhook",
            "register",
            "--cert-dir",
            str(tmp_path),
            "--url",
            "https://127.0.0.1:9443/mutate",
            "--dry-run",
            "-o",
            "json",
        ],
    )
    assert out.exit_code == 0, out.output
    hook = json.loads(out.stdout)["webhooks"][0]
    assert hook["clientConfig"]["url"] == "https://127.0.0.1:9443/mutate"
    material = storing.read_directory(tmp_path)
    assert material is not None and base64.b64decode(hook["clientConfig"]["caBundle"]) == material.ca_bundle
    bad = runner.invoke(cli, ["webhook", "register", "--cert-dir", str(tmp_path / "none"), "--dry-run"])
    assert bad.exit_code == 1 and "holds no certificate" in " ".join(bad.output.split())


def test_cli_serve_from_records_over_https(tmp_path: Path) -> None:
    port = _free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "cli.main",
            "webhook",
            "serve",
            "--records",
            str(ROOT / "docs" / "examples"),
            "--cert-dir",
            str(tmp_path),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--log-level",
            "warning",
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        deadline = time.monotonic() + 30
        while not (tmp_path / storing.BUNDLE_FILE).exists():
            assert process.poll() is None and time.monotonic() < deadline
            time.sleep(0.1)
        verify = client_context((tmp_path / storing.BUNDLE_FILE).read_bytes())
        url = f"https://localhost:{port}"
        while True:
            try:
                if httpx.get(url + "/readyz", verify=verify).status_code == 200:
                    break
            except httpx.ConnectError:
                pass
            assert process.poll() is None and time.monotonic() < deadline
            time.sleep(0.1)
        body = review_body("cli")  # namespace shop + record deployment-web from docs/examples
        answer = httpx.post(url + constants.WEBHOOK_PATH, content=body, headers=HEADERS, verify=verify).json()
        assert answer["response"]["uid"] == "cli" and answer["response"]["patchType"] == "JSONPatch"
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(15)


def test_cli_serve_needs_a_view() -> None:
    result = CliRunner().invoke(cli, ["webhook", "serve", "--cert-dir", "/nonexistent"])
    assert result.exit_code == 1 and "--records" in " ".join(result.output.split())


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# -- a real API server calls the webhook --------------------------------------------------------------------


@pytest.mark.cluster
def test_api_server_calls_the_registered_webhook_and_follows_a_ca_bundle_update(
    kube_api: Any,
    admin_api: Api,
    hodegos_crds: list[str],
    make_namespace: Callable[..., str],
    tmp_path: Path,
) -> None:
    from kubernetes import client

    namespace = make_namespace(annotations={constants.ANNOTATION_INSTRUMENTATION: "enabled"})
    material = issue(tmp_path)
    tls = ReloadingContext(tmp_path / storing.CERT_FILE, tmp_path / storing.KEY_FILE)
    # A bare pod is its own workload: its record is named after the Pod kind.
    view = StaticView(
        [{"metadata": {"name": namespace, "annotations": {constants.ANNOTATION_INSTRUMENTATION: "enabled"}}}],
        [factories.record(CONTAINERS, kind="Pod", name="web-1", namespace=namespace)],
    )
    app = create_app(view, tls=tls)
    core: Any = client.CoreV1Api(kube_api)
    with running(app, tls=tls) as url:
        manifest = registration.build_configuration(
            material.ca_bundle,
            registration.url_client_config(url.replace("localhost", "127.0.0.1") + "/mutate"),
        )
        try:
            stored = registration.apply_configuration(admin_api, manifest)
            assert stored["webhooks"][0]["failurePolicy"] == "Ignore"
            pod = factories.deployment_pod(
                [{"name": "app", "image": "shop/web:1.4"}, {"name": "worker", "image": "shop/worker:2.0"}]
            )
            pod["metadata"]["namespace"] = namespace
            pod["metadata"].pop("ownerReferences")  # no ReplicaSet exists; the GC would delete the pod
            pod["metadata"]["name"] = "web-1"
            created = core.create_namespaced_pod(namespace, pod)
            annotations = created.metadata.annotations or {}
            assert constants.ANNOTATION_INJECTED in annotations, annotations
            assert created.spec.init_containers

            # caBundle update path used by rotation.
            registration.apply_ca_bundle(admin_api, material.ca_bundle + material.ca_bundle)
            again: Any = client.AdmissionregistrationV1Api(kube_api).read_mutating_webhook_configuration(
                constants.WEBHOOK_CONFIGURATION
            )
            assert again.webhooks[0].client_config.ca_bundle
            assert again.webhooks[0].rules[0].operations == ["CREATE"]  # the rest of the entry survived
        finally:
            cast(Any, client.AdmissionregistrationV1Api(kube_api)).delete_mutating_webhook_configuration(
                constants.WEBHOOK_CONFIGURATION
            )


@pytest.mark.cluster
def test_cli_serve_with_kubeconfig_registers_itself_and_injects(
    kubeconfig: Path,
    kube_api: Any,
    hodegos_crds: list[str],
    make_namespace: Callable[..., str],
    tmp_path: Path,
) -> None:
    """The path a local cluster uses: `hodegos webhook serve --kubeconfig K --register-url URL`."""
    from kubernetes import client

    namespace = make_namespace(annotations={constants.ANNOTATION_INSTRUMENTATION: "enabled"})
    custom: Any = client.CustomObjectsApi(kube_api)
    record = factories.record(CONTAINERS, kind="Pod", name="web-1", namespace=namespace).to_dict()
    custom.create_namespaced_custom_object(
        constants.GROUP, constants.VERSION, namespace, "instrumentedapplications", record
    )
    custom.patch_namespaced_custom_object_status(
        constants.GROUP,
        constants.VERSION,
        namespace,
        "instrumentedapplications",
        record["metadata"]["name"],
        {"status": record["status"]},
    )
    port = _free_port()
    url = f"https://127.0.0.1:{port}/mutate"
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "cli.main",
            "webhook",
            "serve",
            "--kubeconfig",
            str(kubeconfig),
            "--cert-dir",
            str(tmp_path),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--register-url",
            url,
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    hooks: Any = client.AdmissionregistrationV1Api(kube_api)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                verify = client_context((tmp_path / storing.BUNDLE_FILE).read_bytes())
                if httpx.get(f"https://127.0.0.1:{port}/readyz", verify=verify).status_code == 200:
                    break
            except (OSError, httpx.HTTPError):
                pass
            assert process.poll() is None, process.stdout.read().decode() if process.stdout else ""
            assert time.monotonic() < deadline
            time.sleep(0.2)
        stored = hooks.read_mutating_webhook_configuration(constants.WEBHOOK_CONFIGURATION)
        assert stored.webhooks[0].client_config.url == url

        # Ready means the first list is in, and it already held the record.
        pod = {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": "web-1", "namespace": namespace},
            "spec": {"containers": [{"name": "app", "image": "shop/web:1.4"}]},
        }
        core: Any = client.CoreV1Api(kube_api)
        created: Any = core.create_namespaced_pod(namespace, pod)
        assert constants.ANNOTATION_INJECTED in (created.metadata.annotations or {})
        assert [c.name for c in created.spec.init_containers or []]
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(15)
        # The emergency stop.
        result = CliRunner().invoke(cli, ["webhook", "unregister", "--kubeconfig", str(kubeconfig)])
        assert result.exit_code == 0 and "deleted" in result.output, result.output
    assert not [
        h
        for h in hooks.list_mutating_webhook_configuration().items
        if h.metadata.name == constants.WEBHOOK_CONFIGURATION
    ]
