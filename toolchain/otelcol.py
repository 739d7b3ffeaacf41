"""Building the pinned OpenTelemetry Collector with the Collector Builder (ocb).

``toolchain/pins/otelcol/manifest.yaml`` lists the components Hodegos configs use;
``toolchain/pins/otelcol/builder/`` pins ocb itself. :func:`ensure_collector` builds ocb with the tool cache,
runs it on the manifest and installs ``otelcol`` into ``~/.cache/hodegos/otelcol-<version>-<digest>/bin``,
rebuilding only when the manifest or the builder pin changes. ``$HODEGOS_OTELCOL`` points at another binary.

Command line (what ``.ci/setup.d/25-collector.sh`` runs): ``python -m toolchain.otelcol``.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path
from typing import Any

import yaml

from toolchain import cache

COLLECTOR_VERSION = "0.155.0"
BUILDER = cache.GoTool(
    name="otelcol-builder",
    version=f"v{COLLECTOR_VERSION}",
    binaries={"builder": "go.opentelemetry.io/collector/cmd/builder"},
    source="otelcol/builder",
)
# The digest covers the whole toolchain/pins/otelcol directory: the manifest and the builder pin.
COLLECTOR = cache.GoTool(
    name="otelcol", version=f"v{COLLECTOR_VERSION}", binaries={"otelcol": ""}, source="otelcol"
)
MANIFEST = cache.PINS_DIR / "otelcol" / "manifest.yaml"


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


def ensure_collector(progress: cache.Progress | None = None) -> Path:
    """Build the collector if the pinned one is not cached yet; return the binary path.

    The builder generates the distribution's sources only. Module resolution is done with ``go get`` of the
    manifest's exact versions and ``go build`` rather than the builder's ``go mod tidy``, because tidy also
    resolves the test dependencies of every dependency, which the module proxy need not carry.
    """
    say = progress or (lambda _msg: None)
    if is_built():
        return collector_path()
    builder = cache.ensure(BUILDER, progress)["builder"]
    with cache.file_lock(cache.cache_root() / ".otelcol.lock"):
        if is_built():
            return collector_path()
        target = COLLECTOR.directory
        (target / "bin").mkdir(parents=True, exist_ok=True)
        log = target / "build.log"
        go = cache.go_binary()
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
            cache.run_logged(
                [str(builder), f"--config={config}", "--skip-compilation", "--skip-get-modules"],
                cwd=Path(tmp),
                env=env,
                log=log,
            )
            core = f"v{COLLECTOR_VERSION}"
            if not (build / "go.mod").exists():  # older builders write it, newer ones do not
                cache.run_logged([go, "mod", "init", "hodegos.local/otelcol"], cwd=build, env=env, log=log)
            for replace in manifest.get("replaces") or []:
                old, new = (part.strip() for part in str(replace).split("=>"))
                cache.run_logged(
                    [go, "mod", "edit", f"-replace={old}={new.replace(' ', '@')}"],
                    cwd=build,
                    env=env,
                    log=log,
                )
            say("resolving collector modules")
            cache.run_logged(
                [go, "get", *_modules(manifest), f"go.opentelemetry.io/collector/otelcol@{core}"],
                cwd=build,
                env=env,
                log=log,
            )
            say(f"compiling otelcol {COLLECTOR_VERSION} (a large Go build: several minutes)")
            partial = target / "bin" / ".otelcol.partial"
            cache.run_logged(
                [go, "build", "-trimpath", "-ldflags=-s -w", "-o", str(partial), "."],
                cwd=build,
                env=env,
                log=log,
            )
            partial.rename(target / "bin" / "otelcol")
        say(f"otelcol {COLLECTOR_VERSION} ready in {target}")
    return collector_path()


if __name__ == "__main__":
    try:
        print(ensure_collector(lambda message: print(message, flush=True)))
    except cache.ToolBuildError as exc:
        print(f"error: {exc}", file=sys.stderr)
        raise SystemExit(1) from exc
