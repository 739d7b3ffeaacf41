"""SamplingRules -> the gateway's ``filter`` (dropped operations) and ``tail_sampling`` stages, and the head
sampler agents get.

Tail rules keep traces; a trace is kept when any rule keeps it:

- ``errors`` and ``latency`` rules keep every matching trace, whatever else is said;
- ``percentage`` rules keep a share: one naming a service sets that service's rate, the cluster-wide one
  the rate of every other service; with no cluster-wide rule, services without a rate of their own are kept
  in full (turning tail sampling on never silently drops a service nobody wrote a rule for);
- ``dropOperations`` drops matching spans before any of that (health checks, probes).

Tail rules can be limited to namespaces (``k8s.namespace.name``); a rule for one workload is written with
its service name instead. Head rules (``head``) give the agents of the workloads in scope a trace-ID ratio
sampler, the most specific rule winning (workload, then namespace, then cluster-wide); agents take it at
their next rollout.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from api import constants
from api.models import Sampler, SamplingRule
from pipelines import kinds, scope
from pipelines.errors import RuleInvalid
from pipelines.results import Result, parse

TAIL = "tail_sampling"
DROP = "filter/drop-operations"


@dataclass
class SamplingPlan:
    drop_conditions: list[str] = field(default_factory=list)  # OTTL span conditions: matching spans dropped
    policies: list[dict[str, Any]] = field(default_factory=list)  # tail_sampling policies, in order
    head: list[tuple[SamplingRule, Sampler]] = field(default_factory=list)
    results: dict[str, Result] = field(default_factory=dict)

    @property
    def tail(self) -> bool:
        """Tail sampling is on (which needs trace affinity across gateway replicas)."""
        return bool(self.policies)

    def tail_sampling(self, decision_wait_s: int, num_traces: int) -> dict[str, Any]:
        return {
            "decision_wait": f"{decision_wait_s}s",
            "num_traces": num_traces,
            "expected_new_traces_per_sec": max(1, num_traces // max(1, decision_wait_s) // 2),
            "policies": self.policies,
        }

    def drop_filter(self) -> dict[str, Any]:
        return {"error_mode": "ignore", "traces": {"span": self.drop_conditions}}


Rate = tuple[str, str | None, dict[str, Any], list[dict[str, Any]]]  # rule, service, policy, namespaces


def _others(services: list[str]) -> list[dict[str, Any]]:
    """A sub-policy matching traces of every service except ``services`` (which have rates of their own)."""
    return [_string_attribute(constants.ATTR_SERVICE_NAME, services, invert=True)] if services else []


def _string_attribute(key: str, values: list[str], invert: bool = False) -> dict[str, Any]:
    config: dict[str, Any] = {"key": key, "values": values}
    if invert:
        config["invert_match"] = True
    return {"type": "string_attribute", "string_attribute": config}


def _and(name: str, policy: dict[str, Any], extra: list[dict[str, Any]]) -> dict[str, Any]:
    """``policy`` limited by ``extra`` sub-policies (flattened into one ``and``)."""
    if not extra:
        return {"name": name, **policy}
    subs = policy["and"]["and_sub_policy"] if policy.get("type") == "and" else [policy]
    return {"name": name, "type": "and", "and": {"and_sub_policy": [*subs, *extra]}}


def _namespaces(rule: SamplingRule, kind: kinds.KindFile) -> list[dict[str, Any]]:
    where = rule.spec.scope
    if where is None or where.everything:
        return []
    if where.workloads:
        raise RuleInvalid(
            f"{kind.display_name} on the gateway can be limited to namespaces or, for one workload, to its "
            "service name (the service field)",
            reason="ScopeNotSupported",
        )
    return [_string_attribute(constants.ATTR_NAMESPACE, list(where.namespaces))]


def plan(rules: Iterable[SamplingRule | Mapping[str, Any]]) -> SamplingPlan:
    out = SamplingPlan()
    parsed: list[SamplingRule] = []
    for index, item in enumerate(rules):
        found = parse(SamplingRule, item, index)
        if isinstance(found, Result):
            out.results[found.name] = found
        else:
            parsed.append(found)
    keep: list[dict[str, Any]] = []
    rates: list[
        tuple[str, str | None, dict[str, Any], list[dict[str, Any]]]
    ] = []  # name, service, policy, ns
    for rule in sorted(parsed, key=lambda r: r.metadata.name):
        name = rule.metadata.name
        if rule.spec.disabled:
            out.results[name] = Result(name, False, "Disabled", "the rule is disabled")
            continue
        try:
            kind = kinds.get_kind(rule.spec.kind)
            settings = kinds.check_settings(kind, rule.spec.settings)
            message = _add(out, rule, kind, settings, keep, rates)
        except RuleInvalid as exc:
            out.results[name] = Result(name, False, exc.reason, str(exc), exc.field)
            continue
        out.results[name] = Result(name, True, "AppliedToCollectors", message)
    if keep or rates:
        services = sorted({service for _, service, _, _ in rates if service})
        cluster_wide = [r for r in rates if not r[1]]
        for name, service, policy, ns in rates:
            if service:
                out.policies.append(
                    _and(f"{name}", policy, [_string_attribute(constants.ATTR_SERVICE_NAME, [service]), *ns])
                )
            else:
                others = (
                    [_string_attribute(constants.ATTR_SERVICE_NAME, services, invert=True)]
                    if services
                    else []
                )
                out.policies.append(_and(name, policy, [*others, *ns]))
        if not cluster_wide:
            rest = {"type": "always_sample"}
            others = (
                [_string_attribute(constants.ATTR_SERVICE_NAME, services, invert=True)] if services else []
            )
            out.policies.append(_and("hodegos-keep-the-rest", rest, others))
        out.policies = keep + out.policies
    return out


def _add(
    out: SamplingPlan,
    rule: SamplingRule,
    kind: kinds.KindFile,
    settings: kinds.Settings,
    keep: list[dict[str, Any]],
    rates: list[Rate],
) -> str:
    """Add one valid rule to the plan; returns the message of its ``Applied`` condition."""
    name = rule.metadata.name
    if kind.stage == "head":
        assert kind.head is not None
        values = {k: str(kinds.fill_data(v, kind, settings)) for k, v in kind.head.items()}
        try:
            sampler = Sampler.model_validate(values)
        except ValidationError as exc:
            message = f"{kind.kind}: a ratio from 0 to 1 ({exc.errors()[0]['msg']})"
            raise RuleInvalid(message, reason="InvalidField", field="ratio") from exc
        out.head.append((rule, sampler))
        return f"agents in scope sample with {sampler.name}({sampler.argument}) from their next rollout"
    if kind.stage == "filter":
        where = scope.condition(rule.spec.scope, "span")
        found = [scope.scoped(c, None) for c in kinds.expand(kind.conditions, kind, settings)]
        if not found:
            raise RuleInvalid(
                f"{kind.display_name}: name at least one route or span name", reason="NothingToDo"
            )
        out.drop_conditions += [f"({c}) and {where}" if where else c for c in found]
        return f"drops spans matching any of {len(found)} conditions on the gateway, before sampling"
    assert kind.policy is not None
    policy = kinds.fill_data(kind.policy, kind, settings)
    ns = _namespaces(rule, kind)
    if rule.spec.kind == "percentage":
        percent = float(settings["percent"])
        if not 0 <= percent <= 100:
            raise RuleInvalid(
                "percentage.percent: must be between 0 and 100", reason="InvalidField", field="percent"
            )
        rates.append((name, settings.get("service"), policy, ns))
        who = f"service {settings['service']}" if settings.get("service") else "every other service"
        return f"keeps {settings['percent']} % of the traces of {who} on the gateway"
    keep.append(_and(name, policy, ns))
    return "keeps every matching trace on the gateway"


def head_sampler(
    samplers: Iterable[tuple[SamplingRule, Sampler]], namespace: str, kind: str, name: str
) -> Sampler | None:
    """The head sampler for one workload: the most specific rule in scope (then the first by name)."""
    best: tuple[int, str, Sampler] | None = None
    for rule, sampler in samplers:
        rank = scope.applies(rule.spec.scope, namespace, kind, name)
        if rank and (best is None or rank > best[0] or (rank == best[0] and rule.metadata.name < best[1])):
            best = (rank, rule.metadata.name, sampler)
    return best[2] if best else None
