"""The translator: a target exposure becomes a quantized target position, or a refusal with a reason.

This is the one place quantities are quantized. The translator never rounds up: a quantized target
is never larger than what was asked for, and the order it implies never breaks the symbol's limits.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import NamedTuple

from pydantic import BaseModel, ConfigDict, Field

from logos.contracts import OrderIntent
from logos.orders.sizing import EquityFraction, FixedNotional, VolatilityTarget
from logos.symbols import SymbolSpec, quantize_quantity

ZERO = Decimal(0)


class Refusal(StrEnum):
    """Why the translator produced no order."""

    NO_CHANGE = "no_change"
    BELOW_MIN_NOTIONAL = "below_min_notional"
    BELOW_MIN_QUANTITY = "below_min_quantity"
    NO_PRICE = "no_price"


class Caps(BaseModel):
    """Hard ceilings the translator applies after sizing."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    max_order_notional: Decimal | None = Field(default=None, gt=0, description="Largest single order, in quote.")
    max_position_notional: Decimal | None = Field(default=None, gt=0, description="Largest position, in quote.")


class Translation(NamedTuple):
    """The quantized target position and the order it implies, or the reason there is none."""

    target_quantity: Decimal
    order_quantity: Decimal  # signed: target - current position
    refusal: Refusal | None = None
    detail: str = ""


_EXPOSURES = {1.0: Decimal(1), -1.0: Decimal(-1), 0.5: Decimal("0.5"), -0.5: Decimal("-0.5")}
_NO_CHANGE_DETAIL = "target equals the current position after quantization"
_new = tuple.__new__


def translate(
    exposure: float,
    price: Decimal,
    equity: Decimal,
    position: Decimal,
    spec: SymbolSpec,
    sizing: FixedNotional | EquityFraction | VolatilityTarget,
    caps: Caps | None = None,
    volatility: float | None = None,
) -> Translation:
    """Turn a target exposure in [-1, 1] into a quantized target position for ``spec``."""
    # a backtest calls this on every decision: translations are built with tuple.__new__ (the named
    # tuple's own __new__ is Python code) and each setting is read once
    if price <= 0:
        return Translation(position, ZERO, Refusal.NO_PRICE, f"no positive price for {spec.symbol}")
    if exposure == 0 and position != 0:
        # flattening closes the whole position, on or off the lot grid, whatever its size
        return _new(Translation, (ZERO, -position, None, ""))
    weight = _EXPOSURES.get(exposure) or Decimal(repr(exposure))
    budget = sizing.budget(equity, volatility) * weight
    if caps is not None and caps.max_position_notional is not None:
        budget = max(min(budget, caps.max_position_notional), -caps.max_position_notional)
    target = budget / price
    max_quantity = spec.max_quantity
    if max_quantity is not None:
        target = max(min(target, max_quantity), -max_quantity)
    delta = target - position
    if caps is not None and caps.max_order_notional is not None and abs(delta) * price > caps.max_order_notional:
        delta = (caps.max_order_notional / price) * (1 if delta > 0 else -1)
    # quantize the order, not the target, so the resulting position stays on the lot grid
    order = quantize_quantity(delta, spec.lot_size)
    if order == 0:
        return _new(Translation, (position, ZERO, Refusal.NO_CHANGE, _NO_CHANGE_DETAIL))
    size = abs(order)
    if size < spec.min_quantity:
        return Translation(
            position, ZERO, Refusal.BELOW_MIN_QUANTITY, f"order {size} below minimum quantity {spec.min_quantity}"
        )
    notional = size * price
    if notional < spec.min_notional:
        return Translation(
            position, ZERO, Refusal.BELOW_MIN_NOTIONAL, f"order notional {notional} below minimum {spec.min_notional}"
        )
    return _new(Translation, (position + order, order, None, ""))


def to_intent(
    translation: Translation, spec: SymbolSpec, price: Decimal, bar_ts: datetime, strategy: str, intent_id: str
) -> OrderIntent:
    """Return the wire intent for an accepted translation (a refused one has nothing to send)."""
    if translation.refusal is not None:
        raise ValueError(f"no intent for a refused translation ({translation.refusal}: {translation.detail})")
    return OrderIntent(
        id=intent_id,
        symbol=spec.symbol,
        target_quantity=translation.target_quantity,
        reference_price=spec.quantize_price(price),
        bar_ts=bar_ts,
        strategy=strategy,
    )
