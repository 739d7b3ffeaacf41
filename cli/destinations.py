"""`hodegos destinations ...` commands."""

from __future__ import annotations

import typer

app = typer.Typer(help="destinations commands.", no_args_is_help=True)


def collector_config() -> None:
    """Print a rendered collector configuration."""
    raise typer.Exit(code=1)
