"""What to attach where in one Go executable, as data: :class:`Plan` and its :class:`Probe` sites.

Made by :func:`ebpf.targets.analyze` (in the short-lived helper process, which holds the ELF, DWARF and
disassembler libraries) and used by the tracer in the agent, so plans travel as JSON between the two.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Probe:
    """One traced function: an entry program at ``entry`` (or none) and a return program at each RET."""

    function: str
    entry: int  # link-time virtual addresses
    returns: tuple[int, ...]
    entry_program: str | None
    return_program: str
    entry_offset: int = 0  # the same sites as file offsets, which is what the kernel's uprobes take
    return_offsets: tuple[int, ...] = ()


@dataclass(frozen=True)
class Plan:
    path: str
    go_version: str
    build_id: str
    stripped: bool
    pie: bool
    offsets: dict[str, int]  # targets.FIELDS key -> byte offset
    offsets_source: str  # "dwarf" or "table:<go version>"
    probes: tuple[Probe, ...] = field(default=())
    analysis_seconds: float = 0.0

    @property
    def probe_sites(self) -> int:
        return sum(len(p.returns) + (1 if p.entry_program else 0) for p in self.probes)

    def to_dict(self) -> dict[str, Any]:
        out = dict(vars(self))
        out["probes"] = [
            {**vars(p), "returns": list(p.returns), "return_offsets": list(p.return_offsets)}
            for p in self.probes
        ]
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Plan:
        probes = tuple(
            Probe(
                function=p["function"],
                entry=int(p["entry"]),
                returns=tuple(int(r) for r in p["returns"]),
                entry_program=p["entry_program"],
                return_program=p["return_program"],
                entry_offset=int(p["entry_offset"]),
                return_offsets=tuple(int(r) for r in p["return_offsets"]),
            )
            for p in data["probes"]
        )
        return cls(
            path=data["path"],
            go_version=data["go_version"],
            build_id=data["build_id"],
            stripped=bool(data["stripped"]),
            pie=bool(data["pie"]),
            offsets={str(k): int(v) for k, v in data["offsets"].items()},
            offsets_source=data["offsets_source"],
            probes=probes,
            analysis_seconds=float(data.get("analysis_seconds", 0.0)),
        )
