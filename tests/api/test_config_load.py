from __future__ import annotations

from typing import Any

from api import config as configuration
from api.config import HodegosConfig


def cm(text: str) -> dict[str, Any]:
    return {"metadata": {"name": "hodegos-config"}, "data": {"config.yaml": text}}


def test_missing_means_defaults() -> None:
    assert configuration.load(None) == (HodegosConfig(), None)
    assert configuration.load({"metadata": {}, "data": {}}) == (HodegosConfig(), None)


def test_valid_text_is_parsed() -> None:
    config, error = configuration.load(cm("mode: opt-out\nrollout:\n  maxConcurrent: 3\n"))
    assert error is None and config.mode == "opt-out" and config.rollout.max_concurrent == 3


def test_bad_value_keeps_last_good_and_names_the_field() -> None:
    good = HodegosConfig(mode="opt-out")
    config, error = configuration.load(cm("mode: sometimes\n"), last_good=good)
    assert config is good
    assert error is not None and "mode" in error
    config, error = configuration.load(cm("[not, a, mapping"), last_good=None)
    assert config == HodegosConfig() and error is not None
