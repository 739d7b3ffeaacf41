"""Names and numbers shared by the webhook, controllers, node agent, collectors, chart and CLI.

Keep this module free of logic: it is the one place a reader looks up what a key means.
"""

from typing import Final

# -- CRD group -------------------------------------------------------------------------------------------
GROUP: Final = "hodegos.io"
VERSION: Final = "v1alpha1"
API_VERSION: Final = f"{GROUP}/{VERSION}"
CATEGORY: Final = "hodegos"  # `kubectl get hodegos` lists every Hodegos kind

# -- Components ------------------------------------------------------------------------------------------
PRODUCT: Final = "hodegos"
NAMESPACE: Final = "hodegos-system"  # where Hodegos itself runs; never instrumented
FIELD_MANAGER: Final = "hodegos"
WEBHOOK_SERVICE: Final = "hodegos-webhook"
WEBHOOK_CONFIGURATION: Final = "hodegos-pod-injection"
WEBHOOK_NAME: Final = "pods.injection.hodegos.io"
WEBHOOK_PATH: Final = "/mutate"
WEBHOOK_CERT_SECRET: Final = "hodegos-webhook-cert"
GATEWAY_NAME: Final = "hodegos-gateway"
NODE_COLLECTOR_NAME: Final = "hodegos-node-collector"
CONFIG_MAP: Final = "hodegos-config"  # the cluster-wide Hodegos configuration

# -- Annotations -----------------------------------------------------------------------------------------
# On a Namespace, a workload (or its pod template) or a Pod: "enabled" or "disabled".
# Precedence: pod "disabled" always wins; then workload; then namespace; then the cluster default.
ANNOTATION_INSTRUMENTATION: Final = "hodegos.io/instrumentation"
INSTRUMENTATION_ENABLED: Final = "enabled"
INSTRUMENTATION_DISABLED: Final = "disabled"
# On a workload or pod: overrides OTEL_SERVICE_NAME.
ANNOTATION_SERVICE_NAME: Final = "hodegos.io/service-name"
# On an injected pod: the injection rules version it got (the idempotence marker).
ANNOTATION_INJECTED: Final = "hodegos.io/injected"
# On an injected pod: per-container outcome as compact JSON, {"app": "injected:python", ...}.
ANNOTATION_INJECTION_STATUS: Final = "hodegos.io/injection-status"
# On a workload's pod template: written by the instrumentor to roll the workload (like rollout restart).
ANNOTATION_RESTARTED_AT: Final = "hodegos.io/restartedAt"
# On a workload: "true" re-enables injection after an automatic rollback.
ANNOTATION_RECOVER: Final = "hodegos.io/recover-from-rollback"

# -- Labels ----------------------------------------------------------------------------------------------
# On a pod whose Go containers the node agent traces with eBPF. Value "true"; which containers are Go is
# in the ANNOTATION_INJECTION_STATUS annotation (action "labelled").
LABEL_EBPF_GO: Final = "hodegos.io/ebpf-go"
# Immutable namespace name label set by the API server; used by the webhook's namespaceSelector.
LABEL_NAMESPACE_NAME: Final = "kubernetes.io/metadata.name"
LABEL_NAME: Final = "app.kubernetes.io/name"
LABEL_INSTANCE: Final = "app.kubernetes.io/instance"
LABEL_COMPONENT: Final = "app.kubernetes.io/component"
LABEL_PART_OF: Final = "app.kubernetes.io/part-of"
LABEL_MANAGED_BY: Final = "app.kubernetes.io/managed-by"
POD_TEMPLATE_HASH: Final = "pod-template-hash"

# -- Ports -----------------------------------------------------------------------------------------------
OTLP_GRPC_PORT: Final = 4317
OTLP_HTTP_PORT: Final = 4318
WEBHOOK_PORT: Final = 9443
COLLECTOR_HEALTH_PORT: Final = 13133
COLLECTOR_METRICS_PORT: Final = 8888
UI_PORT: Final = 3000
NODE_AGENT_METRICS_PORT: Final = 9470  # `hodegos agent run` /metrics (eBPF tracer), loopback by default

# -- Environment variables set in injected containers ------------------------------------------------------
ENV_SERVICE_NAME: Final = "OTEL_SERVICE_NAME"
ENV_RESOURCE_ATTRIBUTES: Final = "OTEL_RESOURCE_ATTRIBUTES"
ENV_EXPORTER_ENDPOINT: Final = "OTEL_EXPORTER_OTLP_ENDPOINT"
ENV_EXPORTER_PROTOCOL: Final = "OTEL_EXPORTER_OTLP_PROTOCOL"
ENV_PROPAGATORS: Final = "OTEL_PROPAGATORS"
ENV_TRACES_SAMPLER: Final = "OTEL_TRACES_SAMPLER"
ENV_TRACES_SAMPLER_ARG: Final = "OTEL_TRACES_SAMPLER_ARG"
ENV_TRACES_EXPORTER: Final = "OTEL_TRACES_EXPORTER"
ENV_METRICS_EXPORTER: Final = "OTEL_METRICS_EXPORTER"
ENV_LOGS_EXPORTER: Final = "OTEL_LOGS_EXPORTER"
# Downward-API helpers; names carry our prefix so they never collide with the user's.
ENV_POD_NAME: Final = "HODEGOS_POD_NAME"
ENV_POD_UID: Final = "HODEGOS_POD_UID"
ENV_NODE_NAME: Final = "HODEGOS_NODE_NAME"
ENV_HOST_IP: Final = "HODEGOS_HOST_IP"
# Set on the node agent and collectors.
ENV_NODE_IP: Final = "NODE_IP"

DEFAULT_PROPAGATORS: Final = "tracecontext,baggage"
DEFAULT_SAMPLER: Final = "parentbased_always_on"

# -- Resource attribute keys (OpenTelemetry semantic conventions) ----------------------------------------
ATTR_SERVICE_NAME: Final = "service.name"
ATTR_SERVICE_INSTANCE_ID: Final = "service.instance.id"
ATTR_NAMESPACE: Final = "k8s.namespace.name"
ATTR_POD_NAME: Final = "k8s.pod.name"
ATTR_POD_UID: Final = "k8s.pod.uid"
ATTR_NODE_NAME: Final = "k8s.node.name"
ATTR_CONTAINER_NAME: Final = "k8s.container.name"

# Workload kinds Hodegos keeps records for, and the resource attribute naming each.
WORKLOAD_KINDS: Final = ("Deployment", "StatefulSet", "DaemonSet", "CronJob", "Job", "ReplicaSet", "Pod")
WORKLOAD_ATTRIBUTE: Final = {
    "Deployment": "k8s.deployment.name",
    "StatefulSet": "k8s.statefulset.name",
    "DaemonSet": "k8s.daemonset.name",
    "CronJob": "k8s.cronjob.name",
    "Job": "k8s.job.name",
    "ReplicaSet": "k8s.replicaset.name",
    "Pod": "k8s.pod.name",
}

# Containers that are never instrumented unless the configuration says otherwise.
DEFAULT_IGNORED_CONTAINERS: Final = (
    "istio-proxy",
    "istio-init",
    "linkerd-proxy",
    "linkerd-init",
    "vault-agent",
    "vault-agent-init",
    "envoy",
    "cloud-sql-proxy",
    "filebeat",
    "fluentd",
    "fluent-bit",
    "akeyless-init",
)
# Namespaces that are never instrumented.
DEFAULT_IGNORED_NAMESPACES: Final = ("kube-system", "kube-public", "kube-node-lease", NAMESPACE)


def record_name(kind: str, name: str) -> str:
    """Name of the InstrumentedApplication for a workload: ``<kind>-<name>``, lower-case, in its namespace.

    Deterministic so the webhook finds a pod's record from its owner reference alone, with no API call.
    """
    return f"{kind.lower()}-{name}"


# -- Added by the controllers ----------------------------------------------------------------------------
# On a workload's pod template, next to ANNOTATION_RESTARTED_AT: what the last Hodegos rollout was for,
# "inject" or "clean", so a completed rollout is not repeated for the same target.
ANNOTATION_ROLLOUT_TARGET: Final = "hodegos.io/rollout-target"
# On a collector's pod template: hash of its rendered configuration and referenced Secrets.
ANNOTATION_CONFIG_HASH: Final = "hodegos.io/config-hash"
# Lease used for the controllers' leader election (in the Hodegos namespace).
CONTROLLERS_LEASE: Final = "hodegos-controllers"
