"""The pure half of the tracer: addresses, RET sites, offsets, records -> spans -> OTLP (no BPF, no root)."""

from __future__ import annotations

import struct
from pathlib import Path
from typing import Any

import pytest

from ebpf import offsets, pclntab, spans, targets
from ebpf.dwarfinfo import struct_offsets
from ebpf.elfimage import ElfImage, parse_go_version
from ebpf.errors import NotGoBinary, OffsetUnknown
from ebpf.export import to_request
from ebpf.lockdown import Propagation, lockdown_mode
from ebpf.returns import find_returns
from harness import gobuilds

LABELS = gobuilds.expected_labels()


@pytest.mark.parametrize("label", LABELS)
def test_pclntab_agrees_with_symtab_and_dwarf_with_table(label: str, toolchains: dict[str, Path]) -> None:
    plain = ElfImage.open(gobuilds.build(label, toolchains[label], "plain").path)
    names = {targets.SERVER, targets.HEADER_LINE, targets.CLIENT}
    from_pcln = pclntab.functions(plain, names)
    assert set(from_pcln) == names
    for name in names:
        addr, size = plain.functions[name]
        assert from_pcln[name][0] == addr
        assert size <= from_pcln[name][1] < size + 64  # pclntab's end includes the int3 padding
    # the generated table holds exactly what this version's own DWARF says
    row = offsets.for_version(plain.go_version)
    assert row is not None, f"{plain.go_version} missing from the generated table"
    assert struct_offsets(plain, targets.FIELDS.values()) == row


@pytest.mark.parametrize("label", LABELS)
def test_stripped_and_pie_builds_resolve_the_same_probes(label: str, toolchains: dict[str, Path]) -> None:
    plans = {
        mode: targets.analyze(gobuilds.build(label, toolchains[label], mode).path) for mode in gobuilds.MODES
    }
    assert plans["plain"].offsets == plans["stripped"].offsets == plans["pie"].offsets
    assert plans["stripped"].offsets_source.startswith("table:") and plans["pie"].offsets_source == "dwarf"
    assert plans["stripped"].stripped and not plans["plain"].stripped and plans["pie"].pie
    for plan in plans.values():
        image = ElfImage.open(plan.path)
        for probe in plan.probes:
            assert probe.returns, probe.function
            for ret, offset in zip(probe.returns, probe.return_offsets, strict=True):
                assert image.read(ret, 1) == b"\xc3"
                assert image.data[offset] == 0xC3
    assert not ElfImage.open(plans["stripped"].path).functions  # no .symtab: pclntab did the work
    # same program, same compiler: the same number of RETs whatever the build mode
    counts = {mode: [len(p.returns) for p in plan.probes] for mode, plan in plans.items()}
    assert counts["plain"] == counts["stripped"]


def test_unknown_version_without_dwarf_is_refused(toolchains: dict[str, Path], tmp_path: Path) -> None:
    built = gobuilds.build("machine", toolchains["machine"], "stripped")
    empty = tmp_path / "table.json"
    empty.write_text('{"fields": [], "versions": {}}')
    with pytest.raises(OffsetUnknown, match=f"built with {built.go_version}, which is not in the generated"):
        targets.analyze(built.path, table=empty)


def test_non_go_and_non_elf_are_refused(tmp_path: Path) -> None:
    with pytest.raises(NotGoBinary, match="not a Go program"):
        targets.analyze("/bin/true")
    script = tmp_path / "run.sh"
    script.write_text("#!/bin/sh\necho hi\n")
    with pytest.raises(NotGoBinary, match="not an ELF"):
        targets.analyze(script)


def test_find_returns_reports_every_ret_and_no_lookalike() -> None:
    code = bytes.fromhex("4883ec08c3e8 00000000".replace(" ", "") + "c3" + "cc" * 3)
    # sub rsp,8 ; ret ; call <next> ; ret ; int3 x3  - the call's bytes contain no 0xc3
    assert find_returns(code, 0x1000) == [0x1004, 0x100A]
    # 0xc3 inside an immediate is not a RET
    assert find_returns(bytes.fromhex("b8c3000000c3"), 0) == [5]


def test_go_version_parsing() -> None:
    assert parse_go_version("go1.21.13") == (1, 21, 13)
    assert parse_go_version("go1.22rc1") == (1, 22, 0)
    assert parse_go_version("go1.27.4 X:nocoverageredesign") == (1, 27, 4)
    assert parse_go_version("devel +abc") == (0, 0, 0)


def _record(**changes: Any) -> bytes:
    header: dict[str, Any] = dict(
        kind=1,
        pid=42,
        g=0xC000001000,
        start=1_000,
        end=51_000,
        req=1,
        rw=2,
        span=0xAB,
        parent=0,
        hi=1,
        lo=2,
        status=0,
        proto=1,
        flags=0,
    )
    header.update(changes)
    strings = dict(method=b"GET", path=b"/x", host=b"", scheme=b"", remote=b"10.0.0.7:5555", traceparent=b"")
    strings.update({k: v for k, v in changes.items() if k in strings})
    raw = struct.pack(
        "<IIQQQQQQQQQqII",
        *(
            header[k]
            for k in (
                "kind",
                "pid",
                "g",
                "start",
                "end",
                "req",
                "rw",
                "span",
                "parent",
                "hi",
                "lo",
                "status",
                "proto",
                "flags",
            )
        ),
    )
    for name, size in (
        ("method", 16),
        ("path", 128),
        ("host", 64),
        ("scheme", 16),
        ("remote", 64),
        ("traceparent", 56),
    ):
        raw += bytes(strings[name]).ljust(size, b"\x00")
    assert len(raw) == spans.RECORD_SIZE
    return raw


def test_server_record_to_span() -> None:
    span = spans.to_span(spans.decode(_record()), epoch_offset_ns=10**18)
    assert span.kind == "server" and span.name == "GET"
    assert span.start_time_ns == 10**18 + 1_000 and span.duration_ns == 50_000
    assert (
        span.trace_id == f"{1:016x}{2:016x}"
        and span.span_id == f"{0xAB:016x}"
        and span.parent_span_id is None
    )
    # nothing written by the handler: net/http answers 200
    assert span.attributes["http.response.status_code"] == 200
    assert span.attributes["client.address"] == "10.0.0.7" and span.attributes["client.port"] == 5555
    failing = spans.to_span(spans.decode(_record(status=503)), 0)
    assert failing.error and failing.attributes["error.type"] == "503"
    http2 = spans.to_span(spans.decode(_record(proto=2, flags=spans.FLAG_NO_STATUS)), 0)
    assert "http.response.status_code" not in http2.attributes


def test_traceparent_becomes_parent_only_when_valid() -> None:
    tp = b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    span = spans.to_span(spans.decode(_record(flags=spans.FLAG_TRACEPARENT, traceparent=tp)), 0)
    assert (span.trace_id, span.parent_span_id) == ("4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7")
    for bad in (
        b"00-" + b"0" * 32 + b"-00f067aa0ba902b7-01",
        b"ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        b"00-4bf92f3577b34da6a3ce929d0e0e473Z-00f067aa0ba902b7-01",
    ):
        span = spans.to_span(spans.decode(_record(flags=spans.FLAG_TRACEPARENT, traceparent=bad)), 0)
        assert span.parent_span_id is None and span.trace_id == f"{1:016x}{2:016x}"


def test_client_record_to_span_and_otlp() -> None:
    raw = _record(
        kind=2,
        status=404,
        method=b"POST",
        scheme=b"http",
        host=b"api:8080",
        path=b"/v1/items",
        parent=0x77,
        flags=spans.FLAG_LOCAL_PARENT,
    )
    span = spans.to_span(spans.decode(raw), 0)
    assert span.kind == "client" and span.parent_span_id == f"{0x77:016x}"
    assert span.attributes["url.full"] == "http://api:8080/v1/items"
    assert (span.attributes["server.address"], span.attributes["server.port"]) == ("api", 8080)
    assert span.error
    request = to_request([span], {"service.name": "svc", "process.pid": 42})
    rs = request.resource_spans[0]
    assert {kv.key: kv.value for kv in rs.resource.attributes}["process.pid"].int_value == 42
    pb = rs.scope_spans[0].spans[0]
    assert pb.kind == pb.SPAN_KIND_CLIENT and pb.parent_span_id.hex() == f"{0x77:016x}"
    assert pb.status.code == pb.status.STATUS_CODE_ERROR


def test_lockdown_mode(tmp_path: Path) -> None:
    f = tmp_path / "lockdown"
    f.write_text("none [integrity] confidentiality\n")
    assert lockdown_mode(f) == "integrity"
    assert lockdown_mode(tmp_path / "absent") is None
    locked = Propagation(write_user_allowed=False, lockdown="integrity")
    assert locked.mode == "read-only" and "lockdown=integrity" in locked.reason
