"""Datadog as the seed fills it in: Name, Site (Datadog's own site names), API key; the native exporter."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from destinations import catalogue, collector
from destinations import test_connection as check_connection
from pipelines import render_gateway

SITES = [
    "datadoghq.com",
    "us3.datadoghq.com",
    "us5.datadoghq.com",
    "datadoghq.eu",
    "ap1.datadoghq.com",
    "ddog-gov.com",
]


def datadog(site: str) -> dict[str, Any]:
    return {
        "apiVersion": "hodegos.io/v1alpha1",
        "kind": "Destination",
        "metadata": {"name": "dd"},
        "spec": {
            "type": "datadog",
            "signals": ["traces", "metrics", "logs"],
            "data": {"DATADOG_SITE": site},
            "secretRef": {"name": "dd"},
        },
    }


def test_the_form_is_name_site_and_api_key() -> None:
    t = catalogue.get_type("datadog")
    assert [(f.label, f.kind) for f in t.fields] == [("Site", "dropdown"), ("API key", "password")]
    assert t.field_map()["DATADOG_SITE"].values() == SITES


@pytest.mark.parametrize("site", SITES)
def test_every_site_renders_the_native_exporter(site: str) -> None:
    rendered = render_gateway([datadog(site)], secret_keys={"dd": {"DATADOG_API_KEY"}})
    assert rendered.results["dd"].configured, rendered.results["dd"].message
    exporter = rendered.config["exporters"]["datadog/dd"]
    assert exporter["api"] == {"site": site, "key": "${env:HODEGOS_DD_DATADOG_API_KEY}"}


def test_a_site_that_is_not_datadogs_is_refused() -> None:
    result = render_gateway([datadog("otlp.datadoghq.eu")], secret_keys={"dd": {"DATADOG_API_KEY"}}).results[
        "dd"
    ]
    assert not result.configured and "DATADOG_SITE" in result.message


@pytest.mark.collector
def test_the_collector_accepts_it_offline(otelcol: Path) -> None:
    rendered = render_gateway([datadog("datadoghq.eu")], secret_keys={"dd": {"DATADOG_API_KEY"}})
    collector.validate(rendered.config, binary=otelcol, env={"HODEGOS_DD_DATADOG_API_KEY": "validate-only"})


def test_connection_asks_datadog_whether_the_key_is_valid(monkeypatch: pytest.MonkeyPatch) -> None:
    """Datadog's API is beyond this machine: httpx's transport is replaced (the fake, at that boundary)."""
    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200 if request.headers.get("DD-API-KEY") == "good" else 403)

    real = httpx.Client

    def client(**kwargs: Any) -> httpx.Client:
        return real(transport=httpx.MockTransport(answer), **kwargs)

    monkeypatch.setattr(httpx, "Client", client)
    assert check_connection(datadog("datadoghq.eu"), {"DATADOG_API_KEY": "good"}).ok
    refused = check_connection(datadog("us5.datadoghq.com"), {"DATADOG_API_KEY": "bad"})
    assert refused.status == "rejected" and "403" in refused.reason
    assert [str(r.url) for r in seen] == [
        "https://api.datadoghq.eu/api/v1/validate",
        "https://api.us5.datadoghq.com/api/v1/validate",
    ]
    blocked = check_connection(
        datadog("datadoghq.eu"), {"DATADOG_API_KEY": "good"}, allowed_hosts={"otel.internal"}
    )
    assert blocked.status == "invalid"
