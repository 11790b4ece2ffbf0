"""Options and argument checks shared by the research and trading commands (backtest, trade)."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Annotated

import typer

from logos.execution.fill_model import FillTiming

ParamOption = Annotated[list[str] | None, typer.Option(help="Strategy parameter key=value (repeatable).")]
CashOption = Annotated[str, typer.Option(help="Starting cash.")]
FeeOption = Annotated[str, typer.Option(help="Fee per fill, in basis points of notional.")]
SlippageOption = Annotated[str, typer.Option(help="Adverse slippage per fill, in basis points.")]
FillOption = Annotated[
    FillTiming, typer.Option(help="Fill market orders at the next bar's open or the deciding close.")
]
SizingOption = Annotated[str, typer.Option(help="equity:FRACTION, notional:AMOUNT or vol:TARGET.")]


def fail(message: str) -> typer.Exit:
    """Print one error line and return the exit (code 2) for the caller to raise."""
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(2)


def parse_decimal(name: str, value: str) -> Decimal:
    """Read a numeric option exactly, or stop with a line naming the option."""
    try:
        return Decimal(value)
    except InvalidOperation:
        raise fail(f"{name} must be a number, got {value!r}") from None
