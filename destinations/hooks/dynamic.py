"""The ``dynamic`` destination: the user names an exporter of the build and writes its config as YAML."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import yaml

from api.models import Signal
from destinations import components, templating
from destinations.errors import DestinationInvalid


def exporters(
    values: Mapping[str, str | None], signals: Sequence[Signal], ctx: templating.Context
) -> list[tuple[str, str, list[Signal], dict[str, Any]]]:
    component = values.get("DYNAMIC_DESTINATION_TYPE") or ""
    where = "spec.data.DYNAMIC_CONFIGURATION_DATA"
    if component not in components.EXPORTERS or not components.built(component):
        raise DestinationInvalid(
            f"spec.data.DYNAMIC_DESTINATION_TYPE: {component!r} is not an exporter of this collector build",
            field="spec.data.DYNAMIC_DESTINATION_TYPE",
        )
    try:
        config = yaml.safe_load(values.get("DYNAMIC_CONFIGURATION_DATA") or "") or {}
    except yaml.YAMLError as exc:
        raise DestinationInvalid(f"{where}: not valid YAML: {exc}", field=where) from exc
    if not isinstance(config, dict):
        raise DestinationInvalid(f"{where}: expected a mapping of exporter settings", field=where)
    return [(component, "", list(signals), config)]
