"""Language runtime layers for local images, from the runtimes installed on this machine.

- :func:`node_layer`: Debian's (or the installed) Node.js binary and the shared libraries it links;
- :func:`java_layer`: a Java runtime made by ``jlink`` from this machine's JDK, with the modules a JDK
  ``HttpServer`` app and the OpenTelemetry Java agent need (instrumentation, management, JFR for runtime
  metrics), cached under ``<cache>/jre-<version>-<digest>``, and the libraries its native code links;
- :func:`go_binary`: a Go program of ours built static, with its symbol table kept (the node agent's eBPF
  tracer finds a Go server's functions by symbol, so ``-s -w`` must not be used for apps).

Each layer also carries the dynamic loader, so an image needs nothing from the host at run time. The Python
layer lives in :mod:`toolchain.localimages`.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
from collections.abc import Iterable, Sequence
from pathlib import Path

from toolchain import images
from toolchain.cache import ToolBuildError, cache_root, file_lock, go_binary, run_logged

LOADER = Path("/lib64/ld-linux-x86-64.so.2")
NODE = Path("/usr/bin/node")
JAVA_MODULES = (
    "java.se",
    "jdk.httpserver",
    "jdk.management",
    "jdk.management.jfr",
    "jdk.jfr",
    "jdk.unsupported",
    "jdk.crypto.ec",
    "jdk.zipfs",
    "jdk.attach",
)
# Native parts of the JDK a headless server never loads; their X11 and sound libraries stay out.
_DESKTOP_ONLY = re.compile(r"lib(awt_xawt|splashscreen|jsound|jawt|fontmanager)\.so$")


def shared_libraries(binaries: Iterable[Path]) -> set[Path]:
    """The libraries ``ldd`` resolves for ``binaries`` (paths outside them; unresolved ones are skipped)."""
    found: set[Path] = set()
    for binary in binaries:
        done = subprocess.run(["ldd", str(binary)], capture_output=True, text=True, check=False)
        for match in re.finditer(r"=> (/\S+)", done.stdout):
            found.add(Path(match.group(1)))
    return found


def library_entries(binaries: Iterable[Path], *, inside: Sequence[Path] = ()) -> list[images.Entry]:
    """Image entries for the libraries of ``binaries`` and the loader, under ``usr/lib`` (merged /usr).

    Libraries found under one of ``inside`` (the runtime's own tree) are already in the image and skipped.
    """
    entries = [images.Entry(LOADER.as_posix().lstrip("/"), 0o755, source=LOADER.resolve())]
    for library in sorted(shared_libraries(binaries)):
        if any(library.resolve().is_relative_to(root.resolve()) for root in inside):
            continue
        path = library.as_posix().lstrip("/")
        path = path if path.startswith("usr/") else f"usr/{path}"
        entries.append(images.Entry(path, 0o755, source=library.resolve()))
    return entries


def node_version(node: Path = NODE) -> str:
    done = subprocess.run([str(node), "--version"], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise images.ImageError(f"{node} does not run: {done.stderr.strip()}")
    return done.stdout.strip().lstrip("v")


def node_layer(node: Path = NODE) -> list[images.Entry]:
    """Node.js from this machine at ``/usr/bin/node`` with its libraries."""
    if not node.is_file():
        raise images.ImageError(f"{node} is missing: Node.js is needed for the Node.js image")
    return [images.Entry("usr/bin/node", 0o755, source=node.resolve()), *library_entries([node])]


def _jdk_home() -> Path:
    jlink = shutil.which("jlink")
    if not jlink:
        raise images.ImageError("jlink is missing: a JDK (with jmods) is needed for the Java image")
    home = Path(jlink).resolve().parent.parent
    if not (home / "jmods").is_dir():
        raise images.ImageError(f"{home} has no jmods: install the full JDK (openjdk-17-jdk), not only a JRE")
    return home


def java_version(home: Path | None = None) -> str:
    release = (home or _jdk_home()) / "release"
    match = re.search(r'^JAVA_VERSION="([^"]+)"', release.read_text(), re.MULTILINE)
    if not match:
        raise images.ImageError(f"{release} does not name JAVA_VERSION")
    return match.group(1)


def java_runtime() -> Path:
    """A ``jlink`` runtime of :data:`JAVA_MODULES`, built once per JDK and module set."""
    home = _jdk_home()
    version = java_version(home)
    digest = hashlib.sha256(repr((version, JAVA_MODULES, str(home))).encode()).hexdigest()[:12]
    target = cache_root() / f"jre-{version}-{digest}"
    if (target / "bin" / "java").is_file():
        return target
    with file_lock(cache_root() / ".jre.lock"):
        if (target / "bin" / "java").is_file():
            return target
        partial = target.with_name(target.name + ".partial")
        shutil.rmtree(partial, ignore_errors=True)
        partial.parent.mkdir(parents=True, exist_ok=True)
        log = cache_root() / f"jre-{version}-{digest}.log"
        run_logged(
            [str(home / "bin" / "jlink"), "--add-modules", ",".join(JAVA_MODULES), "--strip-debug",
             "--no-man-pages", "--no-header-files", "--compress=2", "--output", str(partial)],
            cwd=cache_root(), env=dict(os.environ), log=log,
        )  # fmt: skip
        partial.rename(target)
    return target


def java_layer(prefix: str = "opt/java") -> list[images.Entry]:
    """The ``jlink`` runtime at ``/<prefix>`` (``java`` on PATH via ``/usr/bin/java``) and its libraries."""
    runtime = java_runtime()
    tree = images.entries_from_directory(runtime, prefix=prefix)
    natives = [runtime / "bin" / "java", *runtime.glob("lib/**/*.so")]
    natives = [path for path in natives if not _DESKTOP_ONLY.search(path.name)]
    return [
        *tree,
        images.Entry("usr/bin/java", link=f"/{prefix}/bin/java"),
        *library_entries(natives, inside=[runtime]),
    ]


def go_binary_build(package_dir: Path, out: Path, *, log: Path) -> Path:
    """Build the Go main package in ``package_dir`` to ``out``: static, trimmed paths, symbols kept."""
    if out.is_file() and out.stat().st_mtime >= max(p.stat().st_mtime for p in package_dir.iterdir()):
        return out
    out.parent.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "CGO_ENABLED": "0", "GOFLAGS": "-mod=mod"}
    try:
        run_logged(
            [go_binary(), "build", "-trimpath", "-o", str(out), "."], cwd=package_dir, env=env, log=log
        )
    except ToolBuildError as exc:
        raise images.ImageError(str(exc)) from exc
    return out
