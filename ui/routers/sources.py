"""``/sources``: every workload, its opt-in state and why, toggles, details and "recover from rollback".

The table is filtered and paginated on the server (one page of rows is rendered, whatever the cluster's
size); with htmx the filters and pages swap only the table and keep the address bar in step. Toggles
write the ``hodegos.io/instrumentation`` annotation (``inherit`` removes it) and answer with the updated
row; without htmx every form post redirects back.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from controllers import optin
from ui import dependencies, rendering, writing
from ui.cluster import Cluster
from ui.errors import BadRequest, NotFound
from ui.settings import Settings
from ui.views import sources

router = APIRouter(prefix="/sources", tags=["sources"])


def filters(
    namespace: str = Query(default="", max_length=253),
    language: str = Query(default="", max_length=32),
    state: str = Query(default="", pattern="^(|" + "|".join(sources.STATES) + ")$"),
    q: str = Query(default="", max_length=253),
    page: int = Query(default=1, ge=1, le=100_000),
) -> sources.Filters:
    return sources.Filters(namespace=namespace, language=language, state=state, q=q, page=page)


def _table(cluster: Cluster, settings: Settings, chosen: sources.Filters) -> dict[str, Any]:
    rows = sources.rows(cluster, chosen.namespace or None)
    return {"result": sources.select(rows, chosen, settings.page_size), "filters": chosen}


@router.get("", response_class=HTMLResponse)
def sources_page(
    request: Request,
    chosen: sources.Filters = Depends(filters),
    cluster: Cluster = Depends(dependencies.cluster),
    settings: Settings = Depends(dependencies.settings),
) -> HTMLResponse:
    all_rows = sources.rows(cluster)
    picked = [r for r in all_rows if not chosen.namespace or r.namespace == chosen.namespace]
    return rendering.page(
        request, "sources.html", active="sources", namespaces=sources.namespaces(cluster, all_rows),
        result=sources.select(picked, chosen, settings.page_size), filters=chosen,
        languages=sorted({lang for r in all_rows for lang in r.languages}), mode=cluster.config.mode,
    )  # fmt: skip


@router.get("/table", response_class=HTMLResponse)
def sources_table(
    request: Request,
    chosen: sources.Filters = Depends(filters),
    cluster: Cluster = Depends(dependencies.cluster),
    settings: Settings = Depends(dependencies.settings),
) -> HTMLResponse:
    query = chosen.query()
    return rendering.page(
        request, "_sources_table.html", headers={"HX-Push-Url": "/sources" + (f"?{query}" if query else "")},
        **_table(cluster, settings, chosen),
    )  # fmt: skip


def _workload_or_404(cluster: Cluster, namespace: str, kind: str, name: str) -> dict[str, object]:
    if kind not in optin.WATCHED_KINDS:
        raise NotFound(f"unknown workload kind {kind!r} (one of {', '.join(optin.WATCHED_KINDS)})")
    workload = cluster.workload(kind, namespace, name)
    if workload is None:
        raise NotFound(f"{kind} {namespace}/{name} does not exist")
    return workload


def _state(state: str) -> str:
    if state not in writing.ANNOTATION_STATES:
        raise BadRequest(f"state must be one of {', '.join(writing.ANNOTATION_STATES)}")
    return state


@router.post("/namespaces/{namespace}/instrumentation", response_class=HTMLResponse)
def toggle_namespace(
    request: Request,
    namespace: str,
    state: str = Form(max_length=16),
    cluster: Cluster = Depends(dependencies.cluster),
) -> Response:
    if cluster.namespace_obj(namespace) is None:
        raise NotFound(f"namespace {namespace} does not exist")
    writing.set_namespace_instrumentation(cluster, namespace, _state(state))
    if not rendering.is_htmx(request):
        return RedirectResponse("/sources", status_code=303)
    rows = sources.namespaces(cluster, sources.rows(cluster, namespace))
    row = next(r for r in rows if r.name == namespace)
    return rendering.page(request, "_namespace_row.html", ns=row)


@router.post("/{namespace}/{kind}/{name}/instrumentation", response_class=HTMLResponse)
def toggle_workload(
    request: Request,
    namespace: str,
    kind: str,
    name: str,
    state: str = Form(max_length=16),
    cluster: Cluster = Depends(dependencies.cluster),
) -> Response:
    _workload_or_404(cluster, namespace, kind, name)
    writing.set_workload_instrumentation(cluster, kind, namespace, name, _state(state))
    if not rendering.is_htmx(request):
        return RedirectResponse(f"/sources/{namespace}/{kind}/{name}", status_code=303)
    story = sources.details(cluster, kind, namespace, name)
    assert story is not None
    return rendering.page(request, "_source_row.html", row=story["row"])


@router.get("/{namespace}/{kind}/{name}", response_class=HTMLResponse)
def source_details(
    request: Request, namespace: str, kind: str, name: str, cluster: Cluster = Depends(dependencies.cluster)
) -> HTMLResponse:
    _workload_or_404(cluster, namespace, kind, name)
    story = sources.details(cluster, kind, namespace, name)
    return rendering.page(request, "source.html", active="sources", story=story)


@router.post("/{namespace}/{kind}/{name}/recover", response_class=HTMLResponse)
def recover(
    request: Request, namespace: str, kind: str, name: str, cluster: Cluster = Depends(dependencies.cluster)
) -> Response:
    _workload_or_404(cluster, namespace, kind, name)
    writing.recover_from_rollback(cluster, kind, namespace, name)
    return RedirectResponse(f"/sources/{namespace}/{kind}/{name}", status_code=303)
