"""Credentials: one factory for every component's connection to the API server.

:func:`connect` returns a :class:`kube.api.Api`; :func:`api_client` the official client's ``ApiClient``
underneath it (the transport: TLS, tokens, proxies). Where the credentials come from:

- ``kubeconfig`` given: that file (and ``context``, if named);
- ``in_cluster=True``: the pod's service account;
- neither: ``$KUBECONFIG`` or ``~/.kube/config`` if one exists, else the service account.

A failure raises :class:`kube.errors.CredentialsError` saying what was tried.
"""

from __future__ import annotations

import os
from pathlib import Path

from kubernetes import client as k8s
from kubernetes import config as k8s_config
from kubernetes.config.config_exception import ConfigException

from api import constants
from kube.api import Api
from kube.errors import CredentialsError

# Every informer holds one connection for its watch; the official client's default pool (5 per CPU) would
# keep discarding and reopening connections on a 2-core node with a dozen informers.
POOL_SIZE = 32


def _default_kubeconfig() -> Path | None:
    env = os.environ.get("KUBECONFIG")
    if env:
        first = env.split(os.pathsep)[0]
        return Path(first) if first and Path(first).exists() else None
    home = Path.home() / ".kube" / "config"
    return home if home.exists() else None


def api_client(
    kubeconfig: Path | str | None = None, *, context: str | None = None, in_cluster: bool | None = None
) -> k8s.ApiClient:
    """The official client's ``ApiClient`` for the chosen credentials."""
    configuration = k8s.Configuration()
    try:
        if in_cluster:
            k8s_config.load_incluster_config(client_configuration=configuration)  # type: ignore[no-untyped-call]
        else:
            path = Path(kubeconfig) if kubeconfig is not None else _default_kubeconfig()
            if path is None:
                if in_cluster is False:
                    raise CredentialsError("no kubeconfig given and none at $KUBECONFIG or ~/.kube/config")
                k8s_config.load_incluster_config(client_configuration=configuration)  # type: ignore[no-untyped-call]
            else:
                if not path.is_file():
                    raise CredentialsError(f"kubeconfig {path} does not exist")
                k8s_config.load_kube_config(  # type: ignore[no-untyped-call]
                    config_file=str(path), context=context, client_configuration=configuration
                )
    except (ConfigException, OSError, ValueError) as exc:
        where = "the pod's service account" if in_cluster else str(kubeconfig or "the default kubeconfig")
        raise CredentialsError(f"cannot load Kubernetes credentials from {where}: {exc}") from exc
    configuration.connection_pool_maxsize = POOL_SIZE
    return k8s.ApiClient(configuration)


def connect(
    kubeconfig: Path | str | None = None,
    *,
    context: str | None = None,
    in_cluster: bool | None = None,
    field_manager: str = constants.FIELD_MANAGER,
) -> Api:
    """An :class:`Api` for the chosen credentials (see the module docstring for the search order)."""
    return Api(api_client(kubeconfig, context=context, in_cluster=in_cluster), field_manager=field_manager)
