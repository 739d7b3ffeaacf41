"""``hodegos install``: the namespace (with its Pod Security labels), then the chart.

An upgrade keeps the live configuration: ``hodegos-config`` is edited after the install (the UI's
onboarding and settings, ``kubectl edit``), under the Hodegos field manager, so a plain ``helm upgrade``
would either reset it to the chart's defaults or, with server-side apply, stop on the conflict. The live
mapping goes to Helm as the lowest-priority values file: the user's own ``-f`` and ``--set`` still win.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from api import constants
from api.config import raw_mapping
from installer.helm import Helm
from kube import Api, ApiError
from kube.resources import CONFIGMAPS, NAMESPACES

Progress = Callable[[str], None]
# The node agent and node collectors need the node (hostPID, hostPath, host ports), which only the
# "privileged" level allows; every other Hodegos pod meets "restricted", which the API server audits.
NAMESPACE_LABELS = {
    "pod-security.kubernetes.io/enforce": "privileged",
    "pod-security.kubernetes.io/audit": "restricted",
    constants.LABEL_PART_OF: constants.PRODUCT,
    constants.LABEL_MANAGED_BY: constants.PRODUCT,  # made by `hodegos install`; purge removes it
}


def ensure_namespace(api: Api, namespace: str) -> bool:
    """Create the namespace (labelled) unless it exists; ``True`` when it was created."""
    if api.get(NAMESPACES, None, namespace) is not None:
        return False
    try:
        api.create(NAMESPACES, None, {"metadata": {"name": namespace, "labels": NAMESPACE_LABELS}})
    except ApiError as exc:
        if not exc.conflict:
            raise
        return False
    return True


def live_config(config_map: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """The mapping in a ``hodegos-config`` ConfigMap, or ``None`` (missing, empty, or not a YAML mapping)."""
    return raw_mapping(config_map) or None


def install(
    api: Api,
    helm: Helm,
    namespace: str = constants.NAMESPACE,
    *,
    sets: Sequence[str] = (),
    values_files: Sequence[Path] = (),
    wait: bool = False,
    timeout: str = "5m",
    progress: Progress | None = None,
) -> str:
    """Install or upgrade; returns Helm's notes."""
    say = progress or (lambda _m: None)
    if ensure_namespace(api, namespace):
        say(f"created namespace {namespace}")
    live = live_config(api.get(CONFIGMAPS, namespace, constants.CONFIG_MAP))
    say(
        f"helm upgrade --install hodegos into {namespace}"
        + (" (waiting for every pod to be Ready)" if wait else "")
    )
    if live is None:
        return helm.install(namespace, sets=sets, values_files=values_files, wait=wait, timeout=timeout)
    say(f"keeping the live configuration in {constants.CONFIG_MAP} (your -f and --set still override it)")
    with tempfile.TemporaryDirectory(prefix="hodegos-install-") as tmp:
        kept = Path(tmp) / "live-config.yaml"
        kept.write_text(yaml.safe_dump({"config": live}, sort_keys=False))
        # The same settings, formatted by Helm: it takes the field over from the Hodegos field manager.
        return helm.install(
            namespace, sets=sets, values_files=[kept, *values_files], wait=wait, timeout=timeout,
            force_conflicts=True,
        )  # fmt: skip
