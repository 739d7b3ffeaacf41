"""Attach the Go HTTP tracer to processes and deliver their spans: the shell around the pure core.

One :class:`TracerRuntime` per agent process loads the compiled program once (from the on-disk cache, or
compiled by BCC in a short-lived helper process, :mod:`ebpf.helper`; the agent never maps LLVM), drains
the ring buffer on a timer (the programs submit without waking anyone) and routes each span to the
:class:`Tracer` of its pid. Binaries are analysed in the helper too, once per executable file.

Nothing is lost silently: records the ring buffer had no room for are counted per process in BPF,
records that do not decode and records of no tracer are counted here, spans an exporter could not send
are counted per tracer; :meth:`TracerRuntime.stats` has them all (``/metrics``, ``hodegos agent trace``).
A tracer notices when its process exits, detaches its probes and reports ``exited``. Neither ever raises
from the drain thread: a failing exporter is counted, not fatal.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import resource as rlimits
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ebpf import artifact, helper
from ebpf.errors import AttachFailed, BccUnavailable, NotTraceable, ProcessGone, TracerError
from ebpf.export import Exporter, MemoryExporter
from ebpf.lockdown import Propagation, lockdown_mode
from ebpf.losses import EXPORT_ERROR, RING_FULL
from ebpf.plan import Plan
from ebpf.program import LoadedProgram
from ebpf.spans import RECORD_SIZE, Record, decode, to_span

DRAIN_INTERVAL = 0.05
LIVENESS_INTERVAL = 0.5
_DEFAULT = object()


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
        plan: Plan,
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
        self.lost: Counter[str] = Counter()  # reason -> spans lost
        self.attach_seconds = 0.0
        self._events: list[int] = []
        self._start_time = _start_time(pid)

    @property
    def propagation(self) -> Propagation:
        return self.runtime.propagation

    @property
    def spans_lost(self) -> int:
        return sum(self.lost.values())

    @property
    def export_errors(self) -> int:
        return sum(n for reason, n in self.lost.items() if reason != RING_FULL)

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
        program = self.runtime.program
        for event in self._events:
            program.detach(event)
        self._events.clear()
        with contextlib.suppress(OSError):
            program.clear_offsets(self.pid)
        with contextlib.suppress(OSError):
            self.lost[RING_FULL] = program.end_loss_count(self.pid)
        self.runtime._forget(self)

    def _refresh_losses(self) -> None:
        with contextlib.suppress(OSError):
            self.lost[RING_FULL] = self.runtime.program.lost_for(self.pid)

    def _lost_in_export(self, count: int, reason: str) -> None:
        self.lost[reason] += count

    def _deliver(self, records: list[Record], epoch_offset: int) -> None:
        spans = [to_span(r, epoch_offset) for r in records]
        try:
            self.exporter.export(spans, self.resource, on_lost=self._lost_in_export)
            self.spans_exported += len(spans)
        except Exception:
            self.lost[EXPORT_ERROR] += len(spans)

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
            "attach_seconds": round(self.attach_seconds, 4),
            "spans_exported": self.spans_exported,
            "spans_lost": dict(self.lost),
        }


@dataclass
class RuntimeStats:
    """What the runtime did since it started; counters only grow."""

    program_source: str = ""  # "cache" or "compiled"
    compiles: int = 0  # helper runs that compiled with BCC
    compile_seconds: float = 0.0
    load_seconds: float = 0.0  # creating maps and loading programs (the verifier)
    analyses: int = 0  # executables analysed by the helper
    analysis_seconds: float = 0.0
    records: int = 0  # read from the ring buffer
    decode_errors: int = 0
    unrouted: int = 0  # records of a pid no tracer holds (detached meanwhile)
    ring_lost: int = 0  # records the ring buffer had no room for, all processes
    attaches: int = 0
    attach_seconds_sum: float = 0.0
    attach_seconds: list[float] = field(default_factory=list)
    finished: Counter[str] = field(default_factory=Counter)  # spans/losses of tracers gone, by counter

    def to_dict(self) -> dict[str, Any]:
        out = dict(vars(self))
        out["attach_seconds"] = [round(s, 4) for s in self.attach_seconds[-20:]]
        out["finished"] = dict(self.finished)
        return out


class TracerRuntime:
    """The loaded program, the drain thread and the tracers attached through it.

    ``cache_dir`` holds compiled programs across restarts (default :func:`ebpf.artifact.default_cache_dir`;
    ``None``: no cache). ``ring_pages`` sizes the ring buffer (a power of two; default as compiled).
    """

    def __init__(
        self,
        drain_interval: float = DRAIN_INTERVAL,
        *,
        ring_pages: int | None = None,
        cache_dir: Path | object | None = _DEFAULT,
        helper_timeout: float = helper.DEFAULT_TIMEOUT,
        prefetch: tuple[int, ...] = (),
    ) -> None:
        self.stats = RuntimeStats()
        self._plans: dict[tuple[int, int, int, int], Plan] = {}
        self._lock = threading.RLock()  # tracers, plans, stats
        self._drain_lock = threading.Lock()  # one flush at a time
        self._prefetch = prefetch
        self.cache_dir: Path | None = (
            artifact.default_cache_dir() if cache_dir is _DEFAULT else cache_dir  # type: ignore[assignment]
        )
        self.helper_timeout = helper_timeout
        self.program = self._load(ring_pages)
        # securityfs says it when mounted; otherwise ask the verifier (one load that is expected to fail).
        mode = lockdown_mode()
        allowed = mode == "none" if mode is not None else self.program.probe_write_user()
        self.propagation = Propagation(allowed, mode)
        _raise_fd_limit()
        self._tracers: dict[int, Tracer] = {}
        self._stop = threading.Event()
        self._interval = drain_interval
        self._last_liveness = 0.0
        self._backlog = False
        self._thread = threading.Thread(target=self._loop, name="hodegos-ebpf-drain", daemon=True)
        self._thread.start()
        atexit.register(self.close)

    # -- the program ---------------------------------------------------------------------------------

    def _compile(self, key: str) -> artifact.Compiled:
        """One helper run: BCC compiles, and the executables of ``prefetch`` pids are analysed meanwhile."""
        started = time.monotonic()
        exes = {f"/proc/{pid}/exe": _file_key(f"/proc/{pid}/exe") for pid in self._prefetch}
        wanted = [exe for exe, file_key in exes.items() if file_key is not None]
        response = helper.call({"compile": {"key": key}, "analyze": wanted}, self.helper_timeout)
        self.stats.compiles += 1
        self.stats.compile_seconds += time.monotonic() - started
        self._prefetch = ()
        for exe in wanted:
            file_key, result = exes[exe], response["plans"].get(exe) or {}
            if file_key is not None and "plan" in result:
                self.stats.analyses += 1
                self._plans[file_key] = Plan.from_dict(result["plan"])
        if response.get("compile_error"):
            helper.raise_error(response["compile_error"])
        compiled = artifact.Compiled.from_json(response["compiled"])
        artifact.store(self.cache_dir, compiled)
        return compiled

    def _load(self, ring_pages: int | None) -> LoadedProgram:
        key = artifact.cache_key()
        compiled = artifact.load_cached(self.cache_dir, key)
        self.stats.program_source = "cache" if compiled else "compiled"
        if compiled is None:
            compiled = self._compile(key)
        started = time.monotonic()
        try:
            program = LoadedProgram(compiled, ring_pages)
        except BccUnavailable:
            if self.stats.program_source != "cache":
                raise
            # A cached program the kernel now refuses (same release string, different kernel): rebuild.
            artifact.discard(self.cache_dir, key)
            self.stats.program_source = "compiled"
            program = LoadedProgram(self._compile(key), ring_pages)
        self.stats.load_seconds = time.monotonic() - started
        return program

    # -- draining ------------------------------------------------------------------------------------

    def _loop(self) -> None:
        while not self._stop.wait(0 if self._backlog else self._interval):
            with contextlib.suppress(Exception):
                self.flush()

    def flush(self) -> None:
        """Drain the ring buffer now and hand each tracer its spans; also reap exited processes.

        Exporting runs outside the runtime lock (a console exporter may block on a full pipe), so a
        metrics scrape or an attach never waits behind it; flushes themselves are serialised.
        """
        with self._drain_lock:
            raw = self.program.drain()
            # A quarter of the ring in one drain: the producers are fast, so come back at once.
            self._backlog = len(raw) * RECORD_SIZE > self.program.ring_bytes // 4
            by_pid: dict[int, list[Record]] = {}
            failed = 0
            for item in raw:
                if len(item) != RECORD_SIZE:
                    failed += 1
                    continue
                try:
                    rec = decode(item)
                except Exception:
                    failed += 1
                    continue
                by_pid.setdefault(rec.pid, []).append(rec)
            with self._lock:
                self.stats.records += len(raw)
                self.stats.decode_errors += failed
                routes = {pid: self._tracers.get(pid) for pid in by_pid}
                self.stats.unrouted += sum(len(by_pid[pid]) for pid, t in routes.items() if t is None)
            offset = time.time_ns() - time.monotonic_ns()
            for pid, batch in by_pid.items():
                tracer = routes[pid]
                if tracer is not None:
                    tracer._deliver(batch, offset)
            now = time.monotonic()
            if now - self._last_liveness < LIVENESS_INTERVAL:
                return
            self._last_liveness = now
            with self._lock:
                self.stats.ring_lost = self.program.lost_records()
                tracers = list(self._tracers.values())
            for tracer in tracers:
                tracer._refresh_losses()
                if not tracer.alive():
                    tracer._detach("exited", f"process {tracer.pid} exited")
                    if tracer.on_exit:
                        with contextlib.suppress(Exception):
                            tracer.on_exit(tracer)

    def _forget(self, tracer: Tracer) -> None:
        with self._lock:
            if self._tracers.get(tracer.pid) is tracer:
                del self._tracers[tracer.pid]
                self.stats.finished["spans_exported"] += tracer.spans_exported
                for reason, count in tracer.lost.items():
                    self.stats.finished[f"lost:{reason}"] += count

    def tracers(self) -> list[Tracer]:
        with self._lock:
            return list(self._tracers.values())

    def snapshot(self) -> dict[str, Any]:
        """Counters of the runtime and of every attached tracer, read now (for metrics and the CLI)."""
        with self._lock:
            self.stats.ring_lost = self.program.lost_records()
            tracers = list(self._tracers.values())
            for tracer in tracers:
                tracer._refresh_losses()
            return {
                "runtime": self.stats.to_dict(),
                "ring_buffer_bytes": self.program.ring_bytes,
                "probes": self.program.probes(),
                "tracers": [{**t.describe(), "resource": dict(t.resource)} for t in tracers],
            }

    # -- attaching -----------------------------------------------------------------------------------

    def plan_for(self, pid: int) -> Plan:
        """The analysis of ``pid``'s executable, by the helper, once per file (device, inode, size, mtime)."""
        exe = f"/proc/{pid}/exe"
        key = _file_key(exe)
        if key is None:
            if not Path(f"/proc/{pid}").exists():
                raise ProcessGone(f"process {pid} does not exist")
            raise NotTraceable(f"{exe}: cannot read the executable")
        with self._lock:
            cached = self._plans.get(key)
        if cached is not None:
            return cached
        started = time.monotonic()
        response = helper.call({"analyze": [exe]}, self.helper_timeout)
        self.stats.analyses += 1
        self.stats.analysis_seconds += time.monotonic() - started
        result = response["plans"][exe]
        if "error" in result:
            helper.raise_error(result)
        plan = Plan.from_dict(result["plan"])
        with self._lock:
            self._plans[key] = plan
        return plan

    def attach(
        self,
        pid: int,
        resource_attributes: Mapping[str, str | int] | None = None,
        exporter: Exporter | None = None,
        on_exit: Callable[[Tracer], None] | None = None,
    ) -> Tracer:
        started = time.monotonic()
        if not Path(f"/proc/{pid}").exists():
            raise ProcessGone(f"process {pid} does not exist")
        exe = f"/proc/{pid}/exe"
        try:
            plan = self.plan_for(pid)
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
            self.program.start_loss_count(pid)
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
                with contextlib.suppress(OSError):
                    self.program.clear_offsets(pid)
                    self.program.end_loss_count(pid)
                if not tracer.alive():
                    raise ProcessGone(f"process {pid} exited while probes were being attached") from exc
                raise
            tracer.attach_seconds = time.monotonic() - started
            self.stats.attaches += 1
            self.stats.attach_seconds_sum += tracer.attach_seconds
            self.stats.attach_seconds.append(tracer.attach_seconds)
            del self.stats.attach_seconds[:-100]
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


def _file_key(path: str) -> tuple[int, int, int, int] | None:
    """(device, inode, size, mtime) of the file: the same executable in many processes is analysed once."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)


def _raise_fd_limit() -> None:
    """Each probe site of each traced process is one perf event fd: allow what the hard limit allows."""
    soft, hard = rlimits.getrlimit(rlimits.RLIMIT_NOFILE)
    if soft != hard:
        with contextlib.suppress(ValueError, OSError):
            rlimits.setrlimit(rlimits.RLIMIT_NOFILE, (hard, hard))


def default_resource(pid: int, plan: Plan) -> dict[str, str | int]:
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


def configure(**options: Any) -> TracerRuntime:
    """Create the process-wide runtime with these options (see :class:`TracerRuntime`); once only."""
    global _runtime
    with _runtime_lock:
        if _runtime is not None:
            raise TracerError("the eBPF tracer runtime is already running; configure it before first use")
        _runtime = TracerRuntime(**options)
        return _runtime


def current() -> TracerRuntime | None:
    """The process-wide runtime if it was created, without creating it."""
    with _runtime_lock:
        return _runtime


def runtime() -> TracerRuntime:
    """The process-wide runtime, created (and the program loaded) on first use."""
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
    """Trace ``pid``'s net/http server and client; raises :class:`~ebpf.errors.TracerError` with a reason.

    The first call creates the runtime; if the program must be compiled, ``pid``'s executable is analysed
    by the same helper run, at the same time.
    """
    global _runtime
    with _runtime_lock:
        if _runtime is None:
            _runtime = TracerRuntime(prefetch=(pid,))
        current = _runtime
    return current.attach(pid, resource_attributes, exporter, on_exit)
