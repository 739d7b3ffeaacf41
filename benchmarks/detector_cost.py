"""Benchmark: what detection costs the node agent, per process and per /proc scan.

    .venv/bin/python benchmarks/detector_cost.py [--repeat 20]

Starts real processes (python3, node, java, a Go binary built here, a shell), then prints for each the
median time of :func:`detector.inspect` with a cold ELF cache (a new cache each run; the page cache is
warm, as on a node that has run the image) and with a warm one (a pod's second worker); the median time of
one :func:`detector.cgroups.scan` of every process on the machine (what finding a pod's processes costs);
and this process's peak RSS, i.e. the agent's detection footprint.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from detector import ElfCache, inspect  # noqa: E402
from detector.cgroups import scan  # noqa: E402
from detector.procfs import list_pids  # noqa: E402

GO_PROGRAM = 'package main\nimport "os"\nfunc main() {\n\tos.Stdout.WriteString("READY\\n")\n'
GO_PROGRAM += "\tb := make([]byte, 1)\n\tos.Stdin.Read(b)\n}\n"
JAVA_PROGRAM = "class Wait { public static void main(String[] a) throws Exception {"
JAVA_PROGRAM += ' System.out.println("READY"); System.out.flush(); System.in.read(); } }\n'


def _inspect_cold(pid: int) -> object:
    return inspect(pid, cache=ElfCache())


def median_ms(action: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        action()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="detector-bench-"))
    (work / "go.mod").write_text("module example.com/wait\n\ngo 1.21\n")
    (work / "main.go").write_text(GO_PROGRAM)
    go = shutil.which("go") or "/usr/local/go/bin/go"
    subprocess.run(
        [go, "build", "-o", "wait", "."], cwd=work, check=True, env={**os.environ, "GOTOOLCHAIN": "local"}
    )
    (work / "Wait.java").write_text(JAVA_PROGRAM)
    subprocess.run(["javac", "-d", str(work), str(work / "Wait.java")], check=True)
    programs = {
        "python3": ["/usr/bin/python3", "-c", "import sys; print('READY', flush=True); sys.stdin.read(1)"],
        "node": ["node", "-e", "console.log('READY'); process.stdin.on('data', () => process.exit(0));"],
        "java": ["java", "-cp", str(work), "Wait"],
        "go": [str(work / "wait")],
        "shell": ["/bin/sh", "-c", "echo READY; read line"],
    }
    running: dict[str, subprocess.Popen[str]] = {}
    try:
        for name, argv in programs.items():
            process = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
            assert process.stdout is not None and process.stdout.readline().startswith("READY"), name
            running[name] = process
        print(f"{'process':10} {'language':9} {'version':10} {'cold ms':>8} {'warm ms':>8}")
        for name, process in running.items():
            cache = ElfCache()
            result = inspect(process.pid, cache=cache)
            cold = median_ms(partial(_inspect_cold, process.pid), args.repeat)
            warm = median_ms(partial(inspect, process.pid, cache=cache), args.repeat)
            version = result.runtime_version or "-"
            print(f"{name:10} {result.language:9} {version:10} {cold:8.2f} {warm:8.2f}")
        count = len(list_pids())
        scan_ms = median_ms(scan, args.repeat)
        print(f"cgroup scan of {count} processes: {scan_ms:.2f} ms (median of {args.repeat})")
        peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        print(
            f"peak RSS of this process (detector + pydantic + pyelftools loaded): {peak_kib / 1024:.1f} MiB"
        )
    finally:
        for process in running.values():
            process.kill()
            process.wait()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
