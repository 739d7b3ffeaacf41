"""Trace affinity for tail sampling: every span of a trace reaches the same gateway replica.

The collector's usual tool, the ``loadbalancing`` exporter, is not on the module proxy this project builds
from, so affinity is made from what is: while tail sampling is on, the gateway is a StatefulSet whose pods
have stable DNS names (behind a headless Service), and each node collector runs one traces pipeline per
gateway pod. Pipeline *i* keeps only the spans whose trace ID falls in bucket *i* (a ``filter`` on the trace
ID's first two hex digits, 256 buckets dealt out in contiguous ranges) and exports to pod *i*. The trace ID
is random, so load spreads evenly; the same trace always maps to the same pod.

When the gateway scales, the controllers re-render the node collectors with the new pod list (their config
hash changes and they roll). Traces in flight at that moment may be split between their old and new owner
for up to one decision wait: each part is decided on its own (an error trace is still kept whole where
the error is; a percentage decision may keep one part and drop the other).
"""

from __future__ import annotations

BUCKETS = 256
HEX = "0123456789abcdef"


def buckets(replicas: int) -> list[range]:
    """The trace-ID buckets of each replica: contiguous, covering 0..255 exactly once."""
    if replicas < 1:
        raise ValueError("at least one gateway replica")
    return [range(i * BUCKETS // replicas, (i + 1) * BUCKETS // replicas) for i in range(replicas)]


def owner(trace_id: str, replicas: int) -> int:
    """Which replica a trace (hex trace ID) goes to: the rule the rendered filters implement."""
    value = int(trace_id[:2], 16)
    return next(i for i, r in enumerate(buckets(replicas)) if value in r)


def prefix_pattern(bucket: range) -> str:
    """An RE2 pattern matching hex trace IDs whose first two digits (as a number) are in ``bucket``."""
    parts = []
    for first in range(16):
        seconds = [s for s in range(16) if first * 16 + s in bucket]
        if not seconds:
            continue
        if len(seconds) == 16:
            parts.append(f"{HEX[first]}[0-9a-f]")
        else:
            parts.append(f"{HEX[first]}[{''.join(HEX[s] for s in seconds)}]")
    return "^(?:" + "|".join(parts) + ")"


def keep_only(bucket: range) -> dict[str, object]:
    """A ``filter`` processor config that drops every span outside ``bucket``."""
    return {
        "error_mode": "ignore",
        "traces": {"span": [f'not IsMatch(trace_id.string, "{prefix_pattern(bucket)}")']},
    }
