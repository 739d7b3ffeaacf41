"""Runtime versions: read from the binary first, then from the image's environment, then from names.

The binary is the truth (an image's ``PYTHON_VERSION`` may describe a different interpreter than the one
running); environment variables set by official images come next; a version in a file name (``python3.11``,
``libruby.so.3.1``) is the last resort and often gives only ``major.minor``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path, PurePosixPath

from api.models import Language
from detector import elf as elfread
from detector.elf import ElfFacts
from detector.languages import LanguageDecision
from detector.procfs import ProcessFacts

Version = tuple[str | None, str | None]  # (version, evidence)
Resolve = Callable[[str], Path]  # a path as the process sees it -> a path the agent can open

# Environment variables a version may be read from (part of the cache key for a version).
VERSION_ENV = frozenset(
    {
        "PYTHON_VERSION",
        "NODE_VERSION",
        "JAVA_VERSION",
        "JAVA_HOME",
        "DOTNET_VERSION",
        "RUBY_VERSION",
        "PHP_VERSION",
    }
)
_NODE_RELEASE = re.compile(rb"/release/v(\d+\.\d+\.\d+)/node-v\1")
_NODE_BARE = re.compile(rb"\x00v(\d+\.\d+\.\d+)\x00")
_JAVA_RELEASE = re.compile(r'^JAVA_VERSION="?([^"\n]+)"?\s*$', re.MULTILINE)
_MAJOR_MINOR = re.compile(r"(\d+\.\d+)")


def parse_java_release(text: str) -> str | None:
    """``JAVA_VERSION`` from a JDK's ``release`` file."""
    match = _JAVA_RELEASE.search(text)
    return match.group(1) if match else None


def python_version(facts: ProcessFacts, decision: LanguageDecision, resolve: Resolve, exe: Path) -> Version:
    binaries = (
        [(resolve(decision.runtime_library), decision.runtime_library)] if decision.runtime_library else []
    )
    binaries.append((exe, facts.exe or "exe"))
    for path, shown in binaries:
        version = elfread.python_version_symbol(path)
        if version:
            return version, f"Py_Version in {shown}"
    names = [PurePosixPath(p).name for p in (decision.runtime_library, facts.exe) if p]
    major_minor = next((m.group(1) for n in names if (m := _MAJOR_MINOR.search(n))), None)
    if major_minor:
        # Older interpreters keep PY_VERSION as a NUL-terminated string in .rodata.
        exact = re.compile(rb"\x00(" + re.escape(major_minor.encode()) + rb"\.\d+(?:(?:a|b|rc)\d+)?)\x00")
        for path, shown in binaries:
            found = {m.decode() for m in elfread.search_rodata(path, exact)}
            if len(found) == 1:
                return found.pop(), f"version string in {shown}"
    env = facts.environ.get("PYTHON_VERSION")
    if env and (major_minor is None or env.startswith(major_minor)):
        return env, "env PYTHON_VERSION"
    if major_minor:
        return major_minor, f"file name {names[0]}"
    return None, None


def node_version(facts: ProcessFacts, decision: LanguageDecision, resolve: Resolve, exe: Path) -> Version:
    binaries = (
        [(resolve(decision.runtime_library), decision.runtime_library)] if decision.runtime_library else []
    )
    binaries.append((exe, facts.exe or "exe"))
    for pattern in (_NODE_RELEASE, _NODE_BARE):
        for path, shown in binaries:
            found = {m.decode() for m in elfread.search_rodata(path, pattern)}
            if len(found) == 1:
                return found.pop(), f"version string in {shown}"
    env = facts.environ.get("NODE_VERSION")
    if env:
        return env.removeprefix("v"), "env NODE_VERSION"
    return None, None


def java_version(facts: ProcessFacts, decision: LanguageDecision, resolve: Resolve) -> Version:
    homes: list[PurePosixPath] = []
    if decision.runtime_library:  # <home>/lib/server/libjvm.so, or <home>/jre/lib/amd64/server/ on Java 8
        homes.extend(PurePosixPath(decision.runtime_library).parents[1:5])
    if facts.exe:  # <home>/bin/java
        homes.append(PurePosixPath(facts.exe).parent.parent)
    if facts.environ.get("JAVA_HOME"):
        homes.append(PurePosixPath(facts.environ["JAVA_HOME"]))
    for home in homes:
        release = home / "release"
        try:
            text = resolve(str(release)).read_text(errors="replace")
        except OSError:
            continue
        version = parse_java_release(text)
        if version:
            return version, f"JAVA_VERSION in {release}"
    env = facts.environ.get("JAVA_VERSION")
    if env:
        return env.removeprefix("jdk-"), "env JAVA_VERSION"
    return None, None


def version_from_path(language: Language, path: str) -> str | None:
    """Versions that distributions put in paths: .NET's shared framework dir, libruby/libphp sonames."""
    patterns = {
        "dotnet": r"/Microsoft\.NETCore\.App/(\d+\.\d+\.\d+[^/]*)/",
        "ruby": r"/libruby(?:-|\.so\.)(\d+\.\d+(?:\.\d+)?)",
        "php": r"/(?:php|libphp)(\d+(?:\.\d+)+)",
        "python": r"/libpython(\d+\.\d+)",
    }
    pattern = patterns.get(language)
    match = re.search(pattern, path) if pattern else None
    return match.group(1) if match else None


def runtime_version(
    facts: ProcessFacts,
    decision: LanguageDecision,
    elf: ElfFacts | None,
    resolve: Resolve,
    exe: Path,
) -> Version:
    """The version of the runtime ``decision`` names, and where it was read."""
    language = decision.language
    if language == "python":
        return python_version(facts, decision, resolve, exe)
    if language == "nodejs":
        return node_version(facts, decision, resolve, exe)
    if language == "java":
        return java_version(facts, decision, resolve)
    if language == "go":
        if elf is not None and elf.go is not None:
            return elf.go.go_version.removeprefix("go"), ".go.buildinfo"
        return None, None
    env_name = {"dotnet": "DOTNET_VERSION", "ruby": "RUBY_VERSION", "php": "PHP_VERSION"}.get(language)
    for path in (decision.runtime_library, facts.exe):
        version = version_from_path(language, path) if path else None
        if version:
            return version, f"path {path}"
    if env_name and facts.environ.get(env_name):
        return facts.environ[env_name], f"env {env_name}"
    if language in ("ruby", "php") and facts.exe:
        match = _MAJOR_MINOR.search(PurePosixPath(facts.exe).name)
        if match:
            return match.group(1), f"file name {facts.exe}"
    return None, None
