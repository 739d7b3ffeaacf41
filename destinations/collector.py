"""The pinned OpenTelemetry Collector binary: build it with the Collector Builder, find it, ask it questions.

``cli/tools/otelcol/manifest.yaml`` lists the components Hodegos configs use; ``cli/tools/otelcol/builder/``
pins the OpenTelemetry Collector Builder (ocb). :func:`ensure_collector` builds ocb with the tool cache,
runs it on the manifest and installs ``otelcol`` into ``~/.cache/hodegos/otelcol-<version>-<digest>/bin``,
rebuilding only when the manifest or the builder pin changes. :func:`validate` runs ``otelcol validate`` on
a rendered config; :func:`components` lists what the binary accepts.
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import yaml

from cli import toolcache
from destinations import components as component_names
from destinations.errors import CollectorError

COLLECTOR_VERSION = "0.155.0"
BUILDER = toolcache.GoTool(
    name="otelcol-builder",
    version=f"v{COLLECTOR_VERSION}",
    binaries={"builder": "go.opentelemetry.io/collector/cmd/builder"},
    source="otelcol/builder",
)
# The digest covers the whole cli/tools/otelcol directory: the manifest and the builder pin.
COLLECTOR = toolcache.GoTool(
    name="otelcol", version=f"v{COLLECTOR_VERSION}", binaries={"otelcol": ""}, source="otelcol"
)
MANIFEST = toolcache.TOOLS_DIR / "otelcol" / "manifest.yaml"


def collector_path() -> Path:
    """Where the pinned collector binary lives (built or not)."""
    override = os.environ.get("HODEGOS_OTELCOL")
    return Path(override) if override else COLLECTOR.path("otelcol")


def is_built() -> bool:
    return collector_path().is_file()


def _modules(manifest: dict[str, Any]) -> list[str]:
    """``module@version`` for every component and provider the manifest lists."""
    found: list[str] = []
    for kind in ("receivers", "processors", "connectors", "exporters", "extensions", "providers"):
        for entry in manifest.get(kind) or []:
            module, version = str(entry["gomod"]).split()
            found.append(f"{module}@{version}")
    return found


def ensure_collector(progress: toolcache.Progress | None = None) -> Path:
    """Build the collector if the pinned one is not cached yet; return the binary path.

    The builder generates the distribution's sources only. Module resolution is done with ``go get`` of the
    manifest's exact versions and ``go build`` rather than the builder's ``go mod tidy``, because tidy also
    resolves the test dependencies of every dependency, which the module proxy need not carry.
    """
    say = progress or (lambda _msg: None)
    if is_built():
        return collector_path()
    builder = toolcache.ensure(BUILDER, progress)["builder"]
    with toolcache.file_lock(toolcache.cache_root() / ".otelcol.lock"):
        if is_built():
            return collector_path()
        target = COLLECTOR.directory
        (target / "bin").mkdir(parents=True, exist_ok=True)
        log = target / "build.log"
        go = toolcache.go_binary()
        env = {
            **os.environ,
            "CGO_ENABLED": "0",
            "GOFLAGS": "-mod=mod",
            # Contrib modules may require a newer Go patch release than the installed one; let the go
            # command fetch that toolchain from the module proxy instead of failing.
            "GOTOOLCHAIN": "auto",
            "PATH": f"{Path(go).parent}:{os.environ.get('PATH', '')}",
        }
        with tempfile.TemporaryDirectory(prefix="hodegos-otelcol-") as tmp:
            manifest = yaml.safe_load(MANIFEST.read_text())
            build = Path(tmp) / "build"
            manifest["dist"]["output_path"] = str(build)
            config = Path(tmp) / "manifest.yaml"
            config.write_text(yaml.safe_dump(manifest, sort_keys=False, width=1000))
            say(f"generating otelcol {COLLECTOR_VERSION} sources with the Collector Builder")
            toolcache.run_logged(
                [str(builder), f"--config={config}", "--skip-compilation", "--skip-get-modules"],
                cwd=Path(tmp),
                env=env,
                log=log,
            )
            core = f"v{COLLECTOR_VERSION}"
            if not (build / "go.mod").exists():  # older builders write it, newer ones do not
                toolcache.run_logged(
                    [go, "mod", "init", "hodegos.local/otelcol"], cwd=build, env=env, log=log
                )
            for replace in manifest.get("replaces") or []:
                old, new = (part.strip() for part in str(replace).split("=>"))
                toolcache.run_logged(
                    [go, "mod", "edit", f"-replace={old}={new.replace(' ', '@')}"],
                    cwd=build,
                    env=env,
                    log=log,
                )
            say("resolving collector modules")
            toolcache.run_logged(
                [go, "get", *_modules(manifest), f"go.opentelemetry.io/collector/otelcol@{core}"],
                cwd=build,
                env=env,
                log=log,
            )
            say(f"compiling otelcol {COLLECTOR_VERSION} (a large Go build: several minutes)")
            partial = target / "bin" / ".otelcol.partial"
            toolcache.run_logged(
                [go, "build", "-trimpath", "-ldflags=-s -w", "-o", str(partial), "."],
                cwd=build,
                env=env,
                log=log,
            )
            partial.rename(target / "bin" / "otelcol")
        say(f"otelcol {COLLECTOR_VERSION} ready in {target}")
    return collector_path()


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


def _offline(config: dict[str, Any]) -> dict[str, Any]:
    """``config`` without what only a network call can check (``sigv4auth``'s ``assume_role``)."""
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
    metadata service, and ``assume_role`` calls STS. Validation never leaves this machine: the metadata
    service is switched off, STS points at a closed loopback port, placeholder keys stand in when the
    caller's environment has none, and ``assume_role`` is taken out of the copy that is validated. So the
    config is checked and the credentials are not; the gateway gets its own at run time.
    """
    exe = binary or collector_path()
    if isinstance(config, str):
        text = json.dumps(_offline(yaml.safe_load(config))) if "assume_role" in config else config
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
            [str(exe), "validate", f"--config={handle.name}"],
            capture_output=True,
            text=True,
            timeout=120,
            env=run_env,
        )
    if out.returncode != 0:
        raise CollectorError(f"otelcol validate rejected the config: {(out.stderr or out.stdout).strip()}")
