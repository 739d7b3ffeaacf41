"""The destination catalogue: one declarative file per destination type, loaded and checked at import.

Each ``destinations/types/<type>.yaml`` says what a user sees (display name, category, signals, fields with
their input kind, help and show condition) and what the gateway gets (exporters, auth extensions and
per-destination processors, as templates over the fields; see :mod:`destinations.templating`). The same
file drives the CLI, the UI form, the validation of Destination objects and the collector config.

A malformed file is a :class:`~destinations.errors.CatalogueError` naming the file and the field, raised when
this module is imported, so a broken catalogue never ships.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from pydantic.alias_generators import to_camel

from destinations import components, templating
from destinations.errors import CatalogueError, UnknownTypeError

TYPES_DIR = Path(__file__).resolve().parent / "types"

# A type may declare "profiles" (the catalogue mirrors what backends accept), but pipelines carry only
# the Signal kinds of api.models: a profiles-only type cannot be configured yet.
TypeSignal = Literal["traces", "metrics", "logs", "profiles"]
FieldKind = Literal["text", "password", "number", "checkbox", "dropdown", "keyValue", "multiline"]
Category = Literal["managed", "self-hosted"]
FIELD_NAME = re.compile(r"^[A-Z][A-Z0-9_]*$")


class _Strict(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid", frozen=True)


class Option(_Strict):
    value: str
    label: str | None = None


class FieldSpec(_Strict):
    """One input of a destination type's form; ``name`` is the key in ``spec.data`` or in the Secret."""

    name: str = Field(pattern=FIELD_NAME.pattern)
    label: str = Field(min_length=1)
    kind: FieldKind = "text"
    required: bool = False
    secret: bool = False
    default: str | None = None
    help: str = ""
    placeholder: str | None = None
    options: tuple[Option, ...] = ()
    show_if: templating.Condition | None = None
    # Only asked for (and only required) when the destination sends one of these signals.
    signals: tuple[TypeSignal, ...] = ()
    # A sample value: used by the docs, the CLI `show` and the tests that validate every rendered config.
    example: str | None = None

    @field_validator("options", mode="before")
    @classmethod
    def _options(cls, value: Any) -> Any:
        if isinstance(value, list):
            return [{"value": str(v)} if not isinstance(v, dict) else v for v in value]
        return value

    @model_validator(mode="after")
    def _consistent(self) -> FieldSpec:
        if self.kind == "dropdown" and not self.options:
            raise ValueError("a dropdown needs options")
        if self.kind != "dropdown" and self.options:
            raise ValueError(f"options are only for dropdowns, not kind {self.kind}")
        if self.kind == "password" and not self.secret:
            raise ValueError("a password field must be secret: true")
        if self.secret and self.default is not None:
            raise ValueError("a secret field cannot have a default")
        if self.kind == "dropdown" and self.default is not None and self.default not in self.values():
            raise ValueError(f"default {self.default!r} is not one of the options")
        if self.required and self.example is None and self.default is None and self.kind != "dropdown":
            raise ValueError("a required field needs an example (used by docs and tests)")
        return self

    def values(self) -> list[str]:
        return [option.value for option in self.options]

    def sample(self) -> str | None:
        """The value the docs and tests use for this field."""
        if self.example is not None:
            return self.example
        if self.default is not None:
            return self.default
        if self.kind == "dropdown":
            return self.options[0].value
        if self.kind == "checkbox":
            return "true"
        return None


class ComponentTemplate(_Strict):
    """A collector component a destination adds, with its config as a template over the fields."""

    component: str
    name: str | None = Field(default=None, pattern=r"^[a-z0-9][a-z0-9-]*$")  # suffix when a type needs two
    signals: tuple[TypeSignal, ...] = ()
    when: templating.Condition | None = Field(default=None, alias="if")
    config: dict[str, Any] = Field(default_factory=dict)


class DestinationType(_Strict):
    """A destination type as declared in its file."""

    type: str = Field(pattern=r"^[a-z0-9][a-z0-9-]*$")
    display_name: str = Field(min_length=1)
    category: Category
    signals: tuple[TypeSignal, ...] = Field(min_length=1)
    docs: str = Field(pattern=r"^https://")
    description: str = ""
    test_connection: bool = False
    host_metrics: bool = False  # the node collector adds host metrics when this destination gets metrics
    derives_request_metrics: bool = False  # the backend computes RED metrics from spans itself
    fields: tuple[FieldSpec, ...] = ()
    lookups: dict[str, dict[str, str]] = Field(default_factory=dict)
    exporters: tuple[ComponentTemplate, ...] = ()
    extensions: tuple[ComponentTemplate, ...] = ()
    processors: tuple[ComponentTemplate, ...] = ()
    hook: str | None = None  # a module in destinations/hooks/ for what a template cannot say

    @model_validator(mode="after")
    def _consistent(self) -> DestinationType:
        names = [f.name for f in self.fields]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"duplicate field names: {', '.join(duplicates)}")
        if not self.exporters and not self.hook:
            raise ValueError("a type needs exporters (or a hook)")
        for f in self.fields:
            if f.show_if and f.show_if.field not in names:
                raise ValueError(f"field {f.name}: showIf names unknown field {f.show_if.field}")
            if not set(f.signals) <= set(self.signals):
                raise ValueError(f"field {f.name}: signals {list(f.signals)} not all supported by the type")
        covered: set[str] = set()
        for section, entries in (("exporters", self.exporters), ("extensions", self.extensions)):
            for index, entry in enumerate(entries):
                where = f"{section}[{index}]"
                if entry.component not in components.KINDS[section]:
                    raise ValueError(f"{where}.component: unknown {section[:-1]} {entry.component!r}")
                if not set(entry.signals) <= set(self.signals):
                    raise ValueError(f"{where}.signals: {list(entry.signals)} not all supported by the type")
                if section == "exporters":
                    covered |= set(entry.signals or self.signals)
                templating.check(
                    entry.config, fields=self.field_map(), lookups=self.lookups, where=f"{where}.config"
                )
                if entry.when:
                    templating.check_condition(entry.when, self.field_map(), where=f"{where}.if")
        for index, entry in enumerate(self.processors):
            if entry.component not in components.KINDS["processors"]:
                raise ValueError(f"processors[{index}].component: unknown processor {entry.component!r}")
            templating.check(
                entry.config, fields=self.field_map(), lookups=self.lookups, where=f"processors[{index}]"
            )
        if not self.hook and covered != set(self.signals):
            missing = sorted(set(self.signals) - covered)
            raise ValueError(f"exporters: no exporter for signals {missing}")
        return self

    def field_map(self) -> dict[str, FieldSpec]:
        return {f.name: f for f in self.fields}

    def required_components(self) -> set[str]:
        """Logical component names this type needs in the collector build."""
        return {e.component for e in (*self.exporters, *self.extensions, *self.processors)}

    def sample_data(self) -> tuple[dict[str, str], dict[str, str]]:
        """(spec.data, secret values) built from every field's sample value."""
        data: dict[str, str] = {}
        secrets: dict[str, str] = {}
        for f in self.fields:
            value = f.sample()
            if value is None:
                continue
            (secrets if f.secret else data)[f.name] = value
        return data, secrets


def _describe(error: ValidationError) -> str:
    parts = []
    for item in error.errors():
        location = ".".join(str(p) for p in item["loc"])
        message = str(item["msg"]).removeprefix("Value error, ")
        parts.append(f"{location}: {message}" if location else message)
    return "; ".join(parts)


def load_file(path: Path) -> DestinationType:
    """Parse and check one type file; every problem is a :class:`CatalogueError` naming file and field."""
    try:
        raw = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise CatalogueError(f"{path.name}: not valid YAML: {exc}") from exc
    if not isinstance(raw, Mapping):
        raise CatalogueError(f"{path.name}: expected a mapping at the top level")
    try:
        loaded = DestinationType.model_validate(raw)
    except (ValidationError, templating.TemplateError) as exc:
        detail = _describe(exc) if isinstance(exc, ValidationError) else str(exc)
        raise CatalogueError(f"{path.name}: {detail}") from exc
    if loaded.type != path.stem:
        raise CatalogueError(f"{path.name}: type: {loaded.type!r} does not match the file name")
    return loaded


def load_directory(directory: Path) -> dict[str, DestinationType]:
    return {path.stem: load_file(path) for path in sorted(directory.glob("*.yaml"))}


@cache
def catalogue() -> dict[str, DestinationType]:
    """Every destination type shipped with Hodegos, by type name."""
    return load_directory(TYPES_DIR)


def get_type(name: str) -> DestinationType:
    try:
        return catalogue()[name]
    except KeyError:
        raise UnknownTypeError(
            f"unknown destination type {name!r}; `hodegos destinations list` shows them"
        ) from None


def all_types() -> list[DestinationType]:
    return sorted(catalogue().values(), key=lambda t: t.type)


catalogue()  # a malformed file fails at import, not at the first render
