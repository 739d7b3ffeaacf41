"""`hodegos destinations ...` and `hodegos collector-config`: the catalogue and rendered collector configs.

Input files hold Destination objects as YAML documents (or a ``kind: List``); Secrets in the same file are
read only for which keys they carry — their values are never printed.
"""

from __future__ import annotations

import dataclasses
import enum
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
import yaml
from rich.console import Console
from rich.table import Table

from cli.output import Format, dump, emit, fail, stderr

app = typer.Typer(help="Destination types and their collector configuration.", no_args_is_help=True)


class Role(enum.StrEnum):
    gateway = "gateway"
    node = "node"


class ConfigFormat(enum.StrEnum):
    yaml = "yaml"
    json = "json"


class KubernetesMode(enum.StrEnum):
    cluster = "cluster"
    passthrough = "passthrough"
    off = "off"


def _type_summary(t: Any, wide: bool) -> dict[str, Any]:
    from destinations import components

    row = {
        "type": t.type,
        "displayName": t.display_name,
        "category": t.category,
        "signals": list(t.signals),
        "testConnection": t.test_connection,
    }
    if wide:
        needed = sorted(t.required_components())
        row["components"] = needed
        row["available"] = all(components.built(c) for c in needed) and any(
            s in ("traces", "metrics", "logs") for s in t.signals
        )
        row["docs"] = t.docs
    return row


@app.command("list")
def list_types(
    output: Annotated[
        Format, typer.Option("--output", "-o", help="table, wide, json or yaml")
    ] = Format.table,
) -> None:
    """List every destination type."""
    from destinations import all_types

    types = all_types()
    if output in (Format.json, Format.yaml):
        emit([t.model_dump(by_alias=True, exclude_none=True, mode="json") for t in types], output)
        return
    wide = output == Format.wide
    table = Table(box=None, header_style="bold", pad_edge=False)
    columns = ["TYPE", "NAME", "CATEGORY", "SIGNALS", "TEST"] + (["AVAILABLE", "COMPONENTS"] if wide else [])
    for column in columns:
        table.add_column(column)
    for t in types:
        row = _type_summary(t, wide)
        cells = [t.type, t.display_name, t.category, ",".join(t.signals), "yes" if t.test_connection else ""]
        if wide:
            cells += ["yes" if row["available"] else "no", ",".join(row["components"])]
        table.add_row(*cells)
    Console(width=250).print(table)


@app.command("show")
def show_type(
    type_name: Annotated[str, typer.Argument(metavar="TYPE", help="a destination type, e.g. honeycomb")],
    output: Annotated[Format, typer.Option("--output", "-o", help="table, json or yaml")] = Format.table,
) -> None:
    """Show a destination type: signals and fields."""
    from destinations import UnknownTypeError, get_type

    try:
        t = get_type(type_name)
    except UnknownTypeError as exc:
        fail(str(exc))
    if output in (Format.json, Format.yaml):
        emit(t.model_dump(by_alias=True, exclude_none=True, mode="json"), output)
        return
    console = Console(width=200)
    console.print(f"[bold]{t.display_name}[/bold] ({t.type}, {t.category})", highlight=False)
    if t.description:
        console.print(t.description, highlight=False)
    console.print(f"signals: {', '.join(t.signals)}", highlight=False)
    console.print(f"test connection: {'yes' if t.test_connection else 'no'}", highlight=False)
    console.print(f"docs: {t.docs}", highlight=False)
    table = Table(box=None, header_style="bold", pad_edge=False)
    for column in ("FIELD", "LABEL", "KIND", "REQUIRED", "SECRET", "DEFAULT", "SHOWN IF"):
        table.add_column(column)
    for f in t.fields:
        kind = f.kind + (f" ({'|'.join(f.values())})" if f.options else "")
        shown = ""
        if f.show_if:
            shown = f.show_if.field + (f"={f.show_if.equals}" if f.show_if.equals is not None else "")
        if f.signals:
            shown = (shown + " " if shown else "") + f"signals: {','.join(f.signals)}"
        table.add_row(
            f.name,
            f.label,
            kind,
            "yes" if f.required else "",
            "yes" if f.secret else "",
            f.default or "",
            shown,
        )
    console.print(table)


def read_objects(
    path: Path, others: dict[str, list[dict[str, Any]]] | None = None
) -> tuple[list[dict[str, Any]], dict[str, set[str]]]:
    """Destinations and {Secret name: keys} from a YAML file (``-`` for stdin).

    Objects of the kinds named in ``others`` (e.g. ``Action``, ``SamplingRule``) are collected there.
    """
    text = sys.stdin.read() if str(path) == "-" else path.read_text()
    destinations: list[dict[str, Any]] = []
    secret_keys: dict[str, set[str]] = {}
    for doc in yaml.safe_load_all(text):
        items = doc.get("items", []) if isinstance(doc, dict) and doc.get("kind") == "List" else [doc]
        if isinstance(doc, list):
            items = doc
        for item in items:
            if not isinstance(item, dict):
                continue
            if others is not None and item.get("kind") in others:
                others[str(item["kind"])].append(item)
            elif item.get("kind") == "Secret":
                name = (item.get("metadata") or {}).get("name", "")
                secret_keys[name] = set(item.get("data") or {}) | set(item.get("stringData") or {})
            elif item.get("kind", "Destination") == "Destination":
                destinations.append(item)
    return destinations, secret_keys


@app.command("test")
def test_destination(
    file: Annotated[Path, typer.Option("--file", "-f", help="YAML with one Destination (and its Secret)")],
    timeout: Annotated[float, typer.Option(help="seconds to wait for the endpoint")] = 5.0,
    output: Annotated[Format, typer.Option("--output", "-o", help="table, json or yaml")] = Format.table,
) -> None:
    """Test connection: send an empty OTLP export to the destination's own endpoint."""
    import base64

    from destinations import test_connection

    if str(file) != "-" and not file.is_file():
        fail(f"{file}: no such file")
    text = sys.stdin.read() if str(file) == "-" else file.read_text()
    dests, secrets = [], {}
    for doc in yaml.safe_load_all(text):
        if not isinstance(doc, dict):
            continue
        if doc.get("kind") == "Secret":
            secrets.update({k: str(v) for k, v in (doc.get("stringData") or {}).items()})
            secrets.update({k: base64.b64decode(v).decode() for k, v in (doc.get("data") or {}).items()})
        else:
            dests.append(doc)
    if len(dests) != 1:
        fail(f"{file}: expected exactly one Destination, found {len(dests)}")
    result = test_connection(dests[0], secrets, timeout=timeout)
    if output in (Format.json, Format.yaml):
        emit({"status": result.status, "reason": result.reason, "endpoint": result.endpoint}, output)
    else:
        colour = "green" if result.ok else "red"
        stderr.print(
            f"[{colour}]{result.status}[/{colour}] {result.endpoint} {result.reason}", highlight=False
        )
    if not result.ok:
        raise typer.Exit(code=1)


def collector_config(
    role: Annotated[Role, typer.Option("--role", help="gateway or node")],
    file: Annotated[Path, typer.Option("--file", "-f", help="YAML with Destination objects ('-' = stdin)")],
    output: Annotated[ConfigFormat, typer.Option("--output", "-o", help="yaml or json")] = ConfigFormat.yaml,
    kubernetes: Annotated[
        KubernetesMode,
        typer.Option(help="node role: k8sattributes against the API server, passthrough, or off"),
    ] = KubernetesMode.cluster,
    log_source: Annotated[
        list[str] | None,
        typer.Option(help="node role: read pod logs of NAMESPACE[/POD-PREFIX] (repeatable)"),
    ] = None,
    gateway_endpoint: Annotated[str | None, typer.Option(help="node role: where the gateway listens")] = None,
    validate: Annotated[bool, typer.Option(help="check the result with the pinned collector")] = False,
    strict: Annotated[bool, typer.Option(help="exit 2 when a destination is left out")] = False,
) -> None:
    """Print the collector configuration rendered from Destinations, Actions and SamplingRules.

    Problems (a destination, action or rule left out, and why) go to stderr.
    """
    from destinations.errors import CollectorError
    from pipelines import LogSource, NodeOptions, render_gateway, render_node

    if str(file) != "-" and not file.is_file():
        fail(f"{file}: no such file")
    others: dict[str, list[dict[str, Any]]] = {"Action": [], "SamplingRule": []}
    try:
        dests, secret_keys = read_objects(file, others)
    except yaml.YAMLError as exc:
        fail(f"{file}: not valid YAML: {exc}")
    if role == Role.gateway:
        rendered = render_gateway(
            dests, actions=others["Action"], rules=others["SamplingRule"], secret_keys=secret_keys or None
        )
    else:
        sources = tuple(LogSource(*item.split("/", 1)) for item in log_source or [])
        options = NodeOptions(kubernetes=kubernetes.value, log_sources=sources)
        if gateway_endpoint:
            options = dataclasses.replace(options, gateway_endpoint=gateway_endpoint)
        rendered = render_node(dests, actions=others["Action"], options=options)
    left_out = [r for r in rendered.results.values() if not r.configured]
    for result in left_out:
        stderr.print(
            f"[yellow]warning:[/yellow] destination {result.name}: {result.message}", highlight=False
        )
    refused = [
        (kind, r) for kind, found in (("action", rendered.actions), ("rule", rendered.rules))
        for r in found.values() if not r.applied and r.reason != "Disabled"
    ]  # fmt: skip
    for kind, outcome in refused:
        stderr.print(f"[yellow]warning:[/yellow] {kind} {outcome.name}: {outcome.message}", highlight=False)
    if validate:
        from destinations import collector

        if not collector.is_built():
            fail("the pinned collector is not built yet (run `make setup`)")
        try:
            collector.validate(rendered.config, env={name: "placeholder" for name in rendered.secret_env})
        except CollectorError as exc:
            fail(str(exc))
        stderr.print("[green]valid[/green]: the pinned collector accepts this configuration", highlight=False)
    sys.stdout.write(dump(rendered.config, output.value) + "\n")
    if strict and (left_out or refused):
        raise typer.Exit(code=2)
