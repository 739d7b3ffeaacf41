"""The one edge between Hodegos and the Kubernetes API, shared by every component.

Public API:

- :func:`connect` / :func:`api_client` — credentials (kubeconfig, in-cluster, explicit);
- :class:`Api` — JSON requests: get, list, watch, server-side apply with one field manager, merge and JSON
  patches (status included), create, replace, delete; writes are counted;
- :class:`Informer` — list+watch cache with indexes and callbacks; :func:`wait_synced`;
- :class:`WorkQueue` — a level-triggered queue with per-key backoff, for reconcilers;
- :class:`LiveConfig` — ``hodegos-config``, followed live, last good kept on a bad edit;
- :class:`Recorder` / :func:`event` — Kubernetes Events;
- :mod:`kube.resources` — the resources by name (``PODS``, ``RECORDS``, ...);
- errors (:mod:`kube.errors`): :class:`KubeError` > :class:`ApiError` (the server's ``Status``),
  :class:`Unreachable`, :class:`CredentialsError`.

Objects are plain wire-form dicts everywhere.
"""

from kube import resources
from kube.api import Api
from kube.client import api_client, connect
from kube.errors import ApiError, CredentialsError, KubeError, Unreachable
from kube.events import Recorder, event
from kube.informer import Informer, key_of, wait_synced
from kube.liveconfig import ConfigSource, LiveConfig, StaticConfig
from kube.resources import BY_KIND, Resource
from kube.timestamps import micro_time, parse_timestamp, timestamp
from kube.workqueue import WorkQueue

__all__ = [
    "BY_KIND",
    "Api",
    "ApiError",
    "ConfigSource",
    "CredentialsError",
    "Informer",
    "KubeError",
    "LiveConfig",
    "Recorder",
    "Resource",
    "StaticConfig",
    "Unreachable",
    "WorkQueue",
    "api_client",
    "connect",
    "event",
    "key_of",
    "micro_time",
    "parse_timestamp",
    "resources",
    "timestamp",
    "wait_synced",
]
