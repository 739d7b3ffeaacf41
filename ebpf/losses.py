"""Why a span can be lost between the probe and the collector: one name per reason, and its words.

The names are the ``reason`` label of ``hodegos_ebpf_spans_lost_total``, the keys of ``Tracer.lost`` and
of an InstrumentedApplication's ``status.spanLoss.<node>.reasons``.
"""

from __future__ import annotations

from collections.abc import Mapping

RING_FULL = "ring_buffer_full"  # BPF found no room in the ring buffer: the agent's drain fell behind
QUEUE_FULL = "export_queue_full"  # the exporter's queue was full (the collector is slow or down)
EXPORT_FAILED = "export_failed"  # the collector refused the batch or could not be reached
EXPORT_ERROR = "export_error"  # the exporter raised
REASONS = (RING_FULL, QUEUE_FULL, EXPORT_FAILED, EXPORT_ERROR)
WORDS = {
    RING_FULL: "ring buffer full (the agent's drain fell behind)",
    QUEUE_FULL: "export queue full",
    EXPORT_FAILED: "export to the collector failed",
    EXPORT_ERROR: "exporter error",
}


def describe(lost: Mapping[str, int]) -> str:
    """``ring buffer full (...): 150, export to the collector failed: 2`` (reasons with a count only)."""
    return ", ".join(f"{WORDS.get(reason, reason)}: {n}" for reason, n in sorted(lost.items()) if n)
