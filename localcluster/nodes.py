"""Real nodes: namespaces made by Hodegos, containerd + kubelet + kube-proxy inside, and taking it all away.

The cluster network (all of it inside namespaces this module creates; the machine's own addresses, routes,
firewall, sysctls and mounts are never touched):

- the **switch**: a network namespace held by a ``sleep`` process, with a bridge ``br0`` holding the API
  server's advertised address (:data:`~localcluster.layout.GATEWAY_IP`), a route to each node's pod CIDR,
  and :mod:`localcluster.netproxy` listening on it;
- a **node**: mount + network + UTS namespaces held by a ``sleep`` process; a veth pair (``eth0`` in the
  node, ``n<i>`` on the switch's bridge); its own ``/run`` (tmpfs), ``/var/lib`` and ``/var/log`` (bind
  mounts of its state directory), the kernel values kubelet wants bound read-only over ``/proc/sys``;
  containerd, kubelet and kube-proxy are started in it with ``nsenter``. Pods live under the cgroup
  ``hodegos/<cluster>/<node>`` of each v1 controller.

Taking a node away: its processes are stopped by PID, then every process still in the node's mount
namespace or cgroups (containers, shims) is killed, so the namespaces vanish with their mounts, veths and
nftables rules, and the cgroups are removed.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path

from localcluster import layout, nodeconfig, processes
from localcluster.errors import ComponentFailedError, NodePreflightError
from localcluster.layout import Layout, Ports
from localcluster.nodeconfig import NodeSpec
from localcluster.processes import Started

Progress = Callable[[str], None]
CGROUP_ROOT = Path("/sys/fs/cgroup")
SWITCH = "switch"
NETPROXY = "netproxy"
SLEEP = shutil.which("sleep") or "/bin/sleep"
PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def _run(
    argv: list[str], what: str, *, log: Path | None = None, stdin: int | None = None, timeout: float = 60.0
) -> str:
    try:
        done = subprocess.run(
            argv,
            capture_output=True,
            text=True,
            stdin=stdin,
            timeout=timeout,
            check=False,
            env={"PATH": PATH},
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise ComponentFailedError(what, f"could not run `{' '.join(argv[:6])}`: {exc}", log) from exc
    if done.returncode != 0:
        out = (done.stdout + done.stderr).strip()
        raise ComponentFailedError(what, f"`{' '.join(argv)}` exited {done.returncode}: {out[-1500:]}", log)
    return done.stdout


def nsenter(pid: int, *, mount: bool = True, net: bool = True, uts: bool = True) -> list[str]:
    flags = ["--mount"] * mount + ["--net"] * net + ["--uts"] * uts
    return ["nsenter", f"--target={pid}", *flags, "--"]


def holder(component: str, log: Path, *, mount: bool) -> Started:
    """A ``sleep`` process in fresh namespaces: they live exactly as long as something is inside."""
    flags = ["--net", "--uts"] + (["--mount", "--propagation", "private"] if mount else [])
    proc = processes.spawn(component, ["unshare", *flags, "--", SLEEP, "infinity"], log, env={"PATH": PATH})
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError):
            if os.readlink(f"/proc/{proc.pid}/ns/net") != os.readlink("/proc/self/ns/net"):
                if mount:
                    # Private from the host first (nothing mounted in the node reaches the machine), then
                    # shared within the node, as on a systemd host: kubelet's mountPropagation
                    # (HostToContainer, Bidirectional) needs a shared or slave root.
                    _run([*nsenter(proc.pid, net=False, uts=False), "mount", "--make-rshared", "/"],
                         component, log=log)  # fmt: skip
                return proc
        if not processes.alive(proc):
            break
        time.sleep(0.02)
    raise ComponentFailedError(component, "could not create its namespaces", log, processes.log_tail(log))


def namespace_ids(pid: int) -> dict[str, str]:
    return {kind: os.readlink(f"/proc/{pid}/ns/{kind}") for kind in ("mnt", "net")}


# --- preflight -------------------------------------------------------------------------------------


def preflight() -> list[str]:
    """What this machine lacks for real nodes (empty: nothing), checked without changing anything."""
    problems: list[str] = []
    if os.geteuid() != 0:
        problems.append("real nodes need root (namespaces, mounts, cgroups): run as root or use --fake-nodes")
        return problems
    for tool in ("unshare", "nsenter", "ip", "nft", "mount"):
        if shutil.which(tool, path=PATH) is None:
            problems.append(f"`{tool}` is not installed (Debian: util-linux, iproute2, nftables; make setup)")
    filesystems = Path("/proc/filesystems").read_text() if Path("/proc/filesystems").exists() else ""
    if "overlay" not in filesystems:
        problems.append("the kernel has no overlay filesystem (containerd's overlayfs snapshotter needs it)")
    for controller in ("memory", "cpu", "pids"):
        if not (CGROUP_ROOT / controller).is_dir() and not (CGROUP_ROOT / "cgroup.controllers").exists():
            problems.append(f"no cgroup controller {controller!r} under {CGROUP_ROOT}")
    if not problems:
        try:
            # A throw-away network namespace: veth and nftables must work there (nothing on the host changes).
            probe = subprocess.run(
                [
                    "unshare",
                    "--net",
                    "sh",
                    "-c",
                    "ip link add name hp0 type veth peer name hp1 && nft add table inet hodegos_probe "
                    "&& nft list tables",
                ],
                capture_output=True,
                text=True,
                timeout=20,
                env={"PATH": PATH},
            )
            if probe.returncode != 0:
                problems.append(
                    f"network namespaces, veth or nftables do not work here: {probe.stderr.strip()}"
                )
        except (OSError, subprocess.TimeoutExpired) as exc:
            problems.append(f"could not probe network namespaces: {exc}")
    return problems


def require_ready() -> None:
    problems = preflight()
    if problems:
        raise NodePreflightError(problems)


# --- the switch ------------------------------------------------------------------------------------


def start_switch(lay: Layout, ports: Ports, say: Progress) -> list[Started]:
    """The switch namespace with its bridge, and the netproxy that joins it to the host's loopback."""
    say(f"creating the cluster network (switch namespace, bridge br0 with {layout.GATEWAY_IP})")
    log = lay.log(SWITCH)
    switch = holder(SWITCH, log, mount=False)
    script = "\n".join(
        [
            "set -eu",
            "ip link set lo up",
            "ip link add br0 type bridge",
            f"ip addr add {layout.GATEWAY_IP}/{layout.SWITCH_MASK} dev br0",
            "ip link set br0 up",
        ]
    )
    try:
        _run([*nsenter(switch.pid, mount=False), "sh", "-c", script], "cluster network", log=log)
        argv = [
            sys.executable,
            "-m",
            "localcluster.netproxy",
            f"--netns-pid={switch.pid}",
            f"--listen={layout.GATEWAY_IP}:{ports.apiserver}",
            f"--upstream={layout.HOST}:{ports.apiserver}",
            f"--egress-socket={lay.egress_socket}",
        ]
        proxy = processes.spawn(NETPROXY, argv, lay.log(NETPROXY))
    except BaseException:
        processes.stop(switch, grace=1)
        raise
    deadline = time.monotonic() + 20
    while not lay.egress_socket.exists():
        processes.reap()
        if not processes.alive(proxy) or time.monotonic() > deadline:
            processes.stop(proxy, grace=1)
            processes.stop(switch, grace=1)
            log_path = lay.log(NETPROXY)
            raise ComponentFailedError(NETPROXY, "did not start", log_path, processes.log_tail(log_path))
        time.sleep(0.05)
    return [switch, proxy]


# --- cgroups ---------------------------------------------------------------------------------------


def _hierarchies() -> list[Path]:
    """Each mounted cgroup hierarchy once (``cpu`` and ``cpuacct`` may be one, behind symlinks)."""
    seen: set[Path] = set()
    found: list[Path] = []
    if not CGROUP_ROOT.is_dir():
        return found
    for entry in sorted(CGROUP_ROOT.iterdir()):
        real = entry.resolve()
        if real in seen or not (real / "cgroup.procs").exists():
            continue
        seen.add(real)
        found.append(real)
    return found


def make_cgroups(spec: NodeSpec) -> None:
    for hierarchy in _hierarchies():
        path = hierarchy
        for part in spec.cgroup.strip("/").split("/"):
            parent, path = path, path / part
            if not path.exists():
                path.mkdir()
                # cgroup v1 cpuset: a new group starts with no CPUs or memory nodes; give it its parent's.
                for knob in ("cpuset.cpus", "cpuset.mems"):
                    if (path / knob).exists():
                        (path / knob).write_text((parent / knob).read_text())


def _cgroup_dirs(spec: NodeSpec) -> list[Path]:
    found: list[Path] = []
    for hierarchy in _hierarchies():
        top = hierarchy / spec.cgroup.strip("/")
        # Bottom-up, and tolerant of groups vanishing under us (kubelet and runc remove theirs too).
        found += [Path(root) for root, _dirs, _files in os.walk(top, topdown=False, onerror=lambda _e: None)]
    return found


def _cgroup_pids(spec: NodeSpec) -> set[int]:
    pids: set[int] = set()
    for directory in _cgroup_dirs(spec):
        with contextlib.suppress(OSError):
            pids |= {int(line) for line in (directory / "cgroup.procs").read_text().split()}
    return pids


def remove_cgroups(spec: NodeSpec) -> None:
    """Remove the node's cgroups (deepest first), then the cluster's and ``hodegos`` parents if empty."""
    for directory in _cgroup_dirs(spec):
        with contextlib.suppress(OSError):
            directory.rmdir()
    for hierarchy in _hierarchies():
        for parent in (f"{nodeconfig.CGROUP_PARENT}/{spec.cluster}", nodeconfig.CGROUP_PARENT):
            with contextlib.suppress(OSError):
                (hierarchy / parent).rmdir()


# --- one node --------------------------------------------------------------------------------------


def _namespace_file(spec: NodeSpec) -> Path:
    return spec.directory / "namespaces.json"


def _pids_in(ids: Mapping[str, str]) -> set[int]:
    pids: set[int] = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        for kind, value in ids.items():
            with contextlib.suppress(OSError):
                if os.readlink(entry / "ns" / kind) == value:
                    pids.add(int(entry.name))
                    break
    return pids


def sweep(spec: NodeSpec, keep: Iterable[int] = ()) -> int:
    """SIGKILL whatever is still inside the node (its namespaces, its cgroups); return how many."""
    ids: dict[str, str] = {}
    with contextlib.suppress(OSError, ValueError):
        ids = json.loads(_namespace_file(spec).read_text())
    kept = set(keep)
    killed = 0
    for _ in range(50):
        pids = (_pids_in(ids) | _cgroup_pids(spec)) - kept
        if not pids:
            break
        for pid in pids:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
                killed += 1
        processes.reap()
        time.sleep(0.1)
    return killed


def write_files(spec: NodeSpec, files: Mapping[Path, str]) -> None:
    for path, text in files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def start_namespaces(spec: NodeSpec, switch_pid: int, peers: list[NodeSpec]) -> Started:
    """The node's namespaces, private mounts, veth to the switch, addresses and routes."""
    log = spec.log("namespaces")
    node = holder(spec.component("namespaces"), log, mount=True)
    try:
        _namespace_file(spec).write_text(json.dumps(namespace_ids(node.pid)) + "\n")
        read = {}
        for path in nodeconfig.KUBELET_SYSCTLS:
            with contextlib.suppress(OSError):
                read[path] = Path("/proc/sys", path).read_text()
        setup = nodeconfig.setup_script(spec, nodeconfig.sysctl_overrides(read))
        _run([*nsenter(node.pid, net=False), "sh", "-c", setup], f"{spec.name}/namespaces (mounts)", log=log)
        veth = f"n{spec.index}"
        switch = nsenter(switch_pid, mount=False)
        _run([*switch, "ip", "link", "del", veth], "cluster network") if _link_exists(
            switch_pid, veth
        ) else None
        _run(
            [
                *switch,
                "ip",
                "link",
                "add",
                veth,
                "type",
                "veth",
                "peer",
                "name",
                "eth0",
                "netns",
                str(node.pid),
            ],
            f"{spec.name}/namespaces (network)",
            log=log,
        )
        _run(
            [*switch, "ip", "link", "set", veth, "master", "br0", "up"],
            f"{spec.name}/namespaces (network)",
            log=log,
        )
        _run(
            [*nsenter(node.pid, mount=False), "sh", "-c", nodeconfig.network_script(spec, peers)],
            f"{spec.name}/namespaces (network)",
            log=log,
        )
        _run(
            [*switch, "ip", "route", "replace", spec.pod_cidr, "via", spec.ip],
            f"{spec.name}/namespaces (network)",
            log=log,
        )
    except BaseException:
        processes.stop(node, grace=1)
        raise
    return node


def _link_exists(pid: int, name: str) -> bool:
    done = subprocess.run(
        [*nsenter(pid, mount=False), "ip", "link", "show", name], capture_output=True, env={"PATH": PATH}
    )
    return done.returncode == 0


def add_peer_routes(holder_pid: int, spec: NodeSpec, peers: list[NodeSpec]) -> None:
    """Routes on an existing node to nodes added later (``ip route replace``: idempotent)."""
    for peer in peers:
        if peer.index != spec.index:
            _run(
                [*nsenter(holder_pid, mount=False), "ip", "route", "replace", peer.pod_cidr, "via", peer.ip],
                f"{spec.name}/namespaces (network)",
            )


def spawn_in(spec: NodeSpec, holder_pid: int, part: str, argv: list[str], path: str) -> Started:
    return processes.spawn(
        spec.component(part), [*nsenter(holder_pid), *argv], spec.log(part), env={"PATH": f"{path}:{PATH}"}
    )


def ctr(holder_pid: int, ctr_bin: Path, *args: str) -> list[str]:
    return [
        *nsenter(holder_pid),
        str(ctr_bin),
        f"--address={nodeconfig.CONTAINERD_SOCKET}",
        "-n",
        "k8s.io",
        *args,
    ]


def wait_containerd(
    spec: NodeSpec, holder_pid: int, proc: Started, ctr_bin: Path, timeout: float = 60
) -> None:
    deadline = time.monotonic() + timeout
    log = spec.log("containerd")
    while time.monotonic() < deadline:
        processes.reap()
        if not processes.alive(proc):
            raise ComponentFailedError(
                f"{spec.name}/containerd", "exited during start-up", log, processes.log_tail(log)
            )
        done = subprocess.run(ctr(holder_pid, ctr_bin, "version"), capture_output=True, env={"PATH": PATH})
        if done.returncode == 0:
            return
        time.sleep(0.1)
    raise ComponentFailedError(
        f"{spec.name}/containerd", f"not serving after {timeout:.0f}s", log, processes.log_tail(log)
    )


def import_archive(spec: NodeSpec, holder_pid: int, ctr_bin: Path, archive: Path) -> str:
    """``ctr images import`` of one archive, read from stdin (the node's /var and /run are its own)."""
    with archive.open("rb") as stream:
        return _run(
            ctr(holder_pid, ctr_bin, "images", "import", "--platform", "linux/amd64", "-"),
            f"{spec.name} image import of {archive}",
            stdin=stream.fileno(),
            log=spec.log("containerd"),
            timeout=600,
        )


def stop_node(spec: NodeSpec, started: list[Started], say: Progress) -> dict[str, str]:
    """Stop a node's processes (kubelet first), kill what is left inside it, remove its cgroups."""
    outcome: dict[str, str] = {}
    order = ("kubelet", "kube-proxy", "containerd", "namespaces")
    by_part = {proc.component.rsplit("/", 1)[-1]: proc for proc in started}
    for part in order[:2]:
        if part in by_part:
            outcome[by_part[part].component] = processes.stop(by_part[part], grace=5)
    holder_proc = by_part.get("namespaces")
    keep = [holder_proc.pid] if holder_proc and processes.alive(holder_proc) else []
    killed = sweep(spec, keep=keep + ([by_part["containerd"].pid] if "containerd" in by_part else []))
    if killed:
        say(f"{spec.name}: killed {killed} container process(es)")
    for part in order[2:]:
        if part in by_part:
            outcome[by_part[part].component] = processes.stop(by_part[part], grace=5)
    sweep(spec)
    remove_cgroups(spec)
    return outcome
