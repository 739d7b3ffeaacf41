"""Facts read from ELF files: the program interpreter, Go build info, embedded runtime versions.

Uses pyelftools, reading only the headers, one section or one symbol: never the whole file (a Node.js
binary is ~100 MB). Every reader returns ``None`` when the fact is absent rather than raising, except
:func:`read_elf`, which reports a file that is not ELF at all.
"""

from __future__ import annotations

import mmap
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from elftools.common.exceptions import ELFError
from elftools.elf.elffile import ELFFile
from elftools.elf.segments import InterpSegment

GO_BUILDINFO_MAGIC = b"\xff Go buildinf:"


@dataclass(frozen=True)
class GoBuildInfo:
    """What ``.go.buildinfo`` holds: the toolchain version (``go1.22.3``) and the main package path."""

    go_version: str
    main_path: str | None = None
    main_module: str | None = None


@dataclass(frozen=True)
class ElfFacts:
    interp: str | None  # PT_INTERP, e.g. /lib/ld-musl-x86_64.so.1; None for static binaries
    dynamic: bool  # has a PT_DYNAMIC segment (static-pie binaries do, with no interpreter)
    go: GoBuildInfo | None


def read_elf(path: Path) -> ElfFacts | None:
    """Interpreter and Go build info of ``path``; ``None`` if it is not an ELF file."""
    try:
        with path.open("rb") as stream:
            try:
                elf = ELFFile(stream)
            except ELFError:
                return None
            interp = None
            dynamic = False
            for segment in elf.iter_segments():
                if isinstance(segment, InterpSegment):
                    interp = segment.get_interp_name()
                elif segment["p_type"] == "PT_DYNAMIC":
                    dynamic = True
            return ElfFacts(interp=interp, dynamic=dynamic, go=go_buildinfo(elf))
    except (OSError, ELFError, ValueError):
        return None


# -- Go build info ---------------------------------------------------------------------------------------


def _uvarint(data: bytes, pos: int) -> tuple[int, int]:
    value = shift = 0
    while pos < len(data):
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, pos
        shift += 7
    raise ValueError("truncated varint")


def _vaddr_read(elf: ELFFile, addr: int, size: int) -> bytes | None:
    for segment in elf.iter_segments():
        if segment["p_type"] != "PT_LOAD":
            continue
        start = segment["p_vaddr"]
        if start <= addr and addr + size <= start + segment["p_filesz"]:
            elf.stream.seek(segment["p_offset"] + addr - start)
            data: bytes = elf.stream.read(size)
            return data
    return None


def _modinfo_fields(modinfo: str) -> tuple[str | None, str | None]:
    # Since Go 1.18 the text is framed by 16-byte sentinels; strip them when present.
    if len(modinfo) >= 33 and modinfo[-17] == "\n":
        modinfo = modinfo[16:-16]
    path = module = None
    for line in modinfo.splitlines():
        key, _, value = line.partition("\t")
        if key == "path":
            path = value
        elif key == "mod":
            module = value.split("\t")[0]
    return path, module


def parse_buildinfo(header: bytes, elf: ELFFile | None = None) -> GoBuildInfo | None:
    """Decode a ``.go.buildinfo`` blob (header + inline strings, or pointers resolved through ``elf``)."""
    if len(header) < 32 or not header.startswith(GO_BUILDINFO_MAGIC):
        return None
    ptr_size, flags = header[14], header[15]
    if flags & 2:  # Go 1.18+: varint-length-prefixed strings follow the 32-byte header
        length, pos = _uvarint(header, 32)
        version = header[pos : pos + length].decode(errors="replace")
        pos += length
        length, pos = _uvarint(header, pos)
        modinfo = header[pos : pos + length].decode(errors="replace")
    else:  # before Go 1.18: two pointers to Go string headers (data pointer, length)
        if elf is None or ptr_size not in (4, 8):
            return None
        order: Literal["big", "little"] = "big" if flags & 1 else "little"
        strings = []
        for index in range(2):
            start = 16 + index * ptr_size
            string_header = _vaddr_read(
                elf, int.from_bytes(header[start : start + ptr_size], order), 2 * ptr_size
            )
            if string_header is None:
                return None
            data_addr = int.from_bytes(string_header[:ptr_size], order)
            length = int.from_bytes(string_header[ptr_size:], order)
            data = _vaddr_read(elf, data_addr, length) if length else b""
            if data is None:
                return None
            strings.append(data.decode(errors="replace"))
        version, modinfo = strings
    if not version.startswith("go"):
        return None
    path, module = _modinfo_fields(modinfo)
    return GoBuildInfo(go_version=version, main_path=path or None, main_module=module or None)


def go_buildinfo(elf: ELFFile) -> GoBuildInfo | None:
    section = elf.get_section_by_name(".go.buildinfo")
    if section is not None:
        return parse_buildinfo(section.data()[:65536], elf)
    # No section headers (or renamed): Go's own reader scans the writable data for the 16-aligned magic.
    for segment in elf.iter_segments():
        if segment["p_type"] == "PT_LOAD" and segment["p_flags"] & 2:  # PF_W
            data = segment.data()[: 4 << 20]
            pos = data.find(GO_BUILDINFO_MAGIC)
            while pos != -1 and pos % 16:
                pos = data.find(GO_BUILDINFO_MAGIC, pos + 1)
            if pos != -1:
                return parse_buildinfo(data[pos : pos + 65536], elf)
    return None


# -- Embedded runtime versions ---------------------------------------------------------------------------

_RELEASE_LEVEL = {0xA: "a", 0xB: "b", 0xC: "rc"}


def python_version_from_hex(value: int) -> str:
    """``PY_VERSION_HEX`` to text: 0x030B07F0 -> ``3.11.7``; 0x030D00A2 -> ``3.13.0a2``."""
    major, minor, micro = value >> 24 & 0xFF, value >> 16 & 0xFF, value >> 8 & 0xFF
    level, serial = value >> 4 & 0xF, value & 0xF
    text = f"{major}.{minor}.{micro}"
    return text + f"{_RELEASE_LEVEL[level]}{serial}" if level in _RELEASE_LEVEL else text


def symbol_bytes(path: Path, name: str, size: int) -> bytes | None:
    """The first ``size`` bytes of the dynamic symbol ``name`` in ``path`` (from its file image)."""
    try:
        with path.open("rb") as stream:
            elf = ELFFile(stream)
            symtab = elf.get_section_by_name(".dynsym") or elf.get_section_by_name(".symtab")
            if symtab is None or not hasattr(symtab, "get_symbol_by_name"):
                return None
            symbols = symtab.get_symbol_by_name(name)
            if not symbols:
                return None
            symbol = symbols[0]
            index = symbol["st_shndx"]
            if not isinstance(index, int):
                return None
            section = elf.get_section(index)
            if section["sh_type"] == "SHT_NOBITS":
                return None
            stream.seek(section["sh_offset"] + symbol["st_value"] - section["sh_addr"])
            data: bytes = stream.read(size)
            return data if len(data) == size else None
    except (OSError, ELFError, ValueError):
        return None


def python_version_symbol(path: Path) -> str | None:
    """CPython 3.11+ exports ``Py_Version`` (= ``PY_VERSION_HEX``) from the interpreter or libpython."""
    data = symbol_bytes(path, "Py_Version", 4)
    if data is None:
        return None
    value = int.from_bytes(data, "little")
    return python_version_from_hex(value) if value >> 24 in (2, 3) else None


def search_rodata(path: Path, pattern: re.Pattern[bytes]) -> list[bytes]:
    """Group 1 of every match of ``pattern`` in the read-only data of ``path`` (memory-mapped, not read)."""
    try:
        with path.open("rb") as stream:
            elf = ELFFile(stream)
            section = elf.get_section_by_name(".rodata")
            start, end = (
                (section["sh_offset"], section["sh_offset"] + section["sh_size"]) if section else (0, 0)
            )
            with mmap.mmap(stream.fileno(), 0, access=mmap.ACCESS_READ) as view:
                if not section:
                    end = len(view)
                return [bytes(m.group(1)) for m in pattern.finditer(view, start, end)]
    except (OSError, ELFError, ValueError):
        return []
