"""``up``, ``down`` and ``status`` of a local cluster: files, processes and health, in that order.

``up`` is idempotent: a cluster whose recorded processes are all alive is left alone and reported as
already up; one with only some of them alive has those stopped (by PID) and is started again on the same
data. Before anything starts, every port is checked, so a taken port fails fast with the holder's name and
nothing half-started. ``down`` stops exactly the recorded processes and removes the state directory.
"""

from __future__ import annotations

import shutil
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import yaml

from kube import Api, ApiError, connect
from kube.resources import NODES, SERVICEACCOUNTS
from localcluster import components, fleet, nodeconfig, pki, processes
from localcluster import nodes as nodeshell
from localcluster import state as records
from localcluster.components import Component
from localcluster.errors import (
    ClusterConfigError,
    ClusterNotFoundError,
    ComponentFailedError,
    ImageLoadError,
    PortInUseError,
    ToolsMissingError,
)
from localcluster.layout import (
    DEFAULT_API_PORT,
    DEFAULT_FAKE_NODES,
    DEFAULT_NODES,
    MAX_NODES,
    Layout,
    Ports,
    state_root,
)
from localcluster.nodeconfig import NodeSpec
from localcluster.state import ClusterState
from toolchain import cluster as tools
from toolchain import nodes as node_tools

Progress = Callable[[str], None]
STAGES_FILE = Path(__file__).with_name("kwok-stages.yaml")
CORE = ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok")
NETWORK = (nodeshell.SWITCH, nodeshell.NETPROXY)  # the cluster network of a cluster with real nodes
NODE_PARTS = ("namespaces", "containerd", "kubelet", "kube-proxy")
HEALTH_TIMEOUT = 240.0  # seconds per component; generous because builds may share the CPU


@dataclass
class UpResult:
    already_up: bool
    restarted: list[str] = field(default_factory=list)  # components found not running, if any
    status: dict[str, Any] = field(default_factory=dict)


def _tls(lay: Layout) -> ssl.SSLContext:
    paths = pki.Pki(lay.pki)
    context = ssl.create_default_context(cafile=str(paths.ca_cert))
    context.load_cert_chain(str(paths.client_cert(pki.ADMIN)), str(paths.client_key(pki.ADMIN)))
    return context


def _healthy(client: httpx.Client, url: str) -> bool:
    try:
        return client.get(url, timeout=3.0).status_code == 200
    except httpx.HTTPError:
        return False


def _write_yaml(path: Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(data, sort_keys=False))


def issue_kubeconfig(lay: Layout, ports: Ports, identity: pki.Identity) -> Path:
    """Write (and return) a kubeconfig for ``identity``, issuing its client certificate if needed.

    This is how a Hodegos component running on the host (the webhook, a controller) gets its own user name
    in the API server's audit log and RBAC, instead of borrowing the admin's.
    """
    paths = pki.Pki(lay.pki)
    pki.ensure_client(paths, identity)
    path = lay.kubeconfig_for(identity.file_stem)
    _write_yaml(path, components.kubeconfig(lay.name, components.server_url(ports), paths, identity))
    path.chmod(0o600)
    return path


def _prepare(lay: Layout, ports: Ports) -> None:
    paths = pki.Pki(lay.pki)
    pki.ensure(paths)
    for identity in components.COMPONENT_IDENTITIES:
        issue_kubeconfig(lay, ports, identity)
    admin = components.kubeconfig(lay.name, components.server_url(ports), paths, pki.ADMIN, embed=True)
    _write_yaml(lay.admin_kubeconfig, admin)
    lay.admin_kubeconfig.chmod(0o600)
    _write_yaml(lay.config / "audit-policy.yaml", components.audit_policy())
    _write_yaml(lay.config / "egress-selector.yaml", components.egress_selector(lay))
    (lay.config / "kwok.yaml").write_text(STAGES_FILE.read_text())
    lay.logs.mkdir(parents=True, exist_ok=True)
    lay.etcd_data.mkdir(parents=True, exist_ok=True, mode=0o700)


def _check_ports(parts: list[Component]) -> None:
    names = {port: part.name for part in parts for port in part.ports}
    for port, name in names.items():
        if not processes.port_free(port):
            holder = processes.port_holder(port)
            raise PortInUseError(port, name, processes.describe(holder) if holder else None)


def _wait_healthy(part: Component, proc: processes.Started, client: httpx.Client, say: Progress) -> None:
    deadline = time.monotonic() + HEALTH_TIMEOUT
    log = Path(proc.log)
    while time.monotonic() < deadline:
        processes.reap()
        if not processes.alive(proc):
            raise ComponentFailedError(part.name, "exited during start-up", log, processes.log_tail(log))
        if _healthy(client, part.health):
            return
        time.sleep(0.25)
    raise ComponentFailedError(
        part.name, f"not healthy after {HEALTH_TIMEOUT:.0f}s ({part.health})", log, processes.log_tail(log)
    )


def admin_api(lay: Layout) -> Api:
    """The cluster admin's :class:`kube.Api`."""
    return connect(lay.admin_kubeconfig)


def _ready(node: dict[str, Any]) -> bool:
    return any(
        c.get("type") == "Ready" and c.get("status") == "True"
        for c in (node.get("status") or {}).get("conditions") or []
    )


def _ensure_nodes(lay: Layout, count: int, say: Progress) -> None:
    """The kwok (fake) nodes: ``count`` of them, Ready; then the default ServiceAccount."""
    api = admin_api(lay)
    wanted = components.node_names(lay.name, count)
    listed, _ = api.list(NODES, label_selector=components.NODE_SELECTOR)
    for node in listed:
        if node["metadata"]["name"] not in wanted:
            # Scaling down: the pod GC controller deletes the pods bound to it; their owners make new ones.
            say(f"removing node {node['metadata']['name']}")
            api.delete(NODES, None, node["metadata"]["name"])
    for name in wanted:
        try:
            api.create(NODES, None, components.node(name))
        except ApiError as exc:
            if not exc.conflict:
                raise
    if count:
        say(f"waiting for {count} kwok node(s) to be Ready")
    deadline = time.monotonic() + HEALTH_TIMEOUT
    while time.monotonic() < deadline:
        ready = {node["metadata"]["name"] for node in api.list(NODES)[0] if _ready(node)}
        if set(wanted) <= ready:
            break
        time.sleep(0.5)
    else:
        raise ComponentFailedError(
            "kwok",
            f"nodes {wanted} not Ready after {HEALTH_TIMEOUT:.0f}s",
            lay.log("kwok"),
            processes.log_tail(lay.log("kwok")),
        )
    while time.monotonic() < deadline:
        # The controller-manager's service-account controller makes this; pods cannot be created before.
        if api.get(SERVICEACCOUNTS, "default", "default") is not None:
            return
        time.sleep(0.5)
    raise ComponentFailedError(
        "kube-controller-manager",
        "did not create the default ServiceAccount",
        lay.log("kube-controller-manager"),
        processes.log_tail(lay.log("kube-controller-manager")),
    )


def _real_specs(lay: Layout, count: int) -> list[NodeSpec]:
    return nodeconfig.specs(lay, count)


def _node_parts_alive(current: ClusterState) -> bool:
    for spec in nodeconfig.specs(Layout.for_name(current.name), current.nodes):
        started = current.node_processes(spec.name)
        if len(started) != len(NODE_PARTS) or not all(processes.alive(p) for p in started):
            return False
    return True


def _core_names(real: int) -> tuple[str, ...]:
    return (*NETWORK, *CORE) if real else CORE


def _validate_counts(nodes: int | None, fake_nodes: int | None) -> None:
    if nodes is not None and not 0 <= nodes <= MAX_NODES:
        raise ClusterConfigError(f"--nodes must be between 0 and {MAX_NODES}, got {nodes}")
    if fake_nodes is not None and not 0 <= fake_nodes <= 100:
        raise ClusterConfigError(f"--fake-nodes must be between 0 and 100, got {fake_nodes}")


def _need_binaries(real: int, build: bool, say: Progress) -> dict[str, Path]:
    missing = tools.missing()
    if missing:
        if not build:
            raise ToolsMissingError(missing)
        say("building the pinned control-plane binaries (first run only; this takes a while)")
        tools.build(tools.CONTROL_PLANE, say)
    bins = dict(tools.binaries())
    if real:
        missing = node_tools.missing()
        if missing:
            if not build:
                raise ToolsMissingError(missing)
            say("building the pinned node parts (containerd, runc, CNI, CoreDNS, metrics-server; once)")
            node_tools.build(say)
        bins.update(node_tools.binaries())
    return bins


def up(
    name: str,
    *,
    nodes: int | None = None,
    fake_nodes: int | None = None,
    port: int | None = None,
    build: bool = True,
    progress: Progress | None = None,
) -> UpResult:
    """Bring cluster ``name`` up (or find it up). Raises a :class:`~localcluster.errors.ClusterError`.

    ``nodes`` real nodes (default: as recorded, else 1) and ``fake_nodes`` kwok nodes (default: as
    recorded, else 0) are reconciled on a running cluster too. Going from no real node to some (or back)
    changes the API server's flags and needs ``down`` first.
    """
    say = progress or (lambda _m: None)
    _validate_counts(nodes, fake_nodes)
    lay = Layout.for_name(name)
    with records.locked(lay):
        previous = records.load(lay)
        if previous is not None and port is not None and port != previous.ports.apiserver:
            if any(processes.alive(p) for p in previous.processes):
                raise ClusterConfigError(
                    f"cluster {name!r} is running on port {previous.ports.apiserver}; "
                    f"run `hodegos cluster down --name {name}` before changing it to {port}"
                )
        ports = Ports.validate(
            port if port is not None else previous.ports.apiserver if previous else DEFAULT_API_PORT
        )
        real = nodes if nodes is not None else previous.nodes if previous else DEFAULT_NODES
        fake = (
            fake_nodes if fake_nodes is not None else previous.fake_nodes if previous else DEFAULT_FAKE_NODES
        )
        restarted: list[str] = []
        addons_running: list[processes.Started] = []
        if previous is not None and previous.processes:
            running = any(processes.alive(p) for p in previous.processes if p.component in CORE)
            if running and bool(previous.nodes) != bool(real):
                raise ClusterConfigError(
                    f"cluster {name!r} runs {'real' if previous.nodes else 'only kwok'} nodes; going to "
                    f"{real} real node(s) changes the API server's flags: run `hodegos cluster down --name "
                    f"{name}` first"
                )
            core = [previous.process(c) for c in _core_names(previous.nodes)]
            if all(p is not None and processes.alive(p) for p in core) and _node_parts_alive(previous):
                if fake != previous.fake_nodes:
                    _ensure_nodes(lay, fake, say)
                    previous.fake_nodes = fake
                    records.save(lay, previous)
                if real != previous.nodes:
                    fleet.scale(lay, previous, real, _need_binaries(real, build, say), say)
                return UpResult(already_up=True, status=status(name))
            restarted = [
                c
                for c, p in zip(_core_names(previous.nodes), core, strict=True)
                if p is None or not processes.alive(p)
            ]
            restarted += [
                spec.name
                for spec in _real_specs(lay, previous.nodes)
                if not all(processes.alive(p) for p in previous.node_processes(spec.name))
            ]
            _stop_all(lay, previous, say, keep_addons=True)
            addons_running = [p for p in previous.processes if processes.alive(p)]
        if real:
            nodeshell.require_ready()
        bins = _need_binaries(real, build, say)
        current = ClusterState(name=name, ports=ports, nodes=real, fake_nodes=fake, processes=addons_running)
        parts = components.components(lay, ports, bins, pki.Pki(lay.pki), real_nodes=bool(real))
        _check_ports(parts)
        say(f"preparing certificates and configuration in {lay.root}")
        _prepare(lay, ports)
        records.save(lay, current)
        try:
            if real:
                for proc in nodeshell.start_switch(lay, ports, say):
                    current.record(proc)
                records.save(lay, current)
            with httpx.Client(verify=_tls(lay)) as client:
                for part in parts:
                    say(f"starting {part.name} on 127.0.0.1:{part.port}")
                    proc = processes.spawn(part.name, part.argv, lay.log(part.name))
                    current.record(proc)
                    records.save(lay, current)
                    _wait_healthy(part, proc, client, say)
            _ensure_nodes(lay, fake, say)
            if real:
                specs = _real_specs(lay, real)
                fleet.start_all(lay, current, specs, specs, bins, say)
                fleet.start_addons(lay, say)
        except BaseException:
            # Leave nothing half-running; keep the directory so the logs can be read.
            _stop_all(lay, current, say, keep_addons=False)
            current.processes = []
            records.save(lay, current)
            raise
        say(f"cluster {name!r} is up")
    return UpResult(already_up=False, restarted=restarted, status=status(name))


def _stop_all(lay: Layout, current: ClusterState, say: Progress, *, keep_addons: bool) -> dict[str, str]:
    """Stop what ``current`` records: add-ons (unless kept), real nodes, the control plane, the network."""
    outcome: dict[str, str] = {}
    infra = set(CORE) | set(NETWORK)
    node_names = {spec.name for spec in _real_specs(lay, MAX_NODES)}

    def is_node(proc: processes.Started) -> bool:
        return proc.component.split("/", 1)[0] in node_names

    if not keep_addons:
        for proc in current.processes:
            if proc.component not in infra and not is_node(proc):
                say(f"stopping {proc.component} (pid {proc.pid})")
                outcome[proc.component] = processes.stop(proc)
    recorded_nodes = sorted({p.component.split("/", 1)[0] for p in current.processes if is_node(p)})
    specs = [s for s in _real_specs(lay, MAX_NODES) if s.name in recorded_nodes or s.index <= current.nodes]
    outcome.update(fleet.stop(lay, specs, fleet.recorded(current), say))
    for proc in reversed(current.processes):
        if proc.component in infra:
            say(f"stopping {proc.component} (pid {proc.pid})")
            outcome[proc.component] = processes.stop(proc)
    current.processes = [p for p in current.processes if processes.alive(p)]
    return outcome


def down(name: str, *, keep: bool = False, progress: Progress | None = None) -> dict[str, str]:
    """Stop everything cluster ``name`` started; remove its directory unless ``keep``.

    Returns component -> what happened (``stopped``, ``killed``, ``not running``).
    """
    say = progress or (lambda _m: None)
    lay = Layout.for_name(name)
    if not lay.root.exists():
        raise ClusterNotFoundError(name, lay.root)
    with records.locked(lay):
        current = records.load(lay) or ClusterState(name=name, ports=Ports(DEFAULT_API_PORT), nodes=0)
        outcome = _stop_all(lay, current, say, keep_addons=False)
        if keep:
            current.processes = []
            records.save(lay, current)
        else:
            shutil.rmtree(lay.root, ignore_errors=True)
    return outcome


def load(name: str, archives: list[Path], progress: Progress | None = None) -> dict[str, list[str]]:
    """Import image archives (OCI layout or docker-archive tars) into every real node of ``name``."""
    say = progress or (lambda _m: None)
    lay = Layout.for_name(name)
    current = records.load(lay)
    if current is None:
        raise ClusterNotFoundError(name, lay.root)
    for archive in archives:
        if not archive.is_file():
            raise ImageLoadError(f"{archive}: no such file")
    holders = {
        p.component.split("/", 1)[0]: p.pid
        for p in current.processes
        if p.component.endswith("/namespaces") and processes.alive(p)
    }
    ctr = node_tools.CONTAINERD.path("ctr")
    refs = fleet.load(_real_specs(lay, current.nodes), holders, archives, ctr, say)
    fleet.remember_loaded(lay, archives)
    return refs


def apiserver_get(lay: Layout, ports: Ports, path: str) -> str:
    """GET ``path`` from the API server as the admin (e.g. ``/metrics``); raises ``httpx.HTTPError``."""
    with httpx.Client(verify=_tls(lay)) as client:
        response = client.get(f"{components.server_url(ports)}{path}", timeout=30.0)
        response.raise_for_status()
        return response.text


def names() -> list[str]:
    """Names of the clusters with a state directory under the state root."""
    root = state_root() / "clusters"
    return (
        sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
        if root.is_dir()
        else []
    )


def status(name: str) -> dict[str, Any]:
    """What runs, where, and whether it answers; shaped for ``-o json|yaml``."""
    lay = Layout.for_name(name)
    current = records.load(lay)
    if current is None:
        raise ClusterNotFoundError(name, lay.root)
    bins = tools.binaries()
    parts = {part.name: part for part in components.components(lay, current.ports, bins, pki.Pki(lay.pki))}
    rows: list[dict[str, Any]] = []
    running = 0
    expected = {*_core_names(current.nodes)}
    tls = _tls(lay) if pki.Pki(lay.pki).ca_cert.is_file() else False
    with httpx.Client(verify=tls) as client:
        for component, part in parts.items():
            proc = current.process(component)
            is_alive = bool(proc and processes.alive(proc))
            running += is_alive
            rows.append(
                {
                    "name": component,
                    "pid": proc.pid if proc else None,
                    "port": part.port,
                    "running": is_alive,
                    "healthy": is_alive and _healthy(client, part.health),
                    "log": str(lay.log(component)),
                }
            )
    specs = _real_specs(lay, current.nodes)
    for component in (*NETWORK, *(s.component(part) for s in specs for part in NODE_PARTS)):
        if component not in expected and "/" not in component:
            continue
        proc = current.process(component)
        is_alive = bool(proc and processes.alive(proc))
        running += is_alive
        rows.append(
            {
                "name": component,
                "pid": proc.pid if proc else None,
                "port": None,
                "running": is_alive,
                "healthy": is_alive,
                "log": proc.log if proc else None,
            }
        )
    phase = (
        "Running"
        if running == len(rows) and all(r["healthy"] for r in rows)
        else ("Stopped" if running == 0 else "Degraded")
    )
    shown = {row["name"] for row in rows}
    api: Api | None = None
    if phase != "Stopped" and lay.admin_kubeconfig.is_file():
        api = admin_api(lay)
    node_rows = fleet.node_rows(api, specs, components.node_names(name, current.fake_nodes))
    for proc in current.processes:
        if proc.component not in shown:  # an add-on started for this cluster, e.g. the hosted webhook
            alive = processes.alive(proc)
            port = proc.argv[proc.argv.index("--port") + 1] if "--port" in proc.argv[:-1] else None
            rows.append(
                {
                    "name": proc.component,
                    "pid": proc.pid,
                    "port": int(port) if port and port.isdigit() else None,
                    "running": alive,
                    "healthy": alive,
                    "log": proc.log,
                }
            )
    return {
        "name": name,
        "phase": phase,
        "server": components.server_url(current.ports),
        "kubeconfig": str(lay.admin_kubeconfig),
        "kubernetesVersion": tools.KUBERNETES_VERSION,
        "realNodes": current.nodes,
        "fakeNodes": current.fake_nodes,
        "nodes": node_rows,
        "stateDir": str(lay.root),
        "components": rows,
    }
