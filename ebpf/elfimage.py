"""An ELF executable read once into memory: sections, load segments, symbols and Go build info.

Pure reading over bytes; the rest of the package asks it for "the bytes at this virtual address" and
"the Go version", never for file offsets.
"""

from __future__ import annotations

import io
import struct
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

from elftools.common.exceptions import ELFError
from elftools.elf.elffile import ELFFile
from elftools.elf.sections import SymbolTableSection

from ebpf.errors import NotGoBinary, NotTraceable

BUILDINFO_MAGIC = b"\xff Go buildinf:"
_SYM = struct.Struct("<IBBHQQ")  # Elf64_Sym
STT_FUNC = 2


@dataclass(frozen=True)
class Segment:
    vaddr: int
    offset: int
    filesz: int


@dataclass
class ElfImage:
    """The executable's bytes plus the parsed headers needed by the tracer."""

    path: str
    data: bytes
    elf: ELFFile = field(repr=False)

    @classmethod
    def open(cls, path: str | Path) -> ElfImage:
        try:
            data = Path(path).read_bytes()
        except FileNotFoundError as exc:
            raise NotTraceable(f"{path}: no such file") from exc
        except OSError as exc:
            raise NotTraceable(f"{path}: cannot read the executable: {exc.strerror}") from exc
        try:
            elf = ELFFile(io.BytesIO(data))
        except ELFError as exc:
            raise NotGoBinary(f"{path}: not an ELF executable") from exc
        return cls(str(path), data, elf)

    @property
    def machine(self) -> str:
        return str(self.elf["e_machine"])

    @property
    def is_pie(self) -> bool:
        return str(self.elf["e_type"]) == "ET_DYN"

    @cached_property
    def segments(self) -> list[Segment]:
        return [
            Segment(s["p_vaddr"], s["p_offset"], s["p_filesz"])
            for s in self.elf.iter_segments()
            if s["p_type"] == "PT_LOAD"
        ]

    def read(self, vaddr: int, size: int) -> bytes:
        """Bytes at a link-time virtual address, through the PT_LOAD that maps it."""
        for seg in self.segments:
            if seg.vaddr <= vaddr < seg.vaddr + seg.filesz:
                start = seg.offset + (vaddr - seg.vaddr)
                return self.data[start : start + min(size, seg.vaddr + seg.filesz - vaddr)]
        raise NotTraceable(f"{self.path}: address {vaddr:#x} is not in a loaded segment")

    def file_offset(self, vaddr: int) -> int:
        for seg in self.segments:
            if seg.vaddr <= vaddr < seg.vaddr + seg.filesz:
                return seg.offset + (vaddr - seg.vaddr)
        raise NotTraceable(f"{self.path}: address {vaddr:#x} is not in a loaded segment")

    def section(self, name: str) -> tuple[int, bytes] | None:
        """(sh_addr, contents) of a section, decompressed if needed; None when absent."""
        sec = self.elf.get_section_by_name(name)
        if sec is None or sec["sh_type"] == "SHT_NOBITS":
            return None
        return int(sec["sh_addr"]), bytes(sec.data())

    def has_section(self, name: str) -> bool:
        return self.elf.get_section_by_name(name) is not None

    @cached_property
    def functions(self) -> dict[str, tuple[int, int]]:
        """name -> (address, size) from .symtab; empty for stripped binaries.

        Read with ``struct`` straight from the section bytes: a Go binary has thousands of symbols and
        pyelftools' per-symbol parsing took a second of the attach time.
        """
        table = self.elf.get_section_by_name(".symtab")
        if not isinstance(table, SymbolTableSection):
            return {}
        strtab = self.elf.get_section(table["sh_link"])
        names = bytes(strtab.data())
        out: dict[str, tuple[int, int]] = {}
        for name_off, info, _other, _shndx, value, size in _SYM.iter_unpack(bytes(table.data())):
            if info & 0xF == STT_FUNC and value:
                end = names.find(b"\0", name_off)
                out[names[name_off:end].decode(errors="replace")] = (value, size)
        return out

    @cached_property
    def build_id(self) -> str:
        for name in (".note.go.buildid", ".note.gnu.build-id"):
            sec = self.elf.get_section_by_name(name)
            if sec is not None:
                return bytes(sec.data()).hex()
        return ""

    @cached_property
    def go_version(self) -> str:
        """The Go version the binary was built with (``go1.21.13``), from ``.go.buildinfo``."""
        found = self.section(".go.buildinfo")
        blob = found[1] if found else b""
        if not blob.startswith(BUILDINFO_MAGIC):
            index = self.data.find(BUILDINFO_MAGIC)
            if index < 0:
                raise NotGoBinary(f"{self.path}: no Go build info (.go.buildinfo): not a Go program")
            blob = self.data[index : index + 4096]
        return parse_buildinfo_version(blob, self)


def _uvarint(buf: bytes, pos: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        byte = buf[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, pos
        shift += 7


def parse_buildinfo_version(blob: bytes, image: ElfImage | None = None) -> str:
    """Go version from a ``.go.buildinfo`` blob: inline strings (Go 1.18+) or pointers (older)."""
    ptr_size, flags = blob[14], blob[15]
    if flags & 2:
        length, pos = _uvarint(blob, 32)
        return blob[pos : pos + length].decode(errors="replace")
    if image is None or ptr_size != 8:
        raise NotGoBinary("Go build info in a pre-1.18 layout that cannot be read")
    if flags & 1:
        raise NotGoBinary("big-endian Go build info is not supported")
    header_addr = int.from_bytes(blob[16:24], "little")
    header = image.read(header_addr, 16)
    str_addr, length = int.from_bytes(header[:8], "little"), int.from_bytes(header[8:16], "little")
    return image.read(str_addr, length).decode(errors="replace")


def parse_go_version(version: str) -> tuple[int, int, int]:
    """``go1.21.13`` -> (1, 21, 13); ``go1.22rc1`` -> (1, 22, 0); devel builds -> (0, 0, 0)."""
    text = version.removeprefix("go").split(" ")[0].split("-")[0]
    parts: list[int] = []
    for piece in text.split(".")[:3]:
        digits = ""
        for char in piece:
            if not char.isdigit():
                break
            digits += char
        parts.append(int(digits) if digits else 0)
    while len(parts) < 3:
        parts.append(0)
    return parts[0], parts[1], parts[2]
