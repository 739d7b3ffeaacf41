"""Deciding a process's language from its facts: pure functions, no I/O.

Order of evidence, strongest first: the executable's name (an interpreter named ``python3.11``, ``java``,
``node``...), then a runtime library mapped into the process (``libpython``, ``libjvm``, ``libcoreclr``,
``libnode``, ``libruby``, ``libphp``: this catches embedders such as uWSGI or mod_php), then Go build info
in the executable. Anything else is ``unknown``, with a note saying what it looked like (shell, static ELF).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass

from api.models import Language
from detector.elf import ElfFacts
from detector.procfs import ProcessFacts

_EXE_PATTERNS: tuple[tuple[Language, re.Pattern[str]], ...] = (
    ("python", re.compile(r"^(python|pypy)(\d+(\.\d+)?)?[dmu]*$")),
    ("java", re.compile(r"^java$")),
    ("nodejs", re.compile(r"^(node|nodejs)$")),
    ("dotnet", re.compile(r"^dotnet$")),
    ("ruby", re.compile(r"^ruby(\d+(\.\d+)*)?$")),
    ("php", re.compile(r"^php(-fpm|-cgi|-cli)?(\d+(\.\d+)*)?$")),
)

_LIBRARY_PATTERNS: tuple[tuple[Language, re.Pattern[str]], ...] = (
    ("python", re.compile(r"/libpython(\d+\.\d+)[^/]*\.so[^/]*$")),
    ("java", re.compile(r"/libjvm\.so$")),
    ("dotnet", re.compile(r"/libcoreclr\.so$")),
    ("nodejs", re.compile(r"/libnode\.so[^/]*$")),
    ("ruby", re.compile(r"/libruby[-.\d]*\.so[^/]*$")),
    ("php", re.compile(r"/libphp[\d.]*\.so[^/]*$")),
)

SHELLS = frozenset({"sh", "bash", "dash", "ash", "zsh", "ksh", "mksh", "busybox", "fish"})


@dataclass(frozen=True)
class LanguageDecision:
    language: Language
    evidence: tuple[str, ...]
    runtime_library: str | None = None  # the mapped runtime library that decided it (or backs it up)


def runtime_library(language: Language, mapped_files: tuple[str, ...]) -> str | None:
    for candidate, pattern in _LIBRARY_PATTERNS:
        if candidate == language:
            for path in mapped_files:
                if pattern.search(path):
                    return path
    return None


def classify(facts: ProcessFacts, elf: ElfFacts | None) -> LanguageDecision:
    """The language of one process, with the evidence that decided it."""
    name = facts.exe_name
    for language, pattern in _EXE_PATTERNS:
        if pattern.match(name):
            library = runtime_library(language, facts.mapped_files)
            evidence = [f"exe {facts.exe} is a {language} runtime"]
            if library:
                evidence.append(f"maps {library}")
            return LanguageDecision(language, tuple(evidence), library)
    for language, pattern in _LIBRARY_PATTERNS:
        for path in facts.mapped_files:
            if pattern.search(path):
                return LanguageDecision(language, (f"maps {path} into exe {facts.exe}",), path)
    if elf is not None and elf.go is not None:
        where = f" main {elf.go.main_path}" if elf.go.main_path else ""
        return LanguageDecision("go", (f"exe {facts.exe} has .go.buildinfo {elf.go.go_version}{where}",))
    return LanguageDecision("unknown", (_describe_unknown(facts, elf),))


def _describe_unknown(facts: ProcessFacts, elf: ElfFacts | None) -> str:
    if facts.exe is None:
        return "no executable (kernel thread or zombie)"
    if facts.exe_name in SHELLS or os.path.basename(facts.exe).startswith("busybox"):
        return f"exe {facts.exe} is a shell"
    if elf is None:
        return f"exe {facts.exe} is not a readable ELF file"
    linking = f"dynamic, interpreter {elf.interp}" if elf.interp else "static"
    return f"exe {facts.exe} is an ELF binary ({linking}) with no runtime markers"
