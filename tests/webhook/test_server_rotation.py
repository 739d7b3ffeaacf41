"""Certificate rotation under load: clients keep sending admissions while the CA and serving cert change.

The clients play the API server: each new connection trusts the caBundle *currently* in the (emulated)
MutatingWebhookConfiguration and verifies the host name. A rotation is applied the documented way: caBundle
first, then the files; the running server reloads them. Zero failed admissions are allowed.
"""

from __future__ import annotations

import socket
import ssl
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography import x509

from api import constants
from api.config import HodegosConfig
from certs import rotation, storing
from certs.authority import Material
from certs.reloading import ReloadingContext
from kube import Api
from tests.webhook.server_support import CONTAINERS, HEADERS, client_context, issue, review_body, shop_view
from webhook.server import Settings, create_app, running

HOSTS = ["localhost", "127.0.0.1"]


class Load:
    """Client threads sending admissions; a new connection (and handshake) every few requests."""

    def __init__(self, url: str, bundle: bytes, threads: int = 4, per_connection: int = 5) -> None:
        self.url = url
        self.bundle = bundle  # the "caBundle" of the webhook configuration
        self.per_connection = per_connection
        self.ok = 0
        self.failures: list[str] = []
        self.serials: set[int] = set()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._run, args=(i,), daemon=True) for i in range(threads)]

    def __enter__(self) -> Load:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(15)

    def _run(self, worker: int) -> None:
        n = 0
        while not self._stop.is_set():
            with httpx.Client(verify=client_context(self.bundle), timeout=5) as client:
                for _ in range(self.per_connection):
                    n += 1
                    uid = f"w{worker}-{n}"
                    try:
                        response = client.post(
                            self.url + constants.WEBHOOK_PATH, content=review_body(uid), headers=HEADERS
                        )
                        answer = response.json()["response"]
                        good = (
                            response.status_code == 200 and answer["uid"] == uid and answer["allowed"] is True
                        )
                        good = good and answer.get("patchType") == "JSONPatch"
                        serial = _peer_serial(response)
                    except Exception as exc:
                        with self._lock:
                            self.failures.append(f"{uid}: {type(exc).__name__}: {exc}")
                        break
                    with self._lock:
                        if good:
                            self.ok += 1
                            self.serials.add(serial)
                        else:
                            self.failures.append(f"{uid}: {response.status_code} {response.text[:200]}")

    def wait_for(self, serial: int, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while serial not in self.serials:
            assert time.monotonic() < deadline, (
                f"serial {serial:x} never served; failures: {self.failures[:3]}"
            )
            time.sleep(0.05)

    def more(self, count: int, timeout: float = 30.0) -> None:
        target = self.ok + count
        deadline = time.monotonic() + timeout
        while self.ok < target:
            assert time.monotonic() < deadline, f"load stalled; failures: {self.failures[:3]}"
            time.sleep(0.05)


def _peer_serial(response: httpx.Response) -> int:
    ssl_object: Any = response.extensions["network_stream"].get_extra_info("ssl_object")
    der = ssl_object.getpeercert(True)
    return int(x509.load_der_x509_certificate(der).serial_number)


def _apply(material: Material, directory: Path, load: Load) -> None:
    load.bundle = material.ca_bundle  # 1. the webhook configuration's caBundle
    storing.write_directory(material, directory)  # 2. the Secret / files; the server reloads them


def test_rotation_under_load_drops_no_admission(tmp_path: Path) -> None:
    now = datetime.now(UTC)
    first = issue(tmp_path, HOSTS)
    tls = ReloadingContext(tmp_path / storing.CERT_FILE, tmp_path / storing.KEY_FILE)
    app = create_app(shop_view(), HodegosConfig(), settings=Settings(reload_interval=0.1), tls=tls)

    with running(app, tls=tls) as url, Load(url, first.ca_bundle) as load:
        load.wait_for(first.serving.serial_number)
        load.more(100)

        # 1. The CA is due: new CA + serving cert; the bundle trusts both CAs during the switch.
        decision = rotation.decide(first, HOSTS, now, rotation.Policy(renew_fraction=1.0))
        assert decision.action == "renew-ca"
        second = rotation.rotate(first, decision, HOSTS, now, rotation.Policy())
        assert [c.serial_number for c in second.bundle] == [second.ca.serial_number, first.ca.serial_number]
        _apply(second, tmp_path, load)
        load.wait_for(second.serving.serial_number)
        load.more(100)

        # 2. A new host name: a new serving certificate from the same CA.
        hosts = [*HOSTS, "hodegos-webhook.hodegos-system.svc"]
        decision = rotation.decide(second, hosts, now, rotation.Policy())
        assert decision.action == "renew-serving"
        third = rotation.rotate(second, decision, hosts, now, rotation.Policy())
        _apply(third, tmp_path, load)
        load.wait_for(third.serving.serial_number)
        load.more(100)

        # 3. The overlap is over: the old CA leaves the bundle; new connections trust the new CA only.
        decision = rotation.decide(third, hosts, now + timedelta(days=2), rotation.Policy())
        assert decision.action == "trim-bundle"
        fourth = rotation.rotate(third, decision, hosts, now, rotation.Policy())
        assert [c.serial_number for c in fourth.bundle] == [third.ca.serial_number]
        _apply(fourth, tmp_path, load)
        load.more(200)

        # Someone still trusting only the first CA is now refused: the switch really happened.
        with pytest.raises(httpx.ConnectError), httpx.Client(verify=client_context(first.ca_cert)) as stale:
            stale.post(url + constants.WEBHOOK_PATH, content=review_body(), headers=HEADERS)

    assert load.failures == []
    assert load.ok >= 500
    assert tls.reloads == 2  # second and third certificates; trimming the bundle left the pair unchanged
    assert {
        first.serving.serial_number,
        second.serving.serial_number,
        third.serving.serial_number,
    } <= load.serials


def test_a_half_written_pair_keeps_the_current_certificate(tmp_path: Path) -> None:
    first = issue(tmp_path, HOSTS)
    tls = ReloadingContext(tmp_path / storing.CERT_FILE, tmp_path / storing.KEY_FILE)
    assert tls.loaded is not None and tls.loaded.serial == first.serving.serial_number
    other = issue(tmp_path / "other", HOSTS)
    (tmp_path / storing.CERT_FILE).write_bytes(other.cert)  # new cert, old key: must not be served
    assert tls.reload_if_changed() is False
    assert tls.loaded.serial == first.serving.serial_number and tls.failures == 1
    (tmp_path / storing.KEY_FILE).write_bytes(other.key)
    assert tls.reload_if_changed() is True
    assert tls.loaded.serial == other.serving.serial_number
    assert _served_serial(tls.context, other.ca_bundle) == other.serving.serial_number


def _served_serial(context: ssl.SSLContext, bundle: bytes) -> int:
    """Handshake with ``context`` over a socket pair; the serial of the certificate it presented."""
    server_sock, client_sock = socket.socketpair()
    result: list[int] = []

    def accept() -> None:
        with context.wrap_socket(server_sock, server_side=True):
            pass

    thread = threading.Thread(target=accept)
    thread.start()
    with client_context(bundle).wrap_socket(client_sock, server_hostname="localhost") as tls:
        result.append(
            int(x509.load_der_x509_certificate(tls.getpeercert(binary_form=True) or b"").serial_number)
        )
    thread.join(5)
    return result[0]


# -- the real API server as the client --------------------------------------------------------------------


@pytest.mark.cluster
def test_rotation_while_the_api_server_creates_pods_leaves_no_pod_uninjected(
    kube_api: Any,
    admin_api: Api,
    hodegos_crds: list[str],
    make_namespace: Callable[..., str],
    tmp_path: Path,
) -> None:
    """Pods created while the CA rotates: with failurePolicy Ignore a TLS failure would admit a pod silently
    uninjected, so every created pod must carry the injection marker."""
    from kubernetes import client

    from certs import keeping
    from tests.webhook import factories
    from webhook import registration
    from webhook.caches import StaticView

    namespace = make_namespace(annotations={constants.ANNOTATION_INSTRUMENTATION: "enabled"})
    view = StaticView(
        [{"metadata": {"name": namespace, "annotations": {constants.ANNOTATION_INSTRUMENTATION: "enabled"}}}],
        [factories.record(CONTAINERS, namespace=namespace)],
    )
    _, first = keeping.keep(tmp_path, HOSTS)
    tls = ReloadingContext(tmp_path / storing.CERT_FILE, tmp_path / storing.KEY_FILE)
    app = create_app(view, HodegosConfig(), settings=Settings(reload_interval=0.1), tls=tls)
    core: Any = client.CoreV1Api(kube_api)
    hooks: Any = client.AdmissionregistrationV1Api(kube_api)
    results: list[bool] = []
    stop = threading.Event()

    def create_one() -> bool:
        pod = factories.deployment_pod([{"name": "app", "image": "shop/web:1.4"}])
        pod["metadata"]["namespace"] = namespace
        created = core.create_namespaced_pod(namespace, pod)
        return constants.ANNOTATION_INJECTED in (created.metadata.annotations or {})

    def create_pods() -> None:
        while not stop.is_set():
            results.append(create_one())

    def publish(bundle: bytes) -> None:
        registration.apply_ca_bundle(admin_api, bundle)

    with running(app, tls=tls) as url:
        registration.apply_configuration(
            admin_api,
            registration.build_configuration(
                first.ca_bundle,
                registration.url_client_config(url.replace("localhost", "127.0.0.1") + "/mutate"),
            ),
        )
        creator = threading.Thread(target=create_pods, daemon=True)
        try:
            _wait(create_one)  # the API server has picked up the configuration and reaches the webhook
            creator.start()
            decision, second = keeping.keep(
                tmp_path,
                HOSTS,
                policy=rotation.Policy(renew_fraction=1.0),
                publish_bundle=publish,
                settle=2.0,
            )
            assert decision.action == "renew-ca"
            _wait(lambda: tls.loaded is not None and tls.loaded.serial == second.serving.serial_number)
            mark = len(results)
            _wait(lambda: len(results) >= mark + 10)
            decision, _ = keeping.keep(
                tmp_path,
                HOSTS,
                policy=rotation.Policy(overlap=timedelta(0)),
                publish_bundle=publish,
                settle=2.0,
            )
            assert decision.action == "trim-bundle"
            mark = len(results)
            _wait(lambda: len(results) >= mark + 10)
        finally:
            stop.set()
            creator.join(30)
            hooks.delete_mutating_webhook_configuration(constants.WEBHOOK_CONFIGURATION)
    assert len(results) >= 25
    assert all(results), f"{results.count(False)} of {len(results)} pods admitted without injection"


def _wait(check: Callable[[], bool], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.05)
