"""The Actions and Sampling pages through FastAPI's test client, against the real control plane.

Writes go to the API server and are checked there with the admin's own client. No controllers run in this
module: where a page shows the ``Applied`` condition, the test writes it on the status subresource as the
controllers do (the browser tests see the real controllers write it).
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api import constants
from api.models import ACTION_KINDS, SAMPLING_KINDS
from kube import Api
from kube.resources import ACTIONS, DEPLOYMENTS, SAMPLING_RULES
from pipelines import kinds
from tests.ui.conftest import csrf_of, wait_for
from ui import Cluster, Settings

pytestmark = pytest.mark.cluster

PAGES = (
    ["/actions", "/actions/list", "/actions/new", "/sampling", "/sampling/list", "/sampling/new"]
    + [f"/actions/new/{k}" for k in ACTION_KINDS]
    + [f"/sampling/new/{k}" for k in SAMPLING_KINDS]
)


Made = list[tuple[Any, str]]  # (resource, name) to delete after the test


def _name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:6]}"


@pytest.fixture
def cleanup(admin_api: Api, system_namespace: str) -> Iterator[list[tuple[Any, str]]]:
    made: list[tuple[Any, str]] = []
    yield made
    for res, name in made:
        admin_api.delete(res, system_namespace, name)


def _errors(html: str) -> dict[str, str]:
    return dict(re.findall(r'<p class="error" id="([^"]+)-error">([^<]+)</p>', html))


@pytest.mark.parametrize("path", PAGES)
def test_every_page_and_fragment_renders_with_security_headers(client: TestClient, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 200, response.text[:500]
    assert response.headers["x-frame-options"] == "DENY"
    assert "script-src 'self'" in response.headers["content-security-policy"]
    assert "<script>" not in response.text and " style=" not in response.text


def test_the_navigation_and_the_catalogues(client: TestClient) -> None:
    page = client.get("/actions").text
    assert '<a href="/actions" aria-current="page">Actions</a>' in page and 'href="/sampling"' in page
    catalogue = client.get("/actions/new").text
    for kind in ACTION_KINDS:
        k = kinds.get_kind(kind)
        assert f'<a href="/actions/new/{kind}">{k.display_name}</a>' in catalogue
        assert k.description.split()[0] in catalogue
    sampling = client.get("/sampling/new").text
    assert all(f'href="/sampling/new/{k}"' in sampling for k in SAMPLING_KINDS)
    assert "/actions/new/" not in sampling


def test_forms_are_generated_from_the_kind_files(client: TestClient) -> None:
    pii = client.get("/actions/new/piiMasking").text
    for f in kinds.get_kind("piiMasking").fields:
        assert f'<label for="f-{f.name}">{f.label}</label>' in pii
    assert 'id="f-creditCard" name="f.creditCard" value="true" checked' in pii  # default on
    assert 'id="f-ipv4" name="f.ipv4" value="true">' in pii  # default off
    for label in ("Name", "Traces", "Metrics", "Logs", "Namespaces", "Workloads", "Disabled"):
        assert f">{label}</label>" in pii, label
    assert ">Create action</button>" in pii
    latency = client.get("/sampling/new/latency").text
    assert ">Create rule</button>" in latency and 'name="signals"' not in latency
    # tail sampling on the gateway: namespaces only
    assert ">Namespaces</label>" in latency and ">Workloads</label>" not in latency
    k8s = client.get("/actions/new/k8sAttributes").text
    assert ">Namespaces</label>" not in k8s and "applies to every source" in k8s


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/actions/new/latency", 404),  # a sampling kind is not an action
        ("/sampling/new/piiMasking", 404),
        ("/actions/new/nope", 404),
        ("/actions/no-such-action/edit", 404),
        ("/sampling/no-such-rule/edit", 404),
    ],
)
def test_bad_addresses_get_a_clear_error(client: TestClient, path: str, status: int) -> None:
    response = client.get(path)
    assert response.status_code == status and 'role="alert"' in response.text


def test_posts_to_unknown_objects_are_404(client: TestClient) -> None:
    token = csrf_of(client)
    for path in ("/actions/new/nope", "/actions/nope/edit", "/actions/nope/disable", "/actions/nope/enable",
                 "/actions/nope/delete", "/sampling/nope/delete",
                 "/sampling/new/renameAttribute"):  # fmt: skip
        assert client.post(path, data={"csrf_token": token}).status_code == 404, path


def test_create_edit_disable_delete_an_action(
    client: TestClient,
    admin_api: Api,
    system_namespace: str,
    cleanup: Made,
    make_namespace: Callable[..., str],
) -> None:
    ns = make_namespace()
    name = _name("mask")
    cleanup.append((ACTIONS, name))
    token = csrf_of(client)
    created = client.post(
        "/actions/new/piiMasking",
        data={"csrf_token": token, "name": name, "signals": ["traces", "logs"], "f.creditCard": "true",
              "f.jwt": "true", "f.customPatterns": "secret-[0-9]+\n\norder-[a-z]+", "namespaces": ns,
              "workloads": f"{ns}/Deployment/web"},
        follow_redirects=False,
    )  # fmt: skip
    assert created.status_code == 303 and created.headers["location"] == "/actions", created.text[:800]
    obj = admin_api.get(ACTIONS, system_namespace, name) or {}
    assert obj["spec"] == {
        "piiMasking": {"creditCard": True, "email": False, "jwt": True, "ipv4": False,
                       "customPatterns": ["secret-[0-9]+", "order-[a-z]+"]},
        "signals": ["traces", "logs"],
        "disabled": False,
        "scope": {"namespaces": [ns], "workloads": [{"namespace": ns, "kind": "Deployment", "name": "web"}]},
    }  # fmt: skip
    assert obj["metadata"]["labels"][constants.LABEL_PART_OF] == constants.PRODUCT
    listed = client.get("/actions").text
    assert f'id="rule-{name}"' in listed and "Mask PII" in listed and f"namespace {ns}" in listed
    assert "Traces, Logs" in listed and "Waiting" in listed

    edit = client.get(f"/actions/{name}/edit").text
    assert "secret-[0-9]+\norder-[a-z]+</textarea>" in edit and f'<option value="{ns}" selected>' in edit
    saved = client.post(
        f"/actions/{name}/edit",
        data={"csrf_token": token, "name": "ignored", "signals": "traces", "f.email": "true"},
        follow_redirects=False,
    )
    assert saved.status_code == 303
    obj = admin_api.get(ACTIONS, system_namespace, name) or {}
    assert obj["spec"] == {
        "piiMasking": {"creditCard": False, "email": True, "jwt": False, "ipv4": False},
        "signals": ["traces"],
        "disabled": False,
    }  # the scope and the patterns left out of the form are gone
    assert admin_api.get(ACTIONS, system_namespace, "ignored") is None

    assert client.post(f"/actions/{name}/disable", data={"csrf_token": token}).status_code == 200
    assert (admin_api.get(ACTIONS, system_namespace, name) or {})["spec"]["disabled"] is True
    assert 'badge-off">Disabled' in client.get("/actions").text
    client.post(f"/actions/{name}/enable", data={"csrf_token": token})
    obj = admin_api.get(ACTIONS, system_namespace, name) or {}
    assert obj["spec"]["disabled"] is False and obj["spec"]["piiMasking"]["email"] is True

    assert client.post(f"/actions/{name}/delete", data={"csrf_token": token}).status_code == 200
    assert admin_api.get(ACTIONS, system_namespace, name) is None
    assert f'id="rule-{name}"' not in client.get("/actions").text
    assert client.get(f"/actions/{name}/edit").status_code == 404


def test_saving_an_object_made_elsewhere_stores_what_the_form_shows(
    client: TestClient, admin_api: Api, system_namespace: str, cleanup: Made, ui_cluster: Cluster
) -> None:
    name = _name("kubectl")
    cleanup.append((SAMPLING_RULES, name))
    admin_api.create(SAMPLING_RULES, system_namespace, {
        "apiVersion": constants.API_VERSION, "kind": "SamplingRule", "metadata": {"name": name},
        "spec": {"latency": {"thresholdMs": 800, "route": "/checkout"}, "scope": {"namespaces": ["shop"]}},
    })  # fmt: skip
    wait_for("the UI cache", lambda: ui_cluster.sampling_rules.get(system_namespace, name))
    edit = client.get(f"/sampling/{name}/edit").text
    assert 'value="800"' in edit and 'value="/checkout"' in edit and "shop (does not exist)" in edit
    saved = client.post(
        f"/sampling/{name}/edit",
        data={"csrf_token": csrf_of(client), "f.thresholdMs": "1200", "f.service": "cart"},
        follow_redirects=False,
    )
    assert saved.status_code == 303
    spec = (admin_api.get(SAMPLING_RULES, system_namespace, name) or {})["spec"]
    assert spec == {"latency": {"thresholdMs": 1200, "service": "cart"}, "disabled": False}


def test_a_missing_required_field_is_shown_beside_it_and_nothing_is_created(
    client: TestClient, admin_api: Api, system_namespace: str
) -> None:
    name = _name("slow")
    response = client.post("/sampling/new/latency", data={"csrf_token": csrf_of(client), "name": name})
    assert response.status_code == 422
    assert _errors(response.text) == {"f-thresholdMs": "Required."}
    assert 'aria-describedby="f-thresholdMs-error"' in response.text
    assert f'value="{name}"' in response.text
    assert "Nothing was saved" in response.text
    assert admin_api.get(SAMPLING_RULES, system_namespace, name) is None


@pytest.mark.parametrize(
    ("path", "form", "errors"),
    [
        ("/actions/new/renameAttribute", {"name": "Bad Name", "signals": "bogus", "f.from": "a"},
         {"rule-name", "signals", "f-to"}),
        ("/actions/new/piiMasking", {"name": "x", "signals": "traces", "f.customPatterns": "(x"},
         {"f-customPatterns"}),
        ("/actions/new/deleteAttribute", {"name": "x", "f.names": "a"}, {"signals"}),
        ("/actions/new/deleteAttribute", {"name": "x", "signals": "logs", "f.names": "a",
                                          "workloads": "just-a-name"}, {"rule-workloads"}),
        ("/sampling/new/percentage", {"name": "x", "f.percent": "101"}, {"f-percent"}),
        ("/sampling/new/head", {"name": "new", "f.ratio": "0.5"}, {"rule-name"}),
        ("/sampling/new/dropOperations", {"name": "x"}, set()),  # a form-wide error: nothing to drop
        ("/sampling/new/errors", {"name": "x", "namespaces": "NOT_OK"}, {"rule-namespaces"}),
    ],
)  # fmt: skip
def test_bad_forms_are_refused_with_the_error_beside_the_field(
    client: TestClient,
    admin_api: Api,
    system_namespace: str,
    path: str,
    form: dict[str, Any],
    errors: set[str],
) -> None:
    response = client.post(path, data={"csrf_token": csrf_of(client), **form})
    assert response.status_code == 422
    assert set(_errors(response.text)) == errors
    if not errors:
        assert 'id="form-error"' in response.text
    res = ACTIONS if path.startswith("/actions") else SAMPLING_RULES
    assert admin_api.get(res, system_namespace, str(form["name"])) is None


def test_a_taken_name_is_refused(
    client: TestClient, admin_api: Api, system_namespace: str, cleanup: Made
) -> None:
    name = _name("errors")
    cleanup.append((SAMPLING_RULES, name))
    form = {"csrf_token": csrf_of(client), "name": name}
    assert client.post("/sampling/new/errors", data=form, follow_redirects=False).status_code == 303
    again = client.post("/sampling/new/errors", data=form)
    assert again.status_code == 422 and "already exists" in again.text


def test_the_list_shows_the_applied_condition_and_refreshes_as_a_fragment(
    client: TestClient, admin_api: Api, system_namespace: str, cleanup: Made, ui_cluster: Cluster
) -> None:
    name = _name("info")
    cleanup.append((ACTIONS, name))
    token = csrf_of(client)
    form = {"csrf_token": token, "name": name, "signals": "traces", "f.clusterName": "c1"}
    client.post("/actions/new/addClusterInfo", data=form)
    obj = admin_api.get(ACTIONS, system_namespace, name) or {}
    generation = obj["metadata"]["generation"]
    status = {"observedGeneration": generation, "conditions": [{
        "type": "Applied", "status": "False", "reason": "NoGateway", "message": "no gateway runs yet",
        "observedGeneration": generation, "lastTransitionTime": "2026-01-01T00:00:00Z"}]}  # fmt: skip
    admin_api.merge_patch(ACTIONS, system_namespace, name, {"status": status}, sub="status")

    def shown() -> bool:
        return "no gateway runs yet" in client.get("/actions/list", headers={"HX-Request": "true"}).text

    wait_for("the condition in the fragment", shown, 30)
    fragment = client.get("/actions/list", headers={"HX-Request": "true"}).text
    assert fragment.lstrip().startswith('<div id="rules-table"') and "<html" not in fragment
    assert 'hx-trigger="every 5s"' in fragment and "NoGateway" in fragment
    edit = client.get(f"/actions/{name}/edit").text
    assert "NoGateway" in edit and ">Save</button>" in edit
    # an older generation's condition is not shown as if it were about this one
    client.post(f"/actions/{name}/edit", data={"csrf_token": token, "signals": "logs", "f.clusterName": "c2"})
    wait_for(
        "the new generation in the cache",
        lambda: (ui_cluster.actions.get(system_namespace, name) or {})["metadata"]["generation"] > generation,
    )
    assert "Waiting" in client.get("/actions/list").text


def test_csrf_is_needed_for_every_write(
    client: TestClient, admin_api: Api, system_namespace: str, cleanup: Made
) -> None:
    name = _name("csrf")
    form = {"name": name, "f.thresholdMs": "100"}
    fresh = TestClient(client.app, base_url="http://127.0.0.1:3000")
    assert fresh.post("/sampling/new/latency", data=form).status_code == 403
    token = csrf_of(client)
    assert client.post("/sampling/new/latency", data=form).status_code == 403
    assert client.post("/sampling/new/latency", data={**form, "csrf_token": "0" * 64}).status_code == 403
    assert admin_api.get(SAMPLING_RULES, system_namespace, name) is None
    cleanup.append((SAMPLING_RULES, name))
    client.post("/sampling/new/latency", data={**form, "csrf_token": token})
    assert admin_api.get(SAMPLING_RULES, system_namespace, name) is not None
    for action in ("disable", "delete"):
        assert client.post(f"/sampling/{name}/{action}").status_code == 403
        assert client.post(f"/sampling/{name}/{action}", headers={"Origin": "https://evil.example"},
                           data={"csrf_token": token}).status_code == 403  # fmt: skip
    assert (admin_api.get(SAMPLING_RULES, system_namespace, name) or {})["spec"]["disabled"] is False


def test_read_only_hides_and_refuses_every_write(
    make_client: Callable[..., TestClient], admin_api: Api, system_namespace: str, cleanup: Made
) -> None:
    name = _name("ro")
    cleanup.append((ACTIONS, name))
    admin_api.create(ACTIONS, system_namespace, {
        "apiVersion": constants.API_VERSION, "kind": "Action", "metadata": {"name": name},
        "spec": {"deleteAttribute": {"names": ["password"]}},
    })  # fmt: skip
    client = make_client(Settings(read_only=True))
    wait_for("the UI cache", lambda: f'id="rule-{name}"' in client.get("/actions").text)
    listed = client.get("/actions").text
    assert "Add action" not in listed and f"Delete {name}" not in listed and f"Disable {name}" not in listed
    assert ">Create action<" not in client.get("/actions/new/piiMasking").text
    assert ">Save<" not in client.get(f"/actions/{name}/edit").text
    assert "Add rule" not in client.get("/sampling").text
    token = csrf_of(client)
    for path, data in [
        ("/actions/new/deleteAttribute", {"name": "ro-new", "signals": "traces", "f.names": "x"}),
        (f"/actions/{name}/edit", {"signals": "traces", "f.names": "y"}),
        (f"/actions/{name}/disable", {}),
        (f"/actions/{name}/delete", {}),
        ("/sampling/new/errors", {"name": "ro-new"}),
    ]:
        response = client.post(path, data={**data, "csrf_token": token})
        assert response.status_code == 403 and "read-only" in response.text, path
    obj = admin_api.get(ACTIONS, system_namespace, name) or {}
    assert obj["spec"]["deleteAttribute"] == {"names": ["password"]} and not obj["spec"].get("disabled")
    assert admin_api.get(ACTIONS, system_namespace, "ro-new") is None


def test_a_workload_page_shows_the_actions_and_rules_that_apply_to_it(
    client: TestClient,
    admin_api: Api,
    system_namespace: str,
    cleanup: Made,
    make_namespace: Callable[..., str],
    ui_cluster: Cluster,
) -> None:
    ns, other = make_namespace(), make_namespace()
    deployment = {
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "namespace": ns},
        "spec": {"replicas": 0, "selector": {"matchLabels": {"app": "web"}},
                 "template": {"metadata": {"labels": {"app": "web"}},
                              "spec": {"containers": [{"name": "app", "image": "example.invalid/app:1"}]}}},
    }  # fmt: skip
    admin_api.create(DEPLOYMENTS, ns, deployment)
    mine, elsewhere, off, head = _name("mine"), _name("elsewhere"), _name("off"), _name("head")
    cleanup += [(ACTIONS, mine), (ACTIONS, elsewhere), (ACTIONS, off), (SAMPLING_RULES, head)]
    token = csrf_of(client)
    post = [
        ("/actions/new/renameAttribute", {"name": mine, "signals": "traces", "f.from": "a", "f.to": "b",
                                          "namespaces": ns}),
        ("/actions/new/renameAttribute", {"name": elsewhere, "signals": "traces", "f.from": "a", "f.to": "b",
                                          "namespaces": other}),
        ("/actions/new/renameAttribute", {"name": off, "signals": "traces", "f.from": "a", "f.to": "b",
                                          "disabled": "true"}),
        ("/sampling/new/head", {"name": head, "f.ratio": "0.1", "workloads": f"{ns}/Deployment/web"}),
    ]  # fmt: skip
    for path, data in post:
        response = client.post(path, data={**data, "csrf_token": token}, follow_redirects=False)
        assert response.status_code == 303, response.text[:500]
    assert (admin_api.get(ACTIONS, system_namespace, off) or {})["spec"]["disabled"] is True
    wait_for("the workload in the cache", lambda: ui_cluster.workload("Deployment", ns, "web"))
    page = client.get(f"/sources/{ns}/Deployment/web").text
    section = page[page.index('id="pl-title"') :]
    assert f'href="/actions/{mine}/edit"' in section and f'href="/sampling/{head}/edit"' in section
    assert "Rename attribute" in section and "Head sampling" in section
    assert elsewhere not in section and off not in section
