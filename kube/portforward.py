"""Port-forwarding to a pod or a Service through the API server, like ``kubectl port-forward``, in-process.

:func:`forward` listens on a loopback port of this host; each connection to it opens the pod's
``portforward`` subresource (a WebSocket through the API server, the official client's
``kubernetes.stream.portforward``) and copies bytes both ways. A Service is resolved to one ready pod
behind it and its target port, as ``kubectl port-forward svc/...`` does. Nothing listens beyond
``127.0.0.1`` unless asked.
"""

from __future__ import annotations

import contextlib
import select
import socket
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from kubernetes import client as k8s
from kubernetes.stream import portforward

from kube.api import Api
from kube.errors import KubeError
from kube.resources import PODS, SERVICES


class PortForwardError(KubeError):
    """Nothing to forward to: no such Service or port, or no ready pod behind it."""


@dataclass(frozen=True)
class Target:
    namespace: str
    pod: str
    port: int


def _ready(pod: Mapping[str, Any]) -> bool:
    status = pod.get("status") or {}
    if status.get("phase") != "Running" or (pod.get("metadata") or {}).get("deletionTimestamp"):
        return False
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in status.get("conditions") or [])


def _container_port(pod: Mapping[str, Any], name: str) -> int | None:
    for container in (pod.get("spec") or {}).get("containers") or []:
        for port in container.get("ports") or []:
            if port.get("name") == name:
                return int(port["containerPort"])
    return None


def service_target(api: Api, namespace: str, service: str, port: int | str) -> Target:
    """The pod and pod port behind ``service``'s ``port`` (its number or name)."""
    svc = api.get(SERVICES, namespace, service)
    if svc is None:
        raise PortForwardError(f"no Service {namespace}/{service}")
    spec = svc.get("spec") or {}
    entry = next((p for p in spec.get("ports") or [] if port in (p.get("port"), p.get("name"))), None)
    if entry is None:
        raise PortForwardError(f"Service {namespace}/{service} has no port {port}")
    selector = ",".join(f"{k}={v}" for k, v in sorted((spec.get("selector") or {}).items()))
    if not selector:
        raise PortForwardError(f"Service {namespace}/{service} has no selector, so no pods to forward to")
    pods, _ = api.list(PODS, namespace, label_selector=selector)
    for pod in sorted((p for p in pods if _ready(p)), key=lambda p: p["metadata"]["name"]):
        target = entry.get("targetPort", entry["port"])
        number = _container_port(pod, target) if isinstance(target, str) else int(target)
        if number is not None:
            return Target(namespace, pod["metadata"]["name"], number)
    raise PortForwardError(f"no ready pod behind Service {namespace}/{service} ({selector})")


def _pump(conn: socket.socket, remote: socket.socket) -> None:
    try:
        while True:
            readable, _, _ = select.select([conn, remote], [], [], 30)
            for source in readable:
                data = source.recv(65536)
                if not data:
                    return
                (remote if source is conn else conn).sendall(data)
    except OSError:
        return
    finally:
        for s in (conn, remote):
            with contextlib.suppress(OSError):
                s.close()


def _serve(api: Api, target: Target, server: socket.socket, stop: threading.Event) -> None:
    core = k8s.CoreV1Api(api.client)
    while not stop.is_set():
        try:
            conn, _ = server.accept()
        except OSError:
            return
        try:
            pf = portforward(
                core.connect_get_namespaced_pod_portforward,
                target.pod,
                target.namespace,
                ports=str(target.port),
            )
            remote = pf.socket(target.port)
        except (
            Exception
        ):  # the pod went away or the API server refused: this connection fails, others may not
            conn.close()
            continue
        threading.Thread(target=_pump, args=(conn, remote), daemon=True).start()


@contextlib.contextmanager
def forward(api: Api, target: Target, local_port: int = 0, address: str = "127.0.0.1") -> Iterator[int]:
    """Forward ``address:local_port`` (0: any free port) to ``target`` during the block; yields the port."""
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        server.bind((address, local_port))
    except OSError as exc:
        server.close()
        raise PortForwardError(f"cannot listen on {address}:{local_port}: {exc}") from exc
    server.listen(16)
    stop = threading.Event()
    thread = threading.Thread(target=_serve, args=(api, target, server, stop), daemon=True)
    thread.start()
    try:
        yield int(server.getsockname()[1])
    finally:
        stop.set()
        server.close()
