"""``/onboarding``: the first run, in four steps, shown while no Destination exists.

1. instrumentation mode for the cluster (opt-out: everything; opt-in: choose), written to ``hodegos-config``;
2. in opt-in mode, the namespaces and workloads to instrument (each with what the node agent detected),
   written as ``hodegos.io/instrumentation: enabled`` annotations;
3. a destination from the catalogue, with the same form and checks as ``/destinations``;
4. a summary of what will happen next.

Each step writes when it is submitted, so leaving half-way keeps what was chosen.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from controllers import optin
from ui import dependencies, drafts, rendering, writing
from ui.cluster import Cluster
from ui.errors import BadRequest, NotFound
from ui.routers import destinations as dest_routes
from ui.views import settings as settings_view
from ui.views import sources

router = APIRouter(prefix="/onboarding", tags=["onboarding"])
STEPS = ("Mode", "Sources", "Destination", "Summary")


def _page(request: Request, template: str, step: int, **context: Any) -> HTMLResponse:
    return rendering.page(request, template, active="onboarding", steps=STEPS, step=step, **context)


@router.get("", response_class=HTMLResponse)
def mode_page(request: Request, cluster: Cluster = Depends(dependencies.cluster)) -> HTMLResponse:
    return _page(request, "onboarding_mode.html", 1, mode=cluster.config.mode)


@router.post("/mode", response_class=HTMLResponse)
def choose_mode(
    request: Request,
    mode: str = Form(pattern="^(opt-in|opt-out)$"),
    cluster: Cluster = Depends(dependencies.cluster),
) -> Response:
    mapping = writing.config_mapping(cluster)
    mapping["mode"] = mode
    errors = settings_view.validate(mapping)
    if errors:
        return _page(request, "onboarding_mode.html", 1, mode=mode, errors=errors, status_code=422)
    writing.apply_config(cluster, mapping)
    return RedirectResponse(
        "/onboarding/sources" if mode == "opt-in" else "/onboarding/destination", status_code=303
    )


@router.get("/sources", response_class=HTMLResponse)
def sources_page(request: Request, cluster: Cluster = Depends(dependencies.cluster)) -> HTMLResponse:
    rows = sources.rows(cluster)
    by_ns: dict[str, list[sources.SourceRow]] = {}
    for r in rows:
        if r.state != "ignored":
            by_ns.setdefault(r.namespace, []).append(r)
    groups = []
    for ns in sources.namespaces(cluster, rows):
        if ns.ignored:
            continue
        workloads = []
        for r in sorted(by_ns.get(ns.name, []), key=lambda r: (r.kind, r.name)):
            record = cluster.record(r.kind, r.namespace, r.name)
            containers = ((record or {}).get("status") or {}).get("containers") or []
            workloads.append({"row": r, "containers": containers})
        groups.append({"ns": ns, "workloads": workloads})
    return _page(request, "onboarding_sources.html", 2, groups=groups, mode=cluster.config.mode)


@router.post("/sources", response_class=HTMLResponse)
async def choose_sources(request: Request, cluster: Cluster = Depends(dependencies.cluster)) -> Response:
    form = await request.form()
    chosen_ns = [str(v) for v in form.getlist("namespace")]
    chosen_workloads = [str(v) for v in form.getlist("workload")]
    for ns in chosen_ns:
        if cluster.namespace_obj(ns) is None:
            raise NotFound(f"namespace {ns} does not exist")
    targets = []
    for value in chosen_workloads:
        parts = value.split("/")
        if (
            len(parts) != 3
            or parts[1] not in optin.WATCHED_KINDS
            or cluster.workload(parts[1], parts[0], parts[2]) is None
        ):
            raise BadRequest(f"no workload {value!r} (expected namespace/Kind/name of an existing workload)")
        targets.append(parts)
    for ns in chosen_ns:
        writing.set_namespace_instrumentation(cluster, ns, "enabled")
    for ns, kind, name in targets:
        if ns not in chosen_ns:
            writing.set_workload_instrumentation(cluster, kind, ns, name, "enabled")
    return RedirectResponse("/onboarding/destination", status_code=303)


@router.get("/destination", response_class=HTMLResponse)
def destination_catalogue(request: Request) -> HTMLResponse:
    return _page(
        request,
        "catalogue.html",
        3,
        groups=dest_routes.catalogue_groups(),
        q="",
        base="/onboarding/destination",
    )


def _form(request: Request, draft: drafts.Draft, type_name: str, status_code: int = 200) -> HTMLResponse:
    context = dest_routes.form_context(
        draft, action=f"/onboarding/destination/{type_name}",
        test_action=f"/destinations/new/{type_name}/test", submit="Create destination", editing=False,
    )  # fmt: skip
    return _page(request, "destination.html", 3, status_code=status_code, **context)


@router.get("/destination/{type_name}", response_class=HTMLResponse)
def destination_form(request: Request, type_name: str) -> HTMLResponse:
    type_ = dest_routes.type_or_404(type_name)
    return _form(request, dest_routes.new_draft(type_), type_.type)


@router.post("/destination/{type_name}", response_class=HTMLResponse)
async def create_destination(
    request: Request, type_name: str, cluster: Cluster = Depends(dependencies.cluster)
) -> Response:
    type_ = dest_routes.type_or_404(type_name)
    draft, created = await dest_routes.submit_new(request, cluster, type_)
    if created:
        return RedirectResponse("/onboarding/summary", status_code=303)
    return _form(request, draft, type_.type, status_code=422)


@router.get("/summary", response_class=HTMLResponse)
def summary(request: Request, cluster: Cluster = Depends(dependencies.cluster)) -> HTMLResponse:
    rows = [r for r in sources.rows(cluster) if r.enabled]
    namespaces = sorted({r.namespace for r in rows})
    annotated = [
        ns.name for ns in sources.namespaces(cluster, []) if ns.annotation == "enabled" and not ns.ignored
    ]
    return _page(
        request, "onboarding_summary.html", 4, mode=cluster.config.mode, rows=rows[:50], total=len(rows),
        namespaces=namespaces, annotated=annotated, destinations=cluster.destination_list(),
    )  # fmt: skip
