"""The gateway's configuration: OTLP in, one shared stage, then a pipeline per destination.

Per signal the destinations want::

    <signal>/in:      otlp -> memory_limiter -> [filter/drop-operations, tail_sampling] -> actions
                      -> forward/<signal>
    <signal>/<dest>:  forward/<signal> -> the destination's own processors -> [batch] -> its exporter(s)

``memory_limiter`` runs first and once; dropped operations and tail sampling (traces) come next, so what is
dropped costs nothing further; then the Actions in name order; batching happens last, exporter-side
(``sending_queue.batch``) where the exporter supports it, else with the ``batch`` processor. A destination
is never affected by another's problems: each gets its own pipeline after the fan-out.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from api.models import SIGNALS, Action, Destination, SamplingRule
from destinations import components
from destinations.planning import Plan, plan
from pipelines import actions as action_rules
from pipelines import sampling as sampling_rules
from pipelines.common import (
    DEFAULT_LISTEN as LOOPBACK_DEFAULT,
)
from pipelines.common import NOP, CollectorConfig, Listen, discard_pipelines, health, otlp_receiver, service
from pipelines.sizing import Sizing, percentage_limiter

FORWARD = "forward"
DEFAULT_DECISION_WAIT = 10  # seconds a trace is held before tail sampling decides


@dataclass(frozen=True)
class GatewayOptions:
    listen: Listen = LOOPBACK_DEFAULT
    sizing: Sizing | None = None  # from the container's limit; None: percentages of what the process sees
    memory_limit_percentage: int = 80
    memory_spike_percentage: int = 20
    decision_wait_seconds: int = DEFAULT_DECISION_WAIT
    num_traces: int | None = None  # tail sampling's buffer; default from ``sizing`` (else 50,000)
    log_level: str = "info"


def _limiter(options: GatewayOptions) -> dict[str, Any]:
    if options.sizing is not None:
        return options.sizing.memory_limiter()
    return percentage_limiter(options.memory_limit_percentage, options.memory_spike_percentage)


def gateway_from_plan(
    planned: Plan,
    options: GatewayOptions = GatewayOptions(),
    actions: action_rules.ActionsPlan | None = None,
    rules: sampling_rules.SamplingPlan | None = None,
) -> CollectorConfig:
    actions = actions or action_rules.ActionsPlan()
    rules = rules or sampling_rules.SamplingPlan()
    listen = options.listen
    limiter = components.name("processors", "memory_limiter")
    forward = components.name("connectors", FORWARD)
    processors: dict[str, Any] = {limiter: _limiter(options)}
    exporters: dict[str, Any] = {}
    connectors: dict[str, Any] = {}
    extensions: dict[str, Any] = {components.name("extensions", "health_check"): health(listen)}
    pipelines: dict[str, Any] = {}
    signals = [s for s in SIGNALS if s in planned.signals()]
    for signal in signals:
        stage: list[str] = [limiter]
        if signal == "traces":
            if rules.drop_conditions:
                drop = sampling_rules.DROP.replace("filter", components.name("processors", "filter"), 1)
                processors[drop] = rules.drop_filter()
                stage.append(drop)
            if rules.tail:
                tail = components.name("processors", "tailsampling")
                size = options.num_traces or (options.sizing.num_traces if options.sizing else 50_000)
                processors[tail] = rules.tail_sampling(options.decision_wait_seconds, size)
                stage.append(tail)
        for processor_id, config in actions.gateway_processors(signal):
            processors[processor_id] = config
            stage.append(processor_id)
        fan_out = f"{forward}/{signal}"
        connectors[fan_out] = {}
        pipelines[f"{signal}/in"] = {"receivers": ["otlp"], "processors": stage, "exporters": [fan_out]}
    for item in planned.rendered:
        exporters.update(item.exporters)
        extensions.update(item.extensions)
        processors.update(item.processors)
        for pipeline_id, (procs, exps) in item.pipelines.items():
            source = pipeline_id.split("/", 1)[0]
            if "batch" in procs:
                processors.setdefault(components.name("processors", "batch"), {})
            pipelines[pipeline_id] = {
                "receivers": [f"{forward}/{source}"],
                "processors": list(procs),
                "exporters": exps,
            }
    if not planned.rendered:
        exporters = {components.name("exporters", NOP): {}}
        processors, connectors = {limiter: _limiter(options)}, {}
        pipelines = discard_pipelines("otlp")
    config = {
        "receivers": {"otlp": otlp_receiver(listen, max_recv_mib=128)},
        "processors": processors,
        **({"connectors": connectors} if connectors else {}),
        "exporters": exporters,
        "extensions": extensions,
        "service": service(extensions, pipelines, listen, options.log_level),
    }
    return CollectorConfig(
        config=config,
        results=planned.results,
        secret_env=planned.secret_env,
        signals=signals,
        actions=actions.results,
        rules=rules.results,
    )


def render_gateway(
    destinations: Iterable[Destination | Mapping[str, Any]],
    *,
    actions: Iterable[Action | Mapping[str, Any]] = (),
    rules: Iterable[SamplingRule | Mapping[str, Any]] = (),
    options: GatewayOptions = GatewayOptions(),
    secret_keys: Mapping[str, Collection[str]] | None = None,
) -> CollectorConfig:
    """The gateway config for ``destinations``, with the Actions and SamplingRules; a result for each."""
    return gateway_from_plan(
        plan(destinations, secret_keys=secret_keys),
        options,
        action_rules.plan(actions),
        sampling_rules.plan(rules),
    )
