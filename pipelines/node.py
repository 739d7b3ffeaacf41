"""The node collector's configuration: OTLP in on the node, Kubernetes attributes, out to the gateway.

Per signal the gateway wants: ``otlp`` (+ ``file_log`` for the instrumented namespaces' pod logs,
``hostmetrics`` when a metrics destination's type asks for host metrics, the ``span_metrics`` connector's
output when a metrics backend does not derive request metrics from spans) -> ``memory_limiter`` ->
``k8s_attributes`` (with the extra labels and annotations of the ``k8sAttributes`` Actions) ->
``resource_detection`` -> ``resource/node`` -> OTLP/gRPC to the gateway, batched exporter-side. While tail
sampling is on, traces instead take one pipeline per gateway pod (:mod:`pipelines.affinity`).
"""

from __future__ import annotations

import json
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from api import constants
from api.models import SIGNALS, Action, Destination, Signal
from destinations import catalogue, components
from destinations.planning import Plan, plan
from pipelines import actions as action_rules
from pipelines import affinity as affinity_rules
from pipelines.common import (
    DEFAULT_LISTEN,
    NOP,
    CollectorConfig,
    Listen,
    discard_pipelines,
    health,
    otlp_receiver,
    service,
)
from pipelines.sizing import Sizing, percentage_limiter


@dataclass(frozen=True)
class LogSource:
    """An instrumented workload whose pod logs the node collector reads."""

    namespace: str
    pod_prefix: str = ""  # pods whose name starts with this ("" = every pod of the namespace)
    # The workload's service.name (api/telemetry.py's rule): the agents set it on traces and metrics; pod
    # logs read from files carry only what the path says, so the node collector adds it to their resource.
    service_name: str | None = None


@dataclass(frozen=True)
class NodeOptions:
    listen: Listen = DEFAULT_LISTEN
    gateway_endpoint: str = f"{constants.GATEWAY_NAME}.{constants.NAMESPACE}:{constants.OTLP_GRPC_PORT}"
    gateway_insecure: bool = True
    # "cluster": k8sattributes watches the API server (in a pod with a service account);
    # "passthrough": k8sattributes only tags the sender's IP, no API access (runs anywhere);
    # "off": no k8sattributes processor.
    kubernetes: Literal["cluster", "passthrough", "off"] = "cluster"
    # how k8sattributes reaches the API server in "cluster" mode: the pod's service account, or a
    # kubeconfig (KUBECONFIG) when the collector runs outside a pod
    kube_auth: Literal["serviceAccount", "kubeConfig"] = "serviceAccount"
    node_name_env: str = constants.ENV_NODE_NAME
    log_sources: tuple[LogSource, ...] = ()
    pod_log_root: str = "/var/log/pods"
    host_root: str | None = "/hostfs"  # where the host's / is mounted for hostmetrics
    # "env" reads OTEL_RESOURCE_ATTRIBUTES of the collector (e.g. k8s.cluster.name set by the chart); add
    # cloud detectors ("gcp", "ec2", "eks", "azure", "aks") on those platforms. Not "system": in a pod it
    # would stamp the collector pod's hostname on every workload's telemetry.
    detectors: tuple[str, ...] = ("env",)
    sizing: Sizing | None = None  # from the container's limit; None: percentages of what the process sees
    memory_limit_percentage: int = 75
    memory_spike_percentage: int = 20
    # While tail sampling is on: one OTLP endpoint per gateway pod, in pod order (see pipelines.affinity);
    # traces go to the pod owning their trace ID. Empty: every signal goes to ``gateway_endpoint``.
    gateway_pods: tuple[str, ...] = ()
    log_level: str = "info"
    span_metrics_flush: str = "15s"


def _limiter(options: NodeOptions) -> dict[str, Any]:
    if options.sizing is not None:
        return options.sizing.memory_limiter()
    return percentage_limiter(options.memory_limit_percentage, options.memory_spike_percentage)


def _k8sattributes(
    mode: str, node_env: str, auth: str, extra: Mapping[str, list[dict[str, Any]]] | None = None
) -> dict[str, Any]:
    if mode == "passthrough":
        return {"passthrough": True}
    workload_attrs = sorted(set(constants.WORKLOAD_ATTRIBUTE.values()))
    return {
        "auth_type": auth,
        "passthrough": False,
        "filter": {"node_from_env_var": node_env},
        "extract": {
            "metadata": sorted(
                {
                    constants.ATTR_NAMESPACE,
                    constants.ATTR_POD_NAME,
                    constants.ATTR_POD_UID,
                    constants.ATTR_NODE_NAME,
                    "k8s.pod.start_time",
                    *workload_attrs,
                }
            ),
            **({"labels": list(extra["labels"])} if extra and extra.get("labels") else {}),
            **({"annotations": list(extra["annotations"])} if extra and extra.get("annotations") else {}),
        },
        "pod_association": [
            {"sources": [{"from": "resource_attribute", "name": constants.ATTR_POD_UID}]},
            {"sources": [{"from": "resource_attribute", "name": "k8s.pod.ip"}]},
            {"sources": [{"from": "connection"}]},
        ],
    }


def _filelog(options: NodeOptions) -> dict[str, Any]:
    root = options.pod_log_root.rstrip("/")
    include = list(
        dict.fromkeys(f"{root}/{src.namespace}_{src.pod_prefix}*/*/*.log" for src in options.log_sources)
    )
    return {
        "include": include,
        "exclude": [f"{root}/{constants.NAMESPACE}_*/*/*.log"],
        "start_at": "end",
        "include_file_path": True,
        "include_file_name": False,
        # parses the CRI/docker line format and sets k8s.namespace.name, k8s.pod.name, k8s.pod.uid,
        # k8s.container.name from the path, so k8sattributes can associate the records with their pod
        "operators": [{"type": "container", "id": "container-parser"}, *_service_names(options.log_sources)],
    }


def _service_names(sources: tuple[LogSource, ...]) -> list[dict[str, Any]]:
    """``add`` operators setting ``service.name`` on the records of each named source's pods; the longest
    prefix first, so a workload ``web-api`` is not named after a workload ``web``."""
    named = sorted((s for s in sources if s.service_name), key=lambda s: -len(s.pod_prefix))
    return [
        {
            "type": "add",
            "id": f"service-name-{index}",
            "field": f'resource["{constants.ATTR_SERVICE_NAME}"]',
            "value": source.service_name,
            "if": (
                f'resource["{constants.ATTR_SERVICE_NAME}"] == nil'
                f' and resource["k8s.namespace.name"] == {json.dumps(source.namespace)}'
                f' and resource["k8s.pod.name"] startsWith {json.dumps(source.pod_prefix)}'
            ),
        }
        for index, source in enumerate(named)
    ]


def _hostmetrics(options: NodeOptions) -> dict[str, Any]:
    config: dict[str, Any] = {
        "collection_interval": "30s",
        "scrapers": {"cpu": {}, "memory": {}, "load": {}, "disk": {}, "filesystem": {}, "network": {}},
    }
    if options.host_root:
        config["root_path"] = options.host_root
    return config


def _span_metrics(options: NodeOptions) -> dict[str, Any]:
    return {
        "dimensions": [{"name": "http.request.method"}, {"name": "http.response.status_code"}],
        # keep the pod's resource (service, k8s attributes) on the metrics, as on the spans they come from
        "add_resource_attributes": True,
        "resource_metrics_key_attributes": [
            constants.ATTR_SERVICE_NAME,
            constants.ATTR_NAMESPACE,
            constants.ATTR_POD_NAME,
            constants.ATTR_CONTAINER_NAME,
        ],
        "metrics_flush_interval": options.span_metrics_flush,
        # series of pods that are gone stop being exported (and stop holding memory)
        "metrics_expiration": "5m",
    }


def node_for_signals(
    signals: Collection[Signal],
    *,
    host_metrics: bool = False,
    span_metrics: bool = False,
    options: NodeOptions = NodeOptions(),
    kubernetes_extract: Mapping[str, list[dict[str, Any]]] | None = None,
) -> CollectorConfig:
    """The node collector config for the signals the gateway wants (e.g. a CollectorsGroup's).

    ``span_metrics`` (only with ``metrics``) adds a traces pipeline into the ``spanmetrics`` connector, whose
    output joins the metrics pipeline; traces themselves still go to the gateway only if it wants them.
    """
    listen = options.listen
    signals = sorted(set(signals), key=SIGNALS.index)
    limiter = components.name("processors", "memory_limiter")
    processors: dict[str, Any] = {limiter: _limiter(options)}
    chain = [limiter]
    if options.kubernetes != "off":
        k8s = components.name("processors", "k8sattributes")
        processors[k8s] = _k8sattributes(
            options.kubernetes, options.node_name_env, options.kube_auth, kubernetes_extract
        )
        chain.append(k8s)
    detection = components.name("processors", "resourcedetection")
    processors[detection] = {"detectors": list(options.detectors), "timeout": "2s", "override": False}
    node_resource = f"{components.name('processors', 'resource')}/node"
    processors[node_resource] = {
        "attributes": [
            {
                "key": constants.ATTR_NODE_NAME,
                "value": f"${{env:{options.node_name_env}}}",
                "action": "insert",
            }
        ]
    }
    chain += [detection, node_resource]
    gateway = f"{components.name('exporters', 'otlp_grpc')}/gateway"
    exporter: dict[str, Any] = {"endpoint": options.gateway_endpoint, "sending_queue": {"batch": {}}}
    if options.gateway_insecure:
        exporter["tls"] = {"insecure": True}
    receivers: dict[str, Any] = {"otlp": otlp_receiver(listen)}
    connectors: dict[str, Any] = {}
    spans = components.name("connectors", "spanmetrics")
    if span_metrics and "metrics" in signals:
        connectors[spans] = _span_metrics(options)
    pipelines: dict[str, Any] = {}
    affinity = bool(options.gateway_pods) and "traces" in signals
    exporters: dict[str, Any] = {gateway: exporter}
    for signal in SIGNALS:
        inputs = ["otlp"]
        outputs = [gateway] if signal in signals else []
        if signal == "traces" and affinity:
            outputs = []
            owners = affinity_rules.buckets(len(options.gateway_pods))
            for index, (endpoint, bucket) in enumerate(zip(options.gateway_pods, owners, strict=True)):
                pod_exporter = f"{components.name('exporters', 'otlp_grpc')}/gateway-{index}"
                exporters[pod_exporter] = {**exporter, "endpoint": endpoint}
                keep = f"{components.name('processors', 'filter')}/trace-affinity-{index}"
                processors[keep] = affinity_rules.keep_only(bucket)
                pipelines[f"traces/gateway-{index}"] = {
                    "receivers": ["otlp"],
                    "processors": [*chain, keep],
                    "exporters": [pod_exporter, *([spans] if connectors else [])],
                }
            continue
        if signal == "traces" and connectors:
            outputs.append(spans)
        if not outputs:
            continue
        if signal == "metrics" and connectors:
            inputs.append(spans)
        if signal == "logs" and options.log_sources:
            name = components.name("receivers", "filelog")
            receivers[name] = _filelog(options)
            inputs.append(name)
        if signal == "metrics" and host_metrics:
            name = components.name("receivers", "hostmetrics")
            receivers[name] = _hostmetrics(options)
            inputs.append(name)
        pipelines[signal] = {"receivers": inputs, "processors": list(chain), "exporters": outputs}
    if gateway not in {e for p in pipelines.values() for e in p["exporters"]}:
        exporters.pop(gateway)
    if not pipelines:
        exporters = {components.name("exporters", NOP): {}}
        processors = {}
        pipelines = discard_pipelines("otlp")
    extensions = {components.name("extensions", "health_check"): health(listen)}
    config = {
        "receivers": receivers,
        "processors": processors,
        **({"connectors": connectors} if connectors else {}),
        "exporters": exporters,
        "extensions": extensions,
        "service": service(extensions, pipelines, listen, options.log_level),
    }
    return CollectorConfig(config=config, signals=list(signals))


def node_from_plan(
    planned: Plan, options: NodeOptions = NodeOptions(), actions: action_rules.ActionsPlan | None = None
) -> CollectorConfig:
    actions = actions or action_rules.ActionsPlan()
    rendered = node_for_signals(
        planned.signals(),
        host_metrics=_wants_host_metrics(planned),
        span_metrics=_wants_span_metrics(planned),
        options=options,
        kubernetes_extract=actions.kubernetes_extract(),
    )
    rendered.results = planned.results
    rendered.actions = {
        n: r
        for n, r in actions.results.items()
        if any(a.name == n and a.kubernetes for a in actions.rendered)
    }
    return rendered


def _wants_span_metrics(planned: Plan) -> bool:
    return any(
        "metrics" in r.signals and not catalogue.get_type(r.type).derives_request_metrics
        for r in planned.rendered
    )


def _wants_host_metrics(planned: Plan) -> bool:
    return any("metrics" in r.signals and catalogue.get_type(r.type).host_metrics for r in planned.rendered)


def render_node(
    destinations: Iterable[Destination | Mapping[str, Any]],
    *,
    actions: Iterable[Action | Mapping[str, Any]] = (),
    options: NodeOptions = NodeOptions(),
) -> CollectorConfig:
    """The node collector config: receives what the configured destinations need, sends it to the gateway."""
    return node_from_plan(plan(destinations), options, action_rules.plan(actions))
