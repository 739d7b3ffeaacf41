"""The kinds of Actions and SamplingRules: one declarative file each in ``pipelines/kinds/<kind>.yaml``.

A kind file gives the form (``fields``, the same field model as a destination type, so the UI and CLI build
forms the same way), where the kind acts (``stage``: ``actions``, ``kubernetes``, ``filter``, ``sampling``
or ``head``) and what it renders:

``statements``
    OTTL statements per signal (``traces``, ``metrics``, ``logs`` or ``resource`` for all three), run by one
    ``transform`` processor per Action on the gateway. A statement is a template string, or
    ``{each: FIELD, statement: T}`` (once per line of a multiline field, ``{{ $item }}``, or per entry of a
    key/value field, ``{{ $key }}``/``{{ $value }}``), or ``{if: FIELD, statement: T}`` (a checkbox).
``conditions``
    OTTL span conditions (same template forms) for a ``filter`` processor: matching spans are dropped.
``policy``
    a ``tail_sampling`` policy (YAML with placeholders; a string that is exactly one placeholder keeps
    the field's type: a number stays a number).
``kubernetes``
    entries added to the node collector's ``k8s_attributes`` ``extract`` (``labels``, ``annotations``).
``head``
    the agents' sampler (``name`` and ``argument``) for the sources in scope.

``{{ FIELD }}`` inserts the field's value, OTTL-escaped (backslashes and quotes), ``{{ $const.NAME }}`` a
constant of the file (``constants``: e.g. the PII patterns). Adding a kind is adding a file, and its name
to ``api.models.ACTION_KINDS`` / ``SAMPLING_KINDS`` (the CRD schema lists the kinds; a test checks both
lists agree).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from pydantic.alias_generators import to_camel

from api.models import ACTION_KINDS, SAMPLING_KINDS, Signal
from destinations.catalogue import FieldSpec
from pipelines.errors import KindFileError, RuleInvalid

KINDS_DIR = Path(__file__).resolve().parent / "kinds"
Family = Literal["action", "sampling"]
Stage = Literal["kubernetes", "filter", "sampling", "actions", "head"]
StatementSignal = Literal["traces", "metrics", "logs", "resource"]
PLACEHOLDER = re.compile(r"\{\{\s*(\$?[A-Za-z_][A-Za-z0-9_.]*)\s*\}\}")
Settings = dict[str, Any]


class _Strict(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid", frozen=True)


class KindField(FieldSpec):
    """A form field of a kind; named in camelCase, as it appears in the object's spec."""

    name: str = Field(pattern=r"^[a-z][A-Za-z0-9]*$")


class Templated(_Strict):
    """One statement or condition: always, once per item of a field, or when a checkbox is set."""

    statement: str
    each: str | None = None
    when: str | None = Field(default=None, alias="if")


class StatementGroup(_Strict):
    context: Literal["resource", "span", "spanevent", "metric", "datapoint", "log"]
    statements: tuple[Templated, ...] = Field(min_length=1)


class KindFile(_Strict):
    kind: str = Field(pattern=r"^[a-z][A-Za-z0-9]*$")
    family: Family
    display_name: str = Field(min_length=1)
    description: str = ""
    stage: Stage
    signals: tuple[Signal, ...] = ("traces", "metrics", "logs")
    scoped: bool = True  # can be limited to namespaces / workloads
    fields: tuple[KindField, ...] = ()
    constants: dict[str, str] = Field(default_factory=dict)
    statements: dict[StatementSignal, StatementGroup] = Field(default_factory=dict)
    conditions: tuple[Templated, ...] = ()
    policy: dict[str, Any] | None = None
    kubernetes: dict[Literal["labels", "annotations"], tuple[dict[str, Any], ...]] = Field(
        default_factory=dict
    )
    head: dict[str, str] | None = None

    @model_validator(mode="before")
    @classmethod
    def _short_statements(cls, value: Any) -> Any:
        """Statements and conditions may be plain strings in the file."""
        if not isinstance(value, dict):
            return value

        def wrap(items: Any) -> Any:
            if isinstance(items, list):
                return [{"statement": i} if isinstance(i, str) else i for i in items]
            return items

        groups = value.get("statements")
        if isinstance(groups, dict):
            value = {
                **value,
                "statements": {k: {**g, "statements": wrap(g.get("statements"))} for k, g in groups.items()},
            }
        if "conditions" in value:
            value = {**value, "conditions": wrap(value["conditions"])}
        return value

    @model_validator(mode="after")
    def _renders_something(self) -> KindFile:
        renders = {
            "actions": bool(self.statements),
            "filter": bool(self.conditions),
            "sampling": self.policy is not None,
            "kubernetes": bool(self.kubernetes),
            "head": self.head is not None,
        }
        if not renders[self.stage]:
            raise ValueError(f"stage {self.stage} needs its template ({_TEMPLATE_OF[self.stage]})")
        names = {f.name for f in self.fields}
        for text in _all_templates(self):
            for ref in PLACEHOLDER.findall(text):
                if ref.startswith("$const."):
                    if ref.removeprefix("$const.") not in self.constants:
                        raise ValueError(f"template refers to unknown constant {ref}")
                elif not ref.startswith("$") and ref not in names:
                    raise ValueError(f"template refers to unknown field {ref!r}")
        return self

    def field(self, name: str) -> KindField | None:
        return next((f for f in self.fields if f.name == name), None)


_TEMPLATE_OF = {
    "actions": "statements",
    "filter": "conditions",
    "sampling": "policy",
    "kubernetes": "kubernetes",
    "head": "head",
}


def _all_templates(kind: KindFile) -> list[str]:
    out = [s.statement for g in kind.statements.values() for s in g.statements]
    out += [c.statement for c in kind.conditions]
    out += [v for v in _strings(kind.policy)] + [v for v in _strings(dict(kind.kubernetes))]
    out += list((kind.head or {}).values())
    return out


def _strings(node: Any) -> list[str]:
    if isinstance(node, str):
        return [node]
    if isinstance(node, Mapping):
        return [s for v in node.values() for s in _strings(v)]
    if isinstance(node, (list, tuple)):
        return [s for v in node for s in _strings(v)]
    return []


def load_file(path: Path) -> KindFile:
    try:
        raw = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise KindFileError(f"{path.name}: not valid YAML: {exc}") from exc
    try:
        kind = KindFile.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "<root>"
        raise KindFileError(f"{path.name}: {where}: {first['msg']}") from exc
    if path.stem != kind.kind:
        raise KindFileError(f"{path.name}: kind is {kind.kind!r}; the file must be named after it")
    return kind


@cache
def catalogue() -> dict[str, KindFile]:
    found = {k.kind: k for k in map(load_file, sorted(KINDS_DIR.glob("*.yaml")))}
    for family, names in (("action", ACTION_KINDS), ("sampling", SAMPLING_KINDS)):
        files = sorted(k for k, v in found.items() if v.family == family)
        if files != sorted(names):
            raise KindFileError(
                f"{family} kinds in pipelines/kinds/ {files} differ from api.models {sorted(names)}"
            )
    return found


def get_kind(name: str) -> KindFile:
    try:
        return catalogue()[name]
    except KeyError:
        raise RuleInvalid(f"unknown kind {name!r}", reason="UnknownKind") from None


# -- settings ------------------------------------------------------------------------------------------


def check_settings(kind: KindFile, settings: Mapping[str, Any]) -> Settings:
    """The settings, defaults filled in and typed by field kind; :class:`RuleInvalid` names the field."""
    unknown = sorted(set(settings) - {f.name for f in kind.fields})
    if unknown:
        raise RuleInvalid(
            f"{kind.kind}.{unknown[0]}: not a field of {kind.display_name}",
            reason="UnknownField",
            field=unknown[0],
        )
    out: Settings = {}
    for f in kind.fields:
        value = settings.get(f.name, f.default)
        where = f"{kind.kind}.{f.name}"
        if value is None or value == "" or value == [] or value == {}:
            if f.required:
                raise RuleInvalid(f"{where}: required ({f.label})", reason="MissingField", field=f.name)
            continue
        out[f.name] = _typed(f, value, where)
    return out


def _typed(f: KindField, value: Any, where: str) -> Any:
    def bad(why: str) -> RuleInvalid:
        return RuleInvalid(f"{where}: {why}", reason="InvalidField", field=f.name)

    if f.kind == "checkbox":
        if isinstance(value, bool):
            return value
        if str(value).lower() in ("true", "false"):
            return str(value).lower() == "true"
        raise bad(f"must be true or false, got {value!r}")
    if f.kind == "number":
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise bad(f"must be a number, got {value!r}") from None
        return int(number) if number.is_integer() else number
    if f.kind == "multiline":
        lines = value if isinstance(value, list) else str(value).splitlines()
        items = [str(line).strip() for line in lines if str(line).strip()]
        return items
    if f.kind == "keyValue":
        if not isinstance(value, Mapping):
            raise bad("must be a mapping of key: value")
        return {str(k): str(v) for k, v in value.items()}
    if f.kind == "dropdown" and str(value) not in f.values():
        raise bad(f"must be one of {', '.join(f.values())}, got {value!r}")
    return str(value)


# -- templates -----------------------------------------------------------------------------------------


def ottl_string(value: Any) -> str:
    """``value`` escaped for the inside of an OTTL string literal."""
    return str(value).replace("\\", "\\\\").replace('"', '\\"')


def fill(template: str, kind: KindFile, settings: Settings, extra: Mapping[str, Any] | None = None) -> str:
    """Replace every placeholder with its OTTL-escaped value."""

    def value(match: re.Match[str]) -> str:
        ref = match.group(1)
        if ref.startswith("$const."):
            return ottl_string(kind.constants[ref.removeprefix("$const.")])
        if extra is not None and ref in extra:
            return ottl_string(extra[ref])
        if ref not in settings:
            raise RuleInvalid(f"{kind.kind}: {ref} has no value", reason="MissingField", field=ref)
        return ottl_string(settings[ref])

    return PLACEHOLDER.sub(value, template)


def expand(items: tuple[Templated, ...], kind: KindFile, settings: Settings) -> list[str]:
    """Templated statements or conditions, with ``each`` and ``if`` applied."""
    out: list[str] = []
    for item in items:
        if item.when is not None and not settings.get(item.when):
            continue
        if item.each is None:
            out.append(fill(item.statement, kind, settings))
            continue
        values = settings.get(item.each)
        if isinstance(values, Mapping):
            out += [fill(item.statement, kind, settings, {"$key": k, "$value": v}) for k, v in values.items()]
        elif isinstance(values, list):
            out += [fill(item.statement, kind, settings, {"$item": v}) for v in values]
    return out


def fill_data(node: Any, kind: KindFile, settings: Settings, extra: Mapping[str, Any] | None = None) -> Any:
    """A YAML template with placeholders; a string that is one placeholder keeps the value's type.

    A list item ``{each: FIELD, entry: X}`` becomes one ``X`` per item of the field; a mapping with
    ``$if: FIELD`` is kept (without that key) only when the field has a value.
    """
    if isinstance(node, str):
        whole = PLACEHOLDER.fullmatch(node.strip())
        if whole and not whole.group(1).startswith("$const."):
            ref = whole.group(1)
            if extra is not None and ref in extra:
                return extra[ref]
            return settings.get(ref)
        return PLACEHOLDER.sub(lambda m: str(_lookup(m.group(1), kind, settings, extra)), node)
    if isinstance(node, Mapping):
        if "$if" in node and not settings.get(str(node["$if"])):
            return None
        out = {k: fill_data(v, kind, settings, extra) for k, v in node.items() if k != "$if"}
        return {k: v for k, v in out.items() if v is not None}
    if isinstance(node, (list, tuple)):
        items: list[Any] = []
        for entry in node:
            if isinstance(entry, Mapping) and "each" in entry and "entry" in entry:
                for item in settings.get(str(entry["each"])) or []:
                    items.append(fill_data(entry["entry"], kind, settings, {**(extra or {}), "$item": item}))
            else:
                filled = fill_data(entry, kind, settings, extra)
                if filled is not None:
                    items.append(filled)
        return items
    return node


def _lookup(ref: str, kind: KindFile, settings: Settings, extra: Mapping[str, Any] | None) -> Any:
    if ref.startswith("$const."):
        return kind.constants[ref.removeprefix("$const.")]
    if extra is not None and ref in extra:
        return extra[ref]
    return settings.get(ref, "")
