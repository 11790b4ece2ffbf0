"""Sizing rules: how much a full (1.0) target exposure is worth, in units of the symbol."""

from __future__ import annotations

import math
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from logos.error_text import one_line

ZERO = Decimal(0)


class _Rule(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class FixedNotional(_Rule):
    """A full position is worth ``notional`` in the quote currency, whatever the equity."""

    kind: Literal["notional"] = "notional"
    notional: Decimal = Field(gt=0)

    def budget(self, equity: Decimal, volatility: float | None) -> Decimal:
        return self.notional

    def largest_budget(self, equity: Decimal) -> Decimal:
        """The most a full position can be worth at ``equity``, whatever the volatility."""
        return self.notional


class EquityFraction(_Rule):
    """A full position is worth ``fraction`` of current equity (1.0 = fully invested, no leverage)."""

    kind: Literal["equity"] = "equity"
    fraction: Decimal = Field(default=Decimal(1), gt=0, le=10)

    def budget(self, equity: Decimal, volatility: float | None) -> Decimal:
        return equity * self.fraction if equity > ZERO else ZERO

    def largest_budget(self, equity: Decimal) -> Decimal:
        """The most a full position can be worth at ``equity``, whatever the volatility."""
        return self.budget(equity, None)


class VolatilityTarget(_Rule):
    """A full position is sized so its annualized volatility is ``target`` of equity, capped by leverage."""

    kind: Literal["vol"] = "vol"
    target: Decimal = Field(default=Decimal("0.2"), gt=0, le=5)
    max_leverage: Decimal = Field(default=Decimal(1), gt=0, le=10)

    def budget(self, equity: Decimal, volatility: float | None) -> Decimal:
        if volatility is None or not math.isfinite(volatility) or volatility <= 0:
            return Decimal(0)  # no volatility estimate yet: stay out rather than guess
        leverage = min(self.target / Decimal(str(round(volatility, 12))), self.max_leverage)
        return max(equity, Decimal(0)) * leverage

    def largest_budget(self, equity: Decimal) -> Decimal:
        """The most a full position can be worth at ``equity``: at low volatility, the leverage cap."""
        return max(equity, ZERO) * self.max_leverage


SizingRule = Annotated[FixedNotional | EquityFraction | VolatilityTarget, Field(discriminator="kind")]


class SizingError(ValueError):
    """A sizing specification that cannot be read."""


def parse_sizing(text: str) -> FixedNotional | EquityFraction | VolatilityTarget:
    """Read ``equity:1.0``, ``notional:10000`` or ``vol:0.2`` (target annualized volatility)."""
    kind, _, value = text.partition(":")
    try:
        amount = Decimal(value) if value else None
        if kind == "equity":
            return EquityFraction(fraction=amount if amount is not None else Decimal(1))
        if kind == "notional" and amount is not None:
            return FixedNotional(notional=amount)
        if kind == "vol":
            return VolatilityTarget(target=amount if amount is not None else Decimal("0.2"))
    except (ArithmeticError, ValueError) as exc:
        raise SizingError(f"sizing {text!r}: {one_line(exc)}") from None
    raise SizingError(f"sizing {text!r}: use equity:FRACTION, notional:AMOUNT or vol:TARGET")
