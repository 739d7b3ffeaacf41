"""Benchmark: the injection webhook over TLS (one uvicorn worker), admissions/s and latency per concurrency.

    .venv/bin/python -m benchmarks.webhook_latency [--seconds 8] [--levels 1,8,32,64] [--rate 500]

The server (real core, static view, one worker, uvloop + httptools, our reloading TLS context) runs in a
child process pinned to CPU 0; the load generator runs here pinned to CPU 1 (when there are two CPUs): a
lean asyncio HTTP/1.1 client over keep-alive TLS connections, like the API server's. The AdmissionReview is
a realistic 2-container Deployment pod (about 3 KB) that gets injected (Python + Node.js).

Closed loop: ``c`` connections each send the next request as soon as the answer arrives; printed per level:
admissions/s, p50, p99, max (client-side, so they include the client's own overhead), and the server
process's CPU time per admission (user + system, from /proc: a figure other load on the machine does not
inflate the way it inflates latency tails). Open loop (``--rate``):
requests start on a fixed schedule regardless of answers, the honest way to check "p99 at N admissions/s".
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import ssl
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import orjson

from api import constants


def realistic_review(uid: str = "bench") -> bytes:
    """An AdmissionReview for a Deployment pod with 2 containers, probes, resources, volumes, env."""
    pod: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "generateName": "checkout-7c9f8d6b5-",
            "namespace": "shop",
            "labels": {
                "app.kubernetes.io/name": "checkout",
                "app.kubernetes.io/version": "2.14.1",
                "pod-template-hash": "7c9f8d6b5",
            },
            "annotations": {"prometheus.io/scrape": "true", "prometheus.io/port": "9102"},
            "ownerReferences": [
                {
                    "apiVersion": "apps/v1",
                    "kind": "ReplicaSet",
                    "name": "checkout-7c9f8d6b5",
                    "uid": "6f1f2d8e-6b0e-4a55-9f0e-0d6c3f1b2a11",
                    "controller": True,
                    "blockOwnerDeletion": True,
                }
            ],
        },
        "spec": {
            "serviceAccountName": "checkout",
            "securityContext": {"runAsNonRoot": True, "runAsUser": 10001, "fsGroup": 10001},
            "volumes": [
                {"name": "config", "configMap": {"name": "checkout-config"}},
                {"name": "tmp", "emptyDir": {"sizeLimit": "64Mi"}},
                {
                    "name": "kube-api-access-x7k2p",
                    "projected": {
                        "sources": [
                            {"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}},
                            {
                                "configMap": {
                                    "name": "kube-root-ca.crt",
                                    "items": [{"key": "ca.crt", "path": "ca.crt"}],
                                }
                            },
                        ]
                    },
                },
            ],
            "containers": [
                {
                    "name": "app",
                    "image": "registry.example/shop/checkout:2.14.1",
                    "ports": [
                        {"name": "http", "containerPort": 8080},
                        {"name": "metrics", "containerPort": 9102},
                    ],
                    "env": [
                        {"name": "PYTHONPATH", "value": "/srv/app"},
                        {"name": "DATABASE_URL", "valueFrom": {"secretKeyRef": {"name": "db", "key": "url"}}},
                        {"name": "LOG_LEVEL", "value": "info"},
                        {"name": "OTEL_RESOURCE_ATTRIBUTES", "value": "team=payments"},
                    ],
                    "resources": {
                        "requests": {"cpu": "250m", "memory": "256Mi"},
                        "limits": {"memory": "512Mi"},
                    },
                    "readinessProbe": {"httpGet": {"path": "/ready", "port": "http"}, "periodSeconds": 5},
                    "livenessProbe": {"httpGet": {"path": "/live", "port": "http"}, "periodSeconds": 10},
                    "volumeMounts": [
                        {"name": "config", "mountPath": "/etc/checkout", "readOnly": True},
                        {"name": "tmp", "mountPath": "/tmp"},
                        {
                            "name": "kube-api-access-x7k2p",
                            "mountPath": "/var/run/secrets/kubernetes.io/serviceaccount",
                            "readOnly": True,
                        },
                    ],
                    "securityContext": {"allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True},
                },
                {
                    "name": "worker",
                    "image": "registry.example/shop/checkout-worker:2.14.1",
                    "command": ["node", "dist/worker.js"],
                    "env": [
                        {"name": "NODE_OPTIONS", "value": "--max-old-space-size=384"},
                        {"name": "QUEUE", "value": "orders"},
                    ],
                    "resources": {
                        "requests": {"cpu": "100m", "memory": "128Mi"},
                        "limits": {"memory": "384Mi"},
                    },
                    "volumeMounts": [
                        {
                            "name": "kube-api-access-x7k2p",
                            "mountPath": "/var/run/secrets/kubernetes.io/serviceaccount",
                            "readOnly": True,
                        },
                    ],
                },
            ],
        },
    }
    review = {
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "request": {
            "uid": uid,
            "kind": {"group": "", "version": "v1", "kind": "Pod"},
            "resource": {"group": "", "version": "v1", "resource": "pods"},
            "requestKind": {"group": "", "version": "v1", "kind": "Pod"},
            "requestResource": {"group": "", "version": "v1", "resource": "pods"},
            "namespace": "shop",
            "operation": "CREATE",
            "userInfo": {
                "username": "system:serviceaccount:kube-system:replicaset-controller",
                "uid": "0b1c6b8a-2d7f-4d4e-9a57-3f2c1e0d9b88",
                "groups": [
                    "system:serviceaccounts",
                    "system:serviceaccounts:kube-system",
                    "system:authenticated",
                ],
            },
            "object": pod,
            "oldObject": None,
            "dryRun": False,
            "options": {"apiVersion": "meta.k8s.io/v1", "kind": "CreateOptions"},
        },
    }
    return orjson.dumps(review)


def _view() -> Any:
    from api.models import InstrumentedApplication
    from webhook.caches import StaticView

    record = InstrumentedApplication.model_validate(
        {
            "metadata": {"name": constants.record_name("Deployment", "checkout"), "namespace": "shop"},
            "spec": {"workload": {"kind": "Deployment", "name": "checkout"}},
            "status": {
                "containers": [
                    {"name": "app", "language": "python", "runtimeVersion": "3.12.4", "libc": "glibc"},
                    {"name": "worker", "language": "nodejs", "runtimeVersion": "22.3.0", "libc": "glibc"},
                ]
            },
        }
    )
    namespace = {
        "metadata": {"name": "shop", "annotations": {constants.ANNOTATION_INSTRUMENTATION: "enabled"}}
    }
    return StaticView([namespace], [record])


def _serve(cert_dir: str, port: int, cpu: int | None, offload: bool = True) -> None:
    from certs.reloading import ReloadingContext
    from certs.storing import CERT_FILE, KEY_FILE
    from webhook.server import Settings, create_app, uvicorn_server

    if cpu is not None:
        os.sched_setaffinity(0, {cpu})
    tls = ReloadingContext(Path(cert_dir, CERT_FILE), Path(cert_dir, KEY_FILE))
    app = create_app(_view(), tls=tls, settings=Settings(offload=offload))
    uvicorn_server(app, "127.0.0.1", port, tls, log_level="error").run()


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_listening(port: int, timeout: float = 30.0) -> None:
    import socket

    deadline = time.monotonic() + timeout
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


class Client:
    """One keep-alive TLS connection sending a fixed request and reading Content-Length framed answers."""

    def __init__(self, request: bytes) -> None:
        self.request = request
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def connect(self, port: int, context: ssl.SSLContext) -> None:
        self.reader, self.writer = await asyncio.open_connection(
            "127.0.0.1", port, ssl=context, server_hostname="localhost"
        )

    async def send(self) -> float:
        assert self.reader is not None and self.writer is not None
        started = time.perf_counter()
        self.writer.write(self.request)
        head = await self.reader.readuntil(b"\r\n\r\n")
        length = 0
        for line in head.split(b"\r\n"):
            if line[:15].lower() == b"content-length:":
                length = int(line[15:])
        body = await self.reader.readexactly(length)
        elapsed = time.perf_counter() - started
        if not head.startswith(b"HTTP/1.1 200") or b'"patchType":"JSONPatch"' not in body:
            raise RuntimeError(f"unexpected answer: {head[:40]!r} {body[:120]!r}")
        return elapsed

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


def _request(body: bytes) -> bytes:
    head = (
        f"POST {constants.WEBHOOK_PATH}?timeout=3s HTTP/1.1\r\nHost: localhost\r\n"
        f"Content-Type: application/json\r\nAccept: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


async def closed_loop(port: int, context: ssl.SSLContext, concurrency: int, seconds: float) -> list[float]:
    clients = [Client(_request(realistic_review(f"c{i}"))) for i in range(concurrency)]
    await asyncio.gather(*(c.connect(port, context) for c in clients))
    for c in clients:  # warm-up
        await c.send()
    latencies: list[float] = []
    stop = time.perf_counter() + seconds

    async def run(client: Client) -> None:
        while time.perf_counter() < stop:
            latencies.append(await client.send())

    await asyncio.gather(*(run(c) for c in clients))
    for c in clients:
        c.close()
    return latencies


async def open_loop(
    port: int, context: ssl.SSLContext, rate: float, seconds: float, pool: int
) -> list[float]:
    """Start requests at ``rate``/s on a schedule; each goes to an idle connection of the pool."""
    idle: asyncio.Queue[Client] = asyncio.Queue()
    clients = [Client(_request(realistic_review(f"o{i}"))) for i in range(pool)]
    await asyncio.gather(*(c.connect(port, context) for c in clients))
    for c in clients:
        await c.send()
        idle.put_nowait(c)
    latencies: list[float] = []
    interval = 1.0 / rate
    start = time.perf_counter()
    tasks: list[asyncio.Task[None]] = []

    async def one(scheduled: float) -> None:
        client = await idle.get()
        await client.send()
        latencies.append(time.perf_counter() - scheduled)  # includes any wait for a free connection
        idle.put_nowait(client)

    n = 0
    while (now := time.perf_counter()) - start < seconds:
        scheduled = start + n * interval
        if scheduled > now:
            await asyncio.sleep(scheduled - now)
        tasks.append(asyncio.create_task(one(scheduled)))
        n += 1
    await asyncio.gather(*tasks)
    for c in clients:
        c.close()
    return latencies


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (from /proc), to report cost per admission independent of load."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _row(label: str, latencies: list[float], seconds: float, cpu: float) -> str:
    ms = [v * 1000 for v in latencies]
    return (
        f"{label:>14}  {len(ms) / seconds:>9.0f}  {statistics.median(ms):>7.2f}"
        f"  {_percentile(ms, 0.99):>7.2f}  {max(ms):>7.2f}  {cpu / len(ms) * 1e6:>8.0f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--levels", default="1,8,32,64")
    parser.add_argument("--rate", type=float, default=500.0, help="open-loop rate; 0 to skip")
    parser.add_argument(
        "--inline", action="store_true", help="run the core on the event loop (no thread hop)"
    )
    args = parser.parse_args()

    from certs import authority, storing

    cpus = sorted(os.sched_getaffinity(0))
    server_cpu, client_cpu = (cpus[0], cpus[1]) if len(cpus) > 1 else (None, None)
    with tempfile.TemporaryDirectory() as cert_dir:
        from datetime import UTC, datetime, timedelta

        material = authority.issue(
            ["localhost", "127.0.0.1"], datetime.now(UTC), timedelta(days=2), timedelta(days=1)
        )
        storing.write_directory(material, Path(cert_dir))
        ctx = multiprocessing.get_context("spawn")
        port = _free_port()
        server = ctx.Process(target=_serve, args=(cert_dir, port, server_cpu, not args.inline), daemon=True)
        server.start()
        try:
            _wait_listening(port)
            if client_cpu is not None:
                os.sched_setaffinity(0, {client_cpu})
            context = ssl.create_default_context(cadata=material.ca_bundle.decode())
            body = realistic_review()
            print(
                f"webhook over TLS, 1 worker{'' if server_cpu is None else f' on CPU {server_cpu}'}; "
                f"AdmissionReview {len(body)} bytes (2-container Deployment pod, injected); "
                f"{args.seconds:.0f}s per level; core {'inline' if args.inline else 'in a worker thread'}"
            )
            print(f"{'load':>14}  {'adm/s':>9}  {'p50 ms':>7}  {'p99 ms':>7}  {'max ms':>7}  {'CPU us':>8}")
            import uvloop

            assert server.pid is not None
            for level in [int(x) for x in args.levels.split(",") if x]:
                cpu = _cpu_seconds(server.pid)
                latencies = uvloop.run(closed_loop(port, context, level, args.seconds))
                cpu = _cpu_seconds(server.pid) - cpu
                print(_row(f"conc {level}", latencies, args.seconds, cpu), flush=True)
            if args.rate > 0:
                cpu = _cpu_seconds(server.pid)
                latencies = uvloop.run(open_loop(port, context, args.rate, args.seconds, pool=16))
                cpu = _cpu_seconds(server.pid) - cpu
                print(_row(f"{args.rate:.0f}/s open", latencies, args.seconds, cpu), flush=True)
        finally:
            server.terminate()
            server.join(10)
    sys.stdout.flush()


if __name__ == "__main__":
    main()
