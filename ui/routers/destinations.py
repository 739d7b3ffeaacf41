"""``/destinations``: the catalogue, the form of each type, create, edit, test connection, disable, delete.

The form of a type is generated from its declaration (:mod:`ui.forms`); a submitted form becomes a
:class:`ui.drafts.Draft` checked by the controllers' own checker, and either comes back (422) with each
error beside its field and nothing written, or is applied as a Destination plus, for types with secret
fields, a Secret owned by it. Secret values go from the form to the Secret and nowhere else: edits show a
secret as set, and an empty input keeps it.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from destinations import DestinationType, UnknownTypeError, all_types, components, get_type, test_connection
from ui import dependencies, drafts, forms, rendering, writing
from ui.cluster import Cluster
from ui.errors import NotFound
from ui.settings import Settings
from ui.views import conditions

router = APIRouter(prefix="/destinations", tags=["destinations"])
CATEGORIES = (("managed", "Managed services"), ("self-hosted", "Self-hosted"))
RESERVED = {"new"}


def type_or_404(name: str) -> DestinationType:
    try:
        return get_type(name)
    except UnknownTypeError as exc:
        raise NotFound(str(exc)) from exc


def available(type_: DestinationType) -> bool:
    return all(components.built(c) for c in type_.required_components())


def catalogue_groups(q: str = "") -> list[tuple[str, list[dict[str, Any]]]]:
    text = q.strip().lower()
    out = []
    for category, title in CATEGORIES:
        items: list[dict[str, Any]] = [
            {"type": t, "available": available(t), "signals": drafts.signal_choices(t)}
            for t in all_types()
            if t.category == category
            and drafts.signal_choices(t)
            and (
                not text or text in t.display_name.lower() or text in t.type or text in t.description.lower()
            )
        ]
        items.sort(key=lambda i: i["type"].display_name.lower())
        if items:
            out.append((title, items))
    return out


def form_context(
    draft: drafts.Draft, *, action: str, test_action: str, submit: str, editing: bool
) -> dict[str, Any]:
    return {
        "type": draft.type,
        "draft": draft,
        "state": draft.state(),
        "signal_choices": drafts.signal_choices(draft.type),
        "action": action,
        "test_action": test_action,
        "submit": submit,
        "editing": editing,
        "available": available(draft.type),
    }


def new_draft(type_: DestinationType) -> drafts.Draft:
    return drafts.Draft(type=type_, name="", signals=drafts.signal_choices(type_), values={})


async def submit_new(request: Request, cluster: Cluster, type_: DestinationType) -> tuple[drafts.Draft, bool]:
    """Read, check and (when valid) create a destination from the posted form; ``(draft, created)``."""
    form = await request.form()
    draft = drafts.read_draft(type_, form)
    if draft.name in RESERVED:
        draft.errors["name"] = f"{draft.name!r} is reserved by the UI; choose another name."
    drafts.check(draft, taken=cluster.destination(draft.name) is not None)
    if draft.errors:
        return draft, False
    body = writing.destination_body(
        cluster, draft.name, type_.type, draft.signals, draft.data(), draft.has_secret()
    )
    writing.apply_destination(cluster, body, draft.secret_data({}) if draft.has_secret() else None)
    return draft, True


@router.get("", response_class=HTMLResponse)
def destinations_page(request: Request, cluster: Cluster = Depends(dependencies.cluster)) -> HTMLResponse:
    items = []
    for dest in cluster.destination_list():
        spec = dest.get("spec") or {}
        try:
            label = get_type(str(spec.get("type"))).display_name
        except UnknownTypeError:
            label = f"{spec.get('type')} (unknown type)"
        configured = conditions.current(dest, "Configured")
        items.append({"obj": dest, "spec": spec, "label": label, "configured": configured})
    return rendering.page(request, "destinations.html", active="destinations", items=items)


@router.get("/new", response_class=HTMLResponse)
def catalogue_page(request: Request, q: str = Query(default="", max_length=100)) -> HTMLResponse:
    return rendering.page(
        request,
        "catalogue.html",
        active="destinations",
        groups=catalogue_groups(q),
        q=q,
        base="/destinations/new",
    )


@router.get("/catalogue", response_class=HTMLResponse)
def catalogue_fragment(
    request: Request,
    q: str = Query(default="", max_length=100),
    base: str = Query(default="/destinations/new", pattern="^/(destinations/new|onboarding/destination)$"),
) -> HTMLResponse:
    return rendering.page(request, "_catalogue.html", groups=catalogue_groups(q), q=q, base=base)


@router.get("/new/{type_name}", response_class=HTMLResponse)
def new_form(request: Request, type_name: str) -> HTMLResponse:
    type_ = type_or_404(type_name)
    context = form_context(
        new_draft(type_), action=f"/destinations/new/{type_.type}",
        test_action=f"/destinations/new/{type_.type}/test", submit="Create destination", editing=False,
    )  # fmt: skip
    return rendering.page(request, "destination.html", active="destinations", **context)


@router.post("/new/{type_name}", response_class=HTMLResponse)
async def create(
    request: Request, type_name: str, cluster: Cluster = Depends(dependencies.cluster)
) -> Response:
    type_ = type_or_404(type_name)
    draft, created = await submit_new(request, cluster, type_)
    if created:
        return RedirectResponse("/destinations", status_code=303)
    context = form_context(
        draft, action=f"/destinations/new/{type_.type}", test_action=f"/destinations/new/{type_.type}/test",
        submit="Create destination", editing=False,
    )  # fmt: skip
    return rendering.page(request, "destination.html", active="destinations", status_code=422, **context)


def _test(request: Request, settings: Settings, draft: drafts.Draft, stored: dict[str, str]) -> HTMLResponse:
    secrets = drafts.connection_secrets(draft, stored)
    drafts.check(draft)
    problems = {k: v for k, v in draft.errors.items() if k != "name"}
    if problems:
        status, reason, endpoint = "invalid", "; ".join(f"{k}: {v}" for k, v in problems.items()), ""
    else:
        model = draft.model().model_dump(by_alias=True, exclude_none=True)
        result = test_connection(
            model,
            secrets,
            timeout=settings.test_connection_timeout,
            allowed_hosts=settings.test_connection_hosts,
        )
        status, reason, endpoint = result.status, result.reason, result.endpoint
    return rendering.page(
        request, "_test_result.html", status=status, reason=forms.redact(reason, secrets.values()),
        endpoint=forms.redact(endpoint, secrets.values()),
    )  # fmt: skip


@router.post("/new/{type_name}/test", response_class=HTMLResponse)
async def test_new(
    request: Request, type_name: str, settings: Settings = Depends(dependencies.settings)
) -> HTMLResponse:
    type_ = type_or_404(type_name)
    draft = drafts.read_draft(type_, await request.form())
    return _test(request, settings, draft, {})


def _existing(cluster: Cluster, name: str) -> tuple[dict[str, Any], DestinationType, str, set[str]]:
    dest = cluster.destination(name)
    if dest is None:
        raise NotFound(f"destination {name} does not exist")
    spec = dest.get("spec") or {}
    type_ = type_or_404(str(spec.get("type")))
    secret = str((spec.get("secretRef") or {}).get("name") or writing.secret_name(name))
    return dest, type_, secret, cluster.secret_keys(secret)


def _edit_context(draft: drafts.Draft, name: str) -> dict[str, Any]:
    return form_context(
        draft, action=f"/destinations/{name}/edit", test_action=f"/destinations/{name}/test", submit="Save",
        editing=True,
    )  # fmt: skip


@router.get("/{name}/edit", response_class=HTMLResponse)
def edit_form(request: Request, name: str, cluster: Cluster = Depends(dependencies.cluster)) -> HTMLResponse:
    dest, type_, _secret, keys = _existing(cluster, name)
    draft = drafts.from_destination(type_, dest, keys)
    return rendering.page(
        request, "destination.html", active="destinations", obj=dest, **_edit_context(draft, name)
    )


@router.post("/{name}/edit", response_class=HTMLResponse)
async def save(request: Request, name: str, cluster: Cluster = Depends(dependencies.cluster)) -> Response:
    dest, type_, secret, keys = _existing(cluster, name)
    draft = drafts.read_draft(
        type_, await request.form(), name=name, stored_secret_keys=keys,
        disabled=bool((dest.get("spec") or {}).get("disabled")),
    )  # fmt: skip
    ours = secret == writing.secret_name(name)
    if draft.secrets and not ours:
        draft.errors["form"] = f"Secret {secret} is not managed by Hodegos: change its values there."
    drafts.check(draft)
    if draft.errors:
        return rendering.page(
            request, "destination.html", active="destinations", status_code=422, obj=dest,
            **_edit_context(draft, name),
        )  # fmt: skip
    body = writing.destination_body(
        cluster, name, type_.type, draft.signals, draft.data(), draft.has_secret(), disabled=draft.disabled
    )
    if draft.has_secret():
        body["spec"]["secretRef"] = {"name": secret}
    values = draft.secret_data(cluster.secret_data(secret)) if draft.has_secret() and ours else None
    writing.apply_destination(cluster, body, values)
    return RedirectResponse("/destinations", status_code=303)


@router.post("/{name}/test", response_class=HTMLResponse)
async def test_existing(
    request: Request,
    name: str,
    cluster: Cluster = Depends(dependencies.cluster),
    settings: Settings = Depends(dependencies.settings),
) -> HTMLResponse:
    _dest, type_, secret, keys = _existing(cluster, name)
    draft = drafts.read_draft(type_, await request.form(), name=name, stored_secret_keys=keys)
    return _test(request, settings, draft, cluster.secret_data(secret))


@router.post("/{name}/disable", response_class=HTMLResponse)
def disable(name: str, cluster: Cluster = Depends(dependencies.cluster)) -> Response:
    _existing(cluster, name)
    writing.set_destination_disabled(cluster, name, True)
    return RedirectResponse("/destinations", status_code=303)


@router.post("/{name}/enable", response_class=HTMLResponse)
def enable(name: str, cluster: Cluster = Depends(dependencies.cluster)) -> Response:
    _existing(cluster, name)
    writing.set_destination_disabled(cluster, name, False)
    return RedirectResponse("/destinations", status_code=303)


@router.post("/{name}/delete", response_class=HTMLResponse)
def delete(name: str, cluster: Cluster = Depends(dependencies.cluster)) -> Response:
    _existing(cluster, name)
    writing.delete_destination(cluster, name)
    return RedirectResponse("/destinations", status_code=303)
