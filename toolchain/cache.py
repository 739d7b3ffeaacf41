"""Pinned tools built from the Go module proxy, cached under a versioned directory.

A tool is a small Go module kept in this repository (``toolchain/pins/<name>/go.mod``, ``go.sum``) that pins
the real upstream module; building it runs ``go build`` for each listed package. The result lives in
``$HODEGOS_CACHE`` (default ``~/.cache/hodegos``) under ``<name>-<version>-<manifest digest>/bin``, so a pin
change builds into a new directory and an unchanged pin is never rebuilt. A file lock makes concurrent
callers (two test processes, a CI run and a shell) wait for one build instead of racing.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import resource
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

PINS_DIR = Path(__file__).resolve().parent / "pins"

Progress = Callable[[str], None]


class ToolBuildError(RuntimeError):
    """A pinned tool could not be built; the message carries the command and its output tail."""


def cache_root() -> Path:
    return Path(os.environ.get("HODEGOS_CACHE", Path.home() / ".cache" / "hodegos"))


@dataclass(frozen=True)
class GoTool:
    """A Go module of ours pinning upstream code, and the binaries to build from it."""

    name: str
    version: str
    binaries: dict[str, str]  # binary name -> Go package path
    env: dict[str, str] = field(default_factory=dict)
    ldflags: str = "-s -w"
    tags: str = ""
    source: str = ""  # directory under toolchain/pins/ holding go.mod when it is not ``name``
    buildflags: tuple[str, ...] = ()  # extra ``go build`` flags, e.g. ``-buildmode=pie`` for a cgo binary

    @property
    def manifest_dir(self) -> Path:
        return PINS_DIR / (self.source or self.name)

    def digest(self) -> str:
        h = hashlib.sha256()
        h.update(repr((self.version, sorted(self.binaries.items()), sorted(self.env.items()))).encode())
        h.update(self.ldflags.encode() + self.tags.encode())
        if self.buildflags:  # only when set, so the digests of the older pins stay what they were
            h.update(repr(self.buildflags).encode())
        for path in sorted(self.manifest_dir.rglob("*")):
            if path.is_file():
                h.update(path.relative_to(self.manifest_dir).as_posix().encode())
                h.update(path.read_bytes())
        return h.hexdigest()[:12]

    @property
    def directory(self) -> Path:
        return cache_root() / f"{self.name}-{self.version}-{self.digest()}"

    def path(self, binary: str) -> Path:
        return self.directory / "bin" / binary

    def is_built(self) -> bool:
        return all(self.path(b).is_file() for b in self.binaries)


@contextmanager
def file_lock(path: Path) -> Iterator[None]:
    """Hold an exclusive ``flock`` on ``path`` (created if missing) for the block, across processes."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def go_binary() -> str:
    found = shutil.which("go") or ("/usr/local/go/bin/go" if Path("/usr/local/go/bin/go").exists() else None)
    if not found:
        raise ToolBuildError("the Go toolchain is not installed: `go` is not on PATH")
    return found


def run_logged(cmd: list[str], *, cwd: Path, env: dict[str, str], log: Path) -> None:
    """Run ``cmd`` with output appended to ``log``; on failure raise :class:`ToolBuildError` with the tail."""
    with log.open("a") as out:
        out.write(f"$ {' '.join(cmd)}\n")
        out.flush()
        result = subprocess.run(cmd, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT)
    if result.returncode != 0:
        tail = "\n".join(log.read_text(errors="replace").splitlines()[-25:])
        raise ToolBuildError(f"`{' '.join(cmd)}` failed (exit {result.returncode}):\n{tail}")


def ensure(tool: GoTool, progress: Progress | None = None) -> dict[str, Path]:
    """Build ``tool`` if its cache directory is missing a binary; return binary name -> path."""
    say = progress or (lambda _msg: None)
    if tool.is_built():
        return {b: tool.path(b) for b in tool.binaries}
    with file_lock(cache_root() / f".{tool.name}.lock"):
        if tool.is_built():
            return {b: tool.path(b) for b in tool.binaries}
        target = tool.directory
        started = time.monotonic()
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        (target / "bin").mkdir(parents=True, exist_ok=True)
        log = target / "build.log"
        env = {**os.environ, "CGO_ENABLED": "0", "GOFLAGS": "-mod=mod", **tool.env}
        with tempfile.TemporaryDirectory(prefix=f"hodegos-{tool.name}-") as tmp:
            work = Path(tmp)
            shutil.copytree(tool.manifest_dir, work, dirs_exist_ok=True)
            say(f"downloading modules for {tool.name} {tool.version}")
            run_logged([go_binary(), "mod", "download"], cwd=work, env=env, log=log)
            for index, (binary, package) in enumerate(sorted(tool.binaries.items()), 1):
                say(f"building {binary} {tool.version} ({index}/{len(tool.binaries)})")
                cmd = [go_binary(), "build", "-trimpath", *tool.buildflags, "-ldflags", tool.ldflags]
                if tool.tags:
                    cmd += ["-tags", tool.tags]
                partial = target / "bin" / f".{binary}.partial"
                run_logged([*cmd, "-o", str(partial), package], cwd=work, env=env, log=log)
                partial.rename(tool.path(binary))
        # What the build cost, for benchmarks/real_node.py (CPU time of the go commands and wall time).
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
        (target / "build.json").write_text(
            json.dumps(
                {
                    "seconds": round(time.monotonic() - started, 1),
                    "cpuSeconds": round(cpu, 1),
                }
            )
            + "\n"
        )
        say(f"{tool.name} {tool.version} ready in {target}")
    return {b: tool.path(b) for b in tool.binaries}
