"""OCI image-layout archives written in pure Python: a root filesystem in, an importable ``.tar`` out.

What ``hodegos cluster load`` imports into real nodes, with no Docker engine and no registry. An archive
holds ``oci-layout``, ``index.json`` and ``blobs/sha256/*``: one gzip layer per root-filesystem source, an
image config and a manifest, with the ``org.opencontainers.image.ref.name`` and ``io.containerd.image.name``
annotations carrying the image's full reference, so containerd names the image on import.

Deterministic: entries are sorted, owned by 0:0 (unless an entry names its owner), stamped with one fixed
mtime (``SOURCE_DATE_EPOCH`` or 0), gzip headers carry no name or time. The same inputs give byte-identical
archives and the same digest, so a cached image is never rebuilt for nothing and two machines agree on what
an image is.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import re
import stat
import tarfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
MEDIA_INDEX = "application/vnd.oci.image.index.v1+json"
MEDIA_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
MEDIA_CONFIG = "application/vnd.oci.image.config.v1+json"
MEDIA_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"
REF_NAME = "org.opencontainers.image.ref.name"
CONTAINERD_NAME = "io.containerd.image.name"


_REFERENCE = re.compile(
    r"^[a-z0-9][a-z0-9._-]*(?::[0-9]+)?(?:/[a-z0-9][a-z0-9._-]*)*(?::[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?"
    r"(?:@sha256:[0-9a-f]{64})?$"
)


class ImageError(ValueError):
    """A bad reference or an unreadable source; nothing was written."""


def epoch() -> int:
    value = os.environ.get("SOURCE_DATE_EPOCH", "0")
    return int(value) if value.isdigit() else 0


def normalize(ref: str) -> str:
    """The full reference Kubernetes resolves ``ref`` to (``busybox``: ``docker.io/library/busybox:latest``).

    A pod's ``image:`` is normalized the same way by the kubelet, so an archive written under the short
    name is found by the pod that uses the short name.
    """
    if not _REFERENCE.match(ref):
        raise ImageError(
            f"invalid image reference {ref!r}: expected [host[:port]/]name[:tag][@sha256:digest], lower case"
        )
    name, _, digest = ref.partition("@")
    first, _, rest = name.partition("/")
    if not rest or ("." not in first and ":" not in first and first != "localhost"):
        name = f"docker.io/{name}" if rest else f"docker.io/library/{name}"
    last = name.rsplit("/", 1)[-1]
    if not digest and ":" not in last:
        name += ":latest"
    return f"{name}@{digest}" if digest else name


@dataclass(frozen=True)
class Entry:
    """One file of a layer: a regular file (``data`` or ``source``), a directory or a symlink."""

    path: str  # inside the image, without a leading slash
    mode: int = 0o644
    data: bytes | None = None
    source: Path | None = None
    link: str | None = None  # symlink target
    directory: bool = False
    uid: int = 0  # owner in the image (0 unless a non-root user must own it, e.g. its home directory)
    gid: int = 0


def entries_from_directory(root: Path, prefix: str = "") -> list[Entry]:
    """Every file, directory and symlink under ``root`` (modes kept, owners reset to 0:0)."""
    if not root.is_dir():
        raise ImageError(f"{root} is not a directory")
    found: list[Entry] = []
    for path in sorted(root.rglob("*")):
        rel = (PurePosixPath(prefix) / path.relative_to(root).as_posix()).as_posix().lstrip("/")
        info = path.lstat()
        mode = stat.S_IMODE(info.st_mode)
        if stat.S_ISLNK(info.st_mode):
            found.append(Entry(rel, 0o777, link=os.readlink(path)))
        elif stat.S_ISDIR(info.st_mode):
            found.append(Entry(rel, mode, directory=True))
        elif stat.S_ISREG(info.st_mode):
            found.append(Entry(rel, mode, source=path))
    return found


def _parents(entries: Iterable[Entry]) -> list[Entry]:
    """Directory entries for every parent not listed, so any tool can extract the layer."""
    listed = {e.path for e in entries}
    missing: set[str] = set()
    for e in entries:
        for parent in PurePosixPath(e.path).parents:
            text = parent.as_posix()
            if text not in (".", "") and text not in listed:
                missing.add(text)
    return [Entry(p, 0o755, directory=True) for p in missing]


def layer_tar(entries: Sequence[Entry]) -> bytes:
    """The uncompressed tar of ``entries``, sorted by path, deterministic."""
    mtime = epoch()
    everything = {e.path.strip("/"): e for e in [*_parents(entries), *entries]}
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for path in sorted(everything):
            entry = everything[path]
            info = tarfile.TarInfo(path)
            info.mtime = mtime
            info.mode = entry.mode
            info.uid, info.gid = entry.uid, entry.gid
            info.uname = info.gname = ""
            if entry.directory:
                info.type = tarfile.DIRTYPE
                tar.addfile(info)
            elif entry.link is not None:
                info.type = tarfile.SYMTYPE
                info.linkname = entry.link
                tar.addfile(info)
            else:
                data = entry.data if entry.data is not None else _read(entry)
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def _read(entry: Entry) -> bytes:
    if entry.source is None:
        raise ImageError(f"{entry.path}: neither data nor a source file")
    try:
        return entry.source.read_bytes()
    except OSError as exc:
        raise ImageError(f"cannot read {entry.source}: {exc}") from exc


def _gzip(data: bytes) -> bytes:
    out = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=out, mtime=0, compresslevel=6) as gz:
        gz.write(data)
    return out.getvalue()


def _digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _json(data: Mapping[str, Any]) -> bytes:
    return json.dumps(data, sort_keys=True, separators=(",", ":")).encode()


@dataclass
class Image:
    """What an image is: its reference, its layers (lists of entries, bottom first) and its run config."""

    ref: str
    layers: list[list[Entry]] = field(default_factory=list)
    entrypoint: list[str] | None = None
    cmd: list[str] | None = None
    env: dict[str, str] = field(default_factory=lambda: {"PATH": DEFAULT_PATH})
    workdir: str = ""
    user: str = ""
    labels: dict[str, str] = field(default_factory=dict)

    def blobs(self) -> tuple[dict[str, bytes], dict[str, Any]]:
        """(digest -> blob, the index document)."""
        blobs: dict[str, bytes] = {}
        diff_ids: list[str] = []
        layer_descs: list[dict[str, Any]] = []
        for entries in self.layers:
            raw = layer_tar(entries)
            packed = _gzip(raw)
            diff_ids.append(_digest(raw))
            digest = _digest(packed)
            blobs[digest] = packed
            layer_descs.append({"mediaType": MEDIA_LAYER, "digest": digest, "size": len(packed)})
        config_body: dict[str, Any] = {"Env": [f"{k}={v}" for k, v in self.env.items()]}
        if self.entrypoint:
            config_body["Entrypoint"] = self.entrypoint
        if self.cmd:
            config_body["Cmd"] = self.cmd
        if self.workdir:
            config_body["WorkingDir"] = self.workdir
        if self.user:
            config_body["User"] = self.user
        if self.labels:
            config_body["Labels"] = dict(self.labels)
        config = _json(
            {
                "architecture": "amd64",
                "os": "linux",
                "created": "1970-01-01T00:00:00Z",
                "config": config_body,
                "rootfs": {"type": "layers", "diff_ids": diff_ids},
                "history": [{"created": "1970-01-01T00:00:00Z", "created_by": "hodegos toolchain.images"}]
                * len(diff_ids),
            }
        )
        config_digest = _digest(config)
        blobs[config_digest] = config
        manifest = _json(
            {
                "schemaVersion": 2,
                "mediaType": MEDIA_MANIFEST,
                "config": {"mediaType": MEDIA_CONFIG, "digest": config_digest, "size": len(config)},
                "layers": layer_descs,
            }
        )
        manifest_digest = _digest(manifest)
        blobs[manifest_digest] = manifest
        full = normalize(self.ref)
        index = {
            "schemaVersion": 2,
            "mediaType": MEDIA_INDEX,
            "manifests": [
                {
                    "mediaType": MEDIA_MANIFEST,
                    "digest": manifest_digest,
                    "size": len(manifest),
                    "platform": {"architecture": "amd64", "os": "linux"},
                    "annotations": {REF_NAME: full, CONTAINERD_NAME: full},
                }
            ],
        }
        return blobs, index


def write_archive(image: Image, out: Path) -> str:
    """Write ``image`` as an OCI image-layout tar at ``out``; return the manifest digest."""
    blobs, index = image.blobs()
    mtime = epoch()
    files: dict[str, bytes] = {
        "oci-layout": _json({"imageLayoutVersion": "1.0.0"}),
        "index.json": _json(index),
    }
    for digest, blob in blobs.items():
        files[f"blobs/sha256/{digest.split(':', 1)[1]}"] = blob
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_name(f".{out.name}.partial")
    with tarfile.open(partial, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for directory in ("blobs", "blobs/sha256"):
            info = tarfile.TarInfo(directory)
            info.type, info.mode, info.mtime = tarfile.DIRTYPE, 0o755, mtime
            tar.addfile(info)
        for name in sorted(files):
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime = len(files[name]), 0o644, mtime
            tar.addfile(info, io.BytesIO(files[name]))
    partial.replace(out)
    return str(index["manifests"][0]["digest"])


def read_refs(archive: Path) -> list[str]:
    """Image references an archive carries: OCI layout (``index.json``) or docker-archive (``manifest.json``).

    Raises :class:`ImageError` for anything else, so ``cluster load`` can refuse a file before any node
    sees it.
    """
    try:
        with tarfile.open(archive) as tar:
            names = {m.name.lstrip("./") for m in tar.getmembers()}
            if "index.json" in names:
                member = tar.extractfile(
                    next(m for m in tar.getmembers() if m.name.lstrip("./") == "index.json")
                )
                index = json.loads(member.read() if member else b"{}")
                refs = []
                for desc in index.get("manifests", []):
                    notes = desc.get("annotations") or {}
                    name = notes.get(CONTAINERD_NAME) or notes.get(REF_NAME)
                    if name:
                        refs.append(str(name))
                if "oci-layout" not in names:
                    raise ImageError(f"{archive}: has index.json but no oci-layout file")
                return refs
            if "manifest.json" in names:
                member = tar.extractfile(
                    next(m for m in tar.getmembers() if m.name.lstrip("./") == "manifest.json")
                )
                manifest = json.loads(member.read() if member else b"[]")
                return [str(tag) for item in manifest for tag in item.get("RepoTags") or []]
    except (OSError, tarfile.TarError, ValueError, StopIteration) as exc:
        raise ImageError(f"{archive}: not a readable image archive ({exc})") from exc
    raise ImageError(
        f"{archive}: neither an OCI image layout (index.json + oci-layout) "
        "nor a docker archive (manifest.json)"
    )


def binary_image(ref: str, binaries: Mapping[str, Path], *, entrypoint: list[str], **config: Any) -> Image:
    """An image of static binaries only (``{path in image: file}``), e.g. CoreDNS or the pause process."""
    files = [Entry(path.lstrip("/"), 0o755, source=source) for path, source in binaries.items()]
    return Image(ref, layers=[files], entrypoint=entrypoint, **config)
