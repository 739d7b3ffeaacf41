"""BCC: import it and compile the tracer program into a :class:`~ebpf.artifact.Compiled` (helper side only).

Only the short-lived helper process (:mod:`ebpf.helper`) imports this module's BCC: libbcc links LLVM and
clang, about 80 MiB resident for as long as the process lives. The agent loads the compiled instructions
itself (:mod:`ebpf.program`) and never maps them.

BCC is Debian's ``python3-bpfcc``: pure Python over ``libbcc.so`` (ctypes), installed for Debian's own
Python. The PyPI package named ``bcc`` is unrelated. When ``import bcc`` fails (a virtualenv on another
interpreter), only the ``bcc`` package directory is loaded from Debian's dist-packages by path, so none of
Debian's other Python packages leak into the environment.
"""

from __future__ import annotations

import ctypes
import importlib.util
import os
import sys
import time
from pathlib import Path
from types import ModuleType
from typing import Any

from ebpf import artifact, bpfsys
from ebpf.errors import BccUnavailable

DEBIAN_BCC = (Path("/usr/lib/python3/dist-packages/bcc"), Path("/usr/lib/python3/site-packages/bcc"))


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


def compile_program(key: str, source: Path = artifact.PROGRAM) -> artifact.Compiled:
    """Compile with BCC and take the instructions and map shapes out; nothing is loaded or attached."""
    bcc = import_bcc()
    build = Path(f"/lib/modules/{os.uname().release}/build")
    if not build.exists():
        raise BccUnavailable(
            f"kernel headers missing: {build} does not exist (link linux-headers-amd64 there; "
            "`make setup` does it)"
        )
    started = time.monotonic()
    try:
        bpf: Any = bcc.BPF(src_file=str(source).encode(), cflags=list(artifact.CFLAGS))
    except Exception as exc:
        raise BccUnavailable(f"compiling the BPF program failed: {exc}") from exc
    lib = bcc.libbcc.lib
    module = bpf.module
    functions: dict[str, bytes] = {}
    for index in range(lib.bpf_num_functions(module)):
        name = lib.bpf_function_name(module, index)
        start, size = lib.bpf_function_start(module, name), lib.bpf_function_size(module, name)
        if start and size:
            functions[name.decode()] = ctypes.string_at(start, size)
    fds = {
        insn_imm
        for code in functions.values()
        for insn_imm in _map_fds(code)
    }  # fmt: skip
    maps: dict[str, artifact.MapSpec] = {}
    names: dict[int, str] = {}
    for fd in sorted(fds):
        info = bpfsys.map_info(fd)
        spec = artifact.MapSpec(
            name=str(info["name"]),
            type=int(info["type"]),
            key_size=int(info["key_size"]),
            value_size=int(info["value_size"]),
            max_entries=int(info["max_entries"]),
            flags=int(info["flags"]),
        )
        if spec.name in maps:
            raise artifact.ArtifactError(f"two maps are named {spec.name} (names are cut at 15 characters)")
        maps[spec.name] = spec
        names[fd] = spec.name
    programs = {name: artifact.extract_program(name, code, names) for name, code in functions.items()}
    compiled = artifact.Compiled(
        key=key,
        license=(lib.bpf_module_license(module) or b"GPL").decode(),
        kern_version=int(lib.bpf_module_kern_version(module)),
        maps=maps,
        programs=programs,
        compile_seconds=round(time.monotonic() - started, 3),
    )
    bpf.cleanup()
    return compiled


def _map_fds(code: bytes) -> set[int]:
    found: set[int] = set()
    for index in range(0, len(code) - 7, 8):
        opcode, regs, _off, imm = artifact.INSN.unpack_from(code, index)
        if opcode == artifact.BPF_LD_IMM64 and regs >> 4 == artifact.PSEUDO_MAP_FD:
            found.add(imm)
    return found
