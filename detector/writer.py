"""The Kubernetes side of recording detections: read an InstrumentedApplication, merge-patch its status.

Why a merge patch and not server-side apply: ``status.containers`` is an atomic list in the CRD schema, and
pods of one workload run on many nodes, each node agent knowing only its own pods. Under SSA every agent
would own the whole list and overwrite the others' entries; and sharing the ``hodegos`` field manager with
the controllers (which apply status conditions) would let an agent's apply drop their fields. So each
agent reads the record, merges its containers in (:func:`detector.records.status_patch`, pure), and sends
a JSON merge patch touching only ``status.containers``, with the ``resourceVersion`` it read: a concurrent
write makes the patch fail with 409, and it is retried on a fresh read. Nothing is lost either way.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from typing import Any

from pydantic import ValidationError

from api import constants, workloads
from api.models import InstrumentedApplication
from detector.detection import Detection
from detector.errors import RecordWriteError
from detector.records import status_patch
from kube import Api, Informer, KubeError
from kube.resources import RECORDS

log = logging.getLogger("hodegos.agent")


class RecordStore:
    """Reads InstrumentedApplications (from ``cache`` when given, an informer of them) and patches status."""

    def __init__(self, api: Api, cache: Informer | None = None) -> None:
        self.api = api
        self.cache = cache

    def get(self, namespace: str, name: str, *, fresh: bool = False) -> InstrumentedApplication | None:
        """The record; ``fresh`` reads the API server (after a conflict) instead of the cache."""
        if self.cache is not None and not fresh:
            raw = self.cache.get(namespace, name)
        else:
            try:
                raw = self.api.get(RECORDS, namespace, name)
            except KubeError as exc:
                raise RecordWriteError(
                    f"reading {namespace}/{name}: {exc}", getattr(exc, "code", None)
                ) from exc
        if raw is None:
            return None
        try:
            return InstrumentedApplication.model_validate(raw)
        except ValidationError as exc:
            raise RecordWriteError(
                f"{namespace}/{name} is not a valid InstrumentedApplication: {exc}"
            ) from exc

    def patch_status(self, namespace: str, name: str, patch: Mapping[str, Any]) -> None:
        try:
            updated = self.api.merge_patch(RECORDS, namespace, name, patch, sub="status")
        except KubeError as exc:
            raise RecordWriteError(
                f"patching {namespace}/{name} status: {exc}", getattr(exc, "code", None)
            ) from exc
        if self.cache is not None:
            self.cache.remember(updated)


def find_record(store: RecordStore, pod: Mapping[str, Any]) -> tuple[str, InstrumentedApplication] | None:
    """The pod's workload record (name, object), trying :func:`api.workloads.candidates` in order."""
    namespace = pod["metadata"]["namespace"]
    for workload in workloads.candidates(pod):
        record = store.get(namespace, workload.record_name)
        if record is not None:
            return workload.record_name, record
    return None


def record_detections(
    store: RecordStore,
    pod: Mapping[str, Any],
    detections: Mapping[str, Detection],
    ignored_containers: Iterable[str] = constants.DEFAULT_IGNORED_CONTAINERS,
    attempts: int = 5,
    found: tuple[str, InstrumentedApplication] | None = None,
) -> str:
    """Write ``detections`` into the pod's workload record. Returns what happened, for the log.

    ``"no-record"`` when the pod's workload is not opted in (it has no record), ``"unchanged <record>"``
    when the record already says the same, else ``"updated <record>"``. ``found`` is a record the caller
    already read (saves a GET); conflicts are retried on a fresh read.
    """
    namespace = pod["metadata"]["namespace"]
    ignored = list(ignored_containers)
    found = found or find_record(store, pod)
    if found is None:
        return "no-record"
    name, record = found
    for attempt in range(attempts):
        if attempt:
            fresh = store.get(namespace, name, fresh=True)
            if fresh is None:
                return "no-record"  # deleted meanwhile: the workload was opted out
            record = fresh
        patch = status_patch(pod, detections, record, ignored)
        if patch is None:
            return f"unchanged {name}"
        try:
            store.patch_status(namespace, name, patch)
        except RecordWriteError as exc:
            if exc.status == 409:
                log.debug("conflict writing %s/%s; retrying on a fresh read", namespace, name)
                continue
            raise
        return f"updated {name}"
    raise RecordWriteError(f"{namespace}/{name}: still conflicting after {attempts} attempts", 409)
