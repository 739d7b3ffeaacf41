"""The tracer's counters in the Prometheus text format, and a small ``/metrics`` listener.

:func:`render` is pure: a :meth:`~ebpf.tracer.TracerRuntime.snapshot` (plus the exporter's counters and
this process's resource use) in, exposition text out. Every way a span can be lost has a counter:
``hodegos_ebpf_spans_lost_total{reason}`` with ``ring_buffer_full`` (the drain fell behind; counted in
BPF per process), ``export_queue_full`` / ``export_failed`` / ``export_error`` (the exporter could not
take or send them), plus ``hodegos_ebpf_decode_errors_total`` for ring-buffer records that did not
decode. The same losses per traced container are ``hodegos_ebpf_target_spans_lost_total``.

:func:`serve` runs the listener on a daemon thread (``GET /metrics``, ``GET /healthz``).
"""

from __future__ import annotations

import os
import threading
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from ebpf import losses

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
TARGET_LABELS = (
    ("k8s.namespace.name", "namespace"),
    ("k8s.pod.name", "pod"),
    ("k8s.container.name", "container"),
    ("service.name", "service"),
)


def _escape(value: object) -> str:
    return str(value).replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _labels(labels: Mapping[str, object]) -> str:
    if not labels:
        return ""
    return "{" + ",".join(f'{k}="{_escape(v)}"' for k, v in labels.items()) + "}"


class _Doc:
    def __init__(self) -> None:
        self.lines: list[str] = []

    def family(
        self, name: str, kind: str, help_: str, samples: Iterable[tuple[Mapping[str, object], float]]
    ) -> None:
        self.lines.append(f"# HELP {name} {help_}")
        self.lines.append(f"# TYPE {name} {kind}")
        for labels, value in samples:
            number = int(value) if float(value).is_integer() else value
            self.lines.append(f"{name}{_labels(labels)} {number}")

    def one(self, name: str, kind: str, help_: str, value: float) -> None:
        self.family(name, kind, help_, [({}, value)])


def target_labels(resource: Mapping[str, object], pid: object) -> dict[str, object]:
    labels: dict[str, object] = {label: resource[key] for key, label in TARGET_LABELS if key in resource}
    labels["pid"] = pid
    return labels


def process_figures(proc: Path = Path("/proc/self")) -> dict[str, float]:
    """This process's resident memory, CPU seconds and open fds (the standard ``process_*`` metrics)."""
    figures: dict[str, float] = {}
    try:
        for line in (proc / "status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                figures["resident_memory_bytes"] = int(line.split()[1]) * 1024
            elif line.startswith("VmHWM:"):
                figures["peak_resident_memory_bytes"] = int(line.split()[1]) * 1024
        fields = (proc / "stat").read_text().rpartition(")")[2].split()
        ticks = os.sysconf("SC_CLK_TCK")
        figures["cpu_seconds_total"] = (int(fields[11]) + int(fields[12])) / ticks
        figures["open_fds"] = len(os.listdir(proc / "fd"))
    except (OSError, ValueError, IndexError):
        pass
    return figures


def render(
    snapshot: Mapping[str, Any],
    exporter: Mapping[str, int] | None = None,
    process: Mapping[str, float] | None = None,
) -> str:
    """Exposition text for one scrape."""
    stats: Mapping[str, Any] = snapshot["runtime"]
    tracers: list[Mapping[str, Any]] = snapshot["tracers"]
    finished: Mapping[str, int] = stats.get("finished") or {}
    doc = _Doc()

    lost: Counter[str] = Counter({reason: 0 for reason in losses.REASONS})
    exported = int(finished.get("spans_exported", 0))
    for key, count in finished.items():
        if key.startswith("lost:"):
            lost[key[5:]] += int(count)
    for tracer in tracers:
        exported += int(tracer["spans_exported"])
        for reason, count in tracer["spans_lost"].items():
            lost[reason] += int(count)
    doc.one(
        "hodegos_ebpf_spans_exported_total", "counter",
        "Spans handed to the exporter, every traced process since the agent started.", exported,
    )  # fmt: skip
    doc.family(
        "hodegos_ebpf_spans_lost_total", "counter",
        "Spans lost, by reason: ring_buffer_full (the drain fell behind), export_queue_full, "
        "export_failed, export_error.",
        [({"reason": reason}, count) for reason, count in sorted(lost.items())],
    )  # fmt: skip
    doc.one(
        "hodegos_ebpf_ring_buffer_lost_records_total", "counter",
        "Records BPF had no room for in the ring buffer (all processes, counted in the kernel).",
        stats["ring_lost"],
    )  # fmt: skip
    doc.one(
        "hodegos_ebpf_decode_errors_total", "counter",
        "Ring-buffer records that did not decode into a span.", stats["decode_errors"],
    )  # fmt: skip
    doc.one(
        "hodegos_ebpf_unrouted_records_total", "counter",
        "Records of a process no tracer holds any more (detached while they were in flight).",
        stats["unrouted"],
    )  # fmt: skip
    doc.one("hodegos_ebpf_records_total", "counter", "Records read from the ring buffer.", stats["records"])
    doc.one(
        "hodegos_ebpf_ring_buffer_bytes", "gauge", "Size of the ring buffer.", snapshot["ring_buffer_bytes"]
    )
    doc.one("hodegos_ebpf_traced_processes", "gauge", "Processes traced now.", len(tracers))
    doc.one("hodegos_ebpf_probes", "gauge", "Uprobes attached now.", snapshot["probes"])
    doc.family(
        "hodegos_ebpf_target_spans_exported_total", "counter",
        "Spans handed to the exporter, per traced process.",
        [(target_labels(t["resource"], t["pid"]), t["spans_exported"]) for t in tracers],
    )  # fmt: skip
    doc.family(
        "hodegos_ebpf_target_spans_lost_total", "counter", "Spans lost per traced process, by reason.",
        [
            ({**target_labels(t["resource"], t["pid"]), "reason": reason}, count)
            for t in tracers
            for reason, count in sorted(t["spans_lost"].items())
        ],
    )  # fmt: skip
    doc.family(
        "hodegos_ebpf_program_info", "gauge",
        "Where the loaded BPF program came from: the compile cache or a compile by the helper process.",
        [({"source": stats["program_source"]}, 1)],
    )  # fmt: skip
    doc.one(
        "hodegos_ebpf_program_compiles_total", "counter",
        "BCC compiles run by the helper process (0 when the cached program was loaded).", stats["compiles"],
    )  # fmt: skip
    doc.one(
        "hodegos_ebpf_program_compile_seconds", "gauge",
        "Wall time of the helper's compile (and of the analysis done alongside).", stats["compile_seconds"],
    )  # fmt: skip
    doc.one(
        "hodegos_ebpf_program_load_seconds", "gauge",
        "Creating the maps and loading the programs (the verifier).", stats["load_seconds"],
    )  # fmt: skip
    doc.one(
        "hodegos_ebpf_executables_analysed_total", "counter",
        "Executables analysed by the helper process (once per file).", stats["analyses"],
    )  # fmt: skip
    doc.family(
        "hodegos_ebpf_attach_seconds", "summary",
        "Time to attach to a process, from the request to the last probe (analysis included).", [],
    )  # fmt: skip
    doc.lines.append(f"hodegos_ebpf_attach_seconds_sum {stats['attach_seconds_sum']}")
    doc.lines.append(f"hodegos_ebpf_attach_seconds_count {stats['attaches']}")
    doc.one(
        "hodegos_ebpf_last_attach_seconds", "gauge", "Time the latest attach took.",
        (stats["attach_seconds"] or [0])[-1],
    )  # fmt: skip
    if exporter:
        doc.family(
            "hodegos_ebpf_export_spans_total", "counter", "Spans the OTLP exporter sent, dropped or failed.",
            [({"outcome": outcome}, exporter.get(outcome, 0)) for outcome in ("sent", "dropped", "failed")],
        )  # fmt: skip
    for name, value in (process or {}).items():
        kind = "counter" if name.endswith("_total") else "gauge"
        doc.one(f"process_{name}", kind, f"This process's {name.replace('_', ' ')}.", value)
    return "\n".join(doc.lines) + "\n"


def idle_snapshot() -> dict[str, Any]:
    """What :func:`render` takes when no program is loaded yet (no Go process traced so far)."""
    from ebpf.tracer import RuntimeStats

    return {"runtime": RuntimeStats().to_dict(), "ring_buffer_bytes": 0, "probes": 0, "tracers": []}


def idle_page() -> str:
    return render(idle_snapshot(), None, process_figures())


def exporter_figures(exporter: object) -> dict[str, int] | None:
    """``sent``/``dropped``/``failed`` of an exporter that keeps them (the OTLP one), else None."""
    if not all(hasattr(exporter, name) for name in ("sent", "dropped", "failed")):
        return None
    return {name: int(getattr(exporter, name)) for name in ("sent", "dropped", "failed")}


class MetricsServer:
    """``GET /metrics`` on ``address`` (``host:port``; port 0 picks one), served from a daemon thread."""

    def __init__(self, address: str, page: Callable[[], str]) -> None:
        host, sep, port = address.rpartition(":")
        if not sep or not port.isdigit():
            raise ValueError(f"metrics address must be host:port, not {address!r}")

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                path = self.path.split("?", 1)[0]
                if path == "/metrics":
                    try:
                        body, status, kind = page().encode(), 200, CONTENT_TYPE
                    except Exception as exc:  # a scrape must never take the agent down
                        body, status, kind = f"error: {exc}\n".encode(), 500, "text/plain"
                elif path == "/healthz":
                    body, status, kind = b"ok\n", 200, "text/plain"
                else:
                    body, status, kind = b"not found: try /metrics\n", 404, "text/plain"
                self.send_response(status)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer((host.strip("[]") or "127.0.0.1", int(port)), Handler)
        self.server.daemon_threads = True
        bound_host, bound_port = self.server.server_address[:2]
        self.address = f"{bound_host!s}:{bound_port}"
        self._thread = threading.Thread(target=self.server.serve_forever, name="hodegos-metrics", daemon=True)
        self._thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
