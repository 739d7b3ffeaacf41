"""What to inject into one pod: a pure function from (pod, record, configuration) to a mutated copy + patch.

Each regular container (never the user's init containers) is decided by :func:`webhook.eligibility.decide`,
the rule the controllers share: skipped (and why), labelled for eBPF (Go), or injected. For an injected
container the agent volume is mounted, the launcher variables are composed with the user's literal values,
and the OpenTelemetry variables are set where the user has not set them; ``service.name`` and the resource
attributes come from :mod:`api.telemetry`, as for the node agent's Go tracing.

One init container and one emptyDir per (language, libc) are appended after the user's own init containers.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from api import constants, telemetry
from api.config import HodegosConfig
from api.models import InstrumentedApplication, Libc
from api.workloads import Workload
from webhook import eligibility, rules
from webhook.patching import Patch, escape

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
    """The mutated copy of the pod, the JSON patch that makes it, and one decision per container."""

    pod: dict[str, Any]
    patch: list[dict[str, Any]] = field(default_factory=list)
    containers: list[ContainerDecision] = field(default_factory=list)


def ref(name: str) -> str:
    return f"$({name})"


def service_name(pod: Mapping[str, Any], record: InstrumentedApplication, workload: Workload) -> str:
    meta = pod.get("metadata") or {}
    return telemetry.service_name(
        pod_annotations=meta.get("annotations"),
        record_service_name=record.spec.service_name,
        workload_kind=workload.kind,
        workload_name=workload.name,
        pod_name=str(meta.get("name") or ref(constants.ENV_POD_NAME)),
    )


def resource_attributes(namespace: str, workload: Workload, container: str) -> str:
    """``OTEL_RESOURCE_ATTRIBUTES``, with downward-API references for what the pod does not have yet."""
    pairs = telemetry.resource_attributes(
        namespace=namespace,
        workload_kind=workload.kind,
        workload_name=workload.name,
        container=container,
        pod_name=ref(constants.ENV_POD_NAME),
        pod_uid=ref(constants.ENV_POD_UID),
        node_name=ref(constants.ENV_NODE_NAME),
    )
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
        for name, path in rules.DOWNWARD_ENV
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
    volumes_done: set[str] = set()
    ebpf = False

    for index, container in enumerate(mutated["spec"].get("containers") or []):
        name = str(container.get("name", ""))
        verdict = eligibility.decide(name, record.container(name), config, container)
        if verdict.action == "skip":
            out.containers.append(ContainerDecision(name, "skipped", verdict.language, verdict.reason))
            continue
        if verdict.action == "label":
            ebpf = True
            out.containers.append(ContainerDecision(name, "labelled", verdict.language, verdict.reason))
            continue
        assert verdict.language is not None
        lang = catalogue[verdict.language]
        libc = verdict.libc
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
        out.containers.append(
            ContainerDecision(name, "injected", verdict.language, "; ".join([verdict.reason, *notes]))
        )

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
