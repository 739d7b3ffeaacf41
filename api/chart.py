"""The Helm chart's values, as models: ``chart/values.schema.json`` is generated from them.

The chart is the install contract, so its values live beside the CRDs: ``helm install --set`` is validated
by Helm against the generated schema, and ``config`` is exactly :class:`api.config.HodegosConfig` (the
``hodegos-config`` ConfigMap's content). ``python -m api.chart`` rewrites the schema; a test fails on drift.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field

from api.config import HodegosConfig
from api.crds import CRD_DIR
from api.models import Model

SCHEMA_FILE = CRD_DIR.parent / "values.schema.json"


class Resources(Model):
    requests: dict[str, str] = Field(default_factory=dict)
    limits: dict[str, str] = Field(default_factory=dict)


class Image(Model):
    """``<registry>/<name>:<tag>``; ``tag`` empty means the chart's appVersion."""

    registry: str = Field(default="hodegos", pattern=r"^[a-z0-9][a-z0-9._:/-]*$")
    tag: str = Field(default="", pattern=r"^([A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?$")
    pull_policy: Literal["Always", "IfNotPresent", "Never"] = "IfNotPresent"


class Webhook(Model):
    replicas: int = Field(default=2, ge=1, le=20)
    timeout_seconds: int = Field(default=3, ge=1, le=5)
    resources: Resources = Field(
        default_factory=lambda: Resources(
            requests={"cpu": "50m", "memory": "96Mi"}, limits={"memory": "256Mi"}
        )
    )


class Controllers(Model):
    replicas: int = Field(default=1, ge=1, le=5)  # more are warm standbys (leader election)
    resources: Resources = Field(
        default_factory=lambda: Resources(
            requests={"cpu": "50m", "memory": "128Mi"}, limits={"memory": "512Mi"}
        )
    )


Capability = Annotated[str, Field(pattern=r"^[A-Z_]+$")]


class NodeAgent(Model):
    enabled: bool = True
    trace_go: bool = True
    # Added to BPF, PERFMON, SYS_PTRACE and DAC_READ_SEARCH: e.g. SYS_RESOURCE on kernels before 5.11,
    # which still count BPF maps against RLIMIT_MEMLOCK (newer ones charge the memory cgroup).
    extra_capabilities: list[Capability] = Field(default_factory=list, max_length=8)
    resources: Resources = Field(
        default_factory=lambda: Resources(
            requests={"cpu": "50m", "memory": "128Mi"}, limits={"memory": "512Mi"}
        )
    )


class Ui(Model):
    enabled: bool = True
    read_only: bool = False
    resources: Resources = Field(
        default_factory=lambda: Resources(
            requests={"cpu": "20m", "memory": "96Mi"}, limits={"memory": "256Mi"}
        )
    )


class Values(Model):
    image: Image = Field(default_factory=Image)
    image_pull_secrets: list[dict[str, str]] = Field(default_factory=list)
    webhook: Webhook = Field(default_factory=Webhook)
    controllers: Controllers = Field(default_factory=Controllers)
    node_agent: NodeAgent = Field(default_factory=NodeAgent)
    ui: Ui = Field(default_factory=Ui)
    config: HodegosConfig = Field(default_factory=HodegosConfig)


def _inline(node: Any, defs: dict[str, Any]) -> Any:
    """The schema with every ``$ref`` replaced by its definition and pydantic's titles dropped."""
    if isinstance(node, list):
        return [_inline(item, defs) for item in node]
    if not isinstance(node, dict):
        return node
    if "$ref" in node:
        target = defs[node["$ref"].rsplit("/", 1)[-1]]
        return _inline({**target, **{k: v for k, v in node.items() if k != "$ref"}}, defs)
    return {k: _inline(v, defs) for k, v in node.items() if k not in ("title", "$defs")}


def schema() -> dict[str, Any]:
    """A JSON schema Helm checks values against; unknown keys are errors (a typo is not silently ignored)."""
    raw = Values.model_json_schema(by_alias=True, mode="validation")
    out: dict[str, Any] = _inline(raw, raw.get("$defs", {}))
    return {"$schema": "http://json-schema.org/draft-07/schema#", **out}


def render() -> str:
    return json.dumps(schema(), indent=2, sort_keys=False) + "\n"


def write(path: Path = SCHEMA_FILE) -> Path:
    path.write_text(render())
    return path


if __name__ == "__main__":
    print(write())
