"""Injection rules: one declarative file per language in ``webhook/languages/<language>.yaml``.

A file names the agent image, the directory the init container copies from (per libc), where the agent is
mounted in the app container, and how each launcher variable is merged with the user's value:

``value``
    set only when the user has not set the variable (a string, or one string per libc);
``prefix`` / ``suffix`` (+ ``separator``)
    composed around the user's literal value (``prefix:user:suffix``); without one, ours alone;
``launcher: true``
    the variable is what makes the runtime load the agent: if the user sets it with ``valueFrom`` we cannot
    compose it, so the container is skipped with a reason instead of clobbering the user's value.

``{mount}`` in any value is the mount path. Files are validated when the module is imported, and a bad file
raises :class:`~webhook.errors.RulesError` naming the file and field. :func:`version` is a digest of every
file: injected pods carry it, so the controllers can tell which pods run outdated rules.
"""

from __future__ import annotations

import hashlib
from functools import cache
from pathlib import Path

import yaml
from pydantic import Field, ValidationError, model_validator

from api import constants
from api.models import Language, Libc, Model
from webhook.errors import RulesError

RULES_DIR = Path(__file__).resolve().parent / "languages"

# The downward-API variables every injected container gets, first in its env so that later values (the
# resource attributes) may reference them with $(NAME). A user's own variable of one of these names would
# make those references mean something else, so such a container is not injected.
DOWNWARD_ENV: tuple[tuple[str, str], ...] = (
    (constants.ENV_POD_NAME, "metadata.name"),
    (constants.ENV_POD_UID, "metadata.uid"),
    (constants.ENV_NODE_NAME, "spec.nodeName"),
    (constants.ENV_HOST_IP, "status.hostIP"),
)

# Pod Security "restricted" by construction, never copied from the app container.
INIT_SECURITY_CONTEXT: dict[str, object] = {
    "runAsNonRoot": True,
    "runAsUser": 65532,
    "runAsGroup": 65532,
    "allowPrivilegeEscalation": False,
    "privileged": False,
    "readOnlyRootFilesystem": True,
    "capabilities": {"drop": ["ALL"]},
    "seccompProfile": {"type": "RuntimeDefault"},
}


class Resources(Model):
    requests: dict[str, str] = Field(default_factory=lambda: {"cpu": "50m", "memory": "64Mi"})
    limits: dict[str, str] = Field(default_factory=lambda: {"cpu": "500m", "memory": "256Mi"})


class Agent(Model):
    image: str = Field(min_length=1, pattern=r"^[a-z0-9][a-z0-9._/-]*$")
    version: str = Field(min_length=1, pattern=r"^[A-Za-z0-9._-]+$")
    source: dict[Libc, str]

    @model_validator(mode="after")
    def _both_libcs(self) -> Agent:
        missing = {"glibc", "musl"} - set(self.source)
        if missing:
            raise ValueError(f"source has no directory for {', '.join(sorted(missing))}")
        return self


class EnvRule(Model):
    name: str = Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    value: str | dict[Libc, str] | None = None
    prefix: str | None = None
    suffix: str | None = None
    separator: str = ":"
    launcher: bool = False

    @model_validator(mode="after")
    def _one_kind(self) -> EnvRule:
        composes = self.prefix is not None or self.suffix is not None
        if composes == (self.value is not None):
            raise ValueError("give either value, or prefix/suffix, not both and not neither")
        return self

    @property
    def composes(self) -> bool:
        return self.prefix is not None or self.suffix is not None

    def render(self, template: str, mount: str) -> str:
        return template.replace("{mount}", mount)

    def own_value(self, libc: Libc, mount: str) -> str:
        """Our value alone (what the variable becomes when the user has not set it)."""
        if self.composes:
            parts = [p for p in (self.prefix, self.suffix) if p]
            return self.separator.join(self.render(p, mount) for p in parts)
        assert self.value is not None
        chosen = self.value if isinstance(self.value, str) else self.value[libc]
        return self.render(chosen, mount)

    def compose(self, user: str, mount: str) -> str:
        parts = [
            self.prefix and self.render(self.prefix, mount),
            user,
            self.suffix and self.render(self.suffix, mount),
        ]
        return self.separator.join(p for p in parts if p)


class LanguageRules(Model):
    language: Language
    ebpf: bool = False
    agent: Agent | None = None
    mount_path: str | None = Field(default=None, pattern=r"^/[A-Za-z0-9._/-]+$")
    volume_size_limit: str = "200Mi"
    resources: Resources = Field(default_factory=Resources)
    env: list[EnvRule] = Field(default_factory=list)

    @model_validator(mode="after")
    def _complete(self) -> LanguageRules:
        if self.ebpf:
            if self.agent or self.env:
                raise ValueError("an eBPF language injects no agent and no env")
        elif self.agent is None or self.mount_path is None:
            raise ValueError("agent and mountPath are required unless ebpf is true")
        names = [rule.name for rule in self.env]
        if len(names) != len(set(names)):
            raise ValueError("env names must be unique")
        return self

    def volume_name(self, libc: Libc) -> str:
        return f"hodegos-agent-{self.language}" + (
            "-musl" if libc == "musl" and self._libc_specific() else ""
        )

    def _libc_specific(self) -> bool:
        return self.agent is not None and self.agent.source["glibc"] != self.agent.source["musl"]

    def source(self, libc: Libc) -> str:
        assert self.agent is not None
        return self.agent.source[libc]


def _load(path: Path) -> LanguageRules:
    try:
        raw = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise RulesError(f"{path.name}: not valid YAML: {exc}") from exc
    try:
        rules = LanguageRules.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or '<root>'}: {err['msg']}" for err in exc.errors()
        )
        raise RulesError(f"{path.name}: {problems}") from exc
    if path.stem != rules.language:
        raise RulesError(f"{path.name}: language is {rules.language!r}, but the file must be named after it")
    return rules


def load_dir(directory: Path) -> dict[str, LanguageRules]:
    """Every ``*.yaml`` in ``directory``, keyed by language."""
    return {rules.language: rules for rules in map(_load, sorted(directory.glob("*.yaml")))}


@cache
def all_rules() -> dict[str, LanguageRules]:
    return load_dir(RULES_DIR)


@cache
def version() -> str:
    """``v1-<digest>`` of every rules file: the marker injected pods carry."""
    digest = hashlib.sha256()
    for path in sorted(RULES_DIR.glob("*.yaml")):
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    return f"v1-{digest.hexdigest()[:10]}"


all_rules()  # validate at import: a broken rules file stops the process at start, not at admission
