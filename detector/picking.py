"""Choosing a container's application process among its processes (pure).

A container's first process is often a wrapper: a shell running a start script, an init (tini,
dumb-init, catatonit, s6), a privilege dropper (gosu, su-exec) or a supervisor. The application is the
shallowest non-wrapper process whose language is known; failing that, the shallowest non-wrapper; failing
that, the container's first process. Ties go to the earliest started, then the lowest PID.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass

from detector.detection import Detection
from detector.languages import SHELLS

WRAPPERS = frozenset(
    {
        "tini",
        "tini-static",
        "dumb-init",
        "catatonit",
        "docker-init",
        "s6-svscan",
        "s6-supervise",
        "s6-linux-init",
        "runsvdir",
        "runsv",
        "runit",
        "gosu",
        "su-exec",
        "setpriv",
        "chpst",
        "sudo",
        "su",
        "env",
        "nohup",
        "timeout",
        "pause",
        "conmon",
        "supervisord",
        "tail",
        "sleep",
    }
)


@dataclass(frozen=True)
class Choice:
    detection: Detection
    reason: str


def is_wrapper(detection: Detection) -> bool:
    names = {os.path.basename(detection.exe or "")}
    if detection.cmdline:
        names.add(os.path.basename(detection.cmdline[0]))
        # supervisord and friends run under an interpreter: look at the script too.
        if len(detection.cmdline) > 1 and detection.language in ("python", "nodejs", "ruby"):
            names.add(os.path.basename(detection.cmdline[1]))
    names.discard("")
    if os.path.basename(detection.exe or "") in SHELLS:
        return True
    if detection.language != "unknown":
        return bool(names & {"supervisord"})
    return bool(names & (WRAPPERS | SHELLS))


def _depths(detections: Sequence[Detection]) -> dict[int, int]:
    parent = {d.pid: d.ppid for d in detections}
    depths: dict[int, int] = {}
    for d in detections:
        depth, pid, seen = 0, d.pid, set()
        while parent.get(pid) in parent and pid not in seen:
            seen.add(pid)
            pid = parent[pid]
            depth += 1
        depths[d.pid] = depth
    return depths


def pick_application(detections: Sequence[Detection]) -> Choice | None:
    """The application process of one container, or ``None`` for an empty list."""
    if not detections:
        return None
    depths = _depths(detections)

    def order(d: Detection) -> tuple[int, int, int]:
        return depths[d.pid], d.start_time, d.pid

    apps = [d for d in detections if not is_wrapper(d)]
    known = sorted((d for d in apps if d.language != "unknown"), key=order)
    if known:
        return Choice(known[0], f"shallowest {known[0].language} process of {len(detections)}")
    if apps:
        chosen = sorted(apps, key=order)[0]
        return Choice(chosen, f"no known runtime; shallowest non-wrapper of {len(detections)}")
    chosen = sorted(detections, key=order)[0]
    return Choice(chosen, f"only wrapper processes; the container's first of {len(detections)}")
