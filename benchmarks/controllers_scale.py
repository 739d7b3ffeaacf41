"""Controllers at scale: N opted-in Deployments on kwok nodes, runtimes supplied, until all are rolled out.

Prints the time until every InstrumentedApplication exists, the time until every Deployment has been rolled
for injection and finished rolling, the controllers' API writes (from the API server's audit log, by verb
and resource) and the controller process's RSS (current and peak).

The controllers run as a separate process (`hodegos controllers run`) under their own user; this script plays
the node agent (it writes each record's detected runtime, as `hodegos agent` would) and uses the admin.

    .venv/bin/python benchmarks/controllers_scale.py --count 1000
"""

from __future__ import annotations

import argparse
import collections
import json
import signal
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from api import constants  # noqa: E402
from kube import Api, connect  # noqa: E402
from kube.resources import CONFIGMAPS, DEPLOYMENTS, NAMESPACES, RECORDS  # noqa: E402
from localcluster import lifecycle, pki  # noqa: E402
from localcluster.layout import Layout, Ports  # noqa: E402
from localcluster.webhook_host import apply_crds  # noqa: E402

USER = "hodegos-bench-controllers"


def client(path: Path) -> Api:

    return connect(path)


def rss_kib(pid: int) -> tuple[int, int]:
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        fields[key] = value.strip()
    return int(fields["VmRSS"].split()[0]), int(fields["VmHWM"].split()[0])


def deployment(name: str, ns: str) -> dict[str, Any]:
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


def main() -> int:
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # run the clean-up in `finally`
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--cluster", default="hodegos-bench")
    parser.add_argument("--port", type=int, default=27443)
    parser.add_argument("--nodes", type=int, default=4)
    parser.add_argument("--timeout", type=float, default=900)
    parser.add_argument(
        "--max-concurrent", type=int, default=1000, help="rollout.maxConcurrent in the Hodegos configuration"
    )
    parser.add_argument(
        "--cooldown",
        type=float,
        default=3600,
        help="--rollout-cooldown-seconds: no webhook runs here, so rolled pods stay uninjected; a long"
        " cooldown keeps them from being rolled again during the run",
    )
    parser.add_argument("--workers", type=int, default=4, help="hodegos controllers run --workers")
    parser.add_argument("--keep", action="store_true", help="leave the cluster up afterwards")
    args = parser.parse_args()

    print(f"cluster {args.cluster}: starting", flush=True)
    result = lifecycle.up(args.cluster, nodes=0, fake_nodes=args.nodes, port=args.port, build=False)
    lay = Layout.for_name(args.cluster)
    ports = Ports(args.port)
    admin_path = lay.admin_kubeconfig
    controller_path = lifecycle.issue_kubeconfig(lay, ports, pki.Identity(USER, ("system:masters",)))
    admin = client(admin_path)

    apply_crds(admin)
    if admin.get(NAMESPACES, None, constants.NAMESPACE) is None:
        admin.create(NAMESPACES, None, {"metadata": {"name": constants.NAMESPACE}})
    for old in admin.list(NAMESPACES)[0]:  # an interrupted earlier run
        if old["metadata"]["name"].startswith("bench-"):
            admin.delete(NAMESPACES, None, old["metadata"]["name"])
    admin.apply(
        CONFIGMAPS,
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": constants.CONFIG_MAP, "namespace": constants.NAMESPACE},
            "data": {"config.yaml": f"rollout:\n  maxConcurrent: {args.max_concurrent}\n"},
        },
    )
    print(f"rollout.maxConcurrent: {args.max_concurrent}", flush=True)
    ns = f"bench-{int(time.time())}"
    admin.create(
        NAMESPACES,
        None,
        {"metadata": {"name": ns, "annotations": {constants.ANNOTATION_INSTRUMENTATION: "enabled"}}},
    )

    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "cli.main",
            "controllers",
            "run",
            f"--kubeconfig={controller_path}",
            "--no-webhook-check",
            f"--rollout-cooldown-seconds={args.cooldown}",
            "--log-level=warning",
            f"--workers={args.workers}",
        ],
        cwd=ROOT,
    )
    stop = threading.Event()
    peak = [0]

    def sample() -> None:
        while not stop.wait(0.5):
            try:
                peak[0] = max(peak[0], rss_kib(proc.pid)[0])
            except (OSError, KeyError):
                return

    threading.Thread(target=sample, daemon=True).start()
    try:
        time.sleep(3)
        t0 = time.monotonic()
        names = [f"app-{i:04d}" for i in range(args.count)]
        with ThreadPoolExecutor(8) as pool:
            list(pool.map(lambda n: admin.create(DEPLOYMENTS, ns, deployment(n, ns)), names))
        created = time.monotonic() - t0
        print(f"created {args.count} Deployments in {created:.1f}s", flush=True)

        # Play the node agent: record a Python runtime in every record as it appears.
        detected: set[str] = set()
        t_records = None
        deadline = time.monotonic() + args.timeout
        while time.monotonic() < deadline:
            items, _ = admin.list(RECORDS, ns)
            todo = [r["metadata"]["name"] for r in items if r["metadata"]["name"] not in detected]
            with ThreadPoolExecutor(8) as pool:
                list(
                    pool.map(
                        lambda n: admin.merge_patch(
                            RECORDS,
                            ns,
                            n,
                            {"status": {"containers": [{"name": "app", "language": "python"}]}},
                            sub="status",
                        ),
                        todo,
                    )
                )
            detected.update(todo)
            if len(items) >= args.count and t_records is None:
                t_records = time.monotonic() - t0
                print(f"all {args.count} records exist after {t_records:.1f}s", flush=True)
            if t_records is not None:
                break
            time.sleep(1)

        t_rolled = t_triggered = None
        while time.monotonic() < deadline:
            deps, _ = admin.list(DEPLOYMENTS, ns)
            done = triggered = 0
            for d in deps:
                ann = d["spec"]["template"]["metadata"].get("annotations") or {}
                st = d.get("status") or {}
                if ann.get(constants.ANNOTATION_ROLLOUT_TARGET) != "inject":
                    continue
                triggered += 1
                if (
                    st.get("observedGeneration", 0) >= d["metadata"]["generation"]
                    and st.get("updatedReplicas") == st.get("replicas") == st.get("availableReplicas") == 1
                ):
                    done += 1
            if triggered >= args.count and t_triggered is None:
                t_triggered = time.monotonic() - t0
                print(f"every rollout triggered by the controllers after {t_triggered:.1f}s", flush=True)
            if done >= args.count:
                t_rolled = time.monotonic() - t0
                break
            print(f"  rollouts triggered {triggered}/{args.count}, finished {done}/{args.count}", flush=True)
            time.sleep(2)
        rss, hwm = rss_kib(proc.pid)
        time.sleep(2)
        writes: collections.Counter[str] = collections.Counter()
        for path in sorted(lay.logs.glob("audit*.log")):
            for line in path.read_text(errors="replace").splitlines():
                try:
                    event = json.loads(line)
                except ValueError:
                    continue
                if event.get("user", {}).get("username") != USER or event.get("verb") in (
                    "get",
                    "list",
                    "watch",
                ):
                    continue
                if event.get("stage") not in (None, "ResponseComplete"):
                    continue
                ref = event.get("objectRef") or {}
                sub = f"/{ref['subresource']}" if ref.get("subresource") else ""
                writes[f"{event['verb']} {ref.get('resource')}{sub}"] += 1
        print()
        print(f"deployments:                 {args.count}")
        print(f"all records exist:           {t_records:.1f} s" if t_records else "records: TIMEOUT")
        print(f"all rollouts triggered:      {t_triggered:.1f} s" if t_triggered else "triggered: TIMEOUT")
        print(
            f"all rolled out (kcm+kwok):   {t_rolled:.1f} s"
            if t_rolled
            else "all rolled out (kcm+kwok):   TIMEOUT (the controller-manager had not finished)"
        )
        print(
            f"controller API writes:       {sum(v for k, v in writes.items() if 'leases' not in k)}"
            f" (+{sum(v for k, v in writes.items() if 'leases' in k)} lease renewals)"
        )
        for key, value in sorted(writes.items()):
            print(f"  {key:38} {value}")
        print(
            f"controller RSS:              {rss / 1024:.0f} MiB now, {max(hwm, peak[0]) / 1024:.0f} MiB peak"
        )
        return 0 if t_records and t_triggered else 1
    finally:
        stop.set()
        proc.terminate()
        proc.wait(30)
        admin.delete(NAMESPACES, None, ns)
        if not args.keep and not result.already_up:
            lifecycle.down(args.cluster)


if __name__ == "__main__":
    raise SystemExit(main())
