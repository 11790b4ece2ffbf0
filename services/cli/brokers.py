"""``logos brokers check``, ``logos validate-config`` and the broker options of ``logos trade``."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Literal

import typer

from services.cli.config_file import ConfigFileError, read_config_file
from services.cli.options import fail
from services.cli.validation import check_stack, load_stack, refusals, summary
from services.executor.brokers.credentials import write_stamp
from services.executor.brokers.factory import build_broker
from services.executor.brokers.interface import CredentialCheck, VenueUnavailable
from services.executor.config import ExecutorSettings

brokers_app = typer.Typer(help="Check broker credentials before trading.", no_args_is_help=True)

EXIT_READY, EXIT_NOT_READY, EXIT_USAGE, EXIT_UNCHECKED = 0, 1, 2, 3


def _missing_keys(settings: ExecutorSettings) -> list[str]:
    """Alpaca's key settings that are empty (its client refuses to start without them; ccxt reports its own)."""
    if settings.broker != "alpaca":
        return []
    wanted = (("EXECUTOR_ALPACA_API_KEY", settings.alpaca_api_key),
              ("EXECUTOR_ALPACA_SECRET_KEY", settings.alpaca_secret_key))  # fmt: skip
    return [name for name, value in wanted if value is None or not value.get_secret_value()]


def _mark(check: CredentialCheck) -> str:
    return {True: "ready", False: "MISSING", None: "unknown"}[check.ready]


@brokers_app.command("check")
def check(
    broker: Annotated[str, typer.Argument(help="ccxt or alpaca (ib: not supported yet).")],
    exchange: Annotated[str | None, typer.Option(help="The ccxt exchange id (e.g. binance).")] = None,
    live: Annotated[bool, typer.Option("--live", help="Check against the live endpoint (default: paper).")] = False,
    sandbox: Annotated[bool, typer.Option("--sandbox", help="Check against the exchange's testnet (ccxt).")] = False,
) -> None:
    """Report what is ready and what is missing for a broker account; exit 0 ready, 1 not, 3 unchecked."""
    if broker not in ("ccxt", "alpaca", "ib"):
        raise fail(f"unknown broker {broker!r}; choose ccxt or alpaca")
    if broker == "ccxt" and not exchange:
        raise fail("ccxt needs --exchange NAME (e.g. binance)")
    settings = ExecutorSettings().model_copy(
        update={"broker": broker, "exchange": exchange or "", "live": live, "sandbox": sandbox and not live}
    )
    missing = _missing_keys(settings)
    if missing:  # nothing to ask the venue (Alpaca's client will not even start without keys)
        typer.echo(f"{broker}{' ' + settings.exchange if exchange else ''} ({settings.venue_endpoint()}):")
        checks = [CredentialCheck("keys present", False, f"missing: {', '.join(missing)}"),
                  CredentialCheck("keys accepted", None, "not checked: no keys")]  # fmt: skip
        for item in checks:
            typer.echo(f"  {_mark(item):<8} {item.name}: {item.detail}")
        typer.echo("not ready: fix the MISSING items above")
        raise typer.Exit(EXIT_NOT_READY)
    try:
        venue = build_broker(settings)
    except ValueError as exc:
        raise fail(str(exc)) from None
    endpoint = settings.venue_endpoint()
    typer.echo(f"{broker}{' ' + settings.exchange if exchange else ''} ({endpoint}):")
    try:
        checks = venue.validate_credentials()
    except VenueUnavailable as exc:
        typer.echo(f"  unknown  venue: {exc}")
        raise typer.Exit(EXIT_UNCHECKED) from None
    for item in checks:
        typer.echo(f"  {_mark(item):<8} {item.name}: {item.detail}")
    if any(item.ready is False for item in checks):
        typer.echo("not ready: fix the MISSING items above")
        raise typer.Exit(EXIT_NOT_READY)
    accepted = next((item.ready for item in checks if item.name == "keys accepted"), None)
    if accepted is not True:
        typer.echo("not checked: the venue could not confirm the keys")
        raise typer.Exit(EXIT_UNCHECKED)
    stamp = write_stamp(settings)
    typer.echo(f"ready: recorded in {stamp} (a live start accepts these credentials for 24 hours)")


def validate_config(
    path: Annotated[
        Path | None, typer.Argument(help="A YAML or NAME=value file whose settings stand over the environment.")
    ] = None,
) -> None:
    """Check every setting, name and combination of the stack; print each problem and exit 1, else a summary."""
    try:
        config_file = read_config_file(path) if path else None
    except ConfigFileError as exc:
        raise fail(str(exc)) from None
    config, problems = check_stack(config_file)
    if problems:
        for line in problems:
            typer.echo(f"refused: {line}", err=True)
        raise typer.Exit(1)
    assert config is not None
    typer.echo("configuration OK")
    for line in summary(config):
        typer.echo(f"  {line}")


def refuse_unsafe_start(service: str) -> None:
    """Stop a service's start-up (exit 2) with one line per problem that concerns it, as validate-config lists them."""
    _, problems = check_stack(service=service)
    if problems:
        for line in problems:
            typer.echo(f"error: {service}: {line}", err=True)
        raise typer.Exit(2)


@dataclass(frozen=True)
class BrokerChoice:
    """The broker options of ``logos trade``."""

    broker: Literal["paper", "ccxt", "alpaca", "ib"] = "paper"
    exchange: str | None = None
    dry_run: bool = False
    sandbox: bool = False
    venue_symbols: list[str] = field(default_factory=list)
    live: bool = False
    acknowledged: bool = False

    def apply(self, settings: ExecutorSettings) -> ExecutorSettings:
        """Return ``settings`` with these options over them (options given on the command line win)."""
        update: dict[str, object] = {"live": self.live, "acknowledge_risk": self.acknowledged}
        if self.broker != "paper" or "broker" not in settings.model_fields_set:
            update["broker"] = self.broker if self.broker != "paper" else settings.broker
        if self.exchange:
            update["exchange"] = self.exchange
        if self.dry_run:
            update["dry_run"] = True
        if self.sandbox:
            update["sandbox"] = True
        if self.venue_symbols:
            mapping = dict(settings.symbol_map)
            for pair in self.venue_symbols:
                ours, separator, venue = pair.partition("=")
                if not separator or not ours or not venue:
                    raise fail(f"--venue-symbol takes OURS=VENUE (e.g. BTC-USD=BTC/USDT), got {pair!r}")
                mapping[ours] = venue
            update["symbol_map"] = mapping
        return settings.model_copy(update=update)

    def refuse_unsafe(self, settings: ExecutorSettings) -> None:
        """Stop (exit 2) with the validator's lines when the session would be unsafe; live checks the whole stack."""
        config, problems = load_stack()
        if config is not None:
            stack = dataclasses.replace(config, executor=settings)
            problems = refusals(stack, None if settings.live else "executor")
        if settings.broker != "paper" and not settings.dry_run and not problems:
            # one process on replayed or polled bars: orders reach a venue only through the executor service
            problems = ["`logos trade` sends no order to a venue: run this session with --dry-run, and route orders "
                        "through the stack (`logos serve executor` or `make paper` with EXECUTOR_BROKER set; "
                        "docs/RUNBOOK.md)"]  # fmt: skip
        if not problems:
            return
        for line in problems:
            typer.echo(f"refused: {line}", err=True)
        raise typer.Exit(2)
