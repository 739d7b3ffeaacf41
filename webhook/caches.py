"""The webhook's caches: the core's questions about the cluster (:class:`~webhook.admission.ClusterView`)
answered with no API call on the admission path.

- :class:`StaticView`: from objects in memory or a directory of YAML/JSON files (``--records DIR``, and
  ``hodegos explain``). Namespaces and InstrumentedApplications are picked out; other kinds are ignored.
- :class:`ClusterCache`: Namespaces, InstrumentedApplications and the ``hodegos-config`` ConfigMap, each
  followed by the shared :class:`kube.Informer` (list, watch from the list's resourceVersion, re-list on
  410) and :class:`kube.LiveConfig`. Records are parsed once, when they change, never per admission.
  ``synced`` turns true once all three have been listed; the server is not ready before that.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from api import constants
from api.models import InstrumentedApplication
from kube import Api, Informer, LiveConfig, Recorder, key_of
from kube.resources import NAMESPACES, RECORDS
from webhook.errors import ViewError

log = logging.getLogger(__name__)

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


class ClusterCache:
    """Namespaces, InstrumentedApplications, the live configuration: :meth:`start`, then wait ``synced``."""

    def __init__(
        self, api: Api, namespace: str = constants.NAMESPACE, *, recorder: Recorder | None = None
    ) -> None:
        self._stop = threading.Event()
        self._records: dict[tuple[str, str], InstrumentedApplication] = {}
        self.namespaces = Informer(api, NAMESPACES)
        self.records = Informer(api, RECORDS, self._record_changed)
        self.config = LiveConfig(api, namespace, recorder=recorder)
        self.invalid_records = 0

    def _record_changed(self, kind: str, new: dict[str, Any] | None, old: dict[str, Any] | None) -> None:
        key = key_of(new or old or {})
        if new is None:
            self._records.pop(key, None)
            return
        try:
            self._records[key] = parse_record(new)
        except ViewError as exc:
            self.invalid_records += 1
            self._records.pop(key, None)
            log.warning("ignoring InstrumentedApplication: %s", exc)

    def start(self) -> ClusterCache:
        for informer in (self.namespaces, self.records):
            informer.start(self._stop)
        self.config.start(self._stop)
        return self

    def stop(self) -> None:
        self._stop.set()

    @property
    def synced(self) -> bool:
        return self.namespaces.synced.is_set() and self.records.synced.is_set() and self.config.synced

    @property
    def last_error(self) -> str | None:
        """Why the cache is not synced yet (the latest list/watch error), for /readyz."""
        for informer in (self.namespaces, self.records, self.config.informer):
            if not informer.synced.is_set() and informer.last_error:
                return f"{informer.res.kind}: {informer.last_error}"
        return None

    def wait_synced(self, timeout: float) -> bool:
        for event in (self.namespaces.synced, self.records.synced, self.config.informer.synced):
            if not event.wait(timeout):
                return False
        return True

    def namespace(self, name: str) -> Mapping[str, Any] | None:
        return self.namespaces.get(None, name)

    def record(self, namespace: str, name: str) -> InstrumentedApplication | None:
        return self._records.get((namespace, name))

    def sizes(self) -> dict[str, int]:
        return {"namespaces": len(self.namespaces), "records": len(self._records)}
