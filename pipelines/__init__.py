"""The shape of the collectors' pipelines: everything between the receivers and the exporters.

``destinations/`` renders each backend's exporters; this package decides the rest, in one documented order:
``memory_limiter`` first; then Kubernetes attributes (node); then sampling (dropped operations, tail
sampling; gateway); then the Actions in name order; batching last. And it assembles the whole config of
each role.

Public API:

- :func:`render_gateway` / :func:`render_node` (and the ``*_from_plan`` forms) -> :class:`CollectorConfig`
  (``config``, per-destination ``results``, per-Action ``actions``, per-rule ``rules``, secret ``env()``);
- :class:`GatewayOptions`, :class:`NodeOptions`, :class:`Listen`, :class:`LogSource`, :class:`Sizing`;
- :mod:`pipelines.kinds` — the declarative kinds of Actions and SamplingRules (``pipelines/kinds/*.yaml``);
- :func:`actions.plan`, :func:`sampling.plan`, :func:`sampling.head_sampler` — rules to stages;
- :mod:`pipelines.affinity` — trace-ID affinity across gateway replicas for tail sampling.

Errors: :mod:`pipelines.errors`.
"""

from pipelines import actions, affinity, kinds, sampling
from pipelines.common import CollectorConfig, Listen
from pipelines.errors import KindFileError, PipelineError, RuleInvalid
from pipelines.gateway import GatewayOptions, gateway_from_plan, render_gateway
from pipelines.node import LogSource, NodeOptions, node_for_signals, node_from_plan, render_node
from pipelines.results import Result
from pipelines.sizing import Sizing, sizing

__all__ = [
    "CollectorConfig",
    "GatewayOptions",
    "KindFileError",
    "Listen",
    "LogSource",
    "NodeOptions",
    "PipelineError",
    "Result",
    "RuleInvalid",
    "Sizing",
    "actions",
    "affinity",
    "gateway_from_plan",
    "kinds",
    "node_for_signals",
    "node_from_plan",
    "render_gateway",
    "render_node",
    "sampling",
    "sizing",
]
