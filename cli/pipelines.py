"""`hodegos pipelines kinds|show`: the kinds of Actions and SamplingRules, and the fields each takes."""

from __future__ import annotations

import typer
from rich.console import Console
from rich.table import Table

from cli.output import Format, emit, fail

app = typer.Typer(help="Actions and sampling rules: the kinds and their fields.", no_args_is_help=True)


@app.command("kinds")
def kinds_command(
    output: Format = typer.Option(Format.table, "--output", "-o", help="table, json or yaml."),
) -> None:
    """List every kind of Action and SamplingRule: where it acts and what it does."""
    from pipelines import kinds

    rows: list[dict[str, str]] = [
        {
            "kind": k.kind,
            "object": "Action" if k.family == "action" else "SamplingRule",
            "stage": k.stage,
            "signals": ",".join(k.signals),
            "displayName": k.display_name,
            "description": k.description,
        }
        for k in kinds.catalogue().values()
    ]
    if output in (Format.json, Format.yaml):
        emit(rows, output)
        return
    table = Table(box=None)
    for column in ("KIND", "OBJECT", "STAGE", "SIGNALS", "DESCRIPTION"):
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(row["kind"], row["object"], row["stage"], row["signals"], row["description"])
    Console().print(table)


@app.command("show")
def show(
    kind: str = typer.Argument(..., help="A kind, e.g. piiMasking."),
    output: Format = typer.Option(Format.table, "--output", "-o", help="table, json or yaml."),
) -> None:
    """The fields of one kind, and an example object using it."""
    from pipelines import kinds
    from pipelines.errors import RuleInvalid

    try:
        found = kinds.get_kind(kind)
    except RuleInvalid:
        fail(f"unknown kind {kind!r}; `hodegos pipelines kinds` lists them")
    example = {f.name: f.sample() for f in found.fields if f.sample() is not None}
    obj = "Action" if found.family == "action" else "SamplingRule"
    document = {
        "kind": found.kind,
        "displayName": found.display_name,
        "description": found.description,
        "fields": [
            f.model_dump(by_alias=True, exclude_none=True, exclude_defaults=True) for f in found.fields
        ],
        "example": {
            "apiVersion": "hodegos.io/v1alpha1",
            "kind": obj,
            "metadata": {"name": f"my-{found.kind.lower()}", "namespace": "hodegos-system"},
            "spec": {found.kind: example},
        },
    }
    if output in (Format.json, Format.yaml):
        emit(document, output)
        return
    console = Console()
    console.print(f"[bold]{found.display_name}[/bold] ({obj} kind {found.kind}, stage {found.stage})")
    console.print(found.description)
    table = Table("FIELD", "LABEL", "KIND", "REQUIRED", "DEFAULT", "HELP", box=None)
    for f in found.fields:
        table.add_row(f.name, f.label, f.kind, "yes" if f.required else "", f.default or "", f.help)
    console.print(table)
    emit(document["example"], Format.yaml)
