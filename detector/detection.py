"""One process in, one :class:`Detection` out: language, runtime version, libc and other agents.

:func:`inspect` is the shell (reads ``/proc`` and ELF files); the decisions it combines are pure
(:mod:`detector.languages`, :mod:`detector.agents`, :func:`libc_of`). A :class:`Detection` maps onto the
CRD's :class:`api.models.ContainerRuntime` with :meth:`Detection.container_runtime`.
"""

from __future__ import annotations

import os
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path

from pydantic import Field

from api.models import ContainerRuntime, Language, Libc, Model
from detector import agents, languages, procfs, versions
from detector.cgroups import CgroupIdentity, read_cgroup
from detector.elf import ElfFacts, read_elf
from detector.procfs import DEFAULT_PROC, ProcessFacts


class Detection(Model):
    """What the agent found in one process. ``evidence`` lists each fact that decided a field."""

    pid: int
    ppid: int = 0
    start_time: int = 0
    exe: str | None = None
    cmdline: list[str] = Field(default_factory=list)
    language: Language
    runtime_version: str | None = None
    libc: Libc | None = None
    other_agents: list[str] = Field(default_factory=list)
    evidence: list[str] = Field(default_factory=list)
    pod_uid: str | None = None
    container_id: str | None = None

    def container_runtime(self, name: str) -> ContainerRuntime:
        """The CRD entry for container ``name``. Evidence is kept free of PIDs so records stay stable."""
        return ContainerRuntime(
            name=name,
            language=self.language,
            runtime_version=self.runtime_version,
            libc=self.libc,
            other_agents=list(self.other_agents),
            evidence="; ".join(self.evidence) or None,
        )


def libc_of(elf: ElfFacts | None, mapped_files: tuple[str, ...]) -> tuple[Libc | None, str]:
    """musl or glibc from the ELF interpreter; for a process started through the loader, from its maps."""
    if elf is not None and elf.interp:
        if "musl" in elf.interp:
            return "musl", f"interpreter {elf.interp}"
        if "ld-linux" in elf.interp or "ld64.so" in elf.interp:
            return "glibc", f"interpreter {elf.interp}"
        return None, f"unrecognised interpreter {elf.interp}"
    for path in mapped_files:
        name = os.path.basename(path)
        if name.startswith(("ld-musl", "libc.musl")):
            return "musl", f"maps {path}"
        if name.startswith(("libc.so.6", "libc-2.")):
            return "glibc", f"maps {path}"
    if elf is None:
        return None, "no readable executable"
    return None, "statically linked (no PT_INTERP, no libc mapped)"


class ElfCache:
    """ELF facts per executable file (device, inode, mtime), so a pod's 50 workers cost one parse.

    Bounded (least recently used out first) because a node sees an unbounded stream of images.
    """

    def __init__(self, size: int = 512) -> None:
        self.size = size
        self._facts: OrderedDict[tuple[int, int, int], ElfFacts | None] = OrderedDict()
        self._versions: OrderedDict[tuple[object, ...], versions.Version] = OrderedDict()

    @staticmethod
    def identity(path: Path) -> tuple[int, int, int] | None:
        try:
            stat = path.stat()
        except OSError:
            return None
        return stat.st_dev, stat.st_ino, stat.st_mtime_ns

    def get(self, path: Path) -> ElfFacts | None:
        key = self.identity(path)
        if key is None:
            return None
        if key in self._facts:
            self._facts.move_to_end(key)
            return self._facts[key]
        facts = self._facts[key] = read_elf(path)
        if len(self._facts) > self.size:
            self._facts.popitem(last=False)
        return facts

    def version(self, key: tuple[object, ...], read: Callable[[], versions.Version]) -> versions.Version:
        """A runtime version, memoised on the files and environment it was read from."""
        if key in self._versions:
            self._versions.move_to_end(key)
            return self._versions[key]
        found = self._versions[key] = read()
        if len(self._versions) > self.size:
            self._versions.popitem(last=False)
        return found


def decide(
    facts: ProcessFacts,
    elf: ElfFacts | None,
    version: versions.Version = (None, None),
    identity: CgroupIdentity | None = None,
    decision: languages.LanguageDecision | None = None,
) -> Detection:
    """Combine facts into a :class:`Detection` (pure; the version is read by the caller)."""
    decision = decision or languages.classify(facts, elf)
    evidence = list(decision.evidence)
    runtime_version, version_evidence = version
    if version_evidence:
        evidence.append(f"version from {version_evidence}")
    libc, libc_evidence = libc_of(elf, facts.mapped_files)
    evidence.append(f"libc: {libc_evidence}")
    found = agents.other_agents(facts)
    evidence.extend(why for _, why in found)
    return Detection(
        pid=facts.pid,
        ppid=facts.ppid,
        start_time=facts.start_time,
        exe=facts.exe,
        cmdline=list(facts.cmdline),
        language=decision.language,
        runtime_version=runtime_version,
        libc=libc,
        other_agents=[name for name, _ in found],
        evidence=evidence,
        pod_uid=identity.pod_uid if identity else None,
        container_id=identity.container_id if identity else None,
    )


def inspect(pid: int, proc: Path = DEFAULT_PROC, cache: ElfCache | None = None) -> Detection:
    """Detect one process. Raises :class:`~detector.errors.ProcessGone` / ``NotInspectable``."""
    cache = cache or ElfCache()
    facts = procfs.read_process(pid, proc)
    exe = procfs.exe_file(pid, proc)
    elf = cache.get(exe) if facts.exe else None
    decision = languages.classify(facts, elf)

    def resolve(path: str) -> Path:
        return procfs.in_root(pid, path, proc)

    # Reading a version can mean a symbol table or a .rodata scan (tens of ms): once per binary + env.
    key = (
        decision.language,
        cache.identity(exe),
        cache.identity(resolve(decision.runtime_library)) if decision.runtime_library else None,
        tuple(sorted((k, v) for k, v in facts.environ.items() if k in versions.VERSION_ENV)),
    )
    version = cache.version(key, lambda: versions.runtime_version(facts, decision, elf, resolve, exe))
    return decide(facts, elf, version, read_cgroup(pid, proc), decision)
