"""Fixtures for the UI tests: the real control plane, the UI's informers, a recorded app, Chromium.

Every response body the UI sends in this session (to the test client and to the browser) is recorded by an
ASGI wrapper, and every log line is kept: :func:`assert_no_canary` checks that the canary secret value used
as the API key in the tests never appears in any of them. The session ends with that check too.

The browser is Debian's Chromium (``/usr/bin/chromium``) driven by Playwright; no browser is downloaded.
Screenshots go to ``test-results/ui/`` (``HODEGOS_UI_SCREENSHOTS`` overrides it).
"""

from __future__ import annotations

import logging
import os
import re
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from fastapi.testclient import TestClient

from api import constants
from kube import Api
from kube.resources import NAMESPACES
from tests.support import require
from ui import Cluster, Scraper, Settings, create_app

if TYPE_CHECKING:
    from playwright.sync_api import ConsoleMessage, Page

    from controllers.manager import Manager
    from tests.kube import KubeCluster

CANARY = "canary-3f9d2c7a-never-shown"


def _datadog() -> tuple[str, str, str, str, str]:
    """From the catalogue, never hard-coded: the Datadog site field's label, its default and another option,
    and the API key field's label."""
    from destinations import get_type

    fields = get_type("datadog").field_map()
    site, key = fields["DATADOG_SITE"], fields["DATADOG_API_KEY"]
    other = next(v for v in reversed(site.values()) if v != site.default)
    third = next(v for v in site.values() if v not in (site.default, other))
    return site.label, str(site.default), other, third, key.label


SITE_LABEL, SITE_DEFAULT, SITE_OTHER, SITE_THIRD, KEY_LABEL = _datadog()
CHROMIUM = Path("/usr/bin/chromium")
SCREENSHOTS = Path(
    os.environ.get("HODEGOS_UI_SCREENSHOTS") or Path(__file__).resolve().parents[2] / "test-results" / "ui"
)
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


class Recorder:
    """Every response body and log line of the session, to search for the canary."""

    def __init__(self) -> None:
        self.bodies: list[tuple[str, bytes]] = []
        self.lines: list[str] = []
        self.lock = threading.Lock()

    def wrap(self, app: Any) -> Callable[..., Any]:
        async def recorded(scope: dict[str, Any], receive: Any, send: Any) -> None:
            if scope["type"] != "http":
                await app(scope, receive, send)
                return
            chunks: list[bytes] = []

            async def sending(message: dict[str, Any]) -> None:
                if message["type"] == "http.response.body":
                    chunks.append(message.get("body", b""))
                    if not message.get("more_body"):
                        with self.lock:
                            self.bodies.append((scope["path"], b"".join(chunks)))
                await send(message)

            await app(scope, receive, sending)

        return recorded

    def leaks(self, value: str) -> list[str]:
        needle = value.encode()
        with self.lock:
            found = [path for path, body in self.bodies if needle in body]
            found += [f"log: {line[:120]}" for line in self.lines if value in line]
        return found


class _Lines(logging.Handler):
    def __init__(self, recorder: Recorder) -> None:
        super().__init__(logging.DEBUG)
        self.recorder = recorder

    def emit(self, record: logging.LogRecord) -> None:
        try:
            line = record.getMessage()
        except Exception:
            line = str(record.msg)
        with self.recorder.lock:
            self.recorder.lines.append(line)


@pytest.fixture(scope="session")
def recorder() -> Iterator[Recorder]:
    rec = Recorder()
    handler = _Lines(rec)
    root = logging.getLogger()
    root.addHandler(handler)
    previous = root.level
    root.setLevel(min(previous or logging.INFO, logging.INFO))
    yield rec
    root.removeHandler(handler)
    root.setLevel(previous)
    assert rec.bodies, "no UI response was recorded: the canary check would prove nothing"
    assert not rec.leaks(CANARY), f"the canary secret value appeared in: {rec.leaks(CANARY)}"


def assert_no_canary(recorder: Recorder) -> None:
    leaks = recorder.leaks(CANARY)
    assert not leaks, f"the canary secret value appeared in: {leaks}"


@pytest.fixture(scope="session")
def system_namespace(admin_api: Api, hodegos_crds: list[str]) -> str:
    if admin_api.get(NAMESPACES, None, constants.NAMESPACE) is None:
        admin_api.create(NAMESPACES, None, {"metadata": {"name": constants.NAMESPACE}})
    return constants.NAMESPACE


@pytest.fixture(scope="session")
def ui_cluster(admin_api: Api, system_namespace: str) -> Iterator[Cluster]:
    cluster = Cluster(admin_api, system_namespace).start()
    assert cluster.wait_synced(60), "the UI's informers did not sync"
    yield cluster
    cluster.shutdown()


@pytest.fixture
def make_client(ui_cluster: Cluster, recorder: Recorder) -> Callable[..., TestClient]:
    def make(settings: Settings | None = None, telemetry: Scraper | None = None) -> TestClient:
        app = create_app(settings or Settings(), ui_cluster, telemetry=telemetry)
        return TestClient(recorder.wrap(app), base_url="http://127.0.0.1:3000")

    return make


@pytest.fixture
def client(make_client: Callable[..., TestClient]) -> TestClient:
    return make_client()


def csrf_of(client: TestClient, path: str = "/settings") -> str:
    """The CSRF token of a page (getting it also sets the cookie)."""
    match = re.search(r'name="csrf_token" value="([0-9a-f]+)"', client.get(path).text)
    assert match, f"no CSRF token on {path}"
    return match.group(1)


def wait_for(what: str, check: Callable[[], Any], timeout: float = 60.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.2)


# -- a served UI and the browser ---------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Served:
    """The UI on a loopback port, served by uvicorn in a thread."""

    def __init__(self, app: Any) -> None:
        import uvicorn

        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning", lifespan="off")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, name="ui-server", daemon=True)

    def __enter__(self) -> Served:
        self.thread.start()
        wait_for("the UI server", lambda: self.server.started, 30)
        return self

    def __exit__(self, *_exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(10)


@pytest.fixture(scope="session")
def browser_type_launch_args() -> dict[str, Any]:
    require(
        CHROMIUM.exists(), f"Debian's Chromium is not installed at {CHROMIUM} (.ci/apt/ui.txt; make setup)"
    )
    return {"executable_path": str(CHROMIUM), "headless": True, "args": CHROMIUM_ARGS}


@pytest.fixture(scope="session")
def screenshots() -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return SCREENSHOTS


@pytest.fixture
def named_namespace(admin_api: Api) -> Iterator[Callable[[str], str]]:
    """``named_namespace("shop") -> "shop-1a2b"``: short, readable names (the screenshots show them)."""
    import uuid

    created: list[str] = []

    def make(prefix: str) -> str:
        name = f"{prefix}-{uuid.uuid4().hex[:4]}"
        admin_api.create(NAMESPACES, None, {"metadata": {"name": name}})
        created.append(name)
        return name

    yield make
    for name in created:
        admin_api.delete(NAMESPACES, None, name)


# -- the controllers and a page on a served UI (browser test modules define ``served``) ---------------------


@pytest.fixture(scope="module")
def controllers(kube_cluster: KubeCluster, system_namespace: str) -> Iterator[Manager]:
    """The real controllers in this process (no webhook runs: they see it as unavailable)."""
    from controllers.manager import Manager
    from kube import connect

    manager = Manager(
        connect(kube_cluster.kubeconfig),
        identity="ui-browser",
        lease_duration=6,
        webhook_healthy=lambda: False,
    )
    manager.start()
    assert manager.elector is not None
    wait_for("leadership", manager.elector.leading.is_set, 30)
    yield manager
    manager.shutdown()


@pytest.fixture
def ui(page: Page, served: Served) -> Iterator[Page]:
    """A page on the served UI that fails the test on any console error (a CSP violation included)."""
    errors: list[str] = []

    def console(message: ConsoleMessage) -> None:
        # a form sent back with its errors is a 422 page: expected; any other error is not
        if message.type == "error" and "status of 422" not in message.text:
            errors.append(message.text)

    page.on("console", console)
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.set_default_timeout(15_000)
    page.set_viewport_size({"width": 1280, "height": 860})
    page.goto(served.url + "/overview")
    assert page.evaluate("typeof htmx") == "object", "htmx did not load"
    yield page
    assert not errors, f"console errors: {errors}"


def shot(page: Page, screenshots: Path, name: str) -> None:
    page.wait_for_load_state("networkidle")
    page.screenshot(path=str(screenshots / f"{name}.png"), full_page=True)
