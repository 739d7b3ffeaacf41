"""Collector configurations as pure functions of data: the gateway and the node collector.

Gateway (:func:`render_gateway`): OTLP receiver on 4317/4318, ``memory_limiter`` first in every pipeline,
then the destination's own processors, then batching — exporter-side (``sending_queue.batch``) where the
exporter supports it, which the pinned collector prefers, else the ``batch`` processor last. One exporter and
one pipeline per destination and signal: ``<component>/<destination-id>``, ``<signal>/<destination-id>``.

Node collector (:func:`render_node`): OTLP receiver on 4317/4318, ``memory_limiter`` first,
``k8sattributes``, ``resourcedetection`` and ``resource`` (node name), export to the gateway over OTLP/gRPC.
It reads pod logs with ``filelog`` from ``/var/log/pods`` for the instrumented workloads when a logs
destination exists, adds ``hostmetrics`` when a metrics destination's type asks for host metrics, and derives
request metrics (calls, errors, duration by service, span, method and status) from spans with the
``spanmetrics`` connector when a metrics destination's backend does not compute them from traces itself.

Both have the ``health_check`` extension and self-telemetry (Prometheus metrics endpoint) on.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import yaml

from api import constants
from api.models import SIGNALS, Destination, Signal
from destinations import catalogue, components
from destinations.planning import DestinationResult, Plan, plan
from destinations.rendering import SecretKeyRef

NOP = "nop"


@dataclass(frozen=True)
class Listen:
    """Where a collector listens; ``host`` 0.0.0.0 inside pods, loopback for local runs."""

    host: str = "0.0.0.0"
    otlp_grpc_port: int = constants.OTLP_GRPC_PORT
    otlp_http_port: int = constants.OTLP_HTTP_PORT
    health_port: int = constants.COLLECTOR_HEALTH_PORT
    metrics_port: int = constants.COLLECTOR_METRICS_PORT


@dataclass(frozen=True)
class GatewayOptions:
    listen: Listen = Listen()
    memory_limit_percentage: int = 80
    memory_spike_percentage: int = 20
    log_level: str = "info"


@dataclass(frozen=True)
class LogSource:
    """An instrumented workload whose pod logs the node collector reads."""

    namespace: str
    pod_prefix: str = ""  # pods whose name starts with this ("" = every pod of the namespace)


@dataclass(frozen=True)
class NodeOptions:
    listen: Listen = Listen()
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
    memory_limit_percentage: int = 75
    memory_spike_percentage: int = 20
    log_level: str = "info"
    span_metrics_flush: str = "15s"


@dataclass
class CollectorConfig:
    """A rendered collector config and what became of each destination."""

    config: dict[str, Any]
    results: dict[str, DestinationResult] = field(default_factory=dict)
    secret_env: dict[str, SecretKeyRef] = field(default_factory=dict)
    signals: list[Signal] = field(default_factory=list)

    def yaml(self) -> str:
        return yaml.safe_dump(self.config, sort_keys=False, width=1000)

    def env(self) -> list[dict[str, Any]]:
        """Container ``env`` entries feeding every secret field from its Secret key."""
        return [
            {"name": name, "valueFrom": {"secretKeyRef": {"name": ref.secret, "key": ref.key}}}
            for name, ref in sorted(self.secret_env.items())
        ]

    @property
    def secrets(self) -> list[str]:
        """Names of the Secrets the collector reads (feed them with :meth:`env`, not ``envFrom``)."""
        return sorted({ref.secret for ref in self.secret_env.values()})

    @property
    def configured(self) -> list[str]:
        return sorted(name for name, r in self.results.items() if r.configured)

    @property
    def problems(self) -> dict[str, str]:
        """Destination name -> why it is not in the config."""
        return {name: r.message for name, r in self.results.items() if not r.configured}


def _otlp_receiver(listen: Listen, *, max_recv_mib: int | None = None) -> dict[str, Any]:
    grpc: dict[str, Any] = {"endpoint": f"{listen.host}:{listen.otlp_grpc_port}"}
    if max_recv_mib:
        grpc["max_recv_msg_size_mib"] = max_recv_mib
        # node collectors hold one long-lived connection each: ageing it out makes them reconnect, so
        # new gateway replicas get their share after a scale-up
        grpc["keepalive"] = {
            "server_parameters": {"max_connection_age": "60s", "max_connection_age_grace": "10s"}
        }
    return {"protocols": {"grpc": grpc, "http": {"endpoint": f"{listen.host}:{listen.otlp_http_port}"}}}


def _memory_limiter(limit: int, spike: int) -> dict[str, Any]:
    return {"check_interval": "1s", "limit_percentage": limit, "spike_limit_percentage": spike}


def _telemetry(listen: Listen, level: str) -> dict[str, Any]:
    reader = {"pull": {"exporter": {"prometheus": {"host": listen.host, "port": listen.metrics_port}}}}
    return {"logs": {"level": level}, "metrics": {"level": "normal", "readers": [reader]}}


def _health(listen: Listen) -> dict[str, Any]:
    return {"endpoint": f"{listen.host}:{listen.health_port}"}


def _discard_pipelines(receiver: str) -> dict[str, Any]:
    """With nothing to export, keep the receiver up and drop what arrives (the collector needs a pipeline)."""
    return {
        f"{s}/discard": {"receivers": [receiver], "exporters": [components.name("exporters", NOP)]}
        for s in SIGNALS
    }


def gateway_from_plan(planned: Plan, options: GatewayOptions = GatewayOptions()) -> CollectorConfig:
    listen = options.listen
    limiter = components.name("processors", "memory_limiter")
    health = components.name("extensions", "health_check")
    processors: dict[str, Any] = {
        limiter: _memory_limiter(options.memory_limit_percentage, options.memory_spike_percentage)
    }
    exporters: dict[str, Any] = {}
    extensions: dict[str, Any] = {health: _health(listen)}
    pipelines: dict[str, Any] = {}
    for item in planned.rendered:
        exporters.update(item.exporters)
        extensions.update(item.extensions)
        processors.update(item.processors)
        for pipeline_id, (procs, exps) in item.pipelines.items():
            if "batch" in procs:
                processors.setdefault(components.name("processors", "batch"), {})
            pipelines[pipeline_id] = {
                "receivers": ["otlp"],
                "processors": [limiter, *procs],
                "exporters": exps,
            }
    if not pipelines:
        exporters[components.name("exporters", NOP)] = {}
        pipelines = _discard_pipelines("otlp")
    config = {
        "receivers": {"otlp": _otlp_receiver(listen, max_recv_mib=128)},
        "processors": processors,
        "exporters": exporters,
        "extensions": extensions,
        "service": {
            "extensions": list(extensions),
            "pipelines": pipelines,
            "telemetry": _telemetry(listen, options.log_level),
        },
    }
    return CollectorConfig(
        config=config,
        results=planned.results,
        secret_env=planned.secret_env,
        signals=sorted(planned.signals(), key=SIGNALS.index),
    )


def render_gateway(
    destinations: Iterable[Destination | Mapping[str, Any]],
    *,
    options: GatewayOptions = GatewayOptions(),
    secret_keys: Mapping[str, Collection[str]] | None = None,
) -> CollectorConfig:
    """The gateway config for ``destinations`` and a result per destination (for its status)."""
    return gateway_from_plan(plan(destinations, secret_keys=secret_keys), options)


def _k8sattributes(mode: str, node_env: str, auth: str) -> dict[str, Any]:
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
            )
        },
        "pod_association": [
            {"sources": [{"from": "resource_attribute", "name": constants.ATTR_POD_UID}]},
            {"sources": [{"from": "resource_attribute", "name": "k8s.pod.ip"}]},
            {"sources": [{"from": "connection"}]},
        ],
    }


def _filelog(options: NodeOptions) -> dict[str, Any]:
    root = options.pod_log_root.rstrip("/")
    include = [f"{root}/{src.namespace}_{src.pod_prefix}*/*/*.log" for src in options.log_sources]
    return {
        "include": include,
        "exclude": [f"{root}/{constants.NAMESPACE}_*/*/*.log"],
        "start_at": "end",
        "include_file_path": True,
        "include_file_name": False,
        # parses the CRI/docker line format and sets k8s.namespace.name, k8s.pod.name, k8s.pod.uid,
        # k8s.container.name from the path, so k8sattributes can associate the records with their pod
        "operators": [{"type": "container", "id": "container-parser"}],
    }


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
) -> CollectorConfig:
    """The node collector config for the signals the gateway wants (e.g. a CollectorsGroup's).

    ``span_metrics`` (only with ``metrics``) adds a traces pipeline into the ``spanmetrics`` connector, whose
    output joins the metrics pipeline; traces themselves still go to the gateway only if it wants them.
    """
    listen = options.listen
    signals = sorted(set(signals), key=SIGNALS.index)
    limiter = components.name("processors", "memory_limiter")
    processors: dict[str, Any] = {
        limiter: _memory_limiter(options.memory_limit_percentage, options.memory_spike_percentage)
    }
    chain = [limiter]
    if options.kubernetes != "off":
        k8s = components.name("processors", "k8sattributes")
        processors[k8s] = _k8sattributes(options.kubernetes, options.node_name_env, options.kube_auth)
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
    receivers: dict[str, Any] = {"otlp": _otlp_receiver(listen)}
    connectors: dict[str, Any] = {}
    spans = components.name("connectors", "spanmetrics")
    if span_metrics and "metrics" in signals:
        connectors[spans] = _span_metrics(options)
    pipelines: dict[str, Any] = {}
    for signal in SIGNALS:
        inputs = ["otlp"]
        outputs = [gateway] if signal in signals else []
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
    exporters: dict[str, Any] = {gateway: exporter}
    if not pipelines:
        exporters = {components.name("exporters", NOP): {}}
        processors = {}
        pipelines = _discard_pipelines("otlp")
    health = components.name("extensions", "health_check")
    config = {
        "receivers": receivers,
        "processors": processors,
        **({"connectors": connectors} if connectors else {}),
        "exporters": exporters,
        "extensions": {health: _health(listen)},
        "service": {
            "extensions": [health],
            "pipelines": pipelines,
            "telemetry": _telemetry(listen, options.log_level),
        },
    }
    return CollectorConfig(config=config, signals=list(signals))


def node_from_plan(planned: Plan, options: NodeOptions = NodeOptions()) -> CollectorConfig:
    rendered = node_for_signals(
        planned.signals(),
        host_metrics=_wants_host_metrics(planned),
        span_metrics=_wants_span_metrics(planned),
        options=options,
    )
    rendered.results = planned.results
    return rendered


def _wants_span_metrics(planned: Plan) -> bool:
    return any(
        "metrics" in r.signals and not catalogue.get_type(r.type).derives_request_metrics
        for r in planned.rendered
    )


def _wants_host_metrics(planned: Plan) -> bool:
    return any("metrics" in r.signals and catalogue.get_type(r.type).host_metrics for r in planned.rendered)


def render_node(
    destinations: Iterable[Destination | Mapping[str, Any]], *, options: NodeOptions = NodeOptions()
) -> CollectorConfig:
    """The node collector config: receives what the configured destinations need, sends it to the gateway."""
    return node_from_plan(plan(destinations), options)
