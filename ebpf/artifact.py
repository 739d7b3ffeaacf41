"""The compiled tracer program as data: BPF instructions per function, the maps they use, where they use them.

BCC compiles ``gohttp.bpf.c`` (in a short-lived helper process, :mod:`ebpf.helper`) and creates the maps
in that process, patching each map's fd into the instructions that load it (``ld_imm64`` with
``src_reg = BPF_PSEUDO_MAP_FD``). :func:`extract` turns that into a :class:`Compiled`: the instructions
with those fds zeroed and a list of (instruction index, map name) relocations, plus each map's shape.
The long-lived agent creates its own maps from the shapes, patches in their fds and loads the
instructions (:mod:`ebpf.program`), so it never maps LLVM; and because a :class:`Compiled` is plain
data, it is cached on disk under a key naming the kernel, BCC and the program source, and reused by the
next agent start.

Pure data and functions; file I/O only in the cache functions at the end.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import os
import struct
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

FORMAT = 1
PROGRAM = Path(__file__).resolve().parent / "gohttp.bpf.c"
CFLAGS = ("-Wno-macro-redefined",)
BPF_LD_IMM64 = 0x18
BPF_CALL = 0x85
PSEUDO_MAP_FD = 1
PSEUDO_CALL = 1
INSN = struct.Struct("<BBhi")  # opcode, dst:4|src:4, offset, imm
BCC_PACKAGES = (Path("/usr/lib/python3/dist-packages/bcc"), Path("/usr/lib/python3/site-packages/bcc"))
LIBBCC = (Path("/usr/lib/x86_64-linux-gnu/libbcc.so.0"), Path("/usr/lib64/libbcc.so.0"))


class ArtifactError(ValueError):
    """The compiled program cannot be used as it is (an unsupported relocation, a damaged cache file)."""


@dataclass(frozen=True)
class MapSpec:
    name: str
    type: int
    key_size: int
    value_size: int
    max_entries: int
    flags: int


@dataclass(frozen=True)
class ProgramSpec:
    name: str
    insns: bytes  # map fds zeroed
    relocations: tuple[tuple[int, str], ...]  # (instruction index, map name)


@dataclass(frozen=True)
class Compiled:
    key: str
    license: str
    kern_version: int
    maps: dict[str, MapSpec]
    programs: dict[str, ProgramSpec]
    compile_seconds: float = 0.0

    def to_json(self) -> str:
        return json.dumps(
            {
                "format": FORMAT,
                "key": self.key,
                "license": self.license,
                "kern_version": self.kern_version,
                "compile_seconds": self.compile_seconds,
                "maps": [vars(m) for m in self.maps.values()],
                "programs": [
                    {
                        "name": p.name,
                        "insns": base64.b64encode(p.insns).decode(),
                        "relocations": [list(r) for r in p.relocations],
                    }
                    for p in self.programs.values()
                ],
            }
        )

    @classmethod
    def from_json(cls, text: str) -> Compiled:
        try:
            data: dict[str, Any] = json.loads(text)
            if data.get("format") != FORMAT:
                raise ArtifactError(f"compiled program format {data.get('format')}, expected {FORMAT}")
            maps = {m["name"]: MapSpec(**m) for m in data["maps"]}
            programs = {
                p["name"]: ProgramSpec(
                    p["name"],
                    base64.b64decode(p["insns"]),
                    tuple((int(i), str(n)) for i, n in p["relocations"]),
                )
                for p in data["programs"]
            }
            compiled = cls(
                data["key"], data["license"], int(data["kern_version"]), maps, programs,
                float(data.get("compile_seconds", 0.0)),
            )  # fmt: skip
        except (KeyError, TypeError, ValueError) as exc:
            if isinstance(exc, ArtifactError):
                raise
            raise ArtifactError(f"damaged compiled program: {exc}") from exc
        for program in programs.values():
            for _index, name in program.relocations:
                if name not in maps:
                    raise ArtifactError(f"program {program.name} uses map {name}, which is not described")
        return compiled


def extract_program(name: str, insns: bytes, map_names: dict[int, str]) -> ProgramSpec:
    """Zero the map fds in ``insns`` (as BCC left them: this process's fds) and record where they were."""
    if len(insns) % 8:
        raise ArtifactError(f"program {name}: {len(insns)} bytes is not a whole number of instructions")
    code = bytearray(insns)
    relocations: list[tuple[int, str]] = []
    index = 0
    count = len(code) // 8
    while index < count:
        opcode, regs, offset, imm = INSN.unpack_from(code, index * 8)
        src = regs >> 4
        if opcode == BPF_LD_IMM64:
            if src == PSEUDO_MAP_FD:
                if imm not in map_names:
                    raise ArtifactError(f"program {name} loads fd {imm}, which is no map of the module")
                relocations.append((index, map_names[imm]))
                INSN.pack_into(code, index * 8, opcode, regs, offset, 0)
            elif src != 0:
                raise ArtifactError(f"program {name}: ld_imm64 with src_reg {src} is not supported")
            index += 2  # ld_imm64 takes two instruction slots
            continue
        if opcode == BPF_CALL and src == PSEUDO_CALL:
            raise ArtifactError(f"program {name} calls a BPF subprogram; only inlined code is supported")
        index += 1
    return ProgramSpec(name, bytes(code), tuple(relocations))


def relocate(program: ProgramSpec, map_fds: dict[str, int]) -> bytes:
    """The instructions with this process's map fds patched in."""
    code = bytearray(program.insns)
    for index, name in program.relocations:
        opcode, regs, offset, _imm = INSN.unpack_from(code, index * 8)
        INSN.pack_into(code, index * 8, opcode, regs, offset, map_fds[name])
    return bytes(code)


# -- the cache -------------------------------------------------------------------------------------------


def _bcc_identity() -> str:
    """Which BCC would compile, without importing it (importing it maps LLVM)."""
    parts: list[str] = []
    for directory in BCC_PACKAGES:
        version = directory / "version.py"
        if version.exists():
            parts.append(version.read_text().strip())
            break
    for lib in LIBBCC:
        with contextlib.suppress(OSError):
            real = lib.resolve(strict=True)
            parts.append(f"{real}:{real.stat().st_size}")
            break
    return ";".join(parts) or "bcc:unknown"


def cache_key(source: bytes | None = None) -> str:
    """Names the kernel (release and build), its headers, BCC, the program source and flags."""
    uname = os.uname()
    build = Path(f"/lib/modules/{uname.release}/build")
    try:
        headers = str(build.resolve(strict=True))
    except OSError:
        headers = "missing"
    digest = hashlib.sha256()
    for part in (
        f"format={FORMAT}",
        uname.release,
        uname.version,
        uname.machine,
        headers,
        _bcc_identity(),
        " ".join(CFLAGS),
    ):
        digest.update(part.encode() + b"\0")
    digest.update(source if source is not None else PROGRAM.read_bytes())
    return digest.hexdigest()


def default_cache_dir() -> Path:
    explicit = os.environ.get("HODEGOS_EBPF_CACHE")
    if explicit:
        return Path(explicit)
    root = os.environ.get("HODEGOS_CACHE")
    return (Path(root) if root else Path.home() / ".cache" / "hodegos") / "ebpf-programs"


def cache_path(directory: Path, key: str) -> Path:
    return directory / f"gohttp-{key[:32]}.json"


def load_cached(directory: Path | None, key: str) -> Compiled | None:
    """The cached program for ``key``, or None (absent, unreadable or damaged: then it is compiled again)."""
    if directory is None:
        return None
    try:
        text = cache_path(directory, key).read_text()
        compiled = Compiled.from_json(text)
    except (OSError, ArtifactError):
        return None
    return compiled if compiled.key == key else None


def store(directory: Path | None, compiled: Compiled) -> Path | None:
    """Write the program to the cache atomically; None when the directory is not writable (not an error)."""
    if directory is None:
        return None
    try:
        directory.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=directory, prefix=".gohttp-", suffix=".tmp")
        with os.fdopen(fd, "w") as out:
            out.write(compiled.to_json())
        target = cache_path(directory, compiled.key)
        os.replace(tmp, target)
    except OSError:
        return None
    return target


def discard(directory: Path | None, key: str) -> None:
    if directory is not None:
        with contextlib.suppress(OSError):
            cache_path(directory, key).unlink()
