"""Will the webhook instrument this container, and if not, why: one answer the webhook and controllers share.

:func:`decide` is a pure function of a container (its spec, when known), what the node agent recorded for
it, and the configuration. The webhook's :func:`webhook.injecting.plan` acts on it container by container;
the controllers call it for every container of a workload's pod template before rolling the workload, so
they never roll pods the webhook would leave alone (which would restart them after every cooldown, for
nothing), and write the reasons into the record's ``Injectable`` condition instead.

In order, a container is skipped when it is a known sidecar (``ignoredContainers``); when the node agent
has not recorded what runs in it yet; when its language has no rules file; when another APM agent was found
in it; (with a spec) when injecting would clobber the user's settings. Go containers are labelled for the
node agent's eBPF tracer; everything else gets its language's agent.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from api.config import HodegosConfig
from api.models import ContainerRuntime, Libc
from webhook import rules

Action = Literal["inject", "label", "skip"]


@dataclass(frozen=True)
class Eligibility:
    container: str
    action: Action
    language: str | None
    reason: str
    libc: Libc = "glibc"

    @property
    def acts(self) -> bool:
        """The webhook changes the pod for this container (injects an agent or labels it for eBPF)."""
        return self.action != "skip"


def _last_index(env: list[Any], name: str) -> int | None:
    found = None
    for index, entry in enumerate(env):
        if isinstance(entry, Mapping) and entry.get("name") == name:
            found = index  # the kubelet lets a later duplicate win
    return found


def spec_conflict(container: Mapping[str, Any], lang: rules.LanguageRules) -> str | None:
    """Why injecting ``lang``'s agent would clobber what the user set in this container, or ``None``."""
    env = container.get("env") or []
    reserved = {name for name, _ in rules.DOWNWARD_ENV}
    for entry in env:
        if isinstance(entry, Mapping) and entry.get("name") in reserved:
            return f"env {entry['name']} is reserved for Hodegos (the agent's settings reference it)"
    for rule in lang.env:
        index = _last_index(env, rule.name)
        if rule.launcher and index is not None and "valueFrom" in env[index]:
            return f"{rule.name} is set with valueFrom, so the agent cannot be added to it"
    for existing in container.get("volumeMounts") or []:
        if isinstance(existing, Mapping) and existing.get("mountPath") == lang.mount_path:
            return f"mount path {lang.mount_path} is already used by volume {existing.get('name')!r}"
    return None


def decide(
    name: str,
    runtime: ContainerRuntime | None,
    config: HodegosConfig,
    container: Mapping[str, Any] | None = None,
) -> Eligibility:
    """The decision for container ``name``; ``container`` is its spec when known (the webhook has it)."""
    if name in config.ignored_containers:
        return Eligibility(name, "skip", None, "known sidecar (ignoredContainers)")
    if runtime is None:
        return Eligibility(
            name, "skip", None, "no runtime details for this container yet (waiting for detection)"
        )
    language = runtime.language
    lang = rules.all_rules().get(language)
    if lang is None:
        return Eligibility(name, "skip", language, f"language {language!r} has no injection rules")
    if runtime.other_agents:
        return Eligibility(
            name, "skip", language, f"another APM agent is present: {', '.join(runtime.other_agents)}"
        )
    if lang.ebpf:
        return Eligibility(name, "label", language, "traced by the node agent with eBPF")
    if container is not None:
        conflict = spec_conflict(container, lang)
        if conflict:
            return Eligibility(name, "skip", language, conflict)
    libc: Libc = runtime.libc or "glibc"
    return Eligibility(name, "inject", language, f"{language} agent ({libc})", libc)


def runtimes_of(record: Mapping[str, Any] | None) -> dict[str, ContainerRuntime]:
    """Container name -> what the node agent recorded, from a record's wire form (bad entries left out)."""
    out: dict[str, ContainerRuntime] = {}
    for entry in ((record or {}).get("status") or {}).get("containers") or []:
        try:
            runtime = ContainerRuntime.model_validate(entry)
        except ValueError:
            continue
        out[runtime.name] = runtime
    return out


def decide_all(
    record: Mapping[str, Any] | None,
    config: HodegosConfig,
    containers: Iterable[Mapping[str, Any]] | None = None,
) -> list[Eligibility]:
    """Per container: of the pod template's ``containers`` when given, else of the record's runtimes."""
    runtimes = runtimes_of(record)
    if containers is None:
        return [decide(name, runtime, config) for name, runtime in runtimes.items()]
    out = []
    for container in containers:
        name = str(container.get("name", ""))
        out.append(decide(name, runtimes.get(name), config, container))
    return out


def summary(decisions: Iterable[Eligibility]) -> str:
    """``"app: python agent (glibc); sidecar: known sidecar (ignoredContainers)"``."""
    return "; ".join(f"{d.container}: {d.reason}" for d in decisions) or "no containers"
