"""Cluster views: files (StaticView), and the cluster cache (ClusterCache) against the real API server."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from api import constants
from api.config import HodegosConfig
from kube import Api, connect
from kube.resources import CONFIGMAPS, RECORDS
from tests.kube import KubeCluster
from tests.webhook.server_support import CONTAINERS, HEADERS, review_body
from webhook import admission
from webhook.caches import ClusterCache, StaticView, parse_record
from webhook.errors import ViewError
from webhook.metrics import Metrics
from webhook.server import create_app, running

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


def test_a_bad_record_is_named() -> None:
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


def _review(uid: str, namespace: str) -> dict[str, Any]:
    review: dict[str, Any] = orjson.loads(review_body(uid))
    review["request"]["namespace"] = namespace
    review["request"]["object"]["metadata"]["namespace"] = namespace
    return review


@pytest.mark.cluster
def test_cluster_cache_follows_the_cluster_and_admissions_make_no_api_call(
    admin_api: Api, kube_cluster: KubeCluster, hodegos_crds: list[str], make_namespace: Callable[..., str]
) -> None:
    namespace = make_namespace(annotations={constants.ANNOTATION_INSTRUMENTATION: "enabled"})
    body = _record_body(namespace)
    admin_api.create(RECORDS, namespace, body)
    # status is a subresource: the create dropped it; the node agent writes it like this.
    admin_api.merge_patch(RECORDS, namespace, "deployment-web", {"status": body["status"]}, sub="status")

    api = connect(kube_cluster.kubeconfig)  # its own transport, spied on below
    calls: list[str] = []
    original = api.client.call_api

    def counting(*args: Any, **kwargs: Any) -> Any:
        calls.append(f"{threading.current_thread().name} {args[0]} {args[1]}")
        return original(*args, **kwargs)

    api.client.call_api = counting  # type: ignore[method-assign]
    cache = ClusterCache(api, namespace).start()
    try:
        assert cache.wait_synced(30)
        _eventually(lambda: _containers(cache, namespace) == 2)
        ns = cache.namespace(namespace)
        assert ns is not None
        assert ns["metadata"]["annotations"][constants.ANNOTATION_INSTRUMENTATION] == "enabled"

        # Admissions through the real server (no TLS), with the cluster cache as the view and config.
        metrics = Metrics()
        app = create_app(cache, cache.config, metrics=metrics)
        before = list(calls)
        with running(app) as url, httpx.Client(timeout=10) as http:
            for i in range(300):
                answer = http.post(
                    url + constants.WEBHOOK_PATH,
                    content=orjson.dumps(_review(f"uid-{i}", namespace)),
                    headers=HEADERS,
                )
                assert answer.status_code == 200
                assert answer.json()["response"].get("patchType") == "JSONPatch", answer.text
            assert http.get(url + "/readyz").status_code == 200

            # hodegos-config, edited live (here in the test namespace): the next admission follows it.
            admin_api.apply(
                CONFIGMAPS,
                {
                    "apiVersion": "v1",
                    "kind": "ConfigMap",
                    "metadata": {"name": constants.CONFIG_MAP, "namespace": namespace},
                    "data": {"config.yaml": f"ignoredNamespaces: [{namespace}]\n"},
                },
            )
            _eventually(lambda: namespace in cache.config.current.ignored_namespaces)
            answer = http.post(
                url + constants.WEBHOOK_PATH,
                content=orjson.dumps(_review("ignored", namespace)),
                headers=HEADERS,
            )
            assert "patch" not in answer.json()["response"], answer.text
        assert all(c.startswith("watch-") for c in calls[len(before) :]), "admissions made API calls"
        assert all(c.startswith("watch-") for c in calls), calls

        # A bad edit keeps the last good configuration and says which field is wrong.
        admin_api.apply(
            CONFIGMAPS,
            {
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": {"name": constants.CONFIG_MAP, "namespace": namespace},
                "data": {"config.yaml": "mode: sometimes\n"},
            },
        )
        _eventually(lambda: cache.config.error is not None)
        assert "mode" in str(cache.config.error)
        assert namespace in cache.config.current.ignored_namespaces

        # The cache follows edits and deletions.
        admin_api.merge_patch(
            RECORDS, namespace, "deployment-web", {"metadata": {"labels": {"edited": "yes"}}}
        )
        _eventually(lambda: _labels(cache, namespace) == {"edited": "yes"})
        admin_api.delete(RECORDS, namespace, "deployment-web")
        _eventually(lambda: cache.record(namespace, "deployment-web") is None)
        outcome = admission.review(_review("after-delete", namespace), cache, HodegosConfig())
        assert outcome.patch == []
    finally:
        cache.stop()


def _labels(cache: ClusterCache, namespace: str) -> dict[str, str] | None:
    record = cache.record(namespace, "deployment-web")
    return record.metadata.labels if record else None


def _containers(cache: ClusterCache, namespace: str) -> int:
    record = cache.record(namespace, "deployment-web")
    return len(record.status.containers) if record and record.status else 0
