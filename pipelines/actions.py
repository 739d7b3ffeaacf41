"""Actions -> what the collectors run: one ``transform`` processor per Action on the gateway, and extra
``extract`` entries for the node collector's ``k8s_attributes`` (the ``kubernetes`` kinds).

Actions apply in name order (a user who needs A before B names them so), each to the signals it lists that
its kind supports, limited to its scope with an OTTL ``where`` on the resource. An invalid or disabled
Action is left out with a :class:`~pipelines.results.Result` saying why; the others still apply.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from api.models import Action, Signal
from pipelines import kinds, scope
from pipelines.errors import RuleInvalid
from pipelines.results import Result, parse

TRANSFORM = "transform"
_STATEMENTS_KEY: dict[Signal, str] = {
    "traces": "trace_statements",
    "metrics": "metric_statements",
    "logs": "log_statements",
}


@dataclass
class RenderedAction:
    name: str
    signals: list[Signal]
    processor_id: str | None = None  # the gateway's transform processor, if the kind has statements
    processor: dict[str, Any] = field(default_factory=dict)
    kubernetes: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # k8s_attributes extract


@dataclass
class ActionsPlan:
    rendered: list[RenderedAction] = field(default_factory=list)
    results: dict[str, Result] = field(default_factory=dict)

    def gateway_processors(self, signal: Signal) -> list[tuple[str, dict[str, Any]]]:
        """``(id, config)`` of the transform processors for ``signal``, in the order they run."""
        return [
            (a.processor_id, a.processor) for a in self.rendered if a.processor_id and signal in a.signals
        ]

    def kubernetes_extract(self) -> dict[str, list[dict[str, Any]]]:
        """Entries to add to the node's ``k8s_attributes.extract`` (``labels``, ``annotations``)."""
        out: dict[str, list[dict[str, Any]]] = {}
        for action in self.rendered:
            for key, entries in action.kubernetes.items():
                known = out.setdefault(key, [])
                known += [e for e in entries if e not in known]
        return out


def _check_patterns(settings: kinds.Settings, kind: kinds.KindFile) -> None:
    for name in ("customPatterns",):
        for pattern in settings.get(name) or []:
            try:
                re.compile(pattern)
            except re.error as exc:
                raise RuleInvalid(
                    f"{kind.kind}.{name}: {pattern!r} is not a regular expression: {exc}",
                    reason="InvalidField",
                    field=name,
                ) from exc


def render_one(action: Action) -> RenderedAction:
    """Raises :class:`RuleInvalid` naming the problem."""
    spec = action.spec
    kind = kinds.get_kind(spec.kind)
    settings = kinds.check_settings(kind, spec.settings)
    _check_patterns(settings, kind)
    if spec.scope is not None and not spec.scope.everything and not kind.scoped:
        raise RuleInvalid(
            f"{kind.display_name} applies to every source; remove the scope", reason="ScopeNotSupported"
        )
    signals = [s for s in spec.signals if s in kind.signals]
    if not signals:
        raise RuleInvalid(
            f"{kind.display_name} does not act on {', '.join(spec.signals)} (only {', '.join(kind.signals)})",
            reason="UnsupportedSignal",
        )
    name = action.metadata.name
    out = RenderedAction(name=name, signals=signals)
    if kind.statements:
        config: dict[str, Any] = {"error_mode": "ignore"}
        for signal in signals:
            groups = []
            for key in (signal, "resource"):
                group = kind.statements.get(key)
                if group is None:
                    continue
                cond = scope.condition(spec.scope, group.context)
                statements = [scope.scoped(s, cond) for s in kinds.expand(group.statements, kind, settings)]
                if statements:
                    groups.append({"context": group.context, "statements": statements})
            if groups:
                config[_STATEMENTS_KEY[signal]] = groups
        if len(config) == 1:
            raise RuleInvalid(f"{kind.display_name}: the settings select nothing to do", reason="NothingToDo")
        out.processor_id, out.processor = f"{TRANSFORM}/action-{name}", config
    if kind.kubernetes:
        extract = {
            key: kinds.fill_data(list(entries), kind, settings) for key, entries in kind.kubernetes.items()
        }
        out.kubernetes = {k: v for k, v in extract.items() if v}
        if not out.kubernetes:
            raise RuleInvalid(
                f"{kind.display_name}: name at least one label or annotation", reason="NothingToDo"
            )
    return out


def plan(actions: Iterable[Action | Mapping[str, Any]]) -> ActionsPlan:
    """Every Action that can be applied, and a result for each."""
    out = ActionsPlan()
    parsed: list[Action] = []
    for index, item in enumerate(actions):
        found = parse(Action, item, index)
        if isinstance(found, Result):
            out.results[found.name] = found
        else:
            parsed.append(found)
    for action in sorted(parsed, key=lambda a: a.metadata.name):
        name = action.metadata.name
        if action.spec.disabled:
            out.results[name] = Result(name, False, "Disabled", "the action is disabled")
            continue
        try:
            rendered = render_one(action)
        except RuleInvalid as exc:
            out.results[name] = Result(name, False, exc.reason, str(exc), exc.field)
            continue
        out.rendered.append(rendered)
        where = "the node collectors" if rendered.kubernetes and not rendered.processor_id else "the gateway"
        out.results[name] = Result(
            name, True, "AppliedToCollectors", f"applied to {', '.join(rendered.signals)} on {where}"
        )
    return out
