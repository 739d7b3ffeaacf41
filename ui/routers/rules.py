"""The pages of Actions (``/actions``) and SamplingRules (``/sampling``), built once per :class:`Family`.

Each family gets: its table (``""``, and ``/list``, the fragment that refreshes it in place every 5
seconds, so the controllers' ``Applied`` conditions appear without a reload), the catalogue of its kinds
(``/new``), the form of a kind generated from its file (``/new/{kind}``) and of an object (``/{name}/edit``),
and ``disable``, ``enable``, ``delete``. A submitted form is checked by :func:`ui.rules.check` and either
comes back (422) with each error beside its field and nothing written, or is applied whole.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from pipelines.kinds import KindFile
from ui import dependencies, rendering, rules, writing
from ui.cluster import Cluster
from ui.errors import NotFound
from ui.views import rules as view


def make_router(family: rules.Family) -> APIRouter:
    router = APIRouter(prefix=family.prefix, tags=[family.key])

    def kind_or_404(name: str) -> KindFile:
        kind = rules.kind_of(family, name)
        if kind is None:
            known = ", ".join(k.kind for k in family.kinds())
            raise NotFound(f"no {family.kind} kind {name!r} (one of {known})")
        return kind

    def existing(cluster: Cluster, name: str) -> tuple[dict[str, Any], KindFile]:
        obj = cluster.rule_informer(family.kind).get(cluster.namespace, name)
        if obj is None:
            raise NotFound(f"{family.kind} {name} does not exist")
        kind_name = rules.spec_kind(family, obj.get("spec") or {})
        if kind_name is None:
            raise NotFound(f"{family.kind} {name} sets no kind this UI knows: change it with kubectl")
        return obj, kind_or_404(kind_name)

    def form_page(
        request: Request, cluster: Cluster, draft: rules.RuleDraft, *, editing: bool, status_code: int = 200,
        obj: dict[str, Any] | None = None,
    ) -> HTMLResponse:  # fmt: skip
        action = f"{family.prefix}/{draft.name}/edit" if editing else f"{family.prefix}/new/{draft.kind.kind}"
        return rendering.page(
            request, "rule.html", status_code=status_code, active=family.key, family=family, draft=draft,
            kind=draft.kind, state=draft.state(), editing=editing, obj=obj, action=action,
            submit="Save" if editing else family.submit,
            signal_choices=rules.signal_choices(family, draft.kind),
            namespace_choices=rules.namespace_choices(
                (n["metadata"]["name"] for n in cluster.namespaces.items()), draft.namespaces
            ),
            workloads_editor=bool(draft.workloads_text.strip())
            or rules.workload_scope_supported(family, draft.kind.kind),
        )  # fmt: skip

    @router.get("", response_class=HTMLResponse)
    def list_page(request: Request, cluster: Cluster = Depends(dependencies.cluster)) -> HTMLResponse:
        return rendering.page(
            request, "rules.html", active=family.key, family=family, rows=view.rows(cluster, family)
        )

    @router.get("/list", response_class=HTMLResponse)
    def list_fragment(request: Request, cluster: Cluster = Depends(dependencies.cluster)) -> HTMLResponse:
        return rendering.page(request, "_rules_table.html", family=family, rows=view.rows(cluster, family))

    @router.get("/new", response_class=HTMLResponse)
    def catalogue(request: Request) -> HTMLResponse:
        return rendering.page(
            request, "rule_catalogue.html", active=family.key, family=family, kinds=family.kinds()
        )

    @router.get("/new/{kind_name}", response_class=HTMLResponse)
    def new_form(
        request: Request, kind_name: str, cluster: Cluster = Depends(dependencies.cluster)
    ) -> HTMLResponse:
        return form_page(request, cluster, rules.new_draft(family, kind_or_404(kind_name)), editing=False)

    @router.post("/new/{kind_name}", response_class=HTMLResponse)
    async def create(
        request: Request, kind_name: str, cluster: Cluster = Depends(dependencies.cluster)
    ) -> Response:
        kind = kind_or_404(kind_name)
        draft = rules.read_draft(family, kind, await request.form())
        taken = cluster.rule_informer(family.kind).get(cluster.namespace, draft.name) is not None
        rules.check(draft, taken=taken)
        if draft.errors:
            return form_page(request, cluster, draft, editing=False, status_code=422)
        writing.apply_rule(cluster, family.resource, draft.body(cluster.namespace))
        return RedirectResponse(family.prefix, status_code=303)

    @router.get("/{name}/edit", response_class=HTMLResponse)
    def edit_form(
        request: Request, name: str, cluster: Cluster = Depends(dependencies.cluster)
    ) -> HTMLResponse:
        obj, kind = existing(cluster, name)
        return form_page(request, cluster, rules.from_object(family, kind, obj), editing=True, obj=obj)

    @router.post("/{name}/edit", response_class=HTMLResponse)
    async def save(request: Request, name: str, cluster: Cluster = Depends(dependencies.cluster)) -> Response:
        obj, kind = existing(cluster, name)
        draft = rules.read_draft(family, kind, await request.form(), name=name)
        rules.check(draft)
        if draft.errors:
            return form_page(request, cluster, draft, editing=True, status_code=422, obj=obj)
        writing.apply_rule(cluster, family.resource, draft.body(cluster.namespace))
        return RedirectResponse(family.prefix, status_code=303)

    def toggle(name: str, cluster: Cluster, disabled: bool) -> Response:
        if cluster.rule_informer(family.kind).get(cluster.namespace, name) is None:
            raise NotFound(f"{family.kind} {name} does not exist")
        writing.set_rule_disabled(cluster, family.resource, name, disabled)
        return RedirectResponse(family.prefix, status_code=303)

    @router.post("/{name}/disable", response_class=HTMLResponse)
    def disable(name: str, cluster: Cluster = Depends(dependencies.cluster)) -> Response:
        return toggle(name, cluster, True)

    @router.post("/{name}/enable", response_class=HTMLResponse)
    def enable(name: str, cluster: Cluster = Depends(dependencies.cluster)) -> Response:
        return toggle(name, cluster, False)

    @router.post("/{name}/delete", response_class=HTMLResponse)
    def delete(name: str, cluster: Cluster = Depends(dependencies.cluster)) -> Response:
        if cluster.rule_informer(family.kind).get(cluster.namespace, name) is None:
            raise NotFound(f"{family.kind} {name} does not exist")
        writing.delete_rule(cluster, family.resource, name)
        return RedirectResponse(family.prefix, status_code=303)

    return router
