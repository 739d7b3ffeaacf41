"""The Kubernetes edge: raw JSON requests through the official client, list+watch caches, apply.

Objects stay plain dicts (the wire form) end to end: no model deserialisation, so a cache of thousands of
objects stays small and fast. Every request goes through :class:`Api`, which counts writes by verb and
resource (the steady-state check reads :attr:`Api.writes`).

- :class:`Resource` names an API resource and builds its paths.
- :class:`Api` does GET/LIST/WATCH/APPLY/PATCH/DELETE; errors become :class:`controllers.errors.ApiError`
  carrying the HTTP status and the ``Status`` reason.
- :class:`Informer` keeps an in-memory copy of one resource (list, then watch from the list's
  resourceVersion, resume after a dropped stream, re-list on ``410 Gone``) and calls back on every change.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from kubernetes import client as k8s
from kubernetes.client.exceptions import ApiException
from urllib3.exceptions import HTTPError

from api import constants
from controllers.errors import ApiError

log = logging.getLogger(__name__)
APPLY_PATCH = "application/apply-patch+yaml"
MERGE_PATCH = "application/merge-patch+json"


@dataclass(frozen=True)
class Resource:
    group: str
    version: str
    plural: str
    kind: str
    namespaced: bool = True

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    def path(self, namespace: str | None = None, name: str | None = None, sub: str | None = None) -> str:
        base = f"/apis/{self.group}/{self.version}" if self.group else f"/api/{self.version}"
        if self.namespaced and namespace:
            base += f"/namespaces/{namespace}"
        base += f"/{self.plural}"
        if name:
            base += f"/{name}"
        if sub:
            base += f"/{sub}"
        return base


NAMESPACES = Resource("", "v1", "namespaces", "Namespace", namespaced=False)
PODS = Resource("", "v1", "pods", "Pod")
CONFIGMAPS = Resource("", "v1", "configmaps", "ConfigMap")
SECRETS = Resource("", "v1", "secrets", "Secret")
SERVICES = Resource("", "v1", "services", "Service")
DEPLOYMENTS = Resource("apps", "v1", "deployments", "Deployment")
STATEFULSETS = Resource("apps", "v1", "statefulsets", "StatefulSet")
DAEMONSETS = Resource("apps", "v1", "daemonsets", "DaemonSet")
CRONJOBS = Resource("batch", "v1", "cronjobs", "CronJob")
HPAS = Resource("autoscaling", "v2", "horizontalpodautoscalers", "HorizontalPodAutoscaler")
ENDPOINTSLICES = Resource("discovery.k8s.io", "v1", "endpointslices", "EndpointSlice")
LEASES = Resource("coordination.k8s.io", "v1", "leases", "Lease")
EVENTS = Resource("events.k8s.io", "v1", "events", "Event")
RECORDS = Resource(constants.GROUP, constants.VERSION, "instrumentedapplications", "InstrumentedApplication")
DESTINATIONS = Resource(constants.GROUP, constants.VERSION, "destinations", "Destination")
GROUPS = Resource(constants.GROUP, constants.VERSION, "collectorsgroups", "CollectorsGroup")
BY_KIND: dict[str, Resource] = {
    r.kind: r
    for r in (
        NAMESPACES, PODS, CONFIGMAPS, SECRETS, SERVICES, DEPLOYMENTS, STATEFULSETS, DAEMONSETS, CRONJOBS,
        HPAS, ENDPOINTSLICES, LEASES, EVENTS, RECORDS, DESTINATIONS, GROUPS,
    )
}  # fmt: skip


def _api_error(exc: ApiException) -> ApiError:
    body: dict[str, Any] = {}
    try:
        body = json.loads(exc.body or b"{}")
    except (ValueError, TypeError):
        pass
    return ApiError(
        int(exc.status or 0), body.get("reason") or str(exc.reason), body.get("message") or "", body
    )


class Api:
    """JSON requests with the official client's configuration (kubeconfig or in-cluster credentials)."""

    def __init__(self, api_client: k8s.ApiClient, field_manager: str = constants.FIELD_MANAGER) -> None:
        self.client = api_client
        self.field_manager = field_manager
        self.writes: Counter[str] = Counter()
        self._lock = threading.Lock()

    def _send(
        self,
        method: str,
        path: str,
        query: list[tuple[str, str]] | None = None,
        body: Any = None,
        content_type: str | None = None,
        timeout: float | tuple[float, float] = 30,
    ) -> Any:
        headers = {"Accept": "application/json"}
        if content_type:
            headers["Content-Type"] = content_type
        request = self.client.param_serialize(
            method,
            path,
            query_params=query or [],
            header_params=headers,
            body=body,
            auth_settings=["BearerToken"],
        )
        try:
            response = self.client.call_api(*request, _request_timeout=timeout)
        except ApiException as exc:
            raise _api_error(exc) from exc
        if not 200 <= response.status <= 299:
            response.read()  # type: ignore[no-untyped-call]
            raise _api_error(ApiException(http_resp=response))
        return response

    def request(self, method: str, path: str, what: str = "", **kwargs: Any) -> dict[str, Any]:
        """One request; a write is counted under ``"<METHOD> <what>"`` before it is sent."""
        if method != "GET":
            with self._lock:
                self.writes[f"{method} {what}".strip()] += 1
            log.debug("write %s %s", method, path)
        response = self._send(method, path, **kwargs)
        data = response.read()
        result: dict[str, Any] = json.loads(data) if data else {}
        return result

    # -- reads -----------------------------------------------------------------------------------------

    def get(self, res: Resource, namespace: str | None, name: str) -> dict[str, Any] | None:
        try:
            return self.request("GET", res.path(namespace, name))
        except ApiError as exc:
            if exc.not_found:
                return None
            raise

    def list(
        self, res: Resource, namespace: str | None = None, label_selector: str | None = None
    ) -> tuple[list[dict[str, Any]], str]:
        query = [("limit", "500")]
        if label_selector:
            query.append(("labelSelector", label_selector))
        items: list[dict[str, Any]] = []
        while True:
            page = self.request("GET", res.path(namespace), query=query)
            for item in page.get("items") or []:
                item.setdefault("apiVersion", res.api_version)
                item.setdefault("kind", res.kind)
                items.append(item)
            cont = (page.get("metadata") or {}).get("continue")
            if not cont:
                return items, page.get("metadata", {}).get("resourceVersion", "")
            query = [q for q in query if q[0] != "continue"] + [("continue", cont)]

    def watch(
        self,
        res: Resource,
        resource_version: str,
        namespace: str | None = None,
        label_selector: str | None = None,
        timeout_seconds: int = 300,
    ) -> Iterator[dict[str, Any]]:
        """Watch events (``type`` and ``object``) until the server ends the stream."""
        query = [
            ("watch", "true"),
            ("resourceVersion", resource_version),
            ("allowWatchBookmarks", "true"),
            ("timeoutSeconds", str(timeout_seconds)),
        ]
        if label_selector:
            query.append(("labelSelector", label_selector))
        response = self._send("GET", res.path(namespace), query=query, timeout=(10, timeout_seconds + 30))
        raw = response.response
        try:
            buffer = b""
            for chunk in raw.stream(16384, decode_content=True):
                buffer += chunk
                while b"\n" in buffer:
                    line, buffer = buffer.split(b"\n", 1)
                    if line.strip():
                        yield json.loads(line)
        finally:
            raw.release_conn()

    # -- writes ----------------------------------------------------------------------------------------

    def apply(self, res: Resource, body: Mapping[str, Any], sub: str | None = None) -> dict[str, Any]:
        """Server-side apply ``body`` with our field manager, forcing conflicts on fields we own."""
        meta = body["metadata"]
        return self.request(
            "PATCH",
            res.path(meta.get("namespace"), meta["name"], sub),
            what=res.plural,
            query=[("fieldManager", self.field_manager), ("force", "true")],
            body=dict(body),
            content_type=APPLY_PATCH,
        )

    def merge_patch(
        self,
        res: Resource,
        namespace: str | None,
        name: str,
        patch: Mapping[str, Any],
        sub: str | None = None,
    ) -> dict[str, Any]:
        return self.request(
            "PATCH",
            res.path(namespace, name, sub),
            what=res.plural,
            query=[("fieldManager", self.field_manager)],
            body=dict(patch),
            content_type=MERGE_PATCH,
        )

    def create(self, res: Resource, namespace: str | None, body: Mapping[str, Any]) -> dict[str, Any]:
        return self.request(
            "POST",
            res.path(namespace),
            what=res.plural,
            query=[("fieldManager", self.field_manager)],
            body=dict(body),
        )

    def replace(
        self, res: Resource, namespace: str | None, name: str, body: Mapping[str, Any]
    ) -> dict[str, Any]:
        return self.request(
            "PUT",
            res.path(namespace, name),
            what=res.plural,
            query=[("fieldManager", self.field_manager)],
            body=dict(body),
        )

    def delete(self, res: Resource, namespace: str | None, name: str) -> bool:
        """Delete in the background; ``False`` when it was already gone."""
        try:
            self.request(
                "DELETE", res.path(namespace, name), what=res.plural, body={"propagationPolicy": "Background"}
            )
            return True
        except ApiError as exc:
            if exc.not_found:
                return False
            raise


def key_of(obj: Mapping[str, Any]) -> tuple[str, str]:
    meta = obj.get("metadata") or {}
    return meta.get("namespace") or "", meta.get("name") or ""


def _slim(obj: dict[str, Any]) -> dict[str, Any]:
    """Drop what no controller reads, to keep caches small."""
    meta = obj.get("metadata")
    if isinstance(meta, dict):
        meta.pop("managedFields", None)
    return obj


def _rv(obj: Mapping[str, Any]) -> int:
    try:
        return int((obj.get("metadata") or {}).get("resourceVersion") or 0)
    except ValueError:
        return 0


Handler = Callable[[str, dict[str, Any] | None, dict[str, Any] | None], None]  # (type, new, old)


class Informer:
    """A list+watch cache of one resource; ``handler`` is called on every change, and for every object
    once per (re)list so a reconnection can never lose an update."""

    def __init__(
        self,
        api: Api,
        res: Resource,
        handler: Handler,
        namespace: str | None = None,
        label_selector: str | None = None,
        watch_timeout: int = 300,
    ) -> None:
        self.api, self.res, self.handler = api, res, handler
        self.namespace, self.label_selector = namespace, label_selector
        self.watch_timeout = watch_timeout
        self.store: dict[tuple[str, str], dict[str, Any]] = {}
        self.synced = threading.Event()
        self.lock = threading.Lock()
        self.relists = 0

    def get(self, namespace: str | None, name: str) -> dict[str, Any] | None:
        with self.lock:
            return self.store.get((namespace or "", name))

    def items(self) -> list[dict[str, Any]]:
        with self.lock:
            return list(self.store.values())

    def remember(self, obj: dict[str, Any]) -> None:
        """Write-through after our own write, so the next reconcile does not act on a stale copy.

        The watch event for the same write arrives later and replaces it; an older copy never replaces a
        newer one (resourceVersions from one etcd compare as integers).
        """
        obj = _slim(obj)
        key = key_of(obj)
        with self.lock:
            current = self.store.get(key)
            if current is not None and _rv(current) > _rv(obj):
                return
            self.store[key] = obj

    def forget(self, namespace: str | None, name: str) -> None:
        with self.lock:
            self.store.pop((namespace or "", name), None)

    def _relist(self) -> str:
        items, rv = self.api.list(self.res, self.namespace, self.label_selector)
        fresh = {key_of(o): _slim(o) for o in items}
        with self.lock:
            old, self.store = self.store, fresh
        self.relists += 1
        for key, obj in fresh.items():
            self.handler("SYNC", obj, old.get(key))
        for key, obj in old.items():
            if key not in fresh:
                self.handler("DELETED", None, obj)
        self.synced.set()
        return rv

    def run(self, stop: threading.Event) -> None:
        rv = ""
        delay = 0.5
        while not stop.is_set():
            try:
                if not rv:
                    rv = self._relist()
                for event in self.api.watch(
                    self.res, rv, self.namespace, self.label_selector, timeout_seconds=self.watch_timeout
                ):
                    rv = self._apply_event(event, rv)
                    if stop.is_set():
                        return
                delay = 0.5
            except ApiError as exc:
                if exc.gone:
                    rv = ""  # our resourceVersion is too old: list again
                    continue
                log.warning("watch %s: %s; retrying in %.1fs", self.res.plural, exc, delay)
                stop.wait(delay)
                delay = min(delay * 2, 5.0)
            except (HTTPError, OSError, ValueError) as exc:
                log.info(
                    "watch %s interrupted: %s; resuming from %s", self.res.plural, exc, rv or "a new list"
                )
                stop.wait(delay)
                delay = min(delay * 2, 5.0)

    def _apply_event(self, event: Mapping[str, Any], rv: str) -> str:
        kind, obj = event.get("type"), event.get("object") or {}
        if kind == "ERROR":
            code = int(obj.get("code") or 0)
            if code == 410:
                return ""
            raise ApiError(code, obj.get("reason", "Error"), obj.get("message", ""), dict(obj))
        new_rv = (obj.get("metadata") or {}).get("resourceVersion") or rv
        if kind == "BOOKMARK":
            return str(new_rv)
        obj = _slim(dict(obj))
        obj.setdefault("apiVersion", self.res.api_version)
        obj.setdefault("kind", self.res.kind)
        key = key_of(obj)
        with self.lock:
            old = self.store.get(key)
            if kind == "DELETED":
                self.store.pop(key, None)
            else:
                self.store[key] = obj
        self.handler(str(kind), None if kind == "DELETED" else obj, old if kind != "DELETED" else obj)
        return str(new_rv)

    def start(self, stop: threading.Event) -> threading.Thread:
        thread = threading.Thread(target=self.run, args=(stop,), name=f"watch-{self.res.plural}", daemon=True)
        thread.start()
        return thread


def wait_synced(informers: list[Informer], stop: threading.Event, timeout: float = 120) -> bool:
    deadline = time.monotonic() + timeout
    for informer in informers:
        while not informer.synced.wait(0.2):
            if stop.is_set() or time.monotonic() > deadline:
                return False
    return True
