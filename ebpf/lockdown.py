"""Kernel lockdown: whether BPF may write user memory (``bpf_probe_write_user``), i.e. inject headers.

Under lockdown ``integrity`` or ``confidentiality`` (kernel 5.14+, and backports) the verifier refuses the
helper. The securityfs file says so when mounted; otherwise the answer comes from loading a program that
calls the helper (:class:`ebpf.bccload.BpfProgram` does that once at start). Either way the tracer only
reads incoming trace context, which lockdown allows.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

LOCKDOWN_FILE = Path("/sys/kernel/security/lockdown")


def lockdown_mode(path: Path = LOCKDOWN_FILE) -> str | None:
    """The active mode from ``none [integrity] confidentiality``; None if securityfs is not readable."""
    try:
        text = path.read_text()
    except OSError:
        return None
    for word in text.split():
        if word.startswith("[") and word.endswith("]"):
            return word[1:-1]
    return None


@dataclass(frozen=True)
class Propagation:
    """What the tracer can do with W3C trace context in this kernel."""

    write_user_allowed: bool
    lockdown: str | None

    @property
    def mode(self) -> str:
        return "read-write" if self.write_user_allowed else "read-only"

    @property
    def reason(self) -> str:
        if self.write_user_allowed:
            return "bpf_probe_write_user is allowed; this tracer still only reads incoming traceparent"
        where = f"lockdown={self.lockdown}" if self.lockdown else "the verifier refused bpf_probe_write_user"
        return (
            f"kernel lockdown forbids writing user memory ({where}): incoming traceparent is read and "
            "becomes the span parent; outgoing requests are not given a traceparent"
        )
