"""The sources table: every workload with its opt-in state and why, as pure functions of cached objects.

:func:`rows` builds one :class:`SourceRow` per workload (opt-in from :func:`controllers.optin.decide`,
detected runtimes from its InstrumentedApplication, injection state of its pods from
:func:`controllers.rollouts.is_instrumented`); :func:`select` filters (namespace, language, state, text),
sorts and cuts one page. :func:`details` is the whole story of one workload, from
:func:`controllers.describing.story` plus the webhook's per-container decision.

States: ``off`` (not opted in), ``pending`` (opted in, not every pod instrumented yet), ``instrumented``,
``rolled-back`` (injection stopped after failures; "recover" clears it), ``ignored`` (its namespace is
ignored by the configuration; hidden unless asked for).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any
from urllib.parse import urlencode

from api import constants
from api.config import HodegosConfig
from controllers import describing, optin, rollouts
from pipelines import kinds
from ui.cluster import Cluster

STATES = ("off", "pending", "instrumented", "rolled-back", "ignored")
STATE_LABELS = {
    "off": "Not instrumented",
    "pending": "Pending",
    "instrumented": "Instrumented",
    "rolled-back": "Rolled back",
    "ignored": "Ignored",
}


@dataclass(frozen=True)
class SourceRow:
    kind: str
    namespace: str
    name: str
    enabled: bool
    reason: str
    message: str
    annotation: str | None  # the workload's own hodegos.io/instrumentation value, if any
    state: str
    languages: tuple[str, ...]
    pods: int
    injected: int
    record: bool
    rollback: str | None

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.kind}/{self.name}"

    @property
    def row_id(self) -> str:
        return f"src-{self.namespace}-{self.kind.lower()}-{self.name}"


def own_annotation(obj: Mapping[str, Any] | None) -> str | None:
    value = ((obj or {}).get("metadata", {}).get("annotations") or {}).get(
        constants.ANNOTATION_INSTRUMENTATION
    )
    return str(value) if value is not None else None


def row(
    workload: Mapping[str, Any],
    namespace: Mapping[str, Any] | None,
    record: Mapping[str, Any] | None,
    pods: Sequence[Mapping[str, Any]],
    config: HodegosConfig,
) -> SourceRow:
    meta = workload["metadata"]
    decision = optin.decide(workload, namespace, config)
    status = (record or {}).get("status") or {}
    rollback = status.get("rollback") or None
    injected = sum(1 for p in pods if rollouts.is_instrumented(p))
    if decision.reason == "IgnoredNamespace":
        state = "ignored"
    elif not decision.enabled:
        state = "off"
    elif rollback:
        state = "rolled-back"
    elif pods and injected == len(pods):
        state = "instrumented"
    else:
        state = "pending"
    languages = tuple(
        sorted({str(c.get("language")) for c in status.get("containers") or [] if c.get("language")})
    )
    return SourceRow(
        kind=workload["kind"],
        namespace=meta["namespace"],
        name=meta["name"],
        enabled=decision.enabled,
        reason=decision.reason,
        message=decision.message,
        annotation=own_annotation(workload),
        state=state,
        languages=languages,
        pods=len(pods),
        injected=injected,
        record=record is not None,
        rollback=str(rollback.get("reason")) if isinstance(rollback, Mapping) else None,
    )


def rows(cluster: Cluster, namespace: str | None = None) -> list[SourceRow]:
    """Every workload's row (computed once per change of the caches), or one namespace's."""
    every = cluster.memo("source-rows", lambda: _all_rows(cluster))
    return [r for r in every if r.namespace == namespace] if namespace else every


def _all_rows(cluster: Cluster) -> list[SourceRow]:
    config = cluster.config
    out = []
    for workload in cluster.all_workloads():
        meta = workload["metadata"]
        ns = meta.get("namespace", "")
        out.append(
            row(
                workload,
                cluster.namespace_obj(ns),
                cluster.record(workload["kind"], ns, meta["name"]),
                cluster.pods_of(workload["kind"], ns, meta["name"]),
                config,
            )
        )
    return out


@dataclass(frozen=True)
class Filters:
    namespace: str = ""
    language: str = ""
    state: str = ""
    q: str = ""
    page: int = 1

    def query(self, **changes: Any) -> str:
        """This filter as a query string, with ``changes`` applied (for links)."""
        values = {**asdict(self), **changes}
        return urlencode({k: v for k, v in values.items() if v and not (k == "page" and v == 1)})


@dataclass
class Page:
    rows: list[SourceRow]
    total: int
    page: int
    pages: int
    counts: dict[str, int] = field(default_factory=dict)  # state -> rows (before the state filter)
    languages: list[str] = field(default_factory=list)


def select(all_rows: Sequence[SourceRow], filters: Filters, page_size: int) -> Page:
    text = filters.q.strip().lower()
    matched = [
        r for r in all_rows
        if (not filters.language or filters.language in r.languages)
        and (not text or text in r.name.lower() or text in r.namespace.lower())
    ]  # fmt: skip
    counts = {s: 0 for s in STATES}
    for r in matched:
        counts[r.state] += 1
    if filters.state:
        matched = [r for r in matched if r.state == filters.state]
    else:
        matched = [r for r in matched if r.state != "ignored"]
    matched.sort(key=lambda r: (r.namespace, r.kind, r.name))
    pages = max(1, -(-len(matched) // page_size))
    page = min(max(1, filters.page), pages)
    start = (page - 1) * page_size
    languages = sorted({lang for r in all_rows for lang in r.languages})
    return Page(matched[start : start + page_size], len(matched), page, pages, counts, languages)


@dataclass(frozen=True)
class NamespaceRow:
    name: str
    annotation: str | None
    ignored: bool
    workloads: int
    enabled: int


def namespaces(cluster: Cluster, all_rows: Sequence[SourceRow]) -> list[NamespaceRow]:
    per: dict[str, list[SourceRow]] = {}
    for r in all_rows:
        per.setdefault(r.namespace, []).append(r)
    ignored = set(cluster.config.ignored_namespaces)
    out = []
    for ns in sorted(cluster.namespaces.items(), key=lambda n: n["metadata"]["name"]):
        name = ns["metadata"]["name"]
        mine = per.get(name, [])
        out.append(
            NamespaceRow(
                name, own_annotation(ns), name in ignored, len(mine), sum(1 for r in mine if r.enabled)
            )
        )
    return out


def details(cluster: Cluster, kind: str, namespace: str, name: str) -> dict[str, Any] | None:
    """The workload's whole story, plus what the webhook will do per container, or ``None`` if gone."""
    workload = cluster.workload(kind, namespace, name)
    if workload is None:
        return None
    record = cluster.record(kind, namespace, name)
    pods = cluster.pods_of(kind, namespace, name)
    config = cluster.config
    story = describing.story(
        workload, cluster.namespace_obj(namespace), record, pods, cluster.group_list(), config,
        actions=cluster.rule_list("Action"), rules=cluster.rule_list("SamplingRule"),
    )  # fmt: skip
    runtimes = {r["name"]: r for r in story["runtimes"] if r.get("name")}
    story["containers"] = [
        {"name": d.container, "action": d.action, "reason": d.reason, **runtimes.get(d.container, {})}
        for d in rollouts.injection(record, config, workload)
    ]
    for item in [*story["pipeline"]["actions"], *story["pipeline"]["samplingRules"]]:
        known = kinds.catalogue().get(item["kind"])
        item["label"] = known.display_name if known else item["kind"]
    story["row"] = row(workload, cluster.namespace_obj(namespace), record, pods, config)
    return story
