"""Go HTTP tracing with eBPF uprobes (BCC), from offsets read out of the binary itself.

Public API, for the node agent::

    from ebpf import attach, OtlpHttpExporter
    tracer = attach(pid, {"service.name": "checkout", "k8s.pod.name": ...}, OtlpHttpExporter(endpoint))
    ...
    tracer.close()              # or the tracer reports state == "exited" by itself

``analyze(path)`` is the pure half (addresses, RET sites, offsets; no BPF). Errors: :mod:`ebpf.errors`.
"""

from ebpf.errors import (
    AttachFailed,
    BccUnavailable,
    FunctionMissing,
    NotGoBinary,
    NotTraceable,
    OffsetUnknown,
    ProcessGone,
    TracerError,
    UnsupportedGo,
)
from ebpf.export import ConsoleExporter, Exporter, MemoryExporter, OtlpHttpExporter
from ebpf.spans import Span
from ebpf.targets import Plan, analyze
from ebpf.tracer import Tracer, TracerRuntime, attach, runtime

__all__ = [
    "AttachFailed",
    "BccUnavailable",
    "ConsoleExporter",
    "Exporter",
    "FunctionMissing",
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
    "runtime",
]
