"""The demo's onboarding, done the way a user does it: in the web UI, with a real browser.

Debian's Chromium driven by Playwright (the UI tests' tooling): choose opt-out mode, pick Jaeger from the
catalogue and fill its form (the onboarding's destination step), then add the sink for metrics and logs
from Destinations -> Add destination. Each step waits for the page the UI answers with, so a refused form
stops here with the page's own error message. A screenshot of every step goes to ``screenshots``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from journey.backend import DemoError, Progress

if TYPE_CHECKING:  # Playwright comes with the test extras; only the onboarding needs it
    from playwright.sync_api import Page

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@dataclass(frozen=True)
class DestinationForm:
    """One destination as the form is filled: the catalogue entry's link, the name, fields by label."""

    link: str
    name: str
    fields: tuple[tuple[str, str], ...]
    signals: tuple[str, ...]  # the signals left checked; the others are unchecked


JAEGER = DestinationForm(
    link="Jaeger", name="jaeger", fields=(("Collector endpoint", "jaeger.observability:4317"),),
    signals=("Traces",),
)  # fmt: skip
SINK = DestinationForm(
    link="OTLP HTTP", name="metrics-and-logs",
    fields=(("Endpoint", "http://sink.observability:4318"),), signals=("Metrics", "Logs"),
)  # fmt: skip
ALL_SIGNALS = ("Traces", "Metrics", "Logs")


def run(url: str, screenshots: Path | None = None, progress: Progress | None = None) -> None:
    """Onboard the cluster whose UI answers at ``url``: opt-out, Jaeger, then the sink."""
    from playwright.sync_api import Error as PlaywrightError
    from playwright.sync_api import expect, sync_playwright

    say = progress or (lambda _m: None)
    if not CHROMIUM.is_file():
        raise DemoError(f"{CHROMIUM} is missing: the onboarding drives Debian's Chromium (make setup)")
    shots = screenshots
    if shots:
        shots.mkdir(parents=True, exist_ok=True)

    def shot(page: Page, name: str) -> None:
        if shots:
            page.screenshot(path=str(shots / f"{name}.png"), full_page=True)

    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1280, "height": 860})
            page.set_default_timeout(30_000)
            page.goto(url + "/")
            if re.search(r"/onboarding$", page.url):
                say("onboarding 1/3: opt-out mode (instrument every workload outside the ignored namespaces)")
                page.get_by_label("Opt-out: instrument every workload").check()
                shot(page, "onboarding-1-mode")
                page.get_by_role("button", name="Next").click()
                expect(page).to_have_url(re.compile(r"/onboarding/destination$"))
                say(f"onboarding 2/3: destination {JAEGER.name!r} (Jaeger) for traces")
                _fill(page, JAEGER)
                shot(page, "onboarding-2-destination")
                page.get_by_role("button", name="Create destination").click()
                _expect_or_error(page, r"/onboarding/summary$", JAEGER)
                shot(page, "onboarding-3-summary")
                page.get_by_role("link", name="Done").click()
                expect(page).to_have_url(re.compile(r"/overview$"))
            else:
                say("onboarding already done (a Destination exists): skipping the mode and first destination")
            page.goto(url + "/destinations")
            if page.get_by_role("link", name=SINK.name, exact=True).count() == 0:
                say(f"onboarding 3/3: destination {SINK.name!r} (OTLP HTTP) for metrics and logs")
                page.get_by_role("link", name="Add destination").first.click()
                _fill(page, SINK)
                page.get_by_role("button", name="Create destination").click()
                _expect_or_error(page, r"/destinations(/[^/]+)?$", SINK)
            page.goto(url + "/overview")
            shot(page, "overview")
            browser.close()
    except PlaywrightError as exc:
        raise DemoError(f"the onboarding in the browser failed at {url}: {exc}") from exc


def capture(url: str, shots: Path, pages: tuple[tuple[str, str], ...]) -> list[Path]:
    """Screenshots of UI pages (``(name, path)``) once data flows, e.g. the overview for the README."""
    from playwright.sync_api import Error as PlaywrightError
    from playwright.sync_api import sync_playwright

    shots.mkdir(parents=True, exist_ok=True)
    saved = []
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1280, "height": 860})
            for name, path in pages:
                page.goto(url + path)
                page.wait_for_load_state("networkidle")
                saved.append(shots / f"{name}.png")
                page.screenshot(path=str(saved[-1]), full_page=True)
            browser.close()
    except PlaywrightError as exc:
        raise DemoError(f"taking screenshots of the UI at {url} failed: {exc}") from exc
    return saved


def _fill(page: Page, form: DestinationForm) -> None:
    page.get_by_label("Search destinations").fill(form.link.split()[0])
    page.get_by_role("link", name=form.link, exact=True).click()
    page.get_by_label("Name", exact=True).fill(form.name)
    for label, value in form.fields:
        page.get_by_label(label, exact=True).fill(value)
    for signal in ALL_SIGNALS:
        box = page.get_by_label(signal, exact=True)
        if box.count():
            box.set_checked(signal in form.signals)


def _expect_or_error(page: Page, url_pattern: str, form: DestinationForm) -> None:
    """Wait for the next page; if the form came back instead, raise with its error messages."""
    from playwright.sync_api import expect

    try:
        expect(page).to_have_url(re.compile(url_pattern), timeout=20_000)
    except AssertionError as exc:
        errors = page.locator(".field-error, .flash-error, [role=alert]").all_inner_texts()
        raise DemoError(
            f"the {form.link} form for {form.name!r} was refused: {'; '.join(errors) or exc}"
        ) from exc
