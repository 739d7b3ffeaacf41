"""`hodegos webhook ...` commands."""

from __future__ import annotations

import typer

app = typer.Typer(help="webhook commands.", no_args_is_help=True)
