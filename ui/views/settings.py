"""The settings form: the fields of ``hodegos-config``, declared once and rendered by :mod:`ui.forms`.

Saving merges the form into the YAML mapping already in the ConfigMap (keys this form does not know are
kept), then validates the result with :meth:`api.config.HodegosConfig.parse_text` — the check every
component applies — and maps each error it names back to its field.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import yaml
from pydantic import ValidationError

from api.config import ConfigError, HodegosConfig
from api.models import Sampler
from destinations.templating import Condition


@dataclass(frozen=True)
class SettingOption:
    value: str
    label: str | None = None


@dataclass(frozen=True)
class SettingField:
    """One input of the settings form (shaped like a destination field, so one generator renders both)."""

    name: str  # the dotted path in config.yaml
    label: str
    kind: str = "text"
    help: str = ""
    options: tuple[SettingOption, ...] = ()
    show_if: Condition | None = None
    required: bool = False
    secret: bool = False
    default: str | None = None
    placeholder: str | None = None
    signals: tuple[str, ...] = ()


_SAMPLERS = tuple(SettingOption(v) for v in Sampler.model_fields["name"].annotation.__args__)  # type: ignore[union-attr]
_RATIO = Condition.model_validate(
    {"field": "defaultSampler.name", "in": ["traceidratio", "parentbased_traceidratio"]}
)


def _field(name: str, label: str, kind: str, help: str, **extra: Any) -> SettingField:
    return SettingField(name, label, kind, help, **extra)


_MODES = (SettingOption("opt-in", "opt-in (choose)"), SettingOption("opt-out", "opt-out (everything)"))
FIELDS: tuple[SettingField, ...] = (
    _field(
        "mode", "Instrumentation mode", "dropdown",
        "opt-out instruments every workload unless a namespace or workload says disabled; "
        "opt-in only what a namespace or workload annotation enables.",
        options=_MODES,
    ),
    _field("ignoredNamespaces", "Ignored namespaces", "multiline",
           "One per line: never instrumented, whatever the mode."),
    _field("ignoredContainers", "Ignored containers", "multiline", "One container name per line (sidecars)."),
    _field("defaultSampler.name", "Default sampler", "dropdown", "OTEL_TRACES_SAMPLER for every agent.",
           options=_SAMPLERS),
    _field("defaultSampler.argument", "Sampler ratio", "text", "Between 0 and 1, e.g. 0.25.",
           show_if=_RATIO),
    _field("imageRegistry", "Agent image registry", "text", "Prefix of the agent images the webhook adds."),
    _field("rollout.automatic", "Roll workloads automatically", "checkbox",
           "Restart a workload when its instrumentation changes."),
    _field("rollout.maxConcurrent", "Concurrent rollouts", "number", "Workloads rolled at the same time."),
    _field("rollback.enabled", "Roll back automatically", "checkbox",
           "Stop injecting into a workload whose instrumented pods fail."),
    _field("rollback.stabilityWindowSeconds", "Stability window (seconds)", "number",
           "Failures within this time after a rollout trigger a rollback."),
)  # fmt: skip
LISTS = {"ignoredNamespaces", "ignoredContainers"}


def _get(mapping: Mapping[str, Any], path: str) -> Any:
    value: Any = mapping
    for part in path.split("."):
        if not isinstance(value, Mapping):
            return None
        value = value.get(part)
    return value


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return "\n".join(str(v) for v in value)
    return str(value)


def current_values(config: HodegosConfig) -> dict[str, str | None]:
    """Form values for the configuration in force (defaults filled in)."""
    data = config.to_dict()
    return {f.name: _text(_get(data, f.name)) for f in FIELDS}


def _typed(f: SettingField, text: str | None) -> Any:
    if f.name in LISTS:
        return [line.strip() for line in (text or "").splitlines() if line.strip()]
    if f.kind == "checkbox":
        return text == "true"
    if f.kind == "number" and text is not None:
        try:
            return int(text)
        except ValueError:
            return text  # the validator names it
    return text


def merged(existing: Mapping[str, Any], values: Mapping[str, str | None]) -> dict[str, Any]:
    """``existing`` with every form field set (an empty optional field removed)."""
    out: dict[str, Any] = yaml.safe_load(yaml.safe_dump(dict(existing))) or {}
    for f in FIELDS:
        value = _typed(f, values.get(f.name))
        parts = f.name.split(".")
        node = out
        for part in parts[:-1]:
            child = node.get(part)
            if not isinstance(child, dict):
                child = node[part] = {}
            node = child
        if value is None or (f.show_if is not None and not f.show_if.holds(values)):
            node.pop(parts[-1], None)
        else:
            node[parts[-1]] = value
    return out


def validate(mapping: Mapping[str, Any]) -> dict[str, str]:
    """Errors by field name (``form`` for one no field owns); empty when the configuration is valid."""
    try:
        HodegosConfig.parse_text(yaml.safe_dump(dict(mapping)))
        return {}
    except ConfigError as exc:
        cause = exc.__cause__
        if not isinstance(cause, ValidationError):
            return {"form": str(exc)}
        names = {f.name for f in FIELDS}
        errors: dict[str, str] = {}
        for err in cause.errors():
            parts = [str(p) for p in err["loc"]]
            where = next(
                (".".join(parts[:n]) for n in range(len(parts), 0, -1) if ".".join(parts[:n]) in names),
                "form",
            )
            message = str(err["msg"]).removeprefix("Value error, ")
            errors.setdefault(where, message if where != "form" else f"{'.'.join(parts)}: {message}")
        return errors
