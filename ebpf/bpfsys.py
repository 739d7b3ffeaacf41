"""The kernel's BPF and perf interfaces, called directly (ctypes ``syscall``): no libbcc, no LLVM.

What the long-lived tracer needs once a program is compiled: create maps, load programs (the verifier
runs here), read and write map entries, and attach a program to a uprobe through a perf event of the
``uprobe`` PMU. Everything is a file descriptor this module hands out; closing it frees the object.
x86-64 only, as is the tracer.
"""

from __future__ import annotations

import ctypes
import errno
import fcntl
import os
import struct
from functools import cache
from pathlib import Path

from ebpf.errors import AttachFailed

SYS_BPF = 321
SYS_PERF_EVENT_OPEN = 298

MAP_CREATE = 0
MAP_LOOKUP_ELEM = 1
MAP_UPDATE_ELEM = 2
MAP_DELETE_ELEM = 3
MAP_GET_NEXT_KEY = 4
PROG_LOAD = 5
OBJ_GET_INFO_BY_FD = 15

MAP_TYPE_HASH = 1
MAP_TYPE_ARRAY = 2
MAP_TYPE_PERCPU_HASH = 5
MAP_TYPE_PERCPU_ARRAY = 6
MAP_TYPE_LRU_HASH = 9
MAP_TYPE_LRU_PERCPU_HASH = 10
MAP_TYPE_RINGBUF = 27
PERCPU_TYPES = {MAP_TYPE_PERCPU_HASH, MAP_TYPE_PERCPU_ARRAY, MAP_TYPE_LRU_PERCPU_HASH}

PROG_TYPE_KPROBE = 2
BPF_ANY = 0
BPF_NOEXIST = 1

PERF_FLAG_FD_CLOEXEC = 1 << 3
PERF_EVENT_IOC_ENABLE = 0x2400
PERF_EVENT_IOC_SET_BPF = 0x40042408
PERF_ATTR_SIZE = 128
UPROBE_PMU_TYPE = Path("/sys/bus/event_source/devices/uprobe/type")

_ATTR_SIZE = 144  # larger than any union bpf_attr member used here; the kernel wants the tail zeroed
_libc = ctypes.CDLL(None, use_errno=True)
_libc.syscall.restype = ctypes.c_long


class BpfError(OSError):
    """A bpf() or perf_event_open() call failed; ``errno`` is set, ``log`` holds the verifier's words."""

    def __init__(self, what: str, err: int, log: str = "") -> None:
        super().__init__(err, f"{what}: {os.strerror(err)}")
        self.log = log


def _bpf(cmd: int, attr: ctypes.Array[ctypes.c_char], what: str) -> int:
    result = int(_libc.syscall(ctypes.c_long(SYS_BPF), ctypes.c_long(cmd), attr, ctypes.c_long(len(attr))))
    if result < 0:
        raise BpfError(what, ctypes.get_errno())
    return result


def _attr(*fields: tuple[int, str, int]) -> ctypes.Array[ctypes.c_char]:
    """A zeroed ``union bpf_attr`` with ``(offset, struct format, value)`` fields packed in."""
    buf = ctypes.create_string_buffer(_ATTR_SIZE)
    for offset, fmt, value in fields:
        struct.pack_into("<" + fmt, buf, offset, value)
    return buf


def _address(buf: ctypes.Array[ctypes.c_char] | None) -> int:
    return ctypes.addressof(buf) if buf is not None else 0


@cache
def possible_cpus() -> int:
    """Per-CPU map values hold one slot per *possible* CPU (``/sys/devices/system/cpu/possible``)."""
    text = Path("/sys/devices/system/cpu/possible").read_text().strip()
    count = 0
    for part in text.split(","):
        low, _, high = part.partition("-")
        count += int(high or low) - int(low) + 1
    return count


def map_create(map_type: int, key_size: int, value_size: int, max_entries: int, flags: int, name: str) -> int:
    attr = _attr(
        (0, "I", map_type), (4, "I", key_size), (8, "I", value_size), (12, "I", max_entries), (16, "I", flags)
    )
    encoded = name.encode()[:15]
    ctypes.memmove(ctypes.addressof(attr) + 28, encoded, len(encoded))
    return _bpf(MAP_CREATE, attr, f"creating map {name}")


def map_info(fd: int) -> dict[str, int | str]:
    """Type, sizes, entries, flags and name of a map (``BPF_OBJ_GET_INFO_BY_FD``)."""
    info = ctypes.create_string_buffer(96)
    attr = _attr((0, "I", fd), (4, "I", len(info)), (8, "Q", ctypes.addressof(info)))
    _bpf(OBJ_GET_INFO_BY_FD, attr, "reading map info")
    map_type, _id, key_size, value_size, max_entries, flags = struct.unpack_from("<6I", info, 0)
    name = info.raw[24:40].split(b"\0", 1)[0].decode()
    return {
        "type": map_type,
        "key_size": key_size,
        "value_size": value_size,
        "max_entries": max_entries,
        "flags": flags,
        "name": name,
    }


def map_update(fd: int, key: bytes, value: bytes, flags: int = BPF_ANY) -> None:
    k, v = ctypes.create_string_buffer(key, len(key)), ctypes.create_string_buffer(value, len(value))
    attr = _attr((0, "I", fd), (8, "Q", _address(k)), (16, "Q", _address(v)), (24, "Q", flags))
    _bpf(MAP_UPDATE_ELEM, attr, "updating a map entry")


def map_lookup(fd: int, key: bytes, value_size: int) -> bytes | None:
    """The value under ``key`` (``value_size`` bytes; per-CPU maps: slots x possible CPUs), or None."""
    k, v = ctypes.create_string_buffer(key, len(key)), ctypes.create_string_buffer(value_size)
    attr = _attr((0, "I", fd), (8, "Q", _address(k)), (16, "Q", _address(v)))
    try:
        _bpf(MAP_LOOKUP_ELEM, attr, "reading a map entry")
    except BpfError as exc:
        if exc.errno == errno.ENOENT:
            return None
        raise
    return v.raw


def map_delete(fd: int, key: bytes) -> bool:
    k = ctypes.create_string_buffer(key, len(key))
    attr = _attr((0, "I", fd), (8, "Q", _address(k)))
    try:
        _bpf(MAP_DELETE_ELEM, attr, "deleting a map entry")
    except BpfError as exc:
        if exc.errno == errno.ENOENT:
            return False
        raise
    return True


def map_keys(fd: int, key_size: int) -> list[bytes]:
    keys: list[bytes] = []
    current: ctypes.Array[ctypes.c_char] | None = None
    while True:
        following = ctypes.create_string_buffer(key_size)
        attr = _attr((0, "I", fd), (8, "Q", _address(current)), (16, "Q", _address(following)))
        try:
            _bpf(MAP_GET_NEXT_KEY, attr, "listing map keys")
        except BpfError as exc:
            if exc.errno == errno.ENOENT:
                return keys
            raise
        keys.append(following.raw)
        current = following


def prog_load(name: str, insns: bytes, license_: str, kern_version: int, log_size: int = 1 << 20) -> int:
    """Load a kprobe-type program (uprobes use that type); the verifier's log comes with a refusal."""
    code = ctypes.create_string_buffer(insns, len(insns))
    lic = ctypes.create_string_buffer(license_.encode())

    def attempt(log: ctypes.Array[ctypes.c_char] | None) -> int:
        attr = _attr(
            (0, "I", PROG_TYPE_KPROBE),
            (4, "I", len(insns) // 8),
            (8, "Q", _address(code)),
            (16, "Q", _address(lic)),
            (24, "I", 1 if log is not None else 0),
            (28, "I", len(log) if log is not None else 0),
            (32, "Q", _address(log)),
            (40, "I", kern_version),
        )
        encoded = name.encode()[:15]
        ctypes.memmove(ctypes.addressof(attr) + 48, encoded, len(encoded))
        return _bpf(PROG_LOAD, attr, f"loading program {name}")

    try:
        return attempt(None)
    except BpfError as first:
        if first.errno in (errno.EPERM, errno.ENOMEM):
            raise
        log = ctypes.create_string_buffer(log_size)
        try:
            return attempt(log)
        except BpfError as exc:
            exc.log = log.value.decode(errors="replace")
            raise


@cache
def uprobe_pmu_type() -> int:
    try:
        return int(UPROBE_PMU_TYPE.read_text())
    except (OSError, ValueError) as exc:
        raise AttachFailed(
            f"this kernel has no uprobe perf PMU ({UPROBE_PMU_TYPE}): uprobes are not available"
        ) from exc


def attach_uprobe(prog_fd: int, path: str, file_offset: int, pid: int) -> int:
    """A perf event for a uprobe at ``path``+``file_offset`` in ``pid`` only, running ``prog_fd``.

    Returns the event's fd; closing it removes the probe (no tracefs entry is created).
    """
    encoded = ctypes.create_string_buffer(path.encode())
    attr = ctypes.create_string_buffer(PERF_ATTR_SIZE)
    struct.pack_into("<II", attr, 0, uprobe_pmu_type(), PERF_ATTR_SIZE)  # type, size; config 0 = entry
    struct.pack_into("<QQ", attr, 56, ctypes.addressof(encoded), file_offset)  # config1 (path), config2
    fd = int(
        _libc.syscall(
            ctypes.c_long(SYS_PERF_EVENT_OPEN),
            attr,
            ctypes.c_long(pid),
            ctypes.c_long(-1),
            ctypes.c_long(-1),
            ctypes.c_long(PERF_FLAG_FD_CLOEXEC),
        )
    )
    if fd < 0:
        err = ctypes.get_errno()
        raise BpfError(f"opening a uprobe at {path}+{file_offset:#x}", err)
    try:
        fcntl.ioctl(fd, PERF_EVENT_IOC_SET_BPF, prog_fd)
        fcntl.ioctl(fd, PERF_EVENT_IOC_ENABLE, 0)
    except OSError as exc:
        os.close(fd)
        what = f"attaching a program to the uprobe at {path}+{file_offset:#x}"
        raise BpfError(what, exc.errno or 0) from exc
    return fd
