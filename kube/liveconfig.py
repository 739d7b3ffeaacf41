"""The Hodegos configuration as it is now: ``hodegos-config`` followed through an informer.

Every component (webhook, controllers, node agent, UI) reads its configuration this way, so an edit of the
ConfigMap reaches all of them within a watch event, with no restart. A bad edit never takes a component
down: :attr:`LiveConfig.current` keeps the last good configuration, :attr:`LiveConfig.error` says what is
wrong (naming the field), and one Warning Event on the ConfigMap tells the user. A deleted ConfigMap means
the defaults. ``--config FILE`` modes use :class:`StaticConfig` instead; both answer ``current``.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any, Protocol

from api import constants
from api.config import HodegosConfig, load
from kube.api import Api
from kube.events import Recorder
from kube.informer import Informer
from kube.resources import CONFIGMAPS

log = logging.getLogger(__name__)


class ConfigSource(Protocol):
    """Where a component reads its configuration from, at the moment it needs it."""

    @property
    def current(self) -> HodegosConfig: ...


class StaticConfig:
    """A configuration that never changes (from a file, or the defaults)."""

    synced = True
    error: str | None = None

    def __init__(self, config: HodegosConfig | None = None) -> None:
        self.current = config or HodegosConfig()


class LiveConfig:
    """``hodegos-config`` in ``namespace``, kept current; ``on_change`` runs after each accepted change."""

    def __init__(
        self,
        api: Api,
        namespace: str = constants.NAMESPACE,
        *,
        recorder: Recorder | None = None,
        on_change: Callable[[HodegosConfig], None] | None = None,
        name: str = constants.CONFIG_MAP,
    ) -> None:
        self.namespace, self.name = namespace, name
        self.recorder = recorder
        self.on_change = on_change
        self.current = HodegosConfig()
        self.error: str | None = None
        self.changes = 0
        self._lock = threading.Lock()
        self.informer = Informer(
            api, CONFIGMAPS, self._changed, namespace=namespace, field_selector=f"metadata.name={name}"
        )

    @property
    def synced(self) -> bool:
        return self.informer.synced.is_set()

    def start(self, stop: threading.Event) -> LiveConfig:
        self.informer.start(stop)
        return self

    def wait_synced(self, timeout: float) -> bool:
        return self.informer.synced.wait(timeout)

    def _changed(self, _type: str, new: dict[str, Any] | None, _old: dict[str, Any] | None) -> None:
        with self._lock:
            config, error = load(new, self.current)
            if error and error != self.error and new is not None:
                log.warning("%s/%s: %s; keeping the previous configuration", self.namespace, self.name, error)
                if self.recorder is not None:
                    self.recorder.emit(
                        new, "InvalidConfiguration", f"{error}; keeping the previous configuration",
                        "Validate", "Warning",
                    )  # fmt: skip
            self.error = error
            if config == self.current:
                return
            log.info("configuration changed: %s", config.to_dict())
            self.current = config
            self.changes += 1
        if self.on_change is not None:
            self.on_change(config)
