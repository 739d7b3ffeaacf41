"""The demo, installed for real, as the end-to-end scenarios' fixture.

One cluster of its own (``<base>-e2e`` on ``$HODEGOS_TEST_CLUSTER_PORT`` + 120, one real node) runs the whole
journey exactly as ``make demo`` does (:func:`journey.run.run`): Hodegos's images built and loaded, ``hodegos
install`` of the chart, the backend (Jaeger, the sink), the shop, the onboarding in Chromium, the first
complete trace. The scenarios in this folder then act on the installed product as a user would; the last one
uninstalls it. The cluster is torn down after the module, before other areas bring up clusters of their
own.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from journey import run
from kube import Api
from localcluster import lifecycle
from localcluster.layout import Layout
from tests.kube import TEST_CLUSTER, TEST_PORT
from tests.nodes.conftest import require_real_nodes
from tests.support import bpf_ready, require
from toolchain import agents, otelcol
from toolchain import cluster as tools

E2E_CLUSTER = f"{TEST_CLUSTER[:30]}-e2e"
E2E_PORT = TEST_PORT + 120


@dataclass
class Demo:
    name: str
    api: Api
    kubeconfig: Path
    timings: run.Timings
    seen: run.Seen


def _say(message: str) -> None:
    print(f"{time.strftime('%H:%M:%S')} {message}", flush=True)


@pytest.fixture(scope="module")
def demo() -> Iterator[Demo]:
    require_real_nodes()
    require(tools.HELM.path("helm").is_file(), "helm is not built: run make setup")
    require(otelcol.collector_path().is_file(), "the pinned OpenTelemetry Collector is not built: make setup")
    for language in ("python", "nodejs", "java"):
        require(agents.is_built(language), f"the {language} agent is not built: run make setup")
    ok, why = bpf_ready()
    require(ok, why)
    require(Path("/usr/bin/chromium").is_file(), "Debian's Chromium is missing: run make setup")
    keep = os.environ.get("HODEGOS_E2E_KEEP") == "1"  # leave the cluster up to look around after a run
    try:
        timings, seen = run.run(run.Options(cluster=E2E_CLUSTER, nodes=1, port=E2E_PORT), _say)
        layout = Layout.for_name(E2E_CLUSTER)
        yield Demo(E2E_CLUSTER, lifecycle.admin_api(layout), layout.admin_kubeconfig, timings, seen)
    finally:
        if not keep:
            lifecycle.down(E2E_CLUSTER)
