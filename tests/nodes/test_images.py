"""The OCI image-layout writer (no cluster): determinism, layout, references, and refusing bad archives."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import tarfile
from pathlib import Path

import pytest

from toolchain import images


def _tree(root: Path) -> Path:
    (root / "app" / "bin").mkdir(parents=True)
    (root / "app" / "bin" / "run").write_text("#!/bin/sh\necho hi\n")
    (root / "app" / "bin" / "run").chmod(0o755)
    (root / "app" / "data.txt").write_text("data\n")
    (root / "app" / "link").symlink_to("data.txt")
    return root


def _image(root: Path) -> images.Image:
    return images.Image("example/app:1", layers=[images.entries_from_directory(root)], cmd=["/app/bin/run"])


def test_same_inputs_give_byte_identical_archives(tmp_path: Path) -> None:
    root = _tree(tmp_path / "rootfs")
    first, second = tmp_path / "a.tar", tmp_path / "b.tar"
    digest = images.write_archive(_image(root), first)
    (root / "app" / "data.txt").touch()  # a new mtime changes nothing: times are fixed
    assert images.write_archive(_image(root), second) == digest
    assert first.read_bytes() == second.read_bytes()


def test_archive_is_a_valid_oci_layout_with_the_reference(tmp_path: Path) -> None:
    out = tmp_path / "app.tar"
    digest = images.write_archive(_image(_tree(tmp_path / "rootfs")), out)
    with tarfile.open(out) as tar:
        files = {m.name: tar.extractfile(m).read() for m in tar.getmembers() if m.isfile()}  # type: ignore[union-attr]
    assert json.loads(files["oci-layout"]) == {"imageLayoutVersion": "1.0.0"}
    index = json.loads(files["index.json"])
    (entry,) = index["manifests"]
    assert entry["digest"] == digest
    assert entry["annotations"][images.REF_NAME] == "docker.io/example/app:1"
    for name, blob in files.items():
        if name.startswith("blobs/sha256/"):
            assert hashlib.sha256(blob).hexdigest() == name.rsplit("/", 1)[1]
    manifest = json.loads(files[f"blobs/sha256/{digest.split(':')[1]}"])
    config = json.loads(files[f"blobs/sha256/{manifest['config']['digest'].split(':')[1]}"])
    assert config["config"]["Cmd"] == ["/app/bin/run"] and config["os"] == "linux"
    layer = files[f"blobs/sha256/{manifest['layers'][0]['digest'].split(':')[1]}"]
    raw = gzip.decompress(layer)
    assert config["rootfs"]["diff_ids"] == ["sha256:" + hashlib.sha256(raw).hexdigest()]
    with tarfile.open(fileobj=io.BytesIO(raw)) as tar:
        members = tar.getmembers()
    assert [m.name for m in members] == sorted(m.name for m in members)
    assert {(m.uid, m.gid, m.mtime) for m in members} == {(0, 0, 0)}
    by_name = {m.name: m for m in members}
    assert by_name["app/bin/run"].mode == 0o755 and by_name["app/link"].linkname == "data.txt"
    assert images.read_refs(out) == ["docker.io/example/app:1"]


@pytest.mark.parametrize(
    ("ref", "full"),
    [
        ("busybox", "docker.io/library/busybox:latest"),
        ("hodegos/agent-python:1.2", "docker.io/hodegos/agent-python:1.2"),
        ("localhost/x/y:2", "localhost/x/y:2"),
        ("registry.example:5000/a/b", "registry.example:5000/a/b:latest"),
    ],
)
def test_references_normalize_like_the_kubelet(ref: str, full: str) -> None:
    assert images.normalize(ref) == full


@pytest.mark.parametrize("ref", ["", "Upper/case", "a b", "x:"])
def test_bad_references_are_refused(ref: str) -> None:
    with pytest.raises(images.ImageError, match="invalid image reference"):
        images.normalize(ref)


def test_docker_archives_are_read_and_other_files_refused(tmp_path: Path) -> None:
    docker = tmp_path / "docker.tar"
    with tarfile.open(docker, "w") as tar:
        body = json.dumps([{"Config": "c.json", "RepoTags": ["app:2"], "Layers": []}]).encode()
        info = tarfile.TarInfo("manifest.json")
        info.size = len(body)
        tar.addfile(info, io.BytesIO(body))
    assert images.read_refs(docker) == ["app:2"]
    junk = tmp_path / "junk.tar"
    junk.write_bytes(b"not a tar at all")
    with pytest.raises(images.ImageError, match="not a readable image archive"):
        images.read_refs(junk)
    empty = tmp_path / "empty.tar"
    with tarfile.open(empty, "w"):
        pass
    with pytest.raises(images.ImageError, match="neither an OCI image layout"):
        images.read_refs(empty)
