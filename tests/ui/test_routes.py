"""Every page and fragment of the UI through FastAPI's test client, against the real control plane.

Reads come from the UI's informers over the local cluster; writes go to its API server and are checked
there with the admin's own client. Bad input: unknown types and kinds, malformed forms and queries, a
missing or wrong CSRF token, a foreign origin, read-only mode.
"""

from __future__ import annotations

import base64
import re
import threading
import uuid
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any

import pytest
import yaml
from fastapi.testclient import TestClient

from api import constants
from kube import Api
from kube.resources import CONFIGMAPS, DEPLOYMENTS, DESTINATIONS, NAMESPACES, SECRETS
from tests.ui.conftest import (
    CANARY,
    SITE_OTHER,
    SITE_THIRD,
    Recorder,
    assert_no_canary,
    csrf_of,
    wait_for,
)
from ui import Cluster, Settings

pytestmark = pytest.mark.cluster

PAGES = [
    "/onboarding",
    "/onboarding/sources",
    "/onboarding/destination",
    "/onboarding/destination/datadog",
    "/onboarding/summary",
    "/overview",
    "/overview/pipeline",
    "/sources",
    "/sources/table",
    "/sources/table?state=ignored",
    "/sources?language=python&q=x&page=2",
    "/destinations",
    "/destinations/new",
    "/destinations/new?q=jaeger",
    "/destinations/catalogue?q=data",
    "/destinations/catalogue?base=/onboarding/destination",
    "/collectors",
    "/settings",
] + [f"/destinations/new/{t}" for t in ("datadog", "otlp", "otlphttp", "honeycomb", "kafka", "dynamic")]


def _name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:6]}"


def _deployment(namespace: str, name: str, annotations: dict[str, str] | None = None) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": namespace, "annotations": annotations or {}},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": "app", "image": "example.invalid/app:1"}]},
            },
        },
    }


@pytest.fixture
def destination_names(admin_api: Api, system_namespace: str) -> Iterator[list[str]]:
    names: list[str] = []
    yield names
    for name in names:
        admin_api.delete(DESTINATIONS, system_namespace, name)
        admin_api.delete(SECRETS, system_namespace, f"hodegos-destination-{name}")


@pytest.fixture
def restore_config(admin_api: Api, system_namespace: str) -> Iterator[None]:
    before = admin_api.get(CONFIGMAPS, system_namespace, constants.CONFIG_MAP)
    yield
    admin_api.delete(CONFIGMAPS, system_namespace, constants.CONFIG_MAP)
    if before is not None:
        admin_api.create(
            CONFIGMAPS,
            system_namespace,
            {"metadata": {"name": constants.CONFIG_MAP}, "data": before.get("data") or {}},
        )


# -- pages and headers -----------------------------------------------------------------------------------


@pytest.mark.parametrize("path", PAGES)
def test_every_page_renders_with_security_headers(client: TestClient, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 200, response.text[:500]
    assert response.headers["content-type"].startswith("text/html")
    csp = response.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp and "unsafe-eval" not in csp
    assert "frame-ancestors 'none'" in csp
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert (
        "<script>" not in response.text and " style=" not in response.text and "onclick" not in response.text
    )


def test_home_sends_a_fresh_cluster_to_onboarding(client: TestClient, ui_cluster: Cluster) -> None:
    response = client.get("/", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == ("/overview" if ui_cluster.destination_list() else "/onboarding")


def test_static_files_and_htmx_are_served(client: TestClient) -> None:
    from ui import assets

    assert client.get("/static/hodegos.css").status_code == 200
    assert "data-show-if" in client.get("/static/hodegos.js").text
    htmx = client.get("/static/htmx.min.js")
    assert htmx.status_code == 200 and "htmx" in htmx.text
    import hashlib

    assert hashlib.sha256(htmx.content).hexdigest() == assets.HTMX_SHA256
    assert client.get("/static/../app.py").status_code == 404
    assert client.get("/static/secret.txt").status_code == 404


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/destinations/new/no-such-type", 404),
        ("/onboarding/destination/no-such-type", 404),
        ("/destinations/no-such-destination/edit", 404),
        ("/sources/default/Deployment/no-such-workload", 404),
        ("/sources/default/Pod/x", 404),
        ("/sources?page=abc", 422),
        ("/sources?state=bogus", 422),
        ("/destinations/catalogue?base=https://evil.example", 422),
        ("/no/such/page", 404),
    ],
)
def test_bad_addresses_get_a_clear_error_page(client: TestClient, path: str, status: int) -> None:
    response = client.get(path)
    assert response.status_code == status
    assert 'role="alert"' in response.text
    assert response.headers["x-frame-options"] == "DENY"


def test_htmx_errors_are_retargeted_to_the_flash_region(client: TestClient) -> None:
    token = csrf_of(client)
    response = client.post(
        "/sources/default/Deployment/no-such-workload/instrumentation",
        data={"state": "enabled"},
        headers={"HX-Request": "true", "X-CSRF-Token": token},
    )
    assert response.status_code == 404
    assert response.headers["hx-retarget"] == "#flash"
    assert "<html" not in response.text and "does not exist" in response.text


# -- CSRF, origin, read-only -----------------------------------------------------------------------------


def test_state_changes_need_the_csrf_token(
    client: TestClient, admin_api: Api, system_namespace: str, destination_names: list[str]
) -> None:
    name = _name("csrf")
    destination_names.append(name)
    form = {
        "name": name,
        "signals": "traces",
        "f.DATADOG_SITE": SITE_OTHER,
        "f.DATADOG_API_KEY": CANARY,
    }
    fresh = TestClient(client.app, base_url="http://127.0.0.1:3000")
    assert fresh.post("/destinations/new/datadog", data=form).status_code == 403  # no cookie at all
    token = csrf_of(client)
    assert client.post("/destinations/new/datadog", data=form).status_code == 403  # cookie, no token
    assert client.post("/destinations/new/datadog", data={**form, "csrf_token": "0" * 64}).status_code == 403
    assert (
        client.post("/settings", data={"f.mode": "opt-out"}, headers={"X-CSRF-Token": "nope"}).status_code
        == 403
    )
    foreign = client.post(
        "/destinations/new/datadog",
        data={**form, "csrf_token": token},
        headers={"Origin": "https://evil.example"},
    )
    assert foreign.status_code == 403
    cross = client.post(
        "/destinations/new/datadog",
        data={**form, "csrf_token": token},
        headers={"Sec-Fetch-Site": "cross-site"},
    )
    assert cross.status_code == 403
    assert admin_api.get(DESTINATIONS, system_namespace, name) is None


def test_the_csrf_cookie_is_strict_and_http_only(client: TestClient) -> None:
    cookie = client.get("/overview").headers["set-cookie"]
    assert "hodegos_csrf=" in cookie and "HttpOnly" in cookie and "SameSite=strict" in cookie
    assert "set-cookie" not in client.get("/overview").headers  # kept once set


def test_read_only_hides_and_refuses_every_write(
    make_client: Callable[..., TestClient],
    admin_api: Api,
    system_namespace: str,
    make_namespace: Callable[..., str],
) -> None:
    ns = make_namespace()
    client = make_client(Settings(read_only=True))
    page = client.get("/destinations/new/datadog").text
    assert "Read-only" in page and "Create destination" not in page and "Test connection" not in page
    assert "Add destination" not in client.get("/destinations").text
    assert "Enable namespace" not in client.get("/sources").text
    assert "<button" not in client.get("/settings").text
    token = csrf_of(client)
    for path, data in [
        ("/destinations/new/datadog", {"name": "ro", "signals": "traces", "f.DATADOG_API_KEY": CANARY}),
        (f"/sources/namespaces/{ns}/instrumentation", {"state": "enabled"}),
        ("/settings", {"f.mode": "opt-out"}),
        ("/onboarding/mode", {"mode": "opt-out"}),
        ("/destinations/new/datadog/test", {"signals": "traces"}),
    ]:
        response = client.post(path, data={**data, "csrf_token": token})
        assert response.status_code == 403, path
        assert "read-only" in response.text
    assert admin_api.get(DESTINATIONS, system_namespace, "ro") is None
    annotations = (admin_api.get(NAMESPACES, None, ns) or {})["metadata"].get("annotations") or {}
    assert constants.ANNOTATION_INSTRUMENTATION not in annotations


# -- destinations ----------------------------------------------------------------------------------------


def _secret_value(admin_api: Api, namespace: str, name: str, key: str) -> str | None:
    secret = admin_api.get(SECRETS, namespace, name) or {}
    value = (secret.get("data") or {}).get(key)
    return base64.b64decode(value).decode() if value else None


def test_create_edit_disable_delete_a_datadog_destination(
    client: TestClient,
    admin_api: Api,
    system_namespace: str,
    destination_names: list[str],
    recorder: Recorder,
    ui_cluster: Cluster,
) -> None:
    name = _name("dd")
    destination_names.append(name)
    token = csrf_of(client)
    created = client.post(
        "/destinations/new/datadog",
        data={"csrf_token": token, "name": name, "signals": ["traces", "metrics"],
              "f.DATADOG_SITE": SITE_OTHER, "f.DATADOG_API_KEY": CANARY},
        follow_redirects=False,
    )  # fmt: skip
    assert created.status_code == 303, created.text[:800]
    dest = admin_api.get(DESTINATIONS, system_namespace, name)
    assert dest is not None
    assert dest["spec"]["type"] == "datadog" and dest["spec"]["signals"] == ["traces", "metrics"]
    assert dest["spec"]["data"] == {"DATADOG_SITE": SITE_OTHER}
    secret_name = dest["spec"]["secretRef"]["name"]
    assert _secret_value(admin_api, system_namespace, secret_name, "DATADOG_API_KEY") == CANARY
    secret = admin_api.get(SECRETS, system_namespace, secret_name) or {}
    assert secret["metadata"]["ownerReferences"][0]["uid"] == dest["metadata"]["uid"]

    # editing shows the key as stored, never its value; saving without retyping keeps it
    edit = client.get(f"/destinations/{name}/edit")
    assert edit.status_code == 200 and "Stored — leave empty to keep" in edit.text
    saved = client.post(
        f"/destinations/{name}/edit",
        data={"csrf_token": token, "signals": ["traces"], "f.DATADOG_SITE": SITE_THIRD,
              "f.DATADOG_API_KEY": ""},
        follow_redirects=False,
    )  # fmt: skip
    assert saved.status_code == 303, saved.text[:800]
    dest = admin_api.get(DESTINATIONS, system_namespace, name) or {}
    assert dest["spec"]["data"] == {"DATADOG_SITE": SITE_THIRD} and dest["spec"]["signals"] == ["traces"]
    assert _secret_value(admin_api, system_namespace, secret_name, "DATADOG_API_KEY") == CANARY

    # typing a new key replaces it
    client.post(
        f"/destinations/{name}/edit",
        data={"csrf_token": token, "signals": ["traces"], "f.DATADOG_SITE": SITE_THIRD,
              "f.DATADOG_API_KEY": CANARY + "-2"},
    )  # fmt: skip
    assert _secret_value(admin_api, system_namespace, secret_name, "DATADOG_API_KEY") == CANARY + "-2"

    assert client.post(f"/destinations/{name}/disable", data={"csrf_token": token}).status_code == 200
    assert (admin_api.get(DESTINATIONS, system_namespace, name) or {})["spec"]["disabled"] is True
    assert "Disabled" in client.get("/destinations").text
    client.post(f"/destinations/{name}/enable", data={"csrf_token": token})
    assert (admin_api.get(DESTINATIONS, system_namespace, name) or {})["spec"]["disabled"] is False
    assert f"{name}" in client.get("/overview").text

    assert client.post(f"/destinations/{name}/delete", data={"csrf_token": token}).status_code == 200
    assert admin_api.get(DESTINATIONS, system_namespace, name) is None
    assert admin_api.get(SECRETS, system_namespace, secret_name) is None
    assert client.get(f"/destinations/{name}/edit").status_code == 404
    assert_no_canary(recorder)


def test_a_missing_required_field_is_shown_beside_it_and_nothing_is_created(
    client: TestClient, admin_api: Api, system_namespace: str, destination_names: list[str]
) -> None:
    name = _name("missing")
    destination_names.append(name)
    token = csrf_of(client)
    response = client.post(
        "/destinations/new/datadog",
        data={"csrf_token": token, "name": name, "signals": "traces", "f.DATADOG_SITE": SITE_OTHER},
    )
    assert response.status_code == 422
    error = re.search(r'<p class="error" id="f-DATADOG_API_KEY-error">([^<]+)</p>', response.text)
    assert error and error.group(1) == "Required."
    assert 'aria-describedby="f-DATADOG_API_KEY-error"' in response.text
    assert f'value="{name}"' in response.text  # what was typed is kept (secrets excepted)
    assert admin_api.get(DESTINATIONS, system_namespace, name) is None
    assert admin_api.get(SECRETS, system_namespace, f"hodegos-destination-{name}") is None


def test_every_problem_is_reported_at_once(client: TestClient) -> None:
    token = csrf_of(client)
    response = client.post(
        "/destinations/new/datadog",
        data={"csrf_token": token, "name": "Not A Name!", "f.DATADOG_SITE": "nope"},
    )
    assert response.status_code == 422
    assert 'id="dest-name-error"' in response.text
    assert 'id="signals-error">Choose at least one signal.' in response.text
    response = client.post(
        "/destinations/new/datadog",
        data={"csrf_token": token, "name": "fine", "signals": "traces", "f.DATADOG_SITE": "nope"},
    )
    assert 'id="f-DATADOG_SITE-error"' in response.text and 'id="f-DATADOG_API_KEY-error"' in response.text


@pytest.mark.parametrize(
    "form",
    [
        {"name": "x", "signals": "profiles"},  # a signal the form never offers
        {"name": "x", "signals": ["traces", "bogus"]},
        {"name": "new", "signals": "traces", "f.DATADOG_API_KEY": "k"},  # reserved
        {"signals": "traces", "f.DATADOG_API_KEY": "k"},  # no name at all
    ],
)
def test_malformed_destination_forms_are_refused(client: TestClient, form: dict[str, Any]) -> None:
    response = client.post("/destinations/new/datadog", data={"csrf_token": csrf_of(client), **form})
    assert response.status_code == 422
    assert "Nothing was saved" in response.text


def test_a_taken_name_is_refused(
    client: TestClient, admin_api: Api, system_namespace: str, destination_names: list[str]
) -> None:
    name = _name("taken")
    destination_names.append(name)
    token = csrf_of(client)
    form = {"csrf_token": token, "name": name, "signals": "traces", "f.JAEGER_URL": "jaeger:4317"}
    assert client.post("/destinations/new/jaeger", data=form, follow_redirects=False).status_code == 303
    again = client.post("/destinations/new/jaeger", data=form)
    assert again.status_code == 422 and "already exists" in again.text


def test_unknown_type_posts_are_404(client: TestClient) -> None:
    token = csrf_of(client)
    assert client.post("/destinations/new/nope", data={"csrf_token": token}).status_code == 404
    assert client.post("/destinations/new/nope/test", data={"csrf_token": token}).status_code == 404
    assert client.post("/destinations/nope/delete", data={"csrf_token": token}).status_code == 404


class _Otlp(BaseHTTPRequestHandler):
    """A loopback OTLP/HTTP endpoint that accepts an export with the right basic auth (the test's backend)."""

    seen: list[dict[str, str]] = []
    expected = "Basic " + base64.b64encode(f"ui-user:{CANARY}".encode()).decode()

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("content-length") or 0))
        _Otlp.seen.append({k.lower(): v for k, v in self.headers.items()} | {"path": self.path})
        self.send_response(200 if self.headers.get("authorization") == self.expected else 401)
        self.send_header("content-type", "application/x-protobuf")
        self.send_header("content-length", "0")
        self.end_headers()

    def log_message(self, *_args: object) -> None:
        pass


@pytest.fixture
def otlp_endpoint() -> Iterator[str]:
    _Otlp.seen.clear()
    server = HTTPServer(("127.0.0.1", 0), _Otlp)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()


def test_test_connection_reaches_the_endpoint_with_the_secret_and_never_echoes_it(
    client: TestClient, otlp_endpoint: str, recorder: Recorder
) -> None:
    token = csrf_of(client)
    form = {"csrf_token": token, "signals": "traces", "f.OTLP_HTTP_ENDPOINT": otlp_endpoint,
            "f.OTLP_HTTP_BASIC_AUTH_USERNAME": "ui-user", "f.OTLP_HTTP_BASIC_AUTH_PASSWORD": CANARY,
            "f.OTLP_HTTP_HEADERS.k": ["x-team", ""], "f.OTLP_HTTP_HEADERS.v": ["checkout", ""]}  # fmt: skip
    ok = client.post("/destinations/new/otlphttp/test", data=form, headers={"HX-Request": "true"})
    assert ok.status_code == 200 and "Connection works" in ok.text, ok.text
    assert _Otlp.seen[-1]["path"] == "/v1/traces" and _Otlp.seen[-1]["x-team"] == "checkout"
    wrong = client.post(
        "/destinations/new/otlphttp/test", data={**form, "f.OTLP_HTTP_BASIC_AUTH_PASSWORD": "wrong-password"},
        headers={"HX-Request": "true"},
    )  # fmt: skip
    assert "Connection failed" in wrong.text and "authentication refused" in wrong.text
    assert CANARY not in ok.text + wrong.text
    assert_no_canary(recorder)


def test_test_connection_of_an_invalid_form_says_what_is_missing(client: TestClient) -> None:
    response = client.post(
        "/destinations/new/otlphttp/test", data={"csrf_token": csrf_of(client), "signals": "traces"},
        headers={"HX-Request": "true"},
    )  # fmt: skip
    assert (
        response.status_code == 200 and "invalid" in response.text and "OTLP_HTTP_ENDPOINT" in response.text
    )


def test_test_connection_to_a_closed_port_says_unreachable(client: TestClient) -> None:
    token = csrf_of(client)
    response = client.post(
        "/destinations/new/otlp/test",
        data={"csrf_token": token, "signals": "traces", "f.OTLP_GRPC_ENDPOINT": "127.0.0.1:9"},
        headers={"HX-Request": "true"},
    )
    assert response.status_code == 200
    assert "Connection failed" in response.text


# -- sources ---------------------------------------------------------------------------------------------


def test_toggles_write_the_annotation_and_answer_with_the_row(
    client: TestClient, admin_api: Api, make_namespace: Callable[..., str], ui_cluster: Cluster
) -> None:
    ns = make_namespace()
    name = _name("web")
    admin_api.create(DEPLOYMENTS, ns, _deployment(ns, name))
    wait_for("the UI's cache to see the deployment", lambda: ui_cluster.workload("Deployment", ns, name))
    token = csrf_of(client)
    htmx = {"HX-Request": "true", "X-CSRF-Token": token}

    row = client.post(
        f"/sources/{ns}/Deployment/{name}/instrumentation", data={"state": "enabled"}, headers=htmx
    )
    assert row.status_code == 200 and row.text.lstrip().startswith("<tr")
    assert (
        "WorkloadAnnotation" in row.text and 'aria-pressed="true" aria-label="Enable Deployment' in row.text
    )
    workload = admin_api.get(DEPLOYMENTS, ns, name) or {}
    assert workload["metadata"]["annotations"][constants.ANNOTATION_INSTRUMENTATION] == "enabled"

    client.post(f"/sources/{ns}/Deployment/{name}/instrumentation", data={"state": "inherit"}, headers=htmx)
    workload = admin_api.get(DEPLOYMENTS, ns, name) or {}
    assert constants.ANNOTATION_INSTRUMENTATION not in (workload["metadata"].get("annotations") or {})

    ns_row = client.post(
        f"/sources/namespaces/{ns}/instrumentation", data={"state": "disabled"}, headers=htmx
    )
    assert ns_row.status_code == 200 and f'id="ns-{ns}"' in ns_row.text
    namespace = admin_api.get(NAMESPACES, None, ns) or {}
    assert namespace["metadata"]["annotations"][constants.ANNOTATION_INSTRUMENTATION] == "disabled"
    details = client.get(f"/sources/{ns}/Deployment/{name}")
    assert details.status_code == 200 and "NamespaceAnnotation" in details.text

    plain = client.post(
        f"/sources/{ns}/Deployment/{name}/instrumentation", data={"state": "enabled", "csrf_token": token},
        follow_redirects=False,
    )  # fmt: skip
    assert plain.status_code == 303 and plain.headers["location"] == f"/sources/{ns}/Deployment/{name}"

    bad = client.post(
        f"/sources/{ns}/Deployment/{name}/instrumentation", data={"state": "maybe"}, headers=htmx
    )
    assert bad.status_code == 422
    missing = client.post(f"/sources/{ns}/Deployment/{name}/instrumentation", data={}, headers=htmx)
    assert missing.status_code == 422
    gone = client.post(
        "/sources/namespaces/no-such-ns/instrumentation", data={"state": "enabled"}, headers=htmx
    )
    assert gone.status_code == 404

    recover = client.post(f"/sources/{ns}/Deployment/{name}/recover", headers=htmx, follow_redirects=False)
    assert recover.status_code == 303
    workload = admin_api.get(DEPLOYMENTS, ns, name) or {}
    assert workload["metadata"]["annotations"][constants.ANNOTATION_RECOVER] == "true"


def test_sources_filter_and_paginate(
    make_client: Callable[..., TestClient],
    admin_api: Api,
    make_namespace: Callable[..., str],
    ui_cluster: Cluster,
) -> None:
    ns = make_namespace(annotations={constants.ANNOTATION_INSTRUMENTATION: "enabled"})
    for i in range(7):
        admin_api.create(DEPLOYMENTS, ns, _deployment(ns, f"svc-{i}"))

    def mine() -> int:
        return sum(1 for w in ui_cluster.all_workloads() if w["metadata"]["namespace"] == ns)

    wait_for("7 deployments in the cache", lambda: mine() == 7)
    client = make_client(Settings(page_size=5))
    first = client.get(f"/sources/table?namespace={ns}", headers={"HX-Request": "true"})
    assert first.headers["hx-push-url"] == f"/sources?namespace={ns}"
    assert first.text.count("<tr id=") == 5 and "Page 1 of 2" in first.text and "svc-0" in first.text
    second = client.get(f"/sources/table?namespace={ns}&page=2")
    assert second.text.count("<tr id=") == 2 and "svc-6" in second.text
    assert client.get(f"/sources/table?namespace={ns}&page=99").text.count("<tr id=") == 2  # clamped
    one = client.get(f"/sources/table?namespace={ns}&q=SVC-3")
    assert one.text.count("<tr id=") == 1
    assert client.get(f"/sources/table?namespace={ns}&state=off").text.count("<tr id=") == 0
    assert client.get(f"/sources/table?namespace={ns}&state=pending").text.count("<tr id=") == 5
    assert client.get(f"/sources/table?namespace={ns}&language=cobol").text.count("<tr id=") == 0


# -- settings and onboarding -----------------------------------------------------------------------------


def test_settings_save_and_validation_errors_beside_the_field(
    client: TestClient, admin_api: Api, system_namespace: str, restore_config: None, ui_cluster: Cluster
) -> None:
    token = csrf_of(client)
    form = {"csrf_token": token, "f.mode": "opt-out", "f.ignoredNamespaces": "kube-system\nlegacy",
            "f.ignoredContainers": "istio-proxy", "f.defaultSampler.name": "parentbased_traceidratio",
            "f.defaultSampler.argument": "0.25", "f.imageRegistry": "registry.example/hodegos",
            "f.rollout.automatic": "true", "f.rollout.maxConcurrent": "3",
            "f.rollback.stabilityWindowSeconds": "900"}  # fmt: skip
    saved = client.post("/settings", data=form, follow_redirects=False)
    assert saved.status_code == 303
    cm = admin_api.get(CONFIGMAPS, system_namespace, constants.CONFIG_MAP) or {}
    config = yaml.safe_load(cm["data"]["config.yaml"])
    assert config["mode"] == "opt-out" and config["ignoredNamespaces"] == ["kube-system", "legacy"]
    assert config["defaultSampler"] == {"name": "parentbased_traceidratio", "argument": "0.25"}
    assert config["rollout"] == {"automatic": True, "maxConcurrent": 3}
    assert config["rollback"] == {"enabled": False, "stabilityWindowSeconds": 900}
    wait_for("the live configuration", lambda: ui_cluster.config.mode == "opt-out", 30)
    assert 'value="registry.example/hodegos"' in client.get("/settings").text

    bad = client.post(
        "/settings", data={**form, "f.rollout.maxConcurrent": "0", "f.defaultSampler.argument": "2"}
    )
    assert bad.status_code == 422
    assert re.search(r'id="f-rollout.maxConcurrent-error">[^<]*greater than or equal to 1', bad.text)
    assert 'id="f-defaultSampler.argument-error"' in bad.text
    after = admin_api.get(CONFIGMAPS, system_namespace, constants.CONFIG_MAP) or {}
    assert after["metadata"]["resourceVersion"] == cm["metadata"]["resourceVersion"]  # nothing written


def test_onboarding_mode_writes_the_config_and_bad_input_is_refused(
    client: TestClient, admin_api: Api, system_namespace: str, restore_config: None
) -> None:
    token = csrf_of(client)
    response = client.post(
        "/onboarding/mode", data={"csrf_token": token, "mode": "opt-in"}, follow_redirects=False
    )
    assert response.status_code == 303 and response.headers["location"] == "/onboarding/sources"
    cm = admin_api.get(CONFIGMAPS, system_namespace, constants.CONFIG_MAP) or {}
    assert yaml.safe_load(cm["data"]["config.yaml"])["mode"] == "opt-in"
    assert client.post("/onboarding/mode", data={"csrf_token": token, "mode": "sometimes"}).status_code == 422
    assert client.post("/onboarding/mode", data={"csrf_token": token}).status_code == 422
    bad = client.post("/onboarding/sources", data={"csrf_token": token, "workload": "default/Pod/x"})
    assert bad.status_code == 422
    missing = client.post("/onboarding/sources", data={"csrf_token": token, "namespace": "no-such-namespace"})
    assert missing.status_code == 404
