"""Requests to the API server: raw JSON through the official client's transport.

Objects stay plain dicts (the wire form) end to end: no model deserialisation, so caches of thousands of
objects stay small and fast, and what Hodegos writes is exactly what it built. Every write goes through
:meth:`Api.request`, which counts it by verb and resource (:attr:`Api.writes`, read by the steady-state
tests). Server-side apply uses one field manager (``hodegos``) for everything a component owns.

Failures: an error answer raises :class:`kube.errors.ApiError` with the server's ``Status``; no answer at
all raises :class:`kube.errors.Unreachable`.
"""

from __future__ import annotations

import json
import logging
import threading
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from kubernetes import client as k8s
from kubernetes.client.exceptions import ApiException
from urllib3.exceptions import HTTPError

from api import constants
from kube.errors import ApiError, Unreachable
from kube.resources import Resource

log = logging.getLogger(__name__)
APPLY_PATCH = "application/apply-patch+yaml"
MERGE_PATCH = "application/merge-patch+json"
JSON_PATCH = "application/json-patch+json"
Timeout = float | tuple[float, float]


def _error(exc: ApiException) -> ApiError:
    body: Any = {}
    try:
        body = json.loads(exc.body or b"{}")
    except (ValueError, TypeError):
        body = {}
    status = body if isinstance(body, dict) else {}
    return ApiError(
        int(exc.status or 0),
        str(status.get("reason") or exc.reason or "Error"),
        str(status.get("message") or ""),
        status,
    )


class Api:
    """JSON requests with one set of credentials (see :func:`kube.connect`)."""

    def __init__(self, api_client: k8s.ApiClient, field_manager: str = constants.FIELD_MANAGER) -> None:
        self.client = api_client
        self.field_manager = field_manager
        self.writes: Counter[str] = Counter()
        self._lock = threading.Lock()

    @property
    def server(self) -> str:
        return str(self.client.configuration.host)

    def _send(
        self,
        method: str,
        path: str,
        query: Sequence[tuple[str, str]] = (),
        body: Any = None,
        content_type: str | None = None,
        timeout: Timeout = 30,
        accept: str = "application/json",
    ) -> Any:
        headers = {"Accept": accept}
        if content_type:
            headers["Content-Type"] = content_type
        request = self.client.param_serialize(
            method,
            path,
            query_params=list(query),
            header_params=headers,
            body=body,
            auth_settings=["BearerToken"],
        )
        try:
            response = self.client.call_api(*request, _request_timeout=timeout)
        except ApiException as exc:
            raise _error(exc) from exc
        except (HTTPError, OSError) as exc:
            raise Unreachable(f"{method} {path}: {exc}") from exc
        if not 200 <= response.status <= 299:
            response.read()  # type: ignore[no-untyped-call]
            raise _error(ApiException(http_resp=response))
        return response

    def request(self, method: str, path: str, what: str = "", **kwargs: Any) -> dict[str, Any]:
        """One request; a write is counted under ``"<METHOD> <what>"`` before it is sent."""
        if method != "GET":
            with self._lock:
                self.writes[f"{method} {what}".strip()] += 1
            log.debug("write %s %s", method, path)
        response = self._send(method, path, **kwargs)
        try:
            data = response.read()
        except (HTTPError, OSError) as exc:
            raise Unreachable(f"{method} {path}: {exc}") from exc
        result: dict[str, Any] = json.loads(data) if data else {}
        return result

    def text(self, path: str, query: Sequence[tuple[str, str]] = (), timeout: Timeout = 30) -> str:
        """GET a path as text: ``/version``, ``/metrics``, a pod's ``log``, a ``proxy``."""
        response = self._send("GET", path, query=query, timeout=timeout, accept="*/*")
        return bytes(response.read()).decode(errors="replace")

    # -- reads -----------------------------------------------------------------------------------------

    def get(self, res: Resource, namespace: str | None, name: str) -> dict[str, Any] | None:
        """The object, or ``None`` when it does not exist."""
        try:
            obj = self.request("GET", res.path(namespace, name))
        except ApiError as exc:
            if exc.not_found:
                return None
            raise
        obj.setdefault("apiVersion", res.api_version)
        obj.setdefault("kind", res.kind)
        return obj

    def list(
        self,
        res: Resource,
        namespace: str | None = None,
        label_selector: str | None = None,
        field_selector: str | None = None,
    ) -> tuple[list[dict[str, Any]], str]:
        """Every object (pages of 500), and the collection's resourceVersion to watch from."""
        query = [("limit", "500")]
        if label_selector:
            query.append(("labelSelector", label_selector))
        if field_selector:
            query.append(("fieldSelector", field_selector))
        items: list[dict[str, Any]] = []
        while True:
            page = self.request("GET", res.path(namespace), query=query)
            for item in page.get("items") or []:
                item.setdefault("apiVersion", res.api_version)
                item.setdefault("kind", res.kind)
                items.append(item)
            meta = page.get("metadata") or {}
            if not meta.get("continue"):
                return items, str(meta.get("resourceVersion") or "")
            query = [q for q in query if q[0] != "continue"] + [("continue", meta["continue"])]

    def watch(
        self,
        res: Resource,
        resource_version: str,
        namespace: str | None = None,
        label_selector: str | None = None,
        field_selector: str | None = None,
        timeout_seconds: int = 300,
    ) -> Iterator[dict[str, Any]]:
        """Watch events (``type`` and ``object``, bookmarks included) until the server ends the stream."""
        query = [
            ("watch", "true"),
            ("resourceVersion", resource_version),
            ("allowWatchBookmarks", "true"),
            ("timeoutSeconds", str(timeout_seconds)),
        ]
        if label_selector:
            query.append(("labelSelector", label_selector))
        if field_selector:
            query.append(("fieldSelector", field_selector))
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
        except (HTTPError, OSError) as exc:
            raise Unreachable(f"watch {res.plural}: {exc}") from exc
        finally:
            raw.release_conn()

    # -- writes ----------------------------------------------------------------------------------------

    def apply(
        self, res: Resource, body: Mapping[str, Any], sub: str | None = None, force: bool = True
    ) -> dict[str, Any]:
        """Server-side apply ``body`` with our field manager (forcing conflicts on fields we own)."""
        meta = body["metadata"]
        query = [("fieldManager", self.field_manager)]
        if force:
            query.append(("force", "true"))
        return self.request(
            "PATCH",
            res.path(meta.get("namespace"), meta["name"], sub),
            what=res.plural if sub is None else f"{res.plural}/{sub}",
            query=query,
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
        """A JSON merge patch (put ``metadata.resourceVersion`` in it for optimistic concurrency)."""
        return self.request(
            "PATCH",
            res.path(namespace, name, sub),
            what=res.plural if sub is None else f"{res.plural}/{sub}",
            query=[("fieldManager", self.field_manager)],
            body=dict(patch),
            content_type=MERGE_PATCH,
        )

    def json_patch(
        self,
        res: Resource,
        namespace: str | None,
        name: str,
        operations: Sequence[Mapping[str, Any]],
        sub: str | None = None,
    ) -> dict[str, Any]:
        """An RFC 6902 JSON patch (a ``test`` operation makes it conditional)."""
        return self.request(
            "PATCH",
            res.path(namespace, name, sub),
            what=res.plural if sub is None else f"{res.plural}/{sub}",
            query=[("fieldManager", self.field_manager)],
            body=[dict(op) for op in operations],
            content_type=JSON_PATCH,
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

    def delete(
        self, res: Resource, namespace: str | None, name: str, propagation: str = "Background"
    ) -> bool:
        """Delete; ``False`` when it was already gone."""
        try:
            self.request(
                "DELETE", res.path(namespace, name), what=res.plural, body={"propagationPolicy": propagation}
            )
            return True
        except ApiError as exc:
            if exc.not_found:
                return False
            raise
