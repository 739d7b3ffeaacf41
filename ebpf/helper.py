"""The short-lived helper process: BCC compiles and binaries are analysed here, never in the agent.

    python -m ebpf.helper < request.json > response.json

Compiling maps LLVM and clang (libbcc) and analysing a Go binary walks its DWARF and disassembles it;
both leave tens of MiB behind in a Python process. The agent runs them in a child that exits when done,
so its own resident set stays what tracing needs (maps, the ring buffer, one Python).

Request: ``{"compile": {"key": "<cache key>"} | null, "analyze": ["/proc/123/exe", ...]}``.
Response: ``{"compiled": "<Compiled JSON>" | null, "compile_error": {...} | null,
"plans": {path: {"plan": {...}} | {"error": "<TracerError subclass>", "message": "..."}}}``.

:func:`call` is the agent's side; it imports nothing heavy.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from typing import Any

from ebpf import errors

DEFAULT_TIMEOUT = 120.0


def _error(exc: Exception) -> dict[str, str]:
    return {"error": type(exc).__name__, "message": str(exc)}


def serve(request: dict[str, Any]) -> dict[str, Any]:
    response: dict[str, Any] = {"compiled": None, "compile_error": None, "plans": {}}
    compiling = None
    if request.get("compile"):
        key = str(request["compile"]["key"])

        def compile_() -> None:
            from ebpf import artifact, bccload

            try:
                response["compiled"] = bccload.compile_program(key).to_json()
            except (errors.TracerError, artifact.ArtifactError, OSError) as exc:
                response["compile_error"] = _error(exc)

        # libbcc's compile runs in C++ with the GIL released (ctypes), so the analysis below proceeds on
        # the other core meanwhile: the first attach pays max(compile, analysis), not their sum.
        compiling = threading.Thread(target=compile_, name="compile")
        compiling.start()
    paths = request.get("analyze") or []
    if paths:
        from ebpf import targets

        for path in paths:
            try:
                response["plans"][path] = {"plan": targets.analyze(path).to_dict()}
            except errors.TracerError as exc:
                response["plans"][path] = _error(exc)
            except Exception as exc:  # a binary that breaks the parser is one refusal, not a dead helper
                response["plans"][path] = {
                    "error": "NotTraceable",
                    "message": f"{path}: the executable could not be analysed: {exc}",
                }
    if compiling is not None:
        compiling.join()
    return response


def main() -> int:
    request = json.load(sys.stdin)
    response = serve(request)
    sys.stdout.write(json.dumps(response))
    sys.stdout.flush()
    return 0


def call(request: dict[str, Any], timeout: float = DEFAULT_TIMEOUT) -> dict[str, Any]:
    """Run one helper process for ``request`` and return its response."""
    env = dict(os.environ)
    env.pop("PYTHONSTARTUP", None)
    try:
        done = subprocess.run(
            [sys.executable, "-m", "ebpf.helper"],
            input=json.dumps(request),
            capture_output=True,
            text=True,
            timeout=timeout,
            env=env,
        )
    except subprocess.TimeoutExpired as exc:
        raise errors.HelperFailed(
            f"the eBPF helper process took more than {timeout:.0f}s and was stopped"
        ) from exc
    except OSError as exc:
        raise errors.HelperFailed(f"cannot start the eBPF helper process ({sys.executable}): {exc}") from exc
    if done.returncode != 0:
        tail = done.stderr.strip().splitlines()[-5:]
        raise errors.HelperFailed(
            f"the eBPF helper process failed (exit {done.returncode}): {' | '.join(tail)}"
        )
    try:
        response: dict[str, Any] = json.loads(done.stdout)
    except ValueError as exc:
        raise errors.HelperFailed(f"the eBPF helper process answered garbage: {done.stdout[:200]!r}") from exc
    return response


def raise_error(failure: dict[str, str]) -> None:
    """Re-raise an error the helper reported, as the same :mod:`ebpf.errors` class."""
    cls = getattr(errors, failure.get("error", ""), None)
    if not (isinstance(cls, type) and issubclass(cls, errors.TracerError)):
        cls = errors.TracerError
    raise cls(failure.get("message", "unknown error"))


if __name__ == "__main__":
    raise SystemExit(main())
