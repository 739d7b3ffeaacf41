"""Kubernetes Events (``events.k8s.io/v1``): a pure builder and a best-effort recorder.

:func:`event` names the Event after the object, reason and note, so emitting the same event again (from a
retry, or from another replica) is one object, not a pile. :class:`Recorder` writes it and never raises: an
Event is for a user to notice, and failing to record one must not fail the work it describes.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from api import constants
from kube.api import Api
from kube.errors import ApiError, KubeError
from kube.resources import EVENTS
from kube.timestamps import micro_time

log = logging.getLogger(__name__)


def event(
    regarding: Mapping[str, Any],
    *,
    reason: str,
    note: str,
    action: str,
    now: datetime,
    type_: str = "Normal",
    controller: str = "hodegos-controllers",
) -> dict[str, Any]:
    """An ``events.k8s.io/v1`` Event about ``regarding`` (a whole object as a dict)."""
    meta = regarding.get("metadata") or {}
    namespace = meta.get("namespace") or "default"
    digest = hashlib.sha256(f"{meta.get('uid')}/{reason}/{note}".encode()).hexdigest()[:10]
    return {
        "apiVersion": "events.k8s.io/v1",
        "kind": "Event",
        "metadata": {"name": f"{str(meta.get('name') or 'object')[:200]}.{digest}", "namespace": namespace},
        "eventTime": micro_time(now),
        "reportingController": f"{constants.GROUP}/{controller}",
        "reportingInstance": controller,
        "action": action,
        "reason": reason,
        "note": note[:1024],
        "type": type_,
        "regarding": {
            "apiVersion": regarding.get("apiVersion"),
            "kind": regarding.get("kind"),
            "name": meta.get("name"),
            "namespace": meta.get("namespace"),
            "uid": meta.get("uid"),
        },
    }


class Recorder:
    """Writes Events for one component (``controller`` names it in ``reportingController``)."""

    def __init__(
        self, api: Api, controller: str, clock: Callable[[], datetime] = lambda: datetime.now(UTC)
    ) -> None:
        self.api, self.controller, self.clock = api, controller, clock

    def emit(
        self, regarding: Mapping[str, Any], reason: str, note: str, action: str, type_: str = "Normal"
    ) -> None:
        body = event(
            regarding,
            reason=reason,
            note=note,
            action=action,
            now=self.clock(),
            type_=type_,
            controller=self.controller,
        )
        try:
            self.api.create(EVENTS, body["metadata"]["namespace"], body)
        except ApiError as exc:
            if not exc.conflict:  # 409: the same event exists already
                log.warning("event %s on %s: %s", reason, body["regarding"].get("name"), exc)
        except KubeError as exc:
            log.warning("event %s on %s: %s", reason, body["regarding"].get("name"), exc)
        log.info("%s %s/%s: %s", reason, body["regarding"].get("kind"), body["regarding"].get("name"), note)
