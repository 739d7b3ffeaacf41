"""Which workloads the demo restarts after a rebuild under the same tag (pure)."""

from __future__ import annotations

from pathlib import Path

from journey import restarts


def _workload(kind: str, name: str, *images: str, init: str | None = None) -> dict[str, object]:
    spec: dict[str, object] = {"containers": [{"name": f"c{i}", "image": im} for i, im in enumerate(images)]}
    if init:
        spec["initContainers"] = [{"name": "init", "image": init}]
    return {"kind": kind, "metadata": {"namespace": "ns", "name": name}, "spec": {"template": {"spec": spec}}}


def test_only_archives_the_node_had_not_been_loaded_with_are_new(tmp_path: Path) -> None:
    old, new = tmp_path / "hodegos-aaa.tar", tmp_path / "hodegos-bbb.tar"
    assert restarts.new_archives([old], [old, new]) == [new]
    assert restarts.new_archives([], [old]) == [old]


def test_a_workload_is_restarted_when_any_container_runs_a_rebuilt_reference() -> None:
    workloads = [
        _workload("Deployment", "webhook", "hodegos/hodegos:0.1.0"),
        _workload("DaemonSet", "node-agent", "docker.io/hodegos/hodegos-agent:0.1.0"),
        _workload("Deployment", "catalog", "hodegos-demo/catalog:1", init="hodegos/agent-python:1"),
        _workload("Deployment", "other", "busybox:1"),
    ]
    refs = [
        "docker.io/hodegos/hodegos:0.1.0",
        "hodegos/hodegos-agent:0.1.0",
        "docker.io/hodegos/agent-python:1",
    ]
    assert restarts.users(workloads, refs) == [
        ("DaemonSet", "ns", "node-agent"),
        ("Deployment", "ns", "catalog"),
        ("Deployment", "ns", "webhook"),
    ]
    assert restarts.users(workloads, []) == []
