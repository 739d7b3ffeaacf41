"""Helpers shared by tests.

``require(ok, why)``: a test that needs a real component calls it. Locally a missing component skips the
test with the reason; under CI (``CI=true``) it fails, because `make test` is supposed to have installed it.
"""

from __future__ import annotations

import os

import pytest

IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def require(ok: object, why: str) -> None:
    if ok:
        return
    if IN_CI:
        pytest.fail(f"required component missing in CI: {why}", pytrace=False)
    pytest.skip(why)
