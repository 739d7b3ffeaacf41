"""Hodegos's own images (toolchain/productimages.py): the lock pins what the tests ran, the build is
deterministic, and the image's own interpreter imports and starts every component (run in a chroot of the
unpacked layers, as the node's runtime would lay them out). Running them on a real node is tests/journey."""

from __future__ import annotations

import gzip
import io
import json
import os
import shutil
import subprocess
import tarfile
from pathlib import Path

import pytest

from tests.support import require
from toolchain import images, localimages, productimages
from ui import assets


def test_the_lock_pins_the_virtualenvs_versions() -> None:
    assert productimages.lock_drift() == []


def test_every_pin_of_the_lock_carries_a_wheel_hash() -> None:
    pins = [line for line in productimages.LOCK.read_text().splitlines() if line and not line.startswith("#")]
    assert pins, "the lock is empty"
    for line in pins:
        assert "==" in line and "--hash=sha256:" in line, line


def test_an_unknown_image_name_is_refused() -> None:
    with pytest.raises(images.ImageError, match="expected one of hodegos, hodegos-agent, hodegos-collector"):
        productimages.archive("hodegos-everything")


def _ready() -> None:
    require(localimages.PYTHON.is_file(), f"{localimages.PYTHON} (Debian's python3.11) is missing")
    require(Path(assets.cached_htmx()).is_file(), "htmx is not fetched: run make setup")
    require(os.geteuid() == 0, "unpacking an image with its owners and chrooting into it needs root")


def test_the_compiled_source_tree_is_the_same_from_two_caches(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """.pyc files are hash-checked and compiled in one process: two builds give the same bytes."""
    _ready()
    trees = []
    for name in ("one", "two"):
        monkeypatch.setenv("HODEGOS_CACHE", str(tmp_path / name))
        trees.append(productimages.source_tree())
    first = {p.relative_to(trees[0]): p.read_bytes() for p in trees[0].rglob("*") if p.is_file()}
    second = {p.relative_to(trees[1]): p.read_bytes() for p in trees[1].rglob("*") if p.is_file()}
    assert first.keys() == second.keys()
    assert [k for k in first if first[k] != second[k]] == []
    assert any(k.suffix == ".pyc" for k in first)


def _unpack(archive: Path, root: Path) -> dict[str, object]:
    with tarfile.open(archive) as outer:
        blobs = {m.name: outer.extractfile(m).read() for m in outer.getmembers() if m.isfile()}  # type: ignore[union-attr]
    (entry,) = json.loads(blobs["index.json"])["manifests"]
    manifest = json.loads(blobs[f"blobs/sha256/{entry['digest'].split(':')[1]}"])
    config: dict[str, object] = json.loads(
        blobs[f"blobs/sha256/{manifest['config']['digest'].split(':')[1]}"]
    )
    for layer in manifest["layers"]:
        data = gzip.decompress(blobs[f"blobs/sha256/{layer['digest'].split(':')[1]}"])
        with tarfile.open(fileobj=io.BytesIO(data)) as tar:
            tar.extractall(root, filter="fully_trusted")
    return config


@pytest.fixture(scope="module")
def hodegos_image() -> productimages.Built:
    _ready()
    return productimages.archive("hodegos")


def test_the_hodegos_image_is_written_the_same_twice(
    hodegos_image: productimages.Built, tmp_path: Path
) -> None:
    again = images.write_archive(
        productimages._python_image("hodegos", productimages.REGISTRY, None), tmp_path / "x.tar"
    )
    assert again == hodegos_image.digest
    assert (tmp_path / "x.tar").read_bytes() == hodegos_image.archive.read_bytes()


def test_the_hodegos_image_runs_every_component_as_its_non_root_user(
    hodegos_image: productimages.Built, tmp_path: Path
) -> None:
    root = tmp_path / "rootfs"
    config = _unpack(hodegos_image.archive, root)
    settings = config["config"]
    assert isinstance(settings, dict)
    assert settings["User"] == productimages.USER and settings["Entrypoint"] == ["/usr/local/bin/hodegos"]
    env = dict(item.split("=", 1) for item in settings["Env"])
    uid = int(productimages.USER.split(":")[0])
    # Every component's entry module imports from the image's own site, with no write to a read-only root.
    script = (
        "import cli.main, webhook.server, controllers.manager, ui.app, detector.node, kube, pipelines;"
        "import sys; assert sys.dont_write_bytecode; print('imports ok')"
    )
    chroot = shutil.which("chroot") or "/usr/sbin/chroot"
    done = subprocess.run(
        [chroot, f"--userspec={uid}:{uid}", str(root), "/usr/bin/python3.11", "-c", script],
        env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "imports ok" in done.stdout
    help_run = subprocess.run(
        [chroot, f"--userspec={uid}:{uid}", str(root), "/usr/local/bin/hodegos", "--help"],
        env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert help_run.returncode == 0, help_run.stderr
    for command in ("webhook", "controllers", "ui", "agent"):
        assert command in help_run.stdout
