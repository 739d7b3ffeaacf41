"""Helpers shared by tests.

``require(ok, why)``: a test that needs a real component calls it. Locally a missing component skips the
test with the reason; under CI (``CI=true``) it fails, because `make test` is supposed to have installed it.
``bpf_ready()`` says whether BPF programs can be compiled and loaded here, and why not.
``wait(what, check)`` polls until ``check()`` is truthy and returns its value, or fails naming ``what``.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def require(ok: object, why: str) -> None:
    if ok:
        return
    if IN_CI:
        pytest.fail(f"required component missing in CI: {why}", pytrace=False)
    pytest.skip(why)


def bpf_ready() -> tuple[bool, str]:
    """(ok, why not): root, the kernel headers BCC compiles against, and an importable BCC."""
    if os.geteuid() != 0:
        return False, "eBPF needs root"
    if not Path(f"/lib/modules/{os.uname().release}/build").exists():
        return False, "kernel headers are not linked (make setup: .ci/setup.d/40-ebpf.sh)"
    try:
        from ebpf.bccload import import_bcc

        import_bcc()
    except Exception as exc:
        return False, f"BCC unavailable: {exc}"
    return True, ""


def wait(what: str, check: Callable[[], Any], timeout: float = 60.0, every: float = 0.3) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(every)
