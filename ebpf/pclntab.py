"""Function addresses of a (possibly stripped) Go binary from its pclntab, Go 1.18+ layout.

``-ldflags=-s -w`` removes the symbol table and DWARF but never the pclntab, which the runtime needs for
stack traces. It is the section ``.gopclntab``; PIE builds of Go up to 1.25 name it
``.data.rel.ro.gopclntab``, and an externally linked stripped PIE may fold it into ``.data.rel.ro`` with no
name at all, so as a last resort the section is found by its header magic.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from ebpf.elfimage import ElfImage
from ebpf.errors import NotTraceable, UnsupportedGo

MAGIC_118 = 0xFFFFFFF0  # Go 1.18, 1.19
MAGIC_120 = 0xFFFFFFF1  # Go 1.20+
OLD_MAGICS = {0xFFFFFFFB: "1.2-1.15", 0xFFFFFFFA: "1.16-1.17"}
SECTION_NAMES = (".gopclntab", ".data.rel.ro.gopclntab")


@dataclass(frozen=True)
class PclnTable:
    text_start: int
    entries: list[tuple[int, str]]  # (address, name), sorted by address; the last one is the end sentinel

    def lookup(self, names: set[str]) -> dict[str, tuple[int, int]]:
        """name -> (address, size) for the requested names; a function ends where the next one starts."""
        out: dict[str, tuple[int, int]] = {}
        for index, (addr, name) in enumerate(self.entries[:-1]):
            if name in names:
                out[name] = (addr, self.entries[index + 1][0] - addr)
        return out


def _valid_header(blob: bytes) -> bool:
    if len(blob) < 72:
        return False
    magic = struct.unpack_from("<I", blob)[0]
    return magic in (MAGIC_118, MAGIC_120) and blob[4] == 0 and blob[5] == 0 and blob[7] == 8


def find(image: ElfImage) -> bytes:
    """The pclntab bytes: by section name, else by scanning ``.data.rel.ro`` / ``.rodata`` for the magic."""
    for name in SECTION_NAMES:
        found = image.section(name)
        if found:
            _check_magic(found[1], image.path)
            return found[1]
    for name in (".data.rel.ro", ".rodata"):
        found = image.section(name)
        if not found:
            continue
        blob = found[1]
        for magic in (MAGIC_120, MAGIC_118):
            pos = blob.find(struct.pack("<I", magic) + b"\x00\x00")
            while pos >= 0:
                if pos % 8 == 0 and _valid_header(blob[pos:]):
                    return blob[pos:]
                pos = blob.find(struct.pack("<I", magic) + b"\x00\x00", pos + 1)
    raise NotTraceable(f"{image.path}: no Go pclntab found (not a Go binary, or an unknown layout)")


def _check_magic(blob: bytes, path: str) -> None:
    magic = struct.unpack_from("<I", blob)[0]
    if magic in OLD_MAGICS:
        raise UnsupportedGo(f"{path}: pclntab of Go {OLD_MAGICS[magic]}; Go 1.18 or newer is needed")
    if not _valid_header(blob):
        raise NotTraceable(f"{path}: pclntab with an unknown header (magic {magic:#x}, 64-bit only)")


def parse(blob: bytes, text_fallback: int) -> PclnTable:
    """Walk the functab; ``text_fallback`` (``.text`` sh_addr) stands in for a relocated textStart."""
    ptr = blob[7]

    def word(index: int) -> int:
        return int.from_bytes(blob[8 + index * ptr : 8 + (index + 1) * ptr], "little")

    nfunc, text_start = word(0), word(2)
    funcname_off, pcln_off = word(3), word(7)
    if text_start == 0:
        text_start = text_fallback
    entries: list[tuple[int, str]] = []
    for i in range(nfunc + 1):
        entry_off, func_off = struct.unpack_from("<II", blob, pcln_off + 8 * i)
        if i == nfunc:
            entries.append((text_start + entry_off, ""))
            break
        name_off = struct.unpack_from("<i", blob, pcln_off + func_off + 4)[0]
        start = funcname_off + name_off
        end = blob.index(b"\x00", start)
        entries.append((text_start + entry_off, blob[start:end].decode(errors="replace")))
    return PclnTable(text_start, entries)


def functions(image: ElfImage, names: set[str]) -> dict[str, tuple[int, int]]:
    text = image.section(".text")
    return parse(find(image), text[0] if text else 0).lookup(names)
