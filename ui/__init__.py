"""The Hodegos web UI: onboarding, sources, destinations, collectors, settings and an overview.

Server-rendered (FastAPI + Jinja2, htmx for partial updates, one stylesheet and one small script of our
own). It reads the cluster only through shared informers (:class:`Cluster`) and writes through
:mod:`ui.writing` (server-side apply for what Hodegos owns). Forms are generated from declarative fields
(:mod:`ui.forms`), so the destination catalogue's YAML files are the whole form definition.

Public API:

- :func:`create_app` — the FastAPI application for a :class:`Settings` and a :class:`kube.Api` or
  :class:`Cluster`;
- :class:`Settings`, :class:`Cluster`; :func:`settle` once its caches are synced (keeps full garbage
  collections from pausing requests);
- :class:`Scraper`, :func:`pod_targets` — the collectors' own metrics, for the overview's throughput.
"""

from ui.app import create_app
from ui.cluster import Cluster, settle
from ui.settings import Settings
from ui.telemetry import Scraper, pod_targets

__all__ = ["Cluster", "Scraper", "Settings", "create_app", "pod_targets", "settle"]
