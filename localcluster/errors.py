"""Errors of the local control plane.

::

    ClusterError
    ├── ClusterConfigError      bad name, port or node count; nothing was started
    ├── ToolsMissingError       a pinned binary is not built (``hodegos cluster build``)
    ├── PortInUseError          a port the cluster needs is taken; names the port and, if found, the holder
    ├── ComponentFailedError    a component exited or never became healthy; carries its log tail
    ├── ClusterNotFoundError    ``down``/``status``/``kubeconfig`` on a cluster with no state directory
    ├── NodePreflightError      this machine lacks something real nodes need (root, a kernel feature, a tool)
    └── ImageLoadError          ``cluster load``: a bad archive, or no real node to load it into
"""

from __future__ import annotations

from pathlib import Path


class ClusterError(RuntimeError):
    """Base of every error raised by :mod:`cli.clustering`."""


class ClusterConfigError(ClusterError):
    pass


class ToolsMissingError(ClusterError):
    def __init__(self, missing: list[str]) -> None:
        self.missing = missing
        super().__init__(
            f"pinned binaries not built yet: {', '.join(missing)}; run `hodegos cluster build` "
            "(or `hodegos cluster up --build`)"
        )


class PortInUseError(ClusterError):
    def __init__(self, port: int, component: str, holder: str | None) -> None:
        self.port = port
        self.component = component
        self.holder = holder
        by = f" by {holder}" if holder else " (holder not visible to this user)"
        super().__init__(
            f"port {port} needed by {component} is already in use{by}; stop it, or pick other ports "
            "with --port"
        )


class ComponentFailedError(ClusterError):
    def __init__(self, component: str, why: str, log: Path | None = None, tail: str = "") -> None:
        self.component = component
        self.log = log
        self.tail = tail
        where = f"\n--- last lines of {log} ---\n{tail}" if log and tail else ""
        super().__init__(f"{component} {why}{where}")


class ClusterNotFoundError(ClusterError):
    def __init__(self, name: str, root: Path) -> None:
        self.name = name
        super().__init__(
            f"no local cluster named {name!r} (nothing in {root}); start it with `hodegos cluster up`"
        )


class NodePreflightError(ClusterError):
    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        listed = "\n".join(f"  - {p}" for p in problems)
        super().__init__(
            f"this machine cannot run real nodes:\n{listed}\n(use `--nodes 0 --fake-nodes N` for kwok nodes)"
        )


class ImageLoadError(ClusterError):
    pass
