"""Actions and sampling rules in real Chromium (Debian's, driven by Playwright), against the local control
plane and the real controllers running in this process.

Controls are found by their accessible names: the kinds in the catalogue by their ``displayName``, every
input by its field's ``label``, "Name", "Traces"/"Metrics"/"Logs", "Namespaces", "Disabled", the buttons
"Create action", "Create rule", "Save". The controllers' answers (the ``Applied`` condition, the gateway's
rendered configuration) are awaited in the pages, which refresh in place. Screenshots go to
``test-results/ui/`` (the ones in docs/ui/ are copies).

The gateway exists only while a Destination does, so this module keeps one (an OTLP destination to a closed
loopback port: the gateway's configuration is rendered and checked, no collector pod runs on kwok's nodes).
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from api import constants
from controllers.manager import Manager
from kube import Api
from kube.resources import ACTIONS, DEPLOYMENTS, DESTINATIONS, SAMPLING_RULES
from pipelines import kinds
from tests.ui.conftest import Recorder, Served, assert_no_canary, shot, wait_for
from ui import Cluster, Settings, create_app

pytestmark = pytest.mark.cluster
SINK = "pipeline-sink"


def label(kind: str, field: str) -> str:
    """A field's label, read from its kind file (never hard-coded)."""
    found = kinds.get_kind(kind).field(field)
    assert found is not None, f"{kind} has no field {field}"
    return found.label


@pytest.fixture(scope="module")
def sink(admin_api: Api, system_namespace: str) -> Iterator[str]:
    body = {
        "apiVersion": constants.API_VERSION, "kind": "Destination",
        "metadata": {"name": SINK, "namespace": system_namespace},
        "spec": {"type": "otlp", "signals": ["traces", "metrics", "logs"],
                 "data": {"OTLP_GRPC_ENDPOINT": "127.0.0.1:9"}},
    }  # fmt: skip
    admin_api.apply(DESTINATIONS, body)
    yield SINK
    admin_api.delete(DESTINATIONS, system_namespace, SINK)


@pytest.fixture(scope="module")
def served(ui_cluster: Cluster, recorder: Recorder, controllers: Manager, sink: str) -> Iterator[Served]:
    with Served(recorder.wrap(create_app(Settings(), ui_cluster))) as server:
        yield server
    assert_no_canary(recorder)


@pytest.fixture
def cleanup(admin_api: Api, system_namespace: str) -> Iterator[list[tuple[Any, str]]]:
    made: list[tuple[Any, str]] = []
    yield made
    for res, name in made:
        admin_api.delete(res, system_namespace, name)


def _deployment(ns: str, name: str) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": ns},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": "app", "image": "example.invalid/app:1"}]},
            },
        },
    }


def gateway_config(ui: Page, served: Served) -> str:
    ui.goto(served.url + "/collectors")
    expect(ui.get_by_role("heading", name=re.compile("Gateway"))).to_be_visible(timeout=30_000)
    ui.locator("#gateway").get_by_text("Rendered configuration").click()
    return ui.locator("#gateway pre").text_content() or ""


def test_a_pii_masking_action_from_the_catalogue_reaches_the_gateway(
    ui: Page,
    served: Served,
    admin_api: Api,
    named_namespace: Callable[[str], str],
    cleanup: list[tuple[Any, str]],
    screenshots: Path,
) -> None:
    shop = named_namespace("shop")
    admin_api.create(DEPLOYMENTS, shop, _deployment(shop, "checkout"))
    name = f"mask-{uuid.uuid4().hex[:4]}"
    cleanup.append((ACTIONS, name))

    ui.goto(served.url + "/actions")
    ui.get_by_role("link", name="Add action").first.click()
    expect(ui).to_have_url(re.compile(r"/actions/new$"))
    shot(ui, screenshots, "actions-catalogue")
    ui.get_by_role("link", name=kinds.get_kind("piiMasking").display_name, exact=True).click()
    ui.get_by_label("Name", exact=True).fill(name)
    expect(ui.get_by_label(label("piiMasking", "creditCard"))).to_be_checked()  # the kind's default
    ui.get_by_label(label("piiMasking", "ipv4")).check()
    ui.get_by_label(label("piiMasking", "customPatterns")).fill("order-[0-9]{6}")
    ui.get_by_label("Metrics").uncheck()
    ui.get_by_label("Namespaces").select_option([shop])
    shot(ui, screenshots, "action-form")
    ui.get_by_role("button", name="Create action").click()

    expect(ui).to_have_url(re.compile(r"/actions$"))
    row = ui.locator(f"#rule-{name}")
    expect(row).to_contain_text(kinds.get_kind("piiMasking").display_name)
    expect(row).to_contain_text(f"namespace {shop}")
    expect(row).to_contain_text("Traces, Logs")
    spec = (admin_api.get(ACTIONS, constants.NAMESPACE, name) or {})["spec"]
    assert spec["scope"] == {"namespaces": [shop]} and spec["signals"] == ["traces", "logs"]
    assert spec["piiMasking"]["ipv4"] is True and spec["piiMasking"]["customPatterns"] == ["order-[0-9]{6}"]
    # the controllers write Applied; the table refreshes in place (no reload)
    expect(row).to_contain_text("AppliedToCollectors", timeout=60_000)
    shot(ui, screenshots, "actions")

    config = gateway_config(ui, served)
    assert f"transform/action-{name}" in config and f'"k8s.namespace.name"] == "{shop}"' in config
    assert "order-[0-9]{6}" in config
    shot(ui, screenshots, "collectors-with-action")

    # the workload's page says which actions apply to it
    ui.goto(served.url + f"/sources/{shop}/Deployment/checkout")
    section = ui.locator("section", has=ui.get_by_role("heading", name="Actions and sampling"))
    expect(section.get_by_role("link", name=name)).to_be_visible()
    expect(section).to_contain_text("AppliedToCollectors")

    # edit: the form shows what is stored; the change reaches the gateway
    ui.goto(served.url + "/actions")
    ui.get_by_role("link", name=f"Edit {name}").click()
    expect(ui.get_by_label(label("piiMasking", "customPatterns"))).to_have_value("order-[0-9]{6}")
    expect(ui.get_by_label("Name", exact=True)).to_have_attribute("readonly", "")
    ui.get_by_label(label("piiMasking", "customPatterns")).fill("invoice-[0-9]{4}")
    ui.get_by_role("button", name="Save").click()
    expect(ui).to_have_url(re.compile(r"/actions$"))
    wait_for("the edit in the gateway's config", lambda: "invoice-[0-9]{4}" in gateway_config(ui, served), 60)

    # disable: left out of the config, said so; delete
    ui.goto(served.url + "/actions")
    ui.get_by_role("button", name=f"Disable {name}").click()
    expect(row).to_contain_text("Disabled")
    expect(row).to_contain_text("the action is disabled", timeout=60_000)
    assert (admin_api.get(ACTIONS, constants.NAMESPACE, name) or {})["spec"]["disabled"] is True
    wait_for("the action out of the config", lambda: name not in gateway_config(ui, served), 60)
    ui.goto(served.url + "/actions")
    ui.on("dialog", lambda dialog: dialog.accept())
    ui.get_by_role("button", name=f"Delete {name}").click()
    expect(row).to_have_count(0)
    assert admin_api.get(ACTIONS, constants.NAMESPACE, name) is None


def test_a_missing_required_field_is_shown_beside_it_and_nothing_is_created(
    ui: Page, served: Served, admin_api: Api, screenshots: Path
) -> None:
    name = f"rename-{uuid.uuid4().hex[:4]}"
    ui.goto(served.url + "/actions/new")
    ui.get_by_role("link", name=kinds.get_kind("renameAttribute").display_name, exact=True).click()
    ui.get_by_label("Name", exact=True).fill(name)
    ui.get_by_label(label("renameAttribute", "from"), exact=True).fill("http.status_code")
    ui.get_by_role("button", name="Create action").click()
    missing = ui.get_by_label(label("renameAttribute", "to"), exact=True)
    expect(missing).to_have_attribute("aria-invalid", "true")
    expect(missing).to_have_accessible_description(re.compile("Required"))
    expect(ui.locator("#f-to-error")).to_have_text("Required.")
    expect(ui.get_by_label(label("renameAttribute", "from"), exact=True)).to_have_value("http.status_code")
    expect(ui.get_by_label("Name", exact=True)).to_have_value(name)
    shot(ui, screenshots, "action-error")
    assert admin_api.get(ACTIONS, constants.NAMESPACE, name) is None


def test_a_latency_rule_is_created_disabled_and_deleted(
    ui: Page, served: Served, admin_api: Api, cleanup: list[tuple[Any, str]], screenshots: Path
) -> None:
    name = f"slow-{uuid.uuid4().hex[:4]}"
    cleanup.append((SAMPLING_RULES, name))
    ui.goto(served.url + "/sampling")
    ui.get_by_role("link", name="Add rule").first.click()
    shot(ui, screenshots, "sampling-catalogue")
    ui.get_by_role("link", name=kinds.get_kind("latency").display_name, exact=True).click()
    expect(ui.get_by_label("Traces")).to_have_count(0)  # rules have no signal choice
    ui.get_by_label("Name", exact=True).fill(name)
    ui.get_by_label(label("latency", "thresholdMs")).fill("750")
    ui.get_by_label(label("latency", "service")).fill("checkout")
    shot(ui, screenshots, "sampling-form")
    ui.get_by_role("button", name="Create rule").click()

    expect(ui).to_have_url(re.compile(r"/sampling$"))
    row = ui.locator(f"#rule-{name}")
    expect(row).to_contain_text(kinds.get_kind("latency").display_name)
    expect(row).to_contain_text("AppliedToCollectors", timeout=60_000)
    spec = (admin_api.get(SAMPLING_RULES, constants.NAMESPACE, name) or {})["spec"]
    assert spec == {"latency": {"thresholdMs": 750, "service": "checkout"}, "disabled": False}
    shot(ui, screenshots, "sampling")
    config = gateway_config(ui, served)
    assert "tail_sampling" in config and f"name: {name}" in config and "threshold_ms: 750" in config

    ui.goto(served.url + "/sampling")
    ui.get_by_role("button", name=f"Disable {name}").click()
    expect(row).to_contain_text("Disabled")
    expect(row).to_contain_text("the rule is disabled", timeout=60_000)
    assert (admin_api.get(SAMPLING_RULES, constants.NAMESPACE, name) or {})["spec"]["disabled"] is True
    ui.get_by_role("button", name=f"Enable {name}").click()
    expect(row).to_contain_text("AppliedToCollectors", timeout=60_000)
    ui.on("dialog", lambda dialog: dialog.accept())
    ui.get_by_role("button", name=f"Delete {name}").click()
    expect(row).to_have_count(0)
    assert admin_api.get(SAMPLING_RULES, constants.NAMESPACE, name) is None
    wait_for("tail sampling off", lambda: "tail_sampling" not in gateway_config(ui, served), 60)
