"""Detection on real processes started by the test: language, runtime version, libc, other agents."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cli.main import app
from detector import ProcessGone, inspect
from tests.detector.conftest import Started
from tests.support import require

# program -> (language, libc, whether the READY line carries the version)
EXPECTED = {
    "python-venv": ("python", "glibc", True),
    "python-debian": ("python", "glibc", True),
    "node": ("nodejs", "glibc", True),
    "java": ("java", "glibc", True),
    "go-static": ("go", None, True),
    "go-stripped-pie": ("go", "glibc", True),
    "static-c": ("unknown", None, False),
    "musl-c": ("unknown", "musl", False),
    "shell": ("unknown", "glibc", False),
}


@pytest.mark.parametrize("program", sorted(EXPECTED))
def test_detects_language_version_and_libc(
    program: str, programs: dict[str, list[str]], start: Callable[..., Started]
) -> None:
    language, libc, versioned = EXPECTED[program]
    started = start(programs[program])
    detection = inspect(started.pid)
    assert detection.language == language, detection.evidence
    assert detection.libc == libc, detection.evidence
    if versioned:
        truth = started.ready.removeprefix("go")  # Go reports "go1.26.8"; records keep "1.26.8"
        assert truth and detection.runtime_version == truth, detection.evidence
    else:
        assert detection.runtime_version is None
    assert detection.other_agents == []
    assert detection.pid == started.pid
    runtime = detection.container_runtime("app")
    assert (runtime.language, runtime.runtime_version, runtime.libc) == (
        language,
        detection.runtime_version,
        libc,
    )
    assert str(started.pid) not in (runtime.evidence or ""), (
        "evidence must not carry PIDs (records stay stable)"
    )


def test_shell_and_static_evidence_say_why(
    programs: dict[str, list[str]], start: Callable[..., Started]
) -> None:
    shell = inspect(start(programs["shell"]).pid)
    assert any("is a shell" in e for e in shell.evidence)
    static = inspect(start(programs["static-c"]).pid)
    assert any("static" in e for e in static.evidence)


def test_binary_version_beats_a_misleading_environment(
    programs: dict[str, list[str]], start: Callable[..., Started]
) -> None:
    python = start(programs["python-debian"], env={"PYTHON_VERSION": "3.99.0"})
    assert inspect(python.pid).runtime_version == python.ready
    node = start(programs["node"], env={"NODE_VERSION": "1.2.3"})
    assert inspect(node.pid).runtime_version == node.ready


def test_other_agents_found_in_a_real_environment(
    programs: dict[str, list[str]], start: Callable[..., Started]
) -> None:
    started = start(
        programs["python-debian"], env={"DD_AGENT_HOST": "127.0.0.1", "NEW_RELIC_APP_NAME": "shop"}
    )
    detection = inspect(started.pid)
    assert detection.other_agents == ["datadog", "newrelic"]
    assert any("DD_AGENT_HOST" in e for e in detection.evidence)


def test_exited_process_is_reported_gone(programs: dict[str, list[str]]) -> None:
    process = subprocess.Popen(["/bin/true"])
    process.wait()
    with pytest.raises(ProcessGone):
        inspect(process.pid)


def test_cli_detect_prints_json_and_yaml(
    programs: dict[str, list[str]], start: Callable[..., Started]
) -> None:
    started = start(programs["go-static"])
    runner = CliRunner()
    result = runner.invoke(app, ["agent", "detect", "--pid", str(started.pid), "-o", "json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["language"] == "go" and data["runtimeVersion"] == started.ready.removeprefix("go")
    assert "libc" not in data  # static: no libc, omitted like every unset field

    table = runner.invoke(app, ["agent", "detect", "--pid", str(started.pid)])
    assert table.exit_code == 0
    header, row = table.stdout.splitlines()
    assert header.split()[:4] == ["PID", "LANGUAGE", "VERSION", "LIBC"]
    assert row.split()[:4] == [str(started.pid), "go", data["runtimeVersion"], "-"]

    every = runner.invoke(app, ["agent", "detect", "--all", "-o", "json"])
    assert every.exit_code == 0
    assert started.pid in {row["pid"] for row in json.loads(every.stdout)}


def test_cli_detect_errors_are_clear() -> None:
    runner = CliRunner()
    both = runner.invoke(app, ["agent", "detect"])
    assert both.exit_code == 1 and "give one of --pid" in both.stderr
    gone = runner.invoke(app, ["agent", "detect", "--pid", "999999999"])
    assert gone.exit_code == 1 and "does not exist" in gone.stderr


def _runtime_version(argv: list[str]) -> str:
    result = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=True)
    return result.stdout.split()[-1]


def test_embedded_runtimes_detected_from_their_libraries(
    programs: dict[str, list[str]], start: Callable[..., Started]
) -> None:
    """A binary not named like a runtime that loads one: language from maps, version from the library."""
    libpython = Path("/usr/lib/x86_64-linux-gnu/libpython3.11.so.1.0")
    java = Path(shutil.which("java") or "java").resolve()
    libjvm = java.parent.parent / "lib" / "server" / "libjvm.so"
    require(libpython.exists(), "Debian's libpython3.11 (package libpython3.11)")
    require(libjvm.exists(), f"libjvm.so next to {java}")

    python = inspect(start([*programs["embedder"], str(libpython)]).pid)
    assert python.language == "python", python.evidence
    assert python.runtime_version == _runtime_version(
        ["/usr/bin/python3.11", "-c", "import platform; print(platform.python_version())"]
    )
    assert any(str(libpython) in e for e in python.evidence)

    jvm = inspect(start([*programs["embedder"], str(libjvm)]).pid)
    assert jvm.language == "java", jvm.evidence
    properties = subprocess.run(
        [str(java), "-XshowSettings:properties", "-version"], capture_output=True, text=True, timeout=60
    ).stderr
    truth = next(
        line.split("=", 1)[1].strip() for line in properties.splitlines() if "java.version =" in line
    )
    assert jvm.runtime_version == truth
