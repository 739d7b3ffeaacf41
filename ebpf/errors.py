"""Why the Go tracer refused or failed. Every error says what to do next in its message.

TracerError
├── BccUnavailable        BCC (Debian python3-bpfcc) or kernel headers are missing, or the kernel refused
│                         the compiled program
├── HelperFailed          the short-lived helper process (compiling, analysing) died or timed out
├── NotTraceable          the target cannot be traced as it is (nothing was attached)
│   ├── NotGoBinary       no Go build info in the executable
│   ├── UnsupportedGo     Go too old (no register ABI / pclntab 1.18+)
│   ├── FunctionMissing   net/http's server entry point is not in the binary
│   └── OffsetUnknown     a struct field offset is not in the DWARF nor in the generated table
├── ProcessGone           the process exited before or during attach
└── AttachFailed          the kernel refused a probe or the BPF program
"""

from __future__ import annotations


class TracerError(Exception):
    """Base class: the message is the reason, fit for a user."""


class BccUnavailable(TracerError):
    pass


class HelperFailed(TracerError):
    pass


class NotTraceable(TracerError):
    pass


class NotGoBinary(NotTraceable):
    pass


class UnsupportedGo(NotTraceable):
    pass


class FunctionMissing(NotTraceable):
    pass


class OffsetUnknown(NotTraceable):
    pass


class ProcessGone(TracerError):
    pass


class AttachFailed(TracerError):
    pass
