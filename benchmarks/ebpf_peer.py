"""Hodegos's Go tracer side by side with OpenTelemetry Go automatic instrumentation, in one run.

    sudo .venv/bin/python -m benchmarks.ebpf_peer [--requests 5000] [--rounds 3] [--targets 10] [-o json]

The peer is ``go.opentelemetry.io/auto`` v0.24.0 (what Odigos builds on), built from the Go module proxy
into the cache (:mod:`benchmarks.ebpf_peerbuild`). Both trace the same Go net/http server (the harness
goserver, built with the machine's Go) and both export OTLP/HTTP to one receiver here, which counts the
spans that arrive. Each tracer is its own process: ``hodegos agent trace`` and the peer's
``otel-go-instrumentation`` (run in a private mount namespace: it mounts bpffs on /sys/fs/bpf and leaves
it; securityfs is mounted there so it sees the kernel lockdown and skips header injection).

1. rounds, interleaved: uninstrumented / Hodegos / peer, each with a warm-up, sequential requests (one
   keep-alive worker: added latency) and concurrent ones (throughput); for each tracer: time to attach
   (spawn to "ready"), CPU until then, CPU per span after, RSS (steady and peak), spans received vs sent,
   and the losses Hodegos counted;
2. first attach with an empty compile cache (Hodegos compiles once) and with the cache;
3. ``--targets`` Go processes: one Hodegos process traces them all (attach time of the first and of the
   next ones, steady RSS); the peer takes one process per target (its RSS summed);
4. a high-rate burst (``--burst-concurrency`` workers) with Hodegos: the rate reached, spans lost,
   and whether every loss was counted.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

from benchmarks import ebpf_peerbuild
from benchmarks.ebpf_overhead import loadgen, run_load
from harness import gobuilds

ROOT = Path(__file__).resolve().parents[1]
HODEGOS = shutil.which("hodegos") or str(ROOT / ".venv" / "bin" / "hodegos")
WARMUP = 500
CLK = os.sysconf("SC_CLK_TCK")


# -- the OTLP receiver -----------------------------------------------------------------------------------


class Receiver:
    """OTLP/HTTP on loopback; counts spans per ``service.name``."""

    def __init__(self) -> None:
        self.spans: Counter[str] = Counter()
        self.lock = threading.Lock()
        receiver = self
        reply = ExportTraceServiceResponse().SerializeToString()

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if self.headers.get("Content-Encoding") == "gzip":
                    body = gzip.decompress(body)
                request = ExportTraceServiceRequest()
                request.ParseFromString(body)
                counts: Counter[str] = Counter()
                for rs in request.resource_spans:
                    name = next(
                        (a.value.string_value for a in rs.resource.attributes if a.key == "service.name"), ""
                    )
                    counts[name] += sum(len(ss.spans) for ss in rs.scope_spans)
                with receiver.lock:
                    receiver.spans.update(counts)
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.endpoint = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def count(self, service: str) -> int:
        with self.lock:
            return self.spans[service]

    def settle(self, service: str, want: int, timeout: float = 20.0) -> int:
        """Wait until ``want`` spans arrived, or the count stops moving for 2 s."""
        deadline = time.monotonic() + timeout
        last, still = -1, time.monotonic()
        while time.monotonic() < deadline:
            now = self.count(service)
            if now >= want:
                return now
            if now != last:
                last, still = now, time.monotonic()
            elif time.monotonic() - still > 2.0:
                return now
            time.sleep(0.1)
        return self.count(service)


# -- processes ---------------------------------------------------------------------------------------------


def cpu_seconds(pid: int, children: bool = True) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    ticks = int(fields[11]) + int(fields[12]) + ((int(fields[13]) + int(fields[14])) if children else 0)
    return ticks / CLK


def memory_mib(pid: int) -> tuple[float, float]:
    """(VmRSS, VmHWM) in MiB."""
    status = dict(
        line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines() if ":" in line
    )
    return int(status["VmRSS"].split()[0]) / 1024, int(status["VmHWM"].split()[0]) / 1024


@dataclass
class Tracer:
    """A tracer process: when it was ready, the CPU it took to get there, its stderr."""

    name: str
    service: str
    process: subprocess.Popen[str]
    started: float
    ready_seconds: float = 0.0
    ready_cpu: float = 0.0
    lines: list[str] = field(default_factory=list)

    @property
    def pid(self) -> int:
        return self.process.pid

    def stop(self) -> float:
        """SIGTERM (both flush on it), reap; returns the process's total CPU seconds (helpers included)."""
        self.process.send_signal(signal.SIGTERM)
        _, status, usage = os.wait4(self.pid, 0)
        self.process.returncode = os.waitstatus_to_exitcode(status)
        return usage.ru_utime + usage.ru_stime


def _follow(tracer: Tracer, ready: re.Pattern[str], want: int, timeout: float = 60.0) -> None:
    """Read stderr until ``want`` lines match ``ready``; keep draining it afterwards."""
    assert tracer.process.stderr is not None
    stream = tracer.process.stderr
    seen = 0
    deadline = time.monotonic() + timeout
    for line in stream:
        tracer.lines.append(line)
        if ready.search(line):
            seen += 1
            if seen >= want:
                break
        if time.monotonic() > deadline:
            raise SystemExit(f"{tracer.name} not ready after {timeout:.0f}s:\n{''.join(tracer.lines[-20:])}")
    else:
        raise SystemExit(f"{tracer.name} exited before it was ready:\n{''.join(tracer.lines[-20:])}")
    tracer.ready_seconds = time.monotonic() - tracer.started
    tracer.ready_cpu = cpu_seconds(tracer.pid)
    threading.Thread(target=lambda: tracer.lines.extend(stream), daemon=True).start()


def start_hodegos(pids: list[int], endpoint: str, cache: Path | None = None) -> Tracer:
    env = dict(os.environ)
    if cache is not None:
        env["HODEGOS_EBPF_CACHE"] = str(cache)
    command = [HODEGOS, "agent", "trace", "--otlp-endpoint", endpoint, "--stats-interval", "0"]
    command += ["--service-name", "bench-hodegos"]
    for pid in pids:
        command += ["--pid", str(pid)]
    started = time.monotonic()
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env)
    tracer = Tracer("hodegos", "bench-hodegos", process, started)
    _follow(tracer, re.compile(r"^program "), 1)
    return tracer


def start_peer(binary: Path, pid: int, endpoint: str) -> Tracer:
    env = {
        **os.environ,
        "OTEL_TRACES_EXPORTER": "otlp",
        "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
        "OTEL_EXPORTER_OTLP_ENDPOINT": endpoint,
        "OTEL_SERVICE_NAME": "bench-peer",
    }
    # unshare and sh exec: the pid is the peer's own.
    script = 'mount -t securityfs none /sys/kernel/security 2>/dev/null; exec "$0" "$@"'
    command = ["unshare", "--mount", "--propagation", "private", "sh", "-c", script, str(binary)]
    command += ["-target-pid", str(pid)]
    started = time.monotonic()
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env)
    tracer = Tracer("peer", "bench-peer", process, started)
    _follow(tracer, re.compile(r"instrumentation loaded successfully"), 1)
    return tracer


def hodegos_counted(tracer: Tracer) -> tuple[int, int]:
    """(spans exported, spans lost) from the ``hodegos: done:`` line."""
    text = "".join(tracer.lines)
    match = re.search(r"hodegos: done: \d+ traced, (\d+) spans, (\d+) lost", text)
    if not match:
        raise SystemExit(f"no summary from hodegos agent trace:\n{text[-2000:]}")
    return int(match.group(1)), int(match.group(2))


def attach_times(tracer: Tracer) -> list[float]:
    return [float(m) for m in re.findall(r"^attached to pid \d+ in ([0-9.]+)s", "".join(tracer.lines), re.M)]


class Target:
    def __init__(self, binary: Path) -> None:
        self.process = subprocess.Popen([str(binary)], stdout=subprocess.PIPE, text=True)
        assert self.process.stdout is not None
        self.url = f"http://{self.process.stdout.readline().strip()}/hello"

    @property
    def pid(self) -> int:
        return self.process.pid

    def stop(self) -> None:
        self.process.kill()
        self.process.wait()


# -- the phases --------------------------------------------------------------------------------------------


def rounds(
    args: argparse.Namespace, gen: Path, target: Target, peer: Path, receiver: Receiver
) -> dict[str, Any]:
    results: dict[str, list[dict[str, float]]] = {"off": [], "hodegos": [], "peer": []}
    for _ in range(args.rounds):
        for mode in results:
            tracer = None
            if mode == "hodegos":
                tracer = start_hodegos([target.pid], receiver.endpoint)
            elif mode == "peer":
                tracer = start_peer(peer, target.pid, receiver.endpoint)
            before = receiver.count(tracer.service) if tracer else 0
            cpu_start = cpu_seconds(tracer.pid) if tracer else 0.0
            run_load(gen, target.url, WARMUP, 1)
            seq = run_load(gen, target.url, args.requests, 1)
            conc = run_load(gen, target.url, args.requests * 2, args.concurrency)
            row = {"seq_mean_us": seq["mean_us"], "seq_p50_us": seq["p50_us"], "rps": conc["rps"]}
            if tracer is not None:
                sent = WARMUP + args.requests * 3
                rss, peak = memory_mib(tracer.pid)
                total_cpu = tracer.stop()
                received = receiver.settle(tracer.service, before + sent) - before
                row.update(
                    attach_s=tracer.ready_seconds,
                    attach_cpu_s=tracer.ready_cpu,
                    cpu_us_per_span=(total_cpu - cpu_start) * 1e6 / max(1, received),
                    rss_mib=rss,
                    peak_mib=peak,
                    sent=sent,
                    received=received,
                    lost=sent - received,
                )
                if tracer.name == "hodegos":
                    row["counted_lost"] = hodegos_counted(tracer)[1]
            results[mode].append(row)
    return results


def many_targets(
    args: argparse.Namespace, gen: Path, binary: Path, peer: Path, receiver: Receiver
) -> dict[str, Any]:
    targets = [Target(binary) for _ in range(args.targets)]
    out: dict[str, Any] = {}
    try:
        hodegos = start_hodegos([t.pid for t in targets], receiver.endpoint)
        for t in targets:
            run_load(gen, t.url, args.requests // 5, 2)
        time.sleep(1)
        rss, hwm = memory_mib(hodegos.pid)
        times = attach_times(hodegos)
        hodegos.stop()
        out["hodegos"] = {
            "rss_mib": rss,
            "peak_mib": hwm,
            "first_attach_s": times[0],
            "next_attach_s": times[1:],
        }
        peers = [start_peer(peer, t.pid, receiver.endpoint) for t in targets]
        for t in targets:
            run_load(gen, t.url, args.requests // 5, 2)
        time.sleep(1)
        figures = [memory_mib(p.pid) for p in peers]
        out["peer"] = {
            "rss_mib": sum(r for r, _ in figures),
            "peak_mib": sum(h for _, h in figures),
            "processes": len(peers),
            "attach_s": [p.ready_seconds for p in peers],
        }
        for p in peers:
            p.stop()
    finally:
        for t in targets:
            t.stop()
    return out


def cold_and_warm(target: Target, receiver: Receiver) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as empty:
        cold = start_hodegos([target.pid], receiver.endpoint, Path(empty))
        cold.stop()
        compiled = "compiled by the helper" in "".join(cold.lines)
    warm = start_hodegos([target.pid], receiver.endpoint)
    warm.stop()
    return {
        "cold_attach_s": cold.ready_seconds,
        "cold_cpu_s": cold.ready_cpu,
        "cold_compiled": float(compiled),
        "warm_attach_s": warm.ready_seconds,
        "warm_cpu_s": warm.ready_cpu,
    }


def burst(args: argparse.Namespace, gen: Path, target: Target, receiver: Receiver) -> dict[str, float]:
    tracer = start_hodegos([target.pid], receiver.endpoint)
    before = receiver.count(tracer.service)
    result = run_load(gen, target.url, args.burst_requests, args.burst_concurrency)
    tracer.stop()
    received = receiver.settle(tracer.service, before + args.burst_requests) - before
    exported, counted = hodegos_counted(tracer)
    return {
        "rps": result["rps"],
        "sent": args.burst_requests,
        "received": received,
        "lost": args.burst_requests - received,
        "counted_lost": counted,
        "exported": exported,
    }


# -- report ------------------------------------------------------------------------------------------------


def mean(rows: list[dict[str, float]], key: str) -> float:
    return statistics.mean(r[key] for r in rows)


def table(figures: dict[str, Any]) -> list[tuple[str, str, str]]:
    r = figures["rounds"]
    off_seq, off_rps = mean(r["off"], "seq_mean_us"), mean(r["off"], "rps")

    def added(mode: str) -> str:
        seq = mean(r[mode], "seq_mean_us")
        return f"+{seq - off_seq:.1f} µs ({seq / off_seq:.2f}x; off {off_seq:.1f} µs)"

    def spans(mode: str) -> str:
        got = "; ".join(f"{int(x['received']):,}" for x in r[mode])
        text = f"{got} / {int(r[mode][0]['sent']):,} sent"
        if mode == "hodegos":
            text += f"; counted lost {sum(int(x['counted_lost']) for x in r[mode])}"
        return text

    many, first, burst = figures["targets"], figures["first_attach"], figures["burst"]
    n = figures["target_count"]
    peer_attach = many["peer"]["attach_s"]
    rows = [
        ("added latency per sequential request", added("hodegos"), added("peer")),
        (
            f"throughput at {figures['concurrency']} connections vs uninstrumented",
            f"{mean(r['hodegos'], 'rps') / off_rps:.2f}x ({mean(r['hodegos'], 'rps'):,.0f}/s)",
            f"{mean(r['peer'], 'rps') / off_rps:.2f}x ({mean(r['peer'], 'rps'):,.0f}/s)",
        ),
        (
            "tracer CPU per span",
            f"{mean(r['hodegos'], 'cpu_us_per_span'):.1f} µs",
            f"{mean(r['peer'], 'cpu_us_per_span'):.1f} µs",
        ),
        (
            "tracer RSS, 1 process traced (peak)",
            f"{mean(r['hodegos'], 'rss_mib'):.0f} MiB ({mean(r['hodegos'], 'peak_mib'):.0f})",
            f"{mean(r['peer'], 'rss_mib'):.0f} MiB ({mean(r['peer'], 'peak_mib'):.0f})",
        ),
        (
            f"tracer RSS, {n} processes traced (peak)",
            f"{many['hodegos']['rss_mib']:.0f} MiB ({many['hodegos']['peak_mib']:.0f}), one process",
            f"{many['peer']['rss_mib']:.0f} MiB ({many['peer']['peak_mib']:.0f}), {n} processes",
        ),
        (
            "time to attach, first process (CPU)",
            f"{first['cold_attach_s']:.2f} s compiling ({first['cold_cpu_s']:.2f} s); "
            f"{first['warm_attach_s']:.2f} s from the cache ({first['warm_cpu_s']:.2f} s)",
            f"{mean(r['peer'], 'attach_s'):.2f} s ({mean(r['peer'], 'attach_cpu_s'):.2f} s)",
        ),
        (
            f"time to attach, next {n - 1} processes",
            f"max {max(many['hodegos']['next_attach_s'], default=0) * 1000:.0f} ms (same binary)",
            f"{min(peer_attach[1:], default=0):.2f}-{max(peer_attach[1:], default=0):.2f} s (a process each)",
        ),
        ("spans received, per round", spans("hodegos"), spans("peer")),
        (
            f"burst at {figures['burst_concurrency']} connections",
            f"{burst['rps']:,.0f} req/s: {burst['lost']} lost, {burst['counted_lost']} counted",
            "-",
        ),
    ]
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=5000)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--targets", type=int, default=10)
    parser.add_argument("--burst-requests", type=int, default=60000)
    parser.add_argument("--burst-concurrency", type=int, default=16)
    parser.add_argument("--output", "-o", choices=["text", "json"], default="text")
    args = parser.parse_args()
    if os.geteuid() != 0:
        raise SystemExit("error: needs root (uprobes, and a mount namespace for the peer)")
    try:
        peer = ebpf_peerbuild.build()
    except ebpf_peerbuild.PeerBuildError as exc:
        raise SystemExit(f"error: {exc}") from exc
    binary = gobuilds.build("machine", gobuilds.toolchains()["machine"], "plain")
    gen = loadgen()
    receiver = Receiver()
    target = Target(binary.path)
    try:
        first = cold_and_warm(target, receiver)
        results = rounds(args, gen, target, peer, receiver)
        many = many_targets(args, gen, binary.path, peer, receiver)
        high = burst(args, gen, target, receiver)
    finally:
        target.stop()
    figures = {
        "go_version": binary.go_version,
        "peer": f"{ebpf_peerbuild.MODULE} {ebpf_peerbuild.VERSION}",
        "requests": args.requests,
        "concurrency": args.concurrency,
        "target_count": args.targets,
        "burst_concurrency": args.burst_concurrency,
        "rounds": results,
        "first_attach": first,
        "targets": many,
        "burst": high,
    }
    if args.output == "json":
        print(json.dumps(figures, indent=2))
        return 0
    print(
        f"Go {binary.go_version} net/http server /hello; {args.rounds} interleaved rounds of "
        f"{WARMUP} + {args.requests} sequential + {args.requests * 2} at c={args.concurrency}; "
        f"peer {figures['peer']}"
    )
    rows = table(figures)
    width = max(len(name) for name, _, _ in rows)
    print(f"{'':{width}}  {'Hodegos tracer':44}  OTel Go auto")
    for name, ours, theirs in rows:
        print(f"{name:{width}}  {ours:44}  {theirs}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
