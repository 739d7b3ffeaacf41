"""Go toolchains for the tracer tests and the goserver binaries built with each, cached under
``~/.cache/hodegos/ebpf-goserver/`` (rebuilt only when the source or the toolchain changes).

Toolchains: Debian's golang-go (1.19), the machine's Go, and golang.org/toolchain modules from the Go module
proxy that ``.ci/setup.d/40-ebpf.sh`` fetches (keep PROXY_TOOLCHAINS in step with it).
"""

from __future__ import annotations

import fcntl
import glob
import hashlib
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

SOURCE = Path(__file__).resolve().parent / "goserver"
PROXY_TOOLCHAINS = ("1.21.13", "1.23.12", "1.25.14", "1.27.4")
MODES = {
    "plain": [],
    "stripped": ["-ldflags=-s -w"],
    "pie": ["-buildmode=pie"],
}


def cache_root() -> Path:
    return Path(os.environ.get("HODEGOS_CACHE", Path.home() / ".cache" / "hodegos"))


def toolchains() -> dict[str, Path]:
    """label -> go command, for those present on this machine."""
    found: dict[str, Path] = {}
    debian = sorted(glob.glob("/usr/lib/go-1.*/bin/go"))
    if debian:
        found["debian"] = Path(debian[-1])
    machine = (
        "/usr/local/go/bin/go" if Path("/usr/local/go/bin/go").exists() else (shutil.which("go") or "go")
    )
    if Path(machine).exists():
        found["machine"] = Path(machine)
    for version in PROXY_TOOLCHAINS:
        go = cache_root() / f"go-toolchains/golang.org/toolchain@v0.0.1-go{version}.linux-amd64/bin/go"
        if go.exists() and os.access(go, os.X_OK):
            found[f"go{version}"] = go
    return found


def expected_labels() -> list[str]:
    return ["debian", "machine", *(f"go{v}" for v in PROXY_TOOLCHAINS)]


@dataclass(frozen=True)
class Build:
    label: str
    mode: str
    go_version: str
    path: Path


def _env() -> dict[str, str]:
    return {**os.environ, "GOTOOLCHAIN": "local", "CGO_ENABLED": "0", "GOFLAGS": "-mod=mod"}


def go_version(go: Path) -> str:
    out = subprocess.run(
        [str(go), "env", "GOVERSION"], env=_env(), capture_output=True, text=True, check=True
    )
    return out.stdout.strip()


def build(label: str, go: Path, mode: str) -> Build:
    version = go_version(go)
    digest = hashlib.sha256()
    for file in sorted(SOURCE.iterdir()):
        digest.update(file.name.encode() + file.read_bytes())
    digest.update(repr(MODES[mode]).encode() + str(go.resolve()).encode())
    target = cache_root() / "ebpf-goserver" / f"{version}-{mode}-{digest.hexdigest()[:10]}" / "goserver"
    if not target.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        with (target.parent / ".lock").open("w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if not target.exists():
                tmp = target.with_suffix(".tmp")
                subprocess.run(
                    ["nice", "-n", "10", str(go), "build", *MODES[mode], "-o", str(tmp), "."],
                    cwd=SOURCE,
                    env=_env(),
                    check=True,
                    capture_output=True,
                )
                tmp.rename(target)
    return Build(label, mode, version, target)
