"""End-to-end injection contract: the webhook core mutates a pod, the pod runner runs the mutated spec with
the real agents built by ``toolchain/recipes/<lang>/build.sh``, and spans with the right resource arrive at an
OTLP/HTTP receiver. Python, Node.js and Java run for real; .NET (no runtime here) checks env and file layout.
"""

from __future__ import annotations

import socket
import time
import urllib.request
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest

from api import constants
from tests.e2e_injection import appimages
from tests.e2e_injection.conftest import agent_tree, app_tree, busybox_tree
from tests.e2e_injection.injection import agent_images, container, deployment_pod, inject, record
from tests.e2e_injection.podrunner import PodRunner, Running
from tests.e2e_injection.receiver import OtlpReceiver, ReceivedSpan
from tests.support import require

pytestmark = [pytest.mark.agents, pytest.mark.usefixtures("can_run_pods")]


@dataclass(frozen=True)
class Case:
    language: str
    command: list[str]  # "{python3.12}" stands for that CPython's interpreter, found at test time
    runtime_version: str
    user_env: dict[str, str]  # the user's own launcher value, which must survive injection
    launcher: tuple[str, str]  # the launcher variable and its exact value after injection (the contract)
    copied_marker: str  # a file the init container must have copied into the agent volume
    sdk_language: str  # telemetry.sdk.language the agent reports
    server_spans: bool  # the agent instruments this app's HTTP server


CASES = {
    "python": Case(
        language="python",
        command=["/usr/bin/python3", "/app/server.py"],
        runtime_version="3.11",
        user_env={"PYTHONPATH": "/app/lib"},  # Flask lives there: the app only starts if it survives
        launcher=(
            "PYTHONPATH",
            "/hodegos/python/opentelemetry/instrumentation/auto_instrumentation:/app/lib:/hodegos/python",
        ),
        copied_marker="opentelemetry/instrumentation/auto_instrumentation/sitecustomize.py",
        sdk_language="python",
        server_spans=True,
    ),
    "nodejs": Case(
        language="nodejs",
        command=["node", "/app/server.js"],
        runtime_version="20",
        user_env={"NODE_OPTIONS": "--max-old-space-size=256"},
        launcher=(
            "NODE_OPTIONS",
            "--max-old-space-size=256 --require /hodegos/nodejs/autoinstrumentation.js",
        ),
        copied_marker="autoinstrumentation.js",
        sdk_language="nodejs",
        server_spans=True,
    ),
    "java": Case(
        language="java",
        command=["java", "-cp", "/app/classes", "Server"],
        runtime_version="17",
        user_env={"JAVA_TOOL_OPTIONS": "-Xmx256m"},
        launcher=("JAVA_TOOL_OPTIONS", "-Xmx256m -javaagent:/hodegos/java/javaagent.jar"),
        copied_marker="javaagent.jar",
        sdk_language="java",
        server_spans=True,
    ),
}


# The agent image targets one CPython minor (3.11, like its native wheels); its native modules have
# pure-Python fallbacks, so the same build must also serve the neighbouring minors an app may run.
for _minor in ("3.10", "3.12", "3.13"):
    CASES[f"python{_minor.replace('.', '')}"] = replace(
        CASES["python"], command=[f"{{python{_minor}}}", "/app/server.py"], runtime_version=_minor
    )


def interpreter(command: list[str]) -> list[str]:
    """Resolve a ``{pythonX.Y}`` placeholder to an installed CPython X.Y (pyenv's, on this machine)."""
    if not command[0].startswith("{"):
        return command
    name = command[0].strip("{}")
    minor = name.removeprefix("python")
    found = sorted((Path.home() / ".pyenv" / "versions").glob(f"{minor}.*/bin/{name}"))
    require(found, f"CPython {minor} is not installed (pyenv)")
    return [str(found[-1]), *command[1:]]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_listening(port: int, run: Running, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if run.process.poll() is not None:
            pytest.fail(f"the app exited {run.process.returncode} before listening:\n{run.output()[-3000:]}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.2)
    pytest.fail(f"the app did not listen on {port} within {timeout}s:\n{run.output()[-3000:]}")


def get(port: int, path: str) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=30) as reply:
        return str(reply.read().decode())


def app_pod(case_id: str, port: int, user_init: bool = False) -> tuple[dict[str, Any], str, str]:
    """The app's pod; ``user_init`` adds the user's own init container and volume, which must keep working."""
    case = CASES[case_id]
    deployment = f"shop-{case_id}"
    image = f"shop/{case.language}-app:1"
    env = [{"name": "PORT", "value": str(port)}] + [{"name": k, "value": v} for k, v in case.user_env.items()]
    # A user's own SDK setting (export every second, not five): it must survive, and keeps the test short.
    env.append({"name": "OTEL_BSP_SCHEDULE_DELAY", "value": "1000"})
    app: dict[str, Any] = {"name": "app", "image": image, "command": interpreter(case.command), "env": env}
    pod = deployment_pod(deployment, [app])
    if user_init:
        app["volumeMounts"] = [{"name": "data", "mountPath": "/data"}]
        pod["spec"]["volumes"] = [{"name": "data", "emptyDir": {}}]
        pod["spec"]["initContainers"] = [
            {
                "name": "prepare",
                "image": image,
                "command": ["sh", "-c", "echo prepared > /data/ready"],
                "volumeMounts": [{"name": "data", "mountPath": "/data"}],
            }
        ]
    return pod, deployment, image


def complete(spans: list[ReceivedSpan], server_spans: bool) -> bool:
    """One /chain trace: a client span, and (when the server is instrumented) the server span it called."""
    clients = [s for s in spans if s.kind == "CLIENT"]
    if not server_spans:
        return bool(clients)
    servers = [s for s in spans if s.kind == "SERVER"]
    return any(s.parent_span_id == c.span_id for c in clients for s in servers)


@pytest.mark.parametrize("case_id", list(CASES))
def test_injected_pod_sends_spans_with_kubernetes_resource(
    case_id: str, receiver: OtlpReceiver, tmp_path: Path
) -> None:
    case = CASES[case_id]
    language = case.language
    agent = agent_tree(language)
    app_image_tree = app_tree(language)
    if case_id == "python":
        require(Path("/usr/bin/python3").exists(), "the Python app runs on the system CPython 3.11")
    port = free_port()
    pod, deployment, image = app_pod(case_id, port, user_init=True)
    rec = record(deployment, [{"name": "app", "language": language, "runtimeVersion": case.runtime_version}])

    mutated, outcome = inject(pod, rec)
    decisions = {d.container: d for d in outcome.containers}
    assert decisions["app"].action == "injected", outcome.reason
    init = [
        c
        for c in mutated["spec"]["initContainers"]
        if c["image"] in agent_images({language: agent}, base=busybox_tree())
    ]
    assert len(init) == 1, mutated["spec"].get("initContainers")

    runner = PodRunner(
        mutated,
        images={**agent_images({language: agent}, base=busybox_tree()), image: [app_image_tree]},
        workdir=tmp_path,
        host_ip=str(receiver.server.server_address[0]),
        base_images=frozenset({image}),
    )
    env = runner.env_of("app")
    name, value = case.launcher
    assert env[name] == value, f"{name}: the user's value must be kept and the agent's added"
    assert env[constants.ENV_EXPORTER_ENDPOINT] == f"http://{runner.host_ip}:{constants.OTLP_HTTP_PORT}"

    # The init container (non-root, read-only root) copies the agent into the emptyDir.
    ran = runner.run_init_containers()
    assert [r.name for r in ran] == ["prepare", init[0]["name"]], "the agent's init container goes last"
    assert (runner.volume("data") / "ready").read_text() == "prepared\n"
    volume_name = init[0]["volumeMounts"][0]["name"]
    copied = runner.volume(volume_name) / case.copied_marker
    assert copied.is_file(), f"init container did not copy {case.copied_marker}"
    assert copied.stat().st_uid == init[0]["securityContext"]["runAsUser"]

    pod_name = runner.identity.name

    def mine(span: Any) -> bool:
        return bool(span.resource.get(constants.ATTR_POD_NAME) == pod_name)

    app = runner.start("app")
    try:
        wait_listening(port, app)
        assert "hello" in get(port, "/hello")
        assert "hello" in get(port, "/chain")
        spans = receiver.wait_for(
            lambda all_spans: complete([s for s in all_spans if mine(s)], case.server_spans),
            timeout=90,
            alive=lambda: app.process.poll() is None,
        )
    finally:
        runner.stop()
    spans = [s for s in spans if mine(s)]
    assert complete(spans, case.server_spans), (
        f"no complete /chain trace from pod {pod_name}; got {[(s.kind, s.name) for s in spans]}; "
        f"receiver saw {receiver.received.requests} errors={receiver.received.errors}\n"
        f"app output:\n{app.output()[-3000:]}"
    )

    ident = runner.identity
    expected = {
        constants.ATTR_SERVICE_NAME: deployment,
        constants.ATTR_NAMESPACE: ident.namespace,
        constants.ATTR_POD_NAME: ident.name,
        constants.ATTR_POD_UID: ident.uid,
        constants.ATTR_NODE_NAME: ident.node_name,
        constants.WORKLOAD_ATTRIBUTE["Deployment"]: deployment,
        constants.ATTR_CONTAINER_NAME: "app",
        "telemetry.sdk.language": case.sdk_language,
    }
    for span in spans:
        got = {key: span.resource.get(key) for key in expected}
        assert got == expected, f"span {span.name!r} resource {span.resource}"
        instance = str(span.resource.get(constants.ATTR_SERVICE_INSTANCE_ID, ""))
        assert ident.name in instance and "$(" not in instance, instance
        assert not [v for v in span.resource.values() if "$(" in str(v)], span.resource
    if language == "nodejs":
        # The agent entry point keeps to local resource detectors: no cloud metadata lookups at start-up.
        assert "MetadataLookupWarning" not in app.output()
        assert "Invalid resource detector" not in app.output()
    if language == "java":
        # The JVM reports the launcher variable it used: the user's flag first, then the agent.
        assert f"Picked up JAVA_TOOL_OPTIONS: {env['JAVA_TOOL_OPTIONS']}" in app.output()


def test_python_musl_pod_gets_the_musl_build(tmp_path: Path) -> None:
    """A musl record makes the init container copy the musl tree: its native modules are musl builds."""
    agent = agent_tree("python")
    pod, deployment, _ = app_pod("python", free_port())
    rec = record(
        deployment, [{"name": "app", "language": "python", "runtimeVersion": "3.11", "libc": "musl"}]
    )
    mutated, _ = inject(pod, rec)
    init = [
        c
        for c in mutated["spec"]["initContainers"]
        if c["image"] in agent_images({"python": agent}, base=busybox_tree())
    ]
    assert len(init) == 1
    runner = PodRunner(mutated, images=agent_images({"python": agent}, base=busybox_tree()), workdir=tmp_path)
    runner.run_init_containers()
    volume = runner.volume(init[0]["volumeMounts"][0]["name"])
    natives = [p.name for p in volume.rglob("*.so")]
    # Version-specific modules name their libc; abi3 ones (psutil's) do not, so their wheel tags must.
    versioned = [name for name in natives if ".abi3." not in name]
    assert versioned, "the musl tree has no native modules to check"
    assert all("linux-musl" in name for name in versioned), versioned
    tags = [
        line.split(":", 1)[1].strip()
        for wheel in volume.glob("*.dist-info/WHEEL")
        for line in wheel.read_text().splitlines()
        if line.startswith("Tag:")
    ]
    platform_tags = [t for t in tags if not t.endswith("-any")]
    assert platform_tags and all("musllinux" in t for t in platform_tags), platform_tags
    assert (volume / CASES["python"].copied_marker).is_file()


@pytest.mark.parametrize("libc", ["glibc", "musl"])
def test_dotnet_env_points_into_the_agent_layout(libc: str, tmp_path: Path) -> None:
    """No .NET runtime here: the injected env must name files of the documented release layout, and those
    files must be where the env says inside the running container (with a STAND-IN agent tree)."""
    standin = appimages.image_root("dotnet-agent-standin")
    require(standin.is_dir(), "the .NET stand-in agent tree is not built; run .ci/setup.d/30-agents.sh")
    probe_image_tree = app_tree("dotnet")
    image = "shop/dotnet-app:1"
    user_hook = "/app/hooks/Custom.StartupHook.dll"
    pod = deployment_pod(
        "shop-dotnet",
        [
            {
                "name": "app",
                "image": image,
                "command": ["sh", "/app/probe.sh"],
                "env": [{"name": "DOTNET_STARTUP_HOOKS", "value": user_hook}],
            }
        ],
    )
    rec = record(
        "shop-dotnet", [{"name": "app", "language": "dotnet", "runtimeVersion": "8.0", "libc": libc}]
    )
    mutated, outcome = inject(pod, rec)
    assert {d.container: d.action for d in outcome.containers} == {"app": "injected"}, outcome.reason

    images = agent_images({"dotnet": standin}, base=busybox_tree())
    init = [c for c in mutated["spec"]["initContainers"] if c["image"] in images]
    assert len(init) == 1
    assert (
        init[0]["command"][:2] == ["cp", "-r"] and init[0]["command"][2] == f"/autoinstrumentation/{libc}/."
    )
    mount = init[0]["volumeMounts"][0]["mountPath"]
    app_mount = [
        m
        for m in container(mutated, "app")["volumeMounts"]
        if m["name"] == init[0]["volumeMounts"][0]["name"]
    ]
    assert app_mount and app_mount[0]["mountPath"] == mount

    runner = PodRunner(
        mutated,
        images={**images, image: [probe_image_tree]},
        workdir=tmp_path,
        base_images=frozenset({image}),
    )
    env = runner.env_of("app")
    layout = {path.rstrip("/") for variant, path in appimages.dotnet_layout() if variant == libc}
    ours = {
        "CORECLR_PROFILER_PATH": env["CORECLR_PROFILER_PATH"],
        "DOTNET_STARTUP_HOOKS": env["DOTNET_STARTUP_HOOKS"].split(":")[-1],
        "DOTNET_ADDITIONAL_DEPS": env["DOTNET_ADDITIONAL_DEPS"],
        "DOTNET_SHARED_STORE": env["DOTNET_SHARED_STORE"],
    }
    for name, value in ours.items():
        assert value.startswith(mount + "/"), f"{name}={value} is outside the agent volume {mount}"
        assert value.removeprefix(mount + "/") in layout, f"{name}={value} is not in the {libc} layout"
    assert env["OTEL_DOTNET_AUTO_HOME"] == mount
    assert env["CORECLR_ENABLE_PROFILING"] == "1"
    assert env["CORECLR_PROFILER"] == "{918728DD-259F-4A6A-AC2B-B85E1B658318}"
    assert env["DOTNET_STARTUP_HOOKS"].split(":")[0] == user_hook, "the user's startup hook must stay first"

    runner.run_init_containers()
    probe = runner.start("app")
    try:
        code = probe.process.wait(timeout=60)
    finally:
        runner.stop()
    output = probe.output()
    assert code == 0 and "PROBE-DONE" in output, output
    for name, value in ours.items():
        assert f"PATH-OK {name} {value}" in output, output
    assert f"USER-VALUE DOTNET_STARTUP_HOOKS {user_hook}" in output, output
