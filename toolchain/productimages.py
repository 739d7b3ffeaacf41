"""Hodegos's own images, what the chart runs: ``hodegos``, ``hodegos-agent``, ``hodegos-collector``.

- **hodegos** (webhook, controllers, UI; the chart's ``args`` pick the role): busybox (a shell for
  ``kubectl exec``), Debian's CPython 3.11 with its standard library, the runtime dependencies pinned with
  hashes in ``toolchain/recipes/hodegos/requirements.txt`` (cp311 manylinux wheels, installed with ``pip
  install --target --platform``), Hodegos's packages and htmx for the UI; user 65532.
- **hodegos-agent** (the node agent): the same layers, plus Debian's BCC (the ``bcc`` Python package,
  ``libbcc`` and the LLVM and clang libraries it links). Kernel headers are not in the image: BCC compiles
  against the node's, which the chart mounts (``/lib/modules``, ``/usr/src``). It runs as root (the chart
  says why), with only the capabilities BPF needs.
- **hodegos-collector**: busybox, CA certificates and the pinned collector build (:mod:`toolchain.otelcol`)
  as the entrypoint, so the controllers' ``--config=`` argument is all a collector pod needs; user 65532.

Every ``.py`` file is compiled to a hash-checked ``.pyc`` (``--invalidation-mode unchecked-hash``): the
layers' fixed mtimes would make timestamp-checked ones stale, and a read-only root file system could not
rewrite them, so each start would compile everything again. Layers are shared (same bytes, same digest)
between the two Python images, so a node stores them once. The output is deterministic: the same inputs
give the same digests (a test builds twice). Archives land in ``<cache>/images/<name>-<digest>.tar``,
tagged ``hodegos/<name>:<version of pyproject.toml>``.

``python -m toolchain.productimages [build [NAME...] | lock]`` (``make images``, ``hodegos images``).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import runpy
import shutil
import subprocess
import sys
import tempfile
import tomllib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from toolchain import images, localimages, otelcol, runtimes
from toolchain import nodes as node_tools
from toolchain.cache import Progress, cache_root, file_lock, run_logged

ROOT = Path(__file__).resolve().parent.parent
PYPROJECT = ROOT / "pyproject.toml"
RECIPES = Path(__file__).resolve().parent / "recipes"
LOCK = RECIPES / "hodegos" / "requirements.txt"
REGISTRY = "hodegos"
NAMES = ("hodegos", "hodegos-agent", "hodegos-collector")
SITE = "usr/local/lib/python3.11/dist-packages"  # on Debian's interpreter's default sys.path
STDLIB = "usr/lib/python3.11"
HTMX_PATH = "usr/share/hodegos/htmx.min.js"
CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")
BCC_PACKAGE = Path("/usr/lib/python3/dist-packages/bcc")
LIBBCC = Path("/usr/lib/x86_64-linux-gnu/libbcc.so.0")
DEBIAN_PACKAGES = ("python3.11-minimal", "libpython3.11-stdlib", "busybox-static", "ca-certificates")
BCC_PACKAGES = ("python3-bpfcc", "libbpfcc")
# Wheels for Debian bookworm's glibc (2.36): any manylinux tag up to it.
PLATFORMS = ("manylinux2014_x86_64", *(f"manylinux_2_{minor}_x86_64" for minor in range(17, 37)))
UID = 65532
USER = f"{UID}:{UID}"
# Parts of the standard library no component imports: tests, GUIs, build support, docs, 2to3.
STDLIB_SKIP = {
    "test", "idlelib", "tkinter", "turtledemo", "ensurepip", "lib2to3", "distutils", "pydoc_data",
    "__pycache__", "config-3.11-x86_64-linux-gnu", "sitecustomize.py",
}  # fmt: skip
# Parts of the dependencies nothing imports: the Kubernetes client's asyncio twin (68 MiB; Hodegos uses the
# synchronous client's transport only) and test suites.
SITE_SKIP = ("kubernetes/aio", "*/tests", "*/test")
RECIPE = "1"  # bump when what goes into a layer changes in a way the inputs below do not show


def project_version() -> str:
    """The version in pyproject.toml: the tag of every image, and the chart's appVersion."""
    return str(tomllib.loads(PYPROJECT.read_text())["project"]["version"])


def ref(name: str, registry: str = REGISTRY, tag: str | None = None) -> str:
    return f"{registry}/{name}:{tag or project_version()}"


def packages() -> list[str]:
    """Hodegos's top-level packages (pyproject's ``include`` patterns), as a wheel would hold them."""
    patterns = tomllib.loads(PYPROJECT.read_text())["tool"]["setuptools"]["packages"]["find"]["include"]
    return [p.rstrip("*") for p in patterns]


def _data_suffixes() -> tuple[str, ...]:
    globs = tomllib.loads(PYPROJECT.read_text())["tool"]["setuptools"]["package-data"]["*"]
    return tuple(g.lstrip("*") for g in globs)


def _debian_versions(names: Iterable[str]) -> str:
    done = subprocess.run(
        ["dpkg-query", "-W", "-f", "${Package}=${Version}\n", *names], capture_output=True, text=True
    )
    return done.stdout


# -- the lock ---------------------------------------------------------------------------------------------


def _closure() -> list[str]:
    """``name==version`` of Hodegos's runtime dependency closure as installed in this virtualenv."""
    from importlib import metadata

    from packaging.requirements import Requirement

    todo = [Requirement(r) for r in tomllib.loads(PYPROJECT.read_text())["project"]["dependencies"]]
    seen: dict[str, str] = {}
    while todo:
        req = todo.pop()
        if req.marker is not None and not req.marker.evaluate({"extra": ""}):
            continue
        name = req.name.lower().replace("_", "-")
        if name in seen:
            continue
        dist = metadata.distribution(name)
        seen[name] = dist.version
        todo += [Requirement(r) for r in dist.requires or []]
    return sorted(f"{k}=={v}" for k, v in seen.items())


def _pip_platform() -> list[str]:
    args = ["--only-binary=:all:", "--python-version", "3.11", "--implementation", "cp", "--abi", "cp311"]
    args += ["--abi", "abi3", "--abi", "none"]
    return args + [arg for p in PLATFORMS for arg in ("--platform", p)]


def write_lock(progress: Progress | None = None) -> Path:
    """Pin the closure at this virtualenv's versions, with the sha256 of each one's Linux cp311 wheel."""
    say = progress or (lambda _m: None)
    pins = _closure()
    say(f"downloading {len(pins)} wheels to hash them")
    with tempfile.TemporaryDirectory(prefix="hodegos-lock-") as tmp:
        cmd = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--dest", tmp]
        log = Path(tmp) / "log"
        run_logged([*cmd, *_pip_platform(), *pins], cwd=Path(tmp), env=dict(os.environ), log=log)
        wheels = {}
        for wheel in Path(tmp).glob("*.whl"):
            name = wheel.name.split("-")[0].lower().replace("_", "-")
            wheels[name] = hashlib.sha256(wheel.read_bytes()).hexdigest()
    lines = [
        "# The hodegos and hodegos-agent images' Python dependencies: Hodegos's runtime closure, as cp311",
        "# manylinux wheels. Generated by `hodegos images lock` from the virtualenv's versions; do not edit.",
    ]
    for pin in pins:
        name = pin.split("==")[0]
        if name not in wheels:
            raise images.ImageError(f"no cp311 manylinux wheel was downloaded for {pin}")
        lines.append(f"{pin} --hash=sha256:{wheels[name]}")
    LOCK.write_text("\n".join(lines) + "\n")
    return LOCK


def lock_drift() -> list[str]:
    """Pins of the lock that differ from this virtualenv (what the tests ran), ``name: lock != venv``."""
    locked = {
        line.split("==")[0]: line.split("==")[1].split()[0]
        for line in LOCK.read_text().splitlines()
        if "==" in line and not line.startswith("#")
    }
    installed = dict(pin.split("==") for pin in _closure())
    names = sorted(set(locked) | set(installed))
    return [
        f"{n}: {locked.get(n, 'absent')} != {installed.get(n, 'absent')}"
        for n in names
        if locked.get(n) != installed.get(n)
    ]


# -- staging trees (cached), compiled ---------------------------------------------------------------------


def _compile(tree: Path, image_dir: str, log: Path) -> None:
    """Compile every .py under ``tree`` with the image's interpreter, as it will be seen at ``image_dir``.

    One process (no ``-j``): marshal output can depend on a process's interning history.
    """
    cmd = [str(localimages.PYTHON), "-m", "compileall", "-q", "-f", "--invalidation-mode", "unchecked-hash",
           "-s", str(tree), "-p", f"/{image_dir}", str(tree)]  # fmt: skip
    env = {"PATH": "/usr/bin:/bin", "PYTHONHASHSEED": "0", "SOURCE_DATE_EPOCH": "0"}
    run_logged(cmd, cwd=tree, env=env, log=log)


def _staged(kind: str, inputs: Sequence[object], fill: Callable[[Path, Path], None]) -> Path:
    """A staging tree ``<cache>/image-stage/<kind>-<digest>/tree`` made once by ``fill(tree, log)``."""
    digest = hashlib.sha256(repr([RECIPE, *inputs]).encode()).hexdigest()[:12]
    base = cache_root() / "image-stage"
    target = base / f"{kind}-{digest}"
    if (target / ".done").is_file():
        return target / "tree"
    base.mkdir(parents=True, exist_ok=True)
    with file_lock(base / f".{kind}.lock"):
        if not (target / ".done").is_file():
            shutil.rmtree(target, ignore_errors=True)
            (target / "tree").mkdir(parents=True)
            fill(target / "tree", target / "build.log")
            (target / ".done").write_text("ok\n")
    return target / "tree"


def stdlib_tree() -> Path:
    """Debian's standard library, trimmed (:data:`STDLIB_SKIP`) and compiled."""

    def fill(tree: Path, log: Path) -> None:
        source = localimages.STDLIB

        def ignore(directory: str, names: list[str]) -> set[str]:
            skipped = {n for n in names if n in STDLIB_SKIP}
            if Path(directory).name == "lib-dynload":
                skipped |= {n for n in names if n.startswith(("_test", "xxlimited", "_ctypes_test"))}
            return skipped

        shutil.copytree(source, tree / STDLIB, symlinks=True, ignore=ignore)
        _compile(tree / STDLIB, STDLIB, log)

    return _staged("stdlib", [_debian_versions(["libpython3.11-stdlib"]), sorted(STDLIB_SKIP)], fill)


def site_tree() -> Path:
    """The locked dependencies, installed for CPython 3.11 on x86_64 from binary wheels, compiled."""

    def fill(tree: Path, log: Path) -> None:
        site = tree / SITE
        cmd = [sys.executable, "-m", "pip", "install", "--quiet", "--no-compile", "--no-deps",
               "--disable-pip-version-check", "--require-hashes", "--target", str(site), *_pip_platform(),
               "-r", str(LOCK)]  # fmt: skip
        run_logged(cmd, cwd=tree, env=dict(os.environ), log=log)
        shutil.rmtree(site / "bin", ignore_errors=True)  # console scripts of the dependencies
        for unused in SITE_SKIP:
            for path in site.glob(unused):
                shutil.rmtree(path)
        for cache in site.rglob("__pycache__"):
            shutil.rmtree(cache, ignore_errors=True)
        _compile(site, SITE, log)

    return _staged("site", [LOCK.read_bytes(), PLATFORMS, SITE_SKIP], fill)


def _source_files() -> list[tuple[str, Path]]:
    """(path in the image, file) for Hodegos's packages: ``.py`` files and the package data pyproject
    names."""
    suffixes = (".py", *_data_suffixes())
    found = []
    for package in packages():
        for path in sorted((ROOT / package).rglob("*")):
            rel = path.relative_to(ROOT)
            if "__pycache__" in rel.parts or not path.is_file() or path.name.startswith("."):
                continue
            if path.name.endswith(suffixes) or path.name == "Dockerfile":
                found.append((f"{SITE}/{rel.as_posix()}", path))
    return found


def _source_digest() -> str:
    h = hashlib.sha256()
    for inside, path in _source_files():
        h.update(inside.encode() + b"\0" + hashlib.sha256(path.read_bytes()).digest())
    return h.hexdigest()


def source_tree() -> Path:
    """Hodegos's packages, compiled, with the distribution's metadata and the ``hodegos`` command."""
    version = project_version()

    def fill(tree: Path, log: Path) -> None:
        for inside, path in _source_files():
            (tree / inside).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, tree / inside)
        info = tree / SITE / f"hodegos-{version}.dist-info"
        info.mkdir(parents=True)
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: hodegos\nVersion: {version}\n")
        (info / "entry_points.txt").write_text("[console_scripts]\nhodegos = cli.main:app\n")
        (info / "top_level.txt").write_text("\n".join(packages()) + "\n")
        _compile(tree / SITE, SITE, log)
        script = tree / "usr" / "local" / "bin" / "hodegos"
        script.parent.mkdir(parents=True)
        script.write_text(
            "#!/usr/bin/python3.11 -sP\nimport sys\nfrom cli.main import app\nsys.exit(app())\n"
        )
        script.chmod(0o755)

    return _staged("source", [_source_digest(), version], fill)


# -- layers -----------------------------------------------------------------------------------------------


def base_layer() -> list[images.Entry]:
    """Users (root, nonroot 65532), CA certificates, a writable ``/tmp`` and the non-root user's home."""
    if not CA_BUNDLE.is_file():
        raise images.ImageError(f"{CA_BUNDLE} is missing: install Debian's ca-certificates")
    passwd = (
        "root:x:0:0:root:/root:/bin/sh\n"
        f"nonroot:x:{UID}:{UID}:nonroot:/home/nonroot:/bin/false\n"
        "nobody:x:65534:65534::/:/bin/false\n"
    )
    group = f"root:x:0:\nnonroot:x:{UID}:\nnobody:x:65534:\n"
    return [
        images.Entry("etc/passwd", data=passwd.encode()),
        images.Entry("etc/group", data=group.encode()),
        images.Entry("etc/ssl/certs/ca-certificates.crt", source=CA_BUNDLE),
        images.Entry("tmp", 0o1777, directory=True),
        images.Entry("home/nonroot", 0o700, directory=True, uid=UID, gid=UID),
    ]


def python_layer() -> list[images.Entry]:
    """CPython 3.11: the interpreter, its libraries (:func:`toolchain.localimages.python_layer`) and the
    compiled standard library."""
    runtime = [e for e in localimages.python_layer() if not e.path.startswith(f"{STDLIB}/")]
    return [*runtime, *images.entries_from_directory(stdlib_tree())]


def site_layer() -> list[images.Entry]:
    """The dependencies and the system libraries their compiled extensions link."""
    tree = site_tree()
    natives = sorted(p for p in (tree / SITE).rglob("*.so*") if p.is_file())
    return [*images.entries_from_directory(tree), *runtimes.library_entries(natives, inside=[tree])]


def htmx_layer() -> list[images.Entry]:
    # The pin lives with the UI; that one file is read on its own (build tooling sits below the ui layer).
    pin = runpy.run_path(str(ROOT / "ui" / "assets.py"))
    path = Path(pin["cached_htmx"]())
    if not path.is_file():
        raise images.ImageError("htmx is not fetched yet: run `make setup` (.ci/setup.d/50-ui.sh)")
    return [images.Entry(HTMX_PATH, 0o644, source=path)]


def bcc_layer() -> list[images.Entry]:
    """Debian's BCC: the Python package (on the default path), libbcc and every library it links."""
    if not BCC_PACKAGE.is_dir() or not LIBBCC.is_file():
        raise images.ImageError("Debian's BCC is missing (python3-bpfcc): the node agent image needs it")
    package = [
        e
        for e in images.entries_from_directory(BCC_PACKAGE, prefix=BCC_PACKAGE.as_posix().lstrip("/"))
        if "__pycache__" not in e.path
    ]
    return [
        *package,
        images.Entry(LIBBCC.as_posix().lstrip("/"), 0o755, source=LIBBCC.resolve()),
        *[e for e in runtimes.library_entries([LIBBCC]) if not e.path.startswith("lib64/")],
    ]


def _python_image(name: str, registry: str, tag: str | None) -> images.Image:
    extra = bcc_layer() if name == "hodegos-agent" else []
    layers = [
        node_tools.busybox_layer(),
        base_layer(),
        python_layer(),
        site_layer(),
        htmx_layer(),
        *([extra] if extra else []),
        images.entries_from_directory(source_tree()),
    ]
    env = {
        "PATH": images.DEFAULT_PATH,
        "LANG": "C.UTF-8",
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONUNBUFFERED": "1",
        "HODEGOS_UI_HTMX": f"/{HTMX_PATH}",
        "HOME": "/root" if name == "hodegos-agent" else "/home/nonroot",
    }
    version = tag or project_version()
    return images.Image(
        ref(name, registry, tag), layers=layers, entrypoint=["/usr/local/bin/hodegos"], env=env,
        user="0:0" if name == "hodegos-agent" else USER, workdir="/",
        labels=_labels(name, version),
    )  # fmt: skip


def _labels(name: str, version: str) -> dict[str, str]:
    return {
        "org.opencontainers.image.title": name,
        "org.opencontainers.image.version": version,
        "org.opencontainers.image.licenses": "Apache-2.0",
    }


def _collector_image(registry: str, tag: str | None) -> images.Image:
    binary = otelcol.collector_path()
    if not binary.is_file():
        raise images.ImageError(f"the collector is not built ({binary}): run `make setup`")
    return images.Image(
        ref("hodegos-collector", registry, tag),
        layers=[
            node_tools.busybox_layer(),
            base_layer(),
            [images.Entry("usr/local/bin/otelcol", 0o755, source=binary)],
        ],
        entrypoint=["/usr/local/bin/otelcol"],
        user=USER,
        labels=_labels("hodegos-collector", tag or project_version()),
    )


def _inputs(name: str) -> list[object]:
    common: list[object] = [RECIPE, name, Path(__file__).read_bytes(), _debian_versions(DEBIAN_PACKAGES)]
    if name == "hodegos-collector":
        binary = otelcol.collector_path()
        return [*common, str(binary), binary.stat().st_size if binary.is_file() else 0]
    common += [LOCK.read_bytes(), _source_digest(), PLATFORMS, sorted(STDLIB_SKIP), SITE_SKIP]
    if name == "hodegos-agent":
        common.append(_debian_versions(BCC_PACKAGES))
    return common


# -- archives ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Built:
    name: str
    ref: str
    archive: Path
    digest: str  # the manifest's
    size: int  # bytes of the archive (compressed layers, what a node imports)
    unpacked: int  # bytes of the layers unpacked (what a node stores)


def _describe(name: str, reference: str, archive: Path) -> Built:
    meta = archive.with_suffix(".json")
    info = json.loads(meta.read_text())
    return Built(name, reference, archive, info["digest"], archive.stat().st_size, info["unpacked"])


def archive(
    name: str, registry: str = REGISTRY, tag: str | None = None, progress: Progress | None = None
) -> Built:
    """Image ``name`` (one of :data:`NAMES`), written once per change of its inputs."""
    say = progress or (lambda _m: None)
    if name not in NAMES:
        raise images.ImageError(f"no Hodegos image {name!r}: expected one of {', '.join(NAMES)}")
    reference = ref(name, registry, tag)
    key = hashlib.sha256(repr([reference, *_inputs(name)]).encode()).hexdigest()[:12]
    directory = cache_root() / "images"
    target = directory / f"{name}-{key}.tar"
    if target.is_file() and target.with_suffix(".json").is_file():
        return _describe(name, reference, target)
    directory.mkdir(parents=True, exist_ok=True)
    with file_lock(directory / f".{name}.lock"):
        if not (target.is_file() and target.with_suffix(".json").is_file()):
            say(f"making image {reference}")
            image = (
                _collector_image(registry, tag)
                if name == "hodegos-collector"
                else _python_image(name, registry, tag)
            )
            unpacked = sum(_entry_size(e) for layer in image.layers for e in layer)
            digest = images.write_archive(image, target)
            target.with_suffix(".json").write_text(
                json.dumps({"ref": reference, "digest": digest, "unpacked": unpacked}) + "\n"
            )
            for older in directory.glob(f"{name}-*.*"):  # earlier builds of this image (other inputs)
                stem = older.name[len(name) + 1 :].split(".")[0]
                if older.suffix in (".tar", ".json") and len(stem) == 12 and older.stem != target.stem:
                    older.unlink(missing_ok=True)
    return _describe(name, reference, target)


def _entry_size(entry: images.Entry) -> int:
    if entry.data is not None:
        return len(entry.data)
    return entry.source.stat().st_size if entry.source is not None else 0


def build(
    names: Sequence[str] = NAMES,
    registry: str = REGISTRY,
    tag: str | None = None,
    progress: Progress | None = None,
) -> list[Built]:
    return [archive(name, registry, tag, progress) for name in names]


def agent_archives(languages: Sequence[str] = ("python", "nodejs", "java")) -> dict[str, Path]:
    """Reference -> archive of the language agents' images the webhook's init containers run."""
    from toolchain import agents

    return {
        localimages.agent_ref(language): localimages.agent_archive(language)
        for language in languages
        if agents.is_built(language)
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m toolchain.productimages", description=(__doc__ or "").split("\n")[0]
    )
    sub = parser.add_subparsers(dest="command")
    make = sub.add_parser("build", help="write the image archives (default: all three)")
    make.add_argument("names", nargs="*", metavar="NAME", help=f"one of {', '.join(NAMES)}")
    sub.add_parser("lock", help="re-pin the Python dependencies at the virtualenv's versions")
    args = parser.parse_args(argv)

    def say(message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    if args.command == "lock":
        print(write_lock(say))
        return 0
    for built in build(getattr(args, "names", None) or NAMES, progress=say):
        size, unpacked = built.size / 2**20, built.unpacked / 2**20
        print(f"{built.ref}\t{size:.1f} MiB\t{unpacked:.1f} MiB unpacked\t{built.archive}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
