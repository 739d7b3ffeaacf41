"""Certificate material in a directory and in a Secret's data."""

from __future__ import annotations

import base64
import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from api import constants
from certs import authority, storing
from certs.authority import Material
from certs.errors import MaterialError


@pytest.fixture(scope="module")
def material() -> Material:
    return authority.issue(["localhost"], datetime.now(UTC), timedelta(days=30), timedelta(days=10))


def test_directory_round_trip_with_private_keys(tmp_path: Path, material: Material) -> None:
    assert storing.read_directory(tmp_path) is None
    storing.write_directory(material, tmp_path)
    assert storing.read_directory(tmp_path) == material
    for name in (storing.KEY_FILE, storing.CA_KEY_FILE):
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == 0o600
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temp files left


def test_incomplete_directory_is_an_error(tmp_path: Path, material: Material) -> None:
    storing.write_directory(material, tmp_path)
    (tmp_path / storing.CA_KEY_FILE).unlink()
    with pytest.raises(MaterialError, match=r"missing ca\.key"):
        storing.read_directory(tmp_path)
    (tmp_path / storing.CA_KEY_FILE).write_bytes(material.ca_key)
    (tmp_path / storing.BUNDLE_FILE).unlink()  # a plain CA + cert directory: the bundle is the CA
    assert storing.read_directory(tmp_path) == material


def test_secret_round_trip(material: Material) -> None:
    manifest = storing.secret_manifest(material)
    assert manifest["metadata"]["name"] == constants.WEBHOOK_CERT_SECRET
    assert manifest["metadata"]["namespace"] == constants.NAMESPACE
    assert manifest["type"] == "kubernetes.io/tls"
    assert base64.b64decode(manifest["data"]["tls.crt"]) == material.cert
    assert storing.from_secret_data(manifest["data"]) == material
    assert storing.from_secret_data({}) is None


def test_broken_secret_data_is_an_error(material: Material) -> None:
    data = storing.secret_manifest(material)["data"]
    with pytest.raises(MaterialError, match="invalid base64"):
        storing.from_secret_data({**data, "tls.key": "%%%"})
    del data["ca.key"]
    with pytest.raises(MaterialError, match=r"missing ca\.key"):
        storing.from_secret_data(data)
