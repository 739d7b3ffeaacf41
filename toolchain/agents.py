"""Build the agent image trees into ``~/.cache/hodegos/agents`` with each language's own ``build.sh``.

A tree lives at ``<cache>/agents/<lang>-<digest>/rootfs``, where the digest covers every file of the recipe
directory: editing a pin builds into a new directory, and an unchanged recipe is never rebuilt. The build
runs in a temporary sibling directory that is renamed into place only when ``build.sh`` succeeded, and a
file lock makes concurrent callers wait for one build.

Command line (what ``.ci/setup.d/30-agents.sh`` runs)::

    python -m toolchain.agents [python nodejs java ...]
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from toolchain.cache import cache_root, file_lock

RECIPES_DIR = Path(__file__).resolve().parent / "recipes"
LANGUAGES = ("python", "nodejs", "java", "dotnet")
# The .NET release assets are not fetchable from this build environment; its recipe is not built here.
BUILDABLE = ("python", "nodejs", "java")
IMAGE_PREFIX = "/autoinstrumentation"  # where every agent image keeps its files

Progress = Callable[[str], None]


class AgentBuildError(RuntimeError):
    """``build.sh`` failed; the message carries the command and the tail of its output."""


def pinned_version(language: str) -> str:
    """The agent version a recipe pins: the tag its image gets (``<registry>/agent-<lang>:<version>``).

    python: ``<opentelemetry-sdk>-<opentelemetry-distro>``; nodejs: auto-instrumentations-node; java: the
    javaagent; dotnet: the upstream release.
    """
    directory = recipe_dir(language)
    if language == "python":
        pins = dict(
            line.split("==", 1)
            for line in (directory / "requirements.txt").read_text().splitlines()
            if "==" in line and not line.startswith("#")
        )
        return f"{pins['opentelemetry-sdk']}-{pins['opentelemetry-distro']}"
    if language == "nodejs":
        manifest = json.loads((directory / "package.json").read_text())
        return str(manifest["dependencies"]["@opentelemetry/auto-instrumentations-node"])
    if language == "java":
        text = (directory / "pom.xml").read_text()
        match = re.search(r"<otel\.javaagent\.version>([^<]+)</otel\.javaagent\.version>", text)
    else:
        text = (directory / "release.env").read_text()
        match = re.search(r"^DOTNET_AUTO_VERSION=(\S+)$", text, re.MULTILINE)
    if match is None:
        raise ValueError(f"{directory}: no pinned agent version found")
    return match.group(1)


def recipe_dir(language: str) -> Path:
    if language not in LANGUAGES:
        raise ValueError(f"unknown agent language {language!r}; known: {', '.join(LANGUAGES)}")
    return RECIPES_DIR / language


def recipe_digest(language: str) -> str:
    """SHA-256 (12 hex digits) over the recipe directory's file names and contents."""
    directory = recipe_dir(language)
    h = hashlib.sha256()
    for path in sorted(p for p in directory.rglob("*") if p.is_file() and "__pycache__" not in p.parts):
        h.update(path.relative_to(directory).as_posix().encode() + b"\0")
        h.update(path.read_bytes() + b"\0")
    return h.hexdigest()[:12]


def build_dir(language: str) -> Path:
    return cache_root() / "agents" / f"{language}-{recipe_digest(language)}"


def image_root(language: str) -> Path:
    """The built image's file tree: ``<root>/autoinstrumentation/...`` as in the image."""
    return build_dir(language) / "rootfs"


def is_built(language: str) -> bool:
    return (build_dir(language) / "build.json").is_file()


def build(language: str, progress: Progress | None = None) -> Path:
    """Build ``language``'s agent tree unless this recipe is already built; return the image root."""
    say = progress or (lambda _msg: None)
    final = build_dir(language)
    with file_lock(final.parent / f".{final.name}.lock"):
        if is_built(language):
            say(f"agent {language}: cached at {final}")
            return final / "rootfs"
        say(f"agent {language}: building {final.name} with {recipe_dir(language) / 'build.sh'}")
        started = time.monotonic()
        work = Path(tempfile.mkdtemp(prefix=f".{final.name}-", dir=final.parent))
        try:
            command = ["bash", str(recipe_dir(language) / "build.sh"), str(work / "rootfs")]
            done = subprocess.run(command, capture_output=True, text=True, check=False)
            if done.returncode != 0:
                tail = (done.stdout + done.stderr)[-4000:]
                raise AgentBuildError(f"{' '.join(command)} exited {done.returncode}:\n{tail}")
            meta = {
                "language": language,
                "version": pinned_version(language),
                "digest": recipe_digest(language),
                "seconds": round(time.monotonic() - started, 1),
            }
            (work / "build.json").write_text(json.dumps(meta, indent=2) + "\n")
            shutil.rmtree(final, ignore_errors=True)
            work.rename(final)
        finally:
            shutil.rmtree(work, ignore_errors=True)
        say(f"agent {language}: built in {time.monotonic() - started:.0f}s")
        return final / "rootfs"


def main(argv: list[str]) -> int:
    languages = argv or list(BUILDABLE)
    try:
        for language in languages:
            build(language, progress=lambda msg: print(msg, flush=True))
    except (AgentBuildError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
