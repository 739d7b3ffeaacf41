"""Test connection: send an empty OTLP export to a destination's own endpoint and say what happened.

Only for types that declare ``testConnection`` (their exporter speaks OTLP/gRPC or OTLP/HTTP). The
destination is rendered exactly as the gateway would render it, secrets filled in from the given values,
and the single request goes to the endpoint of that rendered exporter — never to a host or port the
caller names, redirects are not followed, and an optional allow-list of hosts is enforced — so the
feature cannot be used to scan a network. Outcomes: ``ok``, ``unreachable``, ``tls-error``, ``rejected``
(the endpoint answered and refused: auth, wrong path, not OTLP), or ``invalid`` (the destination itself
does not render).
"""

from __future__ import annotations

import re
import ssl
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import urlsplit

import httpx

from api.models import Destination
from destinations import components
from destinations.errors import DestinationsError
from destinations.rendering import RenderedDestination, render_destination

Status = Literal["ok", "unreachable", "tls-error", "rejected", "invalid", "unsupported"]
_EXPORT_PATHS = {
    "traces": ("/v1/traces", "/opentelemetry.proto.collector.trace.v1.TraceService/Export"),
    "metrics": ("/v1/metrics", "/opentelemetry.proto.collector.metrics.v1.MetricsService/Export"),
    "logs": ("/v1/logs", "/opentelemetry.proto.collector.logs.v1.LogsService/Export"),
}
_TLS_WORDS = re.compile(r"ssl|tls|handshake|certificate|wrong_version_number|x509", re.IGNORECASE)


@dataclass(frozen=True)
class ConnectionResult:
    status: Status
    reason: str
    endpoint: str = ""

    @property
    def ok(self) -> bool:
        return self.status == "ok"


def _fill_secrets(value: Any, env_values: Mapping[str, str]) -> Any:
    if isinstance(value, dict):
        return {k: _fill_secrets(v, env_values) for k, v in value.items()}
    if isinstance(value, list):
        return [_fill_secrets(v, env_values) for v in value]
    if isinstance(value, str):
        return re.sub(r"\$\{env:([A-Za-z_][A-Za-z0-9_]*)\}", lambda m: env_values.get(m.group(1), ""), value)
    return value


def _auth_headers(
    config: Mapping[str, Any], rendered: RenderedDestination, env: Mapping[str, str]
) -> dict[str, str]:
    authenticator = (config.get("auth") or {}).get("authenticator")
    if not authenticator:
        return {}
    ext = _fill_secrets(rendered.extensions.get(authenticator, {}), env)
    kind = authenticator.split("/", 1)[0]
    if kind == components.name("extensions", "basicauth"):
        client = ext.get("client_auth") or {}
        basic = httpx.BasicAuth(str(client.get("username", "")), str(client.get("password", "")))
        return {"Authorization": basic._auth_header}
    if kind == components.name("extensions", "bearertokenauth"):
        return {"Authorization": f"{ext.get('scheme', 'Bearer')} {ext.get('token', '')}"}
    return {}


def _ssl_context(tls: Mapping[str, Any]) -> ssl.SSLContext:
    context = (
        ssl.create_default_context(cadata=tls["ca_pem"])
        if tls.get("ca_pem")
        else ssl.create_default_context()
    )
    if tls.get("insecure_skip_verify"):
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


def _host_allowed(host: str, allowed_hosts: Collection[str] | None) -> bool:
    return allowed_hosts is None or host.lower() in {h.lower() for h in allowed_hosts}


def _chain_has_tls_error(exc: BaseException) -> bool:
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, ssl.SSLError) or _TLS_WORDS.search(str(seen)):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def _http(url: str, config: Mapping[str, Any], headers: dict[str, str], timeout: float) -> ConnectionResult:
    tls = config.get("tls") or {}
    verify: ssl.SSLContext | bool = _ssl_context(tls) if url.startswith("https://") else False
    try:
        with httpx.Client(verify=verify, timeout=timeout, follow_redirects=False) as client:
            response = client.post(
                url, content=b"", headers={**headers, "Content-Type": "application/x-protobuf"}
            )
    except httpx.TimeoutException:
        return ConnectionResult("unreachable", f"no answer within {timeout:g}s", url)
    except httpx.HTTPError as exc:
        if _chain_has_tls_error(exc):
            return ConnectionResult("tls-error", f"TLS handshake failed: {exc}", url)
        return ConnectionResult("unreachable", f"cannot connect: {exc}", url)
    if 200 <= response.status_code < 300:
        return ConnectionResult("ok", f"accepted an empty export (HTTP {response.status_code})", url)
    phrase = response.reason_phrase or ""
    if response.status_code in (401, 403):
        return ConnectionResult(
            "rejected", f"authentication refused (HTTP {response.status_code} {phrase})", url
        )
    return ConnectionResult(
        "rejected", f"the endpoint refused the export (HTTP {response.status_code} {phrase})", url
    )


def _grpc(
    target: str, method: str, config: Mapping[str, Any], headers: dict[str, str], timeout: float
) -> ConnectionResult:
    import grpc  # type: ignore[import-untyped]

    tls = config.get("tls") or {}
    if tls.get("insecure"):
        channel = grpc.insecure_channel(target)
    else:
        root = tls["ca_pem"].encode() if tls.get("ca_pem") else None
        channel = grpc.secure_channel(target, grpc.ssl_channel_credentials(root_certificates=root))
    metadata = [(k.lower(), v) for k, v in headers.items()]
    try:
        call = channel.unary_unary(
            method, request_serializer=lambda _r: b"", response_deserializer=lambda b: b
        )
        call(b"", timeout=timeout, metadata=metadata, wait_for_ready=False)
    except grpc.RpcError as exc:
        code = exc.code() if hasattr(exc, "code") else None
        details = exc.details() if hasattr(exc, "details") else str(exc)
        name = code.name if code is not None else "UNKNOWN"
        if code in (grpc.StatusCode.UNAUTHENTICATED, grpc.StatusCode.PERMISSION_DENIED):
            return ConnectionResult("rejected", f"authentication refused ({name}: {details})", target)
        if code in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED):
            if _TLS_WORDS.search(details or ""):
                return ConnectionResult("tls-error", f"TLS handshake failed ({details})", target)
            return ConnectionResult("unreachable", f"cannot connect ({name}: {details})", target)
        return ConnectionResult("rejected", f"the endpoint refused the export ({name}: {details})", target)
    finally:
        channel.close()
    return ConnectionResult("ok", "accepted an empty export", target)


def _datadog(
    config: Mapping[str, Any], timeout: float, allowed_hosts: Collection[str] | None
) -> ConnectionResult:
    """The native Datadog exporter speaks Datadog's own API: ask it whether the API key is valid."""
    api = config.get("api") or {}
    host = f"api.{api.get('site') or 'datadoghq.com'}"
    url = f"https://{host}/api/v1/validate"
    if not _host_allowed(host, allowed_hosts):
        return ConnectionResult("invalid", f"host {host} is not allowed for test connection", url)
    try:
        with httpx.Client(timeout=timeout, follow_redirects=False) as client:
            reply = client.get(url, headers={"DD-API-KEY": str(api.get("key") or "")})
    except httpx.HTTPError as exc:
        status: Status = "tls-error" if _chain_has_tls_error(exc) else "unreachable"
        return ConnectionResult(status, f"{url}: {exc}", url)
    if reply.status_code == 200:
        return ConnectionResult("ok", "the API key is valid for this site", url)
    return ConnectionResult("rejected", f"{url} answered {reply.status_code} (a wrong key or site?)", url)


def test_connection(
    destination: Destination | Mapping[str, Any],
    secrets: Mapping[str, str] | None = None,
    *,
    timeout: float = 5.0,
    allowed_hosts: Collection[str] | None = None,
) -> ConnectionResult:
    """Export an empty batch to the destination's endpoint; ``secrets`` maps secret field -> value."""
    dest = destination if isinstance(destination, Destination) else Destination.model_validate(destination)
    secrets = secrets or {}
    try:
        rendered = render_destination(dest, secret_keys=set(secrets))
    except DestinationsError as exc:
        return ConnectionResult("invalid", str(exc))
    from destinations.catalogue import get_type

    if not get_type(dest.spec.type).test_connection:
        return ConnectionResult("unsupported", f"{dest.spec.type} does not support test connection")
    env = {name: secrets.get(ref.key, "") for name, ref in rendered.secret_env.items()}
    signal = rendered.signals[0]
    http_path, grpc_method = _EXPORT_PATHS[signal]
    grpc_name, http_name = (
        components.name("exporters", "otlp_grpc"),
        components.name("exporters", "otlp_http"),
    )
    for exporter_id in rendered.pipelines[f"{signal}/{rendered.id}"][1]:
        kind = exporter_id.split("/", 1)[0]
        config = _fill_secrets(rendered.exporters[exporter_id], env)
        if kind == components.name("exporters", "datadog"):
            return _datadog(config, timeout, allowed_hosts)
        headers = {str(k): str(v) for k, v in (config.get("headers") or {}).items()}
        headers.update(_auth_headers(config, rendered, env))
        if kind == http_name:
            url = config.get(f"{signal}_endpoint") or str(config["endpoint"]).rstrip("/") + http_path
            parts = urlsplit(url)
            if parts.scheme not in ("http", "https") or not parts.hostname:
                return ConnectionResult("invalid", f"endpoint {url!r} is not an http(s) URL", url)
            if not _host_allowed(parts.hostname, allowed_hosts):
                return ConnectionResult(
                    "invalid", f"host {parts.hostname} is not allowed for test connection", url
                )
            return _http(url, config, headers, timeout)
        if kind == grpc_name:
            target = str(config["endpoint"])
            host = target.rsplit(":", 1)[0].strip("[]")
            if not _host_allowed(host, allowed_hosts):
                return ConnectionResult("invalid", f"host {host} is not allowed for test connection", target)
            return _grpc(target, grpc_method, config, headers, timeout)
    return ConnectionResult("unsupported", f"{dest.spec.type} does not export over OTLP")
