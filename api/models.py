"""Pydantic models of the Hodegos custom resources (group ``hodegos.io``, version ``v1alpha1``).

Field names are camelCase on the wire (Kubernetes style) and snake_case in Python. The CRD schemas in
``chart/crds/`` are generated from these models by :mod:`api.crds`; a test fails when they drift.

- :class:`InstrumentedApplication`: one per opted-in workload. ``spec`` is owned by the instrumentor
  (which workload, options); ``status`` holds what the node agent detected per container, the rollback state
  and conditions.
- :class:`Destination`: a backend that the gateway collector exports to.
- :class:`CollectorsGroup`: a gateway or node collector group, owned by the controllers.
- :class:`Action`: a change the collectors make to telemetry on its way (cluster info, rename, delete, PII
  masking, Kubernetes attributes). Exactly one kind per Action; each kind's fields and processor template
  are a declarative file in ``pipelines/kinds/``.
- :class:`SamplingRule`: which traces to keep (tail sampling on the gateway: errors, latency, a percentage,
  dropped operations) or head sampling per source (the agents' sampler).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator
from pydantic.alias_generators import to_camel

from api import constants

Language = Literal["python", "nodejs", "java", "dotnet", "go", "ruby", "php", "unknown", "ignored"]
Libc = Literal["glibc", "musl"]
Signal = Literal["traces", "metrics", "logs"]
ConditionStatus = Literal["True", "False", "Unknown"]
CollectorRole = Literal["gateway", "node"]
WorkloadKind = Literal["Deployment", "StatefulSet", "DaemonSet", "CronJob", "Job", "ReplicaSet", "Pod"]

SIGNALS: tuple[Signal, ...] = ("traces", "metrics", "logs")


class Model(BaseModel):
    """Base: camelCase aliases, populate by name, unknown keys rejected (a typo is an error, not silence)."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid")

    def to_dict(self) -> dict[str, Any]:
        return self.model_dump(by_alias=True, exclude_none=True, mode="json")


class OwnerReference(Model):
    api_version: str
    kind: str
    name: str
    uid: str
    controller: bool | None = None
    block_owner_deletion: bool | None = None


class ObjectMeta(Model):
    """The parts of ``metadata`` Hodegos reads; everything else the server sets is kept as-is."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="allow")

    name: str = Field(min_length=1, max_length=253)
    namespace: str | None = None
    labels: dict[str, str] | None = None
    annotations: dict[str, str] | None = None
    generation: int | None = None
    uid: str | None = None
    resource_version: str | None = None
    owner_references: list[OwnerReference] | None = None


class Condition(Model):
    """A ``metav1.Condition``: the state of one aspect, why it is so, and for which generation."""

    type: str = Field(pattern=r"^[A-Za-z][A-Za-z0-9]*$", max_length=316)
    status: ConditionStatus
    reason: str = Field(pattern=r"^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$", max_length=1024)
    message: str = Field(default="", max_length=32768)
    observed_generation: int | None = Field(default=None, ge=0)
    last_transition_time: datetime | None = None


# -- InstrumentedApplication -----------------------------------------------------------------------------


class WorkloadRef(Model):
    kind: WorkloadKind
    name: str = Field(min_length=1, max_length=253)


class Sampler(Model):
    """The head sampler agents use: an ``OTEL_TRACES_SAMPLER`` name and its optional argument."""

    name: Literal[
        "always_on",
        "always_off",
        "traceidratio",
        "parentbased_always_on",
        "parentbased_always_off",
        "parentbased_traceidratio",
    ] = constants.DEFAULT_SAMPLER
    argument: str | None = Field(default=None, pattern=r"^(0(\.[0-9]+)?|1(\.0+)?)$")


class Signals(Model):
    traces: bool = True
    metrics: bool = True
    logs: bool = False


class InstrumentationOptions(Model):
    # None: the cluster default from the Hodegos configuration.
    sampler: Sampler | None = None
    signals: Signals = Field(default_factory=Signals)


class InstrumentedApplicationSpec(Model):
    workload: WorkloadRef
    service_name: str | None = Field(default=None, max_length=253)
    options: InstrumentationOptions = Field(default_factory=InstrumentationOptions)


class ContainerRuntime(Model):
    """What the node agent found running in one container."""

    name: str = Field(min_length=1, max_length=253)
    language: Language
    runtime_version: str | None = None
    libc: Libc | None = None
    other_agents: list[str] = Field(default_factory=list)
    evidence: str | None = None


class Rollback(Model):
    """Set by the instrumentor when injected pods failed; the webhook then injects nothing."""

    reason: str
    message: str = ""
    time: datetime | None = None


class SpanLoss(Model):
    """One node agent's report of the Go spans its eBPF tracer lost for this workload (only it writes it)."""

    dropping: bool  # spans were lost within the agent's quiet period (a minute)
    spans_lost: int = Field(default=0, ge=0)  # since that agent started tracing the workload's pods
    reasons: dict[str, int] = Field(default_factory=dict)  # ring_buffer_full, export_failed, ...
    last_loss_time: datetime | None = None
    message: str = ""


class InstrumentedApplicationStatus(Model):
    observed_generation: int | None = None
    containers: list[ContainerRuntime] = Field(default_factory=list)
    rollback: Rollback | None = None
    conditions: list[Condition] = Field(default_factory=list)
    # Node name -> that node agent's report; a map so each agent merge-patches its own key only.
    span_loss: dict[str, SpanLoss] = Field(default_factory=dict)


class InstrumentedApplication(Model):
    api_version: Literal["hodegos.io/v1alpha1"] = "hodegos.io/v1alpha1"
    kind: Literal["InstrumentedApplication"] = "InstrumentedApplication"
    metadata: ObjectMeta
    spec: InstrumentedApplicationSpec
    status: InstrumentedApplicationStatus | None = None

    def container(self, name: str) -> ContainerRuntime | None:
        for runtime in self.status.containers if self.status else []:
            if runtime.name == name:
                return runtime
        return None


# -- Destination -----------------------------------------------------------------------------------------


class SecretRef(Model):
    name: str = Field(min_length=1, max_length=253)


class DestinationSpec(Model):
    type: str = Field(min_length=1, max_length=63, pattern=r"^[a-z0-9][a-z0-9-]*$")
    display_name: str | None = Field(default=None, max_length=253)
    signals: list[Signal] = Field(min_length=1)
    data: dict[str, str] = Field(default_factory=dict)
    secret_ref: SecretRef | None = None
    disabled: bool = False


class DestinationStatus(Model):
    observed_generation: int | None = None
    conditions: list[Condition] = Field(default_factory=list)


class Destination(Model):
    api_version: Literal["hodegos.io/v1alpha1"] = "hodegos.io/v1alpha1"
    kind: Literal["Destination"] = "Destination"
    metadata: ObjectMeta
    spec: DestinationSpec
    status: DestinationStatus | None = None


# -- CollectorsGroup -------------------------------------------------------------------------------------


class CollectorResources(Model):
    memory_request_mib: int = Field(default=256, ge=32)
    memory_limit_mib: int = Field(default=512, ge=64)
    cpu_request_millis: int = Field(default=100, ge=10)
    cpu_limit_millis: int | None = Field(default=None, ge=10)
    min_replicas: int = Field(default=1, ge=1)
    max_replicas: int = Field(default=5, ge=1)
    # How long the gateway's load must stay low before the HPA removes replicas (its scale-down
    # stabilization window): long by default, so a bursty workload does not make the gateway flap.
    scale_down_window_seconds: int = Field(default=900, ge=0, le=3600)


class CollectorsGroupSpec(Model):
    role: CollectorRole
    signals: list[Signal] = Field(default_factory=list)
    resources: CollectorResources = Field(default_factory=CollectorResources)


class CollectorsGroupStatus(Model):
    observed_generation: int | None = None
    ready: bool = False
    config_hash: str | None = None
    receiver_signals: list[Signal] = Field(default_factory=list)
    conditions: list[Condition] = Field(default_factory=list)


class CollectorsGroup(Model):
    api_version: Literal["hodegos.io/v1alpha1"] = "hodegos.io/v1alpha1"
    kind: Literal["CollectorsGroup"] = "CollectorsGroup"
    metadata: ObjectMeta
    spec: CollectorsGroupSpec
    status: CollectorsGroupStatus | None = None


# -- Actions and sampling rules ----------------------------------------------------------------------------


class WorkloadScope(Model):
    namespace: str = Field(min_length=1, max_length=63)
    kind: WorkloadKind
    name: str = Field(min_length=1, max_length=253)


class Scope(Model):
    """Which sources a rule or action applies to; empty means every source."""

    namespaces: list[str] = Field(default_factory=list)
    workloads: list[WorkloadScope] = Field(default_factory=list)

    @property
    def everything(self) -> bool:
        return not self.namespaces and not self.workloads


# The kinds, by the name of their file in pipelines/kinds/ (a test checks the two lists agree).
ACTION_KINDS: tuple[str, ...] = (
    "addClusterInfo",
    "renameAttribute",
    "deleteAttribute",
    "piiMasking",
    "k8sAttributes",
)
SAMPLING_KINDS: tuple[str, ...] = ("errors", "latency", "percentage", "dropOperations", "head")

KindSettings = dict[str, Any]  # the kind's fields, checked against its file in pipelines/kinds/


class _OneKind(Model):
    """Exactly one of the kind fields is set; its value holds that kind's settings (fields of its file)."""

    KINDS: ClassVar[tuple[str, ...]] = ()

    @model_validator(mode="after")
    def _exactly_one(self) -> _OneKind:
        chosen = [k for k in self.KINDS if getattr(self, _snake(k)) is not None]
        if len(chosen) != 1:
            raise ValueError(
                f"set exactly one of {', '.join(self.KINDS)}"
                + (f" (got {', '.join(chosen)})" if chosen else "")
            )
        return self

    @property
    def kind(self) -> str:
        return next(k for k in self.KINDS if getattr(self, _snake(k)) is not None)

    @property
    def settings(self) -> KindSettings:
        value: KindSettings = getattr(self, _snake(self.kind))
        return value


def _snake(name: str) -> str:
    return "".join(f"_{c.lower()}" if c.isupper() else c for c in name).lstrip("_")


class ActionSpec(_OneKind):
    KINDS: ClassVar[tuple[str, ...]] = ACTION_KINDS

    display_name: str | None = Field(default=None, max_length=253)
    signals: list[Signal] = Field(default_factory=lambda: list(SIGNALS), min_length=1)
    disabled: bool = False
    scope: Scope | None = None
    add_cluster_info: KindSettings | None = None
    rename_attribute: KindSettings | None = None
    delete_attribute: KindSettings | None = None
    pii_masking: KindSettings | None = None
    k8s_attributes: KindSettings | None = Field(default=None, alias="k8sAttributes")


class SamplingRuleSpec(_OneKind):
    KINDS: ClassVar[tuple[str, ...]] = SAMPLING_KINDS

    display_name: str | None = Field(default=None, max_length=253)
    disabled: bool = False
    scope: Scope | None = None
    errors: KindSettings | None = None
    latency: KindSettings | None = None
    percentage: KindSettings | None = None
    drop_operations: KindSettings | None = None
    head: KindSettings | None = None


class RuleStatus(Model):
    observed_generation: int | None = None
    conditions: list[Condition] = Field(default_factory=list)


class Action(Model):
    api_version: Literal["hodegos.io/v1alpha1"] = "hodegos.io/v1alpha1"
    kind: Literal["Action"] = "Action"
    metadata: ObjectMeta
    spec: ActionSpec
    status: RuleStatus | None = None


class SamplingRule(Model):
    api_version: Literal["hodegos.io/v1alpha1"] = "hodegos.io/v1alpha1"
    kind: Literal["SamplingRule"] = "SamplingRule"
    metadata: ObjectMeta
    spec: SamplingRuleSpec
    status: RuleStatus | None = None
