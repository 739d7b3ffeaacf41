"""`hodegos describe workload NAMESPACE/KIND/NAME`: opted in and why, runtimes, pods, rollout, collectors."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.table import Table

from api import constants
from cli.output import Format, connect, emit, fail

app = typer.Typer(help="Show the whole story of a Hodegos-managed object.", no_args_is_help=True)

KINDS = {k.lower(): k for k in ("Deployment", "StatefulSet", "DaemonSet", "CronJob")}


def parse_ref(ref: str) -> tuple[str, str, str]:
    parts = ref.split("/")
    if len(parts) != 3 or not all(parts):
        raise ValueError(f"expected NAMESPACE/KIND/NAME, got {ref!r}")
    namespace, kind, name = parts
    canonical = KINDS.get(kind.lower().rstrip("s")) or KINDS.get(kind.lower())
    if canonical is None:
        raise ValueError(f"unsupported kind {kind!r}; one of {', '.join(KINDS.values())}")
    return namespace, canonical, name


@app.command("workload")
def workload(
    ref: str = typer.Argument(..., metavar="NAMESPACE/KIND/NAME"),
    kubeconfig: Path | None = typer.Option(None, "--kubeconfig"),
    output: Format = typer.Option(Format.table, "--output", "-o", help="table, json or yaml."),
) -> None:
    """Print whether the workload is opted in and why, runtimes, pods, rollout, rollback, collectors."""
    from api.config import load
    from controllers import describing, rollouts
    from controllers.context import WebhookHealth
    from kube import KubeError
    from kube.resources import ACTIONS, BY_KIND, CONFIGMAPS, GROUPS, NAMESPACES, PODS, RECORDS, SAMPLING_RULES

    try:
        namespace, kind, name = parse_ref(ref)
    except ValueError as exc:
        fail(str(exc))
        return
    api = connect(kubeconfig)
    try:
        obj = api.get(BY_KIND[kind], namespace, name)
        if obj is None:
            fail(f"{kind} {namespace}/{name} not found")
            return
        obj.setdefault("kind", kind)
        obj.setdefault("apiVersion", BY_KIND[kind].api_version)
        ns = api.get(NAMESPACES, None, namespace)
        record = api.get(RECORDS, namespace, constants.record_name(kind, name))
        selector = (obj.get("spec") or {}).get("selector") or {}
        pods = rollouts.pods_of(obj, api.list(PODS, namespace)[0]) if selector else []
        groups, _ = api.list(GROUPS, constants.NAMESPACE)
        cm = api.get(CONFIGMAPS, constants.NAMESPACE, constants.CONFIG_MAP)
        actions, _ = api.list(ACTIONS, constants.NAMESPACE)
        rules, _ = api.list(SAMPLING_RULES, constants.NAMESPACE)
    except KubeError as exc:
        fail(f"reading from the API server: {exc}")
        return
    config, problem = load(cm)
    if problem:
        Console(stderr=True).print(f"[yellow]warning:[/yellow] {problem}; using defaults", highlight=False)
    result = describing.story(
        obj, ns, record, pods, groups, config, WebhookHealth(api)(), actions=actions, rules=rules
    )
    if output in (Format.json, Format.yaml):
        emit(result, output)
        return
    print_story(result)


def print_story(s: dict[str, Any]) -> None:
    console = Console()
    w = s["workload"]
    console.print(f"[bold]{w['kind']} {w['namespace']}/{w['name']}[/bold]")
    opt = s["optIn"]
    console.print(f"Opted in:   {'yes' if opt['enabled'] else 'no'} ({opt['reason']}: {opt['message']})")
    console.print(f"Record:     {s['record'] or '-'}")
    runtimes = ", ".join(
        f"{r['name']}={r.get('language')}{' ' + r['runtimeVersion'] if r.get('runtimeVersion') else ''}"
        for r in s["runtimes"]
    )
    console.print(f"Runtimes:   {runtimes or 'not detected yet'}")
    ro = s["rollout"]
    console.print(f"Rollout:    target {ro['target']}, next {ro['next']} ({ro['reason']}: {ro['message']})")
    if ro["lastRolloutAt"]:
        console.print(f"            last Hodegos rollout {ro['lastRolloutAt']} for {ro['lastRolloutTarget']}")
    rb = s["rollback"]
    console.print(
        f"Rollback:   {rb['reason']}: {rb.get('message', '')} (re-enable: annotate "
        f"{constants.ANNOTATION_RECOVER}=true)"
        if rb
        else "Rollback:   none"
    )
    table = Table("POD", "PHASE", "INJECTED", "RULES", "FAILING", box=None)
    for p in s["pods"]:
        table.add_row(p["name"], p["phase"] or "", "yes" if p["injected"] else "no", p["rulesVersion"] or "-",
                      p["failing"] or "")  # fmt: skip
    console.print(table if s["pods"] else "Pods:       none")
    for c in s["conditions"]:
        console.print(f"Condition:  {c['type']}={c['status']} {c['reason']}: {c.get('message', '')}")
    groups = ", ".join(
        f"{g['name']} ({g['role']}, {'/'.join(g['signals']) or 'no signals'}, "
        f"{'ready' if g['ready'] else 'not ready'})"
        for g in s["collectors"]
    )
    console.print(f"Collectors: {groups or 'none'}")
    for key, label in (("actions", "Actions:   "), ("samplingRules", "Sampling:  ")):
        items = ", ".join(
            f"{a['name']} ({a['kind']}{'' if a['applied'] else ', not applied: ' + str(a['reason'])})"
            for a in s["pipeline"][key]
        )
        console.print(f"{label} {items or 'none'}")
