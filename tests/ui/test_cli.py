"""``hodegos ui`` as a user runs it: a real process serving on loopback against the local cluster."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from api import constants
from kube import Api
from kube.resources import SERVICES
from tests.ui.conftest import free_port, wait_for

pytestmark = pytest.mark.cluster
HODEGOS = [sys.executable, "-m", "cli.main"]


@pytest.fixture
def served_cli(kubeconfig: Path, system_namespace: str) -> Iterator[str]:
    port = free_port()
    process = subprocess.Popen(
        [*HODEGOS, "ui", "--kubeconfig", str(kubeconfig), "--port", str(port), "--read-only"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"

    def up() -> bool:
        assert process.poll() is None, process.stdout.read() if process.stdout else ""
        try:
            return httpx.get(f"{url}/healthz", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    try:
        wait_for("hodegos ui to serve", up, 60)
        yield url
    finally:
        process.terminate()
        process.wait(15)


def test_hodegos_ui_serves_on_loopback_read_only(served_cli: str) -> None:
    page = httpx.get(f"{served_cli}/sources")
    assert page.status_code == 200 and "Read-only" in page.text
    assert httpx.post(f"{served_cli}/settings", data={"f.mode": "opt-out"}).status_code == 403


def test_hodegos_ui_says_why_it_cannot_port_forward_and_what_to_do_instead(
    kubeconfig: Path, admin_api: Api, system_namespace: str
) -> None:
    service = {"metadata": {"name": "hodegos-ui"}, "spec": {"ports": [{"port": constants.UI_PORT}]}}
    admin_api.create(SERVICES, system_namespace, service)
    try:
        result = subprocess.run(
            [*HODEGOS, "ui", "--kubeconfig", str(kubeconfig), "--port", str(free_port())],
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
    finally:
        admin_api.delete(SERVICES, system_namespace, "hodegos-ui")
    assert result.returncode == 1
    text = " ".join(result.stderr.split())  # the console wraps long lines
    # A Service with no pod behind it (and no port named http): nothing to forward to, said as such.
    assert "cannot port-forward to the in-cluster UI" in text and "has no port http" in text
    assert "hodegos ui --local" in text
