"""The compiled tracer program, loaded into the kernel by the agent itself: maps, programs, probes, drain.

From a :class:`~ebpf.artifact.Compiled` (BCC's output, made in the helper or read from the cache) this
creates the maps, patches their fds into the instructions and loads the programs through the ``bpf()``
syscall (:mod:`ebpf.bpfsys`); the ring buffer is read through its memory mapping (:mod:`ebpf.ringbuf`).
The ring buffer's size is chosen here, at load time, without compiling again.

Thread-safe: map calls are single syscalls; the ring buffer has one consumer, :meth:`drain`, serialised
by ``lock``.
"""

from __future__ import annotations

import contextlib
import errno
import os
import struct
import threading
from collections.abc import Mapping

from ebpf import artifact, bpfsys
from ebpf.errors import AttachFailed, BccUnavailable
from ebpf.ringbuf import RingBuffer

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
TRACING_PROGRAMS = ("server_entry", "server_return", "header_return", "client_entry", "client_return")
RING_MAP = "events"
_PID = struct.Struct("<I")
_U64 = struct.Struct("<Q")
_OFFSETS = struct.Struct("<" + "Q" * len(OFFSET_FIELDS))


class LoadedProgram:
    """The tracer's maps and programs in this process. ``ring_pages`` overrides the ring buffer's size."""

    def __init__(self, compiled: artifact.Compiled, ring_pages: int | None = None) -> None:
        self.compiled = compiled
        self.lock = threading.RLock()
        self.maps: dict[str, int] = {}
        self.specs: dict[str, artifact.MapSpec] = {}
        self._programs: dict[str, int] = {}
        self._probes: set[int] = set()
        try:
            for spec in compiled.maps.values():
                if spec.type == bpfsys.MAP_TYPE_RINGBUF and ring_pages:
                    if ring_pages & (ring_pages - 1):
                        raise ValueError(f"ring buffer pages must be a power of two, not {ring_pages}")
                    spec = artifact.MapSpec(
                        spec.name, spec.type, 0, 0, ring_pages * os.sysconf("SC_PAGE_SIZE"), spec.flags
                    )
                self.maps[spec.name] = bpfsys.map_create(
                    spec.type, spec.key_size, spec.value_size, spec.max_entries, spec.flags, spec.name
                )
                self.specs[spec.name] = spec
            for name in TRACING_PROGRAMS:
                self.program(name)
        except bpfsys.BpfError as exc:
            self.close()
            detail = f"\n{exc.log[-2000:]}" if exc.log else ""
            raise BccUnavailable(f"loading the compiled BPF program failed: {exc}{detail}") from exc
        except BaseException:
            self.close()
            raise
        ring = self.specs[RING_MAP]
        self.ring = RingBuffer(self.maps[RING_MAP], ring.max_entries)

    @property
    def ring_bytes(self) -> int:
        return self.specs[RING_MAP].max_entries

    def program(self, name: str) -> int:
        """The fd of a loaded program, loading it on first use."""
        with self.lock:
            if name in self._programs:
                return self._programs[name]
            spec = self.compiled.programs.get(name)
            if spec is None:
                raise AttachFailed(f"the compiled BPF program has no function {name}")
            code = artifact.relocate(spec, self.maps)
            fd = bpfsys.prog_load(name, code, self.compiled.license, self.compiled.kern_version)
            self._programs[name] = fd
            return fd

    def probe_write_user(self) -> bool:
        """Whether the verifier accepts ``bpf_probe_write_user`` (kernel lockdown refuses it)."""
        try:
            fd = self.program("lockdown_check")
        except (bpfsys.BpfError, AttachFailed):
            return False
        with self.lock:
            del self._programs["lockdown_check"]
        os.close(fd)
        return True

    # -- maps ----------------------------------------------------------------------------------------

    def set_offsets(self, pid: int, offsets: Mapping[str, int]) -> None:
        leaf = _OFFSETS.pack(*(offsets[name] for name in OFFSET_FIELDS))
        bpfsys.map_update(self.maps["offsets_by_pid"], _PID.pack(pid), leaf)

    def clear_offsets(self, pid: int) -> None:
        bpfsys.map_delete(self.maps["offsets_by_pid"], _PID.pack(pid))

    def start_loss_count(self, pid: int) -> None:
        bpfsys.map_update(self.maps["lost_by_pid"], _PID.pack(pid), _U64.pack(0))

    def lost_for(self, pid: int) -> int:
        raw = bpfsys.map_lookup(self.maps["lost_by_pid"], _PID.pack(pid), 8)
        return _U64.unpack(raw)[0] if raw else 0

    def end_loss_count(self, pid: int) -> int:
        lost = self.lost_for(pid)
        bpfsys.map_delete(self.maps["lost_by_pid"], _PID.pack(pid))
        return lost

    def counter(self, name: str) -> int:
        """Sum over CPUs of slot 0 of a per-CPU u64 array (``lost``, ``noop_hits``)."""
        cpus = bpfsys.possible_cpus()
        raw = bpfsys.map_lookup(self.maps[name], _PID.pack(0), 8 * cpus)
        return sum(_U64.unpack_from(raw, 8 * i)[0] for i in range(cpus)) if raw else 0

    def clear_counter(self, name: str) -> None:
        bpfsys.map_update(self.maps[name], _PID.pack(0), bytes(8 * bpfsys.possible_cpus()))

    def lost_records(self) -> int:
        """Records dropped because the ring buffer was full, since load."""
        return self.counter("lost")

    # -- probes --------------------------------------------------------------------------------------

    def attach(self, path: str, file_offset: int, program: str, pid: int) -> int:
        """A uprobe running ``program`` at a file offset of ``path`` in ``pid`` only; returns its handle."""
        try:
            fd = bpfsys.attach_uprobe(self.program(program), path, file_offset, pid)
        except bpfsys.BpfError as exc:
            if exc.errno == errno.ESRCH:
                raise AttachFailed(f"process {pid} is gone") from exc
            raise AttachFailed(f"uprobe at {path}+{file_offset:#x} ({program}) refused: {exc}") from exc
        with self.lock:
            self._probes.add(fd)
        return fd

    def detach(self, probe: int) -> None:
        """Close one probe (closing the perf event removes the uprobe)."""
        with self.lock:
            if probe not in self._probes:
                return
            self._probes.discard(probe)
        with contextlib.suppress(OSError):
            os.close(probe)

    def probes(self) -> int:
        return len(self._probes)

    # -- ring buffer ---------------------------------------------------------------------------------

    def drain(self) -> list[bytes]:
        with self.lock:
            return self.ring.consume()

    def close(self) -> None:
        with self.lock:
            for fd in list(self._probes):
                self.detach(fd)
            ring = getattr(self, "ring", None)
            if ring is not None:
                ring.close()
                del self.ring
            for fd in [*self._programs.values(), *self.maps.values()]:
                with contextlib.suppress(OSError):
                    os.close(fd)
            self._programs.clear()
            self.maps.clear()
