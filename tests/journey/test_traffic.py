"""metrics-server quantities as the benchmark reads them (pure)."""

from __future__ import annotations

import pytest

from journey import traffic


@pytest.mark.parametrize(
    ("quantity", "millis"), [("250m", 250.0), ("1", 1000.0), ("1500000n", 1.5), ("20u", 0.02)]
)
def test_cpu_quantities(quantity: str, millis: float) -> None:
    assert traffic._cpu_millis(quantity) == pytest.approx(millis)


@pytest.mark.parametrize(
    ("quantity", "mib"), [("2048Ki", 2.0), ("64Mi", 64.0), ("1Gi", 1024.0), ("1048576", 1.0)]
)
def test_memory_quantities(quantity: str, mib: float) -> None:
    assert traffic._mib(quantity) == pytest.approx(mib)
