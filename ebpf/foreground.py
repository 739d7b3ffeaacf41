"""``hodegos agent trace``'s loop, run in an interpreter that holds only the tracer.

    python -m ebpf.foreground '<options as JSON>'

The ``hodegos`` command line imports every command group (Kubernetes client, models, rich, the local
cluster tooling: about 65 MiB resident) before it knows which command runs. ``agent trace`` parses and
checks its options there, then replaces itself (``exec``, same pid) with this module, so the process
that traces carries the tracer (about 30 MiB) and nothing else. :class:`Options` is the contract.

Spans go to stdout (or OTLP); counters go to stderr every ``stats_every`` seconds and at exit, with every
span lost and why.
"""

from __future__ import annotations

import json
import signal
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from ebpf import losses
from ebpf.errors import TracerError
from ebpf.export import ConsoleExporter, Exporter, OtlpHttpExporter
from ebpf.spans import Span


@dataclass
class Options:
    pids: list[int]
    otlp_endpoint: str | None = None
    attributes: dict[str, str | int] = field(default_factory=dict)
    output: str = "text"  # console format: text or json
    count: int = 0  # stop after this many spans (0: no limit)
    timeout: float = 0  # stop after this many seconds (0: no limit)
    stats_every: float = 10  # seconds between counter lines on stderr (0: only at exit)
    ring_pages: int = 0  # 0: as compiled
    metrics_address: str | None = None

    def to_json(self) -> str:
        return json.dumps(asdict(self))


def summary(snapshot: Mapping[str, Any], traced: int, exported: int, lost: Mapping[str, int]) -> str:
    """One stderr line of counters (pure): processes, spans, losses by reason, decode errors."""
    total = sum(lost.values())
    return (
        f"{traced} traced, {exported} spans, {total} lost"
        + (f" ({losses.describe(lost)})" if total else "")
        + f", {snapshot['runtime']['decode_errors']} decode errors"
    )


def _say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def run(options: Options) -> int:
    from ebpf import metrics
    from ebpf.tracer import Tracer, configure

    try:
        sink: Exporter = (
            OtlpHttpExporter(options.otlp_endpoint)
            if options.otlp_endpoint
            else ConsoleExporter(as_json=options.output == "json")
        )
    except ValueError as exc:
        _say(f"error: {exc}")
        return 1
    done = threading.Event()
    seen = 0
    lock = threading.Lock()
    limit = options.count

    class Counting:
        def export(
            self,
            spans: list[Span],
            res: Mapping[str, str | int],
            on_lost: Callable[[int, str], None] | None = None,
        ) -> None:
            nonlocal seen
            with lock:
                if limit:
                    spans = spans[: max(0, limit - seen)]
                seen += len(spans)
                reached = bool(limit) and seen >= limit
            sink.export(spans, res, on_lost=on_lost)
            if reached:
                done.set()

        def close(self) -> None:
            sink.close()

    started = time.monotonic()
    tracers: list[Tracer] = []

    def exited(_tracer: Tracer) -> None:
        if all(t.state != "attached" for t in tracers):
            done.set()

    try:
        runtime = configure(ring_pages=options.ring_pages or None, prefetch=tuple(options.pids))
        for pid in options.pids:
            tracers.append(runtime.attach(pid, options.attributes, Counting(), on_exit=exited))
    except TracerError as exc:
        _say(f"error: {exc}")
        return 1
    stats = runtime.stats
    program = (
        "loaded from the compile cache"
        if stats.program_source == "cache"
        else f"compiled by the helper in {stats.compile_seconds:.2f}s"
    )
    for tracer in tracers:
        plan = tracer.plan
        _say(
            f"attached to pid {tracer.pid} in {tracer.attach_seconds:.2f}s: {plan.go_version}, "
            f"{'stripped' if plan.stripped else 'symbols'}{', PIE' if plan.pie else ''}, offsets from "
            f"{plan.offsets_source}, {plan.probe_sites} probe sites; "
            f"propagation {tracer.propagation.mode}: {tracer.propagation.reason}"
        )
    _say(
        f"program {program}; attached {time.monotonic() - started:.2f}s after start; "
        f"ring buffer {runtime.program.ring_bytes // 1024} KiB"
    )
    server = None
    if options.metrics_address:

        def page() -> str:
            figures = metrics.exporter_figures(sink)
            return metrics.render(runtime.snapshot(), figures, metrics.process_figures())

        try:
            server = metrics.MetricsServer(options.metrics_address, page)
        except (OSError, ValueError) as exc:
            _say(f"error: cannot serve metrics on {options.metrics_address}: {exc}")
            runtime.close()
            return 1
        _say(f"metrics on http://{server.address}/metrics")

    def counters() -> tuple[dict[str, Any], int, int, Counter[str]]:
        snapshot = runtime.snapshot()
        lost: Counter[str] = Counter()
        for tracer in tracers:
            lost.update(tracer.lost)
        return snapshot, len(tracers), sum(t.spans_exported for t in tracers), lost

    signal.signal(signal.SIGTERM, lambda *_: done.set())
    deadline = time.monotonic() + options.timeout if options.timeout else None
    next_stats = time.monotonic() + options.stats_every if options.stats_every else None
    try:
        while not done.wait(0.2):
            now = time.monotonic()
            if deadline is not None and now >= deadline:
                break
            if next_stats is not None and now >= next_stats:
                next_stats = now + options.stats_every
                _say(f"hodegos: {summary(*counters())}")
    except KeyboardInterrupt:
        pass
    states = {t.pid: t.state for t in tracers}
    for tracer in tracers:
        tracer.close()
    sink.close()
    if server is not None:
        server.close()
    for pid, state in states.items():
        if state == "exited":
            _say(f"process {pid} exited")
    snapshot, traced, exported, lost = counters()
    _say(f"hodegos: done: {summary(snapshot, traced, exported, lost)}; {seen} spans written")
    total = sum(lost.values())
    if total:
        hint = " (a bigger --ring-buffer-pages helps)" if lost.get(losses.RING_FULL) else ""
        _say(f"warning: {total} spans lost: {losses.describe(lost)}{hint}")
    if isinstance(sink, OtlpHttpExporter) and (sink.failed or sink.dropped):
        _say(f"error: {sink.failed} spans failed and {sink.dropped} were dropped: {sink.last_error}")
        return 1
    return 0


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        _say("usage: python -m ebpf.foreground '<options JSON>' (run by `hodegos agent trace`)")
        return 2
    return run(Options(**json.loads(argv[0])))


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
