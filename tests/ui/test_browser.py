"""The UI in real Chromium (Debian's, driven by Playwright), against the local control plane and the real
controllers running in this process.

Controls are found by their accessible names (the contract in the issue): each input by its field's label,
"Name", the signal checkboxes "Traces"/"Metrics"/"Logs", catalogue links by display name, the buttons
"Create destination", "Save", "Test connection". Writes are checked with the admin's own client; the
controllers' answers (records, conditions, collectors) are awaited in the page. A screenshot of every page
is written to ``test-results/ui/`` (the ones in docs/ui/ are copies).

Boundary named: kwok's fake nodes run no containers, so no instrumented pod can crash; the rollback test
writes ``status.rollback`` on the record as the instrumentor does when injected pods fail, and then drives
the real recovery through the UI and the controllers. No webhook runs here (the controllers see it as
unavailable, so they create records and wait before rolling anything).
"""

from __future__ import annotations

import base64
import re
import uuid
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path
from typing import Any

import pytest
import yaml
from playwright.sync_api import Page, expect

from api import constants
from controllers.manager import Manager
from kube import Api
from kube.resources import CONFIGMAPS, DEPLOYMENTS, DESTINATIONS, NAMESPACES, RECORDS, SECRETS
from tests.ui.conftest import (
    CANARY,
    KEY_LABEL,
    SITE_LABEL,
    SITE_OTHER,
    Recorder,
    Served,
    assert_no_canary,
    shot,
    wait_for,
)
from ui import Cluster, Settings, create_app

pytestmark = pytest.mark.cluster


@pytest.fixture(scope="module")
def clean_destinations(admin_api: Api, system_namespace: str) -> Iterator[None]:
    """The onboarding is shown while no Destination exists: start this module with none, and leave none."""

    def clean() -> None:
        items, _ = admin_api.list(DESTINATIONS, system_namespace)
        for item in items:
            admin_api.delete(DESTINATIONS, system_namespace, item["metadata"]["name"])

    clean()
    yield
    clean()


@pytest.fixture(scope="module")
def keep_config(admin_api: Api, system_namespace: str) -> Iterator[None]:
    """These tests change hodegos-config; the modules after them get it back as it was."""
    before = admin_api.get(CONFIGMAPS, system_namespace, constants.CONFIG_MAP)
    yield
    admin_api.delete(CONFIGMAPS, system_namespace, constants.CONFIG_MAP)
    if before is not None:
        body = {"metadata": {"name": constants.CONFIG_MAP}, "data": before.get("data") or {}}
        admin_api.create(CONFIGMAPS, system_namespace, body)


@pytest.fixture(scope="module")
def served(
    ui_cluster: Cluster, recorder: Recorder, controllers: Manager, clean_destinations: None, keep_config: None
) -> Iterator[Served]:
    wait_for("the UI cache to drop old destinations", lambda: not ui_cluster.destination_list(), 30)
    with Served(recorder.wrap(create_app(Settings(), ui_cluster))) as server:
        yield server
    assert_no_canary(recorder)


def _deployment(ns: str, name: str, containers: tuple[str, ...] = ("app",)) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": ns},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": c, "image": f"example.invalid/{c}:1"} for c in containers]},
            },
        },
    }


def _annotation(obj: dict[str, Any] | None, key: str = constants.ANNOTATION_INSTRUMENTATION) -> str | None:
    return ((obj or {}).get("metadata", {}).get("annotations") or {}).get(key)


def _secret(admin_api: Api, name: str, key: str) -> str | None:
    value = ((admin_api.get(SECRETS, constants.NAMESPACE, name) or {}).get("data") or {}).get(key)
    return base64.b64decode(value).decode() if value else None


def test_onboarding_end_to_end(
    ui: Page,
    served: Served,
    admin_api: Api,
    named_namespace: Callable[[str], str],
    ui_cluster: Cluster,
    screenshots: Path,
) -> None:
    shop, billing = named_namespace("shop"), named_namespace("billing")
    for name in ("cart", "catalog"):
        admin_api.create(DEPLOYMENTS, shop, _deployment(shop, name))
    admin_api.create(DEPLOYMENTS, billing, _deployment(billing, "invoices"))
    admin_api.create(DEPLOYMENTS, billing, _deployment(billing, "ledger"))
    wait_for("workloads in the UI cache", lambda: ui_cluster.workload("Deployment", billing, "ledger"))
    dest = f"dd-{uuid.uuid4().hex[:6]}"

    ui.goto(served.url + "/")
    expect(ui).to_have_url(re.compile(r"/onboarding$"))
    ui.get_by_label("Opt-in: choose namespaces and workloads").check()
    shot(ui, screenshots, "onboarding-1-mode")
    ui.get_by_role("button", name="Next").click()

    expect(ui).to_have_url(re.compile(r"/onboarding/sources$"))
    ui.get_by_label(f"Namespace {shop}", exact=True).check()
    ui.get_by_label("Deployment invoices").check()
    shot(ui, screenshots, "onboarding-2-sources")
    ui.get_by_role("button", name="Next").click()

    expect(ui).to_have_url(re.compile(r"/onboarding/destination$"))
    ui.get_by_label("Search destinations").fill("datadog")
    expect(ui.get_by_role("link", name="Honeycomb")).to_have_count(0)  # the htmx search swapped the list
    ui.get_by_role("link", name="Datadog", exact=True).click()
    ui.get_by_label("Name", exact=True).fill(dest)
    ui.get_by_label(SITE_LABEL).select_option(SITE_OTHER)
    ui.get_by_label(KEY_LABEL).fill(CANARY)
    ui.get_by_label("Logs").uncheck()
    expect(ui.get_by_label("Traces")).to_be_checked()
    expect(ui.get_by_role("button", name="Test connection")).to_be_visible()
    shot(ui, screenshots, "onboarding-3-destination")
    ui.get_by_role("button", name="Create destination").click()

    expect(ui).to_have_url(re.compile(r"/onboarding/summary$"))
    expect(ui.get_by_text(dest)).to_be_visible()
    shot(ui, screenshots, "onboarding-4-summary")
    ui.get_by_role("link", name="Done").click()
    expect(ui).to_have_url(re.compile(r"/overview$"))

    config = yaml.safe_load(
        (admin_api.get(CONFIGMAPS, constants.NAMESPACE, constants.CONFIG_MAP) or {})["data"]["config.yaml"]
    )
    assert config["mode"] == "opt-in"
    assert _annotation(admin_api.get(NAMESPACES, None, shop)) == "enabled"
    assert _annotation(admin_api.get(NAMESPACES, None, billing)) is None
    assert _annotation(admin_api.get(DEPLOYMENTS, billing, "invoices")) == "enabled"
    assert _annotation(admin_api.get(DEPLOYMENTS, billing, "ledger")) is None
    obj = admin_api.get(DESTINATIONS, constants.NAMESPACE, dest) or {}
    assert obj["spec"]["type"] == "datadog" and obj["spec"]["signals"] == ["traces", "metrics"]
    assert obj["spec"]["data"] == {"DATADOG_SITE": SITE_OTHER}
    assert _secret(admin_api, obj["spec"]["secretRef"]["name"], "DATADOG_API_KEY") == CANARY

    # the controllers act: one record per opted-in workload, none for the rest
    for ns, name in ((shop, "cart"), (shop, "catalog"), (billing, "invoices")):
        wait_for(f"record for {ns}/{name}", partial(admin_api.get, RECORDS, ns, f"deployment-{name}"))
    assert admin_api.get(RECORDS, billing, "deployment-ledger") is None
    # and the overview draws them, with the destination and its condition, refreshing in place
    expect(ui.locator("#pipeline")).to_contain_text(shop, timeout=20_000)
    expect(ui.locator("#pipeline")).to_contain_text(dest)
    expect(ui.locator(f"#pipeline .box-ok:has-text('{dest}')")).to_be_visible(timeout=30_000)  # Configured
    expect(ui.locator("#pipeline")).to_contain_text("No data")
    shot(ui, screenshots, "overview")


def test_create_edit_disable_delete_a_datadog_destination(
    ui: Page, served: Served, admin_api: Api, screenshots: Path
) -> None:
    name = f"datadog-{uuid.uuid4().hex[:6]}"
    ui.goto(served.url + "/destinations")
    ui.get_by_role("link", name="Add destination").first.click()
    shot(ui, screenshots, "catalogue")
    ui.get_by_role("link", name="Datadog", exact=True).click()
    ui.get_by_label("Name", exact=True).fill(name)
    ui.get_by_label(KEY_LABEL).fill(CANARY)
    ui.get_by_role("button", name="Create destination").click()
    expect(ui).to_have_url(re.compile(r"/destinations$"))
    row = ui.locator(f"#dest-{name}")
    expect(row).to_contain_text("Datadog")
    secret_name = (admin_api.get(DESTINATIONS, constants.NAMESPACE, name) or {})["spec"]["secretRef"]["name"]
    assert _secret(admin_api, secret_name, "DATADOG_API_KEY") == CANARY

    def configured() -> bool:
        ui.reload()
        return "AddedToGateway" in (row.text_content() or "")

    wait_for("the Configured condition on the page", configured, 60)
    shot(ui, screenshots, "destinations")

    ui.get_by_role("link", name=f"Edit {name}").click()
    expect(ui.get_by_label(KEY_LABEL)).to_have_value("")
    expect(ui.get_by_label(KEY_LABEL)).to_have_attribute("placeholder", "Stored — leave empty to keep")
    expect(ui.get_by_label("Name", exact=True)).to_have_attribute("readonly", "")
    ui.get_by_label(SITE_LABEL).select_option(SITE_OTHER)
    ui.get_by_label("Metrics").uncheck()
    shot(ui, screenshots, "destination-edit")
    ui.get_by_role("button", name="Save").click()
    expect(ui).to_have_url(re.compile(r"/destinations$"))
    obj = admin_api.get(DESTINATIONS, constants.NAMESPACE, name) or {}
    assert obj["spec"]["data"] == {"DATADOG_SITE": SITE_OTHER}
    assert obj["spec"]["signals"] == ["traces", "logs"]
    assert _secret(admin_api, secret_name, "DATADOG_API_KEY") == CANARY  # kept without retyping

    ui.get_by_role("button", name=f"Disable {name}").click()
    expect(row).to_contain_text("Disabled")
    assert (admin_api.get(DESTINATIONS, constants.NAMESPACE, name) or {})["spec"]["disabled"] is True
    ui.get_by_role("button", name=f"Enable {name}").click()
    expect(row).not_to_contain_text("Disabled")

    ui.on("dialog", lambda dialog: dialog.accept())
    ui.get_by_role("button", name=f"Delete {name}").click()
    expect(row).to_have_count(0)
    assert admin_api.get(DESTINATIONS, constants.NAMESPACE, name) is None
    wait_for("the Secret to go", lambda: admin_api.get(SECRETS, constants.NAMESPACE, secret_name) is None, 30)


def test_a_missing_required_field_shows_an_error_beside_it_and_creates_nothing(
    ui: Page, served: Served, admin_api: Api, screenshots: Path
) -> None:
    name = f"nokey-{uuid.uuid4().hex[:6]}"
    ui.goto(served.url + "/destinations/new/datadog")
    ui.get_by_label("Name", exact=True).fill(name)
    ui.get_by_role("button", name="Create destination").click()
    key = ui.get_by_label(KEY_LABEL)
    expect(key).to_have_attribute("aria-invalid", "true")
    expect(key).to_have_accessible_description(re.compile("Required"))
    expect(ui.locator("#f-DATADOG_API_KEY-error")).to_have_text("Required.")
    expect(ui.get_by_label("Name", exact=True)).to_have_value(name)
    shot(ui, screenshots, "destination-error")
    assert admin_api.get(DESTINATIONS, constants.NAMESPACE, name) is None


def test_fields_follow_their_conditions_and_test_connection_answers(ui: Page, served: Served) -> None:
    ui.goto(served.url + "/destinations/new/otlphttp")
    password = ui.get_by_label("Basic auth password")
    expect(password).to_be_hidden()
    ui.get_by_label("Basic auth username").fill("me")
    expect(password).to_be_visible()
    ui.get_by_role("button", name="Add a row to Headers").click()
    expect(ui.get_by_label("Headers key 3")).to_be_visible()
    ui.get_by_label("Endpoint").fill("http://127.0.0.1:9")
    ui.get_by_role("button", name="Test connection").click()
    expect(ui.locator("#test-result")).to_contain_text("Connection failed")
    expect(ui.locator("#test-result")).to_contain_text("unreachable")


def test_toggle_a_namespace_and_a_workload(
    ui: Page,
    served: Served,
    admin_api: Api,
    named_namespace: Callable[[str], str],
    ui_cluster: Cluster,
    screenshots: Path,
) -> None:
    ns = named_namespace("payments")
    admin_api.create(DEPLOYMENTS, ns, _deployment(ns, "api", ("app", "istio-proxy")))
    admin_api.create(DEPLOYMENTS, ns, _deployment(ns, "worker"))
    wait_for("workloads in the UI cache", lambda: ui_cluster.workload("Deployment", ns, "worker"))
    ui.goto(served.url + f"/sources?namespace={ns}")
    ui.get_by_role("button", name=f"Enable namespace {ns}").click()
    expect(ui.get_by_role("button", name=f"Enable namespace {ns}")).to_have_attribute("aria-pressed", "true")
    assert _annotation(admin_api.get(NAMESPACES, None, ns)) == "enabled"
    wait_for("records for both", lambda: admin_api.get(RECORDS, ns, "deployment-api")
             and admin_api.get(RECORDS, ns, "deployment-worker"))  # fmt: skip
    ui.reload()
    expect(ui.locator(f"#src-{ns}-deployment-api")).to_contain_text("NamespaceAnnotation")
    expect(ui.locator(f"#src-{ns}-deployment-api")).to_contain_text("Pending")
    ui.get_by_label("Search").fill("worker")
    expect(ui.locator(f"#src-{ns}-deployment-api")).to_have_count(0)
    expect(ui).to_have_url(re.compile(r"q=worker"))
    ui.get_by_label("Search").fill("")
    expect(ui.locator(f"#src-{ns}-deployment-api")).to_have_count(1)
    ui.get_by_role("button", name=f"Disable Deployment {ns}/worker").click()
    expect(ui.locator(f"#src-{ns}-deployment-worker")).to_contain_text("WorkloadAnnotation")
    assert _annotation(admin_api.get(DEPLOYMENTS, ns, "worker")) == "disabled"
    wait_for("the worker's record to go", lambda: admin_api.get(RECORDS, ns, "deployment-worker") is None)
    shot(ui, screenshots, "sources")

    ui.get_by_role("link", name="api").click()
    expect(ui.get_by_role("heading", name=re.compile("^api"))).to_be_visible()
    containers = ui.locator("section", has=ui.get_by_role("heading", name="Containers"))
    expect(containers).to_contain_text("known sidecar")  # istio-proxy, the webhook's own rule
    expect(containers).to_contain_text("waiting for detection")
    expect(ui.locator("section", has=ui.get_by_role("heading", name="Conditions"))).to_contain_text("OptedIn")
    shot(ui, screenshots, "source-details")


def test_recover_from_rollback(
    ui: Page, served: Served, admin_api: Api, make_namespace: Callable[..., str], ui_cluster: Cluster
) -> None:
    ns = make_namespace()
    deployment = _deployment(ns, "fragile")
    deployment["metadata"]["annotations"] = {constants.ANNOTATION_INSTRUMENTATION: "enabled"}
    admin_api.create(DEPLOYMENTS, ns, deployment)
    record = wait_for("the record", lambda: admin_api.get(RECORDS, ns, "deployment-fragile"))
    # what the instrumentor writes when injected pods crash (kwok's fake nodes cannot crash a pod)
    rollback = {
        "reason": "CrashLoopBackOff",
        "message": "pod fragile-1: container app is in CrashLoopBackOff",
        "time": "2026-01-01T00:00:00Z",
    }
    admin_api.merge_patch(
        RECORDS, ns, record["metadata"]["name"], {"status": {"rollback": rollback}}, sub="status"
    )
    ui.goto(served.url + f"/sources/{ns}/Deployment/fragile")
    wait_for("the UI to see the rollback", lambda: ui.reload() or "Rolled back (" in (ui.content()), 30)
    ui.get_by_role("button", name="Recover from rollback").click()
    assert _annotation(admin_api.get(DEPLOYMENTS, ns, "fragile"), constants.ANNOTATION_RECOVER) in (
        "true",
        None,
    )
    wait_for(
        "the controllers to clear the rollback",
        lambda: (
            not ((admin_api.get(RECORDS, ns, "deployment-fragile") or {}).get("status") or {}).get("rollback")
        ),
    )
    recover = constants.ANNOTATION_RECOVER
    wait_for(
        "the recover annotation to go",
        lambda: _annotation(admin_api.get(DEPLOYMENTS, ns, "fragile"), recover) is None,
    )
    ui.reload()
    expect(ui.get_by_text("No rollback recorded.")).to_be_visible()


def test_collectors_and_settings(ui: Page, served: Served, admin_api: Api, screenshots: Path) -> None:
    ui.goto(served.url + "/collectors")
    expect(ui.get_by_role("heading", name=re.compile("Gateway"))).to_be_visible(timeout=30_000)
    ui.get_by_text("Rendered configuration").first.click()
    config = ui.locator("#gateway pre")
    expect(config).to_contain_text("${env:HODEGOS_")  # the API key as the reference it is
    assert CANARY not in (config.text_content() or "")
    shot(ui, screenshots, "collectors")

    ui.goto(served.url + "/settings")
    ui.get_by_label("Concurrent rollouts").fill("0")
    ui.get_by_role("button", name="Save").click()
    expect(ui.locator("#f-rollout\\.maxConcurrent-error")).to_contain_text("greater than or equal to 1")
    ui.get_by_label("Concurrent rollouts").fill("4")
    ui.get_by_label("Default sampler").select_option("parentbased_traceidratio")
    ui.get_by_label("Sampler ratio").fill("0.5")
    ui.get_by_role("button", name="Save").click()
    expect(ui.get_by_text("Saved.")).to_be_visible()
    config_map = admin_api.get(CONFIGMAPS, constants.NAMESPACE, constants.CONFIG_MAP) or {}
    saved = yaml.safe_load(config_map["data"]["config.yaml"])
    assert saved["rollout"]["maxConcurrent"] == 4 and saved["defaultSampler"]["argument"] == "0.5"
    shot(ui, screenshots, "settings")
