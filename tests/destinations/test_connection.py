"""Test connection against live local receivers: ok, unreachable, rejected (auth), TLS mismatch."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from destinations import test_connection as check_connection
from harness.otlp import free_port, grpc_receiver, http_receiver, self_signed

KEY = "canary-test-connection-key"


def otlphttp(endpoint: str, **data: str) -> dict[str, Any]:
    return {
        "metadata": {"name": "t"},
        "spec": {"type": "otlphttp", "signals": ["traces"], "data": {"OTLP_HTTP_ENDPOINT": endpoint, **data}},
    }


def otlp(endpoint: str, **data: str) -> dict[str, Any]:
    return {
        "metadata": {"name": "t"},
        "spec": {"type": "otlp", "signals": ["traces"], "data": {"OTLP_GRPC_ENDPOINT": endpoint, **data}},
    }


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, str]:
    return self_signed(tmp_path_factory.mktemp("tls"))


def test_http_ok_sends_one_empty_export_to_the_destination_endpoint() -> None:
    with http_receiver() as (url, recorder):
        result = check_connection(otlphttp(url))
    assert (result.status, result.endpoint) == ("ok", f"{url}/v1/traces")
    assert [r.path for r in recorder.received] == ["/v1/traces"]
    assert len(recorder.received[0].message.resource_spans) == 0


def test_http_closed_port_is_unreachable() -> None:
    result = check_connection(otlphttp(f"http://127.0.0.1:{free_port()}"), timeout=2)
    assert result.status == "unreachable"


def test_http_missing_credentials_are_rejected_and_right_ones_accepted() -> None:
    import base64

    expected = "Basic " + base64.b64encode(f"u:{KEY}".encode()).decode()
    with http_receiver(require_header=("Authorization", expected)) as (url, _):
        dest = otlphttp(url, OTLP_HTTP_BASIC_AUTH_USERNAME="u")
        dest["spec"]["secretRef"] = {"name": "s"}
        refused = check_connection(dest, {"OTLP_HTTP_BASIC_AUTH_PASSWORD": "wrong"})
        accepted = check_connection(dest, {"OTLP_HTTP_BASIC_AUTH_PASSWORD": KEY})
    assert refused.status == "rejected" and "401" in refused.reason
    assert KEY not in refused.reason
    assert accepted.status == "ok"


def test_https_to_a_plain_http_server_is_a_tls_error() -> None:
    with http_receiver() as (url, _):
        result = check_connection(otlphttp(url.replace("http://", "https://")))
    assert result.status == "tls-error"


def test_https_with_an_untrusted_certificate_is_a_tls_error_and_the_ca_fixes_it(
    tls: tuple[Path, Path, str],
) -> None:
    cert, key, pem = tls
    with http_receiver(tls=(cert, key)) as (url, _):
        untrusted = check_connection(otlphttp(url))
        trusted = check_connection(otlphttp(url, OTLP_HTTP_CA_PEM=pem))
    assert untrusted.status == "tls-error"
    assert trusted.status == "ok"


def test_grpc_ok_unreachable_rejected() -> None:
    with grpc_receiver() as (target, recorder):
        assert check_connection(otlp(target)).status == "ok"
    assert len(recorder.received) == 1
    assert check_connection(otlp(f"127.0.0.1:{free_port()}"), timeout=2).status == "unreachable"
    with grpc_receiver(require_header=("authorization", f"Bearer {KEY}")) as (target, _):
        dest = otlp(target)
        dest["spec"]["secretRef"] = {"name": "s"}
        refused = check_connection(dest, {"OTLP_GRPC_BEARER_TOKEN": "wrong"})
        accepted = check_connection(dest, {"OTLP_GRPC_BEARER_TOKEN": KEY})
    assert refused.status == "rejected" and "UNAUTHENTICATED" in refused.reason
    assert accepted.status == "ok"


def test_grpc_tls_to_a_plaintext_server_is_a_tls_error(tls: tuple[Path, Path, str]) -> None:
    _, _, pem = tls
    with grpc_receiver() as (target, _):
        result = check_connection(otlp(target, OTLP_GRPC_TLS_ENABLED="true", OTLP_GRPC_CA_PEM=pem), timeout=3)
    assert result.status == "tls-error", result.reason


def test_only_the_destination_endpoint_and_allowed_hosts() -> None:
    with http_receiver() as (url, recorder):
        refused = check_connection(otlphttp(url), allowed_hosts={"collector.example"})
    assert refused.status == "invalid" and "not allowed" in refused.reason
    assert recorder.received == []


def test_types_without_test_connection_and_invalid_destinations() -> None:
    prom = {
        "metadata": {"name": "p"},
        "spec": {
            "type": "prometheus",
            "signals": ["metrics"],
            "data": {"PROMETHEUS_REMOTEWRITE_URL": "http://p"},
        },
    }
    assert check_connection(prom).status == "unsupported"
    assert check_connection(otlphttp("")).status == "invalid"
