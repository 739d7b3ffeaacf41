"""The pinned upstream tools of the local control plane, built from the Go module proxy.

Each pin is a Go module of ours in ``toolchain/pins/<name>/`` (see :mod:`toolchain.cache`); its binaries
get the same version stamp a release build gets, so ``kubectl version`` and the API server's
``/version`` say v1.37.2 rather than a development placeholder.
"""

from __future__ import annotations

from pathlib import Path

from toolchain.cache import GoTool, Progress, ensure

KUBERNETES_VERSION = "v1.37.2"
ETCD_VERSION = "v3.6.16"
KWOK_VERSION = "v0.8.0"
HELM_VERSION = "v4.3.1"


def _kube_ldflags(version: str) -> str:
    major, minor = version.lstrip("v").split(".")[:2]
    stamps = {
        "gitVersion": version,
        "gitMajor": major,
        "gitMinor": minor,
        "gitTreeState": "clean",
        "buildDate": "1970-01-01T00:00:00Z",  # reproducible: the digest, not the clock, names a build
    }
    flags = ["-s", "-w"]
    for package in ("k8s.io/component-base/version", "k8s.io/client-go/pkg/version"):
        flags += [f"-X {package}.{key}={value}" for key, value in stamps.items()]
    return " ".join(flags)


KUBERNETES = GoTool(
    name="kubernetes",
    version=KUBERNETES_VERSION,
    binaries={
        "kube-apiserver": "k8s.io/kubernetes/cmd/kube-apiserver",
        "kube-controller-manager": "k8s.io/kubernetes/cmd/kube-controller-manager",
        "kube-scheduler": "k8s.io/kubernetes/cmd/kube-scheduler",
        "kubectl": "k8s.io/kubernetes/cmd/kubectl",
        # The node's own: the same release as the control plane (see toolchain.nodes for the rest).
        "kubelet": "k8s.io/kubernetes/cmd/kubelet",
        "kube-proxy": "k8s.io/kubernetes/cmd/kube-proxy",
    },
    ldflags=_kube_ldflags(KUBERNETES_VERSION),
)
ETCD = GoTool(name="etcd", version=ETCD_VERSION, binaries={"etcd": "go.etcd.io/etcd/server/v3"})
KWOK = GoTool(
    name="kwok",
    version=KWOK_VERSION,
    binaries={"kwok": "sigs.k8s.io/kwok/cmd/kwok"},
    ldflags=f"-s -w -X sigs.k8s.io/kwok/pkg/consts.Version={KWOK_VERSION.lstrip('v')}",
)
HELM = GoTool(
    name="helm",
    version=HELM_VERSION,
    binaries={"helm": "helm.sh/helm/v4/cmd/helm"},
    ldflags=f"-s -w -X helm.sh/helm/v4/internal/version.version={HELM_VERSION}",
)

#: What ``hodegos cluster up`` needs, in build order (smallest first, so a failure shows early).
CONTROL_PLANE: tuple[GoTool, ...] = (ETCD, KWOK, KUBERNETES)
#: Everything ``hodegos cluster build`` builds.
ALL: tuple[GoTool, ...] = (*CONTROL_PLANE, HELM)


def binaries(tools: tuple[GoTool, ...] = CONTROL_PLANE) -> dict[str, Path]:
    """Binary name -> cached path for ``tools`` (whether or not it is built yet)."""
    return {name: tool.path(name) for tool in tools for name in tool.binaries}


def missing(tools: tuple[GoTool, ...] = CONTROL_PLANE) -> list[str]:
    """Names of binaries of ``tools`` that are not built yet."""
    return [name for name, path in binaries(tools).items() if not path.is_file()]


def build(tools: tuple[GoTool, ...] = CONTROL_PLANE, progress: Progress | None = None) -> dict[str, Path]:
    """Build whatever of ``tools`` is not cached yet; return binary name -> path."""
    found: dict[str, Path] = {}
    for tool in tools:
        found.update(ensure(tool, progress))
    return found
