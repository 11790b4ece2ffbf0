"""How simulated orders fill against bars: timing, slippage, fees, participation, limit touches.

The paper broker and the backtest call this same code, which is why paper equals backtest.
"""

from __future__ import annotations

from datetime import datetime
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from enum import StrEnum
from typing import NamedTuple

from pydantic import BaseModel, ConfigDict, Field

from logos.contracts import Liquidity, OrderType, Side
from logos.symbols import SymbolSpec

BPS = Decimal("0.0001")
FEE_QUANTUM = Decimal("0.00000001")
_new = tuple.__new__


class FillTiming(StrEnum):
    NEXT_OPEN = "next_open"  # decided at the close of bar t, filled at the open of bar t+1
    CLOSE = "close"  # filled at the close of the bar it was decided on (optimistic)


class FillModelConfig(BaseModel):
    """Costs and timing of simulated fills; every default is the conservative choice."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    timing: FillTiming = Field(default=FillTiming.NEXT_OPEN, description="When market orders fill.")
    slippage_bps: Decimal = Field(default=Decimal(0), ge=0, le=1000, description="Adverse price move per fill.")
    slippage_jitter_bps: Decimal = Field(
        default=Decimal(0), ge=0, le=1000, description="Extra random adverse slippage, uniform in [0, jitter]."
    )
    taker_fee_bps: Decimal = Field(default=Decimal(10), ge=0, le=1000, description="Fee of market orders.")
    maker_fee_bps: Decimal = Field(default=Decimal(10), ge=0, le=1000, description="Fee of resting limit orders.")
    participation_cap: Decimal | None = Field(
        default=None, gt=0, le=1, description="Most of a bar's volume one order may take; the rest waits."
    )
    seed: int = Field(
        default=0, ge=0, le=2**63 - 1, description="Seed of the slippage jitter; the same seed gives the same fills."
    )


class BarPrices(NamedTuple):
    """The bar an order is matched against."""

    ts: datetime
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    volume: Decimal


class Match(NamedTuple):
    """A (partial) fill the model decided on."""

    quantity: Decimal
    price: Decimal
    fee: Decimal
    liquidity: Liquidity


class FillModel:
    """Matches one order against one bar; deterministic for a given configuration and seed."""

    def __init__(self, config: FillModelConfig) -> None:
        import numpy as np  # here, not at the top: the CLI imports FillTiming from this module for its options

        self.config = config
        self._rng = np.random.default_rng(config.seed)
        self._taker = config.taker_fee_bps * BPS
        self._maker = config.maker_fee_bps * BPS
        self._slippage = config.slippage_bps * BPS
        self._slips = bool(config.slippage_bps or config.slippage_jitter_bps)

    def match(
        self,
        spec: SymbolSpec,
        side: Side,
        remaining: Decimal,
        bar: BarPrices,
        order_type: OrderType = OrderType.MARKET,
        limit_price: Decimal | None = None,
    ) -> Match | None:
        """Return the fill of ``remaining`` (or part of it) on ``bar``, or None if nothing fills there."""
        quantity = self._capped(spec, remaining, bar.volume)
        if quantity <= 0:
            return None
        if order_type is OrderType.MARKET:
            reference = bar.open if self.config.timing is FillTiming.NEXT_OPEN else bar.close
            return self.fill_market(spec, side, quantity, reference)
        if limit_price is None:
            raise ValueError("a limit order needs a limit price")
        touched = bar.low <= limit_price if side is Side.BUY else bar.high >= limit_price
        if not touched:
            return None
        # a gap through the limit fills at the better open price
        price = min(bar.open, limit_price) if side is Side.BUY else max(bar.open, limit_price)
        return Match(quantity, price, self._fee(quantity, price, self._maker), Liquidity.MAKER)

    def fill_market(self, spec: SymbolSpec, side: Side, quantity: Decimal, reference: Decimal) -> Match:
        """Fill ``quantity`` at ``reference`` (the bar's open or close) plus slippage, as a taker."""
        price = self._slipped(spec, side, reference) if self._slips else reference
        # tuple.__new__ builds the same named tuple without its Python-level __new__ (a backtest fills thousands)
        return _new(Match, (quantity, price, self._fee(quantity, price, self._taker), Liquidity.TAKER))

    def _capped(self, spec: SymbolSpec, remaining: Decimal, volume: Decimal) -> Decimal:
        cap = self.config.participation_cap
        if cap is None:
            return remaining
        return min(remaining, spec.quantize_quantity(volume * cap))

    def _slipped(self, spec: SymbolSpec, side: Side, reference: Decimal) -> Decimal:
        slippage = self._slippage
        if self.config.slippage_jitter_bps:
            slippage += Decimal(str(round(float(self._rng.uniform(0, 1)), 6))) * self.config.slippage_jitter_bps * BPS
        if not slippage:
            return reference
        # adverse, and rounded to the tick against the trader
        if side is Side.BUY:
            raw, rounding = reference * (1 + slippage), ROUND_CEILING
        else:
            raw, rounding = reference * (1 - slippage), ROUND_FLOOR
        return (raw / spec.tick_size).to_integral_value(rounding=rounding) * spec.tick_size

    @staticmethod
    def _fee(quantity: Decimal, price: Decimal, rate: Decimal) -> Decimal:
        # fees are charged to the cent (or the quote's smallest unit), rounded up like venues do
        return (quantity * price * rate).quantize(FEE_QUANTUM, rounding=ROUND_CEILING)
