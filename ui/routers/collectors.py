"""``/collectors``: the gateway and node collector groups, their replicas, autoscaler and configuration."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse

from ui import dependencies, rendering
from ui.cluster import Cluster
from ui.views import collectors

router = APIRouter(prefix="/collectors", tags=["collectors"])


@router.get("", response_class=HTMLResponse)
def collectors_page(request: Request, cluster: Cluster = Depends(dependencies.cluster)) -> HTMLResponse:
    return rendering.page(request, "collectors.html", active="collectors", groups=collectors.groups(cluster))
