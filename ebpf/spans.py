"""Ring-buffer records -> spans: decoding, trace-context parsing and OpenTelemetry HTTP attributes.

Pure functions; the record layout mirrors ``struct req_t`` in ``gohttp.bpf.c``.
"""

from __future__ import annotations

import re
import struct
from dataclasses import dataclass, field
from typing import NamedTuple

KIND_SERVER = 1
KIND_CLIENT = 2
FLAG_TRACEPARENT = 1
FLAG_CLIENT_ERROR = 2
FLAG_NO_STATUS = 4
FLAG_LOCAL_PARENT = 8

_HEADER = struct.Struct("<IIQQQQQQQQQqII")
_STRINGS = (("method", 16), ("path", 128), ("host", 64), ("scheme", 16), ("remote", 64), ("traceparent", 56))
# One unpack for the whole record: the drain thread decodes every span, so this is on the hot path.
_RECORD = struct.Struct(_HEADER.format + "".join(f"{size}s" for _, size in _STRINGS))
RECORD_SIZE = _RECORD.size
_TRACEPARENT = re.compile(r"^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$")


class Record(NamedTuple):
    kind: int
    pid: int
    goroutine: int
    start_ns: int  # CLOCK_MONOTONIC
    end_ns: int
    span_id: int
    parent_span_id: int
    trace_hi: int
    trace_lo: int
    status: int
    proto_major: int
    flags: int
    method: str
    path: str
    host: str
    scheme: str
    remote: str
    traceparent: str


def decode(raw: bytes) -> Record:
    fields = _RECORD.unpack_from(raw)
    (kind, pid, g, start, end, _req, _rw, span, parent, hi, lo, status, proto, flags) = fields[:14]
    texts = [text.split(b"\x00", 1)[0].decode(errors="replace") for text in fields[14:]]
    return Record(kind, pid, g, start, end, span, parent, hi, lo, status, proto, flags, *texts)


def parse_traceparent(value: str) -> tuple[str, str, int] | None:
    """(trace id, parent span id, flags) of a valid W3C traceparent, else None."""
    match = _TRACEPARENT.match(value.strip().lower())
    if not match or match.group(1) == "ff":
        return None
    trace_id, span_id = match.group(2), match.group(3)
    if trace_id == "0" * 32 or span_id == "0" * 16:
        return None
    return trace_id, span_id, int(match.group(4), 16)


@dataclass(slots=True)
class Span:
    name: str
    kind: str  # "server" | "client"
    trace_id: str  # 32 hex
    span_id: str  # 16 hex
    parent_span_id: str | None
    start_time_ns: int  # Unix epoch
    end_time_ns: int
    attributes: dict[str, str | int] = field(default_factory=dict)
    error: bool = False
    pid: int = 0

    @property
    def duration_ns(self) -> int:
        return self.end_time_ns - self.start_time_ns


def _split_host_port(address: str) -> tuple[str, int | None]:
    host, sep, port = address.rpartition(":")
    if not sep or not port.isdigit():
        return address, None
    return host.strip("[]"), int(port)


def to_span(rec: Record, epoch_offset_ns: int) -> Span:
    """Build the span; ``epoch_offset_ns`` = wall clock minus CLOCK_MONOTONIC, both read now."""
    trace_id = f"{rec.trace_hi:016x}{rec.trace_lo:016x}"
    parent: str | None = None
    incoming = parse_traceparent(rec.traceparent) if rec.flags & FLAG_TRACEPARENT else None
    if incoming:
        trace_id, parent = incoming[0], incoming[1]
    if rec.flags & FLAG_LOCAL_PARENT:
        parent = f"{rec.parent_span_id:016x}"
    attrs: dict[str, str | int] = {"http.request.method": rec.method or "_OTHER"}
    if rec.kind == KIND_SERVER:
        kind = "server"
        status = 200 if rec.status == 0 and not rec.flags & FLAG_NO_STATUS else rec.status
        attrs["url.path"] = rec.path
        attrs["network.protocol.version"] = f"{rec.proto_major}" if rec.proto_major != 1 else "1.1"
        peer, port = _split_host_port(rec.remote)
        if peer:
            attrs["client.address"] = peer
        if port is not None:
            attrs["client.port"] = port
        error = status >= 500
    else:
        kind = "client"
        status = rec.status
        attrs["url.full"] = f"{rec.scheme}://{rec.host}{rec.path}" if rec.scheme else rec.path
        host, port = _split_host_port(rec.host)
        attrs["server.address"] = host
        if port is not None:
            attrs["server.port"] = port
        elif rec.scheme in ("http", "https"):
            attrs["server.port"] = 80 if rec.scheme == "http" else 443
        error = status >= 400 or bool(rec.flags & FLAG_CLIENT_ERROR)
        if rec.flags & FLAG_CLIENT_ERROR:
            attrs["error.type"] = "transport"
    if status and not rec.flags & FLAG_NO_STATUS:
        attrs["http.response.status_code"] = status
    if error and "error.type" not in attrs:
        attrs["error.type"] = str(status)
    return Span(
        name=rec.method or "HTTP",
        kind=kind,
        trace_id=trace_id,
        span_id=f"{rec.span_id:016x}",
        parent_span_id=parent,
        start_time_ns=rec.start_ns + epoch_offset_ns,
        end_time_ns=rec.end_ns + epoch_offset_ns,
        attributes=attrs,
        error=error,
        pid=rec.pid,
    )
