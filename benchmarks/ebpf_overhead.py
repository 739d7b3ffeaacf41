"""Overhead of the eBPF Go tracer: one load against the same Go server three ways.

    sudo .venv/bin/python benchmarks/ebpf_overhead.py [--requests 5000] [--concurrency 8] [--rounds 3]

- ``off``: no probes;
- ``floor``: probes at exactly the tracer's sites running a program that only counts hits (the cost of
  the uprobe traps themselves, which the tracer cannot go below);
- ``tracer``: the full tracer (server spans, traceparent capture, client probes, ring buffer drain).

Sequential latency (1 keep-alive worker) and throughput (N workers), rounds interleaved so drift hits
every mode alike. Prints added µs per request, ratios, probe hits per request and the agent's RSS (this
process: the loaded program, maps, the ring buffer and the drain thread; BCC compiles in a helper
process and is not resident here). Needs root, BCC and the Go toolchain.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import ebpf  # noqa: E402
from ebpf import targets  # noqa: E402
from harness import gobuilds  # noqa: E402


class Discard:
    def __init__(self) -> None:
        self.count = 0

    def export(self, spans: list[ebpf.Span], resource: Any, on_lost: Any = None) -> None:
        self.count += len(spans)

    def close(self) -> None:
        pass


def loadgen() -> Path:
    go = gobuilds.toolchains()["machine"]
    out = gobuilds.cache_root() / "bench-loadgen" / "loadgen"
    src = ROOT / "benchmarks" / "loadgen"
    if not out.exists() or out.stat().st_mtime < (src / "main.go").stat().st_mtime:
        out.parent.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, "GOTOOLCHAIN": "local", "CGO_ENABLED": "0"}
        subprocess.run([str(go), "build", "-o", str(out), "."], cwd=src, env=env, check=True)
    return out


def run_load(gen: Path, url: str, n: int, c: int) -> dict[str, float]:
    out = subprocess.run([str(gen), "-url", url, "-n", str(n), "-c", str(c)], capture_output=True, text=True)
    if out.returncode:
        raise SystemExit(f"load generator failed: {out.stderr}")
    result: dict[str, float] = json.loads(out.stdout)
    return result


def rss_mib() -> tuple[float, float]:
    fields = dict(
        line.split(":", 1) for line in Path("/proc/self/status").read_text().splitlines() if ":" in line
    )
    return int(fields["VmRSS"].split()[0]) / 1024, int(fields["VmHWM"].split()[0]) / 1024


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=5000)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--output", "-o", choices=["text", "json"], default="text")
    args = parser.parse_args()

    rss_before = rss_mib()[0]
    server_bin = gobuilds.build("machine", gobuilds.toolchains()["machine"], "plain")
    gen = loadgen()
    server = subprocess.Popen([str(server_bin.path)], stdout=subprocess.PIPE, text=True)
    assert server.stdout is not None
    url = f"http://{server.stdout.readline().strip()}/hello"
    runtime = ebpf.runtime()
    program = runtime.program
    exe = f"/proc/{server.pid}/exe"
    plan = targets.analyze(exe)
    results: dict[str, list[dict[str, float]]] = {"off": [], "floor": [], "tracer": []}
    hits_per_request: list[float] = []
    spans_seen: list[tuple[int, int]] = []
    agent_cpu_us: list[float] = []  # the agent's own CPU (drain, decode, span building) per span
    try:
        for _ in range(args.rounds):
            for mode in results:
                events: list[int] = []
                tracer = None
                sink = Discard()
                if mode == "floor":
                    for probe in plan.probes:
                        sites = ([probe.entry_offset] if probe.entry_program else []) + list(
                            probe.return_offsets
                        )
                        events += [program.attach(exe, site, "noop", server.pid) for site in sites]
                    program.clear_counter("noop_hits")
                elif mode == "tracer":
                    tracer = ebpf.attach(server.pid, {"service.name": "bench"}, sink)
                    cpu_start = sum(os.times()[:2])
                run_load(gen, url, 500, 1)  # warm-up
                seq = run_load(gen, url, args.requests, 1)
                conc = run_load(gen, url, args.requests * 2, args.concurrency)
                results[mode].append(
                    {"seq_mean_us": seq["mean_us"], "seq_p50_us": seq["p50_us"], "rps": conc["rps"]}
                )
                if mode == "floor":
                    total = program.counter("noop_hits")
                    hits_per_request.append(total / (500 + args.requests * 3))
                    for event in events:
                        program.detach(event)
                if tracer is not None:
                    tracer.close()
                    spans_seen.append((sink.count, 500 + args.requests * 3))
                    agent_cpu_us.append((sum(os.times()[:2]) - cpu_start) * 1e6 / max(1, sink.count))
    finally:
        server.kill()
        server.wait()
    rss, hwm = rss_mib()

    def mean(mode: str, key: str) -> float:
        return statistics.mean(r[key] for r in results[mode])

    off, floor, full = (mean(m, "seq_mean_us") for m in ("off", "floor", "tracer"))
    figures = {
        "go_version": plan.go_version,
        "probe_sites": plan.probe_sites,
        "probe_hits_per_request": round(statistics.mean(hits_per_request), 2),
        "requests": args.requests,
        "concurrency": args.concurrency,
        "rounds": args.rounds,
        "modes": {
            m: {
                "seq_mean_us": round(mean(m, "seq_mean_us"), 1),
                "seq_p50_us": round(mean(m, "seq_p50_us"), 1),
                "added_us": round(mean(m, "seq_mean_us") - off, 1),
                "latency_ratio": round(mean(m, "seq_mean_us") / off, 3),
                "rps": round(mean(m, "rps")),
                "throughput_ratio": round(mean(m, "rps") / mean("off", "rps"), 3),
            }
            for m in results
        },
        "tracer_vs_floor_latency": round(full / floor, 3),
        "tracer_added_over_floor_us": round(full - floor, 1),
        "spans_exported_vs_requests": spans_seen,
        "agent_cpu_us_per_span": round(statistics.mean(agent_cpu_us), 1),
        "ring_buffer_lost": program.lost_records(),
        "agent_rss_mib": round(rss, 1),
        "agent_peak_rss_mib": round(hwm, 1),
        "python_rss_before_tracer_mib": round(rss_before, 1),
        "propagation": runtime.propagation.mode,
    }
    runtime.close()
    if args.output == "json":
        print(json.dumps(figures, indent=2))
        return 0
    print(
        f"Go {plan.go_version} server, /hello, {plan.probe_sites} probe sites, "
        f"{figures['probe_hits_per_request']} probe hits per request"
    )
    header = ("mode", "seq mean µs", "p50 µs", "added µs", "ratio", f"req/s c={args.concurrency}", "ratio")
    print("{:8} {:>12} {:>8} {:>9} {:>6} {:>13} {:>6}".format(*header))
    modes: dict[str, dict[str, float]] = figures["modes"]
    for m, f in modes.items():
        row = (m, f["seq_mean_us"], f["seq_p50_us"], f["added_us"], f["latency_ratio"], f["rps"])
        print("{:8} {:12.1f} {:8.1f} {:9.1f} {:6.2f} {:13.0f} {:6.2f}".format(*row, f["throughput_ratio"]))
    print(
        f"tracer / floor latency: {figures['tracer_vs_floor_latency']:.3f} "
        f"(+{figures['tracer_added_over_floor_us']} µs over the bare traps)"
    )
    print(
        f"spans exported / requests sent per round: {spans_seen}; "
        f"ring buffer lost {figures['ring_buffer_lost']}"
    )
    print(f"agent CPU per span (drain + decode + span building): {figures['agent_cpu_us_per_span']} µs")
    print(f"agent RSS: {rss:.0f} MiB (peak {hwm:.0f} MiB; {rss_before:.0f} MiB before the tracer)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
