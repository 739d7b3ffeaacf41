"""Go HTTP tracing with eBPF uprobes (BCC), from offsets read out of the binary itself.

Public API, for the node agent::

    from ebpf import attach, OtlpHttpExporter
    tracer = attach(pid, {"service.name": "checkout", "k8s.pod.name": ...}, OtlpHttpExporter(endpoint))
    ...
    tracer.close()              # or the tracer reports state == "exited" by itself

The program is compiled by BCC in a short-lived helper process (or read from the compile cache) and loaded
by this process through the ``bpf()`` syscall, so importing ``ebpf`` and tracing never maps LLVM.
``runtime().snapshot()`` has every counter (spans, losses by reason, compiles, attach times);
:mod:`ebpf.metrics` renders them for Prometheus. ``analyze(path)`` is the pure half (addresses, RET
sites, offsets; no BPF), imported on first use. Errors: :mod:`ebpf.errors`.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ebpf.errors import (
    AttachFailed,
    BccUnavailable,
    FunctionMissing,
    HelperFailed,
    NotGoBinary,
    NotTraceable,
    OffsetUnknown,
    ProcessGone,
    TracerError,
    UnsupportedGo,
)
from ebpf.plan import Plan

if TYPE_CHECKING:
    from ebpf.export import ConsoleExporter, Exporter, MemoryExporter, OtlpHttpExporter
    from ebpf.spans import Span
    from ebpf.tracer import Tracer, TracerRuntime, attach, configure, runtime

# Imported on first use: the helper process (``python -m ebpf.helper``) needs none of these, and starts
# faster without them.
_LAZY = {
    "ConsoleExporter": "ebpf.export",
    "Exporter": "ebpf.export",
    "MemoryExporter": "ebpf.export",
    "OtlpHttpExporter": "ebpf.export",
    "Span": "ebpf.spans",
    "Tracer": "ebpf.tracer",
    "TracerRuntime": "ebpf.tracer",
    "attach": "ebpf.tracer",
    "configure": "ebpf.tracer",
    "runtime": "ebpf.tracer",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'ebpf' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def analyze(path: str | Path) -> Plan:
    """:func:`ebpf.targets.analyze`: imported here on demand (it loads the ELF, DWARF and disassembler)."""
    from ebpf import targets

    return targets.analyze(path)


__all__ = [
    "AttachFailed",
    "BccUnavailable",
    "ConsoleExporter",
    "Exporter",
    "FunctionMissing",
    "HelperFailed",
    "MemoryExporter",
    "NotGoBinary",
    "NotTraceable",
    "OffsetUnknown",
    "OtlpHttpExporter",
    "Plan",
    "ProcessGone",
    "Span",
    "Tracer",
    "TracerError",
    "TracerRuntime",
    "UnsupportedGo",
    "analyze",
    "attach",
    "configure",
    "runtime",
]
