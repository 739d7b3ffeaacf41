"""UI pages at scale: server time (p50/p99) and HTML size per page, 1,000 workloads, 64 destinations, 40
actions and 24 sampling rules.

A local cluster on kwok nodes gets 1,000 Deployments (one pod each) in 20 namespaces, half of them opted in
by a namespace annotation, with an InstrumentedApplication per opted-in workload carrying detected runtimes
(written here as the controllers and the node agent would), 64 Destinations (one of every catalogue type,
sample values, a Secret each), 40 Actions and 24 SamplingRules (every kind in turn with its sample values,
scoped to a namespace, with an ``Applied`` condition as the controllers write it). The UI then runs in this
process on its informers, exactly as ``hodegos ui`` does, and each page is requested ``--requests`` times
through the ASGI app (no network): the time is the server's whole answer, routing to rendered HTML.

    .venv/bin/python benchmarks/ui_pages.py            # target: p99 < 50 ms, every page < 100 KB
"""

from __future__ import annotations

import argparse
import base64
import statistics
import sys
import time
import warnings
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from api import constants  # noqa: E402
from destinations import all_types  # noqa: E402
from kube import Api, ApiError, connect  # noqa: E402
from kube.resources import (  # noqa: E402
    ACTIONS,
    DEPLOYMENTS,
    DESTINATIONS,
    NAMESPACES,
    PODS,
    RECORDS,
    SAMPLING_RULES,
    SECRETS,
)
from localcluster import lifecycle  # noqa: E402
from localcluster.layout import Layout  # noqa: E402
from localcluster.webhook_host import apply_crds  # noqa: E402
from pipelines import kinds  # noqa: E402

LANGUAGES = ("python", "java", "nodejs", "go", "dotnet")


def deployment(ns: str, name: str) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": ns},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": "app", "image": "example.invalid/app:1"}]},
            },
        },
    }


def create(api: Api, res: Any, ns: str | None, body: dict[str, Any]) -> None:
    try:
        api.create(res, ns, body)
    except ApiError as exc:
        if not exc.conflict:
            raise


def populate(api: Api, count: int, namespaces: int) -> None:
    apply_crds(api)
    create(api, NAMESPACES, None, {"metadata": {"name": constants.NAMESPACE}})
    names = [f"team-{i:02d}" for i in range(namespaces)]
    for i, ns in enumerate(names):
        annotations = {constants.ANNOTATION_INSTRUMENTATION: "enabled"} if i % 2 == 0 else {}
        create(api, NAMESPACES, None, {"metadata": {"name": ns, "annotations": annotations}})
    jobs = [(names[i % namespaces], f"svc-{i:04d}", i) for i in range(count)]

    def one(job: tuple[str, str, int]) -> None:
        ns, name, i = job
        create(api, DEPLOYMENTS, ns, deployment(ns, name))
        if names.index(ns) % 2 == 0:
            record: dict[str, Any] = {
                "apiVersion": constants.API_VERSION, "kind": "InstrumentedApplication",
                "metadata": {"name": constants.record_name("Deployment", name), "namespace": ns,
                             "labels": {constants.LABEL_MANAGED_BY: "benchmark"}},
                "spec": {"workload": {"kind": "Deployment", "name": name}},
            }  # fmt: skip
            create(api, RECORDS, ns, record)
            record_name = constants.record_name("Deployment", name)
            status = {"containers": [{"name": "app", "language": LANGUAGES[i % len(LANGUAGES)],
                                      "runtimeVersion": "3.12.1", "libc": "glibc"}]}  # fmt: skip
            api.merge_patch(RECORDS, ns, record_name, {"status": status}, sub="status")

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(one, jobs))
    for t in all_types()[:64]:
        data, secrets = t.sample_data()
        name = f"dest-{t.type}"
        signals = [s for s in ("traces", "metrics", "logs") if s in t.signals] or ["traces"]
        spec: dict[str, Any] = {"type": t.type, "signals": signals, "data": data}
        if secrets:
            spec["secretRef"] = {"name": f"hodegos-destination-{name}"}
            create(api, SECRETS, constants.NAMESPACE, {
                "metadata": {"name": f"hodegos-destination-{name}"},
                "data": {k: base64.b64encode(v.encode()).decode() for k, v in secrets.items()},
            })  # fmt: skip
        create(api, DESTINATIONS, constants.NAMESPACE, {
            "apiVersion": constants.API_VERSION, "kind": "Destination",
            "metadata": {"name": name, "namespace": constants.NAMESPACE}, "spec": spec,
        })  # fmt: skip


def populate_rules(api: Api, names: list[str], actions: int, rules: int) -> None:
    """Every kind in turn with its sample values, scoped to one namespace where the kind takes a scope."""
    for family, res, count in (("action", ACTIONS, actions), ("sampling", SAMPLING_RULES, rules)):
        family_kinds = [k for k in kinds.catalogue().values() if k.family == family]
        for i in range(count):
            kind = family_kinds[i % len(family_kinds)]
            settings = kinds.check_settings(
                kind,
                {f.name: f.sample() for f in kind.fields if f.sample() is not None and f.kind != "keyValue"},
            )
            spec: dict[str, Any] = {kind.kind: settings}
            if kind.scoped:
                spec["scope"] = {"namespaces": [names[i % len(names)]]}
            name = f"{family}-{i:02d}-{kind.kind.lower()}"
            create(api, res, constants.NAMESPACE, {
                "apiVersion": constants.API_VERSION, "kind": res.kind,
                "metadata": {"name": name, "namespace": constants.NAMESPACE}, "spec": spec,
            })  # fmt: skip
            obj = api.get(res, constants.NAMESPACE, name) or {}
            generation = obj["metadata"]["generation"]
            condition = {"type": "Applied", "status": "True", "reason": "AppliedToCollectors",
                         "message": "applied on the gateway", "observedGeneration": generation,
                         "lastTransitionTime": "2026-01-01T00:00:00Z"}  # fmt: skip
            status = {"observedGeneration": generation, "conditions": [condition]}
            api.merge_patch(res, constants.NAMESPACE, name, {"status": status}, sub="status")


def wait_pods(api: Api, count: int, timeout: float) -> int:
    deadline = time.monotonic() + timeout
    while True:
        items, _ = api.list(PODS, None, field_selector="status.phase=Running")
        running = sum(1 for p in items if str(p["metadata"].get("namespace", "")).startswith("team-"))
        if running >= count or time.monotonic() > deadline:
            return running
        time.sleep(3)


def measure(client: Any, path: str, requests: int, before: Any = None) -> tuple[float, float, int]:
    for _ in range(5):
        client.get(path)  # warm: template compilation, first-touch caches
    times = []
    size = 0
    for _ in range(requests):
        if before is not None:
            before()
        start = time.perf_counter()
        response = client.get(path)
        times.append((time.perf_counter() - start) * 1000)
        assert response.status_code == 200, (path, response.status_code)
        size = len(response.content)
    times.sort()
    return statistics.median(times), times[min(len(times) - 1, int(len(times) * 0.99))], size


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--namespaces", type=int, default=20)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--actions", type=int, default=40)
    parser.add_argument("--rules", type=int, default=24)
    parser.add_argument("--cluster", default="hodegos-bench-ui")
    parser.add_argument("--port", type=int, default=32443)
    parser.add_argument("--nodes", type=int, default=4)
    parser.add_argument("--keep", action="store_true", help="leave the cluster up")
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

    from ui import Cluster, Settings, create_app, settle

    lifecycle.up(args.cluster, nodes=0, fake_nodes=args.nodes, port=args.port, build=False)
    api = connect(Layout.for_name(args.cluster).admin_kubeconfig)
    try:
        start = time.monotonic()
        populate(api, args.count, args.namespaces)
        populate_rules(api, [f"team-{i:02d}" for i in range(args.namespaces)], args.actions, args.rules)
        running = wait_pods(api, args.count, 600)
        print(f"cluster: {args.count} deployments, {running} running pods, 64 destinations, "
              f"{args.actions} actions, {args.rules} sampling rules "
              f"({time.monotonic() - start:.0f}s to create)")  # fmt: skip
        cluster = Cluster(api).start()
        began = time.monotonic()
        assert cluster.wait_synced(120)
        counts = (
            len(cluster.all_workloads()),
            len(cluster.pods),
            len(cluster.records),
            len(cluster.destination_list()),
        )
        print(f"UI informers synced in {time.monotonic() - began:.1f}s: %d workloads, %d pods, %d records, "
              "%d destinations" % counts)  # fmt: skip
        settle()  # what `hodegos ui` does once its caches are synced
        client = TestClient(create_app(Settings(), cluster), base_url="http://127.0.0.1:3000")
        pages = [
            ("overview", "/overview"),
            ("overview fragment (refresh)", "/overview/pipeline"),
            ("sources, first page", "/sources"),
            ("sources table, filtered (namespace + state)", "/sources/table?namespace=team-04&state=pending"),
            ("sources table, filtered (language + text)", "/sources/table?language=java&q=svc-01"),
            ("sources table, page 10", "/sources/table?page=10"),
            ("destinations", "/destinations"),
            ("catalogue", "/destinations/new"),
            ("collectors", "/collectors"),
            ("actions", "/actions"),
            ("actions table (the 5-second refresh)", "/actions/list"),
            ("action form (Mask PII, every namespace listed)", "/actions/new/piiMasking"),
            ("sampling", "/sampling"),
            ("sampling rule form (Keep slow traces)", "/sampling/new/latency"),
            ("a workload's page (with its actions and rules)", "/sources/team-04/Deployment/svc-0004"),
        ]
        churn = [  # every request right after a change in the caches (rows recomputed)
            ("overview, caches just changed", "/overview"),
            ("sources, first page, caches just changed", "/sources"),
            (
                "sources table, filtered, caches just changed",
                "/sources/table?namespace=team-04&state=pending",
            ),
            ("actions, caches just changed", "/actions"),
            ("sampling, caches just changed", "/sampling"),
        ]
        print(f"\n{'page':52} {'p50 ms':>8} {'p99 ms':>8} {'HTML KB':>8}")
        worst = 0.0
        for label, path, before in [(a, b, None) for a, b in pages] + [
            (a, b, cluster.touch) for a, b in churn
        ]:
            p50, p99, size = measure(client, path, args.requests, before)
            worst = max(worst, p99)
            print(f"{label:52} {p50:8.1f} {p99:8.1f} {size / 1024:8.1f}")
        print(f"\nworst p99 {worst:.1f} ms (target 50 ms)")
        cluster.shutdown()
    finally:
        if not args.keep:
            lifecycle.down(args.cluster)
    return 0


if __name__ == "__main__":
    sys.exit(main())
