"""The UI application: :func:`create_app` wires settings, the cluster view, security and one router per page.

``kube`` is either a :class:`kube.Api` (the app builds its :class:`ui.cluster.Cluster` and starts the
informers when it starts serving) or a :class:`~ui.cluster.Cluster` already running (tests share one).
``telemetry`` is the collectors' metrics :class:`~ui.telemetry.Scraper`; none means "no data" on the
overview, which is right for a UI running outside the cluster.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from kube import Api
from ui import assets, dependencies, rendering, security
from ui.cluster import Cluster
from ui.errors import UiError
from ui.routers import actions, collectors, destinations, onboarding, overview, sampling, sources
from ui.routers import settings as settings_page
from ui.settings import Settings
from ui.telemetry import Scraper

log = logging.getLogger(__name__)


def create_app(settings: Settings, kube: Api | Cluster, *, telemetry: Scraper | None = None) -> FastAPI:
    cluster = kube if isinstance(kube, Cluster) else Cluster(kube, settings.namespace)
    scraper = telemetry or Scraper()
    owned = not cluster.started

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        cluster.start()
        scraper.start()
        try:
            yield
        finally:
            scraper.shutdown()
            if owned:
                cluster.shutdown()

    app = FastAPI(
        title="Hodegos",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
        dependencies=[Depends(dependencies.guard)],
    )
    app.state.settings = settings
    app.state.cluster = cluster
    app.state.scraper = scraper
    app.state.templates = rendering.make_templates()
    htmx = assets.htmx_path(settings.htmx_path)
    app.state.htmx = htmx
    if htmx is None:
        log.warning("htmx is not in the tool cache (run make setup): pages work, live updates do not")
    app.middleware("http")(security.middleware(settings))

    @app.exception_handler(UiError)
    async def ui_error(request: Request, exc: UiError) -> HTMLResponse:
        return rendering.error(request, exc.status_code, str(exc))

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> HTMLResponse:
        return rendering.error(request, exc.status_code, str(exc.detail))

    @app.exception_handler(RequestValidationError)
    async def bad_request(request: Request, exc: RequestValidationError) -> HTMLResponse:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'][1:]) or 'request'}: {e['msg']}" for e in exc.errors()
        )
        return rendering.error(request, 422, f"bad request: {problems}")

    @app.get("/static/{name}", include_in_schema=False)
    async def static(name: str) -> Response:
        if name == "htmx.min.js" and app.state.htmx is not None:
            return Response(assets.read(app.state.htmx), media_type="text/javascript",
                            headers={"Cache-Control": "public, max-age=86400"})  # fmt: skip
        if name in assets.OWN_FILES:
            return Response(assets.read(assets.STATIC_DIR / name), media_type=assets.OWN_FILES[name],
                            headers={"Cache-Control": "no-cache"})  # fmt: skip
        raise StarletteHTTPException(404, f"no static file {name}")

    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> Response:
        return Response("ok" if cluster.synced else "syncing", status_code=200 if cluster.synced else 503)

    for module in (overview, onboarding, sources, destinations, actions, sampling, collectors, settings_page):
        app.include_router(module.router)
    return app
