"""``/`` and ``/overview``: the pipeline as a picture, refreshed in place every few seconds.

``/`` sends a cluster with no Destination yet to the onboarding, and everyone else to the overview.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from ui import dependencies, rendering
from ui.cluster import Cluster
from ui.telemetry import Scraper
from ui.views import pipeline, sources

router = APIRouter(tags=["overview"])


@router.get("/", include_in_schema=False)
def home(cluster: Cluster = Depends(dependencies.cluster)) -> Response:
    return RedirectResponse("/overview" if cluster.destination_list() else "/onboarding", status_code=303)


def _pipeline(cluster: Cluster, scraper: Scraper) -> pipeline.Pipeline:
    return pipeline.build(cluster, sources.rows(cluster), scraper.snapshot(), scraper.enabled)


@router.get("/overview", response_class=HTMLResponse)
def overview(
    request: Request,
    cluster: Cluster = Depends(dependencies.cluster),
    scraper: Scraper = Depends(dependencies.scraper),
) -> HTMLResponse:
    return rendering.page(request, "overview.html", active="overview", pipe=_pipeline(cluster, scraper))


@router.get("/overview/pipeline", response_class=HTMLResponse)
def pipeline_fragment(
    request: Request,
    cluster: Cluster = Depends(dependencies.cluster),
    scraper: Scraper = Depends(dependencies.scraper),
) -> HTMLResponse:
    return rendering.page(request, "_pipeline.html", pipe=_pipeline(cluster, scraper))
