"""BCC, imported and compiled once per agent: the program, its maps, the ring buffer and probe attachment.

BCC is Debian's ``python3-bpfcc``: pure Python over ``libbcc.so`` (ctypes), installed for Debian's own
Python. The PyPI package named ``bcc`` is unrelated. When ``import bcc`` fails (a virtualenv on another
interpreter), only the ``bcc`` package directory is loaded from Debian's dist-packages by path, so none of
Debian's other Python packages leak into the environment.
"""

from __future__ import annotations

import contextlib
import ctypes
import importlib.util
import os
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

from ebpf.errors import AttachFailed, BccUnavailable

PROGRAM = Path(__file__).resolve().parent / "gohttp.bpf.c"
DEBIAN_BCC = (Path("/usr/lib/python3/dist-packages/bcc"), Path("/usr/lib/python3/site-packages/bcc"))
OFFSET_FIELDS = (
    "req_method",
    "req_url",
    "req_proto_major",
    "req_remote_addr",
    "url_scheme",
    "url_host",
    "url_path",
    "response_status",
    "client_response_status",
)


def import_bcc() -> ModuleType:
    if "bcc" in sys.modules:
        return sys.modules["bcc"]
    try:
        import bcc

        module: ModuleType = bcc
        return module
    except ImportError:
        pass
    for directory in DEBIAN_BCC:
        init = directory / "__init__.py"
        if not init.exists():
            continue
        spec = importlib.util.spec_from_file_location(
            "bcc", init, submodule_search_locations=[str(directory)]
        )
        if spec is None or spec.loader is None:
            continue
        module = importlib.util.module_from_spec(spec)
        sys.modules["bcc"] = module
        try:
            spec.loader.exec_module(module)
        except Exception as exc:
            del sys.modules["bcc"]
            raise BccUnavailable(f"BCC found at {directory} but failed to load: {exc}") from exc
        return module
    raise BccUnavailable("BCC is not installed: install Debian's python3-bpfcc (not the PyPI package 'bcc')")


@contextlib.contextmanager
def _quiet_stderr() -> Iterator[None]:
    """libbcc prints verifier logs on fd 2; silence them for loads that are expected to fail."""
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


class BpfProgram:
    """The compiled program and its maps. Thread-safe: BCC calls are serialised by one lock."""

    def __init__(self, on_record: Callable[[bytes], None]) -> None:
        bcc = import_bcc()
        self._bcc = bcc
        build = Path(f"/lib/modules/{os.uname().release}/build")
        if not build.exists():
            raise BccUnavailable(
                f"kernel headers missing: {build} does not exist (link linux-headers-amd64 there; "
                "`make setup` does it)"
            )
        self.lock = threading.RLock()
        try:
            self.bpf: Any = bcc.BPF(src_file=str(PROGRAM).encode(), cflags=["-Wno-macro-redefined"])
        except Exception as exc:
            raise BccUnavailable(f"compiling the BPF program failed: {exc}") from exc
        self._on_record = on_record

        def callback(_ctx: Any, data: Any, size: int) -> int:
            on_record(ctypes.string_at(data, size))
            return 0

        self._callback = callback
        self.bpf["events"].open_ring_buffer(callback)
        self.offsets_map = self.bpf["offsets_by_pid"]

    def lost_records(self) -> int:
        """Records dropped because the ring buffer was full, since start."""
        table = self.bpf["lost"]
        with self.lock:
            return int(table.sum(table.Key(0)).value)

    def probe_write_user(self) -> bool:
        """Whether the verifier accepts ``bpf_probe_write_user`` (kernel lockdown refuses it)."""
        try:
            with _quiet_stderr():
                self.bpf.load_func(b"lockdown_check", self._bcc.BPF.KPROBE)
        except Exception:
            return False
        return True

    def set_offsets(self, pid: int, offsets: dict[str, int]) -> None:
        table = self.offsets_map
        leaf = table.Leaf(*[offsets[name] for name in OFFSET_FIELDS])
        with self.lock:
            table[table.Key(pid)] = leaf

    def clear_offsets(self, pid: int) -> None:
        table = self.offsets_map
        with self.lock, contextlib.suppress(KeyError):
            del table[table.Key(pid)]

    def attach(self, path: str, file_offset: int, program: str, pid: int) -> bytes:
        """Attach ``program`` at a file offset of ``path`` for ``pid`` only; returns the event name.

        Calls libbcc directly with the offset the analysis computed, instead of ``attach_uprobe``'s
        per-call ELF symbol resolution (tens of milliseconds per probe on a Go binary).
        """
        event = b"p_hodegos_%d_0x%x" % (pid, file_offset)
        with self.lock:
            try:
                fn = self.bpf.load_func(program.encode(), self._bcc.BPF.KPROBE)
            except Exception as exc:
                raise AttachFailed(f"loading BPF program {program} failed: {exc}") from exc
            fd = self._bcc.libbcc.lib.bpf_attach_uprobe(fn.fd, 0, event, path.encode(), file_offset, pid)
            if fd < 0:
                raise AttachFailed(f"uprobe at {path}+{file_offset:#x} ({program}) refused by the kernel")
            self.bpf._add_uprobe_fd(event, fd)
        return event

    def detach(self, event: bytes) -> None:
        """Close one probe. The probes are perf-PMU uprobes, so closing the fd removes them; there is no
        tracefs event to delete (and tracefs may not even be mounted)."""
        with self.lock:
            fd = self.bpf.uprobe_fds.get(event)
            if fd is None:
                return
            self._bcc.libbcc.lib.bpf_close_perf_event_fd(fd)
            self.bpf._del_uprobe_fd(event)

    def drain(self) -> None:
        with self.lock:
            self.bpf.ring_buffer_consume()

    def close(self) -> None:
        with self.lock:
            for event in list(self.bpf.uprobe_fds):
                self.detach(event)
            self.bpf.cleanup()
