"""The pinned parts of a real node and the images every node starts with.

Binaries (Go module pins under ``toolchain/pins/<name>/``, built by :mod:`toolchain.cache`): containerd
(+ ``ctr`` and the runc v2 shim), runc (cgo, against Debian's ``libseccomp-dev``, linked static-pie), the
CNI reference plugins, CoreDNS and metrics-server. kubelet and kube-proxy come from the Kubernetes pin in
:mod:`toolchain.cluster`, so the node and the control plane are one release.

Images (:mod:`toolchain.images`, cached under ``<cache>/node-images-<digest>/``): the pause image from the
``pause.c`` inside the ``k8s.io/kubernetes`` module (``gcc -static``), CoreDNS, metrics-server and a busybox
base from Debian's ``busybox-static``; the digest covers the binaries' cache directories and this module's
image recipe, so a rebuilt binary gives a new image and an unchanged one is never re-packed.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from toolchain import cluster, images
from toolchain.cache import (
    GoTool,
    Progress,
    ToolBuildError,
    cache_root,
    ensure,
    file_lock,
    go_binary,
    run_logged,
)

CONTAINERD_VERSION = "v2.4.2"
RUNC_VERSION = "v1.5.3"
CNI_PLUGINS_VERSION = "v1.10.0"
COREDNS_VERSION = "v1.14.7"
METRICS_SERVER_VERSION = "v0.9.0"
BUSYBOX = Path("/bin/busybox")  # Debian's busybox-static (.ci/apt/agents.txt)

CONTAINERD = GoTool(
    name="containerd",
    version=CONTAINERD_VERSION,
    binaries={
        "containerd": "github.com/containerd/containerd/v2/cmd/containerd",
        "ctr": "github.com/containerd/containerd/v2/cmd/ctr",
        "containerd-shim-runc-v2": "github.com/containerd/containerd/v2/cmd/containerd-shim-runc-v2",
    },
    tags="no_btrfs,no_devmapper,no_zfs,urfave_cli_no_docs",
    ldflags=f"-s -w -X github.com/containerd/containerd/v2/version.Version={CONTAINERD_VERSION}",
)
# runc's nsenter is C: cgo, seccomp from Debian, and a static PIE so the binary does not depend on the
# node's libraries. The default `libpathrs` tag needs a Rust library Debian 12 does not ship: left out.
RUNC = GoTool(
    name="runc",
    version=RUNC_VERSION,
    binaries={"runc": "github.com/opencontainers/runc"},
    env={"CGO_ENABLED": "1"},
    tags="seccomp netgo osusergo",
    buildflags=("-buildmode=pie",),
    ldflags=(f"-s -w -X main.version={RUNC_VERSION.lstrip('v')} -linkmode external -extldflags -static-pie"),
)
CNI_PLUGINS = GoTool(
    name="cni-plugins",
    version=CNI_PLUGINS_VERSION,
    binaries={
        name: f"github.com/containernetworking/plugins/plugins/{kind}/{name}"
        for kind, name in (
            ("main", "bridge"),
            ("main", "ptp"),
            ("ipam", "host-local"),
            ("main", "loopback"),
            ("meta", "portmap"),
        )
    },
    ldflags=(
        "-s -w -X github.com/containernetworking/plugins/pkg/utils/buildversion.BuildVersion="
        f"{CNI_PLUGINS_VERSION}"
    ),
)
COREDNS = GoTool(
    name="coredns",
    version=COREDNS_VERSION,
    binaries={"coredns": "github.com/coredns/coredns"},
)
METRICS_SERVER = GoTool(
    name="metrics-server",
    version=METRICS_SERVER_VERSION,
    binaries={"metrics-server": "sigs.k8s.io/metrics-server/cmd/metrics-server"},
    ldflags=f"-s -w -X sigs.k8s.io/metrics-server/pkg/version.gitVersion={METRICS_SERVER_VERSION}",
)

#: Binaries a real node runs, smallest build first (a failure shows early).
NODE_TOOLS: tuple[GoTool, ...] = (CNI_PLUGINS, RUNC, CONTAINERD)
#: Binaries packed into the images every cluster with real nodes runs.
ADDON_TOOLS: tuple[GoTool, ...] = (COREDNS, METRICS_SERVER)

PAUSE_IMAGE = f"localhost/hodegos/pause:{cluster.KUBERNETES_VERSION}"
COREDNS_IMAGE = f"localhost/hodegos/coredns:{COREDNS_VERSION}"
METRICS_SERVER_IMAGE = f"localhost/hodegos/metrics-server:{METRICS_SERVER_VERSION}"
BUSYBOX_IMAGE = "localhost/hodegos/busybox:latest"
IMAGE_RECIPE = "3"  # bump when the image layout below changes


@dataclass(frozen=True)
class NodeImages:
    """The image archives a node imports at start, by reference."""

    directory: Path

    @property
    def archives(self) -> dict[str, Path]:
        return {
            PAUSE_IMAGE: self.directory / "pause.tar",
            COREDNS_IMAGE: self.directory / "coredns.tar",
            METRICS_SERVER_IMAGE: self.directory / "metrics-server.tar",
            BUSYBOX_IMAGE: self.directory / "busybox.tar",
        }

    def is_built(self) -> bool:
        return (self.directory / "images.json").is_file()


def images_dir() -> NodeImages:
    import hashlib

    h = hashlib.sha256(IMAGE_RECIPE.encode())
    for tool in (*ADDON_TOOLS, cluster.KUBERNETES):
        h.update(tool.directory.name.encode())
    h.update(str(BUSYBOX.stat().st_size if BUSYBOX.exists() else 0).encode())
    return NodeImages(cache_root() / f"node-images-{h.hexdigest()[:12]}")


def binaries() -> dict[str, Path]:
    """Binary name -> cached path of everything a node runs (built or not)."""
    found = {name: tool.path(name) for tool in NODE_TOOLS for name in tool.binaries}
    found["kubelet"] = cluster.KUBERNETES.path("kubelet")
    found["kube-proxy"] = cluster.KUBERNETES.path("kube-proxy")
    return found


def missing() -> list[str]:
    """What a real node needs that is not built yet (binaries, then the image set)."""
    absent = [name for name, path in binaries().items() if not path.is_file()]
    absent += [name for tool in ADDON_TOOLS for name in tool.binaries if not tool.path(name).is_file()]
    if not absent and not images_dir().is_built():
        absent.append("node images")
    return absent


def _pause_source(log: Path) -> Path:
    """``build/pause/linux/pause.c`` of the pinned ``k8s.io/kubernetes`` module (downloaded if needed)."""
    env = {**os.environ, "GOFLAGS": "-mod=mod"}
    with tempfile.TemporaryDirectory(prefix="hodegos-pause-") as tmp:
        shutil.copytree(cluster.KUBERNETES.manifest_dir, tmp, dirs_exist_ok=True)
        run_logged([go_binary(), "mod", "download", "k8s.io/kubernetes"], cwd=Path(tmp), env=env, log=log)
        done = subprocess.run(
            [go_binary(), "list", "-m", "-json", "k8s.io/kubernetes"],
            cwd=tmp,
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
    if done.returncode != 0:
        raise ToolBuildError(f"`go list -m k8s.io/kubernetes` failed: {done.stderr[-2000:]}")
    source = Path(json.loads(done.stdout)["Dir"]) / "build" / "pause" / "linux" / "pause.c"
    if not source.is_file():
        raise ToolBuildError(f"pause.c not found in the k8s.io/kubernetes module ({source})")
    return source


def _busybox_entries() -> list[images.Entry]:
    if not BUSYBOX.is_file():
        raise ToolBuildError(f"{BUSYBOX} is missing: install Debian's busybox-static (make setup)")
    listed = subprocess.run([str(BUSYBOX), "--list-full"], capture_output=True, text=True, check=True).stdout
    entries = [images.Entry("bin/busybox", 0o755, source=BUSYBOX)]
    for applet in sorted(set(listed.split())):
        if applet != "bin/busybox":
            entries.append(images.Entry(applet, link="/bin/busybox"))
    for directory in ("tmp", "proc", "sys", "dev", "etc", "root", "var"):
        entries.append(images.Entry(directory, 0o1777 if directory == "tmp" else 0o755, directory=True))
    entries.append(
        images.Entry(
            "etc/passwd", data=b"root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534::/:/bin/false\n"
        )
    )
    entries.append(images.Entry("etc/group", data=b"root:x:0:\nnobody:x:65534:\n"))
    return entries


def busybox_layer() -> list[images.Entry]:
    """The busybox base layer (Debian's static busybox and its applet links), for images built on it."""
    return _busybox_entries()


def build_images(progress: Progress | None = None) -> NodeImages:
    """Build the pause, CoreDNS, metrics-server and busybox image archives unless cached."""
    say = progress or (lambda _msg: None)
    target = images_dir()
    if target.is_built():
        return target
    with file_lock(cache_root() / ".node-images.lock"):
        if target.is_built():
            return target
        target.directory.mkdir(parents=True, exist_ok=True)
        log = target.directory / "build.log"
        say("building the pause binary from the Kubernetes module's pause.c")
        pause = target.directory / "pause"
        source = _pause_source(log)
        run_logged(
            [
                "gcc",
                "-Os",
                "-static",
                "-Wall",
                f"-DVERSION={cluster.KUBERNETES_VERSION}",
                "-o",
                str(pause),
                str(source),
            ],
            cwd=target.directory,
            env=dict(os.environ),
            log=log,
        )
        run_logged(["strip", str(pause)], cwd=target.directory, env=dict(os.environ), log=log)
        recipes: Mapping[str, images.Image] = {
            PAUSE_IMAGE: images.binary_image(
                PAUSE_IMAGE, {"/pause": pause}, entrypoint=["/pause"], user="65535:65535"
            ),
            COREDNS_IMAGE: images.binary_image(
                COREDNS_IMAGE, {"/coredns": COREDNS.path("coredns")}, entrypoint=["/coredns"]
            ),
            METRICS_SERVER_IMAGE: images.binary_image(
                METRICS_SERVER_IMAGE,
                {"/metrics-server": METRICS_SERVER.path("metrics-server")},
                entrypoint=["/metrics-server"],
                user="65534:65534",
            ),
            BUSYBOX_IMAGE: images.Image(BUSYBOX_IMAGE, layers=[_busybox_entries()], cmd=["sh"]),
        }
        digests = {}
        for ref, image in recipes.items():
            say(f"writing image {ref}")
            digests[ref] = images.write_archive(image, target.archives[ref])
        (target.directory / "images.json").write_text(json.dumps(digests, indent=2) + "\n")
    return target


def build(progress: Progress | None = None) -> dict[str, Path]:
    """Build every node part that is not cached: binaries, then the image archives."""
    found: dict[str, Path] = {}
    for tool in (*NODE_TOOLS, *ADDON_TOOLS):
        found.update(ensure(tool, progress))
    cluster.build((cluster.KUBERNETES,), progress)
    found.update(binaries())
    built = build_images(progress)
    found.update({ref.rsplit("/", 1)[-1]: path for ref, path in built.archives.items()})
    return found
