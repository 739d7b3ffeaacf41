"""The informer's list/watch/resume/re-list logic, with a scripted API (the real one is in test_cluster)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

from kube import ApiError, Informer
from kube.resources import DEPLOYMENTS


def obj(name: str, rv: str) -> dict[str, Any]:
    return {"metadata": {"name": name, "namespace": "n", "resourceVersion": rv}}


class ScriptedApi:
    def __init__(self, lists: list[tuple[list[dict[str, Any]], str]], watches: list[Any]) -> None:
        self.lists, self.watches = lists, watches
        self.watch_from: list[str] = []
        self.stop = threading.Event()

    def list(self, *_: Any, **__: Any) -> tuple[list[dict[str, Any]], str]:
        return self.lists.pop(0)

    def watch(self, _res: Any, rv: str, *_: Any, **__: Any) -> Iterator[dict[str, Any]]:
        self.watch_from.append(rv)
        if not self.watches:
            self.stop.set()
            return
        script = self.watches.pop(0)
        if isinstance(script, Exception):
            raise script
        yield from script


def run(api: ScriptedApi) -> tuple[Informer, list[tuple[str, str]]]:
    seen: list[tuple[str, str]] = []
    informer = Informer(
        api,  # type: ignore[arg-type]
        DEPLOYMENTS,
        lambda t, new, old: seen.append((t, (new or old or {})["metadata"]["name"])),
    )
    informer.run(api.stop)
    return informer, seen


def test_list_then_watch_resumes_from_last_resource_version() -> None:
    api = ScriptedApi(
        lists=[([obj("a", "1")], "10")],
        watches=[
            [{"type": "ADDED", "object": obj("b", "11")}, {"type": "BOOKMARK", "object": obj("", "15")}],
            [{"type": "MODIFIED", "object": obj("a", "16")}, {"type": "DELETED", "object": obj("b", "17")}],
        ],
    )
    informer, seen = run(api)
    assert api.watch_from == ["10", "15", "17"]
    assert seen == [("SYNC", "a"), ("ADDED", "b"), ("MODIFIED", "a"), ("DELETED", "b")]
    assert [o["metadata"]["name"] for o in informer.items()] == ["a"]
    assert informer.items()[0]["kind"] == "Deployment"


def test_gone_relists_and_reports_what_vanished_meanwhile() -> None:
    api = ScriptedApi(
        lists=[([obj("a", "1"), obj("b", "2")], "10"), ([obj("a", "30")], "31")],
        watches=[ApiError(410, "Expired", "too old")],
    )
    informer, seen = run(api)
    assert api.watch_from == ["10", "31"]
    assert ("DELETED", "b") in seen and informer.relists == 2
    assert informer.get("n", "a")["metadata"]["resourceVersion"] == "30"  # type: ignore[index]


def test_error_event_410_in_stream_relists() -> None:
    api = ScriptedApi(
        lists=[([], "10"), ([obj("c", "40")], "41")],
        watches=[[{"type": "ERROR", "object": {"code": 410, "reason": "Expired"}}]],
    )
    _, seen = run(api)
    assert api.watch_from == ["10", "41"] and seen == [("SYNC", "c")]


def test_remember_never_goes_backwards() -> None:
    informer = Informer(ScriptedApi([], []), DEPLOYMENTS, lambda *_: None)  # type: ignore[arg-type]
    informer.remember(obj("a", "20"))
    informer.remember(obj("a", "19"))
    assert informer.get("n", "a")["metadata"]["resourceVersion"] == "20"  # type: ignore[index]
    informer.remember({**obj("a", "21"), "metadata": {**obj("a", "21")["metadata"], "managedFields": [1]}})
    assert "managedFields" not in informer.get("n", "a")["metadata"]  # type: ignore[index]


def test_index_follows_adds_moves_and_deletes() -> None:
    def by_app(o: Any) -> list[str]:
        return [o["metadata"].get("labels", {}).get("app", "")]

    api = ScriptedApi(
        lists=[
            ([{**obj("p1", "1"), "metadata": {**obj("p1", "1")["metadata"], "labels": {"app": "x"}}}], "10")
        ],
        watches=[
            [
                {
                    "type": "ADDED",
                    "object": {"metadata": {**obj("p2", "11")["metadata"], "labels": {"app": "x"}}},
                },
                {
                    "type": "MODIFIED",
                    "object": {"metadata": {**obj("p1", "12")["metadata"], "labels": {"app": "y"}}},
                },
                {
                    "type": "DELETED",
                    "object": {"metadata": {**obj("p2", "13")["metadata"], "labels": {"app": "x"}}},
                },
            ]
        ],
    )
    informer = Informer(api, DEPLOYMENTS, indexers={"app": by_app})  # type: ignore[arg-type]
    informer.run(api.stop)
    assert [o["metadata"]["name"] for o in informer.by_index("app", "y")] == ["p1"]
    assert informer.by_index("app", "x") == []
    informer.forget("n", "p1")
    assert informer.by_index("app", "y") == []


def test_a_failing_handler_does_not_stop_the_cache() -> None:
    api = ScriptedApi(
        lists=[([obj("a", "1")], "10")], watches=[[{"type": "ADDED", "object": obj("b", "11")}]]
    )

    def broken(*_: Any) -> None:
        raise RuntimeError("boom")

    informer = Informer(api, DEPLOYMENTS, broken)  # type: ignore[arg-type]
    informer.run(api.stop)
    assert {o["metadata"]["name"] for o in informer.items()} == {"a", "b"}
