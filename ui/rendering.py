"""Templates: one Jinja2 environment, the context every page gets, and HTML error answers.

Every page gets ``settings``, ``csrf`` (the form token), ``read_only``, ``config_error`` (what is wrong with
``hodegos-config``, if anything), ``synced`` and ``nav``; an htmx request (``HX-Request``, not a history
restore) gets just the fragment a route names.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from ui import drafts, forms, security
from ui.cluster import Cluster
from ui.settings import Settings
from ui.telemetry import UNITS
from ui.views.sources import STATE_LABELS

TEMPLATES = Path(__file__).resolve().parent / "templates"
NAV = (
    ("overview", "/overview", "Overview"),
    ("sources", "/sources", "Sources"),
    ("destinations", "/destinations", "Destinations"),
    ("actions", "/actions", "Actions"),
    ("sampling", "/sampling", "Sampling"),
    ("collectors", "/collectors", "Collectors"),
    ("settings", "/settings", "Settings"),
)


def rate(value: float | None) -> str:
    if value is None:
        return "no data"
    if value >= 1000:
        return f"{value / 1000:.1f}k"
    return f"{value:.1f}" if value < 10 else f"{value:.0f}"


def make_templates() -> Jinja2Templates:
    templates = Jinja2Templates(directory=str(TEMPLATES))
    env = templates.env
    env.trim_blocks = True
    env.lstrip_blocks = True
    env.globals.update(
        input_id=forms.input_id,
        show_if_json=forms.show_if_json,
        state_labels=STATE_LABELS,
        signal_labels=drafts.SIGNAL_LABELS,
        units=UNITS,
        nav=NAV,
    )
    env.filters["rate"] = rate
    return templates


def is_htmx(request: Request) -> bool:
    return (
        request.headers.get("hx-request") == "true"
        and request.headers.get("hx-history-restore-request") != "true"
    )


def page(
    request: Request,
    template: str,
    *,
    active: str = "",
    status_code: int = 200,
    headers: dict[str, str] | None = None,
    **context: Any,
) -> HTMLResponse:
    app = request.app
    settings: Settings = app.state.settings
    cluster: Cluster = app.state.cluster
    templates: Jinja2Templates = app.state.templates
    base = {
        "settings": settings,
        "read_only": settings.read_only,
        "csrf": security.csrf_token(request, settings),
        "config_error": cluster.config_error,
        "synced": cluster.synced,
        "active": active,
    }
    base.update(context)
    return templates.TemplateResponse(request, template, base, status_code=status_code, headers=headers)


def error(request: Request, status_code: int, message: str) -> HTMLResponse:
    """The error page, or for htmx a flash message swapped into the page's alert region."""
    if is_htmx(request):
        return page(
            request, "_flash.html", status_code=status_code, message=message, level="error",
            headers={"HX-Retarget": "#flash", "HX-Reswap": "innerHTML"},
        )  # fmt: skip
    return page(request, "error.html", status_code=status_code, message=message)
