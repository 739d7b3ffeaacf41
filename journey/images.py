"""The demo's images: the shop's five services, its metrics-and-logs sink and Jaeger, as OCI archives.

Every image is busybox (so ``kubectl exec`` has a shell) plus a language runtime from this machine
(:mod:`toolchain.runtimes`, :mod:`toolchain.localimages`) plus the service's own files from ``demo/``:

======================  ==========================================================================
``frontend``            Node.js, ``demo/frontend/server.js``
``catalog``             CPython 3.11, Flask (pinned closure) in the image's ``dist-packages``, ``app.py``
``pricing``             a ``jlink`` Java runtime, ``Pricing.java`` compiled by ``javac``
``inventory``           the Go server, static, symbols kept (the eBPF tracer finds it by symbol)
``loadgen``             CPython 3.11, ``loadgen.py``
``sink``                CPython 3.11, ``opentelemetry-proto`` + ``protobuf``, ``demo/sink/sink.py``
``jaeger``              Jaeger v2 (``toolchain/pins/jaeger``, built from the Go module proxy)
======================  ==========================================================================

Python packages go into ``/usr/local/lib/python3.11/dist-packages`` (on the interpreter's default path)
rather than an image ``ENV PYTHONPATH``: the webhook sees a pod's env, not its image's, so an image-level
``PYTHONPATH`` would be shadowed by the agent's.
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from toolchain import images, localimages, runtimes
from toolchain import nodes as node_tools
from toolchain.cache import GoTool, Progress, cache_root, ensure, file_lock, run_logged

DEMO_DIR = Path(__file__).resolve().parent.parent / "demo"
REGISTRY = "hodegos-demo"
TAG = "1"
SITE_PACKAGES = "usr/local/lib/python3.11/dist-packages"

JAEGER_VERSION = "v1.76.0"
JAEGER = GoTool(
    name="jaeger", version=JAEGER_VERSION, binaries={"jaeger": "github.com/jaegertracing/jaeger/cmd/jaeger"}
)
SHOP = ("frontend", "catalog", "pricing", "inventory", "loadgen")
BACKEND = ("sink", "jaeger")


def ref(name: str) -> str:
    return f"{REGISTRY}/{name}:{TAG}"


def _digest(*paths: Path) -> str:
    h = hashlib.sha256()
    for base in paths:
        files = sorted(p for p in base.rglob("*") if p.is_file()) if base.is_dir() else [base]
        for path in files:
            h.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return h.hexdigest()[:12]


def _built(name: str, inputs: list[Path], build: Callable[[Path], None]) -> Path:
    """``<cache>/demo/<name>-<digest of inputs>``, made by ``build(directory)`` once."""
    target = cache_root() / "demo" / f"{name}-{_digest(*inputs)}"
    if target.is_dir():
        return target
    with file_lock(cache_root() / "demo" / f".{name}.lock"):
        if not target.is_dir():
            partial = target.with_name(target.name + ".partial")
            subprocess.run(["rm", "-rf", str(partial)], check=True)
            partial.mkdir(parents=True)
            build(partial)
            partial.rename(target)
    return target


def python_packages(requirements: Path) -> Path:
    """The wheels of ``requirements`` unpacked for CPython 3.11 on x86_64 (PyPI, binary wheels only)."""

    def install(out: Path) -> None:
        run_logged(
            [sys.executable, "-m", "pip", "install", "--quiet", "--no-compile", "--disable-pip-version-check",
             "--no-deps", "--target", str(out / "site"), "--python-version", "3.11", "--implementation", "cp",
             "--only-binary=:all:", "--platform", "manylinux2014_x86_64", "-r", str(requirements)],
            cwd=out, env={"PATH": "/usr/bin:/bin"}, log=out / "pip.log",
        )  # fmt: skip
        subprocess.run(["rm", "-rf", str(out / "site" / "bin")], check=True)

    return _built(f"pylib-{requirements.parent.name}", [requirements], install) / "site"


def java_classes(source: Path) -> Path:
    def compile_(out: Path) -> None:
        subprocess.run(["javac", "--release", "17", "-d", str(out), str(source)], check=True)

    return _built(f"classes-{source.stem.lower()}", [source], compile_)


def go_server(package_dir: Path) -> Path:
    def build(out: Path) -> None:
        runtimes.go_binary_build(package_dir, out / package_dir.name, log=out / "build.log")

    return _built(f"go-{package_dir.name}", [package_dir], build) / package_dir.name


def _tree(path: Path, prefix: str) -> list[images.Entry]:
    return images.entries_from_directory(path, prefix=prefix)


def _file(inside: str, source: Path, mode: int = 0o644) -> images.Entry:
    return images.Entry(inside.lstrip("/"), mode, source=source)


def _image(name: str) -> images.Image:
    """The image ``name`` (one of :data:`SHOP` or :data:`BACKEND`), built from its sources."""
    busybox = node_tools.busybox_layer()
    app = DEMO_DIR / name
    env = {"PATH": images.DEFAULT_PATH}
    if name == "frontend":
        layers = [runtimes.node_layer(), [_file("app/server.js", app / "server.js")]]
        cmd = ["node", "/app/server.js"]
    elif name == "catalog":
        site = python_packages(app / "requirements.txt")
        layers = [
            localimages.python_layer(),
            [*_tree(site, SITE_PACKAGES), _file("app/app.py", app / "app.py")],
        ]
        cmd = ["python3", "/app/app.py"]
    elif name == "pricing":
        layers = [runtimes.java_layer(), _tree(java_classes(app / "Pricing.java"), "app/classes")]
        cmd = ["java", "-cp", "/app/classes", "Pricing"]
    elif name == "inventory":
        layers = [[_file("app/inventory", go_server(app), 0o755)]]
        cmd = ["/app/inventory"]
    elif name == "loadgen":
        layers = [localimages.python_layer(), [_file("app/loadgen.py", app / "loadgen.py")]]
        cmd = ["python3", "/app/loadgen.py"]
    elif name == "sink":
        site = python_packages(app / "requirements.txt")
        layers = [
            localimages.python_layer(),
            [*_tree(site, SITE_PACKAGES), _file("app/sink.py", app / "sink.py")],
        ]
        cmd = ["python3", "/app/sink.py"]
    elif name == "jaeger":
        binary = ensure(JAEGER)["jaeger"]
        layers = [[_file("usr/local/bin/jaeger", binary, 0o755)]]
        cmd = ["jaeger", "--config", "/etc/jaeger/config.yaml"]
    else:
        raise images.ImageError(f"no demo image {name!r}: expected one of {', '.join(SHOP + BACKEND)}")
    return images.Image(ref(name), layers=[busybox, *layers], cmd=cmd, env=env)


def _inputs(name: str) -> list[object]:
    """What an image is made of, for the archive's cache key (sources, runtimes, pins)."""
    app = DEMO_DIR / name
    common: list[object] = [ref(name), node_tools.BUSYBOX, Path(__file__)]
    if name in ("catalog", "loadgen", "sink"):
        common += [localimages.PYTHON, localimages.STDLIB, Path(localimages.__file__)]  # the layer's make-up
    if name == "frontend":
        common += [runtimes.NODE]
    if name == "pricing":
        common += [runtimes.java_version()]
    if name == "jaeger":
        common += [JAEGER.digest()]
    return [*common, app] if app.is_dir() else common


def archive(name: str, progress: Progress | None = None) -> Path:
    """The OCI archive of demo image ``name``, written once per change of its inputs."""
    say = progress or (lambda _msg: None)
    inputs = _inputs(name)
    directory = cache_root() / "images"
    digest = hashlib.sha256(repr([str(i) for i in inputs]).encode())
    for item in inputs:
        if isinstance(item, Path):
            digest.update(_digest(item).encode())
    target = directory / f"demo-{name}-{digest.hexdigest()[:12]}.tar"
    if target.is_file():
        return target
    with file_lock(directory / f".demo-{name}.lock"):
        if not target.is_file():
            say(f"making image {ref(name)}")
            images.write_archive(_image(name), target)
    return target


def archives(names: tuple[str, ...] = SHOP + BACKEND, progress: Progress | None = None) -> dict[str, Path]:
    """Image reference -> archive for ``names`` (each built only when its inputs changed)."""
    return {ref(name): archive(name, progress) for name in names}
