"""Fixtures for the destinations tests: the pinned collector binary and sample destinations."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from api.models import SIGNALS
from destinations import catalogue, collector
from tests.support import require


@pytest.fixture(scope="session")
def otelcol() -> Path:
    require(
        collector.is_built(),
        f"the pinned collector is not built ({collector.collector_path()}); run make setup",
    )
    return collector.collector_path()


def sample_destination(
    type_name: str,
    name: str | None = None,
    *,
    signals: Sequence[str] | None = None,
    required_only: bool = False,
) -> tuple[dict[str, Any], dict[str, str]]:
    """A Destination object for ``type_name`` from its fields' sample values, and its secret values."""
    t = catalogue.get_type(type_name)
    data, secrets = t.sample_data()
    if required_only:
        required = {f.name for f in t.fields if f.required}
        data = {k: v for k, v in data.items() if k in required}
        secrets = {k: v for k, v in secrets.items() if k in required}
    wanted = list(signals) if signals else [s for s in SIGNALS if s in t.signals]
    dest: dict[str, Any] = {
        "apiVersion": "hodegos.io/v1alpha1",
        "kind": "Destination",
        "metadata": {"name": name or f"{type_name}-sample"},
        "spec": {"type": type_name, "signals": wanted, "data": data},
    }
    if secrets:
        dest["spec"]["secretRef"] = {"name": f"{name or type_name}-secret"}
    return dest, secrets
