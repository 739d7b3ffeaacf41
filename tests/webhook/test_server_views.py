"""Cluster views: files (StaticView), and the watch cache (WatchView) against the real API server."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from api import constants
from api.config import HodegosConfig
from tests.webhook.server_support import CONTAINERS, HEADERS, review_body
from webhook import admission
from webhook.errors import ViewError
from webhook.metrics import Metrics
from webhook.server import create_app, running
from webhook.views import StaticView, WatchView, _Reflector, parse_record

EXAMPLES = Path(__file__).resolve().parents[2] / "docs" / "examples"


def test_static_view_loads_a_records_directory() -> None:
    view = StaticView.from_path(EXAMPLES)
    assert view.synced
    namespace = view.namespace("shop")
    assert namespace is not None
    assert namespace["metadata"]["annotations"][constants.ANNOTATION_INSTRUMENTATION] == "enabled"
    record = view.record("shop", "deployment-web")
    assert record is not None and record.spec.workload.name == "web"
    assert view.record("shop", "nope") is None and view.namespace("nope") is None


def test_static_view_names_the_bad_file(tmp_path: Path) -> None:
    (tmp_path / "ok.yaml").write_text("kind: Namespace\nmetadata: {name: a}\n")
    (tmp_path / "bad.yaml").write_text(
        "apiVersion: hodegos.io/v1alpha1\nkind: InstrumentedApplication\nmetadata: {name: x, namespace: a}\n"
        "spec: {workload: {kind: Blob, name: x}}\n"
    )
    with pytest.raises(ViewError, match=r"bad\.yaml"):
        StaticView.from_path(tmp_path)
    (tmp_path / "bad.yaml").write_text("kind: [unclosed\n")
    with pytest.raises(ViewError, match=r"bad\.yaml"):
        StaticView.from_path(tmp_path)
    with pytest.raises(ViewError, match="no such file"):
        StaticView.from_path(tmp_path / "missing")


# -- the list+watch loop, driven by a scripted API (a fake at the HTTP boundary: 410 cannot be provoked on
#    demand from a real API server without compacting etcd) -----------------------------------------------


class _Response:
    def __init__(self, body: bytes = b"", lines: list[dict[str, Any]] | None = None) -> None:
        self.data = body
        self._lines = lines or []

    def stream(self, amt: Any = None, decode_content: bool = False) -> Iterator[bytes]:
        for line in self._lines:
            yield orjson.dumps(line) + b"\n"

    def release_conn(self) -> None:
        pass

    def close(self) -> None:
        pass


def _ns(name: str, rv: str, **annotations: str) -> dict[str, Any]:
    return {"metadata": {"name": name, "resourceVersion": rv, "annotations": annotations}}


def test_reflector_resumes_from_the_last_resource_version_and_relists_on_410() -> None:
    stop = threading.Event()
    calls: list[dict[str, Any]] = []
    script: list[_Response] = [
        _Response(
            orjson.dumps({"metadata": {"resourceVersion": "10"}, "items": [_ns("a", "9"), _ns("b", "10")]})
        ),
        _Response(
            lines=[
                {"type": "ADDED", "object": _ns("c", "11")},
                {"type": "MODIFIED", "object": _ns("a", "12", team="x")},
                {"type": "DELETED", "object": _ns("b", "13")},
                {"type": "BOOKMARK", "object": {"metadata": {"resourceVersion": "15"}}},
            ]
        ),
        _Response(lines=[{"type": "ERROR", "object": {"kind": "Status", "code": 410, "reason": "Expired"}}]),
        _Response(orjson.dumps({"metadata": {"resourceVersion": "40"}, "items": [_ns("z", "39")]})),
    ]

    def list_call(**kwargs: Any) -> _Response:
        calls.append(kwargs)
        if not script:
            stop.set()
            return _Response()
        return script.pop(0)

    reflector = _Reflector("Namespace", list_call, lambda o: o["metadata"]["name"], dict, stop, 300, 0.01)
    seen_after_watch: dict[str, Any] = {}
    original_apply = reflector._apply

    def spying_apply(event: Any) -> None:
        original_apply(event)
        if event["type"] == "BOOKMARK":
            seen_after_watch.update(reflector.store)

    reflector._apply = spying_apply  # type: ignore[method-assign]
    reflector.run()

    assert sorted(seen_after_watch) == ["a", "c"]
    assert seen_after_watch["a"]["metadata"]["annotations"] == {"team": "x"}
    assert "watch" not in calls[0] and calls[1]["resource_version"] == "10" and calls[1]["watch"] is True
    assert calls[2]["resource_version"] == "15"  # resumed from the bookmark, not from the list
    assert "watch" not in calls[3]  # 410: listed again
    assert calls[4]["resource_version"] == "40"
    assert sorted(reflector.store) == ["z"]  # the relist replaced the cache wholesale
    assert reflector.lists == 2 and reflector.synced.is_set()


def test_a_bad_record_from_the_watch_is_dropped_not_fatal() -> None:
    with pytest.raises(ViewError, match="shop/broken"):
        parse_record({"metadata": {"name": "broken", "namespace": "shop"}, "spec": {}})


# -- against the real API server -----------------------------------------------------------------------------


def _record_body(namespace: str, language: str = "python") -> dict[str, Any]:
    return {
        "apiVersion": constants.API_VERSION,
        "kind": "InstrumentedApplication",
        "metadata": {"name": "deployment-web", "namespace": namespace},
        "spec": {"workload": {"kind": "Deployment", "name": "web"}},
        "status": {"containers": [{**CONTAINERS[0], "language": language}, CONTAINERS[1]]},
    }


def _eventually(check: Callable[[], bool], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.05)


@pytest.mark.cluster
def test_watch_view_follows_the_cluster_and_admissions_make_no_api_call(
    kube_api: Any, hodegos_crds: list[str], make_namespace: Callable[..., str]
) -> None:
    from kubernetes import client

    namespace = make_namespace(annotations={constants.ANNOTATION_INSTRUMENTATION: "enabled"})
    custom = client.CustomObjectsApi(kube_api)
    body = _record_body(namespace)
    custom.create_namespaced_custom_object(
        constants.GROUP, constants.VERSION, namespace, "instrumentedapplications", body
    )
    # status is a subresource: the create dropped it, the node agent would write it like this.
    custom.patch_namespaced_custom_object_status(
        constants.GROUP,
        constants.VERSION,
        namespace,
        "instrumentedapplications",
        "deployment-web",
        {"status": body["status"]},
    )

    calls: list[str] = []
    original = kube_api.call_api

    def counting(*args: Any, **kwargs: Any) -> Any:
        calls.append(f"{threading.current_thread().name} {args[0]} {args[1]}")
        return original(*args, **kwargs)

    kube_api.call_api = counting
    view = WatchView(kube_api).start()
    try:
        assert view.wait_synced(30)
        _eventually(lambda: _containers(view, namespace) == 2)
        ns = view.namespace(namespace)
        assert (
            ns is not None
            and ns["metadata"]["annotations"][constants.ANNOTATION_INSTRUMENTATION] == "enabled"
        )

        # Admissions through the real HTTPS-less server, with the watch cache as the view.
        metrics = Metrics()
        app = create_app(view, HodegosConfig(), metrics=metrics)
        before = list(calls)
        with running(app) as url, httpx.Client(timeout=10) as http:
            for i in range(300):
                review = orjson.loads(review_body(f"uid-{i}"))
                review["request"]["namespace"] = namespace
                review["request"]["object"]["metadata"]["namespace"] = namespace
                answer = http.post(
                    url + constants.WEBHOOK_PATH, content=orjson.dumps(review), headers=HEADERS
                )
                assert answer.status_code == 200
                assert answer.json()["response"].get("patchType") == "JSONPatch", answer.text
            assert http.get(url + "/readyz").status_code == 200
        assert calls == before, f"admissions made API calls: {calls[len(before) :]}"
        assert all(c.startswith("watch-") for c in calls), calls

        # The cache follows edits and deletions.
        custom.patch_namespaced_custom_object(
            constants.GROUP,
            constants.VERSION,
            namespace,
            "instrumentedapplications",
            "deployment-web",
            {"metadata": {"labels": {"edited": "yes"}}},
        )
        _eventually(lambda: _labels(view, namespace) == {"edited": "yes"})
        custom.delete_namespaced_custom_object(
            constants.GROUP, constants.VERSION, namespace, "instrumentedapplications", "deployment-web"
        )
        _eventually(lambda: view.record(namespace, "deployment-web") is None)
        review = orjson.loads(review_body("after-delete"))
        review["request"]["namespace"] = namespace
        outcome = admission.review(review, view, HodegosConfig())
        assert outcome.patch == []
    finally:
        view.stop()
        kube_api.call_api = original


def _labels(view: WatchView, namespace: str) -> dict[str, str] | None:
    record = view.record(namespace, "deployment-web")
    return record.metadata.labels if record else None


def _containers(view: WatchView, namespace: str) -> int:
    record = view.record(namespace, "deployment-web")
    return len(record.status.containers) if record and record.status else 0


def test_reflector_keeps_retrying_and_says_why_it_is_not_synced() -> None:
    from kubernetes.client.exceptions import ApiException

    stop = threading.Event()
    attempts = 0

    def list_call(**kwargs: Any) -> _Response:
        nonlocal attempts
        attempts += 1
        if attempts == 3:
            stop.set()
        raise ApiException(status=404, reason="Not Found")

    reflector = _Reflector("InstrumentedApplication", list_call, lambda o: o, dict, stop, 300, 0.01)
    reflector.run()
    assert attempts == 3 and reflector.errors == 2  # the third failure came after stop was asked
    assert reflector.last_error == "404 Not Found" and not reflector.synced.is_set()
