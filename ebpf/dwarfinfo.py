"""Struct field offsets from a Go binary's own DWARF (pyelftools).

Only top-level type DIEs are visited, units named ``runtime`` first (where Go's linker emits types), and
the walk stops as soon as every requested struct is found, so a large binary costs a fraction of a full
DIE walk. Go's compressed ``.zdebug``/SHF_COMPRESSED sections are
decompressed by pyelftools.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from ebpf.elfimage import ElfImage


def has_dwarf(image: ElfImage) -> bool:
    return bool(image.elf.has_dwarf_info()) and image.has_section(".debug_info")


def _member_offset(die: object) -> int | None:
    attr = die.attributes.get("DW_AT_data_member_location")  # type: ignore[attr-defined]
    if attr is None:
        return None
    value = attr.value
    return value if isinstance(value, int) else None


def _unit_name(cu: Any) -> str:
    attr = cu.get_top_DIE().attributes.get("DW_AT_name")
    return attr.value.decode(errors="replace") if attr is not None else ""


def struct_offsets(image: ElfImage, fields: Iterable[str]) -> dict[str, int]:
    """``{"net/http.Request.Method": 0, ...}`` for each ``<struct type>.<field>`` found in the DWARF."""
    wanted: dict[str, set[str]] = {}
    for qualified in fields:
        struct_name, _, field_name = qualified.rpartition(".")
        wanted.setdefault(struct_name, set()).add(field_name)
    found: dict[str, int] = {}
    pending = set(wanted)
    dwarf = image.elf.get_dwarf_info()
    units = list(dwarf.iter_CUs())
    # Go's linker puts type DIEs in units named "runtime"; look there first, the rest only if need be.
    units.sort(key=lambda cu: _unit_name(cu) != "runtime")
    for cu in units:
        for die in cu.get_top_DIE().iter_children():
            if die.tag != "DW_TAG_structure_type":
                continue
            name_attr = die.attributes.get("DW_AT_name")
            if name_attr is None:
                continue
            name = name_attr.value.decode(errors="replace")
            if name not in pending:
                continue
            pending.discard(name)
            for member in die.iter_children():
                if member.tag != "DW_TAG_member" or "DW_AT_name" not in member.attributes:
                    continue
                member_name = member.attributes["DW_AT_name"].value.decode(errors="replace")
                offset = _member_offset(member)
                if member_name in wanted[name] and offset is not None:
                    found[f"{name}.{member_name}"] = offset
            if not pending:
                return found
    return found
