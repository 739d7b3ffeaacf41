"""The HTTPS shell, served by real uvicorn over TLS with the real core: answers, refusals, fail-safe."""

from __future__ import annotations

import base64
import socket
import ssl
import threading
import time
import warnings
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import httpx
import jsonpatch
import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from prometheus_client.parser import text_string_to_metric_families

from api import constants
from api.config import HodegosConfig
from certs.reloading import ReloadingContext
from certs.storing import CERT_FILE, KEY_FILE
from tests.webhook.server_support import HEADERS, client_context, issue, pod_of, review_body, shop_view
from webhook import admission
from webhook.admission import ClusterView, Outcome
from webhook.errors import BadRequest
from webhook.metrics import Metrics
from webhook.server import Settings, create_app, parse_review, running

MUTATE = constants.WEBHOOK_PATH


class Served:
    def __init__(
        self, url: str, client: httpx.Client, metrics: Metrics, tls: ReloadingContext, ca: bytes
    ) -> None:
        self.url, self.client, self.metrics, self.tls, self.ca = url, client, metrics, tls, ca

    def post(self, body: bytes, headers: Mapping[str, str] = HEADERS) -> httpx.Response:
        return self.client.post(self.url + MUTATE, content=body, headers=dict(headers))

    def metric(self, name: str, **labels: str) -> float:
        text = self.client.get(self.url + "/metrics").text
        total = 0.0
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                    total += sample.value
        return total


def _serve(tmp: Path, review: Any = admission.review, **settings: Any) -> Iterator[Served]:
    material = issue(tmp)
    tls = ReloadingContext(tmp / CERT_FILE, tmp / KEY_FILE)
    metrics = Metrics()
    app = create_app(
        shop_view(), HodegosConfig(), review=review, settings=Settings(**settings), metrics=metrics, tls=tls
    )
    with (
        running(app, tls=tls) as url,
        httpx.Client(verify=client_context(material.ca_bundle), timeout=10) as client,
    ):
        yield Served(url, client, metrics, tls, material.ca_bundle)


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    yield from _serve(tmp_path_factory.mktemp("certs"), max_body=64 * 1024)


def _assert_injects(served: Served) -> None:
    body = review_body("uid-ok")
    response = served.post(body)
    assert response.status_code == 200, response.text
    review = response.json()
    assert review["apiVersion"] == "admission.k8s.io/v1" and review["kind"] == "AdmissionReview"
    answer = review["response"]
    assert answer["uid"] == "uid-ok" and answer["allowed"] is True
    assert answer["patchType"] == "JSONPatch"
    patched = jsonpatch.apply_patch(pod_of(body), orjson.loads(base64.b64decode(answer["patch"])))
    assert patched["metadata"]["annotations"][constants.ANNOTATION_INJECTED]
    assert len(patched["spec"]["initContainers"]) >= 1


def test_injects_over_https_with_the_generated_ca(served: Served) -> None:
    _assert_injects(served)
    assert served.metric("hodegos_webhook_admissions_total", result="injected") >= 1
    assert served.metric("hodegos_webhook_admission_duration_seconds_count") >= 1
    assert served.metric("hodegos_webhook_cache_objects", kind="records") == 1
    assert served.metric("hodegos_webhook_containers_total", action="injected", language="python") >= 1
    assert served.metric("hodegos_webhook_containers_total", action="injected", language="nodejs") >= 1


TRUNCATED = review_body("t")[:-40]


@pytest.mark.parametrize(
    ("body", "headers", "status", "reason"),
    [
        pytest.param(TRUNCATED, HEADERS, 400, "InvalidJSON", id="truncated-json"),
        pytest.param(b"", HEADERS, 400, "EmptyBody", id="empty"),
        pytest.param(b"[1, 2]", HEADERS, 400, "NotAdmissionReview", id="json-array"),
        pytest.param(
            review_body().replace(b"admission.k8s.io/v1", b"admission.k8s.io/v1beta1"),
            HEADERS,
            400,
            "NotAdmissionReview",
            id="wrong-apiversion",
        ),
        pytest.param(
            review_body().replace(b'"kind":"AdmissionReview"', b'"kind":"TokenReview"'),
            HEADERS,
            400,
            "NotAdmissionReview",
            id="wrong-kind",
        ),
        pytest.param(
            orjson.dumps(
                {"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": {"x": 1}}
            ),
            HEADERS,
            400,
            "MissingUID",
            id="missing-uid",
        ),
        pytest.param(
            orjson.dumps({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview"}),
            HEADERS,
            400,
            "MissingRequest",
            id="missing-request",
        ),
        pytest.param(
            review_body().replace(b"shop/web", b"shop/\xff\xfeweb"),
            HEADERS,
            400,
            "InvalidUTF8",
            id="non-utf8",
        ),
        pytest.param(b"{" + b" " * (64 * 1024) + b"}", HEADERS, 413, "BodyTooLarge", id="oversized"),
        pytest.param(
            review_body(), {"content-type": "text/plain"}, 415, "UnsupportedMediaType", id="not-json-type"
        ),
    ],
)
def test_malformed_request_gets_a_clear_4xx_and_the_server_keeps_serving(
    served: Served, body: bytes, headers: Mapping[str, str], status: int, reason: str
) -> None:
    before = served.metric("hodegos_webhook_bad_requests_total", reason=reason)
    response = served.post(body, headers)
    assert response.status_code == status, response.text
    problem = response.json()
    assert problem["reason"] == reason
    assert len(problem["message"]) > 10
    assert served.metric("hodegos_webhook_bad_requests_total", reason=reason) == before + 1
    _assert_injects(served)


def test_oversized_chunked_body_without_length_is_cut_off(served: Served) -> None:
    def chunks() -> Iterator[bytes]:
        for _ in range(100):
            yield b" " * 1024

    response = served.client.post(served.url + MUTATE, content=chunks(), headers=HEADERS)
    assert response.status_code == 413
    assert response.json()["reason"] == "BodyTooLarge"
    _assert_injects(served)


def test_core_rejection_of_a_non_pod_request_is_a_400(served: Served) -> None:
    review = orjson.loads(review_body("uid-np"))
    review["request"]["object"] = {"kind": "Pod", "metadata": {}}  # no spec: the core refuses it
    response = served.post(orjson.dumps(review))
    assert response.status_code == 400
    assert response.json()["reason"] == "InvalidAdmissionReview"
    _assert_injects(served)


def test_update_and_dry_run_are_allowed_without_patch(served: Served) -> None:
    for change in ({"operation": "UPDATE"}, {"dryRun": True}):
        review = orjson.loads(review_body("uid-x"))
        review["request"].update(change)
        answer = served.post(orjson.dumps(review)).json()["response"]
        assert answer == {"uid": "uid-x", "allowed": True}


def test_health_readiness_and_tls_settings(served: Served) -> None:
    assert served.client.get(served.url + "/healthz").status_code == 200
    assert served.client.get(served.url + "/readyz").text == "ok"
    assert served.tls.context.minimum_version == ssl.TLSVersion.TLSv1_2


def _handshake(url: str, context: ssl.SSLContext) -> ssl.SSLSocket:
    port = int(url.rsplit(":", 1)[1])
    raw = socket.create_connection(("127.0.0.1", port), timeout=5)
    return context.wrap_socket(raw, server_hostname="localhost")


def test_tls_below_1_2_is_refused_and_http2_is_not_offered(served: Served) -> None:
    old = client_context(served.ca)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        old.minimum_version = ssl.TLSVersion.TLSv1
        old.maximum_version = ssl.TLSVersion.TLSv1_1
    old.set_ciphers("DEFAULT:@SECLEVEL=0")  # let this client speak TLS 1.1, so only the server can refuse
    with pytest.raises((ssl.SSLError, ConnectionError)):
        _handshake(served.url, old).close()
    # Control: the same client does complete TLS 1.1 with a server that allows it, so the refusal is ours.
    permissive = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        permissive.minimum_version = ssl.TLSVersion.TLSv1
    permissive.set_ciphers("DEFAULT:@SECLEVEL=0")
    permissive.load_cert_chain(served.tls.cert_file, served.tls.key_file)
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()

        def accept() -> None:
            conn, _ = listener.accept()
            with permissive.wrap_socket(conn, server_side=True):
                pass

        thread = threading.Thread(target=accept)
        thread.start()
        with _handshake(f"x:{listener.getsockname()[1]}", old) as tls:
            assert tls.version() == "TLSv1.1"
        thread.join(5)
    modern = client_context(served.ca)
    modern.set_alpn_protocols(["h2", "http/1.1"])
    with _handshake(served.url, modern) as tls:
        assert tls.version() in ("TLSv1.2", "TLSv1.3")
        assert tls.selected_alpn_protocol() == "http/1.1"


def test_a_client_trusting_another_ca_is_refused(served: Served, tmp_path: Path) -> None:
    other = issue(tmp_path)
    with pytest.raises(ssl.SSLCertVerificationError):
        _handshake(served.url, client_context(other.ca_bundle)).close()


# -- fail-safe: a late or failing core still answers allowed, with no patch -------------------------------


def test_core_late_answers_allowed_unchanged(tmp_path: Path) -> None:
    release = threading.Event()

    def slow(body: Mapping[str, Any], view: ClusterView, config: HodegosConfig) -> Outcome:
        release.wait(10)
        return admission.review(body, view, config)

    for served in _serve(tmp_path, review=slow, deadline=0.2):
        try:
            answer = served.post(review_body("late")).json()["response"]
        finally:
            release.set()
        assert answer == {"uid": "late", "allowed": True}
        assert served.metric("hodegos_webhook_failsafe_total", reason="deadline") == 1
        assert served.metric("hodegos_webhook_admissions_total", result="failsafe") == 1


def test_core_exception_answers_allowed_unchanged(tmp_path: Path) -> None:
    calls = 0

    def flaky(body: Mapping[str, Any], view: ClusterView, config: HodegosConfig) -> Outcome:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise KeyError("bug")
        return admission.review(body, view, config)

    for served in _serve(tmp_path, review=flaky):
        answer = served.post(review_body("boom")).json()["response"]
        assert answer == {"uid": "boom", "allowed": True}
        assert served.metric("hodegos_webhook_failsafe_total", reason="error") == 1
        _assert_injects(served)


def test_not_ready_until_the_cache_syncs(tmp_path: Path) -> None:
    class Unsynced:
        synced = False

        def namespace(self, name: str) -> Mapping[str, Any] | None:
            return None

        def record(self, namespace: str, name: str) -> Any:
            return None

        def sizes(self) -> dict[str, int]:
            return {"records": 0}

    view = Unsynced()
    app = create_app(view)
    with running(app) as url:
        response = httpx.get(url + "/readyz")
        assert response.status_code == 503 and "not synced" in response.text
        view.synced = True
        deadline = time.monotonic() + 5
        while httpx.get(url + "/readyz").status_code != 200:
            assert time.monotonic() < deadline
            time.sleep(0.05)


# -- the decoder never crashes: any bytes give a document or a 4xx ----------------------------------------


@settings(max_examples=500, deadline=None)
@given(
    st.one_of(
        st.binary(max_size=512),
        st.builds(lambda b, cut: b[:cut], st.just(review_body("fuzz")), st.integers(0, 800)),
        st.recursive(
            st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | st.text(max_size=20),
            lambda inner: (
                st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4)
            ),
            max_leaves=12,
        ).map(orjson.dumps),
    )
)
def test_decoder_answers_any_bytes_with_a_document_or_a_4xx(body: bytes) -> None:
    try:
        doc, uid = parse_review(body)
    except BadRequest as exc:
        assert 400 <= exc.status < 500 and exc.message
    else:
        assert doc["request"]["uid"] == uid and uid
