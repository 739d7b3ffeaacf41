"""The pure decisions: language rules, versions from paths, other agents, libc, Go build info, picking."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from detector import Detection, decide, libc_of, pick_application
from detector.agents import other_agents
from detector.elf import ElfFacts, GoBuildInfo, parse_buildinfo, python_version_from_hex
from detector.languages import classify
from detector.procfs import ProcessFacts, parse_environ, parse_maps, parse_stat
from detector.versions import parse_java_release, runtime_version, version_from_path

BASE = ProcessFacts(pid=10, ppid=1, comm="x", exe="/usr/local/bin/app", cmdline=("app",))
GLIBC = ElfFacts(interp="/lib64/ld-linux-x86-64.so.2", dynamic=True, go=None)


@pytest.mark.parametrize(
    ("exe", "maps", "language"),
    [
        ("/usr/local/bin/python3.12", (), "python"),
        ("/usr/bin/pypy3", (), "python"),
        ("/usr/local/bin/uwsgi", ("/usr/lib/x86_64-linux-gnu/libpython3.11.so.1.0",), "python"),
        ("/opt/java/openjdk/bin/java", (), "java"),
        ("/usr/bin/my-launcher", ("/opt/java/openjdk/lib/server/libjvm.so",), "java"),
        ("/usr/local/bin/node", (), "nodejs"),
        ("/usr/bin/electron-ish", ("/usr/lib/libnode.so.115",), "nodejs"),
        ("/usr/share/dotnet/dotnet", (), "dotnet"),
        ("/app/MyService", ("/usr/share/dotnet/shared/Microsoft.NETCore.App/8.0.4/libcoreclr.so",), "dotnet"),
        ("/usr/local/bin/ruby", (), "ruby"),
        ("/usr/bin/ruby3.1", (), "ruby"),
        ("/usr/local/bin/puma-ish", ("/usr/local/lib/libruby.so.3.2.2",), "ruby"),
        ("/usr/sbin/php-fpm8.2", (), "php"),
        ("/usr/local/bin/php", (), "php"),
        ("/usr/sbin/apache2", ("/usr/lib/apache2/modules/libphp8.2.so",), "php"),
        ("/usr/sbin/nginx", ("/usr/lib/x86_64-linux-gnu/libssl.so.3",), "unknown"),
    ],
)
def test_language_rules(exe: str, maps: tuple[str, ...], language: str) -> None:
    decision = classify(replace(BASE, exe=exe, mapped_files=maps), GLIBC)
    assert decision.language == language
    assert decision.evidence


def test_go_needs_build_info_and_exe_names_win_over_libraries() -> None:
    go = ElfFacts(interp=None, dynamic=False, go=GoBuildInfo("go1.22.3", "example.com/shop/cmd/api"))
    decision = classify(BASE, go)
    assert decision.language == "go" and "example.com/shop/cmd/api" in decision.evidence[0]
    assert classify(BASE, None).language == "unknown"
    # A Python interpreter with a JVM embedded (JPype) is still Python.
    jpype = replace(BASE, exe="/usr/bin/python3.11", mapped_files=("/usr/lib/jvm/x/lib/server/libjvm.so",))
    assert classify(jpype, GLIBC).language == "python"


@pytest.mark.parametrize(
    ("language", "path", "version"),
    [
        ("dotnet", "/usr/share/dotnet/shared/Microsoft.NETCore.App/8.0.4/libcoreclr.so", "8.0.4"),
        (
            "dotnet",
            "/usr/share/dotnet/shared/Microsoft.NETCore.App/9.0.0-rc.2.24473.5/libcoreclr.so",
            "9.0.0-rc.2.24473.5",
        ),
        ("ruby", "/usr/local/lib/libruby.so.3.2.2", "3.2.2"),
        ("ruby", "/usr/lib/x86_64-linux-gnu/libruby-3.1.so.3.1", "3.1"),
        ("php", "/usr/lib/apache2/modules/libphp8.2.so", "8.2"),
        ("python", "/usr/lib/x86_64-linux-gnu/libpython3.11.so.1.0", "3.11"),
        ("dotnet", "/app/MyService", None),
    ],
)
def test_versions_from_paths(language: str, path: str, version: str | None) -> None:
    assert version_from_path(language, path) == version  # type: ignore[arg-type]


def test_version_fallbacks_for_runtimes_without_a_binary_version() -> None:
    nowhere = Path("/nonexistent")
    dotnet = replace(
        BASE,
        exe="/usr/share/dotnet/dotnet",
        environ={"DOTNET_VERSION": "8.0.1"},
        mapped_files=("/usr/share/dotnet/shared/Microsoft.NETCore.App/8.0.4/libcoreclr.so",),
    )
    # The shared framework directory names the runtime actually loaded; the image's env may be stale.
    version, evidence = runtime_version(dotnet, classify(dotnet, GLIBC), GLIBC, Path, nowhere)
    assert version == "8.0.4" and evidence is not None and "Microsoft.NETCore.App" in evidence
    php = replace(BASE, exe="/usr/local/sbin/php-fpm", environ={"PHP_VERSION": "8.3.7"})
    assert runtime_version(php, classify(php, GLIBC), GLIBC, Path, nowhere) == ("8.3.7", "env PHP_VERSION")
    ruby = replace(BASE, exe="/usr/bin/ruby3.1")
    assert runtime_version(ruby, classify(ruby, GLIBC), GLIBC, Path, nowhere)[0] == "3.1"
    java = replace(BASE, exe="/nonexistent/bin/java", environ={"JAVA_VERSION": "jdk-21.0.3+9"})
    assert runtime_version(java, classify(java, GLIBC), GLIBC, Path, nowhere)[0] == "21.0.3+9"


def test_java_release_file() -> None:
    text = 'IMPLEMENTOR="Eclipse Adoptium"\nJAVA_RUNTIME_VERSION="21.0.3+9-LTS"\nJAVA_VERSION="21.0.3"\n'
    assert parse_java_release(text) == "21.0.3"
    assert parse_java_release("OS_NAME=Linux\n") is None


@pytest.mark.parametrize(
    ("value", "text"),
    [(0x030B07F0, "3.11.7"), (0x030D00A2, "3.13.0a2"), (0x030C00C1, "3.12.0rc1"), (0x030A0EF0, "3.10.14")],
)
def test_python_version_hex(value: int, text: str) -> None:
    assert python_version_from_hex(value) == text


def _uvarint(n: int) -> bytes:
    out = bytearray()
    while n >= 0x80:
        out.append(n & 0x7F | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def test_go_buildinfo_inline_format() -> None:
    sentinel = b"0" * 16
    modinfo = sentinel + b"path\texample.com/shop/cmd/api\nmod\texample.com/shop\t(devel)\t\n" + sentinel
    version = b"go1.21.13"
    blob = b"\xff Go buildinf:" + bytes([8, 2]) + bytes(16) + _uvarint(len(version)) + version
    blob += _uvarint(len(modinfo)) + modinfo
    info = parse_buildinfo(blob)
    assert info == GoBuildInfo("go1.21.13", "example.com/shop/cmd/api", "example.com/shop")
    assert parse_buildinfo(b"\xff Go buildinf:" + bytes(18)) is None  # truncated
    assert parse_buildinfo(blob.replace(b"go1.21.13", b"xx1.21.13")) is None  # not a Go version


@pytest.mark.parametrize(
    ("interp", "maps", "libc"),
    [
        ("/lib/ld-musl-x86_64.so.1", (), "musl"),
        ("/lib64/ld-linux-x86-64.so.2", (), "glibc"),
        (None, ("/lib/x86_64-linux-gnu/libc.so.6",), "glibc"),  # started as `ld.so ./prog`
        (None, ("/lib/ld-musl-x86_64.so.1",), "musl"),
        (None, (), None),
    ],
)
def test_libc(interp: str | None, maps: tuple[str, ...], libc: str | None) -> None:
    assert libc_of(ElfFacts(interp=interp, dynamic=bool(interp), go=None), maps)[0] == libc


@pytest.mark.parametrize(
    ("environ", "cmdline", "maps", "agents"),
    [
        ({}, ("java", "-javaagent:/opt/dd/dd-java-agent.jar", "-jar", "app.jar"), (), ["datadog"]),
        ({"JAVA_TOOL_OPTIONS": "-javaagent:/newrelic/newrelic.jar"}, ("java",), (), ["newrelic"]),
        ({"LD_PRELOAD": "/opt/dynatrace/oneagent/agent/lib64/liboneagentproc.so"}, ("x",), (), ["dynatrace"]),
        ({}, ("x",), ("/opt/dynatrace/oneagent/agent/lib64/liboneagentproc.so",), ["dynatrace"]),
        ({"ELASTIC_APM_SERVER_URL": "http://apm:8200"}, ("node",), (), ["elastic"]),
        ({}, ("java", "-javaagent:/opt/appdynamics/javaagent.jar"), (), ["appdynamics"]),
        ({"NODE_OPTIONS": "--require dd-trace/init"}, ("node",), (), ["datadog"]),
        ({}, ("/usr/local/bin/ddtrace-run", "gunicorn"), (), ["datadog"]),
        ({"NEW_RELIC_LICENSE_KEY": "k", "INSTANA_AGENT_HOST": "h"}, ("x",), (), ["newrelic", "instana"]),
        ({"OTEL_SERVICE_NAME": "shop"}, ("java", "-javaagent:/otel/opentelemetry-javaagent.jar"), (), []),
        ({"DD_AGENT_HOST": ""}, ("x",), (), []),  # set but empty: not configured
    ],
)
def test_other_agents(
    environ: dict[str, str], cmdline: tuple[str, ...], maps: tuple[str, ...], agents: list[str]
) -> None:
    facts = replace(BASE, environ=environ, cmdline=cmdline, mapped_files=maps)
    assert [name for name, _ in other_agents(facts)] == agents
    assert decide(facts, GLIBC).other_agents == agents


def test_proc_parsers() -> None:
    assert parse_stat("42 (my (odd) name) S 7 42 42 0 -1 4194560 " + "0 " * 12 + "99 0") == (
        "my (odd) name",
        7,
        99,
    )
    assert parse_environ(b"A=1\0B=x=y\0BROKEN\0\0") == {"A": "1", "B": "x=y"}
    maps = (
        "55d0-55d1 r-xp 00000000 08:01 1 /usr/bin/python3.11\n"
        "7f00-7f01 r--p 00000000 08:01 2 /usr/lib/libpython3.11.so.1.0 (deleted)\n"
        "7f02-7f03 rw-p 00000000 00:00 0 \n"
        "7ffd-7ffe rw-p 00000000 00:00 0 [stack]\n"
        "55d2-55d3 r--p 00001000 08:01 1 /usr/bin/python3.11\n"
    )
    assert parse_maps(maps) == ("/usr/bin/python3.11", "/usr/lib/libpython3.11.so.1.0")


# -- Picking the application process ---------------------------------------------------------------------


def proc(pid: int, ppid: int, exe: str, language: str = "unknown", *args: str, start: int = 0) -> Detection:
    return Detection(
        pid=pid,
        ppid=ppid,
        start_time=start or pid,
        exe=exe,
        cmdline=[exe, *args],
        language=language,
    )


def test_picks_interpreter_under_init_and_shell() -> None:
    tree = [
        proc(1, 0, "/sbin/tini"),
        proc(7, 1, "/bin/bash", "unknown", "/entrypoint.sh"),
        proc(9, 7, "/usr/local/bin/python3.12", "python"),
        proc(12, 9, "/usr/local/bin/python3.12", "python"),  # a worker
    ]
    choice = pick_application(tree)
    assert choice is not None and choice.detection.pid == 9


def test_supervisor_written_in_python_is_a_wrapper() -> None:
    tree = [
        proc(1, 0, "/usr/bin/python3.11", "python", "/usr/bin/supervisord", "-n"),
        proc(5, 1, "/usr/bin/node", "nodejs", "server.js"),
    ]
    choice = pick_application(tree)
    assert choice is not None and choice.detection.language == "nodejs"


def test_unknown_binary_beats_wrappers_and_only_wrappers_gives_first() -> None:
    tree = [proc(1, 0, "/usr/bin/dumb-init"), proc(3, 1, "/usr/sbin/nginx"), proc(4, 3, "/usr/sbin/nginx")]
    choice = pick_application(tree)
    assert choice is not None and choice.detection.pid == 3 and "non-wrapper" in choice.reason
    only = pick_application([proc(5, 1, "/bin/sh", start=50), proc(2, 0, "/sbin/tini", start=20)])
    assert only is not None and only.detection.pid == 2 and "wrapper" in only.reason
    assert pick_application([]) is None


def test_gosu_and_pid_reuse_order_by_start_time() -> None:
    # Two unrelated roots (the main process and an `exec` session): the earlier started wins.
    tree = [proc(300, 0, "/usr/bin/java", "java", start=10), proc(20, 0, "/usr/bin/java", "java", start=900)]
    choice = pick_application(tree)
    assert choice is not None and choice.detection.pid == 300


def test_agent_evidence_leaves_out_agent_options() -> None:
    facts = replace(
        BASE,
        cmdline=("java", "-javaagent:/opt/newrelic/newrelic.jar=license_key=SECRET", "-jar", "app.jar"),
        environ={"JAVA_TOOL_OPTIONS": "-Xmx1g -javaagent:/dd/dd-java-agent.jar=token=SECRET2"},
    )
    found = dict(other_agents(facts))
    assert found == {
        "datadog": "datadog: env JAVA_TOOL_OPTIONS -javaagent:/dd/dd-java-agent.jar",
        "newrelic": "newrelic: cmdline -javaagent:/opt/newrelic/newrelic.jar",
    }


def _elf_with_old_buildinfo(version: bytes, modinfo: bytes) -> bytes:
    """A minimal x86-64 ELF: one writable PT_LOAD, no section headers, Go < 1.18 build info inside.

    Before Go 1.18 the header held two pointers to Go string headers (data pointer, length); the reader
    must follow them through the segment's address mapping.
    """
    import struct

    base, info_at, headers_at, data_at = 0x400000, 0x100, 0x140, 0x180
    body = bytearray(0x200 + len(version) + len(modinfo))
    body[0:64] = struct.pack(
        "<4sBBBBB7sHHIQQQIHHHHHH",
        b"\x7fELF",
        2,
        1,
        1,
        0,
        0,
        b"\0" * 7,
        2,
        62,
        1,
        base,
        64,
        0,
        0,
        64,
        56,
        1,
        64,
        0,
        0,
    )
    body[64:120] = struct.pack("<IIQQQQQQ", 1, 6, 0, base, base, len(body), len(body), 0x1000)  # PT_LOAD, RW
    version_addr, mod_addr = base + data_at, base + data_at + len(version)
    body[info_at : info_at + 32] = (
        b"\xff Go buildinf:" + bytes([8, 0]) + struct.pack("<QQ", base + headers_at, base + headers_at + 16)
    )
    body[headers_at : headers_at + 32] = struct.pack(
        "<QQQQ", version_addr, len(version), mod_addr, len(modinfo)
    )
    body[data_at : data_at + len(version) + len(modinfo)] = version + modinfo
    return bytes(body)


def test_go_buildinfo_pointer_format_without_section_headers(tmp_path: Path) -> None:
    from detector.elf import read_elf

    binary = tmp_path / "old-go"
    binary.write_bytes(
        _elf_with_old_buildinfo(
            b"go1.16.15", b"path\texample.com/legacy\nmod\texample.com/legacy\t(devel)\t\n"
        )
    )
    facts = read_elf(binary)
    assert facts is not None and facts.interp is None
    assert facts.go == GoBuildInfo("go1.16.15", "example.com/legacy", "example.com/legacy")
    (tmp_path / "not-elf").write_text("#!/bin/sh\n")
    assert read_elf(tmp_path / "not-elf") is None
