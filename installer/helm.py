"""The chart, through the Helm binary the project builds (``toolchain.cluster.HELM``)."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from api.crds import CRD_DIR
from installer.errors import HelmError, InstallError

CHART = CRD_DIR.parent
RELEASE = "hodegos"


class Helm:
    def __init__(self, binary: Path, kubeconfig: Path | None = None) -> None:
        if not binary.is_file():
            raise InstallError(f"helm is not built ({binary}): run `hodegos cluster build` or `make setup`")
        self.binary, self.kubeconfig = binary, kubeconfig

    def run(self, *args: str, timeout: float = 900) -> str:
        command = [str(self.binary), *args]
        if self.kubeconfig is not None:
            command += ["--kubeconfig", str(self.kubeconfig)]
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False)
        if done.returncode != 0:
            raise HelmError(command, done.stdout + done.stderr)
        return done.stdout

    def install(
        self,
        namespace: str,
        *,
        sets: Sequence[str] = (),
        values_files: Sequence[Path] = (),
        wait: bool = False,
        timeout: str = "5m",
        chart: Path = CHART,
        force_conflicts: bool = False,
    ) -> str:
        """Install or upgrade the release (the CRDs of ``chart/crds`` come with a first install);
        ``force_conflicts``: fields another field manager owns are taken over (server-side apply)."""
        args = ["upgrade", "--install", RELEASE, str(chart), "-n", namespace]
        if force_conflicts:
            args += ["--force-conflicts"]
        for item in sets:
            args += ["--set", item]
        for path in values_files:
            args += ["-f", str(path)]
        if wait:
            args += ["--wait", "--timeout", timeout]
        return self.run(*args)

    def uninstall(self, namespace: str, *, wait: bool = True) -> str:
        args = ["uninstall", RELEASE, "-n", namespace, "--ignore-not-found"]
        if wait:
            args += ["--wait"]
        return self.run(*args)

    def status(self, namespace: str) -> dict[str, Any] | None:
        """The release's status (``helm status -o json``), or ``None`` when it is not installed."""
        try:
            out: dict[str, Any] = json.loads(self.run("status", RELEASE, "-n", namespace, "-o", "json"))
        except HelmError as exc:
            if "not found" in exc.output:
                return None
            raise
        return out
