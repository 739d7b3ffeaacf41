"""Reading one process from a ``/proc`` root: the facts detection decides from.

Everything here is I/O at the edge; :class:`ProcessFacts` is plain data. Files a process sees through its
own mount namespace (a container's libraries, a JDK's ``release`` file) are read under ``<proc>/<pid>/root``,
so the agent works from the host for processes in any container.
"""

from __future__ import annotations

import errno
import os
from dataclasses import dataclass, field
from pathlib import Path

from detector.errors import NotInspectable, ProcessGone

DEFAULT_PROC = Path("/proc")


@dataclass(frozen=True)
class ProcessFacts:
    """What ``/proc/<pid>`` says about a process."""

    pid: int
    ppid: int
    comm: str
    exe: str | None  # target of /proc/<pid>/exe, without a " (deleted)" suffix; None for kernel threads
    cmdline: tuple[str, ...]
    environ: dict[str, str] = field(default_factory=dict)
    mapped_files: tuple[str, ...] = ()  # distinct file paths in /proc/<pid>/maps, in first-seen order
    start_time: int = 0  # clock ticks after boot (field 22 of /proc/<pid>/stat)

    @property
    def exe_name(self) -> str:
        return os.path.basename(self.exe) if self.exe else ""


def process_dir(pid: int, proc: Path = DEFAULT_PROC) -> Path:
    return proc / str(pid)


def exe_file(pid: int, proc: Path = DEFAULT_PROC) -> Path:
    """The process's executable, openable from the host even when it lives in a container."""
    return process_dir(pid, proc) / "exe"


def in_root(pid: int, path: str, proc: Path = DEFAULT_PROC) -> Path:
    """``path`` as the process sees it (through its mount namespace)."""
    return process_dir(pid, proc) / "root" / path.lstrip("/")


def list_pids(proc: Path = DEFAULT_PROC) -> list[int]:
    return sorted(int(entry.name) for entry in proc.iterdir() if entry.name.isdigit())


def _read_bytes(path: Path, pid: int) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError as exc:
        raise ProcessGone(pid) from exc
    except ProcessLookupError as exc:
        raise ProcessGone(pid) from exc
    except PermissionError as exc:
        raise NotInspectable(pid, f"permission denied reading {path.name}") from exc


def parse_stat(text: str) -> tuple[str, int, int]:
    """``(comm, ppid, start_time)`` from ``/proc/<pid>/stat``; comm may contain spaces and parentheses."""
    open_paren, close_paren = text.index("("), text.rindex(")")
    comm = text[open_paren + 1 : close_paren]
    rest = text[close_paren + 2 :].split()
    # rest[0] is field 3 (state); ppid is field 4, starttime field 22.
    return comm, int(rest[1]), int(rest[19])


def parse_environ(raw: bytes) -> dict[str, str]:
    env: dict[str, str] = {}
    for entry in raw.split(b"\0"):
        key, sep, value = entry.partition(b"=")
        if sep and key:
            env[key.decode(errors="replace")] = value.decode(errors="replace")
    return env


def parse_maps(text: str) -> tuple[str, ...]:
    """Distinct mapped file paths (absolute paths only; ``[heap]``, anonymous maps are left out)."""
    seen: dict[str, None] = {}
    for line in text.splitlines():
        parts = line.split(None, 5)
        if len(parts) == 6 and parts[5].startswith("/"):
            path = parts[5].removesuffix(" (deleted)")
            seen.setdefault(path, None)
    return tuple(seen)


def read_process(pid: int, proc: Path = DEFAULT_PROC) -> ProcessFacts:
    """Read ``/proc/<pid>``. Raises :class:`ProcessGone` or :class:`NotInspectable`."""
    base = process_dir(pid, proc)
    if not base.is_dir():
        raise ProcessGone(pid)
    comm, ppid, start_time = parse_stat(_read_bytes(base / "stat", pid).decode(errors="replace"))
    try:
        exe: str | None = os.readlink(base / "exe").removesuffix(" (deleted)")
    except FileNotFoundError as exc:
        if not base.is_dir():
            raise ProcessGone(pid) from exc
        exe = None  # kernel thread or zombie: no executable
    except PermissionError as exc:
        raise NotInspectable(pid, "permission denied reading exe") from exc
    except OSError as exc:
        if exc.errno in (errno.ENOENT, errno.ESRCH):
            raise ProcessGone(pid) from exc
        raise NotInspectable(pid, str(exc)) from exc
    cmdline = tuple(
        arg.decode(errors="replace") for arg in _read_bytes(base / "cmdline", pid).split(b"\0") if arg
    )
    environ = parse_environ(_read_bytes(base / "environ", pid))
    mapped = parse_maps(_read_bytes(base / "maps", pid).decode(errors="replace"))
    return ProcessFacts(
        pid=pid,
        ppid=ppid,
        comm=comm,
        exe=exe,
        cmdline=cmdline,
        environ=environ,
        mapped_files=mapped,
        start_time=start_time,
    )
