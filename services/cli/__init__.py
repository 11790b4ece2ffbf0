"""The ``logos`` command: one entry point that wires the services together (a composition root)."""

from __future__ import annotations

import typer

from logos import __version__
from services.cli import contracts, stack

app = typer.Typer(
    name="logos",
    help="Logos: backtests, paper and live trading through a risk gate, over Redis Streams.",
    no_args_is_help=True,
    add_completion=False,
)
app.add_typer(contracts.app, name="contracts")
app.add_typer(stack.stack_app, name="stack")
app.command()(stack.serve)
app.command()(stack.healthcheck)
app.command()(stack.status)


@app.command()
def version() -> None:
    """Print the version."""
    typer.echo(__version__)


def main() -> None:
    """Run the command line."""
    app()
