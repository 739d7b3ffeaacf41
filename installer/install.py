"""``hodegos install``: the namespace (with its Pod Security labels), then the chart."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from api import constants
from installer.helm import Helm
from kube import Api, ApiError
from kube.resources import NAMESPACES

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
    say(
        f"helm upgrade --install hodegos into {namespace}"
        + (" (waiting for every pod to be Ready)" if wait else "")
    )
    return helm.install(namespace, sets=sets, values_files=values_files, wait=wait, timeout=timeout)
