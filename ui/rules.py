"""Actions and SamplingRules from submitted forms: read them, check them with the controllers' own code, say
what is wrong beside each field.

A :class:`Family` says what differs between the two resources (the kind files of ``pipelines/kinds/`` they
take, the CRD, whether they have signals, the checker). A :class:`RuleDraft` is one object as a form
describes it: its kind (fixed by the page), name, the kind's field values (the form generator's strings,
:mod:`ui.forms`), signals (Actions), scope (namespaces and ``namespace/Kind/name`` workload lines) and
``disabled``.

:func:`check` finds every problem, not just the first: the fields are held against
:func:`pipelines.kinds.check_settings` (after each error a valid sample stands in for the rejected field and
it asks again), then the whole object against the plan the controllers compute
(:func:`pipelines.actions.plan` / :func:`pipelines.sampling.plan` — the code that writes the ``Applied``
condition), which also catches bad patterns, percentages, ratios, unsupported scopes and signals. Errors are
keyed by field name; the common inputs use keys starting with ``_`` (no kind field can: their names are
camelCase), see :data:`NAME` and friends.

What is written is the typed settings ``check_settings`` returns (numbers as numbers, checkboxes as
booleans, one-per-line fields as lists, key/value fields as mappings): the YAML a user would write.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from functools import cache
from typing import Any, Literal, get_args

from starlette.datastructures import FormData

from api import constants
from api.models import ACTION_KINDS, SAMPLING_KINDS, SIGNALS, WorkloadKind
from destinations.templating import parse_key_values
from kube import Resource
from kube.resources import ACTIONS, SAMPLING_RULES
from pipelines import actions, kinds, sampling
from pipelines.errors import RuleInvalid
from pipelines.kinds import KindFile
from pipelines.results import Result
from ui import forms

NAME_RE = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")
NAMESPACE_RE = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")
RESERVED = {"new", "list"}
WORKLOAD_KINDS: tuple[str, ...] = get_args(WorkloadKind)
# error keys of the common inputs (kind fields are camelCase, so they never start with "_")
NAME, SIGNALS_KEY, NAMESPACES, WORKLOADS, FORM = "_name", "_signals", "_namespaces", "_workloads", "_form"


def _plan_actions(objs: list[Mapping[str, Any]]) -> dict[str, Result]:
    return actions.plan(objs).results


def _plan_rules(objs: list[Mapping[str, Any]]) -> dict[str, Result]:
    return sampling.plan(objs).results


@dataclass(frozen=True)
class Family:
    """Actions or SamplingRules: what their pages and checks differ in."""

    key: str  # the page: /actions, /sampling
    family: Literal["action", "sampling"]  # which kind files (pipelines.kinds ``family``)
    kind: str  # the CRD kind
    resource: Resource
    title: str  # navigation and page title
    noun: str  # "action", "rule"
    lead: str
    submit: str  # the create button
    has_signals: bool
    plan: Callable[[list[Mapping[str, Any]]], dict[str, Result]]

    @property
    def prefix(self) -> str:
        return f"/{self.key}"

    def kinds(self) -> list[KindFile]:
        """This family's kinds, in the order of ``api.models`` (the order the docs list them)."""
        names = ACTION_KINDS if self.family == "action" else SAMPLING_KINDS
        return [kinds.catalogue()[name] for name in names]


ACTION_FAMILY = Family(
    key="actions", family="action", kind="Action", resource=ACTIONS, title="Actions", noun="action",
    lead="Changes the collectors make to telemetry on its way: cluster info, renames, deletions, PII "
    "masking, Kubernetes attributes. They run on the gateway in name order.",
    submit="Create action", has_signals=True, plan=_plan_actions,
)  # fmt: skip
SAMPLING_FAMILY = Family(
    key="sampling", family="sampling", kind="SamplingRule", resource=SAMPLING_RULES, title="Sampling",
    noun="rule",
    lead="Which traces to keep: tail sampling on the gateway (errors, slow traces, a percentage, noisy "
    "operations dropped) and head sampling in the agents.",
    submit="Create rule", has_signals=False, plan=_plan_rules,
)  # fmt: skip


def kind_of(family: Family, name: str) -> KindFile | None:
    """The kind, if it exists and belongs to this family."""
    try:
        kind = kinds.get_kind(name)
    except RuleInvalid:
        return None
    return kind if kind.family == family.family else None


def spec_kind(family: Family, spec: Mapping[str, Any]) -> str | None:
    """Which kind an object's spec sets (the first of this family's keys present)."""
    return next((k.kind for k in family.kinds() if spec.get(k.kind) is not None), None)


@cache
def workload_scope_supported(family: Family, kind_name: str) -> bool:
    """Can a rule of this kind be limited to single workloads? Asked of the controllers' own checker, with
    the kind's sample settings and a one-workload scope (tail sampling on the gateway, for one, cannot)."""
    kind = kinds.get_kind(kind_name)
    if not kind.scoped:
        return False
    draft = RuleDraft(family, kind, "probe", sample_values(kind), workloads_text="default/Deployment/probe")
    draft.signals = list(signal_choices(family, kind))
    try:
        result = family.plan([draft.body(constants.NAMESPACE, disabled=False)]).get("probe")
    except RuleInvalid:  # the samples themselves do not pass: offer the editor, the check will say
        return True
    return result is None or result.reason != "ScopeNotSupported"


def signal_choices(family: Family, kind: KindFile) -> list[str]:
    """The signal checkboxes of an Action's form: the ones its kind acts on."""
    return [s for s in SIGNALS if s in kind.signals] if family.has_signals else []


def sample_values(kind: KindFile) -> dict[str, str | None]:
    return {f.name: f.sample() for f in kind.fields}


@dataclass
class RuleDraft:
    family: Family
    kind: KindFile
    name: str
    values: dict[str, str | None]  # the form generator's strings, by field name
    signals: list[str] = field(default_factory=list)
    namespaces: list[str] = field(default_factory=list)
    workloads_text: str = ""
    disabled: bool = False
    errors: dict[str, str] = field(default_factory=dict)

    def workloads(self) -> list[dict[str, str]]:
        """The workload lines as scope entries (malformed lines are left out; :func:`check` names them)."""
        out = []
        for line in self.workloads_text.splitlines():
            parsed = parse_workload(line)
            if isinstance(parsed, dict):
                out.append(parsed)
        return out

    def scope(self) -> dict[str, Any] | None:
        if not self.kind.scoped:
            return None
        scope: dict[str, Any] = {}
        if self.namespaces:
            scope["namespaces"] = list(self.namespaces)
        if workloads := self.workloads():
            scope["workloads"] = workloads
        return scope or None

    def settings_input(self) -> dict[str, Any]:
        """The field values as ``check_settings`` takes them (key/value lists as mappings)."""
        signals = self.signals if self.family.has_signals else list(self.kind.signals)
        return settings_input(self.kind, self.values, signals)

    def spec(self, disabled: bool | None = None) -> dict[str, Any]:
        """``spec`` with the settings typed; call after :func:`check` found nothing (or it raises)."""
        spec: dict[str, Any] = {self.kind.kind: kinds.check_settings(self.kind, self.settings_input())}
        if self.family.has_signals:
            spec["signals"] = list(self.signals)
        spec["disabled"] = self.disabled if disabled is None else disabled
        scope = self.scope()
        if scope is not None:
            spec["scope"] = scope
        return spec

    def body(self, namespace: str, disabled: bool | None = None) -> dict[str, Any]:
        return {
            "apiVersion": constants.API_VERSION,
            "kind": self.family.kind,
            "metadata": {
                "name": self.name,
                "namespace": namespace,
                "labels": {constants.LABEL_PART_OF: constants.PRODUCT},
            },
            "spec": self.spec(disabled),
        }

    def state(self) -> forms.FormState:
        return forms.FormState(values=dict(self.values), errors=dict(self.errors))


def settings_input(
    kind: KindFile, values: Mapping[str, str | None], signals: Iterable[str] | None = None
) -> dict[str, Any]:
    """Values of the fields that are asked for (``showIf``), key/value lists as mappings."""
    shown = {f.name: values.get(f.name, f.default) for f in kind.fields}
    out: dict[str, Any] = {}
    for f in kind.fields:
        value = values.get(f.name)
        if value is None or not forms.relevant(f, shown, kind.signals if signals is None else signals):
            continue
        if f.kind == "keyValue":
            try:
                out[f.name] = parse_key_values(value)
            except (ValueError, KeyError, TypeError):
                out[f.name] = value  # check_settings says what is wrong with it
        else:
            out[f.name] = value
    return out


def parse_workload(line: str) -> dict[str, str] | str | None:
    """``namespace/Kind/name`` -> a scope entry; a message when malformed; ``None`` for a blank line."""
    text = line.strip()
    if not text:
        return None
    parts = [p.strip() for p in text.split("/")]
    if len(parts) != 3 or not all(parts):
        return f"{text!r} is not namespace/Kind/name"
    namespace, kind, name = parts
    known = {k.lower(): k for k in WORKLOAD_KINDS}
    if kind.lower() not in known:
        return f"{text!r}: the kind must be one of {', '.join(WORKLOAD_KINDS)}"
    if not NAMESPACE_RE.match(namespace):
        return f"{text!r}: {namespace!r} is not a namespace name"
    return {"namespace": namespace, "kind": known[kind.lower()], "name": name}


def read_draft(family: Family, kind: KindFile, form: FormData, *, name: str | None = None) -> RuleDraft:
    """The draft a form describes; ``name`` is fixed when editing (the form's name input is ignored)."""
    values, _secrets = forms.read(kind.fields, form)  # kind files have no secret fields
    chosen = {str(s) for s in form.getlist("signals")}
    draft = RuleDraft(
        family=family,
        kind=kind,
        name=name if name is not None else str(form.get("name") or "").strip(),
        values=values,
        signals=[s for s in SIGNALS if s in chosen],
        namespaces=sorted({str(n).strip() for n in form.getlist("namespaces") if str(n).strip()}),
        workloads_text=str(form.get("workloads") or ""),
        disabled=str(form.get("disabled") or "") == "true",
    )
    if family.has_signals:
        unknown = sorted(chosen - set(signal_choices(family, kind)))
        if unknown:
            draft.errors[SIGNALS_KEY] = f"{kind.display_name} does not act on {', '.join(unknown)}."
    elif chosen:
        draft.errors[SIGNALS_KEY] = "Sampling rules have no signals."
    return draft


def new_draft(family: Family, kind: KindFile) -> RuleDraft:
    return RuleDraft(family, kind, "", {}, signals=signal_choices(family, kind))


def from_object(family: Family, kind: KindFile, obj: Mapping[str, Any]) -> RuleDraft:
    """The form of a stored object: its settings as the form generator's strings."""
    spec = obj.get("spec") or {}
    settings = spec.get(kind.kind) or {}
    scope = spec.get("scope") or {}
    workloads = [
        f"{w.get('namespace')}/{w.get('kind')}/{w.get('name')}"
        for w in scope.get("workloads") or []
        if isinstance(w, Mapping)
    ]
    return RuleDraft(
        family=family,
        kind=kind,
        name=obj["metadata"]["name"],
        values={k: as_text(v) for k, v in settings.items()} if isinstance(settings, Mapping) else {},
        signals=[s for s in SIGNALS if s in (spec.get("signals") or SIGNALS)] if family.has_signals else [],
        namespaces=[str(n) for n in scope.get("namespaces") or []],
        workloads_text="\n".join(workloads),
        disabled=bool(spec.get("disabled")),
    )


def as_text(value: Any) -> str:
    """A stored setting as the form shows it."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, Mapping):
        return "\n".join(f"{k}={v}" for k, v in value.items())
    if isinstance(value, list):
        return "\n".join(str(v) for v in value)
    return str(value)


def _message(exc_text: str, kind: KindFile, where: str | None) -> str:
    text = exc_text
    for prefix in ([f"{kind.kind}.{where}: "] if where else []) + [f"{kind.kind}: "]:
        if text.startswith(prefix):
            text = text[len(prefix) :]
            break
    if text.startswith("required ("):
        return "Required."
    text = text[:1].upper() + text[1:]
    return text if text.endswith(".") else text + "."


def check(draft: RuleDraft, *, taken: bool = False) -> RuleDraft:
    """Fill ``draft.errors`` with every problem; none means the controllers will apply the object."""
    errors = draft.errors
    if not NAME_RE.match(draft.name):
        errors[NAME] = (
            "Required." if not draft.name else
            "Lower-case letters, digits and '-', starting and ending with a letter or digit (at most 63)."
        )  # fmt: skip
    elif draft.name in RESERVED:
        errors[NAME] = f"{draft.name!r} is reserved by the UI; choose another name."
    elif taken:
        errors[NAME] = f"A {draft.family.kind} named {draft.name} already exists."
    if draft.family.has_signals and not draft.signals and SIGNALS_KEY not in errors:
        errors[SIGNALS_KEY] = "Choose at least one signal."
    bad_ns = [n for n in draft.namespaces if not NAMESPACE_RE.match(n)]
    if bad_ns:
        errors[NAMESPACES] = f"{bad_ns[0]!r} is not a namespace name."
    problems = [p for p in map(parse_workload, draft.workloads_text.splitlines()) if isinstance(p, str)]
    if problems:
        errors[WORKLOADS] = problems[0][:1].upper() + problems[0][1:] + "."
    _check_fields(draft)
    if not set(errors) - {NAME}:
        _check_whole(draft)
    return draft


def _check_fields(draft: RuleDraft) -> None:
    kind, errors = draft.kind, draft.errors
    trial = dict(draft.values)
    names = {f.name for f in kind.fields}
    for _ in range(len(kind.fields) + 2):
        try:
            kinds.check_settings(kind, settings_input(kind, trial, draft.signals or None))
            return
        except RuleInvalid as exc:
            where = exc.field if exc.field in names else FORM
            if where in errors:
                return
            errors[where] = _message(str(exc), kind, exc.field)
            spec = kind.field(where)
            if spec is None:
                return
            trial[where] = spec.sample()  # a valid stand-in, to find the next problem


def _check_whole(draft: RuleDraft) -> None:
    """The controllers' verdict on the object as it would be written (enabled, so it is really checked)."""
    name = draft.name if NAME_RE.match(draft.name) else "draft"
    trial = RuleDraft(
        draft.family,
        draft.kind,
        name,
        dict(draft.values),
        list(draft.signals),
        list(draft.namespaces),
        draft.workloads_text,
    )
    result = draft.family.plan([trial.body(constants.NAMESPACE, disabled=False)]).get(name)
    if result is None or result.applied:
        return
    draft.errors[_where(draft, result)] = _message(result.message, draft.kind, result.field)


def _where(draft: RuleDraft, result: Result) -> str:
    if result.field and draft.kind.field(result.field) is not None:
        return result.field
    if result.reason == "UnsupportedSignal":
        return SIGNALS_KEY
    location = result.field or ""
    if result.reason == "ScopeNotSupported" or location.startswith("spec.scope"):
        return WORKLOADS if draft.workloads() else NAMESPACES
    return FORM


def scope_text(scope: Mapping[str, Any] | None) -> str:
    """A scope in a few words, for tables."""
    scope = scope or {}
    parts: list[str] = []
    namespaces = [str(n) for n in scope.get("namespaces") or []]
    if namespaces:
        parts.append(("namespace " if len(namespaces) == 1 else "namespaces ") + ", ".join(namespaces))
    workloads = [
        f"{w.get('namespace')}/{w.get('kind')}/{w.get('name')}"
        for w in scope.get("workloads") or []
        if isinstance(w, Mapping)
    ]
    if workloads:
        parts.append(("workload " if len(workloads) == 1 else "workloads ") + ", ".join(workloads))
    return "; ".join(parts) or "every source"


def namespace_choices(existing: Iterable[str], chosen: Iterable[str]) -> list[tuple[str, bool]]:
    """``(namespace, exists)`` for the scope's multi-select: every namespace, plus chosen ones now gone."""
    names = set(existing)
    return sorted([(n, True) for n in names] + [(n, False) for n in set(chosen) - names])
