"""``/settings``: the ``hodegos-config`` fields, validated by ``api.config`` before anything is written."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from ui import dependencies, forms, rendering, writing
from ui.cluster import Cluster
from ui.views import settings as view

router = APIRouter(prefix="/settings", tags=["settings"])


@router.get("", response_class=HTMLResponse)
def settings_page(
    request: Request, saved: bool = False, cluster: Cluster = Depends(dependencies.cluster)
) -> HTMLResponse:
    state = forms.FormState(values=view.current_values(cluster.config))
    return rendering.page(
        request, "settings.html", active="settings", fields=view.FIELDS, state=state, saved=saved
    )


@router.post("", response_class=HTMLResponse)
async def save_settings(request: Request, cluster: Cluster = Depends(dependencies.cluster)) -> Response:
    values, _ = forms.read(view.FIELDS, await request.form())
    mapping = view.merged(writing.config_mapping(cluster), values)
    errors = view.validate(mapping)
    if errors:
        state = forms.FormState(values=values, errors=errors)
        return rendering.page(
            request, "settings.html", active="settings", fields=view.FIELDS, state=state, status_code=422
        )
    writing.apply_config(cluster, mapping)
    return RedirectResponse("/settings?saved=true", status_code=303)
