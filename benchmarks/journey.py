"""The whole journey's figures on this machine: time from ``hodegos install`` to the first complete trace at
Jaeger, the spans/s the pipeline sustains with the shop under load and none lost, and the CPU and memory of
each Hodegos component at each load.

1. The demo (``journey.run``, what ``make demo`` runs) on its own cluster. If Hodegos is already installed
   there it is uninstalled first (``--purge``), so the install is a fresh one on a warm machine (images and
   builds cached): the figure is a user's "install, onboard, see a trace".
2. For each rate (requests/s from the load generator; each request is one trace of about a dozen spans
   across the four services): quiet, counters read, the load for ``--step`` seconds, quiet again, both
   counters read after 25 s (the load generator exits at once on SIGTERM, so nothing is sent after that).
   Sent = spans the node collectors' receivers accepted; received = spans Jaeger's receiver accepted;
   lost = sent - received (readiness probes make a few spans a second throughout, so a
   loss smaller than that would hide). Usage: metrics-server's last figures near the end of each step.

    .venv/bin/python benchmarks/journey.py [--rates 5,10,20,40] [--step 60] [--keep]
    # target: the first complete trace within 60 s of install (Odigos documents "within minutes")
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from journey import run, traffic  # noqa: E402
from kube import Api  # noqa: E402
from localcluster import lifecycle  # noqa: E402
from localcluster.layout import Layout  # noqa: E402


def say(message: str) -> None:
    print(f"{time.strftime('%H:%M:%S')} {message}", file=sys.stderr, flush=True)


def fresh_install(cluster: str) -> None:
    layout = Layout.for_name(cluster)
    if not layout.admin_kubeconfig.is_file():
        return
    try:
        api = lifecycle.admin_api(layout)
        from kube import resources as res

        installed = api.get(res.NAMESPACES, None, "hodegos-system") is not None
    except Exception:
        return
    if installed:
        say("Hodegos is installed on this cluster: uninstalling (--purge) so the install is a fresh one")
        subprocess.run(
            [str(Path(sys.executable).with_name("hodegos")), "uninstall", "--purge",
             "--kubeconfig", str(layout.admin_kubeconfig)],
            check=True, cwd=ROOT,
        )  # fmt: skip


def quiet_counts(api: Api, settle: float) -> tuple[int, int]:
    traffic.set_load(api, 0, 1)
    time.sleep(settle)
    return traffic.spans_sent(api), traffic.spans_received(api)


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--cluster", default="hodegos-bench-journey")
    parser.add_argument("--port", type=int, default=33443)
    parser.add_argument("--rates", default="5,10,20,40")
    parser.add_argument("--step", type=float, default=60.0)
    parser.add_argument("--keep", action="store_true", help="leave the cluster up afterwards")
    parser.add_argument(
        "--screenshots", type=Path, help="save the UI's screenshots (onboarding, data flowing)"
    )
    args = parser.parse_args()

    fresh_install(args.cluster)
    timings, _seen = run.run(
        run.Options(cluster=args.cluster, port=args.port, screenshots=args.screenshots), say
    )
    api = lifecycle.admin_api(Layout.for_name(args.cluster))
    rows = []
    try:
        for rate in (float(r) for r in args.rates.split(",")):
            sent0, received0 = quiet_counts(api, 20)
            say(f"load: {rate:g} requests/s for {args.step:.0f} s")
            traffic.set_load(api, 1, rate)
            time.sleep(args.step - 15)
            used = traffic.usage(api)
            size = traffic.gateway_size(api)[1]
            time.sleep(15)
            # Both counters after the same settle: what the node collectors accepted is at Jaeger by now.
            sent1, received1 = quiet_counts(api, 25)
            sent, received = sent1 - sent0, received1 - received0
            rows.append((rate, sent, received, size, used))
    finally:
        traffic.set_load(api, 1, 2)
        if not args.keep:
            lifecycle.down(args.cluster)

    print("\njourney (warm machine: images and builds cached)")
    for name, seconds in timings.steps.items():
        print(f"  {seconds:7.1f} s  {name}")
    print(f"  first complete trace {timings.first_trace_after_install} s after `hodegos install` started "
          "(target 60 s)")  # fmt: skip
    print(
        f"\n{'req/s':>6} {'spans/s sent':>13} {'received':>9} {'lost':>6} {'gateways':>9}  "
        "CPU m / MiB per component"
    )
    for rate, sent, received, size, used in rows:
        window = args.step
        parts = ", ".join(
            f"{k.removeprefix('hodegos-')} {u.cpu_millis:.0f}/{u.memory_mib:.0f}" for k, u in used.items()
        )
        print(
            f"{rate:6g} {sent / window:13.0f} {received / window:9.0f} {sent - received:6d} {size:9d}"
            f"  {parts}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
