"""Events and timestamps: pure builders of the Kubernetes wire forms."""

from __future__ import annotations

from datetime import UTC, datetime

from kube.events import event
from kube.timestamps import parse_timestamp

T0 = datetime(2026, 1, 1, tzinfo=UTC)
T1 = datetime(2026, 1, 1, 0, 5, tzinfo=UTC)


def test_event_is_stable_and_names_the_object() -> None:
    obj = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "a", "namespace": "n", "uid": "u"},
    }
    e1 = event(obj, reason="RolledBack", note="pods crash", action="Rollback", now=T0, type_="Warning")
    e2 = event(obj, reason="RolledBack", note="pods crash", action="Rollback", now=T1, type_="Warning")
    assert e1["metadata"] == e2["metadata"]
    assert e1["regarding"]["uid"] == "u" and e1["type"] == "Warning"


def test_parse_timestamp() -> None:
    assert parse_timestamp("2026-01-01T00:00:00Z") == T0
    assert parse_timestamp("garbage") is None and parse_timestamp(None) is None
