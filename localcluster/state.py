"""The record of a running cluster (``cluster.json``): its ports, node count and the processes it started."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from localcluster.layout import Layout, Ports
from localcluster.processes import Started
from toolchain import cache as toolcache


@dataclass
class ClusterState:
    name: str
    ports: Ports
    nodes: int  # real nodes (containerd + kubelet)
    fake_nodes: int = 0  # kwok nodes
    processes: list[Started] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "apiserverPort": self.ports.apiserver,
            "realNodes": self.nodes,
            "fakeNodes": self.fake_nodes,
            "processes": [p.to_json() for p in self.processes],
        }

    @staticmethod
    def from_json(data: dict[str, Any]) -> ClusterState:
        if "realNodes" in data:
            real, fake = int(data["realNodes"]), int(data.get("fakeNodes", 0))
        else:  # written before real nodes existed: "nodes" counted kwok nodes
            real, fake = 0, int(data["nodes"])
        return ClusterState(
            name=str(data["name"]),
            ports=Ports(int(data["apiserverPort"])),
            nodes=real,
            fake_nodes=fake,
            processes=[Started.from_json(p) for p in data.get("processes", [])],
        )

    def node_processes(self, node: str) -> list[Started]:
        return [p for p in self.processes if p.component.startswith(f"{node}/")]

    def process(self, component: str) -> Started | None:
        return next((p for p in self.processes if p.component == component), None)

    def record(self, proc: Started) -> None:
        self.processes = [p for p in self.processes if p.component != proc.component] + [proc]


def load(lay: Layout) -> ClusterState | None:
    try:
        return ClusterState.from_json(json.loads(lay.state_file.read_text()))
    except FileNotFoundError:
        return None
    except (ValueError, KeyError, TypeError):
        # A torn or hand-edited file: treat as no record rather than refusing to act.
        return None


def save(lay: Layout, state: ClusterState) -> None:
    lay.root.mkdir(parents=True, exist_ok=True)
    tmp = lay.state_file.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(state.to_json(), indent=2) + "\n")
    os.replace(tmp, lay.state_file)


@contextmanager
def locked(lay: Layout) -> Iterator[None]:
    """Serialise ``up``/``down`` of one cluster across processes (two test sessions, a shell and CI)."""
    with toolcache.file_lock(lay.lock_file):
        yield
