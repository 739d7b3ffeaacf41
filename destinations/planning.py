"""From a set of Destinations to what each one contributes, and a result per destination for its status.

Every destination is handled on its own: an invalid one (unknown type, unsupported signal, missing field,
secret in ``spec``, component missing from the collector build) is left out with a reason and never
breaks the others. Controllers write :meth:`DestinationResult.condition` to the Destination's status.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from dataclasses import field as dc_field
from typing import Any

from pydantic import ValidationError

from api.models import Destination, Signal
from destinations.errors import DestinationInvalid, RenderError
from destinations.rendering import RenderedDestination, SecretKeyRef, render_destination

CONDITION_TYPE = "Configured"


@dataclass
class DestinationResult:
    """What became of one destination: configured, or why not (``reason`` is CamelCase for conditions)."""

    name: str
    configured: bool
    reason: str
    message: str
    field: str | None = None
    signals: list[Signal] = dc_field(default_factory=list)

    def condition(self, generation: int | None = None) -> dict[str, Any]:
        """A ``Configured`` status condition (without lastTransitionTime, which the writer stamps)."""
        cond: dict[str, Any] = {
            "type": CONDITION_TYPE,
            "status": "True" if self.configured else "False",
            "reason": self.reason,
            "message": self.message,
        }
        if generation is not None:
            cond["observedGeneration"] = generation
        return cond


@dataclass
class Plan:
    rendered: list[RenderedDestination]
    results: dict[str, DestinationResult]

    @property
    def secret_env(self) -> dict[str, SecretKeyRef]:
        out: dict[str, SecretKeyRef] = {}
        for item in self.rendered:
            out.update(item.secret_env)
        return out

    def signals(self) -> set[Signal]:
        return {s for item in self.rendered for s in item.signals}


def _as_destination(item: Destination | Mapping[str, Any]) -> Destination:
    if isinstance(item, Destination):
        return item
    # status is written by controllers and read by nobody here: a status another version wrote must not
    # make the destination invalid
    return Destination.model_validate({k: v for k, v in item.items() if k != "status"})


def _name_of(item: Destination | Mapping[str, Any], index: int) -> str:
    if isinstance(item, Destination):
        return item.metadata.name
    meta = item.get("metadata")
    name = meta.get("name") if isinstance(meta, Mapping) else None
    return str(name) if name else f"<destination #{index}>"


def _pydantic_problem(exc: ValidationError) -> tuple[str, str]:
    first = exc.errors()[0]
    location = ".".join(str(p) for p in first["loc"])
    return location, f"{location}: {first['msg']}"


def plan(
    destinations: Iterable[Destination | Mapping[str, Any]],
    *,
    secret_keys: Mapping[str, Collection[str]] | None = None,
) -> Plan:
    """Render every destination that can be; a result for each. ``secret_keys``: Secret name -> its keys."""
    rendered: list[RenderedDestination] = []
    results: dict[str, DestinationResult] = {}
    for index, item in enumerate(destinations):
        name = _name_of(item, index)
        try:
            dest = _as_destination(item)
        except ValidationError as exc:
            where, message = _pydantic_problem(exc)
            results[name] = DestinationResult(name, False, "InvalidDestination", message, field=where)
            continue
        if name in results:
            results[name] = DestinationResult(
                name, False, "DuplicateName", f"two destinations are named {name}"
            )
            continue
        if dest.spec.disabled:
            results[name] = DestinationResult(name, False, "Disabled", "the destination is disabled")
            continue
        keys = None
        if secret_keys is not None and dest.spec.secret_ref is not None:
            keys = secret_keys.get(dest.spec.secret_ref.name, ())
        try:
            made = render_destination(dest, secret_keys=keys)
        except DestinationInvalid as exc:
            results[name] = DestinationResult(name, False, exc.reason, str(exc), field=exc.field)
            continue
        except RenderError as exc:
            results[name] = DestinationResult(name, False, "ComponentUnavailable", str(exc))
            continue
        rendered.append(made)
        signals = ", ".join(made.signals)
        results[name] = DestinationResult(
            name, True, "AddedToGateway", f"exporting {signals} from the gateway", signals=made.signals
        )
    rendered.sort(key=lambda r: r.id)
    return Plan(rendered=rendered, results=results)
