"""Memory: how a collector's container limit becomes its ``memory_limiter``, ``GOMEMLIMIT`` and trace buffer.

Following the collector's memory_limiter guidance: the limiter's hard limit is the container limit minus
50 MiB of headroom (at least half the limit), ``spike_limit_mib`` is 20 % of it, and ``GOMEMLIMIT`` is 80 %
of it. Tail sampling holds whole traces for its decision wait: its buffer (``num_traces``) gets 40 % of the
limiter's hard limit at an assumed :data:`TRACE_KIB` per trace, so the limiter refuses new data before the
buffer can push the process past its limit.
"""

from __future__ import annotations

from dataclasses import dataclass

from api.models import CollectorResources

TRACE_KIB = 16  # an average buffered trace: about ten spans of ~1.5 KiB with their resource
TRACE_SHARE = 0.4  # of the limiter's hard limit, for tail sampling's buffer


@dataclass(frozen=True)
class Sizing:
    limit_mib: int
    limiter_mib: int
    spike_mib: int
    gomemlimit_mib: int

    @property
    def num_traces(self) -> int:
        """Traces tail sampling may hold at once."""
        return max(1000, int(self.limiter_mib * TRACE_SHARE * 1024 / TRACE_KIB))

    def memory_limiter(self) -> dict[str, object]:
        return {"check_interval": "1s", "limit_mib": self.limiter_mib, "spike_limit_mib": self.spike_mib}


def sizing(resources: CollectorResources) -> Sizing:
    limit = resources.memory_limit_mib
    hard = max(limit - 50, limit // 2)
    return Sizing(limit, hard, max(1, hard * 20 // 100), hard * 80 // 100)


def percentage_limiter(limit: int, spike: int) -> dict[str, object]:
    """For a collector whose container limit is unknown (local runs): a share of the memory it sees."""
    return {"check_interval": "1s", "limit_percentage": limit, "spike_limit_percentage": spike}
