"""What the first ``make demo`` still has to build, and about how long that takes on this machine.

Each piece is cached under a versioned directory; a piece already built costs nothing. A piece's time is
the wall time its last build on this machine recorded (``build.json``, any version of the same tool), or
else a figure for a 2-core machine (``TYPICAL_SECONDS``): the node parts' and the collector's are
measured (``benchmarks/real_node.py``, docs/destinations.md), Jaeger's is one observed build, the rest are
rough (the control plane's and Helm's builds predate build.json). The message says which basis it used.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass

from toolchain import agents, cluster, nodes, otelcol
from toolchain.cache import GoTool, cache_root

TYPICAL_SECONDS = {
    "etcd": 60,
    "kwok": 60,
    "kubernetes": 600,
    "helm": 90,
    "node parts": 580,
    "collector": 600,
    "jaeger": 190,
    "agents": 240,
}


DEMO_LANGUAGES = ("python", "nodejs", "java")  # the shop's injected agents (Go is traced with eBPF)


@dataclass(frozen=True)
class Piece:
    name: str
    built: bool
    seconds: float
    measured: bool  # from this machine's own build.json rather than the typical figure


def _recorded(tool_name: str) -> float | None:
    """The wall seconds of the newest ``build.json`` of any version of ``tool_name`` in the cache."""
    found = sorted(cache_root().glob(f"{tool_name}-v*/build.json"), key=lambda p: p.stat().st_mtime)
    for path in reversed(found):
        try:
            return float(json.loads(path.read_text())["seconds"])
        except (OSError, ValueError, KeyError, TypeError):
            continue
    return None


def _piece(name: str, tools: Iterable[GoTool], built: bool) -> Piece:
    recorded = [r for r in (_recorded(t.name) for t in tools) if r is not None]
    if recorded:
        return Piece(name, built, sum(recorded), True)
    return Piece(name, built, TYPICAL_SECONDS.get(name, 120), False)


def pieces() -> list[Piece]:
    from journey.images import JAEGER

    out = [_piece(t.name, [t], t.is_built()) for t in (*cluster.CONTROL_PLANE, cluster.HELM)]
    out.append(_piece("node parts", (*nodes.NODE_TOOLS, *nodes.ADDON_TOOLS), not nodes.missing()))
    out.append(_piece("collector", [otelcol.COLLECTOR], otelcol.is_built()))
    out.append(_piece("jaeger", [JAEGER], JAEGER.is_built()))
    built = all(agents.is_built(lang) for lang in DEMO_LANGUAGES)
    out.append(Piece("agents", built, TYPICAL_SECONDS["agents"], False))
    return out


def message(found: list[Piece]) -> str | None:
    """One line for what is left to build, or ``None`` when everything is cached."""
    todo = [p for p in found if not p.built]
    if not todo:
        return None
    minutes = sum(p.seconds for p in todo) / 60
    names = ", ".join(p.name for p in todo)
    basis = "as this machine measured" if all(p.measured for p in todo) else "a rough figure for 2 cores"
    return (
        f"first run: building {names} from source, about {minutes:.0f} minutes ({basis}); cached afterwards"
    )
