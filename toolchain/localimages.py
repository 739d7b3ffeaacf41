"""Images Hodegos makes for its own local clusters, from files already on this machine.

- the **agent images** (``<registry>/agent-<lang>:<version>``, what the webhook's init container runs): the
  tree a recipe in ``toolchain/recipes/<lang>/`` built (:mod:`toolchain.agents`) over the busybox layer, so
  the init container's ``cp`` exists; the same layout as the recipe's Dockerfile;
- a **Python runtime** layer: Debian's CPython 3.11 (``/usr/bin/python3.11``, its standard library, and the
  shared libraries ``ldd`` names for it and its extension modules), for small test and demo apps;
- :func:`app_image`: files of an app over those layers.

Archives are written with :mod:`toolchain.images` into ``<cache>/images/<name>-<digest>.tar`` (the digest
covers every input file), so an unchanged image is never re-packed.
"""

from __future__ import annotations

import hashlib
import re
import subprocess
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from toolchain import agents, images
from toolchain import nodes as node_tools
from toolchain.cache import cache_root, file_lock

PYTHON = Path("/usr/bin/python3.11")
STDLIB = Path("/usr/lib/python3.11")
LOADER = Path("/lib64/ld-linux-x86-64.so.2")
_SKIP = {"test", "idlelib", "tkinter", "turtledemo", "ensurepip", "lib2to3", "__pycache__"}
AGENT_USER = "65532:65532"
GLIBC_BASE = (
    "libc.so.6",
    "libm.so.6",
    "libpthread.so.0",
    "libdl.so.2",
    "librt.so.1",
    "libutil.so.1",
    "libgcc_s.so.1",
)


def _shared_libraries(binaries: Sequence[Path]) -> set[Path]:
    found: set[Path] = set()
    for binary in binaries:
        done = subprocess.run(["ldd", str(binary)], capture_output=True, text=True, check=False)
        for match in re.finditer(r"=> (/\S+)", done.stdout):
            found.add(Path(match.group(1)))  # the soname path; its content is read through links
    return found


def python_layer() -> list[images.Entry]:
    """CPython 3.11 from this machine: the interpreter, its standard library and its libraries."""
    if not PYTHON.is_file():
        raise images.ImageError(f"{PYTHON} is missing: Debian's python3.11 is needed for the Python image")
    entries = [
        images.Entry("usr/bin/python3.11", 0o755, source=PYTHON),
        images.Entry("usr/bin/python3", link="python3.11"),
        images.Entry("usr/bin/python", link="python3.11"),
        images.Entry(LOADER.as_posix().lstrip("/"), 0o755, source=LOADER.resolve()),
    ]
    extensions: list[Path] = []
    for entry in images.entries_from_directory(STDLIB, prefix=STDLIB.as_posix()):
        if _SKIP & set(Path(entry.path).parts):
            continue
        entries.append(entry)
        if entry.source is not None and entry.path.endswith(".so"):
            extensions.append(entry.source)
    libraries: dict[str, Path] = {}
    for library in sorted(_shared_libraries([PYTHON, *extensions])):
        # Merged /usr: /lib is /usr/lib here; the image keeps one real copy under usr/lib.
        inside = library.as_posix().lstrip("/")
        libraries[inside if inside.startswith("usr/") else f"usr/{inside}"] = library.resolve()
    # What every glibc base image has, and binary wheels (manylinux) may link against: the agent's psutil
    # needs libpthread.so.0, which CPython itself no longer names.
    base = LOADER.resolve().parent
    for name in GLIBC_BASE:
        if (base / name).is_file():
            libraries.setdefault(f"usr/{base.relative_to('/usr')}/{name}", (base / name).resolve())
    entries += [images.Entry(inside, 0o755, source=source) for inside, source in sorted(libraries.items())]
    return entries


def _digest(parts: Sequence[object]) -> str:
    h = hashlib.sha256(b"localimages-3")  # bumped when a layer's make-up changes
    for part in parts:
        if isinstance(part, Path) and part.is_dir():
            for path in sorted(p for p in part.rglob("*") if p.is_file()):
                h.update(path.relative_to(part).as_posix().encode())
                h.update(str(path.stat().st_size).encode() + str(int(path.stat().st_mtime)).encode())
        elif isinstance(part, Path) and part.is_file():
            h.update(part.read_bytes())
        else:
            h.update(repr(part).encode())
    return h.hexdigest()[:12]


def _cached(name: str, inputs: Sequence[object], build: Callable[[], images.Image]) -> Path:
    directory = cache_root() / "images"
    target = directory / f"{name}-{_digest(inputs)}.tar"
    if target.is_file():
        return target
    with file_lock(directory / f".{name}.lock"):
        if not target.is_file():
            images.write_archive(build(), target)
    return target


def agent_ref(language: str, registry: str = "hodegos") -> str:
    return f"{registry}/agent-{language}:{agents.pinned_version(language)}"


def agent_archive(language: str, registry: str = "hodegos") -> Path:
    """The agent image of ``language`` as the webhook names it, built from its recipe's tree."""
    root = agents.build(language)
    ref = agent_ref(language, registry)

    def build() -> images.Image:
        return images.Image(
            ref,
            layers=[node_tools.busybox_layer(), images.entries_from_directory(root)],
            user=AGENT_USER,
            cmd=["sh"],
        )

    return _cached(f"agent-{language}", [ref, root, node_tools.BUSYBOX], build)


def app_image(
    ref: str,
    files: Mapping[str, Path | bytes],
    *,
    python: bool = True,
    cmd: list[str] | None = None,
    env: Mapping[str, str] | None = None,
) -> Path:
    """An app image: busybox, CPython (unless ``python=False``), then ``files`` ({path: file or bytes})."""
    app = [
        images.Entry(path.lstrip("/"), 0o755, data=value) if isinstance(value, bytes)
        else images.Entry(path.lstrip("/"), 0o644, source=value)
        for path, value in sorted(files.items())
    ]  # fmt: skip
    base_env = {"PATH": images.DEFAULT_PATH, **(env or {})}

    def build() -> images.Image:
        layers = [node_tools.busybox_layer(), *([python_layer()] if python else []), app]
        return images.Image(ref, layers=layers, cmd=cmd, env=base_env)

    inputs: list[object] = [ref, python, cmd, sorted(base_env.items()), node_tools.BUSYBOX]
    for path, value in sorted(files.items()):
        inputs += [path, value if isinstance(value, Path) else hashlib.sha256(value).hexdigest()]
    if python:
        inputs += [PYTHON, STDLIB]
    safe = re.sub(r"[^a-z0-9.-]+", "-", ref.lower()).strip("-")
    return _cached(safe, inputs, build)
