"""The small template language of destination type files: placeholders, filters and conditions.

A template is plain YAML data. In strings, ``{{ FIELD }}`` is replaced by the field's value and
``{{ FIELD | filter | filter }}`` passes it through filters first. A string that is a single placeholder
takes the field's type (checkbox -> bool, number -> int/float, keyValue -> mapping); if the field has no
value, the key (or list item) is left out. Built-ins: ``{{ $id }}`` is the destination id, and
``{{ $ext.<extension> }}`` (``{{ $ext.<extension>.<name> }}`` for a named one) the id of that extension
as this destination instantiates it.

A secret field never renders its value: it renders ``${env:NAME}``, the environment variable the gateway
gets from the destination's Secret, and no filter may touch it.

Conditions (``showIf`` of a field, ``if`` of a component, ``$if`` in a mapping) are
``{field: F}`` (has a truthy value), ``{field: F, equals: v}``, ``{field: F, notEquals: v}``,
``{field: F, in: [a, b]}``, or the short strings ``"F"`` and ``"!F"``. A mapping with ``$if`` is kept
(without the key) only when its condition holds; ``{$if: c, $then: a, $else: b}`` picks one value.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

if TYPE_CHECKING:
    from destinations.catalogue import FieldSpec

PLACEHOLDER = re.compile(r"\{\{\s*(\$?[A-Za-z_][A-Za-z0-9_.]*)\s*((?:\|\s*[a-z_][a-z0-9_]*\s*)*)\}\}")
FILTERS: dict[str, Callable[[str], str]] = {
    "lower": str.lower,
    "upper": str.upper,
    "trimslash": lambda v: v.rstrip("/"),
    # host:port for gRPC: drop a scheme and any trailing slash a user pasted
    "hostport": lambda v: re.sub(r"^[a-zA-Z][a-zA-Z0-9+.-]*://", "", v).rstrip("/"),
    # a URL: add https:// when the user gave a bare host
    "https": lambda v: v.rstrip("/") if "://" in v else f"https://{v.rstrip('/')}",
}


class TemplateError(ValueError):
    """A template refers to an unknown field, filter or extension, or filters a secret."""


class Condition(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    field: str
    equals: str | None = None
    not_equals: str | None = Field(default=None, alias="notEquals")
    any_of: tuple[str, ...] | None = Field(default=None, alias="in")
    negate: bool = False

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, value: Any) -> Any:
        if isinstance(value, str):
            text = value.strip()
            return {"field": text[1:].strip(), "negate": True} if text.startswith("!") else {"field": text}
        return value

    def holds(self, values: Mapping[str, str | None]) -> bool:
        value = values.get(self.field)
        if self.equals is not None:
            result = value == self.equals
        elif self.not_equals is not None:
            result = value != self.not_equals
        elif self.any_of is not None:
            result = value in self.any_of
        else:
            result = truthy(value)
        return not result if self.negate else result


def truthy(value: str | None) -> bool:
    return value is not None and value.strip().lower() not in {"", "false", "0", "no", "off"}


class _Missing:
    def __repr__(self) -> str:
        return "MISSING"


MISSING: Any = _Missing()


@dataclass
class Context:
    """What a render needs: field values, which are secret (and their env var), ids."""

    values: Mapping[str, str | None]
    fields: Mapping[str, FieldSpec]
    secret_env: Mapping[str, str]
    destination_id: str
    lookups: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    extension_ids: Mapping[str, str] = field(default_factory=dict)


def check_condition(condition: Condition, fields: Mapping[str, FieldSpec], *, where: str) -> None:
    if condition.field not in fields:
        raise TemplateError(f"{where}: condition names unknown field {condition.field!r}")


def check(template: Any, *, fields: Mapping[str, FieldSpec], lookups: Mapping[str, Any], where: str) -> None:
    """Check every placeholder and condition of ``template`` against the type's fields; raise on the first."""
    if isinstance(template, Mapping):
        for key, value in template.items():
            if key == "$if":
                check_condition(Condition.model_validate(value), fields, where=f"{where}.$if")
                continue
            if key in {"$then", "$else"}:
                check(value, fields=fields, lookups=lookups, where=where)
                continue
            check(value, fields=fields, lookups=lookups, where=f"{where}.{key}")
    elif isinstance(template, list):
        for index, item in enumerate(template):
            check(item, fields=fields, lookups=lookups, where=f"{where}[{index}]")
    elif isinstance(template, str):
        for match in PLACEHOLDER.finditer(template):
            name, filters = match.group(1), _filters(match.group(2))
            if name == "$id" or name.startswith("$ext."):
                continue
            if name not in fields:
                raise TemplateError(f"{where}: placeholder names unknown field {name!r}")
            if fields[name].secret and filters:
                raise TemplateError(f"{where}: secret field {name} cannot go through filters")
            for f in filters:
                if f not in FILTERS and f not in lookups:
                    raise TemplateError(f"{where}: unknown filter {f!r}")


def _filters(text: str) -> list[str]:
    return [part.strip() for part in text.split("|") if part.strip()]


def _typed(spec: FieldSpec, value: str) -> Any:
    if spec.kind == "checkbox":
        return truthy(value)
    if spec.kind == "number":
        number = float(value)
        return int(number) if number.is_integer() else number
    if spec.kind == "keyValue":
        return parse_key_values(value)
    return value


def parse_key_values(value: str) -> dict[str, str]:
    """A key-value field: a JSON/YAML mapping, a list of ``{key, value}`` items, or ``k=v`` lines/commas."""
    import json

    import yaml

    text = value.strip()
    if not text:
        return {}
    if text[0] in "{[":
        try:
            loaded = json.loads(text)
        except ValueError:
            loaded = yaml.safe_load(text)
        if isinstance(loaded, dict):
            return {str(k): str(v) for k, v in loaded.items()}
        if isinstance(loaded, list):
            return {str(item["key"]): str(item["value"]) for item in loaded}
        raise ValueError("expected a mapping or a list of {key, value}")
    pairs: dict[str, str] = {}
    for part in re.split(r"[\n,]", text):
        if not part.strip():
            continue
        if "=" not in part:
            raise ValueError(f"{part.strip()!r} is not key=value")
        key, _, val = part.partition("=")
        pairs[key.strip()] = val.strip()
    return pairs


def _resolve(name: str, filters: list[str], ctx: Context) -> Any:
    if name == "$id":
        return ctx.destination_id
    if name.startswith("$ext."):
        component = name.removeprefix("$ext.")
        if component not in ctx.extension_ids:
            raise TemplateError(f"extension {component!r} is referenced but not instantiated")
        return ctx.extension_ids[component]
    spec = ctx.fields[name]
    if spec.secret:
        return f"${{env:{ctx.secret_env[name]}}}" if name in ctx.secret_env else MISSING
    value = ctx.values.get(name)
    if value is None or value == "":
        return MISSING
    for f in filters:
        value = FILTERS[f](value) if f in FILTERS else ctx.lookups[f].get(value, value)
    return value if filters else _typed(spec, value)


def render(template: Any, ctx: Context) -> Any:
    """Render ``template``; returns :data:`MISSING` for a node whose only placeholder has no value."""
    if isinstance(template, Mapping):
        if "$then" in template or "$else" in template:
            chosen = "$then" if Condition.model_validate(template["$if"]).holds(ctx.values) else "$else"
            return render(template[chosen], ctx) if chosen in template else MISSING
        if "$if" in template and not Condition.model_validate(template["$if"]).holds(ctx.values):
            return MISSING
        out: dict[str, Any] = {}
        for key, value in template.items():
            if key == "$if":
                continue
            rendered = render(value, ctx)
            if rendered is not MISSING:
                out[str(key)] = rendered
        return out
    if isinstance(template, list):
        return [item for item in (render(i, ctx) for i in template) if item is not MISSING]
    if isinstance(template, str):
        whole = PLACEHOLDER.fullmatch(template.strip())
        if whole:
            return _resolve(whole.group(1), _filters(whole.group(2)), ctx)

        def substitute(match: re.Match[str]) -> str:
            value = _resolve(match.group(1), _filters(match.group(2)), ctx)
            return "" if value is MISSING else str(value)

        return PLACEHOLDER.sub(substitute, template)
    return template
