"""``hodegos explain``: the webhook's decision for a pod, from files, with no cluster.

``-f`` takes a Pod or a workload (Deployment, StatefulSet, DaemonSet, ReplicaSet, Job, CronJob); for a
workload, the pod its controller would create is built from the template, owner reference included, so the
decision is exactly the one the webhook makes at that pod's CREATE. Records (InstrumentedApplications) and
Namespaces come from ``--record``/``--namespace`` files (several YAML documents per file are fine). The
decision is made by the same core the webhook runs: :func:`webhook.admission.review`.
"""

from __future__ import annotations

import copy
import enum
import hashlib
import json
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any

import typer
import yaml
from rich.console import Console
from rich.table import Table

from api.config import ConfigError, HodegosConfig
from cli.output import dump, fail
from webhook import admission
from webhook.caches import StaticView
from webhook.errors import ViewError

WORKLOAD_KINDS = {"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job", "CronJob"}


class ExplainFormat(enum.StrEnum):
    table = "table"
    yaml = "yaml"
    json = "json"
    patch = "patch"


def _documents(path: Path) -> list[dict[str, Any]]:
    try:
        text = sys.stdin.read() if str(path) == "-" else path.read_text()
        docs = [d for d in yaml.safe_load_all(text) if d is not None]
    except OSError as exc:
        fail(f"cannot read {path}: {exc.strerror}")
    except yaml.YAMLError as exc:
        fail(f"{path} is not valid YAML: {exc}")
    out: list[dict[str, Any]] = []
    for doc in docs:
        if not isinstance(doc, dict):
            fail(f"{path}: every document must be a Kubernetes object (a mapping)")
        items = doc.get("items") if doc.get("kind", "").endswith("List") else None
        out.extend(items if isinstance(items, list) else [doc])
    return out


def _template_hash(template: Mapping[str, Any]) -> str:
    digest = hashlib.sha256(json.dumps(template, sort_keys=True).encode()).hexdigest()
    return "".join(c for c in digest if c.isalnum())[:10]


def pod_from(obj: Mapping[str, Any], namespace: str) -> dict[str, Any]:
    """The pod a workload's controller would create (or ``obj`` itself if it is a Pod)."""
    kind = obj.get("kind")
    if kind == "Pod":
        return copy.deepcopy(dict(obj))
    if kind not in WORKLOAD_KINDS:
        fail(f"-f must be a Pod or one of {', '.join(sorted(WORKLOAD_KINDS))}, not {kind!r}")
    name = str((obj.get("metadata") or {}).get("name") or "workload")
    spec = obj.get("spec") or {}
    if kind == "CronJob":
        spec = ((spec.get("jobTemplate") or {}).get("spec")) or {}
        owner_kind, owner_name = "Job", f"{name}-29000000"
    elif kind == "Deployment":
        owner_kind, owner_name = "ReplicaSet", f"{name}-{_template_hash(spec.get('template') or {})}"
    else:
        owner_kind, owner_name = str(kind), name
    template = copy.deepcopy(spec.get("template") or {})
    meta = template.setdefault("metadata", {})
    if owner_kind == "ReplicaSet" and kind == "Deployment":
        meta.setdefault("labels", {})["pod-template-hash"] = owner_name.rsplit("-", 1)[1]
    meta["generateName"] = f"{owner_name}-"
    meta["namespace"] = namespace
    api_version = "batch/v1" if owner_kind == "Job" else "apps/v1"
    ref = {
        "apiVersion": api_version,
        "kind": owner_kind,
        "name": owner_name,
        "uid": "explain",
        "controller": True,
    }
    meta["ownerReferences"] = [ref]
    return {"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": template.get("spec") or {}}


def _view(paths: list[Path]) -> StaticView:
    objects = [doc for path in paths for doc in _documents(path)]
    try:
        return StaticView.from_objects(objects)
    except ViewError as exc:
        fail(str(exc))


def _table(outcome: admission.Outcome, pod: Mapping[str, Any]) -> None:
    console = Console()
    meta = pod.get("metadata") or {}
    who = f"{meta.get('namespace')}/{meta.get('name') or meta.get('generateName', '') + '<generated>'}"
    workload = f" ({outcome.workload.kind}/{outcome.workload.name})" if outcome.workload else ""
    console.print(f"Pod {who}{workload}: [bold]{outcome.result}[/bold]", highlight=False)
    if not outcome.containers:
        console.print(f"  {outcome.reason}", highlight=False)
        return
    table = Table(box=None, header_style="bold")
    for column in ("CONTAINER", "ACTION", "LANGUAGE", "REASON"):
        table.add_column(column)
    for d in outcome.containers:
        table.add_row(d.container, d.action, d.language or "<unknown>", d.reason)
    console.print(table)
    console.print(f"{len(outcome.patch)} patch operations", highlight=False)


def explain(
    file: Annotated[Path, typer.Option("--file", "-f", help="Pod or workload manifest (- for stdin)")],
    record: Annotated[
        list[Path] | None, typer.Option("--record", help="InstrumentedApplication file(s)")
    ] = None,
    namespace_file: Annotated[
        list[Path] | None, typer.Option("--namespace-file", help="Namespace manifest(s)")
    ] = None,
    namespace: Annotated[
        str | None, typer.Option("--namespace", "-n", help="Namespace of the pod (default: from -f)")
    ] = None,
    config: Annotated[Path | None, typer.Option("--config", help="Hodegos config.yaml")] = None,
    output: Annotated[
        ExplainFormat, typer.Option("--output", "-o", help="Output format")
    ] = ExplainFormat.table,
) -> None:
    """Explain what the webhook would do to a pod, and print the mutated pod or the patch."""
    docs = _documents(file)
    if len(docs) != 1:
        fail(f"{file}: expected exactly one Pod or workload, found {len(docs)} objects")
    obj = docs[0]
    ns = namespace or str((obj.get("metadata") or {}).get("namespace") or "default")
    try:
        settings = HodegosConfig.parse_text(config.read_text()) if config else HodegosConfig()
    except (OSError, ConfigError) as exc:
        fail(str(exc))
    view = _view([*(record or []), *(namespace_file or [])])
    pod = pod_from(obj, ns)
    review = {
        "apiVersion": admission.API_VERSION,
        "kind": "AdmissionReview",
        "request": {
            "uid": "explain",
            "operation": "CREATE",
            "namespace": ns,
            "kind": {"group": "", "version": "v1", "kind": "Pod"},
            "resource": {"group": "", "version": "v1", "resource": "pods"},
            "object": pod,
        },
    }
    try:
        outcome = admission.review(review, view, settings)
    except admission.AdmissionRequestError as exc:
        fail(f"{file}: {exc}")
    mutated = outcome.pod if outcome.pod is not None else pod
    if output is ExplainFormat.table:
        _table(outcome, pod)
        return
    if output is ExplainFormat.patch:
        sys.stdout.write(json.dumps(outcome.patch, indent=2) + "\n")
        return
    document = {
        "decision": {
            "result": outcome.result,
            "reason": outcome.reason,
            "workload": vars(outcome.workload) if outcome.workload else None,
            "containers": [vars(d) for d in outcome.containers],
        },
        "patch": outcome.patch,
        "pod": mutated,
    }
    sys.stdout.write(dump(document, output.value) + "\n")
