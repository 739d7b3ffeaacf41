"""Where certificate material lives: a directory of PEM files, and the Secret ``hodegos-webhook-cert``.

File names follow the ``kubernetes.io/tls`` Secret keys, so the Secret mounted as a volume *is* a cert
directory: ``tls.crt``, ``tls.key`` (serving), ``ca.crt``, ``ca.key`` (CA), ``ca-bundle.crt`` (what the API
server trusts). Files are replaced atomically one by one; the reloader (:mod:`certs.reloading`) only takes a
certificate whose key matches, so a half-written rotation is never served.
"""

from __future__ import annotations

import base64
import os
import tempfile
from pathlib import Path
from typing import Any

from api import constants
from certs.authority import Material
from certs.errors import MaterialError, SecretError
from kube import Api, KubeError
from kube.resources import SECRETS

CERT_FILE = "tls.crt"
KEY_FILE = "tls.key"
CA_FILE = "ca.crt"
CA_KEY_FILE = "ca.key"
BUNDLE_FILE = "ca-bundle.crt"
_FIELDS = {
    CA_FILE: "ca_cert",
    CA_KEY_FILE: "ca_key",
    BUNDLE_FILE: "ca_bundle",
    KEY_FILE: "key",
    CERT_FILE: "cert",
}


def write_directory(material: Material, directory: Path) -> None:
    """Write every file atomically (temp file + rename); private keys are mode 0600."""
    directory.mkdir(parents=True, exist_ok=True)
    for filename, attr in _FIELDS.items():  # CA and bundle first, serving pair last
        data: bytes = getattr(material, attr)
        private = filename.endswith(".key")
        fd, tmp = tempfile.mkstemp(dir=directory, prefix=f".{filename}.")
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
            os.chmod(tmp, 0o600 if private else 0o644)
            os.replace(tmp, directory / filename)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise


def read_directory(directory: Path) -> Material | None:
    """The material in ``directory``; ``None`` when it holds no certificate at all."""
    present = {name for name in _FIELDS if (directory / name).is_file()}
    if not present:
        return None
    missing = sorted(set(_FIELDS) - present)
    if missing == [BUNDLE_FILE]:  # a plain CA + cert directory: the bundle is the CA
        present.add(BUNDLE_FILE)
        values = {
            attr: (directory / name).read_bytes() for name, attr in _FIELDS.items() if name != BUNDLE_FILE
        }
        values["ca_bundle"] = values["ca_cert"]
        return Material(**values)
    if missing:
        raise MaterialError(f"{directory}: incomplete certificate directory, missing {', '.join(missing)}")
    return Material(**{attr: (directory / name).read_bytes() for name, attr in _FIELDS.items()})


def secret_manifest(
    material: Material, name: str = constants.WEBHOOK_CERT_SECRET, namespace: str = constants.NAMESPACE
) -> dict[str, Any]:
    """The ``kubernetes.io/tls`` Secret holding ``material`` (for server-side apply)."""
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": {
                constants.LABEL_NAME: constants.WEBHOOK_SERVICE,
                constants.LABEL_PART_OF: constants.PRODUCT,
                constants.LABEL_MANAGED_BY: constants.PRODUCT,
            },
        },
        "type": "kubernetes.io/tls",
        "data": {
            filename: base64.b64encode(getattr(material, attr)).decode() for filename, attr in _FIELDS.items()
        },
    }


def from_secret_data(data: dict[str, str] | None) -> Material | None:
    """Material from a Secret's base64 ``data``; ``None`` when the Secret holds no certificate."""
    if not data or CERT_FILE not in data:
        return None
    try:
        decoded = {name: base64.b64decode(value, validate=True) for name, value in data.items()}
    except ValueError as exc:
        raise MaterialError(f"certificate Secret holds invalid base64: {exc}") from exc
    decoded.setdefault(BUNDLE_FILE, decoded.get(CA_FILE, b""))
    missing = sorted(name for name in _FIELDS if name not in decoded)
    if missing:
        raise MaterialError(f"certificate Secret is missing {', '.join(missing)}")
    return Material(**{attr: decoded[name] for name, attr in _FIELDS.items()})


def read_secret(
    api: Api, name: str = constants.WEBHOOK_CERT_SECRET, namespace: str = constants.NAMESPACE
) -> Material | None:
    """Material from the Secret; ``None`` if there is none."""
    try:
        secret = api.get(SECRETS, namespace, name)
    except KubeError as exc:
        raise SecretError(f"reading Secret {namespace}/{name}: {exc}", getattr(exc, "code", None)) from exc
    return from_secret_data(secret.get("data")) if secret is not None else None


def apply_secret(
    api: Api,
    material: Material,
    name: str = constants.WEBHOOK_CERT_SECRET,
    namespace: str = constants.NAMESPACE,
) -> None:
    """Server-side apply the Secret with field manager ``hodegos`` (forcing ownership of its fields)."""
    try:
        api.apply(SECRETS, secret_manifest(material, name, namespace))
    except KubeError as exc:
        raise SecretError(f"applying Secret {namespace}/{name}: {exc}", getattr(exc, "code", None)) from exc
