"""Admission burst: N pods created through the real API server by many concurrent writers, the webhook on.

What it does:

1. brings up a local cluster of its own (``hodegos-burst``) and the hosted webhook (``hodegos cluster
   webhook``), registered by URL with ``failurePolicy: Ignore`` and ``timeoutSeconds: 3``;
2. creates an opted-in namespace, a Deployment (0 replicas, so only our writers create pods) and its
   InstrumentedApplication saying its container runs Python;
3. creates ``--pods`` pods owned by that Deployment from ``--writers`` threads (each its own connection);
4. reads the API server's ``/metrics`` before and after, and prints, for our webhook only:
   the share of admissions in each bucket of ``apiserver_admission_webhook_admission_duration_seconds``
   (the API server's own measure: request sent to response read, TLS included),
   ``apiserver_admission_webhook_fail_open_count`` and rejections, pods/s, client-side create latency,
   and how many of the pods came out injected (listed afterwards).

Usage: ``python benchmarks/admission_burst.py [--pods 1000] [--writers 64] [--keep]``.
Everything runs on this machine (2 shared cores here): API server, etcd, scheduler, kwok, the webhook and
the writers compete for the same CPUs, so the figures are a floor, not a ceiling.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from api import constants
from localcluster import lifecycle, processes, webhook_host
from localcluster.layout import Layout, Ports

DURATION = "apiserver_admission_webhook_admission_duration_seconds"
FAIL_OPEN = "apiserver_admission_webhook_fail_open_count"
REJECTED = "apiserver_admission_webhook_rejection_count"
INJECTED_KEY = 'hodegos_webhook_admissions_total{result="injected"}'


def _ours(key: str) -> bool:
    return f'name="{constants.WEBHOOK_NAME}"' in key


def _labels(key: str) -> dict[str, str]:
    inner = key[key.index("{") + 1 : key.rindex("}")] if "{" in key else ""
    out: dict[str, str] = {}
    for part in inner.split('",'):
        if "=" in part:
            name, value = part.split("=", 1)
            out[name.strip()] = value.strip().strip('"')
    return out


def scrape(lay: Layout, ports: Ports) -> dict[str, float]:
    return webhook_host.parse_metrics(lifecycle.apiserver_get(lay, ports, "/metrics"))


def buckets(samples: dict[str, float]) -> dict[str, float]:
    """Cumulative bucket counts (le -> count) of our webhook's admit duration for pod CREATEs."""
    out: dict[str, float] = {}
    for key, value in samples.items():
        if key.startswith(f"{DURATION}_bucket{{") and _ours(key):
            labels = _labels(key)
            if labels.get("operation") == "CREATE" and labels.get("type") == "admit":
                out[labels["le"]] = out.get(labels["le"], 0.0) + value
    return out


def total(samples: dict[str, float], metric: str) -> float:
    return sum(v for k, v in samples.items() if k.startswith(metric) and _ours(k))


def create_once(create: Any, *args: Any) -> None:
    """Create, taking 409 AlreadyExists as success.

    Seen once under heavy load: a create answered 409 for an object only this run makes, which is what a
    client-side retry of a POST that had already succeeded looks like.
    """
    from kubernetes.client.exceptions import ApiException

    try:
        create(*args)
    except ApiException as exc:
        if exc.status != 409:
            raise


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--pods", type=int, default=1000)
    parser.add_argument("--writers", type=int, default=64)
    parser.add_argument("--cluster", default="hodegos-burst")
    parser.add_argument("--port", type=int, default=36443, help="API server port of the benchmark cluster")
    parser.add_argument("--webhook-port", type=int, default=39443)
    parser.add_argument("--keep", action="store_true", help="leave the cluster up afterwards")
    args = parser.parse_args()

    from kubernetes import client

    import kube

    load = " ".join(Path("/proc/loadavg").read_text().split()[:3])

    def say(msg: str) -> None:
        print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)

    result = lifecycle.up(args.cluster, nodes=0, fake_nodes=4, port=args.port, build=False, progress=say)
    lay, ports = Layout.for_name(args.cluster), Ports(int(result.status["server"].rsplit(":", 1)[1]))
    hosted = webhook_host.up(args.cluster, args.webhook_port)
    say(f"webhook at {hosted.url}")
    try:
        admin = kube.api_client(lay.admin_kubeconfig)
        core: Any = client.CoreV1Api(admin)
        namespace = f"burst-{uuid.uuid4().hex[:6]}"
        core.create_namespace(
            {
                "metadata": {
                    "name": namespace,
                    "annotations": {constants.ANNOTATION_INSTRUMENTATION: "enabled"},
                }
            }
        )
        apps: Any = client.AppsV1Api(admin)
        deployment: Any = apps.create_namespaced_deployment(
            namespace,
            {
                "metadata": {"name": "bench"},
                "spec": {
                    "replicas": 0,
                    "selector": {"matchLabels": {"app": "bench"}},
                    "template": {
                        "metadata": {"labels": {"app": "bench"}},
                        "spec": {"containers": [{"name": "app", "image": "registry.example/bench:1"}]},
                    },
                },
            },
        )
        custom: Any = client.CustomObjectsApi(admin)
        record = constants.record_name("Deployment", "bench")
        create_once(
            custom.create_namespaced_custom_object,
            constants.GROUP,
            constants.VERSION,
            namespace,
            "instrumentedapplications",
            {
                "apiVersion": constants.API_VERSION,
                "kind": "InstrumentedApplication",
                "metadata": {"name": record},
                "spec": {"workload": {"kind": "Deployment", "name": "bench"}},
            },
        )
        custom.patch_namespaced_custom_object_status(
            constants.GROUP,
            constants.VERSION,
            namespace,
            "instrumentedapplications",
            record,
            {"status": {"containers": [{"name": "app", "language": "python"}]}},
        )
        time.sleep(2)  # watch delivery to the webhook's cache
        owner = {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "name": "bench",
            "uid": deployment.metadata.uid,
            "controller": True,
        }

        local = threading.local()

        def writer_api() -> Any:
            if not hasattr(local, "api"):
                local.api = client.CoreV1Api(kube.api_client(lay.admin_kubeconfig))
            return local.api

        def create(index: int) -> float:
            body = {
                "metadata": {
                    "name": f"bench-{index:05d}",
                    "labels": {"run": "burst"},
                    "ownerReferences": [owner],
                },
                "spec": {"containers": [{"name": "app", "image": "registry.example/bench:1"}]},
            }
            started = time.perf_counter()
            create_once(writer_api().create_namespaced_pod, namespace, body)
            return time.perf_counter() - started

        before = scrape(lay, ports)
        say(f"creating {args.pods} pods from {args.writers} writers")
        started = time.perf_counter()
        with ThreadPoolExecutor(args.writers) as pool:
            latencies = list(pool.map(create, range(args.pods)))
        elapsed = time.perf_counter() - started
        after = scrape(lay, ports)

        b0, b1 = buckets(before), buckets(after)
        admissions = b1.get("+Inf", 0) - b0.get("+Inf", 0)
        pods = core.list_namespaced_pod(namespace, label_selector="run=burst").items
        injected = sum(constants.ANNOTATION_INJECTED in (p.metadata.annotations or {}) for p in pods)
        latencies.sort()

        print(f"admission burst: {args.pods} pods, {args.writers} writers, webhook {hosted.url}")
        print(f"  pods/s (client)            {args.pods / elapsed:8.1f}   ({elapsed:.1f} s)")
        print(
            f"  create latency (client)    p50 {statistics.median(latencies) * 1000:.1f} ms, "
            f"p99 {latencies[int(len(latencies) * 0.99) - 1] * 1000:.1f} ms"
        )
        print(f"  admissions seen by the API server: {admissions:.0f}")
        previous = 0.0
        for le in [*sorted((k for k in b1 if k != "+Inf"), key=float), "+Inf"]:
            count = b1.get(le, 0) - b0.get(le, 0)
            share = 100 * count / admissions if admissions else 0.0
            within = 100 * (count - previous) / admissions if admissions else 0.0
            label = f"<= {float(le) * 1000:g} ms" if le != "+Inf" else "all"
            print(f"    {label:>12}: {share:6.2f} % cumulative  ({within:6.2f} % in this bucket)")
            previous = count
        print(f"  fail-open (API server)     {total(after, FAIL_OPEN) - total(before, FAIL_OPEN):.0f}")
        print(f"  rejections (API server)    {total(after, REJECTED) - total(before, REJECTED):.0f}")
        print(f"  injected pods (listed)     {injected} / {len(pods)}")
        own = hosted.metrics()
        print(f"  webhook's own count        {own.get(INJECTED_KEY, 0):.0f} injected")
        # The webhook's own clock (body read to answer written), apart from TLS, network and queueing.
        own_buckets = {
            _labels(k)["le"]: v
            for k, v in own.items()
            if k.startswith("hodegos_webhook_admission_duration_seconds_bucket")
        }
        count = own_buckets.get("+Inf", 0)
        shown = ", ".join(
            f"<= {float(le) * 1000:g} ms {100 * own_buckets[le] / count:.1f} %"
            for le in sorted((k for k in own_buckets if k != "+Inf"), key=float)
            if count and float(le) <= 0.1
        )
        print(f"  webhook's own latency      {shown}")
        print(f"  load average at start      {load}")
        core.delete_namespace(namespace)
    finally:
        if not args.keep:
            lifecycle.down(args.cluster)
            processes.reap()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
