"""``logos contracts``: the wire contracts as JSON Schema."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from logos.contracts import MESSAGE_TYPES, SCHEMA_VERSION, json_schemas

app = typer.Typer(help="Inspect the wire contracts.", no_args_is_help=True)


@app.command()
def schema(
    message_type: Annotated[str | None, typer.Argument(help="One message type (e.g. bar); all when omitted.")] = None,
) -> None:
    """Print the JSON Schema of every message type (or of one)."""
    schemas = json_schemas()
    if message_type is not None:
        if message_type not in schemas:
            known = ", ".join(sorted(MESSAGE_TYPES))
            typer.echo(f"error: unknown message type {message_type!r}; known types: {known}", err=True)
            raise typer.Exit(2)
        schemas = {message_type: schemas[message_type]}
    typer.echo(json.dumps({"schema_version": SCHEMA_VERSION, "messages": schemas}, indent=2, sort_keys=True))
