"""A list+watch cache of one resource, with indexes and callbacks: every component's view of the cluster.

:class:`Informer` lists, then watches from the list's resourceVersion (bookmarks on, so a quiet watch still
moves forward), resumes a dropped stream from the last version it saw, and lists again on ``410 Gone``.
``managedFields`` are dropped on the way in: no component reads them and they are most of an object's bytes.

Callbacks get ``(type, new, old)``: ``ADDED``/``MODIFIED``/``DELETED`` from the watch, and ``SYNC`` for
every object after each (re)list, so a reconnection can never lose an update. Indexes answer "the objects
whose key function gives this value" (a workload's pods, a node's pods) without a scan.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from kube.api import Api
from kube.errors import ApiError, Unreachable
from kube.resources import Resource

log = logging.getLogger(__name__)

Handler = Callable[[str, dict[str, Any] | None, dict[str, Any] | None], None]  # (type, new, old)
IndexFunc = Callable[[Mapping[str, Any]], Iterable[str]]
Key = tuple[str, str]  # (namespace, name); namespace "" for cluster-scoped objects


def key_of(obj: Mapping[str, Any]) -> Key:
    meta = obj.get("metadata") or {}
    return str(meta.get("namespace") or ""), str(meta.get("name") or "")


def slim(obj: dict[str, Any]) -> dict[str, Any]:
    """``obj`` without ``metadata.managedFields`` (in place)."""
    meta = obj.get("metadata")
    if isinstance(meta, dict):
        meta.pop("managedFields", None)
    return obj


def resource_version(obj: Mapping[str, Any]) -> int:
    try:
        return int((obj.get("metadata") or {}).get("resourceVersion") or 0)
    except ValueError:
        return 0


class Informer:
    """An in-memory copy of one resource (optionally one namespace, label or field selection)."""

    def __init__(
        self,
        api: Api,
        res: Resource,
        handler: Handler | None = None,
        *,
        namespace: str | None = None,
        label_selector: str | None = None,
        field_selector: str | None = None,
        indexers: Mapping[str, IndexFunc] | None = None,
        watch_timeout: int = 300,
    ) -> None:
        self.api, self.res = api, res
        self.namespace, self.label_selector, self.field_selector = namespace, label_selector, field_selector
        self.watch_timeout = watch_timeout
        self.handlers: list[Handler] = [handler] if handler else []
        self._indexers = dict(indexers or {})
        self._indices: dict[str, dict[str, set[Key]]] = {name: {} for name in self._indexers}
        self.store: dict[Key, dict[str, Any]] = {}
        self.synced = threading.Event()
        self.lock = threading.Lock()
        self.relists = 0
        self.events = 0
        self.last_error: str | None = None
        self.resource_version = ""

    # -- reading ---------------------------------------------------------------------------------------

    def get(self, namespace: str | None, name: str) -> dict[str, Any] | None:
        with self.lock:
            return self.store.get((namespace or "", name))

    def items(self) -> list[dict[str, Any]]:
        with self.lock:
            return list(self.store.values())

    def __len__(self) -> int:
        with self.lock:
            return len(self.store)

    def by_index(self, index: str, value: str) -> list[dict[str, Any]]:
        """Objects whose ``index`` function returned ``value``."""
        with self.lock:
            return [self.store[k] for k in self._indices[index].get(value, ()) if k in self.store]

    def add_handler(self, handler: Handler) -> None:
        self.handlers.append(handler)

    # -- write-through ---------------------------------------------------------------------------------

    def remember(self, obj: dict[str, Any]) -> None:
        """Store the answer to our own write, so the next reconcile does not act on a stale copy.

        The watch event for the same write arrives later and replaces it; an older copy never replaces a
        newer one (resourceVersions from one etcd compare as integers).
        """
        obj = slim(obj)
        obj.setdefault("apiVersion", self.res.api_version)
        obj.setdefault("kind", self.res.kind)
        key = key_of(obj)
        with self.lock:
            current = self.store.get(key)
            if current is not None and resource_version(current) > resource_version(obj):
                return
            self._put(key, obj, current)

    def forget(self, namespace: str | None, name: str) -> None:
        key = (namespace or "", name)
        with self.lock:
            old = self.store.pop(key, None)
            if old is not None:
                self._unindex(key, old)

    # -- index bookkeeping (callers hold the lock) -----------------------------------------------------

    def _put(self, key: Key, obj: dict[str, Any], old: dict[str, Any] | None) -> None:
        if old is not None:
            self._unindex(key, old)
        self.store[key] = obj
        for name, func in self._indexers.items():
            for value in func(obj):
                self._indices[name].setdefault(value, set()).add(key)

    def _unindex(self, key: Key, obj: Mapping[str, Any]) -> None:
        for name, func in self._indexers.items():
            index = self._indices[name]
            for value in func(obj):
                keys = index.get(value)
                if keys is not None:
                    keys.discard(key)
                    if not keys:
                        del index[value]

    # -- the loop --------------------------------------------------------------------------------------

    def _notify(self, kind: str, new: dict[str, Any] | None, old: dict[str, Any] | None) -> None:
        for handler in self.handlers:
            try:
                handler(kind, new, old)
            except Exception:  # one bad callback must not stop the cache
                log.exception("%s handler failed on %s", self.res.plural, kind)

    def _relist(self) -> str:
        items, rv = self.api.list(self.res, self.namespace, self.label_selector, self.field_selector)
        fresh = {key_of(o): slim(o) for o in items}
        with self.lock:
            old = self.store
            self.store = {}
            self._indices = {name: {} for name in self._indexers}
            for key, obj in fresh.items():
                self._put(key, obj, None)
        self.relists += 1
        for key, obj in fresh.items():
            self._notify("SYNC", obj, old.get(key))
        for key, obj in old.items():
            if key not in fresh:
                self._notify("DELETED", None, obj)
        self.synced.set()
        self.last_error = None
        return rv

    def run(self, stop: threading.Event) -> None:
        delay = 0.5
        while not stop.is_set():
            try:
                if not self.resource_version:
                    self.resource_version = self._relist()
                for event in self.api.watch(
                    self.res,
                    self.resource_version,
                    self.namespace,
                    self.label_selector,
                    self.field_selector,
                    timeout_seconds=self.watch_timeout,
                ):
                    if stop.is_set():
                        return
                    self.resource_version = self._apply(event)
                    if not self.resource_version:
                        break  # 410 inside the stream: list again
                delay = 0.5
            except ApiError as exc:
                if exc.gone:
                    self.resource_version = ""  # our resourceVersion is too old: list again
                    continue
                self.last_error = str(exc)
                log.warning("watch %s: %s; retrying in %.1fs", self.res.plural, exc, delay)
                stop.wait(delay)
                delay = min(delay * 2, 5.0)
            except (Unreachable, ValueError) as exc:
                self.last_error = str(exc)
                log.info("watch %s interrupted: %s; resuming in %.1fs", self.res.plural, exc, delay)
                stop.wait(delay)
                delay = min(delay * 2, 5.0)

    def _apply(self, event: Mapping[str, Any]) -> str:
        kind, obj = str(event.get("type")), dict(event.get("object") or {})
        if kind == "ERROR":
            error = ApiError.from_status(obj)
            if error.gone:
                return ""
            raise error
        new_rv = str((obj.get("metadata") or {}).get("resourceVersion") or self.resource_version)
        if kind == "BOOKMARK":
            return new_rv
        obj = slim(obj)
        obj.setdefault("apiVersion", self.res.api_version)
        obj.setdefault("kind", self.res.kind)
        key = key_of(obj)
        with self.lock:
            old = self.store.get(key)
            if kind == "DELETED":
                if old is not None:
                    self.store.pop(key, None)
                    self._unindex(key, old)
            else:
                self._put(key, obj, old)
        self.events += 1
        if kind == "DELETED":
            self._notify(kind, None, old or obj)
        else:
            self._notify(kind, obj, old)
        return new_rv

    def start(self, stop: threading.Event) -> threading.Thread:
        thread = threading.Thread(target=self.run, args=(stop,), name=f"watch-{self.res.plural}", daemon=True)
        thread.start()
        return thread


def wait_synced(informers: Iterable[Informer], stop: threading.Event, timeout: float = 120) -> bool:
    """Wait until every informer has listed once; ``False`` on timeout or stop."""
    deadline = time.monotonic() + timeout
    for informer in informers:
        while not informer.synced.wait(0.2):
            if stop.is_set() or time.monotonic() > deadline:
                return False
    return True
