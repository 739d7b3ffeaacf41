"""Attach the Go HTTP tracer to processes and deliver their spans: the shell around the pure core.

One :class:`TracerRuntime` per agent process compiles the BPF program once, drains the ring buffer on a
timer (the programs submit without waking anyone) and routes each span to the :class:`Tracer` of its pid.
A tracer notices when its process exits, detaches its probes and reports ``exited``; ``close()`` detaches
on demand. Neither ever raises from the drain thread: a failing exporter is counted, not fatal.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path

from ebpf import targets
from ebpf.bccload import BpfProgram
from ebpf.errors import AttachFailed, NotTraceable, ProcessGone, TracerError
from ebpf.export import Exporter, MemoryExporter
from ebpf.lockdown import Propagation, lockdown_mode
from ebpf.spans import Record, decode, to_span

DRAIN_INTERVAL = 0.05
LIVENESS_INTERVAL = 0.5


def _start_time(pid: int) -> str | None:
    """Field 22 of /proc/PID/stat: tells a live process from a new one reusing its pid."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rpartition(")")[2].split()[19]


class Tracer:
    """Probes on one process. ``state`` is ``attached``, ``exited`` or ``closed``; ``reason`` says why."""

    def __init__(
        self,
        runtime: TracerRuntime,
        pid: int,
        plan: targets.Plan,
        resource: dict[str, str | int],
        exporter: Exporter,
        on_exit: Callable[[Tracer], None] | None,
    ) -> None:
        self.runtime = runtime
        self.pid = pid
        self.plan = plan
        self.resource = resource
        self.exporter = exporter
        self.on_exit = on_exit
        self.state = "attached"
        self.reason = ""
        self.spans_exported = 0
        self.export_errors = 0
        self._events: list[bytes] = []
        self._start_time = _start_time(pid)

    @property
    def propagation(self) -> Propagation:
        return self.runtime.propagation

    def close(self) -> None:
        """Deliver what is already in the ring buffer, then detach. Idempotent; never raises."""
        if self.state != "attached":
            return
        self.runtime.flush()
        self._detach("closed", "closed by the caller")

    def _detach(self, state: str, reason: str) -> None:
        if self.state != "attached":
            return
        self.state, self.reason = state, reason
        for event in self._events:
            self.runtime.program.detach(event)
        self._events.clear()
        self.runtime.program.clear_offsets(self.pid)
        self.runtime._forget(self)

    def _deliver(self, records: list[Record], epoch_offset: int) -> None:
        spans = [to_span(r, epoch_offset) for r in records]
        try:
            self.exporter.export(spans, self.resource)
            self.spans_exported += len(spans)
        except Exception:
            self.export_errors += len(spans)

    def alive(self) -> bool:
        current = _start_time(self.pid)
        return current is not None and current == self._start_time

    def describe(self) -> dict[str, object]:
        return {
            "pid": self.pid,
            "state": self.state,
            "reason": self.reason,
            "go_version": self.plan.go_version,
            "stripped": self.plan.stripped,
            "pie": self.plan.pie,
            "offsets_source": self.plan.offsets_source,
            "probe_sites": self.plan.probe_sites,
            "propagation": self.propagation.mode,
            "spans_exported": self.spans_exported,
        }


class TracerRuntime:
    """The compiled program, the drain thread and the tracers attached through it."""

    def __init__(self, drain_interval: float = DRAIN_INTERVAL) -> None:
        self._records: list[Record] = []
        self.program = BpfProgram(lambda raw: self._records.append(decode(raw)))
        # securityfs says it when mounted; otherwise ask the verifier (one load that is expected to fail).
        mode = lockdown_mode()
        allowed = mode == "none" if mode is not None else self.program.probe_write_user()
        self.propagation = Propagation(allowed, mode)
        self._tracers: dict[int, Tracer] = {}
        self._lock = threading.RLock()
        self._stop = threading.Event()
        self._interval = drain_interval
        self._last_liveness = 0.0
        self.unrouted = 0
        self._thread = threading.Thread(target=self._loop, name="hodegos-ebpf-drain", daemon=True)
        self._thread.start()
        # Runs before BCC's own atexit cleanup (LIFO), which would try to delete tracefs events that
        # perf-PMU uprobes never created.
        atexit.register(self.close)

    def _loop(self) -> None:
        while not self._stop.wait(self._interval):
            with contextlib.suppress(Exception):
                self.flush()

    def flush(self) -> None:
        """Drain the ring buffer now and hand each tracer its spans; also reap exited processes."""
        with self._lock:
            self.program.drain()
            records, self._records = self._records, []
            offset = time.time_ns() - time.monotonic_ns()
            by_pid: dict[int, list[Record]] = {}
            for rec in records:
                by_pid.setdefault(rec.pid, []).append(rec)
            for pid, batch in by_pid.items():
                tracer = self._tracers.get(pid)
                if tracer is None:
                    self.unrouted += len(batch)
                else:
                    tracer._deliver(batch, offset)
            now = time.monotonic()
            if now - self._last_liveness >= LIVENESS_INTERVAL:
                self._last_liveness = now
                for tracer in list(self._tracers.values()):
                    if not tracer.alive():
                        tracer._detach("exited", f"process {tracer.pid} exited")
                        if tracer.on_exit:
                            with contextlib.suppress(Exception):
                                tracer.on_exit(tracer)

    def _forget(self, tracer: Tracer) -> None:
        with self._lock:
            if self._tracers.get(tracer.pid) is tracer:
                del self._tracers[tracer.pid]

    def tracers(self) -> list[Tracer]:
        with self._lock:
            return list(self._tracers.values())

    def attach(
        self,
        pid: int,
        resource_attributes: Mapping[str, str | int] | None = None,
        exporter: Exporter | None = None,
        on_exit: Callable[[Tracer], None] | None = None,
    ) -> Tracer:
        if not Path(f"/proc/{pid}").exists():
            raise ProcessGone(f"process {pid} does not exist")
        exe = f"/proc/{pid}/exe"
        try:
            plan = targets.analyze_cached(exe)
        except NotTraceable:
            if not Path(f"/proc/{pid}").exists():
                raise ProcessGone(f"process {pid} exited while its executable was being read") from None
            raise
        with self._lock:
            if pid in self._tracers:
                raise AttachFailed(f"process {pid} is already traced")
            resource = default_resource(pid, plan)
            resource.update(resource_attributes or {})
            tracer = Tracer(self, pid, plan, resource, exporter or MemoryExporter(), on_exit)
            self.program.set_offsets(pid, plan.offsets)
            try:
                for probe in plan.probes:
                    if probe.entry_program:
                        event = self.program.attach(exe, probe.entry_offset, probe.entry_program, pid)
                        tracer._events.append(event)
                    for ret in probe.return_offsets:
                        tracer._events.append(self.program.attach(exe, ret, probe.return_program, pid))
            except TracerError as exc:
                for event in tracer._events:
                    self.program.detach(event)
                self.program.clear_offsets(pid)
                if not tracer.alive():
                    raise ProcessGone(f"process {pid} exited while probes were being attached") from exc
                raise
            self._tracers[pid] = tracer
        return tracer

    def close(self) -> None:
        """Detach every tracer and free the program. Idempotent."""
        if self._stop.is_set():
            return
        for tracer in self.tracers():
            tracer.close()
        self._stop.set()
        self._thread.join(timeout=5)
        self.program.close()


def default_resource(pid: int, plan: targets.Plan) -> dict[str, str | int]:
    """Resource attributes the tracer knows by itself; the caller's (service.name, k8s.*) override them."""
    try:
        name = Path(os.readlink(f"/proc/{pid}/exe")).name.removesuffix(" (deleted)")
    except OSError:
        name = Path(plan.path).name
    return {
        "service.name": name,
        "process.pid": pid,
        "process.runtime.name": "go",
        "process.runtime.version": plan.go_version,
        "telemetry.distro.name": "hodegos",
        "telemetry.sdk.language": "go",
    }


_runtime: TracerRuntime | None = None
_runtime_lock = threading.Lock()


def runtime() -> TracerRuntime:
    """The process-wide runtime, created (and the program compiled) on first use."""
    global _runtime
    with _runtime_lock:
        if _runtime is None:
            _runtime = TracerRuntime()
        return _runtime


def attach(
    pid: int,
    resource_attributes: Mapping[str, str | int] | None = None,
    exporter: Exporter | None = None,
    on_exit: Callable[[Tracer], None] | None = None,
) -> Tracer:
    """Trace ``pid``'s net/http server and client; raises :class:`~ebpf.errors.TracerError` with a reason."""
    return runtime().attach(pid, resource_attributes, exporter, on_exit)
