"""The pure half of loading: compiled-program data, relocations, the cache key, plans as JSON, metrics text.

No BPF and no root here; the same code against the kernel is in ``test_footprint.py``.
"""

from __future__ import annotations

import struct
from pathlib import Path

import pytest

from ebpf import artifact, metrics
from ebpf.plan import Plan, Probe

LD_MAP = struct.pack("<BBhi", 0x18, 0x10 | 1, 0, 7) + struct.pack("<BBhi", 0, 0, 0, 0)  # r1 = map fd 7
MOV = struct.pack("<BBhi", 0xB7, 0x00, 0, 42)  # r0 = 42
EXIT = struct.pack("<BBhi", 0x95, 0, 0, 0)


def compiled() -> artifact.Compiled:
    program = artifact.extract_program("prog", MOV + LD_MAP + MOV + EXIT, {7: "events"})
    events = artifact.MapSpec("events", 27, 0, 0, 1 << 20, 0)
    return artifact.Compiled("k" * 64, "GPL", 0, {"events": events}, {"prog": program}, 0.4)


def test_map_fds_are_zeroed_recorded_and_patched_back() -> None:
    program = compiled().programs["prog"]
    assert program.relocations == ((1, "events"),)  # instruction 1 (the ld_imm64 after the mov)
    assert struct.unpack_from("<i", program.insns, 8 + 4)[0] == 0  # no fd of the compiling process left
    patched = artifact.relocate(program, {"events": 13})
    assert struct.unpack_from("<i", patched, 8 + 4)[0] == 13
    assert patched[:8] == MOV and patched[16:] == LD_MAP[8:] + MOV + EXIT


def test_unsupported_instructions_are_refused() -> None:
    with pytest.raises(artifact.ArtifactError, match="src_reg 2"):
        artifact.extract_program("p", struct.pack("<BBhi", 0x18, 0x21, 0, 7) + bytes(8) + EXIT, {7: "m"})
    with pytest.raises(artifact.ArtifactError, match="no map of the module"):
        artifact.extract_program("p", LD_MAP + EXIT, {8: "m"})
    with pytest.raises(artifact.ArtifactError, match="subprogram"):
        artifact.extract_program("p", struct.pack("<BBhi", 0x85, 0x10, 0, 3) + EXIT, {})
    with pytest.raises(artifact.ArtifactError, match="whole number"):
        artifact.extract_program("p", EXIT[:5], {})


def test_compiled_round_trips_and_damage_is_an_error() -> None:
    original = compiled()
    assert artifact.Compiled.from_json(original.to_json()) == original
    with pytest.raises(artifact.ArtifactError, match="format"):
        artifact.Compiled.from_json(original.to_json().replace('"format": 1', '"format": 99'))
    with pytest.raises(artifact.ArtifactError, match="damaged"):
        artifact.Compiled.from_json('{"format": 1, "key": "x"}')
    with pytest.raises(artifact.ArtifactError, match="not described"):
        artifact.Compiled.from_json(original.to_json().replace('"name": "events"', '"name": "other"'))


def test_cache_is_keyed_by_the_source_and_survives_only_intact(tmp_path: Path) -> None:
    source = artifact.PROGRAM.read_bytes()
    key = artifact.cache_key(source)
    assert key == artifact.cache_key(source)
    assert key != artifact.cache_key(source + b"\n// changed\n")
    entry = artifact.Compiled(key, "GPL", 0, compiled().maps, compiled().programs)
    assert artifact.store(tmp_path, entry) == artifact.cache_path(tmp_path, key)
    assert artifact.load_cached(tmp_path, key) == entry
    assert artifact.load_cached(tmp_path, "0" * 64) is None  # another kernel or source: not this file
    artifact.cache_path(tmp_path, key).write_text("{")
    assert artifact.load_cached(tmp_path, key) is None
    assert artifact.store(Path("/proc/no-such-dir"), entry) is None  # unwritable: not an error
    assert artifact.load_cached(None, key) is None


def test_plan_round_trips_as_json() -> None:
    plan = Plan(
        path="/proc/1/exe", go_version="go1.26.8", build_id="ab", stripped=True, pie=False,
        offsets={"req_method": 0, "url_path": 56}, offsets_source="table:go1.26.8",
        probes=(Probe("f", 0x1000, (0x1010, 0x1020), "server_entry", "server_return", 0x10, (0x20, 0x30)),),
        analysis_seconds=0.25,
    )  # fmt: skip
    assert Plan.from_dict(plan.to_dict()) == plan
    assert plan.probe_sites == 3


def test_metrics_text_names_every_loss_reason() -> None:
    snapshot = metrics.idle_snapshot()
    snapshot["runtime"]["finished"] = {"spans_exported": 5, "lost:export_failed": 2}
    snapshot["tracers"] = [
        {
            "pid": 42,
            "spans_exported": 10,
            "spans_lost": {"ring_buffer_full": 3},
            "resource": {"service.name": 'we"b', "k8s.namespace.name": "shop"},
        }
    ]
    page = metrics.render(snapshot, {"sent": 15, "dropped": 0, "failed": 2}, {"resident_memory_bytes": 1e6})
    assert "hodegos_ebpf_spans_exported_total 15\n" in page
    for reason, count in (("ring_buffer_full", 3), ("export_failed", 2), ("export_queue_full", 0)):
        assert f'hodegos_ebpf_spans_lost_total{{reason="{reason}"}} {count}\n' in page
    assert 'hodegos_ebpf_target_spans_lost_total{namespace="shop",service="we\\"b",pid="42",' in page
    assert 'hodegos_ebpf_export_spans_total{outcome="failed"} 2\n' in page
    assert "process_resident_memory_bytes 1000000\n" in page
    assert "hodegos_ebpf_traced_processes 1\n" in page
    families = [line.split()[2] for line in page.splitlines() if line.startswith("# TYPE")]
    assert len(families) == len(set(families))


def test_hand_written_otlp_equals_the_protobuf_library() -> None:
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

    from ebpf import otlpwire
    from ebpf.export import SCOPE_NAME, SCOPE_VERSION, to_request
    from ebpf.spans import Span

    spans = [
        Span("GET", "server", "ab" * 16, "cd" * 8, None, 1_700_000_000_000_000_000, 1_700_000_000_000_500_000,
             {"http.request.method": "GET", "url.path": "/hello", "http.response.status_code": 200,
              "client.port": 51234}),
        Span("POST", "client", "01" * 16, "02" * 8, "03" * 8, 5, 2**63 + 7,
             {"url.full": "http://x/é", "http.response.status_code": 503, "error.type": "503"}, error=True),
    ]  # fmt: skip
    resource: dict[str, str | int] = {"service.name": "checkout", "process.pid": 4242, "k8s.pod.name": "c-1"}
    ours = otlpwire.encode(spans, resource, SCOPE_NAME, SCOPE_VERSION)
    reference = to_request(spans, resource)
    parsed = ExportTraceServiceRequest()
    parsed.ParseFromString(ours)
    assert parsed == reference
    assert ours == reference.SerializeToString()
