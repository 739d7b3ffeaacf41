"""Which Go processes of a pod the eBPF tracer should trace, with which resource: a pure core + a registry.

The webhook labels pods whose Go containers it cannot inject (``hodegos.io/ebpf-go``: ``true`` for every
Go container, or a comma-separated list of container names). For those containers the node agent hands
the application process to the tracer with the same resource attributes the webhook gives injected
languages (``service.name``, ``k8s.*``, ``service.instance.id``), so a Go service looks like any other.

The tracer itself lives in ``ebpf/``; this module only knows it as :class:`Attach`, a callable taking a
PID and a resource and returning something with ``close()`` (and, when it counts them, ``lost``:
spans lost by reason). Tracers detach by themselves when their process exits; :meth:`GoTracing.forget`
closes a deleted pod's tracers, and a new PID for a container (a restart) replaces the old tracer.

Losses reach the workload's InstrumentedApplication: :class:`LossReporter` writes this node's entry of
``status.spanLoss`` (a map keyed by node name, so a JSON merge patch of one key never touches another
agent's entry nor the controllers' conditions), and the instrumentor turns the entries into the
``SpansDropped`` condition. :func:`loss_entry` is the pure decision of what the entry says.
"""

from __future__ import annotations

import logging
import threading
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

from api import constants, telemetry
from api.models import InstrumentedApplication
from detector.detection import Detection
from detector.records import container_names
from ebpf.losses import describe as describe_losses

log = logging.getLogger("hodegos.agent")
Resource = dict[str, str | int]


class Handle(Protocol):
    def close(self) -> None: ...


class Attach(Protocol):
    def __call__(self, pid: int, resource: Mapping[str, str | int]) -> Handle: ...


def service_name(pod: Mapping[str, Any], record: InstrumentedApplication) -> str:
    """As the webhook names injected services (:func:`api.telemetry.service_name`)."""
    metadata = pod.get("metadata") or {}
    workload = record.spec.workload
    return telemetry.service_name(
        pod_annotations=metadata.get("annotations"),
        record_service_name=record.spec.service_name,
        workload_kind=workload.kind,
        workload_name=workload.name,
        pod_name=str(metadata.get("name")),
    )


def go_resource(pod: Mapping[str, Any], record: InstrumentedApplication, container: str) -> Resource:
    """The resource of a Go container's spans: the webhook's attributes, with the pod's real values."""
    metadata = pod["metadata"]
    workload = record.spec.workload
    resource: Resource = {constants.ATTR_SERVICE_NAME: service_name(pod, record)}
    resource.update(
        telemetry.resource_attributes(
            namespace=metadata["namespace"],
            workload_kind=workload.kind,
            workload_name=workload.name,
            container=container,
            pod_name=metadata["name"],
            pod_uid=metadata["uid"],
            node_name=(pod.get("spec") or {}).get("nodeName") or "",
        )
    )
    return resource


def go_targets(
    pod: Mapping[str, Any], record: InstrumentedApplication, detections: Mapping[str, Detection]
) -> dict[str, tuple[int, Resource]]:
    """Container name -> (PID, resource) for each Go container of a labelled pod; empty when unlabelled."""
    label = ((pod.get("metadata") or {}).get("labels") or {}).get(constants.LABEL_EBPF_GO)
    if not label:
        return {}
    wanted = None if label == "true" else {name.strip() for name in label.split(",") if name.strip()}
    names = container_names(pod)
    targets: dict[str, tuple[int, Resource]] = {}
    for container_id, detection in detections.items():
        name = names.get(container_id)
        if name is None or detection.language != "go" or (wanted is not None and name not in wanted):
            continue
        targets[name] = (detection.pid, go_resource(pod, record, name))
    return targets


RecordRef = tuple[str, str]  # (namespace, record name)


def handle_losses(handle: object) -> Counter[str]:
    """Spans lost by reason, for handles that count them (the eBPF tracer's ``lost``)."""
    lost = getattr(handle, "lost", None)
    return Counter({str(k): int(v) for k, v in lost.items()}) if isinstance(lost, Mapping) else Counter()


class GoTracing:
    """The tracers this agent holds, per pod UID and container name, and which record each pod is of."""

    def __init__(self, attach: Attach, on_close: Callable[[], None] | None = None) -> None:
        self.attach = attach
        self.on_close = on_close  # e.g. flush and stop the exporter
        self.active: dict[str, dict[str, tuple[int, Handle]]] = {}
        self.records: dict[str, RecordRef] = {}  # pod UID -> its workload's record
        self.retired: dict[RecordRef, Counter[str]] = {}  # losses of tracers already closed
        self._lock = threading.RLock()

    def sync(
        self, pod_uid: str, targets: Mapping[str, tuple[int, Resource]], record: RecordRef | None = None
    ) -> list[str]:
        """Attach to new PIDs (replacing a container's previous tracer); returns what happened."""
        with self._lock:
            held = self.active.setdefault(pod_uid, {})
            if record is not None:
                self.records[pod_uid] = record
        outcomes = []
        for container, (pid, resource) in targets.items():
            if container in held and held[container][0] == pid:
                continue
            if container in held:
                self._close(pod_uid, held.pop(container)[1])
            try:
                handle = self.attach(pid, resource)
                with self._lock:
                    held[container] = (pid, handle)
                outcomes.append(f"tracing {container} (pid {pid})")
            except Exception as exc:  # the tracer's errors carry the reason (not Go, unknown layout, gone)
                log.warning("cannot trace container %s pid %d: %s", container, pid, exc)
                outcomes.append(f"not tracing {container}: {exc}")
        return outcomes

    def _close(self, pod_uid: str, handle: Handle) -> None:
        handle.close()
        record = self.records.get(pod_uid)
        lost = handle_losses(handle)
        if record is not None and lost:
            with self._lock:
                self.retired.setdefault(record, Counter()).update(lost)

    def forget(self, pod_uid: str) -> None:
        with self._lock:
            held = self.active.pop(pod_uid, {})
        for _, handle in held.values():
            self._close(pod_uid, handle)
        with self._lock:
            self.records.pop(pod_uid, None)

    def losses(self) -> dict[RecordRef, Counter[str]]:
        """Spans lost so far per record, over this node's tracers (live and closed), by reason."""
        with self._lock:
            out = {record: Counter(lost) for record, lost in self.retired.items()}
            for pod_uid, held in self.active.items():
                record = self.records.get(pod_uid)
                if record is None:
                    continue
                total = out.setdefault(record, Counter())
                for _, handle in held.values():
                    total.update(handle_losses(handle))
            return out

    def close(self) -> None:
        """Detach every tracer (the agent is stopping), then run ``on_close``."""
        for pod_uid in list(self.active):
            self.forget(pod_uid)
        if self.on_close:
            self.on_close()


# -- reporting losses on the record --------------------------------------------------------------------


def _timestamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class _Seen:
    lost: int = 0
    last_loss: datetime | None = None
    written: dict[str, Any] | None = None


def loss_entry(lost: Counter[str], seen: _Seen, now: datetime, quiet: timedelta) -> dict[str, Any] | None:
    """This node's ``status.spanLoss`` entry for one record, or None when nothing was ever lost.

    ``dropping`` is true while spans were lost within the last ``quiet`` period; ``seen`` carries what
    the previous call saw (updated here).
    """
    total = sum(lost.values())
    if total > seen.lost:
        seen.last_loss = now
    seen.lost = total
    if total == 0 and seen.written is None:
        return None
    dropping = seen.last_loss is not None and now - seen.last_loss < quiet
    reasons = describe_losses(lost)
    if dropping:
        message = f"{total} spans lost since the agent started ({reasons})"
    else:
        message = f"no spans lost for {int(quiet.total_seconds())}s; {total} lost before" + (
            f" ({reasons})" if reasons else ""
        )
    return {
        "dropping": dropping,
        "spansLost": total,
        "reasons": {r: n for r, n in sorted(lost.items()) if n},
        "lastLossTime": _timestamp(seen.last_loss) if seen.last_loss else None,
        "message": message,
    }


@dataclass
class LossReporter:
    """Writes this node's ``status.spanLoss`` entry of each record whose spans were lost here.

    ``patch(namespace, name, merge_patch)`` sends a status merge patch; ``current(namespace, name)`` reads
    the record's status (a cache) so an entry a previous agent left saying ``dropping`` is cleared.
    Writes only when the entry changes, so a healthy node writes nothing.
    """

    tracing: GoTracing
    node: str
    patch: Callable[[str, str, dict[str, Any]], None]
    current: Callable[[str, str], Mapping[str, Any] | None] = lambda _ns, _name: None
    quiet: timedelta = timedelta(seconds=60)
    seen: dict[RecordRef, _Seen] = field(default_factory=dict)

    def tick(self, now: datetime) -> list[str]:
        """One pass; returns the records written (for the log)."""
        written = []
        losses = self.tracing.losses()
        for record in set(losses) | set(self.seen):
            seen = self.seen.setdefault(record, _Seen())
            if seen.written is None and not sum(losses.get(record, Counter()).values()):
                status = self.current(*record) or {}
                previous = ((status.get("spanLoss") or {}).get(self.node)) or {}
                if previous.get("dropping"):
                    seen.written = previous  # left by an earlier agent: say it stopped
            entry = loss_entry(losses.get(record, Counter()), seen, now, self.quiet)
            if entry is None or entry == seen.written:
                continue
            try:
                self.patch(*record, {"status": {"spanLoss": {self.node: entry}}})
            except Exception as exc:  # the record may be gone; try again next tick
                log.warning("cannot report span losses on %s/%s: %s", *record, exc)
                continue
            seen.written = entry
            written.append(f"{record[0]}/{record[1]}")
        return written
