"""Fixtures for the end-to-end injection contract: the OTLP receiver, built agents and app images."""

from __future__ import annotations

import errno
import random
from collections.abc import Iterator
from pathlib import Path

import pytest

from api import constants
from tests.e2e_injection import appimages
from tests.e2e_injection.podrunner import have_unshare
from tests.e2e_injection.receiver import OtlpReceiver
from tests.support import require
from toolchain import agents as building


@pytest.fixture(scope="session")
def receiver() -> Iterator[OtlpReceiver]:
    """An OTLP/HTTP receiver on a private loopback address at the OTLP/HTTP port the spec names.

    The runner reports that address as the pod's ``status.hostIP``; a random 127/8 address keeps the test
    clear of any collector already listening on 127.0.0.1:4318.
    """
    rng = random.Random()
    for _ in range(20):
        host = f"127.{rng.randint(64, 250)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}"
        try:
            server = OtlpReceiver(host, constants.OTLP_HTTP_PORT)
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                continue
            raise
        break
    else:
        pytest.fail(f"no free loopback address for an OTLP receiver on port {constants.OTLP_HTTP_PORT}")
    server.start()
    yield server
    server.close()


@pytest.fixture(scope="session")
def can_run_pods() -> None:
    require(have_unshare(), "running pods needs root and util-linux unshare (private mount namespaces)")


def agent_tree(language: str) -> Path:
    require(
        building.is_built(language),
        f"the {language} agent is not built; run .ci/setup.d/30-agents.sh (make setup)",
    )
    return building.image_root(language)


def app_tree(name: str) -> Path:
    root = appimages.image_root(name)
    require(
        root.is_dir(), f"the {name} test app image is not built; run .ci/setup.d/30-agents.sh (make setup)"
    )
    return root


def busybox_tree() -> Path:
    """The agent images' base layer (they are built FROM busybox)."""
    return app_tree("busybox")
