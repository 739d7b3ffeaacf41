"""Processes the cluster starts: spawning them detached, recognising them later, stopping exactly them.

A PID alone is not an identity: once a process exits its number can be reused. So every started process
is recorded as a :class:`Started` with its PID *and* its start time (field 22 of ``/proc/<pid>/stat``);
``alive`` and ``stop`` act only when both still match. Port holders are found by mapping the listening
socket's inode (``/proc/net/tcp*``) to the process holding it (``/proc/<pid>/fd``).
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

_LISTEN = "0A"


@dataclass(frozen=True)
class Started:
    """A process we started: enough to find it again, and never to mistake another process for it."""

    component: str
    pid: int
    start_ticks: int
    argv: tuple[str, ...]
    log: str

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["argv"] = list(self.argv)
        return data

    @staticmethod
    def from_json(data: dict[str, Any]) -> Started:
        return Started(
            component=str(data["component"]),
            pid=int(data["pid"]),
            start_ticks=int(data["start_ticks"]),
            argv=tuple(str(a) for a in data["argv"]),
            log=str(data["log"]),
        )


def _stat(pid: int) -> tuple[str, int] | None:
    """(state letter, start time in clock ticks) of ``pid``, or None if there is no such process."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    # The command name (field 2) may contain spaces and parentheses: split after the last ')'.
    fields = raw[raw.rindex(")") + 2 :].split()
    return fields[0], int(fields[19])


def start_ticks(pid: int) -> int | None:
    found = _stat(pid)
    return found[1] if found else None


def _live_threads(pid: int) -> bool:
    """True if any thread of ``pid`` is not yet dead."""
    try:
        tasks = list(Path(f"/proc/{pid}/task").iterdir())
    except OSError:
        return False
    for task in tasks:
        try:
            raw = (task / "stat").read_text()
        except OSError:
            continue
        if raw[raw.rindex(")") + 2 :].split()[0] not in {"Z", "X"}:
            return True
    return False


def alive(proc: Started) -> bool:
    """True if ``proc`` is still running and is the very process we started.

    A zombie main thread is not enough to call it gone: when a multi-threaded process (every Go binary)
    is killed, the main thread can turn "Z" while other threads are still exiting and the process still
    holds its files and listening sockets. Only when every thread is dead are its ports free again.
    """
    found = _stat(proc.pid)
    if found is None or found[1] != proc.start_ticks:
        return False
    return found[0] not in {"Z", "X"} or _live_threads(proc.pid)


def spawn(component: str, argv: Sequence[str], log: Path, env: dict[str, str] | None = None) -> Started:
    """Start ``argv`` in its own session (so it outlives the CLI and ^C), output appended to ``log``."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as out:
        out.write(f"\n=== {time.strftime('%Y-%m-%dT%H:%M:%S%z')} starting: {' '.join(argv)}\n".encode())
        out.flush()
        child = subprocess.Popen(
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env=env,
            close_fds=True,
        )
    ticks = start_ticks(child.pid)
    # Popen's object is dropped on purpose: the process belongs to the cluster, not to this Python process.
    # Reap it when it exits, if we are still around, so `alive` never sees our own zombie as running.
    _reap_later(child)
    return Started(component, child.pid, ticks if ticks is not None else -1, tuple(argv), str(log))


_children: list[subprocess.Popen[bytes]] = []


def _reap_later(child: subprocess.Popen[bytes]) -> None:
    _children.append(child)
    for kept in list(_children):
        if kept.poll() is not None:
            _children.remove(kept)


def reap() -> None:
    """Collect exit statuses of children that have exited (a long-lived caller like pytest has many)."""
    for kept in list(_children):
        if kept.poll() is not None:
            _children.remove(kept)


def stop(proc: Started, grace: float = 10.0) -> str:
    """Stop ``proc`` (SIGTERM, then SIGKILL after ``grace`` s). Returns what happened, for the user."""
    if not alive(proc):
        return "not running"
    with contextlib.suppress(ProcessLookupError):
        os.kill(proc.pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        reap()
        if not alive(proc):
            return "stopped"
        time.sleep(0.05)
    with contextlib.suppress(ProcessLookupError):
        os.kill(proc.pid, signal.SIGKILL)
    for _ in range(100):
        reap()
        if not alive(proc):
            break
        time.sleep(0.05)
    return "killed"


def _listening_inodes(port: int) -> set[str]:
    inodes: set[str] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            parts = line.split()
            if len(parts) > 9 and parts[3] == _LISTEN and int(parts[1].rsplit(":", 1)[1], 16) == port:
                inodes.add(parts[9])
    return inodes


def describe(pid: int) -> str:
    """``pid <n> (<command line>)`` as far as ``/proc`` tells."""
    try:
        cmdline = (
            Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
        )
    except OSError:
        cmdline = ""
    if len(cmdline) > 120:
        cmdline = cmdline[:117] + "..."
    return f"pid {pid} ({cmdline})" if cmdline else f"pid {pid}"


def port_holder(port: int) -> int | None:
    """PID of a process with a socket listening on TCP ``port``, if visible to us."""
    inodes = _listening_inodes(port)
    if not inodes:
        return None
    wanted = {f"socket:[{inode}]" for inode in inodes}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            for fd in (entry / "fd").iterdir():
                with contextlib.suppress(OSError):
                    if os.readlink(fd) in wanted:
                        return int(entry.name)
        except OSError:
            continue
    return None


def port_free(port: int, host: str = "127.0.0.1") -> bool:
    """True if nothing listens on ``host:port`` and we can bind it."""
    if _listening_inodes(port):
        return False
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def free_block(start: int, size: int = 6, limit: int = 200) -> int:
    """The first port >= ``start`` (stepping by ``size``) where ``size`` consecutive ports are free."""
    for base in range(start, start + size * limit, size):
        if all(port_free(port) for port in range(base, base + size)):
            return base
    raise OSError(f"no {size} consecutive free ports from {start}")


def log_tail(path: Path, lines: int = 20) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])
