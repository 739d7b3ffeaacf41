"""Reading the Hodegos configuration ConfigMap (``hodegos-config``, key ``config.yaml``).

A bad value never stops the controllers: :func:`load` returns the configuration to use (the last good one,
or the defaults) together with the error text, which the manager reports as a Warning event on the
ConfigMap.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from api.config import ConfigError, HodegosConfig

CONFIG_KEY = "config.yaml"


def load(
    config_map: Mapping[str, Any] | None, last_good: HodegosConfig | None = None
) -> tuple[HodegosConfig, str | None]:
    """``(configuration to use, error or None)``; a missing ConfigMap means the defaults."""
    fallback = last_good or HodegosConfig()
    if config_map is None:
        return HodegosConfig(), None
    text = (config_map.get("data") or {}).get(CONFIG_KEY)
    if text is None:
        return HodegosConfig(), None
    try:
        return HodegosConfig.parse_text(text), None
    except ConfigError as exc:
        return fallback, str(exc)
