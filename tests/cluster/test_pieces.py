"""The local control plane's parts that need no cluster: names, ports, PKI, command lines, processes."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from localcluster import components, lifecycle, pki, processes, state
from localcluster.errors import ClusterConfigError, PortInUseError
from localcluster.layout import Layout, Ports, validate_name


@pytest.fixture
def state_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("HODEGOS_STATE", str(tmp_path))
    return tmp_path


def test_names_are_validated() -> None:
    assert validate_name("demo-1") == "demo-1"
    for bad in ("", "Demo", "-x", "x-", "a" * 41, "a/b", "a_b"):
        with pytest.raises(ClusterConfigError, match="invalid cluster name"):
            validate_name(bad)


def test_ports_are_distinct_and_bounded() -> None:
    ports = Ports.validate(20000)
    values = list(ports.by_component().values())
    assert len(set(values)) == len(values) == 6
    assert min(values) == 20000
    for bad in (80, 65531):
        with pytest.raises(ClusterConfigError, match="outside"):
            Ports.validate(bad)


def test_state_root_comes_from_the_environment(state_root: Path) -> None:
    lay = Layout.for_name("abc")
    assert lay.root == state_root / "clusters" / "abc"
    assert lay.admin_kubeconfig.parent == lay.root


def test_pki_chain_identities_and_reuse(tmp_path: Path) -> None:
    paths = pki.Pki(tmp_path / "pki")
    written = pki.ensure(paths)
    assert "ca.crt" in written and "sa.key" in written
    ca = x509.load_pem_x509_certificate(paths.ca_cert.read_bytes())
    serving = x509.load_pem_x509_certificate(paths.apiserver_cert.read_bytes())
    serving.verify_directly_issued_by(ca)
    san = serving.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert "kubernetes.default.svc" in san.get_values_for_type(x509.DNSName)
    assert {str(ip) for ip in san.get_values_for_type(x509.IPAddress)} >= {"127.0.0.1", "10.96.0.1"}
    admin = x509.load_pem_x509_certificate(paths.client_cert(pki.ADMIN).read_bytes())
    admin.verify_directly_issued_by(ca)
    assert admin.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "hodegos-admin"
    assert [a.value for a in admin.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)] == [
        "system:masters"
    ]
    usage = admin.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(usage) == [ExtendedKeyUsageOID.CLIENT_AUTH]
    assert paths.ca_key.stat().st_mode & 0o077 == 0
    # A second run keeps everything; a certificate close to expiry is renewed on its own.
    assert pki.ensure(paths) == []
    later = datetime.now(UTC) + pki.LEAF_VALIDITY - timedelta(days=1)
    renewed = pki.ensure(paths, now=later)
    assert "apiserver.crt" in renewed and "ca.crt" not in renewed


def test_extra_identity_gets_its_own_certificate(tmp_path: Path) -> None:
    paths = pki.Pki(tmp_path)
    pki.ensure(paths)
    webhook = pki.Identity("hodegos-webhook", ("hodegos:components",))
    pki.ensure_client(paths, webhook)
    cert = x509.load_pem_x509_certificate(paths.client_cert(webhook).read_bytes())
    assert cert.subject.rfc4514_string() == "CN=hodegos-webhook,O=hodegos:components"


def test_component_command_lines(state_root: Path) -> None:
    lay = Layout.for_name("cmdline")
    ports = Ports(30000)
    bins = {
        name: Path(f"/bin/{name}")
        for name in ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok")
    }
    parts = components.components(lay, ports, bins, pki.Pki(lay.pki))
    assert [p.name for p in parts] == [
        "etcd",
        "kube-apiserver",
        "kube-controller-manager",
        "kube-scheduler",
        "kwok",
    ]
    by = {p.name: p for p in parts}
    api = " ".join(by["kube-apiserver"].argv)
    assert "--authorization-mode=Node,RBAC" in api
    assert "MutatingAdmissionWebhook" in api and "--bind-address=127.0.0.1" in api
    assert f"--etcd-servers=http://127.0.0.1:{ports.etcd_client}" in api
    kcm = " ".join(by["kube-controller-manager"].argv)
    assert "--controllers=*," in kcm and "--use-service-account-credentials=true" in kcm
    assert "--service-account-private-key-file=" in kcm
    # Everything listens on loopback, on its own port.
    every_port = [port for p in parts for port in p.ports]
    assert len(set(every_port)) == len(every_port)
    for part in parts:
        assert "127.0.0.1" in part.health
        assert any("127.0.0.1" in arg for arg in part.argv), part.name


def test_kubeconfig_shapes(tmp_path: Path) -> None:
    paths = pki.Pki(tmp_path)
    pki.ensure(paths)
    ref = components.kubeconfig("c", "https://127.0.0.1:1", paths, pki.ADMIN)
    assert ref["clusters"][0]["cluster"]["certificate-authority"] == str(paths.ca_cert)
    embedded = components.kubeconfig("c", "https://127.0.0.1:1", paths, pki.ADMIN, embed=True)
    assert "client-key-data" in embedded["users"][0]["user"]
    assert embedded["current-context"] == "c"


def test_kwok_stages_parse() -> None:
    stages = list(yaml.safe_load_all(lifecycle.STAGES_FILE.read_text()))
    assert {s["kind"] for s in stages} == {"Stage"}
    kinds = {s["spec"]["resourceRef"]["kind"] for s in stages}
    assert kinds == {"Node", "Pod"}


def test_process_identity_start_and_stop(tmp_path: Path) -> None:
    proc = processes.spawn(
        "sleeper", [sys.executable, "-c", "import time; time.sleep(60)"], tmp_path / "s.log"
    )
    assert processes.alive(proc)
    # Same PID, different start time: that is some other process, and must never be touched.
    impostor = processes.Started(proc.component, proc.pid, proc.start_ticks + 1, proc.argv, proc.log)
    assert not processes.alive(impostor)
    assert processes.stop(impostor) == "not running"
    assert processes.alive(proc)
    assert processes.stop(proc) == "stopped"
    assert not processes.alive(proc)
    assert processes.stop(proc) == "not running"


def test_process_that_ignores_sigterm_is_killed(tmp_path: Path) -> None:
    code = (
        "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
        "print('READY' + '!', flush=True); time.sleep(60)"
    )
    proc = processes.spawn("stubborn", [sys.executable, "-c", code], tmp_path / "s.log")
    deadline = time.monotonic() + 10
    while "READY!" not in (tmp_path / "s.log").read_text() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert processes.stop(proc, grace=0.5) == "killed"
    assert not processes.alive(proc)


def test_process_whose_main_thread_exited_first_is_alive_until_its_last_thread(tmp_path: Path) -> None:
    # A killed Go process shows a zombie main thread while its other threads still exit and hold its
    # listening sockets. Reproduce that state for real: the main thread calls pthread_exit while a
    # second thread keeps a listening socket open.
    code = (
        "import ctypes, socket, sys, threading, time\n"
        "sock = socket.socket(); sock.bind(('127.0.0.1', 0)); sock.listen()\n"
        "def hold():\n"
        "    time.sleep(1.5); sock.close()\n"
        "threading.Thread(target=hold).start()\n"
        "print('LISTEN' + 'ING=%d' % sock.getsockname()[1], flush=True)\n"
        "ctypes.CDLL(None).pthread_exit(None)\n"
    )
    log = tmp_path / "z.log"
    proc = processes.spawn("leader-exits", [sys.executable, "-c", code], log)
    deadline = time.monotonic() + 10
    while "LISTENING=" not in log.read_text() and time.monotonic() < deadline:
        time.sleep(0.02)
    port = int(log.read_text().split("LISTENING=", 1)[1].split()[0])
    while processes._stat(proc.pid) is not None and processes._stat(proc.pid)[0] != "Z":  # type: ignore[index]
        assert time.monotonic() < deadline, "the main thread never exited"
        time.sleep(0.02)
    assert not processes.port_free(port)  # the socket is still held ...
    assert processes.alive(proc)  # ... so the process is not gone, though its main thread is a zombie
    while processes.alive(proc):
        assert time.monotonic() < deadline + 10, "the second thread never finished"
        time.sleep(0.05)
    assert processes.port_free(port)


def test_port_holder_is_named(state_root: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        assert not processes.port_free(port)
        assert processes.port_holder(port) == os.getpid()
        # `up` refuses before starting anything, naming the port, the component and the holder.
        parts = [components.Component("kube-apiserver", ("x",), port, "http://127.0.0.1:1/")]
        with pytest.raises(PortInUseError) as caught:
            lifecycle._check_ports(parts)
        message = str(caught.value)
        assert f"port {port}" in message and "kube-apiserver" in message and f"pid {os.getpid()}" in message
    assert processes.port_free(port)


def test_state_round_trip(state_root: Path) -> None:
    lay = Layout.for_name("rt")
    assert state.load(lay) is None
    record = state.ClusterState("rt", Ports(31000), 3)
    record.record(processes.Started("etcd", 1, 2, ("etcd",), "/x"))
    state.save(lay, record)
    again = state.load(lay)
    assert again is not None and again.to_json() == record.to_json()
    lay.state_file.write_text("{torn")
    assert state.load(lay) is None


def test_subprocess_cli_help() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "cli.main", "cluster", "--help"], capture_output=True, text=True
    )
    assert out.returncode == 0
    for command in ("up", "down", "status", "kubeconfig", "build"):
        assert command in out.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["down", "--name", "BAD"], "invalid cluster name 'BAD'"),
        (["kubeconfig", "--name", "BAD"], "invalid cluster name 'BAD'"),
        (["up", "--name", "ok", "--nodes", "21", "--no-build"], "--nodes must be between 0 and 20"),
        (
            ["up", "--name", "ok", "--fake-nodes", "-1", "--no-build"],
            "--fake-nodes must be between 0 and 100",
        ),
        (["load", "--name", "ok", "/nonexistent.tar"], "no local cluster named 'ok'"),
        (["up", "--name", "ok", "--port", "80", "--no-build"], "port 80 is outside 1024-65530"),
        (["status", "--name", "never-started"], "no local cluster named 'never-started'"),
    ],
)
def test_cli_errors_are_one_clear_line(args: list[str], message: str, state_root: Path) -> None:
    out = subprocess.run([sys.executable, "-m", "cli.main", "cluster", *args], capture_output=True, text=True)
    assert out.returncode == 1
    text = " ".join(out.stderr.split())
    assert text.startswith("error: ") and message in text and "Traceback" not in text


def test_list_shows_recorded_clusters_and_their_phase(state_root: Path) -> None:
    def listed() -> list[dict[str, object]]:
        out = subprocess.run(
            [sys.executable, "-m", "cli.main", "cluster", "list", "-o", "json"],
            capture_output=True,
            text=True,
        )
        assert out.returncode == 0, out.stderr
        result: list[dict[str, object]] = json.loads(out.stdout)
        return result

    assert listed() == []
    lay = Layout.for_name("gone")
    record = state.ClusterState("gone", Ports(31000), 1, fake_nodes=2)
    record.record(processes.Started("etcd", 999_999_999, 1, ("etcd",), "/x"))  # no such process
    state.save(lay, record)
    assert [(c["name"], c["phase"], c["realNodes"], c["fakeNodes"]) for c in listed()] == [
        ("gone", "Stopped", 1, 2)
    ]
