"""Benchmark: spans per second through the real gateway collector with (a) no rules or actions, (b) every
action kind, (c) tail sampling with five rules; collector CPU per 1,000 spans; and collector memory with
tail sampling at a 30 s decision wait under 1,000 traces/s, against the configured bound.

    .venv/bin/python benchmarks/pipelines.py [--seconds 15] [--senders 2] [--memory-seconds 60]

The gateway exports to a ``debug`` destination (basic verbosity: a log line per batch), so the figures are
the collector's own work. Senders post pre-built OTLP/HTTP requests of 1,000 spans (100 traces of 10
spans) from threads; throughput is what the collector accepted. Memory: the group's default resources
(512 MiB limit: memory_limiter hard limit 462 MiB, tail sampling buffer sized from it, pipelines.sizing).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402

from api.models import CollectorResources  # noqa: E402
from destinations import collector  # noqa: E402
from harness import spans as otlp  # noqa: E402
from harness.collectors import running  # noqa: E402
from harness.otlp import free_port  # noqa: E402
from pipelines import GatewayOptions, Listen, render_gateway, sizing  # noqa: E402

TICKS = os.sysconf("SC_CLK_TCK")
DEBUG = {"apiVersion": "hodegos.io/v1alpha1", "kind": "Destination", "metadata": {"name": "sink"},
         "spec": {"type": "debug", "signals": ["traces"], "data": {}}}  # fmt: skip


def obj(kind: str, name: str, spec: dict[str, Any]) -> dict[str, Any]:
    return {"apiVersion": "hodegos.io/v1alpha1", "kind": kind, "metadata": {"name": name}, "spec": spec}


ACTIONS = [
    obj("Action", "a", {"addClusterInfo": {"clusterName": "bench"}}),
    obj("Action", "b", {"renameAttribute": {"from": "legacy.id", "to": "order.id"}}),
    obj("Action", "c", {"deleteAttribute": {"names": "password"}}),
    obj("Action", "d", {"piiMasking": {"ipv4": True}}),
]
RULES = [
    obj("SamplingRule", "errors", {"errors": {}}),
    obj("SamplingRule", "slow", {"latency": {"thresholdMs": 500}}),
    obj("SamplingRule", "ten", {"percentage": {"percent": 10}}),
    obj("SamplingRule", "cart", {"percentage": {"percent": 50, "service": "cart"}}),
    obj("SamplingRule", "probes", {"dropOperations": {"routes": "/healthz"}}),
]


ATTRS = {"legacy.id": "A-1", "password": "x", "client": "10.1.2.3", "plain": "ok"}


def payloads(count: int, traces_per: int = 100, spans_per: int = 10) -> list[bytes]:
    out = []
    for _ in range(count):
        spans = []
        for _ in range(traces_per):
            trace = otlp.new_id(16)
            for index in range(spans_per):
                error = index == 9 and trace[0] < 8
                spans.append(
                    otlp.SpanSpec(trace, otlp.new_id(8), name="GET /checkout", error=error, attributes=ATTRS)
                )
        out.append(
            otlp.request(spans, {"service.name": "shop", "k8s.namespace.name": "shop"}).SerializeToString()
        )
    return out


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def collector_pid(port: int) -> int:
    """The PID of the collector listening on ``port`` (found through /proc, the runner does not expose it)."""
    inode = None
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        parts = line.split()
        if int(parts[1].split(":")[1], 16) == port and parts[3] == "0A":
            inode = parts[9]
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            if any(
                os.readlink(f"/proc/{pid}/fd/{fd}") == f"socket:[{inode}]"
                for fd in os.listdir(f"/proc/{pid}/fd")
            ):
                return int(pid)
        except OSError:
            continue
    raise RuntimeError(f"no process listens on {port}")


def throughput(
    binary: Path, config_for: Any, bodies: list[bytes], seconds: float, senders: int
) -> dict[str, float]:
    at = Listen(
        host="127.0.0.1",
        otlp_grpc_port=free_port(),
        otlp_http_port=free_port(),
        health_port=free_port(),
        metrics_port=free_port(),
    )
    config = config_for(at)
    with (
        tempfile.TemporaryDirectory() as tmp,
        running(binary, config, health_port=at.health_port, workdir=Path(tmp), name="gw", env={}),
    ):
        pid = collector_pid(at.otlp_http_port)
        url = f"http://127.0.0.1:{at.otlp_http_port}/v1/traces"
        sent = [0] * senders
        stop = time.monotonic() + seconds

        def send(index: int) -> None:
            with httpx.Client() as client:
                i = index
                while time.monotonic() < stop:
                    reply = client.post(
                        url,
                        content=bodies[i % len(bodies)],
                        headers={"Content-Type": "application/x-protobuf"},
                    )
                    if reply.status_code == 200:
                        sent[index] += 1000
                    i += senders

        cpu0, t0 = cpu_seconds(pid), time.monotonic()
        threads = [threading.Thread(target=send, args=(i,)) for i in range(senders)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        elapsed, cpu = time.monotonic() - t0, cpu_seconds(pid) - cpu0
        spans = sum(sent)
        return {
            "spans_per_s": spans / elapsed,
            "cpu_ms_per_1k": 1000 * cpu / max(1, spans / 1000),
            "rss_mib": rss_mib(pid),
        }


def memory(binary: Path, seconds: float) -> dict[str, float]:
    size = sizing(CollectorResources())
    options = GatewayOptions(sizing=size, decision_wait_seconds=30)
    at = Listen(
        host="127.0.0.1",
        otlp_grpc_port=free_port(),
        otlp_http_port=free_port(),
        health_port=free_port(),
        metrics_port=free_port(),
    )
    config = render_gateway(
        [DEBUG], rules=RULES, options=GatewayOptions(**{**options.__dict__, "listen": at})
    ).config
    bodies = payloads(50)  # 100 traces each: ten requests a second is 1,000 traces/s
    peak = 0.0
    with (
        tempfile.TemporaryDirectory() as tmp,
        running(
            binary,
            config,
            health_port=at.health_port,
            workdir=Path(tmp),
            name="gw",
            env={"GOMEMLIMIT": f"{size.gomemlimit_mib}MiB"},
        ),
    ):
        pid = collector_pid(at.otlp_http_port)
        url = f"http://127.0.0.1:{at.otlp_http_port}/v1/traces"
        with httpx.Client() as client:
            start = time.monotonic()
            for index in range(int(seconds * 10)):
                client.post(
                    url,
                    content=bodies[index % len(bodies)],
                    headers={"Content-Type": "application/x-protobuf"},
                )
                peak = max(peak, rss_mib(pid))
                time.sleep(max(0.0, start + (index + 1) / 10 - time.monotonic()))
    return {"peak_rss_mib": peak, "limiter_mib": size.limiter_mib, "num_traces": size.num_traces}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=15)
    parser.add_argument("--senders", type=int, default=2)
    parser.add_argument("--memory-seconds", type=float, default=60)
    args = parser.parse_args()
    if not collector.is_built():
        sys.exit("the pinned collector is not built: run make setup")
    binary = collector.collector_path()
    print(
        f"load average at start: {os.getloadavg()[0]:.2f}; {args.senders} senders x {args.seconds:.0f}s",
        flush=True,
    )
    bodies = payloads(40)
    cases = {
        "plain": lambda at: render_gateway([DEBUG], options=GatewayOptions(listen=at)).config,
        "actions": lambda at: (
            render_gateway([DEBUG], actions=ACTIONS, options=GatewayOptions(listen=at)).config
        ),
        "tail (5 rules)": lambda at: (
            render_gateway(
                [DEBUG], rules=RULES, options=GatewayOptions(listen=at, decision_wait_seconds=5)
            ).config
        ),
    }
    results = {
        name: throughput(binary, make, bodies, args.seconds, args.senders) for name, make in cases.items()
    }
    print(f"{'pipeline':16} {'spans/s':>9} {'vs plain':>8} {'CPU ms/1k spans':>16} {'RSS MiB':>8}")
    for name, r in results.items():
        ratio = r["spans_per_s"] / results["plain"]["spans_per_s"]
        print(
            f"{name:16} {r['spans_per_s']:9.0f} {ratio:8.2f} {r['cpu_ms_per_1k']:16.1f} {r['rss_mib']:8.0f}",
            flush=True,
        )
    if args.memory_seconds > 0:
        m = memory(binary, args.memory_seconds)
        print(
            f"tail sampling, 30 s decision wait, 1,000 traces/s for {args.memory_seconds:.0f}s: peak RSS "
            f"{m['peak_rss_mib']:.0f} MiB (memory_limiter hard limit {m['limiter_mib']} MiB; "
            f"buffer {m['num_traces']} traces)"
        )


if __name__ == "__main__":
    main()
