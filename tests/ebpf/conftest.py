"""Fixtures for the eBPF tracer tests: built goservers, running targets, one BPF runtime per session."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness import gobuilds
from tests.support import bpf_ready, require


class GoServer:
    """A running goserver; ``address`` is host:port."""

    def __init__(self, binary: Path) -> None:
        self.binary = binary
        self.process = subprocess.Popen([str(binary)], stdout=subprocess.PIPE, text=True)
        assert self.process.stdout is not None
        self.address = self.process.stdout.readline().strip()
        assert self.address, f"{binary} did not start"

    @property
    def pid(self) -> int:
        return self.process.pid

    def alive(self) -> bool:
        return self.process.poll() is None

    def stop(self) -> None:
        if self.alive():
            self.process.kill()
        self.process.wait(timeout=10)
        if self.process.stdout:
            self.process.stdout.close()


@pytest.fixture(scope="session")
def bpf_runtime() -> Iterator[object]:
    ok, why = bpf_ready()
    require(ok, why)
    import ebpf

    yield ebpf.runtime()


@pytest.fixture(scope="session")
def toolchains() -> dict[str, Path]:
    found = gobuilds.toolchains()
    missing = [label for label in gobuilds.expected_labels() if label not in found]
    require(not missing, f"Go toolchains missing: {missing} (make setup: .ci/setup.d/40-ebpf.sh)")
    return found


@pytest.fixture
def start_server() -> Iterator[object]:
    servers: list[GoServer] = []

    def start(binary: Path) -> GoServer:
        server = GoServer(binary)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()
