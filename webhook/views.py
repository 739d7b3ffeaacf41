"""Answers to the core's questions about the cluster (:class:`~webhook.admission.ClusterView`), no API call.

- :class:`StaticView`: from objects in memory or a directory of YAML/JSON files (``--records DIR``, and
  ``hodegos explain``). Namespaces and InstrumentedApplications are picked out; other kinds are ignored.
- :class:`WatchView`: an in-memory cache of Namespaces and InstrumentedApplications kept current by one
  list+watch loop per kind, each in a daemon thread, with the official ``kubernetes`` client. A watch resumes
  from the last resourceVersion it saw (bookmarks included); a 410 Gone re-lists and replaces the cache.
  ``synced`` turns true once both kinds have been listed; the server is not ready before that.

Admissions only read plain dicts that the watch threads replace wholesale, so readers never lock.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

import orjson
import yaml
from pydantic import ValidationError

from api import constants
from api.models import InstrumentedApplication
from webhook.errors import ViewError

log = logging.getLogger(__name__)

RECORD_PLURAL = "instrumentedapplications"
_SUFFIXES = (".yaml", ".yml", ".json")


def _slim_namespace(obj: Mapping[str, Any]) -> dict[str, Any]:
    meta = obj.get("metadata") or {}
    return {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {
            "name": meta.get("name"),
            "labels": dict(meta.get("labels") or {}),
            "annotations": dict(meta.get("annotations") or {}),
        },
    }


def parse_record(obj: Mapping[str, Any], source: str = "") -> InstrumentedApplication:
    """An InstrumentedApplication from its JSON form (server bookkeeping like managedFields dropped)."""
    data = dict(obj)
    meta = dict(data.get("metadata") or {})
    meta.pop("managedFields", None)
    data["metadata"] = meta
    try:
        return InstrumentedApplication.model_validate(data)
    except ValidationError as exc:
        name = f"{meta.get('namespace', '')}/{meta.get('name', '?')}"
        where = f" in {source}" if source else ""
        raise ViewError(f"InstrumentedApplication {name}{where} is invalid: {exc}") from exc


class StaticView:
    """A fixed set of Namespaces and InstrumentedApplications. Always synced."""

    synced = True

    def __init__(
        self,
        namespaces: Iterable[Mapping[str, Any]] = (),
        records: Iterable[InstrumentedApplication] = (),
    ) -> None:
        self._namespaces = {str(ns["metadata"]["name"]): _slim_namespace(ns) for ns in namespaces}
        self._records = {(r.metadata.namespace or "default", r.metadata.name): r for r in records}

    def namespace(self, name: str) -> Mapping[str, Any] | None:
        return self._namespaces.get(name)

    def record(self, namespace: str, name: str) -> InstrumentedApplication | None:
        return self._records.get((namespace, name))

    def sizes(self) -> dict[str, int]:
        return {"namespaces": len(self._namespaces), "records": len(self._records)}

    @classmethod
    def from_objects(cls, objects: Iterable[Mapping[str, Any]], source: str = "") -> StaticView:
        namespaces: list[Mapping[str, Any]] = []
        records: list[InstrumentedApplication] = []
        for obj in _flatten(objects):
            kind = obj.get("kind")
            if kind == "Namespace":
                if not (obj.get("metadata") or {}).get("name"):
                    raise ViewError(f"a Namespace{' in ' + source if source else ''} has no metadata.name")
                namespaces.append(obj)
            elif kind == "InstrumentedApplication":
                records.append(parse_record(obj, source))
        return cls(namespaces, records)

    @classmethod
    def from_path(cls, path: Path) -> StaticView:
        """Load every ``*.yaml``/``*.yml``/``*.json`` file of a directory (or one file); multi-document ok."""
        if not path.exists():
            raise ViewError(f"{path}: no such file or directory")
        files = sorted(p for p in path.iterdir() if p.suffix in _SUFFIXES) if path.is_dir() else [path]
        namespaces: list[Mapping[str, Any]] = []
        records: list[InstrumentedApplication] = []
        for file in files:
            try:
                docs = [d for d in yaml.safe_load_all(file.read_text(encoding="utf-8")) if d is not None]
            except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
                raise ViewError(f"{file}: cannot read: {exc}") from exc
            for doc in docs:
                if not isinstance(doc, Mapping):
                    raise ViewError(f"{file}: a document is not a mapping")
            part = cls.from_objects(docs, source=str(file))
            namespaces += part._namespaces.values()
            records += part._records.values()
        return cls(namespaces, records)


def _flatten(objects: Iterable[Mapping[str, Any]]) -> Iterator[Mapping[str, Any]]:
    for obj in objects:
        if isinstance(obj.get("items"), list) and str(obj.get("kind", "")).endswith("List"):
            yield from _flatten(item for item in obj["items"] if isinstance(item, Mapping))
        else:
            yield obj


class _Gone(Exception):
    """The watch's resourceVersion is too old (410): list again."""


class _Reflector:
    """List, then watch from the list's resourceVersion; keep ``store`` equal to the server's collection."""

    def __init__(
        self,
        kind: str,
        list_call: Callable[..., Any],
        key: Callable[[Mapping[str, Any]], Any],
        convert: Callable[[Mapping[str, Any]], Any],
        stop: threading.Event,
        watch_seconds: int,
        backoff: float,
    ) -> None:
        self.kind = kind
        self._list_call = list_call
        self._key = key
        self._convert = convert
        self._stop = stop
        self._watch_seconds = watch_seconds
        self._backoff = backoff
        self.store: dict[Any, Any] = {}
        self.synced = threading.Event()
        self.resource_version: str | None = None
        self.lists = 0
        self.events = 0
        self.errors = 0
        self.last_error: str | None = None
        self._response: Any = None

    def run(self) -> None:
        from kubernetes.client.exceptions import ApiException

        delay = self._backoff
        while not self._stop.is_set():
            try:
                if self.resource_version is None:
                    self._list()
                    delay = self._backoff
                self._watch()
            except _Gone:
                log.info(
                    "%s watch expired at resourceVersion %s; listing again", self.kind, self.resource_version
                )
                self.resource_version = None
            except ApiException as exc:
                if self._stop.is_set():
                    return
                self.errors += 1
                if exc.status == 410:
                    self.resource_version = None
                    continue
                self.last_error = f"{exc.status} {exc.reason}"
                log.warning(
                    "%s list/watch failed (%s %s); retrying in %.1fs",
                    self.kind,
                    exc.status,
                    exc.reason,
                    delay,
                )
                self._stop.wait(delay)
                delay = min(delay * 2, 30.0)
            except Exception as exc:
                if self._stop.is_set():
                    return
                self.errors += 1
                self.last_error = str(exc)
                log.warning("%s list/watch failed (%s); retrying in %.1fs", self.kind, exc, delay)
                self._stop.wait(delay)
                delay = min(delay * 2, 30.0)

    def close(self) -> None:
        response = self._response
        if response is not None:
            try:
                response.close()
            except Exception:  # closing a socket another thread reads from may raise; we are stopping anyway
                pass

    def _list(self) -> None:
        response = self._list_call(_preload_content=False, _request_timeout=(10, 60))
        try:
            body = orjson.loads(response.data)
        finally:
            response.release_conn()
        store: dict[Any, Any] = {}
        for item in body.get("items") or []:
            value = self._safe_convert(item)
            if value is not None:
                store[self._key(item)] = value
        self.store = store  # one assignment: readers see the old or the new collection, never a mix
        self.resource_version = (body.get("metadata") or {}).get("resourceVersion")
        self.lists += 1
        self.synced.set()

    def _watch(self) -> None:
        response = self._list_call(
            watch=True,
            resource_version=self.resource_version,
            allow_watch_bookmarks=True,
            timeout_seconds=self._watch_seconds,
            _preload_content=False,
            _request_timeout=(10, self._watch_seconds + 30),
        )
        self._response = response
        try:
            for line in _lines(response):
                if self._stop.is_set():
                    return
                self._apply(orjson.loads(line))
        finally:
            self._response = None
            response.release_conn()

    def _apply(self, event: Mapping[str, Any]) -> None:
        kind, obj = event.get("type"), event.get("object") or {}
        if kind == "ERROR":
            if obj.get("code") == 410:
                raise _Gone()
            from kubernetes.client.exceptions import ApiException

            raise ApiException(status=obj.get("code"), reason=f"{obj.get('reason')}: {obj.get('message')}")
        version = (obj.get("metadata") or {}).get("resourceVersion")
        if kind in ("ADDED", "MODIFIED"):
            value = self._safe_convert(obj)
            store = self.store
            if value is None:
                store.pop(self._key(obj), None)
            else:
                store[self._key(obj)] = value
        elif kind == "DELETED":
            self.store.pop(self._key(obj), None)
        self.events += 1
        if version:
            self.resource_version = version

    def _safe_convert(self, obj: Mapping[str, Any]) -> Any:
        try:
            return self._convert(obj)
        except ViewError as exc:
            self.errors += 1
            log.warning("ignoring %s: %s", self.kind, exc)
            return None


def _lines(response: Any) -> Iterator[bytes]:
    buffer = b""
    for chunk in response.stream(amt=None, decode_content=False):
        buffer += chunk
        while b"\n" in buffer:
            line, buffer = buffer.split(b"\n", 1)
            if line.strip():
                yield line


class WatchView:
    """Namespaces and InstrumentedApplications cached from watches. :meth:`start`, then wait ``synced``."""

    def __init__(self, api_client: Any, *, watch_seconds: int = 300, backoff: float = 0.5) -> None:
        from kubernetes import client

        self.api_client = api_client
        self._stop = threading.Event()
        core = client.CoreV1Api(api_client)
        custom = client.CustomObjectsApi(api_client)

        def list_records(**kwargs: Any) -> Any:
            return custom.list_cluster_custom_object(
                constants.GROUP, constants.VERSION, RECORD_PLURAL, **kwargs
            )

        def record_key(obj: Mapping[str, Any]) -> tuple[str, str]:
            meta = obj.get("metadata") or {}
            return (str(meta.get("namespace")), str(meta.get("name")))

        self._namespaces = _Reflector(
            "Namespace",
            core.list_namespace,
            lambda obj: str((obj.get("metadata") or {}).get("name")),
            _slim_namespace,
            self._stop,
            watch_seconds,
            backoff,
        )
        self._records = _Reflector(
            "InstrumentedApplication",
            list_records,
            record_key,
            parse_record,
            self._stop,
            watch_seconds,
            backoff,
        )
        self._threads: list[threading.Thread] = []

    def start(self) -> WatchView:
        for reflector in (self._namespaces, self._records):
            thread = threading.Thread(target=reflector.run, name=f"watch-{reflector.kind}", daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        for reflector in (self._namespaces, self._records):
            reflector.close()
        for thread in self._threads:
            thread.join(timeout)

    @property
    def synced(self) -> bool:
        return self._namespaces.synced.is_set() and self._records.synced.is_set()

    @property
    def last_error(self) -> str | None:
        """Why a kind is not synced yet (its latest list/watch error), for /readyz."""
        for reflector in (self._namespaces, self._records):
            if not reflector.synced.is_set() and reflector.last_error:
                return f"{reflector.kind}: {reflector.last_error}"
        return None

    def wait_synced(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        for reflector in (self._namespaces, self._records):
            if not reflector.synced.wait(max(0.0, deadline - time.monotonic())):
                return False
        return True

    def namespace(self, name: str) -> Mapping[str, Any] | None:
        value: Mapping[str, Any] | None = self._namespaces.store.get(name)
        return value

    def record(self, namespace: str, name: str) -> InstrumentedApplication | None:
        value: InstrumentedApplication | None = self._records.store.get((namespace, name))
        return value

    def sizes(self) -> dict[str, int]:
        return {"namespaces": len(self._namespaces.store), "records": len(self._records.store)}

    def stats(self) -> dict[str, dict[str, Any]]:
        """Per kind: lists done, events applied, errors, and the resourceVersion the watch resumes from."""
        return {
            r.kind: {
                "lists": r.lists,
                "events": r.events,
                "errors": r.errors,
                "resourceVersion": r.resource_version,
            }
            for r in (self._namespaces, self._records)
        }
