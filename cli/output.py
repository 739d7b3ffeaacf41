"""Printing objects the way kubectl does: ``-o json|yaml`` to stdout, messages and errors to stderr."""

from __future__ import annotations

import enum
import json
import sys
from typing import Any, NoReturn

import yaml
from rich.console import Console

stderr = Console(stderr=True)


class Format(enum.StrEnum):
    table = "table"
    wide = "wide"
    json = "json"
    yaml = "yaml"


def dump(obj: Any, fmt: Format | str) -> str:
    """Serialise ``obj`` as JSON or YAML text (no trailing newline)."""
    value = fmt.value if isinstance(fmt, Format) else fmt
    if value == "json":
        return json.dumps(obj, indent=2, sort_keys=False, default=str)
    if value == "yaml":
        return yaml.safe_dump(obj, sort_keys=False, default_flow_style=False).rstrip("\n")
    raise ValueError(f"unsupported output format {value!r}")


def emit(obj: Any, fmt: Format | str) -> None:
    sys.stdout.write(dump(obj, fmt) + "\n")


def fail(message: str, code: int = 1) -> NoReturn:
    """Print ``error: message`` to stderr and exit with ``code``."""
    stderr.print(f"[red]error:[/red] {message}", highlight=False)
    raise SystemExit(code)


def connect(kubeconfig: Any = None, in_cluster: bool | None = None) -> Any:
    """A :class:`kube.Api` for ``--kubeconfig``/``--in-cluster``, or a clear error and exit 1."""
    from kube import CredentialsError
    from kube import connect as kube_connect

    try:
        return kube_connect(kubeconfig, in_cluster=in_cluster)
    except CredentialsError as exc:
        fail(str(exc))
