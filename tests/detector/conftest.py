"""Fixtures for detector tests: real programs (built once per session) started as real processes.

Each program prints ``READY <version as the runtime itself reports it>`` and then blocks; that line is the
ground truth the detection is compared against.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.support import require

GO = shutil.which("go") or "/usr/local/go/bin/go"

C_PROGRAM = """
#include <stdio.h>
#include <unistd.h>
int main(void) { printf("READY\\n"); fflush(stdout); pause(); return 0; }
"""

# An embedder: a non-runtime executable that loads a runtime library (as uWSGI loads libpython).
EMBEDDER_PROGRAM = """
#include <dlfcn.h>
#include <stdio.h>
#include <unistd.h>
int main(int argc, char **argv) {
    if (argc < 2 || !dlopen(argv[1], RTLD_NOW | RTLD_GLOBAL)) {
        fprintf(stderr, "%s\\n", dlerror());
        return 1;
    }
    printf("READY\\n"); fflush(stdout); pause(); return 0;
}
"""

GO_PROGRAM = """
package main

import (
\t"fmt"
\t"os"
\t"runtime"
)

func main() {
\tfmt.Println("READY", runtime.Version())
\tbuf := make([]byte, 1)
\tos.Stdin.Read(buf)
}
"""

JAVA_PROGRAM = """
public class Probe {
    public static void main(String[] args) throws Exception {
        System.out.println("READY " + System.getProperty("java.version"));
        System.out.flush();
        System.in.read();
    }
}
"""

PYTHON_PROGRAM = (
    "import platform, sys; print('READY', platform.python_version(), flush=True); sys.stdin.read(1)"
)
NODE_PROGRAM = (
    "console.log('READY', process.version.slice(1)); process.stdin.on('data', () => process.exit(0));"
)


@dataclass
class Started:
    process: subprocess.Popen[str]
    ready: str  # the rest of the READY line: the runtime's own version, or ""

    @property
    def pid(self) -> int:
        return self.process.pid


def _build(cmd: list[str], cwd: Path, env: dict[str, str] | None = None) -> None:
    result = subprocess.run(
        ["nice", "-n", "10", *cmd], cwd=cwd, capture_output=True, text=True, env=env, timeout=600
    )
    assert result.returncode == 0, f"{' '.join(cmd)} failed:\n{result.stdout}\n{result.stderr}"


@pytest.fixture(scope="session")
def programs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[str]]:
    """Command lines of the test programs, built once: name -> argv."""
    root = tmp_path_factory.mktemp("detector-programs")
    commands: dict[str, list[str]] = {
        "python-venv": [sys.executable, "-c", PYTHON_PROGRAM],
        "python-debian": ["/usr/bin/python3", "-c", PYTHON_PROGRAM],
        "node": [shutil.which("node") or "node", "-e", NODE_PROGRAM],
    }
    cdir = root / "c"
    cdir.mkdir()
    (cdir / "probe.c").write_text(C_PROGRAM)
    require(shutil.which("gcc"), "gcc (Debian package gcc) is needed to build the static C probe")
    _build(["gcc", "-static", "-O1", "-o", "static-c", "probe.c"], cdir)
    commands["static-c"] = [str(cdir / "static-c")]
    require(shutil.which("musl-gcc"), "musl-gcc (Debian package musl-tools) is needed for the musl probe")
    _build(["musl-gcc", "-O1", "-o", "musl-c", "probe.c"], cdir)
    commands["musl-c"] = [str(cdir / "musl-c")]
    (cdir / "embedder.c").write_text(EMBEDDER_PROGRAM)
    _build(["gcc", "-O1", "-o", "embedder", "embedder.c", "-ldl"], cdir)
    commands["embedder"] = [str(cdir / "embedder")]

    godir = root / "go"
    godir.mkdir()
    (godir / "go.mod").write_text("module example.com/probe\n\ngo 1.21\n")
    (godir / "main.go").write_text(GO_PROGRAM)
    require(Path(GO).exists(), "the Go toolchain is needed to build the Go probe")
    env = {**os.environ, "GOTOOLCHAIN": "local", "GOFLAGS": "-mod=mod"}
    _build([GO, "build", "-o", "go-static", "."], godir, env)
    _build([GO, "build", "-o", "go-stripped-pie", "-buildmode=pie", "-ldflags=-s -w", "."], godir, env)
    commands["go-static"] = [str(godir / "go-static")]
    commands["go-stripped-pie"] = [str(godir / "go-stripped-pie")]

    jdir = root / "java"
    jdir.mkdir()
    (jdir / "Probe.java").write_text(JAVA_PROGRAM)
    require(shutil.which("javac"), "a JDK (javac) is needed to build the Java probe")
    _build(["javac", "-d", str(jdir), str(jdir / "Probe.java")], jdir)
    commands["java"] = [shutil.which("java") or "java", "-Xshare:auto", "-cp", str(jdir), "Probe"]

    script = root / "wait.sh"
    script.write_text("#!/bin/sh\necho READY\nread line\n")
    script.chmod(0o755)
    commands["shell"] = ["/bin/sh", str(script)]
    return commands


@pytest.fixture
def start() -> Iterator[Callable[..., Started]]:
    """``start(argv, env=None)``: run a program, wait for its READY line, stop it after the test."""
    started: list[subprocess.Popen[str]] = []

    def run(
        argv: list[str], env: dict[str, str] | None = None, preexec: Callable[[], None] | None = None
    ) -> Started:
        process = subprocess.Popen(
            argv,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, **(env or {})},
            preexec_fn=preexec,
            start_new_session=True,  # so the whole tree (a wrapper and its children) is stopped together
        )
        started.append(process)
        assert process.stdout is not None
        line = process.stdout.readline()
        if not line.startswith("READY"):
            process.kill()
            _, err = process.communicate(timeout=10)
            raise AssertionError(f"{argv} did not start: {line!r} {err}")
        return Started(process, line.removeprefix("READY").strip())

    yield run
    for process in started:
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        process.wait(timeout=10)


# -- Cluster: a node the test plays kubelet for ------------------------------------------------------


@pytest.fixture
def node_name(kube_api: Any) -> Iterator[str]:
    """A Node object no kubelet or kwok manages: the pods bound to it are the test's to describe."""
    from kubernetes import client

    core: Any = client.CoreV1Api(kube_api)
    name = f"detector-{uuid.uuid4().hex[:8]}"
    core.create_node({"metadata": {"name": name}})
    yield name
    core.delete_node(name)
