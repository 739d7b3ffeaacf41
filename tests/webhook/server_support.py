"""Shared pieces of the webhook server tests: a realistic review, the view it needs, certificates, clients."""

from __future__ import annotations

import ssl
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from certs import rotation, storing
from certs.authority import Material
from tests.webhook import factories
from webhook.caches import StaticView

CONTAINERS = [
    {"name": "app", "language": "python", "runtimeVersion": "3.12.4", "libc": "glibc"},
    {"name": "worker", "language": "nodejs", "runtimeVersion": "22.3.0", "libc": "glibc"},
]


def shop_view() -> StaticView:
    namespace = {"metadata": {"name": "shop", "annotations": {"hodegos.io/instrumentation": "enabled"}}}
    return StaticView([namespace], [factories.record(CONTAINERS)])


def review_body(uid: str | None = None) -> bytes:
    """An AdmissionReview for a 2-container Deployment pod in the opted-in namespace ``shop``."""
    pod = factories.deployment_pod(
        [
            {"name": "app", "image": "shop/web:1.4", "env": [{"name": "PYTHONPATH", "value": "/srv/app"}]},
            {"name": "worker", "image": "shop/worker:2.0"},
        ]
    )
    review = factories.admission_review(pod)
    review["request"]["uid"] = uid or str(uuid.uuid4())
    return orjson.dumps(review)


def pod_of(body: bytes) -> dict[str, Any]:
    pod: dict[str, Any] = orjson.loads(body)["request"]["object"]
    return pod


def issue(directory: Path, hosts: list[str] | None = None) -> Material:
    now = datetime.now(UTC)
    material = rotation.rotate(
        None, rotation.Decision("issue", "test"), hosts or ["localhost", "127.0.0.1"], now, rotation.Policy()
    )
    storing.write_directory(material, directory)
    return material


def client_context(ca_bundle: bytes) -> ssl.SSLContext:
    """What the API server does with a caBundle: trust exactly those CAs, verify the host name."""
    context = ssl.create_default_context(cadata=ca_bundle.decode())
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    return context


HEADERS = {"content-type": "application/json"}
