"""The test apps' "images": file trees under ``~/.cache/hodegos/e2e-apps/<name>-<digest>/rootfs``.

An app image holds only the app's own files at ``/app`` (the runner lays them over the host system, which
provides the language runtime): the Python app with Flask installed into ``/app/lib`` by pip, the Node.js
server, the Java server compiled by javac, and the .NET probe script. Built by ``.ci/setup.d/30-agents.sh``
(``python -m tests.e2e_injection.appimages``) so the tests need no network; rebuilt only when a source
changes. ``busybox`` is the agent images' base layer, made from the Debian ``busybox-static`` binary.

The .NET agent cannot be fetched here, so ``dotnet-agent-standin`` is a STAND-IN image: the file layout of
``toolchain/recipes/dotnet/layout.txt`` with empty files. It is named as such wherever it is used.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

from toolchain import agents as building
from toolchain.cache import cache_root

APPS_DIR = Path(__file__).resolve().parent / "apps"
DOTNET_LAYOUT = building.recipe_dir("dotnet") / "layout.txt"


def _digest(*paths: Path) -> str:
    h = hashlib.sha256()
    for base in paths:
        files = sorted(p for p in base.rglob("*") if p.is_file()) if base.is_dir() else [base]
        for path in files:
            h.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return h.hexdigest()[:12]


def _python(root: Path) -> None:
    app = root / "app"
    app.mkdir(parents=True)
    shutil.copy(APPS_DIR / "python" / "server.py", app / "server.py")
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-compile", "--disable-pip-version-check",
         "--target", str(app / "lib"), "--python-version", "3.11", "--implementation", "cp",
         "--only-binary=:all:", "--platform", "manylinux2014_x86_64",
         "-r", str(APPS_DIR / "python" / "requirements.txt")],
        check=True,
    )  # fmt: skip
    shutil.rmtree(app / "lib" / "bin", ignore_errors=True)


def _nodejs(root: Path) -> None:
    (root / "app").mkdir(parents=True)
    shutil.copy(APPS_DIR / "nodejs" / "server.js", root / "app" / "server.js")


def _java(root: Path) -> None:
    (root / "app").mkdir(parents=True)
    shutil.copy(APPS_DIR / "java" / "Server.java", root / "app" / "Server.java")
    subprocess.run(
        ["javac", "-d", str(root / "app" / "classes"), str(root / "app" / "Server.java")], check=True
    )


def _dotnet(root: Path) -> None:
    (root / "app").mkdir(parents=True)
    shutil.copy(APPS_DIR / "dotnet" / "probe.sh", root / "app" / "probe.sh")


BUSYBOX = Path("/bin/busybox")


def _busybox(root: Path) -> None:
    """The agent images' base layer (they are built FROM busybox): the static busybox and its applets."""
    (root / "bin").mkdir(parents=True)
    shutil.copy(BUSYBOX, root / "bin" / "busybox")
    applets = subprocess.run([str(BUSYBOX), "--list"], capture_output=True, text=True, check=True).stdout
    for applet in applets.split():
        if applet != "busybox":
            (root / "bin" / applet).symlink_to("busybox")
    (root / "tmp").mkdir()
    (root / "tmp").chmod(0o1777)


def dotnet_layout() -> list[tuple[str, str]]:
    """``(libc, relative path)`` pairs of the documented .NET agent layout (trailing ``/``: a directory)."""
    pairs = []
    for line in DOTNET_LAYOUT.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            libc, path = line.split()
            pairs.append((libc, path))
    return pairs


def _dotnet_agent_standin(root: Path) -> None:
    for libc, rel in dotnet_layout():
        path = root / "autoinstrumentation" / libc / rel
        if rel.endswith("/"):
            path.mkdir(parents=True, exist_ok=True)
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text("stand-in: not the real .NET agent\n")


BUILDERS: dict[str, tuple[Callable[[Path], None], tuple[Path, ...]]] = {
    "busybox": (_busybox, (BUSYBOX,)),
    "python": (_python, (APPS_DIR / "python",)),
    "nodejs": (_nodejs, (APPS_DIR / "nodejs",)),
    "java": (_java, (APPS_DIR / "java",)),
    "dotnet": (_dotnet, (APPS_DIR / "dotnet",)),
    "dotnet-agent-standin": (_dotnet_agent_standin, (DOTNET_LAYOUT,)),
}


def image_root(name: str) -> Path:
    _, sources = BUILDERS[name]
    return cache_root() / "e2e-apps" / f"{name}-{_digest(*sources)}" / "rootfs"


def build(name: str) -> Path:
    """Build the named app image tree unless it is cached; return its root."""
    builder, _ = BUILDERS[name]
    root = image_root(name)
    if root.is_dir():
        return root
    if name == "busybox" and not BUSYBOX.exists():
        raise FileNotFoundError(f"{BUSYBOX} is missing: install the Debian package busybox-static")
    root.parent.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{name}-", dir=root.parent.parent))
    try:
        builder(work / "rootfs")
        root.parent.mkdir(parents=True, exist_ok=True)
        (work / "rootfs").rename(root)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return root


if __name__ == "__main__":
    for app_name in sys.argv[1:] or BUILDERS:
        print(f"test app image {app_name}: {build(app_name)}", flush=True)
