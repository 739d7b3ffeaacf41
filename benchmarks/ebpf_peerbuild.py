"""Build the peer, OpenTelemetry Go automatic instrumentation, from the Go module proxy into the cache.

    python -m benchmarks.ebpf_peerbuild     # prints the binary's path

``go.opentelemetry.io/auto`` ships its BPF C sources but not the objects ``bpf2go`` makes from them, so
the module is copied into ``~/.cache/hodegos/otel-go-auto-<version>-<digest>/``, ``go generate`` runs
there with Debian's clang (``.ci/apt/ebpf-peer.txt``), and its ``cli`` is built. Nothing of the peer is
ever committed to this repository. Its ``sdk`` module is a ``replace`` to a directory that the module
zip does not carry; the build uses the version its go.mod requires from the proxy instead.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from harness import gobuilds

MODULE = "go.opentelemetry.io/auto"
VERSION = "v0.24.0"
RECIPE = "1"  # bump when the steps below change


class PeerBuildError(RuntimeError):
    pass


def _run(command: list[str], cwd: Path, env: dict[str, str], what: str) -> str:
    done = subprocess.run(["nice", "-n", "10", *command], cwd=cwd, env=env, capture_output=True, text=True)
    if done.returncode:
        tail = "\n".join((done.stderr or done.stdout).strip().splitlines()[-15:])
        raise PeerBuildError(f"{what} failed ({' '.join(command)}):\n{tail}")
    return done.stdout


def build(progress: bool = True) -> Path:
    """The peer's command-line binary (``otel-go-instrumentation``), built once per version and Go."""
    go = gobuilds.toolchains()["machine"]
    for tool in ("clang", "llvm-strip"):
        if shutil.which(tool) is None:
            raise PeerBuildError(f"{tool} is missing: the peer's BPF objects need it (make setup)")
    go_version = gobuilds.go_version(go)
    digest = hashlib.sha256(f"{MODULE}@{VERSION}|{go_version}|{RECIPE}".encode()).hexdigest()[:12]
    root = gobuilds.cache_root() / f"otel-go-auto-{VERSION}-{digest}"
    binary = root / "otel-go-instrumentation"
    if binary.exists():
        return binary
    root.mkdir(parents=True, exist_ok=True)
    with (root / ".lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if binary.exists():
            return binary
        env = {
            **os.environ,
            "GOTOOLCHAIN": "local",
            "GOMODCACHE": str(root / "mod"),
            "GOFLAGS": "-modcacherw",
            "CGO_ENABLED": "0",
        }

        def say(text: str) -> None:
            if progress:
                print(f"peer: {text}", file=sys.stderr, flush=True)

        say(f"downloading {MODULE}@{VERSION} from the Go module proxy")
        download = [str(go), "mod", "download", "-json", f"{MODULE}@{VERSION}"]
        info = json.loads(_run(download, root, env, "download"))
        src = root / "src"
        if src.exists():
            shutil.rmtree(src)
        shutil.copytree(info["Dir"], src)
        for path in [src, *src.rglob("*")]:
            path.chmod(path.stat().st_mode | 0o200)
        _run([str(go), "mod", "edit", "-dropreplace", f"{MODULE}/sdk"], src, env, "go mod edit")
        include = src / "internal" / "include"
        gen_env = {
            **env,
            "BPF2GO_CC": "clang",
            "BPF2GO_STRIP": "llvm-strip",
            "BPF2GO_CFLAGS": f"-I{include / 'libbpf'} -I{include}",
        }
        say("go generate (bpf2go + clang: the BPF objects)")
        _run([str(go), "generate", "./internal/pkg/instrumentation/bpf/..."], src, gen_env, "go generate")
        say("go build ./cli (a few minutes on 2 cores)")
        tmp = root / "otel-go-instrumentation.tmp"
        _run([str(go), "build", "-mod=mod", "-o", str(tmp), "./cli"], src, env, "go build")
        tmp.rename(binary)
        return binary


if __name__ == "__main__":
    try:
        print(build())
    except PeerBuildError as exc:
        raise SystemExit(f"error: {exc}") from exc
