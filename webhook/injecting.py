"""What to inject into one pod: a pure function from (pod, record, configuration) to a mutated copy + patch.

For each regular container (never the user's init containers), in order:

1. a known sidecar (``ignoredContainers``) is skipped;
2. the record must say what runs in it (the node agent's detection); otherwise skipped, waiting;
3. Go gets the eBPF label only; a language without rules, or a container where another APM agent was
   found, is skipped;
4. a launcher variable set through ``valueFrom`` cannot be composed, so the container is skipped with that
   reason rather than clobbered;
5. otherwise: the agent volume is mounted, the launcher variables are composed with the user's literal
   values, and the OpenTelemetry variables are set where the user has not set them.

One init container and one emptyDir per (language, libc) are appended after the user's own init containers.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from api import constants
from api.config import HodegosConfig
from api.models import InstrumentedApplication, Libc
from webhook import rules
from webhook.owners import Workload
from webhook.patching import Patch, escape

# The downward-API variables, inserted at the front of env so that later values may reference them.
DOWNWARD: tuple[tuple[str, str], ...] = (
    (constants.ENV_POD_NAME, "metadata.name"),
    (constants.ENV_POD_UID, "metadata.uid"),
    (constants.ENV_NODE_NAME, "spec.nodeName"),
    (constants.ENV_HOST_IP, "status.hostIP"),
)


INIT_PREFIX = "hodegos-agent-"


@dataclass(frozen=True)
class ContainerDecision:
    """What happened to one container, and why."""

    container: str
    action: str  # "injected", "labelled" (Go, traced by eBPF) or "skipped"
    language: str | None
    reason: str


@dataclass
class Plan:
    pod: dict[str, Any]
    patch: list[dict[str, Any]] = field(default_factory=list)
    containers: list[ContainerDecision] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return bool(self.patch)


def ref(name: str) -> str:
    return f"$({name})"


def service_name(pod: Mapping[str, Any], record: InstrumentedApplication, workload: Workload) -> str:
    annotations = (pod.get("metadata") or {}).get("annotations") or {}
    override = annotations.get(constants.ANNOTATION_SERVICE_NAME) or record.spec.service_name
    if override:
        return str(override)
    if workload.kind != "Pod":
        return workload.name
    return str((pod.get("metadata") or {}).get("name") or ref(constants.ENV_POD_NAME))


def resource_attributes(namespace: str, workload: Workload, container: str) -> str:
    pod = ref(constants.ENV_POD_NAME)
    pairs = [
        (constants.ATTR_NAMESPACE, namespace),
        (constants.ATTR_POD_NAME, pod),
        (constants.ATTR_POD_UID, ref(constants.ENV_POD_UID)),
        (constants.ATTR_NODE_NAME, ref(constants.ENV_NODE_NAME)),
    ]
    if workload.kind != "Pod":
        pairs.append((constants.WORKLOAD_ATTRIBUTE[workload.kind], workload.name))
    pairs += [
        (constants.ATTR_CONTAINER_NAME, container),
        (constants.ATTR_SERVICE_INSTANCE_ID, f"{namespace}.{pod}.{container}"),
    ]
    return ",".join(f"{key}={value}" for key, value in pairs)


def otel_env(
    *, service: str, attributes: str, record: InstrumentedApplication, config: HodegosConfig
) -> list[tuple[str, str]]:
    """The OpenTelemetry variables every injected container gets (unless the user set them)."""
    options = record.spec.options
    sampler = options.sampler or config.default_sampler
    signals = options.signals
    env = [
        (constants.ENV_SERVICE_NAME, service),
        (constants.ENV_RESOURCE_ATTRIBUTES, attributes),
        (constants.ENV_EXPORTER_ENDPOINT, f"http://{ref(constants.ENV_HOST_IP)}:{constants.OTLP_HTTP_PORT}"),
        (constants.ENV_EXPORTER_PROTOCOL, "http/protobuf"),
        (constants.ENV_PROPAGATORS, constants.DEFAULT_PROPAGATORS),
        (constants.ENV_TRACES_SAMPLER, sampler.name),
    ]
    if sampler.argument is not None:
        env.append((constants.ENV_TRACES_SAMPLER_ARG, sampler.argument))
    env += [
        (constants.ENV_TRACES_EXPORTER, "otlp" if signals.traces else "none"),
        (constants.ENV_METRICS_EXPORTER, "otlp" if signals.metrics else "none"),
        (constants.ENV_LOGS_EXPORTER, "otlp" if signals.logs else "none"),
    ]
    return env


def _last_index(env: list[dict[str, Any]], name: str) -> int | None:
    found = None
    for index, entry in enumerate(env):
        if isinstance(entry, Mapping) and entry.get("name") == name:
            found = index  # the kubelet lets a later duplicate win
    return found


def _skip_reason(container: Mapping[str, Any], lang: rules.LanguageRules) -> str | None:
    env = container.get("env") or []
    reserved = {name for name, _ in DOWNWARD}
    for entry in env:
        if isinstance(entry, Mapping) and entry.get("name") in reserved:
            return f"env {entry['name']} is reserved for Hodegos (the agent's settings reference it)"
    for rule in lang.env:
        index = _last_index(env, rule.name)
        if rule.launcher and index is not None and "valueFrom" in env[index]:
            return f"{rule.name} is set with valueFrom, so the agent cannot be added to it"
    mount = lang.mount_path
    for existing in container.get("volumeMounts") or []:
        if isinstance(existing, Mapping) and existing.get("mountPath") == mount:
            return f"mount path {mount} is already used by volume {existing.get('name')!r}"
    return None


def _merge_env(
    container: dict[str, Any],
    base: str,
    lang: rules.LanguageRules,
    libc: Libc,
    common: list[tuple[str, str]],
    patch: Patch,
) -> list[str]:
    """Apply the env rules to ``container``; return notes for the decision's reason."""
    assert lang.mount_path is not None
    mount = lang.mount_path
    env: list[dict[str, Any]] | None = container.get("env")
    original = list(env or [])
    notes: list[str] = []
    appended: list[dict[str, Any]] = []

    # 1. Compose our value into the user's literal values (indices are still the original ones).
    for rule in lang.env:
        index = _last_index(original, rule.name)
        if index is None:
            appended.append({"name": rule.name, "value": rule.own_value(libc, mount)})
        elif rule.composes and "valueFrom" not in original[index]:
            user_value = str(original[index].get("value", ""))
            assert env is not None
            patch.put(env[index], "value", f"{base}/env/{index}/value", rule.compose(user_value, mount))
    for name, value in common:
        index = _last_index(original, name)
        if index is None:
            appended.append({"name": name, "value": value})
        elif name == constants.ENV_RESOURCE_ATTRIBUTES:
            if "valueFrom" in original[index]:
                notes.append(f"{name} comes from valueFrom and was left as is")
            else:
                # The SDKs let a later duplicate key win, so the user's own attributes keep precedence.
                user_value = str(original[index].get("value", ""))
                assert env is not None
                merged = ",".join(p for p in (value, user_value) if p)
                patch.put(env[index], "value", f"{base}/env/{index}/value", merged)

    # 2. Downward-API variables go first so every later value can reference them with $(NAME).
    downward = [
        {"name": name, "valueFrom": {"fieldRef": {"apiVersion": "v1", "fieldPath": path}}}
        for name, path in DOWNWARD
    ]
    patch.prepend(container, "env", f"{base}/env", downward)

    # 3. Everything the user did not set, after the user's own entries.
    for entry in appended:
        patch.append(container, "env", f"{base}/env", entry)
    if container.get("envFrom"):
        notes.append("envFrom is set: variables it defines are invisible here and explicit env wins")
    return notes


def _add_agent_volume(
    pod: dict[str, Any],
    lang: rules.LanguageRules,
    libc: Libc,
    config: HodegosConfig,
    patch: Patch,
    done: set[str],
) -> str:
    """Add the emptyDir and the init container that fills it, once per (language, libc)."""
    assert lang.agent is not None and lang.mount_path is not None
    volume = lang.volume_name(libc)
    if volume in done:
        return volume
    done.add(volume)
    spec = pod["spec"]
    patch.append(
        spec, "volumes", "/spec/volumes", {"name": volume, "emptyDir": {"sizeLimit": lang.volume_size_limit}}
    )
    init = {
        "name": volume,
        "image": f"{config.image_registry}/{lang.agent.image}:{lang.agent.version}",
        "imagePullPolicy": "IfNotPresent",
        "command": ["cp", "-r", f"{lang.source(libc)}/.", lang.mount_path],
        "resources": lang.resources.to_dict(),
        "securityContext": copy.deepcopy(rules.INIT_SECURITY_CONTEXT),
        "volumeMounts": [{"name": volume, "mountPath": lang.mount_path}],
        "terminationMessagePolicy": "FallbackToLogsOnError",
    }
    patch.append(spec, "initContainers", "/spec/initContainers", init)
    return volume


def plan(
    pod: Mapping[str, Any],
    *,
    namespace: str,
    record: InstrumentedApplication,
    workload: Workload,
    config: HodegosConfig,
) -> Plan:
    """Decide and build the mutation of ``pod`` (which is not modified)."""
    mutated: dict[str, Any] = copy.deepcopy(dict(pod))
    out = Plan(pod=mutated)
    patch = Patch()
    catalogue = rules.all_rules()
    service = service_name(pod, record, workload)
    ignored = set(config.ignored_containers)
    volumes_done: set[str] = set()
    ebpf = False

    for index, container in enumerate(mutated["spec"].get("containers") or []):
        name = str(container.get("name", ""))

        def decide(action: str, language: str | None, reason: str, name: str = name) -> None:
            out.containers.append(ContainerDecision(name, action, language, reason))

        if name in ignored:
            decide("skipped", None, "known sidecar (ignoredContainers)")
            continue
        runtime = record.container(name)
        if runtime is None:
            decide("skipped", None, "no runtime details for this container yet (waiting for detection)")
            continue
        language = runtime.language
        lang = catalogue.get(language)
        if lang is None:
            decide("skipped", language, f"language {language!r} has no injection rules")
            continue
        if runtime.other_agents:
            decide("skipped", language, f"another APM agent is present: {', '.join(runtime.other_agents)}")
            continue
        if lang.ebpf:
            ebpf = True
            decide("labelled", language, "traced by the node agent with eBPF")
            continue
        reason = _skip_reason(container, lang)
        if reason:
            decide("skipped", language, reason)
            continue
        libc: Libc = runtime.libc or "glibc"
        volume = _add_agent_volume(mutated, lang, libc, config, patch, volumes_done)
        base = f"/spec/containers/{index}"
        assert lang.mount_path is not None
        patch.append(
            container,
            "volumeMounts",
            f"{base}/volumeMounts",
            {"name": volume, "mountPath": lang.mount_path, "readOnly": True},
        )
        common = otel_env(
            service=service,
            attributes=resource_attributes(namespace, workload, name),
            record=record,
            config=config,
        )
        notes = _merge_env(container, base, lang, libc, common, patch)
        decide("injected", language, "; ".join([f"{language} agent ({libc})", *notes]))

    acted = [d for d in out.containers if d.action != "skipped"]
    if acted:
        if not isinstance(mutated.get("metadata"), dict):
            patch.put(mutated, "metadata", "/metadata", {})
        meta = mutated["metadata"]
        if ebpf:
            patch.put_in_map(meta, "labels", "/metadata/labels", constants.LABEL_EBPF_GO, "true")
        status = {d.container: f"{d.action}:{d.language}" for d in acted}
        patch.put_in_map(
            meta, "annotations", "/metadata/annotations", constants.ANNOTATION_INJECTED, rules.version()
        )
        patch.put_in_map(
            meta,
            "annotations",
            "/metadata/annotations",
            constants.ANNOTATION_INJECTION_STATUS,
            json.dumps(status, separators=(",", ":"), sort_keys=True),
        )
    out.patch = patch.ops
    return out


__all__ = ["ContainerDecision", "Plan", "escape", "plan"]
