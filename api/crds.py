"""CustomResourceDefinitions generated from :mod:`api.models`.

The pydantic JSON schema is turned into a Kubernetes *structural* schema: ``$ref`` inlined, ``null``
branches of optionals dropped, pydantic-only keywords (``title``, ``default`` of factories) removed.
``render_all()`` is what ``chart/crds/`` holds; ``tests/api/test_crds.py`` fails when they drift
(regenerate with ``make crds``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel

from api import constants, models

CRD_DIR = Path(__file__).resolve().parent.parent / "chart" / "crds"

_DROP_KEYS = {"title", "discriminator"}


@dataclass(frozen=True)
class Kind:
    model: type[BaseModel]
    plural: str
    short_names: list[str]
    columns: list[dict[str, Any]] = field(default_factory=list)


KINDS: tuple[Kind, ...] = (
    Kind(
        models.InstrumentedApplication,
        "instrumentedapplications",
        ["ia", "instapp"],
        [
            {"name": "Kind", "type": "string", "jsonPath": ".spec.workload.kind"},
            {"name": "Workload", "type": "string", "jsonPath": ".spec.workload.name"},
            {"name": "Languages", "type": "string", "jsonPath": ".status.containers[*].language"},
            {
                "name": "Rolled-Back",
                "type": "string",
                "jsonPath": ".status.rollback.reason",
                "priority": 1,
            },
            {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
        ],
    ),
    Kind(
        models.Destination,
        "destinations",
        ["dest"],
        [
            {"name": "Type", "type": "string", "jsonPath": ".spec.type"},
            {"name": "Signals", "type": "string", "jsonPath": ".spec.signals"},
            {
                "name": "Configured",
                "type": "string",
                "jsonPath": ".status.conditions[?(@.type=='Configured')].status",
            },
            {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
        ],
    ),
    Kind(
        models.CollectorsGroup,
        "collectorsgroups",
        ["cg"],
        [
            {"name": "Role", "type": "string", "jsonPath": ".spec.role"},
            {"name": "Ready", "type": "boolean", "jsonPath": ".status.ready"},
            {"name": "Signals", "type": "string", "jsonPath": ".status.receiverSignals"},
            {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
        ],
    ),
    Kind(
        models.Action,
        "actions",
        ["act"],
        [
            {"name": "Signals", "type": "string", "jsonPath": ".spec.signals"},
            {"name": "Disabled", "type": "boolean", "jsonPath": ".spec.disabled"},
            {
                "name": "Applied",
                "type": "string",
                "jsonPath": ".status.conditions[?(@.type=='Applied')].status",
            },
            {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
        ],
    ),
    Kind(
        models.SamplingRule,
        "samplingrules",
        ["sr"],
        [
            {"name": "Disabled", "type": "boolean", "jsonPath": ".spec.disabled"},
            {
                "name": "Applied",
                "type": "string",
                "jsonPath": ".status.conditions[?(@.type=='Applied')].status",
            },
            {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
        ],
    ),
)


def _structural(node: Any, defs: dict[str, Any]) -> Any:
    if isinstance(node, list):
        return [_structural(item, defs) for item in node]
    if not isinstance(node, dict):
        return node
    if "$ref" in node:
        target = defs[node["$ref"].rsplit("/", 1)[-1]]
        merged = {**target, **{k: v for k, v in node.items() if k != "$ref"}}
        return _structural(merged, defs)
    if "anyOf" in node:
        branches = [b for b in node["anyOf"] if b.get("type") != "null"]
        rest = {k: v for k, v in node.items() if k != "anyOf"}
        if len(branches) == 1:
            return _structural({**branches[0], **rest}, defs)
        node = {**rest, "anyOf": branches}
    if "const" in node:
        node = {**{k: v for k, v in node.items() if k != "const"}, "enum": [node["const"]]}
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key in _DROP_KEYS or key == "$defs":
            continue
        if key == "default" and (value == [] or value == {} or value is None):
            continue
        if key == "format" and value == "date-time":
            out[key] = value
            continue
        if key == "properties":
            out[key] = {name: _structural(schema, defs) for name, schema in value.items()}
        elif key == "additionalProperties" and value is False:
            continue  # structural schemas prune unknown fields already
        else:
            out[key] = _structural(value, defs)
    if out.get("type") == "object" and "properties" not in out and "additionalProperties" not in out:
        out["x-kubernetes-preserve-unknown-fields"] = True
    return out


def openapi_schema(model: type[BaseModel]) -> dict[str, Any]:
    """The ``openAPIV3Schema`` of one kind: apiVersion, kind, metadata, spec and status."""
    raw = model.model_json_schema(by_alias=True, mode="validation")
    defs = raw.get("$defs", {})
    props = raw["properties"]
    schema: dict[str, Any] = {
        "type": "object",
        "required": ["spec"],
        "properties": {
            "apiVersion": {"type": "string"},
            "kind": {"type": "string"},
            "metadata": {"type": "object"},
            "spec": _structural(props["spec"], defs),
            "status": _structural(props["status"], defs),
        },
    }
    return schema


def crd(kind: Kind) -> dict[str, Any]:
    name = kind.model.model_fields["kind"].default
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {
            "name": f"{kind.plural}.{constants.GROUP}",
            "labels": {constants.LABEL_PART_OF: constants.PRODUCT},
        },
        "spec": {
            "group": constants.GROUP,
            "scope": "Namespaced",
            "names": {
                "kind": name,
                "listKind": f"{name}List",
                "plural": kind.plural,
                "singular": name.lower(),
                "shortNames": kind.short_names,
                "categories": [constants.CATEGORY],
            },
            "versions": [
                {
                    "name": constants.VERSION,
                    "served": True,
                    "storage": True,
                    "subresources": {"status": {}},
                    "additionalPrinterColumns": kind.columns,
                    "schema": {"openAPIV3Schema": openapi_schema(kind.model)},
                }
            ],
        },
    }


def render_all() -> dict[str, str]:
    """File name → YAML text for every CRD."""
    return {f"{kind.plural}.yaml": yaml.safe_dump(crd(kind), sort_keys=False, width=120) for kind in KINDS}


def write_all(directory: Path = CRD_DIR) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for filename, text in render_all().items():
        path = directory / filename
        path.write_text(text)
        written.append(path)
    return written


if __name__ == "__main__":
    for path in write_all():
        print(path)
