"""The ``logos`` command: one entry point that wires the services together (a composition root)."""

from __future__ import annotations

import signal
import sys
from types import FrameType

import typer
from typer._click.exceptions import NoArgsIsHelpError, UsageError
from typer.exceptions import Abort, TyperException

from logos import __version__
from logos.error_text import one_line
from logos.settings import LogosDebug
from services.cli import backtest, contracts, ml, portfolio, secrets_command, stack, stack_replay, trade
from services.cli.brokers import brokers_app, validate_config
from services.cli.session_command import session_app
from services.cli.supervisor import run as run_stack

app = typer.Typer(
    name="logos",
    help="Logos: backtests, paper and live trading through a risk gate, over Redis Streams.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,  # locals can hold secrets
)
app.add_typer(contracts.app, name="contracts")
stack.stack_app.command("replay-check")(stack_replay.replay_check)
stack.stack_app.command("run")(run_stack)
app.add_typer(session_app, name="session")
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
app.add_typer(secrets_command.secrets_app, name="secrets")
app.command("validate-config")(validate_config)


@app.command()
def version() -> None:
    """Print the version."""
    typer.echo(__version__)


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def _error(message: str, code: int) -> int:
    typer.echo(f"error: {message}", err=True)
    return code


def run(argv: list[str] | None = None) -> int:
    """Run the command line and return its exit code; every error a user can cause is one line on stderr.

    Usage errors and refused input (bad values, unsafe names, unreadable files) exit 2. Anything else
    is a defect: one line and exit 1, with the traceback only when LOGOS_DEBUG is set.
    """
    try:
        code = app(args=argv, prog_name="logos", standalone_mode=False)
    except NoArgsIsHelpError as exc:  # `logos` or a group alone: its help, as before
        exc.show()
        return exc.exit_code
    except UsageError as exc:  # typer's own (click's) errors: unknown options, values of the wrong type
        where = f" (see `{exc.ctx.command_path} --help`)" if exc.ctx is not None else ""
        return _error(one_line(ValueError(exc.format_message().replace("Value error, ", ""))) + where, exc.exit_code)
    except TyperException as exc:
        return _error(one_line(ValueError(exc.format_message())), exc.exit_code)
    except Abort:
        return _error("aborted", 1)
    except (ValueError, OSError) as exc:  # refused input: pydantic's errors, our own checks, missing files
        return _error(one_line(exc), 2)
    except Exception as exc:
        if LogosDebug.enabled():
            raise
        return _error(f"unexpected {type(exc).__name__}: {one_line(exc)} (set LOGOS_DEBUG=1 for the traceback)", 1)
    return code if isinstance(code, int) else 0


def main() -> None:
    """Run the command line; SIGTERM stops a command like Ctrl-C (containers send it on stop)."""
    signal.signal(signal.SIGTERM, _interrupt)
    sys.exit(run())
