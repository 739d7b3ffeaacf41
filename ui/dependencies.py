"""What routes depend on: the settings, the cluster view, the scraper, the request guard.

Each is read from ``app.state`` (set by :func:`ui.app.create_app`), so a test overrides one with
``app.dependency_overrides`` like any FastAPI dependency.
"""

from __future__ import annotations

from fastapi import Depends, Request

from ui import security
from ui.cluster import Cluster
from ui.settings import Settings
from ui.telemetry import Scraper


def settings(request: Request) -> Settings:
    value: Settings = request.app.state.settings
    return value


def cluster(request: Request) -> Cluster:
    value: Cluster = request.app.state.cluster
    return value


def scraper(request: Request) -> Scraper:
    value: Scraper = request.app.state.scraper
    return value


async def guard(request: Request, settings: Settings = Depends(settings)) -> None:
    """Every route's first dependency: read-only mode and CSRF for state-changing requests."""
    await security.check_request(request, settings)
