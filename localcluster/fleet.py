"""The real nodes of one cluster: bringing each up in order, waiting for Ready, loading images, taking away.

:mod:`localcluster.nodes` has the primitives (namespaces, cgroups, processes); :mod:`localcluster.nodeconfig`
the configuration as data. This module sequences them for ``up``, ``down``, ``load`` and ``status``, and
turns a failure into an error naming the node, the part and its log.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import yaml

from kube import Api, ApiError, connect
from kube.resources import NODES
from localcluster import addons, components, nodeconfig, nodes, pki, processes
from localcluster import state as records
from localcluster.errors import ComponentFailedError, ImageLoadError
from localcluster.layout import Layout, Ports
from localcluster.nodeconfig import NodeSpec
from localcluster.processes import Started
from localcluster.state import ClusterState
from toolchain import images
from toolchain import nodes as node_tools

Progress = Callable[[str], None]
Record = Callable[[Started], None]
NODE_TIMEOUT = 180.0  # seconds for nodes to be Ready and the add-ons available


def _kubeconfig(lay: Layout, ports: Ports, identity: pki.Identity, path: Path) -> Path:
    paths = pki.Pki(lay.pki)
    pki.ensure_client(paths, identity)
    body = components.kubeconfig(lay.name, components.node_server_url(ports), paths, identity)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(body, sort_keys=False))
    path.chmod(0o600)
    return path


def write_node_files(lay: Layout, ports: Ports, spec: NodeSpec, bins: Mapping[str, Path]) -> dict[str, Path]:
    """Certificates, kubeconfigs and config files of ``spec``; returns the kubeconfig paths by part."""
    paths = pki.Pki(lay.pki)
    pki.ensure_kubelet_serving(paths, spec.name, spec.ip)
    kubelet_kc = _kubeconfig(lay, ports, pki.node_identity(spec.name), spec.config / "kubelet.kubeconfig")
    proxy_kc = _kubeconfig(lay, ports, pki.KUBE_PROXY, spec.config / "kube-proxy.kubeconfig")
    serving = (paths.kubelet_cert(spec.name), paths.kubelet_key(spec.name))
    nodes.write_files(
        spec,
        {
            spec.config / "containerd.toml": nodeconfig.containerd_config(spec, bins, node_tools.PAUSE_IMAGE),
            spec.config / "kubelet.yaml": yaml.safe_dump(
                nodeconfig.kubelet_config(spec, paths.ca_cert, serving)
            ),
            spec.config / "kube-proxy.yaml": yaml.safe_dump(nodeconfig.kube_proxy_config(spec, proxy_kc)),
            spec.cni_conf_dir / "10-hodegos.conflist": nodeconfig.to_json(nodeconfig.cni_config(spec)),
        },
    )
    spec.log("kubelet").parent.mkdir(parents=True, exist_ok=True)
    return {"kubelet": kubelet_kc, "kube-proxy": proxy_kc}


def start_node(
    lay: Layout,
    ports: Ports,
    api: Api,
    spec: NodeSpec,
    peers: list[NodeSpec],
    switch_pid: int,
    bins: Mapping[str, Path],
    record: Record,
    say: Progress,
) -> None:
    """Namespaces, containerd (+ the node images), the Node object, kubelet and kube-proxy of ``spec``."""
    say(f"starting node {spec.name} ({spec.ip}, pods {spec.pod_cidr})")
    kubeconfigs = write_node_files(lay, ports, spec, bins)
    nodes.make_cgroups(spec)
    holder = nodes.start_namespaces(spec, switch_pid, peers)
    record(holder)
    path = ":".join(str(bins[b].parent) for b in ("containerd-shim-runc-v2", "runc", "bridge"))
    containerd = nodes.spawn_in(spec, holder.pid, "containerd", nodeconfig.containerd_argv(spec, bins), path)
    record(containerd)
    nodes.wait_containerd(spec, holder.pid, containerd, bins["ctr"])
    for archive in node_tools.images_dir().archives.values():
        nodes.import_archive(spec, holder.pid, bins["ctr"], archive)
    for archive in loaded(lay):
        if archive.is_file():  # loaded earlier with `cluster load`; a file since deleted is skipped
            say(f"loading {archive.name} into {spec.name} (loaded into the cluster earlier)")
            nodes.import_archive(spec, holder.pid, bins["ctr"], archive)
    try:
        api.create(NODES, None, nodeconfig.node_object(spec))
    except ApiError as exc:
        if not exc.conflict:
            raise
    kubelet = nodeconfig.kubelet_argv(spec, bins, kubeconfigs["kubelet"])
    record(nodes.spawn_in(spec, holder.pid, "kubelet", kubelet, path))
    record(nodes.spawn_in(spec, holder.pid, "kube-proxy", nodeconfig.kube_proxy_argv(spec, bins), path))


def loaded(lay: Layout) -> list[Path]:
    try:
        return [Path(p) for p in json.loads(lay.loaded_images.read_text())]
    except (OSError, ValueError, TypeError):
        return []


def remember_loaded(lay: Layout, archives: list[Path]) -> None:
    known = [str(p) for p in loaded(lay)]
    known += [str(a.resolve()) for a in archives if str(a.resolve()) not in known]
    lay.loaded_images.write_text(json.dumps(known, indent=2) + "\n")


def _ready(node: Mapping[str, Any]) -> bool:
    return any(
        c.get("type") == "Ready" and c.get("status") == "True"
        for c in (node.get("status") or {}).get("conditions") or []
    )


def failed_part(spec: NodeSpec, started: list[Started]) -> Started | None:
    """The first recorded process of ``spec`` that is no longer running."""
    for proc in started:
        processes.reap()
        if not processes.alive(proc):
            return proc
    return None


def wait_ready(
    api: Api, specs: list[NodeSpec], started: Callable[[NodeSpec], list[Started]], timeout: float
) -> None:
    """Until every node in ``specs`` is Ready; a node part that exits fails at once with its log tail."""
    deadline = time.monotonic() + timeout
    pending = {spec.name: spec for spec in specs}
    while pending:
        listed = {n["metadata"]["name"]: n for n in api.list(NODES)[0]}
        for name, spec in list(pending.items()):
            dead = failed_part(spec, started(spec))
            if dead is not None:
                log = Path(dead.log)
                raise ComponentFailedError(
                    dead.component, "exited while the node was starting", log, processes.log_tail(log)
                )
            if _ready(listed.get(name, {})):
                del pending[name]
        if not pending:
            return
        if time.monotonic() > deadline:
            spec = next(iter(pending.values()))
            log = spec.log("kubelet")
            raise ComponentFailedError(
                f"{spec.name}/kubelet",
                f"node not Ready after {timeout:.0f}s",
                log,
                processes.log_tail(log, 30),
            )
        time.sleep(0.2)


def stop(
    lay: Layout, specs: list[NodeSpec], started: Callable[[NodeSpec], list[Started]], say: Progress
) -> dict[str, str]:
    outcome: dict[str, str] = {}
    for spec in specs:
        say(f"stopping node {spec.name}")
        outcome.update(nodes.stop_node(spec, started(spec), say))
    return outcome


def load(
    specs: list[NodeSpec], holders: Mapping[str, int], archives: list[Path], ctr: Path, say: Progress
) -> dict[str, list[str]]:
    """Import every archive into every node; returns archive -> image references it carries."""
    if not specs:
        raise ImageLoadError("the cluster has no real nodes to load images into (it runs kwok nodes only)")
    refs: dict[str, list[str]] = {}
    for archive in archives:
        try:
            refs[str(archive)] = images.read_refs(archive)
        except images.ImageError as exc:
            raise ImageLoadError(str(exc)) from exc
        if not refs[str(archive)]:
            raise ImageLoadError(
                f"{archive}: the archive names no image (no io.containerd.image.name or "
                "org.opencontainers.image.ref.name annotation, no RepoTags): nothing could use it"
            )
    for spec in specs:
        pid = holders.get(spec.name)
        if pid is None:
            raise ImageLoadError(
                f"node {spec.name} is not running: run `hodegos cluster up --name {spec.cluster}`"
            )
        for archive in archives:
            say(f"loading {archive.name} into {spec.name}")
            try:
                nodes.import_archive(spec, pid, ctr, archive)
            except ComponentFailedError as exc:
                raise ImageLoadError(str(exc)) from exc
    return refs


def node_rows(api: Api | None, specs: list[NodeSpec], fake: list[str]) -> list[dict[str, Any]]:
    """One row per node for ``status``: name, type, runtime, ready, pods (from the API when it answers)."""
    listed: dict[str, dict[str, Any]] = {}
    pods: dict[str, int] = {}
    if api is not None:
        from kube.resources import PODS

        try:
            listed = {n["metadata"]["name"]: n for n in api.list(NODES)[0]}
            for pod in api.list(PODS)[0]:
                node = (pod.get("spec") or {}).get("nodeName")
                phase = (pod.get("status") or {}).get("phase")
                if node and phase not in ("Succeeded", "Failed"):
                    pods[node] = pods.get(node, 0) + 1
        except Exception:
            listed = {}
    rows: list[dict[str, Any]] = []
    for name, kind, runtime, address in [
        *((s.name, "real", f"containerd {node_tools.CONTAINERD_VERSION}", s.ip) for s in specs),
        *((n, "fake", "kwok", None) for n in fake),
    ]:
        node = listed.get(name, {})
        rows.append(
            {
                "name": name,
                "type": kind,
                "runtime": runtime,
                "address": address,
                "ready": _ready(node) if node else False,
                "registered": bool(node),
                "pods": pods.get(name, 0),
            }
        )
    return rows


# --- sequencing for lifecycle.up -----------------------------------------------------------------


def recorded(current: ClusterState) -> Callable[[NodeSpec], list[processes.Started]]:
    return lambda spec: current.node_processes(spec.name)


def start_all(
    lay: Layout,
    current: ClusterState,
    specs: list[NodeSpec],
    everyone: list[NodeSpec],
    bins: dict[str, Path],
    say: Progress,
) -> None:
    switch = current.process(nodes.SWITCH)
    if switch is None:
        raise ComponentFailedError(nodes.SWITCH, "is not running")
    api = connect(lay.admin_kubeconfig)

    def record(proc: processes.Started) -> None:
        current.record(proc)
        records.save(lay, current)

    for spec in specs:
        start_node(lay, current.ports, api, spec, everyone, switch.pid, bins, record, say)
    for spec in everyone:
        if spec not in specs:
            holder = next(
                (p for p in current.node_processes(spec.name) if p.component.endswith("/namespaces")), None
            )
            if holder is not None:
                nodes.add_peer_routes(holder.pid, spec, everyone)
    say(f"waiting for {len(specs)} real node(s) to be Ready")
    wait_ready(api, specs, recorded(current), NODE_TIMEOUT)


def start_addons(lay: Layout, say: Progress) -> None:
    api = connect(lay.admin_kubeconfig)
    say("starting CoreDNS (kube-dns) and metrics-server in kube-system")
    addons.apply(api, node_tools.COREDNS_IMAGE, node_tools.METRICS_SERVER_IMAGE)

    def late(name: str) -> Exception:
        return ComponentFailedError(
            f"kube-system/{name}",
            f"not available after {NODE_TIMEOUT:.0f}s; see `kubectl -n kube-system describe deploy {name}`",
        )

    addons.wait_available(api, ("coredns", "metrics-server"), NODE_TIMEOUT, late)


def scale(lay: Layout, current: ClusterState, wanted: int, bins: dict[str, Path], say: Progress) -> None:
    everyone = nodeconfig.specs(lay, max(wanted, current.nodes))
    if wanted < current.nodes:
        gone = everyone[wanted:]
        stop(lay, gone, recorded(current), say)
        api = connect(lay.admin_kubeconfig)
        for spec in gone:
            api.delete(NODES, None, spec.name)
            current.processes = [p for p in current.processes if not p.component.startswith(f"{spec.name}/")]
        current.nodes = wanted
        records.save(lay, current)
        return
    added = everyone[current.nodes :]
    current.nodes = wanted
    records.save(lay, current)
    start_all(lay, current, added, everyone, bins, say)
