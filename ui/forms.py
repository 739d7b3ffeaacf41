"""Forms generated from declarative fields: one generator for destination types and any other plugin kind.

A field is anything shaped like :class:`destinations.FieldSpec` (the :class:`Field` protocol): name, label,
kind (``text``, ``password``, ``number``, ``checkbox``, ``dropdown``, ``multiline``, ``keyValue``),
``required``, ``secret``, ``default``, ``help``, ``placeholder``, ``options``, ``show_if`` (a condition
on another field) and ``signals`` (asked only for those signals). The template macro ``form_field`` in
``templates/_form.html`` renders one with its label, help, current value and error; this module reads a
submitted form back into values, with the same rules for every kind.

Secret fields are never rendered with a value: a form shows only whether one is set, and an empty secret
input on submit means "keep what is stored". :func:`redact` scrubs given secret values out of any text the
server is about to send (a connection error quoting a URL that carries a token, say).

Inputs are named ``f.<FIELD>``; a key/value list posts ``f.<FIELD>.k`` and ``f.<FIELD>.v`` pairs.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from starlette.datastructures import FormData

from destinations.templating import parse_key_values, truthy

PREFIX = "f."
KEY_VALUE_ROWS = 2  # empty rows offered below a key/value list's entries (more with "Add row")


class Option(Protocol):
    @property
    def value(self) -> str: ...
    @property
    def label(self) -> str | None: ...


class Condition(Protocol):
    @property
    def field(self) -> str: ...
    def holds(self, values: Mapping[str, str | None]) -> bool: ...
    def model_dump(self, *, by_alias: bool = ..., exclude_none: bool = ...) -> dict[str, Any]: ...


class Field(Protocol):
    """What the generator needs of a declared field (``destinations.FieldSpec`` is one)."""

    @property
    def name(self) -> str: ...
    @property
    def label(self) -> str: ...
    @property
    def kind(self) -> str: ...
    @property
    def required(self) -> bool: ...
    @property
    def secret(self) -> bool: ...
    @property
    def default(self) -> str | None: ...
    @property
    def help(self) -> str: ...
    @property
    def placeholder(self) -> str | None: ...
    @property
    def options(self) -> Sequence[Option]: ...
    @property
    def show_if(self) -> Condition | None: ...
    @property
    def signals(self) -> Sequence[str]: ...


@dataclass
class FormState:
    """What a form shows: values (never a secret's), which secrets are stored, errors by field name."""

    values: dict[str, str | None] = field(default_factory=dict)
    secrets_set: set[str] = field(default_factory=set)
    errors: dict[str, str] = field(default_factory=dict)

    def value(self, f: Field) -> str:
        if f.secret:
            return ""
        given = self.values.get(f.name)
        if given is None:
            return f.default or ""
        return given

    def checked(self, f: Field) -> bool:
        return truthy(self.value(f))

    def pairs(self, f: Field) -> list[tuple[str, str]]:
        """A key/value field's rows: its entries, then empty rows to fill in."""
        try:
            entries = list(parse_key_values(self.value(f)).items())
        except (ValueError, KeyError, TypeError):
            entries = []
        return entries + [("", "")] * KEY_VALUE_ROWS


def input_id(f: Field) -> str:
    return f"f-{f.name}"


def show_if_json(f: Field) -> str:
    """The field's condition for the browser script (it hides the field while the condition fails)."""
    if f.show_if is None:
        return ""
    return json.dumps(f.show_if.model_dump(by_alias=True, exclude_none=True), separators=(",", ":"))


def relevant(f: Field, values: Mapping[str, str | None], signals: Iterable[str]) -> bool:
    """Is the field asked for, given the other values and the chosen signals (the catalogue's rule)?"""
    if f.signals and not set(f.signals) & set(signals):
        return False
    return f.show_if is None or f.show_if.holds(values)


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def read(fields: Sequence[Field], form: FormData) -> tuple[dict[str, str | None], dict[str, str]]:
    """``(values, secrets)`` from a submitted form: every non-secret field's value (``None`` when empty),
    and the secret fields that were typed in (an empty secret input is left out: keep the stored one)."""
    values: dict[str, str | None] = {}
    secrets: dict[str, str] = {}
    for f in fields:
        key = PREFIX + f.name
        if f.secret:
            typed = _text(form.get(key)).strip()
            if typed:
                secrets[f.name] = typed
            continue
        if f.kind == "checkbox":
            values[f.name] = "true" if key in form else "false"
        elif f.kind == "keyValue":
            keys = [_text(k).strip() for k in form.getlist(key + ".k")]
            vals = [_text(v).strip() for v in form.getlist(key + ".v")]
            lines = [f"{k}={v}" for k, v in zip(keys, vals, strict=False) if k]
            values[f.name] = "\n".join(lines) or None
        else:
            raw = _text(form.get(key))
            text = raw if f.kind == "multiline" else raw.strip()
            values[f.name] = text if text.strip() else None
    return values, secrets


def redact(text: str, secrets: Iterable[str]) -> str:
    """``text`` with every secret value (of four or more characters) replaced by a mask."""
    for value in sorted({s for s in secrets if len(s) >= 4}, key=len, reverse=True):
        text = text.replace(value, "••••")
    return text
