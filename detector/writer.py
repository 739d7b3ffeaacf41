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

from kubernetes.client import CustomObjectsApi
from kubernetes.client.exceptions import ApiException

from api import constants
from api.models import InstrumentedApplication
from detector.detection import Detection
from detector.errors import RecordWriteError
from detector.records import owner_candidates, status_patch

PLURAL = "instrumentedapplications"
log = logging.getLogger("hodegos.agent")


class RecordStore:
    """Reads and status-patches InstrumentedApplications through the official client."""

    def __init__(self, api: CustomObjectsApi) -> None:
        self.api = api

    def get(self, namespace: str, name: str) -> InstrumentedApplication | None:
        try:
            raw = self.api.get_namespaced_custom_object(
                constants.GROUP, constants.VERSION, namespace, PLURAL, name
            )
        except ApiException as exc:
            if exc.status == 404:
                return None
            raise RecordWriteError(f"reading {namespace}/{name}: {exc.reason}", exc.status) from exc
        return InstrumentedApplication.model_validate(raw)

    def patch_status(self, namespace: str, name: str, patch: Mapping[str, Any]) -> None:
        try:
            self.api.patch_namespaced_custom_object_status(
                constants.GROUP,
                constants.VERSION,
                namespace,
                PLURAL,
                name,
                dict(patch),
                field_manager=constants.FIELD_MANAGER,
                _content_type="application/merge-patch+json",
            )
        except ApiException as exc:
            raise RecordWriteError(f"patching {namespace}/{name} status: {exc.reason}", exc.status) from exc


def find_record(store: RecordStore, pod: Mapping[str, Any]) -> tuple[str, InstrumentedApplication] | None:
    """The pod's workload record (name, object), trying :func:`owner_candidates` in order."""
    namespace = pod["metadata"]["namespace"]
    for kind, workload in owner_candidates(pod):
        name = constants.record_name(kind, workload)
        record = store.get(namespace, name)
        if record is not None:
            return name, record
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
            fresh = store.get(namespace, name)
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
