"""How simulated orders fill against bars: timing, slippage, fees, participation, limit touches, cash.

The paper broker and the backtest call this same code, which is why paper equals backtest.

A cash account cannot spend more than it holds: given the account's cash, a buy whose quantity
times the fill price plus the fee is more than the cash is cut to the most whole lots the cash pays
for (fee included, rounded up as it is charged), or refused when not even the symbol's minimum is
affordable — :data:`INSUFFICIENT_CASH` is the reason either way. Sells are never limited by cash.
"""

from __future__ import annotations

from datetime import datetime
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from enum import StrEnum
from typing import NamedTuple, overload

from pydantic import BaseModel, ConfigDict, Field

from logos.contracts import DenialReason, Liquidity, OrderType, Side
from logos.symbols import SymbolSpec

BPS = Decimal("0.0001")
FEE_QUANTUM = Decimal("0.00000001")
INSUFFICIENT_CASH: str = DenialReason.INSUFFICIENT_CASH.value  # risk's denial and the fill's cut share one code
ZERO = Decimal(0)
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

    def fillable(
        self,
        spec: SymbolSpec,
        side: Side,
        remaining: Decimal,
        bar: BarPrices,
        order_type: OrderType = OrderType.MARKET,
        limit_price: Decimal | None = None,
    ) -> Decimal:
        """Return how much of ``remaining`` ``bar`` fills before cash counts (participation, limit touch); 0: none."""
        quantity = self._capped(spec, remaining, bar.volume)
        if quantity <= 0:
            return ZERO
        if order_type is OrderType.MARKET:
            return quantity
        if limit_price is None:
            raise ValueError("a limit order needs a limit price")
        touched = bar.low <= limit_price if side is Side.BUY else bar.high >= limit_price
        return quantity if touched else ZERO

    def match(
        self,
        spec: SymbolSpec,
        side: Side,
        remaining: Decimal,
        bar: BarPrices,
        order_type: OrderType = OrderType.MARKET,
        limit_price: Decimal | None = None,
        cash: Decimal | None = None,
    ) -> Match | None:
        """Return the fill of ``remaining`` (or part of it) on ``bar``, or None if nothing fills there.

        With ``cash`` a buy fills only what the cash pays for: :func:`cut_by_cash` of
        :meth:`fillable` and the result tells the caller the cash rule cut (or refused) it.
        """
        quantity = self.fillable(spec, side, remaining, bar, order_type, limit_price)
        if quantity <= 0:
            return None
        if order_type is OrderType.MARKET:
            reference = bar.open if self.config.timing is FillTiming.NEXT_OPEN else bar.close
            return self.fill_market(spec, side, quantity, reference, cash)
        assert limit_price is not None  # fillable() refused a limit order without one
        # a gap through the limit fills at the better open price
        price = min(bar.open, limit_price) if side is Side.BUY else max(bar.open, limit_price)
        fee = self._fee(quantity, price, self._maker)
        if cash is not None and side is Side.BUY and quantity * price + fee > cash:
            return _within_cash(spec, quantity, price, self._maker, cash, Liquidity.MAKER)
        return Match(quantity, price, fee, Liquidity.MAKER)

    @overload
    def fill_market(
        self, spec: SymbolSpec, side: Side, quantity: Decimal, reference: Decimal, cash: None = None
    ) -> Match: ...

    @overload
    def fill_market(
        self, spec: SymbolSpec, side: Side, quantity: Decimal, reference: Decimal, cash: Decimal | None
    ) -> Match | None: ...

    def fill_market(
        self, spec: SymbolSpec, side: Side, quantity: Decimal, reference: Decimal, cash: Decimal | None = None
    ) -> Match | None:
        """Fill ``quantity`` at ``reference`` (the bar's open or close) plus slippage, as a taker.

        With ``cash`` a buy is cut to what the cash pays for, or refused (None) when not even the
        symbol's minimum is affordable; without it (or for a sell) the whole quantity fills.
        """
        price = self._slipped(spec, side, reference) if self._slips else reference
        notional = quantity * price
        # the fee exactly as _fee computes it, written out: a backtest fills tens of thousands of times
        fee = (notional * self._taker).quantize(FEE_QUANTUM, rounding=ROUND_CEILING)
        if cash is not None and side is Side.BUY and notional + fee > cash:
            return _within_cash(spec, quantity, price, self._taker, cash, Liquidity.TAKER)
        # tuple.__new__ builds the same named tuple without its Python-level __new__ (a backtest fills thousands)
        return _new(Match, (quantity, price, fee, Liquidity.TAKER))

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


def cut_by_cash(wanted: Decimal, match: Match | None) -> bool:
    """Tell whether the cash rule cut a fill the bar offered ``wanted`` of (``match`` None: refused it whole).

    ``wanted`` is what :meth:`FillModel.fillable` (or the quantity given to ``fill_market``) said,
    ``match`` what the same call with the account's cash returned.
    """
    return wanted > 0 and (match is None or match.quantity < wanted)


def affordable_quantity(
    spec: SymbolSpec, quantity: Decimal, price: Decimal, fee_rate: Decimal, cash: Decimal
) -> Decimal:
    """Return the most of ``quantity`` that ``cash`` buys at ``price`` with its fee: all of it, whole lots, or 0.

    0 when not even one lot, the symbol's minimum quantity or its minimum notional is affordable.
    """
    if quantity * price + FillModel._fee(quantity, price, fee_rate) <= cash:
        return quantity
    return _most_lots(spec, quantity, price, fee_rate, cash)


def _within_cash(
    spec: SymbolSpec, quantity: Decimal, price: Decimal, rate: Decimal, cash: Decimal, liquidity: Liquidity
) -> Match | None:
    """The fill cut to what ``cash`` pays for (the caller found the whole quantity unaffordable), or None."""
    affordable = _most_lots(spec, quantity, price, rate, cash)
    if affordable <= 0:
        return None
    return Match(affordable, price, FillModel._fee(affordable, price, rate), liquidity)


def _most_lots(spec: SymbolSpec, quantity: Decimal, price: Decimal, rate: Decimal, cash: Decimal) -> Decimal:
    """The largest whole number of lots up to ``quantity`` whose cost and rounded-up fee ``cash`` pays; 0 if none."""
    if cash <= 0 or price <= 0:
        return ZERO
    lot = spec.lot_size

    def affordable(lots: int) -> bool:
        bought = lots * lot
        return bought * price + FillModel._fee(bought, price, rate) <= cash

    # the fee is at least notional x rate and rounds up by less than one quantum, so the answer lies
    # between these two counts; they are one lot apart or equal unless a lot is worth less than a quantum
    per_lot = lot * price * (1 + rate)
    most = min(int(cash / per_lot), int(quantity / lot))
    least = min(max(int((cash - FEE_QUANTUM) / per_lot), 0), most)
    if affordable(least):
        low, high = least, most
    else:  # only a division rounded at the context's last digit gets here
        low, high = 0, max(least - 1, 0)
    while low < high:  # the largest affordable count, low always affordable
        middle = (low + high + 1) // 2
        if affordable(middle):
            low = middle
        else:
            high = middle - 1
    bought = low * lot
    if bought <= 0 or bought < spec.min_quantity or bought * price < spec.min_notional:
        return ZERO
    return bought
