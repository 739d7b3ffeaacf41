"""Every RET instruction of a function, found by linear disassembly with capstone.

Go emits no data inside ``.text`` and pads between functions with ``int3``, so a linear sweep from the
entry decodes the whole body. The tracer places a uprobe on each address returned here instead of a
uretprobe: a uretprobe rewrites the return address on the stack, and Go's stack copying then finds a
foreign PC and kills the process ("unexpected return pc").
"""

from __future__ import annotations

import capstone

_DISASSEMBLER = capstone.Cs(capstone.CS_ARCH_X86, capstone.CS_MODE_64)


def find_returns(code: bytes, address: int) -> list[int]:
    """Addresses of the ``ret`` instructions in ``code`` (a function body starting at ``address``)."""
    found: list[int] = []
    pos = 0
    while pos < len(code):
        last_end = pos
        for insn_addr, size, mnemonic, _ops in _DISASSEMBLER.disasm_lite(code[pos:], address + pos):
            if mnemonic in ("ret", "retq"):
                found.append(insn_addr)
            last_end = insn_addr - address + size
        # capstone stops at bytes it cannot decode (never seen in Go code); step over one and go on.
        pos = max(last_end, pos) + (1 if last_end < len(code) else 0)
        if last_end >= len(code):
            break
    return found
