"""One Destination object -> its validated field values -> its collector components and pipelines.

:func:`check_destination` holds a Destination against its type (signals, fields, kinds, where secrets
live) and raises :class:`~destinations.errors.DestinationInvalid` naming the field. :func:`render_destination`
turns a valid one into exporters, auth extensions, processors and one pipeline per signal, named
``<component>/<destination-id>`` and ``<signal>/<destination-id>``. Secret fields become ``${env:NAME}``
and the result says which Secret key feeds each variable, for the gateway Deployment's env.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Any

from api.models import SIGNALS, Destination, Signal
from destinations import components, templating
from destinations.catalogue import DestinationType, FieldSpec, get_type
from destinations.errors import DestinationInvalid, RenderError, UnknownTypeError


@dataclass(frozen=True)
class SecretKeyRef:
    secret: str
    key: str


@dataclass
class RenderedDestination:
    """What one destination adds to the gateway config."""

    id: str
    type: str
    signals: list[Signal]
    exporters: dict[str, dict[str, Any]] = field(default_factory=dict)
    extensions: dict[str, dict[str, Any]] = field(default_factory=dict)
    processors: dict[str, dict[str, Any]] = field(default_factory=dict)
    # pipeline id -> (processor ids, exporter ids)
    pipelines: dict[str, tuple[list[str], list[str]]] = field(default_factory=dict)
    secret_env: dict[str, SecretKeyRef] = field(default_factory=dict)


def secret_env_name(destination_id: str, field_name: str) -> str:
    """Env var the gateway gets a secret field in: unique per destination, a valid shell name."""
    return f"HODEGOS_{re.sub(r'[^A-Za-z0-9]', '_', destination_id).upper()}_{field_name}"


def _relevant(spec: FieldSpec, values: dict[str, str | None], signals: Collection[str]) -> bool:
    if spec.signals and not set(spec.signals) & set(signals):
        return False
    return spec.show_if is None or spec.show_if.holds(values)


def _check_value(spec: FieldSpec, value: str, where: str) -> None:
    try:
        if spec.kind == "number":
            float(value)
        elif spec.kind == "checkbox" and value.strip().lower() not in {"true", "false"}:
            raise ValueError("expected true or false")
        elif spec.kind == "dropdown" and value not in spec.values():
            raise ValueError(f"expected one of {', '.join(spec.values())}")
        elif spec.kind == "keyValue":
            templating.parse_key_values(value)
    except (ValueError, KeyError, TypeError) as exc:
        raise DestinationInvalid(
            f"{where}: {value!r} is not a valid {spec.kind}: {exc}", field=where
        ) from exc


def check_destination(
    destination: Destination, *, secret_keys: Collection[str] | None = None
) -> tuple[DestinationType, dict[str, str | None]]:
    """Check ``destination`` against its type; return the type and the field values (defaults applied).

    ``secret_keys`` are the keys present in the referenced Secret, when the caller read it; without them
    only the presence of ``spec.secretRef`` is checked.
    """
    spec = destination.spec
    try:
        type_ = get_type(spec.type)
    except UnknownTypeError as exc:
        raise DestinationInvalid(str(exc), field="spec.type", reason="UnknownType") from exc
    for index, signal in enumerate(spec.signals):
        if signal not in type_.signals:
            raise DestinationInvalid(
                f"spec.signals[{index}]: {type_.display_name} does not support {signal} "
                f"(supported: {', '.join(type_.signals)})",
                field=f"spec.signals[{index}]",
                reason="UnsupportedSignal",
            )
    fields = type_.field_map()
    for key in spec.data:
        if key not in fields:
            raise DestinationInvalid(
                f"spec.data.{key}: not a field of {type_.type} (fields: {', '.join(fields) or 'none'})",
                field=f"spec.data.{key}",
            )
        if fields[key].secret:
            raise DestinationInvalid(
                f"spec.data.{key}: a secret field belongs in the Secret named by spec.secretRef, "
                "not in spec.data",
                field=f"spec.data.{key}",
                reason="SecretInSpec",
            )
    values: dict[str, str | None] = {}
    for f in type_.fields:
        if f.secret:
            present = spec.secret_ref is not None and (secret_keys is None or f.name in secret_keys)
            values[f.name] = "<secret>" if present else None
        else:
            given = spec.data.get(f.name)
            values[f.name] = given if given not in (None, "") else f.default
    for f in type_.fields:
        if not _relevant(f, values, spec.signals):
            values[f.name] = None
            continue
        value = values[f.name]
        where = f"secret key {f.name}" if f.secret else f"spec.data.{f.name}"
        if value is None:
            if f.required:
                if f.secret and spec.secret_ref is None:
                    raise DestinationInvalid(
                        f"spec.secretRef: {type_.type} needs secret field {f.name}, "
                        "and no Secret is referenced",
                        field="spec.secretRef",
                        reason="MissingField",
                    )
                raise DestinationInvalid(f"{where}: required ({f.label})", field=where, reason="MissingField")
            continue
        if not f.secret:
            _check_value(f, value, where)
    return type_, values


def render_destination(
    destination: Destination, *, secret_keys: Collection[str] | None = None
) -> RenderedDestination:
    """Render one destination's components and pipelines; raises DestinationInvalid or RenderError."""
    type_, values = check_destination(destination, secret_keys=secret_keys)
    dest_id = destination.metadata.name
    signals = [s for s in SIGNALS if s in destination.spec.signals]
    secret_name = destination.spec.secret_ref.name if destination.spec.secret_ref else ""
    secret_env = {
        f.name: secret_env_name(dest_id, f.name)
        for f in type_.fields
        if f.secret and values.get(f.name) is not None
    }
    missing = sorted(c for c in type_.required_components() if not components.built(c))
    if missing:
        raise RenderError(
            f"{type_.display_name} needs collector components {', '.join(missing)}, "
            "which are not in this Hodegos collector build"
        )
    result = RenderedDestination(
        id=dest_id,
        type=type_.type,
        signals=signals,
        secret_env={env: SecretKeyRef(secret_name, key) for key, env in secret_env.items()},
    )
    ctx = templating.Context(
        values=values,
        fields=type_.field_map(),
        secret_env=secret_env,
        destination_id=dest_id,
        lookups=type_.lookups,
    )
    ext_ids: dict[str, str] = {}
    for entry in type_.extensions:
        if entry.when and not entry.when.holds(values):
            continue
        if entry.signals and not set(entry.signals) & set(signals):
            continue
        # `name` tells two instances of one extension apart: `{{ $ext.<component>.<name> }}`
        ext_id = f"{components.name('extensions', entry.component)}/{dest_id}"
        key = entry.component
        if entry.name:
            ext_id, key = f"{ext_id}-{entry.name}", f"{key}.{entry.name}"
        ext_ids[key] = ext_id
        result.extensions[ext_id] = templating.render(entry.config, ctx)
    ctx.extension_ids = ext_ids
    processor_ids: list[str] = []
    for entry in type_.processors:
        if entry.when and not entry.when.holds(values):
            continue
        proc_id = f"{components.name('processors', entry.component)}/{dest_id}"
        processor_ids.append(proc_id)
        result.processors[proc_id] = templating.render(entry.config, ctx)
    if type_.hook:
        hook = importlib.import_module(f"destinations.hooks.{type_.hook}")
        exporters: list[tuple[str, str, list[Signal], dict[str, Any]]] = hook.exporters(values, signals, ctx)
    else:
        exporters = []
        for entry in type_.exporters:
            if entry.when and not entry.when.holds(values):
                continue
            wanted = [s for s in (entry.signals or type_.signals) if s in signals]
            if not wanted:
                continue
            exporters.append(
                (entry.component, entry.name or "", wanted, templating.render(entry.config, ctx))
            )
    for component, suffix, wanted, config in exporters:
        info = components.EXPORTERS[component]
        exp_id = f"{info.name}/{dest_id}" + (f"-{suffix}" if suffix else "")
        if exp_id in result.exporters:
            raise RenderError(f"{type_.type}: two exporters named {exp_id}; give them distinct `name`s")
        if info.queue_batching:
            queue = config.setdefault("sending_queue", {})
            queue.setdefault("batch", {})
        result.exporters[exp_id] = config
        for signal in wanted:
            pipeline = f"{signal}/{dest_id}"
            procs, exps = result.pipelines.setdefault(pipeline, ([*processor_ids], []))
            exps.append(exp_id)
            if not info.queue_batching and "batch" not in procs:
                procs.append("batch")
    for signal in signals:
        if f"{signal}/{dest_id}" not in result.pipelines:
            raise RenderError(
                f"{type_.type}: no exporter rendered for {signal} (check the fields that enable it)"
            )
    return result
