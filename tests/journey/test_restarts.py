"""Which workloads the demo restarts after a rebuild under the same tag (pure, and one real archive)."""

from __future__ import annotations

import json
import tarfile
from pathlib import Path
from typing import Any

from journey import restarts
from toolchain import images


def _pod(owner: str, *statuses: tuple[str, str], init: tuple[str, str] | None = None) -> dict[str, Any]:
    """A pod owned by ``Kind/name``; a ReplicaSet's name ends in its pod-template-hash, as for Deployments."""
    kind, name = owner.split("/")
    meta: dict[str, Any] = {
        "namespace": "ns",
        "name": f"{name}-x1y2z",
        "ownerReferences": [{"kind": kind, "name": name}],
    }
    if kind == "ReplicaSet":
        meta["labels"] = {"pod-template-hash": name.rsplit("-", 1)[1]}
    status: dict[str, Any] = {"containerStatuses": [{"image": i, "imageID": d} for i, d in statuses]}
    if init:
        status["initContainerStatuses"] = [{"image": init[0], "imageID": init[1]}]
    return {"metadata": meta, "status": status}


def test_workloads_whose_pods_run_another_build_are_restarted() -> None:
    ids = {"hodegos/hodegos:0.1.0": "sha256:new", "hodegos/agent-python:1": "sha256:agent2"}
    pods = [
        _pod("ReplicaSet/webhook-7d9f8c6b5", ("docker.io/hodegos/hodegos:0.1.0", "sha256:old")),
        _pod("ReplicaSet/ui-5c6d7e8f9", ("hodegos/hodegos:0.1.0", "sha256:new")),
        # An injected pod: its app image is not ours, but the agent in its init container was rebuilt.
        _pod(
            "ReplicaSet/catalog-6f7a8b9c0", ("shop/catalog:1", "sha256:c"),
            init=("docker.io/hodegos/agent-python:1", "sha256:agent1"),
        ),
        _pod("DaemonSet/node-agent", ("hodegos/hodegos:0.1.0", "sha256:old")),
        _pod("Job/job", ("hodegos/hodegos:0.1.0", "sha256:old")),  # not restartable this way
        _pod("ReplicaSet/waiting-8e9f0a1b2", ("hodegos/hodegos:0.1.0", "")),  # not started yet
    ]  # fmt: skip
    assert restarts.stale(pods, ids) == [
        ("DaemonSet", "ns", "node-agent"),
        ("Deployment", "ns", "catalog"),
        ("Deployment", "ns", "webhook"),
    ]
    assert restarts.stale(pods, {}) == []


def test_image_ids_are_the_config_digests_of_an_archive(tmp_path: Path) -> None:
    target = tmp_path / "x.tar"
    layer = [images.Entry("hello.txt", 0o644, data=b"hi\n")]
    images.write_archive(images.Image("docker.io/hodegos-demo/x:1", layers=[layer], cmd=["sh"]), target)
    found = restarts.image_ids(target)
    with tarfile.open(target) as tar:
        index = json.loads(tar.extractfile("index.json").read())  # type: ignore[union-attr]
        blob = f"blobs/{index['manifests'][0]['digest'].replace(':', '/')}"
        config = json.loads(tar.extractfile(blob).read())["config"]["digest"]  # type: ignore[union-attr]
    assert found == {"hodegos-demo/x:1": config} and config.startswith("sha256:")
