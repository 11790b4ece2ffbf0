"""The ``logos`` command: one entry point that wires the services together (a composition root)."""

from __future__ import annotations

import signal
from types import FrameType

import typer

from logos import __version__
from services.cli import backtest, contracts, ml, portfolio, stack, stack_replay, trade
from services.cli.brokers import brokers_app, validate_config

app = typer.Typer(
    name="logos",
    help="Logos: backtests, paper and live trading through a risk gate, over Redis Streams.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,  # locals can hold secrets
)
app.add_typer(contracts.app, name="contracts")
stack.stack_app.command("replay-check")(stack_replay.replay_check)
app.add_typer(stack.stack_app, name="stack")
app.add_typer(ml.app, name="ml")
app.add_typer(backtest.strategies_app, name="strategies")
app.command("backtest")(backtest.backtest)
app.add_typer(portfolio.portfolio_app, name="portfolio")
app.command("trade")(trade.trade)
app.command("replay-check")(trade.replay_check)
app.command()(stack.serve)
app.command()(stack.healthcheck)
app.command()(stack.status)
app.command()(stack.kill)
app.command()(stack.resume)
app.add_typer(brokers_app, name="brokers")
app.command("validate-config")(validate_config)


@app.command()
def version() -> None:
    """Print the version."""
    typer.echo(__version__)


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def main() -> None:
    """Run the command line; SIGTERM stops a command like Ctrl-C (containers send it on stop)."""
    signal.signal(signal.SIGTERM, _interrupt)
    app()
