"""A Destination from a submitted form: read it, check it with the controllers' own checker, say what is wrong
beside each field.

:func:`read_draft` turns the form of one destination type into a :class:`Draft` (name, signals, field
values, typed secret values). :func:`check` holds it against :func:`destinations.check_destination` — the
code that decides the Destination's ``Configured`` condition — and collects every problem, not just the
first: after each error it stands a valid sample in for the rejected field and asks again. Errors are keyed
by form field name (or ``name``, ``signals``, ``form``).

Secrets: a draft knows which secret fields the stored Secret already holds; an empty secret input keeps
the stored value, so editing never needs the key typed again and the value never goes back to the browser.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError
from starlette.datastructures import FormData

from api.models import SIGNALS, Destination
from destinations import DestinationInvalid, DestinationType, check_destination
from ui import forms

NAME = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")
SIGNAL_LABELS = {"traces": "Traces", "metrics": "Metrics", "logs": "Logs"}
_FIELD_OF = re.compile(r"^(?:spec\.data\.|secret key )(?P<name>[A-Z][A-Z0-9_]*)$")


def signal_choices(type_: DestinationType) -> list[str]:
    """Signals the form offers: those the type supports that pipelines carry."""
    return [s for s in SIGNALS if s in type_.signals]


@dataclass
class Draft:
    type: DestinationType
    name: str
    signals: list[str]
    values: dict[str, str | None]
    secrets: dict[str, str] = field(default_factory=dict)  # typed now (plain text, server side only)
    stored_secret_keys: set[str] = field(default_factory=set)  # already in the Secret
    errors: dict[str, str] = field(default_factory=dict)
    disabled: bool = False

    @property
    def secret_fields(self) -> list[str]:
        return [f.name for f in self.type.fields if f.secret]

    def data(self) -> dict[str, str]:
        """``spec.data``: the non-secret values of the fields that are asked for."""
        shown = self._condition_values()
        return {
            f.name: value
            for f in self.type.fields
            if not f.secret
            and (value := self.values.get(f.name)) is not None
            and forms.relevant(f, shown, self.signals)
        }

    def _condition_values(self) -> dict[str, str | None]:
        out = dict(self.values)
        for name in self.secret_fields:
            out[name] = "<secret>" if name in self.secrets or name in self.stored_secret_keys else None
        for f in self.type.fields:
            if not f.secret and out.get(f.name) is None:
                out[f.name] = f.default
        return out

    def has_secret(self) -> bool:
        return bool(self.secret_fields)

    def model(self, assumed_keys: set[str] | None = None) -> Destination:
        spec: dict[str, Any] = {"type": self.type.type, "signals": self.signals, "data": self.data()}
        spec["disabled"] = self.disabled
        if self.has_secret():
            spec["secretRef"] = {"name": "draft"}
        return Destination.model_validate({"metadata": {"name": self.name or "draft"}, "spec": spec})

    def secret_keys(self) -> set[str]:
        return (self.stored_secret_keys | set(self.secrets)) & set(self.secret_fields)

    def secret_data(self, stored: Mapping[str, str]) -> dict[str, str]:
        """The Secret's whole ``data`` (base64): stored values kept, typed ones replacing them."""
        out = {k: v for k, v in stored.items() if k in self.secret_fields}
        out.update({k: base64.b64encode(v.encode()).decode() for k, v in self.secrets.items()})
        return out

    def state(self) -> forms.FormState:
        return forms.FormState(
            values=dict(self.values),
            secrets_set=self.stored_secret_keys & set(self.secret_fields),
            errors=dict(self.errors),
        )


def read_draft(
    type_: DestinationType,
    form: FormData,
    *,
    name: str | None = None,
    stored_secret_keys: set[str] | None = None,
    disabled: bool = False,
) -> Draft:
    """The draft a form describes; ``name`` is fixed when editing (the form's name field is ignored)."""
    values, secrets = forms.read(type_.fields, form)
    chosen = {str(s) for s in form.getlist("signals")}
    draft = Draft(
        type=type_,
        name=name if name is not None else str(form.get("name") or "").strip(),
        signals=[s for s in SIGNALS if s in chosen],
        values=values,
        secrets=secrets,
        stored_secret_keys=set(stored_secret_keys or ()),
        disabled=disabled,
    )
    unknown = sorted(chosen - set(signal_choices(type_)))
    if unknown:
        draft.errors["signals"] = f"{type_.display_name} does not support {', '.join(unknown)}"
    return draft


def from_destination(type_: DestinationType, obj: Mapping[str, Any], stored_keys: set[str]) -> Draft:
    spec = obj.get("spec") or {}
    return Draft(
        type=type_,
        name=obj["metadata"]["name"],
        signals=[s for s in SIGNALS if s in (spec.get("signals") or [])],
        values={k: str(v) for k, v in (spec.get("data") or {}).items()},
        stored_secret_keys=set(stored_keys),
        disabled=bool(spec.get("disabled")),
    )


def _field_of(location: str | None) -> str:
    match = _FIELD_OF.match(location or "")
    if match:
        return match.group("name")
    if (location or "").startswith("spec.signals"):
        return "signals"
    return "form"


def _message(exc: DestinationInvalid) -> str:
    text = str(exc)
    if exc.field and text.startswith(f"{exc.field}: "):
        text = text[len(exc.field) + 2 :]
    if text.startswith("required ("):
        return "Required."
    return text[:1].upper() + text[1:]


def check(draft: Draft, *, taken: bool = False) -> Draft:
    """Fill ``draft.errors`` with every problem; an empty dict means the controllers will accept it."""
    errors = draft.errors
    if not NAME.match(draft.name):
        errors["name"] = (
            "Required." if not draft.name else
            "Lower-case letters, digits and '-', starting and ending with a letter or digit (at most 63)."
        )  # fmt: skip
    elif taken:
        errors["name"] = f"A destination named {draft.name} already exists."
    if not draft.signals and "signals" not in errors:
        errors["signals"] = "Choose at least one signal."
    if not draft.signals:
        return draft
    trial = Draft(
        type=draft.type,
        name=draft.name if NAME.match(draft.name) else "draft",
        signals=list(draft.signals),
        values=dict(draft.values),
        secrets=dict(draft.secrets),
        stored_secret_keys=set(draft.stored_secret_keys),
    )
    fields = draft.type.field_map()
    for _ in range(len(fields) + 2):
        try:
            check_destination(trial.model(), secret_keys=trial.secret_keys())
            break
        except ValidationError as exc:  # the model itself (a name or type the schema refuses)
            first = exc.errors()[0]
            errors.setdefault("form", f"{'.'.join(str(p) for p in first['loc'])}: {first['msg']}")
            break
        except DestinationInvalid as exc:
            where = _field_of(exc.field)
            if where in errors:
                break
            errors[where] = _message(exc)
            spec = fields.get(where)
            if spec is None:
                break
            # stand a valid sample in for the rejected field, to find the next problem
            if spec.secret:
                trial.secrets[where] = "sample"
            else:
                trial.values[where] = spec.sample()
    return draft


def connection_secrets(draft: Draft, stored: Mapping[str, str]) -> dict[str, str]:
    """Plain secret values for a test connection: stored ones (decoded here, on the server) and typed ones."""
    out = {
        k: base64.b64decode(v).decode(errors="replace") for k, v in stored.items() if k in draft.secret_fields
    }
    out.update(draft.secrets)
    return out
