"""Run a (mutated) pod spec on this machine the way the kubelet would, close enough to test injection.

Given the pod and a map from image name to a local image tree, :class:`PodRunner`:

- gives the pod a name from ``generateName`` (as the API server does after admission), a uid, a node;
- makes one host directory per ``emptyDir`` volume (mode 0777, like the kubelet's);
- runs every init container to completion, in order, then starts the app containers;
- runs each container in its own private mount namespace and pid namespace (``unshare``), with a fresh root
  made of the image tree's files at their in-image paths and the volumes at the container's mount paths
  (see :mod:`tests.e2e_injection.sandbox`), as ``securityContext.runAsUser/runAsGroup``, with
  ``readOnlyRootFilesystem`` honoured;
- gives it exactly the env the spec declares, resolved as the kubelet does (:func:`container_env`):
  ``fieldRef`` from the downward API, ``$(VAR)`` expanded against variables defined earlier, ``$$`` escaped.
  The container runtime adds ``PATH``, ``HOSTNAME`` and ``HOME``, as image defaults would.

What it does not do (not needed by the injection contract): networking namespaces (containers share the
host's loopback; ``status.hostIP`` is the address the OTLP receiver listens on), ConfigMap/Secret volumes and
``envFrom``, probes, resource limits. Unsupported fields raise :class:`UnsupportedPod`; nothing is ignored.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

SANDBOX = Path(__file__).resolve().parent / "sandbox.py"
DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


class UnsupportedPod(ValueError):
    """The pod uses something this runner does not implement."""


class ContainerFailed(RuntimeError):
    """An init container exited non-zero; the message carries its output."""


def expand(text: str, defined: Mapping[str, str]) -> str:
    """Kubernetes ``$(VAR)`` expansion: known names replaced, unknown ones kept verbatim, ``$$`` -> ``$``."""
    out: list[str] = []
    i = 0
    while i < len(text):
        char = text[i]
        if char != "$" or i + 1 >= len(text):
            out.append(char)
            i += 1
            continue
        nxt = text[i + 1]
        if nxt == "$":
            out.append("$")
            i += 2
        elif nxt == "(":
            close = text.find(")", i + 2)
            if close == -1:
                out.append("$(")
                i += 2
                continue
            name = text[i + 2 : close]
            out.append(defined[name] if name in defined else text[i : close + 1])
            i = close + 1
        else:
            out.append("$" + nxt)
            i += 2
    return "".join(out)


@dataclass
class PodIdentity:
    """What the API server and the kubelet fill in after admission."""

    name: str
    namespace: str
    uid: str
    node_name: str
    host_ip: str
    pod_ip: str
    service_account: str = "default"


_LABEL_REF = re.compile(r"^metadata\.(labels|annotations)\['(?P<key>[^']+)'\]$")


def field_ref(pod: Mapping[str, Any], ident: PodIdentity, path: str) -> str:
    simple = {
        "metadata.name": ident.name,
        "metadata.namespace": ident.namespace,
        "metadata.uid": ident.uid,
        "spec.nodeName": ident.node_name,
        "spec.serviceAccountName": ident.service_account,
        "status.hostIP": ident.host_ip,
        "status.hostIPs": ident.host_ip,
        "status.podIP": ident.pod_ip,
        "status.podIPs": ident.pod_ip,
    }
    if path in simple:
        return simple[path]
    match = _LABEL_REF.match(path)
    if match:
        table = (pod.get("metadata") or {}).get(match.group(1)) or {}
        return str(table.get(match.group("key"), ""))
    raise UnsupportedPod(f"fieldRef {path!r} is not supported by the pod runner")


def container_env(pod: Mapping[str, Any], container: Mapping[str, Any], ident: PodIdentity) -> dict[str, str]:
    """The process environment of ``container``: runtime defaults, then the spec's ``env`` in order."""
    if container.get("envFrom"):
        raise UnsupportedPod("envFrom is not supported by the pod runner")
    uid = ((container.get("securityContext") or {}).get("runAsUser")) or 0
    env: dict[str, str] = {"PATH": DEFAULT_PATH, "HOSTNAME": ident.name, "HOME": "/root" if uid == 0 else "/"}
    defined: dict[str, str] = {}
    for entry in container.get("env") or []:
        name = entry["name"]
        if "valueFrom" in entry:
            source = entry["valueFrom"]
            if "fieldRef" not in source:
                raise UnsupportedPod(
                    f"env {name}: only valueFrom.fieldRef is supported, got {sorted(source)}"
                )
            value = field_ref(pod, ident, source["fieldRef"]["fieldPath"])
        else:
            value = expand(str(entry.get("value", "")), defined)
        defined[name] = value  # a later duplicate wins, as in the kubelet
    env.update(defined)
    return env


@dataclass
class Running:
    name: str
    process: subprocess.Popen[bytes]
    log: Path

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""


@dataclass
class PodRunner:
    pod: Mapping[str, Any]
    # image reference -> the image's layers: trees whose entries sit at their in-image paths, later wins
    images: Mapping[str, Sequence[Path]]
    workdir: Path
    host_ip: str = "127.0.0.1"
    node_name: str = "kind-worker-1"
    base_images: frozenset[str] = frozenset()  # images laid over the host system (the apps' images)
    running: list[Running] = field(default_factory=list)

    def __post_init__(self) -> None:
        meta = self.pod.get("metadata") or {}
        name = meta.get("name") or f"{meta.get('generateName', 'pod-')}{uuid.uuid4().hex[:5]}"
        self.identity = PodIdentity(
            name=name,
            namespace=meta.get("namespace") or "default",
            uid=str(uuid.uuid4()),
            node_name=self.pod.get("spec", {}).get("nodeName") or self.node_name,
            host_ip=self.host_ip,
            pod_ip="127.0.0.1",
        )
        self.volumes: dict[str, Path] = {}
        for volume in self.pod["spec"].get("volumes") or []:
            if "emptyDir" not in volume:
                raise UnsupportedPod(f"volume {volume['name']}: only emptyDir is supported")
            path = self.workdir / "volumes" / volume["name"]
            path.mkdir(parents=True)
            path.chmod(0o777)
            self.volumes[volume["name"]] = path

    def _plan(self, container: Mapping[str, Any]) -> dict[str, Any]:
        image = container["image"]
        if image not in self.images:
            raise UnsupportedPod(f"container {container['name']}: no local tree for image {image!r}")
        mounts = []
        for mount in container.get("volumeMounts") or []:
            if mount["name"] not in self.volumes:
                raise UnsupportedPod(
                    f"container {container['name']}: volume {mount['name']!r} is not declared"
                )
            if mount.get("subPath"):
                raise UnsupportedPod("subPath mounts are not supported by the pod runner")
            mounts.append(
                {
                    "source": str(self.volumes[mount["name"]]),
                    "target": mount["mountPath"],
                    "readOnly": bool(mount.get("readOnly")),
                }
            )
        context = container.get("securityContext") or {}
        pod_context = self.pod["spec"].get("securityContext") or {}
        env = container_env(self.pod, container, self.identity)
        argv = [expand(a, env) for a in [*(container.get("command") or []), *(container.get("args") or [])]]
        if not argv:
            raise UnsupportedPod(f"container {container['name']}: the runner needs an explicit command")
        newroot = Path(tempfile.mkdtemp(prefix=f"root-{container['name']}-", dir=self.workdir))
        return {
            "newroot": str(newroot),
            "images": [str(layer) for layer in self.images[image]],
            "base": image in self.base_images,
            "mounts": mounts,
            "readOnlyRoot": bool(context.get("readOnlyRootFilesystem")),
            "uid": context.get("runAsUser", pod_context.get("runAsUser")),
            "gid": context.get("runAsGroup", pod_context.get("runAsGroup")),
            "workingDir": container.get("workingDir") or "/",
            "argv": argv,
            "env": env,
        }

    def _spawn(self, container: Mapping[str, Any]) -> Running:
        plan = self._plan(container)
        plan_file = self.workdir / f"{container['name']}.plan.json"
        plan_file.write_text(json.dumps(plan, indent=2))
        log = self.workdir / f"{container['name']}.log"
        command = [
            "unshare", "--mount", "--propagation", "private",
            "--pid", "--fork", "--kill-child", "--mount-proc",
            sys.executable, str(SANDBOX), str(plan_file),
        ]  # fmt: skip
        with log.open("wb") as out:
            process = subprocess.Popen(
                command, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
            )
        return Running(container["name"], process, log)

    def env_of(self, container_name: str) -> dict[str, str]:
        for container in self.pod["spec"].get("containers") or []:
            if container["name"] == container_name:
                return container_env(self.pod, container, self.identity)
        raise KeyError(container_name)

    def run_init_containers(self, timeout: float = 120) -> list[Running]:
        done = []
        for container in self.pod["spec"].get("initContainers") or []:
            run = self._spawn(container)
            code = run.process.wait(timeout=timeout)
            if code != 0:
                raise ContainerFailed(f"init container {run.name} exited {code}:\n{run.output()[-3000:]}")
            done.append(run)
        return done

    def start(self, container_name: str) -> Running:
        for container in self.pod["spec"].get("containers") or []:
            if container["name"] == container_name:
                run = self._spawn(container)
                self.running.append(run)
                return run
        raise KeyError(container_name)

    def volume(self, name: str) -> Path:
        return self.volumes[name]

    def stop(self) -> None:
        for run in self.running:
            if run.process.poll() is None:
                run.process.terminate()  # unshare dies; --kill-child takes the container's pid 1 with it
                try:
                    run.process.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    run.process.kill()
                    run.process.wait()
        self.running.clear()


def have_unshare() -> bool:
    return os.geteuid() == 0 and subprocess.run(["which", "unshare"], capture_output=True).returncode == 0
