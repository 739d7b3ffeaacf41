"""The cluster-wide Hodegos configuration, kept in the ConfigMap ``hodegos-config`` (key ``config.yaml``).

Read by the webhook (ignored containers and namespaces, image registry), the controllers (mode, rollout and
rollback settings), the node agent and the CLI, all through :class:`kube.liveconfig.LiveConfig`.
``HodegosConfig.parse_text`` turns a bad value into :class:`ConfigError` naming the field, so a typo is
reported instead of crashing a component; :func:`load` is the rule every component applies to the
ConfigMap: a missing ConfigMap or key means the defaults, a bad one keeps the last good configuration.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

import yaml
from pydantic import Field, ValidationError

from api import constants
from api.models import Model, Sampler

CONFIG_KEY = "config.yaml"  # the key of hodegos-config holding the YAML text


class ConfigError(ValueError):
    """The configuration text is not valid; the message names each bad field."""


class RolloutSettings(Model):
    automatic: bool = True
    max_concurrent: int = Field(default=5, ge=1, le=1000)


class RollbackSettings(Model):
    enabled: bool = True
    # A rollout's pods failing within this window after the rollout started trigger a rollback.
    stability_window_seconds: int = Field(default=600, ge=10)


class HodegosConfig(Model):
    # opt-in: annotated namespaces/workloads; opt-out: everything not disabled; off: nothing, whatever the
    # annotations say (what `hodegos uninstall` sets first, so every workload is rolled back clean).
    mode: Literal["opt-in", "opt-out", "off"] = "opt-in"
    # Prefix of the agent images: <imageRegistry>/<image>:<version> (image and version from the rules).
    image_registry: str = Field(default="hodegos", pattern=r"^[a-z0-9][a-z0-9._:/-]*$")
    ignored_namespaces: list[str] = Field(default_factory=lambda: list(constants.DEFAULT_IGNORED_NAMESPACES))
    ignored_containers: list[str] = Field(default_factory=lambda: list(constants.DEFAULT_IGNORED_CONTAINERS))
    default_sampler: Sampler = Field(default_factory=Sampler)
    rollout: RolloutSettings = Field(default_factory=RolloutSettings)
    rollback: RollbackSettings = Field(default_factory=RollbackSettings)

    @classmethod
    def parse_text(cls, text: str) -> HodegosConfig:
        try:
            raw = yaml.safe_load(text) or {}
        except yaml.YAMLError as exc:
            raise ConfigError(f"config.yaml is not valid YAML: {exc}") from exc
        if not isinstance(raw, dict):
            raise ConfigError("config.yaml must be a mapping")
        try:
            return cls.model_validate(raw)
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in err['loc']) or '<root>'}: {err['msg']}" for err in exc.errors()
            )
            raise ConfigError(f"invalid Hodegos configuration: {problems}") from exc


def raw_mapping(config_map: Mapping[str, Any] | None) -> dict[str, Any]:
    """The YAML mapping as written in a ``hodegos-config`` ConfigMap, unvalidated and without defaults
    filled in (empty when missing or not a mapping): what an editor or an upgrade carries forward."""
    text = ((config_map or {}).get("data") or {}).get(CONFIG_KEY) or ""
    try:
        loaded = yaml.safe_load(text) or {}
    except yaml.YAMLError:
        return {}
    return dict(loaded) if isinstance(loaded, dict) else {}


def load(
    config_map: Mapping[str, Any] | None, last_good: HodegosConfig | None = None
) -> tuple[HodegosConfig, str | None]:
    """``(configuration to use, error or None)`` for the ``hodegos-config`` ConfigMap (a wire-form dict)."""
    if config_map is None:
        return HodegosConfig(), None
    text = (config_map.get("data") or {}).get(CONFIG_KEY)
    if text is None:
        return HodegosConfig(), None
    try:
        return HodegosConfig.parse_text(text), None
    except ConfigError as exc:
        return last_good or HodegosConfig(), str(exc)
