"""The tracer's footprint and its losses, with real BPF: one compile, no LLVM in the agent, losses counted.

- one compile per kernel and program: a second target (another binary, another Go version) attaches
  without the helper compiling again, and a new runtime with the same cache compiles nothing;
- the process that traces never maps LLVM/clang/libbcc, even when it had the helper compile;
- a ring buffer made tiny overflows under a burst, and every lost record is counted: spans received
  plus spans counted lost equal requests sent, in the runtime, in ``/metrics`` and in ``agent trace``.
"""

from __future__ import annotations

import http.client
import json
import re
import shutil
import subprocess
import threading
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import ebpf
from ebpf import metrics
from harness import gobuilds
from tests.ebpf import load

pytestmark = pytest.mark.bpf

LLVM = re.compile(r"libLLVM|libclang|libbcc\.so")
HODEGOS = shutil.which("hodegos") or str(Path(__file__).resolve().parents[2] / ".venv/bin/hodegos")


def children(pid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            if int(stat.read_text().rpartition(")")[2].split()[1]) == pid:
                found.append(int(stat.parent.name))
        except (OSError, ValueError):
            continue
    return found


def burst(address: str, total: int) -> int:
    """``total`` sequential keep-alive GETs as fast as one client goes; returns how many got a 200."""
    host, port = address.rsplit(":", 1)
    conn = http.client.HTTPConnection(host, int(port), timeout=10)
    ok = 0
    for _ in range(total):
        conn.request("GET", "/hello")
        response = conn.getresponse()
        response.read()
        ok += response.status == 200
    conn.close()
    return ok


def test_one_compile_serves_every_target_and_every_restart(
    bpf_runtime: Any, toolchains: dict[str, Path], start_server: Callable[[Path], Any], tmp_path: Path
) -> None:
    first = start_server(gobuilds.build("machine", toolchains["machine"], "plain").path)
    runtime = ebpf.TracerRuntime(cache_dir=tmp_path, prefetch=(first.pid,))
    try:
        assert (runtime.stats.program_source, runtime.stats.compiles) == ("compiled", 1)
        assert list(tmp_path.glob("gohttp-*.json")), "the compiled program was not cached"
        exporter = ebpf.MemoryExporter()
        one = runtime.attach(first.pid, None, exporter)
        second = start_server(gobuilds.build("go1.21.13", toolchains["go1.21.13"], "stripped").path)
        third = start_server(first.binary)
        two = runtime.attach(second.pid, None, exporter)
        three = runtime.attach(third.pid, None, exporter)
        assert runtime.stats.compiles == 1  # nothing compiled for the second and third targets
        assert runtime.stats.analyses == 2  # the third runs the first's executable: analysed once
        for server in (first, second, third):
            assert burst(server.address, 20) == 20
        deadline = time.monotonic() + 10
        while len(exporter.snapshot()) < 60 and time.monotonic() < deadline:
            runtime.flush()
            time.sleep(0.05)
        pids = sorted(s.pid for s in exporter.snapshot())
        assert pids == sorted([first.pid] * 20 + [second.pid] * 20 + [third.pid] * 20)
        for tracer in (one, two, three):
            tracer.close()
    finally:
        runtime.close()
    restarted = ebpf.TracerRuntime(cache_dir=tmp_path)
    try:
        assert (restarted.stats.program_source, restarted.stats.compiles) == ("cache", 0)
        exporter = ebpf.MemoryExporter()
        tracer = restarted.attach(first.pid, None, exporter)
        assert burst(first.address, 5) == 5
        deadline = time.monotonic() + 10
        while len(exporter.snapshot()) < 5 and time.monotonic() < deadline:
            restarted.flush()
            time.sleep(0.05)
        assert len(exporter.snapshot()) == 5
        tracer.close()
    finally:
        restarted.close()


def test_a_damaged_cache_entry_is_compiled_again(bpf_runtime: Any, tmp_path: Path) -> None:
    from ebpf import artifact

    key = artifact.cache_key()
    artifact.cache_path(tmp_path, key).write_text('{"format": 1, "key": "truncated')
    runtime = ebpf.TracerRuntime(cache_dir=tmp_path)
    try:
        assert (runtime.stats.program_source, runtime.stats.compiles) == ("compiled", 1)
        assert artifact.load_cached(tmp_path, key) is not None
    finally:
        runtime.close()


def test_tracing_process_never_maps_llvm(
    bpf_runtime: Any, toolchains: dict[str, Path], start_server: Callable[[Path], Any], tmp_path: Path
) -> None:
    """``agent trace`` with an empty compile cache: its helper compiles, the tracer itself stays LLVM-free."""
    server = start_server(gobuilds.build("machine", toolchains["machine"], "stripped").path)
    env = {"HODEGOS_EBPF_CACHE": str(tmp_path), "PATH": "/usr/bin:/bin"}
    proc = subprocess.Popen(
        [HODEGOS, "agent", "trace", "--pid", str(server.pid), "--timeout", "60", "-o", "json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    assert proc.stderr is not None
    try:
        lines = [proc.stderr.readline(), proc.stderr.readline()]
        assert "attached" in lines[0], "".join(lines)
        assert "compiled by the helper" in lines[1], lines[1]
        assert burst(server.address, 10) == 10
        time.sleep(0.3)
        mapped = Path(f"/proc/{proc.pid}/maps").read_text()
        assert not LLVM.findall(mapped), sorted(set(LLVM.findall(mapped)))
        assert "libbpf" not in mapped  # not even the BPF library: the tracer calls bpf() itself
        assert children(proc.pid) == [], "the helper process is still running"
    finally:
        proc.terminate()
        out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert len(out.splitlines()) == 10
    assert list(tmp_path.glob("gohttp-*.json"))


def _lost_spans(
    runtime: ebpf.TracerRuntime, tracer: ebpf.Tracer, exporter: ebpf.MemoryExporter, sent: int
) -> int:
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        runtime.flush()
        tracer._refresh_losses()
        if len(exporter.snapshot()) + tracer.lost["ring_buffer_full"] >= sent:
            break
        time.sleep(0.05)
    return tracer.lost["ring_buffer_full"]


def test_ring_buffer_overflow_is_counted_per_process_and_in_metrics(
    bpf_runtime: Any, toolchains: dict[str, Path], start_server: Callable[[Path], Any], tmp_path: Path
) -> None:
    server = start_server(gobuilds.build("machine", toolchains["machine"], "plain").path)
    quiet = start_server(server.binary)
    # One page holds 8 records; a drain every 2 s lets a burst overflow it for certain.
    runtime = ebpf.TracerRuntime(drain_interval=2.0, ring_pages=1, cache_dir=tmp_path)
    try:
        assert runtime.program.ring_bytes == 4096
        exporter = ebpf.MemoryExporter()
        where = {"k8s.pod.name": "web-1", "k8s.namespace.name": "shop"}
        tracer = runtime.attach(server.pid, where, exporter)
        bystander = runtime.attach(quiet.pid, None, ebpf.MemoryExporter())
        sent = burst(server.address, 300)
        lost = _lost_spans(runtime, tracer, exporter, sent)
        received = len(exporter.snapshot())
        assert lost > 0 and received > 0
        assert received + lost == sent  # every request is either a span or a counted loss
        assert bystander.spans_lost == 0  # losses are per process: the idle one lost nothing
        page = metrics.render(runtime.snapshot(), None, metrics.process_figures())
        assert f'hodegos_ebpf_spans_lost_total{{reason="ring_buffer_full"}} {lost}\n' in page
        assert f"hodegos_ebpf_ring_buffer_lost_records_total {lost}\n" in page
        assert (
            f'hodegos_ebpf_target_spans_lost_total{{namespace="shop",pod="web-1",service="goserver",'
            f'pid="{server.pid}",reason="ring_buffer_full"}} {lost}\n'
        ) in page
        assert "hodegos_ebpf_decode_errors_total 0\n" in page
        tracer.close()
        assert tracer.lost["ring_buffer_full"] == lost  # the final count is read at detach
    finally:
        runtime.close()


def test_trace_command_reports_losses_periodically_and_at_exit(
    bpf_runtime: Any, toolchains: dict[str, Path], start_server: Callable[[Path], Any]
) -> None:
    server = start_server(gobuilds.build("go1.27.4", toolchains["go1.27.4"], "pie").path)
    command = [
        HODEGOS, "agent", "trace", "--pid", str(server.pid), "-o", "json", "--ring-buffer-pages", "1",
        "--stats-interval", "1", "--metrics-address", "127.0.0.1:0", "--timeout", "120",
    ]  # fmt: skip
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stderr is not None and proc.stdout is not None
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(proc.stdout or []), daemon=True)
    reader.start()
    try:
        header = [proc.stderr.readline() for _ in range(3)]
        assert "attached" in header[0] and "ring buffer 4 KiB" in header[1], header
        address = header[2].split("http://", 1)[1].split("/metrics")[0]
        sent = 0
        for _ in range(3):  # bursts a drain (every 50 ms) cannot keep up with in one page
            sent += sum(load.mixed(server.address, 400, workers=4, traceparent_every=0).requests.values())
        time.sleep(1.5)
        page = urllib.request.urlopen(f"http://{address}/metrics", timeout=10).read().decode()
        periodic = proc.stderr.readline()
        assert periodic.startswith("hodegos: 1 traced, "), periodic
    finally:
        proc.terminate()
        err = proc.stderr.read()
        proc.wait(timeout=30)
        reader.join(timeout=30)
    assert proc.returncode == 0, err
    spans = [json.loads(line) for line in lines]
    done = next(line for line in err.splitlines() if line.startswith("hodegos: done:"))
    match = re.search(r"(\d+) spans, (\d+) lost \(ring buffer full[^:]*: (\d+)\), 0 decode errors", done)
    assert match, done
    exported, lost, ring = (int(g) for g in match.groups())
    assert lost == ring > 0
    assert exported == len(spans)
    assert exported + lost == sent
    assert f"warning: {lost} spans lost" in err
    scraped = re.search(r'^hodegos_ebpf_spans_lost_total\{reason="ring_buffer_full"\} (\d+)$', page, re.M)
    assert scraped and 0 < int(scraped.group(1)) <= lost
