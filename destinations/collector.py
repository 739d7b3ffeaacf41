"""Asking the pinned OpenTelemetry Collector questions: ``otelcol validate`` and ``otelcol components``.

The binary is built by :mod:`toolchain.otelcol` (``make setup``); ``$HODEGOS_OTELCOL`` names another one.
:func:`validate` checks a rendered config offline; :func:`components` lists what the binary accepts.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import yaml

from destinations import components as component_names
from destinations.errors import CollectorError
from toolchain.otelcol import COLLECTOR_VERSION, collector_path, is_built

__all__ = ["COLLECTOR_VERSION", "collector_path", "components", "is_built", "validate"]


def _offline_prefix() -> list[str]:
    """Run in a network namespace of its own, with nothing but a down loopback, where one can be made.

    Some exporters look for their cloud while being validated (the Datadog exporter probes the cloud
    metadata services for a host name, ``sigv4auth`` the AWS ones): in an empty network namespace those
    attempts fail at once and nothing leaves the machine. Making one needs root (``unshare``).
    """
    unshare = shutil.which("unshare")
    return [unshare, "--net", "--"] if unshare and os.geteuid() == 0 else []


def components(binary: Path | None = None) -> dict[str, list[str]]:
    """Component kinds -> type names the binary accepts (``otelcol components``)."""
    exe = binary or collector_path()
    out = subprocess.run([str(exe), "components"], capture_output=True, text=True, timeout=60)
    if out.returncode != 0:
        raise CollectorError(f"`otelcol components` failed: {out.stderr.strip()}")
    data: Any = yaml.safe_load(out.stdout)
    result: dict[str, list[str]] = {}
    for kind in ("receivers", "processors", "exporters", "connectors", "extensions"):
        result[kind] = sorted(str(entry["name"]) for entry in data.get(kind) or [])
    return result


SIGV4 = component_names.name("extensions", "sigv4auth")


def _here(config: dict[str, Any]) -> dict[str, Any]:
    """``config`` with each ``hostmetrics`` ``root_path`` this machine lacks (the node collector's
    ``/hostfs`` mount exists only in its pod) pointed at ``/``: validation checks the config, not the host."""
    receivers = config.get("receivers") or {}
    moved = {
        key: {**rec, "root_path": "/"}
        for key, rec in receivers.items()
        if key.split("/")[0] == "hostmetrics" and isinstance(rec, dict)
        and rec.get("root_path") and not os.path.isdir(str(rec["root_path"]))
    }  # fmt: skip
    return {**config, "receivers": {**receivers, **moved}} if moved else config


def _offline(config: dict[str, Any]) -> dict[str, Any]:
    """``config`` without what only a network call can check (``sigv4auth``'s ``assume_role``)."""
    config = _here(config)
    extensions = config.get("extensions") or {}
    signers = [key for key, ext in extensions.items() if key.split("/")[0] == SIGV4 and ext]
    if not any("assume_role" in extensions[key] for key in signers):
        return config
    stripped = dict(extensions)
    for key in signers:
        stripped[key] = {k: v for k, v in extensions[key].items() if k != "assume_role"}
    return {**config, "extensions": stripped}


def validate(
    config: dict[str, Any] | str, *, binary: Path | None = None, env: dict[str, str] | None = None
) -> None:
    """Run ``otelcol validate`` on ``config``; raise :class:`CollectorError` with the collector's message.

    ``sigv4auth`` fetches AWS credentials while it is validated: the SDK's default chain asks the EC2
    metadata service, and ``assume_role`` calls STS; the Datadog exporter probes cloud metadata services
    for a host name. Validation never leaves this machine: it runs in an empty network namespace (as root;
    :func:`_offline_prefix`), the AWS metadata service is switched off, STS points at a closed loopback
    port, placeholder keys stand in when the caller's environment has none, and ``assume_role`` is taken
    out of the copy that is validated. So the config is checked and the credentials are not; the gateway
    gets its own at run time. Likewise a ``hostmetrics`` root path only the collector's pod has is
    validated as ``/``.
    """
    exe = binary or collector_path()
    if isinstance(config, str):
        needs_copy = "assume_role" in config or "root_path" in config
        text = json.dumps(_offline(yaml.safe_load(config))) if needs_copy else config
    else:
        text = json.dumps(_offline(config))
    run_env = {
        **os.environ,
        **(env or {}),
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_ENDPOINT_URL_STS": "http://127.0.0.1:9",
    }
    if "AWS_ACCESS_KEY_ID" not in run_env:
        run_env |= {"AWS_ACCESS_KEY_ID": "validate-only", "AWS_SECRET_ACCESS_KEY": "validate-only"}
    with tempfile.NamedTemporaryFile("w", suffix=".yaml", prefix="hodegos-otelcol-") as handle:
        handle.write(text)
        handle.flush()
        out = subprocess.run(
            [*_offline_prefix(), str(exe), "validate", f"--config={handle.name}"],
            capture_output=True,
            text=True,
            timeout=120,
            env=run_env,
        )
    if out.returncode != 0:
        raise CollectorError(f"otelcol validate rejected the config: {(out.stderr or out.stdout).strip()}")
